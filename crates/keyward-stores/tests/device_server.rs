//! The authorization server's device grant (RFC 8628) with its device codes in each SQL and
//! Redis backend (clients and tokens in memory): the flow end to end, and concurrent polls
//! of an approved code through two server instances sharing the backend (exactly one gets
//! tokens). PostgreSQL and Redis skip visibly when not configured.

use std::sync::Arc;

use keyward::common::clock::FixedClock;
use keyward::common::encoding::encode_form;
use keyward::oauth2::provider::device::DEVICE_CODE_GRANT_TYPE;
use keyward::oauth2::provider::device_store::DeviceCodeStore;
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, DeviceConfig, Grant, GrantType, RegisteredClient, ServerConfig,
};
use keyward_stores::MemoryStore;

const ISSUER: &str = "https://as.example";
const HOW: &str = "run `source tests/peers/servers.sh start` or `bash .ci/run`";

fn unique(test: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{test}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

fn post(pairs: &[(&str, &str)]) -> http::Request<Vec<u8>> {
    http::Request::post(format!("{ISSUER}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(pairs.iter().copied()).into_bytes())
        .unwrap()
}

/// Two server instances over one memory store (clients, tokens) and `devices`.
async fn servers(devices: Arc<dyn DeviceCodeStore>) -> [AuthorizationServer; 2] {
    let store = Arc::new(MemoryStore::new());
    let tv = RegisteredClient::public("tv")
        .with_scopes(["read"])
        .with_grant_types([GrantType::DeviceCode, GrantType::RefreshToken]);
    store.create_registered_client(&tv).await.unwrap();
    let clock = FixedClock::new(1_800_000_000);
    let one = || {
        AuthorizationServer::builder(store.clone(), ServerConfig::new(ISSUER))
            .clock(clock.clone())
            .device_codes(devices.clone(), DeviceConfig::new(ISSUER))
            .build()
    };
    [one(), one()]
}

async fn run(devices: Arc<dyn DeviceCodeStore>) {
    for _ in 0..5 {
        let [a, b] = servers(devices.clone()).await;
        let r = a.device_authorization(&post(&[("client_id", "tv"), ("scope", "read")])).await;
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        let device_code = body["device_code"].as_str().unwrap().to_owned();
        let poll =
            [("grant_type", DEVICE_CODE_GRANT_TYPE), ("client_id", "tv"), ("device_code", &device_code)];
        let r = b.token(&post(&poll)).await;
        assert_eq!(r.status(), 400);
        let error: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(error["error"], "authorization_pending");

        let v = b.verify_user_code(body["user_code"].as_str().unwrap(), "k").await.unwrap();
        a.approve_device(&v, Grant::new("alice", ["read"])).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let server = if i % 2 == 0 { a.clone() } else { b.clone() };
                let request = post(&poll);
                tokio::spawn(async move { server.token(&request).await.status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 400));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.db", unique("device")));
    let store = keyward_stores::SqliteStore::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    run(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    use sqlx::Connection;
    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use std::str::FromStr;
    let Some(url) = keyward_testkit::require(
        keyward_testkit::server_url("KEYWARD_TEST_DATABASE_URL"),
        "keyward-stores device_server::postgres",
        "PostgreSQL (KEYWARD_TEST_DATABASE_URL)",
        HOW,
    ) else {
        return;
    };
    let mut schema = format!("kwds_{}", unique("server"));
    schema.truncate(63);
    let mut admin = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut admin).await.unwrap();
    admin.close().await.ok();
    let options = PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
    run(Arc::new(keyward_stores::PostgresStore::connect_with(options).await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis() {
    let Some(url) = keyward_testkit::require(
        keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL"),
        "keyward-stores device_server::redis",
        "Redis (KEYWARD_TEST_REDIS_URL)",
        HOW,
    ) else {
        return;
    };
    let prefix = format!("kwtest:{}:", unique("device_server"));
    run(Arc::new(keyward_stores::RedisStore::connect(&url, prefix).await.unwrap())).await;
}

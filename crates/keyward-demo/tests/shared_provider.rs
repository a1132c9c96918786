//! Two demo instances on different ports over one PostgreSQL and one Redis act as one
//! provider: a temporary credential made on one is authorized and exchanged on the other,
//! a nonce used on one is refused on the other, and a browser session started on one is
//! known to the other.
//!
//! Needs `KEYWARD_TEST_DATABASE_URL` and `KEYWARD_TEST_REDIS_URL` (`.ci/run` starts both
//! servers): skipped visibly without them, failed under CI=true.

mod common;

use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::{ClientCredentials, Signer, SigningParams, TokenCredentials};
use keyward_client::registry::{AppConfig, AppToken, Callback, OAuth};
use keyward_client::session::MemorySession;
use keyward_demo::SeedClient;
use keyward_testkit::peers::Browser;
use keyward_testkit::{require_or_skip, server_url};

const CLIENT_ID: &str = "shared-provider-test-client";
const CLIENT_SECRET: &str = "shared-provider-test-secret";
const CALLBACK: &str = "http://127.0.0.1:1/cb";

/// Two instances over `database` and `redis`, both seeding `client`.
async fn two_instances(database: &str, redis: &str, client: Option<SeedClient>) -> Vec<common::Demo> {
    let mut demos = Vec::new();
    for _ in 0..2 {
        let (listener, mut config) = common::config(database).await;
        config.redis_url = Some(redis.to_owned());
        config.oauth1_clients.extend(client.clone());
        demos.push(common::start(listener, config).await);
    }
    demos
}

/// Sends a core request with reqwest; returns the status and body.
async fn send(req: http::Request<Vec<u8>>) -> (u16, String) {
    let (parts, body) = req.into_parts();
    let client = reqwest::Client::new();
    let mut out = client.request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        out = out.header(name, value);
    }
    let resp = out.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_postgres_and_redis_are_one_provider() {
    let (database, redis) = require_or_skip!(
        server_url("KEYWARD_TEST_DATABASE_URL").zip(server_url("KEYWARD_TEST_REDIS_URL")),
        "PostgreSQL and Redis servers (KEYWARD_TEST_DATABASE_URL, KEYWARD_TEST_REDIS_URL)",
        "run .ci/run, or tests/peers/servers.sh start"
    );
    let client = SeedClient {
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::new(CLIENT_SECRET),
        callback_uri: None,
        redirect_uris: Some(vec![CALLBACK.into()]),
        rsa_public_key: None,
        name: Some("Shared provider test".into()),
    };
    let demos = two_instances(&database, &redis, Some(client)).await;
    let (a, b) = (&demos[0].base, &demos[1].base);
    assert_ne!(a, b);

    // A client whose temporary credential comes from A, and whose user authorizes it and
    // whose verifier is exchanged at B.
    let oauth = OAuth::builder().build();
    let app = oauth
        .register(
            "split",
            AppConfig {
                client_id: Some(CLIENT_ID.into()),
                client_secret: Some(SecretString::new(CLIENT_SECRET)),
                request_token_url: Some(format!("{a}/oauth/initiate")),
                authorize_url: Some(format!("{b}/oauth/authorize")),
                access_token_url: Some(format!("{b}/oauth/token")),
                userinfo_endpoint: Some(format!("{a}/api/me")),
                ..AppConfig::default()
            },
        )
        .unwrap();
    // The seeded client registered CALLBACK only: another callback is refused.
    let refused = app.authorize_redirect(&MemorySession::new(), "http://127.0.0.1:1/elsewhere").await;
    let refused = format!("{:?}", refused.unwrap_err());
    assert!(refused.contains("invalid_request") && refused.contains("callback"), "{refused}");
    let session = MemorySession::new();
    let redirect = app.authorize_redirect(&session, CALLBACK).await.unwrap();
    assert!(redirect.url.starts_with(&format!("{b}/oauth/authorize?oauth_token=")), "{}", redirect.url);

    let mut browser = Browser::new();
    // B knows A's temporary credential.
    let consent = common::sign_in_to_consent(&mut browser, b, &redirect.url, "alice", "alice-password").await;
    assert!(consent.contains("Shared provider test"), "{consent}");
    let granted = common::decide(&mut browser, b, &consent, "grant").await;
    assert_eq!(granted.status, 302, "{}", granted.body);
    let back = granted.location.unwrap();
    let query = back.strip_prefix(&format!("{CALLBACK}?")).unwrap_or_else(|| panic!("{back}"));
    let token = app.authorize_access_token(&session, &Callback::from_query(query).unwrap()).await.unwrap();
    let AppToken::OAuth1(token) = token else { panic!("an OAuth 1 token") };

    // The token credential issued by B works on A.
    let me = app.userinfo(&AppToken::OAuth1(token.clone())).await.unwrap();
    assert_eq!(me["username"], "alice");

    // One nonce, used on A, is refused on B (with a valid signature for B).
    let signer = Signer::new(ClientCredentials::new(CLIENT_ID, CLIENT_SECRET));
    let creds = TokenCredentials::new(token.oauth_token.clone(), token.oauth_token_secret.secret());
    let params = SigningParams { token: Some(&creds), ..SigningParams::default() };
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let nonce = format!("shared-nonce-{now}");
    let signed_for = |base: &str, nonce: &str| {
        let req = http::Request::get(format!("{base}/api/me")).body(Vec::new()).unwrap();
        signer.sign_at(req, &params, &now, nonce).unwrap()
    };
    let (status, body) = send(signed_for(a, &nonce)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(signed_for(b, &nonce)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\":\"invalid_nonce\""), "a JSON error: {body}");
    // A fresh nonce passes on B: the refusal was the nonce's.
    let (status, body) = send(signed_for(b, &format!("{nonce}-fresh"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"username\":\"alice\""), "{body}");
}

/// The `id` session cookie a response sets, as a `Cookie` header value.
fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .find(|c| c.starts_with("id="))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_started_on_one_instance_is_known_to_the_other() {
    let (database, redis) = require_or_skip!(
        server_url("KEYWARD_TEST_DATABASE_URL").zip(server_url("KEYWARD_TEST_REDIS_URL")),
        "PostgreSQL and Redis servers (KEYWARD_TEST_DATABASE_URL, KEYWARD_TEST_REDIS_URL)",
        "run .ci/run, or tests/peers/servers.sh start"
    );
    let demos = two_instances(&database, &redis, None).await;
    let (a, b) = (&demos[0].base, &demos[1].base);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{a}/signin")).send().await.unwrap();
    let cookie = session_cookie(&page).expect("a session for the form's CSRF token");
    let csrf = common::input_value(&page.text().await.unwrap(), "csrf");
    let signed = http
        .post(format!("{a}/signin"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("next", "/"),
            ("username", "alice"),
            ("password", "alice-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = session_cookie(&signed).expect("a new session id at sign-in");
    let home =
        http.get(format!("{b}/")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Provider: signed in as <b>alice</b>"), "B knows A's session: {home}");
    let unknown = http.get(format!("{b}/")).header("cookie", "id=not-a-session").send().await.unwrap();
    assert!(unknown.text().await.unwrap().contains("Provider: not signed in"));
}

/// Instances started at the same moment on a database that has no tables yet all start:
/// the schema is created once, the others wait their turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_on_a_fresh_database_all_start() {
    use sqlx::Connection;
    let database = require_or_skip!(
        server_url("KEYWARD_TEST_DATABASE_URL"),
        "a PostgreSQL server (KEYWARD_TEST_DATABASE_URL)",
        "run .ci/run, or tests/peers/servers.sh start"
    );
    // A schema of its own, so that every table is created by these instances.
    let schema = format!("kw_demo_start_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&database).await.expect("connect to PostgreSQL");
    sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; CREATE SCHEMA \"{schema}\""))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let separator = if database.contains('?') { '&' } else { '?' };
    let url = format!("{database}{separator}options=-c%20search_path%3D{schema}");
    let starts = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let (_listener, config) = common::config(&url).await;
            keyward_demo::build_app(config).await.map(drop)
        })
    });
    for start in starts.collect::<Vec<_>>() {
        start.await.unwrap().expect("every instance starts");
    }
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'keyward_demo_users'",
    )
    .bind(&schema)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(tables, 1, "the demo's table is in the test's schema");
    sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut admin).await.ok();
}

/// A throwaway `redis-server` without persistence, killed (and its folder removed) on drop.
struct ThrowawayRedis {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl ThrowawayRedis {
    /// Starts one, or skips the test (fails under `CI=true`) without `redis-server`.
    fn start(test: &str) -> Option<Self> {
        let found = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success());
        keyward_testkit::require(found, test, "redis-server", "Debian's redis-server; .ci/run installs it")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("keyward-demo-redis-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let child = Self::spawn(port, &dir);
        Some(Self { child, port, dir })
    }

    fn spawn(port: u16, dir: &std::path::Path) -> std::process::Child {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not start listening");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// `SHUTDOWN NOSAVE` (an inline command), then the same server again, empty.
    fn restart_empty(&mut self) {
        use std::io::Write;
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        conn.write_all(b"SHUTDOWN NOSAVE\r\n").unwrap();
        self.child.wait().unwrap();
        self.child = Self::spawn(self.port, &self.dir);
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends the request `make` builds until the instance answers something other than 503 (the store reconnects
/// to a restarted Redis on its next call).
async fn send_until_answered(make: impl Fn() -> http::Request<Vec<u8>>) -> (u16, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = send(make()).await;
        if status != 503 || std::time::Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A signed request accepted by one instance, then Redis restarted empty (the nonce
/// forgotten): the identical request sent to the other instance is refused, because the
/// store starts a new replay epoch and the request is timestamped before it. A request
/// signed after the restart is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_replayed_after_redis_restarts_empty_is_refused() {
    let database = require_or_skip!(
        server_url("KEYWARD_TEST_DATABASE_URL"),
        "a PostgreSQL server (KEYWARD_TEST_DATABASE_URL)",
        "run .ci/run, or tests/peers/servers.sh start"
    );
    let Some(mut redis) = ThrowawayRedis::start("a_request_replayed_after_redis_restarts_empty_is_refused")
    else {
        return;
    };
    let client = SeedClient {
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::new(CLIENT_SECRET),
        callback_uri: None,
        redirect_uris: Some(vec![CALLBACK.into()]),
        rsa_public_key: None,
        name: Some("Shared provider test".into()),
    };
    let demos = two_instances(&database, &redis.url(), Some(client)).await;
    let (a, b) = (&demos[0].base, &demos[1].base);
    let signer = Signer::new(ClientCredentials::new(CLIENT_ID, CLIENT_SECRET));
    let params = SigningParams { callback: Some(CALLBACK), ..SigningParams::default() };
    // The same client, timestamp and nonce to each instance (the URL, which differs, is
    // part of what is signed): one request, as far as the nonce goes.
    let signed_for = |base: &str, ts: &str, nonce: &str| {
        let req = http::Request::post(format!("{base}/oauth/initiate")).body(Vec::new()).unwrap();
        signer.sign_at(req, &params, ts, nonce).unwrap()
    };
    let unix_now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ts = unix_now().to_string();
    let nonce = format!("replayed-after-restart-{ts}");
    let (status, body) = send(signed_for(a, &ts, &nonce)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(signed_for(b, &ts, &nonce)).await;
    assert_eq!(status, 401, "refused by its nonce before the restart: {body}");
    assert!(body.contains("invalid_nonce"), "{body}");

    redis.restart_empty();
    let (status, body) = send_until_answered(|| signed_for(b, &ts, &nonce)).await;
    assert_eq!(status, 400, "the replay after the restart is refused: {body}");
    assert!(body.contains("invalid_request"), "{body}");
    // A request signed after the restart (from the next second on) is accepted.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later = unix_now().to_string();
    let (status, body) = send_until_answered(|| signed_for(b, &later, &format!("{nonce}-fresh"))).await;
    assert_eq!(status, 200, "{body}");
}

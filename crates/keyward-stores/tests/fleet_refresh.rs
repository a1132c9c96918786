//! Refresh single-flight across instances: two registries (two instances of one
//! application) share the application's token table (their `fetch_token` / `update_token`
//! hooks) and a refresh lock, against a provider that rotates refresh tokens and revokes
//! the grant when one is reused. Exactly one refresh, no revocation; without the lock, the
//! grant is revoked (the control). Then a lost lock taken over, and a wait that times out.
//!
//! The lock is in memory, in Redis (`KEYWARD_TEST_REDIS_URL`) and in PostgreSQL
//! (`KEYWARD_TEST_DATABASE_URL`); those two skip visibly without their server.

use keyward::common::clock::FixedClock;
use keyward::common::encoding::parse_form;
use keyward::common::secret::SecretString;
use keyward::{HttpClient, HttpError};
use keyward_client::oauth2::Token;
use keyward_client::registry::{
    AppConfig, AppToken, Error, FleetRefresh, MemoryRefreshLock, OAuth, RefreshLock, RefreshLockError,
    TokenUpdate,
};
use keyward_stores::{PostgresRefreshLock, PostgresStore, RedisRefreshLock};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NOW: i64 = 1_800_000_000;

/// A provider with rotating refresh tokens and reuse detection.
#[derive(Default)]
struct Provider {
    current: Mutex<String>,
    refreshes: AtomicUsize,
    revoked: AtomicBool,
}

impl Provider {
    fn new() -> Arc<Self> {
        let p = Self::default();
        *p.current.lock().unwrap() = "rt-0".into();
        Arc::new(p)
    }

    fn http(self: &Arc<Self>) -> Arc<dyn HttpClient> {
        let p = self.clone();
        Arc::new(move |req: http::Request<Vec<u8>>| {
            let p = p.clone();
            async move {
                let (status, body) = if req.uri().path() == "/token" {
                    // The provider takes a while: concurrent refreshes overlap.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let form: BTreeMap<String, String> =
                        parse_form(std::str::from_utf8(req.body()).unwrap()).unwrap().into_iter().collect();
                    p.refresh(&form["refresh_token"])
                } else if p.revoked.load(Ordering::SeqCst) {
                    (401, json!({"error": "invalid_token"}))
                } else {
                    let auth = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
                    (200, json!({ "auth": auth }))
                };
                Ok::<_, HttpError>(
                    http::Response::builder().status(status).body(body.to_string().into_bytes()).unwrap(),
                )
            }
        })
    }

    fn refresh(&self, presented: &str) -> (u16, serde_json::Value) {
        let mut current = self.current.lock().unwrap();
        if self.revoked.load(Ordering::SeqCst) || presented != *current {
            // Reuse of a rotated refresh token: the whole grant is revoked.
            self.revoked.store(true, Ordering::SeqCst);
            return (400, json!({"error": "invalid_grant"}));
        }
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        *current = format!("rt-{n}");
        (
            200,
            json!({"access_token": format!("at-{n}"), "token_type": "Bearer", "expires_in": 3600,
            "refresh_token": format!("rt-{n}")}),
        )
    }
}

fn expired_token() -> Token {
    serde_json::from_value(json!({"access_token": "at-0", "token_type": "Bearer", "refresh_token": "rt-0",
        "expires_at": NOW - 10}))
    .unwrap()
}

/// The application's token table, shared by its instances.
type Table = Arc<Mutex<Token>>;

fn instance(provider: &Arc<Provider>, table: &Table, fleet: Option<FleetRefresh>) -> OAuth {
    let (read, write) = (table.clone(), table.clone());
    let mut builder = OAuth::builder()
        .http_client(provider.http())
        .clock(Arc::new(FixedClock::new(NOW)))
        .fetch_token(move |_app: String, _user: String| {
            let token = read.lock().unwrap().clone();
            async move { Ok(Some(AppToken::OAuth2(token))) }
        })
        .update_token(move |update: TokenUpdate| {
            let write = write.clone();
            async move {
                // Persisting takes a while too.
                tokio::time::sleep(Duration::from_millis(20)).await;
                *write.lock().unwrap() = update.token;
                Ok(())
            }
        });
    if let Some(fleet) = fleet {
        builder = builder.refresh_lock(fleet);
    }
    let oauth = builder.build();
    oauth
        .register(
            "op",
            AppConfig {
                client_id: Some("cid".into()),
                client_secret: Some(SecretString::new("secret")),
                authorize_url: Some("https://op.example/authorize".into()),
                access_token_url: Some("https://op.example/token".into()),
                api_base_url: Some("https://api.example/".into()),
                ..AppConfig::default()
            },
        )
        .unwrap();
    oauth
}

fn fleet(lock: Arc<dyn RefreshLock>) -> FleetRefresh {
    FleetRefresh::new(lock).poll(Duration::from_millis(10), Duration::from_millis(50))
}

/// Five calls on each of two instances at once, each for user alice.
async fn calls_on_two_instances(a: &OAuth, b: &OAuth) -> Vec<Result<serde_json::Value, Error>> {
    let mut tasks = Vec::new();
    for oauth in [a, b] {
        for _ in 0..5 {
            let app = oauth.client("op").unwrap();
            tasks.push(tokio::spawn(async move { app.get("me").user("alice").send_json().await }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn one_refresh_across_instances(lock: Arc<dyn RefreshLock>) {
    let provider = Provider::new();
    let table: Table = Arc::new(Mutex::new(expired_token()));
    let a = instance(&provider, &table, Some(fleet(lock.clone())));
    let b = instance(&provider, &table, Some(fleet(lock)));
    for result in calls_on_two_instances(&a, &b).await {
        assert_eq!(result.unwrap()["auth"], "Bearer at-1");
    }
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1, "one refresh across the fleet");
    assert!(!provider.revoked.load(Ordering::SeqCst), "the grant was not revoked");
    assert_eq!(table.lock().unwrap().refresh_token.as_ref().unwrap().secret(), "rt-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_lock_two_instances_get_the_grant_revoked() {
    let provider = Provider::new();
    let table: Table = Arc::new(Mutex::new(expired_token()));
    let a = instance(&provider, &table, None);
    let b = instance(&provider, &table, None);
    let results = calls_on_two_instances(&a, &b).await;
    assert!(provider.revoked.load(Ordering::SeqCst), "the control: reuse detected");
    assert!(results.iter().any(Result::is_err));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_lock_makes_one_refresh() {
    one_refresh_across_instances(Arc::new(MemoryRefreshLock::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_lock_makes_one_refresh_across_instances() {
    let url = keyward_testkit::require_or_skip!(
        keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL"),
        "Redis (KEYWARD_TEST_REDIS_URL)",
        "run `source tests/peers/servers.sh && keyward_servers_start` or `bash .ci/run`"
    );
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let prefix = format!("kwtest:fleet_refresh_{}_{nanos}:", std::process::id());
    // Two connections, as two instances have.
    let a = RedisRefreshLock::connect(&url, prefix.clone()).await.expect("Redis");
    let b = RedisRefreshLock::connect(&url, prefix).await.expect("Redis");
    let key = "k";
    assert!(a.try_acquire(key, "fence-a", Duration::from_secs(5)).await.unwrap());
    assert!(!b.try_acquire(key, "fence-b", Duration::from_secs(5)).await.unwrap(), "held");
    assert!(!b.release(key, "fence-b").await.unwrap(), "only the owner releases");
    assert!(a.release(key, "fence-a").await.unwrap());
    assert!(b.try_acquire(key, "fence-b", Duration::from_millis(100)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(a.try_acquire(key, "fence-a", Duration::from_secs(5)).await.unwrap(), "the TTL ran out");
    assert!(!b.release(key, "fence-b").await.unwrap(), "an expired owner does not release the new one's");
    assert!(a.release(key, "fence-a").await.unwrap());

    let provider = Provider::new();
    let table: Table = Arc::new(Mutex::new(expired_token()));
    let oa = instance(&provider, &table, Some(fleet(Arc::new(a))));
    let ob = instance(&provider, &table, Some(fleet(Arc::new(b))));
    for result in calls_on_two_instances(&oa, &ob).await {
        assert_eq!(result.unwrap()["auth"], "Bearer at-1");
    }
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1, "one refresh across the fleet");
    assert!(!provider.revoked.load(Ordering::SeqCst), "the grant was not revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_lock_makes_one_refresh_across_instances() {
    let url = keyward_testkit::require_or_skip!(
        keyward_testkit::server_url("KEYWARD_TEST_DATABASE_URL"),
        "PostgreSQL (KEYWARD_TEST_DATABASE_URL)",
        "run `source tests/peers/servers.sh && keyward_servers_start` or `bash .ci/run`"
    );
    let namespace = format!("fleet_refresh_{}", std::process::id());
    let pool_a = PostgresStore::connect(&url).await.expect("PostgreSQL").pool().clone();
    let pool_b = PostgresStore::connect(&url).await.expect("PostgreSQL").pool().clone();
    let a = PostgresRefreshLock::new(pool_a, namespace.clone());
    let b = PostgresRefreshLock::new(pool_b, namespace);
    let key = "k";
    assert!(a.try_acquire(key, "fence-a", Duration::from_secs(5)).await.unwrap());
    assert!(!b.try_acquire(key, "fence-b", Duration::from_secs(5)).await.unwrap(), "held");
    assert!(!b.release(key, "fence-b").await.unwrap(), "only the owner releases");
    assert!(a.release(key, "fence-a").await.unwrap());
    assert!(b.try_acquire(key, "fence-b", Duration::from_millis(100)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(a.try_acquire(key, "fence-a", Duration::from_secs(5)).await.unwrap(), "the TTL ran out");
    assert!(!b.release(key, "fence-b").await.unwrap(), "an expired owner does not release the new one's");
    assert!(a.release(key, "fence-a").await.unwrap());

    one_refresh_across_instances(Arc::new(a)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lock_is_taken_over_and_a_held_one_times_out() {
    // A crashed instance left the lock for the token: it runs out, and a waiter refreshes.
    let lock = Arc::new(MemoryRefreshLock::new());
    let key = FleetRefresh::lock_key("op", &expired_token());
    assert!(lock.try_acquire(&key, "crashed", Duration::from_millis(300)).await.unwrap());
    let provider = Provider::new();
    let table: Table = Arc::new(Mutex::new(expired_token()));
    let oauth = instance(&provider, &table, Some(fleet(lock.clone()).wait(Duration::from_secs(3))));
    let app = oauth.client("op").unwrap();
    let started = std::time::Instant::now();
    assert_eq!(app.get("me").user("alice").send_json().await.unwrap()["auth"], "Bearer at-1");
    assert!(started.elapsed() >= Duration::from_millis(250), "it waited for the lock to run out");
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    assert!(lock.try_acquire(&key, "next", Duration::from_secs(1)).await.unwrap(), "released after use");

    // A lock held longer than the wait: a typed error, no refresh.
    let lock = Arc::new(MemoryRefreshLock::new());
    assert!(lock.try_acquire(&key, "slow", Duration::from_secs(60)).await.unwrap());
    let provider = Provider::new();
    let table: Table = Arc::new(Mutex::new(expired_token()));
    let oauth = instance(&provider, &table, Some(fleet(lock).wait(Duration::from_millis(200))));
    let err = oauth.client("op").unwrap().get("me").user("alice").send().await.unwrap_err();
    assert!(matches!(err, Error::RefreshLock(RefreshLockError::Timeout { .. })), "{err:?}");
    assert_eq!(err.status(), 503);
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 0);
}

//! The store dies in the middle of a load on the OAuth 1.0a provider, then comes back.
//!
//! - Redis: the test runs its own throwaway `redis-server` (append-only file, fsync on every
//!   write, so what was acknowledged survives the kill) on a free port and kills it, so
//!   stopping it touches no other test.
//! - PostgreSQL: the store reaches the shared test server (`KEYWARD_TEST_DATABASE_URL`)
//!   through a TCP relay of the test's own, which cuts every connection and refuses new ones
//!   (what the store sees of a dead server) and then lets them through again.
//!
//! What must hold:
//!
//! - while Redis is down every request fails closed, in bounded time, with `503
//!   temporarily_unavailable` (never a 200, never a 500);
//! - a request already accepted is never accepted again (its nonce survives), before, during
//!   or after the outage;
//! - a temporary credential is exchanged for a token exactly once, even when the exchange is
//!   retried by many tasks across the outage;
//! - when Redis returns, the same store and server serve again by themselves.

use http::{Method, StatusCode};
use keyward::common::encoding::parse_form;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::{AuthorizationServer, Consent};
use keyward::oauth1::rfc5849::store::Client;
use keyward::oauth1::rfc5849::{ClientCredentials, Signer, SigningParams, TokenCredentials};
use keyward_stores::{PostgresStore, RedisStore, StoreAdmin};
use sqlx::Connection;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BASE: &str = "http://127.0.0.1:8080";
/// No request may take longer than this, up or down (`RedisStore::connect` gives up on an
/// unreachable Redis within two connection attempts of at most 1 s, at once when refused;
/// `PostgresStore::connect_with` after 3 s).
const BOUND: Duration = Duration::from_secs(5);

static NONCE: AtomicU64 = AtomicU64::new(0);

/// A redis-server of our own, killed on drop.
struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    fn start(port: u16, dir: &Path) -> Option<Redis> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut r = Redis { child, port, dir: dir.to_owned() };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(r);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = r.child.kill();
        None
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.kill();
        *self = Redis::start(self.port, &self.dir.clone()).expect("redis-server restarts");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TCP relay to `target` that can cut every connection and refuse new ones.
struct Relay {
    port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay { port, up: Arc::default(), conns: Arc::default() };
        relay.up.store(true, Ordering::SeqCst);
        let (up, conns) = (relay.up.clone(), relay.conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees its connection closed
                }
                let target = target.clone();
                conns.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        relay
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// How the store is taken away and given back.
enum Outage {
    Redis(Redis),
    Relay(Relay),
}

impl Outage {
    fn down(&mut self) {
        match self {
            Outage::Redis(r) => r.kill(),
            Outage::Relay(r) => r.cut(),
        }
    }

    fn up(&mut self) {
        match self {
            Outage::Redis(r) => r.restart(),
            Outage::Relay(r) => r.restore(),
        }
    }
}

/// The client, registered under an identifier of this run (the PostgreSQL database is
/// shared with other tests).
fn client_id() -> String {
    format!("faults-client-{}", std::process::id())
}

fn signer() -> Signer {
    Signer::new(ClientCredentials::new(client_id(), "secret1"))
}

fn sign(req: http::Request<Vec<u8>>, params: SigningParams<'_>) -> http::Request<Vec<u8>> {
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let nonce = format!("n{}-{}", std::process::id(), NONCE.fetch_add(1, Ordering::Relaxed));
    signer().sign_at(req, &params, &ts.to_string(), &nonce).unwrap()
}

fn post(url: &str) -> http::Request<Vec<u8>> {
    http::Request::builder().method(Method::POST).uri(url).body(Vec::new()).unwrap()
}

fn temp_request() -> http::Request<Vec<u8>> {
    let params = SigningParams { callback: Some("https://c.example/cb"), ..Default::default() };
    sign(post(&format!("{BASE}/oauth/request_token")), params)
}

fn field(resp: &http::Response<Vec<u8>>, name: &str) -> Option<String> {
    let body = parse_form(std::str::from_utf8(resp.body()).ok()?).ok()?;
    body.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// One call, bounded: the status and the `error` field.
async fn bounded(
    fut: impl std::future::Future<Output = http::Response<Vec<u8>>>,
) -> (StatusCode, Option<String>, http::Response<Vec<u8>>) {
    let start = Instant::now();
    let resp =
        tokio::time::timeout(BOUND, fut).await.expect("a provider call did not finish in bounded time");
    assert!(start.elapsed() < BOUND);
    (resp.status(), field(&resp, "error"), resp)
}

/// An authorized temporary credential and its verifier.
async fn authorized(server: &AuthorizationServer) -> (TokenCredentials, String) {
    let (status, _, resp) = bounded(server.create_temporary_credential_response(&temp_request())).await;
    assert_eq!(status, StatusCode::OK);
    let temp = TokenCredentials::new(
        field(&resp, "oauth_token").unwrap(),
        field(&resp, "oauth_token_secret").unwrap(),
    );
    let auth = http::Request::get(format!("{BASE}/oauth/authorize?oauth_token={}", temp.token))
        .body(Vec::new())
        .unwrap();
    let resp =
        server.create_authorization_response(&auth, Consent::Grant { user_id: "alice" }).await.unwrap();
    let location = url::Url::parse(resp.headers()[http::header::LOCATION].to_str().unwrap()).unwrap();
    let verifier = location.query_pairs().find(|(k, _)| k == "oauth_verifier").unwrap().1.into_owned();
    (temp, verifier)
}

fn token_request(temp: &TokenCredentials, verifier: &str) -> http::Request<Vec<u8>> {
    let params = SigningParams { token: Some(temp), verifier: Some(verifier), ..Default::default() };
    sign(post(&format!("{BASE}/oauth/access_token")), params)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_mid_load_fails_closed_and_recovers() {
    let found = Command::new("redis-server").arg("--version").output().ok().filter(|o| o.status.success());
    if keyward_testkit::require(
        found,
        "redis_down_mid_load",
        "redis-server",
        "Debian's redis-server; .ci/run installs it",
    )
    .is_none()
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("keyward-faults-redis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let redis = Redis::start(port, &dir).expect("redis-server starts");
    let store = Arc::new(RedisStore::connect(&format!("redis://127.0.0.1:{port}"), "faults:").await.unwrap());
    store.put_client(&Client::new(client_id(), SecretString::new("secret1"))).await.unwrap();
    // An empty Redis: start the replay epoch now and serve from the next second, so that
    // the first requests are not timestamped in the epoch's second.
    store
        .purge_expired(keyward::common::clock::Clock::now(&keyward::common::clock::SystemClock))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1010)).await;
    outage_mid_load(AuthorizationServer::new(store), Outage::Redis(redis)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_mid_load_fails_closed_and_recovers() {
    let Some(url) = keyward_testkit::require(
        keyward_testkit::server_url("KEYWARD_TEST_DATABASE_URL"),
        "postgres_down_mid_load",
        "PostgreSQL (KEYWARD_TEST_DATABASE_URL)",
        "tests/peers/servers.sh start; .ci/run does it",
    ) else {
        return;
    };
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).expect("database URL");
    let relay = Relay::start(format!("{}:{}", options.get_host(), options.get_port())).await;
    // A schema of this run, created through a direct connection.
    let schema = format!("kw_faults_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&url).await.expect("connect to PostgreSQL");
    sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; CREATE SCHEMA \"{schema}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let relayed =
        options.clone().host("127.0.0.1").port(relay.port).options([("search_path", schema.as_str())]);
    let store = Arc::new(PostgresStore::connect_with(relayed).await.unwrap());
    store.put_client(&Client::new(client_id(), SecretString::new("secret1"))).await.unwrap();
    outage_mid_load(AuthorizationServer::new(store), Outage::Relay(relay)).await;
    sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut admin).await.unwrap();
}

/// Load, outage, checks while down, recovery, checks after.
async fn outage_mid_load(server: AuthorizationServer, mut outage: Outage) {
    // Before: one request accepted; the same bytes again are refused.
    let first = temp_request();
    assert_eq!(bounded(server.create_temporary_credential_response(&first)).await.0, StatusCode::OK);
    assert_eq!(
        bounded(server.create_temporary_credential_response(&first)).await.1.as_deref(),
        Some("invalid_nonce")
    );
    // A credential ready to be exchanged, and the exchange request, retried later.
    let (temp, verifier) = authorized(&server).await;

    // Load: 4 tasks issuing temporary credentials until told to stop; Redis is killed in
    // the middle.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (server, stop) = (server.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (status, error, _) =
                    bounded(server.create_temporary_credential_response(&temp_request())).await;
                seen.push((status, error));
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    outage.down();
    tokio::time::sleep(Duration::from_millis(700)).await;

    // Down: everything fails closed with a 503.
    for req in [temp_request(), first.clone()] {
        let (status, error, resp) = bounded(server.create_temporary_credential_response(&req)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", String::from_utf8_lossy(resp.body()));
        assert_eq!(error.as_deref(), Some("temporarily_unavailable"));
        assert_eq!(resp.headers()[http::header::RETRY_AFTER], "1");
    }
    let (status, error, _) = bounded(server.create_token_response(&token_request(&temp, &verifier))).await;
    assert_eq!(
        (status, error.as_deref()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable"))
    );
    stop.store(true, Ordering::Relaxed);
    let mut statuses = std::collections::BTreeMap::<(u16, Option<String>), usize>::new();
    for task in load {
        for (status, error) in task.await.unwrap() {
            *statuses.entry((status.as_u16(), error)).or_default() += 1;
        }
    }
    let ok = statuses.get(&(200, None)).copied().unwrap_or(0);
    let unavailable = statuses.get(&(503, Some("temporarily_unavailable".into()))).copied().unwrap_or(0);
    assert!(ok > 0 && unavailable > 0, "the load saw both sides of the outage: {statuses:?}");
    assert_eq!(
        ok + unavailable,
        statuses.values().sum::<usize>(),
        "only 200 or 503 under load: {statuses:?}"
    );

    // Back: the same server serves again by itself, within a bounded time.
    outage.up();
    let back = Instant::now();
    loop {
        let (status, _, _) = bounded(server.create_temporary_credential_response(&temp_request())).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(back.elapsed() < Duration::from_secs(30), "the store did not reconnect by itself");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The request accepted before the outage is still refused.
    assert_eq!(
        bounded(server.create_temporary_credential_response(&first)).await.1.as_deref(),
        Some("invalid_nonce")
    );

    // The exchange, retried by 8 tasks at once: exactly one token.
    let mut tries = Vec::new();
    for _ in 0..8 {
        let (server, temp, verifier) = (server.clone(), temp.clone(), verifier.clone());
        tries.push(tokio::spawn(async move {
            bounded(server.create_token_response(&token_request(&temp, &verifier))).await.0
        }));
    }
    let mut issued = 0;
    for t in tries {
        let status = t.await.unwrap();
        assert!(status == StatusCode::OK || status == StatusCode::UNAUTHORIZED, "{status}");
        issued += usize::from(status == StatusCode::OK);
    }
    assert_eq!(issued, 1, "a temporary credential must be exchanged exactly once");
}

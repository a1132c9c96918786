//! Load benchmark (not a timed test) for the OAuth 1.0a resource protector (RFC 5849 §3):
//! requests/s of a protected resource against a bare handler in the same axum server, in
//! the same run, over the memory store and the others below.
//!
//! A load generator on 127.0.0.1 keeps `CONNECTIONS` keep-alive HTTP/1.1 connections busy
//! for `SECONDS` per phase. Every request is signed afresh (new nonce, current timestamp)
//! with HMAC-SHA1 in the Authorization header, for *both* routes, so that the client does the
//! same work in both phases and the difference is the server's validation: parsing, client
//! and token look-ups, signature, timestamp and the atomic nonce insertion. Phases alternate
//! bare, protected, bare, protected; every response must be `200`.
//!
//! With `REDIS_URL` set (e.g. `redis://127.0.0.1:6379/`), the same phases run again over
//! the Redis store (keys under a per-run prefix), then once more over the same store on the
//! `redis` crate's `ConnectionManager` (`RedisStore::new`), as a baseline for the store's
//! own batching connection (`RedisStore::connect`). Before each Redis phase the nonces of
//! the earlier phases are deleted, so that every phase starts with the same keys (a key
//! space growing by 300 000 keys a phase costs `redis-server` rehashing, which weighed on
//! whichever phase came later). `MEMORY=0` skips the memory store's phases;
//! `REDIS_CONNECTION=own` or `=manager` runs only one of the two Redis connections.
//!
//! Then, without HTTP, it splits the per-request cost of validation over `SAMPLES`
//! pre-signed requests: parsing and signature verification alone (`SignedRequest`), and the
//! whole `ResourceProtector::validate_request` on a fresh memory store (which adds the
//! transport, method, timestamp, client, token and nonce steps), and the `OAuth1Protected`
//! extractor on requests as axum hands them over (which adds the glue's conversion).
//!
//! The SQL stores run the same phases too, with clients and token credentials in the
//! database and nonces in memory, as the demo keeps them without Redis: SQLite on a file in
//! WAL mode (`SQLITE=0` skips it), and with `DATABASE_URL` (`postgres://…`) PostgreSQL, in a
//! schema of the run's own (dropped at the end), reporting its backends' CPU time.
//!
//! With `TARGET=host:port` nothing else runs: the phases load a server of another process
//! (the demo), its `CHEAP_PATH` (default `/healthz`, answering `CHEAP_STATUS`, default
//! `200`) against its `/api/me`, signed with the bench's credentials, which must be
//! registered there; `TARGET_PID` adds that process's CPU time (a comma-separated list sums
//! several processes, such as a server's workers; see BENCHMARKS.md).
//!
//! `LOAD=0` runs only the in-process part, whose three loops are functions that callgrind
//! can count alone (instructions per request = count / `SAMPLES`):
//!
//! ```text
//! cargo bench -p keyward-axum --bench oauth1_provider_load
//! SECONDS=10 CONNECTIONS=32 SAMPLES=100000 cargo bench -p keyward-axum --bench oauth1_provider_load
//! REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p keyward-axum --bench oauth1_provider_load
//! DATABASE_URL=postgres://user@127.0.0.1:5432/db cargo bench -p keyward-axum --bench oauth1_provider_load
//! TARGET=127.0.0.1:8080 TARGET_PID=$pid cargo bench -p keyward-axum --bench oauth1_provider_load
//! LOAD=0 SAMPLES=2000 valgrind --tool=callgrind --toggle-collect='*measure_validate*' \
//!     target/release/deps/oauth1_provider_load-* --bench
//! ```

use axum::Router;
use axum::extract::FromRequest;
use axum::routing::get;
use keyward::common::clock::SystemClock;
use keyward::common::random::OsRandom;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::{AuthorizationServer, ResourceProtector};
use keyward::oauth1::rfc5849::store::{Client, OAuth1Store, TokenCredentialRecord, TokenCredentialStore};
use keyward::oauth1::rfc5849::{
    ClientCredentials, SignatureMethods, SignedRequest, Signer, SigningParams, TokenCredentials, VerifyKeys,
};
use keyward_axum::provider::{OAuth1Protected, OAuth1Provider};
use keyward_stores::{MemoryStore, PostgresStore, RedisStore, SplitStore, SqliteStore, StoreAdmin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn me(auth: OAuth1Protected) -> String {
    auth.user_id().to_owned()
}

/// Registers the bench client and its token credential in `store`.
async fn seed<S: StoreAdmin + TokenCredentialStore>(store: S) -> S {
    store.put_client(&Client::new("bench-client", SecretString::new("bench-secret"))).await.unwrap();
    let token = TokenCredentialRecord {
        token: "bench-token".into(),
        secret: SecretString::new("bench-token-secret"),
        client_id: "bench-client".into(),
        user_id: "alice".into(),
        created_at: 0,
    };
    store.create_token_credential(&token).await.unwrap();
    epoch_started(store).await
}

/// Starts a store's replay epoch an hour back, as a server does at start-up, so that the
/// first second's requests are not refused as older than the epoch.
async fn epoch_started<S: StoreAdmin>(store: S) -> S {
    store.purge_expired(now() - 3600).await.unwrap();
    store
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

async fn serve(store: Arc<dyn OAuth1Store>) -> std::net::SocketAddr {
    let server = AuthorizationServer::new(store);
    let app = Router::new()
        .route("/api/me", get(me))
        .route("/bare", get(|| async { "alice" }))
        .with_state(OAuth1Provider::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// What a phase requests and what counts as a good answer.
#[derive(Clone, Copy)]
struct Target {
    path: &'static str,
    /// The status line's code.
    status: &'static str,
    /// The exact body, when known (the bench's own server), else any.
    body: Option<&'static [u8]>,
}

impl Target {
    /// A route of the bench's own server: `200` and `alice`.
    fn own(path: &'static str) -> Self {
        Self { path, status: "200", body: Some(b"alice") }
    }
}

/// One keep-alive connection sending signed GETs to `path` until `stop`; returns
/// (responses with status 200, other responses).
async fn connection(addr: std::net::SocketAddr, target: Target, stop: Arc<AtomicBool>) -> (u64, u64) {
    let Target { path, status, body: expected } = target;
    let signer = Signer::new(ClientCredentials::new("bench-client", "bench-secret"));
    let token = TokenCredentials::new("bench-token", "bench-token-secret");
    let params = SigningParams { token: Some(&token), ..Default::default() };
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut stream = BufReader::new(stream);
    let (mut ok, mut bad) = (0, 0);
    let mut line = String::new();
    let mut body = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let req = http::Request::get(format!("http://{addr}{path}")).body(Vec::new()).unwrap();
        let req = signer.sign(req, &params, &SystemClock, &OsRandom).unwrap();
        let auth = req.headers()[http::header::AUTHORIZATION].to_str().unwrap();
        let raw = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\r\n");
        stream.get_mut().write_all(raw.as_bytes()).await.unwrap();
        line.clear();
        stream.read_line(&mut line).await.unwrap();
        let status_ok = line.split(' ').nth(1) == Some(status);
        let mut length = 0usize;
        loop {
            line.clear();
            stream.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((_, v)) = l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            {
                length = v.trim().parse().unwrap();
            }
        }
        body.resize(length, 0);
        stream.read_exact(&mut body).await.unwrap();
        if status_ok && expected.is_none_or(|e| body == e) { ok += 1 } else { bad += 1 }
    }
    (ok, bad)
}

/// CPU time (user + system) a process has used so far, in seconds, from `/proc/<pid>/stat`
/// (Linux; `None` elsewhere). Ticks are `USER_HZ`, which Linux fixes at 100.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let (user, system): (u64, u64) = (fields.next()?.parse().ok()?, fields.next()?.parse().ok()?);
    Some((user + system) as f64 / 100.0)
}

/// The processes whose CPU time a phase reports per request: this one (server and load
/// generator) and a server's: the local `redis-server`, PostgreSQL's backends, or the
/// demo's process.
#[derive(Clone, Default)]
struct Accounting {
    /// The server's name as printed, and its process ids (their CPU times are summed).
    server: Option<(&'static str, Vec<String>)>,
    /// With PostgreSQL: the pool, whose backends' ids are read before each sample (the pool
    /// opens connections as the load needs them).
    postgres: Option<sqlx::PgPool>,
    /// With the Redis store: its URL and the run's key prefix, to delete the nonces of
    /// earlier phases (of both stores, `{prefix}n:` and `{prefix}baseline:n:`)
    /// before each phase, so that every phase starts with the same keys in Redis (a growing
    /// key space costs `redis-server` rehashing, and would weigh on later phases).
    redis_nonces: Option<(String, String)>,
}

impl Accounting {
    async fn clear_nonces(&self) {
        let Some((url, prefix)) = &self.redis_nonces else { return };
        let mut conn =
            redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*n:*"))
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut conn)
                .await
                .unwrap();
            if !keys.is_empty() {
                let _: u64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }

    async fn sample(&mut self) -> (Option<f64>, Option<f64>) {
        if let Some(pool) = &self.postgres {
            let pids: Vec<i32> = sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND usename = current_user",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            self.server = Some(("postgres", pids.iter().map(i32::to_string).collect()));
        }
        let server = self.server.as_ref().map(|(_, pids)| pids.iter().filter_map(|p| cpu_seconds(p)).sum());
        (cpu_seconds("self"), server)
    }

    fn server_name(&self) -> &'static str {
        self.server.as_ref().map_or("server", |(name, _)| name)
    }
}

async fn phase(
    addr: std::net::SocketAddr,
    target: Target,
    connections: u64,
    seconds: u64,
    accounting: &Accounting,
) -> f64 {
    let path = target.path;
    let mut accounting = accounting.clone();
    accounting.clear_nonces().await;
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = accounting.sample().await;
    let started = Instant::now();
    let tasks: Vec<_> =
        (0..connections).map(|_| tokio::spawn(connection(addr, target, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut bad) = (0, 0);
    for t in tasks {
        let (o, b) = t.await.unwrap();
        ok += o;
        bad += b;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = accounting.sample().await;
    assert_eq!(bad, 0, "{path}: {bad} responses were not {}", target.status);
    let rps = ok as f64 / elapsed;
    let per_request = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(b), Some(a)) => format!("{:>5.1} us", (a - b) * 1e6 / ok.max(1) as f64),
        _ => "    -   ".to_owned(),
    };
    println!(
        "{path:<12} {ok:>9} requests in {elapsed:>5.2} s = {rps:>9.0} req/s; CPU per request: this process {}, \
         {} {}",
        per_request(cpu_before.0, cpu_after.0),
        accounting.server_name(),
        per_request(cpu_before.1, cpu_after.1),
    );
    rps
}

/// `SAMPLES` requests to `/api/me` signed now (fresh nonces), as the core takes them.
fn signed_requests(samples: u64) -> Vec<http::Request<Vec<u8>>> {
    let signer = Signer::new(ClientCredentials::new("bench-client", "bench-secret"));
    let token = TokenCredentials::new("bench-token", "bench-token-secret");
    let params = SigningParams { token: Some(&token), ..Default::default() };
    (0..samples)
        .map(|_| {
            let req = http::Request::get("http://127.0.0.1:8080/api/me").body(Vec::new()).unwrap();
            signer.sign(req, &params, &SystemClock, &OsRandom).unwrap()
        })
        .collect()
}

/// Parse + verify of every request (RFC 5849 §3.5, §3.2). Not inlined, so that
/// `valgrind --tool=callgrind --toggle-collect='*measure_parse_verify*'` counts it alone.
#[inline(never)]
fn measure_parse_verify(reqs: &[http::Request<Vec<u8>>]) {
    let methods = SignatureMethods::default().allow_only(&["HMAC-SHA1"]);
    let keys = VerifyKeys {
        client_secret: "bench-secret",
        token_secret: "bench-token-secret",
        rsa_public_key: None,
    };
    for r in reqs {
        SignedRequest::from_http(r).unwrap().verify(&methods, &keys).unwrap();
    }
}

/// Polls `f` on this thread until it is ready. The memory store never waits, so this runs
/// the validation without a runtime, in one function callgrind can count.
fn run_ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The whole `validate_request` of every request (memory store); see
/// [`measure_parse_verify`] for callgrind.
#[inline(never)]
fn measure_validate(protector: &ResourceProtector, reqs: &[http::Request<Vec<u8>>]) {
    for r in reqs {
        run_ready(protector.validate_request(r)).unwrap();
    }
}

/// The `OAuth1Protected` extractor on requests as axum hands them over (origin-form URI,
/// `Host` header, empty body): the glue's conversion plus `validate_request`.
#[inline(never)]
fn measure_extractor(provider: &OAuth1Provider, reqs: Vec<axum::extract::Request>) {
    for r in reqs {
        run_ready(OAuth1Protected::from_request(r, provider)).unwrap();
    }
}

/// Microseconds per request of parse + verify alone, of the whole validation, and of the
/// axum extractor (glue + validation), each on fresh requests and a fresh memory store.
async fn breakdown(samples: u64) -> (f64, f64, f64) {
    let reqs = signed_requests(samples);
    let started = Instant::now();
    measure_parse_verify(&reqs);
    let parse_verify = started.elapsed().as_secs_f64() * 1e6 / samples as f64;

    let protector = AuthorizationServer::new(Arc::new(seed(MemoryStore::new()).await)).resource_protector();
    let started = Instant::now();
    measure_validate(&protector, &reqs);
    let validate = started.elapsed().as_secs_f64() * 1e6 / samples as f64;

    let provider = OAuth1Provider::new(AuthorizationServer::new(Arc::new(seed(MemoryStore::new()).await)));
    let axum_reqs: Vec<_> = reqs
        .into_iter()
        .map(|r| {
            let (mut parts, _) = r.into_parts();
            parts.uri = "/api/me".parse().unwrap();
            parts.headers.insert(http::header::HOST, http::HeaderValue::from_static("127.0.0.1:8080"));
            axum::extract::Request::from_parts(parts, axum::body::Body::empty())
        })
        .collect();
    let started = Instant::now();
    measure_extractor(&provider, axum_reqs);
    let extractor = started.elapsed().as_secs_f64() * 1e6 / samples as f64;
    (parse_verify, validate, extractor)
}

/// Warm-up, then bare, protected, bare, protected on the bench's own server; prints the mean
/// ratio.
async fn compare(
    store: &str,
    addr: std::net::SocketAddr,
    connections: u64,
    seconds: u64,
    accounting: Accounting,
) {
    let routes = (Target::own("/bare"), Target::own("/api/me"));
    compare_routes(store, addr, routes, connections, seconds, accounting).await
}

/// Warm-up, then the cheap route, the protected one, the cheap, the protected; prints the
/// mean ratio.
async fn compare_routes(
    store: &str,
    addr: std::net::SocketAddr,
    (cheap, protected_route): (Target, Target),
    connections: u64,
    seconds: u64,
    accounting: Accounting,
) {
    println!("OAuth 1.0a resource protector load: {connections} connections, {seconds} s per phase, {store}");
    phase(addr, cheap, connections, 1, &accounting).await;
    phase(addr, protected_route, connections, 1, &accounting).await;
    let (mut bare, mut protected) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        bare.push(phase(addr, cheap, connections, seconds, &accounting).await);
        protected.push(phase(addr, protected_route, connections, seconds, &accounting).await);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (b, p) = (mean(&bare), mean(&protected));
    println!("mean ({store}): bare {b:.0} req/s, protected {p:.0} req/s, ratio {:.1}%", 100.0 * p / b);
}

/// The process id of the Redis server at `url` when it runs on this machine (its CPU time is
/// then readable), from `INFO server`.
async fn redis_pid(url: &str) -> Option<String> {
    let mut conn = redis::Client::open(url).ok()?.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut conn).await.ok()?;
    let pid = info.lines().find_map(|l| l.strip_prefix("process_id:"))?.trim().to_owned();
    cpu_seconds(&pid).map(|_| pid)
}

/// Loads a server of another process at `target` (`host:port`, e.g. the demo's): its cheap
/// route `CHEAP_PATH` (answering `CHEAP_STATUS`), against its protected `/api/me`, whose
/// `200` bodies are not checked. The signing credentials are the bench's (`bench-client`,
/// `bench-token`), which must be registered there (see BENCHMARKS.md for the demo's); with
/// `TARGET_PID`, that process's CPU time is reported too.
async fn external(target: &str, connections: u64, seconds: u64) {
    let addr = tokio::net::lookup_host(target).await.unwrap().next().unwrap();
    let leak = |v: String| -> &'static str { Box::leak(v.into_boxed_str()) };
    let cheap_path = leak(std::env::var("CHEAP_PATH").unwrap_or_else(|_| "/healthz".into()));
    let cheap_status = leak(std::env::var("CHEAP_STATUS").unwrap_or_else(|_| "200".into()));
    let cheap = Target { path: cheap_path, status: cheap_status, body: None };
    let protected = Target { path: "/api/me", status: "200", body: None };
    let accounting = Accounting {
        server: std::env::var("TARGET_PID")
            .ok()
            .map(|pids| ("target", pids.split(',').map(|p| p.trim().to_owned()).collect())),
        ..Accounting::default()
    };
    let name = format!("the server at {target}, {cheap_path} against /api/me");
    compare_routes(&name, addr, (cheap, protected), connections, seconds, accounting).await;
}

/// Runs the phases and the breakdown (see the module docs); also the entry point of the
/// `oauth1_provider_load_mimalloc` variant.
pub(crate) fn main() {
    // `cargo bench` passes `--bench`; nothing else is parsed.
    let seconds = env("SECONDS", 5);
    let connections = env("CONNECTIONS", 32);
    // LOAD=0: only the in-process breakdown (for callgrind).
    let load = env("LOAD", 1) != 0;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        if let Ok(target) = std::env::var("TARGET") {
            return external(&target, connections, seconds).await;
        }
        if load && env("MEMORY", 1) != 0 {
            let memory: Arc<dyn OAuth1Store> = Arc::new(seed(MemoryStore::new()).await);
            compare("memory store", serve(memory).await, connections, seconds, Accounting::default()).await;
        }
        let samples = env("SAMPLES", 100_000);
        let (parse_verify, validate, extractor) = breakdown(samples).await;
        println!(
            "in-process, {samples} requests: parse+verify {parse_verify:.2} us, validate_request \
             {validate:.2} us, OAuth1Protected extractor {extractor:.2} us"
        );
        if !load {
            return;
        }
        if env("SQLITE", 1) != 0 {
            // A file in WAL mode, as the demo's default; nonces in memory, as the demo keeps
            // them without Redis.
            let dir = std::env::temp_dir().join(format!("keyward-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}", dir.join("provider.db").display());
            let sqlite = seed(SqliteStore::connect(&url).await.unwrap()).await;
            let store = Arc::new(SplitStore::new(sqlite, epoch_started(MemoryStore::new()).await));
            let name = "SQLite file (clients, tokens) + memory (nonces)";
            compare(name, serve(store).await, connections, seconds, Accounting::default()).await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            // Tables in a schema of this run's own, dropped at the end.
            let schema = format!("keyward_bench_{}", std::process::id());
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();
            let options =
                url.parse::<sqlx::postgres::PgConnectOptions>().unwrap().options([("search_path", &schema)]);
            let postgres = seed(PostgresStore::connect_with(options).await.unwrap()).await;
            let accounting = Accounting { postgres: Some(postgres.pool().clone()), ..Accounting::default() };
            let store = Arc::new(SplitStore::new(postgres, epoch_started(MemoryStore::new()).await));
            let name = "PostgreSQL (clients, tokens) + memory (nonces)";
            compare(name, serve(store).await, connections, seconds, accounting).await;
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.unwrap();
        }
        if let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
            let prefix = format!("keyward-bench-{}:", std::process::id());
            let redis_pid = redis_pid(&url).await;
            // REDIS_CONNECTION=own|manager runs one of the two.
            let which = std::env::var("REDIS_CONNECTION").unwrap_or_default();
            let redis_nonces = Some((url.clone(), prefix.clone()));
            if which != "manager" {
                let redis = seed(RedisStore::connect(&url, prefix.clone()).await.unwrap()).await;
                let accounting = Accounting {
                    server: redis_pid.clone().map(|pid| ("redis-server", vec![pid])),
                    postgres: None,
                    redis_nonces: redis_nonces.clone(),
                };
                compare("Redis store", serve(Arc::new(redis)).await, connections, seconds, accounting).await;
            }
            if which != "own" {
                // Baseline: the same store over the `redis` crate's own `ConnectionManager`.
                let client = redis::Client::open(url.as_str()).unwrap();
                let manager = redis::aio::ConnectionManager::new(client).await.unwrap();
                let prefix = format!("{prefix}baseline:");
                let redis = seed(RedisStore::new(manager, prefix.clone())).await;
                // The nonces of both stores, both under the run's prefix, are cleared.
                let accounting = Accounting {
                    server: redis_pid.map(|pid| ("redis-server", vec![pid])),
                    postgres: None,
                    redis_nonces: redis_nonces.clone(),
                };
                let name = "Redis store over redis::aio::ConnectionManager";
                compare(name, serve(Arc::new(redis)).await, connections, seconds, accounting).await;
            }
        }
    });
}

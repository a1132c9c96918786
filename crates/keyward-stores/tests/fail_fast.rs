//! Outages fail fast and the stores say so: a real PostgreSQL of the test's own, stopped
//! under load as a crash would (`pg_ctl stop -m immediate`), then started again; and
//! `Ping::ping` on every backend, up and down.
//!
//! What must hold while PostgreSQL is down: every answer comes within the bound (the 1 s
//! acquire timeout of `PostgresStore::connect`, plus scheduling), as `200` or `503
//! temporarily_unavailable`, never anything else; a request sent while it is down is never
//! accepted; every request that was accepted had its nonce recorded (its replay is refused
//! after the restart); and the same store serves again within a few seconds of the
//! database's return, without a restart of its own.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use keyward::common::encoding::parse_form;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::AuthorizationServer;
use keyward::oauth1::rfc5849::store::{Client, StoreError, TokenCredentialRecord, TokenCredentialStore};
use keyward::oauth1::rfc5849::{ClientCredentials, Signer, SigningParams, TokenCredentials};
use keyward_stores::{MemoryStore, Ping, PostgresStore, RedisStore, SplitStore, SqliteStore, StoreAdmin};
use keyward_testkit::postgres::Cluster;

const BASE: &str = "http://127.0.0.1:8080";
/// No answer may take longer: the 1 s acquire timeout, and slack for a busy machine.
const BOUND: Duration = Duration::from_millis(2500);
/// How long PostgreSQL stays down.
const OUTAGE: Duration = Duration::from_secs(3);
/// How soon after PostgreSQL is back the store must serve again.
const RESUME: Duration = Duration::from_secs(5);

static NONCE: AtomicU64 = AtomicU64::new(0);

fn postgres() -> Option<Cluster> {
    keyward_testkit::require(
        keyward_testkit::postgres::bindir(),
        module_path!(),
        "PostgreSQL's initdb and pg_ctl",
        "Debian's postgresql; .ci/run installs it",
    )?;
    Cluster::start()
}

fn sign(method: &str, url: &str, token: Option<&TokenCredentials>) -> http::Request<Vec<u8>> {
    let req = http::Request::builder().method(method).uri(url).body(Vec::new()).unwrap();
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let nonce = format!("n{}-{}", std::process::id(), NONCE.fetch_add(1, Ordering::Relaxed));
    let params = SigningParams { token, callback: token.is_none().then_some("oob"), ..Default::default() };
    Signer::new(ClientCredentials::new("outage-client", "secret1"))
        .sign_at(req, &params, &ts.to_string(), &nonce)
        .unwrap()
}

/// What a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    Ok,
    Unavailable,
    /// Anything else: a status and whether it carried `invalid_nonce`.
    Other(u16, bool),
}

fn classify(status: StatusCode, body: &[u8]) -> Answer {
    let error = std::str::from_utf8(body)
        .ok()
        .and_then(|b| parse_form(b).ok())
        .and_then(|f| f.into_iter().find(|(k, _)| k == "error").map(|(_, v)| v));
    match (status, error.as_deref()) {
        (StatusCode::OK, _) => Answer::Ok,
        (StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable")) => Answer::Unavailable,
        (s, e) => Answer::Other(s.as_u16(), e == Some("invalid_nonce")),
    }
}

/// Sends `req` (a temporary-credential request, or a protected-resource one when it
/// carries a token), bounded: the answer and when it was sent and answered.
async fn send(server: &AuthorizationServer, req: &http::Request<Vec<u8>>) -> (Answer, Instant, Instant) {
    let sent = Instant::now();
    let work = async {
        if req.uri().path() == "/oauth/initiate" {
            let resp = server.create_temporary_credential_response(req).await;
            classify(resp.status(), resp.body())
        } else {
            match server.resource_protector().validate_request(req).await {
                Ok(_) => Answer::Ok,
                Err(e) => {
                    let resp = e.to_response();
                    classify(resp.status(), resp.body())
                }
            }
        }
    };
    let answer = tokio::time::timeout(BOUND * 2, work).await.expect("a request hung");
    let answered = Instant::now();
    assert!(answered - sent <= BOUND, "an answer took {:?} (bound {BOUND:?}): {answer:?}", answered - sent);
    (answer, sent, answered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_answers_503_in_bounded_time_and_resumes() {
    let Some(cluster) = postgres() else { return };
    let store = Arc::new(PostgresStore::connect(&cluster.url()).await.expect("connect"));
    store.put_client(&Client::new("outage-client", SecretString::new("secret1"))).await.unwrap();
    let token = TokenCredentials::new("outage-token", "token-secret");
    store
        .create_token_credential(&TokenCredentialRecord {
            token: token.token.clone(),
            secret: SecretString::new("token-secret"),
            client_id: "outage-client".into(),
            user_id: "alice".into(),
            created_at: 0,
        })
        .await
        .unwrap();
    let server = AuthorizationServer::new(store.clone());

    // Load: 4 tasks alternating temporary-credential and protected-resource requests,
    // keeping each request with its answer.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (server, stop, token) = (server.clone(), stop.clone(), token.clone());
        load.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let req = if i.is_multiple_of(2) {
                    sign("POST", &format!("{BASE}/oauth/initiate"), None)
                } else {
                    sign("GET", &format!("{BASE}/api/me"), Some(&token))
                };
                let (answer, sent, answered) = send(&server, &req).await;
                seen.push((req, answer, sent, answered));
                if answer != Answer::Ok {
                    // What a client does on 503: waits a little.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cluster = Arc::new(cluster);
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop_immediate()).await.unwrap();
    let down = Instant::now();

    // Down: the ping says so, within its timeout.
    let ping = Instant::now();
    assert!(matches!(store.ping().await, Err(StoreError::Unavailable(_))));
    assert!(ping.elapsed() < Duration::from_millis(1500), "ping took {:?}", ping.elapsed());

    tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
    let restarting = Instant::now();
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.restart()).await.unwrap();
    let up = Instant::now();

    // Back: the same store serves again by itself, soon.
    loop {
        let (answer, _, _) = send(&server, &sign("POST", &format!("{BASE}/oauth/initiate"), None)).await;
        if answer == Answer::Ok {
            break;
        }
        assert_eq!(answer, Answer::Unavailable);
        assert!(up.elapsed() < RESUME, "the store did not serve again within {RESUME:?} of the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.ping().await.expect("ping after the restart");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let mut seen = Vec::new();
    for task in load {
        seen.extend(task.await.unwrap());
    }
    let mut counts = std::collections::BTreeMap::<Answer, usize>::new();
    for (_, answer, _, _) in &seen {
        *counts.entry(*answer).or_default() += 1;
    }
    let others: Vec<_> = counts.keys().filter(|a| matches!(a, Answer::Other(..))).collect();
    assert!(others.is_empty(), "only 200 or 503 under load: {counts:?}");
    assert!(counts.contains_key(&Answer::Unavailable), "the load saw the outage: {counts:?}");
    // Sent after the stop and answered before the restart began: never accepted.
    let during: Vec<_> =
        seen.iter().filter(|(_, _, sent, answered)| *sent >= down && *answered <= restarting).collect();
    assert!(!during.is_empty(), "requests ran during the outage");
    assert!(
        during.iter().all(|(_, answer, _, _)| *answer == Answer::Unavailable),
        "a request was accepted while PostgreSQL was down"
    );
    // Requests were served after the restart, and everything accepted was checked: its
    // nonce is on record, so the same request again is refused.
    assert!(seen.iter().any(|(_, answer, sent, _)| *answer == Answer::Ok && *sent >= up));
    let accepted: Vec<_> = seen.iter().filter(|(_, answer, _, _)| *answer == Answer::Ok).collect();
    assert!(!accepted.is_empty());
    for (req, _, _, _) in accepted {
        assert_eq!(send(&server, req).await.0, Answer::Other(401, true), "a replay of an accepted request");
    }
}

#[tokio::test]
async fn ping_answers_for_a_live_store_of_every_kind() {
    MemoryStore::new().ping().await.unwrap();
    SqliteStore::in_memory().await.unwrap().ping().await.unwrap();
    let split = SplitStore::new(SqliteStore::in_memory().await.unwrap(), MemoryStore::new());
    split.ping().await.unwrap();
    // Behind `Arc<dyn Ping>`, as an application keeps its dependencies.
    let dependencies: Vec<Arc<dyn Ping>> = vec![Arc::new(MemoryStore::new()), Arc::new(split)];
    for d in dependencies {
        d.ping().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_fails_fast_on_a_stopped_postgres_and_recovers() {
    let Some(cluster) = postgres() else { return };
    let store = PostgresStore::connect(&cluster.url()).await.expect("connect");
    store.ping().await.expect("ping while up");
    let split = SplitStore::new(PostgresStore::new(store.pool().clone()), MemoryStore::new());
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop_immediate();
        cluster
    })
    .await
    .unwrap();
    for _ in 0..3 {
        let start = Instant::now();
        assert!(matches!(store.ping().await, Err(StoreError::Unavailable(_))));
        assert!(matches!(split.ping().await, Err(StoreError::Unavailable(_))));
        assert!(start.elapsed() < Duration::from_secs(3), "two pings took {:?}", start.elapsed());
    }
    // The cluster comes back from the blocking task: dropping it would stop it.
    let _cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .unwrap();
    let back = Instant::now();
    while let Err(e) = store.ping().await {
        assert!(back.elapsed() < RESUME, "ping did not recover: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    split.ping().await.expect("the split store's ping after the restart");
}

/// A redis-server of the test's own, killed on drop.
struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_fails_fast_on_a_stopped_redis_and_recovers() {
    let found = Command::new("redis-server").arg("--version").output().ok().filter(|o| o.status.success());
    if keyward_testkit::require(
        found,
        module_path!(),
        "redis-server",
        "Debian's redis-server; .ci/run installs it",
    )
    .is_none()
    {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = || {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis(child)
    };
    let redis = start();
    let store = RedisStore::connect(&format!("redis://127.0.0.1:{port}"), "ping:").await.unwrap();
    store.ping().await.expect("ping while up");
    let split = SplitStore::new(SqliteStore::in_memory().await.unwrap(), store.clone());
    split.ping().await.unwrap();
    drop(redis);
    for _ in 0..3 {
        let start = Instant::now();
        assert!(matches!(store.ping().await, Err(StoreError::Unavailable(_))));
        assert!(matches!(split.ping().await, Err(StoreError::Unavailable(_))));
        assert!(start.elapsed() < Duration::from_secs(3), "two pings took {:?}", start.elapsed());
    }
    let _redis = start();
    let back = Instant::now();
    while store.ping().await.is_err() {
        assert!(back.elapsed() < RESUME, "ping did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    split.ping().await.unwrap();
}

//! The Redis store's own connection (`RedisStore::connect`): TCP and Unix-socket addresses,
//! a connection the server drops is replaced, an unreachable server fails fast, and a login
//! whose flow state is in a stopped Redis is a 503.
//!
//! Each test runs a throwaway `redis-server` of its own (no persistence), so that killing
//! its clients touches no other test.

use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::store::{Client, ClientStore, StoreError, TemporaryCredentialStore};
use keyward_stores::{RedisStore, StoreAdmin};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server on a free port and a Unix socket, killed (and its folder removed) on drop.
struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts one, or skips the test (fails under `CI=true`) when `redis-server` is missing.
    fn start(test: &str) -> Option<Redis> {
        let found =
            Command::new("redis-server").arg("--version").output().ok().filter(|o| o.status.success());
        keyward_testkit::require(found, test, "redis-server", "Debian's redis-server; .ci/run installs it")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("keyward-redis-conn-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(dir.join("redis.sock"))
            .args(["--unixsocketperm", "700"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let redis = Redis { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !redis.socket().exists() {
            assert!(Instant::now() < deadline, "redis-server did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    async fn admin(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }

    /// Stops the server answering any client for `ms` milliseconds.
    async fn pause(&self, ms: u64) {
        let () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(ms)
            .arg("ALL")
            .query_async(&mut self.admin().await)
            .await
            .unwrap();
    }

    /// Closes every client connection but the one asking, as a restarted or failed-over
    /// server would.
    async fn kill_clients(&self) -> u64 {
        let mut admin = self.admin().await;
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .query_async(&mut admin)
            .await
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn round_trip(store: &RedisStore, client_id: &str) {
    store.put_client(&Client::new(client_id, SecretString::new("s3cret"))).await.unwrap();
    let client = store.get_client(client_id).await.unwrap().expect("the client just stored");
    assert_eq!(client.client_id, client_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_over_tcp_and_over_a_unix_socket() {
    let Some(redis) = Redis::start("connects_over_tcp_and_over_a_unix_socket") else { return };
    let tcp = RedisStore::connect(&redis.url(), "tcp:").await.unwrap();
    round_trip(&tcp, "over-tcp").await;
    let unix_url = format!("redis+unix://{}", redis.socket().display());
    let unix = RedisStore::connect(&unix_url, "tcp:").await.unwrap();
    // Same server, same prefix: what one wrote, the other reads.
    assert!(unix.get_client("over-tcp").await.unwrap().is_some());
    round_trip(&unix, "over-unix").await;
    assert!(tcp.get_client("over-unix").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closes_is_replaced_on_the_next_call() {
    let Some(redis) = Redis::start("a_connection_the_server_closes_is_replaced") else { return };
    let store = RedisStore::connect(&redis.url(), "kill:").await.unwrap();
    round_trip(&store, "before").await;
    for round in 0..3 {
        assert_eq!(redis.kill_clients().await, 1, "round {round}: the store's one connection");
        // The call that finds the connection closed may fail, as unavailable (503), never
        // otherwise; a later one reconnects.
        let mut failures = 0;
        loop {
            match store.get_client("before").await {
                Ok(found) => {
                    assert!(found.is_some());
                    break;
                }
                Err(StoreError::Unavailable(_)) if failures < 2 => failures += 1,
                Err(e) => panic!("round {round}: after {failures} failures: {e:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_survive_a_closed_connection() {
    let Some(redis) = Redis::start("many_concurrent_calls_survive") else { return };
    let store = RedisStore::connect(&redis.url(), "many:").await.unwrap();
    round_trip(&store, "c").await;
    redis.kill_clients().await;
    // 64 calls at once find the connection closed: each fails as unavailable or succeeds,
    // in bounded time, and one connection replaces the old one (not one per caller).
    let started = Instant::now();
    let calls: Vec<_> = (0..64)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.get_client("c").await })
        })
        .collect();
    for call in calls {
        match call.await.unwrap() {
            Ok(found) => assert!(found.is_some()),
            Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    round_trip(&store, "after").await;
    let ids = settled_client_ids(&redis).await;
    assert_eq!(ids.len(), 1, "one connection of the store's: {ids:?}");
}

/// The ids of the server's normal clients, but the one asking.
async fn client_ids(redis: &Redis) -> Vec<String> {
    let mut admin = redis.admin().await;
    let me: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut admin).await.unwrap();
    let list: String =
        redis::cmd("CLIENT").arg("LIST").arg("TYPE").arg("normal").query_async(&mut admin).await.unwrap();
    list.lines()
        .filter_map(|l| l.strip_prefix("id=")?.split(' ').next().map(str::to_owned))
        .filter(|id| *id != me.to_string())
        .collect()
}

/// [`client_ids`] once connections the store let go have closed (their driver tasks are
/// aborted, and the server sees the sockets close, a moment later): until at most one is
/// left, or 5 s.
async fn settled_client_ids(redis: &Redis) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ids = client_ids(redis).await;
        if ids.len() <= 1 || Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A store on `redis` that has stored client `c`, and the id of its one connection.
async fn connected(redis: &Redis) -> (RedisStore, Vec<String>) {
    let store = RedisStore::connect(&redis.url(), "slow:").await.unwrap();
    round_trip(&store, "c").await;
    let ids = client_ids(redis).await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    (store, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_times_out_replaces_the_connection() {
    let Some(redis) = Redis::start("a_reply_that_times_out") else { return };
    let (store, before) = connected(&redis).await;
    // The server stops answering for 3 s, as one that vanished would: each call gives up
    // after the 500 ms reply timeout, as unavailable. A connection silent for twice that
    // is replaced; one slow reply alone would not be.
    redis.pause(3000).await;
    let paused = Instant::now();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.get_client("c").await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        // A reply timeout, or (once the connection was let go) a connection attempt that
        // the pause holds up: bounded either way.
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    }
    tokio::time::sleep(Duration::from_millis(3100).saturating_sub(paused.elapsed())).await;
    // The next call runs on a new connection; the old one is closed.
    assert!(store.get_client("c").await.unwrap().is_some());
    let after = settled_client_ids(&redis).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slow_reply_keeps_the_connection() {
    let Some(redis) = Redis::start("one_slow_reply_keeps_the_connection") else { return };
    let (store, before) = connected(&redis).await;
    redis.pause(800).await;
    let err = store.get_client("c").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(store.get_client("c").await.unwrap().is_some());
    assert_eq!(client_ids(&redis).await, before, "the same connection serves on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_primary_is_unavailable_until_writable_again() {
    let Some(redis) = Redis::start("a_demoted_primary") else { return };
    let (store, before) = connected(&redis).await;
    // A fail-over demotes the server to a replica (of a primary that is not there), which
    // refuses writes with READONLY: a command and a MULTI/EXEC transaction (which the
    // server aborts) fail as unavailable (503), not as a server error (500).
    let primary = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary)
        .query_async(&mut redis.admin().await)
        .await
        .unwrap();
    let client = Client::new("d", SecretString::new("s3cret"));
    for _ in 0..2 {
        let put = store.put_client(&client).await.unwrap_err();
        assert!(matches!(put, StoreError::Unavailable(_)), "{put:?}");
        let take = store.take_temporary_credential("some-token", 0).await.unwrap_err();
        assert!(matches!(take, StoreError::Unavailable(_)), "{take:?}");
    }
    // Reads still work; a write answered READONLY makes the store let go of its connection
    // (the next may reach the new primary, where the address is a name that moved).
    assert!(store.get_client("c").await.unwrap().is_some());
    let reading = settled_client_ids(&redis).await;
    assert_eq!(reading.len(), 1, "{reading:?}");
    assert!(matches!(store.put_client(&client).await, Err(StoreError::Unavailable(_))));
    assert!(store.get_client("c").await.unwrap().is_some());
    let after = settled_client_ids(&redis).await;
    assert!(after.len() == 1 && after != reading && after != before, "{before:?} {reading:?} {after:?}");
    let () =
        redis::cmd("REPLICAOF").arg("NO").arg("ONE").query_async(&mut redis.admin().await).await.unwrap();
    round_trip(&store, "d").await;
}

#[tokio::test]
async fn an_address_without_support_is_a_configuration_error() {
    // TLS is not compiled in: a clear error at once, not "unavailable, retry later" (the
    // `redis` crate refuses the URL before the store's connection sees it).
    let err = RedisStore::connect("rediss://127.0.0.1:1/", "tls:").await.unwrap_err();
    assert!(!matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_as_unavailable() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let err = RedisStore::connect(&format!("redis://127.0.0.1:{port}/"), "none:").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

/// With the flow state in Redis (`CacheStateStore`), a Redis outage during a login is a
/// `503` through the registry at both steps — try again later — not a `500`.
#[tokio::test]
async fn a_login_while_the_state_cache_is_down_is_503() {
    use keyward_client::registry::state::CacheStateStore;
    use keyward_client::registry::{AppConfig, Callback, Error, OAuth, StateCacheError, StateError};
    use keyward_client::session::MemorySession;
    use std::sync::Arc;

    let Some(redis) = Redis::start("state_cache_down") else { return };
    let store = RedisStore::connect(&redis.url(), "down:").await.unwrap();
    let oauth = OAuth::builder().state_store(Arc::new(CacheStateStore::new(store))).build();
    let config = AppConfig {
        client_id: Some("cid".into()),
        authorize_url: Some("https://as.example/authorize".into()),
        access_token_url: Some("https://as.example/token".into()),
        ..AppConfig::default()
    };
    let app = oauth.register("corp", config).unwrap();
    let session = MemorySession::new();
    let redirect = app.authorize_redirect(&session, "https://rp.example/cb").await.unwrap();
    let (_, query) = redirect.url.split_once('?').unwrap();
    let state = keyward::common::encoding::parse_form(query)
        .unwrap()
        .into_iter()
        .find_map(|(k, v)| (k == "state").then_some(v))
        .unwrap();
    drop(redis);

    let started = Instant::now();
    let err = app.authorize_redirect(&MemorySession::new(), "https://rp.example/cb").await.unwrap_err();
    assert!(matches!(err, Error::State(StateError::Cache(StateCacheError::Unavailable(_)))), "{err:?}");
    assert_eq!(err.status(), 503);
    let callback = Callback::from_query(&format!("code=c&state={state}")).unwrap();
    let err = app.authorize_access_token(&session, &callback).await.unwrap_err();
    assert!(matches!(err, Error::State(StateError::Cache(StateCacheError::Unavailable(_)))), "{err:?}");
    assert_eq!(err.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

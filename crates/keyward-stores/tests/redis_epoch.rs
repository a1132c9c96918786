//! Replay protection that survives a Redis that forgets: a request accepted before Redis
//! lost its data (a restart without persistence, `FLUSHALL`) is refused after it, because
//! the store starts a new replay epoch; and a Redis that kept its data (append-only file,
//! killed with SIGKILL) still refuses the replay. Requests signed after the loss are
//! accepted.
//!
//! Each test runs a throwaway `redis-server` of its own, restarted on the same port.

use http::Method;
use keyward::common::clock::FixedClock;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::{AuthorizationServer, ProviderError};
use keyward::oauth1::rfc5849::store::Client;
use keyward::oauth1::rfc5849::{ClientCredentials, Signer, SigningParams};
use keyward_stores::{RedisStore, StoreAdmin};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOW: i64 = 1_700_000_000;

/// A redis-server on a port and folder of its own, which a test can stop and start again.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<&'static str>,
}

impl Redis {
    /// Starts one with `args` (persistence settings), or skips the test (fails under
    /// `CI=true`) when `redis-server` is missing.
    fn start(test: &str, args: &[&'static str]) -> Option<Redis> {
        let found =
            Command::new("redis-server").arg("--version").output().ok().filter(|o| o.status.success());
        keyward_testkit::require(found, test, "redis-server", "Debian's redis-server; .ci/run installs it")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("keyward-redis-epoch-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Redis { child: None, port, dir, args: args.to_vec() };
        redis.spawn();
        Some(redis)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(&self.args)
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    async fn command(&self, name: &str, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let mut admin =
            redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        redis::cmd(name).arg(args).query_async(&mut admin).await
    }

    /// `SHUTDOWN NOSAVE`, then the same server again: an empty database.
    async fn restart_without_saving(&mut self) {
        // The server closes the connection as it exits: no reply to wait for.
        let _ = self.command("SHUTDOWN", &["NOSAVE"]).await;
        self.child.take().unwrap().wait().unwrap();
        self.spawn();
    }

    /// SIGKILL, then the same server again, loading whatever it had persisted.
    fn kill_and_restart(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A provider over `redis`, whose store has been up for an hour (its replay epoch), with
/// one client; and the store.
async fn provider(redis: &Redis, clock: &FixedClock) -> (AuthorizationServer, Arc<RedisStore>) {
    let store = Arc::new(RedisStore::connect(&redis.url(), "kwepoch:").await.expect("RedisStore"));
    put_client(&store).await;
    store.purge_expired(NOW - 3600).await.unwrap();
    (AuthorizationServer::builder(store.clone()).clock(clock.clone()).build(), store)
}

/// Registers the client, once Redis answers (clients live in a database in a real
/// deployment, and survive what Redis forgets).
async fn put_client(store: &RedisStore) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = store.put_client(&Client::new("client1", SecretString::new("secret1"))).await {
        assert!(Instant::now() < deadline, "{e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A temporary-credential request signed at `ts` with `nonce`.
fn request(ts: i64, nonce: &str) -> http::Request<Vec<u8>> {
    let signer = Signer::new(ClientCredentials::new("client1", "secret1"));
    let req = http::Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1/oauth/request_token")
        .body(Vec::new())
        .unwrap();
    let params = SigningParams { callback: Some("oob"), ..Default::default() };
    signer.sign_at(req, &params, &ts.to_string(), nonce).unwrap()
}

/// The provider's answer to `req` (`"ok"` or the error code), once Redis answers again
/// (the store reconnects on the next call after a restart).
async fn answer(server: &AuthorizationServer, req: &http::Request<Vec<u8>>) -> &'static str {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match server.issue_temporary_credential(req).await {
            Ok(_) => return "ok",
            Err(e @ ProviderError::Store(_)) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return e.code(),
        }
    }
}

/// The captured request, accepted once before the loss; after it (the clock two seconds
/// on), refused as stale, as is a new request signed in the second Redis came back; a
/// request signed after that is accepted once.
async fn replay_after_loss(
    (server, store): &(AuthorizationServer, Arc<RedisStore>),
    clock: &FixedClock,
    lose: impl AsyncFnOnce(),
) {
    let captured = request(NOW, "captured");
    assert_eq!(answer(server, &captured).await, "ok");
    assert_eq!(answer(server, &captured).await, "invalid_nonce");
    lose().await;
    put_client(store).await;
    clock.set(NOW + 2);
    assert_eq!(answer(server, &captured).await, "invalid_request", "the replay after the loss is refused");
    assert_eq!(answer(server, &captured).await, "invalid_request", "every time");
    assert_eq!(answer(server, &request(NOW + 2, "same-second")).await, "invalid_request");
    let fresh = request(NOW + 3, "fresh");
    assert_eq!(answer(server, &fresh).await, "ok", "a request signed after the loss is accepted");
    assert_eq!(answer(server, &fresh).await, "invalid_nonce");
}

#[tokio::test]
async fn a_restart_without_persistence_starts_a_new_epoch() {
    let no_persistence = ["--save", "", "--appendonly", "no"];
    let Some(mut redis) = Redis::start("a_restart_without_persistence_starts_a_new_epoch", &no_persistence)
    else {
        return;
    };
    let clock = FixedClock::new(NOW);
    let provider = provider(&redis, &clock).await;
    replay_after_loss(&provider, &clock, async || redis.restart_without_saving().await).await;
}

#[tokio::test]
async fn flushall_starts_a_new_epoch() {
    let no_persistence = ["--save", "", "--appendonly", "no"];
    let Some(redis) = Redis::start("flushall_starts_a_new_epoch", &no_persistence) else { return };
    let clock = FixedClock::new(NOW);
    let provider = provider(&redis, &clock).await;
    replay_after_loss(&provider, &clock, async || {
        redis.command("FLUSHALL", &[]).await.unwrap();
    })
    .await;
}

/// With an append-only file and `appendfsync always`, a SIGKILL loses no acknowledged write
/// (the file is written before the reply; with `everysec` Redis postpones the write while a
/// slow fsync runs and replies anyway, which once lost the nonce here under a busy disk); the
/// nonce and the epoch survive: the replay is refused
/// by its nonce, and requests signed after the restart are accepted without a new epoch.
#[tokio::test]
async fn an_append_only_redis_killed_keeps_its_nonces() {
    let aof = ["--save", "", "--appendonly", "yes", "--appendfsync", "always"];
    let Some(mut redis) = Redis::start("an_append_only_redis_killed_keeps_its_nonces", &aof) else { return };
    let clock = FixedClock::new(NOW);
    let (server, _store) = provider(&redis, &clock).await;
    let captured = request(NOW, "captured");
    assert_eq!(answer(&server, &captured).await, "ok");
    redis.kill_and_restart();
    clock.set(NOW + 2);
    let replay = answer(&server, &captured).await;
    assert_eq!(replay, "invalid_nonce", "the nonce survived the kill");
    // The epoch survived too: a request signed in the restart's second is judged by its
    // nonce alone.
    assert_eq!(answer(&server, &request(NOW + 2, "same-second")).await, "ok");
    assert_eq!(answer(&server, &request(NOW + 3, "fresh")).await, "ok");
}

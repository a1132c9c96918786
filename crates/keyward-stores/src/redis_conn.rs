//! The Redis store's own connection: one multiplexed connection, replaced when it fails,
//! whose driver task writes commands in batches.
//!
//! Why not the `redis` crate's `ConnectionManager`: its driver task is spawned inside the
//! crate, and tokio runs a task woken by another task on the same worker next (the "LIFO
//! slot"). Each request that queues a command thus has the driver write that one command
//! before the next request queues its own: on a busy server, about three commands per
//! write to Redis, each write a system call here and a read, a reply and a wake-up in
//! `redis-server`. Here the driver, once woken, lets the tasks already runnable on its worker
//! run first ([`Batching`]), so that one write carries the commands of all of them. The
//! cost is one extra poll of the driver per wake-up; no command waits for a timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, Pipeline, RedisError, RedisFuture, RedisResult, Value,
};

/// A shared, reconnecting, batching connection to one Redis server. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct Connection(Arc<Shared>);

/// A connection to the server, numbered in the order they were made, with its driver task,
/// which ends when the last clone is dropped: the store's (until the connection fails) and
/// those of the calls under way on it.
#[derive(Clone)]
struct Live {
    number: u64,
    conn: MultiplexedConnection,
    _driver: Arc<AbortOnDrop>,
}

/// Aborts a task when dropped. The driver of a multiplexed connection would otherwise run,
/// and keep its socket open, for as long as the server leaves a request unanswered.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Shared {
    client: redis::Client,
    connect_timeout: Duration,
    response_timeout: Duration,
    /// The connection in use; `None` after a failure until the next call connects again.
    current: RwLock<Option<Live>>,
    /// Held while connecting, so that one caller connects and the others wait for it.
    connecting: tokio::sync::Mutex<()>,
    /// Connection attempts started so far (successful or not).
    attempts: AtomicU64,
}

impl Connection {
    /// Connects to the server of `client` now, so that a wrong address or password shows at
    /// start-up; later failures reconnect on the next call.
    pub(crate) async fn open(
        client: redis::Client,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> RedisResult<Self> {
        let conn = Connection(Arc::new(Shared {
            client,
            connect_timeout,
            response_timeout,
            current: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
        }));
        conn.get().await?;
        Ok(conn)
    }

    fn current(&self) -> Option<Live> {
        self.0.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The connection in use, or a new one. A caller that finds the connection gone while
    /// another is already connecting waits for that attempt and, if it failed, fails too
    /// instead of trying again: while Redis is unreachable a call waits for at most two
    /// attempts (one under way and its own), not for every caller queued before it.
    async fn get(&self) -> RedisResult<Live> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let seen = self.0.attempts.load(Ordering::Acquire);
        let _connecting = self.0.connecting.lock().await;
        if let Some(current) = self.current() {
            return Ok(current);
        }
        if self.0.attempts.load(Ordering::Acquire) != seen {
            return Err(std::io::Error::new(std::io::ErrorKind::NotConnected, "Redis is unreachable").into());
        }
        let number = self.0.attempts.fetch_add(1, Ordering::AcqRel) + 1;
        let (conn, driver) = tokio::time::timeout(self.0.connect_timeout, self.connect())
            .await
            .map_err(|_| RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))??;
        let live = Live { number, conn, _driver: Arc::new(AbortOnDrop(driver)) };
        *self.0.current.write().unwrap_or_else(|e| e.into_inner()) = Some(live.clone());
        Ok(live)
    }

    async fn connect(&self) -> RedisResult<(MultiplexedConnection, tokio::task::AbortHandle)> {
        let info = self.0.client.get_connection_info();
        let config = AsyncConnectionConfig::new().set_response_timeout(Some(self.0.response_timeout));
        let settings = info.redis_settings();
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                start(settings, stream, config).await
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => {
                start(settings, tokio::net::UnixStream::connect(path).await?, config).await
            }
            other => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("unsupported Redis address {other}: use redis:// or redis+unix://"),
            ))),
        }
    }

    /// Sends on the connection in use (or a new one), and forgets it if that failed it.
    async fn call<T>(
        &self,
        send: impl AsyncFnOnce(&mut MultiplexedConnection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let mut live = self.get().await?;
        let result = send(&mut live.conn).await;
        if let Err(e) = &result {
            self.failed(live.number, e);
        }
        result
    }

    /// Forgets connection `number` after an error that leaves it unusable, so that the next
    /// call connects again; a newer connection is kept. A reply that timed out counts too:
    /// a connection whose peer vanished without closing it (a failed-over or partitioned
    /// server) would otherwise time out every call until the system gives up on the socket,
    /// many minutes later. Calls still waiting on the old connection keep it until they end.
    fn failed(&self, number: u64, error: &RedisError) {
        if !error.is_unrecoverable_error() && !error.is_timeout() {
            return;
        }
        let mut current = self.0.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|live| live.number == number) {
            *current = None;
        }
    }
}

/// Sets up a connection over `stream` (authentication, database, protocol) and spawns its
/// driver.
async fn start<S>(
    settings: &redis::RedisConnectionInfo,
    stream: S,
    config: AsyncConnectionConfig,
) -> RedisResult<(MultiplexedConnection, tokio::task::AbortHandle)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (conn, driver) = MultiplexedConnection::new_with_config(settings, stream, config).await?;
    let driver = tokio::spawn(Batching { driver: Box::pin(driver), deferred: false });
    Ok((conn, driver.abort_handle()))
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.call(async move |conn| conn.send_packed_command(cmd).await))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.call(async move |conn| conn.send_packed_commands(pipeline, offset, count).await))
    }

    fn get_db(&self) -> i64 {
        self.0.client.get_connection_info().redis_settings().db()
    }
}

/// Runs a connection's driver one scheduling round after each wake-up: the first poll
/// after a wake-up only wakes the task again, which puts it at the back of its worker's
/// queue, behind the tasks already runnable there (and out of the LIFO slot); the next poll
/// drives the connection, with whatever commands those tasks queued meanwhile.
struct Batching<F> {
    driver: F,
    deferred: bool,
}

impl<F: Future<Output = ()> + Unpin> Future for Batching<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.deferred {
            self.deferred = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.deferred = false;
        Pin::new(&mut self.driver).poll(cx)
    }
}

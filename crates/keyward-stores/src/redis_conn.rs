//! The Redis store's own connection: one multiplexed connection, replaced when it fails,
//! whose driver task writes commands in batches.
//!
//! Why not the `redis` crate's `ConnectionManager`: its driver task is spawned inside the
//! crate, and tokio runs a task woken by another task on the same worker next (the "LIFO
//! slot"). Each request that queues a command thus has the driver write that one command
//! before the next request queues its own: on a busy server, about three commands per
//! write to Redis, each write a system call here and a read, a reply and a wake-up in
//! `redis-server`. Here the driver, once woken, lets the tasks already runnable on its worker
//! run first ([`Batching`]), so that one write carries the commands of all of them: about
//! seven instead of three under the load bench, and a sixth less `redis-server` CPU per
//! request. The cost is one more scheduling round per wake-up (no command waits for a
//! timer): at low concurrency a few microseconds of latency per request, and idle workers
//! woken more often (`BENCHMARKS.md`).
//!
//! Owning the connection also lets the store replace it when the `ConnectionManager` would
//! not: when the server has answered nothing for twice the reply timeout (a server gone
//! without closing the connection), and when it answers `READONLY` (a demoted primary).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, Pipeline, RedisError, RedisFuture, RedisResult, Value,
};

/// A shared, reconnecting, batching connection to one Redis server. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct Connection(Arc<Shared>);

/// A connection to the server, numbered in the order they were made, with its driver task.
#[derive(Clone)]
struct Live {
    number: u64,
    conn: MultiplexedConnection,
    driver: Arc<Driver>,
}

/// A connection's driver task, aborted when the last clone of its [`Live`] is dropped: the
/// store's (until the connection fails) and those of the calls under way on it. The driver
/// of a multiplexed connection would otherwise run, and keep its socket open, for as long as
/// the server leaves a request unanswered.
struct Driver {
    task: tokio::task::AbortHandle,
    /// When the connection last answered, in milliseconds since [`Shared::epoch`]; updated
    /// at most every 100 ms, so that calls do not all write to it.
    answered: AtomicU64,
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.task.abort();
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
    /// Connections made so far, to number them.
    made: AtomicU64,
    /// Connection attempts that failed so far.
    failures: AtomicU64,
    epoch: Instant,
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
            made: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            epoch: Instant::now(),
        }));
        conn.get().await?;
        Ok(conn)
    }

    /// The connection in use, unless its driver has ended (the server closed it): then it is
    /// forgotten, without a call having to fail on it first.
    fn current(&self) -> Option<Live> {
        let live = self.0.current.read().unwrap_or_else(|e| e.into_inner()).clone()?;
        if live.driver.task.is_finished() {
            self.forget(live.number);
            return None;
        }
        Some(live)
    }

    fn now_ms(&self) -> u64 {
        self.0.epoch.elapsed().as_millis().try_into().unwrap_or(u64::MAX)
    }

    /// The connection in use, or a new one. A caller that finds the connection gone while
    /// another is already connecting waits for that attempt and, if it failed, fails too
    /// instead of trying again: while Redis is unreachable a call waits for at most two
    /// attempts (one under way and its own), not for every caller queued before it. An
    /// attempt abandoned because its caller went away counts as no attempt.
    async fn get(&self) -> RedisResult<Live> {
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let seen = self.0.failures.load(Ordering::Acquire);
        let _connecting = self.0.connecting.lock().await;
        if let Some(live) = self.current() {
            return Ok(live);
        }
        if self.0.failures.load(Ordering::Acquire) != seen {
            return Err(std::io::Error::new(std::io::ErrorKind::NotConnected, "Redis is unreachable").into());
        }
        let made = tokio::time::timeout(self.0.connect_timeout, self.connect())
            .await
            .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()));
        let (conn, task) = made.inspect_err(|_| {
            self.0.failures.fetch_add(1, Ordering::AcqRel);
        })?;
        let number = self.0.made.fetch_add(1, Ordering::Relaxed) + 1;
        let driver = Arc::new(Driver { task, answered: AtomicU64::new(self.now_ms()) });
        let live = Live { number, conn, driver };
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
            other => Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "unsupported Redis address",
                format!("{other}: use redis:// or redis+unix://"),
            ))),
        }
    }

    /// Sends on the connection in use (or a new one), and forgets that connection if the
    /// call showed it unusable: an error that leaves it so (closed, broken), a `READONLY`
    /// reply (the server was demoted to a replica in a fail-over; the next connection may
    /// reach the new primary, where the address is a name that moved), or a reply that
    /// timed out when the connection has not answered anything for twice the reply timeout.
    /// The last catches a server that vanished without closing the connection (fail-over,
    /// partition), which would otherwise time out every call until the system gives up on
    /// the socket, many minutes later; one slow reply among others (a `fork` for a snapshot,
    /// a busy client) does not (on a connection idle for a second before it, it does: a
    /// reconnection, harmless). Calls still waiting on a forgotten connection keep it until
    /// they end.
    async fn call<T: Replies>(
        &self,
        send: impl AsyncFnOnce(&mut MultiplexedConnection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let mut live = self.get().await?;
        let result = send(&mut live.conn).await;
        let now = self.now_ms();
        let answered = &live.driver.answered;
        match &result {
            Err(e) if e.is_unrecoverable_error() || read_only(e) => self.forget(live.number),
            // Error replies come back as values; the caller turns them into errors.
            Ok(replies) if replies.read_only() => self.forget(live.number),
            Err(e) if e.is_timeout() => {
                let silent = Duration::from_millis(now.saturating_sub(answered.load(Ordering::Relaxed)));
                if silent >= 2 * self.0.response_timeout {
                    self.forget(live.number);
                }
            }
            // A reply, even an error reply.
            _ => {
                if now >= answered.load(Ordering::Relaxed) + 100 {
                    answered.store(now, Ordering::Relaxed);
                }
            }
        }
        result
    }

    /// Forgets connection `number`, so that the next call connects again; a newer
    /// connection is kept.
    fn forget(&self, number: u64) {
        let mut current = self.0.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|live| live.number == number) {
            *current = None;
        }
    }
}

/// What a call answers: one reply or several (a pipeline).
trait Replies {
    /// Whether a reply is a `READONLY` error.
    fn read_only(&self) -> bool;
}

impl Replies for Value {
    fn read_only(&self) -> bool {
        matches!(self, Value::ServerError(e) if e.kind() == Some(redis::ServerErrorKind::ReadOnly))
    }
}

impl Replies for Vec<Value> {
    fn read_only(&self) -> bool {
        self.iter().any(Replies::read_only)
    }
}

/// Whether `e` says the server is a read-only replica now (`READONLY`), for a command, a
/// pipeline or a transaction (which the server then aborts).
pub(crate) fn read_only(e: &RedisError) -> bool {
    let read_only = redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
    e.kind() == read_only
        || (e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort)
            && e.clone().into_server_errors().is_some_and(|errors| {
                errors.iter().any(|(_, error)| error.kind() == Some(redis::ServerErrorKind::ReadOnly))
            }))
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

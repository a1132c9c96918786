//! Fleet-wide refresh locks for `keyward_client`
//! ([`RefreshLock`](keyward_client::registry::RefreshLock)): one instance of an
//! application refreshes a token while the others wait for it.
//!
//! - [`RedisRefreshLock`]: `SET key fence NX PX ttl`, released by a script that deletes the
//!   key only if it still holds the owner's fence. Redis expires a lock whose owner died.
//! - [`PostgresRefreshLock`]: a session-level advisory lock (`pg_try_advisory_lock`) on a
//!   connection taken from the pool and kept for as long as the lock is held. Chosen over a
//!   lock row with an expiry because PostgreSQL itself releases it when the owner's
//!   connection ends (a crash, a network cut), with no table to migrate or sweep; the TTL
//!   is enforced here: a lock still held when it runs out is released and its connection
//!   returned. It holds one pooled connection per refresh under way.

use keyward::common::http_client::BoxFuture;
use keyward::common::store::StoreError;
use keyward_client::registry::RefreshLock;
use std::time::Duration;

#[cfg(feature = "redis")]
pub use self::redis_lock::RedisRefreshLock;

#[cfg(feature = "postgres")]
pub use self::postgres_lock::PostgresRefreshLock;

#[cfg(feature = "redis")]
mod redis_lock {
    use super::*;
    use crate::redis_conn::Connection;
    use redis::aio::ConnectionManager;
    use std::sync::LazyLock;

    /// Deletes KEYS[1] if it holds ARGV[1]: a release by the lock's owner only.
    static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
        )
    });

    #[derive(Clone)]
    enum Conn {
        Own(Connection),
        Manager(ConnectionManager),
    }

    /// A [`RefreshLock`] in Redis: `SET {prefix}rl:{key} fence NX PX ttl`, released by
    /// compare-and-delete.
    #[derive(Clone)]
    pub struct RedisRefreshLock {
        conn: Conn,
        prefix: String,
    }

    impl std::fmt::Debug for RedisRefreshLock {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisRefreshLock").field("prefix", &self.prefix).finish_non_exhaustive()
        }
    }

    fn map_err(e: redis::RedisError) -> StoreError {
        if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
            StoreError::unavailable(e)
        } else {
            StoreError::backend(e)
        }
    }

    impl RedisRefreshLock {
        /// Locks over an existing connection manager; every key starts with `prefix`.
        pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
            Self { conn: Conn::Manager(conn), prefix: prefix.into() }
        }

        /// Connects to `url`, as [`RedisStore::connect`](crate::RedisStore::connect) does
        /// (reconnecting by itself; 1 s connection and 500 ms reply timeouts).
        pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, StoreError> {
            let client = redis::Client::open(url).map_err(map_err)?;
            let conn = Connection::open(client, Duration::from_secs(1), Duration::from_millis(500))
                .await
                .map_err(map_err)?;
            Ok(Self { conn: Conn::Own(conn), prefix: prefix.into() })
        }

        fn key(&self, key: &str) -> String {
            format!("{}rl:{key}", self.prefix)
        }

        async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
            match &self.conn {
                Conn::Own(c) => cmd.query_async(&mut c.clone()).await,
                Conn::Manager(c) => cmd.query_async(&mut c.clone()).await,
            }
            .map_err(map_err)
        }
    }

    impl RefreshLock for RedisRefreshLock {
        fn try_acquire<'a>(
            &'a self,
            key: &'a str,
            fence: &'a str,
            ttl: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(async move {
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                let mut cmd = redis::cmd("SET");
                cmd.arg(self.key(key)).arg(fence).arg("NX").arg("PX").arg(ms);
                let reply: Option<String> = self.query(&cmd).await?;
                Ok(reply.is_some())
            })
        }

        fn release<'a>(&'a self, key: &'a str, fence: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(async move {
                let mut invocation = RELEASE.key(self.key(key));
                invocation.arg(fence);
                let deleted: i64 = match &self.conn {
                    Conn::Own(c) => invocation.invoke_async(&mut c.clone()).await,
                    Conn::Manager(c) => invocation.invoke_async(&mut c.clone()).await,
                }
                .map_err(map_err)?;
                Ok(deleted == 1)
            })
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres_lock {
    use super::*;
    use sqlx::PgPool;
    use sqlx::pool::PoolConnection;
    use sqlx::postgres::Postgres;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// The 64-bit advisory-lock id of a key: FNV-1a, stable across processes and builds
    /// (every instance must compute the same id).
    fn lock_id(namespace: &str, key: &str) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in namespace.bytes().chain([0]).chain(key.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        i64::from_ne_bytes(hash.to_ne_bytes())
    }

    struct Held {
        fence: String,
        conn: PoolConnection<Postgres>,
        id: i64,
    }

    type HeldMap = Arc<Mutex<HashMap<String, Held>>>;

    /// A [`RefreshLock`] in PostgreSQL: a session-level advisory lock on a pooled
    /// connection kept while the lock is held (see the module docs). Lock ids are a 64-bit
    /// hash of `namespace` and the key; two keys that collide only share a lock.
    #[derive(Clone)]
    pub struct PostgresRefreshLock {
        pool: PgPool,
        namespace: String,
        held: HeldMap,
    }

    impl std::fmt::Debug for PostgresRefreshLock {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("PostgresRefreshLock").field("namespace", &self.namespace).finish_non_exhaustive()
        }
    }

    fn map_err(e: sqlx::Error) -> StoreError {
        match e {
            e @ (sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed) => StoreError::unavailable(e),
            e => StoreError::backend(e),
        }
    }

    async fn unlock(mut held: Held) {
        let ok = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
            .bind(held.id)
            .fetch_one(&mut *held.conn)
            .await
            .unwrap_or(false);
        if !ok {
            // The session's state is unknown: close it rather than return it to the pool
            // holding a lock.
            let _ = held.conn.close().await;
        }
    }

    impl PostgresRefreshLock {
        /// Locks over `pool`, with lock ids derived from `namespace` (e.g. the
        /// application's name) and each key.
        pub fn new(pool: PgPool, namespace: impl Into<String>) -> Self {
            Self { pool, namespace: namespace.into(), held: Arc::default() }
        }
    }

    impl RefreshLock for PostgresRefreshLock {
        fn try_acquire<'a>(
            &'a self,
            key: &'a str,
            fence: &'a str,
            ttl: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(async move {
                let id = lock_id(&self.namespace, key);
                let mut conn = self.pool.acquire().await.map_err(map_err)?;
                let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(map_err)?;
                if !taken {
                    return Ok(false);
                }
                let previous = self
                    .held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(key.to_owned(), Held { fence: fence.to_owned(), conn, id });
                if let Some(previous) = previous {
                    // This process held it on another connection that was not released.
                    tokio::spawn(unlock(previous));
                }
                // The TTL: a lock its owner never released is released when it runs out.
                let held = self.held.clone();
                let (key, fence) = (key.to_owned(), fence.to_owned());
                tokio::spawn(async move {
                    tokio::time::sleep(ttl).await;
                    let expired = {
                        let mut map = held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        match map.get(&key) {
                            Some(h) if h.fence == fence => map.remove(&key),
                            _ => None,
                        }
                    };
                    if let Some(expired) = expired {
                        unlock(expired).await;
                    }
                });
                Ok(true)
            })
        }

        fn release<'a>(&'a self, key: &'a str, fence: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(async move {
                let mine = {
                    let mut map = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    match map.get(key) {
                        Some(h) if h.fence == fence => map.remove(key),
                        _ => None,
                    }
                };
                match mine {
                    Some(held) => {
                        unlock(held).await;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            })
        }
    }
}

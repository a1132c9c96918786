//! # Keyward stores
//!
//! Implementations of the OAuth 1.0a provider's store traits
//! ([`keyward::oauth1::rfc5849::store`]), the OAuth 2 authorization server's
//! ([`keyward::oauth2::provider::store`], re-exported as [`oauth2_store`]) and
//! [`OnceStore`](keyward::common::store::OnceStore) for:
//!
//! | backend | type | feature |
//! |---|---|---|
//! | memory (one process) | [`MemoryStore`] | always |
//! | SQLite through sqlx, file or memory | `SqliteStore` | `sqlite` (default) |
//! | PostgreSQL through sqlx | `PostgresStore` | `postgres` |
//! | Redis | `RedisStore` | `redis` |
//! | two of the above: clients and tokens in one, temporary credentials and nonces in the other | [`SplitStore`] | always |
//!
//! With the `client` feature as well, `RedisStore` is a `keyward_client` `StateCache`: the
//! client's flow state (`SET … EX`, read once with `GETDEL`) shared by several instances.
//! With `client` and `redis` or `postgres`, `RedisRefreshLock` and `PostgresRefreshLock` are
//! `keyward_client` `RefreshLock`s: refresh single-flight across instances.
//!
//! Every backend passes one conformance suite (the `conformance` module, behind the feature
//! of that name: run it on a backend of your own with one macro call), which checks, among
//! the rest, that the operations the protocols' safety rests on are atomic under concurrency:
//!
//! - nonce insertion is insert-if-absent (a unique key with `INSERT … ON CONFLICT` in SQL,
//!   `SET NX EX` in Redis), so a replayed request is refused even when the copies arrive at
//!   once on several instances;
//! - a temporary credential is taken once (`DELETE … RETURNING` in SQL, an atomic
//!   `HGETALL`+`DEL` script in Redis), so a verifier is exchanged for at most one token;
//! - for the OAuth 2 server, an authorization code is taken once and a refresh token
//!   rotated once (`UPDATE … WHERE used = FALSE … RETURNING`, `… WHERE revoked = FALSE`
//!   in SQL; Lua scripts in Redis), and a single-use `jti` is recorded once (as a nonce is).
//!
//! The SQL backends ship their migrations (`migrations/{sqlite,postgres}`), embedded in the
//! binary and applied by `migrate()`.
//!
//! Stores never read the wall clock: every operation whose answer or record depends on the
//! time takes `now` from the provider's injected clock (a Redis TTL is `expires_at − now`).
//! The only timers in this crate are the Redis connection's timeouts, which measure
//! elapsed time on the monotonic clock and decide nothing about the protocol.
//!
//! Registering clients is the application's business; [`StoreAdmin`] offers the basic
//! operations on every backend.
//!
//! ```
//! use std::sync::Arc;
//! use keyward::common::secret::SecretString;
//! use keyward::common::replay::{ReplayEpoch, ReplayVerdict};
//! use keyward_stores::store::{Client, NonceKey, NonceStore, NonceToRecord, OAuth1Store};
//! use keyward_stores::{MemoryStore, StoreAdmin};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! store.put_client(&Client::new("printer", SecretString::new("kd94hf93k423kf44"))).await?;
//!
//! // What a provider holds: any backend, behind one trait object.
//! let provider_store: Arc<dyn OAuth1Store> = store;
//! assert!(provider_store.get_client("printer").await?.is_some());
//!
//! let now = 1_191_242_096;
//! let key = NonceKey { client_id: "printer".into(), token: None, timestamp: now, nonce: "wIjqoS".into() };
//! let nonce = NonceToRecord { key, expires_at: now + 600 };
//! let first = provider_store.insert_nonce(&nonce, now).await?;
//! assert!(first.fresh);
//! assert!(!provider_store.insert_nonce(&nonce, now).await?.fresh); // replayed
//! // The store's replay epoch: a new memory store remembers from its first call on, so a
//! // request signed in that second may have been seen by a store before it.
//! assert_eq!(first.epoch, ReplayEpoch::Since(now));
//! assert_eq!(first.verdict(now), ReplayVerdict::BeforeEpoch);
//! assert_eq!(first.verdict(now + 1), ReplayVerdict::Fresh);
//! # Ok::<(), keyward_stores::store::StoreError>(())
//! # }).unwrap();
//! ```

use keyward::oauth1::rfc5849::store::{BoxFuture, Client, StoreError};

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "conformance")]
pub mod conformance_device;
#[cfg(feature = "conformance")]
pub mod conformance_par;
mod memory;
mod memory_device;
mod memory_keys;
mod memory_oauth2;
mod memory_par;
#[cfg(feature = "redis")]
mod redis_conn;
#[cfg(feature = "redis")]
mod redis_device;
#[cfg(feature = "redis")]
mod redis_keys;
#[cfg(feature = "redis")]
mod redis_par;
#[cfg(feature = "redis")]
mod redis_store;
#[cfg(all(feature = "client", any(feature = "redis", feature = "postgres")))]
mod refresh_lock;
mod split;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_device;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod sql_keys;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_par;

pub use memory::MemoryStore;
pub use memory_keys::MemoryKeyStore;
#[cfg(feature = "redis")]
pub use redis_keys::RedisKeyStore;
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
#[cfg(all(feature = "client", feature = "postgres"))]
pub use refresh_lock::PostgresRefreshLock;
#[cfg(all(feature = "client", feature = "redis"))]
pub use refresh_lock::RedisRefreshLock;
/// The `rusqlite` that [`SqliteStore::read`] hands its connections from.
#[cfg(feature = "sqlite")]
pub use rusqlite;
pub use split::SplitStore;
#[cfg(feature = "postgres")]
pub use sql::PostgresStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::SqlTimeouts;
#[cfg(feature = "sqlite")]
pub use sql::SqliteStore;
#[cfg(feature = "postgres")]
pub use sql_keys::PostgresKeyStore;
#[cfg(feature = "sqlite")]
pub use sql_keys::SqliteKeyStore;

/// The store traits and records, re-exported from the core.
pub use keyward::oauth1::rfc5849::store;
/// The OAuth 2 authorization server's store traits and records, which every backend implements.
pub use keyward::oauth2::provider::store as oauth2_store;

/// Administration of a store: registering clients and purging expired records.
pub trait StoreAdmin: Send + Sync {
    /// Registers a client, replacing any client with the same identifier.
    fn put_client<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Removes a client; returns whether it existed.
    fn delete_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Deletes temporary credentials and nonces that have expired at `now`; returns how many
    /// records were removed. Stores also purge on their own as they go; Redis expires keys
    /// itself and returns 0.
    ///
    /// A store that may forget its nonces (memory, Redis) also starts its replay epoch
    /// ([`keyward::common::replay`]) at `now` if none has started, as its first nonce
    /// would: call it at start-up, so that the epoch predates the first requests.
    fn purge_expired(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// A store's health check, for readiness probes (`/readyz`): whether its backend answers a
/// trivial command (`SELECT 1`, `PING`) now.
///
/// A ping is bounded in time by the store itself (1 s by default; for the SQL stores
/// [`SqlTimeouts::with_ping_timeout`](crate::SqlTimeouts::with_ping_timeout)), and answers
/// [`StoreError::Unavailable`] when the backend cannot be reached or does not answer in
/// time. It reads and writes no record.
///
/// ```
/// use keyward_stores::{MemoryStore, Ping, SplitStore, SqliteStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = SplitStore::new(SqliteStore::in_memory().await?, MemoryStore::new());
/// store.ping().await?; // both halves answer
/// # Ok::<(), keyward_stores::store::StoreError>(())
/// # }).unwrap();
/// ```
pub trait Ping: Send + Sync {
    /// Checks, in bounded time, that the backend answers.
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

impl<T: Ping + ?Sized> Ping for std::sync::Arc<T> {
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        (**self).ping()
    }
}

/// The error of a ping or a call that did not finish within `limit`.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn timed_out(what: &str, limit: std::time::Duration) -> StoreError {
    StoreError::unavailable(format!("{what} did not answer within {} ms", limit.as_millis()))
}

/// How many nonce insertions a SQL store lets pass between two purges of expired records.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) const PURGE_EVERY: u64 = 1024;

/// This crate's guide on stores and deployment (the markdown under its `docs/` folder, listed
/// with the others in the repository's `docs/README.md`); its Rust examples are doc-tests.
pub mod guides {
    #[doc = include_str!("../docs/deployment.md")]
    pub mod deployment {}
}

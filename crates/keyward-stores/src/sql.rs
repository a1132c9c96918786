//! The sqlx stores: SQLite and PostgreSQL share their SQL (numbered `$n` parameters, `ON
//! CONFLICT`, `RETURNING`), written once in [`sql_store_impls!`].
//!
//! Atomicity: a nonce is fresh when `INSERT … ON CONFLICT … DO UPDATE … WHERE expired`
//! affected a row (the primary key makes the check and the insert one statement); a
//! temporary credential is taken with `DELETE … RETURNING`, which only one statement can
//! win; authorization is an `UPDATE … WHERE user_id IS NULL`.
//!
//! A signed request's look-up ([`OAuth1Store::lookup_signed`]) reads the client and the token
//! credential in one query (one round trip to PostgreSQL). SQLite files are read on the
//! calling thread, without sqlx's worker threads: see [`SqliteStore`].
//!
//! Replay epoch ([`keyward::common::replay`]): a database table remembers every nonce until
//! it expires, across restarts, so its epoch is [`ReplayEpoch::Durable`]; the exception is
//! an in-memory SQLite database opened by [`SqliteStore::connect`], which lives only as long
//! as its pool and starts its epoch at its first nonce, as the memory store does.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use keyward::common::replay::FirstCall;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::store::{
    Authorization, AuthorizeOutcome, BoxFuture, Client, ClientStore, NonceStore, NonceToRecord, OAuth1Store,
    Recorded, ReplayEpoch, SignedLookup, StoreError, TemporaryCredential, TemporaryCredentialStore,
    TokenCredentialRecord, TokenCredentialStore,
};
use sqlx::Row;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::{PURGE_EVERY, StoreAdmin};

mod oauth2;

/// Maps a sqlx error to the store's error kinds.
///
/// Besides the connection's own failures, a database that says it cannot serve now is
/// unavailable, not broken: PostgreSQL's SQLSTATE classes `08` (connection exception), `53`
/// (insufficient resources: too many connections), `57` (operator intervention: shutting
/// down, starting up, statement timeout) and `40001`/`40P01` (serialization failure,
/// deadlock), and SQLite's `SQLITE_BUSY`/`SQLITE_LOCKED` (the busy timeout ran out).
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate,
        sqlx::Error::Database(db) if db.code().is_some_and(|code| temporary_code(&code)) => {
            StoreError::unavailable(sqlx::Error::Database(db))
        }
        e @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed) => StoreError::unavailable(e),
        e @ (sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::Decode(_)
        | sqlx::Error::TypeNotFound { .. }) => StoreError::Corrupt(e.to_string()),
        e => StoreError::backend(e),
    }
}

/// Whether a database error code says "not now" rather than "wrong" (see [`map_err`]).
fn temporary_code(code: &str) -> bool {
    if let Ok(sqlite) = code.parse::<i32>() {
        // SQLite's extended codes keep the primary code in the low byte.
        return matches!(sqlite & 0xff, 5 | 6);
    }
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || code == "40001"
        || code == "40P01"
}

/// How long a SQL store waits before it answers [`StoreError::Unavailable`]: for a
/// connection from its pool, for a statement, and for a [`Ping`](crate::Ping).
///
/// While the database is unreachable a call fails after the acquire timeout (1 s by
/// default; sqlx's own default is 30 s), and the pool reconnects by itself on the calls
/// after the database returns. The statement timeout (5 s by default) bounds a query on a
/// database that is up but stuck (locks, load): PostgreSQL's `statement_timeout`, SQLite's
/// busy timeout (how long a write waits for another connection's lock).
///
/// ```
/// use std::time::Duration;
/// use keyward_stores::{SqlTimeouts, SqliteStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let timeouts = SqlTimeouts::default()
///     .with_acquire_timeout(Duration::from_millis(500))
///     .with_statement_timeout(Some(Duration::from_secs(2)));
/// let store = SqliteStore::connect_with_timeouts("sqlite::memory:", timeouts).await?;
/// # let _ = store;
/// # Ok::<(), keyward_stores::store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlTimeouts {
    acquire: std::time::Duration,
    statement: Option<std::time::Duration>,
    ping: std::time::Duration,
}

impl Default for SqlTimeouts {
    /// 1 s to acquire a connection, 5 s per statement, 1 s per ping.
    fn default() -> Self {
        Self {
            acquire: std::time::Duration::from_secs(1),
            statement: Some(std::time::Duration::from_secs(5)),
            ping: std::time::Duration::from_secs(1),
        }
    }
}

impl SqlTimeouts {
    /// How long a call waits for a connection from the pool (opening one included).
    pub fn with_acquire_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.acquire = timeout;
        self
    }

    /// How long a statement may run (PostgreSQL `statement_timeout`, rounded up to whole
    /// milliseconds), or how long a SQLite write waits for a lock; `None` leaves the
    /// server's setting (PostgreSQL) or waits 10 s (SQLite).
    pub fn with_statement_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
        self.statement = timeout;
        self
    }

    /// How long [`Ping::ping`](crate::Ping::ping) waits in all.
    pub fn with_ping_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.ping = timeout;
        self
    }

    /// The acquire timeout.
    pub fn acquire_timeout(&self) -> std::time::Duration {
        self.acquire
    }

    /// The statement timeout, if set.
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        self.statement
    }

    /// The ping timeout.
    pub fn ping_timeout(&self) -> std::time::Duration {
        self.ping
    }
}

/// `SELECT 1` on a connection of `pool`, within `limit` (acquiring included).
///
/// The check runs on a task of its own, which the limit does not cancel: a cancelled
/// `Pool::acquire` may leave the pool unable to connect again for a while (sqlx issue
/// 3513), and the task ends by itself within the pool's acquire timeout anyway.
async fn ping_pool<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    limit: std::time::Duration,
) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let pool = pool.clone();
    let ping = tokio::spawn(async move {
        let mut conn = pool.acquire().await.map_err(map_err)?;
        sqlx::Executor::execute(&mut *conn, "SELECT 1").await.map_err(map_err)?;
        Ok(())
    });
    match tokio::time::timeout(limit, ping).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(StoreError::backend(e)),
        Err(_) => Err(crate::timed_out("the database", limit)),
    }
}

fn map_migrate_err(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => map_err(e),
        e => StoreError::backend(e),
    }
}

/// Migrations compiled into the binary, so a deployed program needs no migrations folder.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

fn methods_to_column(methods: &Option<Vec<String>>) -> Option<String> {
    methods.as_ref().map(|m| m.join(" "))
}

fn methods_from_column(column: Option<String>) -> Option<Vec<String>> {
    column.map(|s| s.split_whitespace().map(str::to_owned).collect())
}

/// A list of URIs as a JSON array: unlike signature methods, a registered URI is the
/// application's free text, so no separator is safe.
fn uris_to_column(uris: &Option<Vec<String>>) -> Result<Option<String>, StoreError> {
    uris.as_ref().map(|u| serde_json::to_string(u).map_err(StoreError::backend)).transpose()
}

fn uris_from_column(column: Option<String>) -> Result<Option<Vec<String>>, sqlx::Error> {
    column.map(|s| serde_json::from_str(&s).map_err(|e| sqlx::Error::Decode(Box::new(e)))).transpose()
}

/// The look-up of a signed request (`$1` client identifier, `$2` token or NULL): always one
/// row, whose client columns are NULL when the client does not exist, and token columns when
/// the token does not.
const LOOKUP_SIGNED: &str = "SELECT c.client_id, c.client_secret, c.rsa_public_key, c.default_redirect_uri, \
     c.allowed_signature_methods, c.name, c.redirect_uris, \
     t.token, t.secret AS token_secret, t.client_id AS token_client_id, t.user_id, t.created_at \
     FROM (SELECT CAST($1 AS TEXT) AS client_id, CAST($2 AS TEXT) AS token) AS q \
     LEFT JOIN keyward_oauth1_clients c ON c.client_id = q.client_id \
     LEFT JOIN keyward_oauth1_token_credentials t ON t.token = q.token";

/// The trait implementations, identical for both backends.
macro_rules! sql_store_impls {
    ($store:ty) => {
        impl $store {
            /// Applies the shipped migrations (idempotent; sqlx records what has run).
            pub async fn migrate(&self) -> Result<(), StoreError> {
                Migrator::new(Self::MIGRATIONS)
                    .await
                    .map_err(map_migrate_err)?
                    .run(&self.pool)
                    .await
                    .map_err(map_migrate_err)
            }

            /// The client and, when `token` is given, the token credential, in one query.
            async fn lookup_joined(&self, client_id: &str, token: Option<&str>) -> Result<SignedLookup, StoreError> {
                let row = sqlx::query(LOOKUP_SIGNED)
                    .bind(client_id)
                    .bind(token)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                let client = match row.try_get::<Option<String>, _>("client_id").map_err(map_err)? {
                    None => None,
                    Some(client_id) => Some(Client {
                        client_id,
                        client_secret: SecretString::new(row.try_get::<String, _>("client_secret").map_err(map_err)?),
                        rsa_public_key: row.try_get("rsa_public_key").map_err(map_err)?,
                        default_redirect_uri: row.try_get("default_redirect_uri").map_err(map_err)?,
                        allowed_signature_methods: methods_from_column(
                            row.try_get("allowed_signature_methods").map_err(map_err)?,
                        ),
                        name: row.try_get("name").map_err(map_err)?,
                        redirect_uris: uris_from_column(row.try_get("redirect_uris").map_err(map_err)?)
                            .map_err(map_err)?,
                    }),
                };
                let token = match row.try_get::<Option<String>, _>("token").map_err(map_err)? {
                    None => None,
                    Some(token) => Some(TokenCredentialRecord {
                        token,
                        secret: SecretString::new(row.try_get::<String, _>("token_secret").map_err(map_err)?),
                        client_id: row.try_get("token_client_id").map_err(map_err)?,
                        user_id: row.try_get("user_id").map_err(map_err)?,
                        created_at: row.try_get("created_at").map_err(map_err)?,
                    }),
                };
                Ok(SignedLookup::new(client, token))
            }

            /// Deletes every expired record: nonces and temporary credentials, and the OAuth 2
            /// server's codes, tokens, grants and single-use values.
            async fn purge(&self, now: i64) -> Result<u64, StoreError> {
                let mut oauth2 = 0;
                for table in [
                    "keyward_oauth2_codes",
                    "keyward_oauth2_tokens",
                    "keyward_oauth2_grants",
                    "keyward_once",
                    "keyward_oauth2_device_codes",
                    "keyward_oauth2_device_attempts",
                    "keyward_oauth2_pushed_requests",
                ] {
                    let sql = format!("DELETE FROM {table} WHERE expires_at <= $1");
                    oauth2 += sqlx::query(&sql).bind(now).execute(&self.pool).await.map_err(map_err)?.rows_affected();
                }
                let nonces = sqlx::query("DELETE FROM keyward_oauth1_nonces WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                let temporary =
                    sqlx::query("DELETE FROM keyward_oauth1_temporary_credentials WHERE expires_at <= $1")
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                Ok(nonces + temporary + oauth2)
            }
        }

        impl std::fmt::Debug for $store {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($store)).field("pool_size", &self.pool.size()).finish_non_exhaustive()
            }
        }

        impl $store {
            /// The client, through sqlx.
            async fn client_by_sqlx(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
                    let row = sqlx::query(
                        "SELECT client_id, client_secret, rsa_public_key, default_redirect_uri, \
                         allowed_signature_methods, name, redirect_uris FROM keyward_oauth1_clients \
                         WHERE client_id = $1",
                    )
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    row.map(|row| {
                        Ok(Client {
                            client_id: row.try_get("client_id")?,
                            client_secret: SecretString::new(row.try_get::<String, _>("client_secret")?),
                            rsa_public_key: row.try_get("rsa_public_key")?,
                            default_redirect_uri: row.try_get("default_redirect_uri")?,
                            allowed_signature_methods: methods_from_column(
                                row.try_get("allowed_signature_methods")?,
                            ),
                            name: row.try_get("name")?,
                            redirect_uris: uris_from_column(row.try_get("redirect_uris")?)?,
                        })
                    })
                    .transpose()
                    .map_err(map_err)
            }

            /// The token credential, through sqlx.
            async fn token_by_sqlx(&self, token: &str) -> Result<Option<TokenCredentialRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT token, secret, client_id, user_id, created_at \
                     FROM keyward_oauth1_token_credentials WHERE token = $1",
                )
                .bind(token)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
                row.map(|row| {
                    Ok(TokenCredentialRecord {
                        token: row.try_get("token")?,
                        secret: SecretString::new(row.try_get::<String, _>("secret")?),
                        client_id: row.try_get("client_id")?,
                        user_id: row.try_get("user_id")?,
                        created_at: row.try_get("created_at")?,
                    })
                })
                .transpose()
                .map_err(map_err)
            }
        }

        impl ClientStore for $store {
            fn get_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<Option<Client>, StoreError>> {
                Box::pin(self.client_row(client_id))
            }
        }

        impl TemporaryCredentialStore for $store {
            fn create_temporary_credential<'a>(
                &'a self,
                credential: &'a TemporaryCredential,
                _now: i64,
            ) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    let (user_id, verifier) = match &credential.authorization {
                        Some(a) => (Some(a.user_id.as_str()), Some(a.verifier.secret())),
                        None => (None, None),
                    };
                    sqlx::query(
                        "INSERT INTO keyward_oauth1_temporary_credentials \
                         (token, secret, client_id, callback_uri, expires_at, user_id, verifier) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&credential.token)
                    .bind(credential.secret.secret())
                    .bind(&credential.client_id)
                    .bind(&credential.callback_uri)
                    .bind(credential.expires_at)
                    .bind(user_id)
                    .bind(verifier)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                })
            }

            /// One `INSERT … SELECT … WHERE (count of the client's pending) < max`: SQLite
            /// runs it under its write lock; PostgreSQL first takes a transaction-scoped
            /// advisory lock on the client, so that concurrent inserts count one by one.
            fn create_temporary_credential_capped<'a>(
                &'a self,
                credential: &'a TemporaryCredential,
                now: i64,
                max_pending: usize,
            ) -> BoxFuture<'a, Result<(), StoreError>> {
                if credential.authorization.is_some() {
                    // Not pending: nothing to count.
                    return self.create_temporary_credential(credential, now);
                }
                Box::pin(async move {
                    let max = i64::try_from(max_pending).unwrap_or(i64::MAX);
                    let insert = sqlx::query(
                        "INSERT INTO keyward_oauth1_temporary_credentials \
                         (token, secret, client_id, callback_uri, expires_at) \
                         SELECT $1, $2, $3, $4, $5 WHERE (SELECT COUNT(*) FROM \
                         keyward_oauth1_temporary_credentials WHERE client_id = $3 AND user_id IS NULL \
                         AND expires_at > $6) < $7",
                    )
                    .bind(&credential.token)
                    .bind(credential.secret.secret())
                    .bind(&credential.client_id)
                    .bind(&credential.callback_uri)
                    .bind(credential.expires_at)
                    .bind(now)
                    .bind(max);
                    let inserted = match Self::LOCK_CLIENT_PENDING {
                        Some(lock) => {
                            let mut tx = self.pool.begin().await.map_err(map_err)?;
                            sqlx::query(lock)
                                .bind(&credential.client_id)
                                .execute(&mut *tx)
                                .await
                                .map_err(map_err)?;
                            let n = insert.execute(&mut *tx).await.map_err(map_err)?.rows_affected();
                            tx.commit().await.map_err(map_err)?;
                            n
                        }
                        None => insert.execute(&self.pool).await.map_err(map_err)?.rows_affected(),
                    };
                    if inserted == 1 { Ok(()) } else { Err(StoreError::LimitReached) }
                })
            }

            fn get_temporary_credential<'a>(
                &'a self,
                token: &'a str,
                now: i64,
            ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
                Box::pin(async move {
                    let row = sqlx::query(
                        "SELECT token, secret, client_id, callback_uri, expires_at, user_id, verifier \
                         FROM keyward_oauth1_temporary_credentials WHERE token = $1 AND expires_at > $2",
                    )
                    .bind(token)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    row.map(|r| temporary_from_row(&r)).transpose()
                })
            }

            fn authorize_temporary_credential<'a>(
                &'a self,
                token: &'a str,
                authorization: &'a Authorization,
                now: i64,
            ) -> BoxFuture<'a, Result<AuthorizeOutcome, StoreError>> {
                Box::pin(async move {
                    let updated = sqlx::query(
                        "UPDATE keyward_oauth1_temporary_credentials SET user_id = $1, verifier = $2 \
                         WHERE token = $3 AND expires_at > $4 AND user_id IS NULL",
                    )
                    .bind(&authorization.user_id)
                    .bind(authorization.verifier.secret())
                    .bind(token)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                    if updated == 1 {
                        return Ok(AuthorizeOutcome::Authorized);
                    }
                    let exists = sqlx::query(
                        "SELECT token FROM keyward_oauth1_temporary_credentials \
                         WHERE token = $1 AND expires_at > $2",
                    )
                    .bind(token)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(if exists.is_some() { AuthorizeOutcome::AlreadyAuthorized } else { AuthorizeOutcome::NotFound })
                })
            }

            fn take_temporary_credential<'a>(
                &'a self,
                token: &'a str,
                now: i64,
            ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
                Box::pin(async move {
                    let row = sqlx::query(
                        "DELETE FROM keyward_oauth1_temporary_credentials WHERE token = $1 \
                         RETURNING token, secret, client_id, callback_uri, expires_at, user_id, verifier",
                    )
                    .bind(token)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let credential = row.map(|r| temporary_from_row(&r)).transpose()?;
                    Ok(credential.filter(|c| !c.is_expired(now)))
                })
            }
        }

        impl TokenCredentialStore for $store {
            fn create_token_credential<'a>(
                &'a self,
                credential: &'a TokenCredentialRecord,
            ) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO keyward_oauth1_token_credentials \
                         (token, secret, client_id, user_id, created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&credential.token)
                    .bind(credential.secret.secret())
                    .bind(&credential.client_id)
                    .bind(&credential.user_id)
                    .bind(credential.created_at)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                })
            }

            fn get_token_credential<'a>(
                &'a self,
                token: &'a str,
            ) -> BoxFuture<'a, Result<Option<TokenCredentialRecord>, StoreError>> {
                Box::pin(self.token_row(token))
            }

            fn token_credentials_of_user<'a>(
                &'a self,
                user_id: &'a str,
            ) -> BoxFuture<'a, Result<Vec<TokenCredentialRecord>, StoreError>> {
                Box::pin(self.grants_of(user_id))
            }

            fn revoke_token_credential<'a>(
                &'a self,
                user_id: &'a str,
                token: &'a str,
            ) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(self.revoke(user_id, token))
            }
        }

        impl $store {
            async fn grants_of(&self, user_id: &str) -> Result<Vec<TokenCredentialRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT token, secret, client_id, user_id, created_at \
                     FROM keyward_oauth1_token_credentials WHERE user_id = $1 ORDER BY created_at, token",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
                rows.iter().map(token_from_row).collect()
            }

            async fn revoke(&self, user_id: &str, token: &str) -> Result<bool, StoreError> {
                let n = sqlx::query("DELETE FROM keyward_oauth1_token_credentials WHERE token = $1 AND user_id = $2")
                    .bind(token)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                Ok(n > 0)
            }
        }


        impl NonceStore for $store {
            fn insert_nonce<'a>(
                &'a self,
                nonce: &'a NonceToRecord,
                now: i64,
            ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
                let NonceToRecord { key, expires_at } = nonce;
                let epoch = self.forgets.as_ref().map_or(ReplayEpoch::Durable, |first| first.observe(now));
                Box::pin(async move {
                    if self.inserts.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
                        // Housekeeping: a failed purge must not fail a valid request. The
                        // nonce check below stands on its own, and the next purge retries.
                        let _ = self.purge(now).await;
                    }
                    // Inserted, or replaced an expired entry: fresh. A live entry stops the
                    // update's WHERE, and no row is affected: a replay.
                    let affected = sqlx::query(
                        "INSERT INTO keyward_oauth1_nonces (client_id, token, ts, nonce, expires_at) \
                         VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (client_id, token, ts, nonce) DO UPDATE SET expires_at = excluded.expires_at \
                         WHERE keyward_oauth1_nonces.expires_at <= $6",
                    )
                    .bind(&key.client_id)
                    .bind(key.token.as_deref().unwrap_or(""))
                    .bind(key.timestamp)
                    .bind(&key.nonce)
                    .bind(expires_at)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                    Ok(Recorded { fresh: affected == 1, epoch })
                })
            }

            /// Deletes the nonce's row if it still holds this recording's expiry.
            fn release_nonce<'a>(&'a self, nonce: &'a NonceToRecord) -> BoxFuture<'a, Result<(), StoreError>> {
                let NonceToRecord { key, expires_at } = nonce;
                Box::pin(async move {
                    sqlx::query(
                        "DELETE FROM keyward_oauth1_nonces \
                         WHERE client_id = $1 AND token = $2 AND ts = $3 AND nonce = $4 AND expires_at = $5",
                    )
                    .bind(&key.client_id)
                    .bind(key.token.as_deref().unwrap_or(""))
                    .bind(key.timestamp)
                    .bind(&key.nonce)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                })
            }
        }

        impl StoreAdmin for $store {
            fn put_client<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, Result<(), StoreError>> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO keyward_oauth1_clients (client_id, client_secret, rsa_public_key, \
                         default_redirect_uri, allowed_signature_methods, name, redirect_uris) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (client_id) DO UPDATE SET client_secret = excluded.client_secret, \
                         rsa_public_key = excluded.rsa_public_key, \
                         default_redirect_uri = excluded.default_redirect_uri, \
                         allowed_signature_methods = excluded.allowed_signature_methods, name = excluded.name, \
                         redirect_uris = excluded.redirect_uris",
                    )
                    .bind(&client.client_id)
                    .bind(client.client_secret.secret())
                    .bind(&client.rsa_public_key)
                    .bind(&client.default_redirect_uri)
                    .bind(methods_to_column(&client.allowed_signature_methods))
                    .bind(&client.name)
                    .bind(uris_to_column(&client.redirect_uris)?)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                })
            }

            fn delete_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let n = sqlx::query("DELETE FROM keyward_oauth1_clients WHERE client_id = $1")
                        .bind(client_id)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    Ok(n > 0)
                })
            }

            fn purge_expired(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
                Box::pin(self.purge(now))
            }
        }
    };
}

/// Decodes a temporary-credential row (both backends' rows implement [`Row`]).
fn temporary_from_row<R>(row: &R) -> Result<TemporaryCredential, StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let user_id: Option<String> = row.try_get("user_id").map_err(map_err)?;
    let verifier: Option<String> = row.try_get("verifier").map_err(map_err)?;
    let authorization = match (user_id, verifier) {
        (Some(user_id), Some(verifier)) => {
            Some(Authorization { user_id, verifier: SecretString::new(verifier) })
        }
        (None, None) => None,
        _ => return Err(StoreError::Corrupt("temporary credential with half an authorization".into())),
    };
    Ok(TemporaryCredential {
        token: row.try_get("token").map_err(map_err)?,
        secret: SecretString::new(row.try_get::<String, _>("secret").map_err(map_err)?),
        client_id: row.try_get("client_id").map_err(map_err)?,
        callback_uri: row.try_get("callback_uri").map_err(map_err)?,
        expires_at: row.try_get("expires_at").map_err(map_err)?,
        authorization,
    })
}

/// Decodes a token-credential row.
fn token_from_row<R>(row: &R) -> Result<TokenCredentialRecord, StoreError>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(TokenCredentialRecord {
        token: row.try_get("token").map_err(map_err)?,
        secret: SecretString::new(row.try_get::<String, _>("secret").map_err(map_err)?),
        client_id: row.try_get("client_id").map_err(map_err)?,
        user_id: row.try_get("user_id").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
    })
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

    use super::*;

    /// The OAuth 1.0a stores and the OAuth 2 server's stores in SQLite (a file, or memory),
    /// through sqlx.
    ///
    /// Writes are serialised by SQLite itself, which makes `DELETE … RETURNING` and the
    /// nonce upsert atomic across connections and processes sharing the file.
    ///
    /// **Reads on the calling thread.** sqlx runs each SQLite connection on a thread of its
    /// own and hands every query to it over a channel: per query, two thread wake-ups, which
    /// cost far more than a look-up by primary key. So with a database file, the reads of
    /// every signed request (client and token credential, [`OAuth1Store::lookup_signed`],
    /// [`ClientStore::get_client`], [`TokenCredentialStore::get_token_credential`]) run on
    /// the calling thread instead, over a few connections of the store's own (`rusqlite`,
    /// the same bundled SQLite) that keep their prepared statements. A look-up by primary key
    /// takes microseconds; in WAL mode (as [`SqliteStore::connect`] opens a file) a read
    /// never waits for a writer. Nothing is cached: a client or token credential deleted
    /// through any connection or process is gone for the next request. The OAuth 2 server's
    /// hot reads (a registered client, a token by hash) run the same way. Writes, and every
    /// read of an in-memory database, go through the sqlx pool. [`SqliteStore::read`] runs
    /// an application's own reads the same way.
    pub struct SqliteStore {
        pool: SqlitePool,
        inserts: AtomicU64,
        /// Set for an in-memory database: its replay epoch is its first call.
        forgets: Option<FirstCall>,
        ping_timeout: Duration,
        /// The database file's connections for reads on the calling thread, once known
        /// (`None` inside: an in-memory database, which has no file to open again).
        readers: std::sync::OnceLock<Option<Readers>>,
    }

    /// Reader connections kept open, at most (more are opened when requests overlap, and
    /// closed after use).
    const MAX_IDLE_READERS: usize = 8;

    /// Connections to a database file, for reads on the calling thread.
    struct Readers {
        path: std::path::PathBuf,
        idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
    }

    impl Readers {
        fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
            use rusqlite::OpenFlags;
            let conn = rusqlite::Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            // As the sqlx pool waits for a lock; a WAL reader only waits while the log is
            // recovered after a crash.
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.pragma_update(None, "query_only", true)?;
            Ok(conn)
        }

        /// Runs `f` on an idle connection (or a new one), then keeps it for the next call.
        fn read<T>(
            &self,
            f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
        ) -> Result<T, StoreError> {
            let idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => self.open().map_err(map_rusqlite_err)?,
            };
            let result = f(&conn);
            let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            result
        }
    }

    /// Maps a rusqlite error to the store's error kinds, as [`map_err`] does sqlx's.
    pub(super) fn map_rusqlite_err(e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        match e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::CannotOpen
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::OutOfMemory
                ) =>
            {
                StoreError::unavailable(e)
            }
            e @ (rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::Utf8Error(_)) => StoreError::Corrupt(e.to_string()),
            e => StoreError::backend(e),
        }
    }

    /// The client with this identifier, on a reader connection.
    fn read_client(conn: &rusqlite::Connection, client_id: &str) -> Result<Option<Client>, StoreError> {
        use rusqlite::OptionalExtension;
        let mut stmt = conn
            .prepare_cached(
                "SELECT client_id, client_secret, rsa_public_key, default_redirect_uri, \
                 allowed_signature_methods, name, redirect_uris FROM keyward_oauth1_clients WHERE client_id = ?1",
            )
            .map_err(map_rusqlite_err)?;
        let row = stmt
            .query_row([client_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, Option<String>>(6)?,
                ))
            })
            .optional()
            .map_err(map_rusqlite_err)?;
        let Some((client_id, secret, rsa_public_key, default_redirect_uri, methods, name, uris)) = row else {
            return Ok(None);
        };
        Ok(Some(Client {
            client_id,
            client_secret: SecretString::new(secret),
            rsa_public_key,
            default_redirect_uri,
            allowed_signature_methods: methods_from_column(methods),
            name,
            redirect_uris: uris_from_column(uris).map_err(map_err)?,
        }))
    }

    /// Client and token credential in one statement ([`LOOKUP_SIGNED`]), so one read
    /// transaction (each takes and releases a lock on the WAL index), on a reader connection.
    fn read_lookup(
        conn: &rusqlite::Connection,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<SignedLookup, StoreError> {
        let mut stmt = conn.prepare_cached(LOOKUP_SIGNED).map_err(map_rusqlite_err)?;
        let mut rows = stmt.query(rusqlite::params![client_id, token]).map_err(map_rusqlite_err)?;
        let row = rows
            .next()
            .map_err(map_rusqlite_err)?
            .ok_or_else(|| StoreError::Corrupt("the look-up answered no row".into()))?;
        let get_str = |i: usize| row.get::<_, Option<String>>(i).map_err(map_rusqlite_err);
        let client = match get_str(0)? {
            None => None,
            Some(client_id) => Some(Client {
                client_id,
                client_secret: SecretString::new(row.get::<_, String>(1).map_err(map_rusqlite_err)?),
                rsa_public_key: get_str(2)?,
                default_redirect_uri: get_str(3)?,
                allowed_signature_methods: methods_from_column(get_str(4)?),
                name: get_str(5)?,
                redirect_uris: uris_from_column(get_str(6)?).map_err(map_err)?,
            }),
        };
        let token = match get_str(7)? {
            None => None,
            Some(token) => Some(TokenCredentialRecord {
                token,
                secret: SecretString::new(row.get::<_, String>(8).map_err(map_rusqlite_err)?),
                client_id: row.get(9).map_err(map_rusqlite_err)?,
                user_id: row.get(10).map_err(map_rusqlite_err)?,
                created_at: row.get(11).map_err(map_rusqlite_err)?,
            }),
        };
        Ok(SignedLookup::new(client, token))
    }

    /// The token credential with this token, on a reader connection.
    fn read_token(
        conn: &rusqlite::Connection,
        token: &str,
    ) -> Result<Option<TokenCredentialRecord>, StoreError> {
        use rusqlite::OptionalExtension;
        let mut stmt = conn
            .prepare_cached(
                "SELECT token, secret, client_id, user_id, created_at \
                 FROM keyward_oauth1_token_credentials WHERE token = ?1",
            )
            .map_err(map_rusqlite_err)?;
        stmt.query_row([token], |row| {
            Ok(TokenCredentialRecord {
                token: row.get(0)?,
                secret: SecretString::new(row.get::<_, String>(1)?),
                client_id: row.get(2)?,
                user_id: row.get(3)?,
                created_at: row.get(4)?,
            })
        })
        .optional()
        .map_err(map_rusqlite_err)
    }

    impl SqliteStore {
        const MIGRATIONS: Embedded = Embedded(&[
            (1, "oauth1", include_str!("../migrations/sqlite/0001_oauth1.sql")),
            (2, "redirect_uris", include_str!("../migrations/sqlite/0002_redirect_uris.sql")),
            (3, "pending_and_grants", include_str!("../migrations/sqlite/0003_pending_and_grants.sql")),
            (4, "oauth2", include_str!("../migrations/sqlite/0004_oauth2.sql")),
            (5, "device_codes", include_str!("../migrations/sqlite/0005_device_codes.sql")),
            (6, "oidc_sessions", include_str!("../migrations/sqlite/0006_oidc_sessions.sql")),
            (7, "pushed_requests", include_str!("../migrations/sqlite/0007_pushed_requests.sql")),
        ]);

        /// None: SQLite runs one write statement at a time, the count with it.
        const LOCK_CLIENT_PENDING: Option<&'static str> = None;

        /// A store over an existing pool; call [`SqliteStore::migrate`] once before use.
        /// Its timeouts are the pool's; a ping waits at most 1 s.
        ///
        /// The database is taken to be a file, which remembers nonces across restarts
        /// ([`ReplayEpoch::Durable`]); open an in-memory one with
        /// [`connect`](Self::connect) or [`in_memory`](Self::in_memory) instead, so that
        /// the store knows it forgets.
        pub fn new(pool: SqlitePool) -> Self {
            Self {
                pool,
                inserts: AtomicU64::new(0),
                forgets: None,
                ping_timeout: SqlTimeouts::default().ping_timeout(),
                readers: std::sync::OnceLock::new(),
            }
        }

        /// The reader connections of the database file, or `None` for an in-memory
        /// database; asks the database for its file once.
        async fn readers(&self) -> Result<Option<&Readers>, StoreError> {
            if let Some(readers) = self.readers.get() {
                return Ok(readers.as_ref());
            }
            // An in-memory (or temporary) database names no file.
            let rows = sqlx::query("PRAGMA database_list").fetch_all(&self.pool).await.map_err(map_err)?;
            let mut file = None;
            for row in &rows {
                if row.try_get::<String, _>("name").map_err(map_err)? == "main" {
                    file = Some(row.try_get::<String, _>("file").map_err(map_err)?);
                }
            }
            let readers = file
                .filter(|f| !f.is_empty())
                .map(|path| Readers { path: path.into(), idle: std::sync::Mutex::new(Vec::new()) });
            Ok(self.readers.get_or_init(|| readers).as_ref())
        }

        /// Runs `f` on one of the store's own connections to the database file, on the
        /// calling thread (see the type's docs), and returns what it returns; `None` when the
        /// database is in memory (use [`SqliteStore::pool`] then).
        ///
        /// For short reads, such as a look-up by primary key: `f` holds the thread, so a
        /// long one would hold up the tasks of the async runtime that runs on it. The
        /// connection is read-only (`PRAGMA query_only`); use
        /// [`Connection::prepare_cached`](rusqlite::Connection::prepare_cached) to keep a
        /// statement prepared between calls.
        pub async fn read<T>(
            &self,
            f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
        ) -> Option<Result<T, StoreError>> {
            match self.readers().await {
                Ok(Some(readers)) => Some(readers.read(|conn| f(conn).map_err(map_rusqlite_err))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            }
        }

        async fn client_row(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
            match self.readers().await? {
                Some(readers) => readers.read(|conn| read_client(conn, client_id)),
                None => self.client_by_sqlx(client_id).await,
            }
        }

        async fn token_row(&self, token: &str) -> Result<Option<TokenCredentialRecord>, StoreError> {
            match self.readers().await? {
                Some(readers) => readers.read(|conn| read_token(conn, token)),
                None => self.token_by_sqlx(token).await,
            }
        }

        /// Opens (creating if missing) the database at `url` (`sqlite://path.db`,
        /// `sqlite::memory:`) in WAL mode and applies the migrations, with the default
        /// [`SqlTimeouts`].
        ///
        /// An in-memory database lives in one connection, which the pool keeps open.
        pub async fn connect(url: &str) -> Result<Self, StoreError> {
            Self::connect_with_timeouts(url, SqlTimeouts::default()).await
        }

        /// [`SqliteStore::connect`] with other timeouts: a call waits at most `timeouts`'
        /// acquire timeout for a connection and its statement timeout for a lock (SQLite's
        /// busy timeout), then fails with [`StoreError::Unavailable`].
        pub async fn connect_with_timeouts(url: &str, timeouts: SqlTimeouts) -> Result<Self, StoreError> {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(StoreError::backend)?
                .create_if_missing(true)
                .busy_timeout(timeouts.statement_timeout().unwrap_or(Duration::from_secs(10)));
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let pool = if memory {
                SqlitePoolOptions::new()
                    .acquire_timeout(timeouts.acquire_timeout())
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(options)
                    .await
            } else {
                SqlitePoolOptions::new()
                    .acquire_timeout(timeouts.acquire_timeout())
                    .connect_with(options.journal_mode(SqliteJournalMode::Wal))
                    .await
            }
            .map_err(map_err)?;
            let mut store = Self::new(pool);
            if memory {
                store.forgets = Some(FirstCall::new());
            }
            store.ping_timeout = timeouts.ping_timeout();
            store.migrate().await?;
            Ok(store)
        }

        /// A fresh in-memory database, migrated.
        pub async fn in_memory() -> Result<Self, StoreError> {
            Self::connect("sqlite::memory:").await
        }

        /// The underlying pool.
        pub fn pool(&self) -> &SqlitePool {
            &self.pool
        }
    }

    sql_store_impls!(SqliteStore);
    super::oauth2::sql_oauth2_impls!(SqliteStore, sqlx::Sqlite);

    /// The OAuth 2 reads of every token request and protected resource, on a reader
    /// connection (a file) or through sqlx (memory).
    impl SqliteStore {
        async fn oauth2_client_row(&self, client_id: &str) -> Result<Option<RegisteredClient>, StoreError> {
            match self.readers().await? {
                Some(readers) => {
                    readers.read(|conn| super::oauth2::sqlite_reads::read_client(conn, client_id))
                }
                None => self.oauth2_client_by_sqlx(client_id).await,
            }
        }

        async fn oauth2_token_row(
            &self,
            token_hash: &str,
            now: i64,
        ) -> Result<Option<TokenRecord>, StoreError> {
            match self.readers().await? {
                Some(readers) => {
                    readers.read(|conn| super::oauth2::sqlite_reads::read_token(conn, token_hash, now))
                }
                None => self.oauth2_token_by_sqlx(token_hash, now).await,
            }
        }
    }

    /// Client and token credential in one query, on a reader connection (a file) or
    /// through sqlx (memory); the nonce is recorded after the signature ([`NonceStore::insert_nonce`]).
    impl OAuth1Store for SqliteStore {
        fn lookup_signed<'a>(
            &'a self,
            client_id: &'a str,
            token: Option<&'a str>,
            _nonce: Option<&'a NonceToRecord>,
            _now: i64,
        ) -> BoxFuture<'a, Result<SignedLookup, StoreError>> {
            Box::pin(async move {
                match self.readers().await? {
                    Some(readers) => readers.read(|conn| read_lookup(conn, client_id, token)),
                    None => self.lookup_joined(client_id, token).await,
                }
            })
        }
    }

    /// `SELECT 1` within the ping timeout.
    impl crate::Ping for SqliteStore {
        fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
            Box::pin(ping_pool(&self.pool, self.ping_timeout))
        }
    }
}

#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

#[cfg(feature = "postgres")]
mod postgres {
    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

    use super::*;

    /// The OAuth 1.0a stores and the OAuth 2 server's stores in PostgreSQL, through sqlx;
    /// safe for several provider instances sharing one database.
    ///
    /// Tables live in the connection's `search_path` (by default `public`); to keep them in a
    /// schema of their own, set it in the connect options
    /// (`PgConnectOptions::options([("search_path", "oauth")])`).
    pub struct PostgresStore {
        pool: PgPool,
        inserts: AtomicU64,
        /// Always `None`: the table is durable.
        forgets: Option<FirstCall>,
        ping_timeout: Duration,
    }

    impl PostgresStore {
        const MIGRATIONS: Embedded = Embedded(&[
            (1, "oauth1", include_str!("../migrations/postgres/0001_oauth1.sql")),
            (2, "redirect_uris", include_str!("../migrations/postgres/0002_redirect_uris.sql")),
            (3, "pending_and_grants", include_str!("../migrations/postgres/0003_pending_and_grants.sql")),
            (4, "oauth2", include_str!("../migrations/postgres/0004_oauth2.sql")),
            (5, "device_codes", include_str!("../migrations/postgres/0005_device_codes.sql")),
            (6, "oidc_sessions", include_str!("../migrations/postgres/0006_oidc_sessions.sql")),
            (7, "pushed_requests", include_str!("../migrations/postgres/0007_pushed_requests.sql")),
        ]);

        /// Serialises the capped inserts of one client, to the end of their transaction
        /// (the first key marks Keyward's locks, the second is the client's).
        const LOCK_CLIENT_PENDING: Option<&'static str> =
            Some("SELECT pg_advisory_xact_lock(1801812850, hashtext($1))");

        /// A store over an existing pool; call [`PostgresStore::migrate`] once before use.
        /// Its timeouts are the pool's; a ping waits at most 1 s.
        pub fn new(pool: PgPool) -> Self {
            Self {
                pool,
                inserts: AtomicU64::new(0),
                forgets: None,
                ping_timeout: SqlTimeouts::default().ping_timeout(),
            }
        }

        /// Connects to `url` (`postgres://user@host:port/db`) and applies the migrations,
        /// with the default [`SqlTimeouts`].
        pub async fn connect(url: &str) -> Result<Self, StoreError> {
            Self::connect_with(PgConnectOptions::from_str(url).map_err(StoreError::backend)?).await
        }

        /// Connects with `options` and applies the migrations, with the default
        /// [`SqlTimeouts`]: a call waits at most 1 s for a connection (sqlx's default is
        /// 30 s) and a statement runs at most 5 s. While PostgreSQL is unreachable, calls
        /// fail with [`StoreError::Unavailable`] in bounded time, and the pool reconnects by
        /// itself when it returns.
        pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
            Self::connect_with_timeouts(options, SqlTimeouts::default()).await
        }

        /// [`PostgresStore::connect_with`] with other timeouts. The statement timeout is set
        /// as the connections' `statement_timeout` (after any in `options`); use
        /// [`PostgresStore::new`] with a pool of your own for other pool settings.
        pub async fn connect_with_timeouts(
            options: PgConnectOptions,
            timeouts: SqlTimeouts,
        ) -> Result<Self, StoreError> {
            let options = match timeouts.statement_timeout() {
                Some(limit) => {
                    let ms = limit.as_nanos().div_ceil(1_000_000).max(1).to_string();
                    options.options([("statement_timeout", ms.as_str())])
                }
                None => options,
            };
            let pool = PgPoolOptions::new()
                .acquire_timeout(timeouts.acquire_timeout())
                .connect_with(options)
                .await
                .map_err(map_err)?;
            let mut store = Self::new(pool);
            store.ping_timeout = timeouts.ping_timeout();
            store.migrate().await?;
            Ok(store)
        }

        /// The underlying pool.
        pub fn pool(&self) -> &PgPool {
            &self.pool
        }
    }

    sql_store_impls!(PostgresStore);
    super::oauth2::sql_oauth2_impls!(PostgresStore, sqlx::Postgres);

    impl PostgresStore {
        async fn oauth2_client_row(&self, client_id: &str) -> Result<Option<RegisteredClient>, StoreError> {
            self.oauth2_client_by_sqlx(client_id).await
        }

        async fn oauth2_token_row(
            &self,
            token_hash: &str,
            now: i64,
        ) -> Result<Option<TokenRecord>, StoreError> {
            self.oauth2_token_by_sqlx(token_hash, now).await
        }
    }

    /// Client and token credential in one query, one round trip; the nonce is recorded
    /// after the signature ([`NonceStore::insert_nonce`]).
    impl PostgresStore {
        async fn client_row(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
            self.client_by_sqlx(client_id).await
        }

        async fn token_row(&self, token: &str) -> Result<Option<TokenCredentialRecord>, StoreError> {
            self.token_by_sqlx(token).await
        }
    }

    impl OAuth1Store for PostgresStore {
        fn lookup_signed<'a>(
            &'a self,
            client_id: &'a str,
            token: Option<&'a str>,
            _nonce: Option<&'a NonceToRecord>,
            _now: i64,
        ) -> BoxFuture<'a, Result<SignedLookup, StoreError>> {
            Box::pin(self.lookup_joined(client_id, token))
        }
    }

    /// `SELECT 1` within the ping timeout.
    impl crate::Ping for PostgresStore {
        fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
            Box::pin(ping_pool(&self.pool, self.ping_timeout))
        }
    }
}

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;

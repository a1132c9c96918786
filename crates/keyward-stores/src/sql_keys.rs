//! Signing-key stores over SQL (`SqliteKeyStore`, `PostgresKeyStore`): the serialized
//! key set of each name in one row, saved by compare-and-set on its version.
//!
//! The table has its own idempotent migration (each store's `migrate`, a
//! `CREATE TABLE IF NOT EXISTS`), apart from the OAuth stores' numbered migrations, so the
//! key store can live in a database of its own:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS keyward_signing_keys (
//!     name TEXT PRIMARY KEY,
//!     version BIGINT NOT NULL,
//!     document TEXT NOT NULL
//! );
//! ```
//!
//! The document holds private keys: restrict who reads the table.

use keyward::common::secret::SecretString;
use keyward::common::store::{BoxFuture, StoreError};
use keyward::jose::rotation::{KeyStore, StoredKeys};

const MIGRATION: &str = "CREATE TABLE IF NOT EXISTS keyward_signing_keys (\
    name TEXT PRIMARY KEY, version BIGINT NOT NULL, document TEXT NOT NULL)";
const LOAD: &str = "SELECT version, document FROM keyward_signing_keys WHERE name = $1";
const INSERT: &str = "INSERT INTO keyward_signing_keys (name, version, document) VALUES ($1, 1, $2) \
    ON CONFLICT (name) DO NOTHING";
const UPDATE: &str = "UPDATE keyward_signing_keys SET version = $3, document = $4 \
    WHERE name = $1 AND version = $2";

fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        e @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed) => StoreError::unavailable(e),
        e @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) | sqlx::Error::Decode(_)) => {
            StoreError::Corrupt(e.to_string())
        }
        e => StoreError::backend(e),
    }
}

fn version_of(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative key-set version {v}")))
}

macro_rules! sql_key_store {
    ($(#[$meta:meta])* $name:ident, $feature:literal, $pool:ty) => {
        $(#[$meta])*
        #[cfg(feature = $feature)]
        #[derive(Debug, Clone)]
        pub struct $name {
            pool: $pool,
        }

        #[cfg(feature = $feature)]
        impl $name {
            /// A key store over `pool`; call [`migrate`](Self::migrate) once before use.
            pub fn new(pool: $pool) -> Self {
                Self { pool }
            }

            /// Creates the `keyward_signing_keys` table if it does not exist.
            pub async fn migrate(&self) -> Result<(), StoreError> {
                sqlx::query(MIGRATION).execute(&self.pool).await.map_err(map_err)?;
                Ok(())
            }
        }

        #[cfg(feature = $feature)]
        impl KeyStore for $name {
            fn load_keys<'a>(
                &'a self,
                name: &'a str,
            ) -> BoxFuture<'a, Result<Option<StoredKeys>, StoreError>> {
                Box::pin(async move {
                    let row: Option<(i64, String)> =
                        sqlx::query_as(LOAD).bind(name).fetch_optional(&self.pool).await.map_err(map_err)?;
                    row.map(|(version, document)| {
                        Ok(StoredKeys { version: version_of(version)?, document: SecretString::new(document) })
                    })
                    .transpose()
                })
            }

            fn save_keys<'a>(
                &'a self,
                name: &'a str,
                expected: Option<u64>,
                document: &'a SecretString,
            ) -> BoxFuture<'a, Result<bool, StoreError>> {
                Box::pin(async move {
                    let done = match expected {
                        None => sqlx::query(INSERT)
                            .bind(name)
                            .bind(document.secret())
                            .execute(&self.pool)
                            .await
                            .map_err(map_err)?,
                        Some(v) => {
                            let v = i64::try_from(v)
                                .map_err(|_| StoreError::Corrupt(format!("key-set version {v} too large")))?;
                            sqlx::query(UPDATE)
                                .bind(name)
                                .bind(v)
                                .bind(v + 1)
                                .bind(document.secret())
                                .execute(&self.pool)
                                .await
                                .map_err(map_err)?
                        }
                    };
                    Ok(done.rows_affected() == 1)
                })
            }
        }
    };
}

sql_key_store!(
    /// A [`KeyStore`] in SQLite (see the [module docs](self)): for one host's processes.
    SqliteKeyStore,
    "sqlite",
    sqlx::SqlitePool
);

sql_key_store!(
    /// A [`KeyStore`] in PostgreSQL (see the [module docs](self)): several instances share
    /// their signing keys through it, and rotate them once.
    PostgresKeyStore,
    "postgres",
    sqlx::PgPool
);

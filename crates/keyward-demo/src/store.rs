//! Where the demo keeps things: a SQL database (SQLite or PostgreSQL) for provider users,
//! OAuth 1 clients and token credentials, and memory or Redis for the short-lived records
//! (temporary credentials, nonces). Several instances over one PostgreSQL and one Redis act
//! as one provider.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::SecretString;
use keyward_stores::store::{Client, ClientStore, OAuth1Store, StoreError};
use keyward_stores::{MemoryStore, PostgresStore, RedisStore, SplitStore, SqliteStore, StoreAdmin};
use sqlx::Row;
use std::sync::Arc;

/// The SQL pool, SQLite or PostgreSQL; the demo's own queries are written once (numbered
/// parameters work on both) and run on either.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// A provider user as the pages show it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct User {
    pub(crate) username: String,
    pub(crate) created_at: i64,
}

/// A registered client as the developer page lists it.
#[derive(Debug, Clone)]
pub(crate) struct ClientSummary {
    pub(crate) client_id: String,
    pub(crate) name: Option<String>,
    pub(crate) callback: Option<String>,
    pub(crate) rsa: bool,
}

/// Everything the demo stores, opened from its URLs.
pub(crate) struct Stores {
    pub(crate) provider: Arc<dyn OAuth1Store>,
    pub(crate) admin: Arc<dyn StoreAdmin>,
    pub(crate) db: Db,
}

fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

impl Stores {
    /// Opens the database (`sqlite://…`, a bare path, or `postgres://…`) and the
    /// short-lived store (Redis at `redis_url`, else memory), applying migrations.
    pub(crate) async fn open(database_url: &str, redis_url: Option<&str>) -> Result<Self, StoreError> {
        let (durable, admin, db): (Arc<dyn OAuth1Store>, Arc<dyn StoreAdmin>, Db) =
            if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
                let store = Arc::new(PostgresStore::connect(database_url).await?);
                let db = Db::Postgres(store.pool().clone());
                (store.clone(), store, db)
            } else {
                let url = if database_url.starts_with("sqlite:") {
                    database_url.to_owned()
                } else {
                    format!("sqlite://{database_url}")
                };
                let store = Arc::new(SqliteStore::connect(&url).await?);
                let db = Db::Sqlite(store.pool().clone());
                (store.clone(), store, db)
            };
        let ephemeral: Arc<dyn OAuth1Store> = match redis_url {
            Some(url) => Arc::new(RedisStore::connect(url, "keyward-demo:").await?),
            None => Arc::new(MemoryStore::new()),
        };
        // Clients and token credentials in the database, temporary credentials and nonces in
        // the short-lived store.
        let stores = Self { provider: Arc::new(SplitStore::new(durable, ephemeral)), admin, db };
        stores.migrate().await?;
        Ok(stores)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        const USERS: &str = "CREATE TABLE IF NOT EXISTS keyward_demo_users (\
             username TEXT PRIMARY KEY NOT NULL, password_hash TEXT NOT NULL, created_at BIGINT NOT NULL)";
        match &self.db {
            Db::Sqlite(pool) => sqlx::query(USERS).execute(pool).await.map(drop).map_err(db_err),
            // Two `CREATE TABLE IF NOT EXISTS` at once can still collide in PostgreSQL's
            // catalog (a duplicate `pg_type` row): instances starting together take turns
            // under a transaction-scoped advisory lock, as the store's own migrations do.
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(db_err)?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext('keyward_demo_users'))")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query(USERS).execute(&mut *tx).await.map_err(db_err)?;
                tx.commit().await.map_err(db_err)
            }
        }
    }

    /// Creates the user, or sets a new password when `replace`; returns false when the
    /// name was taken and `replace` is false.
    pub(crate) async fn put_user(
        &self,
        username: &str,
        password: &SecretString,
        now: i64,
        replace: bool,
    ) -> Result<bool, StoreError> {
        let hash = hash_password(password.clone()).await?;
        let sql = if replace {
            "INSERT INTO keyward_demo_users (username, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash"
        } else {
            "INSERT INTO keyward_demo_users (username, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO NOTHING"
        };
        let n = with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(username)
            .bind(&hash)
            .bind(now)
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected());
        Ok(n == 1)
    }

    /// The user, when `password` is theirs.
    pub(crate) async fn check_password(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<Option<User>, StoreError> {
        let sql = "SELECT password_hash, created_at FROM keyward_demo_users WHERE username = $1";
        let row: Option<(String, i64)> = with_pool!(&self.db, pool => {
            let row = sqlx::query(sql).bind(username).fetch_optional(pool).await.map_err(db_err)?;
            row.map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?))).transpose().map_err(db_err)?
        });
        // An unknown name costs a hash check too, so timing does not tell names apart.
        let (hash, created_at, known) = match row {
            Some((hash, created_at)) => (hash, created_at, true),
            None => (dummy_hash().to_owned(), 0, false),
        };
        let ok = verify_password(password.clone(), hash).await?;
        Ok((ok && known).then(|| User { username: username.to_owned(), created_at }))
    }

    /// The user with this name.
    pub(crate) async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = "SELECT created_at FROM keyward_demo_users WHERE username = $1";
        with_pool!(&self.db, pool => {
            let row = sqlx::query(sql).bind(username).fetch_optional(pool).await.map_err(db_err)?;
            row.map(|r| Ok::<_, sqlx::Error>(User { username: username.to_owned(), created_at: r.try_get(0)? }))
                .transpose()
                .map_err(db_err)
        })
    }

    /// Registers `client` unless its identifier is taken; returns the stored client.
    pub(crate) async fn ensure_client(&self, client: &Client) -> Result<Client, StoreError> {
        let sql = "INSERT INTO keyward_oauth1_clients (client_id, client_secret, name) VALUES ($1, $2, $3) \
                   ON CONFLICT (client_id) DO NOTHING";
        with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(&client.client_id)
            .bind(client.client_secret.secret())
            .bind(&client.name)
            .execute(pool)
            .await
            .map(drop)
            .map_err(db_err))?;
        self.provider
            .get_client(&client.client_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the client just registered is missing".into()))
    }

    /// The registered clients, newest names last.
    pub(crate) async fn clients(&self) -> Result<Vec<ClientSummary>, StoreError> {
        let sql = "SELECT client_id, name, default_redirect_uri, rsa_public_key FROM keyward_oauth1_clients \
                   ORDER BY client_id LIMIT 500";
        with_pool!(&self.db, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await.map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    Ok::<_, sqlx::Error>(ClientSummary {
                        client_id: r.try_get(0)?,
                        name: r.try_get(1)?,
                        callback: r.try_get(2)?,
                        rsa: r.try_get::<Option<String>, _>(3)?.is_some(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)
        })
    }
}

fn argon_err(e: argon2::password_hash::Error) -> StoreError {
    StoreError::Backend(e.to_string().into())
}

/// An Argon2id hash (PHC string) of `password` with a random salt, computed off the async
/// threads.
async fn hash_password(password: SecretString) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    OsRandom.fill(&mut salt);
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&salt).map_err(argon_err)?;
        argon2::Argon2::default()
            .hash_password(password.secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(argon_err)
    })
    .await
    .map_err(|e| StoreError::Backend(e.to_string().into()))?
}

async fn verify_password(password: SecretString, hash: String) -> Result<bool, StoreError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(argon_err)?;
        Ok(argon2::Argon2::default().verify_password(password.secret().as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(|e| StoreError::Backend(e.to_string().into()))?
}

/// A valid hash of no one's password, checked for unknown user names.
fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0rNQeWCn7T3ERCOTY3CzZ8YpOgd2sqLDmE+Kk9SE6Kc"
}

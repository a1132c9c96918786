//! Where the demo keeps things: a SQL database (SQLite or PostgreSQL) for provider users,
//! OAuth 1 clients and token credentials, and memory or Redis for the short-lived records
//! (temporary credentials, nonces). Several instances over one PostgreSQL and one Redis act
//! as one provider.

use argon2::password_hash::{PasswordHash, SaltString};
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::SecretString;
use keyward::oauth2::provider::device_store::DeviceCodeStore;
use keyward::oauth2::provider::par::PushedRequestStore;
use keyward::oauth2::provider::store::OAuth2Store;
use keyward_stores::store::{Client, ClientStore, OAuth1Store, StoreError};
use keyward_stores::{MemoryStore, Ping, PostgresStore, RedisStore, SplitStore, SqliteStore, StoreAdmin};
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

/// Everything the demo stores, opened from its URLs.
pub(crate) struct Stores {
    pub(crate) provider: Arc<dyn OAuth1Store>,
    /// The OAuth 2.1 server's records: clients, tokens and consent grants in the database;
    /// authorization codes and single-use values in the short-lived store, as for OAuth 1.
    pub(crate) oauth2: Arc<dyn OAuth2Store>,
    /// The device grant's codes and verification attempts (RFC 8628), in the short-lived
    /// store: they live minutes.
    pub(crate) device: Arc<dyn DeviceCodeStore>,
    /// Pushed authorization requests (RFC 9126), in the short-lived store: they live 60 s
    /// and are taken once.
    pub(crate) pushed: Arc<dyn PushedRequestStore>,
    pub(crate) admin: Arc<dyn StoreAdmin>,
    pub(crate) db: Db,
    /// With SQLite: the store, whose reads on the calling thread serve the user look-up of
    /// every `/api/me` (see [`SqliteStore::read`]).
    sqlite: Option<Arc<SqliteStore>>,
    /// What `/readyz` pings.
    pub(crate) health: crate::health::Dependencies,
    hashers: HashThreads,
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed few threads that compute password hashes. Argon2 allocates 19 MiB per hash;
/// on a blocking thread of its own each time, every new thread's allocator arena kept its
/// block after the hash (62 sign-ins in parallel left the process at 2 GB). Here the same
/// threads reuse their blocks.
struct HashThreads {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl HashThreads {
    fn start(threads: usize) -> Result<Self, StoreError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    loop {
                        // Ends when the stores are dropped (the sender with them).
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(StoreError::backend)?;
        }
        Ok(Self { jobs })
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(f());
            }))
            .map_err(|_| StoreError::Backend("the password hashing threads stopped".into()))?;
        result.await.map_err(|_| StoreError::Backend("a password hash failed".into()))
    }
}

fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

/// Starts the short-lived store's replay epoch now, if it has none (a new memory store, an
/// empty Redis), and waits for the next second: requests signed in the epoch's second or
/// before are refused as stale (the nonces of that time may have been forgotten), so the
/// site serves from the next second on and its first requests are provable.
async fn start_replay_epoch<S: StoreAdmin>(store: Arc<S>) -> Result<Arc<S>, StoreError> {
    store.purge_expired(crate::now()).await?;
    let into_second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_millis())
        .unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(1000 - into_second) + 10)).await;
    Ok(store)
}

impl Stores {
    /// Opens the database (`sqlite://…`, a bare path, or `postgres://…`) and the
    /// short-lived store (Redis at `redis_url`, else memory), applying migrations.
    pub(crate) async fn open(
        database_url: &str,
        redis_url: Option<&str>,
        hash_threads: usize,
    ) -> Result<Self, StoreError> {
        let mut sqlite = None;
        // The database as the provider's store, as the admin store, as a pool, as a ping.
        type Opened = (Arc<dyn OAuth1Store>, Arc<dyn OAuth2Store>, Arc<dyn StoreAdmin>, Db, Arc<dyn Ping>);
        let (durable, durable2, admin, db, database): Opened =
            if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
                let store = Arc::new(PostgresStore::connect(database_url).await?);
                let db = Db::Postgres(store.pool().clone());
                (store.clone(), store.clone(), store.clone(), db, store)
            } else {
                let url = if database_url.starts_with("sqlite:") {
                    database_url.to_owned()
                } else {
                    format!("sqlite://{database_url}")
                };
                let store = Arc::new(SqliteStore::connect(&url).await?);
                let db = Db::Sqlite(store.pool().clone());
                sqlite = Some(store.clone());
                (store.clone(), store.clone(), store.clone(), db, store)
            };
        type Ephemeral = (
            Arc<dyn OAuth1Store>,
            Arc<dyn OAuth2Store>,
            Arc<dyn DeviceCodeStore>,
            Arc<dyn PushedRequestStore>,
            Option<Arc<dyn Ping>>,
        );
        let (ephemeral, ephemeral2, device, pushed, redis): Ephemeral = match redis_url {
            Some(url) => {
                let store =
                    start_replay_epoch(Arc::new(RedisStore::connect(url, "keyward-demo:").await?)).await?;
                (store.clone(), store.clone(), store.clone(), store.clone(), Some(store))
            }
            None => {
                let store = start_replay_epoch(Arc::new(MemoryStore::new())).await?;
                (store.clone(), store.clone(), store.clone(), store, None)
            }
        };
        let kind = match db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        };
        let health = crate::health::Dependencies::new(kind, database, redis);
        let hashers = HashThreads::start(hash_threads)?;
        // Clients and token credentials in the database, temporary credentials and nonces in
        // the short-lived store.
        let stores = Self {
            provider: Arc::new(SplitStore::new(durable, ephemeral)),
            oauth2: Arc::new(SplitStore::new(durable2, ephemeral2)),
            device,
            pushed,
            admin,
            db,
            sqlite,
            health,
            hashers,
        };
        stores.migrate().await?;
        Ok(stores)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        const USERS: &str = "CREATE TABLE IF NOT EXISTS keyward_demo_users (\
             username TEXT PRIMARY KEY NOT NULL, password_hash TEXT NOT NULL, created_at BIGINT NOT NULL)";
        // Who registered which client on /developer (seeded clients have no owner).
        const OWNERS: &str = "CREATE TABLE IF NOT EXISTS keyward_demo_client_owners (\
             client_id TEXT PRIMARY KEY NOT NULL, owner TEXT NOT NULL)";
        const OWNERS_INDEX: &str = "CREATE INDEX IF NOT EXISTS keyward_demo_client_owners_owner ON keyward_demo_client_owners (owner)";
        // The provider sessions a back-channel logout ended, per relying-party app: `key` is
        // `sid:…` or `sub:…` (a logout token names one or both).
        const RP_LOGOUTS: &str = "CREATE TABLE IF NOT EXISTS keyward_demo_rp_logouts (\
             app TEXT NOT NULL, key TEXT NOT NULL, ended_at BIGINT NOT NULL, PRIMARY KEY (app, key))";
        // User names are compared case-folded (ASCII: user names are ASCII), so `alice` and
        // `Alice` are one account.
        const FOLDED: &str = "CREATE UNIQUE INDEX IF NOT EXISTS keyward_demo_users_folded \
             ON keyward_demo_users (lower(username))";
        let result = match &self.db {
            Db::Sqlite(pool) => {
                for sql in [USERS, OWNERS, OWNERS_INDEX, RP_LOGOUTS] {
                    sqlx::query(sql).execute(pool).await.map_err(db_err)?;
                }
                Ok(())
            }
            // Two `CREATE TABLE IF NOT EXISTS` at once can still collide in PostgreSQL's
            // catalog (a duplicate `pg_type` row): instances starting together take turns
            // under a transaction-scoped advisory lock, as the store's own migrations do.
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(db_err)?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext('keyward_demo_users'))")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                for sql in [USERS, OWNERS, OWNERS_INDEX, RP_LOGOUTS] {
                    sqlx::query(sql).execute(&mut *tx).await.map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)
            }
        };
        result?;
        // A database made before names were case-folded may hold `alice` and `Alice`: they
        // keep working (each signs in with its exact name), and new names are still
        // checked case-folded when created.
        let folded = match &self.db {
            Db::Sqlite(pool) => sqlx::query(FOLDED).execute(pool).await.map(drop),
            // Under the same lock as the tables, for instances starting together.
            Db::Postgres(pool) => {
                async {
                    let mut tx = pool.begin().await?;
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('keyward_demo_users'))")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(FOLDED).execute(&mut *tx).await?;
                    tx.commit().await
                }
                .await
            }
        };
        if let Err(error) = folded {
            tracing::warn!(%error, "user names differing only in case exist; no case-folded index");
        }
        Ok(())
    }

    /// Creates the user, or sets a new password when `replace`; returns false when the
    /// name (compared case-folded) was taken and `replace` is false.
    pub(crate) async fn put_user(
        &self,
        username: &str,
        password: &SecretString,
        now: i64,
        replace: bool,
    ) -> Result<bool, StoreError> {
        let hash = self.hashers.run(hash_password(password.clone())).await??;
        if replace {
            let update = "UPDATE keyward_demo_users SET password_hash = $2 WHERE lower(username) = lower($1)";
            let n = with_pool!(&self.db, pool => sqlx::query(update)
                .bind(username)
                .bind(&hash)
                .execute(pool)
                .await
                .map_err(db_err)?
                .rows_affected());
            if n > 0 {
                return Ok(true);
            }
        }
        // The unique index on lower(username) settles two sign-ups racing for one name.
        let sql = "INSERT INTO keyward_demo_users (username, password_hash, created_at) \
                   SELECT $1, $2, $3 WHERE NOT EXISTS \
                   (SELECT 1 FROM keyward_demo_users WHERE lower(username) = lower($1)) \
                   ON CONFLICT DO NOTHING";
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
        // Case-folded; the exact spelling first where an old database holds several.
        let sql = "SELECT username, password_hash, created_at FROM keyward_demo_users \
                   WHERE lower(username) = lower($1) ORDER BY CASE WHEN username = $1 THEN 0 ELSE 1 END LIMIT 1";
        let row: Option<(String, String, i64)> = with_pool!(&self.db, pool => {
            let row = sqlx::query(sql).bind(username).fetch_optional(pool).await.map_err(db_err)?;
            row.map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .transpose()
                .map_err(db_err)?
        });
        // An unknown name costs a hash check too, so timing does not tell names apart.
        let (name, hash, created_at, known) = match row {
            Some((name, hash, created_at)) => (name, hash, created_at, true),
            None => (String::new(), dummy_hash().to_owned(), 0, false),
        };
        let ok = self.hashers.run(verify_password(password.clone(), hash)).await??;
        Ok((ok && known).then_some(User { username: name, created_at }))
    }

    /// The user with this name.
    pub(crate) async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = "SELECT created_at FROM keyward_demo_users WHERE username = $1";
        // A database file: on this thread, without a hop to sqlx's worker thread.
        let read = match &self.sqlite {
            Some(store) => {
                store
                    .read(|conn| {
                        use keyward_stores::rusqlite::OptionalExtension;
                        conn.prepare_cached(sql)?.query_row([username], |row| row.get::<_, i64>(0)).optional()
                    })
                    .await
            }
            None => None,
        };
        if let Some(created_at) = read {
            return Ok(created_at?.map(|created_at| User { username: username.to_owned(), created_at }));
        }
        with_pool!(&self.db, pool => {
            let row = sqlx::query(sql).bind(username).fetch_optional(pool).await.map_err(db_err)?;
            row.map(|r| Ok::<_, sqlx::Error>(User { username: username.to_owned(), created_at: r.try_get(0)? }))
                .transpose()
                .map_err(db_err)
        })
    }

    /// Records that the provider ended, for relying-party app `app`, the session `sid` or
    /// every session of `sub` (a back-channel logout); markers older than a signed-in
    /// session's life are dropped on the way.
    pub(crate) async fn end_rp_sessions(
        &self,
        app: &str,
        sub: Option<&str>,
        sid: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let keys: Vec<String> = match (sid, sub) {
            (Some(sid), _) => vec![format!("sid:{sid}")],
            (None, Some(sub)) => vec![format!("sub:{sub}")],
            (None, None) => Vec::new(),
        };
        let oldest = now - crate::SIGNED_IN.whole_seconds();
        with_pool!(&self.db, pool => {
            sqlx::query("DELETE FROM keyward_demo_rp_logouts WHERE ended_at < $1")
                .bind(oldest)
                .execute(pool)
                .await
                .map_err(db_err)?;
            for key in keys {
                sqlx::query(
                    "INSERT INTO keyward_demo_rp_logouts (app, key, ended_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (app, key) DO UPDATE SET ended_at = $3",
                )
                .bind(app)
                .bind(key)
                .bind(now)
                .execute(pool)
                .await
                .map_err(db_err)?;
            }
            Ok(())
        })
    }

    /// Whether a back-channel logout ended, for `app`, the provider session `sid`, or every
    /// session of `sub` at or after `signed_in_at`.
    pub(crate) async fn rp_session_ended(
        &self,
        app: &str,
        sub: Option<&str>,
        sid: Option<&str>,
        signed_in_at: i64,
    ) -> Result<bool, StoreError> {
        let sid_key = sid.map(|s| format!("sid:{s}")).unwrap_or_default();
        let sub_key = sub.map(|s| format!("sub:{s}")).unwrap_or_default();
        with_pool!(&self.db, pool => {
            let row = sqlx::query(
                "SELECT 1 FROM keyward_demo_rp_logouts WHERE app = $1 \
                 AND (key = $2 OR (key = $3 AND ended_at >= $4))",
            )
            .bind(app)
            .bind(sid_key)
            .bind(sub_key)
            .bind(signed_in_at)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            Ok(row.is_some())
        })
    }

    /// The store of the OpenID Provider's signing keys, in the database (its table made if
    /// missing).
    pub(crate) async fn key_store(&self) -> Result<Arc<dyn keyward::jose::rotation::KeyStore>, StoreError> {
        // Instances starting together may both create the table: the loser's error is
        // followed by a retry that finds it made.
        let mut attempt = 0;
        loop {
            let made: Result<Arc<dyn keyward::jose::rotation::KeyStore>, StoreError> = match &self.db {
                Db::Sqlite(pool) => {
                    let keys = keyward_stores::SqliteKeyStore::new(pool.clone());
                    keys.migrate().await.map(|()| Arc::new(keys) as _)
                }
                Db::Postgres(pool) => {
                    let keys = keyward_stores::PostgresKeyStore::new(pool.clone());
                    keys.migrate().await.map(|()| Arc::new(keys) as _)
                }
            };
            match made {
                Err(e) if attempt < 2 => {
                    tracing::info!(error = %e, "signing-key table: trying again");
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
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

    /// Registers `client` for the provider user `owner`.
    pub(crate) async fn put_owned_client(&self, client: &Client, owner: &str) -> Result<(), StoreError> {
        self.admin.put_client(client).await?;
        let sql = "INSERT INTO keyward_demo_client_owners (client_id, owner) VALUES ($1, $2)";
        with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(&client.client_id)
            .bind(owner)
            .execute(pool)
            .await
            .map(drop)
            .map_err(db_err))
    }

    /// Records that `owner` registered the client `client_id` (an OAuth 2 client, kept in
    /// the authorization server's store).
    pub(crate) async fn put_owner(&self, client_id: &str, owner: &str) -> Result<(), StoreError> {
        let sql = "INSERT INTO keyward_demo_client_owners (client_id, owner) VALUES ($1, $2)";
        with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(client_id)
            .bind(owner)
            .execute(pool)
            .await
            .map(drop)
            .map_err(db_err))
    }

    /// The identifiers of every client a user registered (for name checks), at most 10,000.
    pub(crate) async fn owned_client_ids(&self) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT client_id FROM keyward_demo_client_owners ORDER BY client_id LIMIT 10000";
        with_pool!(&self.db, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(|r| r.try_get(0)).collect::<Result<Vec<String>, _>>().map_err(db_err)
        })
    }

    /// The identifiers of the clients `owner` registered, in identifier order.
    pub(crate) async fn client_ids_of(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let sql =
            "SELECT client_id FROM keyward_demo_client_owners WHERE owner = $1 ORDER BY client_id LIMIT 500";
        with_pool!(&self.db, pool => {
            let rows = sqlx::query(sql).bind(owner).fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(|r| r.try_get(0)).collect::<Result<Vec<String>, _>>().map_err(db_err)
        })
    }

    /// Whether a user registered this client on /developer (rather than the operator
    /// seeding it).
    pub(crate) async fn has_owner(&self, client_id: &str) -> Result<bool, StoreError> {
        let sql = "SELECT 1 FROM keyward_demo_client_owners WHERE client_id = $1";
        with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(client_id)
            .fetch_optional(pool)
            .await
            .map(|r| r.is_some())
            .map_err(db_err))
    }

    /// Whether a client already has this name, compared case-folded and with runs of
    /// spaces as one.
    pub(crate) async fn client_name_taken(&self, name: &str) -> Result<bool, StoreError> {
        // Compared here, not in SQL, whose lower() folds ASCII only (SQLite).
        let sql = "SELECT name FROM keyward_oauth1_clients WHERE name IS NOT NULL";
        let wanted = fold_name(name);
        let names: Vec<String> = with_pool!(&self.db, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(|r| r.try_get(0)).collect::<Result<Vec<String>, _>>().map_err(db_err)?
        });
        Ok(names.iter().any(|n| fold_name(n) == wanted))
    }
}

/// A client name as compared for uniqueness: lower-cased, runs of white space as one space.
pub(crate) fn fold_name(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn argon_err(e: argon2::password_hash::Error) -> StoreError {
    StoreError::Backend(e.to_string().into())
}

thread_local! {
    /// Argon2's memory (19 MiB with the default parameters), allocated once per hashing
    /// thread and reused: a fresh allocation per hash left the allocator holding several.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Argon2 of `password` and `salt` into `out`, in this thread's reused memory.
fn argon2_into(
    argon: &argon2::Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), StoreError> {
    let blocks = argon.params().block_count();
    ARGON2_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|e| StoreError::Backend(e.to_string().into()))
    })
}

/// A job computing an Argon2id hash (PHC string) of `password` with a random salt and the
/// default parameters.
fn hash_password(password: SecretString) -> impl FnOnce() -> Result<String, StoreError> + Send + 'static {
    let mut salt = [0u8; 16];
    OsRandom.fill(&mut salt);
    move || {
        let argon = argon2::Argon2::default();
        let mut out = [0u8; 32];
        argon2_into(&argon, password.secret().as_bytes(), &salt, &mut out)?;
        let p = argon.params();
        Ok(format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            p.m_cost(),
            p.t_cost(),
            p.p_cost(),
            SaltString::encode_b64(&salt).map_err(argon_err)?.as_str(),
            argon2::password_hash::Output::new(&out).map_err(argon_err)?
        ))
    }
}

/// A job checking `password` against the PHC string `hash`.
fn verify_password(
    password: SecretString,
    hash: String,
) -> impl FnOnce() -> Result<bool, StoreError> + Send + 'static {
    move || {
        let parsed = PasswordHash::new(&hash).map_err(argon_err)?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm).map_err(argon_err)?;
        let version = parsed
            .version
            .map(argon2::Version::try_from)
            .transpose()
            .map_err(|e| argon_err(e.into()))?
            .unwrap_or_default();
        let params = argon2::Params::try_from(&parsed).map_err(argon_err)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(StoreError::Corrupt("a password hash without its salt or output".into()));
        };
        let mut salt_buf = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_buf).map_err(argon_err)?;
        let mut out = vec![0u8; expected.len()];
        argon2_into(
            &argon2::Argon2::new(algorithm, version, params),
            password.secret().as_bytes(),
            salt,
            &mut out,
        )?;
        Ok(keyward::common::secret::ct_eq(&out, expected.as_bytes()))
    }
}

/// A valid hash of no one's password, checked for unknown user names.
fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0rNQeWCn7T3ERCOTY3CzZ8YpOgd2sqLDmE+Kk9SE6Kc"
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    #[test]
    fn hashes_are_standard_phc_strings_checked_in_reused_memory() {
        let hash = hash_password(SecretString::new("correct horse"))().unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(argon2::Argon2::default().verify_password(b"correct horse", &parsed).is_ok(), "{hash}");
        assert!(verify_password(SecretString::new("correct horse"), hash.clone())().unwrap());
        assert!(!verify_password(SecretString::new("correct horsE"), hash)().unwrap());
        assert!(!verify_password(SecretString::new("x"), dummy_hash().to_owned())().unwrap());
    }
}

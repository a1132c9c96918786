//! The conformance suite (`keyward_stores::conformance`) against every backend: memory,
//! SQLite (memory and file), PostgreSQL (`KEYWARD_TEST_DATABASE_URL`) and Redis
//! (`KEYWARD_TEST_REDIS_URL`); the split store over SQLite and memory or Redis; and the
//! client's `StateCache` over memory and Redis.
//!
//! The PostgreSQL and Redis tests skip visibly when their server is not configured and fail
//! under `CI=true`. Each test has its own schema or key prefix, so they run in parallel.

use keyward_stores::conformance::{two_instances_share_one_backend, two_instances_share_one_oauth2_backend};
use keyward_stores::conformance_tests;

const HOW: &str = "run `source tests/peers/servers.sh start` or `bash .ci/run`";

/// A name unique to this test run and test, for schemas, key prefixes and files.
fn unique(test: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{test}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

mod memory {
    use super::conformance_tests;
    use keyward_stores::MemoryStore;
    use std::sync::Arc;

    async fn make(_test: &str) -> Option<Arc<MemoryStore>> {
        Some(Arc::new(MemoryStore::new()))
    }

    conformance_tests!(oauth1_store: make, purges = true);

    mod oauth2 {
        use super::{conformance_tests, make};
        conformance_tests!(oauth2_store: make, purges = true);
    }
}

mod sqlite_memory {
    use super::conformance_tests;
    use keyward_stores::SqliteStore;
    use std::sync::Arc;

    async fn make(_test: &str) -> Option<Arc<SqliteStore>> {
        Some(Arc::new(SqliteStore::in_memory().await.expect("in-memory SQLite")))
    }

    conformance_tests!(oauth1_store: make, purges = true);

    mod oauth2 {
        use super::{conformance_tests, make};
        conformance_tests!(oauth2_store: make, purges = true);
    }

    #[tokio::test]
    async fn a_half_authorized_row_is_corrupt() {
        use keyward_stores::store::{StoreError, TemporaryCredentialStore};
        let store = SqliteStore::in_memory().await.unwrap();
        sqlx::query(
            "INSERT INTO keyward_oauth1_temporary_credentials \
             (token, secret, client_id, callback_uri, expires_at, user_id) VALUES ('t', 's', 'c', 'oob', 10, 'u')",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let err = store.get_temporary_credential("t", 0).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        let err = store.take_temporary_credential("t", 0).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }

    #[tokio::test]
    async fn undecodable_redirect_uris_are_corrupt() {
        use keyward_stores::store::{ClientStore, StoreError};
        let store = SqliteStore::in_memory().await.unwrap();
        sqlx::query(
            "INSERT INTO keyward_oauth1_clients (client_id, client_secret, redirect_uris) \
             VALUES ('c', 's', 'https://a.example/cb')",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let err = store.get_client("c").await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }
}

mod sqlite_upgrade {
    use keyward::common::secret::SecretString;
    use keyward_stores::store::{Client, ClientStore};
    use keyward_stores::{SqliteStore, StoreAdmin};

    /// A database made by the first release (migration 1 only, a client in it) is migrated
    /// to the `redirect_uris` column, and its client loads with none registered.
    #[tokio::test]
    async fn a_database_from_before_redirect_uris_is_migrated() {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(super::unique("upgrade"));
        let first = dir.join("migrations");
        std::fs::create_dir_all(&first).unwrap();
        let sql = include_str!("../migrations/sqlite/0001_oauth1.sql");
        std::fs::write(first.join("0001_oauth1.sql"), sql).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("old.db").display());
        {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::migrate::Migrator::new(first.as_path()).await.unwrap().run(&pool).await.unwrap();
            sqlx::query(
                "INSERT INTO keyward_oauth1_clients (client_id, client_secret, default_redirect_uri) \
                 VALUES ('old', 's', 'https://old.example/cb')",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let store = SqliteStore::connect(&url).await.expect("migrated from version 1");
        let old = store.get_client("old").await.unwrap().unwrap();
        assert_eq!(
            (old.default_redirect_uri.as_deref(), old.redirect_uris),
            (Some("https://old.example/cb"), None)
        );
        let mut new = Client::new("new", SecretString::new("s"));
        new.redirect_uris = Some(vec!["https://new.example/cb".into()]);
        store.put_client(&new).await.unwrap();
        assert_eq!(store.get_client("new").await.unwrap(), Some(new));
    }
}

mod sqlite_file {
    use super::conformance_tests;
    use keyward_stores::SqliteStore;
    use std::sync::Arc;

    fn url(test: &str) -> String {
        let path =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.db", super::unique(test)));
        format!("sqlite://{}", path.display())
    }

    async fn make(test: &str) -> Option<Arc<SqliteStore>> {
        let store = SqliteStore::connect(&url(test)).await.expect("SQLite file");
        // Migrating twice is harmless.
        store.migrate().await.expect("second migration");
        Some(Arc::new(store))
    }

    conformance_tests!(oauth1_store: make, purges = true);

    mod oauth2 {
        use super::{conformance_tests, make};
        conformance_tests!(oauth2_store: make, purges = true);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_share_one_backend() {
        let url = url("two_instances");
        let a = SqliteStore::connect(&url).await.unwrap();
        let b = SqliteStore::connect(&url).await.unwrap();
        super::two_instances_share_one_backend(Arc::new(a), Arc::new(b)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_share_one_oauth2_backend() {
        let url = url("two_instances_oauth2");
        let a = SqliteStore::connect(&url).await.unwrap();
        let b = SqliteStore::connect(&url).await.unwrap();
        super::two_instances_share_one_oauth2_backend(Arc::new(a), Arc::new(b)).await;
    }

    /// The token and client reads that run on the calling thread see another instance's
    /// revocation and deletion at once, and a corrupt row is an error.
    #[tokio::test]
    async fn oauth2_reads_on_the_calling_thread_see_other_instances_writes() {
        use keyward_stores::oauth2_store::{
            OAuth2ClientStore, RegisteredClient, StoreError, TokenKind, TokenRecord, TokenStore,
        };
        let url = url("oauth2_reads_inline");
        let (a, b) = (SqliteStore::connect(&url).await.unwrap(), SqliteStore::connect(&url).await.unwrap());
        assert!(a.read(|_| Ok(())).await.is_some(), "a file is read on the calling thread");
        let token = TokenRecord {
            token_hash: "h".into(),
            kind: TokenKind::Access,
            client_id: "c".into(),
            subject: None,
            scopes: vec!["read".into()],
            resources: vec![],
            family_id: "f".into(),
            issued_at: 0,
            expires_at: 100,
            auth_time: None,
            revoked: false,
            session: None,
            jkt: None,
        };
        b.create_tokens(&token, None).await.unwrap();
        b.create_registered_client(&RegisteredClient::public("c")).await.unwrap();
        assert_eq!(a.get_token("h", 10).await.unwrap(), Some(token));
        assert!(a.get_registered_client("c").await.unwrap().is_some());
        assert!(b.revoke_token("h").await.unwrap());
        assert!(b.delete_registered_client("c").await.unwrap());
        assert_eq!(a.get_token("h", 10).await.unwrap(), None);
        assert_eq!(a.get_registered_client("c").await.unwrap(), None);

        sqlx::query("INSERT INTO keyward_oauth2_clients (client_id, record) VALUES ('bad', '{')")
            .execute(b.pool())
            .await
            .unwrap();
        assert!(matches!(a.get_registered_client("bad").await, Err(StoreError::Corrupt(_))));
        sqlx::query(
            "INSERT INTO keyward_oauth2_tokens (token_hash, kind, client_id, scopes, resources, family_id, \
             issued_at, expires_at) VALUES ('bad', 'bearer', 'c', '[]', '[]', 'f', 0, 100)",
        )
        .execute(b.pool())
        .await
        .unwrap();
        assert!(matches!(a.get_token("bad", 10).await, Err(StoreError::Corrupt(_))));
    }

    /// The reads that run on the calling thread, on the store's own connections, see what
    /// another instance (its own sqlx pool) writes or deletes at once: nothing is cached.
    #[tokio::test]
    async fn reads_on_the_calling_thread_see_other_instances_writes_at_once() {
        use keyward::common::secret::SecretString;
        use keyward_stores::StoreAdmin;
        use keyward_stores::store::{
            Client, ClientStore, OAuth1Store, TokenCredentialRecord, TokenCredentialStore,
        };

        let url = url("reads_inline");
        let (a, b) = (SqliteStore::connect(&url).await.unwrap(), SqliteStore::connect(&url).await.unwrap());
        // `a` reads on its own connections: a file has some.
        let answer = a.read(|conn| conn.query_row("SELECT 40 + 2", [], |row| row.get::<_, i64>(0))).await;
        assert_eq!(answer.unwrap().unwrap(), 42);
        assert!(a.get_client("printer").await.unwrap().is_none());

        b.put_client(&Client::new("printer", SecretString::new("first"))).await.unwrap();
        let token = TokenCredentialRecord {
            token: "t1".into(),
            secret: SecretString::new("token secret"),
            client_id: "printer".into(),
            user_id: "alice".into(),
            created_at: 7,
        };
        b.create_token_credential(&token).await.unwrap();
        let found = a.lookup_signed("printer", Some("t1"), None, 0).await.unwrap();
        assert_eq!(found.client.unwrap().client_secret.secret(), "first");
        let found_token = found.token.unwrap();
        assert_eq!((found_token.user_id.as_str(), found_token.created_at), ("alice", 7));

        // A new secret, and a revoked token credential: the next read knows.
        b.put_client(&Client::new("printer", SecretString::new("second"))).await.unwrap();
        sqlx::query("DELETE FROM keyward_oauth1_token_credentials WHERE token = 't1'")
            .execute(b.pool())
            .await
            .unwrap();
        let found = a.lookup_signed("printer", Some("t1"), None, 0).await.unwrap();
        assert_eq!(found.client.unwrap().client_secret.secret(), "second");
        assert!(found.token.is_none(), "a revoked token credential is gone for the next request");
        assert!(a.get_token_credential("t1").await.unwrap().is_none());
        assert!(b.delete_client("printer").await.unwrap());
        assert!(a.get_client("printer").await.unwrap().is_none());

        // A read refused by the read-only connection is an error, not a write.
        let write = a.read(|conn| conn.execute("DELETE FROM keyward_oauth1_clients", [])).await.unwrap();
        assert!(write.is_err(), "{write:?}");

        // An in-memory database has no file to read on the calling thread.
        assert!(SqliteStore::in_memory().await.unwrap().read(|_| Ok(())).await.is_none());
    }
}

mod postgres {
    use super::conformance_tests;
    use keyward_stores::PostgresStore;
    use sqlx::Connection;
    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use std::str::FromStr;
    use std::sync::Arc;

    async fn make(test: &str) -> Option<Arc<PostgresStore>> {
        let url = keyward_testkit::require(
            keyward_testkit::server_url("KEYWARD_TEST_DATABASE_URL"),
            &format!("keyward-stores postgres::{test}"),
            "PostgreSQL (KEYWARD_TEST_DATABASE_URL)",
            super::HOW,
        )?;
        // Each test in a schema of its own (identifiers of at most 63 bytes).
        let mut schema = format!("kw_{}", super::unique(test));
        schema.truncate(63);
        let mut admin = PgConnection::connect(&url).await.expect("connect to PostgreSQL");
        sqlx::raw_sql(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.ok();
        Some(Arc::new(connect(&url, &schema).await))
    }

    async fn connect(url: &str, schema: &str) -> PostgresStore {
        let options =
            PgConnectOptions::from_str(url).expect("database URL").options([("search_path", schema)]);
        PostgresStore::connect_with(options).await.expect("PostgresStore")
    }

    conformance_tests!(oauth1_store: make, purges = true);

    mod oauth2 {
        use super::{conformance_tests, make};
        conformance_tests!(oauth2_store: make, purges = true);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_share_one_backend() {
        let Some(a) = make("two_instances").await else { return };
        let url = keyward_testkit::server_url("KEYWARD_TEST_DATABASE_URL").unwrap();
        let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(a.pool()).await.unwrap();
        let b = connect(&url, &schema).await;
        super::two_instances_share_one_backend(a, Arc::new(b)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_share_one_oauth2_backend() {
        let Some(a) = make("two_instances_oauth2").await else { return };
        let url = keyward_testkit::server_url("KEYWARD_TEST_DATABASE_URL").unwrap();
        let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(a.pool()).await.unwrap();
        let b = connect(&url, &schema).await;
        super::two_instances_share_one_oauth2_backend(a, Arc::new(b)).await;
    }

    /// No server needed: nothing listens on port 1.
    #[tokio::test]
    async fn an_unreachable_server_is_unavailable() {
        use keyward_stores::store::{ClientStore, StoreError};
        let options = PgConnectOptions::from_str("postgres://keyward@127.0.0.1:1/keyward_test").unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_secs(2))
            .connect_lazy_with(options);
        let err = PostgresStore::new(pool).get_client("c").await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
}

mod redis {
    use super::conformance_tests;
    use keyward_stores::RedisStore;
    use keyward_stores::conformance::NOW;
    use keyward_stores::store::{NonceKey, NonceStore, NonceToRecord, OAuth1Store};
    use std::sync::Arc;

    async fn make(test: &str) -> Option<Arc<RedisStore>> {
        let url = keyward_testkit::require(
            keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL"),
            &format!("keyward-stores redis::{test}"),
            "Redis (KEYWARD_TEST_REDIS_URL)",
            super::HOW,
        )?;
        let prefix = format!("kwtest:{}:", super::unique(test));
        Some(Arc::new(RedisStore::connect(&url, prefix).await.expect("RedisStore")))
    }

    conformance_tests!(oauth1_store: make, purges = false);

    mod oauth2 {
        use super::{conformance_tests, make};
        conformance_tests!(oauth2_store: make, purges = false);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_share_one_oauth2_backend() {
        let Some(a) = make("two_instances_oauth2").await else { return };
        let url = keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL").unwrap();
        let b = RedisStore::connect(&url, a.prefix()).await.unwrap();
        super::two_instances_share_one_oauth2_backend(a, Arc::new(b)).await;
    }

    /// The single-use values share the nonces' replay epoch: one marker per prefix, and a
    /// Redis that lost it (here, the marker deleted) starts a new epoch at the next call.
    #[tokio::test]
    async fn once_values_share_the_nonces_replay_epoch() {
        use keyward::common::replay::{ReplayEpoch, ReplayVerdict};
        use keyward::common::store::OnceStore;
        let Some(store) = make("once_epoch").await else { return };
        let nonce = NonceToRecord {
            key: NonceKey { client_id: "c".into(), token: None, timestamp: NOW, nonce: "n".into() },
            expires_at: NOW + 300,
        };
        assert_eq!(store.insert_nonce(&nonce, NOW - 50).await.unwrap().epoch, ReplayEpoch::Since(NOW - 50));
        let first = store.record_once("client-assertion", "jti-1", NOW + 300, NOW).await.unwrap();
        assert_eq!((first.fresh, first.epoch), (true, ReplayEpoch::Since(NOW - 50)));
        let url = keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL").unwrap();
        let mut conn = ::redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let _: i64 = ::redis::cmd("DEL")
            .arg(format!("{}replay-epoch", store.prefix()))
            .arg(format!("{}once:client-assertion:jti-1", store.prefix()))
            .query_async(&mut conn)
            .await
            .unwrap();
        // Forgotten, so fresh again: but the new epoch refuses a `jti` issued before it.
        let again = store.record_once("client-assertion", "jti-1", NOW + 300, NOW + 10).await.unwrap();
        assert_eq!((again.fresh, again.epoch), (true, ReplayEpoch::Since(NOW + 10)));
        assert_eq!(again.verdict(NOW), ReplayVerdict::BeforeEpoch);
    }

    /// Undecodable OAuth 2 records are corrupt, not absent.
    #[tokio::test]
    async fn undecodable_oauth2_records_are_corrupt() {
        use keyward_stores::oauth2_store::{ConsentStore, OAuth2ClientStore, StoreError, TokenStore};
        let Some(store) = make("undecodable_oauth2").await else { return };
        let url = keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL").unwrap();
        let mut conn = ::redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let prefix = store.prefix();
        let _: () = ::redis::cmd("MSET")
            .arg(format!("{prefix}o2c:c"))
            .arg("{not json")
            .arg(format!("{prefix}o2g:alice:c"))
            .arg("[]")
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: () = ::redis::cmd("HSET")
            .arg(format!("{prefix}o2t:h"))
            .arg("record")
            .arg("{")
            .arg("revoked")
            .arg("0")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(matches!(store.get_registered_client("c").await, Err(StoreError::Corrupt(_))));
        assert!(matches!(store.get_grant("alice", "c", NOW).await, Err(StoreError::Corrupt(_))));
        assert!(matches!(store.get_token("h", NOW).await, Err(StoreError::Corrupt(_))));
    }

    /// Whether a look-up finds `nonce` fresh (and so records it).
    async fn fresh_once(store: &RedisStore, nonce: &NonceToRecord) -> bool {
        let found = store.lookup_signed("client-1", Some("token-1"), Some(nonce), NOW).await.unwrap();
        matches!(found.nonce, keyward_stores::store::NonceStatus::Recorded(r) if r.fresh)
    }

    /// Whether `key` becomes fresh within 2 s, for deletions running on tasks of their own
    /// (a look-up that finds the nonce taken records nothing, so asking again is harmless).
    async fn becomes_fresh(store: &RedisStore, key: &NonceToRecord) -> bool {
        for _ in 0..40 {
            if fresh_once(store, key).await {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }

    /// Starts a look-up of `key` and drops it: before its first poll (`stage` 0), after the
    /// first poll has sent the command (1), or once Redis has answered but before the answer
    /// was read (2) — a request cancelled at that point (client gone, timeout layer).
    ///
    /// Returns false when the look-up was not cancelled but finished in its first poll:
    /// that happens when this thread is preempted between sending the command and looking
    /// for the answer long enough for the connection's driver, on another thread, to get it
    /// (seen on a loaded 2-core machine).
    async fn cancelled_lookup(store: &RedisStore, nonce: &NonceToRecord, stage: u8) -> bool {
        use std::task::{Context, Waker};
        let mut lookup = store.lookup_signed("client-1", Some("token-1"), Some(nonce), NOW);
        if stage >= 1 && lookup.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready() {
            return false;
        }
        if stage >= 2 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        true
    }

    /// A request cancelled while its look-up or its release is in flight leaves no nonce
    /// behind: the deletion runs on a task of its own, and deletes only the value that
    /// look-up recorded, never another request's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cancelled_requests_leave_no_nonce_behind() {
        let Some(store) = make("cancelled").await else { return };
        let key = |name: &str| NonceToRecord {
            key: NonceKey {
                client_id: "client-1".into(),
                token: Some("token-1".into()),
                timestamp: NOW,
                nonce: name.into(),
            },
            expires_at: NOW + 300,
        };
        for stage in 0..3 {
            // A fresh nonce per attempt: one that finished in its first poll is recorded.
            let mut attempts = (0..20).map(|attempt| key(&format!("cancelled-{stage}-{attempt}")));
            let k = loop {
                let k = attempts.next().expect("20 look-ups in a row finished in their first poll");
                if cancelled_lookup(&store, &k, stage).await {
                    break k;
                }
            };
            assert!(becomes_fresh(&store, &k).await, "a look-up cancelled at stage {stage} kept its nonce");
        }
        // Released, and the release's future dropped at once: the nonce is freed anyway.
        let k = key("released");
        assert!(fresh_once(&store, &k).await);
        drop(store.release_nonce(&k));
        assert!(becomes_fresh(&store, &k).await, "a dropped release did not release");
        // Cancelled look-ups of a nonce another request holds delete nothing.
        let taken = key("taken");
        assert!(fresh_once(&store, &taken).await);
        for stage in 0..3 {
            // Cancelled or finished, a look-up that finds the nonce taken deletes nothing.
            cancelled_lookup(&store, &taken, stage).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!fresh_once(&store, &taken).await, "a cancelled look-up deleted another request's nonce");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_share_one_backend() {
        let Some(a) = make("two_instances").await else { return };
        let url = keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL").unwrap();
        let b = RedisStore::connect(&url, a.prefix()).await.unwrap();
        super::two_instances_share_one_backend(a, Arc::new(b)).await;
    }

    /// `RedisStore` as the client's flow-state cache.
    mod state_cache {
        use super::super::conformance_tests;
        conformance_tests!(state_cache: super::make);
    }

    /// No server needed: nothing listens on port 1.
    #[tokio::test]
    async fn an_unreachable_server_is_unavailable() {
        use keyward_stores::store::StoreError;
        let err = RedisStore::connect("redis://127.0.0.1:1", "p:").await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }

    /// A client written before `redirect_uris` existed loads, with none registered.
    #[tokio::test]
    async fn a_client_recorded_before_redirect_uris_still_loads() {
        use keyward_stores::store::ClientStore;
        let Some(store) = make("old_client_record").await else { return };
        let url = keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL").unwrap();
        let mut conn = ::redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let old = r#"{"client_id":"old","client_secret":"s","rsa_public_key":null,"default_redirect_uri":"https://old.example/cb","allowed_signature_methods":["HMAC-SHA1"],"name":"Old"}"#;
        let _: () = ::redis::cmd("SET")
            .arg(format!("{}c:old", store.prefix()))
            .arg(old)
            .query_async(&mut conn)
            .await
            .unwrap();
        let client = store.get_client("old").await.unwrap().expect("the old record loads");
        assert_eq!(client.redirect_uris, None);
        assert_eq!(client.default_redirect_uri.as_deref(), Some("https://old.example/cb"));
        assert_eq!(client.allowed_signature_methods, Some(vec!["HMAC-SHA1".to_owned()]));
        assert_eq!(client.name.as_deref(), Some("Old"));
    }

    #[tokio::test]
    async fn undecodable_records_are_corrupt() {
        use keyward_stores::store::{
            ClientStore, StoreError, TemporaryCredentialStore, TokenCredentialStore,
        };
        let Some(store) = make("undecodable_records_are_corrupt").await else { return };
        let url = keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL").unwrap();
        let mut conn = ::redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let prefix = store.prefix();
        let set = |k: String, v: &'static str| ::redis::cmd("SET").arg(k).arg(v).clone();
        let _: () = set(format!("{prefix}c:c"), "{not json").query_async(&mut conn).await.unwrap();
        let _: () = set(format!("{prefix}a:t"), "[]").query_async(&mut conn).await.unwrap();
        let _: () = ::redis::cmd("HSET")
            .arg(format!("{prefix}t:t"))
            .arg("token")
            .arg("t")
            .arg("expires_at")
            .arg("soon")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(matches!(store.get_client("c").await, Err(StoreError::Corrupt(_))));
        assert!(matches!(store.get_token_credential("t").await, Err(StoreError::Corrupt(_))));
        assert!(matches!(store.get_temporary_credential("t", NOW).await, Err(StoreError::Corrupt(_))));
    }
}

/// The client's in-process flow-state cache.
mod memory_state_cache {
    use super::conformance_tests;
    use keyward_client::registry::state::MemoryStateCache;
    use std::sync::Arc;

    async fn make(_test: &str) -> Option<Arc<MemoryStateCache>> {
        Some(Arc::new(MemoryStateCache::default()))
    }

    conformance_tests!(state_cache: make);
}

/// The split store: clients and token credentials in SQLite, the rest in memory or Redis.
mod split {
    use super::conformance_tests;
    use keyward_stores::{MemoryStore, SplitStore, SqliteStore};
    use std::sync::Arc;

    mod sqlite_memory {
        use super::*;

        async fn make(_test: &str) -> Option<Arc<SplitStore<SqliteStore, MemoryStore>>> {
            let durable = SqliteStore::in_memory().await.expect("in-memory SQLite");
            Some(Arc::new(SplitStore::new(durable, MemoryStore::new())))
        }

        conformance_tests!(oauth1_store: make, purges = true);

        mod oauth2 {
            use super::{conformance_tests, make};
            conformance_tests!(oauth2_store: make, purges = true);
        }

        /// Each OAuth 2 record kind lives in one part only: clients, tokens and grants in
        /// the database, codes and single-use values in memory.
        #[tokio::test]
        async fn oauth2_records_go_to_their_part() {
            use keyward::common::store::OnceStore;
            use keyward_stores::conformance::NOW;
            use keyward_stores::oauth2_store::*;
            let store = make("oauth2_parts").await.unwrap();
            store.create_registered_client(&RegisteredClient::public("c")).await.unwrap();
            let token = TokenRecord {
                token_hash: "t".into(),
                kind: TokenKind::Access,
                client_id: "c".into(),
                subject: Some("u".into()),
                scopes: vec![],
                resources: vec![],
                family_id: "f".into(),
                issued_at: NOW,
                expires_at: NOW + 60,
                auth_time: None,
                revoked: false,
                session: None,
                jkt: None,
            };
            store.create_tokens(&token, None).await.unwrap();
            let grant = ConsentGrant {
                subject: "u".into(),
                client_id: "c".into(),
                scopes: vec!["read".into()],
                resources: vec![],
                granted_at: NOW,
                expires_at: None,
            };
            store.save_grant(&grant, NOW).await.unwrap();
            let code = CodeRecord {
                code_hash: "k".into(),
                client_id: "c".into(),
                redirect_uri: None,
                subject: "u".into(),
                scopes: vec![],
                resources: vec![],
                code_challenge: None,
                auth_time: None,
                nonce: None,
                family_id: "f".into(),
                issued_at: NOW,
                expires_at: NOW + 60,
                session: None,
                dpop_jkt: None,
            };
            store.create_code(&code).await.unwrap();
            assert!(store.record_once("client-assertion", "jti", NOW + 60, NOW).await.unwrap().fresh);

            let (durable, ephemeral) = (store.durable(), store.ephemeral());
            assert!(durable.get_registered_client("c").await.unwrap().is_some());
            assert!(ephemeral.get_registered_client("c").await.unwrap().is_none());
            assert!(durable.get_token("t", NOW).await.unwrap().is_some());
            assert!(ephemeral.get_token("t", NOW).await.unwrap().is_none());
            assert!(durable.get_grant("u", "c", NOW).await.unwrap().is_some());
            assert!(ephemeral.get_grant("u", "c", NOW).await.unwrap().is_none());
            assert_eq!(durable.take_code("k", NOW).await.unwrap(), TakeCode::Unknown);
            assert!(matches!(ephemeral.take_code("k", NOW).await.unwrap(), TakeCode::Fresh(_)));
            assert!(durable.record_once("client-assertion", "jti", NOW + 60, NOW).await.unwrap().fresh);
            assert!(!ephemeral.record_once("client-assertion", "jti", NOW + 60, NOW).await.unwrap().fresh);
        }

        /// Each record kind lives in one part only.
        #[tokio::test]
        async fn records_go_to_their_part() {
            use keyward::common::secret::SecretString;
            use keyward_stores::StoreAdmin;
            use keyward_stores::conformance::NOW;
            use keyward_stores::store::*;
            let store = make("parts").await.unwrap();
            store.put_client(&Client::new("c", SecretString::new("s"))).await.unwrap();
            let token = TokenCredentialRecord {
                token: "a".into(),
                secret: SecretString::new("s"),
                client_id: "c".into(),
                user_id: "u".into(),
                created_at: NOW,
            };
            store.create_token_credential(&token).await.unwrap();
            let temp = TemporaryCredential {
                token: "t".into(),
                secret: SecretString::new("s"),
                client_id: "c".into(),
                callback_uri: "oob".into(),
                expires_at: NOW + 60,
                authorization: None,
            };
            store.create_temporary_credential(&temp, NOW).await.unwrap();
            let key = NonceKey { client_id: "c".into(), token: None, timestamp: NOW, nonce: "n".into() };
            store.insert_nonce(&NonceToRecord { key: key.clone(), expires_at: NOW + 60 }, NOW).await.unwrap();

            let (durable, ephemeral) = (store.durable(), store.ephemeral());
            assert!(durable.get_client("c").await.unwrap().is_some());
            assert!(durable.get_token_credential("a").await.unwrap().is_some());
            assert!(durable.get_temporary_credential("t", NOW).await.unwrap().is_none());
            assert!(ephemeral.get_temporary_credential("t", NOW).await.unwrap().is_some());
            assert!(ephemeral.get_client("c").await.unwrap().is_none());
            assert!(ephemeral.get_token_credential("a").await.unwrap().is_none());
            let again = NonceToRecord { key, expires_at: NOW + 60 };
            assert!(
                durable.insert_nonce(&again, NOW).await.unwrap().fresh,
                "the nonce is not in the database"
            );
            assert!(!ephemeral.insert_nonce(&again, NOW).await.unwrap().fresh, "the nonce is in memory");
        }
    }

    mod sqlite_redis {
        use super::*;
        use keyward_stores::RedisStore;

        async fn make(test: &str) -> Option<Arc<SplitStore<SqliteStore, RedisStore>>> {
            let url = keyward_testkit::require(
                keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL"),
                &format!("keyward-stores split::sqlite_redis::{test}"),
                "Redis (KEYWARD_TEST_REDIS_URL)",
                super::super::HOW,
            )?;
            let prefix = format!("kwtest:{}:", super::super::unique(test));
            let ephemeral = RedisStore::connect(&url, prefix).await.expect("RedisStore");
            let durable = SqliteStore::in_memory().await.expect("in-memory SQLite");
            Some(Arc::new(SplitStore::new(durable, ephemeral)))
        }

        conformance_tests!(oauth1_store: make, purges = false);

        mod oauth2 {
            use super::{conformance_tests, make};
            conformance_tests!(oauth2_store: make, purges = false);
        }
    }
}

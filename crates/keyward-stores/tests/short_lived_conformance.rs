//! The conformance suites of the short-lived OAuth 2 stores, device codes
//! (`keyward_stores::conformance_device`) and pushed authorization requests
//! (`keyward_stores::conformance_par`), against every backend: memory, SQLite (memory and
//! file), PostgreSQL (`KEYWARD_TEST_DATABASE_URL`) and Redis (`KEYWARD_TEST_REDIS_URL`). The PostgreSQL and Redis tests skip visibly when
//! their server is not configured and fail under `CI=true`.

use keyward_stores::{device_conformance_tests, par_conformance_tests};

const HOW: &str = "run `source tests/peers/servers.sh start` or `bash .ci/run`";

/// A name unique to this test run and test, for schemas, key prefixes and files.
fn unique(test: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{test}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

mod memory {
    use super::{device_conformance_tests, par_conformance_tests};
    use keyward_stores::MemoryStore;
    use std::sync::Arc;

    async fn make(_test: &str) -> Option<Arc<MemoryStore>> {
        Some(Arc::new(MemoryStore::new()))
    }

    device_conformance_tests!(make, purges = true);
    par_conformance_tests!(make, purges = true);
}

mod sqlite_memory {
    use super::{device_conformance_tests, par_conformance_tests};
    use keyward_stores::SqliteStore;
    use std::sync::Arc;

    async fn make(_test: &str) -> Option<Arc<SqliteStore>> {
        Some(Arc::new(SqliteStore::in_memory().await.expect("in-memory SQLite")))
    }

    device_conformance_tests!(make, purges = true);
    par_conformance_tests!(make, purges = true);

    #[tokio::test]
    async fn an_unknown_status_is_corrupt() {
        use keyward::oauth2::provider::device_store::DeviceCodeStore;
        use keyward_stores::store::StoreError;
        let store = SqliteStore::in_memory().await.unwrap();
        sqlx::query(
            "INSERT INTO keyward_oauth2_device_codes (device_code_hash, user_code_hash, client_id, scopes, \
             interval_secs, issued_at, expires_at, status) VALUES ('d', 'u', 'c', '[]', 5, 0, 100, 'lost')",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let err = store.get_device_code_by_user_code("u", 0).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        let err = store.poll_device_code("d", "c", 0).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }
}

mod sqlite_file {
    use super::{device_conformance_tests, par_conformance_tests};
    use keyward_stores::SqliteStore;
    use std::sync::Arc;

    async fn make(test: &str) -> Option<Arc<SqliteStore>> {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("short_lived_{}.db", super::unique(test)));
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display())).await.expect("SQLite file");
        Some(Arc::new(store))
    }

    device_conformance_tests!(make, purges = true);
    par_conformance_tests!(make, purges = true);
}

mod postgres {
    use super::{device_conformance_tests, par_conformance_tests};
    use keyward_stores::PostgresStore;
    use sqlx::Connection;
    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use std::str::FromStr;
    use std::sync::Arc;

    async fn make(test: &str) -> Option<Arc<PostgresStore>> {
        let url = keyward_testkit::require(
            keyward_testkit::server_url("KEYWARD_TEST_DATABASE_URL"),
            &format!("keyward-stores short-lived postgres::{test}"),
            "PostgreSQL (KEYWARD_TEST_DATABASE_URL)",
            super::HOW,
        )?;
        // Each test in a schema of its own (identifiers of at most 63 bytes).
        let mut schema = format!("kwd_{}", super::unique(test));
        schema.truncate(63);
        let mut admin = PgConnection::connect(&url).await.expect("connect to PostgreSQL");
        sqlx::raw_sql(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.ok();
        let options = PgConnectOptions::from_str(&url)
            .expect("database URL")
            .options([("search_path", schema.as_str())]);
        Some(Arc::new(PostgresStore::connect_with(options).await.expect("PostgresStore")))
    }

    device_conformance_tests!(make, purges = true);
    par_conformance_tests!(make, purges = true);
}

mod redis {
    use super::{device_conformance_tests, par_conformance_tests};
    use keyward_stores::RedisStore;
    use std::sync::Arc;

    async fn make(test: &str) -> Option<Arc<RedisStore>> {
        let url = keyward_testkit::require(
            keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL"),
            &format!("keyward-stores short-lived redis::{test}"),
            "Redis (KEYWARD_TEST_REDIS_URL)",
            super::HOW,
        )?;
        let prefix = format!("kwtest:{}:", super::unique(test));
        Some(Arc::new(RedisStore::connect(&url, prefix).await.expect("RedisStore")))
    }

    // Redis expires records itself (after a grace, so that late polls hear `expired_token`).
    device_conformance_tests!(make, purges = false);
    par_conformance_tests!(make, purges = false);
}

//! The signing-key stores (`KeyStore`): memory, SQLite, PostgreSQL
//! (`KEYWARD_TEST_DATABASE_URL`) and Redis (`KEYWARD_TEST_REDIS_URL`; both skip visibly
//! without their server). Saves are compare-and-set on the version: of racing writers one
//! wins, and instances sharing a store rotate their keys once.

use std::sync::Arc;

use keyward::common::secret::SecretString;
use keyward::jose::SigningAlg;
use keyward::jose::rotation::{KeyManager, KeyStore, RotationPolicy, Tick};
use keyward_stores::{MemoryKeyStore, PostgresKeyStore, RedisKeyStore, SqliteKeyStore};

const HOW: &str = "run `source tests/peers/servers.sh && keyward_servers_start` or `bash .ci/run`";
const T0: i64 = 1_800_000_000;

fn unique(test: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{test}-{}-{nanos}", std::process::id())
}

async fn compare_and_set(store: Arc<dyn KeyStore>, name: &str) {
    let doc = |s: &str| SecretString::new(s);
    assert!(store.load_keys(name).await.unwrap().is_none());
    assert!(store.save_keys(name, None, &doc("one")).await.unwrap());
    assert!(!store.save_keys(name, None, &doc("again")).await.unwrap(), "already there");
    let stored = store.load_keys(name).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.document.secret()), (1, "one"));
    assert!(!store.save_keys(name, Some(0), &doc("stale")).await.unwrap());
    assert!(!store.save_keys(name, Some(2), &doc("ahead")).await.unwrap());
    assert!(store.save_keys(name, Some(1), &doc("two")).await.unwrap());
    let stored = store.load_keys(name).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.document.secret()), (2, "two"));

    // Racing writers from version 2: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let name = name.to_owned();
        tasks.push(tokio::spawn(async move {
            store.save_keys(&name, Some(2), &SecretString::new(format!("w{i}"))).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(store.load_keys(name).await.unwrap().unwrap().version, 3);
}

async fn instances_rotate_once(store: Arc<dyn KeyStore>, name: &str) {
    let policy = RotationPolicy { alg: SigningAlg::EdDSA, rotation_period: 100, max_token_lifetime: 60 };
    let (a, b) = tokio::join!(
        KeyManager::start(store.clone(), name, policy, T0),
        KeyManager::start(store.clone(), name, policy, T0)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let kid = |m: &KeyManager| m.keys().snapshot().key_set().current().kid().to_owned();
    assert_eq!(kid(&a), kid(&b));
    let (ta, tb) = tokio::join!(a.tick(T0 + 100), b.tick(T0 + 100));
    let mut outcomes = [ta.unwrap(), tb.unwrap()];
    outcomes.sort_by_key(|t| *t == Tick::Rotated);
    assert_eq!(outcomes, [Tick::Adopted, Tick::Rotated]);
    assert_eq!(kid(&a), kid(&b));
    // A restarted instance loads the rotated set.
    let c = KeyManager::start(store, name, policy, T0 + 101).await.unwrap();
    assert_eq!(kid(&c), kid(&a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    compare_and_set(store.clone(), "cas").await;
    instances_rotate_once(store, "rotate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let pool =
        sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
    let store = SqliteKeyStore::new(pool);
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn KeyStore> = Arc::new(store);
    compare_and_set(store.clone(), "cas").await;
    instances_rotate_once(store, "rotate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let url = keyward_testkit::require_or_skip!(
        keyward_testkit::server_url("KEYWARD_TEST_DATABASE_URL"),
        "PostgreSQL (KEYWARD_TEST_DATABASE_URL)",
        HOW
    );
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&url).await.unwrap();
    let store = PostgresKeyStore::new(pool);
    store.migrate().await.unwrap();
    let store: Arc<dyn KeyStore> = Arc::new(store);
    compare_and_set(store.clone(), &unique("cas")).await;
    instances_rotate_once(store, &unique("rotate")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis() {
    let url = keyward_testkit::require_or_skip!(
        keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL"),
        "Redis (KEYWARD_TEST_REDIS_URL)",
        HOW
    );
    let store: Arc<dyn KeyStore> =
        Arc::new(RedisKeyStore::connect(&url, format!("kwtest:{}:", unique("keys"))).await.unwrap());
    compare_and_set(store.clone(), "cas").await;
    instances_rotate_once(store, "rotate").await;
}

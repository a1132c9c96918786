//! [`RedisKeyStore`]: signing keys in Redis, one hash per key-set name (`version`,
//! `document`), saved by compare-and-set in a Lua script (atomic on the server).

use keyward::common::secret::SecretString;
use keyward::common::store::{BoxFuture, StoreError};
use keyward::jose::rotation::{KeyStore, StoredKeys};
use redis::aio::ConnectionManager;

/// Writes `version`/`document` only when the stored version is `ARGV[1]` (empty: none).
const SAVE: &str = r"
local v = redis.call('HGET', KEYS[1], 'version')
if (v == false and ARGV[1] == '') or v == ARGV[1] then
  redis.call('HSET', KEYS[1], 'version', ARGV[2], 'document', ARGV[3])
  return 1
end
return 0";

fn map_err(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        StoreError::unavailable(e)
    } else {
        StoreError::backend(e)
    }
}

/// A [`KeyStore`] in Redis: the key set `name` is the hash `{prefix}signing-keys:{name}`,
/// never expiring. The document holds private keys: restrict who reads the database.
#[derive(Clone)]
pub struct RedisKeyStore {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKeyStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisKeyStore {
    /// A key store over `conn`, its keys under `prefix` (e.g. `keyward:`).
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self { conn, prefix: prefix.into() }
    }

    /// Connects to `url` (`redis://host:port/db`).
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(map_err)?;
        let conn = client.get_connection_manager().await.map_err(map_err)?;
        Ok(Self::new(conn, prefix))
    }

    fn key(&self, name: &str) -> String {
        format!("{}signing-keys:{name}", self.prefix)
    }
}

impl KeyStore for RedisKeyStore {
    fn load_keys<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<StoredKeys>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let (version, document): (Option<String>, Option<String>) = redis::cmd("HMGET")
                .arg(self.key(name))
                .arg("version")
                .arg("document")
                .query_async(&mut conn)
                .await
                .map_err(map_err)?;
            match (version, document) {
                (Some(v), Some(d)) => {
                    let version = v
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("key-set version {v:?} is not a number")))?;
                    Ok(Some(StoredKeys { version, document: SecretString::new(d) }))
                }
                (None, None) => Ok(None),
                _ => Err(StoreError::Corrupt("a key set with half its fields".into())),
            }
        })
    }

    fn save_keys<'a>(
        &'a self,
        name: &'a str,
        expected: Option<u64>,
        document: &'a SecretString,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let expected_arg = expected.map(|v| v.to_string()).unwrap_or_default();
            let next = expected.map_or(1, |v| v + 1).to_string();
            let saved: i64 = redis::Script::new(SAVE)
                .key(self.key(name))
                .arg(expected_arg)
                .arg(next)
                .arg(document.secret())
                .invoke_async(&mut conn)
                .await
                .map_err(map_err)?;
            Ok(saved == 1)
        })
    }
}

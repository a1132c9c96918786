//! [`MemoryKeyStore`]: the signing-key store of one process.

use std::collections::HashMap;
use std::sync::Mutex;

use keyward::common::secret::SecretString;
use keyward::common::store::{BoxFuture, StoreError};
use keyward::jose::rotation::{KeyStore, StoredKeys};

/// A [`KeyStore`] in memory: the key sets of one process, lost on exit (a restart generates
/// new keys, and tokens signed before it no longer verify). For several instances, use a
/// shared store.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    sets: Mutex<HashMap<String, StoredKeys>>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KeyStore for MemoryKeyStore {
    fn load_keys<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<StoredKeys>, StoreError>> {
        let found = self.sets.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn save_keys<'a>(
        &'a self,
        name: &'a str,
        expected: Option<u64>,
        document: &'a SecretString,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        let stored = sets.get(name).map(|s| s.version);
        let saved = stored == expected;
        if saved {
            let version = expected.map_or(1, |v| v + 1);
            sets.insert(name.to_owned(), StoredKeys { version, document: document.clone() });
        }
        drop(sets);
        Box::pin(async move { Ok(saved) })
    }
}

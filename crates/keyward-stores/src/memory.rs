//! The in-memory store: for one process, tests, and the embedded demo.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use keyward::oauth1::rfc5849::store::{
    Authorization, AuthorizeOutcome, BoxFuture, Client, ClientStore, NonceKey, NonceStore, StoreError,
    TemporaryCredential, TemporaryCredentialStore, TokenCredential, TokenCredentialStore,
};

use crate::{PURGE_EVERY, StoreAdmin};

/// Every store in one process's memory, behind short-held locks (no lock is held across an
/// `await`). Atomicity comes from the locks: each operation is one critical section.
///
/// Expired nonces and temporary credentials are purged every [`PURGE_EVERY`] nonce
/// insertions, and by [`StoreAdmin::purge_expired`].
#[derive(Default)]
pub struct MemoryStore {
    clients: Mutex<HashMap<String, Client>>,
    temporary: Mutex<HashMap<String, TemporaryCredential>>,
    tokens: Mutex<HashMap<String, TokenCredential>>,
    nonces: Mutex<HashMap<NonceKey, i64>>,
    inserts: AtomicU64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("clients", &lock(&self.clients).len())
            .field("temporary_credentials", &lock(&self.temporary).len())
            .field("token_credentials", &lock(&self.tokens).len())
            .field("nonces", &lock(&self.nonces).len())
            .finish()
    }
}

/// Locks, recovering from poisoning: every critical section leaves the maps consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn purge(&self, now: i64) -> u64 {
        let mut removed = 0;
        {
            let mut nonces = lock(&self.nonces);
            let before = nonces.len();
            nonces.retain(|_, expires_at| *expires_at > now);
            removed += before - nonces.len();
        }
        {
            let mut temporary = lock(&self.temporary);
            let before = temporary.len();
            temporary.retain(|_, c| !c.is_expired(now));
            removed += before - temporary.len();
        }
        removed as u64
    }
}

impl ClientStore for MemoryStore {
    fn get_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<Option<Client>, StoreError>> {
        let found = lock(&self.clients).get(client_id).cloned();
        Box::pin(async move { Ok(found) })
    }
}

impl TemporaryCredentialStore for MemoryStore {
    fn create_temporary_credential<'a>(
        &'a self,
        credential: &'a TemporaryCredential,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = match lock(&self.temporary).entry(credential.token.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => Err(StoreError::Duplicate),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(credential.clone());
                Ok(())
            }
        };
        Box::pin(async move { result })
    }

    fn get_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
        let found = lock(&self.temporary).get(token).filter(|c| !c.is_expired(now)).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn authorize_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        authorization: &'a Authorization,
        now: i64,
    ) -> BoxFuture<'a, Result<AuthorizeOutcome, StoreError>> {
        let outcome = match lock(&self.temporary).get_mut(token) {
            Some(c) if !c.is_expired(now) => {
                if c.authorization.is_some() {
                    AuthorizeOutcome::AlreadyAuthorized
                } else {
                    c.authorization = Some(authorization.clone());
                    AuthorizeOutcome::Authorized
                }
            }
            _ => AuthorizeOutcome::NotFound,
        };
        Box::pin(async move { Ok(outcome) })
    }

    fn take_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
        let taken = lock(&self.temporary).remove(token).filter(|c| !c.is_expired(now));
        Box::pin(async move { Ok(taken) })
    }
}

impl TokenCredentialStore for MemoryStore {
    fn create_token_credential<'a>(
        &'a self,
        credential: &'a TokenCredential,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = match lock(&self.tokens).entry(credential.token.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => Err(StoreError::Duplicate),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(credential.clone());
                Ok(())
            }
        };
        Box::pin(async move { result })
    }

    fn get_token_credential<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<TokenCredential>, StoreError>> {
        let found = lock(&self.tokens).get(token).cloned();
        Box::pin(async move { Ok(found) })
    }
}

impl NonceStore for MemoryStore {
    fn insert_nonce<'a>(
        &'a self,
        key: &'a NonceKey,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        if self.inserts.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            self.purge(now);
        }
        let fresh = {
            let mut nonces = lock(&self.nonces);
            match nonces.get_mut(key) {
                Some(existing) if *existing > now => false,
                Some(existing) => {
                    *existing = expires_at;
                    true
                }
                None => {
                    nonces.insert(key.clone(), expires_at);
                    true
                }
            }
        };
        Box::pin(async move { Ok(fresh) })
    }
}

impl StoreAdmin for MemoryStore {
    fn put_client<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, Result<(), StoreError>> {
        lock(&self.clients).insert(client.client_id.clone(), client.clone());
        Box::pin(async move { Ok(()) })
    }

    fn delete_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let existed = lock(&self.clients).remove(client_id).is_some();
        Box::pin(async move { Ok(existed) })
    }

    fn purge_expired(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        let removed = self.purge(now);
        Box::pin(async move { Ok(removed) })
    }
}

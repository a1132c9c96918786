//! The in-memory store: for one process, tests, and the embedded demo.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::{Mutex, MutexGuard};

use keyward::common::replay::FirstCall;
use keyward::common::store::OnceStore;
use keyward::oauth1::rfc5849::store::{
    Authorization, AuthorizeOutcome, BoxFuture, Client, ClientStore, NonceKey, NonceStore, NonceToRecord,
    OAuth1Store, Recorded, SignedLookup, StoreError, TemporaryCredential, TemporaryCredentialStore,
    TokenCredentialRecord, TokenCredentialStore,
};

use crate::StoreAdmin;

/// Every store in one process's memory, behind short-held locks (no lock is held across an
/// `await`). Atomicity comes from the locks: each operation is one critical section.
///
/// Each client's pending temporary credentials (unauthorized) are indexed by client, so
/// that [`TemporaryCredentialStore::create_temporary_credential_capped`] counts them without
/// a scan of the others.
///
/// Expired nonces and temporary credentials are swept when their map has doubled since the
/// last sweep (so a sweep costs O(1) per insertion, amortised, however many live entries
/// there are), and by [`StoreAdmin::purge_expired`].
///
/// A nonce is kept as a 128-bit digest of its [`NonceKey`] (two domain-separated
/// SipHash-1-3 hashes under a key drawn for this store), not as the key's strings: 32 bytes
/// per live nonce and no allocation per request. Only this process knows the hash key, so
/// nobody can aim two nonces at one digest; by chance, two of a billion live nonces share
/// one with a probability of about 10⁻²¹, and the cost would be a valid request refused as
/// a replay, never a replay accepted.
#[derive(Default)]
pub struct MemoryStore {
    clients: Mutex<HashMap<String, Client>>,
    temporary: Mutex<Temporary>,
    tokens: Mutex<HashMap<String, TokenCredentialRecord>>,
    nonces: Mutex<Sweeping<u128, i64, BuildHasherDefault<DigestHasher>>>,
    once: Mutex<Sweeping<u128, i64, BuildHasherDefault<DigestHasher>>>,
    digest: RandomState,
    epoch: FirstCall,
    pub(crate) oauth2: crate::memory_oauth2::OAuth2Memory,
    pub(crate) device: crate::memory_device::DeviceMemory,
    pub(crate) par: crate::memory_par::ParMemory,
}

/// Temporary credentials, and for each client the tokens and expiries of its pending
/// (unauthorized) ones: one critical section checks a client's count and inserts.
#[derive(Default)]
struct Temporary {
    creds: Sweeping<String, TemporaryCredential>,
    pending: HashMap<String, HashMap<String, i64>>,
}

impl Temporary {
    /// Removes `token` from its client's pending set (authorized or gone).
    fn unpend(&mut self, client_id: &str, token: &str) {
        if let Some(tokens) = self.pending.get_mut(client_id) {
            tokens.remove(token);
            if tokens.is_empty() {
                self.pending.remove(client_id);
            }
        }
    }

    /// Drops expired entries from the pending sets.
    fn sweep_pending(&mut self, now: i64) {
        self.pending.retain(|_, tokens| {
            tokens.retain(|_, expires_at| *expires_at > now);
            !tokens.is_empty()
        });
    }

    /// Removes expired credentials when the map has grown enough since the last sweep.
    fn maybe_sweep(&mut self, now: i64) {
        if self.creds.map.len() >= self.creds.sweep_at {
            self.sweep(now);
        }
    }

    fn sweep(&mut self, now: i64) -> usize {
        let removed = self.creds.sweep(|c| !c.is_expired(now));
        self.sweep_pending(now);
        removed
    }

    fn create(
        &mut self,
        credential: &TemporaryCredential,
        now: i64,
        max_pending: usize,
    ) -> Result<(), StoreError> {
        self.maybe_sweep(now);
        if self.creds.map.contains_key(&credential.token) {
            return Err(StoreError::Duplicate);
        }
        if credential.authorization.is_none() {
            let tokens = self.pending.entry(credential.client_id.clone()).or_default();
            if tokens.len() >= max_pending {
                tokens.retain(|_, expires_at| *expires_at > now);
                if tokens.len() >= max_pending {
                    return Err(StoreError::LimitReached);
                }
            }
            tokens.insert(credential.token.clone(), credential.expires_at);
        }
        self.creds.map.insert(credential.token.clone(), credential.clone());
        Ok(())
    }
}

/// The smallest map size at which a sweep runs.
const MIN_SWEEP: usize = 1024;

/// A map of expiring entries, swept when it has grown to twice its size after the last sweep.
struct Sweeping<K, V, S = RandomState> {
    map: HashMap<K, V, S>,
    sweep_at: usize,
}

impl<K, V, S: Default> Default for Sweeping<K, V, S> {
    fn default() -> Self {
        Self { map: HashMap::default(), sweep_at: MIN_SWEEP }
    }
}

/// Hashes a nonce digest, already a keyed hash, by taking 64 of its bits.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; anything else still hashes, byte by byte.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, digest: u128) {
        self.0 = digest as u64;
    }
}

impl<K: Eq + Hash, V, S: BuildHasher> Sweeping<K, V, S> {
    /// Removes the entries `live` rejects; returns how many.
    fn sweep(&mut self, live: impl Fn(&V) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|_, v| live(v));
        self.sweep_at = (self.map.len() * 2).max(MIN_SWEEP);
        before - self.map.len()
    }

    /// Sweeps if the map has reached its threshold.
    fn maybe_sweep(&mut self, live: impl Fn(&V) -> bool) {
        if self.map.len() >= self.sweep_at {
            self.sweep(live);
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("clients", &lock(&self.clients).len())
            .field("temporary_credentials", &lock(&self.temporary).creds.map.len())
            .field("token_credentials", &lock(&self.tokens).len())
            .field("nonces", &lock(&self.nonces).map.len())
            .field("once", &lock(&self.once).map.len())
            .field("oauth2_clients_codes_tokens_grants", &self.oauth2.counts())
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

    /// The 128-bit keyed digest a nonce is kept as.
    fn nonce_digest(&self, key: &NonceKey) -> u128 {
        // One key, two domain-separated inputs: two independent 64-bit halves (two
        // `RandomState`s made one after the other would have related keys).
        (u128::from(self.digest.hash_one((0u8, key))) << 64) | u128::from(self.digest.hash_one((1u8, key)))
    }

    /// The 128-bit keyed digest a single-use value of [`OnceStore`] is kept as (domain-separated
    /// from the nonces' digests).
    fn once_digest(&self, namespace: &str, key: &str) -> u128 {
        (u128::from(self.digest.hash_one((2u8, namespace, key))) << 64)
            | u128::from(self.digest.hash_one((3u8, namespace, key)))
    }

    fn purge(&self, now: i64) -> u64 {
        self.epoch.observe(now);
        let nonces = lock(&self.nonces).sweep(|expires_at| *expires_at > now)
            + lock(&self.once).sweep(|expires_at| *expires_at > now);
        let temporary = lock(&self.temporary).sweep(now);
        (nonces + temporary) as u64 + self.oauth2.purge(now) + self.device.purge(now) + self.par.purge(now)
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
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.epoch.observe(now);
        let result = lock(&self.temporary).create(credential, now, usize::MAX);
        Box::pin(async move { result })
    }

    fn create_temporary_credential_capped<'a>(
        &'a self,
        credential: &'a TemporaryCredential,
        now: i64,
        max_pending: usize,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.epoch.observe(now);
        let result = lock(&self.temporary).create(credential, now, max_pending);
        Box::pin(async move { result })
    }

    fn get_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
        self.epoch.observe(now);
        let found = lock(&self.temporary).creds.map.get(token).filter(|c| !c.is_expired(now)).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn authorize_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        authorization: &'a Authorization,
        now: i64,
    ) -> BoxFuture<'a, Result<AuthorizeOutcome, StoreError>> {
        self.epoch.observe(now);
        let mut temporary = lock(&self.temporary);
        let outcome = match temporary.creds.map.get_mut(token) {
            Some(c) if !c.is_expired(now) => {
                if c.authorization.is_some() {
                    AuthorizeOutcome::AlreadyAuthorized
                } else {
                    c.authorization = Some(authorization.clone());
                    let client_id = c.client_id.clone();
                    temporary.unpend(&client_id, token);
                    AuthorizeOutcome::Authorized
                }
            }
            _ => AuthorizeOutcome::NotFound,
        };
        drop(temporary);
        Box::pin(async move { Ok(outcome) })
    }

    fn take_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
        self.epoch.observe(now);
        let taken = {
            let mut temporary = lock(&self.temporary);
            let taken = temporary.creds.map.remove(token);
            if let Some(c) = &taken {
                temporary.unpend(&c.client_id, token);
            }
            taken.filter(|c| !c.is_expired(now))
        };
        Box::pin(async move { Ok(taken) })
    }
}

impl TokenCredentialStore for MemoryStore {
    fn create_token_credential<'a>(
        &'a self,
        credential: &'a TokenCredentialRecord,
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
    ) -> BoxFuture<'a, Result<Option<TokenCredentialRecord>, StoreError>> {
        let found = lock(&self.tokens).get(token).cloned();
        Box::pin(async move { Ok(found) })
    }

    /// A scan of every token credential: the memory store serves one process, and a
    /// user's page of grants is rare next to the requests that read one token.
    fn token_credentials_of_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TokenCredentialRecord>, StoreError>> {
        let mut found: Vec<_> =
            lock(&self.tokens).values().filter(|c| c.user_id == user_id).cloned().collect();
        found.sort_by(|a, b| (a.created_at, &a.token).cmp(&(b.created_at, &b.token)));
        Box::pin(async move { Ok(found) })
    }

    fn revoke_token_credential<'a>(
        &'a self,
        user_id: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut tokens = lock(&self.tokens);
        let revoked =
            tokens.get(token).is_some_and(|c| c.user_id == user_id) && tokens.remove(token).is_some();
        drop(tokens);
        Box::pin(async move { Ok(revoked) })
    }
}

impl OAuth1Store for MemoryStore {
    /// The client and the token credential, each under its lock in turn, in one future;
    /// the nonce is recorded after the signature, as by default.
    fn lookup_signed<'a>(
        &'a self,
        client_id: &'a str,
        token: Option<&'a str>,
        _nonce: Option<&'a NonceToRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<SignedLookup, StoreError>> {
        self.epoch.observe(now);
        let client = lock(&self.clients).get(client_id).cloned();
        let token = token.and_then(|token| lock(&self.tokens).get(token).cloned());
        Box::pin(std::future::ready(Ok(SignedLookup::new(client, token))))
    }
}

impl NonceStore for MemoryStore {
    fn insert_nonce<'a>(
        &'a self,
        nonce: &'a NonceToRecord,
        now: i64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        let epoch = self.epoch.observe(now);
        let NonceToRecord { key, expires_at } = nonce;
        let expires_at = *expires_at;
        let digest = self.nonce_digest(key);
        let fresh = {
            let mut nonces = lock(&self.nonces);
            nonces.maybe_sweep(|e| *e > now);
            record_if_absent(&mut nonces.map, digest, expires_at, now)
        };
        Box::pin(std::future::ready(Ok(Recorded { fresh, epoch })))
    }

    /// Forgets the nonce if it is still the one recorded (same expiry).
    fn release_nonce<'a>(&'a self, nonce: &'a NonceToRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        let digest = self.nonce_digest(&nonce.key);
        let mut nonces = lock(&self.nonces);
        if nonces.map.get(&digest) == Some(&nonce.expires_at) {
            nonces.map.remove(&digest);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Single-use values other than nonces, kept like the nonces: a keyed 128-bit digest of
/// `(namespace, key)` and its expiry, swept as the map grows; the epoch is the store's.
impl OnceStore for MemoryStore {
    fn record_once<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        let epoch = self.epoch.observe(now);
        let digest = self.once_digest(namespace, key);
        let fresh = {
            let mut once = lock(&self.once);
            once.maybe_sweep(|e| *e > now);
            record_if_absent(&mut once.map, digest, expires_at, now)
        };
        Box::pin(std::future::ready(Ok(Recorded { fresh, epoch })))
    }
}

/// Inserts `digest` until `expires_at` unless it is there and still live at `now`; whether it
/// was fresh. One hash and one probe.
fn record_if_absent<S: BuildHasher>(
    map: &mut HashMap<u128, i64, S>,
    digest: u128,
    expires_at: i64,
    now: i64,
) -> bool {
    match map.entry(digest) {
        std::collections::hash_map::Entry::Occupied(e) if *e.get() > now => false,
        std::collections::hash_map::Entry::Occupied(mut e) => {
            e.insert(expires_at);
            true
        }
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(expires_at);
            true
        }
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

/// Always answers: the records are in this process.
impl crate::Ping for MemoryStore {
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward::common::replay::ReplayEpoch;

    fn key(i: usize, expires_at: i64) -> NonceToRecord {
        NonceToRecord {
            key: NonceKey { client_id: "c".into(), token: None, timestamp: 0, nonce: i.to_string() },
            expires_at,
        }
    }

    #[tokio::test]
    async fn expired_entries_are_swept_as_the_maps_grow() {
        let store = MemoryStore::new();
        for i in 0..MIN_SWEEP {
            assert!(store.insert_nonce(&key(i, 10), 0).await.unwrap().fresh);
        }
        assert_eq!(lock(&store.nonces).map.len(), MIN_SWEEP);
        // At time 20 all have expired: the next insertion sweeps them before inserting.
        assert!(store.insert_nonce(&key(MIN_SWEEP, 100), 20).await.unwrap().fresh);
        assert_eq!(lock(&store.nonces).map.len(), 1);

        // Live entries survive sweeps, and the threshold follows the live size.
        for i in 0..2 * MIN_SWEEP {
            store.insert_nonce(&key(10_000 + i, 100), 20).await.unwrap();
        }
        assert_eq!(lock(&store.nonces).map.len(), 2 * MIN_SWEEP + 1);
        assert!(lock(&store.nonces).sweep_at > 2 * MIN_SWEEP);
        assert!(
            !store.insert_nonce(&key(10_000, 100), 20).await.unwrap().fresh,
            "a live nonce stays a replay"
        );
    }

    #[tokio::test]
    async fn expired_temporary_credentials_are_swept_on_creation() {
        let store = MemoryStore::new();
        let temp = |i: usize, expires_at: i64| TemporaryCredential {
            token: format!("t{i}"),
            secret: keyward::common::secret::SecretString::new("s"),
            client_id: "c".into(),
            callback_uri: "oob".into(),
            expires_at,
            authorization: None,
        };
        for i in 0..MIN_SWEEP {
            store.create_temporary_credential(&temp(i, 10), 0).await.unwrap();
        }
        assert_eq!(lock(&store.temporary).creds.map.len(), MIN_SWEEP);
        // At time 20 all have expired: the next creation sweeps them, by the caller's `now`.
        store.create_temporary_credential(&temp(MIN_SWEEP, 100), 20).await.unwrap();
        assert_eq!(lock(&store.temporary).creds.map.len(), 1);
        // The pending index was swept with them.
        assert_eq!(lock(&store.temporary).pending["c"].len(), 1);
    }

    #[tokio::test]
    async fn single_use_values_are_recorded_once_per_namespace_until_they_expire() {
        let store = MemoryStore::new();
        let first = store.record_once("client-assertion", "c/j1", 100, 50).await.unwrap();
        assert!(first.fresh);
        assert_eq!(first.epoch, ReplayEpoch::Since(50), "the epoch is the first `now` seen");
        assert!(!store.record_once("client-assertion", "c/j1", 100, 60).await.unwrap().fresh);
        assert!(store.record_once("dpop", "c/j1", 100, 60).await.unwrap().fresh, "namespaces are apart");
        assert!(store.record_once("client-assertion", "c/j2", 100, 60).await.unwrap().fresh);
        // Once expired, the value may be recorded again (it can no longer be accepted anyway).
        assert!(store.record_once("client-assertion", "c/j1", 200, 100).await.unwrap().fresh);
        assert_eq!(store.purge_expired(300).await.unwrap(), 3);
        assert_eq!(lock(&store.once).map.len(), 0);
    }
}

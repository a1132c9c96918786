//! The OAuth 2 authorization server's stores in memory: the part of [`MemoryStore`] that
//! implements [`keyward::oauth2::provider::store`].

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

use keyward::oauth2::provider::store::{
    AuthorizationCodeStore, BoxFuture, CodeRecord, ConsentGrant, ConsentStore, OAuth2ClientStore,
    OAuth2Store, RegisteredClient, RotateRefresh, StoreError, TakeCode, TokenKind, TokenRecord, TokenStore,
};

use crate::MemoryStore;

/// The OAuth 2 records, each map behind its own short-held lock (one critical section per
/// operation, none held across an `await`).
#[derive(Default)]
pub(crate) struct OAuth2Memory {
    clients: Mutex<HashMap<String, RegisteredClient>>,
    codes: Mutex<Grown<Code>>,
    tokens: Mutex<Tokens>,
    grants: Mutex<HashMap<(String, String), ConsentGrant>>,
}

impl OAuth2Memory {
    /// The record counts, for `Debug`.
    pub(crate) fn counts(&self) -> (usize, usize, usize, usize) {
        (
            lock(&self.clients).len(),
            lock(&self.codes).map.len(),
            lock(&self.tokens).by_hash.map.len(),
            lock(&self.grants).len(),
        )
    }

    /// Removes every expired code, token and grant; how many.
    pub(crate) fn purge(&self, now: i64) -> u64 {
        let codes = lock(&self.codes).sweep(|c| c.record.expires_at > now);
        let tokens = lock(&self.tokens).sweep(now);
        let grants = {
            let mut g = lock(&self.grants);
            let before = g.len();
            g.retain(|_, grant| grant.is_live(now));
            before - g.len()
        };
        (codes + tokens + grants) as u64
    }
}

/// A code and whether it was taken.
struct Code {
    record: CodeRecord,
    used: bool,
}

/// The hasher of the maps keyed by values the server made at random: code and token hashes
/// (the hex SHA-256 of a random value) and family ids (random). A multiply-and-rotate over
/// 8-byte words and a final mix: a few cycles where SipHash spends a few hundred on a
/// 64-character key, which the token endpoint paid on every insertion and again for every key
/// each time a map grew. It is not keyed; that is safe here because every stored key is
/// random and unknown to clients, so no one can make stored keys collide, and a looked-up key
/// of the caller's choosing only picks where to look.
#[derive(Default)]
struct RandomKeyHasher(u64);

impl Hasher for RandomKeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0 ^ word).wrapping_mul(K).rotate_left(29);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(K).rotate_left(29);
        }
    }

    fn finish(&self) -> u64 {
        // A final avalanche (the 64-bit finaliser of MurmurHash3), so that the low bits and
        // the top seven bits the table uses both depend on every input word.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// A map keyed by a random value (see [`RandomKeyHasher`]).
type RandomKeyMap<V> = HashMap<String, V, BuildHasherDefault<RandomKeyHasher>>;

/// A map swept of expired entries whenever it has doubled since the last sweep, so that
/// records nobody purges cannot pile up (O(1) per insertion, amortised).
struct Grown<V> {
    map: RandomKeyMap<V>,
    sweep_at: usize,
}

impl<V> Default for Grown<V> {
    fn default() -> Self {
        Self { map: RandomKeyMap::default(), sweep_at: 1024 }
    }
}

impl<V> Grown<V> {
    /// Keeps the live entries; how many were removed.
    fn sweep(&mut self, live: impl Fn(&V) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|_, v| live(v));
        self.sweep_at = (self.map.len() * 2).max(1024);
        before - self.map.len()
    }

    /// Whether the map is due for a sweep.
    fn due(&self) -> bool {
        self.map.len() >= self.sweep_at
    }
}

/// Tokens by hash, and the hashes of each family (for [`TokenStore::revoke_family`]).
#[derive(Default)]
struct Tokens {
    by_hash: Grown<TokenRecord>,
    families: RandomKeyMap<Vec<String>>,
}

impl Tokens {
    fn sweep(&mut self, now: i64) -> usize {
        let removed = self.by_hash.sweep(|t| t.expires_at > now);
        if removed > 0 {
            let by_hash = &self.by_hash.map;
            self.families.retain(|_, hashes| {
                hashes.retain(|h| by_hash.contains_key(h));
                !hashes.is_empty()
            });
        }
        removed
    }

    fn insert(&mut self, records: &[&TokenRecord]) -> Result<(), StoreError> {
        if records.iter().any(|r| self.by_hash.map.contains_key(&r.token_hash))
            || (records.len() == 2 && records[0].token_hash == records[1].token_hash)
        {
            return Err(StoreError::Duplicate);
        }
        if self.by_hash.due() {
            let now = records.iter().map(|r| r.issued_at).max().unwrap_or(i64::MIN);
            self.sweep(now);
        }
        for r in records {
            self.by_hash.map.insert(r.token_hash.clone(), (*r).clone());
            self.families.entry(r.family_id.clone()).or_default().push(r.token_hash.clone());
        }
        Ok(())
    }
}

/// Locks, recovering from poisoning: every critical section leaves the maps consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl OAuth2ClientStore for MemoryStore {
    fn get_registered_client<'a>(
        &'a self,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<RegisteredClient>, StoreError>> {
        ready(Ok(lock(&self.oauth2.clients).get(client_id).cloned()))
    }

    fn create_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = match lock(&self.oauth2.clients).entry(client.client_id.clone()) {
            Entry::Occupied(_) => Err(StoreError::Duplicate),
            Entry::Vacant(v) => {
                v.insert(client.clone());
                Ok(())
            }
        };
        ready(result)
    }

    fn update_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let found = match lock(&self.oauth2.clients).get_mut(&client.client_id) {
            Some(c) => {
                *c = client.clone();
                true
            }
            None => false,
        };
        ready(Ok(found))
    }

    fn delete_registered_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        ready(Ok(lock(&self.oauth2.clients).remove(client_id).is_some()))
    }
}

impl AuthorizationCodeStore for MemoryStore {
    fn create_code<'a>(&'a self, code: &'a CodeRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut codes = lock(&self.oauth2.codes);
        if codes.due() {
            codes.sweep(|c| c.record.expires_at > code.issued_at);
        }
        let result = match codes.map.entry(code.code_hash.clone()) {
            Entry::Occupied(_) => Err(StoreError::Duplicate),
            Entry::Vacant(v) => {
                v.insert(Code { record: code.clone(), used: false });
                Ok(())
            }
        };
        ready(result)
    }

    fn take_code<'a>(&'a self, code_hash: &'a str, now: i64) -> BoxFuture<'a, Result<TakeCode, StoreError>> {
        let taken = match lock(&self.oauth2.codes).map.get_mut(code_hash) {
            Some(c) if c.record.expires_at <= now => TakeCode::Unknown,
            Some(c) if c.used => TakeCode::Used {
                family_id: c.record.family_id.clone(),
                client_id: c.record.client_id.clone(),
            },
            Some(c) => {
                c.used = true;
                TakeCode::Fresh(c.record.clone())
            }
            None => TakeCode::Unknown,
        };
        ready(Ok(taken))
    }

    fn purge_expired_codes(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        ready(Ok(lock(&self.oauth2.codes).sweep(|c| c.record.expires_at > now) as u64))
    }
}

impl TokenStore for MemoryStore {
    fn create_tokens<'a>(
        &'a self,
        access: &'a TokenRecord,
        refresh: Option<&'a TokenRecord>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut tokens = lock(&self.oauth2.tokens);
        let result = match refresh {
            Some(r) => tokens.insert(&[access, r]),
            None => tokens.insert(&[access]),
        };
        ready(result)
    }

    fn get_token<'a>(
        &'a self,
        token_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>> {
        let found =
            lock(&self.oauth2.tokens).by_hash.map.get(token_hash).filter(|t| t.is_active(now)).cloned();
        ready(Ok(found))
    }

    fn rotate_refresh<'a>(
        &'a self,
        old_hash: &'a str,
        new_access: &'a TokenRecord,
        new_refresh: Option<&'a TokenRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<RotateRefresh, StoreError>> {
        let mut tokens = lock(&self.oauth2.tokens);
        let old = match tokens.by_hash.map.get(old_hash) {
            Some(t) if t.kind == TokenKind::Refresh && t.expires_at > now => t.clone(),
            _ => return ready(Ok(RotateRefresh::Unknown)),
        };
        if old.revoked {
            return ready(Ok(RotateRefresh::Reused { family_id: old.family_id }));
        }
        let inserted = match new_refresh {
            Some(r) => tokens.insert(&[new_access, r]),
            None => tokens.insert(&[new_access]),
        };
        if let Err(e) = inserted {
            return ready(Err(e));
        }
        if new_refresh.is_some()
            && let Some(t) = tokens.by_hash.map.get_mut(old_hash)
        {
            t.revoked = true;
        }
        ready(Ok(RotateRefresh::Rotated(old)))
    }

    fn revoke_token<'a>(&'a self, token_hash: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let found = match lock(&self.oauth2.tokens).by_hash.map.get_mut(token_hash) {
            Some(t) if !t.revoked => {
                t.revoked = true;
                true
            }
            _ => false,
        };
        ready(Ok(found))
    }

    fn revoke_family<'a>(&'a self, family_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        let mut tokens = lock(&self.oauth2.tokens);
        let Tokens { by_hash, families } = &mut *tokens;
        let mut n = 0;
        for h in families.get(family_id).into_iter().flatten() {
            if let Some(t) = by_hash.map.get_mut(h)
                && !t.revoked
            {
                t.revoked = true;
                n += 1;
            }
        }
        ready(Ok(n))
    }

    fn revoke_subject_tokens<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let mut n = 0;
        for t in lock(&self.oauth2.tokens).by_hash.map.values_mut() {
            if !t.revoked && t.client_id == client_id && t.subject.as_deref() == Some(subject) {
                t.revoked = true;
                n += 1;
            }
        }
        ready(Ok(n))
    }

    fn revoke_client_tokens<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        let mut n = 0;
        for t in lock(&self.oauth2.tokens).by_hash.map.values_mut() {
            if !t.revoked && t.client_id == client_id {
                t.revoked = true;
                n += 1;
            }
        }
        ready(Ok(n))
    }

    fn purge_expired_tokens(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        ready(Ok(lock(&self.oauth2.tokens).sweep(now) as u64))
    }
}

impl ConsentStore for MemoryStore {
    fn get_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<ConsentGrant>, StoreError>> {
        let key = (subject.to_owned(), client_id.to_owned());
        ready(Ok(lock(&self.oauth2.grants).get(&key).filter(|g| g.is_live(now)).cloned()))
    }

    fn save_grant<'a>(&'a self, grant: &'a ConsentGrant, now: i64) -> BoxFuture<'a, Result<(), StoreError>> {
        let key = (grant.subject.clone(), grant.client_id.clone());
        let mut grants = lock(&self.oauth2.grants);
        match grants.get_mut(&key) {
            Some(g) if g.is_live(now) => {
                for s in &grant.scopes {
                    if !g.scopes.contains(s) {
                        g.scopes.push(s.clone());
                    }
                }
                for r in &grant.resources {
                    if !g.resources.contains(r) {
                        g.resources.push(r.clone());
                    }
                }
                g.granted_at = grant.granted_at;
                g.expires_at = grant.expires_at;
            }
            _ => {
                grants.insert(key, grant.clone());
            }
        }
        ready(Ok(()))
    }

    fn list_grants<'a>(
        &'a self,
        subject: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<ConsentGrant>, StoreError>> {
        let list = lock(&self.oauth2.grants)
            .values()
            .filter(|g| g.subject == subject && g.is_live(now))
            .cloned()
            .collect();
        ready(Ok(list))
    }

    fn revoke_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let key = (subject.to_owned(), client_id.to_owned());
        ready(Ok(lock(&self.oauth2.grants).remove(&key).is_some()))
    }

    fn purge_expired_grants(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        let mut grants = lock(&self.oauth2.grants);
        let before = grants.len();
        grants.retain(|_, g| g.is_live(now));
        ready(Ok((before - grants.len()) as u64))
    }
}

impl OAuth2Store for MemoryStore {}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(hash: &str, kind: TokenKind, family: &str, expires_at: i64) -> TokenRecord {
        TokenRecord {
            token_hash: hash.into(),
            kind,
            client_id: "c".into(),
            subject: Some("alice".into()),
            scopes: vec!["read".into()],
            resources: vec![],
            family_id: family.into(),
            issued_at: 0,
            expires_at,
            auth_time: None,
            revoked: false,
            session: None,
            jkt: None,
        }
    }

    #[tokio::test]
    async fn a_rotated_out_refresh_token_is_reuse_until_it_expires() {
        let store = MemoryStore::new();
        store
            .create_tokens(
                &token("a1", TokenKind::Access, "f", 60),
                Some(&token("r1", TokenKind::Refresh, "f", 600)),
            )
            .await
            .unwrap();
        let (a2, r2) = (token("a2", TokenKind::Access, "f", 70), token("r2", TokenKind::Refresh, "f", 610));
        assert!(matches!(
            store.rotate_refresh("r1", &a2, Some(&r2), 10).await.unwrap(),
            RotateRefresh::Rotated(_)
        ));
        let (a3, r3) = (token("a3", TokenKind::Access, "f", 70), token("r3", TokenKind::Refresh, "f", 610));
        assert_eq!(
            store.rotate_refresh("r1", &a3, Some(&r3), 11).await.unwrap(),
            RotateRefresh::Reused { family_id: "f".into() }
        );
        assert!(store.get_token("a3", 11).await.unwrap().is_none());
        assert_eq!(store.revoke_family("f").await.unwrap(), 3); // a1, a2, r2
        assert!(store.get_token("r2", 11).await.unwrap().is_none());
        assert_eq!(store.rotate_refresh("r1", &a3, Some(&r3), 600).await.unwrap(), RotateRefresh::Unknown);
        assert_eq!(store.purge_expired_tokens(700).await.unwrap(), 4);
    }

    #[tokio::test]
    async fn a_code_is_taken_once_and_leaves_a_tombstone() {
        let store = MemoryStore::new();
        let code = CodeRecord {
            code_hash: "h".into(),
            client_id: "c".into(),
            redirect_uri: None,
            subject: "alice".into(),
            scopes: vec![],
            resources: vec![],
            code_challenge: None,
            auth_time: None,
            nonce: None,
            family_id: "f".into(),
            issued_at: 0,
            expires_at: 60,
            session: None,
            dpop_jkt: None,
        };
        store.create_code(&code).await.unwrap();
        assert!(matches!(store.create_code(&code).await, Err(StoreError::Duplicate)));
        assert_eq!(store.take_code("h", 1).await.unwrap(), TakeCode::Fresh(code.clone()));
        assert_eq!(
            store.take_code("h", 2).await.unwrap(),
            TakeCode::Used { family_id: "f".into(), client_id: "c".into() }
        );
        assert_eq!(store.take_code("h", 60).await.unwrap(), TakeCode::Unknown);
        assert_eq!(store.purge_expired_codes(60).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn grants_merge_and_list() {
        let store = MemoryStore::new();
        let g = |scopes: &[&str], exp| ConsentGrant {
            subject: "alice".into(),
            client_id: "c".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            resources: vec![],
            granted_at: 0,
            expires_at: exp,
        };
        store.save_grant(&g(&["a", "b"], None), 0).await.unwrap();
        store.save_grant(&g(&["b", "c"], Some(100)), 1).await.unwrap();
        let got = store.get_grant("alice", "c", 2).await.unwrap().unwrap();
        assert_eq!(got.scopes, ["a", "b", "c"]);
        assert!(store.get_grant("alice", "c", 100).await.unwrap().is_none());
        assert_eq!(store.list_grants("alice", 2).await.unwrap().len(), 1);
        assert!(store.revoke_grant("alice", "c").await.unwrap());
        assert!(store.list_grants("alice", 2).await.unwrap().is_empty());
    }
}

#[cfg(test)]
mod hasher_tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::RandomKeyHasher;

    /// Token hashes spread over the table: the low bits (the bucket) and the top seven (the
    /// tag hashbrown compares first) of 65 536 hex SHA-256 keys.
    #[test]
    fn random_keys_spread_over_low_and_top_bits() {
        let build = BuildHasherDefault::<RandomKeyHasher>::default();
        let n = 1 << 16;
        let mut low = vec![0u32; 1 << 12];
        let mut top = [0u32; 128];
        for i in 0u32..n {
            let hex = keyward::oauth2::provider::client::sha256_hex(&i.to_le_bytes());
            let h = build.hash_one(&hex);
            low[(h & 0xfff) as usize] += 1;
            top[(h >> 57) as usize] += 1;
        }
        // 16 per bucket on average; a poor hash piles keys up.
        assert!(low.iter().all(|&c| c < 48), "max {}", low.iter().max().unwrap());
        assert!(top.iter().all(|&c| (256..768).contains(&c)), "{top:?}");
    }
}

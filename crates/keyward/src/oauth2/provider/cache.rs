//! A bounded cache of verified bearer tokens for the resource protector.
//!
//! Checking an RS256 JWT access token costs about as much as a whole small request, and
//! asking a remote introspection endpoint (RFC 7662) costs a round trip. A
//! [`CachingVerifier`] in front of any [`TokenVerifier`] remembers what it answered, under
//! the SHA-256 of the token (the token itself is never kept):
//!
//! - at most [`CacheConfig::capacity`] entries: when full, expired entries go first, then an
//!   arbitrary eighth of the rest;
//! - an active token is remembered at most [`CacheConfig::max_ttl`] seconds and never past
//!   its own expiry (`exp`), so the cache never accepts an expired token;
//! - an inactive or invalid token is remembered [`CacheConfig::inactive_ttl`] seconds
//!   (default 0: not at all), which shields the verifier from a flood of one bad token but
//!   delays a token that becomes valid (it cannot: tokens do not come back to life);
//! - failures of the verifier itself (`503`) are never cached.
//!
//! What a cache costs is revocation latency: a token revoked after it was cached is still
//! accepted until its entry expires, at most `max_ttl` seconds. For JWT access tokens
//! verified locally this changes nothing (local verification never sees revocation before
//! `exp`); for tokens looked up in the store or introspected, choose `max_ttl` as the delay
//! the application accepts.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::resource::{AccessGrant, BearerError, TokenVerifier};
use crate::common::store::BoxFuture;

/// The bounds of a [`TokenCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The most entries kept (default 10 000).
    pub capacity: usize,
    /// The longest an active token is remembered, in seconds (default 60); never past its
    /// expiry.
    pub max_ttl: i64,
    /// How long an inactive or invalid token is remembered, in seconds (default 0: never).
    pub inactive_ttl: i64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { capacity: 10_000, max_ttl: 60, inactive_ttl: 0 }
    }
}

impl CacheConfig {
    /// A configuration of `capacity` entries kept at most `max_ttl` seconds, inactive tokens
    /// not cached.
    pub fn new(capacity: usize, max_ttl: i64) -> Self {
        Self { capacity, max_ttl, inactive_ttl: 0 }
    }

    /// Remembers inactive or invalid tokens for `secs` seconds.
    pub fn with_inactive_ttl(mut self, secs: i64) -> Self {
        self.inactive_ttl = secs;
        self
    }
}

/// A cached answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedAnswer {
    /// The token was active with this grant.
    Active(AccessGrant),
    /// The token was inactive or invalid.
    Inactive,
}

struct Entry {
    answer: CachedAnswer,
    /// The entry is used while `now < until`.
    until: i64,
}

/// A bounded map from a token's SHA-256 to what verifying it answered (see the
/// [module docs](self)). Safe to share between threads.
pub struct TokenCache {
    config: CacheConfig,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache").field("config", &self.config).field("len", &self.len()).finish()
    }
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenCache {
    /// An empty cache bounded by `config`.
    pub fn new(config: CacheConfig) -> Self {
        Self { config, entries: Mutex::new(HashMap::new()) }
    }

    /// The bounds.
    pub fn config(&self) -> CacheConfig {
        self.config
    }

    /// How many entries are held (expired ones included until they are evicted).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached answer for `token` at `now`, if one is still fresh.
    pub fn get(&self, token: &str, now: i64) -> Option<CachedAnswer> {
        let k = key(token);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&k) {
            Some(e) if now < e.until => Some(e.answer.clone()),
            Some(_) => {
                entries.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Remembers that `token` is active with `grant`, until `now + max_ttl` or the grant's
    /// expiry, whichever is first (nothing when that is not after `now`).
    pub fn put_active(&self, token: &str, grant: &AccessGrant, now: i64) {
        let until = now.saturating_add(self.config.max_ttl).min(grant.expires_at);
        self.put(token, CachedAnswer::Active(grant.clone()), until, now);
    }

    /// Remembers that `token` is inactive for `inactive_ttl` (nothing when it is 0).
    pub fn put_inactive(&self, token: &str, now: i64) {
        self.put(token, CachedAnswer::Inactive, now.saturating_add(self.config.inactive_ttl), now);
    }

    fn put(&self, token: &str, answer: CachedAnswer, until: i64, now: i64) {
        if until <= now || self.config.capacity == 0 {
            return;
        }
        let k = key(token);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.config.capacity && !entries.contains_key(&k) {
            entries.retain(|_, e| now < e.until);
            if entries.len() >= self.config.capacity {
                let drop = (self.config.capacity / 8).max(1);
                let victims: Vec<[u8; 32]> = entries.keys().take(drop).copied().collect();
                for v in victims {
                    entries.remove(&v);
                }
            }
        }
        entries.insert(k, Entry { answer, until });
    }
}

/// A [`TokenVerifier`] that asks `inner` only for tokens its [`TokenCache`] does not hold.
pub struct CachingVerifier {
    inner: Arc<dyn TokenVerifier>,
    cache: TokenCache,
}

impl fmt::Debug for CachingVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingVerifier").field("cache", &self.cache).finish_non_exhaustive()
    }
}

impl CachingVerifier {
    /// Caches the answers of `inner` within `config`.
    pub fn new(inner: Arc<dyn TokenVerifier>, config: CacheConfig) -> Self {
        Self { inner, cache: TokenCache::new(config) }
    }

    /// The cache.
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }
}

impl TokenVerifier for CachingVerifier {
    fn verify<'a>(&'a self, token: &'a str, now: i64) -> BoxFuture<'a, Result<AccessGrant, BearerError>> {
        Box::pin(async move {
            match self.cache.get(token, now) {
                Some(CachedAnswer::Active(grant)) => return Ok(grant),
                Some(CachedAnswer::Inactive) => return Err(BearerError::InvalidToken),
                None => {}
            }
            match self.inner.verify(token, now).await {
                Ok(grant) => {
                    self.cache.put_active(token, &grant, now);
                    Ok(grant)
                }
                Err(BearerError::InvalidToken) => {
                    self.cache.put_inactive(token, now);
                    Err(BearerError::InvalidToken)
                }
                Err(e) => Err(e),
            }
        })
    }
}

//! Flow state kept between the redirect to the provider and the callback: the CSRF `state`,
//! the PKCE verifier, the OpenID Connect nonce, the OAuth 1 request token.
//!
//! Entries are keyed per app and per state value, so several logins (tabs, apps) can be in
//! flight at once. Each entry has an expiry that is checked on read, and is read once: the
//! callback takes it and leaves a tombstone, so that a replayed callback is told apart.
//! When the callback's state does not match, [`StateError`] says which case it is — the
//! most common cause of login failures in the field is a session cookie that did not come
//! back (a `SameSite=Strict` cookie, another domain), and that case has its own variant.
//!
//! Two stores: [`SessionStateStore`] keeps everything in the user's session;
//! [`CacheStateStore`] keeps the data in a server-side [`StateCache`] with an atomic take (so
//! a double-submitted callback is accepted exactly once) and only a small marker in the
//! session.

use crate::session::{Session, SessionError};
use keyward::common::http_client::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

pub use crate::flow::{FlowData, SESSION_KEY};

/// How long a flow may take by default: 10 minutes.
pub const DEFAULT_STATE_TTL: i64 = 600;

/// How many pending flows one session keeps at most; the oldest are dropped first.
pub const MAX_FLOWS_PER_SESSION: usize = 16;

/// Why the callback's state could not be matched to a flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The callback carries no `state` parameter (OAuth 2) or no `oauth_token` (OAuth 1).
    #[error("the callback has no state parameter")]
    MissingParameter,
    /// The session holds no flow at all: the session cookie did not come back with the
    /// callback. Check that it is `SameSite=Lax` (not `Strict`), that the callback is on
    /// the same host and scheme as the login, and that cookies are not blocked.
    #[error(
        "no login in progress in this session for `{app}`: the session cookie was not sent with the \
         callback (SameSite=Strict? another host or scheme?)"
    )]
    NoSession {
        /// The app.
        app: String,
    },
    /// The session has flows, but none with this state value (a forged or stale callback,
    /// or a flow dropped because too many were started).
    #[error("unknown state for `{app}`: this callback does not belong to a login started in this session")]
    Unknown {
        /// The app.
        app: String,
    },
    /// The flow was started too long ago.
    #[error("the login for `{app}` expired (it had to complete by {expired_at}); start again")]
    Expired {
        /// The app.
        app: String,
        /// When it expired (Unix seconds).
        expired_at: i64,
    },
    /// The callback was already processed once (a reload, a back button, a replay).
    #[error("the login for `{app}` was already completed with this state (reload or replay)")]
    AlreadyUsed {
        /// The app.
        app: String,
    },
    /// The session failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The server-side [`StateCache`] failed; the variant says whether a retry may help.
    #[error(transparent)]
    Cache(#[from] StateCacheError),
}

/// A failure of a [`StateCache`], typed like the provider's store errors: an outage is told
/// apart from a fault, so that a login during an outage is answered `503` (try again), not
/// `500`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateCacheError {
    /// The cache could not be reached or did not answer in time; the same call may succeed
    /// if retried.
    #[error("state cache unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A cached flow could not be read back.
    #[error("cached flow state is corrupt: {0}")]
    Corrupt(String),
    /// Any other failure of the cache.
    #[error("state cache error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StateCacheError {
    /// Wraps a cache error that means "unreachable, try again".
    pub fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(e.into())
    }

    /// Wraps any other cache error.
    pub fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Backend(e.into())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// Expiry of the flow (or, once used, of the tombstone).
    exp: i64,
    /// The flow's data; `None` once used, or when it lives in a cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<FlowData>,
    #[serde(default)]
    used: bool,
}

type Entries = BTreeMap<String, Entry>;

fn entry_key(app: &str, state: &str) -> String {
    format!("{app}\u{1f}{state}")
}

async fn load(session: &dyn Session) -> Result<Option<Entries>, SessionError> {
    match session.get(SESSION_KEY).await? {
        // A value this version cannot read counts as no flows; it is replaced on next save.
        Some(v) => Ok(Some(serde_json::from_value(v).unwrap_or_default())),
        None => Ok(None),
    }
}

async fn save(session: &dyn Session, entries: &Entries) -> Result<(), SessionError> {
    let value = serde_json::to_value(entries).map_err(|e| SessionError(e.to_string()))?;
    session.insert(SESSION_KEY, value).await
}

/// Drops tombstones and flows long past expiry, then the oldest flows beyond the cap.
fn prune(entries: &mut Entries, now: i64, ttl: i64) {
    entries.retain(|_, e| e.exp + ttl > now);
    while entries.len() > MAX_FLOWS_PER_SESSION {
        let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.exp).map(|(k, _)| k.clone()) else { break };
        entries.remove(&oldest);
    }
}

/// Looks up and consumes the entry for (app, state) in the session; returns it, or the
/// precise reason it cannot be used. Leaves a tombstone in its place.
async fn take_entry(
    session: &dyn Session,
    app: &str,
    state: &str,
    now: i64,
    ttl: i64,
) -> Result<Entry, StateError> {
    if state.is_empty() {
        return Err(StateError::MissingParameter);
    }
    let Some(mut entries) = load(session).await? else {
        return Err(StateError::NoSession { app: app.to_owned() });
    };
    let key = entry_key(app, state);
    // Taken out of the map (the flow data moves out with it); the map is saved only once
    // the entry is dropped or replaced by its tombstone.
    let Some(entry) = entries.remove(&key) else {
        return Err(StateError::Unknown { app: app.to_owned() });
    };
    if entry.used {
        return Err(StateError::AlreadyUsed { app: app.to_owned() });
    }
    if entry.exp < now {
        save(session, &entries).await?;
        return Err(StateError::Expired { app: app.to_owned(), expired_at: entry.exp });
    }
    entries.insert(key, Entry { exp: now + ttl, data: None, used: true });
    prune(&mut entries, now, ttl);
    save(session, &entries).await?;
    Ok(entry)
}

async fn put_entry(
    session: &dyn Session,
    app: &str,
    state: &str,
    entry: Entry,
    now: i64,
    ttl: i64,
) -> Result<(), SessionError> {
    let mut entries = load(session).await?.unwrap_or_default();
    entries.insert(entry_key(app, state), entry);
    prune(&mut entries, now, ttl);
    save(session, &entries).await
}

/// Where flow state is kept between the redirect and the callback.
pub trait StateStore: Send + Sync {
    /// Saves the data of a new flow, valid until `now + ttl`.
    fn save<'a>(
        &'a self,
        session: &'a dyn Session,
        app: &'a str,
        state: &'a str,
        data: FlowData,
        now: i64,
        ttl: i64,
    ) -> BoxFuture<'a, Result<(), StateError>>;

    /// Takes the data of the flow once; a second take fails with [`StateError::AlreadyUsed`].
    fn take<'a>(
        &'a self,
        session: &'a dyn Session,
        app: &'a str,
        state: &'a str,
        now: i64,
        ttl: i64,
    ) -> BoxFuture<'a, Result<FlowData, StateError>>;
}

/// Keeps flow state in the user's session (the default, as Authlib does).
///
/// Reads are once-only per session snapshot; two callbacks racing on the same state in
/// concurrent requests can both read it if the session backend does not serialise them —
/// use [`CacheStateStore`] where that matters (the provider still accepts a code once).
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionStateStore;

impl StateStore for SessionStateStore {
    fn save<'a>(
        &'a self,
        session: &'a dyn Session,
        app: &'a str,
        state: &'a str,
        data: FlowData,
        now: i64,
        ttl: i64,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move {
            let entry = Entry { exp: now + ttl, data: Some(data), used: false };
            Ok(put_entry(session, app, state, entry, now, ttl).await?)
        })
    }

    fn take<'a>(
        &'a self,
        session: &'a dyn Session,
        app: &'a str,
        state: &'a str,
        now: i64,
        ttl: i64,
    ) -> BoxFuture<'a, Result<FlowData, StateError>> {
        Box::pin(async move {
            let entry = take_entry(session, app, state, now, ttl).await?;
            // A session entry without data was written by a cache-backed store.
            entry.data.ok_or_else(|| StateError::Unknown { app: app.to_owned() })
        })
    }
}

/// A server-side cache with expiry and an atomic take (Redis `SET EX` / `GETDEL`, or memory).
pub trait StateCache: Send + Sync {
    /// Stores `value` under `key` for `ttl` seconds.
    fn set<'a>(&'a self, key: &'a str, value: String, ttl: i64)
    -> BoxFuture<'a, Result<(), StateCacheError>>;
    /// Removes and returns the value under `key`, atomically: of concurrent takers, one wins.
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, StateCacheError>>;
}

/// Keeps flow data in a [`StateCache`], with only a marker (expiry, used) in the session.
pub struct CacheStateStore<C> {
    cache: C,
    prefix: String,
}

impl<C: StateCache> CacheStateStore<C> {
    /// A store over `cache`, with keys prefixed by `keyward:state:`.
    pub fn new(cache: C) -> Self {
        Self { cache, prefix: "keyward:state:".into() }
    }
}

impl<C> std::fmt::Debug for CacheStateStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheStateStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl<C: StateCache> StateStore for CacheStateStore<C> {
    fn save<'a>(
        &'a self,
        session: &'a dyn Session,
        app: &'a str,
        state: &'a str,
        data: FlowData,
        now: i64,
        ttl: i64,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move {
            let value = serde_json::to_string(&data).map_err(StateCacheError::backend)?;
            let key = format!("{}{}", self.prefix, entry_key(app, state));
            self.cache.set(&key, value, ttl).await?;
            let marker = Entry { exp: now + ttl, data: None, used: false };
            Ok(put_entry(session, app, state, marker, now, ttl).await?)
        })
    }

    fn take<'a>(
        &'a self,
        session: &'a dyn Session,
        app: &'a str,
        state: &'a str,
        now: i64,
        ttl: i64,
    ) -> BoxFuture<'a, Result<FlowData, StateError>> {
        Box::pin(async move {
            take_entry(session, app, state, now, ttl).await?;
            let key = format!("{}{}", self.prefix, entry_key(app, state));
            match self.cache.take(&key).await? {
                Some(v) => {
                    serde_json::from_str(&v).map_err(|e| StateCacheError::Corrupt(e.to_string()).into())
                }
                // The marker was live but the data is gone: a concurrent callback took it.
                None => Err(StateError::AlreadyUsed { app: app.to_owned() }),
            }
        })
    }
}

/// An in-process [`StateCache`] (one instance only; use Redis for several).
#[derive(Debug, Default)]
pub struct MemoryStateCache(Mutex<HashMap<String, (String, std::time::Instant)>>);

impl StateCache for MemoryStateCache {
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: String,
        ttl: i64,
    ) -> BoxFuture<'a, Result<(), StateCacheError>> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(ttl.max(0).unsigned_abs());
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        map.retain(|_, (_, t)| *t > now);
        map.insert(key.to_owned(), (value, until));
        Box::pin(async { Ok(()) })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, StateCacheError>> {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let v = map.remove(key).filter(|(_, t)| *t > std::time::Instant::now()).map(|(v, _)| v);
        Box::pin(async move { Ok(v) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::MemorySession;
    use keyward::oauth2::rfc7636::CodeVerifier;
    use std::sync::Arc;

    fn data(verifier: &str) -> FlowData {
        FlowData {
            code_verifier: Some(CodeVerifier::new(verifier)),
            nonce: Some("n".into()),
            ..Default::default()
        }
    }

    async fn each_case(store: &dyn StateStore) {
        let s = MemorySession::new();
        let t = 1_000;
        assert!(matches!(store.take(&s, "gh", "x", t, 600).await, Err(StateError::NoSession { .. })));
        assert!(matches!(store.take(&s, "gh", "", t, 600).await, Err(StateError::MissingParameter)));

        // Two tabs, two apps in flight at once.
        store.save(&s, "gh", "s1", data("v1"), t, 600).await.unwrap();
        store.save(&s, "gh", "s2", data("v2"), t, 600).await.unwrap();
        store.save(&s, "google", "s1", data("v3"), t, 600).await.unwrap();
        assert!(matches!(store.take(&s, "gh", "forged", t, 600).await, Err(StateError::Unknown { .. })));
        let got = store.take(&s, "gh", "s2", t + 10, 600).await.unwrap();
        assert_eq!(got.code_verifier.unwrap().secret(), "v2");
        assert!(matches!(store.take(&s, "gh", "s2", t + 11, 600).await, Err(StateError::AlreadyUsed { .. })));
        assert_eq!(
            store.take(&s, "google", "s1", t + 12, 600).await.unwrap().code_verifier.unwrap().secret(),
            "v3"
        );
        assert_eq!(
            store.take(&s, "gh", "s1", t + 13, 600).await.unwrap().code_verifier.unwrap().secret(),
            "v1"
        );

        store.save(&s, "gh", "old", data("v"), t, 600).await.unwrap();
        let e = store.take(&s, "gh", "old", t + 601, 600).await.unwrap_err();
        assert!(matches!(e, StateError::Expired { expired_at: 1600, .. }), "{e}");
    }

    #[tokio::test]
    async fn session_store_tells_each_case_apart() {
        each_case(&SessionStateStore).await;
    }

    #[tokio::test]
    async fn cache_store_tells_each_case_apart() {
        each_case(&CacheStateStore::new(MemoryStateCache::default())).await;
    }

    #[tokio::test]
    async fn cache_store_takes_once_under_concurrency() {
        let store = Arc::new(CacheStateStore::new(MemoryStateCache::default()));
        let seed = MemorySession::new();
        store.save(&seed, "gh", "s", data("v"), 0, 600).await.unwrap();
        let snapshot = seed.get(SESSION_KEY).await.unwrap().unwrap();
        // Each concurrent request sees its own copy of the session, as cookie sessions do.
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                let snapshot = snapshot.clone();
                tokio::spawn(async move {
                    let s = MemorySession::new();
                    s.insert(SESSION_KEY, snapshot).await.unwrap();
                    store.take(&s, "gh", "s", 1, 600).await.is_ok()
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
    }

    #[tokio::test]
    async fn sessions_stay_bounded_and_secrets_redacted() {
        let s = MemorySession::new();
        for i in 0..(MAX_FLOWS_PER_SESSION + 5) {
            SessionStateStore.save(&s, "gh", &format!("s{i}"), data("hunter2"), i as i64, 600).await.unwrap();
        }
        let entries = load(&s).await.unwrap().unwrap();
        assert_eq!(entries.len(), MAX_FLOWS_PER_SESSION);
        assert!(matches!(
            SessionStateStore.take(&s, "gh", "s0", 30, 600).await,
            Err(StateError::Unknown { .. })
        ));
        assert!(!format!("{:?}", data("hunter2")).contains("hunter2"));
    }
}

//! Rotating a server's [`KeySet`] while it serves, and sharing it between instances
//! (OpenID Connect Core §10.1.1).
//!
//! - [`SharedKeySet`] holds the key set behind a lock as an `Arc` snapshot: signers and
//!   verifiers read a snapshot without blocking each other, and a rotation swaps in a new
//!   one at once.
//! - [`KeyStore`] persists the serialized key set with a version, saved by compare-and-set,
//!   so that of several instances ticking at the same moment exactly one rotates and the
//!   others adopt its keys.
//! - [`KeyManager`] loads (or generates and saves) the set at start and, each time the
//!   caller [ticks](KeyManager::tick) it with the time, adopts what another instance saved,
//!   rotates when the [`RotationPolicy`] says so (the next key was published a whole period
//!   earlier) and prunes retired keys after their last token. It does no IO of its own and
//!   reads no clock: the application runs `tick` from a timer (every minute is plenty).
//!   An instance that has not ticked since another one rotated keeps signing with the key
//!   just retired; its tokens verify as long as that key stays published
//!   (`max_token_lifetime` after the rotation), so tick well within that time, and count the
//!   tick interval in `max_token_lifetime`. A rotation generates a key (for RSA, tens of
//!   milliseconds of CPU): run the timer off the request path (e.g. its own task).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use super::{JoseError, KeySet, KeyState, SigningAlg, SigningKey};
use crate::common::secret::SecretString;
use crate::common::store::{BoxFuture, StoreError};
use crate::oidc::jwks;

/// A key set with the verification keys built from it once, so that verifying a token does
/// not rebuild them.
pub struct KeySnapshot {
    set: KeySet,
    verifier: jwks::KeySet,
    /// The earliest `until` of a retired key: from then on the prebuilt verifier holds a key
    /// that is no longer published.
    stale_at: i64,
}

impl fmt::Debug for KeySnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySnapshot").field("set", &self.set).finish_non_exhaustive()
    }
}

impl KeySnapshot {
    fn new(set: KeySet) -> Self {
        let verifier = set.verifier(i64::MIN);
        let stale_at = set
            .keys()
            .filter_map(|(_, s)| match s {
                KeyState::Retired { until } => Some(until),
                _ => None,
            })
            .min()
            .unwrap_or(i64::MAX);
        Self { set, verifier, stale_at }
    }

    /// The key set.
    pub fn key_set(&self) -> &KeySet {
        &self.set
    }

    /// The keys published at `now`, as [`KeySet::verifier`] gives them: prebuilt, unless a
    /// retired key has outlived its last token and was not pruned yet.
    pub fn verifier(&self, now: i64) -> Cow<'_, jwks::KeySet> {
        if now < self.stale_at { Cow::Borrowed(&self.verifier) } else { Cow::Owned(self.set.verifier(now)) }
    }
}

/// A [`KeySet`] that can be replaced while it serves: readers take an `Arc` snapshot (a
/// read lock held for one clone), a rotation swaps in a new one.
pub struct SharedKeySet {
    current: RwLock<Arc<KeySnapshot>>,
}

impl fmt::Debug for SharedKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedKeySet").field(&self.snapshot().set).finish()
    }
}

impl SharedKeySet {
    /// Shares `set`.
    pub fn new(set: KeySet) -> Self {
        Self { current: RwLock::new(Arc::new(KeySnapshot::new(set))) }
    }

    /// The key set as it is now. Tokens signed and checked with one snapshot see one set.
    pub fn snapshot(&self) -> Arc<KeySnapshot> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the key set (after a rotation, or with what another instance saved).
    pub fn replace(&self, set: KeySet) {
        let snapshot = Arc::new(KeySnapshot::new(set));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
    }
}

/// A serialized key set as stored, with its version.
#[derive(Debug, Clone)]
pub struct StoredKeys {
    /// Incremented by every successful [`KeyStore::save_keys`]; the first save is version 1.
    pub version: u64,
    /// The serialized document (JSON), private keys included: a secret.
    pub document: SecretString,
}

/// Persists a server's signing keys so that its instances share them (OpenID Connect Core
/// §10.1.1: "several instances share them").
///
/// The store keeps one document per `name` (e.g. `"access-tokens"`) with a version.
/// [`save_keys`](Self::save_keys) is a compare-and-set: it writes only when the stored version is
/// still `expected` (`None`: nothing is stored yet), so of several instances that rotate at
/// once exactly one wins and the others reload. The document holds private keys: a backend
/// should keep it where only the server reads it.
pub trait KeyStore: Send + Sync {
    /// The stored document of `name` and its version, if any.
    fn load_keys<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<StoredKeys>, StoreError>>;

    /// Stores `document` as version `expected + 1` (1 when `expected` is `None`) if the
    /// stored version is `expected`; whether it was stored. Atomic.
    fn save_keys<'a>(
        &'a self,
        name: &'a str,
        expected: Option<u64>,
        document: &'a SecretString,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// When a [`KeyManager`] generates, rotates and prunes keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// The algorithm of generated keys (default RS256).
    pub alg: SigningAlg,
    /// Seconds between rotations (default 30 days). Each next key is published this long
    /// before it signs, so keep it longer than relying parties cache the JWK set.
    pub rotation_period: i64,
    /// The longest lifetime of a token the keys sign, plus any leeway of its verifiers, in
    /// seconds (default 1 day): a retired key stays published (and verifies) that long.
    pub max_token_lifetime: i64,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self { alg: SigningAlg::RS256, rotation_period: 30 * 24 * 3600, max_token_lifetime: 24 * 3600 }
    }
}

/// Why a [`KeyManager`] could not load, save or rotate keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyManagerError {
    /// The key store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be generated, or the stored set breaks the key-set rules.
    #[error(transparent)]
    Jose(#[from] JoseError),
    /// The stored document could not be read.
    #[error("stored key set is corrupt: {0}")]
    Corrupt(String),
}

/// What a [`KeyManager::tick`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tick {
    /// Nothing was due and nothing changed in the store.
    Unchanged,
    /// Another instance had saved a newer set; this one adopted it.
    Adopted,
    /// This instance rotated the keys and saved them.
    Rotated,
    /// This instance dropped retired keys whose last token has expired, and saved the set.
    Pruned,
}

/// The stored document: the key set and when it last rotated.
#[derive(Serialize, Deserialize)]
struct Document {
    rotated_at: i64,
    keys: KeySet,
}

/// Keeps a [`SharedKeySet`] loaded from a [`KeyStore`], rotated and pruned on schedule.
/// Sans-IO apart from the store: the caller gives the time.
pub struct KeyManager {
    store: Arc<dyn KeyStore>,
    name: String,
    policy: RotationPolicy,
    shared: Arc<SharedKeySet>,
    /// The stored version the shared set came from, and when that set last rotated.
    /// A plain mutex: never held across an `await`.
    state: Mutex<(u64, i64)>,
}

impl fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyManager")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .field("keys", &self.shared)
            .finish_non_exhaustive()
    }
}

fn encode(doc: &Document) -> Result<SecretString, KeyManagerError> {
    serde_json::to_string(doc).map(SecretString::new).map_err(|e| KeyManagerError::Corrupt(e.to_string()))
}

fn decode(stored: &StoredKeys) -> Result<Document, KeyManagerError> {
    serde_json::from_str(stored.document.secret()).map_err(|e| KeyManagerError::Corrupt(e.to_string()))
}

impl KeyManager {
    /// Loads the key set `name` from `store` or, when there is none, generates one (a
    /// current key and a published next key) and saves it; should another instance save
    /// first, its set is used instead.
    pub async fn start(
        store: Arc<dyn KeyStore>,
        name: impl Into<String>,
        policy: RotationPolicy,
        now: i64,
    ) -> Result<Self, KeyManagerError> {
        let name = name.into();
        let (version, doc) = match store.load_keys(&name).await? {
            Some(stored) => (stored.version, decode(&stored)?),
            None => {
                let doc = Document { rotated_at: now, keys: KeySet::generate(policy.alg)? };
                if store.save_keys(&name, None, &encode(&doc)?).await? {
                    (1, doc)
                } else {
                    let stored = store.load_keys(&name).await?.ok_or_else(|| {
                        KeyManagerError::Corrupt("the key set vanished after a save".into())
                    })?;
                    (stored.version, decode(&stored)?)
                }
            }
        };
        Ok(Self {
            store,
            name,
            policy,
            shared: Arc::new(SharedKeySet::new(doc.keys)),
            state: Mutex::new((version, doc.rotated_at)),
        })
    }

    /// The shared key set the manager keeps up to date: give it to the signers and
    /// verifiers (e.g. [`KeySetAccessTokens`](crate::oauth2::provider::jwt::KeySetAccessTokens)).
    pub fn keys(&self) -> Arc<SharedKeySet> {
        self.shared.clone()
    }

    /// The policy.
    pub fn policy(&self) -> RotationPolicy {
        self.policy
    }

    fn adopt(&self, version: u64, doc: Document) {
        self.shared.replace(doc.keys);
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = (version, doc.rotated_at);
    }

    /// Brings the keys up to date at `now`: adopts a newer set saved by another instance,
    /// then rotates when `rotation_period` has passed since the last rotation (the next key
    /// becomes current, the current one is retired for `max_token_lifetime`, a new next key
    /// is generated and published), or else drops retired keys past their time. A change is
    /// saved by compare-and-set; if another instance saved first, its set is adopted and
    /// nothing is rotated twice.
    pub async fn tick(&self, now: i64) -> Result<Tick, KeyManagerError> {
        let (mine, _) = *self.state.lock().unwrap_or_else(|e| e.into_inner());
        let stored = self
            .store
            .load_keys(&self.name)
            .await?
            .ok_or_else(|| KeyManagerError::Corrupt("the stored key set is gone".into()))?;
        let version = stored.version;
        let doc = decode(&stored)?;
        let adopted = version != mine;

        let mut keys = doc.keys.clone();
        let (outcome, rotated_at) = if now >= doc.rotated_at.saturating_add(self.policy.rotation_period) {
            keys.rotate(now, SigningKey::generate(self.policy.alg)?, self.policy.max_token_lifetime)?;
            (Tick::Rotated, now)
        } else {
            let before = keys.keys().count();
            keys.prune(now);
            if keys.keys().count() == before {
                if adopted {
                    self.adopt(version, doc);
                    return Ok(Tick::Adopted);
                }
                return Ok(Tick::Unchanged);
            }
            (Tick::Pruned, doc.rotated_at)
        };
        let next = Document { rotated_at, keys };
        if self.store.save_keys(&self.name, Some(version), &encode(&next)?).await? {
            self.adopt(version + 1, next);
            return Ok(outcome);
        }
        // Another instance saved in between: take its set.
        let stored = self
            .store
            .load_keys(&self.name)
            .await?
            .ok_or_else(|| KeyManagerError::Corrupt("the stored key set is gone".into()))?;
        let doc = decode(&stored)?;
        self.adopt(stored.version, doc);
        Ok(Tick::Adopted)
    }
}

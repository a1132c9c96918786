//! What every store of the protocol core shares: the error a store operation fails with, and
//! the smallest store of all, [`OnceStore`], which records a single-use value once.
//!
//! The store traits of each protocol live beside the protocol (`oauth1::rfc5849::store`,
//! `oauth2::provider::store`); their implementations live in the `keyward-stores` crate.

pub use crate::common::http_client::BoxFuture;
use crate::common::replay::Recorded;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or timed out; the operation may succeed if retried.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A record with the same key already exists (on create).
    #[error("a record with this key already exists")]
    Duplicate,
    /// A cap the caller set on pending records was reached (for example a client's pending
    /// temporary credentials, on
    /// [`create_temporary_credential_capped`](crate::oauth1::rfc5849::store::TemporaryCredentialStore::create_temporary_credential_capped));
    /// nothing was stored.
    #[error("too many pending records for this client")]
    LimitReached,
    /// A stored record could not be decoded.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// Any other error of the backend.
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error that means "unreachable, try again".
    pub fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(e.into())
    }

    /// Wraps any other backend error.
    pub fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Backend(e.into())
    }
}

/// A replay cache for single-use values that are not OAuth 1 nonces: the `jti` of client
/// assertions (RFC 7523 §3), of DPoP proofs (RFC 9449 §11.1) and of logout tokens (OpenID
/// Connect Back-Channel Logout 1.0 §2.6).
///
/// [`record_once`](Self::record_once) is atomic (insert-if-absent: of many concurrent calls
/// with one `(namespace, key)`, exactly one is fresh) and reports the cache's
/// [`ReplayEpoch`](crate::common::replay::ReplayEpoch) in the same step; the caller judges
/// the answer with [`Recorded::verdict`] against the value's own time (`iat`), so that a
/// cache that forgot (a restart) cannot make a replay look fresh. Like every store, it never
/// reads a clock: `now` comes from the caller's [`Clock`](crate::Clock).
pub trait OnceStore: Send + Sync {
    /// Records `key` in `namespace` until `expires_at` (seconds since the Unix epoch), unless
    /// it is already recorded and not yet expired at `now`.
    ///
    /// Namespaces keep the kinds of values apart (`"client-assertion"`, `"dpop"`,
    /// `"logout"`); a key is opaque text chosen by the caller (for example the issuer and
    /// `jti` joined). Implementations may hash the key.
    fn record_once<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>>;
}

impl<T: OnceStore + ?Sized> OnceStore for std::sync::Arc<T> {
    fn record_once<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        (**self).record_once(namespace, key, expires_at, now)
    }
}

//! The provider's shared state and the validation every signed request goes through
//! (RFC 5849 §3.2): transport, parameters, signature method, timestamp window, client,
//! signature and nonce, in that order.

use super::checks::{check_timestamp, check_transport};
use super::config::{CredentialKind, ProviderConfig};
use super::error::{InvalidRequest, ProviderError};
use crate::common::clock::{Clock, SystemClock};
use crate::common::random::{OsRandom, RandomSource};
use crate::common::replay::ReplayVerdict;
use crate::oauth1::rfc5849::error::{ParseError, VerifyError};
use crate::oauth1::rfc5849::names;
use crate::oauth1::rfc5849::params::SignedRequest;
use crate::oauth1::rfc5849::signature::{
    KeyKind, RsaPublicKey, SignatureMethods, VerifyKeys, rsa_public_key_from_pem,
};
use crate::oauth1::rfc5849::store::{
    BoxFuture, Client, NonceKey, NonceStatus, NonceToRecord, OAuth1Store, Recorded, StoreError,
    TokenCredentialRecord,
};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

impl From<StoreError> for ProviderError {
    /// A store's refusal to hold more pending temporary credentials for a client is
    /// [`ProviderError::TooManyPending`]; any other failure is [`ProviderError::Store`].
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LimitReached => ProviderError::TooManyPending,
            e => ProviderError::Store(e),
        }
    }
}

impl From<ParseError> for ProviderError {
    /// Parse failures of RFC 5849 §3.5, as Authlib reports them.
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::MalformedHeader(_) => InvalidRequest::MalformedHeader.into(),
            ParseError::NotUtf8(_) | ParseError::BadEncoding(_) => InvalidRequest::Encoding.into(),
            ParseError::Duplicated(name) => ProviderError::DuplicatedOAuthProtocolParameter(name),
            ParseError::MixedPlaces(_, second) => {
                ProviderError::DuplicatedOAuthProtocolParameter(format!("parameters in the {second}"))
            }
            ParseError::NoParameters => ProviderError::MissingRequiredParameter(names::CONSUMER_KEY),
            ParseError::Missing(name) => ProviderError::MissingRequiredParameter(name),
            ParseError::Invalid(names::TIMESTAMP) => InvalidRequest::MalformedTimestamp.into(),
            ParseError::Invalid(names::VERSION) => InvalidRequest::UnsupportedVersion.into(),
            // An empty required value is as good as none (Authlib: `if not request.client_id`).
            ParseError::Invalid(
                name @ (names::CONSUMER_KEY | names::SIGNATURE_METHOD | names::SIGNATURE),
            ) => ProviderError::MissingRequiredParameter(name),
            ParseError::Invalid(_) => InvalidRequest::Other("invalid protocol parameter value").into(),
            ParseError::RelativeUri | ParseError::Uri(_) => InvalidRequest::RelativeUri.into(),
        }
    }
}

impl From<VerifyError> for ProviderError {
    /// Signature failures of RFC 5849 §3.2.
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::UnsupportedMethod(_) | VerifyError::MethodNotAllowed(_) => {
                ProviderError::UnsupportedSignatureMethod
            }
            _ => ProviderError::InvalidSignature,
        }
    }
}

/// The state every endpoint shares: stores, clock, randomness, configuration and the
/// signature-method allow-list.
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn OAuth1Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) config: ProviderConfig,
    pub(crate) methods: SignatureMethods,
    pub(crate) rsa_keys: RsaKeyCache,
}

/// How many clients' parsed RSA public keys [`RsaKeyCache`] holds.
const RSA_KEY_CACHE_SIZE: usize = 1024;

/// The clients' RSA public keys (RFC 5849 §3.4.3), parsed once rather than on every
/// request. Keyed by client identifier, each entry remembers the PEM it was parsed from: a
/// client whose key was rotated in the store no longer matches and is parsed afresh, so the
/// store stays the only source of truth. Bounded: when full, an arbitrary entry makes room.
#[derive(Default)]
pub(crate) struct RsaKeyCache {
    keys: Mutex<HashMap<String, (String, Arc<RsaPublicKey>)>>,
}

impl RsaKeyCache {
    /// The key `pem` parses to, for `client_id`: from the cache when it holds that PEM.
    pub(crate) fn get(&self, client_id: &str, pem: &str) -> Result<Arc<RsaPublicKey>, ProviderError> {
        let cached = self.lock().get(client_id).filter(|(p, _)| p == pem).map(|(_, k)| k.clone());
        if let Some(key) = cached {
            return Ok(key);
        }
        let key = Arc::new(rsa_public_key_from_pem(pem).map_err(|_| ProviderError::InvalidSignature)?);
        let mut keys = self.lock();
        if keys.len() >= RSA_KEY_CACHE_SIZE && !keys.contains_key(client_id) {
            let evicted = keys.keys().next().cloned();
            if let Some(evicted) = evicted {
                keys.remove(&evicted);
            }
        }
        keys.insert(client_id.to_owned(), (pem.to_owned(), key.clone()));
        Ok(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Arc<RsaPublicKey>)>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Builds an [`AuthorizationServer`] (RFC 5849 §2), which makes the resource protector
/// (§3) too.
///
/// Defaults: the system clock, the OS random source, [`ProviderConfig::default`], and only
/// `HMAC-SHA1` allowed (RFC 5849 §3.4; add HMAC-SHA256, RSA-SHA1/256 or PLAINTEXT with
/// [`signature_methods`](Self::signature_methods)).
pub struct ProviderBuilder {
    inner: Inner,
}

impl fmt::Debug for ProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderBuilder")
            .field("config", &self.inner.config)
            .field("methods", &self.inner.methods)
            .finish_non_exhaustive()
    }
}

impl ProviderBuilder {
    /// A builder over `store`, the clients and credentials of RFC 5849 §1.1 and the nonces
    /// of §3.3.
    pub fn new(store: Arc<dyn OAuth1Store>) -> Self {
        Self {
            inner: Inner {
                store,
                clock: Arc::new(SystemClock),
                random: Arc::new(OsRandom),
                config: ProviderConfig::default(),
                methods: SignatureMethods::default().allow_only(&["HMAC-SHA1"]),
                rsa_keys: RsaKeyCache::default(),
            },
        }
    }

    /// Reads time from `clock` (timestamps §3.3, expiries).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.inner.clock = Arc::new(clock);
        self
    }

    /// Draws tokens, secrets and verifiers from `random` (§2.1–§2.3).
    pub fn random(mut self, random: impl RandomSource) -> Self {
        self.inner.random = Arc::new(random);
        self
    }

    /// Uses `config`: credential lengths and generators (§2.1–§2.3), expiries, the timestamp
    /// window (§3.3), transport (§4.8).
    pub fn config(mut self, config: ProviderConfig) -> Self {
        self.inner.config = config;
        self
    }

    /// Accepts the methods `methods` allows (§3.4), e.g.
    /// `SignatureMethods::default().allow_only(&["HMAC-SHA1", "RSA-SHA1"])`.
    pub fn signature_methods(mut self, methods: SignatureMethods) -> Self {
        self.inner.methods = methods;
        self
    }

    /// The authorization server (§2).
    pub fn build(self) -> AuthorizationServer {
        AuthorizationServer { inner: Arc::new(self.inner) }
    }
}

/// The OAuth 1.0a authorization server: the temporary credential (§2.1), resource owner
/// authorization (§2.2) and token (§2.3) endpoints. Cheap to clone.
#[derive(Clone)]
pub struct AuthorizationServer {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("config", &self.inner.config)
            .field("methods", &self.inner.methods)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// A server (RFC 5849 §2) over `store` with the defaults of [`ProviderBuilder`].
    pub fn new(store: Arc<dyn OAuth1Store>) -> Self {
        ProviderBuilder::new(store).build()
    }

    /// A builder for a server (RFC 5849 §2) over `store`.
    pub fn builder(store: Arc<dyn OAuth1Store>) -> ProviderBuilder {
        ProviderBuilder::new(store)
    }

    /// The configuration (lengths and generators §2.1–§2.3, timestamp window §3.3).
    pub fn config(&self) -> &ProviderConfig {
        &self.inner.config
    }
}

/// The longest `oauth_consumer_key`, `oauth_token` or `oauth_nonce` accepted, in bytes
/// (RFC 5849 sets no limit; real ones are tens of characters). Stores key records by these
/// values, so an unbounded one would let any request, signed or not, write large keys.
pub const MAX_IDENTIFIER_BYTES: usize = 256;

/// A required protocol parameter, present and not empty (RFC 5849 §2.1, §2.3, §3.1).
pub(crate) fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, ProviderError> {
    value.filter(|v| !v.is_empty()).ok_or(ProviderError::MissingRequiredParameter(name))
}

/// How many times a generated token identifier that collides with a stored one is redrawn.
const GENERATE_ATTEMPTS: usize = 3;

/// A signed request whose syntax, method, timestamp and client have been checked.
pub(crate) struct Checked {
    pub(crate) request: SignedRequest,
    pub(crate) client: Client,
    pub(crate) now: i64,
}

/// What a signed request's look-up fetches besides its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookUp {
    /// The client only (the temporary credential and token endpoints, §2.1, §2.3).
    Client,
    /// The client and the token credential named by `oauth_token` (protected resources, §3).
    ClientAndToken,
}

impl Inner {
    /// A fresh credential value.
    pub(crate) fn generate(&self, kind: CredentialKind) -> String {
        self.config.generate(kind, &*self.random)
    }

    /// Stores a record made by `make`, drawing it again when its token collides with a
    /// stored one ([`StoreError::Duplicate`]), a few times.
    pub(crate) async fn store_new<T>(
        &self,
        make: impl Fn(&Inner) -> T,
        save: impl for<'a> Fn(&'a dyn OAuth1Store, &'a T) -> BoxFuture<'a, Result<(), StoreError>>,
    ) -> Result<T, ProviderError> {
        for _ in 1..GENERATE_ATTEMPTS {
            let record = make(self);
            match save(&*self.store, &record).await {
                Ok(()) => return Ok(record),
                Err(StoreError::Duplicate) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let record = make(self);
        save(&*self.store, &record).await?;
        Ok(record)
    }

    /// The one way down for a signed request (§3.2), whichever endpoint it reaches:
    ///
    /// 1. transport (§4.8), parameters (§3.5), method allow-list (§3.4), timestamp window
    ///    (§3.3) — no store needed;
    /// 2. one look-up ([`OAuth1Store::lookup_signed`]): the client, the token credential
    ///    when `look_up` asks for it, and — if the store chooses — the nonce, recorded in
    ///    the same step;
    /// 3. the client (§3.2) and its allowed methods (§3.4);
    /// 4. `judge`: the endpoint's own checks, the signature among them;
    /// 5. the nonce (§3.3), settled here and nowhere else: recorded now if the look-up did
    ///    not, refused if the look-up found it taken or if the request's timestamp is not
    ///    after the store's replay epoch ([`crate::common::replay`]), released if the
    ///    look-up recorded it and any earlier check failed.
    ///
    /// So every request gets the same answer from every store, and only an accepted
    /// request uses up its nonce.
    pub(crate) async fn authenticate<T, F, Fut>(
        &self,
        req: &http::Request<Vec<u8>>,
        look_up: LookUp,
        judge: F,
    ) -> Result<T, ProviderError>
    where
        F: FnOnce(Checked, Option<TokenCredentialRecord>) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let (request, now) = self.check_syntax(req)?;
        let nonce = self.nonce(&request, now);
        let token = match look_up {
            LookUp::Client => None,
            LookUp::ClientAndToken => request.token().filter(|t| !t.is_empty()),
        };
        let found = self.store.lookup_signed(request.consumer_key(), token, nonce.as_ref(), now).await?;
        let judged = match self.check_client(request, found.client, now) {
            Ok(checked) => judge(checked, found.token).await,
            Err(e) => Err(e),
        };
        // A store can only have recorded a nonce it was given.
        let Some(nonce) = nonce else { return judged };
        match (judged, found.nonce) {
            (Ok(accepted), NonceStatus::Recorded(recorded)) => {
                settle_nonce(recorded, &nonce).map(|()| accepted)
            }
            (Ok(accepted), NonceStatus::NotRecorded) => {
                let recorded = self.store.insert_nonce(&nonce, now).await?;
                settle_nonce(recorded, &nonce).map(|()| accepted)
            }
            (Err(e), NonceStatus::Recorded(recorded)) if recorded.fresh => {
                // Best effort: if the store fails here, the nonce stays recorded until it
                // expires, and a client that retries draws a new one anyway. The request's
                // own error is what the caller needs.
                let _ = self.store.release_nonce(&nonce).await;
                Err(e)
            }
            (Err(e), _) => Err(e),
        }
    }

    /// Transport (§4.8), parameters (§3.5), method allow-list (§3.4), timestamp window
    /// (§3.3): everything before the look-ups. Returns the request and the time it was
    /// checked at.
    fn check_syntax(&self, req: &http::Request<Vec<u8>>) -> Result<(SignedRequest, i64), ProviderError> {
        check_transport(req, self.config.allow_insecure_transport)?;
        let request = SignedRequest::from_http(req)?;
        for (name, value) in [
            (names::CONSUMER_KEY, Some(request.consumer_key())),
            (names::TOKEN, request.token()),
            (names::NONCE, request.nonce()),
        ] {
            if value.is_some_and(|v| v.len() > MAX_IDENTIFIER_BYTES) {
                return Err(InvalidRequest::TooLong(name).into());
            }
        }
        if request.callback().is_some_and(|c| c.len() > super::temporary::MAX_CALLBACK_BYTES) {
            return Err(InvalidRequest::TooLong(names::CALLBACK).into());
        }
        let method = request.signature_method();
        self.methods.get(method)?;
        let now = self.clock.now();
        match request.timestamp_secs() {
            Some(ts) => {
                check_timestamp(ts, now, self.config.timestamp_window)?;
                if request.nonce().is_none_or(str::is_empty) {
                    return Err(ProviderError::MissingRequiredParameter(names::NONCE));
                }
            }
            // Only PLAINTEXT may omit timestamp and nonce (§3.1); the parser enforces that.
            None if self.config.plaintext_requires_nonce => {
                return Err(ProviderError::MissingRequiredParameter(names::TIMESTAMP));
            }
            None => {}
        }
        Ok((request, now))
    }

    /// After the look-up: the client exists (§3.2) and may use the request's signature
    /// method (§3.4).
    fn check_client(
        &self,
        request: SignedRequest,
        client: Option<Client>,
        now: i64,
    ) -> Result<Checked, ProviderError> {
        let client = client.ok_or(ProviderError::InvalidClient)?;
        let method = request.signature_method();
        if client
            .allowed_signature_methods
            .as_ref()
            .is_some_and(|allowed| !allowed.iter().any(|m| m == method))
        {
            return Err(ProviderError::UnsupportedSignatureMethod);
        }
        Ok(Checked { request, client, now })
    }

    /// Verifies the signature (§3.2) with the client's keys and `token_secret`.
    pub(crate) fn verify_signature(
        &self,
        checked: &Checked,
        token_secret: &str,
    ) -> Result<(), ProviderError> {
        let Checked { request, client, .. } = checked;
        // The method declares its key kind; an unknown or refused method is left to
        // `verify`, which names it.
        let rsa =
            self.methods.get(request.signature_method()).is_ok_and(|m| m.key_kind() == KeyKind::RsaKeyPair);
        let rsa_key = match (&client.rsa_public_key, rsa) {
            (Some(pem), true) => Some(self.rsa_keys.get(&client.client_id, pem)?),
            _ => None,
        };
        let keys = VerifyKeys {
            client_secret: client.client_secret.secret(),
            token_secret,
            rsa_public_key: rsa_key.as_deref(),
        };
        request.verify(&self.methods, &keys)?;
        Ok(())
    }

    /// The nonce the request asks to record (§3.3: unique per client, token and
    /// timestamp) and until when; `None` for a PLAINTEXT request without timestamp and
    /// nonce.
    fn nonce(&self, request: &SignedRequest, now: i64) -> Option<NonceToRecord> {
        let (timestamp, nonce) = (request.timestamp_secs()?, request.nonce()?);
        let key = NonceKey {
            client_id: request.consumer_key().to_owned(),
            token: request.token().map(str::to_owned),
            timestamp,
            nonce: nonce.to_owned(),
        };
        Some(NonceToRecord { key, expires_at: now.saturating_add(self.config.nonce_ttl) })
    }
}

/// The nonce's verdict (§3.3), from the store's answer and epoch: a replay is
/// `invalid_nonce`; a request timestamped at or before the store's epoch cannot be proven
/// fresh (the store may have forgotten it) and is refused as a stale timestamp, so that its
/// client retries with a new one. Such a nonce stays recorded: no request with its
/// timestamp can pass this epoch anyway.
fn settle_nonce(recorded: Recorded, nonce: &NonceToRecord) -> Result<(), ProviderError> {
    match recorded.verdict(nonce.key.timestamp) {
        ReplayVerdict::Fresh => Ok(()),
        ReplayVerdict::Replayed => Err(ProviderError::InvalidNonce),
        ReplayVerdict::BeforeEpoch => Err(InvalidRequest::StaleTimestamp.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = include_str!("../../../../../../tests/peers/keys/rsa_public.pem");
    const OTHER_PUBLIC: &str = include_str!("../../../../../../tests/peers/keys/rsa_other_public.pem");

    #[test]
    fn rsa_keys_are_parsed_once_per_pem_and_bounded() {
        let cache = RsaKeyCache::default();
        let first = cache.get("c", PUBLIC).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.get("c", PUBLIC).unwrap()), "the same PEM is parsed once");
        // A rotated key (another PEM for the same client) replaces the cached one.
        let rotated = cache.get("c", OTHER_PUBLIC).unwrap();
        assert_eq!(*rotated, rsa_public_key_from_pem(OTHER_PUBLIC).unwrap());
        assert_ne!(*rotated, *first);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("c", "not a key").unwrap_err().code(), "invalid_signature");
        for i in 0..RSA_KEY_CACHE_SIZE + 10 {
            cache.get(&format!("client-{i}"), PUBLIC).unwrap();
        }
        assert_eq!(cache.len(), RSA_KEY_CACHE_SIZE);
    }
}

//! The provider's storage, as traits: clients (RFC 5849 §2 "client credentials"), temporary
//! credentials (§2.1, with the resource owner's authorization and verifier of §2.2),
//! token credentials (§2.3), and the nonces of §3.3.
//!
//! The core does no IO, so the stores are async traits returning boxed futures; they are
//! object-safe (`Arc<dyn OAuth1Store>` works) and `Send + Sync`. Implementations for memory,
//! SQLite, PostgreSQL and Redis live in the `keyward-stores` crate and all pass one
//! conformance suite.
//!
//! Stores never read a clock: every operation whose answer or record depends on time takes
//! `now` (seconds since the Unix epoch, from the provider's injected
//! [`Clock`](crate::Clock)), and records carry absolute expiry times.
//!
//! Two operations must be atomic, because the protocol's safety rests on them: recording a
//! nonce, by [`NonceStore::insert_nonce`] or during [`OAuth1Store::lookup_signed`]
//! (insert-if-absent: of many concurrent requests replaying one nonce, exactly one is fresh
//! — never `has` then `set`), and
//! [`TemporaryCredentialStore::take_temporary_credential`] (get-and-delete: of many
//! concurrent token requests, exactly one gets the credential).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use serde::{Deserialize, Serialize};

pub use crate::common::http_client::BoxFuture;
pub use crate::common::replay::{Recorded, ReplayEpoch};
use crate::common::secret::SecretString;
pub use crate::common::store::StoreError;

/// A registered client (RFC 5849 §1.1 "client credentials"; Authlib's `ClientMixin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The client identifier, sent as `oauth_consumer_key`.
    pub client_id: String,
    /// The client's shared secret, for HMAC and PLAINTEXT signatures (§3.4.2, §3.4.4).
    pub client_secret: SecretString,
    /// The client's RSA public key (PEM, PKCS#1 or SPKI), for RSA signatures (§3.4.3).
    pub rsa_public_key: Option<String>,
    /// Where to send the resource owner when the client asked for `oob` (§2.1) or gave no
    /// callback.
    pub default_redirect_uri: Option<String>,
    /// Signature methods this client may use (e.g. `HMAC-SHA1`); `None` means the
    /// provider's allow-list.
    pub allowed_signature_methods: Option<Vec<String>>,
    /// A name to show on the consent page.
    pub name: Option<String>,
    /// The callback URIs this client registered: `oauth_callback` must be one of them,
    /// compared as exact strings (no normalisation), and `oob` is accepted only when the
    /// list holds `"oob"` or the client has a [`default_redirect_uri`](Self::default_redirect_uri)
    /// (§2.1). `None` accepts `oob`, any `https` URL and an `http` URL to a loopback host
    /// (`localhost`, `127.0.0.0/8`, `[::1]`): a plain-http callback elsewhere, or one of a
    /// custom scheme (`myapp://`), must be registered. The provider refuses `javascript`,
    /// `data`, `vbscript` and `file` callbacks even when registered.
    ///
    /// Registering callbacks keeps a client whose secret leaked (a native app's, say) from
    /// having verifiers sent to a URL of the thief's choosing.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
}

impl Client {
    /// A client with a shared secret and nothing else set.
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            rsa_public_key: None,
            default_redirect_uri: None,
            allowed_signature_methods: None,
            name: None,
            redirect_uris: None,
        }
    }

    /// Whether this client may give `callback` as its `oauth_callback` (§2.1). When it
    /// registered [`redirect_uris`](Self::redirect_uris): when `callback` is one of them,
    /// byte for byte, or is `oob` and the client either registered `"oob"` or has a
    /// [`default_redirect_uri`](Self::default_redirect_uri) (where `oob` then sends the
    /// resource owner). When it registered none: `oob`, an `https` URL, or an `http` URL
    /// whose host is a loopback address or `localhost` (a registration is what allows any
    /// other `http` callback, or a custom scheme).
    ///
    /// Only the client's registration is judged here: the provider checks first that
    /// `callback` is `oob` or an absolute URL of a scheme it ever accepts.
    pub fn accepts_callback(&self, callback: &str) -> bool {
        let Some(registered) = &self.redirect_uris else { return unregistered_callback_ok(callback) };
        registered.iter().any(|uri| uri == callback)
            || (callback == "oob" && self.default_redirect_uri.is_some())
    }
}

/// The callbacks a client that registered none may use: `oob`, https, or http to loopback.
fn unregistered_callback_ok(callback: &str) -> bool {
    if callback == "oob" {
        return true;
    }
    let Ok(url) = url::Url::parse(callback) else { return false };
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// The resource owner's approval of a temporary credential (§2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The resource owner who approved.
    pub user_id: String,
    /// The verification code sent back to the client as `oauth_verifier`.
    pub verifier: SecretString,
}

/// A temporary credential ("request token", §2.1), possibly authorized (§2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryCredential {
    /// The temporary credential identifier, `oauth_token`.
    pub token: String,
    /// The temporary credential shared secret, `oauth_token_secret`.
    pub secret: SecretString,
    /// The client it was issued to.
    pub client_id: String,
    /// The `oauth_callback` the client gave: an absolute URI or `oob`.
    pub callback_uri: String,
    /// When it stops being usable, in seconds since the Unix epoch.
    pub expires_at: i64,
    /// Set once, when the resource owner grants access.
    pub authorization: Option<Authorization>,
}

impl TemporaryCredential {
    /// True when the credential can no longer be used at `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at <= now
    }
}

/// A token credential ("access token", §2.3), bound to the user who granted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCredentialRecord {
    /// The token identifier, `oauth_token`.
    pub token: String,
    /// The token shared secret, `oauth_token_secret`.
    pub secret: SecretString,
    /// The client it was issued to.
    pub client_id: String,
    /// The resource owner the client acts for.
    pub user_id: String,
    /// When it was issued, in seconds since the Unix epoch.
    pub created_at: i64,
}

/// What makes a request unique (§3.3): the nonce is unique per client, token and timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NonceKey {
    /// `oauth_consumer_key`.
    pub client_id: String,
    /// `oauth_token`, absent on temporary-credential requests.
    pub token: Option<String>,
    /// `oauth_timestamp`.
    pub timestamp: i64,
    /// `oauth_nonce`.
    pub nonce: String,
}

/// The result of [`TemporaryCredentialStore::authorize_temporary_credential`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizeOutcome {
    /// The authorization was recorded.
    Authorized,
    /// No such credential, or it has expired.
    NotFound,
    /// The credential was authorized before; the earlier authorization stands.
    AlreadyAuthorized,
}

/// Looks up registered clients.
pub trait ClientStore: Send + Sync {
    /// The client with this identifier, if any.
    fn get_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<Option<Client>, StoreError>>;
}

/// Holds temporary credentials from issue (§2.1) to exchange (§2.3).
pub trait TemporaryCredentialStore: Send + Sync {
    /// Stores a new credential, issued at `now`; [`StoreError::Duplicate`] if its token is
    /// taken. (A store that must give the record a lifetime rather than an expiry, such as a
    /// TTL in Redis, computes it from `now`.)
    fn create_temporary_credential<'a>(
        &'a self,
        credential: &'a TemporaryCredential,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Stores a new credential, issued at `now`, unless its client already holds
    /// `max_pending` pending ones: unauthorized and unexpired at `now` (taken ones are gone).
    /// Then nothing is stored and the answer is [`StoreError::LimitReached`];
    /// [`StoreError::Duplicate`] if its token is taken.
    ///
    /// Atomic per client: of any number of concurrent calls for one client, at most as many
    /// succeed as leave it with `max_pending` pending credentials. The provider calls this
    /// rather than [`create_temporary_credential`](Self::create_temporary_credential) when
    /// its configuration sets a limit.
    fn create_temporary_credential_capped<'a>(
        &'a self,
        credential: &'a TemporaryCredential,
        now: i64,
        max_pending: usize,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The credential with this token, unless absent or expired at `now`.
    fn get_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>>;

    /// Records the resource owner's approval, once: a second call does not overwrite the
    /// first ([`AuthorizeOutcome::AlreadyAuthorized`]). Atomic.
    fn authorize_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        authorization: &'a Authorization,
        now: i64,
    ) -> BoxFuture<'a, Result<AuthorizeOutcome, StoreError>>;

    /// Removes the credential and returns it, atomically: of any number of concurrent
    /// calls for one token, exactly one gets `Some`. An expired credential is removed and
    /// `None` returned.
    fn take_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>>;
}

/// Holds token credentials.
pub trait TokenCredentialStore: Send + Sync {
    /// Stores a new token credential; [`StoreError::Duplicate`] if its token is taken.
    fn create_token_credential<'a>(
        &'a self,
        credential: &'a TokenCredentialRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The token credential with this token, if any.
    fn get_token_credential<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<TokenCredentialRecord>, StoreError>>;

    /// The grants of a resource owner: every token credential issued for `user_id` (to any
    /// client), oldest first, for a page where the user sees and revokes what they granted.
    fn token_credentials_of_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TokenCredentialRecord>, StoreError>>;

    /// Revokes a grant: deletes the token credential `token` if it was issued for `user_id`
    /// (so that a user can revoke only their own), and answers whether it did. Effective at
    /// once for every provider instance over this store: the token's next request to a
    /// protected resource is `401 invalid_token`.
    fn revoke_token_credential<'a>(
        &'a self,
        user_id: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// The nonce a signed request asks to record (§3.3): its key, and until when to keep it.
/// The provider builds one per request, from the request's `oauth_nonce` and
/// `oauth_timestamp` and its own clock, and hands the same value to every store call that
/// concerns it ([`NonceStore::insert_nonce`], [`NonceStore::release_nonce`],
/// [`OAuth1Store::lookup_signed`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NonceToRecord {
    /// What makes the request unique.
    pub key: NonceKey,
    /// Until when the nonce is kept, in seconds since the Unix epoch (the provider's `now`
    /// plus its `nonce_ttl`, longer than the timestamp window).
    pub expires_at: i64,
}

/// Remembers nonces until they expire (§3.3): a replay cache with an epoch
/// ([`crate::common::replay`]).
pub trait NonceStore: Send + Sync {
    /// Records `nonce` until its `expires_at` and answers whether it was fresh (absent, or
    /// present but expired at `now`), with the store's [`ReplayEpoch`] read in the same
    /// step: since when it has remembered every nonce. Atomic: of any number of concurrent
    /// calls with one key, exactly one answers fresh. Expired nonces are purged by the
    /// store.
    ///
    /// A store that may forget (memory, Redis) reports [`ReplayEpoch::Since`] (the
    /// provider refuses a request timestamped at or before it); a durable one
    /// [`ReplayEpoch::Durable`]. Stores never read a clock: an in-memory store's epoch is
    /// the `now` of its first call ([`FirstCall`](crate::common::replay::FirstCall)).
    fn insert_nonce<'a>(
        &'a self,
        nonce: &'a NonceToRecord,
        now: i64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>>;

    /// Forgets `nonce`, which this store recorded for a request that was then refused
    /// ([`insert_nonce`](Self::insert_nonce) or [`OAuth1Store::lookup_signed`] answered it
    /// fresh), so that only an accepted request uses up its nonce. The provider calls it
    /// only for a nonce this request recorded, and only when the store recorded it before
    /// the request was judged (fresh, [`NonceStatus::Recorded`]).
    fn release_nonce<'a>(&'a self, nonce: &'a NonceToRecord) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// What [`OAuth1Store::lookup_signed`] did with the request's nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NonceStatus {
    /// Not recorded: the provider records it with [`NonceStore::insert_nonce`] once every
    /// other check has passed.
    #[default]
    NotRecorded,
    /// Recorded in the look-up, as [`NonceStore::insert_nonce`] would have, with its
    /// answer: if fresh, the provider releases it ([`NonceStore::release_nonce`]) when the
    /// request then fails; if not, or if the request's timestamp is not after the store's
    /// epoch, the request is refused once it passes every other check.
    Recorded(Recorded),
}

/// What [`OAuth1Store::lookup_signed`] found.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SignedLookup {
    /// The client the request names, if it exists.
    pub client: Option<Client>,
    /// The token credential the request names, if it exists (whatever client it belongs
    /// to: the provider checks that).
    pub token: Option<TokenCredentialRecord>,
    /// Whether the store recorded the nonce in the same step, and what it found.
    pub nonce: NonceStatus,
}

impl SignedLookup {
    /// A look-up that found `client` and `token` and did not record the nonce.
    pub fn new(client: Option<Client>, token: Option<TokenCredentialRecord>) -> Self {
        Self { client, token, nonce: NonceStatus::NotRecorded }
    }

    /// This look-up, with the nonce recorded in the same step (`recorded` as
    /// [`NonceStore::insert_nonce`] answers).
    pub fn with_nonce(mut self, recorded: Recorded) -> Self {
        self.nonce = NonceStatus::Recorded(recorded);
        self
    }
}

/// Everything an OAuth 1.0a provider stores, for holding one `Arc<dyn OAuth1Store>`: the
/// four store traits, and the look-ups of a signed request, which have a default
/// implementation in terms of those traits and which a networked store may override to
/// save round trips.
///
/// A store type opts in with `impl OAuth1Store for MyStore {}`.
pub trait OAuth1Store: ClientStore + TemporaryCredentialStore + TokenCredentialStore + NonceStore {
    /// The look-ups every signed request starts with (§3.2): the client and, when `token`
    /// is given, the token credential, concurrently.
    ///
    /// What happens to `nonce` is the store's business. The default does not record it
    /// ([`NonceStatus::NotRecorded`]): the provider then records it with
    /// [`NonceStore::insert_nonce`] after every other check, the signature included. A
    /// store that pays a round trip per call may record it in the same round trip,
    /// atomically as `insert_nonce` would, and answer [`NonceStatus::Recorded`] with the
    /// store's epoch read in the same step; the provider then judges the request in the same order
    /// and calls [`NonceStore::release_nonce`] if it fails, so that a request that was
    /// not accepted leaves no nonce behind.
    fn lookup_signed<'a>(
        &'a self,
        client_id: &'a str,
        token: Option<&'a str>,
        nonce: Option<&'a NonceToRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<SignedLookup, StoreError>> {
        let _ = (nonce, now);
        Box::pin(async move {
            let (client, token) = join(self.get_client(client_id), async {
                match token {
                    Some(token) => self.get_token_credential(token).await,
                    None => Ok(None),
                }
            })
            .await;
            Ok(SignedLookup::new(client?, token?))
        })
    }
}

impl<T: OAuth1Store + ?Sized> OAuth1Store for Arc<T> {
    fn lookup_signed<'a>(
        &'a self,
        client_id: &'a str,
        token: Option<&'a str>,
        nonce: Option<&'a NonceToRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<SignedLookup, StoreError>> {
        (**self).lookup_signed(client_id, token, nonce, now)
    }
}

/// Runs `a` and `b` concurrently and returns both outputs (the core has no runtime to
/// spawn on; this polls both in the caller's task).
pub(crate) async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            out_b = Some(v);
        }
        match (out_a.take(), out_b.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (out_a, out_b) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}

impl<T: ClientStore + ?Sized> ClientStore for Arc<T> {
    fn get_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<Option<Client>, StoreError>> {
        (**self).get_client(client_id)
    }
}

impl<T: TemporaryCredentialStore + ?Sized> TemporaryCredentialStore for Arc<T> {
    fn create_temporary_credential<'a>(
        &'a self,
        credential: &'a TemporaryCredential,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).create_temporary_credential(credential, now)
    }

    fn create_temporary_credential_capped<'a>(
        &'a self,
        credential: &'a TemporaryCredential,
        now: i64,
        max_pending: usize,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).create_temporary_credential_capped(credential, now, max_pending)
    }

    fn get_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
        (**self).get_temporary_credential(token, now)
    }

    fn authorize_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        authorization: &'a Authorization,
        now: i64,
    ) -> BoxFuture<'a, Result<AuthorizeOutcome, StoreError>> {
        (**self).authorize_temporary_credential(token, authorization, now)
    }

    fn take_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
        (**self).take_temporary_credential(token, now)
    }
}

impl<T: TokenCredentialStore + ?Sized> TokenCredentialStore for Arc<T> {
    fn create_token_credential<'a>(
        &'a self,
        credential: &'a TokenCredentialRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).create_token_credential(credential)
    }

    fn get_token_credential<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<TokenCredentialRecord>, StoreError>> {
        (**self).get_token_credential(token)
    }

    fn token_credentials_of_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TokenCredentialRecord>, StoreError>> {
        (**self).token_credentials_of_user(user_id)
    }

    fn revoke_token_credential<'a>(
        &'a self,
        user_id: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).revoke_token_credential(user_id, token)
    }
}

impl<T: NonceStore + ?Sized> NonceStore for Arc<T> {
    fn insert_nonce<'a>(
        &'a self,
        nonce: &'a NonceToRecord,
        now: i64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        (**self).insert_nonce(nonce, now)
    }

    fn release_nonce<'a>(&'a self, nonce: &'a NonceToRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).release_nonce(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_object_safe(_: Option<Arc<dyn OAuth1Store>>) {}

    #[test]
    fn traits_are_object_safe_and_records_redact_secrets() {
        assert_object_safe(None);
        let client = Client::new("c", SecretString::new("client-secret-value"));
        let temp = TemporaryCredential {
            token: "t".into(),
            secret: SecretString::new("temp-secret-value"),
            client_id: "c".into(),
            callback_uri: "oob".into(),
            expires_at: 10,
            authorization: Some(Authorization {
                user_id: "u".into(),
                verifier: SecretString::new("verifier-value"),
            }),
        };
        let token = TokenCredentialRecord {
            token: "t".into(),
            secret: SecretString::new("token-secret-value"),
            client_id: "c".into(),
            user_id: "u".into(),
            created_at: 0,
        };
        let debug = format!("{client:?} {temp:?} {token:?}");
        for secret in ["client-secret-value", "temp-secret-value", "verifier-value", "token-secret-value"] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        assert!(temp.is_expired(10) && !temp.is_expired(9));
    }

    #[test]
    fn join_waits_for_both() {
        let ready = |v: u8| async move { v };
        let (a, b) = futures_block_on(join(ready(1), async {
            // Pending once before finishing.
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    Poll::Ready(2)
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await
        }));
        assert_eq!((a, b), (1, 2));
    }

    /// Polls `f` to completion on this thread.
    fn futures_block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn registered_callbacks_match_exactly() {
        let mut c = Client::new("c", SecretString::new("s"));
        for ok in [
            "https://app.example/cb",
            "HTTPS://app.example/cb",
            "oob",
            "http://127.0.0.1:9000/cb",
            "http://127.8.9.10/cb",
            "http://[::1]:8080/cb",
            "http://localhost/cb",
            "http://LOCALHOST:3000/cb",
        ] {
            assert!(c.accepts_callback(ok), "{ok}: nothing registered accepts https and loopback http");
        }
        for bad in [
            "http://app.example/cb",
            "http://10.0.0.1/cb",
            "http://localhost.evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "myapp://done",
            "ftp://app.example/x",
            "javascript://app.example/x",
            "not a url",
        ] {
            assert!(!c.accepts_callback(bad), "{bad}: needs a registration");
        }
        c.redirect_uris = Some(vec![
            "https://app.example/cb".into(),
            "myapp://done".into(),
            "http://app.example/plain".into(),
        ]);
        // Registered exactly: a custom scheme, and plain http to a non-loopback host.
        for ok in ["https://app.example/cb", "myapp://done", "http://app.example/plain"] {
            assert!(c.accepts_callback(ok), "{ok}");
        }
        for bad in [
            "https://app.example/cb?x=1",
            "https://app.example/cb/",
            "https://APP.example/cb",
            "HTTPS://app.example/cb",
            "https://app.example:443/cb",
            "https://app.example/c%62",
            "https://app.example/cb#f",
            "https://app.example.evil.example/cb",
            "oob",
            "OOB",
            "",
        ] {
            assert!(!c.accepts_callback(bad), "{bad}");
        }
        // `oob` with a registered list: listed, or sent to the default redirect URI.
        c.redirect_uris = Some(vec!["oob".into()]);
        assert!(c.accepts_callback("oob"));
        c.redirect_uris = Some(Vec::new());
        assert!(!c.accepts_callback("oob"));
        assert!(!c.accepts_callback("https://app.example/cb"));
        c.default_redirect_uri = Some("https://app.example/default".into());
        assert!(c.accepts_callback("oob"));
        // The default redirect URI is where `oob` goes, not a registered callback.
        assert!(!c.accepts_callback("https://app.example/default"));
    }

    #[test]
    fn a_client_recorded_before_redirect_uris_still_loads() {
        let old = r#"{"client_id":"c","client_secret":"s","rsa_public_key":null,
            "default_redirect_uri":"https://app.example/cb","allowed_signature_methods":null,"name":"App"}"#;
        let c: Client = serde_json::from_str(old).unwrap();
        assert_eq!(c.redirect_uris, None);
        assert_eq!(c.default_redirect_uri.as_deref(), Some("https://app.example/cb"));
        assert!(c.accepts_callback("https://anywhere.example/cb"));
        assert!(!c.accepts_callback("http://anywhere.example/cb"));
        let mut c = c;
        c.redirect_uris = Some(vec!["https://app.example/cb".into()]);
        let back: Client = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}

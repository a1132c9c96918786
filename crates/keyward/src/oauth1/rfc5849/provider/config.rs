//! Provider configuration, with Authlib's defaults (token length 42, secret length 48,
//! verifier length 36, temporary credentials valid 24 h) and RFC 5849 §3.3's timestamp
//! window.

use crate::common::random::RandomSource;
use std::fmt;
use std::sync::Arc;

/// Which value a [`CredentialGenerator`] is asked for (RFC 5849 §2.1–§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    /// A temporary credential identifier (`oauth_token`, RFC 5849 §2.1).
    TemporaryToken,
    /// A temporary credential shared secret (`oauth_token_secret`, §2.1).
    TemporarySecret,
    /// A token credential identifier (`oauth_token`, §2.3).
    Token,
    /// A token credential shared secret (`oauth_token_secret`, §2.3).
    TokenSecret,
    /// A verification code (`oauth_verifier`, §2.2).
    Verifier,
}

/// Makes credential values (RFC 5849 §2.1–§2.3). The default draws letters and digits from
/// the provider's [`RandomSource`], at the configured length.
///
/// Any `Fn(CredentialKind, &dyn RandomSource) -> String` is a generator. A generated value
/// must be unguessable; token identifiers must also be unique (a store refuses a duplicate).
pub trait CredentialGenerator: Send + Sync + 'static {
    /// A fresh value of the given kind.
    fn generate(&self, kind: CredentialKind, random: &dyn RandomSource) -> String;
}

impl<F> CredentialGenerator for F
where
    F: Fn(CredentialKind, &dyn RandomSource) -> String + Send + Sync + 'static,
{
    fn generate(&self, kind: CredentialKind, random: &dyn RandomSource) -> String {
        self(kind, random)
    }
}

/// How many pending temporary credentials one client may hold by default (see
/// [`ProviderConfig::with_max_pending_temporary_credentials`]).
pub const DEFAULT_MAX_PENDING: usize = 10_000;

/// The provider's settings (RFC 5849 §2.1–§2.3, §3.3, §4.8). Build with
/// [`ProviderConfig::default`] and the `with_*` methods.
#[derive(Clone)]
pub struct ProviderConfig {
    pub(crate) token_length: usize,
    pub(crate) secret_length: usize,
    pub(crate) verifier_length: usize,
    pub(crate) timestamp_window: i64,
    pub(crate) temporary_credential_ttl: i64,
    pub(crate) nonce_ttl: i64,
    pub(crate) allow_insecure_transport: bool,
    pub(crate) plaintext_requires_nonce: bool,
    pub(crate) max_pending_temporary_credentials: Option<usize>,
    pub(crate) generator: Option<Arc<dyn CredentialGenerator>>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            token_length: 42,
            secret_length: 48,
            verifier_length: 36,
            timestamp_window: 300,
            temporary_credential_ttl: 24 * 3600,
            nonce_ttl: 600,
            allow_insecure_transport: false,
            plaintext_requires_nonce: true,
            max_pending_temporary_credentials: Some(DEFAULT_MAX_PENDING),
            generator: None,
        }
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("token_length", &self.token_length)
            .field("secret_length", &self.secret_length)
            .field("verifier_length", &self.verifier_length)
            .field("timestamp_window", &self.timestamp_window)
            .field("temporary_credential_ttl", &self.temporary_credential_ttl)
            .field("nonce_ttl", &self.nonce_ttl)
            .field("allow_insecure_transport", &self.allow_insecure_transport)
            .field("plaintext_requires_nonce", &self.plaintext_requires_nonce)
            .field("max_pending_temporary_credentials", &self.max_pending_temporary_credentials)
            .field("custom_generator", &self.generator.is_some())
            .finish()
    }
}

impl ProviderConfig {
    /// Length of generated `oauth_token` values (RFC 5849 §2.1, §2.3; default 42, at least 16).
    pub fn with_token_length(mut self, len: usize) -> Self {
        self.token_length = len.max(16);
        self
    }

    /// Length of generated `oauth_token_secret` values (RFC 5849 §2.1, §2.3; default 48, at
    /// least 16).
    pub fn with_secret_length(mut self, len: usize) -> Self {
        self.secret_length = len.max(16);
        self
    }

    /// Length of generated `oauth_verifier` values (RFC 5849 §2.2; default 36, at least 16).
    pub fn with_verifier_length(mut self, len: usize) -> Self {
        self.verifier_length = len.max(16);
        self
    }

    /// Accepted distance, in seconds, between `oauth_timestamp` and the provider's clock, in
    /// either direction (RFC 5849 §3.3; default 300). The nonce lifetime grows to at least
    /// twice this, so a nonce is remembered for as long as its timestamp is acceptable.
    pub fn with_timestamp_window(mut self, secs: i64) -> Self {
        self.timestamp_window = secs.max(1);
        self.nonce_ttl = self.nonce_ttl.max(2 * self.timestamp_window);
        self
    }

    /// Lifetime of a temporary credential, from its issue to its exchange (RFC 5849 §2.1;
    /// default 24 h).
    pub fn with_temporary_credential_ttl(mut self, secs: i64) -> Self {
        self.temporary_credential_ttl = secs.max(1);
        self
    }

    /// How long a used nonce is remembered (RFC 5849 §3.3; default 600 s). Never less than
    /// twice the timestamp window: a shorter memory would let a request be replayed while its
    /// timestamp is still accepted.
    pub fn with_nonce_ttl(mut self, secs: i64) -> Self {
        self.nonce_ttl = secs.max(2 * self.timestamp_window);
        self
    }

    /// Accepts plain `http` from any host. For tests only: RFC 5849 §4.8 (and §3.4.4 for
    /// PLAINTEXT) relies on TLS. By default only https or a loopback address is accepted.
    pub fn with_insecure_transport(mut self, allow: bool) -> Self {
        self.allow_insecure_transport = allow;
        self
    }

    /// Whether a `PLAINTEXT` request must carry `oauth_timestamp` and `oauth_nonce`
    /// (default true). RFC 5849 §3.1 lets PLAINTEXT omit them, which leaves the request
    /// replayable; turn this off only for clients that do.
    pub fn with_plaintext_requires_nonce(mut self, require: bool) -> Self {
        self.plaintext_requires_nonce = require;
        self
    }

    /// How many pending temporary credentials (issued, not yet authorized, not expired; RFC
    /// 5849 §2.1) one client may hold at once (default [`DEFAULT_MAX_PENDING`], at least 1;
    /// `None` for no limit). Past it, the temporary credential endpoint answers `429`
    /// ([`ProviderError::TooManyPending`](super::ProviderError::TooManyPending)) until some
    /// are authorized, exchanged or expire: every flow started and abandoned keeps one for
    /// the [temporary credential lifetime](Self::with_temporary_credential_ttl), so without
    /// a limit a client (or whoever makes its site start flows) could fill the store.
    ///
    /// Every store in `keyward-stores` enforces the limit atomically
    /// ([`TemporaryCredentialStore::create_temporary_credential_capped`](crate::oauth1::rfc5849::store::TemporaryCredentialStore::create_temporary_credential_capped)).
    /// Size it to the logins a client may have under way within one lifetime: with the
    /// default 24 h lifetime, a busy client needs more than with a 10-minute one.
    pub fn with_max_pending_temporary_credentials(mut self, max: Option<usize>) -> Self {
        self.max_pending_temporary_credentials = max.map(|m| m.max(1));
        self
    }

    /// The most pending temporary credentials one client may hold (RFC 5849 §2.1), if limited.
    pub fn max_pending_temporary_credentials(&self) -> Option<usize> {
        self.max_pending_temporary_credentials
    }

    /// Uses `generator` for tokens, secrets and verifiers (RFC 5849 §2.1–§2.3) instead of
    /// random alphanumerics.
    pub fn with_generator(mut self, generator: impl CredentialGenerator) -> Self {
        self.generator = Some(Arc::new(generator));
        self
    }

    /// The accepted timestamp distance, in seconds (RFC 5849 §3.3).
    pub fn timestamp_window(&self) -> i64 {
        self.timestamp_window
    }

    /// The temporary credential lifetime, in seconds (RFC 5849 §2.1).
    pub fn temporary_credential_ttl(&self) -> i64 {
        self.temporary_credential_ttl
    }

    /// The nonce memory, in seconds (RFC 5849 §3.3).
    pub fn nonce_ttl(&self) -> i64 {
        self.nonce_ttl
    }

    /// A fresh value of `kind`: from the custom generator if set, else `len` random
    /// alphanumerics.
    pub(crate) fn generate(&self, kind: CredentialKind, random: &dyn RandomSource) -> String {
        if let Some(g) = &self.generator {
            return g.generate(kind, random);
        }
        let len = match kind {
            CredentialKind::TemporaryToken | CredentialKind::Token => self.token_length,
            CredentialKind::TemporarySecret | CredentialKind::TokenSecret => self.secret_length,
            CredentialKind::Verifier => self.verifier_length,
        };
        random.alphanumeric(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::random::OsRandom;

    #[test]
    fn defaults_follow_authlib() {
        let c = ProviderConfig::default();
        assert_eq!(c.generate(CredentialKind::TemporaryToken, &OsRandom).len(), 42);
        assert_eq!(c.generate(CredentialKind::Token, &OsRandom).len(), 42);
        assert_eq!(c.generate(CredentialKind::TokenSecret, &OsRandom).len(), 48);
        assert_eq!(c.generate(CredentialKind::Verifier, &OsRandom).len(), 36);
        assert_eq!(c.temporary_credential_ttl(), 86_400);
        assert_eq!(c.timestamp_window(), 300);
        assert_eq!(c.nonce_ttl(), 600);
        assert_eq!(c.max_pending_temporary_credentials(), Some(DEFAULT_MAX_PENDING));
        let c = c.with_max_pending_temporary_credentials(Some(0));
        assert_eq!(c.max_pending_temporary_credentials(), Some(1));
        assert_eq!(c.with_max_pending_temporary_credentials(None).max_pending_temporary_credentials(), None);
    }

    #[test]
    fn lengths_and_generators_are_configurable() {
        let c =
            ProviderConfig::default().with_token_length(20).with_secret_length(30).with_verifier_length(17);
        assert_eq!(c.generate(CredentialKind::TemporaryToken, &OsRandom).len(), 20);
        assert_eq!(c.generate(CredentialKind::TemporarySecret, &OsRandom).len(), 30);
        assert_eq!(c.generate(CredentialKind::Verifier, &OsRandom).len(), 17);
        let c = c
            .with_generator(|k: CredentialKind, r: &dyn RandomSource| format!("{k:?}-{}", r.alphanumeric(4)));
        assert!(c.generate(CredentialKind::Verifier, &OsRandom).starts_with("Verifier-"));
    }

    #[test]
    fn nonce_memory_covers_the_timestamp_window() {
        let c = ProviderConfig::default().with_nonce_ttl(10);
        assert_eq!(c.nonce_ttl(), 600);
        let c = ProviderConfig::default().with_timestamp_window(900);
        assert_eq!(c.nonce_ttl(), 1800);
    }
}

//! The authorization server's shared state, its builder, and what every endpoint shares:
//! reading a form (RFC 6749 §3.1, §3.2: no parameter twice), drawing and hashing values,
//! writing JSON responses with `Cache-Control: no-store` (§5.1).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, StatusCode, header};

use super::client::{AccessTokenFormat, RegisteredClient, sha256_hex};
use super::config::ServerConfig;
use super::error::ProviderError;
use super::store::{ConsentGrant, OAuth2Store};
use crate::common::clock::{Clock, SystemClock};
use crate::common::encoding::{DecodeError, parse_form};
use crate::common::random::{OsRandom, RandomSource};

/// The claims of a JWT access token (RFC 9068 §2.2), as the server issues them and the
/// resource protector reads them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenClaims {
    /// `iss`: the server's issuer.
    pub issuer: String,
    /// `sub`: the resource owner, or the client for `client_credentials` (RFC 9068 §2.2).
    pub subject: Option<String>,
    /// `client_id`.
    pub client_id: String,
    /// `scope`.
    pub scopes: Vec<String>,
    /// `aud`: the resources (RFC 8707), or the server's default audience.
    pub audience: Vec<String>,
    /// `jti`.
    pub jti: String,
    /// `iat`.
    pub issued_at: i64,
    /// `exp`.
    pub expires_at: i64,
    /// `auth_time`, when a resource owner authenticated.
    pub auth_time: Option<i64>,
}

/// Signs and verifies JWT access tokens (RFC 9068): the seam through which the server's
/// rotating key set issues [`AccessTokenFormat::Jwt`] tokens. Without one, a client set to
/// JWT access tokens gets `server_error`.
pub trait JwtAccessTokens: Send + Sync {
    /// Signs `claims` as an `at+jwt` (RFC 9068 §2.1) with the server's current key.
    fn sign(&self, claims: &AccessTokenClaims) -> Result<String, ProviderError>;

    /// Verifies a token's signature, `typ`, `iss` and `exp` (RFC 9068 §4) at `now`; `None`
    /// when it does not verify. The audience is checked by the caller.
    fn verify(&self, token: &str, now: i64) -> Option<AccessTokenClaims>;
}

/// The state every endpoint shares.
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn OAuth2Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) config: ServerConfig,
    pub(crate) jwt: Option<Arc<dyn JwtAccessTokens>>,
    pub(crate) device: Option<super::device::DeviceSetup>,
    pub(crate) openid: Option<crate::oidc::provider::OpenIdProvider>,
}

/// Builds an [`AuthorizationServer`].
///
/// Defaults: the system clock and the OS random source.
pub struct AuthorizationServerBuilder {
    inner: Inner,
}

impl fmt::Debug for AuthorizationServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServerBuilder")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServerBuilder {
    /// A builder over `store` with `config`.
    pub fn new(store: Arc<dyn OAuth2Store>, config: ServerConfig) -> Self {
        Self {
            inner: Inner {
                store,
                clock: Arc::new(SystemClock),
                random: Arc::new(OsRandom),
                config,
                jwt: None,
                device: None,
                openid: None,
            },
        }
    }

    /// Reads time from `clock` (expiries, assertion times).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.inner.clock = Arc::new(clock);
        self
    }

    /// Draws codes, tokens and family ids from `random`.
    pub fn random(mut self, random: impl RandomSource) -> Self {
        self.inner.random = Arc::new(random);
        self
    }

    /// Signs and verifies JWT access tokens with `jwt` (RFC 9068).
    pub fn jwt_access_tokens(mut self, jwt: Arc<dyn JwtAccessTokens>) -> Self {
        self.inner.jwt = Some(jwt);
        self
    }

    /// Turns on the device authorization grant (RFC 8628) over `store`, with `config`: the
    /// device authorization endpoint, the verification-page calls and the token endpoint's
    /// `device_code` grant (see [`device`](super::device)).
    pub fn device_codes(
        mut self,
        store: Arc<dyn super::device_store::DeviceCodeStore>,
        config: super::device::DeviceConfig,
    ) -> Self {
        self.inner.device = Some(super::device::DeviceSetup { store, config });
        self
    }

    /// Makes the server an OpenID Provider (OpenID Connect Core 1.0): ID tokens at the token
    /// endpoint, UserInfo, discovery and the JWK set (see [`crate::oidc::provider`]).
    pub fn openid(mut self, openid: crate::oidc::provider::OpenIdProvider) -> Self {
        self.inner.openid = Some(openid);
        self
    }

    /// The server.
    pub fn build(self) -> AuthorizationServer {
        AuthorizationServer { inner: Arc::new(self.inner) }
    }
}

/// The OAuth 2.1 authorization server: the authorization endpoint (RFC 6749 §4.1, in
/// [`authorization_request`](Self::authorization_request), [`grant`](Self::grant) and
/// [`deny`](Self::deny)), the token endpoint ([`token`](Self::token)), revocation
/// ([`revoke`](Self::revoke)), introspection ([`introspect`](Self::introspect)), metadata
/// ([`metadata`](Self::metadata)), and the resource protector it makes
/// ([`resource_protector`](Self::resource_protector)). Sans-IO: each endpoint takes an
/// `http::Request<Vec<u8>>` and gives an `http::Response<Vec<u8>>`. Cheap to clone.
#[derive(Clone)]
pub struct AuthorizationServer {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServer").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// A builder over `store` with `config`.
    pub fn builder(store: Arc<dyn OAuth2Store>, config: ServerConfig) -> AuthorizationServerBuilder {
        AuthorizationServerBuilder::new(store, config)
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn OAuth2Store> {
        &self.inner.store
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// A new random value of 256 bits, base64url: codes, tokens, family ids.
    pub(crate) fn random_value(&self) -> String {
        let mut bytes = [0u8; 32];
        self.inner.random.fill(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The access-token format for `client`.
    pub(crate) fn token_format(&self, client: &RegisteredClient) -> AccessTokenFormat {
        client.access_token_format.unwrap_or(self.inner.config.access_token_format)
    }

    /// The live consent grants of `subject` (for a "connected applications" page).
    pub async fn list_grants(&self, subject: &str) -> Result<Vec<ConsentGrant>, ProviderError> {
        Ok(self.inner.store.list_grants(subject, self.now()).await?)
    }

    /// Withdraws `subject`'s grant to `client_id` and revokes every token the client holds
    /// for `subject`; whether there was a grant.
    pub async fn revoke_grant(&self, subject: &str, client_id: &str) -> Result<bool, ProviderError> {
        let existed = self.inner.store.revoke_grant(subject, client_id).await?;
        let revoked = self.inner.store.revoke_subject_tokens(subject, client_id).await?;
        Ok(existed || revoked > 0)
    }

    /// Generates a client secret of 256 bits: the value to show the client's developer once,
    /// and the [`ClientSecret`](super::client::ClientSecret) to store (its SHA-256).
    pub fn generate_client_secret(
        &self,
    ) -> (crate::common::secret::SecretString, super::client::ClientSecret) {
        let secret = crate::common::secret::SecretString::new(self.random_value());
        let stored = super::client::ClientSecret::hashed(&secret);
        (secret, stored)
    }
}

/// The SHA-256 a code or token is stored under.
pub(crate) fn hash_token(value: &str) -> String {
    sha256_hex(value.as_bytes())
}

/// A parsed form: ordered pairs, each name at most once except those allowed to repeat.
#[derive(Debug, Default)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

/// Parameters that may repeat: `resource` (RFC 8707 §2).
const REPEATABLE: &[&str] = &["resource"];

impl Form {
    /// Parses `application/x-www-form-urlencoded` text; a name other than `resource` given
    /// twice, bad percent-encoding or non-UTF-8 is `invalid_request` (RFC 6749 §3.1, §3.2).
    pub(crate) fn parse(text: &str) -> Result<Self, ProviderError> {
        let pairs = parse_form(text).map_err(|e| match e {
            DecodeError::NotUtf8 => ProviderError::InvalidRequest("parameters are not UTF-8"),
            _ => ProviderError::InvalidRequest("malformed percent-encoding"),
        })?;
        let form = Self { pairs };
        form.check_duplicates()?;
        Ok(form)
    }

    /// Parses without refusing duplicates (the authorization endpoint judges them after it
    /// has established the client and redirect URI).
    pub(crate) fn parse_lenient(text: &str) -> Result<Self, ProviderError> {
        let pairs = parse_form(text).map_err(|e| match e {
            DecodeError::NotUtf8 => ProviderError::InvalidRequest("parameters are not UTF-8"),
            _ => ProviderError::InvalidRequest("malformed percent-encoding"),
        })?;
        Ok(Self { pairs })
    }

    /// Refuses a name given twice (other than the repeatable ones).
    pub(crate) fn check_duplicates(&self) -> Result<(), ProviderError> {
        let mut seen = std::collections::HashSet::with_capacity(self.pairs.len());
        for (k, _) in &self.pairs {
            if !REPEATABLE.contains(&k.as_str()) && !seen.insert(k.as_str()) {
                return Err(ProviderError::InvalidRequest("a parameter is repeated"));
            }
        }
        Ok(())
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 §3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// Whether `name` is given more than once.
    pub(crate) fn repeated(&self, name: &str) -> bool {
        self.pairs.iter().filter(|(k, _)| k == name).count() > 1
    }

    /// Every non-empty value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone()).collect()
    }

    /// The pairs.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// Reads a POSTed form body (RFC 6749 §3.2): POST only, `application/x-www-form-urlencoded`,
/// at most `max_body` bytes, UTF-8, well-encoded, no parameter twice.
pub(crate) fn read_post_form(
    request: &http::Request<Vec<u8>>,
    max_body: usize,
) -> Result<Form, ProviderError> {
    if request.method() != http::Method::POST {
        return Err(ProviderError::MethodNotAllowed);
    }
    if !crate::oauth1::rfc5849::params::is_form(request.headers()) {
        return Err(ProviderError::InvalidRequest("the body must be application/x-www-form-urlencoded"));
    }
    if request.body().len() > max_body {
        return Err(ProviderError::InvalidRequest("the body is too large"));
    }
    let text = std::str::from_utf8(request.body())
        .map_err(|_| ProviderError::InvalidRequest("the body is not UTF-8"))?;
    Form::parse(text)
}

/// A JSON response with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A `200` JSON response of `value`.
pub(crate) fn json_ok(value: &serde_json::Value) -> http::Response<Vec<u8>> {
    json_response(StatusCode::OK, serde_json::to_vec(value).unwrap_or_default())
}

/// Splits a `scope` value (RFC 6749 §3.3): space-delimited tokens of `%x21 / %x23-5B /
/// %x5D-7E`; anything else is `invalid_scope`. Duplicates are dropped.
pub(crate) fn parse_scope(value: Option<&str>) -> Result<Vec<String>, ProviderError> {
    let mut scopes: Vec<String> = Vec::new();
    let Some(value) = value else { return Ok(scopes) };
    let mut seen = std::collections::HashSet::new();
    for s in value.split(' ') {
        if s.is_empty() {
            continue;
        }
        if !s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
            return Err(ProviderError::InvalidScope);
        }
        if seen.insert(s) {
            scopes.push(s.to_owned());
        }
    }
    Ok(scopes)
}

/// Checks `resource` values (RFC 8707 §2): absolute URIs without a fragment, each one the
/// `allowed` list holds; else `invalid_target`.
pub(crate) fn check_resources(resources: &[String], allowed: &[String]) -> Result<(), ProviderError> {
    for r in resources {
        let ok = url::Url::parse(r).is_ok_and(|u| u.fragment().is_none() && !u.cannot_be_a_base())
            && allowed.iter().any(|a| a == r);
        if !ok {
            return Err(ProviderError::InvalidTarget);
        }
    }
    Ok(())
}

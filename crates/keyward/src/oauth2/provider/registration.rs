//! Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592), with the
//! OpenID Connect metadata of OpenID Connect Dynamic Client Registration 1.0 §2.
//!
//! Off by default; [`AuthorizationServerBuilder::registration`] turns it on with a
//! [`RegistrationConfig`]. Then:
//! - [`AuthorizationServer::register`] is the client registration endpoint (RFC 7591 §3):
//!   a `POST` of the client's metadata as JSON, authorized by an initial access token
//!   (§3, [`RegistrationPolicy::InitialAccessToken`]) or by nobody
//!   ([`RegistrationPolicy::Open`], for development). It validates the metadata, generates
//!   the `client_id`, the client secret (for confidential clients) and the registration
//!   access token, stores the client, and answers `201` with the client information
//!   response (§3.2.1);
//! - [`AuthorizationServer::client_configuration`] is the client configuration endpoint
//!   (RFC 7592 §2): `GET` reads the registration, `PUT` replaces its metadata, `DELETE`
//!   removes the client, each authorized by the registration access token;
//! - the metadata documents list `registration_endpoint` (RFC 8414 §2).
//!
//! What is validated, and what is refused (`400` with the RFC 7591 §3.2.2 codes):
//! - `redirect_uris` (`invalid_redirect_uri`): absolute, without fragment or user
//!   information; `https`, or `http` on the loopback literals `127.0.0.1` and `[::1]`
//!   (RFC 8252 §7.3); with `application_type` `native` also a private-use scheme named after
//!   a domain (one with a `.`, RFC 8252 §7.1). Required with the `authorization_code` grant.
//! - `grant_types` and `response_types` (`invalid_client_metadata`): among the grants the
//!   configuration allows; `code` is the only response type (the implicit and hybrid flows
//!   are not part of OAuth 2.1), and it goes with `authorization_code` both ways (RFC 7591
//!   §2.1). Either may be left out and is derived from the other.
//! - `token_endpoint_auth_method`: one the configuration allows; `none` makes a public client
//!   (no secret). `client_secret_jwt` is refused: it needs the secret itself to check the
//!   assertion's MAC, and a generated secret is kept only as its SHA-256 (the server never
//!   stores a secret it could leak). `private_key_jwt` needs `jwks`.
//! - `jwks` (public keys only); `jwks_uri` is refused: the core does no IO, and a key set
//!   fetched at use would be a network call on the token endpoint's path. Register `jwks`.
//! - `scope`: space-separated, within the server's `scopes_supported` (or, when the server
//!   lists none, within [`RegistrationConfig::scopes`]); without it the client gets
//!   [`RegistrationConfig::scopes`].
//! - OpenID Connect: `id_token_signed_response_alg` among
//!   [`RegistrationConfig::id_token_signing_algs`] (never `none`; `HS256` is refused, as it is
//!   keyed by a recoverable secret), `subject_type` among the allowed ones,
//!   `sector_identifier_uri` (`https`; it is **not fetched**: its host must be the host of
//!   every redirect URI instead, and a `pairwise` client without one must have all its
//!   redirect URIs on one host, Core §8.1), `post_logout_redirect_uris` (the rules of redirect
//!   URIs), `backchannel_logout_uri` (`https`, or loopback `http`; no fragment),
//!   `require_auth_time`, `default_max_age`, `backchannel_logout_session_required`.
//! - `client_uri`, `logo_uri`, `tos_uri`, `policy_uri` (and their language-tagged forms such
//!   as `logo_uri#fr`): `https` or loopback `http`, since a consent page may show them.
//! - Metadata the server does not implement is refused rather than ignored, so that a client
//!   never believes it has what it asked for: `jwks_uri`, `software_statement`
//!   (`unapproved_software_statement`), encrypted ID tokens or UserInfo responses, signed
//!   UserInfo responses, request objects and `request_uris`, front-channel logout.
//! - Other members (`contacts`, `software_id`, `client_name#ja-Jpan-JP`, extensions) are kept
//!   as given in [`RegisteredClient::metadata`], up to
//!   [`RegistrationConfig::max_metadata`] bytes, and returned in every client information
//!   response.
//!
//! Generated values: `client_id` of 128 random bits; for confidential clients a secret of
//! 256 bits, stored as its SHA-256 ([`ClientSecret::hashed`](super::client::ClientSecret::hashed)) and shown only in the
//! response that issues it (`client_secret_expires_at` `0`: it does not expire); a
//! registration access token of 256 bits, stored as its SHA-256 in
//! [`RegisteredClient::registration_token_hash`] and compared in constant time.
//!
//! The registration access token **rotates** on every read and update (RFC 7592 §2.1, §2.2
//! and §5 allow it): it is stored only as a hash, so the response that must carry it (§3)
//! can only carry a new one. The client keeps the token of the last response. Two
//! concurrent operations with one token may both succeed, and then only the later one's
//! token works.
//!
//! Deleting a client (RFC 7592 §2.3) removes it, so that its codes no longer exchange (the
//! token endpoint no longer authenticates it), and revokes every token issued to it
//! ([`TokenStore::revoke_client_tokens`]): its opaque access tokens and refresh tokens stop
//! working at once. JWT access tokens (RFC 9068) are checked without the store and live until
//! they expire.

use std::borrow::Cow;
use std::collections::HashSet;

use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};

use super::client::{ClientAuthMethod, ClientKind, GrantType, RegisteredClient, SubjectType};
use super::server::{AuthorizationServer, json_response, parse_scope};
use crate::common::secret::{SecretString, ct_eq};
use crate::common::store::StoreError;
use crate::oidc::jwks::KeySet;

#[cfg(doc)]
use super::server::AuthorizationServerBuilder;
#[cfg(doc)]
use super::store::TokenStore;

/// Who may register a client (RFC 7591 §3).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RegistrationPolicy {
    /// A registration must carry one of these initial access tokens as a bearer token (RFC
    /// 7591 §3: "the authorization server MAY require an initial access token"). Each is
    /// compared in constant time. An empty list lets nobody register.
    InitialAccessToken(Vec<SecretString>),
    /// Anybody may register, with no token: **for development only**. On a server reachable
    /// from outside, anyone can then create clients (and, with a back-channel logout URI,
    /// have the server POST logout tokens to an address of their choosing).
    Open,
}

/// The configuration of dynamic client registration (off unless given to
/// [`AuthorizationServerBuilder::registration`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegistrationConfig {
    /// The registration endpoint's URL (RFC 7591 §3), published as `registration_endpoint`.
    /// A client's configuration endpoint (RFC 7592 §2) is `{endpoint}/{client_id}`.
    pub endpoint: String,
    /// Who may register.
    pub policy: RegistrationPolicy,
    /// The grant types a registered client may ask for (default `authorization_code` and
    /// `refresh_token`); the device grant also needs the server's device codes on.
    pub grant_types: Vec<GrantType>,
    /// The scopes a client gets when its registration names none. A registration's `scope`
    /// may name others only within the server's `scopes_supported`; when the server lists
    /// none, only within these. Default: none.
    pub scopes: Vec<String>,
    /// The token-endpoint authentication methods a client may register (default
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` and `none`).
    /// `client_secret_jwt` is never accepted: see the [module docs](self).
    pub auth_methods: Vec<ClientAuthMethod>,
    /// The ID-token algorithms a client may register as `id_token_signed_response_alg`
    /// (default `RS256`, `ES256`, `EdDSA`); `none` and `HS*` are never accepted.
    pub id_token_signing_algs: Vec<String>,
    /// The subject types a client may register (default both).
    pub subject_types: Vec<SubjectType>,
    /// The largest registration or update body, in bytes (default 16 KiB); larger is `413`.
    pub max_body: usize,
    /// The largest size, in bytes of JSON, of the members kept in
    /// [`RegisteredClient::metadata`] (default 4 KiB); larger is `invalid_client_metadata`.
    pub max_metadata: usize,
    /// The most redirect URIs (and, apart, post-logout redirect URIs) a client may register
    /// (default 16).
    pub max_redirect_uris: usize,
}

impl RegistrationConfig {
    /// Registration at `endpoint` under `policy`, with the defaults above.
    pub fn new(endpoint: impl Into<String>, policy: RegistrationPolicy) -> Self {
        Self {
            endpoint: endpoint.into(),
            policy,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: Vec::new(),
            auth_methods: vec![
                ClientAuthMethod::ClientSecretBasic,
                ClientAuthMethod::ClientSecretPost,
                ClientAuthMethod::PrivateKeyJwt,
                ClientAuthMethod::None,
            ],
            id_token_signing_algs: vec!["RS256".into(), "ES256".into(), "EdDSA".into()],
            subject_types: vec![SubjectType::Public, SubjectType::Pairwise],
            max_body: 16 * 1024,
            max_metadata: 4 * 1024,
            max_redirect_uris: 16,
        }
    }

    /// Registration at `endpoint` for holders of the initial access token `token`.
    pub fn with_initial_access_token(endpoint: impl Into<String>, token: SecretString) -> Self {
        Self::new(endpoint, RegistrationPolicy::InitialAccessToken(vec![token]))
    }

    /// Registration at `endpoint` open to anybody: **for development only** (see
    /// [`RegistrationPolicy::Open`]).
    pub fn open(endpoint: impl Into<String>) -> Self {
        Self::new(endpoint, RegistrationPolicy::Open)
    }

    /// Sets the grant types a client may register.
    pub fn with_grant_types(mut self, grant_types: impl IntoIterator<Item = GrantType>) -> Self {
        self.grant_types = grant_types.into_iter().collect();
        self
    }

    /// Sets the scopes a client gets by default (see [`scopes`](Self::scopes)).
    pub fn with_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the authentication methods a client may register (`client_secret_jwt` is
    /// ignored).
    pub fn with_auth_methods(mut self, methods: impl IntoIterator<Item = ClientAuthMethod>) -> Self {
        self.auth_methods = methods.into_iter().collect();
        self
    }

    /// Sets the ID-token algorithms a client may register.
    pub fn with_id_token_signing_algs<I: IntoIterator<Item = S>, S: Into<String>>(mut self, algs: I) -> Self {
        self.id_token_signing_algs = algs.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the subject types a client may register.
    pub fn with_subject_types(mut self, types: impl IntoIterator<Item = SubjectType>) -> Self {
        self.subject_types = types.into_iter().collect();
        self
    }

    /// Sets the largest body read.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sets the largest size of the kept metadata.
    pub fn with_max_metadata(mut self, bytes: usize) -> Self {
        self.max_metadata = bytes;
        self
    }

    /// The configuration endpoint of `client_id` (RFC 7592 §2): `{endpoint}/{client_id}`.
    pub fn client_uri(&self, client_id: &str) -> String {
        format!("{}/{client_id}", self.endpoint.trim_end_matches('/'))
    }
}

/// An error of the registration or client configuration endpoint, with its code (RFC 7591
/// §3.2.2; RFC 6750 §3.1 for the tokens) and status. [`status`](Self::status) is the one
/// place one becomes a status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// `404 invalid_request`: registration is not turned on.
    #[error("client registration is not enabled")]
    Disabled,
    /// `405`: the endpoint takes other methods (`Allow` lists them).
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The methods the endpoint takes.
        allow: &'static str,
    },
    /// `401 invalid_token` (RFC 6750 §3.1): the initial or registration access token is
    /// missing or wrong, or names no dynamically registered client (RFC 7592 §2.1).
    #[error("invalid token")]
    InvalidToken,
    /// `400 invalid_request`: the body is not a JSON object, or not sent as
    /// `application/json`.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// `413 invalid_request`: the body is over [`RegistrationConfig::max_body`].
    #[error("the body is too large")]
    TooLarge,
    /// `400 invalid_redirect_uri` (RFC 7591 §3.2.2).
    #[error("invalid redirect URI: {0}")]
    InvalidRedirectUri(Cow<'static, str>),
    /// `400 invalid_client_metadata` (RFC 7591 §3.2.2).
    #[error("invalid client metadata: {0}")]
    InvalidClientMetadata(Cow<'static, str>),
    /// `400 unapproved_software_statement` (RFC 7591 §3.2.2): this server approves no
    /// software statement.
    #[error("software statements are not accepted")]
    UnapprovedSoftwareStatement,
    /// A store failed: `503 temporarily_unavailable` or `500 server_error`; the detail stays
    /// off the wire.
    #[error("store failure: {0}")]
    Store(#[from] StoreError),
}

impl RegistrationError {
    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Disabled | Self::MethodNotAllowed { .. } | Self::InvalidRequest(_) | Self::TooLarge => {
                "invalid_request"
            }
            Self::InvalidToken => "invalid_token",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
            Self::Store(StoreError::Unavailable(_)) => "temporarily_unavailable",
            Self::Store(_) => "server_error",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Disabled => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON error response (RFC 7591 §3.2.2), with `Cache-Control: no-store`;
    /// `WWW-Authenticate: Bearer` on `401` (RFC 6750 §3), `Allow` on `405`.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        let mut body = crate::common::ErrorBody::new(self.code());
        match self {
            Self::Store(_) => {}
            other => body = body.with_description(other.to_string()),
        }
        let mut response = json_response(self.status(), serde_json::to_vec(&body).unwrap_or_default());
        let headers = response.headers_mut();
        match self {
            Self::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Self::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::Store(StoreError::Unavailable(_)) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

fn bad_meta(message: impl Into<Cow<'static, str>>) -> RegistrationError {
    RegistrationError::InvalidClientMetadata(message.into())
}

fn bad_redirect(message: impl Into<Cow<'static, str>>) -> RegistrationError {
    RegistrationError::InvalidRedirectUri(message.into())
}

/// Members the server sets itself (RFC 7591 §3.2.1, RFC 7592 §3): a registration may not
/// give them; an update may give `client_id` and `client_secret` only as they are (RFC 7592
/// §2.2).
const SERVER_MEMBERS: &[&str] = &[
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

/// Metadata the server does not implement: refused, so that a client never believes it has
/// what it asked for.
const UNSUPPORTED: &[&str] = &[
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_signed_response_alg",
    "userinfo_encrypted_response_alg",
    "userinfo_encrypted_response_enc",
    "request_object_signing_alg",
    "request_object_encryption_alg",
    "request_object_encryption_enc",
    "request_uris",
    "frontchannel_logout_uri",
    "authorization_signed_response_alg",
    "authorization_encrypted_response_alg",
    "authorization_encrypted_response_enc",
    "tls_client_certificate_bound_access_tokens",
];

/// Members kept in [`RegisteredClient::metadata`] that are URLs a page may show or link.
const LINK_MEMBERS: &[&str] = &["client_uri", "logo_uri", "tos_uri", "policy_uri"];

/// Algorithms of client assertions this server verifies (`token_endpoint_auth_signing_alg`),
/// without the HMAC ones (no `client_secret_jwt` for registered clients).
const ASSERTION_ALGS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

/// Takes the members out of a JSON object one by one; what is left is kept as metadata.
struct Members(Map<String, Value>);

impl Members {
    /// The member, or `None` when absent or `null` (RFC 7592 §2.2: null is as omitted).
    fn take(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name).filter(|v| !v.is_null())
    }

    fn string(&mut self, name: &'static str) -> Result<Option<String>, RegistrationError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad_meta(format!("{name} must be a string"))),
        }
    }

    fn strings(&mut self, name: &'static str) -> Result<Option<Vec<String>>, RegistrationError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(bad_meta(format!("{name} must be an array of strings"))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(bad_meta(format!("{name} must be an array of strings"))),
        }
    }

    fn boolean(&mut self, name: &'static str) -> Result<bool, RegistrationError> {
        match self.take(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(_) => Err(bad_meta(format!("{name} must be true or false"))),
        }
    }
}

/// How a URI is judged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UriRule {
    /// `https`, or `http` on a loopback literal; with `native`, also a private-use scheme.
    Redirect { native: bool },
    /// `https`, or `http` on a loopback literal.
    HttpsOrLoopback,
    /// `https` only.
    Https,
}

/// The longest URI accepted.
const MAX_URI: usize = 2048;

/// Why `uri` breaks `rule`, if it does.
fn uri_problem(uri: &str, rule: UriRule) -> Option<&'static str> {
    if uri.len() > MAX_URI {
        return Some("is too long");
    }
    if uri.contains('#') {
        return Some("has a fragment");
    }
    let Ok(url) = url::Url::parse(uri) else { return Some("is not an absolute URI") };
    if !url.username().is_empty() || url.password().is_some() {
        return Some("carries user information");
    }
    let loopback = uri.starts_with("http://127.0.0.1") || uri.starts_with("http://[::1]");
    match url.scheme() {
        "https" if url.host().is_some() => None,
        "https" => Some("has no host"),
        "http" if rule != UriRule::Https && loopback && is_loopback_host(&url) => None,
        "http" if rule == UriRule::Https => Some("must be https"),
        "http" => Some("must be https (http only on 127.0.0.1 or [::1])"),
        scheme => match rule {
            UriRule::Redirect { native: true } if scheme.contains('.') => None,
            UriRule::Redirect { native: true } => {
                Some("must be https, loopback http, or a private-use scheme named after a domain")
            }
            UriRule::Https => Some("must be https"),
            _ => Some("must be https (http only on 127.0.0.1 or [::1])"),
        },
    }
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => a == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(a)) => a == std::net::Ipv6Addr::LOCALHOST,
        _ => false,
    }
}

fn check_uri(
    name: &'static str,
    uri: &str,
    rule: UriRule,
    error: fn(Cow<'static, str>) -> RegistrationError,
) -> Result<(), RegistrationError> {
    match uri_problem(uri, rule) {
        Some(problem) => Err(error(format!("{name}: a URI {problem}").into())),
        None => Ok(()),
    }
}

/// The host of a URI (for the sector-identifier checks), lowercased by the parser.
fn host_of(uri: &str) -> Option<String> {
    url::Url::parse(uri).ok()?.host_str().map(str::to_owned)
}

impl AuthorizationServer {
    /// The registration configuration, when registration is on.
    pub fn registration_config(&self) -> Option<&RegistrationConfig> {
        self.inner.registration.as_ref()
    }

    /// Adds `registration_endpoint` to a metadata document's members, when registration is
    /// on (RFC 8414 §2; OpenID Connect Discovery §3).
    pub(crate) fn registration_metadata(&self, extra: &mut Map<String, Value>) {
        if let Some(config) = &self.inner.registration {
            extra.insert("registration_endpoint".into(), Value::String(config.endpoint.clone()));
        }
    }

    /// The client registration endpoint (RFC 7591 §3): `POST` of the client metadata as
    /// JSON, with the initial access token as a bearer token unless registration is open.
    /// `201` with the client information response (§3.2.1), or an error (§3.2.2). `404`
    /// when registration is off. See the [module docs](super::registration) for the rules.
    pub async fn register(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        match self.register_inner(request).await {
            Ok(response) => response,
            Err(e) => e.to_response(),
        }
    }

    async fn register_inner(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, RegistrationError> {
        let config = self.inner.registration.as_ref().ok_or(RegistrationError::Disabled)?;
        if request.method() != Method::POST {
            return Err(RegistrationError::MethodNotAllowed { allow: "POST" });
        }
        match &config.policy {
            RegistrationPolicy::Open => {}
            RegistrationPolicy::InitialAccessToken(tokens) => {
                let presented = bearer(request)?;
                let presented = super::client::sha256_hex(presented.as_bytes());
                // Every token is compared, so the time does not tell which one matched.
                let ok = tokens.iter().fold(false, |ok, t| {
                    ct_eq(super::client::sha256_hex(t.secret().as_bytes()).as_bytes(), presented.as_bytes())
                        | ok
                });
                if !ok {
                    return Err(RegistrationError::InvalidToken);
                }
            }
        }
        let members = read_json(request, config.max_body)?;
        let mut client = self.validate_metadata(config, members, None)?;
        let now = self.now();
        client.client_id = self.random_id();
        client.created_at = now;
        let secret = if client.kind == ClientKind::Confidential
            && client.auth_method != ClientAuthMethod::PrivateKeyJwt
        {
            let (secret, stored) = self.generate_client_secret();
            client.secrets = vec![stored];
            Some(secret)
        } else {
            None
        };
        let token = SecretString::new(self.random_value());
        client.registration_token_hash = Some(super::client::sha256_hex(token.secret().as_bytes()));
        self.inner.store.create_registered_client(&client).await?;
        let body = client_information(config, &client, secret.as_ref(), &token);
        Ok(json_response(StatusCode::CREATED, serde_json::to_vec(&body).unwrap_or_default()))
    }

    /// The client configuration endpoint of `client_id` (RFC 7592 §2), authorized by the
    /// client's registration access token as a bearer token (compared in constant time; a
    /// wrong or missing token, or a client that is not there or was not registered
    /// dynamically, is `401 invalid_token`):
    /// - `GET` (§2.1): `200` with the client information response;
    /// - `PUT` (§2.2): replaces the metadata, validated as a registration's; the body must
    ///   repeat `client_id`, and may repeat `client_secret` only as it is; `200` with the
    ///   client information response. A client that changes to a secret-based
    ///   authentication method gets a new secret in it; one that changes to `none` or
    ///   `private_key_jwt` loses its secret;
    /// - `DELETE` (§2.3): `204`; the client is removed and every token issued to it revoked.
    ///
    /// The registration access token rotates on `GET` and `PUT`: the response carries the
    /// new one, and the old one stops working.
    pub async fn client_configuration(
        &self,
        request: &http::Request<Vec<u8>>,
        client_id: &str,
    ) -> http::Response<Vec<u8>> {
        match self.client_configuration_inner(request, client_id).await {
            Ok(response) => response,
            Err(e) => e.to_response(),
        }
    }

    async fn client_configuration_inner(
        &self,
        request: &http::Request<Vec<u8>>,
        client_id: &str,
    ) -> Result<http::Response<Vec<u8>>, RegistrationError> {
        let config = self.inner.registration.as_ref().ok_or(RegistrationError::Disabled)?;
        let method = request.method();
        if method != Method::GET && method != Method::PUT && method != Method::DELETE {
            return Err(RegistrationError::MethodNotAllowed { allow: "GET, PUT, DELETE" });
        }
        let presented = bearer(request)?;
        let mut client = self
            .inner
            .store
            .get_registered_client(client_id)
            .await?
            .ok_or(RegistrationError::InvalidToken)?;
        let presented = super::client::sha256_hex(presented.as_bytes());
        let ok = client
            .registration_token_hash
            .as_deref()
            .is_some_and(|h| ct_eq(h.as_bytes(), presented.as_bytes()));
        if !ok {
            return Err(RegistrationError::InvalidToken);
        }
        if method == Method::DELETE {
            self.inner.store.delete_registered_client(client_id).await?;
            // Its tokens stop working too (RFC 7592 §2.3: "the authorization server ... SHOULD
            // immediately invalidate all existing tokens issued to the client").
            self.inner.store.revoke_client_tokens(client_id).await?;
            let mut response = json_response(StatusCode::NO_CONTENT, Vec::new());
            response.headers_mut().remove(header::CONTENT_TYPE);
            return Ok(response);
        }
        let mut secret = None;
        if method == Method::PUT {
            let mut members = read_json(request, config.max_body)?;
            match members.take("client_id") {
                Some(Value::String(id)) if id == client.client_id => {}
                Some(_) => return Err(bad_meta("client_id differs from the registered one")),
                None => return Err(bad_meta("client_id is missing (RFC 7592 §2.2)")),
            }
            if let Some(presented) = members.take("client_secret") {
                let matches = presented.as_str().is_some_and(|s| client.secret_matches(s, self.now()));
                if !matches {
                    return Err(bad_meta("client_secret is not the issued one, and cannot be chosen"));
                }
            }
            let mut updated = self.validate_metadata(config, members, Some(&client))?;
            // What the registration does not carry stays: the id, the creation time, and what
            // the application set (resources, token format, PKCE).
            updated.client_id = client.client_id.clone();
            updated.created_at = client.created_at;
            updated.resources = std::mem::take(&mut client.resources);
            updated.access_token_format = client.access_token_format;
            updated.pkce_required = client.pkce_required;
            let had_secret = !client.secrets.is_empty();
            let needs_secret = updated.kind == ClientKind::Confidential
                && updated.auth_method != ClientAuthMethod::PrivateKeyJwt;
            updated.secrets = match (needs_secret, had_secret) {
                (true, true) => std::mem::take(&mut client.secrets),
                (true, false) => {
                    let (value, stored) = self.generate_client_secret();
                    secret = Some(value);
                    vec![stored]
                }
                (false, _) => Vec::new(),
            };
            client = updated;
        }
        let token = SecretString::new(self.random_value());
        client.registration_token_hash = Some(super::client::sha256_hex(token.secret().as_bytes()));
        if !self.inner.store.update_registered_client(&client).await? {
            return Err(RegistrationError::InvalidToken);
        }
        let body = client_information(config, &client, secret.as_ref(), &token);
        Ok(json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default()))
    }

    /// A new client id: 128 random bits, base64url.
    fn random_id(&self) -> String {
        use base64::Engine as _;
        let mut bytes = [0u8; 16];
        self.inner.random.fill(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Validates the metadata of a registration or update (RFC 7591 §2; OpenID Connect
    /// Registration §2) into the client to store, without its id, secret, token and
    /// creation time.
    fn validate_metadata(
        &self,
        config: &RegistrationConfig,
        mut m: Members,
        existing: Option<&RegisteredClient>,
    ) -> Result<RegisteredClient, RegistrationError> {
        if m.take("software_statement").is_some() {
            return Err(RegistrationError::UnapprovedSoftwareStatement);
        }
        if m.take("jwks_uri").is_some() {
            return Err(bad_meta("jwks_uri is not supported: register the keys as jwks"));
        }
        for name in UNSUPPORTED {
            if m.take(name).is_some() {
                return Err(bad_meta(format!("{name} is not supported")));
            }
        }
        for name in SERVER_MEMBERS {
            if m.take(name).is_some() {
                return Err(bad_meta(format!("{name} is set by the server")));
            }
        }
        if existing.is_none() && (m.take("client_id").is_some() || m.take("client_secret").is_some()) {
            return Err(bad_meta("client_id and client_secret are issued by the server"));
        }

        // application_type (OpenID Connect Registration §2): web by default.
        let application_type = m.string("application_type")?;
        let native = match application_type.as_deref() {
            None | Some("web") => false,
            Some("native") => true,
            Some(_) => return Err(bad_meta("application_type must be web or native")),
        };

        // Grant and response types (RFC 7591 §2, §2.1).
        let grant_names = m.strings("grant_types")?;
        let response_types = m.strings("response_types")?;
        if let Some(types) = &response_types
            && types.iter().any(|t| t != "code")
        {
            return Err(bad_meta("response_types: only code is supported"));
        }
        let grant_types: Vec<GrantType> = match grant_names {
            Some(names) => {
                let mut out = Vec::with_capacity(names.len());
                for name in names {
                    let g: GrantType =
                        name.parse().map_err(|_| bad_meta("grant_types: an unknown grant type"))?;
                    let allowed = config.grant_types.contains(&g)
                        && (g != GrantType::DeviceCode || self.inner.device.is_some());
                    if !allowed {
                        return Err(bad_meta(format!("grant_types: {} is not allowed", g.as_str())));
                    }
                    if !out.contains(&g) {
                        out.push(g);
                    }
                }
                out
            }
            None => match &response_types {
                Some(types) if types.is_empty() => {
                    return Err(bad_meta("grant_types: a client needs a grant type"));
                }
                _ => vec![GrantType::AuthorizationCode],
            },
        };
        if grant_types.is_empty() {
            return Err(bad_meta("grant_types: a client needs a grant type"));
        }
        let code_flow = grant_types.contains(&GrantType::AuthorizationCode);
        if let Some(types) = &response_types
            && types.iter().any(|t| t == "code") != code_flow
        {
            return Err(bad_meta("response_types code goes with the authorization_code grant, both ways"));
        }
        if code_flow && !config.grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(bad_meta("grant_types: authorization_code is not allowed"));
        }
        if grant_types == [GrantType::RefreshToken] {
            return Err(bad_meta("grant_types: refresh_token needs a grant that issues refresh tokens"));
        }

        // Redirect URIs (RFC 7591 §2; RFC 8252 §7).
        let redirect_uris = m
            .strings("redirect_uris")
            .map_err(|_| bad_redirect("redirect_uris must be an array of strings"))?
            .unwrap_or_default();
        if code_flow && redirect_uris.is_empty() {
            return Err(bad_redirect("redirect_uris are required with the authorization_code grant"));
        }
        if redirect_uris.len() > config.max_redirect_uris {
            return Err(bad_redirect("too many redirect_uris"));
        }
        for uri in &redirect_uris {
            check_uri(
                "redirect_uris",
                uri,
                UriRule::Redirect { native },
                RegistrationError::InvalidRedirectUri,
            )?;
        }

        // Client authentication (RFC 7591 §2).
        let auth_method = match m.string("token_endpoint_auth_method")? {
            None => ClientAuthMethod::ClientSecretBasic,
            Some(name) => name
                .parse::<ClientAuthMethod>()
                .map_err(|_| bad_meta("token_endpoint_auth_method: an unknown method"))?,
        };
        if auth_method == ClientAuthMethod::ClientSecretJwt {
            return Err(bad_meta(
                "client_secret_jwt is not available to registered clients: their secrets are kept \
                 only as hashes, and the assertion's MAC needs the secret itself",
            ));
        }
        if !config.auth_methods.contains(&auth_method) {
            return Err(bad_meta(format!(
                "token_endpoint_auth_method {} is not allowed",
                auth_method.as_str()
            )));
        }
        let kind =
            if auth_method == ClientAuthMethod::None { ClientKind::Public } else { ClientKind::Confidential };
        if kind == ClientKind::Public && grant_types.contains(&GrantType::ClientCredentials) {
            return Err(bad_meta("a public client (auth method none) cannot use client_credentials"));
        }
        let jwks = match m.take("jwks") {
            None => None,
            Some(value) => {
                let keys = value
                    .get("keys")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad_meta("jwks must be a JWK set with a keys array"))?;
                if keys.iter().any(|k| k.get("d").is_some() || k.get("k").is_some()) {
                    return Err(bad_meta("jwks must hold public keys only"));
                }
                let set = KeySet::from_value(&value).map_err(|_| bad_meta("jwks is not a JWK set"))?;
                if set.is_empty() {
                    return Err(bad_meta("jwks holds no usable signing key"));
                }
                Some(value)
            }
        };
        if auth_method == ClientAuthMethod::PrivateKeyJwt && jwks.is_none() {
            return Err(bad_meta("private_key_jwt needs jwks"));
        }
        if let Some(alg) = m.string("token_endpoint_auth_signing_alg")? {
            if !ASSERTION_ALGS.contains(&alg.as_str()) {
                return Err(bad_meta("token_endpoint_auth_signing_alg is not supported"));
            }
            m.0.insert("token_endpoint_auth_signing_alg".into(), Value::String(alg));
        }

        // Scopes (RFC 7591 §2 `scope`).
        let scopes = match m.string("scope")? {
            None => config.scopes.clone(),
            Some(text) => {
                let asked = parse_scope(Some(&text)).map_err(|_| bad_meta("scope is malformed"))?;
                let server = &self.inner.config.scopes_supported;
                let allowed = if server.is_empty() { &config.scopes } else { server };
                if asked.iter().any(|s| !allowed.contains(s)) {
                    return Err(bad_meta("scope names a scope this server does not offer"));
                }
                asked
            }
        };

        // OpenID Connect (Registration §2; RP-Initiated Logout §3.1; Back-Channel Logout §2.2).
        let id_token_alg = m.string("id_token_signed_response_alg")?;
        if let Some(alg) = &id_token_alg {
            if alg == "none" || alg.starts_with("HS") {
                return Err(bad_meta(
                    "id_token_signed_response_alg: none is never used, and HS* needs a recoverable secret",
                ));
            }
            if !config.id_token_signing_algs.contains(alg) {
                return Err(bad_meta("id_token_signed_response_alg is not supported"));
            }
        }
        let subject_type = match m.string("subject_type")?.as_deref() {
            None => SubjectType::Public,
            Some("public") => SubjectType::Public,
            Some("pairwise") => SubjectType::Pairwise,
            Some(_) => return Err(bad_meta("subject_type must be public or pairwise")),
        };
        if !config.subject_types.contains(&subject_type) {
            return Err(bad_meta("subject_type is not allowed"));
        }
        let sector_identifier_uri = m.string("sector_identifier_uri")?;
        let redirect_hosts: HashSet<Option<String>> = redirect_uris.iter().map(|u| host_of(u)).collect();
        if let Some(uri) = &sector_identifier_uri {
            check_uri(
                "sector_identifier_uri",
                uri,
                UriRule::Https,
                RegistrationError::InvalidClientMetadata,
            )?;
            // Not fetched (the core does no IO): the sector is the redirect URIs' one host.
            let host = host_of(uri);
            if redirect_hosts.iter().any(|h| *h != host) {
                return Err(bad_meta(
                    "sector_identifier_uri: its host must be the host of every redirect URI (it is not fetched)",
                ));
            }
        } else if subject_type == SubjectType::Pairwise
            && (redirect_hosts.len() != 1 || redirect_hosts.contains(&None))
        {
            return Err(bad_meta(
                "pairwise subjects need one redirect host, or a sector_identifier_uri on that host",
            ));
        }
        let require_auth_time = m.boolean("require_auth_time")?;
        let default_max_age = match m.take("default_max_age") {
            None => None,
            Some(v) => Some(
                v.as_i64()
                    .filter(|n| (0..=i64::from(i32::MAX)).contains(n))
                    .ok_or_else(|| bad_meta("default_max_age must be a number of seconds"))?,
            ),
        };
        let post_logout_redirect_uris = m.strings("post_logout_redirect_uris")?.unwrap_or_default();
        if post_logout_redirect_uris.len() > config.max_redirect_uris {
            return Err(bad_meta("too many post_logout_redirect_uris"));
        }
        for uri in &post_logout_redirect_uris {
            check_uri(
                "post_logout_redirect_uris",
                uri,
                UriRule::Redirect { native },
                RegistrationError::InvalidClientMetadata,
            )?;
        }
        let backchannel_logout_uri = m.string("backchannel_logout_uri")?;
        if let Some(uri) = &backchannel_logout_uri {
            check_uri(
                "backchannel_logout_uri",
                uri,
                UriRule::HttpsOrLoopback,
                RegistrationError::InvalidClientMetadata,
            )?;
        }
        let backchannel_logout_session_required = m.boolean("backchannel_logout_session_required")?;
        let require_par = m.boolean("require_pushed_authorization_requests")?;
        let dpop_bound = m.boolean("dpop_bound_access_tokens")?;
        let client_name = m.string("client_name")?;

        // What is kept as given: checked where a page could use it.
        if let Some(t) = application_type {
            m.0.insert("application_type".into(), Value::String(t));
        }
        if let Some(contacts) = m.strings("contacts")? {
            m.0.insert("contacts".into(), json!(contacts));
        }
        for (name, value) in &m.0 {
            let base = name.split('#').next().unwrap_or(name);
            if LINK_MEMBERS.contains(&base) || base == "initiate_login_uri" {
                let rule =
                    if base == "initiate_login_uri" { UriRule::Https } else { UriRule::HttpsOrLoopback };
                let uri = value.as_str().ok_or_else(|| bad_meta(format!("{base} must be a string")))?;
                if let Some(problem) = uri_problem(uri, rule) {
                    return Err(bad_meta(format!("{base}: the URI {problem}")));
                }
            } else if base == "client_name" && !value.is_string() {
                return Err(bad_meta("client_name must be a string"));
            }
        }
        let metadata: Map<String, Value> = m.0.into_iter().filter(|(_, v)| !v.is_null()).collect();
        let size = serde_json::to_vec(&metadata).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > config.max_metadata {
            return Err(bad_meta("the other metadata is too large"));
        }

        let base = existing.map(|e| e.client_id.clone()).unwrap_or_default();
        let client = RegisteredClient {
            client_id: base,
            client_name,
            kind,
            auth_method,
            secrets: Vec::new(),
            jwks,
            redirect_uris,
            grant_types,
            scopes,
            id_token_signed_response_alg: id_token_alg,
            subject_type,
            sector_identifier_uri,
            require_auth_time,
            default_max_age,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            backchannel_logout_session_required,
            require_pushed_authorization_requests: require_par,
            dpop_bound_access_tokens: dpop_bound,
            metadata,
            ..RegisteredClient::public("")
        };
        Ok(client)
    }
}

/// The bearer token of the `Authorization` header (RFC 6750 §2.1); missing or malformed is
/// `invalid_token`.
fn bearer(request: &http::Request<Vec<u8>>) -> Result<String, RegistrationError> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(RegistrationError::InvalidToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(RegistrationError::InvalidToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(RegistrationError::InvalidToken);
    }
    Ok(token.to_owned())
}

/// Reads a JSON object body: `application/json`, at most `max_body` bytes.
fn read_json(request: &http::Request<Vec<u8>>, max_body: usize) -> Result<Members, RegistrationError> {
    if request.body().len() > max_body {
        return Err(RegistrationError::TooLarge);
    }
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(RegistrationError::InvalidRequest("the body must be application/json"));
    }
    match serde_json::from_slice::<Value>(request.body()) {
        Ok(Value::Object(map)) => Ok(Members(map)),
        Ok(_) => Err(RegistrationError::InvalidRequest("the body must be a JSON object")),
        Err(_) => Err(RegistrationError::InvalidRequest("the body is not JSON")),
    }
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): the registered metadata
/// with the server's defaults applied, the kept members, the issued values.
fn client_information(
    config: &RegistrationConfig,
    client: &RegisteredClient,
    secret: Option<&SecretString>,
    token: &SecretString,
) -> Value {
    let mut out = client.metadata.clone();
    let mut set = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    set("client_id", json!(client.client_id));
    set("client_id_issued_at", json!(client.created_at));
    if let Some(secret) = secret {
        set("client_secret", json!(secret.secret()));
    }
    if client.kind == ClientKind::Confidential && client.auth_method != ClientAuthMethod::PrivateKeyJwt {
        set("client_secret_expires_at", json!(0));
    }
    set("registration_access_token", json!(token.secret()));
    set("registration_client_uri", json!(config.client_uri(&client.client_id)));
    if let Some(name) = &client.client_name {
        set("client_name", json!(name));
    }
    set("redirect_uris", json!(client.redirect_uris));
    set("grant_types", json!(client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>()));
    let code = client.grant_types.contains(&GrantType::AuthorizationCode);
    set("response_types", if code { json!(["code"]) } else { json!([]) });
    set("token_endpoint_auth_method", json!(client.auth_method.as_str()));
    if !client.scopes.is_empty() {
        set("scope", json!(client.scopes.join(" ")));
    }
    if let Some(jwks) = &client.jwks {
        set("jwks", jwks.clone());
    }
    if !client.metadata.contains_key("application_type") {
        set("application_type", json!("web"));
    }
    set(
        "id_token_signed_response_alg",
        json!(client.id_token_signed_response_alg.as_deref().unwrap_or("RS256")),
    );
    let subject_type = match client.subject_type {
        SubjectType::Public => "public",
        SubjectType::Pairwise => "pairwise",
    };
    set("subject_type", json!(subject_type));
    if let Some(uri) = &client.sector_identifier_uri {
        set("sector_identifier_uri", json!(uri));
    }
    set("require_auth_time", json!(client.require_auth_time));
    if let Some(age) = client.default_max_age {
        set("default_max_age", json!(age));
    }
    if !client.post_logout_redirect_uris.is_empty() {
        set("post_logout_redirect_uris", json!(client.post_logout_redirect_uris));
    }
    if let Some(uri) = &client.backchannel_logout_uri {
        set("backchannel_logout_uri", json!(uri));
        set("backchannel_logout_session_required", json!(client.backchannel_logout_session_required));
    }
    set("require_pushed_authorization_requests", json!(client.require_pushed_authorization_requests));
    set("dpop_bound_access_tokens", json!(client.dpop_bound_access_tokens));
    Value::Object(out)
}

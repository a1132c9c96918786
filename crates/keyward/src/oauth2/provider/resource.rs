//! The bearer-token resource protector (RFC 6750): finds the token (the `Authorization`
//! header by default, §2.1; form body §2.2 and query §2.3 when enabled), checks it, and
//! answers failures with `WWW-Authenticate: Bearer` (§3).
//!
//! Opaque tokens are looked up in the store; JWT access tokens (RFC 9068) go through the
//! server's [`JwtAccessTokens`] when it has one (see [`super::jwt`] for how revocation
//! interacts).
//!
//! With DPoP (RFC 9449 §7) on ([`ResourceProtector::with_dpop`], or a server built with
//! [`dpop`](super::AuthorizationServerBuilder::dpop)), `Authorization: DPoP <token>` is
//! accepted with a `DPoP` proof of the token's key for this request (`htm`, `htu`, `ath`);
//! a DPoP-bound token sent as `Bearer` is refused, and the refusals of DPoP requests carry a
//! `WWW-Authenticate: DPoP` challenge with `algs` (§7.1). The proof's `htu` is compared
//! with the request's absolute URL, or with the public base URL of
//! [`ResourceProtector::with_public_base_url`] and the request's path.
//!
//! A resource server that is a separate service implements [`TokenVerifier`] the
//! same way (`keyward-client`'s RFC 7662 introspection verifier), and any verifier can sit
//! behind the bounded cache of [`super::cache`] ([`ResourceProtector::with_cache`]).

use std::sync::Arc;

use http::{HeaderValue, StatusCode, header};

use super::config::BearerPlacement;
use super::dpop::{DpopError, DpopVerifier, ProofTarget};
use super::server::{AuthorizationServer, Form, JwtAccessTokens, hash_token};
use super::store::{OAuth2Store, TokenKind};
use crate::common::clock::Clock;
use crate::common::store::BoxFuture;

/// The scopes a bearer-protected handler requires, as a type: the parameter of
/// a framework's bearer extractor (`OAuth2Bearer<R>` in `keyward-axum` and
/// `keyward-actix`). Declare one with [`required_scopes!`](crate::required_scopes).
pub trait RequiredScopes: 'static {
    /// The scopes the token must carry (all of them).
    const SCOPES: &'static [&'static str];
}

/// No scope required: any valid access token.
#[derive(Debug, Clone, Copy)]
pub struct AnyScope;

impl RequiredScopes for AnyScope {
    const SCOPES: &'static [&'static str] = &[];
}

/// Declares a [`RequiredScopes`](crate::oauth2::provider::RequiredScopes) type for the
/// frameworks' `OAuth2Bearer<R>`:
/// `required_scopes!(pub WriteNotes = "notes:write", "notes:read");`
#[macro_export]
macro_rules! required_scopes {
    ($(#[$meta:meta])* $vis:vis $name:ident = $($scope:literal),+ $(,)?) => {
        $(#[$meta])*
        #[doc = concat!("Requires the scopes ", $("`", $scope, "` ",)+ "(an OAuth 2 bearer token's).")]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $crate::oauth2::provider::RequiredScopes for $name {
            const SCOPES: &'static [&'static str] = &[$($scope),+];
        }
    };
}

/// What a valid access token grants the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// The resource owner; `None` for `client_credentials` tokens.
    pub subject: Option<String>,
    /// The client the token was issued to.
    pub client_id: String,
    /// The token's scopes.
    pub scopes: Vec<String>,
    /// The token's audiences (RFC 8707 resources); empty: the server's default.
    pub audience: Vec<String>,
    /// When the token expires.
    pub expires_at: i64,
    /// The thumbprint of the DPoP key the token is bound to (RFC 9449 §6), if it is.
    pub jkt: Option<String>,
}

impl AccessGrant {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// `Ok` if the token carries every scope of `required`, else
    /// [`BearerError::InsufficientScope`] naming them (RFC 6750 §3.1): the one scope check of
    /// the protector and of the frameworks' extractors.
    pub fn require(&self, required: &[&str]) -> Result<(), BearerError> {
        if required.iter().all(|s| self.has_scope(s)) {
            Ok(())
        } else {
            Err(BearerError::InsufficientScope {
                required: required.iter().map(|s| (*s).to_owned()).collect(),
            })
        }
    }
}

/// Why a request was refused (RFC 6750 §3.1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// `401` without an error code: no token was sent (§3.1: "SHOULD NOT include an error
    /// code").
    #[error("no bearer token")]
    Missing,
    /// `400 invalid_request`: a malformed request, or a token sent in more than one place
    /// (§2).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// `401 invalid_token`: expired, revoked, unknown, malformed, or for another audience.
    #[error("invalid token")]
    InvalidToken,
    /// `403 insufficient_scope`: the token lacks a required scope.
    #[error("insufficient scope")]
    InsufficientScope {
        /// The scopes the resource needs.
        required: Vec<String>,
    },
    /// `503`: the store could not answer; the request fails closed.
    #[error("token store unavailable")]
    Unavailable,
    /// `401` with a `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1): a DPoP request
    /// refused, or a DPoP-bound token sent as `Bearer`.
    #[error("DPoP: {}", .0.error)]
    Dpop(DpopChallenge),
}

/// A `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopChallenge {
    /// `invalid_token`, `invalid_dpop_proof` or `use_dpop_nonce`.
    pub error: &'static str,
    /// What failed (not sent; for logs).
    pub description: &'static str,
    /// The proof algorithms accepted (`algs`).
    pub algs: Vec<&'static str>,
    /// A fresh nonce for `DPoP-Nonce`, with `use_dpop_nonce`.
    pub nonce: Option<String>,
}

impl BearerError {
    /// The HTTP status (RFC 6750 §3.1).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::InvalidToken | Self::Dpop(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3; RFC 9449 §7.1 for [`Self::Dpop`]).
    pub fn challenge(&self, realm: Option<&str>) -> String {
        let mut parts = Vec::new();
        if let Some(realm) = realm {
            parts.push(format!("realm=\"{}\"", realm.replace(['"', '\\'], "")));
        }
        if let Self::Dpop(c) = self {
            parts.push(format!("error=\"{}\"", c.error));
            if !c.algs.is_empty() {
                parts.push(format!("algs=\"{}\"", c.algs.join(" ")));
            }
            return format!("DPoP {}", parts.join(", "));
        }
        match self {
            Self::Missing | Self::Unavailable | Self::Dpop(_) => {}
            Self::InvalidRequest(_) => parts.push("error=\"invalid_request\"".into()),
            Self::InvalidToken => parts.push("error=\"invalid_token\"".into()),
            Self::InsufficientScope { required } => {
                parts.push("error=\"insufficient_scope\"".into());
                parts.push(format!("scope=\"{}\"", required.join(" ").replace(['"', '\\'], "")));
            }
        }
        if parts.is_empty() { "Bearer".into() } else { format!("Bearer {}", parts.join(", ")) }
    }

    /// The response: the status, the challenge, an empty body.
    pub fn to_response(&self, realm: Option<&str>) -> http::Response<Vec<u8>> {
        let mut response = http::Response::new(Vec::new());
        *response.status_mut() = self.status();
        if let Ok(v) = HeaderValue::from_str(&self.challenge(realm)) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Self::Dpop(DpopChallenge { nonce: Some(nonce), .. }) = self
            && let Ok(v) = HeaderValue::from_str(nonce)
        {
            response.headers_mut().insert(crate::oauth2::rfc9449::DPOP_NONCE, v);
        }
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Checks a bearer token: the seam for opaque tokens in the store, JWT access tokens, and
/// (later) remote introspection.
pub trait TokenVerifier: Send + Sync {
    /// The grant of `token` at `now`, or why not.
    fn verify<'a>(&'a self, token: &'a str, now: i64) -> BoxFuture<'a, Result<AccessGrant, BearerError>>;
}

/// Looks opaque tokens up in the store; JWTs (when a verifier is set) are checked locally.
struct LocalVerifier {
    store: Arc<dyn OAuth2Store>,
    jwt: Option<Arc<dyn JwtAccessTokens>>,
}

impl TokenVerifier for LocalVerifier {
    fn verify<'a>(&'a self, token: &'a str, now: i64) -> BoxFuture<'a, Result<AccessGrant, BearerError>> {
        Box::pin(async move {
            if let Some(jwt) = &self.jwt
                && token.bytes().filter(|b| *b == b'.').count() == 2
            {
                let claims = jwt.verify(token, now).ok_or(BearerError::InvalidToken)?;
                return Ok(AccessGrant {
                    subject: claims.subject,
                    client_id: claims.client_id,
                    scopes: claims.scopes,
                    audience: claims.audience,
                    expires_at: claims.expires_at,
                    jkt: claims.jkt,
                });
            }
            let record = self
                .store
                .get_token(&hash_token(token), now)
                .await
                .map_err(|_| BearerError::Unavailable)?
                .filter(|r| r.kind == TokenKind::Access)
                .ok_or(BearerError::InvalidToken)?;
            Ok(AccessGrant {
                subject: record.subject,
                client_id: record.client_id,
                scopes: record.scopes,
                audience: record.resources,
                expires_at: record.expires_at,
                jkt: record.jkt,
            })
        })
    }
}

/// The resource protector (RFC 6750): finds and checks bearer tokens. Cheap to clone.
#[derive(Clone)]
pub struct ResourceProtector {
    verifier: Arc<dyn TokenVerifier>,
    clock: Arc<dyn Clock>,
    placement: BearerPlacement,
    audience: Option<String>,
    dpop: Option<DpopVerifier>,
    public_base_url: Option<String>,
}

impl std::fmt::Debug for ResourceProtector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceProtector")
            .field("placement", &self.placement)
            .field("audience", &self.audience)
            .field("dpop", &self.dpop.is_some())
            .field("public_base_url", &self.public_base_url)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// A resource protector over this server's store (and its JWT verifier), with the
    /// configured [`BearerPlacement`].
    pub fn resource_protector(&self) -> ResourceProtector {
        ResourceProtector {
            verifier: Arc::new(LocalVerifier {
                store: self.inner.store.clone(),
                jwt: self.inner.jwt.clone(),
            }),
            clock: self.inner.clock.clone(),
            placement: self.inner.config.bearer_placement,
            audience: None,
            dpop: self.inner.dpop.clone(),
            public_base_url: None,
        }
    }
}

impl ResourceProtector {
    /// A protector over any [`TokenVerifier`].
    pub fn new(verifier: Arc<dyn TokenVerifier>, clock: Arc<dyn Clock>, placement: BearerPlacement) -> Self {
        Self { verifier, clock, placement, audience: None, dpop: None, public_base_url: None }
    }

    /// Caches what the verifier answers, within `config` (see [`super::cache`]: bounded,
    /// never past a token's expiry; a revoked token stays accepted until its entry expires).
    pub fn with_cache(mut self, config: super::cache::CacheConfig) -> Self {
        self.verifier = Arc::new(super::cache::CachingVerifier::new(self.verifier, config));
        self
    }

    /// Accepts only tokens whose audience holds `audience` (RFC 8707; RFC 9068 §4): a token
    /// with no audience (the server's default) is then refused.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449 §7) with proofs checked by `dpop` (whose replay
    /// store records their `jti`s), and refuses them as `Bearer`.
    pub fn with_dpop(mut self, dpop: DpopVerifier) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// Compares DPoP proofs' `htu` with `base_url` (`https://api.example`, or with a path
    /// prefix) followed by the request's path, rather than with the request's own URI: for a
    /// service behind a proxy, or a framework that hands requests over with a relative URI.
    pub fn with_public_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.public_base_url = Some(base_url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Finds the request's bearer token (RFC 6750 §2) and checks it, and that it carries
    /// every scope of `required`. With DPoP on, a `DPoP` token and its proof (RFC 9449 §7).
    pub async fn validate(
        &self,
        request: &http::Request<Vec<u8>>,
        required: &[&str],
    ) -> Result<AccessGrant, BearerError> {
        let (token, dpop_scheme) = self.find_token(request)?;
        let now = self.clock.now();
        let grant = match &self.dpop {
            Some(dpop) if dpop_scheme => {
                let proof = self.check_proof(dpop, request, &token, now).await?;
                let grant = self.verifier.verify(&token, now).await?;
                match &grant.jkt {
                    Some(jkt) if *jkt == proof => grant,
                    _ => {
                        return Err(dpop_error(
                            dpop,
                            "invalid_token",
                            "the token is not bound to the proof's key",
                        ));
                    }
                }
            }
            _ => {
                let grant = self.verifier.verify(&token, now).await?;
                if grant.jkt.is_some() {
                    // RFC 9449 §7.2: a bound token is no bearer token.
                    return Err(match &self.dpop {
                        Some(dpop) => dpop_error(dpop, "invalid_token", "a DPoP-bound token sent as Bearer"),
                        None => BearerError::InvalidToken,
                    });
                }
                grant
            }
        };
        if let Some(aud) = &self.audience
            && !grant.audience.iter().any(|a| a == aud)
        {
            return Err(BearerError::InvalidToken);
        }
        grant.require(required)?;
        Ok(grant)
    }

    /// Checks the request's DPoP proof for `token` (RFC 9449 §7.1, §4.3); the key's
    /// thumbprint.
    async fn check_proof(
        &self,
        dpop: &DpopVerifier,
        request: &http::Request<Vec<u8>>,
        token: &str,
        now: i64,
    ) -> Result<String, BearerError> {
        let invalid = |reason| dpop_error(dpop, "invalid_dpop_proof", reason);
        let proof = DpopVerifier::proof_header(request.headers())
            .map_err(|_| invalid("more than one DPoP header, or not text"))?
            .ok_or_else(|| invalid("no DPoP proof"))?;
        let url = match &self.public_base_url {
            Some(base) => format!("{base}{}", request.uri().path()),
            None => request.uri().to_string(),
        };
        let target = ProofTarget { method: request.method(), url: &url, access_token: Some(token) };
        match dpop.verify(proof, target, now).await {
            Ok(proof) => Ok(proof.jkt),
            Err(DpopError::Invalid(reason)) => Err(invalid(reason)),
            Err(DpopError::NonceRequired) => Err(BearerError::Dpop(DpopChallenge {
                error: "use_dpop_nonce",
                description: "a DPoP nonce is required",
                algs: dpop.config().alg_names(),
                nonce: Some(dpop.nonce(now)),
            })),
            Err(_) => Err(BearerError::Unavailable),
        }
    }

    /// The token: from the `Authorization: Bearer` (or, with DPoP on, `DPoP`) header, or
    /// (when enabled) the form body or query; in more than one place is `invalid_request`
    /// (§2). With whether it came with the `DPoP` scheme.
    fn find_token(&self, request: &http::Request<Vec<u8>>) -> Result<(String, bool), BearerError> {
        let mut found: Vec<String> = Vec::new();
        let mut dpop_scheme = false;
        if let Some(value) = request.headers().get(header::AUTHORIZATION) {
            let value =
                value.to_str().map_err(|_| BearerError::InvalidRequest("malformed Authorization header"))?;
            if let Some((scheme, token)) = value.split_once(' ')
                && (scheme.eq_ignore_ascii_case("bearer")
                    || (self.dpop.is_some() && scheme.eq_ignore_ascii_case(crate::oauth2::rfc9449::DPOP)))
            {
                dpop_scheme = !scheme.eq_ignore_ascii_case("bearer");
                let token = token.trim();
                if token.is_empty() || !token.bytes().all(is_b64token) {
                    return Err(BearerError::InvalidToken);
                }
                found.push(token.to_owned());
            }
        }
        if self.placement.form_body
            && request.method() != http::Method::GET
            && crate::oauth1::rfc5849::params::is_form(request.headers())
            && let Ok(text) = std::str::from_utf8(request.body())
        {
            let form =
                Form::parse_lenient(text).map_err(|_| BearerError::InvalidRequest("malformed body"))?;
            found.extend(form.all("access_token"));
        }
        if self.placement.query
            && let Some(q) = request.uri().query()
        {
            let form = Form::parse_lenient(q).map_err(|_| BearerError::InvalidRequest("malformed query"))?;
            found.extend(form.all("access_token"));
        }
        match found.len() {
            0 => Err(BearerError::Missing),
            1 => Ok((found.remove(0), dpop_scheme)),
            _ => Err(BearerError::InvalidRequest("the token is sent more than once")),
        }
    }
}

/// A `WWW-Authenticate: DPoP` refusal.
fn dpop_error(dpop: &DpopVerifier, error: &'static str, description: &'static str) -> BearerError {
    BearerError::Dpop(DpopChallenge { error, description, algs: dpop.config().alg_names(), nonce: None })
}

/// The `b64token` characters of RFC 6750 §2.1.
fn is_b64token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

//! The configuration of one OAuth 2.0 / OpenID Connect client, built in code (the registry
//! builds one from an app's configuration).

use keyward::common::secret::SecretString;
use keyward::oauth2::rfc6749::ClientAuthMethod;
use keyward::oauth2::rfc6750::TokenPlacement;
use keyward::oauth2::rfc7636::ChallengeMethod;
use keyward::oidc::Algorithm;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a discovery document is used before it is fetched again, in seconds.
pub const DEFAULT_METADATA_TTL: i64 = 3600;

/// The least time between two JWK-set fetches triggered by unknown `kid`s, in seconds.
pub const DEFAULT_JWKS_REFETCH_INTERVAL: i64 = 60;

/// Per-provider switches for known deviations from the specifications.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    /// The provider does not echo `nonce` in ID tokens; no nonce is sent or checked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_nonce: bool,
    /// A placeholder in the discovery document's `issuer` that stands for a claim of the
    /// ID token (Microsoft's multi-tenant `{tenantid}`, filled from `tid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_template: Option<String>,
    /// The provider has no userinfo endpoint; the ID token's claims are the user's profile.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub userinfo_from_id_token: bool,
}

/// An endpoint of the provider, set in configuration or found in its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// RFC 6749 §3.1.
    Authorization,
    /// RFC 6749 §3.2.
    Token,
    /// RFC 7009.
    Revocation,
    /// RFC 7662.
    Introspection,
    /// RFC 8628 §3.1.
    DeviceAuthorization,
    /// OpenID Connect Core §5.3.
    Userinfo,
    /// RFC 7517 key set.
    Jwks,
}

impl Endpoint {
    /// The metadata member naming it (RFC 8414 §2).
    pub fn metadata_name(self) -> &'static str {
        match self {
            Endpoint::Authorization => "authorization_endpoint",
            Endpoint::Token => "token_endpoint",
            Endpoint::Revocation => "revocation_endpoint",
            Endpoint::Introspection => "introspection_endpoint",
            Endpoint::DeviceAuthorization => "device_authorization_endpoint",
            Endpoint::Userinfo => "userinfo_endpoint",
            Endpoint::Jwks => "jwks_uri",
        }
    }
}

/// The configuration of an [`OAuth2Client`](super::OAuth2Client).
///
/// Endpoints left unset are taken from the provider's metadata (`server_metadata_url`).
#[derive(Debug, Clone)]
pub struct OAuth2Config {
    /// The client identifier.
    pub client_id: String,
    /// The client secret (confidential clients).
    pub client_secret: Option<SecretString>,
    /// Authorization endpoint.
    pub authorize_url: Option<String>,
    /// Token endpoint.
    pub token_url: Option<String>,
    /// Where refresh requests go, when not the token endpoint.
    pub refresh_token_url: Option<String>,
    /// RFC 7009 revocation endpoint.
    pub revocation_url: Option<String>,
    /// RFC 7662 introspection endpoint.
    pub introspection_url: Option<String>,
    /// RFC 8628 device authorization endpoint.
    pub device_authorization_url: Option<String>,
    /// OpenID Connect userinfo endpoint.
    pub userinfo_url: Option<String>,
    /// JWK set URL, when not discovered.
    pub jwks_uri: Option<String>,
    /// Inline JWK set (instead of fetching `jwks_uri`).
    pub jwks: Option<serde_json::Value>,
    /// The provider's issuer, when there is no discovery document.
    pub issuer: Option<String>,
    /// OpenID Connect discovery or RFC 8414 metadata URL.
    pub server_metadata_url: Option<String>,
    /// Space-separated scope requested by default.
    pub scope: Option<String>,
    /// Client authentication at the token endpoint; `None`: `client_secret_basic` with a
    /// secret, `none` without.
    pub auth_method: Option<ClientAuthMethod>,
    /// The RSA private key (PEM) for `private_key_jwt`.
    pub private_key: Option<SecretString>,
    /// The `kid` put in `private_key_jwt` assertions.
    pub private_key_kid: Option<String>,
    /// Where the access token goes on API calls.
    pub token_placement: TokenPlacement,
    /// PKCE method; `None`: no PKCE.
    pub pkce: Option<ChallengeMethod>,
    /// Seconds before expiry at which a token is refreshed (default 60).
    pub leeway: i64,
    /// Clock-skew allowance of ID-token time claims (default 120).
    pub id_token_leeway: i64,
    /// ID-token algorithms accepted; `None`: the provider's advertised list, else RS256.
    pub id_token_algorithms: Option<Vec<Algorithm>>,
    /// Extra parameters of the authorization URL; they override call-time ones.
    pub authorize_params: BTreeMap<String, String>,
    /// Extra parameters of token requests.
    pub access_token_params: BTreeMap<String, String>,
    /// Extra parameters of refresh requests.
    pub refresh_token_params: BTreeMap<String, String>,
    /// An expired token without refresh token is renewed with the client-credentials grant.
    pub refetch_with_client_credentials: bool,
    /// Known deviations of the provider.
    pub quirks: Quirks,
    /// Lifetime of the cached discovery document, in seconds.
    pub metadata_ttl: i64,
    /// Least seconds between two JWK-set refetches caused by unknown `kid`s.
    pub jwks_refetch_interval: i64,
    /// Pushed authorization requests (RFC 9126) to the provider's
    /// `pushed_authorization_request_endpoint`. `None` (the default): used whenever the
    /// metadata advertises that endpoint; `Some(true)`: always (a configuration error
    /// without one); `Some(false)`: only when the metadata says
    /// `require_pushed_authorization_requests`.
    pub use_par: Option<bool>,
    /// DPoP (RFC 9449): a key pair (ES256) is generated for the client unless one is given
    /// ([`OAuth2Client::with_dpop_key`](super::OAuth2Client::with_dpop_key)), and every
    /// token request and DPoP-bound resource call carries a proof.
    pub dpop: bool,
    /// The DPoP key, instead of a generated one; it turns DPoP on by itself.
    pub dpop_key: Option<keyward::oauth2::rfc9449::DpopKey>,
}

impl OAuth2Config {
    /// A configuration with only a client id and the defaults.
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: None,
            authorize_url: None,
            token_url: None,
            refresh_token_url: None,
            revocation_url: None,
            introspection_url: None,
            device_authorization_url: None,
            userinfo_url: None,
            jwks_uri: None,
            jwks: None,
            issuer: None,
            server_metadata_url: None,
            scope: None,
            auth_method: None,
            private_key: None,
            private_key_kid: None,
            token_placement: TokenPlacement::Header,
            pkce: None,
            leeway: keyward::oauth2::rfc6749::DEFAULT_LEEWAY,
            id_token_leeway: keyward::oidc::core::DEFAULT_LEEWAY,
            id_token_algorithms: None,
            authorize_params: BTreeMap::new(),
            access_token_params: BTreeMap::new(),
            refresh_token_params: BTreeMap::new(),
            refetch_with_client_credentials: false,
            quirks: Quirks::default(),
            metadata_ttl: DEFAULT_METADATA_TTL,
            jwks_refetch_interval: DEFAULT_JWKS_REFETCH_INTERVAL,
            use_par: None,
            dpop: false,
            dpop_key: None,
        }
    }

    /// The client-authentication method in force.
    pub fn auth_method(&self) -> ClientAuthMethod {
        self.auth_method
            .clone()
            .unwrap_or_else(|| ClientAuthMethod::default_for(self.client_secret.is_some()))
    }

    pub(crate) fn configured(&self, e: Endpoint) -> Option<&str> {
        match e {
            Endpoint::Authorization => self.authorize_url.as_deref(),
            Endpoint::Token => self.token_url.as_deref(),
            Endpoint::Revocation => self.revocation_url.as_deref(),
            Endpoint::Introspection => self.introspection_url.as_deref(),
            Endpoint::DeviceAuthorization => self.device_authorization_url.as_deref(),
            Endpoint::Userinfo => self.userinfo_url.as_deref(),
            Endpoint::Jwks => self.jwks_uri.as_deref(),
        }
    }

    pub(crate) fn wants_openid(&self, scope: Option<&str>) -> bool {
        scope.or(self.scope.as_deref()).is_some_and(|s| s.split_ascii_whitespace().any(|x| x == "openid"))
    }
}

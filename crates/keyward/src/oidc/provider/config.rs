//! The OpenID Provider's configuration (OpenID Connect Discovery 1.0 §3 names the
//! published members): lifetimes, endpoints, what it advertises, and the pairwise salt.

use crate::common::secret::SecretString;

/// The claims an ID token or the UserInfo endpoint may carry that the protocol itself sets
/// (OpenID Connect Core §2, §5.1): published in `claims_supported` by default.
pub const PROTOCOL_CLAIMS: &[&str] =
    &["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid"];

/// The configuration of the OpenID Provider on top of the OAuth 2.1 server's
/// [`ServerConfig`](crate::oauth2::provider::ServerConfig).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenIdConfig {
    /// Lifetime of ID tokens, in seconds (default 3600).
    pub id_token_ttl: i64,
    /// The UserInfo endpoint's URL (Core §5.3; default `{issuer}/userinfo`).
    pub userinfo_endpoint: String,
    /// The JWK set's URL (Discovery §3 `jwks_uri`; default `{issuer}/jwks`).
    pub jwks_uri: String,
    /// The RP-Initiated Logout endpoint (RP-Initiated Logout 1.0 §2), when served.
    pub end_session_endpoint: Option<String>,
    /// The Dynamic Client Registration endpoint (RFC 7591 §3), when served.
    pub registration_endpoint: Option<String>,
    /// The claims published in `claims_supported` (Discovery §3): by default the protocol's
    /// own ([`PROTOCOL_CLAIMS`]); add those the [`ClaimsSource`](super::ClaimsSource) gives.
    pub claims_supported: Vec<String>,
    /// The `acr` values the application can satisfy (Discovery §3 `acr_values_supported`);
    /// empty: not published.
    pub acr_values_supported: Vec<String>,
    /// The secret salt of pairwise subject identifiers (Core §8.1). Required as soon as one
    /// client uses [`SubjectType::Pairwise`](crate::oauth2::provider::SubjectType::Pairwise):
    /// without it, such a client gets `server_error`. Keep it stable: changing it changes
    /// every pairwise `sub`.
    pub pairwise_salt: Option<SecretString>,
    /// How long relying parties may cache the JWK set, in seconds (`Cache-Control: public,
    /// max-age=…` on [`jwks_response`](crate::oauth2::provider::AuthorizationServer::jwks_response);
    /// default 3600). Keep it shorter than the key rotation period.
    pub jwks_max_age: u32,
}

impl OpenIdConfig {
    /// A configuration for `issuer` (the server's issuer), with the endpoints at
    /// `{issuer}/userinfo` and `{issuer}/jwks` and the defaults above.
    pub fn new(issuer: impl AsRef<str>) -> Self {
        let base = issuer.as_ref().trim_end_matches('/');
        Self {
            id_token_ttl: 3600,
            userinfo_endpoint: format!("{base}/userinfo"),
            jwks_uri: format!("{base}/jwks"),
            end_session_endpoint: None,
            registration_endpoint: None,
            claims_supported: PROTOCOL_CLAIMS.iter().map(|c| (*c).to_owned()).collect(),
            acr_values_supported: Vec::new(),
            pairwise_salt: None,
            jwks_max_age: 3600,
        }
    }

    /// Sets the ID-token lifetime.
    pub fn with_id_token_ttl(mut self, secs: i64) -> Self {
        self.id_token_ttl = secs;
        self
    }

    /// Adds `claims` to those published in `claims_supported` (the ones the application's
    /// claims hook gives).
    pub fn with_claims_supported<I: IntoIterator<Item = S>, S: Into<String>>(mut self, claims: I) -> Self {
        for claim in claims {
            let claim = claim.into();
            if !self.claims_supported.contains(&claim) {
                self.claims_supported.push(claim);
            }
        }
        self
    }

    /// Sets the `acr` values published.
    pub fn with_acr_values_supported<I: IntoIterator<Item = S>, S: Into<String>>(mut self, acrs: I) -> Self {
        self.acr_values_supported = acrs.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the pairwise salt (Core §8.1).
    pub fn with_pairwise_salt(mut self, salt: SecretString) -> Self {
        self.pairwise_salt = Some(salt);
        self
    }

    /// Sets the JWK set's cache lifetime.
    pub fn with_jwks_max_age(mut self, secs: u32) -> Self {
        self.jwks_max_age = secs;
        self
    }
}

//! JWT access tokens, RFC 9068: the claims (§2.2), issuing with the server's key set
//! (§2.1, header `typ: at+jwt`) and validation by a resource server (§4).

use crate::jose::{JoseError, KeySet};
use crate::oidc::jwks::{self, alg_name};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The JWS `typ` of a JWT access token (§2.1).
pub const TYP: &str = "at+jwt";

/// The algorithms [`verify`] accepts: asymmetric ones only (§4: the resource server
/// validates with the authorization server's public keys). `none` and the HMAC algorithms
/// are never accepted, so a public key cannot be turned into an HMAC secret.
pub const ALLOWED_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The `aud` claim (RFC 7519 §4.1.3): one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, serialised as a string.
    One(String),
    /// Several audiences, serialised as an array.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` is among the audiences.
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Self::One(one) => one == aud,
            Self::Many(many) => many.iter().any(|a| a == aud),
        }
    }
}

impl From<&str> for Audience {
    fn from(aud: &str) -> Self {
        Self::One(aud.to_owned())
    }
}

/// The claims of a JWT access token (§2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The issuer (§2.2, RFC 7519 §4.1.1).
    pub iss: String,
    /// The subject: the resource owner, or the client for `client_credentials` (§2.2).
    pub sub: String,
    /// The resource server(s) the token is for (§2.2, §3: from `resource` or a default).
    pub aud: Audience,
    /// The client the token was issued to (§2.2, RFC 8693 §4.3).
    pub client_id: String,
    /// The granted scopes, space-separated (§2.2.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A unique token id (§2.2, RFC 7519 §4.1.7).
    pub jti: String,
    /// Expiry, seconds since the epoch (§2.2).
    pub exp: i64,
    /// Issue time, seconds since the epoch (§2.2).
    pub iat: i64,
    /// When the user authenticated (§2.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Any other claims (§2.2.1 `acr`/`amr`, §2.2.2 identity claims, §2.2.3.1 `roles`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AccessTokenClaims {
    /// The granted scopes, one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or_default().split(' ').filter(|s| !s.is_empty())
    }
}

/// Issues a JWT access token (§2): `claims` signed with the key set's current key, header
/// `typ: at+jwt`, `alg` and `kid`.
/// Refused with [`JoseError::Sign`] when `extra` repeats a claim of the struct, which would
/// put the member twice in the JSON.
pub fn issue(keys: &KeySet, claims: &AccessTokenClaims) -> Result<String, JoseError> {
    const NAMED: [&str; 9] = ["iss", "sub", "aud", "client_id", "scope", "jti", "exp", "iat", "auth_time"];
    if let Some(name) = claims.extra.keys().find(|k| NAMED.contains(&k.as_str())) {
        return Err(JoseError::Sign(format!("the extra claim {name:?} repeats a named claim")));
    }
    keys.sign(Some(TYP), claims)
}

/// Why a JWT access token was refused (§4). Every variant is an `invalid_token`
/// (RFC 6750 §3.1) for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessTokenError {
    /// Not a JWS compact serialisation, or a header or claims that cannot be read.
    #[error("malformed access token: {0}")]
    Malformed(String),
    /// The header's `alg` is not in [`ALLOWED_ALGORITHMS`] (`none`, HMAC, unknown).
    #[error("algorithm not allowed: {0}")]
    AlgorithmNotAllowed(String),
    /// The header's `typ` is not `at+jwt` nor `application/at+jwt` (§4 step 1).
    #[error("not an access token: typ is {0:?}")]
    WrongType(Option<String>),
    /// No published key fits the header's `kid` and `alg`.
    #[error("no key fits the token's kid and alg")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `iss` is not the expected issuer (§4 step 3).
    #[error("wrong issuer {0:?}")]
    WrongIssuer(String),
    /// `aud` does not contain the resource server (§4 step 4).
    #[error("the token is not for this resource server")]
    WrongAudience,
    /// `exp` is past, leeway included (§4 step 7).
    #[error("the token has expired")]
    Expired,
    /// `iat` (or `nbf`) is in the future, leeway included.
    #[error("the token is not valid yet")]
    NotYetValid,
}

impl AccessTokenError {
    /// The RFC 6750 §3.1 error code: always `invalid_token`.
    pub fn code(&self) -> &'static str {
        "invalid_token"
    }
}

/// Validates a JWT access token as a resource server does (§4): the header's `typ`
/// (`at+jwt` or `application/at+jwt`, case-insensitive, RFC 7515 §4.1.9) and `alg` (one of
/// [`ALLOWED_ALGORITHMS`]), the signature with the published key of its `kid` (`keys`: from
/// the authorization server's `jwks_uri`, or [`KeySet::verifier`] in the same process),
/// `iss` equal to `issuer`, `aud` containing `audience`, and `exp`, `iat` and `nbf` at
/// `now` within `leeway` seconds.
pub fn verify(
    token: &str,
    keys: &jwks::KeySet,
    issuer: &str,
    audience: &str,
    now: i64,
    leeway: i64,
) -> Result<AccessTokenClaims, AccessTokenError> {
    verify_with(token, keys, issuer, Some(audience), now, leeway)
}

/// [`verify`], with the audience check left to the caller when `audience` is `None` (a
/// protector that checks `aud` against its own configuration after this call).
pub fn verify_with(
    token: &str,
    keys: &jwks::KeySet,
    issuer: &str,
    audience: Option<&str>,
    now: i64,
    leeway: i64,
) -> Result<AccessTokenClaims, AccessTokenError> {
    // The header is read by hand first so that `alg: none` and unknown algorithms get
    // their own error rather than a parse failure.
    let header_b64 = token.split('.').next().unwrap_or_default();
    let header: Map<String, Value> = B64URL
        .decode(header_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| AccessTokenError::Malformed("unreadable JWS header".into()))?;
    let alg_text = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let alg = ALLOWED_ALGORITHMS
        .iter()
        .copied()
        .find(|a| alg_name(*a) == alg_text)
        .ok_or_else(|| AccessTokenError::AlgorithmNotAllowed(alg_text.to_owned()))?;
    let typ = header.get("typ").and_then(Value::as_str);
    if !typ.is_some_and(|t| t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt")) {
        return Err(AccessTokenError::WrongType(typ.map(str::to_owned)));
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let key = keys.select(kid, alg).map_err(|_| AccessTokenError::UnknownKey)?;

    let mut validation = Validation::new(alg);
    // Time and audience are checked below, with typed errors.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => AccessTokenError::BadSignature,
            _ => AccessTokenError::Malformed(e.to_string()),
        })?;
    let nbf = data.claims.get("nbf").cloned();
    let claims: AccessTokenClaims = serde_json::from_value(Value::Object(data.claims))
        .map_err(|e| AccessTokenError::Malformed(format!("claims: {e}")))?;

    if claims.iss != issuer {
        return Err(AccessTokenError::WrongIssuer(claims.iss));
    }
    if audience.is_some_and(|aud| !claims.aud.contains(aud)) {
        return Err(AccessTokenError::WrongAudience);
    }
    // RFC 7519 §4.1.4: the time must be before `exp` (plus the leeway).
    if now >= claims.exp.saturating_add(leeway) {
        return Err(AccessTokenError::Expired);
    }
    let nbf = match nbf {
        None => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| AccessTokenError::Malformed("nbf is not a number".into()))?),
    };
    if claims.iat.saturating_sub(leeway) > now || nbf.is_some_and(|nbf| nbf.saturating_sub(leeway) > now) {
        return Err(AccessTokenError::NotYetValid);
    }
    Ok(claims)
}

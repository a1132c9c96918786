//! Logout for relying parties: the end-session URL of OpenID Connect RP-Initiated Logout 1.0
//! (§2), and the receiving end of OpenID Connect Back-Channel Logout 1.0 (the logout token
//! of §2.4, validated as §2.6 says, its `jti` single-use through a [`OnceStore`]).
//!
//! Sans-IO: [`end_session_url`] builds a URL, [`LogoutTokenValidator::validate`] checks a
//! token against a JWK set the caller fetched, and [`record_jti`] asks a store the caller
//! holds. The driver in `keyward-client` does the fetching and calls the application.

use super::IdTokenError;
use super::core::{IdTokenValidator, verify_signature};
use super::jwks::{KeySet, Selection};
use crate::common::replay::ReplayVerdict;
use crate::common::store::{OnceStore, StoreError};
use base64::Engine as _;
use jsonwebtoken::{AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};

/// The member of the `events` claim that makes a JWT a logout token (Back-Channel §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The `typ` header a logout token may carry (Back-Channel §2.4; `application/` prefix
/// optional).
pub const LOGOUT_JWT_TYPE: &str = "logout+jwt";

/// The [`OnceStore`] namespace of logout-token `jti`s.
pub const LOGOUT_NAMESPACE: &str = "logout";

/// How long after its `iat` a logout token without `exp` is accepted, in seconds (and so
/// how long its `jti` is remembered).
pub const DEFAULT_LOGOUT_TOKEN_MAX_AGE: i64 = 300;

/// The parameters of an RP-Initiated Logout request (§2).
#[derive(Clone, Copy, Default)]
pub struct EndSessionRequest<'a> {
    /// The ID token of the session being ended (`id_token_hint`, RECOMMENDED).
    pub id_token_hint: Option<&'a str>,
    /// Our client id (`client_id`; lets the provider check `post_logout_redirect_uri` when
    /// no ID token is at hand).
    pub client_id: Option<&'a str>,
    /// Where the provider sends the browser afterwards; it must be registered there.
    pub post_logout_redirect_uri: Option<&'a str>,
    /// Opaque value the provider returns on `post_logout_redirect_uri`.
    pub state: Option<&'a str>,
    /// Preferred languages of the provider's logout pages (`ui_locales`).
    pub ui_locales: Option<&'a str>,
}

impl std::fmt::Debug for EndSessionRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndSessionRequest")
            .field("id_token_hint", &self.id_token_hint.map(|_| "[redacted]"))
            .field("client_id", &self.client_id)
            .field("post_logout_redirect_uri", &self.post_logout_redirect_uri)
            .field("state", &self.state)
            .field("ui_locales", &self.ui_locales)
            .finish()
    }
}

/// The `end_session_endpoint` is not an absolute URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid end_session_endpoint `{endpoint}`: {reason}")]
pub struct EndSessionUrlError {
    /// The endpoint as given.
    pub endpoint: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The URL to send the browser to (RP-Initiated Logout §2): `endpoint` with the request's
/// parameters added to any query it already has (§2: the endpoint URL MAY include a query
/// component, which is kept).
pub fn end_session_url(
    endpoint: &str,
    request: &EndSessionRequest<'_>,
) -> Result<String, EndSessionUrlError> {
    let mut url = url::Url::parse(endpoint)
        .map_err(|e| EndSessionUrlError { endpoint: endpoint.to_owned(), reason: e.to_string() })?;
    if url.cannot_be_a_base() {
        return Err(EndSessionUrlError {
            endpoint: endpoint.to_owned(),
            reason: "not a hierarchical URL".into(),
        });
    }
    url.set_fragment(None);
    let params = [
        ("id_token_hint", request.id_token_hint),
        ("client_id", request.client_id),
        ("post_logout_redirect_uri", request.post_logout_redirect_uri),
        ("state", request.state),
        ("ui_locales", request.ui_locales),
    ];
    if params.iter().any(|(_, v)| v.is_some()) {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in params {
            if let Some(value) = value {
                pairs.append_pair(name, value);
            }
        }
    }
    Ok(url.into())
}

/// Why a logout token was refused (Back-Channel §2.6). Every variant but
/// [`LogoutTokenError::Store`] is the sender's fault: the answer is `400` with
/// `invalid_request` (§2.8).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutTokenError {
    /// The JWS, its `alg`, its key or its signature, or a claim shared with ID tokens
    /// (`iss`, `aud`, `iat`, `exp`) was refused; the [`IdTokenError`] says which.
    #[error("logout token refused: {0}")]
    Jwt(#[from] IdTokenError),
    /// A JWE (five segments): encrypted logout tokens are not supported.
    #[error("encrypted logout tokens are not supported")]
    Encrypted,
    /// The `typ` header is present and is neither `logout+jwt` nor `JWT`.
    #[error("logout token typ `{0}` is not logout+jwt")]
    Type(String),
    /// `iat` is older than the accepted age and the token has no `exp`.
    #[error("logout token issued at {iat} is too old (now {now})")]
    TooOld {
        /// The token's `iat`.
        iat: i64,
        /// The time of validation.
        now: i64,
    },
    /// No `events` claim, or it lacks the back-channel logout member, or that member is
    /// not a JSON object.
    #[error("logout token has no backchannel-logout event")]
    Event,
    /// Neither `sub` nor `sid`.
    #[error("logout token has neither sub nor sid")]
    NoSubject,
    /// A `nonce` claim: forbidden, so an ID token cannot pass for a logout token.
    #[error("logout token carries a nonce")]
    Nonce,
    /// No `jti` (needed to refuse a replay).
    #[error("logout token has no jti")]
    MissingJti,
    /// This `jti` was seen before, or cannot be proven fresh (issued before the replay
    /// cache's epoch).
    #[error("logout token jti was already used")]
    Replayed,
    /// The replay cache failed: the token could not be checked (not the sender's fault).
    #[error("logout token replay cache failed: {0}")]
    Store(#[source] StoreError),
}

impl LogoutTokenError {
    /// Whether the sender is at fault (answer `400` with `invalid_request`); only a failing
    /// replay cache is not.
    pub fn is_invalid_token(&self) -> bool {
        !matches!(self, LogoutTokenError::Store(_))
    }
}

/// The validated claims of a logout token (Back-Channel §2.4).
#[derive(Debug, Clone, PartialEq)]
pub struct LogoutTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The user whose sessions end, when the token names one.
    pub sub: Option<String>,
    /// The provider's session id (`sid`), when the token names one.
    pub sid: Option<String>,
    /// Audiences.
    pub aud: Vec<String>,
    /// Issued at.
    pub iat: i64,
    /// Expiry, when present.
    pub exp: Option<i64>,
    /// The token's id.
    pub jti: String,
    /// Until when the token is acceptable: `exp`, or `iat` plus the accepted age; the
    /// `jti` must be remembered that long (plus the leeway).
    pub valid_until: i64,
    /// Every claim, as received.
    pub raw: Map<String, Value>,
}

/// What a logout token is checked against: the same provider and client facts as ID
/// tokens ([`IdTokenValidator`]: issuer, client id, algorithms, leeway) and the accepted
/// age of a token without `exp`.
#[derive(Debug, Clone)]
pub struct LogoutTokenValidator {
    /// Issuer, audience, algorithms and leeway, as for ID tokens.
    pub id_token: IdTokenValidator,
    /// How long after `iat` a token without `exp` is accepted, in seconds.
    pub max_age: i64,
}

impl LogoutTokenValidator {
    /// A validator with the ID-token rules of `id_token` and the default accepted age.
    pub fn new(id_token: IdTokenValidator) -> Self {
        Self { id_token, max_age: DEFAULT_LOGOUT_TOKEN_MAX_AGE }
    }

    /// Validates a logout token (Back-Channel §2.6, steps 1–7; the `jti` step is
    /// [`record_jti`]): the `typ` header when present, signature with the right key of
    /// `keys` (or the client secret for HMAC), `iss`, `aud` (and `azp`), `iat` within the
    /// leeway and the accepted age, `exp` when present, the `events` claim, `sub` and/or
    /// `sid`, no `nonce`, and a `jti`.
    ///
    /// [`IdTokenError::UnknownKey`] (inside [`LogoutTokenError::Jwt`]) tells the caller to
    /// refetch the JWK set (once) and retry.
    pub fn validate(
        &self,
        token: &str,
        keys: &KeySet,
        now: i64,
    ) -> Result<LogoutTokenClaims, LogoutTokenError> {
        if token.split('.').count() == 5 {
            return Err(LogoutTokenError::Encrypted);
        }
        if let Some(typ) = header_typ(token)? {
            let bare = typ.strip_prefix("application/").unwrap_or(&typ);
            if !bare.eq_ignore_ascii_case(LOGOUT_JWT_TYPE) && !bare.eq_ignore_ascii_case("jwt") {
                return Err(LogoutTokenError::Type(typ));
            }
        }
        let validator = &self.id_token;
        let (kid, alg) = validator.header(token)?;
        let hmac_key;
        let key: &DecodingKey = if alg.family() == AlgorithmFamily::Hmac {
            let secret = validator.client_secret.as_ref().ok_or(IdTokenError::NoHmacSecret)?;
            hmac_key = DecodingKey::from_secret(secret.secret().as_bytes());
            &hmac_key
        } else {
            keys.select(kid.as_deref(), alg).map_err(|s| match s {
                Selection::Ambiguous => IdTokenError::AmbiguousKey,
                _ => IdTokenError::UnknownKey { kid: kid.clone() },
            })?
        };
        let raw = verify_signature(token, key, alg)?;
        self.check_claims(raw, now)
    }

    /// The claim rules of §2.6 on an already verified payload.
    pub fn check_claims(
        &self,
        raw: Map<String, Value>,
        now: i64,
    ) -> Result<LogoutTokenClaims, LogoutTokenError> {
        let v = &self.id_token;
        let leeway = v.leeway;
        if raw.contains_key("nonce") {
            return Err(LogoutTokenError::Nonce);
        }
        let text = |k: &'static str| -> Result<Option<String>, LogoutTokenError> {
            match raw.get(k) {
                None => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(IdTokenError::MissingClaim(k).into()),
            }
        };
        let time = |k: &'static str| -> Result<Option<i64>, LogoutTokenError> {
            match raw.get(k) {
                None => Ok(None),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                    .map(Some)
                    .ok_or_else(|| IdTokenError::MissingClaim(k).into()),
            }
        };
        let iss = text("iss")?.ok_or(IdTokenError::MissingClaim("iss"))?;
        let expected = match &v.issuer_template {
            Some(t) if v.issuer.contains(&t.placeholder) => {
                let value = raw.get(&t.claim).and_then(Value::as_str).unwrap_or_default();
                if value.is_empty() || value.contains('/') {
                    return Err(IdTokenError::Issuer { expected: v.issuer.clone(), got: iss }.into());
                }
                v.issuer.replace(&t.placeholder, value)
            }
            _ => v.issuer.clone(),
        };
        if iss != expected {
            return Err(IdTokenError::Issuer { expected, got: iss }.into());
        }
        let aud: Vec<String> = match raw.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or(IdTokenError::MissingClaim("aud"))?,
            _ => return Err(IdTokenError::MissingClaim("aud").into()),
        };
        if !aud.contains(&v.client_id) {
            return Err(IdTokenError::Audience { client_id: v.client_id.clone(), aud }.into());
        }
        let azp = raw.get("azp").and_then(Value::as_str);
        if azp.is_some_and(|azp| azp != v.client_id) {
            return Err(IdTokenError::AuthorizedParty(azp.map(str::to_owned)).into());
        }
        let iat = time("iat")?.ok_or(IdTokenError::MissingClaim("iat"))?;
        if iat > now.saturating_add(leeway) {
            return Err(IdTokenError::IssuedInFuture { iat, now }.into());
        }
        let exp = time("exp")?;
        let valid_until = match exp {
            Some(exp) => {
                if now > exp.saturating_add(leeway) {
                    return Err(IdTokenError::Expired { exp, now }.into());
                }
                exp
            }
            None => {
                let until = iat.saturating_add(self.max_age);
                if now > until.saturating_add(leeway) {
                    return Err(LogoutTokenError::TooOld { iat, now });
                }
                until
            }
        };
        match raw.get("events").and_then(Value::as_object).and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT)) {
            Some(Value::Object(_)) => {}
            _ => return Err(LogoutTokenError::Event),
        }
        let sub = text("sub")?;
        let sid = text("sid")?;
        if sub.is_none() && sid.is_none() {
            return Err(LogoutTokenError::NoSubject);
        }
        let jti = text("jti")?.ok_or(LogoutTokenError::MissingJti)?;
        Ok(LogoutTokenClaims { iss, sub, sid, aud, iat, exp, jti, valid_until, raw })
    }
}

/// The `typ` of a compact JWS header, if any.
fn header_typ(token: &str) -> Result<Option<String>, IdTokenError> {
    let segment = token.split('.').next().unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|e| IdTokenError::Malformed(format!("header: {e}")))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|e| IdTokenError::Malformed(format!("header: {e}")))?;
    match header.get("typ") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(IdTokenError::Malformed("header: typ is not a string".into())),
    }
}

/// Makes the token's `jti` single-use within its lifetime (Back-Channel §2.6 step 8):
/// records `iss` and `jti` in `store`'s [`LOGOUT_NAMESPACE`] until `valid_until` plus
/// `leeway`, and judges the answer with [`Recorded::verdict`](crate::common::replay::Recorded::verdict)
/// against the token's `iat` (a token issued before the cache's epoch cannot be proven fresh
/// and is refused like a replay).
pub async fn record_jti(
    store: &dyn OnceStore,
    claims: &LogoutTokenClaims,
    leeway: i64,
    now: i64,
) -> Result<(), LogoutTokenError> {
    // The issuer's length first, so that no (iss, jti) pair can spell another's key.
    let key = format!("{}:{}{}", claims.iss.len(), claims.iss, claims.jti);
    let recorded = store
        .record_once(LOGOUT_NAMESPACE, &key, claims.valid_until.saturating_add(leeway), now)
        .await
        .map_err(LogoutTokenError::Store)?;
    match recorded.verdict(claims.iat) {
        ReplayVerdict::Fresh => Ok(()),
        _ => Err(LogoutTokenError::Replayed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_session_url_keeps_the_endpoint_query_and_encodes_values() {
        let request = EndSessionRequest {
            id_token_hint: Some("h.e.y"),
            client_id: Some("c 1"),
            post_logout_redirect_uri: Some("https://rp.example/bye?x=1&y=2"),
            state: Some("s"),
            ui_locales: None,
        };
        let url = end_session_url("https://op.example/logout?tenant=a#frag", &request).unwrap();
        assert_eq!(
            url,
            "https://op.example/logout?tenant=a&id_token_hint=h.e.y&client_id=c+1&post_logout_redirect_uri=\
             https%3A%2F%2Frp.example%2Fbye%3Fx%3D1%26y%3D2&state=s"
        );
        assert_eq!(
            end_session_url("https://op.example/end", &EndSessionRequest::default()).unwrap(),
            "https://op.example/end"
        );
        assert!(end_session_url("/relative", &request).is_err());
        assert!(end_session_url("mailto:a@b", &request).is_err());
        assert!(!format!("{request:?}").contains("h.e.y"));
    }
}

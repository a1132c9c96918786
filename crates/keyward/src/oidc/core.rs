//! OpenID Connect Core 1.0: ID-token validation (§3.1.3.7, with §3.2.2.9's `at_hash` and
//! §3.3.2.10's `c_hash`).
//!
//! The JOSE work (JWS parsing, signature verification) is `jsonwebtoken`'s; the claim rules
//! are here, with the time injected.

use super::IdTokenError;
use super::jwks::{KeySet, Selection, alg_name};
use crate::common::secret::{SecretString, ct_eq};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::Digest;

/// Default leeway for `exp`, `iat` and `nbf`, in seconds.
pub const DEFAULT_LEEWAY: i64 = 120;

/// A placeholder in the provider's issuer filled from a claim of each ID token, such as
/// Microsoft's multi-tenant `{tenantid}` (filled from `tid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerTemplate {
    /// The placeholder as it appears in the issuer, e.g. `{tenantid}`.
    pub placeholder: String,
    /// The claim that fills it, e.g. `tid`.
    pub claim: String,
}

impl IssuerTemplate {
    /// The template for a placeholder: `{tenantid}` is filled from `tid`, any other
    /// `{name}` from the claim `name`.
    pub fn from_placeholder(placeholder: &str) -> Self {
        let name = placeholder.trim_start_matches('{').trim_end_matches('}');
        let claim = if name == "tenantid" { "tid" } else { name };
        Self { placeholder: placeholder.to_owned(), claim: claim.to_owned() }
    }
}

/// The validated claims of an ID token (Core §2).
#[derive(Debug, Clone, PartialEq)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user's id at the provider.
    pub sub: String,
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// The nonce of the authorization request.
    pub nonce: Option<String>,
    /// Every claim, as received.
    pub raw: Map<String, Value>,
}

/// What an ID token is checked against: the provider and the client. Built once per
/// provider; [`IdTokenValidator::validate`] is then called per token.
#[derive(Clone)]
pub struct IdTokenValidator {
    /// The provider's issuer (from discovery or configuration).
    pub issuer: String,
    /// A placeholder in `issuer` filled from each token (multi-tenant providers).
    pub issuer_template: Option<IssuerTemplate>,
    /// Our client id: `aud` must contain it.
    pub client_id: String,
    /// Our client secret: the key of HMAC-signed tokens, when the provider advertises them.
    pub client_secret: Option<SecretString>,
    /// Algorithms accepted: the provider's `id_token_signing_alg_values_supported`, else RS256.
    pub algorithms: Vec<Algorithm>,
    /// Clock-skew allowance for `exp`, `iat`, `nbf`.
    pub leeway: i64,
}

impl std::fmt::Debug for IdTokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenValidator")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

/// Per-token inputs: the time, the flow's nonce, and the values the hashes bind.
///
/// Its `Debug` says whether an access token and a code are present, never their values.
#[derive(Clone, Copy, Default)]
pub struct IdTokenCheck<'a> {
    /// Seconds since the epoch.
    pub now: i64,
    /// The nonce stored for the flow; `None` when none was sent (a provider without nonce
    /// support, or a refresh).
    pub nonce: Option<&'a str>,
    /// The access token issued with the ID token (checked against `at_hash` when present).
    pub access_token: Option<&'a str>,
    /// The authorization code (checked against `c_hash` when present).
    pub code: Option<&'a str>,
}

impl std::fmt::Debug for IdTokenCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: Option<&str>| v.map(|_| "[redacted]");
        f.debug_struct("IdTokenCheck")
            .field("now", &self.now)
            .field("nonce", &self.nonce)
            .field("access_token", &redacted(self.access_token))
            .field("code", &redacted(self.code))
            .finish()
    }
}

/// The algorithms named in a provider's metadata that Keyward knows; RS256 when the list is
/// absent or holds none of them. `none` is never included.
pub fn algorithms_from_names<S: AsRef<str>>(names: Option<&[S]>) -> Vec<Algorithm> {
    let algs: Vec<Algorithm> =
        names.unwrap_or_default().iter().filter_map(|n| n.as_ref().parse::<Algorithm>().ok()).collect();
    if algs.is_empty() { vec![Algorithm::RS256] } else { algs }
}

impl IdTokenValidator {
    /// A validator for `issuer` and `client_id` with RS256 and the default leeway.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            issuer_template: None,
            client_id: client_id.into(),
            client_secret: None,
            algorithms: vec![Algorithm::RS256],
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// The header's `kid` and `alg`, refusing `none` and algorithms not allowed.
    pub fn header(&self, token: &str) -> Result<(Option<String>, Algorithm), IdTokenError> {
        let segment = token.split('.').next().unwrap_or("");
        if token.split('.').count() != 3 {
            return Err(IdTokenError::Malformed("not a compact JWS".into()));
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|e| IdTokenError::Malformed(format!("header: {e}")))?;
        let header: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|e| IdTokenError::Malformed(format!("header: {e}")))?;
        let alg = header.get("alg").and_then(Value::as_str).ok_or(IdTokenError::MissingClaim("alg"))?;
        if alg.eq_ignore_ascii_case("none") {
            return Err(IdTokenError::Unsigned);
        }
        let parsed =
            alg.parse::<Algorithm>().map_err(|_| IdTokenError::AlgorithmNotAllowed(alg.to_owned()))?;
        if !self.algorithms.contains(&parsed) {
            return Err(IdTokenError::AlgorithmNotAllowed(alg.to_owned()));
        }
        let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
        Ok((kid, parsed))
    }

    /// Validates an ID token (Core §3.1.3.7): signature with the right key, `iss`, `aud`,
    /// `azp`, `exp`, `iat`, `nbf`, `nonce`, then `at_hash`/`c_hash` when present.
    ///
    /// [`IdTokenError::UnknownKey`] tells the caller to refetch the JWK set (once) and retry.
    pub fn validate(
        &self,
        token: &str,
        keys: &KeySet,
        check: &IdTokenCheck<'_>,
    ) -> Result<IdTokenClaims, IdTokenError> {
        let (kid, alg) = self.header(token)?;
        let hmac_key;
        let key: &DecodingKey = if alg.family() == AlgorithmFamily::Hmac {
            let secret = self.client_secret.as_ref().ok_or(IdTokenError::NoHmacSecret)?;
            hmac_key = DecodingKey::from_secret(secret.secret().as_bytes());
            &hmac_key
        } else {
            keys.select(kid.as_deref(), alg).map_err(|s| match s {
                Selection::Ambiguous => IdTokenError::AmbiguousKey,
                _ => IdTokenError::UnknownKey { kid: kid.clone() },
            })?
        };
        let raw = verify_signature(token, key, alg)?;
        self.check_claims(raw, alg, check)
    }

    /// The claim rules of Core §3.1.3.7 on an already verified payload.
    pub fn check_claims(
        &self,
        raw: Map<String, Value>,
        alg: Algorithm,
        check: &IdTokenCheck<'_>,
    ) -> Result<IdTokenClaims, IdTokenError> {
        let text = |k: &'static str| raw.get(k).and_then(Value::as_str).ok_or(IdTokenError::MissingClaim(k));
        let time = |k: &'static str| -> Result<Option<i64>, IdTokenError> {
            match raw.get(k) {
                None => Ok(None),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_f64().map(|f| f as i64))
                    .map(Some)
                    .ok_or(IdTokenError::MissingClaim(k)),
            }
        };
        let leeway = self.leeway;
        let now = check.now;

        let iss = text("iss")?;
        let expected = match &self.issuer_template {
            Some(t) if self.issuer.contains(&t.placeholder) => {
                let value = raw.get(&t.claim).and_then(Value::as_str).unwrap_or_default();
                if value.is_empty() || value.contains('/') {
                    return Err(IdTokenError::Issuer { expected: self.issuer.clone(), got: iss.to_owned() });
                }
                self.issuer.replace(&t.placeholder, value)
            }
            _ => self.issuer.clone(),
        };
        if iss != expected {
            return Err(IdTokenError::Issuer { expected, got: iss.to_owned() });
        }
        let sub = text("sub")?;
        let aud: Vec<String> = match raw.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or(IdTokenError::MissingClaim("aud"))?,
            _ => return Err(IdTokenError::MissingClaim("aud")),
        };
        if !aud.contains(&self.client_id) {
            return Err(IdTokenError::Audience { client_id: self.client_id.clone(), aud });
        }
        let azp = raw.get("azp").and_then(Value::as_str);
        if (aud.len() > 1 || azp.is_some()) && azp != Some(self.client_id.as_str()) {
            return Err(IdTokenError::AuthorizedParty(azp.map(str::to_owned)));
        }
        let exp = time("exp")?.ok_or(IdTokenError::MissingClaim("exp"))?;
        if now > exp.saturating_add(leeway) {
            return Err(IdTokenError::Expired { exp, now });
        }
        let iat = time("iat")?.ok_or(IdTokenError::MissingClaim("iat"))?;
        if iat > now.saturating_add(leeway) {
            return Err(IdTokenError::IssuedInFuture { iat, now });
        }
        if let Some(nbf) = time("nbf")?
            && nbf > now.saturating_add(leeway)
        {
            return Err(IdTokenError::NotYetValid { nbf, now });
        }
        let nonce = raw.get("nonce").and_then(Value::as_str);
        if let Some(expected) = check.nonce {
            let got = nonce.ok_or(IdTokenError::NonceMissing)?;
            if !ct_eq(got.as_bytes(), expected.as_bytes()) {
                return Err(IdTokenError::NonceMismatch);
            }
        }
        if let (Some(at_hash), Some(access_token)) =
            (raw.get("at_hash").and_then(Value::as_str), check.access_token)
            && !ct_eq(left_half_hash(alg, access_token).as_bytes(), at_hash.as_bytes())
        {
            return Err(IdTokenError::AccessTokenHash);
        }
        if let (Some(c_hash), Some(code)) = (raw.get("c_hash").and_then(Value::as_str), check.code)
            && !ct_eq(left_half_hash(alg, code).as_bytes(), c_hash.as_bytes())
        {
            return Err(IdTokenError::CodeHash);
        }
        Ok(IdTokenClaims {
            iss: iss.to_owned(),
            sub: sub.to_owned(),
            aud,
            exp,
            iat,
            nonce: nonce.map(str::to_owned),
            raw,
        })
    }
}

/// Verifies a JWS signature with `jsonwebtoken` and returns the payload, checking no claim.
pub fn verify_signature(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<Map<String, Value>, IdTokenError> {
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    match jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => IdTokenError::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                IdTokenError::AlgorithmNotAllowed(alg_name(alg))
            }
            jsonwebtoken::errors::ErrorKind::InvalidToken
            | jsonwebtoken::errors::ErrorKind::Base64(_)
            | jsonwebtoken::errors::ErrorKind::Json(_)
            | jsonwebtoken::errors::ErrorKind::Utf8(_) => IdTokenError::Malformed(e.to_string()),
            _ => IdTokenError::Jose(e.to_string()),
        }),
    }
}

/// `at_hash` / `c_hash` (Core §3.1.3.6, §3.3.2.11): base64url of the left half of the hash
/// of the value, with the hash of the JWS alg (SHA-512 for EdDSA/Ed25519).
pub fn left_half_hash(alg: Algorithm, value: &str) -> String {
    let digest: Vec<u8> = match alg {
        Algorithm::HS384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => {
            sha2::Sha384::digest(value.as_bytes()).to_vec()
        }
        Algorithm::HS512 | Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => {
            sha2::Sha512::digest(value.as_bytes()).to_vec()
        }
        _ => sha2::Sha256::digest(value.as_bytes()).to_vec(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

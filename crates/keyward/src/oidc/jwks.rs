//! JSON Web Key sets (RFC 7517 §5) and key selection for ID-token signatures
//! (OpenID Connect Core §10.1.1).

use crate::oauth2::OAuth2Error;
use crate::oauth2::error_json_object;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, jwk::AlgorithmParameters};

/// A verification key from a JWK set, converted once.
#[derive(Clone)]
struct Entry {
    kid: Option<String>,
    alg: Option<String>,
    family: jsonwebtoken::AlgorithmFamily,
    key: DecodingKey,
}

/// The usable signing keys of a JWK set: `use` absent or `sig`, a key type Keyward can
/// verify with (RSA, EC, OKP). Symmetric (`oct`) keys are dropped: an HMAC alg is never
/// keyed with a key from a JWK set.
#[derive(Clone, Default)]
pub struct KeySet {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|e| (&e.kid, &e.alg))).finish()
    }
}

/// The JWS name of an algorithm (RFC 7518 §3.1).
pub fn alg_name(alg: Algorithm) -> String {
    match serde_json::to_value(alg) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{alg:?}"),
    }
}

impl KeySet {
    /// Reads a JWK set document (`{"keys": [...]}`); keys that cannot be used for
    /// signatures are skipped, one unreadable key does not spoil the others.
    pub fn from_value(value: &serde_json::Value) -> Result<KeySet, String> {
        let keys = value.get("keys").and_then(|k| k.as_array()).ok_or("a JWK set has a `keys` array")?;
        let mut entries = Vec::new();
        for raw in keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else { continue };
            if raw.get("use").and_then(|u| u.as_str()).is_some_and(|u| u != "sig") {
                continue;
            }
            let family = match jwk.algorithm {
                AlgorithmParameters::RSA(_) => jsonwebtoken::AlgorithmFamily::Rsa,
                AlgorithmParameters::EllipticCurve(_) => jsonwebtoken::AlgorithmFamily::Ec,
                AlgorithmParameters::OctetKeyPair(_) => jsonwebtoken::AlgorithmFamily::Ed,
                _ => continue,
            };
            let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
            entries.push(Entry {
                kid: jwk.common.key_id.clone(),
                alg: raw.get("alg").and_then(|a| a.as_str()).map(str::to_owned),
                family,
                key,
            });
        }
        Ok(KeySet { entries })
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The key for a JWS header's `kid` and `alg` (Core §10.1.1, RFC 7515 §4.1.4): with a
    /// `kid`, the key of that id (or the set's only key when no key has an id); without,
    /// the only key that fits `alg`. A key fits when its type matches the alg's family and
    /// its own `alg`, if any, is the header's.
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&DecodingKey, Selection> {
        let name = alg_name(alg);
        let fits = |e: &&Entry| e.family == alg.family() && e.alg.as_deref().is_none_or(|a| a == name);
        match kid {
            Some(kid) => match self.entries.iter().filter(fits).find(|e| e.kid.as_deref() == Some(kid)) {
                Some(e) => Ok(&e.key),
                // A set whose only fitting key has no `kid` at all (some providers publish
                // one key bare): that key, else unknown.
                None => {
                    let mut bare = self.entries.iter().filter(fits).filter(|e| e.kid.is_none());
                    match (bare.next(), bare.next(), self.entries.iter().any(|e| e.kid.is_some())) {
                        (Some(e), None, false) => Ok(&e.key),
                        _ => Err(Selection::Unknown),
                    }
                }
            },
            None => {
                let mut it = self.entries.iter().filter(fits);
                match (it.next(), it.next()) {
                    (Some(e), None) => Ok(&e.key),
                    (None, _) => Err(Selection::Unknown),
                    (Some(_), Some(_)) => Err(Selection::Ambiguous),
                }
            }
        }
    }
}

/// Why no key was selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// No key fits (a rotated key the cache does not have yet?).
    Unknown,
    /// Several keys fit and the header has no `kid`.
    Ambiguous,
}

/// Reads a `jwks_uri` response.
pub fn parse_jwks_response(response: &http::Response<Vec<u8>>) -> Result<KeySet, OAuth2Error> {
    let status = response.status().as_u16();
    let map = error_json_object(response)?;
    KeySet::from_value(&serde_json::Value::Object(map)).map_err(|reason| OAuth2Error::Parse {
        status,
        body: response.body().clone(),
        reason,
    })
}

/// The request for a `jwks_uri`.
pub fn jwks_request(jwks_uri: &str) -> Result<http::Request<Vec<u8>>, OAuth2Error> {
    get_json(jwks_uri)
}

pub(crate) fn get_json(url: &str) -> Result<http::Request<Vec<u8>>, OAuth2Error> {
    http::Request::get(url)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| OAuth2Error::InvalidUrl { url: url.to_owned(), reason: e.to_string() })
}

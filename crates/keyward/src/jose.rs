//! A server's signing keys: a key set with rotation (OpenID Connect Core §10.1.1, RFC 7517
//! §5, RFC 7518 §3), for JWT access tokens (RFC 9068) and ID tokens.
//!
//! Each key has a `kid`, an `alg` (RS256 by default, ES256 or EdDSA) and a state:
//!
//! - **next**: published in the JWK set, never signs;
//! - **current**: signs (exactly one key);
//! - **retired**: published until the last token it signed has expired, then dropped.
//!
//! [`KeySet::rotate`] promotes the next key, retires the current one until
//! `now + max_token_lifetime` and publishes a new next key, so a key is always in the JWK set
//! for a whole rotation period before it signs anything: relying parties that cached the
//! set at any time since the previous rotation already know it. Rotate less often than the
//! JWK set's cache lifetime.
//!
//! Every signature runs in aws-lc-rs (constant-time). The signing input and the compact
//! serialisation (RFC 7515 §7.1) are assembled here around the pre-parsed key, because
//! `jsonwebtoken` reads the private key afresh at every signature; verification, JWK
//! parsing and thumbprints stay `jsonwebtoken`'s. Keys are generated with aws-lc-rs's own
//! random source (the one place this module draws randomness). The module does no IO: a
//! store persists a [`KeySet`] through its serde form.

pub mod rotation;

use crate::common::secret::SecretString;
use crate::oidc::jwks;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as lc, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt;
use std::sync::Arc;

/// Why a key or a key set could not be read, built or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    /// A key could not be read or generated (bad PEM/DER/JWK, unsupported size or curve).
    #[error("unusable key: {0}")]
    Key(String),
    /// The algorithm is not one a [`SigningKey`] signs with (RS256, ES256, EdDSA).
    #[error("unsupported signing algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// [`KeySet::rotate`] was called with no published next key: a key must be in the JWK
    /// set before it signs.
    #[error("no next key is published; publish one before rotating")]
    NoNextKey,
    /// A key set that breaks its rules (no current key, two of them, two next keys, a `kid`
    /// used twice).
    #[error("invalid key set: {0}")]
    InvalidKeySet(&'static str),
    /// The claims could not be serialised, or the signature failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// The algorithms a [`SigningKey`] signs with (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), a 2048-bit key when generated. The
    /// default: every relying party accepts it (OpenID Connect Core §15.1).
    #[default]
    RS256,
    /// ECDSA with P-256 and SHA-256 (RFC 7518 §3.4).
    ES256,
    /// EdDSA with Ed25519 (RFC 8037 §3.1).
    EdDSA,
}

impl SigningAlg {
    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The `jsonwebtoken` algorithm of the same name.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }

    /// The signing algorithm called `name` (a JWS `alg`).
    pub fn from_name(name: &str) -> Result<Self, JoseError> {
        match name {
            "RS256" => Ok(Self::RS256),
            "ES256" => Ok(Self::ES256),
            "EdDSA" => Ok(Self::EdDSA),
            other => Err(JoseError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

/// A parsed private key, ready to sign.
enum Material {
    Rsa(lc::RsaKeyPair),
    Ec(lc::EcdsaKeyPair),
    Ed(lc::Ed25519KeyPair),
}

struct KeyInner {
    kid: String,
    alg: SigningAlg,
    material: Material,
    /// PKCS #8 DER of the private key, for the serde form.
    pkcs8: Vec<u8>,
    /// The public JWK (RFC 7517 §4), public members only.
    public_jwk: Map<String, Value>,
}

/// One signing key: its `kid`, its `alg` and the private key, parsed once. Clones share the
/// key; `Debug` prints the `kid` and `alg` only.
#[derive(Clone)]
pub struct SigningKey(Arc<KeyInner>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.0.kid)
            .field("alg", &self.0.alg)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

fn key_err(e: impl fmt::Display) -> JoseError {
    JoseError::Key(e.to_string())
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(B64URL.encode(bytes))
}

impl SigningKey {
    /// Generates a fresh key for `alg` (a 2048-bit RSA key for RS256) with aws-lc-rs; its
    /// `kid` is its JWK thumbprint (RFC 7638).
    pub fn generate(alg: SigningAlg) -> Result<Self, JoseError> {
        let pkcs8 = match alg {
            SigningAlg::RS256 => {
                let pair = lc::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(key_err)?;
                AsDer::<Pkcs8V1Der<'_>>::as_der(&pair).map_err(key_err)?.as_ref().to_vec()
            }
            SigningAlg::ES256 => {
                let pair =
                    lc::EcdsaKeyPair::generate(&lc::ECDSA_P256_SHA256_FIXED_SIGNING).map_err(key_err)?;
                pair.to_pkcs8v1().map_err(key_err)?.as_ref().to_vec()
            }
            SigningAlg::EdDSA => {
                let pair = lc::Ed25519KeyPair::generate().map_err(key_err)?;
                pair.to_pkcs8v1().map_err(key_err)?.as_ref().to_vec()
            }
        };
        Self::from_pkcs8_der(alg, None, &pkcs8)
    }

    /// Reads a PKCS #8 `PrivateKeyInfo` (RFC 5208) for `alg`; `kid` defaults to the JWK
    /// thumbprint (RFC 7638).
    pub fn from_pkcs8_der(alg: SigningAlg, kid: Option<String>, der: &[u8]) -> Result<Self, JoseError> {
        let material = match alg {
            SigningAlg::RS256 => Material::Rsa(lc::RsaKeyPair::from_pkcs8(der).map_err(key_err)?),
            SigningAlg::ES256 => Material::Ec(
                lc::EcdsaKeyPair::from_pkcs8(&lc::ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(key_err)?,
            ),
            SigningAlg::EdDSA => Material::Ed(lc::Ed25519KeyPair::from_pkcs8(der).map_err(key_err)?),
        };
        Self::new(alg, kid, material, der.to_vec())
    }

    /// Reads a PEM private key (`BEGIN PRIVATE KEY`, PKCS #8), guessing `alg` from the key
    /// type (RSA → RS256, P-256 → ES256, Ed25519 → EdDSA); `kid` defaults to the JWK
    /// thumbprint (RFC 7638).
    pub fn from_pem(pem: &str, kid: Option<String>) -> Result<Self, JoseError> {
        let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(key_err)?;
        if label != "PRIVATE KEY" {
            return Err(JoseError::Key(format!("a PEM labelled {label:?} is no PKCS #8 private key")));
        }
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            if let Ok(key) = Self::from_pkcs8_der(alg, kid.clone(), &der) {
                return Ok(key);
            }
        }
        Err(JoseError::Key("not an RSA (2048–8192 bits), P-256 or Ed25519 private key".into()))
    }

    /// Reads a private JWK (RFC 7517 §4, RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2): `kty`
    /// `RSA` (with `n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi`), `EC` on `P-256` (`x`, `y`,
    /// `d`) or `OKP` on `Ed25519` (`x`, `d`). `kid` is the JWK's, else its thumbprint;
    /// `alg`, when present, must fit the key.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JoseError> {
        let member = |name: &str| -> Result<Vec<u8>, JoseError> {
            let text = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| JoseError::Key(format!("the JWK has no `{name}`")))?;
            B64URL.decode(text).map_err(|_| JoseError::Key(format!("the JWK's `{name}` is not base64url")))
        };
        let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = jwk.get("crv").and_then(Value::as_str);
        let (alg, material) = match (kty, crv) {
            ("RSA", _) => {
                let components = aws_lc_rs::rsa::KeyPairComponents {
                    public_key: aws_lc_rs::rsa::PublicKeyComponents { n: member("n")?, e: member("e")? },
                    d: member("d")?,
                    p: member("p")?,
                    q: member("q")?,
                    dP: member("dp")?,
                    dQ: member("dq")?,
                    qInv: member("qi")?,
                };
                (
                    SigningAlg::RS256,
                    Material::Rsa(lc::RsaKeyPair::from_components(&components).map_err(key_err)?),
                )
            }
            ("EC", Some("P-256")) => {
                let mut point = vec![4];
                point.extend(member("x")?);
                point.extend(member("y")?);
                let pair = lc::EcdsaKeyPair::from_private_key_and_public_key(
                    &lc::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &member("d")?,
                    &point,
                )
                .map_err(key_err)?;
                (SigningAlg::ES256, Material::Ec(pair))
            }
            ("OKP", Some("Ed25519")) => {
                let pair = lc::Ed25519KeyPair::from_seed_and_public_key(&member("d")?, &member("x")?)
                    .map_err(key_err)?;
                (SigningAlg::EdDSA, Material::Ed(pair))
            }
            _ => return Err(JoseError::Key(format!("unsupported JWK type {kty:?} / curve {crv:?}"))),
        };
        if let Some(named) = jwk.get("alg").and_then(Value::as_str)
            && named != alg.name()
        {
            return Err(JoseError::UnsupportedAlgorithm(format!("{named} for a {} key", alg.name())));
        }
        let pkcs8 = match &material {
            Material::Rsa(pair) => AsDer::<Pkcs8V1Der<'_>>::as_der(pair).map_err(key_err)?.as_ref().to_vec(),
            Material::Ec(pair) => pair.to_pkcs8v1().map_err(key_err)?.as_ref().to_vec(),
            Material::Ed(pair) => pair.to_pkcs8v1().map_err(key_err)?.as_ref().to_vec(),
        };
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        Self::new(alg, kid, material, pkcs8)
    }

    fn new(
        alg: SigningAlg,
        kid: Option<String>,
        material: Material,
        pkcs8: Vec<u8>,
    ) -> Result<Self, JoseError> {
        let mut public_jwk = match &material {
            Material::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Material::Ec(pair) => {
                // The uncompressed point: 0x04 ‖ x ‖ y (SEC 1 §2.3.3).
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(JoseError::Key("unexpected P-256 public key encoding".into()));
                }
                json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]) })
            }
            Material::Ed(pair) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()) })
            }
        };
        let kid = match kid {
            Some(kid) if !kid.is_empty() => kid,
            Some(_) => return Err(JoseError::Key("an empty kid".into())),
            None => {
                let jwk: jsonwebtoken::jwk::Jwk =
                    serde_json::from_value(public_jwk.clone()).map_err(key_err)?;
                jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).map_err(key_err)?
            }
        };
        let obj = public_jwk.as_object_mut().expect("a JSON object literal");
        obj.insert("kid".into(), Value::String(kid.clone()));
        obj.insert("alg".into(), Value::String(alg.name().into()));
        obj.insert("use".into(), Value::String("sig".into()));
        let public_jwk = std::mem::take(obj);
        Ok(Self(Arc::new(KeyInner { kid, alg, material, pkcs8, public_jwk })))
    }

    /// The key id (`kid`, RFC 7515 §4.1.4).
    pub fn kid(&self) -> &str {
        &self.0.kid
    }

    /// The signing algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.0.alg
    }

    /// The public JWK (RFC 7517 §4): `kty`, `kid`, `alg`, `use: sig` and the public key
    /// parameters, never a private member.
    pub fn public_jwk(&self) -> Value {
        Value::Object(self.0.public_jwk.clone())
    }

    /// The private key as PKCS #8 PEM (`BEGIN PRIVATE KEY`), for files or a store.
    pub fn to_pem(&self) -> SecretString {
        let pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, &self.0.pkcs8)
            .expect("PEM encoding of a DER document");
        SecretString::new(pem)
    }

    /// The JWS signature of `signing_input` (RFC 7515 §5.1) with this key: PKCS #1 v1.5
    /// for RS256, the fixed-width `r ‖ s` for ES256 (RFC 7518 §3.4), Ed25519 for EdDSA.
    pub fn sign_bytes(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError> {
        let rng = SystemRandom::new();
        let sign_err = |e: aws_lc_rs::error::Unspecified| JoseError::Sign(e.to_string());
        match &self.0.material {
            Material::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&lc::RSA_PKCS1_SHA256, &rng, signing_input, &mut sig).map_err(sign_err)?;
                Ok(sig)
            }
            Material::Ec(pair) => Ok(pair.sign(&rng, signing_input).map_err(sign_err)?.as_ref().to_vec()),
            Material::Ed(pair) => Ok(pair.sign(signing_input).as_ref().to_vec()),
        }
    }

    /// Signs `claims` as a compact JWS (RFC 7515 §7.1) with header `{typ, alg, kid}`.
    pub fn sign<T: Serialize + ?Sized>(&self, typ: Option<&str>, claims: &T) -> Result<String, JoseError> {
        let mut header = Header::new(self.0.alg.algorithm());
        header.typ = typ.map(str::to_owned);
        header.kid = Some(self.0.kid.clone());
        let header = serde_json::to_vec(&header).map_err(|e| JoseError::Sign(e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| JoseError::Sign(e.to_string()))?;
        let mut token = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 400);
        B64URL.encode_string(&header, &mut token);
        token.push('.');
        B64URL.encode_string(&claims, &mut token);
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        B64URL.encode_string(&signature, &mut token);
        Ok(token)
    }
}

/// Where a key is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published in the JWK set, never signs: it signs after the next rotation.
    Next,
    /// Signs every new token.
    Current,
    /// Published until `until` (seconds since the epoch: the expiry of the last token it may
    /// have signed), then dropped.
    Retired {
        /// When the last token it signed expires.
        until: i64,
    },
}

/// A server's signing keys with their lifecycle (see the [module docs](self)): one current
/// key that signs, at most one next key, any retired keys still published.
///
/// Serialisable (serde) so that a store can persist it and several instances share it; the
/// private keys are in that form (as PKCS #8, base64url), never in `Debug`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(into = "StoredKeySet", try_from = "StoredKeySet")]
pub struct KeySet {
    keys: Vec<(SigningKey, KeyState)>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|(k, s)| (k.kid(), k.alg(), s))).finish()
    }
}

impl KeySet {
    /// A key set whose current key is `current`, with no next key yet.
    pub fn new(current: SigningKey) -> Self {
        Self { keys: vec![(current, KeyState::Current)] }
    }

    /// A fresh key set for `alg`: a generated current key and a generated next key.
    pub fn generate(alg: SigningAlg) -> Result<Self, JoseError> {
        let mut set = Self::new(SigningKey::generate(alg)?);
        set.publish_next(SigningKey::generate(alg)?)?;
        Ok(set)
    }

    /// A key set from its keys and states; refused unless exactly one key is current, at
    /// most one is next and no `kid` repeats.
    pub fn from_keys(keys: Vec<(SigningKey, KeyState)>) -> Result<Self, JoseError> {
        let set = Self { keys };
        set.check()?;
        Ok(set)
    }

    fn check(&self) -> Result<(), JoseError> {
        let count = |want: fn(&KeyState) -> bool| self.keys.iter().filter(|(_, s)| want(s)).count();
        if count(|s| *s == KeyState::Current) != 1 {
            return Err(JoseError::InvalidKeySet("exactly one key must be current"));
        }
        if count(|s| *s == KeyState::Next) > 1 {
            return Err(JoseError::InvalidKeySet("at most one key may be next"));
        }
        for (i, (key, _)) in self.keys.iter().enumerate() {
            if self.keys[..i].iter().any(|(k, _)| k.kid() == key.kid()) {
                return Err(JoseError::InvalidKeySet("a kid is used twice"));
            }
        }
        Ok(())
    }

    /// Publishes `key` as the next key (it signs after the next [`rotate`](Self::rotate)),
    /// replacing a next key that never signed.
    pub fn publish_next(&mut self, key: SigningKey) -> Result<(), JoseError> {
        if self.keys.iter().any(|(k, s)| k.kid() == key.kid() && *s != KeyState::Next) {
            return Err(JoseError::InvalidKeySet("a kid is used twice"));
        }
        self.keys.retain(|(_, s)| *s != KeyState::Next);
        self.keys.push((key, KeyState::Next));
        Ok(())
    }

    /// Rotates at `now`: the next key becomes current, the current key is retired until
    /// `now + max_token_lifetime` (seconds: the longest lifetime of a token it signed, plus
    /// any leeway verifiers allow), `new_next` is published as the next key, and retired
    /// keys past their time are dropped. Refused with [`JoseError::NoNextKey`] when no next
    /// key was published, since that key would sign before any relying party could know
    /// it.
    pub fn rotate(
        &mut self,
        now: i64,
        new_next: SigningKey,
        max_token_lifetime: i64,
    ) -> Result<(), JoseError> {
        if !self.keys.iter().any(|(_, s)| *s == KeyState::Next) {
            return Err(JoseError::NoNextKey);
        }
        if self.keys.iter().any(|(k, _)| k.kid() == new_next.kid()) {
            return Err(JoseError::InvalidKeySet("a kid is used twice"));
        }
        let until = now.saturating_add(max_token_lifetime.max(0));
        for (_, state) in &mut self.keys {
            *state = match *state {
                KeyState::Current => KeyState::Retired { until },
                KeyState::Next => KeyState::Current,
                retired => retired,
            };
        }
        self.keys.push((new_next, KeyState::Next));
        self.prune(now);
        Ok(())
    }

    /// Drops the retired keys whose last token has expired at `now`.
    pub fn prune(&mut self, now: i64) {
        self.keys.retain(|(_, s)| !matches!(s, KeyState::Retired { until } if *until <= now));
    }

    /// The key that signs.
    pub fn current(&self) -> &SigningKey {
        self.keys
            .iter()
            .find(|(_, s)| *s == KeyState::Current)
            .map(|(k, _)| k)
            .expect("a key set always has a current key")
    }

    /// Every key with its state, in the order they joined.
    pub fn keys(&self) -> impl Iterator<Item = (&SigningKey, KeyState)> {
        self.keys.iter().map(|(k, s)| (k, *s))
    }

    /// The public JWK set (RFC 7517 §5) at `now`, ready to serve at `jwks_uri`: the next,
    /// current and still-published retired keys, public members only (`kty`, `kid`, `alg`,
    /// `use` and the key parameters).
    pub fn jwks(&self, now: i64) -> Value {
        let keys = self
            .keys
            .iter()
            .filter(|(_, s)| !matches!(s, KeyState::Retired { until } if *until <= now))
            .map(|(k, _)| k.public_jwk())
            .collect::<Vec<_>>();
        json!({ "keys": keys })
    }

    /// The published keys at `now` as a verification key set, the same a relying party
    /// reads from [`jwks`](Self::jwks).
    pub fn verifier(&self, now: i64) -> jwks::KeySet {
        jwks::KeySet::from_value(&self.jwks(now)).expect("a JWK set built with a `keys` array")
    }

    /// Signs `claims` with the current key as a compact JWS (RFC 7515 §7.1) whose header
    /// carries `typ` (when given), the key's `alg` and its `kid`.
    pub fn sign<T: Serialize + ?Sized>(&self, typ: Option<&str>, claims: &T) -> Result<String, JoseError> {
        self.current().sign(typ, claims)
    }
}

/// The serde form of a [`KeySet`]: each key's `kid`, `alg`, state and PKCS #8 DER
/// (base64url).
#[derive(Serialize, Deserialize)]
struct StoredKeySet {
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    alg: SigningAlg,
    state: KeyState,
    pkcs8: SecretString,
}

impl From<KeySet> for StoredKeySet {
    fn from(set: KeySet) -> Self {
        let keys = set
            .keys
            .iter()
            .map(|(k, state)| StoredKey {
                kid: k.kid().to_owned(),
                alg: k.alg(),
                state: *state,
                pkcs8: SecretString::new(B64URL.encode(&k.0.pkcs8)),
            })
            .collect();
        Self { keys }
    }
}

impl TryFrom<StoredKeySet> for KeySet {
    type Error = JoseError;

    fn try_from(stored: StoredKeySet) -> Result<Self, JoseError> {
        let keys = stored
            .keys
            .into_iter()
            .map(|k| {
                let der = B64URL
                    .decode(k.pkcs8.secret())
                    .map_err(|_| JoseError::Key("pkcs8 is not base64url".into()))?;
                Ok((SigningKey::from_pkcs8_der(k.alg, Some(k.kid), &der)?, k.state))
            })
            .collect::<Result<Vec<_>, JoseError>>()?;
        KeySet::from_keys(keys)
    }
}

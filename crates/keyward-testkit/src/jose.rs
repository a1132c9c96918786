//! Signing test ID tokens with the RSA keys committed under `tests/peers/keys/`, so that
//! tests exercise real signatures without a provider.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use std::path::PathBuf;

/// The path of a committed test key, `tests/peers/keys/<name>`.
pub fn key_path(name: &str) -> PathBuf {
    crate::workspace_root().join("tests/peers/keys").join(name)
}

/// An RSA signer with a `kid`.
#[derive(Clone)]
pub struct TestSigner {
    key: EncodingKey,
    kid: String,
    pem: String,
}

impl std::fmt::Debug for TestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSigner").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl TestSigner {
    /// Loads `tests/peers/keys/<name>` (PKCS#8 PEM) under `kid`. Panics if it is absent:
    /// the keys are committed, a missing one is a broken checkout.
    pub fn load(name: &str, kid: &str) -> Self {
        let pem = std::fs::read_to_string(key_path(name)).expect("committed test key");
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("PKCS#8 RSA key");
        Self { key, kid: kid.to_owned(), pem }
    }

    /// The private key PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK (`kty`, `n`, `e`, `kid`, `alg: RS256`, `use: sig`).
    pub fn jwk(&self) -> Value {
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&self.key, Algorithm::RS256).expect("public JWK");
        let mut v = serde_json::to_value(jwk).expect("JWK to JSON");
        v["kid"] = Value::String(self.kid.clone());
        v["use"] = Value::String("sig".into());
        v
    }

    /// The public key as PEM-less bytes an attacker might use as an HMAC secret: the `n`
    /// member of the JWK.
    pub fn public_bytes(&self) -> Vec<u8> {
        self.jwk()["n"].as_str().unwrap_or_default().as_bytes().to_vec()
    }

    /// Signs `claims` with RS256 and this signer's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        self.sign_with(header, claims)
    }

    /// Signs `claims` with a given header.
    pub fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }
}

/// A JWK set of the signers' public keys.
pub fn jwks(signers: &[&TestSigner]) -> Value {
    serde_json::json!({ "keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>() })
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}.", b.encode(br#"{"alg":"none","typ":"JWT"}"#), b.encode(claims.to_string()))
}

/// A token signed with HS256 keyed by `secret`, under `kid`.
pub fn hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).expect("sign")
}

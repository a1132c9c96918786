//! Signature methods, RFC 5849 §3.4: HMAC-SHA1 (§3.4.2), RSA-SHA1 (§3.4.3), PLAINTEXT
//! (§3.4.4), their SHA-256 variants, and a registry with an allow-list that takes custom
//! methods (§3.4: "servers are free to implement and document their own custom methods").
//!
//! The cryptography comes from well-kept crates: RustCrypto's `hmac`, `sha1` and `sha2` for
//! the shared-secret methods, aws-lc-rs (constant-time) for every RSA operation but one.
//! That one is RSA-SHA1 *signing* (PKCS #1 v1.5 with SHA-1), which neither aws-lc-rs nor
//! ring offers: it alone uses RustCrypto's `rsa`, with blinding, inside
//! [`RsaPrivateKey`]. It runs only on the client side of OAuth 1, where the client signs its
//! own requests; no server path of Keyward signs with it. Keyward only arranges the inputs
//! and compares results in constant time.

use super::error::{SignError, VerifyError};
use crate::common::ct_eq;
use crate::common::encoding::{EncodeSink, encode_into, encode_to, encoded_len};
use aws_lc_rs::signature::{self as lc_sig, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The keys a client signs with (RFC 5849 §3.4.2, §3.4.3, §3.4.4).
///
/// Secrets are borrowed for the duration of one signature; `Debug` never prints them.
#[derive(Clone, Copy, Default)]
pub struct SigningKeys<'a> {
    /// The client shared-secret (empty when the client has none, e.g. RSA-only clients).
    pub client_secret: &'a str,
    /// The token shared-secret (empty when the request carries no token, §3.4.2).
    pub token_secret: &'a str,
    /// The client's RSA private key, for RSA-SHA1 and RSA-SHA256 (§3.4.3).
    pub rsa_private_key: Option<&'a RsaPrivateKey>,
}

/// The keys a server verifies with (RFC 5849 §3.2, §3.4).
///
/// Secrets are borrowed for the duration of one verification; `Debug` never prints them.
#[derive(Clone, Copy, Default)]
pub struct VerifyKeys<'a> {
    /// The client shared-secret, for HMAC and PLAINTEXT.
    pub client_secret: &'a str,
    /// The token shared-secret, or empty when the request has no token (§3.4.2).
    pub token_secret: &'a str,
    /// The client's RSA public key, for RSA-SHA1 and RSA-SHA256 (§3.4.3).
    pub rsa_public_key: Option<&'a RsaPublicKey>,
}

impl fmt::Debug for SigningKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("client_secret", &"[redacted]")
            .field("token_secret", &"[redacted]")
            .field("rsa_private_key", &self.rsa_private_key.map(|_| "[redacted]"))
            .finish()
    }
}

impl fmt::Debug for VerifyKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKeys")
            .field("client_secret", &"[redacted]")
            .field("token_secret", &"[redacted]")
            .field("rsa_public_key", &self.rsa_public_key.is_some())
            .finish()
    }
}

/// The kind of key a signature method signs and verifies with (RFC 5849 §3.4): which of
/// [`SigningKeys`]' and [`VerifyKeys`]' fields it reads.
///
/// A client needs the matching key to sign (a client secret, or an RSA private key); a
/// server looks up the matching key of the client to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// The client and token shared-secrets (§3.4.2 HMAC, §3.4.4 PLAINTEXT).
    SharedSecret,
    /// An RSA key pair: the client signs with its private key, the server verifies with the
    /// client's public key (§3.4.3); the token secret is not used.
    RsaKeyPair,
}

/// A signature method (RFC 5849 §3.4): signs a base string and verifies a signature.
///
/// Implement it to register a custom method in [`SignatureMethods`].
pub trait SignatureMethod: Send + Sync + 'static {
    /// The value of `oauth_signature_method`, e.g. `HMAC-SHA1` (§3.1).
    fn name(&self) -> &str;

    /// The kind of key the method uses, declared so that clients and servers know which key
    /// to supply without guessing from the name.
    fn key_kind(&self) -> KeyKind;

    /// Signs the signature base string (§3.4.1) and returns the `oauth_signature` value,
    /// not yet percent-encoded.
    fn sign(&self, base_string: &str, keys: &SigningKeys<'_>) -> Result<String, SignError>;

    /// Checks `signature` (the decoded `oauth_signature`) over `base_string` (§3.2).
    /// Shared-secret methods must compare in constant time.
    fn verify(&self, base_string: &str, signature: &str, keys: &VerifyKeys<'_>) -> Result<(), VerifyError>;

    /// The `oauth_body_hash` of `body` for this method: base64 of the method's digest
    /// (SHA-1 unless the method says otherwise), per the OAuth Request Body Hash extension.
    fn hash_body(&self, body: &[u8]) -> String {
        BASE64.encode(Sha1::digest(body))
    }
}

impl fmt::Debug for dyn SignatureMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureMethod({})", self.name())
    }
}

/// The HMAC key of RFC 5849 §3.4.2 (also the PLAINTEXT signature of §3.4.4):
/// `encode(client_secret) & encode(token_secret)`.
pub fn shared_secret_key(client_secret: &str, token_secret: &str) -> String {
    let mut key = String::with_capacity(client_secret.len() + token_secret.len() + 1);
    encode_into(&mut key, client_secret);
    key.push('&');
    encode_into(&mut key, token_secret);
    key
}

/// The longest HMAC key [`with_shared_secret_key`] builds on the stack.
const STACK_KEY: usize = 256;

/// Writes into a byte buffer that is known to be large enough.
struct SliceSink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl EncodeSink for SliceSink<'_> {
    fn push(&mut self, piece: &str) {
        self.buf[self.len..self.len + piece.len()].copy_from_slice(piece.as_bytes());
        self.len += piece.len();
    }
}

/// Calls `f` with [`shared_secret_key`]`(client_secret, token_secret)`, built on the stack
/// when it fits (it always does for secrets of a few dozen characters).
fn with_shared_secret_key<R>(client_secret: &str, token_secret: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    let len = encoded_len(client_secret) + 1 + encoded_len(token_secret);
    if len > STACK_KEY {
        return f(shared_secret_key(client_secret, token_secret).as_bytes());
    }
    let mut buf = [0u8; STACK_KEY];
    let mut sink = SliceSink { buf: &mut buf, len: 0 };
    encode_to(&mut sink, client_secret, false);
    sink.push("&");
    encode_to(&mut sink, token_secret, false);
    let len = sink.len;
    f(&buf[..len])
}

fn hmac_sign<M: Mac + hmac::digest::KeyInit>(key: &str, base: &str) -> Result<Vec<u8>, SignError> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key.as_bytes())
        .map_err(|e| SignError::Crypto(e.to_string()))?;
    mac.update(base.as_bytes());
    Ok(mac.finalize().into_bytes().to_vec())
}

fn hmac_verify<M: Mac + hmac::digest::KeyInit>(
    keys: &VerifyKeys<'_>,
    base: &str,
    signature: &str,
) -> Result<(), VerifyError> {
    // HMAC-SHA1 and HMAC-SHA256 tags are 20 and 32 bytes; anything that does not decode into
    // 64 is no tag of theirs.
    let mut given = [0u8; 64];
    let len = BASE64.decode_slice(signature, &mut given).map_err(|_| VerifyError::InvalidSignature)?;
    let mut mac = with_shared_secret_key(keys.client_secret, keys.token_secret, |key| {
        <M as hmac::digest::KeyInit>::new_from_slice(key)
    })
    .map_err(|_| VerifyError::InvalidSignature)?;
    mac.update(base.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given[..len]).map_err(|_| VerifyError::InvalidSignature)
}

/// HMAC-SHA1, RFC 5849 §3.4.2.
#[derive(Debug, Clone, Copy, Default)]
pub struct HmacSha1;

impl SignatureMethod for HmacSha1 {
    fn name(&self) -> &str {
        "HMAC-SHA1"
    }
    fn key_kind(&self) -> KeyKind {
        KeyKind::SharedSecret
    }
    fn sign(&self, base: &str, keys: &SigningKeys<'_>) -> Result<String, SignError> {
        let key = shared_secret_key(keys.client_secret, keys.token_secret);
        Ok(BASE64.encode(hmac_sign::<Hmac<Sha1>>(&key, base)?))
    }
    fn verify(&self, base: &str, signature: &str, keys: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        hmac_verify::<Hmac<Sha1>>(keys, base, signature)
    }
}

/// HMAC-SHA256: §3.4.2 with SHA-256 in place of SHA-1 (as Authlib and real providers use it).
#[derive(Debug, Clone, Copy, Default)]
pub struct HmacSha256;

impl SignatureMethod for HmacSha256 {
    fn name(&self) -> &str {
        "HMAC-SHA256"
    }
    fn key_kind(&self) -> KeyKind {
        KeyKind::SharedSecret
    }
    fn sign(&self, base: &str, keys: &SigningKeys<'_>) -> Result<String, SignError> {
        let key = shared_secret_key(keys.client_secret, keys.token_secret);
        Ok(BASE64.encode(hmac_sign::<Hmac<Sha256>>(&key, base)?))
    }
    fn verify(&self, base: &str, signature: &str, keys: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        hmac_verify::<Hmac<Sha256>>(keys, base, signature)
    }
    fn hash_body(&self, body: &[u8]) -> String {
        BASE64.encode(Sha256::digest(body))
    }
}

/// An RSA private key for RSA-SHA1 and RSA-SHA256 (RFC 5849 §3.4.3), of 2048 to 8192
/// bits; read it with [`rsa_private_key_from_pem`] or [`RsaPrivateKey::from_pkcs8_der`].
///
/// RSA-SHA256 signs through aws-lc-rs, in constant time. RSA-SHA1 signing (PKCS #1 v1.5
/// with SHA-1) exists in no constant-time crate Keyward can use, so it goes through
/// RustCrypto's `rsa` with blinding; only OAuth 1 clients sign with it, over their own
/// requests. `Debug` never prints the key; clones share it.
#[derive(Clone)]
pub struct RsaPrivateKey(Arc<RsaKeys>);

struct RsaKeys {
    pair: lc_sig::RsaKeyPair,
    /// The same key, for RSA-SHA1 signing alone.
    legacy_sha1: rsa::RsaPrivateKey,
}

impl RsaPrivateKey {
    /// Reads a PKCS #8 `PrivateKeyInfo` (RFC 5208) holding an RSA key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SignError> {
        use rsa::pkcs8::DecodePrivateKey;
        let pair = lc_sig::RsaKeyPair::from_pkcs8(der).map_err(rsa_key_rejected)?;
        let legacy_sha1 =
            rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|e| rsa_key_rejected(e.to_string()))?;
        Ok(Self(Arc::new(RsaKeys { pair, legacy_sha1 })))
    }

    /// Reads a PKCS #1 `RSAPrivateKey` (RFC 8017 §A.1.2).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, SignError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let pair = lc_sig::RsaKeyPair::from_der(der).map_err(rsa_key_rejected)?;
        let legacy_sha1 =
            rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|e| rsa_key_rejected(e.to_string()))?;
        Ok(Self(Arc::new(RsaKeys { pair, legacy_sha1 })))
    }

    /// The matching public key.
    pub fn public_key(&self) -> RsaPublicKey {
        RsaPublicKey::from_der(self.0.pair.public_key().as_ref())
            .expect("aws-lc-rs encodes the public key of a key pair it accepted")
    }
}

fn rsa_key_rejected(e: impl fmt::Display) -> SignError {
    SignError::Crypto(format!("cannot read RSA private key (2048 to 8192 bits): {e}"))
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaPrivateKey([redacted])")
    }
}

/// An RSA public key for verifying RSA-SHA1 and RSA-SHA256 (RFC 5849 §3.4.3), of 1024 to
/// 8192 bits (OAuth 1 clients with 1024-bit keys still exist); read it with
/// [`rsa_public_key_from_pem`] or [`RsaPublicKey::from_der`]. Verification runs in
/// aws-lc-rs.
#[derive(Clone)]
pub struct RsaPublicKey {
    sha1: lc_sig::ParsedPublicKey,
    sha256: lc_sig::ParsedPublicKey,
}

impl RsaPublicKey {
    /// Reads a DER `SubjectPublicKeyInfo` (RFC 5280) or PKCS #1 `RSAPublicKey`
    /// (RFC 8017 §A.1.1).
    pub fn from_der(der: &[u8]) -> Result<Self, SignError> {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        let bad = |e: &dyn fmt::Display| SignError::Crypto(format!("cannot read RSA public key: {e}"));
        // One canonical form (SubjectPublicKeyInfo) whatever the input's, so that equal keys
        // compare equal.
        let key = aws_lc_rs::rsa::PublicKey::from_der(der).map_err(|e| bad(&e))?;
        let spki: PublicKeyX509Der<'static> = key.as_der().map_err(|e| bad(&e))?;
        let sha1 = lc_sig::ParsedPublicKey::new(
            &lc_sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            spki.as_ref(),
        )
        .map_err(|e| bad(&e))?;
        let sha256 = lc_sig::ParsedPublicKey::new(
            &lc_sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            spki.as_ref(),
        )
        .map_err(|e| bad(&e))?;
        Ok(Self { sha1, sha256 })
    }

    /// The key as DER `SubjectPublicKeyInfo`.
    pub fn to_der(&self) -> &[u8] {
        self.sha1.as_ref()
    }
}

impl PartialEq for RsaPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.to_der() == other.to_der()
    }
}

impl Eq for RsaPublicKey {}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPublicKey").field("der_len", &self.to_der().len()).finish()
    }
}

/// The digest an RSA method signs with.
#[derive(Clone, Copy)]
enum RsaDigest {
    Sha1,
    Sha256,
}

fn rsa_sign(
    digest: RsaDigest,
    method: &str,
    base: &str,
    keys: &SigningKeys<'_>,
) -> Result<String, SignError> {
    let key = &keys
        .rsa_private_key
        .ok_or_else(|| SignError::MissingKey { method: method.to_owned(), missing: "an RSA private key" })?
        .0;
    let sig = match digest {
        RsaDigest::Sha256 => {
            let mut sig = vec![0; key.pair.public_modulus_len()];
            key.pair
                .sign(
                    &lc_sig::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    base.as_bytes(),
                    &mut sig,
                )
                .map_err(|e| SignError::Crypto(e.to_string()))?;
            sig
        }
        RsaDigest::Sha1 => {
            // Blinding randomness does not change the (deterministic) PKCS #1 v1.5 signature.
            let hashed = Sha1::digest(base.as_bytes());
            key.legacy_sha1
                .sign_with_rng(&mut rand::rngs::OsRng, rsa::pkcs1v15::Pkcs1v15Sign::new::<Sha1>(), &hashed)
                .map_err(|e| SignError::Crypto(e.to_string()))?
        }
    };
    Ok(BASE64.encode(sig))
}

fn rsa_verify(
    digest: RsaDigest,
    method: &str,
    base: &str,
    signature: &str,
    keys: &VerifyKeys<'_>,
) -> Result<(), VerifyError> {
    let key = keys
        .rsa_public_key
        .ok_or_else(|| VerifyError::MissingKey { method: method.to_owned(), missing: "an RSA public key" })?;
    let sig = BASE64.decode(signature).map_err(|_| VerifyError::InvalidSignature)?;
    let parsed = match digest {
        RsaDigest::Sha1 => &key.sha1,
        RsaDigest::Sha256 => &key.sha256,
    };
    parsed.verify_sig(base.as_bytes(), &sig).map_err(|_| VerifyError::InvalidSignature)
}

/// RSA-SHA1, RFC 5849 §3.4.3: RSASSA-PKCS1-v1_5 (RFC 3447 §8.2) with SHA-1.
#[derive(Debug, Clone, Copy, Default)]
pub struct RsaSha1;

impl SignatureMethod for RsaSha1 {
    fn name(&self) -> &str {
        "RSA-SHA1"
    }
    fn key_kind(&self) -> KeyKind {
        KeyKind::RsaKeyPair
    }
    fn sign(&self, base: &str, keys: &SigningKeys<'_>) -> Result<String, SignError> {
        rsa_sign(RsaDigest::Sha1, self.name(), base, keys)
    }
    fn verify(&self, base: &str, signature: &str, keys: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        rsa_verify(RsaDigest::Sha1, self.name(), base, signature, keys)
    }
}

/// RSA-SHA256: §3.4.3 with SHA-256 in place of SHA-1.
#[derive(Debug, Clone, Copy, Default)]
pub struct RsaSha256;

impl SignatureMethod for RsaSha256 {
    fn name(&self) -> &str {
        "RSA-SHA256"
    }
    fn key_kind(&self) -> KeyKind {
        KeyKind::RsaKeyPair
    }
    fn sign(&self, base: &str, keys: &SigningKeys<'_>) -> Result<String, SignError> {
        rsa_sign(RsaDigest::Sha256, self.name(), base, keys)
    }
    fn verify(&self, base: &str, signature: &str, keys: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        rsa_verify(RsaDigest::Sha256, self.name(), base, signature, keys)
    }
    fn hash_body(&self, body: &[u8]) -> String {
        BASE64.encode(Sha256::digest(body))
    }
}

/// PLAINTEXT, RFC 5849 §3.4.4: the signature is the key itself; use it over TLS only.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plaintext;

impl SignatureMethod for Plaintext {
    fn name(&self) -> &str {
        "PLAINTEXT"
    }
    fn key_kind(&self) -> KeyKind {
        KeyKind::SharedSecret
    }
    fn sign(&self, _base: &str, keys: &SigningKeys<'_>) -> Result<String, SignError> {
        Ok(shared_secret_key(keys.client_secret, keys.token_secret))
    }
    fn verify(&self, _base: &str, signature: &str, keys: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        let want = shared_secret_key(keys.client_secret, keys.token_secret);
        if ct_eq(want.as_bytes(), signature.as_bytes()) { Ok(()) } else { Err(VerifyError::InvalidSignature) }
    }
}

/// The signature methods a client or server knows, and which of them it accepts
/// (RFC 5849 §3.4).
///
/// [`SignatureMethods::default`] registers and allows the five built-in methods. A server
/// narrows that with [`allow_only`](Self::allow_only) (e.g. no PLAINTEXT without TLS) and
/// adds its own with [`register`](Self::register).
#[derive(Clone)]
pub struct SignatureMethods {
    methods: BTreeMap<String, (Arc<dyn SignatureMethod>, bool)>,
}

impl SignatureMethods {
    /// A registry with no methods (§3.4).
    pub fn empty() -> Self {
        Self { methods: BTreeMap::new() }
    }

    /// Registers `method` (replacing one of the same name) and allows it (§3.4: custom
    /// methods).
    pub fn register(mut self, method: impl SignatureMethod) -> Self {
        self.methods.insert(method.name().to_owned(), (Arc::new(method), true));
        self
    }

    /// Allows only the named methods (§3.4); the others stay registered but are refused with
    /// [`VerifyError::MethodNotAllowed`].
    pub fn allow_only(mut self, names: &[&str]) -> Self {
        for (name, (_, allowed)) in &mut self.methods {
            *allowed = names.contains(&name.as_str());
        }
        self
    }

    /// The names of the allowed methods (§3.4), sorted.
    pub fn allowed(&self) -> impl Iterator<Item = &str> {
        self.methods.iter().filter(|(_, (_, a))| *a).map(|(n, _)| n.as_str())
    }

    /// The allowed method called `name` (the value of `oauth_signature_method`, §3.1).
    pub fn get(&self, name: &str) -> Result<&Arc<dyn SignatureMethod>, VerifyError> {
        match self.methods.get(name) {
            Some((m, true)) => Ok(m),
            Some((_, false)) => Err(VerifyError::MethodNotAllowed(name.to_owned())),
            None => Err(VerifyError::UnsupportedMethod(name.to_owned())),
        }
    }
}

impl Default for SignatureMethods {
    fn default() -> Self {
        Self::empty()
            .register(HmacSha1)
            .register(HmacSha256)
            .register(RsaSha1)
            .register(RsaSha256)
            .register(Plaintext)
    }
}

impl fmt::Debug for SignatureMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.methods.iter().map(|(n, (_, a))| (n, if *a { "allowed" } else { "refused" })))
            .finish()
    }
}

/// Reads an RSA private key from PEM, PKCS #8 (`BEGIN PRIVATE KEY`) or PKCS #1
/// (`BEGIN RSA PRIVATE KEY`), for RSA-SHA1 and RSA-SHA256 (RFC 5849 §3.4.3).
pub fn rsa_private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, SignError> {
    let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(rsa_key_rejected)?;
    match label {
        "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(&der),
        "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der),
        other => Err(rsa_key_rejected(format_args!("a PEM labelled {other:?} is no private key"))),
    }
}

/// Reads an RSA public key from PEM, SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`) or PKCS #1
/// (`BEGIN RSA PUBLIC KEY`), for verifying RSA-SHA1 and RSA-SHA256 (RFC 5849 §3.4.3).
pub fn rsa_public_key_from_pem(pem: &str) -> Result<RsaPublicKey, SignError> {
    let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
        .map_err(|e| SignError::Crypto(format!("cannot read RSA public key: {e}")))?;
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => RsaPublicKey::from_der(&der),
        other => Err(SignError::Crypto(format!(
            "cannot read RSA public key: a PEM labelled {other:?} is no public key"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_distinguishes_unknown_and_refused() {
        let methods = SignatureMethods::default().allow_only(&["HMAC-SHA1", "RSA-SHA1"]);
        assert!(methods.get("HMAC-SHA1").is_ok());
        assert_eq!(methods.get("PLAINTEXT").unwrap_err(), VerifyError::MethodNotAllowed("PLAINTEXT".into()));
        assert_eq!(methods.get("HMAC-MD5").unwrap_err(), VerifyError::UnsupportedMethod("HMAC-MD5".into()));
        assert_eq!(methods.allowed().collect::<Vec<_>>(), ["HMAC-SHA1", "RSA-SHA1"]);
    }

    #[test]
    fn builtins_declare_their_key_kind() {
        let methods = SignatureMethods::default();
        let kind = |name: &str| methods.get(name).unwrap().key_kind();
        assert_eq!(kind("HMAC-SHA1"), KeyKind::SharedSecret);
        assert_eq!(kind("HMAC-SHA256"), KeyKind::SharedSecret);
        assert_eq!(kind("PLAINTEXT"), KeyKind::SharedSecret);
        assert_eq!(kind("RSA-SHA1"), KeyKind::RsaKeyPair);
        assert_eq!(kind("RSA-SHA256"), KeyKind::RsaKeyPair);
    }

    #[test]
    fn plaintext_is_the_encoded_key() {
        let keys = SigningKeys { client_secret: "a b", token_secret: "c&d", rsa_private_key: None };
        assert_eq!(Plaintext.sign("ignored", &keys).unwrap(), "a%20b&c%26d");
        let vk = VerifyKeys { client_secret: "a b", token_secret: "c&d", rsa_public_key: None };
        assert!(Plaintext.verify("x", "a%20b&c%26d", &vk).is_ok());
        assert_eq!(Plaintext.verify("x", "a%20b&c%26e", &vk), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn stack_hmac_key_equals_the_string_key() {
        let long = "é/".repeat(60);
        for (c, t) in
            [("", ""), ("a b", "c&d"), ("kd94hf93k423kf44", "pfkkdhi9sl3r4s00"), (&long, "x"), ("x", &long)]
        {
            let want = shared_secret_key(c, t);
            with_shared_secret_key(c, t, |key| assert_eq!(key, want.as_bytes()));
        }
    }

    const PRIVATE: &str = include_str!("../../../../../tests/peers/keys/rsa_private.pem");
    const PUBLIC: &str = include_str!("../../../../../tests/peers/keys/rsa_public.pem");

    #[test]
    fn rsa_keys_read_in_every_encoding_and_sign_both_digests() {
        let private = rsa_private_key_from_pem(PRIVATE).unwrap();
        let public = rsa_public_key_from_pem(PUBLIC).unwrap();
        assert_eq!(private.public_key(), public, "the private key's public half is the published key");
        // PKCS #1 `RSAPublicKey` and SubjectPublicKeyInfo of one key are one key.
        let pkcs1 = aws_lc_rs::rsa::PublicKey::from_der(public.to_der()).unwrap();
        assert_ne!(pkcs1.as_ref(), public.to_der());
        assert_eq!(RsaPublicKey::from_der(pkcs1.as_ref()).unwrap(), public);
        // A public key is no private key, and the reverse.
        assert!(rsa_private_key_from_pem(PUBLIC).is_err());
        assert!(rsa_public_key_from_pem(PRIVATE).is_err());
        assert!(format!("{private:?}").contains("redacted"));

        let sk = SigningKeys { rsa_private_key: Some(&private), ..SigningKeys::default() };
        let vk = VerifyKeys { rsa_public_key: Some(&public), ..VerifyKeys::default() };
        for method in [&RsaSha1 as &dyn SignatureMethod, &RsaSha256] {
            let sig = method.sign("GET&base&string", &sk).unwrap();
            assert_eq!(method.verify("GET&base&string", &sig, &vk), Ok(()), "{}", method.name());
            assert_eq!(method.verify("GET&base&strinG", &sig, &vk), Err(VerifyError::InvalidSignature));
        }
        // The two digests give two different signatures: RSA-SHA256 is not RSA-SHA1 renamed.
        assert_ne!(RsaSha1.sign("x", &sk).unwrap(), RsaSha256.sign("x", &sk).unwrap());
        assert_eq!(
            RsaSha256.verify("x", &RsaSha1.sign("x", &sk).unwrap(), &vk),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn a_1024_bit_key_verifies_but_does_not_sign() {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
        // Legacy OAuth 1 clients still hold 1024-bit keys: a server verifies their
        // signatures; Keyward itself signs only with 2048 bits or more.
        let legacy = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let der = legacy.to_pkcs8_der().unwrap();
        assert!(RsaPrivateKey::from_pkcs8_der(der.as_bytes()).is_err());
        let public =
            RsaPublicKey::from_der(legacy.to_public_key().to_public_key_der().unwrap().as_bytes()).unwrap();
        let base = "POST&https%3A%2F%2Fapi.example.com%2F&a%3Db";
        let sig =
            legacy.sign(rsa::pkcs1v15::Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(base.as_bytes())).unwrap();
        let vk = VerifyKeys { rsa_public_key: Some(&public), ..VerifyKeys::default() };
        assert_eq!(RsaSha1.verify(base, &BASE64.encode(&sig), &vk), Ok(()));
        assert_eq!(RsaSha1.verify("other", &BASE64.encode(&sig), &vk), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn debug_redacts_keys() {
        let keys = SigningKeys { client_secret: "hunter2", token_secret: "s3cret", rsa_private_key: None };
        let s = format!("{keys:?}");
        assert!(!s.contains("hunter2") && !s.contains("s3cret"), "{s}");
    }
}

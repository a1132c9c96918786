//! DPoP (RFC 9449), the server's half: checking proofs (§4.3), the server-provided nonces
//! (§8, §9), and what binds a token to a key (§6: the JWK SHA-256 thumbprint, `jkt`).
//!
//! A [`DpopVerifier`] checks a proof exactly as §4.3 lists:
//! 1. exactly one `DPoP` header, at most [`DpopConfig::max_proof_len`] bytes;
//! 2. a JWS in compact form, whose header has `typ: dpop+jwt`, an `alg` of the allow-list
//!    ([`DpopConfig::algs`]; never `none` nor an HMAC) and a public `jwk` (no private
//!    member) of that algorithm's key type, which verifies the signature;
//! 3. `htm` the request's method, `htu` its URL without query and fragment (both sides
//!    normalised as [`rfc9449::htu`] does);
//! 4. `iat` within [`DpopConfig::iat_window`] seconds of now, either way;
//! 5. `nonce` one this server gave, when [`DpopConfig::nonce_required`];
//! 6. `ath` the base64url SHA-256 of the access token, on resource requests;
//! 7. `jti` seen once: recorded in the [`OnceStore`] under the namespace
//!    [`DPOP_NAMESPACE`] (with the key's thumbprint), until the `iat` window has passed.
//!
//! # Nonces
//! Nonces are stateless: a nonce is the second it was issued and an HMAC-SHA256 of it under
//! a server secret ([`DpopConfig::with_nonce_secret`]), so every instance that shares the
//! secret accepts the nonces of the others, and nothing is stored. A nonce is accepted for
//! [`DpopConfig::nonce_lifetime`] seconds after it was issued. Without a configured secret
//! the server draws one at start (then one instance only).
//!
//! # A replay store that forgot
//! A replay store that may have forgotten `jti`s (the memory store after a restart: its
//! [`ReplayEpoch`] is the first second it saw) cannot judge a proof issued at or before
//! that second. Such a proof is answered `use_dpop_nonce`, as §8 allows at any time: the
//! client's retry carries a nonce issued since, which shows the proof was made after the
//! store started remembering.
//!
//! The proof parser, [`parse_proof`], reads untrusted input and is fuzzed
//! (`fuzz/fuzz_targets/dpop_proof.rs`).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use sha2::Sha256;

use super::error::ProviderError;
use super::store::StoreError;
use crate::common::random::RandomSource;
use crate::common::replay::{ReplayEpoch, ReplayVerdict};
use crate::common::secret::ct_eq;
use crate::common::store::OnceStore;
use crate::oauth2::rfc9449::{self, PROOF_TYPE};

/// The [`OnceStore`] namespace of proof `jti`s.
pub const DPOP_NAMESPACE: &str = "dpop";

/// The JWK members that belong to private or symmetric keys (RFC 7518 §6.2.2, §6.3.2,
/// §6.4.1; RFC 8037 §2): a proof carrying one is refused.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The longest `jti` accepted.
const MAX_JTI: usize = 256;

/// The server's DPoP settings (RFC 9449).
#[derive(Clone)]
#[non_exhaustive]
pub struct DpopConfig {
    /// The proof algorithms accepted, published as `dpop_signing_alg_values_supported`
    /// (default ES256, EdDSA, RS256, PS256). `none` and HMAC algorithms are never accepted,
    /// whatever this says.
    pub algs: Vec<Algorithm>,
    /// How far a proof's `iat` may lie from now, either way, in seconds (default 60); its
    /// `jti` is remembered that long after `iat`.
    pub iat_window: i64,
    /// Whether every proof must carry a nonce this server gave (§8, §9; default false).
    pub nonce_required: bool,
    /// How long a nonce is accepted after it was issued, in seconds (default 300).
    pub nonce_lifetime: i64,
    /// The largest proof read, in bytes (default 8 KiB).
    pub max_proof_len: usize,
    nonce_secret: Option<Arc<[u8]>>,
}

impl fmt::Debug for DpopConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopConfig")
            .field("algs", &self.algs)
            .field("iat_window", &self.iat_window)
            .field("nonce_required", &self.nonce_required)
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("max_proof_len", &self.max_proof_len)
            .field("nonce_secret", &self.nonce_secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopConfig {
    /// The defaults above: nonces not required, a nonce secret drawn at start.
    pub fn new() -> Self {
        Self {
            algs: vec![Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256, Algorithm::PS256],
            iat_window: 60,
            nonce_required: false,
            nonce_lifetime: 300,
            max_proof_len: 8 * 1024,
            nonce_secret: None,
        }
    }

    /// Requires (or not) a server nonce in every proof.
    pub fn with_nonce_required(mut self, required: bool) -> Self {
        self.nonce_required = required;
        self
    }

    /// Signs nonces with `secret` (at least 32 bytes are advised), shared by every instance.
    pub fn with_nonce_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.nonce_secret = Some(Arc::from(secret.as_ref()));
        self
    }

    /// Sets the `iat` window.
    pub fn with_iat_window(mut self, secs: i64) -> Self {
        self.iat_window = secs.max(0);
        self
    }

    /// Sets the accepted algorithms.
    pub fn with_algs(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algs = algs.into_iter().collect();
        self
    }

    /// The accepted algorithms' names, without any that is never accepted.
    pub fn alg_names(&self) -> Vec<&'static str> {
        self.algs.iter().copied().filter(|a| key_type(*a).is_some()).map(alg_name).collect()
    }
}

/// Why a proof was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// `invalid_dpop_proof`: the check of §4.3 that failed.
    #[error("invalid DPoP proof: {0}")]
    Invalid(&'static str),
    /// `use_dpop_nonce` (§8, §9): the proof has no nonce, or a stale or foreign one; answer
    /// with a fresh [`DpopVerifier::nonce`].
    #[error("a DPoP nonce is required")]
    NonceRequired,
    /// The replay store failed.
    #[error("store failure: {0}")]
    Store(#[from] StoreError),
}

/// A proof read and checked in its form, not yet against a request ([`parse_proof`]).
#[derive(Debug, Clone)]
pub struct ParsedProof {
    /// The header's `alg`.
    pub alg: Algorithm,
    /// The header's public `jwk`.
    pub jwk: Map<String, Value>,
    /// The `jkt`: the JWK SHA-256 thumbprint of `jwk` (RFC 7638).
    pub jkt: String,
    /// The claims.
    pub claims: rfc9449::ProofClaims,
    signing_input_len: usize,
}

/// A proof that passed every check: the key it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The JWK SHA-256 thumbprint of the proof's key (RFC 9449 §6.1).
    pub jkt: String,
    /// The proof's `iat`.
    pub issued_at: i64,
}

/// What a proof is checked against: the request it came with.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    /// The request's method.
    pub method: &'a http::Method,
    /// The request's URL (absolute; query and fragment are ignored).
    pub url: &'a str,
    /// The access token the request carries (resource requests): `ath` must be its hash.
    pub access_token: Option<&'a str>,
}

/// The key type and curve an algorithm's JWK must have; `None` for algorithms never
/// accepted (`none`, HMAC).
fn key_type(alg: Algorithm) -> Option<(&'static str, Option<&'static str>)> {
    match alg {
        Algorithm::ES256 => Some(("EC", Some("P-256"))),
        Algorithm::ES384 => Some(("EC", Some("P-384"))),
        Algorithm::EdDSA => Some(("OKP", Some("Ed25519"))),
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => Some(("RSA", None)),
        _ => None,
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "unknown",
    }
}

fn decode_json(part: &str) -> Result<Map<String, Value>, DpopError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| DpopError::Invalid("the proof is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(DpopError::Invalid("the proof is not a JSON object")),
    }
}

/// Reads a proof (§4.2) and checks its form (§4.3 steps 1–6 that need no request): a
/// compact JWS of at most `max_len` bytes, `typ: dpop+jwt`, an `alg` among `algs` (never
/// `none` nor HMAC), a public `jwk` of that algorithm's key type, and the claims `jti`,
/// `htm`, `htu` and `iat`. The signature is not checked here.
pub fn parse_proof(proof: &str, algs: &[Algorithm], max_len: usize) -> Result<ParsedProof, DpopError> {
    if proof.len() > max_len {
        return Err(DpopError::Invalid("the proof is too large"));
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(DpopError::Invalid("the proof is not a compact JWS"));
    };
    if s.is_empty() {
        return Err(DpopError::Invalid("the proof is not signed"));
    }
    let header = decode_json(h)?;
    if header.get("typ").and_then(Value::as_str) != Some(PROOF_TYPE) {
        return Err(DpopError::Invalid("typ is not dpop+jwt"));
    }
    let alg_value = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let alg = alg_value.parse::<Algorithm>().map_err(|_| DpopError::Invalid("unsupported alg"))?;
    let Some((kty, crv)) = key_type(alg).filter(|_| algs.contains(&alg)) else {
        return Err(DpopError::Invalid("unsupported alg"));
    };
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(DpopError::Invalid("no jwk in the header"));
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(DpopError::Invalid("the jwk holds a private key"));
    }
    if jwk.get("kty").and_then(Value::as_str) != Some(kty)
        || crv.is_some_and(|crv| jwk.get("crv").and_then(Value::as_str) != Some(crv))
    {
        return Err(DpopError::Invalid("the jwk does not fit the alg"));
    }
    let jkt = rfc9449::jwk_thumbprint(jwk).map_err(|_| DpopError::Invalid("malformed jwk"))?;
    let claims: rfc9449::ProofClaims = serde_json::from_value(Value::Object(decode_json(c)?))
        .map_err(|_| DpopError::Invalid("missing or malformed claims"))?;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI {
        return Err(DpopError::Invalid("malformed jti"));
    }
    Ok(ParsedProof { alg, jwk: jwk.clone(), jkt, claims, signing_input_len: h.len() + 1 + c.len() })
}

impl ParsedProof {
    /// Whether the signature verifies with the header's `jwk` (§4.3 step 7).
    pub fn signature_verifies(&self, proof: &str) -> bool {
        let Ok(jwk) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(Value::Object(self.jwk.clone()))
        else {
            return false;
        };
        let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(&jwk) else { return false };
        if matches!(self.alg, Algorithm::RS256 | Algorithm::PS256 | Algorithm::RS384 | Algorithm::PS384)
            || matches!(self.alg, Algorithm::RS512 | Algorithm::PS512)
        {
            // At least 2048-bit moduli (RFC 7518 §3.3).
            let n = self.jwk.get("n").and_then(Value::as_str).unwrap_or_default();
            let bytes = URL_SAFE_NO_PAD.decode(n).unwrap_or_default();
            let significant = bytes.iter().skip_while(|b| **b == 0).count();
            if significant < 256 {
                return false;
            }
        }
        let (input, signature) = proof.split_at(self.signing_input_len);
        let signature = signature.trim_start_matches('.');
        jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key, self.alg).unwrap_or(false)
    }
}

/// Checks DPoP proofs for one server (or resource server): the [`DpopConfig`], the nonce
/// secret and the replay store of `jti`s. Cheap to clone.
#[derive(Clone)]
pub struct DpopVerifier {
    config: DpopConfig,
    secret: Arc<[u8]>,
    replay: Arc<dyn OnceStore>,
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier").field("config", &self.config).finish_non_exhaustive()
    }
}

impl DpopVerifier {
    /// A verifier with `config`, recording `jti`s in `replay`; without a nonce secret in
    /// `config`, one of 256 bits is drawn from `random`.
    pub fn new(config: DpopConfig, replay: Arc<dyn OnceStore>, random: &dyn RandomSource) -> Self {
        let secret = config.nonce_secret.clone().unwrap_or_else(|| {
            let mut bytes = [0u8; 32];
            random.fill(&mut bytes);
            Arc::from(&bytes[..])
        });
        Self { config, secret, replay }
    }

    /// The configuration.
    pub fn config(&self) -> &DpopConfig {
        &self.config
    }

    fn nonce_at(&self, issued_at: i64) -> String {
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC takes any key");
        mac.update(b"keyward dpop nonce\0");
        mac.update(&issued_at.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        let mut bytes = issued_at.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tag[..16]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A fresh nonce (§8.1, §9), for `DPoP-Nonce`.
    pub fn nonce(&self, now: i64) -> String {
        self.nonce_at(now)
    }

    /// When `nonce` was issued, if it is one this server (or one sharing its secret) gave
    /// less than [`DpopConfig::nonce_lifetime`] seconds before `now` (and not after `now`
    /// plus the `iat` window, for clocks of instances that differ a little).
    pub fn nonce_issued_at(&self, nonce: &str, now: i64) -> Option<i64> {
        if nonce.len() != 32 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        let issued_at = i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let live = issued_at > now - self.config.nonce_lifetime && issued_at <= now + self.config.iat_window;
        (live && ct_eq(self.nonce_at(issued_at).as_bytes(), nonce.as_bytes())).then_some(issued_at)
    }

    /// The proof of a request (§4.1): `None` without a `DPoP` header; more than one header,
    /// or one that is not text, is invalid.
    pub fn proof_header(headers: &http::HeaderMap) -> Result<Option<&str>, DpopError> {
        let mut all = headers.get_all(rfc9449::DPOP).iter();
        let Some(first) = all.next() else { return Ok(None) };
        if all.next().is_some() {
            return Err(DpopError::Invalid("more than one DPoP header"));
        }
        first.to_str().map(Some).map_err(|_| DpopError::Invalid("the DPoP header is not text"))
    }

    /// Checks `proof` against `target` at `now` (every step of §4.3, the module's list),
    /// recording its `jti`.
    pub async fn verify(
        &self,
        proof: &str,
        target: ProofTarget<'_>,
        now: i64,
    ) -> Result<VerifiedProof, DpopError> {
        let config = &self.config;
        let parsed = parse_proof(proof, &config.algs, config.max_proof_len)?;
        if !parsed.signature_verifies(proof) {
            return Err(DpopError::Invalid("the signature does not verify"));
        }
        let claims = &parsed.claims;
        if claims.htm != target.method.as_str() {
            return Err(DpopError::Invalid("htm is not the request's method"));
        }
        let expected =
            rfc9449::htu(target.url).map_err(|_| DpopError::Invalid("the request URL is unknown"))?;
        let given = rfc9449::htu(&claims.htu).map_err(|_| DpopError::Invalid("malformed htu"))?;
        if given != expected {
            return Err(DpopError::Invalid("htu is not the request's URL"));
        }
        if claims.iat < now - config.iat_window {
            return Err(DpopError::Invalid("iat is too old"));
        }
        if claims.iat > now + config.iat_window {
            return Err(DpopError::Invalid("iat is in the future"));
        }
        match (target.access_token, &claims.ath) {
            (Some(token), Some(ath)) if ct_eq(rfc9449::ath(token).as_bytes(), ath.as_bytes()) => {}
            (Some(_), _) => return Err(DpopError::Invalid("ath is not the access token's hash")),
            (None, _) => {}
        }
        let nonce_issued_at = claims.nonce.as_deref().and_then(|n| self.nonce_issued_at(n, now));
        if config.nonce_required && nonce_issued_at.is_none() {
            return Err(DpopError::NonceRequired);
        }
        let key = format!("{}\u{0}{}", parsed.jkt, claims.jti);
        let expires_at = claims.iat.max(now) + config.iat_window + 1;
        let recorded = self.replay.record_once(DPOP_NAMESPACE, &key, expires_at, now).await?;
        // A proof the store cannot judge by its `iat` is judged by its nonce (module docs).
        let judged = recorded.verdict(claims.iat) != ReplayVerdict::BeforeEpoch
            || matches!((recorded.epoch, nonce_issued_at), (ReplayEpoch::Since(epoch), Some(t)) if t >= epoch);
        if !judged {
            return Err(DpopError::NonceRequired);
        }
        if !recorded.fresh {
            return Err(DpopError::Invalid("the proof was used before"));
        }
        Ok(VerifiedProof { jkt: parsed.jkt, issued_at: claims.iat })
    }

    /// [`verify`](Self::verify) for an endpoint of the authorization server, whose errors
    /// are [`ProviderError`]s (`invalid_dpop_proof`, `use_dpop_nonce` with a fresh nonce).
    pub(crate) async fn verify_at_server(
        &self,
        headers: &http::HeaderMap,
        method: &http::Method,
        url: &str,
        now: i64,
    ) -> Result<Option<VerifiedProof>, ProviderError> {
        let map = |e: DpopError| match e {
            DpopError::Invalid(reason) => ProviderError::InvalidDpopProof(reason),
            DpopError::NonceRequired => ProviderError::UseDpopNonce(self.nonce(now)),
            DpopError::Store(e) => ProviderError::Store(e),
        };
        let Some(proof) = Self::proof_header(headers).map_err(map)? else { return Ok(None) };
        let target = ProofTarget { method, url, access_token: None };
        self.verify(proof, target, now).await.map(Some).map_err(map)
    }
}

/// Whether `jkt` is a well-formed JWK SHA-256 thumbprint (43 base64url characters), as a
/// `dpop_jkt` parameter must be (§10).
pub(crate) fn is_thumbprint(jkt: &str) -> bool {
    jkt.len() == 43 && jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

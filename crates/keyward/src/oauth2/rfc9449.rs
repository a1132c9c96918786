//! RFC 9449, OAuth 2.0 Demonstrating Proof of Possession (DPoP), the client's half: the
//! key pair (§2), the proof JWT (§4.2), `htu` (§4.3), `ath` (§4.2, §7.1), the `DPoP`
//! authorization scheme (§7.1), and the server-provided nonce (§8, §9). The JWK
//! thumbprint of RFC 7638 (§3) names the key a token is bound to (RFC 9449 §6).
//!
//! Key generation comes from `aws-lc-rs`, signing from `jsonwebtoken`. Like RSA blinding
//! (see the crate's documentation), generating a key draws from the operating system's
//! generator, not from a [`RandomSource`]: no protocol value depends on it. The proof's
//! `jti` does come from the injected source.

use super::OAuth2Error;
use super::error::error_body;
use crate::common::ErrorBody;
use crate::common::random::RandomSource;
use crate::common::secret::SecretString;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, EcdsaSigningAlgorithm,
    KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The request header that carries a proof (§4.1), and the authorization scheme of a
/// DPoP-bound access token (§7.1).
pub const DPOP: &str = "DPoP";

/// The response header carrying a server-provided nonce (§8.1, §9).
pub const DPOP_NONCE: &str = "DPoP-Nonce";

/// The `typ` of a proof's JOSE header (§4.2).
pub const PROOF_TYPE: &str = "dpop+jwt";

/// The error code a server answers with when a proof lacks its nonce (§8, §9).
pub const USE_DPOP_NONCE: &str = "use_dpop_nonce";

/// The `token_type` of a DPoP-bound access token (§5), compared case-insensitively.
pub const TOKEN_TYPE: &str = "DPoP";

/// The number of random bytes in a proof's `jti` (base64url, 22 characters).
const JTI_BYTES: usize = 16;

/// A DPoP key pair (§2): the private key that signs proofs and its public JWK, which every
/// proof carries in its header.
///
/// ES256 (P-256) is the default; ES384 (P-384) is accepted too. Its `Debug` shows the
/// algorithm and the thumbprint, never the private key. A token the server binds to it is
/// usable only with it: persist the key ([`DpopKey::to_pkcs8_pem`]) wherever the tokens
/// bound to it live, and load it back with [`DpopKey::from_pkcs8_pem`].
#[derive(Clone)]
pub struct DpopKey {
    alg: Algorithm,
    signing: EncodingKey,
    pkcs8: Vec<u8>,
    jwk: Map<String, Value>,
    thumbprint: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.alg)
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

fn curve(alg: Algorithm) -> Result<(&'static EcdsaSigningAlgorithm, &'static str), OAuth2Error> {
    match alg {
        Algorithm::ES256 => Ok((&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256")),
        Algorithm::ES384 => Ok((&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384")),
        other => Err(OAuth2Error::Config(format!("DPoP keys are ES256 or ES384, not {other:?}"))),
    }
}

impl DpopKey {
    /// A fresh ES256 key pair.
    pub fn generate() -> Result<Self, OAuth2Error> {
        Self::generate_for(Algorithm::ES256)
    }

    /// A fresh key pair for `alg` (ES256 or ES384).
    pub fn generate_for(alg: Algorithm) -> Result<Self, OAuth2Error> {
        let (signing, _) = curve(alg)?;
        let pair = EcdsaKeyPair::generate(signing)
            .map_err(|_| OAuth2Error::Config("DPoP key generation failed".into()))?;
        let der =
            pair.to_pkcs8v1().map_err(|_| OAuth2Error::Config("DPoP key serialisation failed".into()))?;
        Self::from_pkcs8_der(der.as_ref(), alg)
    }

    /// A key from its unencrypted PKCS#8 DER encoding, for `alg` (ES256 or ES384).
    pub fn from_pkcs8_der(der: &[u8], alg: Algorithm) -> Result<Self, OAuth2Error> {
        let (signing, crv) = curve(alg)?;
        let pair = EcdsaKeyPair::from_pkcs8(signing, der)
            .map_err(|e| OAuth2Error::Config(format!("DPoP key: {e}")))?;
        // The public key is the uncompressed point 0x04 || x || y (SEC 1 §2.3.3).
        let point = pair.public_key().as_ref();
        let half = (point.len().saturating_sub(1)) / 2;
        if point.first() != Some(&4) || half == 0 {
            return Err(OAuth2Error::Config("DPoP key: unexpected public key encoding".into()));
        }
        let mut jwk = Map::new();
        jwk.insert("kty".into(), "EC".into());
        jwk.insert("crv".into(), crv.into());
        jwk.insert("x".into(), URL_SAFE_NO_PAD.encode(&point[1..=half]).into());
        jwk.insert("y".into(), URL_SAFE_NO_PAD.encode(&point[1 + half..]).into());
        let thumbprint = jwk_thumbprint(&jwk)?;
        Ok(Self { alg, signing: EncodingKey::from_ec_der(der), pkcs8: der.to_vec(), jwk, thumbprint })
    }

    /// A key from a PEM `PRIVATE KEY` block (unencrypted PKCS#8), for `alg`.
    pub fn from_pkcs8_pem(pem: &SecretString, alg: Algorithm) -> Result<Self, OAuth2Error> {
        let text = pem.secret().trim();
        let body = text
            .strip_prefix("-----BEGIN PRIVATE KEY-----")
            .and_then(|t| t.strip_suffix("-----END PRIVATE KEY-----"))
            .ok_or_else(|| OAuth2Error::Config("DPoP key: expected a PEM `PRIVATE KEY` block".into()))?;
        let b64: String = body.split_ascii_whitespace().collect();
        let der = STANDARD.decode(b64).map_err(|e| OAuth2Error::Config(format!("DPoP key PEM: {e}")))?;
        Self::from_pkcs8_der(&der, alg)
    }

    /// The private key as a PEM `PRIVATE KEY` block (unencrypted PKCS#8), to persist
    /// beside the tokens bound to it.
    pub fn to_pkcs8_pem(&self) -> SecretString {
        let b64 = STANDARD.encode(&self.pkcs8);
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        SecretString::new(pem)
    }

    /// The signing algorithm (the proof's `alg`).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public key as a JWK (`kty`, `crv`, `x`, `y`): the proof header's `jwk`.
    pub fn public_jwk(&self) -> &Map<String, Value> {
        &self.jwk
    }

    /// The key's JWK SHA-256 thumbprint (RFC 7638), the `jkt` a server binds tokens to
    /// (RFC 9449 §6.1).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Signs a proof for `claims` (§4.2): header `typ: dpop+jwt`, `alg`, `jwk`.
    pub fn sign(&self, claims: &ProofClaims) -> Result<String, OAuth2Error> {
        let header = serde_json::json!({ "typ": PROOF_TYPE, "alg": self.alg, "jwk": self.jwk });
        let header = serde_json::to_vec(&header).map_err(|e| OAuth2Error::Jwt(e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| OAuth2Error::Jwt(e.to_string()))?;
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &self.signing, self.alg)
            .map_err(|e| OAuth2Error::Jwt(e.to_string()))?;
        Ok(format!("{input}.{signature}"))
    }

    /// A proof for a request (§4.2): `jti` from `random`, `htm` and `htu` from the request,
    /// `iat` = `now`, `ath` of `access_token` (resource requests), `nonce` when the server
    /// gave one.
    pub fn proof(
        &self,
        method: &http::Method,
        url: &str,
        now: i64,
        random: &dyn RandomSource,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, OAuth2Error> {
        let claims = ProofClaims {
            jti: jti(random),
            htm: method.as_str().to_owned(),
            htu: htu(url)?,
            iat: now,
            ath: access_token.map(ath),
            nonce: nonce.map(str::to_owned),
        };
        self.sign(&claims)
    }
}

/// The claims of a proof (§4.2), in the order they are serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofClaims {
    /// A unique identifier of this proof.
    pub jti: String,
    /// The request's HTTP method.
    pub htm: String,
    /// The request's URI without query and fragment ([`htu`]).
    pub htu: String,
    /// When the proof was made, seconds since the epoch.
    pub iat: i64,
    /// base64url(SHA-256(access token)), on requests that carry an access token ([`ath`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ath: Option<String>,
    /// The server's most recent `DPoP-Nonce`, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// A fresh `jti`: 16 random bytes, base64url.
pub fn jti(random: &dyn RandomSource) -> String {
    let mut bytes = [0u8; JTI_BYTES];
    random.fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The `htu` of a request to `url` (§4.2, §4.3): the URI without query and fragment,
/// normalised as RFC 3986 §6.2.2–§6.2.3 says (scheme and host lowercase, default port
/// dropped, an empty path as `/`).
pub fn htu(url: &str) -> Result<String, OAuth2Error> {
    let mut parsed = url::Url::parse(url)
        .map_err(|e| OAuth2Error::InvalidUrl { url: url.to_owned(), reason: e.to_string() })?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(OAuth2Error::InvalidUrl { url: url.to_owned(), reason: "not an http(s) URL".into() });
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok(parsed.into())
}

/// The `ath` of an access token (§4.2): base64url(SHA-256(ASCII(token))).
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// The origin (`scheme://host:port`) a server-provided nonce belongs to (§8, §9: a nonce
/// is per server). `None` for a URL that does not parse.
pub fn nonce_origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    Some(format!("{}://{}:{}", parsed.scheme(), host, parsed.port_or_known_default()?))
}

/// The JWK SHA-256 thumbprint of a public key (RFC 7638 §3): the required members of its
/// `kty` (§3.2; EC: `crv`, `kty`, `x`, `y`; RSA: `e`, `kty`, `n`; OKP: `crv`, `kty`, `x`),
/// in lexicographic order, without whitespace, hashed, base64url.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Result<String, OAuth2Error> {
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
    let members: &[&str] = match kty {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        other => return Err(OAuth2Error::Config(format!("JWK thumbprint: unsupported `kty` `{other}`"))),
    };
    // The members lists above are in lexicographic order; JSON strings need only their
    // own escaping.
    let mut json = String::from("{");
    for (i, &m) in members.iter().enumerate() {
        let v = jwk
            .get(m)
            .and_then(Value::as_str)
            .ok_or_else(|| OAuth2Error::Config(format!("JWK thumbprint: `{m}` missing or not a string")))?;
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!("\"{m}\":{}", Value::from(v)));
    }
    json.push('}');
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(json)))
}

/// Whether `token_type` is DPoP's (§5: case-insensitive).
pub fn is_dpop_token_type(token_type: &str) -> bool {
    token_type.eq_ignore_ascii_case(TOKEN_TYPE)
}

/// Puts a DPoP-bound access token and its proof on a resource request (§7.1):
/// `Authorization: DPoP <token>` and `DPoP: <proof>`, both kept out of HTTP/2 header
/// compression tables.
pub fn add_dpop_token(
    request: &mut http::Request<Vec<u8>>,
    access_token: &str,
    proof: &str,
) -> Result<(), OAuth2Error> {
    let bad = |what: &str| OAuth2Error::Config(format!("the {what} is not a valid header value"));
    let mut auth =
        http::HeaderValue::try_from(format!("{DPOP} {access_token}")).map_err(|_| bad("access token"))?;
    auth.set_sensitive(true);
    let mut proof = http::HeaderValue::try_from(proof).map_err(|_| bad("DPoP proof"))?;
    proof.set_sensitive(true);
    let headers = request.headers_mut();
    headers.insert(http::header::AUTHORIZATION, auth);
    headers.insert(DPOP, proof);
    Ok(())
}

/// The `DPoP-Nonce` of a response, if it has a usable one (§8.1: `NQCHAR`s, no empty value).
pub fn response_nonce<B>(response: &http::Response<B>) -> Option<String> {
    let value = response.headers().get(DPOP_NONCE)?.to_str().ok()?.trim();
    let ok = !value.is_empty()
        && value.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    ok.then(|| value.to_owned())
}

/// Whether a response asks for a proof with a nonce, and with which (§8, §9): a token
/// endpoint's `400` with `error=use_dpop_nonce`, or a resource's `401` with
/// `WWW-Authenticate: DPoP error="use_dpop_nonce"`, carrying a `DPoP-Nonce`. `None` for any
/// other response, and for such an error without a usable nonce (a retry would fail
/// again).
pub fn nonce_challenge<B: AsRef<[u8]>>(response: &http::Response<B>) -> Option<String> {
    let asked = match response.status().as_u16() {
        400 => error_body(response.body().as_ref()).is_some_and(|b| b.error == USE_DPOP_NONCE),
        401 => www_authenticate_dpop_error(response).is_some_and(|b| b.error == USE_DPOP_NONCE),
        _ => false,
    };
    if asked { response_nonce(response) } else { None }
}

/// The error of a `WWW-Authenticate: DPoP …` challenge (§7.1, RFC 6750 §3 syntax), if the
/// response has one with an `error` parameter.
pub fn www_authenticate_dpop_error<B>(response: &http::Response<B>) -> Option<ErrorBody> {
    for value in response.headers().get_all(http::header::WWW_AUTHENTICATE) {
        let Ok(text) = value.to_str() else { continue };
        let text = text.trim_start();
        let Some(scheme_end) = text.find(|c: char| c.is_ascii_whitespace()) else { continue };
        if !text[..scheme_end].eq_ignore_ascii_case(DPOP) {
            continue;
        }
        let params = auth_params(&text[scheme_end..]);
        let get = |k: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
        if let Some(error) = get("error") {
            return Some(ErrorBody {
                error,
                error_description: get("error_description"),
                error_uri: get("error_uri"),
            });
        }
    }
    None
}

/// `name=value` and `name="quoted value"` pairs of a challenge, comma-separated (RFC 9110
/// §11.2). Reading stops at the first thing that is not a parameter.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_owned();
        if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace() || c == ',') {
            break;
        }
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            let Some(end) = end else { break };
            value = v;
            rest = &quoted[end..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((name, value));
        rest = rest.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter;
    impl RandomSource for Counter {
        fn fill(&self, buf: &mut [u8]) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = i as u8;
            }
        }
    }

    fn part(jwt: &str, i: usize) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(i).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn proof_header_and_claims_are_exact() {
        let key = DpopKey::generate().unwrap();
        let proof = key
            .proof(
                &http::Method::GET,
                "https://RS.example:443/me/?q=1#frag",
                1_700_000_000,
                &Counter,
                Some("at-123"),
                Some("n-1"),
            )
            .unwrap();
        let header = part(&proof, 0);
        assert_eq!(header, serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk()}));
        assert_eq!(header["jwk"].as_object().unwrap().len(), 4, "public members only");
        let claims = part(&proof, 1);
        assert_eq!(
            claims,
            serde_json::json!({
                "jti": URL_SAFE_NO_PAD.encode((0u8..16).collect::<Vec<_>>()),
                "htm": "GET",
                "htu": "https://rs.example/me/",
                "iat": 1_700_000_000,
                "ath": ath("at-123"),
                "nonce": "n-1",
            })
        );
        // Verifies with the header's key.
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(header["jwk"].clone()).unwrap();
        let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        jsonwebtoken::decode::<ProofClaims>(&proof, &dk, &v).unwrap();
        // A token request: no `ath`, no `nonce` unless given.
        let proof =
            key.proof(&http::Method::POST, "https://as.example/token", 5, &Counter, None, None).unwrap();
        let claims = part(&proof, 1);
        assert!(claims.get("ath").is_none() && claims.get("nonce").is_none(), "{claims}");
    }

    #[test]
    fn htu_drops_query_and_fragment() {
        assert_eq!(htu("https://a.example/p?x=1#f").unwrap(), "https://a.example/p");
        assert_eq!(htu("HTTPS://A.Example:443").unwrap(), "https://a.example/");
        assert_eq!(htu("http://a.example:8080/t").unwrap(), "http://a.example:8080/t");
        assert!(htu("ftp://a.example/").is_err());
        assert!(htu("not a url").is_err());
        assert_eq!(nonce_origin("https://a.example/x?y").as_deref(), Some("https://a.example:443"));
    }

    #[test]
    fn ath_is_the_sha256_of_the_token() {
        // SHA-256("") in base64url.
        assert_eq!(ath(""), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    }

    #[test]
    fn keys_round_trip_through_pem_and_keep_their_thumbprint() {
        let key = DpopKey::generate_for(Algorithm::ES384).unwrap();
        assert_eq!(key.public_jwk()["crv"], "P-384");
        let pem = key.to_pkcs8_pem();
        let back = DpopKey::from_pkcs8_pem(&pem, Algorithm::ES384).unwrap();
        assert_eq!(back.thumbprint(), key.thumbprint());
        assert!(DpopKey::from_pkcs8_pem(&pem, Algorithm::ES256).is_err(), "wrong curve");
        assert!(DpopKey::generate_for(Algorithm::RS256).is_err());
        let debug = format!("{key:?}");
        assert!(debug.contains(key.thumbprint()) && !debug.contains("pkcs8"), "{debug}");
    }

    #[test]
    fn nonce_challenges_of_both_endpoints() {
        let resp = |status: u16, headers: &[(&str, &str)], body: &str| {
            let mut b = http::Response::builder().status(status);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(body.as_bytes().to_vec()).unwrap()
        };
        let token = resp(400, &[("DPoP-Nonce", "eyJ7S_zG.eyJH0-Z.HX4w-7v")], r#"{"error":"use_dpop_nonce"}"#);
        assert_eq!(nonce_challenge(&token).as_deref(), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
        let rs = resp(
            401,
            &[
                ("WWW-Authenticate", r#"Bearer realm="x""#),
                (
                    "WWW-Authenticate",
                    r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#,
                ),
                ("DPoP-Nonce", "n2"),
            ],
            "",
        );
        assert_eq!(nonce_challenge(&rs).as_deref(), Some("n2"));
        let e = www_authenticate_dpop_error(&rs).unwrap();
        assert_eq!(e.error_description.as_deref(), Some("Resource server requires nonce in DPoP proof"));
        // Other errors, or no usable nonce: no retry.
        assert_eq!(nonce_challenge(&resp(400, &[("DPoP-Nonce", "n")], r#"{"error":"invalid_grant"}"#)), None);
        assert_eq!(nonce_challenge(&resp(400, &[], r#"{"error":"use_dpop_nonce"}"#)), None);
        assert_eq!(
            nonce_challenge(&resp(400, &[("DPoP-Nonce", "a b")], r#"{"error":"use_dpop_nonce"}"#)),
            None
        );
        let bearer =
            resp(401, &[("WWW-Authenticate", r#"Bearer error="use_dpop_nonce""#), ("DPoP-Nonce", "n")], "");
        assert_eq!(nonce_challenge(&bearer), None);
        assert_eq!(response_nonce(&resp(200, &[("DPoP-Nonce", "abc")], "")).as_deref(), Some("abc"));
    }

    #[test]
    fn dpop_scheme_on_resource_requests() {
        let mut r = http::Request::get("https://rs.example/x").body(Vec::new()).unwrap();
        add_dpop_token(&mut r, "tok", "a.b.c").unwrap();
        assert_eq!(r.headers()["authorization"], "DPoP tok");
        assert_eq!(r.headers()["dpop"], "a.b.c");
        assert!(is_dpop_token_type("dpop") && !is_dpop_token_type("Bearer"));
    }
}

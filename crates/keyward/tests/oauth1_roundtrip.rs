//! Every signature method × every signature type round-trips through the core: a request
//! signed by [`Signer`] (RFC 5849 §3.1, §3.5) is parsed by [`SignedRequest`] and verified
//! (§3.2); tampering with any signed part makes verification fail.

use keyward::OsRandom;
use keyward::common::clock::FixedClock;
use keyward::oauth1::rfc5849::signature::{rsa_private_key_from_pem, rsa_public_key_from_pem};
use keyward::oauth1::rfc5849::{
    ClientCredentials, SignatureMethods, SignatureType, SignedRequest, Signer, SigningParams,
    TokenCredentials, VerifyError, VerifyKeys,
};

const PRIVATE_PEM: &str = include_str!("../../../tests/peers/keys/rsa_private.pem");
const PUBLIC_PEM: &str = include_str!("../../../tests/peers/keys/rsa_public.pem");
const OTHER_PUBLIC_PEM: &str = include_str!("../../../tests/peers/keys/rsa_other_public.pem");
const METHODS: [&str; 5] = ["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "RSA-SHA256", "PLAINTEXT"];
const TYPES: [SignatureType; 3] = [SignatureType::Header, SignatureType::Query, SignatureType::Body];

fn credentials() -> ClientCredentials {
    ClientCredentials::new("client id+é", "client secret&%")
        .with_rsa_key(rsa_private_key_from_pem(PRIVATE_PEM).unwrap())
}

/// A request with query and form-body parameters, both signed (§3.4.1.3.1).
fn resource_request() -> http::Request<Vec<u8>> {
    http::Request::post("https://API.example.com:443/v1/photos%20x?size=original&tag=a+b&tag=%E2%98%83")
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(b"title=Sunset%20%26%20sea&empty=".to_vec())
        .unwrap()
}

#[test]
fn every_method_and_type_round_trips() {
    let methods = SignatureMethods::default();
    let public = rsa_public_key_from_pem(PUBLIC_PEM).unwrap();
    let token = TokenCredentials::new("token/1", "token secret ~");
    let clock = FixedClock::new(1_700_000_000);
    for name in METHODS {
        for t in TYPES {
            let signer = Signer::new(credentials())
                .method_named(name, &methods)
                .unwrap()
                .signature_type(t)
                .realm("Photos");
            let params = SigningParams { token: Some(&token), callback: None, verifier: Some("v~1") };
            let signed = signer.sign(resource_request(), &params, &clock, &OsRandom).unwrap();

            let parsed = SignedRequest::from_http(&signed).unwrap_or_else(|e| panic!("{name} {t}: {e}"));
            assert_eq!(parsed.signature_type(), t);
            assert_eq!(parsed.signature_method(), name);
            assert_eq!(parsed.consumer_key(), "client id+é");
            assert_eq!(parsed.token(), Some("token/1"));
            assert_eq!(parsed.verifier(), Some("v~1"));
            assert_eq!(parsed.timestamp_secs(), Some(1_700_000_000));
            assert_eq!(parsed.nonce().map(str::len), Some(30));
            assert_eq!(parsed.version(), Some("1.0"));
            assert_eq!(parsed.realm(), (t == SignatureType::Header).then_some("Photos"));
            assert_eq!(parsed.base_uri(), "https://api.example.com/v1/photos%20x");
            // Each protocol parameter exactly once, in exactly one place.
            let query = signed.uri().query().unwrap_or("");
            let body = std::str::from_utf8(signed.body()).unwrap();
            let header = signed.headers().get("authorization").map(|h| h.to_str().unwrap()).unwrap_or("");
            for p in
                ["oauth_consumer_key", "oauth_signature=", "oauth_nonce", "oauth_timestamp", "oauth_token"]
            {
                let n = query.matches(p).count() + body.matches(p).count() + header.matches(p).count();
                assert_eq!(n, 1, "{name} {t}: {p} appears {n} times");
            }

            let keys = VerifyKeys {
                client_secret: "client secret&%",
                token_secret: "token secret ~",
                rsa_public_key: Some(&public),
            };
            parsed.verify(&methods, &keys).unwrap_or_else(|e| panic!("{name} {t}: {e}"));

            let wrong_token = VerifyKeys { token_secret: "other", ..keys };
            if !name.starts_with("RSA") {
                assert_eq!(
                    parsed.verify(&methods, &wrong_token),
                    Err(VerifyError::InvalidSignature),
                    "{name}"
                );
            }
            if name != "PLAINTEXT" {
                let tampered = tamper(&signed);
                let reparsed = SignedRequest::from_http(&tampered).unwrap();
                assert_eq!(
                    reparsed.verify(&methods, &keys),
                    Err(VerifyError::InvalidSignature),
                    "{name} {t}"
                );
            }
        }
    }
}

/// Changes a signed query parameter's value (`size=original` → `size=thumbnail`).
fn tamper(req: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let uri = req.uri().to_string().replace("size=original", "size=thumbnail");
    let mut b = http::Request::builder().method(req.method()).uri(uri);
    for (k, v) in req.headers() {
        b = b.header(k, v);
    }
    b.body(req.body().clone()).unwrap()
}

#[test]
fn rsa_needs_the_matching_public_key() {
    let methods = SignatureMethods::default();
    let signer = Signer::new(credentials()).method_named("RSA-SHA1", &methods).unwrap();
    let req = http::Request::get("http://example.com/r").body(Vec::new()).unwrap();
    let signed = signer.sign(req, &SigningParams::default(), &FixedClock::new(1), &OsRandom).unwrap();
    let parsed = SignedRequest::from_http(&signed).unwrap();
    let missing = VerifyKeys::default();
    assert!(matches!(parsed.verify(&methods, &missing), Err(VerifyError::MissingKey { .. })));
    let other = rsa_public_key_from_pem(OTHER_PUBLIC_PEM).unwrap();
    let wrong = VerifyKeys { rsa_public_key: Some(&other), ..VerifyKeys::default() };
    assert_eq!(parsed.verify(&methods, &wrong), Err(VerifyError::InvalidSignature));
}

#[test]
fn allow_list_refuses_registered_but_disallowed_methods() {
    let signer = Signer::new(credentials()).method_named("PLAINTEXT", &SignatureMethods::default()).unwrap();
    let req = http::Request::get("https://example.com/r").body(Vec::new()).unwrap();
    let signed = signer.sign(req, &SigningParams::default(), &FixedClock::new(1), &OsRandom).unwrap();
    let parsed = SignedRequest::from_http(&signed).unwrap();
    let strict = SignatureMethods::default().allow_only(&["HMAC-SHA1"]);
    let keys = VerifyKeys { client_secret: "client secret&%", ..VerifyKeys::default() };
    assert_eq!(parsed.verify(&strict, &keys), Err(VerifyError::MethodNotAllowed("PLAINTEXT".into())));
    assert!(parsed.verify(&SignatureMethods::default(), &keys).is_ok());
    let none = SignatureMethods::empty();
    assert_eq!(parsed.verify(&none, &keys), Err(VerifyError::UnsupportedMethod("PLAINTEXT".into())));
}

/// A custom method: the registry takes it on both sides (§3.4: servers may define methods).
struct Reverse;
impl keyward::oauth1::rfc5849::SignatureMethod for Reverse {
    fn name(&self) -> &str {
        "X-REVERSE"
    }
    fn key_kind(&self) -> keyward::oauth1::rfc5849::KeyKind {
        keyward::oauth1::rfc5849::KeyKind::SharedSecret
    }
    fn sign(
        &self,
        base: &str,
        keys: &keyward::oauth1::rfc5849::SigningKeys<'_>,
    ) -> Result<String, keyward::oauth1::rfc5849::SignError> {
        Ok(format!("{}{}", keys.client_secret, base.chars().rev().collect::<String>()))
    }
    fn verify(&self, base: &str, sig: &str, keys: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        let want = format!("{}{}", keys.client_secret, base.chars().rev().collect::<String>());
        if keyward::common::ct_eq(want.as_bytes(), sig.as_bytes()) {
            Ok(())
        } else {
            Err(VerifyError::InvalidSignature)
        }
    }
}

#[test]
fn custom_methods_can_be_registered() {
    let methods = SignatureMethods::default().register(Reverse);
    let signer = Signer::new(credentials()).method_named("X-REVERSE", &methods).unwrap();
    let req = http::Request::get("https://example.com/r?a=1").body(Vec::new()).unwrap();
    let signed = signer.sign(req, &SigningParams::default(), &FixedClock::new(5), &OsRandom).unwrap();
    let parsed = SignedRequest::from_http(&signed).unwrap();
    assert_eq!(parsed.signature_method(), "X-REVERSE");
    let keys = VerifyKeys { client_secret: "client secret&%", ..VerifyKeys::default() };
    parsed.verify(&methods, &keys).unwrap();
    assert!(parsed.verify(&SignatureMethods::default(), &keys).is_err());
}

#[test]
fn body_hash_covers_non_form_bodies() {
    let methods = SignatureMethods::default();
    for name in ["HMAC-SHA1", "HMAC-SHA256"] {
        let signer = Signer::new(credentials()).method_named(name, &methods).unwrap().body_hash(true);
        let req = http::Request::put("https://example.com/doc")
            .header("content-type", "application/json")
            .body(br#"{"a":1}"#.to_vec())
            .unwrap();
        let signed = signer.sign(req, &SigningParams::default(), &FixedClock::new(9), &OsRandom).unwrap();
        let parsed = SignedRequest::from_http(&signed).unwrap();
        let want = methods.get(name).unwrap().hash_body(br#"{"a":1}"#);
        assert_eq!(parsed.body_hash(), Some(want.as_str()));
        let keys = VerifyKeys { client_secret: "client secret&%", ..VerifyKeys::default() };
        parsed.verify(&methods, &keys).unwrap();

        let (parts, _) = signed.into_parts();
        let swapped = http::Request::from_parts(parts, br#"{"a":2}"#.to_vec());
        let reparsed = SignedRequest::from_http(&swapped).unwrap();
        assert_eq!(reparsed.verify(&methods, &keys), Err(VerifyError::InvalidBodyHash), "{name}");
    }
    // Form bodies are covered by the signature itself: no body hash is added.
    let signer = Signer::new(credentials()).body_hash(true);
    let req = http::Request::post("https://example.com/f")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"a=1".to_vec())
        .unwrap();
    let signed = signer.sign(req, &SigningParams::default(), &FixedClock::new(9), &OsRandom).unwrap();
    assert_eq!(SignedRequest::from_http(&signed).unwrap().body_hash(), None);
}

#[test]
fn nonces_are_fresh() {
    let signer = Signer::new(credentials());
    let clock = FixedClock::new(1);
    let nonce = || {
        let req = http::Request::get("https://example.com/").body(Vec::new()).unwrap();
        let s = signer.sign(req, &SigningParams::default(), &clock, &OsRandom).unwrap();
        SignedRequest::from_http(&s).unwrap().nonce().unwrap().to_owned()
    };
    let first = nonce();
    assert_eq!(first.len(), 30);
    assert!(first.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_ne!(first, nonce());
}

#[test]
fn body_placement_needs_a_form_body_on_a_method_that_has_one() {
    let signer = Signer::new(credentials()).signature_type(SignatureType::Body);
    let clock = FixedClock::new(1);
    let get = http::Request::get("https://example.com/r").body(Vec::new()).unwrap();
    assert!(matches!(
        signer.sign(get, &SigningParams::default(), &clock, &OsRandom),
        Err(keyward::oauth1::rfc5849::SignError::Placement(_))
    ));
    let json = http::Request::post("https://example.com/r")
        .header("content-type", "application/json")
        .body(b"{}".to_vec());
    assert!(matches!(
        signer.sign(json.unwrap(), &SigningParams::default(), &clock, &OsRandom),
        Err(keyward::oauth1::rfc5849::SignError::Placement(_))
    ));
    // An empty POST becomes a form.
    let empty = http::Request::post("https://example.com/r").body(Vec::new()).unwrap();
    let signed = signer.sign(empty, &SigningParams::default(), &clock, &OsRandom).unwrap();
    assert_eq!(signed.headers()["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(SignedRequest::from_http(&signed).unwrap().signature_type(), SignatureType::Body);
    // A request that already carries protocol parameters is not signed twice.
    let twice = http::Request::post("https://example.com/r?oauth_nonce=x").body(Vec::new()).unwrap();
    assert!(Signer::new(credentials()).sign(twice, &SigningParams::default(), &clock, &OsRandom).is_err());
}

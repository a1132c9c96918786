//! Property tests (proptest): what must hold for *any* input, not only the vectors.
//!
//! - sign (RFC 5849 §3.1) then parse (§3.5) then verify (§3.2) round-trips for every
//!   signature method and placement, over arbitrary HTTP methods, hosts, paths, query and
//!   form parameters (any Unicode), and a change to any signed value breaks the signature;
//! - percent-encoding (§3.6) and form encoding round-trip, and encoding only emits
//!   unreserved characters and uppercase escapes;
//! - parameter normalisation (§3.4.1.3.2) does not depend on the order of its input;
//! - state, PKCE verifiers, OIDC nonces and OAuth 1 nonces are never repeated.
//!
//! `oauth1_randomized.rs` covers parser robustness and reserved characters with a fixed
//! seed; this file adds shrinking, full Unicode, arbitrary URLs and methods, RSA, tampering,
//! and the encoding/normalisation laws.

use keyward::OsRandom;
use keyward::RandomSource;
use keyward::common::clock::FixedClock;
use keyward::common::encoding::{decode, decode_form_component, encode, encode_form, parse_form};
use keyward::oauth1::rfc5849::base_string::normalize_parameters;
use keyward::oauth1::rfc5849::signature::{
    RsaPrivateKey, RsaPublicKey, rsa_private_key_from_pem, rsa_public_key_from_pem,
};
use keyward::oauth1::rfc5849::{
    ClientCredentials, SignatureMethods, SignatureType, SignedRequest, Signer, SigningParams,
    TokenCredentials, VerifyError, VerifyKeys,
};
use keyward::oauth2::rfc6749::STATE_LENGTH;
use keyward::oauth2::rfc7636::CodeVerifier;
use proptest::prelude::*;
use std::collections::HashSet;
use std::sync::OnceLock;

const PRIVATE_PEM: &str = include_str!("../../../tests/peers/keys/rsa_private.pem");
const PUBLIC_PEM: &str = include_str!("../../../tests/peers/keys/rsa_public.pem");

fn rsa_keys() -> &'static (RsaPrivateKey, RsaPublicKey) {
    static KEYS: OnceLock<(RsaPrivateKey, RsaPublicKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (rsa_private_key_from_pem(PRIVATE_PEM).unwrap(), rsa_public_key_from_pem(PUBLIC_PEM).unwrap())
    })
}

/// A parameter name or value: any Unicode, often with the characters encoding gets wrong.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
        2 => proptest::collection::vec(
            prop::sample::select(vec!["a", "Z", "0", " ", "+", "%", "%20", "&", "=", "~", "é", "☃", "😀", "\n", "/", "?", "#"]),
            0..6,
        )
        .prop_map(|v| v.concat()),
    ]
}

fn pairs(max: usize) -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((text(), text()), 0..max)
}

fn http_method() -> impl Strategy<Value = http::Method> {
    prop::sample::select(vec![
        http::Method::GET,
        http::Method::POST,
        http::Method::PUT,
        http::Method::DELETE,
        http::Method::PATCH,
    ])
}

/// An absolute URL: scheme, host (any case), an optional port, and path segments of any
/// Unicode, percent-encoded.
fn url() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["http", "https", "HTTPS"]),
        "[a-zA-Z][a-zA-Z0-9-]{0,8}(\\.[a-zA-Z]{2,5}){0,2}",
        prop::option::of(1u16..),
        proptest::collection::vec(text(), 0..4),
    )
        .prop_map(|(scheme, host, port, segments)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let path: String = segments.iter().map(|s| format!("/{}", encode(s))).collect();
            format!("{scheme}://{host}{port}{path}")
        })
}

const METHODS: [&str; 5] = ["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "RSA-SHA256", "PLAINTEXT"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sign_then_verify_round_trips(
        sig in prop::sample::select(METHODS.to_vec()),
        placement in prop::sample::select(vec![SignatureType::Header, SignatureType::Query, SignatureType::Body]),
        method in http_method(),
        url in url(),
        query in pairs(4),
        form in pairs(4),
        client_id in "[!-~]{1,12}",
        client_secret in text(),
        token in prop::option::of(("[!-~]{1,12}", text())),
        verifier in prop::option::of("[!-~]{1,12}"),
        ts in 1i64..=4_102_444_800,
    ) {
        let methods = SignatureMethods::default();
        let (private, public) = rsa_keys();
        let mut uri = url.clone();
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&encode_form(query.iter().map(|(k, v)| (k, v))));
        }
        // A form body is signed only when the request says it is one (§3.4.1.3.1).
        let body = encode_form(form.iter().map(|(k, v)| (k, v)));
        let req = http::Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.into_bytes())
            .unwrap();
        let token = token.map(|(t, s)| TokenCredentials::new(t, s));
        let signer = Signer::new(ClientCredentials::new(&client_id, &client_secret).with_rsa_key(private.clone()))
            .method_named(sig, &methods)
            .unwrap()
            .signature_type(placement);
        let params = SigningParams { token: token.as_ref(), callback: None, verifier: verifier.as_deref() };
        let signed = signer.sign(req, &params, &FixedClock::new(ts), &OsRandom);
        // Form-body placement on a GET is a typed error, not a request (§3.5.2).
        if method == http::Method::GET && placement == SignatureType::Body {
            prop_assert!(matches!(signed, Err(keyward::oauth1::rfc5849::SignError::Placement(_))), "{:?}", signed);
            return Ok(());
        }
        let signed = signed.unwrap();

        let parsed = SignedRequest::from_http(&signed).map_err(|e| TestCaseError::fail(format!("{e}: {signed:?}")))?;
        prop_assert_eq!(parsed.signature_method(), sig);
        prop_assert_eq!(parsed.signature_type(), placement);
        prop_assert_eq!(parsed.consumer_key(), client_id.as_str());
        prop_assert_eq!(parsed.token(), token.as_ref().map(|t| t.token.as_str()));
        prop_assert_eq!(parsed.verifier(), verifier.as_deref());
        prop_assert_eq!(parsed.timestamp_secs(), Some(ts));
        let mut want: Vec<(String, String)> = query.iter().chain(&form).cloned().collect();
        let mut got = parsed.params().to_vec();
        want.sort();
        got.sort();
        prop_assert_eq!(got, want);

        let token_secret = token.as_ref().map(|t| t.token_secret.secret().to_owned()).unwrap_or_default();
        let keys = VerifyKeys { client_secret: &client_secret, token_secret: &token_secret, rsa_public_key: Some(public) };
        prop_assert_eq!(parsed.verify(&methods, &keys), Ok(()));

        // Another client secret fails for every method but RSA (which does not use it).
        if !sig.starts_with("RSA") {
            let other = format!("{client_secret}x");
            let wrong = VerifyKeys { client_secret: &other, ..keys };
            prop_assert_eq!(parsed.verify(&methods, &wrong), Err(VerifyError::InvalidSignature));
        }
        // Changing a signed part (the timestamp, re-sent as is) breaks every signed method.
        if sig != "PLAINTEXT" {
            let tampered = SignedRequest::from_http(&retimestamp(&signed, ts)).unwrap();
            prop_assert_eq!(tampered.verify(&methods, &keys), Err(VerifyError::InvalidSignature));
        }
    }

    #[test]
    fn percent_encoding_round_trips(s in any::<String>()) {
        let e = encode(&s);
        prop_assert_eq!(decode(&e).unwrap(), s.as_str());
        // Only unreserved characters (RFC 3986 §2.3) and uppercase escapes.
        let b = e.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                prop_assert!(b[i + 1..i + 3].iter().all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c)), "{}", e);
                i += 3;
            } else {
                prop_assert!(b[i].is_ascii_alphanumeric() || b"-._~".contains(&b[i]), "{}", e);
                i += 1;
            }
        }
        // Unreserved input is left alone.
        if s.bytes().all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c)) {
            prop_assert_eq!(e.as_ref(), s.as_str());
        }
    }

    #[test]
    fn form_encoding_round_trips(p in pairs(6)) {
        let encoded = encode_form(p.iter().map(|(k, v)| (k, v)));
        prop_assert_eq!(parse_form(&encoded).unwrap(), p.clone());
        for (k, v) in &p {
            let one = encode_form([(k, v)]);
            let (ek, ev) = one.split_once('=').unwrap();
            prop_assert_eq!(&decode_form_component(ek).unwrap(), k);
            prop_assert_eq!(&decode_form_component(ev).unwrap(), v);
        }
    }

    #[test]
    fn normalisation_does_not_depend_on_input_order(
        (p, shuffled) in pairs(8).prop_flat_map(|p| {
            let q = Just(p.clone()).prop_shuffle();
            (Just(p), q)
        })
    ) {
        let n = normalize_parameters(&p);
        prop_assert_eq!(&n, &normalize_parameters(&shuffled));
        // And it is sorted by encoded name, then encoded value (§3.4.1.3.2).
        let parts: Vec<(&str, &str)> =
            if n.is_empty() { Vec::new() } else { n.split('&').map(|kv| kv.split_once('=').unwrap()).collect() };
        prop_assert_eq!(parts.len(), p.len());
        prop_assert!(parts.windows(2).all(|w| w[0] <= w[1]), "{}", n);
    }
}

/// The request with `oauth_timestamp` moved by one second, wherever it was sent.
fn retimestamp(req: &http::Request<Vec<u8>>, ts: i64) -> http::Request<Vec<u8>> {
    let (from, to) = (format!("oauth_timestamp=\"{ts}\""), format!("oauth_timestamp=\"{}\"", ts + 1));
    let (from_q, to_q) = (format!("oauth_timestamp={ts}"), format!("oauth_timestamp={}", ts + 1));
    let uri = req.uri().to_string().replace(&from_q, &to_q);
    let body = String::from_utf8(req.body().clone()).unwrap().replace(&from_q, &to_q);
    let mut b = http::Request::builder().method(req.method()).uri(uri);
    for (k, v) in req.headers() {
        match v.to_str() {
            Ok(s) if k == http::header::AUTHORIZATION => b = b.header(k, s.replace(&from, &to)),
            _ => b = b.header(k, v),
        }
    }
    b.body(body.into_bytes()).unwrap()
}

/// `n` values from `make` are all different.
fn all_distinct(n: usize, what: &str, mut make: impl FnMut() -> String) {
    let mut seen = HashSet::with_capacity(n);
    for i in 0..n {
        let v = make();
        assert!(seen.insert(v.clone()), "{what} repeated after {i} draws: {v}");
    }
}

#[test]
fn state_pkce_and_nonces_are_never_reused() {
    const N: usize = 20_000;
    all_distinct(N, "OAuth 2 state", || OsRandom.alphanumeric(STATE_LENGTH));
    all_distinct(N, "OIDC nonce", || OsRandom.alphanumeric(30));
    all_distinct(N, "PKCE verifier", || {
        let v = CodeVerifier::generate(&OsRandom);
        assert!((43..=128).contains(&v.secret().len()), "RFC 7636 §4.1 length");
        v.secret().to_owned()
    });
    // OAuth 1 nonces as the signer puts them on the wire (§3.3), same timestamp throughout.
    let signer = Signer::new(ClientCredentials::new("c", "s"));
    let clock = FixedClock::new(1_700_000_000);
    all_distinct(N / 4, "OAuth 1 nonce", || {
        let req = http::Request::get("https://example.com/r").body(Vec::new()).unwrap();
        let signed = signer.sign(req, &SigningParams::default(), &clock, &OsRandom).unwrap();
        SignedRequest::from_http(&signed).unwrap().nonce().unwrap().to_owned()
    });
}

/// The uniqueness check above is not vacuous: a source that repeats is caught.
#[test]
#[should_panic(expected = "repeated")]
fn a_repeating_source_is_caught() {
    let mut i = 0u32;
    all_distinct(100, "counter mod 50", || {
        i += 1;
        (i % 50).to_string()
    });
}

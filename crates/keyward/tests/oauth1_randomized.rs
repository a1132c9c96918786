//! Randomised checks with a fixed seed (reproducible, no extra dependency):
//!
//! - reading protocol parameters (RFC 5849 §3.5) never panics, whatever the header, query
//!   and body hold;
//! - any parameter names and values — reserved characters, `%`, `+`, non-ASCII — survive
//!   signing (§3.1), transmission in each place (§3.5) and verification (§3.2).

use keyward::OsRandom;
use keyward::common::clock::FixedClock;
use keyward::common::encoding::encode_form;
use keyward::oauth1::rfc5849::{
    ClientCredentials, SignatureMethods, SignatureType, SignedRequest, Signer, SigningParams,
    TokenCredentials, VerifyKeys,
};

/// xorshift64*: a small deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    "OAuth ",
    "oauth ",
    "realm",
    "oauth_consumer_key",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_token",
    "oauth_version",
    "oauth_body_hash",
    "PLAINTEXT",
    "HMAC-SHA1",
    "=",
    "\"",
    ",",
    " ",
    "\t",
    "%",
    "%2",
    "%zz",
    "%C3",
    "%A9",
    "%FF",
    "+",
    "&",
    "a",
    "1",
    "-5",
    "1.0",
    "é",
    "\\",
];

fn junk(rng: &mut Rng) -> String {
    (0..rng.below(24)).map(|_| *rng.pick(PIECES)).collect()
}

#[test]
fn parsing_never_panics() {
    let mut rng = Rng(0x5EED_0A17_1234_5678);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut b = http::Request::post(format!("https://e.com/r?{}", encode_form([("q", junk(&mut rng))])));
        if rng.below(2) == 0 {
            let mut bytes = junk(&mut rng).into_bytes();
            if rng.below(8) == 0 {
                bytes.push(0xFF);
            }
            if let Ok(v) = http::HeaderValue::from_bytes(&bytes) {
                b = b.header("authorization", v);
            }
        }
        let mut body = junk(&mut rng).into_bytes();
        if rng.below(2) == 0 {
            b = b.header("content-type", "application/x-www-form-urlencoded");
            if rng.below(8) == 0 {
                body.push(0xC3);
            }
        }
        // A raw query too, not only a well-encoded one.
        let raw = junk(&mut rng).replace([' ', '"', '\\', '\t'], "").replace('é', "%C3%A9");
        if let Ok(uri) = format!("https://e.com/r?{raw}").parse::<http::Uri>() {
            b = b.uri(uri);
        }
        let req = b.body(body).unwrap();
        if SignedRequest::from_http(&req).is_ok() {
            accepted += 1;
        }
    }
    // The generator does produce the occasional well-formed request; most are refused.
    assert!(accepted < 20_000);
}

const VALUE_PIECES: &[&str] = &[
    "a",
    "Z",
    "0",
    " ",
    "+",
    "%",
    "%20",
    "&",
    "=",
    "?",
    "/",
    "#",
    "~",
    "-",
    "_",
    ".",
    "*",
    "é",
    "☃",
    "\u{1F600}",
    "\"",
    ",",
];

fn value(rng: &mut Rng) -> String {
    (0..rng.below(8)).map(|_| *rng.pick(VALUE_PIECES)).collect()
}

#[test]
fn any_names_and_values_round_trip() {
    let mut rng = Rng(0xC0FF_EE00_0000_0001);
    let methods = SignatureMethods::default();
    for i in 0..300 {
        let method = *rng.pick(&["HMAC-SHA1", "HMAC-SHA256", "PLAINTEXT"]);
        let t = *rng.pick(&[SignatureType::Header, SignatureType::Query, SignatureType::Body]);
        let (client_secret, token_secret) = (value(&mut rng), value(&mut rng));
        let client_id = format!("c{}", value(&mut rng));
        let token = TokenCredentials::new(format!("t{}", value(&mut rng)), token_secret.clone());
        let query: Vec<(String, String)> =
            (0..rng.below(4)).map(|_| (format!("q{}", value(&mut rng)), value(&mut rng))).collect();
        let form: Vec<(String, String)> =
            (0..rng.below(4)).map(|_| (format!("f{}", value(&mut rng)), value(&mut rng))).collect();
        let mut uri = String::from("https://Example.COM/p%20a/th");
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&encode_form(query.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
        }
        let req = http::Request::put(&uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form(form.iter().map(|(k, v)| (k.as_str(), v.as_str()))).into_bytes())
            .unwrap();
        let callback = value(&mut rng);
        let signer = Signer::new(ClientCredentials::new(&client_id, &client_secret))
            .method_named(method, &methods)
            .unwrap()
            .signature_type(t)
            .realm(value(&mut rng));
        let params = SigningParams { token: Some(&token), callback: Some(&callback), verifier: None };
        let signed = signer.sign(req, &params, &FixedClock::new(1_700_000_000 + i), &OsRandom).unwrap();

        let parsed =
            SignedRequest::from_http(&signed).unwrap_or_else(|e| panic!("case {i}: {e}: {signed:?}"));
        assert_eq!(parsed.consumer_key(), client_id, "case {i}");
        assert_eq!(parsed.token(), Some(token.token.as_str()), "case {i}");
        assert_eq!(parsed.callback(), Some(callback.as_str()), "case {i}");
        let mut want: Vec<(String, String)> = query.iter().chain(&form).cloned().collect();
        let mut got = parsed.params().to_vec();
        want.sort();
        got.sort();
        assert_eq!(got, want, "case {i}: non-OAuth parameters");
        let keys =
            VerifyKeys { client_secret: &client_secret, token_secret: &token_secret, rsa_public_key: None };
        parsed.verify(&methods, &keys).unwrap_or_else(|e| panic!("case {i} ({method}, {t}): {e}"));
        if !(client_secret.is_empty() && token_secret.is_empty()) {
            let wrong = VerifyKeys { client_secret: "x", token_secret: "y", rsa_public_key: None };
            assert!(parsed.verify(&methods, &wrong).is_err(), "case {i}");
        }
    }
}

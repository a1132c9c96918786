//! ID-token validation (OpenID Connect Core §3.1.3.7) against tokens this test signs
//! itself: one accepted token, then one refused token per rule.

use keyward::common::secret::SecretString;
use keyward::oidc::core::{IdTokenCheck, IdTokenValidator, IssuerTemplate, left_half_hash};
use keyward::oidc::jwks::KeySet;
use keyward::oidc::{Algorithm, IdTokenError};
use keyward_testkit::jose::{TestSigner, hs256, jwks, unsigned};
use serde_json::{Value, json};

const ISS: &str = "https://op.example";
const NOW: i64 = 1_700_000_000;

fn signer_a() -> TestSigner {
    TestSigner::load("oidc_op_a.pem", "key-a")
}

fn signer_b() -> TestSigner {
    TestSigner::load("oidc_op_b.pem", "key-b")
}

fn claims() -> Value {
    json!({"iss": ISS, "sub": "user-1", "aud": "client-1", "iat": NOW - 10, "exp": NOW + 300, "nonce": "n-0S6"})
}

fn validator() -> IdTokenValidator {
    IdTokenValidator::new(ISS, "client-1")
}

fn check() -> IdTokenCheck<'static> {
    IdTokenCheck { now: NOW, nonce: Some("n-0S6"), access_token: None, code: None }
}

fn keys(signers: &[&TestSigner]) -> KeySet {
    KeySet::from_value(&jwks(signers)).unwrap()
}

fn refused(token: &str) -> IdTokenError {
    validator().validate(token, &keys(&[&signer_a()]), &check()).unwrap_err()
}

fn with(f: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    f(&mut c);
    signer_a().sign(&c)
}

#[test]
fn a_valid_token_is_accepted() {
    let a = signer_a();
    let got = validator().validate(&a.sign(&claims()), &keys(&[&a]), &check()).unwrap();
    assert_eq!((got.sub.as_str(), got.aud.as_slice()), ("user-1", &["client-1".to_owned()][..]));
    assert_eq!(got.raw["nonce"], "n-0S6");
}

#[test]
fn wrong_signature() {
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some("key-a".into());
    let forged = signer_b().sign_with(header, &claims());
    assert_eq!(refused(&forged), IdTokenError::BadSignature);
    let a = signer_a().sign(&claims());
    let (head, rest) = a.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let other_payload = signer_a().sign(&json!({"iss": ISS, "sub": "admin"}));
    let payload = other_payload.split('.').nth(1).unwrap();
    assert_eq!(refused(&format!("{head}.{payload}.{sig}")), IdTokenError::BadSignature);
}

#[test]
fn alg_none_is_refused() {
    assert_eq!(refused(&unsigned(&claims())), IdTokenError::Unsigned);
    let mut v = validator();
    v.algorithms.clear();
    assert_eq!(v.validate(&unsigned(&claims()), &keys(&[]), &check()).unwrap_err(), IdTokenError::Unsigned);
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    let a = signer_a();
    let token = hs256(&a.public_bytes(), Some("key-a"), &claims());
    assert_eq!(refused(&token), IdTokenError::AlgorithmNotAllowed("HS256".into()));
    // Even when the provider advertises HS256, its key is the client secret, never a JWK.
    let mut v = validator();
    v.algorithms = vec![Algorithm::RS256, Algorithm::HS256];
    assert_eq!(v.validate(&token, &keys(&[&a]), &check()).unwrap_err(), IdTokenError::NoHmacSecret);
    v.client_secret = Some(SecretString::new("the-real-client-secret-0123456789"));
    assert_eq!(v.validate(&token, &keys(&[&a]), &check()).unwrap_err(), IdTokenError::BadSignature);
    let honest = hs256(b"the-real-client-secret-0123456789", None, &claims());
    assert!(v.validate(&honest, &keys(&[&a]), &check()).is_ok());
    // An `oct` key in the JWK set is never used.
    let set =
        KeySet::from_value(&json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "key-a"}]})).unwrap();
    assert!(set.is_empty());
}

#[test]
fn wrong_issuer() {
    let e = refused(&with(|c| c["iss"] = json!("https://evil.example")));
    assert!(matches!(e, IdTokenError::Issuer { ref got, .. } if got == "https://evil.example"), "{e:?}");
}

#[test]
fn wrong_audience_and_azp() {
    let e = refused(&with(|c| c["aud"] = json!("someone-else")));
    assert!(matches!(e, IdTokenError::Audience { .. }), "{e:?}");
    let e = refused(&with(|c| c["aud"] = json!(["client-1", "other"])));
    assert_eq!(e, IdTokenError::AuthorizedParty(None));
    let e = refused(&with(|c| {
        c["aud"] = json!(["client-1", "other"]);
        c["azp"] = json!("other");
    }));
    assert_eq!(e, IdTokenError::AuthorizedParty(Some("other".into())));
    let a = signer_a();
    let ok = with(|c| {
        c["aud"] = json!(["client-1", "other"]);
        c["azp"] = json!("client-1");
    });
    assert!(validator().validate(&ok, &keys(&[&a]), &check()).is_ok());
    assert_eq!(
        refused(&with(|c| drop(c.as_object_mut().unwrap().remove("aud")))),
        IdTokenError::MissingClaim("aud")
    );
}

#[test]
fn expired_within_and_beyond_leeway() {
    let a = signer_a();
    let late = with(|c| c["exp"] = json!(NOW - 100));
    assert!(validator().validate(&late, &keys(&[&a]), &check()).is_ok(), "within 120 s leeway");
    let e = refused(&with(|c| c["exp"] = json!(NOW - 121)));
    assert_eq!(e, IdTokenError::Expired { exp: NOW - 121, now: NOW });
    let e = refused(&with(|c| c["iat"] = json!(NOW + 500)));
    assert!(matches!(e, IdTokenError::IssuedInFuture { .. }), "{e:?}");
    let e = refused(&with(|c| c["nbf"] = json!(NOW + 500)));
    assert!(matches!(e, IdTokenError::NotYetValid { .. }), "{e:?}");
}

#[test]
fn missing_iat_exp_sub() {
    for claim in ["iat", "exp", "sub", "iss"] {
        let e = refused(&with(|c| drop(c.as_object_mut().unwrap().remove(claim))));
        assert!(matches!(e, IdTokenError::MissingClaim(c) if c == claim), "{claim}: {e:?}");
    }
}

#[test]
fn nonce_mismatch_and_missing() {
    assert_eq!(refused(&with(|c| c["nonce"] = json!("replayed"))), IdTokenError::NonceMismatch);
    assert_eq!(
        refused(&with(|c| drop(c.as_object_mut().unwrap().remove("nonce")))),
        IdTokenError::NonceMissing
    );
    // A provider without nonce support (quirk): nothing sent, nothing checked.
    let a = signer_a();
    let no_nonce = IdTokenCheck { nonce: None, ..check() };
    let token = with(|c| drop(c.as_object_mut().unwrap().remove("nonce")));
    assert!(validator().validate(&token, &keys(&[&a]), &no_nonce).is_ok());
}

#[test]
fn unknown_kid_then_rotated_keys() {
    let (a, b) = (signer_a(), signer_b());
    let token = b.sign(&claims());
    let e = validator().validate(&token, &keys(&[&a]), &check()).unwrap_err();
    assert_eq!(e, IdTokenError::UnknownKey { kid: Some("key-b".into()) });
    // After the provider rotates and the set is refetched, the same token passes.
    assert!(validator().validate(&token, &keys(&[&a, &b]), &check()).is_ok());
    // No kid: the only RS256 key is used; with two keys it is ambiguous.
    let no_kid = b.sign_with(jsonwebtoken::Header::new(Algorithm::RS256), &claims());
    assert!(validator().validate(&no_kid, &keys(&[&b]), &check()).is_ok());
    assert_eq!(
        validator().validate(&no_kid, &keys(&[&a, &b]), &check()).unwrap_err(),
        IdTokenError::AmbiguousKey
    );
}

#[test]
fn at_hash_and_c_hash() {
    let a = signer_a();
    let token = with(|c| {
        c["at_hash"] = json!(left_half_hash(Algorithm::RS256, "access-1"));
        c["c_hash"] = json!(left_half_hash(Algorithm::RS256, "code-1"));
    });
    let ok = IdTokenCheck { access_token: Some("access-1"), code: Some("code-1"), ..check() };
    assert!(validator().validate(&token, &keys(&[&a]), &ok).is_ok());
    let bad = IdTokenCheck { access_token: Some("access-2"), ..ok };
    assert_eq!(validator().validate(&token, &keys(&[&a]), &bad).unwrap_err(), IdTokenError::AccessTokenHash);
    let bad = IdTokenCheck { code: Some("code-2"), ..ok };
    assert_eq!(validator().validate(&token, &keys(&[&a]), &bad).unwrap_err(), IdTokenError::CodeHash);
    // The OpenID Connect Core §A.3 example: at_hash of "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y".
    assert_eq!(
        left_half_hash(Algorithm::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
        "77QmUPtjPfzWtF2AnpK9RQ"
    );
}

#[test]
fn issuer_template_is_filled_from_tid() {
    let a = signer_a();
    let mut v = IdTokenValidator::new("https://login.example/{tenantid}/v2.0", "client-1");
    v.issuer_template = Some(IssuerTemplate::from_placeholder("{tenantid}"));
    let token = with(|c| {
        c["iss"] = json!("https://login.example/t-42/v2.0");
        c["tid"] = json!("t-42");
    });
    assert!(v.validate(&token, &keys(&[&a]), &check()).is_ok());
    let token = with(|c| {
        c["iss"] = json!("https://login.example/t-42/v2.0");
        c["tid"] = json!("t-43");
    });
    assert!(matches!(v.validate(&token, &keys(&[&a]), &check()), Err(IdTokenError::Issuer { .. })));
}

#[test]
fn malformed_tokens_do_not_panic() {
    for t in ["", "a", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.", "eyJhbGciOiJSUzI1NiJ9.%%%.sig"] {
        let e = refused(t);
        assert!(
            matches!(
                e,
                IdTokenError::Malformed(_)
                    | IdTokenError::MissingClaim(_)
                    | IdTokenError::UnknownKey { .. }
                    | IdTokenError::BadSignature
            ),
            "{t}: {e:?}"
        );
    }
}

#[test]
fn key_selection_by_type_alg_and_bare_keys() {
    let (a, b) = (signer_a(), signer_b());
    let mut bare = a.jwk();
    bare.as_object_mut().unwrap().remove("kid");
    let set = KeySet::from_value(&json!({"keys": [bare]})).unwrap();
    assert!(
        validator().validate(&a.sign(&claims()), &set, &check()).is_ok(),
        "the only key, published without kid"
    );
    // A key marked for encryption, or for another alg, is not used for signatures.
    let mut enc = b.jwk();
    enc["use"] = json!("enc");
    let mut other_alg = a.jwk();
    other_alg["alg"] = json!("PS256");
    let set = KeySet::from_value(&json!({"keys": [enc, other_alg, {"kty": "weird"}]})).unwrap();
    assert_eq!(set.len(), 1);
    let e = validator().validate(&a.sign(&claims()), &set, &check()).unwrap_err();
    assert_eq!(e, IdTokenError::UnknownKey { kid: Some("key-a".into()) });
    assert!(KeySet::from_value(&json!({"nokeys": []})).is_err());
}

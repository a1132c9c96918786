//! Back-Channel Logout 1.0 §2.6: logout tokens this test signs itself, one accepted, then
//! one refused per rule, and the `jti` single-use through a memory `OnceStore`.

use keyward::common::secret::SecretString;
use keyward::oidc::core::IdTokenValidator;
use keyward::oidc::jwks::KeySet;
use keyward::oidc::logout::{
    BACKCHANNEL_LOGOUT_EVENT, LogoutTokenClaims, LogoutTokenError, LogoutTokenValidator, record_jti,
};
use keyward::oidc::{Algorithm, IdTokenError};
use keyward_stores::{MemoryStore, StoreAdmin};
use keyward_testkit::jose::{TestSigner, hs256, jwks, unsigned};
use serde_json::{Value, json};

const ISS: &str = "https://op.example";
const NOW: i64 = 1_700_000_000;

fn signer() -> TestSigner {
    TestSigner::load("oidc_op_a.pem", "key-a")
}

fn claims() -> Value {
    json!({
        "iss": ISS, "aud": "client-1", "iat": NOW - 5, "jti": "j-1", "sub": "user-1", "sid": "s-1",
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    })
}

fn validator() -> LogoutTokenValidator {
    let mut v = IdTokenValidator::new(ISS, "client-1");
    v.leeway = 30;
    LogoutTokenValidator::new(v)
}

fn keys() -> KeySet {
    KeySet::from_value(&jwks(&[&signer()])).unwrap()
}

fn sign_typ(typ: Option<&str>, c: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some("key-a".into());
    header.typ = typ.map(str::to_owned);
    signer().sign_with(header, c)
}

fn with(f: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    f(&mut c);
    sign_typ(Some("logout+jwt"), &c)
}

fn check(token: &str) -> Result<LogoutTokenClaims, LogoutTokenError> {
    validator().validate(token, &keys(), NOW)
}

#[test]
fn a_valid_logout_token_is_accepted_with_each_typ() {
    for typ in [Some("logout+jwt"), Some("application/logout+jwt"), Some("JWT"), None] {
        let got = check(&sign_typ(typ, &claims())).unwrap_or_else(|e| panic!("{typ:?}: {e}"));
        assert_eq!(got.sub.as_deref(), Some("user-1"));
        assert_eq!(got.sid.as_deref(), Some("s-1"));
        assert_eq!(got.jti, "j-1");
        assert_eq!(got.valid_until, NOW - 5 + 300, "no exp: iat plus the accepted age");
    }
    let only_sid = check(&with(|c| drop(c.as_object_mut().unwrap().remove("sub")))).unwrap();
    assert_eq!((only_sid.sub, only_sid.sid.as_deref()), (None, Some("s-1")));
    let with_exp = check(&with(|c| c["exp"] = json!(NOW + 60))).unwrap();
    assert_eq!(with_exp.valid_until, NOW + 60);
}

#[test]
fn each_rule_refuses() {
    let cases: Vec<(&str, String)> = vec![
        ("nonce", with(|c| c["nonce"] = json!("n"))),
        ("aud", with(|c| c["aud"] = json!("someone-else"))),
        ("aud array", with(|c| c["aud"] = json!(["x", "y"]))),
        ("azp", with(|c| c["azp"] = json!("someone-else"))),
        ("iss", with(|c| c["iss"] = json!("https://evil.example"))),
        ("no iat", with(|c| drop(c.as_object_mut().unwrap().remove("iat")))),
        ("iat in future", with(|c| c["iat"] = json!(NOW + 600))),
        ("too old", with(|c| c["iat"] = json!(NOW - 1000))),
        ("expired", with(|c| c["exp"] = json!(NOW - 100))),
        ("no events", with(|c| drop(c.as_object_mut().unwrap().remove("events")))),
        ("other event", with(|c| c["events"] = json!({"http://example.com/other": {}}))),
        ("event not object", with(|c| c["events"] = json!({ BACKCHANNEL_LOGOUT_EVENT: "x" }))),
        (
            "neither sub nor sid",
            with(|c| {
                let m = c.as_object_mut().unwrap();
                m.remove("sub");
                m.remove("sid");
            }),
        ),
        ("no jti", with(|c| drop(c.as_object_mut().unwrap().remove("jti")))),
        ("typ", sign_typ(Some("at+jwt"), &claims())),
        ("unsigned", unsigned(&claims())),
        ("hs256 without secret", hs256(b"secret", None, &claims())),
        ("garbage", "a.b.c".to_owned()),
        ("jwe", "a.b.c.d.e".to_owned()),
    ];
    for (name, token) in cases {
        let err = check(&token).expect_err(name);
        assert!(err.is_invalid_token(), "{name}: {err}");
    }
    assert!(matches!(check(&with(|c| c["nonce"] = json!("n"))), Err(LogoutTokenError::Nonce)));
    assert!(matches!(
        check(&with(|c| c["aud"] = json!("x"))),
        Err(LogoutTokenError::Jwt(IdTokenError::Audience { .. }))
    ));
    assert!(matches!(check(&with(|c| c["events"] = json!({}))), Err(LogoutTokenError::Event)));
    let other_key = TestSigner::load("oidc_op_b.pem", "key-a");
    assert!(matches!(
        check(&other_key.sign(&claims())),
        Err(LogoutTokenError::Jwt(IdTokenError::BadSignature))
    ));
    let unknown = TestSigner::load("oidc_op_b.pem", "key-b");
    assert!(matches!(
        check(&unknown.sign(&claims())),
        Err(LogoutTokenError::Jwt(IdTokenError::UnknownKey { .. }))
    ));
}

#[test]
fn hmac_tokens_are_keyed_by_the_client_secret_when_allowed() {
    let mut v = validator();
    v.id_token.client_secret = Some(SecretString::new("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"));
    v.id_token.algorithms = vec![Algorithm::HS256];
    let token = hs256(b"s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t", None, &claims());
    assert!(v.validate(&token, &KeySet::default(), NOW).is_ok());
    let token = hs256(b"other", None, &claims());
    assert!(v.validate(&token, &KeySet::default(), NOW).is_err());
}

#[tokio::test]
async fn the_jti_is_single_use_and_a_token_from_before_the_epoch_is_refused() {
    let store = MemoryStore::new();
    // The replay cache remembers from this second on.
    store.purge_expired(NOW - 60).await.unwrap();
    let claims = check(&sign_typ(None, &claims())).unwrap();
    record_jti(&store, &claims, 30, NOW).await.unwrap();
    assert!(matches!(record_jti(&store, &claims, 30, NOW + 1).await, Err(LogoutTokenError::Replayed)));
    // Another issuer's token with the same jti is another token.
    let mut other = claims.clone();
    other.iss = "https://other.example".into();
    record_jti(&store, &other, 30, NOW).await.unwrap();

    let fresh_store = MemoryStore::new();
    // A cache that started after the token was issued cannot prove it fresh.
    assert!(matches!(record_jti(&fresh_store, &claims, 30, NOW).await, Err(LogoutTokenError::Replayed)));
}

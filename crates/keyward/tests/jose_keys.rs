//! The server's key set (`keyward::jose`) and JWT access tokens (RFC 9068): rotation,
//! the public JWK set, persistence, and tokens refused for every reason a resource server
//! must refuse them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keyward::jose::{JoseError, KeySet, KeyState, SigningAlg, SigningKey};
use keyward::oauth2::rfc9068::{self, AccessTokenClaims, AccessTokenError, Audience};
use keyward::oidc::jwks;
use keyward_testkit::jose::TestSigner;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::sync::OnceLock;

const ISS: &str = "https://as.example.com";
const AUD: &str = "https://api.example.com";
const T0: i64 = 1_800_000_000;

fn vector(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("vector JSON")
}

fn claims(now: i64, lifetime: i64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISS.into(),
        sub: "alice".into(),
        aud: AUD.into(),
        client_id: "s6BhdRkqt3".into(),
        scope: Some("read write".into()),
        jti: format!("jti-{now}"),
        exp: now + lifetime,
        iat: now,
        auth_time: Some(now - 30),
        extra: Map::new(),
    }
}

fn verify(token: &str, keys: &jwks::KeySet, now: i64) -> Result<AccessTokenClaims, AccessTokenError> {
    rfc9068::verify(token, keys, ISS, AUD, now, 30)
}

/// One RSA key set for the tests that do not generate their own (RSA keygen is slow
/// unoptimised).
fn rsa_set() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(|| KeySet::generate(SigningAlg::RS256).unwrap())
}

fn kids(jwks: &Value) -> BTreeSet<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&B64URL.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

/// Re-signs `header` + `payload` with `key`, as an attacker holding a key would.
fn forge(header: &Value, payload: &Value, key: &SigningKey) -> String {
    let input = format!(
        "{}.{}",
        B64URL.encode(serde_json::to_vec(header).unwrap()),
        B64URL.encode(serde_json::to_vec(payload).unwrap())
    );
    let sig = key.sign_bytes(input.as_bytes()).unwrap();
    format!("{input}.{}", B64URL.encode(sig))
}

#[test]
fn rotation_publishes_before_signing_and_retires_after_the_last_token() {
    let mut set = KeySet::generate(SigningAlg::RS256).unwrap();
    let first = set.current().kid().to_owned();
    let (next, _) = set.keys().find(|(_, s)| *s == KeyState::Next).unwrap();
    let next = next.kid().to_owned();
    assert_ne!(first, next);
    // The next key is published from the start, and does not sign.
    assert_eq!(kids(&set.jwks(T0)), BTreeSet::from([first.clone(), next.clone()]));

    let lifetime = 600;
    let before = rfc9068::issue(&set, &claims(T0, lifetime)).unwrap();
    assert_eq!(header_of(&before)["kid"], first.as_str());

    let rotated_at = T0 + 100;
    let newest = SigningKey::generate(SigningAlg::RS256).unwrap();
    let newest_kid = newest.kid().to_owned();
    set.rotate(rotated_at, newest, lifetime).unwrap();
    assert_eq!(set.current().kid(), next, "the key published before rotation signs after it");
    let states: Vec<_> = set.keys().map(|(k, s)| (k.kid().to_owned(), s)).collect();
    assert!(states.contains(&(first.clone(), KeyState::Retired { until: rotated_at + lifetime })));
    assert!(states.contains(&(newest_kid.clone(), KeyState::Next)));

    // A token signed before the rotation still verifies, with the set a relying party
    // fetches after it; so does one signed after.
    let after = rfc9068::issue(&set, &claims(rotated_at, lifetime)).unwrap();
    assert_eq!(header_of(&after)["kid"], next.as_str());
    let published = set.verifier(rotated_at + 1);
    assert_eq!(verify(&before, &published, rotated_at + 1).unwrap().jti, format!("jti-{T0}"));
    assert_eq!(verify(&after, &published, rotated_at + 1).unwrap().sub, "alice");

    // The retired key stays published until its last token has expired, then goes.
    let last_exp = rotated_at + lifetime;
    assert!(kids(&set.jwks(last_exp - 1)).contains(&first));
    assert_eq!(kids(&set.jwks(last_exp)), BTreeSet::from([next.clone(), newest_kid.clone()]));
    assert_eq!(verify(&before, &set.verifier(last_exp), T0 + 10), Err(AccessTokenError::UnknownKey));
    set.prune(last_exp);
    assert_eq!(set.keys().count(), 2);

    // The next rotation retires `next` and drops nothing else early.
    set.rotate(last_exp + 5, SigningKey::generate(SigningAlg::ES256).unwrap(), lifetime).unwrap();
    assert_eq!(set.current().kid(), newest_kid);
    assert_eq!(set.keys().count(), 3);
}

#[test]
fn rotation_without_a_published_next_key_is_refused() {
    let mut set = KeySet::new(SigningKey::generate(SigningAlg::EdDSA).unwrap());
    let current = set.current().kid().to_owned();
    assert_eq!(
        set.rotate(T0, SigningKey::generate(SigningAlg::EdDSA).unwrap(), 60),
        Err(JoseError::NoNextKey)
    );
    assert_eq!(set.current().kid(), current, "a refused rotation changes nothing");
    // A kid cannot be used twice.
    let same = set.current().clone();
    assert!(matches!(set.publish_next(same), Err(JoseError::InvalidKeySet(_))));
    let again = set.current().clone();
    assert!(matches!(
        KeySet::from_keys(vec![(again.clone(), KeyState::Current), (again, KeyState::Next)]),
        Err(JoseError::InvalidKeySet(_))
    ));
    let (a, b) =
        (SigningKey::generate(SigningAlg::EdDSA).unwrap(), SigningKey::generate(SigningAlg::EdDSA).unwrap());
    assert!(matches!(
        KeySet::from_keys(vec![(a, KeyState::Current), (b, KeyState::Current)]),
        Err(JoseError::InvalidKeySet(_))
    ));
}

#[test]
fn the_jwk_set_has_public_members_only() {
    let public_members: BTreeSet<&str> = ["kty", "kid", "alg", "use", "n", "e", "crv", "x", "y"].into();
    let mut set = rsa_set().clone();
    set.rotate(T0, SigningKey::generate(SigningAlg::ES256).unwrap(), 60).unwrap();
    set.rotate(T0 + 1, SigningKey::generate(SigningAlg::EdDSA).unwrap(), 60).unwrap();
    let jwks = set.jwks(T0 + 2);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    let mut types = BTreeSet::new();
    for key in keys {
        let members: BTreeSet<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(members.is_subset(&public_members), "private or unknown members in {key}");
        assert_eq!(key["use"], "sig");
        types.insert((key["kty"].as_str().unwrap().to_owned(), key["alg"].as_str().unwrap().to_owned()));
    }
    assert_eq!(
        types,
        BTreeSet::from([
            ("RSA".into(), "RS256".into()),
            ("EC".into(), "ES256".into()),
            ("OKP".into(), "EdDSA".into())
        ])
    );
    // The whole document, as served: no private parameter name anywhere.
    let text = serde_json::to_string(&jwks).unwrap();
    for private in ["\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\"", "pkcs8"] {
        assert!(!text.contains(private), "{private} in {text}");
    }
}

#[test]
fn es256_and_eddsa_round_trip() {
    for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
        let set = KeySet::generate(alg).unwrap();
        let token = rfc9068::issue(&set, &claims(T0, 300)).unwrap();
        let header = header_of(&token);
        assert_eq!(header["alg"], alg.name());
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["kid"], set.current().kid());
        let got = verify(&token, &set.verifier(T0), T0 + 1).unwrap();
        assert_eq!(got, claims(T0, 300));
        let mut extra = claims(T0, 300);
        extra.extra.insert("acr".into(), json!("urn:mace:incommon:iap:silver"));
        let token = rfc9068::issue(&set, &extra).unwrap();
        assert_eq!(
            verify(&token, &set.verifier(T0), T0).unwrap().extra["acr"],
            "urn:mace:incommon:iap:silver"
        );
        extra.extra.insert("sub".into(), json!("mallory"));
        assert!(matches!(rfc9068::issue(&set, &extra), Err(JoseError::Sign(_))), "a claim given twice");
        assert_eq!(got.scopes().collect::<Vec<_>>(), ["read", "write"]);
    }
}

#[test]
fn bad_tokens_are_refused_with_their_reason() {
    let set = rsa_set();
    let keys = set.verifier(T0);
    let token = rfc9068::issue(set, &claims(T0, 300)).unwrap();
    assert!(verify(&token, &keys, T0).is_ok());
    let [h, p, s] = <[&str; 3]>::try_from(token.split('.').collect::<Vec<_>>()).unwrap();

    // Tampered claims: the signature no longer matches.
    let mut payload: Value = serde_json::from_slice(&B64URL.decode(p).unwrap()).unwrap();
    payload["sub"] = json!("mallory");
    let tampered = format!("{h}.{}.{s}", B64URL.encode(serde_json::to_vec(&payload).unwrap()));
    assert_eq!(verify(&tampered, &keys, T0), Err(AccessTokenError::BadSignature));
    let mut sig = B64URL.decode(s).unwrap();
    sig[10] ^= 1;
    assert_eq!(
        verify(&format!("{h}.{p}.{}", B64URL.encode(sig)), &keys, T0),
        Err(AccessTokenError::BadSignature)
    );

    // Time, issuer and audience.
    assert_eq!(verify(&token, &keys, T0 + 300 + 30), Err(AccessTokenError::Expired), "at exp + leeway");
    assert!(verify(&token, &keys, T0 + 300 + 29).is_ok(), "within the leeway");
    assert_eq!(
        rfc9068::verify(&token, &keys, ISS, AUD, T0 + 300, 0),
        Err(AccessTokenError::Expired),
        "RFC 7519 §4.1.4: not valid at the second of exp itself"
    );
    assert_eq!(verify(&token, &keys, T0 - 31), Err(AccessTokenError::NotYetValid));
    assert_eq!(
        rfc9068::verify(&token, &keys, "https://other.example.com", AUD, T0, 0),
        Err(AccessTokenError::WrongIssuer(ISS.into()))
    );
    assert_eq!(
        rfc9068::verify(&token, &keys, ISS, "https://other-api.example.com", T0, 0),
        Err(AccessTokenError::WrongAudience)
    );
    let mut many = claims(T0, 300);
    many.aud = Audience::Many(vec!["https://other-api.example.com".into(), AUD.into()]);
    let many = rfc9068::issue(set, &many).unwrap();
    assert!(B64URL.decode(many.split('.').nth(1).unwrap()).unwrap().starts_with(b"{\"iss\""));
    assert_eq!(
        verify(&many, &keys, T0).unwrap().aud,
        Audience::Many(vec!["https://other-api.example.com".into(), AUD.into()])
    );

    // The type: an ID token (typ JWT, or none) signed by the same key is no access token.
    for typ in [Some("JWT"), None] {
        let other = set.sign(typ, &claims(T0, 300)).unwrap();
        assert_eq!(verify(&other, &keys, T0), Err(AccessTokenError::WrongType(typ.map(str::to_owned))));
    }
    let media = set.sign(Some("application/AT+JWT"), &claims(T0, 300)).unwrap();
    assert!(verify(&media, &keys, T0).is_ok(), "typ is a media type, case-insensitive");

    // Algorithm confusion: HS256 keyed with the public key, and `none`.
    let header = header_of(&token);
    let n = keys_n(set);
    let mut hs = Header::new(Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = header["kid"].as_str().map(str::to_owned);
    let confused = jsonwebtoken::encode(&hs, &payload, &EncodingKey::from_secret(n.as_bytes())).unwrap();
    assert_eq!(verify(&confused, &keys, T0), Err(AccessTokenError::AlgorithmNotAllowed("HS256".into())));
    let none = format!(
        "{}.{p}.",
        B64URL.encode(serde_json::to_vec(&json!({"alg": "none", "typ": "at+jwt"})).unwrap())
    );
    assert_eq!(verify(&none, &keys, T0), Err(AccessTokenError::AlgorithmNotAllowed("none".into())));

    // A key that is not published, even under a published kid.
    let stranger = SigningKey::generate(SigningAlg::EdDSA).unwrap();
    let forged = forge(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": header["kid"]}), &payload, &stranger);
    assert_eq!(verify(&forged, &keys, T0), Err(AccessTokenError::UnknownKey));
    let stranger_rsa = rsa_set_other();
    let forged = forge(&header, &payload, stranger_rsa.current());
    assert_eq!(verify(&forged, &keys, T0), Err(AccessTokenError::BadSignature));

    // Missing required claims and garbage.
    let mut partial = serde_json::to_value(claims(T0, 300)).unwrap();
    partial.as_object_mut().unwrap().remove("client_id");
    let partial = set.sign(Some("at+jwt"), &partial).unwrap();
    assert!(matches!(verify(&partial, &keys, T0), Err(AccessTokenError::Malformed(_))));
    for garbage in ["", "a.b.c", "...", "eyJ9.e30.", "not a token"] {
        assert!(verify(garbage, &keys, T0).is_err(), "{garbage:?}");
    }
    assert!(AccessTokenError::Expired.code() == "invalid_token");
}

fn keys_n(set: &KeySet) -> String {
    set.current().public_jwk()["n"].as_str().unwrap().to_owned()
}

fn rsa_set_other() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(|| {
        let key = SigningKey::from_pem(
            &std::fs::read_to_string(keyward_testkit::jose::key_path("oidc_op_b.pem")).unwrap(),
            None,
        )
        .unwrap();
        KeySet::new(key)
    })
}

#[test]
fn rs256_tokens_match_an_independent_signer_and_verifier() {
    // The same committed key through the key set (aws-lc-rs, pre-parsed) and through
    // `jsonwebtoken::encode` (the test kit's signer): RS256 is deterministic, so the two
    // tokens are byte for byte the same.
    let signer = TestSigner::load("oidc_op_a.pem", "op-a");
    let key = SigningKey::from_pem(signer.pem(), Some("op-a".into())).unwrap();
    assert_eq!(key.alg(), SigningAlg::RS256);
    let set = KeySet::new(key);
    let claims = serde_json::to_value(claims(T0, 300)).unwrap();
    let ours = set.sign(Some("at+jwt"), &claims).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("op-a".into());
    assert_eq!(ours, signer.sign_with(header, &claims));

    // The public JWK agrees with the one `jsonwebtoken` derives from the same file, and
    // the token verifies through the ID-token validation path's key selection.
    let published = set.jwks(T0)["keys"][0].clone();
    let theirs = signer.jwk();
    for member in ["kty", "n", "e", "kid", "alg", "use"] {
        assert_eq!(published[member], theirs[member], "{member}");
    }
    let independent = jwks::KeySet::from_value(&keyward_testkit::jose::jwks(&[&signer])).unwrap();
    let key = independent.select(Some("op-a"), Algorithm::RS256).unwrap();
    let payload = keyward::oidc::core::verify_signature(&ours, key, Algorithm::RS256).unwrap();
    assert_eq!(payload["client_id"], "s6BhdRkqt3");
    assert_eq!(verify(&ours, &independent, T0).unwrap().sub, "alice");
}

#[test]
fn rfc8037_ed25519_key_thumbprint_and_signature() {
    let v = vector("rfc8037_appendix_a.json");
    let key = SigningKey::from_jwk(&v["private_jwk"]).unwrap();
    assert_eq!(key.alg(), SigningAlg::EdDSA);
    assert_eq!(key.kid(), v["thumbprint"].as_str().unwrap(), "kid defaults to the RFC 7638 thumbprint");
    assert_eq!(key.public_jwk()["x"], v["private_jwk"]["x"]);
    let sig = key.sign_bytes(v["signing_input"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(B64URL.encode(sig), v["signature"].as_str().unwrap());
    // An `alg` that does not fit the key, and a key without its private part, are refused.
    let mut wrong = v["private_jwk"].clone();
    wrong["alg"] = json!("RS256");
    assert!(matches!(SigningKey::from_jwk(&wrong), Err(JoseError::UnsupportedAlgorithm(_))));
    let mut public = v["private_jwk"].clone();
    public.as_object_mut().unwrap().remove("d");
    assert!(matches!(SigningKey::from_jwk(&public), Err(JoseError::Key(_))));
}

#[test]
fn rfc7515_p256_key_from_jwk() {
    let v = vector("rfc7515_appendix_a3.json");
    let mut jwk = v["private_jwk"].clone();
    jwk["kid"] = json!("a3");
    let key = SigningKey::from_jwk(&jwk).unwrap();
    assert_eq!((key.alg(), key.kid()), (SigningAlg::ES256, "a3"));
    assert_eq!(key.public_jwk()["x"], jwk["x"]);
    assert_eq!(key.public_jwk()["y"], jwk["y"]);
    let set = KeySet::new(key);
    let token = rfc9068::issue(&set, &claims(T0, 60)).unwrap();
    assert!(verify(&token, &set.verifier(T0), T0).is_ok());
    // A private key that does not match the public point is refused.
    jwk["d"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE");
    assert!(SigningKey::from_jwk(&jwk).is_err());
}

#[test]
fn a_key_set_persists_through_serde_and_never_prints_its_keys() {
    let mut set = rsa_set().clone();
    set.rotate(T0, SigningKey::generate(SigningAlg::EdDSA).unwrap(), 600).unwrap();
    let token = rfc9068::issue(&set, &claims(T0, 300)).unwrap();

    let stored = serde_json::to_string(&set).unwrap();
    let restored: KeySet = serde_json::from_str(&stored).unwrap();
    let states = |s: &KeySet| s.keys().map(|(k, st)| (k.kid().to_owned(), k.alg(), st)).collect::<Vec<_>>();
    assert_eq!(states(&restored), states(&set));
    assert_eq!(restored.jwks(T0), set.jwks(T0));
    // Another instance that loaded the set verifies this one's tokens, and signs alike.
    assert!(verify(&token, &restored.verifier(T0), T0).is_ok());
    assert!(verify(&rfc9068::issue(&restored, &claims(T0, 300)).unwrap(), &set.verifier(T0), T0).is_ok());

    // Private material is in the stored form (deliberately) but never in Debug.
    let stored_value: Value = serde_json::from_str(&stored).unwrap();
    let pkcs8 = stored_value["keys"][0]["pkcs8"].as_str().unwrap();
    assert!(pkcs8.len() > 1000);
    for shown in [format!("{set:?}"), format!("{:?}", set.current()), format!("{restored:#?}")] {
        assert!(!shown.contains(&pkcs8[..40]), "{shown}");
        assert!(shown.contains(set.current().kid()) || shown.contains("redacted"), "{shown}");
    }
    let pem = set.current().to_pem();
    assert_eq!(format!("{pem:?}"), "SecretString([redacted])");
    let again = SigningKey::from_pem(pem.secret(), None).unwrap();
    assert_eq!(again.public_jwk()["n"], set.current().public_jwk()["n"]);

    // A stored set that breaks the rules is refused when read.
    let mut broken = stored_value.clone();
    for key in broken["keys"].as_array_mut().unwrap() {
        key["state"] = json!("current");
    }
    assert!(serde_json::from_value::<KeySet>(broken).is_err());
    let mut bad_key = stored_value;
    bad_key["keys"][0]["pkcs8"] = json!("AAAA");
    assert!(serde_json::from_value::<KeySet>(bad_key).is_err());
}

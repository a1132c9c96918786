//! DPoP (RFC 9449), the server's half: every check of a proof (§4.3) refused on its own,
//! tokens bound at the token endpoint (§5) and by `dpop_jkt` (§10), bound refresh tokens of
//! public clients, the resource protector (§7), nonces (§8, §9), introspection and JWT
//! access tokens carrying `cnf.jkt` (§6).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use keyward::common::clock::FixedClock;
use keyward::common::encoding::{encode, encode_form, parse_form};
use keyward::jose::rotation::SharedKeySet;
use keyward::jose::{KeySet, SigningAlg};
use keyward::oauth2::provider::store::{OAuth2ClientStore, OnceStore};
use keyward::oauth2::provider::{
    AccessTokenFormat, AuthorizationServer, BearerError, DpopConfig, Grant, GrantType, KeySetAccessTokens,
    ParConfig, RegisteredClient, ServerConfig,
};
use keyward::oauth2::rfc9449::{self, DpopKey};
use keyward_stores::MemoryStore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ISSUER: &str = "https://as.example";
const TOKEN: &str = "https://as.example/token";
const RESOURCE: &str = "https://api.example/me";
const T0: i64 = 1_800_000_000;
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

static JTI: AtomicU64 = AtomicU64::new(0);

fn next_jti() -> String {
    format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed))
}

/// A proof key: its signing key, algorithm and public JWK.
struct Key {
    enc: EncodingKey,
    alg: Algorithm,
    jwk: Value,
}

impl Key {
    fn es256() -> Self {
        let key = DpopKey::generate().unwrap();
        let enc = EncodingKey::from_ec_pem(key.to_pkcs8_pem().secret().as_bytes()).unwrap();
        Self { enc, alg: Algorithm::ES256, jwk: Value::Object(key.public_jwk().clone()) }
    }

    fn ed25519() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(der.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        Self {
            enc: EncodingKey::from_ed_der(der.as_ref()),
            alg: Algorithm::EdDSA,
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
        }
    }

    fn rs256() -> Self {
        let signer = keyward_testkit::jose::TestSigner::load("rsa_private.pem", "k");
        let enc = EncodingKey::from_rsa_pem(signer.pem().as_bytes()).unwrap();
        let full = signer.jwk();
        Self { enc, alg: Algorithm::RS256, jwk: json!({"kty": "RSA", "n": full["n"], "e": full["e"]}) }
    }

    fn jkt(&self) -> String {
        rfc9449::jwk_thumbprint(self.jwk.as_object().unwrap()).unwrap()
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": alg_name(self.alg), "jwk": self.jwk})
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        );
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &self.enc, self.alg).unwrap();
        format!("{input}.{sig}")
    }

    fn claims(&self, htm: &str, htu: &str, iat: i64) -> Value {
        json!({"jti": next_jti(), "htm": htm, "htu": htu, "iat": iat})
    }

    /// A proof for a token request at `iat`.
    fn token_proof(&self, iat: i64) -> String {
        self.sign(&self.header(), &self.claims("POST", TOKEN, iat))
    }

    fn token_proof_nonce(&self, iat: i64, nonce: &str) -> String {
        let mut claims = self.claims("POST", TOKEN, iat);
        claims["nonce"] = json!(nonce);
        self.sign(&self.header(), &claims)
    }

    /// A proof for `GET RESOURCE` with `token`.
    fn resource_proof(&self, iat: i64, token: &str) -> String {
        let mut claims = self.claims("GET", RESOURCE, iat);
        claims["ath"] = json!(rfc9449::ath(token));
        self.sign(&self.header(), &claims)
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::RS256 => "RS256",
        _ => unreachable!(),
    }
}

struct Fixture {
    server: AuthorizationServer,
    clock: FixedClock,
}

async fn fixture_with(dpop: DpopConfig, format: AccessTokenFormat) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let app =
        RegisteredClient::public("app").with_redirect_uris(["https://app.example/cb"]).with_scopes(["read"]);
    let web = RegisteredClient::confidential("web", "web-secret")
        .with_redirect_uris(["https://web.example/cb"])
        .with_scopes(["read"])
        .with_grant_types([
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ]);
    let mut bound = RegisteredClient::confidential("bound", "bound-secret")
        .with_scopes(["read"])
        .with_grant_types([GrantType::ClientCredentials]);
    bound.dpop_bound_access_tokens = true;
    for c in [app, web, bound] {
        store.create_registered_client(&c).await.unwrap();
    }
    // The memory store remembers single-use values from its first call on (its epoch):
    // start it before T0, as a server that has been running would be.
    store.record_once("warm-up", "x", T0 - 99, T0 - 100).await.unwrap();
    let clock = FixedClock::new(T0);
    let mut config = ServerConfig::new(ISSUER);
    config.access_token_format = format;
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::ES256).unwrap()));
    let server = AuthorizationServer::builder(store.clone(), config)
        .clock(clock.clone())
        .jwt_access_tokens(Arc::new(KeySetAccessTokens::new(keys, ISSUER)))
        .pushed_requests(store, ParConfig::new(ISSUER))
        .dpop(dpop)
        .build();
    Fixture { server, clock }
}

async fn fixture() -> Fixture {
    fixture_with(DpopConfig::new(), AccessTokenFormat::Opaque).await
}

fn token_request(
    pairs: &[(&str, &str)],
    basic: Option<(&str, &str)>,
    proofs: &[&str],
) -> http::Request<Vec<u8>> {
    let mut b = http::Request::post(TOKEN).header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        b = b.header("authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
    }
    for p in proofs {
        b = b.header("dpop", *p);
    }
    b.body(encode_form(pairs.iter().copied()).into_bytes()).unwrap()
}

fn client_credentials(proofs: &[&str]) -> http::Request<Vec<u8>> {
    token_request(&[("grant_type", "client_credentials")], Some(("web", "web-secret")), proofs)
}

fn resource_request(scheme: &str, token: &str, proof: Option<&str>) -> http::Request<Vec<u8>> {
    let mut b =
        http::Request::get(format!("{RESOURCE}?q=1")).header("authorization", format!("{scheme} {token}"));
    if let Some(p) = proof {
        b = b.header("dpop", p);
    }
    b.body(Vec::new()).unwrap()
}

fn json(r: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

/// The error code of a token-endpoint response, asserting 400.
fn error_400(r: &http::Response<Vec<u8>>) -> String {
    assert_eq!(r.status(), 400, "{:?}", json(r));
    json(r)["error"].as_str().unwrap().to_owned()
}

/// A code for `app`, with `extra` authorization parameters.
async fn code_for_app(f: &Fixture, extra: &[(&str, &str)]) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", "app"),
        ("scope", "read"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    let uri = format!("https://as.example/authorize?{}", encode_form(pairs));
    let request =
        f.server.authorization_request(&http::Request::get(uri).body(Vec::new()).unwrap()).await.unwrap();
    code_of(&f.server.grant(&request, Grant::new("alice", ["read"])).await.unwrap())
}

fn code_of(r: &http::Response<Vec<u8>>) -> String {
    let location = r.headers()["location"].to_str().unwrap();
    let params = parse_form(location.split_once('?').unwrap().1).unwrap();
    params.into_iter().find(|(k, _)| k == "code").unwrap().1
}

fn exchange(code: &str, proofs: &[&str]) -> http::Request<Vec<u8>> {
    token_request(
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "app"),
            ("code", code),
            ("code_verifier", VERIFIER),
        ],
        None,
        proofs,
    )
}

#[tokio::test]
async fn a_valid_proof_binds_the_access_token_of_every_algorithm() {
    let f = fixture().await;
    for key in [Key::es256(), Key::ed25519(), Key::rs256()] {
        let r = f.server.token(&client_credentials(&[&key.token_proof(T0)])).await;
        assert_eq!(r.status(), 200, "{:?} {:?}", key.alg, json(&r));
        let body = json(&r);
        assert_eq!(body["token_type"], "DPoP");
        let token = body["access_token"].as_str().unwrap();
        let grant = f
            .server
            .resource_protector()
            .validate(&resource_request("DPoP", token, Some(&key.resource_proof(T0, token))), &["read"])
            .await
            .unwrap();
        assert_eq!(grant.jkt.as_deref(), Some(key.jkt().as_str()));
    }
    // Without a proof: a Bearer token.
    let r = f.server.token(&client_credentials(&[])).await;
    assert_eq!(json(&r)["token_type"], "Bearer");
}

#[tokio::test]
async fn each_check_of_a_proof_is_enforced_alone() {
    let f = fixture().await;
    let key = Key::es256();
    let other = Key::es256();
    let good_claims = || key.claims("POST", TOKEN, T0);
    let mut cases: Vec<(&str, String)> = Vec::new();

    let mut h = key.header();
    h["typ"] = json!("JWT");
    cases.push(("typ", key.sign(&h, &good_claims())));
    let mut h = key.header();
    h["alg"] = json!("none");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&h).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good_claims()).unwrap())
    );
    cases.push(("alg none", unsigned.clone()));
    cases.push(("alg none, any signature", format!("{unsigned}AAAA")));
    // HS256 keyed with the public key's x: never accepted.
    let hmac = EncodingKey::from_secret(key.jwk["x"].as_str().unwrap().as_bytes());
    let mut h = key.header();
    h["alg"] = json!("HS256");
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&h).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good_claims()).unwrap())
    );
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &hmac, Algorithm::HS256).unwrap();
    cases.push(("alg HS256", format!("{input}.{sig}")));
    // A private key in the header.
    let mut h = key.header();
    h["jwk"]["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    cases.push(("private jwk", key.sign(&h, &good_claims())));
    // No jwk; a jwk of another key type than the alg's.
    let mut h = key.header();
    h.as_object_mut().unwrap().remove("jwk");
    cases.push(("no jwk", key.sign(&h, &good_claims())));
    let mut h = key.header();
    h["jwk"] = Key::ed25519().jwk;
    cases.push(("jwk of another kty", key.sign(&h, &good_claims())));
    // Signed by another key than the header's.
    cases.push(("bad signature", other.sign(&key.header(), &good_claims())));
    // htm, htu.
    cases.push(("htm", key.sign(&key.header(), &key.claims("GET", TOKEN, T0))));
    cases.push(("htu", key.sign(&key.header(), &key.claims("POST", "https://as.example/other", T0))));
    cases.push(("htu host", key.sign(&key.header(), &key.claims("POST", "https://evil.example/token", T0))));
    // iat.
    cases.push(("iat old", key.token_proof(T0 - 61)));
    cases.push(("iat future", key.token_proof(T0 + 61)));
    // Claims missing.
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("jti");
    cases.push(("no jti", key.sign(&key.header(), &c)));
    cases.push(("not a JWT", "abc".into()));

    for (what, proof) in &cases {
        let r = f.server.token(&client_credentials(&[proof])).await;
        assert_eq!(error_400(&r), "invalid_dpop_proof", "{what}");
    }

    // Within the window, and htu normalised, with a query ignored: accepted.
    let ok = key.sign(&key.header(), &key.claims("POST", "HTTPS://AS.example:443/token?x=1", T0 - 60));
    assert_eq!(f.server.token(&client_credentials(&[&ok])).await.status(), 200);
    // Replayed: refused.
    assert_eq!(error_400(&f.server.token(&client_credentials(&[&ok])).await), "invalid_dpop_proof");
    // Two DPoP headers.
    let (a, b) = (key.token_proof(T0), key.token_proof(T0));
    assert_eq!(error_400(&f.server.token(&client_credentials(&[&a, &b])).await), "invalid_dpop_proof");
    // Too large.
    let mut c = good_claims();
    c["pad"] = json!("x".repeat(9000));
    let big = key.sign(&key.header(), &c);
    assert_eq!(error_400(&f.server.token(&client_credentials(&[&big])).await), "invalid_dpop_proof");
}

#[tokio::test]
async fn a_client_registered_for_bound_tokens_must_send_a_proof() {
    let f = fixture().await;
    let r = f
        .server
        .token(&token_request(&[("grant_type", "client_credentials")], Some(("bound", "bound-secret")), &[]))
        .await;
    assert_eq!(error_400(&r), "invalid_dpop_proof");
    let key = Key::es256();
    let r = f
        .server
        .token(&token_request(
            &[("grant_type", "client_credentials")],
            Some(("bound", "bound-secret")),
            &[&key.token_proof(T0)],
        ))
        .await;
    assert_eq!(json(&r)["token_type"], "DPoP");
}

#[tokio::test]
async fn the_protector_enforces_the_binding() {
    let f = fixture().await;
    let key = Key::es256();
    let r = f.server.token(&client_credentials(&[&key.token_proof(T0)])).await;
    let token = json(&r)["access_token"].as_str().unwrap().to_owned();
    let protector = f.server.resource_protector();

    // Presented as Bearer: refused, 401 invalid_token.
    let err = protector.validate(&resource_request("Bearer", &token, None), &[]).await.unwrap_err();
    assert_eq!(err.status(), 401);
    let challenge = err.challenge(None);
    assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("algs=\"ES256 EdDSA RS256 PS256\""), "{challenge}");

    // No proof; a proof of another key; a proof without ath, with another token's ath, for
    // another URL or method; replayed.
    let other = Key::es256();
    let no_ath = key.sign(&key.header(), &key.claims("GET", RESOURCE, T0));
    let wrong_ath = key.resource_proof(T0, "another-token");
    let mut c = key.claims("GET", "https://api.example/other", T0);
    c["ath"] = json!(rfc9449::ath(&token));
    let wrong_htu = key.sign(&key.header(), &c);
    let mut c = key.claims("POST", RESOURCE, T0);
    c["ath"] = json!(rfc9449::ath(&token));
    let wrong_htm = key.sign(&key.header(), &c);
    for (what, proof, error) in [
        ("no proof", None, "invalid_dpop_proof"),
        ("other key", Some(other.resource_proof(T0, &token)), "invalid_token"),
        ("no ath", Some(no_ath), "invalid_dpop_proof"),
        ("wrong ath", Some(wrong_ath), "invalid_dpop_proof"),
        ("wrong htu", Some(wrong_htu), "invalid_dpop_proof"),
        ("wrong htm", Some(wrong_htm), "invalid_dpop_proof"),
    ] {
        let err =
            protector.validate(&resource_request("DPoP", &token, proof.as_deref()), &[]).await.unwrap_err();
        let response = err.to_response(None);
        assert_eq!(response.status(), 401, "{what}");
        let www = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(www.starts_with("DPoP ") && www.contains(&format!("error=\"{error}\"")), "{what}: {www}");
    }
    let proof = key.resource_proof(T0, &token);
    let grant = protector.validate(&resource_request("DPoP", &token, Some(&proof)), &["read"]).await.unwrap();
    assert_eq!(grant.client_id, "web");
    let err = protector.validate(&resource_request("DPoP", &token, Some(&proof)), &[]).await.unwrap_err();
    assert!(matches!(err, BearerError::Dpop(ref c) if c.error == "invalid_dpop_proof"), "replay: {err:?}");

    // A Bearer token presented with the DPoP scheme is refused too.
    let bearer =
        json(&f.server.token(&client_credentials(&[])).await)["access_token"].as_str().unwrap().to_owned();
    let err = protector
        .validate(&resource_request("DPoP", &bearer, Some(&key.resource_proof(T0, &bearer))), &[])
        .await
        .unwrap_err();
    assert_eq!(err.status(), 401);
    // And used as Bearer it works.
    protector.validate(&resource_request("Bearer", &bearer, None), &[]).await.unwrap();
}

#[tokio::test]
async fn the_protector_takes_a_public_base_url_for_htu() {
    let f = fixture().await;
    let key = Key::es256();
    let token = json(&f.server.token(&client_credentials(&[&key.token_proof(T0)])).await)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A framework hands the request over with a relative URI.
    let relative = |proof: &str| {
        http::Request::get("/me")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(Vec::new())
            .unwrap()
    };
    let protector = f.server.resource_protector();
    assert!(protector.validate(&relative(&key.resource_proof(T0, &token)), &[]).await.is_err());
    let protector = protector.with_public_base_url("https://api.example/");
    protector.validate(&relative(&key.resource_proof(T0, &token)), &[]).await.unwrap();
}

#[tokio::test]
async fn introspection_and_jwt_access_tokens_carry_the_key() {
    let f = fixture_with(DpopConfig::new(), AccessTokenFormat::Jwt).await;
    let key = Key::es256();
    let r = f.server.token(&client_credentials(&[&key.token_proof(T0)])).await;
    let token = json(&r)["access_token"].as_str().unwrap().to_owned();
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(payload["cnf"], json!({"jkt": key.jkt()}));
    // The protector reads it from the JWT.
    let err = f.server.resource_protector().validate(&resource_request("Bearer", &token, None), &[]).await;
    assert!(err.is_err());
    f.server
        .resource_protector()
        .validate(&resource_request("DPoP", &token, Some(&key.resource_proof(T0, &token))), &[])
        .await
        .unwrap();

    let introspect = token_request(&[("token", &token)], Some(("web", "web-secret")), &[]);
    let body = json(&f.server.introspect(&introspect).await);
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["cnf"], json!({"jkt": key.jkt()}));

    let meta = serde_json::to_value(f.server.metadata()).unwrap();
    assert_eq!(meta["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA", "RS256", "PS256"]));
}

#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_key() {
    let f = fixture().await;
    let key = Key::es256();
    let code = code_for_app(&f, &[]).await;
    let r = f.server.token(&exchange(&code, &[&key.token_proof(T0)])).await;
    assert_eq!(r.status(), 200, "{:?}", json(&r));
    let body = json(&r);
    assert_eq!(body["token_type"], "DPoP");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let refresh_request = |proofs: &[&str]| {
        token_request(
            &[("grant_type", "refresh_token"), ("client_id", "app"), ("refresh_token", &refresh)],
            None,
            proofs,
        )
    };
    // Another key, or none: refused (and the token is not spent).
    let other = Key::es256();
    assert_eq!(
        error_400(&f.server.token(&refresh_request(&[&other.token_proof(T0)])).await),
        "invalid_dpop_proof"
    );
    assert_eq!(error_400(&f.server.token(&refresh_request(&[])).await), "invalid_dpop_proof");
    // The same key: a new bound pair.
    let r = f.server.token(&refresh_request(&[&key.token_proof(T0)])).await;
    assert_eq!(r.status(), 200, "{:?}", json(&r));
    let body = json(&r);
    assert_eq!(body["token_type"], "DPoP");
    let rotated = body["refresh_token"].as_str().unwrap();
    let r = f
        .server
        .token(&token_request(
            &[("grant_type", "refresh_token"), ("client_id", "app"), ("refresh_token", rotated)],
            None,
            &[&other.token_proof(T0)],
        ))
        .await;
    assert_eq!(error_400(&r), "invalid_dpop_proof", "the rotated token keeps the binding");
}

#[tokio::test]
async fn a_confidential_clients_refresh_token_is_not_bound() {
    let f = fixture().await;
    let key = Key::es256();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let uri = format!(
        "https://as.example/authorize?response_type=code&client_id=web&scope=read&code_challenge={challenge}&code_challenge_method=S256"
    );
    let request =
        f.server.authorization_request(&http::Request::get(uri).body(Vec::new()).unwrap()).await.unwrap();
    let code = code_of(&f.server.grant(&request, Grant::new("alice", ["read"])).await.unwrap());
    let r = f
        .server
        .token(&token_request(
            &[("grant_type", "authorization_code"), ("code", &code), ("code_verifier", VERIFIER)],
            Some(("web", "web-secret")),
            &[&key.token_proof(T0)],
        ))
        .await;
    let refresh = json(&r)["refresh_token"].as_str().unwrap().to_owned();
    let other = Key::es256();
    let r = f
        .server
        .token(&token_request(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            Some(("web", "web-secret")),
            &[&other.token_proof(T0)],
        ))
        .await;
    assert_eq!(r.status(), 200, "{:?}", json(&r));
    assert_eq!(json(&r)["token_type"], "DPoP");
}

#[tokio::test]
async fn dpop_jkt_binds_the_code() {
    let f = fixture().await;
    let key = Key::es256();
    let jkt = key.jkt();
    // Another key: refused.
    let code = code_for_app(&f, &[("dpop_jkt", &jkt)]).await;
    let other = Key::es256();
    assert_eq!(
        error_400(&f.server.token(&exchange(&code, &[&other.token_proof(T0)])).await),
        "invalid_dpop_proof"
    );
    // No proof: refused.
    let code = code_for_app(&f, &[("dpop_jkt", &jkt)]).await;
    assert_eq!(error_400(&f.server.token(&exchange(&code, &[])).await), "invalid_dpop_proof");
    // The key: accepted.
    let code = code_for_app(&f, &[("dpop_jkt", &jkt)]).await;
    let r = f.server.token(&exchange(&code, &[&key.token_proof(T0)])).await;
    assert_eq!(r.status(), 200, "{:?}", json(&r));
    // A malformed dpop_jkt is invalid_request, redirected.
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let uri = format!(
        "https://as.example/authorize?response_type=code&client_id=app&code_challenge={challenge}&code_challenge_method=S256&dpop_jkt=short"
    );
    let err =
        f.server.authorization_request(&http::Request::get(uri).body(Vec::new()).unwrap()).await.unwrap_err();
    assert!(err.is_redirected());
    assert_eq!(err.error.code(), "invalid_request");
}

#[tokio::test]
async fn a_proof_at_the_par_endpoint_binds_the_code() {
    let f = fixture().await;
    let key = Key::es256();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let par_proof = key.sign(&key.header(), &key.claims("POST", "https://as.example/par", T0));
    let push = http::Request::post("https://as.example/par")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("dpop", par_proof)
        .body(
            encode_form([
                ("response_type", "code"),
                ("client_id", "app"),
                ("scope", "read"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .into_bytes(),
        )
        .unwrap();
    let r = f.server.pushed_authorization(&push).await;
    assert_eq!(r.status(), 201, "{:?}", json(&r));
    let request_uri = json(&r)["request_uri"].as_str().unwrap().to_owned();
    let uri = format!("https://as.example/authorize?client_id=app&request_uri={}", encode(&request_uri));
    let request =
        f.server.authorization_request(&http::Request::get(uri).body(Vec::new()).unwrap()).await.unwrap();
    assert_eq!(request.dpop_jkt.as_deref(), Some(key.jkt().as_str()));
    let code = code_of(&f.server.grant(&request, Grant::new("alice", ["read"])).await.unwrap());
    let other = Key::es256();
    assert_eq!(
        error_400(&f.server.token(&exchange(&code, &[&other.token_proof(T0)])).await),
        "invalid_dpop_proof"
    );
}

#[tokio::test]
async fn nonces_when_required() {
    let f = fixture_with(
        DpopConfig::new().with_nonce_required(true).with_nonce_secret([9u8; 32]),
        AccessTokenFormat::Opaque,
    )
    .await;
    let key = Key::es256();
    // No nonce: use_dpop_nonce with a fresh one.
    let r = f.server.token(&client_credentials(&[&key.token_proof(T0)])).await;
    assert_eq!(error_400(&r), "use_dpop_nonce");
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(rfc9449::nonce_challenge(&r).as_deref(), Some(nonce.as_str()));
    // A made-up nonce: the same.
    assert_eq!(
        error_400(&f.server.token(&client_credentials(&[&key.token_proof_nonce(T0, "made-up")])).await),
        "use_dpop_nonce"
    );
    // With it: tokens, and a nonce for next time.
    let r = f.server.token(&client_credentials(&[&key.token_proof_nonce(T0, &nonce)])).await;
    assert_eq!(r.status(), 200, "{:?}", json(&r));
    assert!(r.headers().contains_key("dpop-nonce"));
    let token = json(&r)["access_token"].as_str().unwrap().to_owned();

    // The resource asks too (401, WWW-Authenticate: DPoP error="use_dpop_nonce").
    let protector = f.server.resource_protector();
    let err = protector
        .validate(&resource_request("DPoP", &token, Some(&key.resource_proof(T0, &token))), &[])
        .await
        .unwrap_err();
    let response = err.to_response(None);
    assert_eq!(response.status(), 401);
    let rs_nonce = rfc9449::nonce_challenge(&response).expect("a nonce challenge");
    let mut c = key.claims("GET", RESOURCE, T0);
    c["ath"] = json!(rfc9449::ath(&token));
    c["nonce"] = json!(rs_nonce);
    let proof = key.sign(&key.header(), &c);
    protector.validate(&resource_request("DPoP", &token, Some(&proof)), &[]).await.unwrap();

    // A nonce lives 300 s, then is stale.
    f.clock.advance(299);
    let r = f.server.token(&client_credentials(&[&key.token_proof_nonce(T0 + 299, &nonce)])).await;
    assert_eq!(r.status(), 200, "{:?}", json(&r));
    f.clock.advance(1);
    let r = f.server.token(&client_credentials(&[&key.token_proof_nonce(T0 + 300, &nonce)])).await;
    assert_eq!(error_400(&r), "use_dpop_nonce");
    f.clock.set(T0 + 600);
    let r = f.server.token(&client_credentials(&[&key.token_proof(T0 + 600)])).await;

    // Another instance with the same secret accepts this one's nonces.
    let twin = fixture_with(
        DpopConfig::new().with_nonce_required(true).with_nonce_secret([9u8; 32]),
        AccessTokenFormat::Opaque,
    )
    .await;
    twin.clock.set(T0 + 600);
    let fresh = r.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let r = twin.server.token(&client_credentials(&[&key.token_proof_nonce(T0 + 600, &fresh)])).await;
    assert_eq!(r.status(), 200, "{:?}", json(&r));
}

#[tokio::test]
async fn without_dpop_a_proof_is_ignored_and_nothing_is_advertised() {
    let store = Arc::new(MemoryStore::new());
    store
        .create_registered_client(
            &RegisteredClient::confidential("web", "web-secret")
                .with_scopes(["read"])
                .with_grant_types([GrantType::ClientCredentials]),
        )
        .await
        .unwrap();
    let server =
        AuthorizationServer::builder(store, ServerConfig::new(ISSUER)).clock(FixedClock::new(T0)).build();
    let key = Key::es256();
    let r = server.token(&client_credentials(&[&key.token_proof(T0)])).await;
    assert_eq!(json(&r)["token_type"], "Bearer");
    let meta = serde_json::to_value(server.metadata()).unwrap();
    assert!(meta.get("dpop_signing_alg_values_supported").is_none());
    // The protector does not take the DPoP scheme.
    let token = json(&r)["access_token"].as_str().unwrap().to_owned();
    let err =
        server.resource_protector().validate(&resource_request("DPoP", &token, None), &[]).await.unwrap_err();
    assert!(matches!(err, BearerError::Missing));
}

#[tokio::test]
async fn a_store_that_may_have_forgotten_asks_for_a_nonce() {
    // A memory store that starts now: it cannot tell whether a proof of this second was
    // seen before it started.
    let store = Arc::new(MemoryStore::new());
    store
        .create_registered_client(
            &RegisteredClient::confidential("web", "web-secret")
                .with_scopes(["read"])
                .with_grant_types([GrantType::ClientCredentials]),
        )
        .await
        .unwrap();
    let server = AuthorizationServer::builder(store, ServerConfig::new(ISSUER))
        .clock(FixedClock::new(T0))
        .dpop(DpopConfig::new())
        .build();
    let key = Key::es256();
    let r = server.token(&client_credentials(&[&key.token_proof(T0)])).await;
    assert_eq!(error_400(&r), "use_dpop_nonce");
    let nonce = rfc9449::nonce_challenge(&r).unwrap();
    // The retry with the nonce is judged by it; replayed, it is refused.
    let retry = key.token_proof_nonce(T0, &nonce);
    let r = server.token(&client_credentials(&[&retry])).await;
    assert_eq!(r.status(), 200, "{:?}", json(&r));
    assert_eq!(error_400(&server.token(&client_credentials(&[&retry])).await), "invalid_dpop_proof");
    // A proof issued after the store's first second needs no nonce.
    let r = server.token(&client_credentials(&[&key.token_proof(T0 + 1)])).await;
    assert_eq!(r.status(), 200, "{:?}", json(&r));
}

#[tokio::test]
async fn proofs_made_by_another_implementation_verify() {
    use keyward::oauth2::provider::dpop::{DpopError, DpopVerifier, ProofTarget};
    // The fuzz seeds were signed by npm `jose` (panva): ES256, EdDSA and PS256 proofs for
    // `POST https://as.example/token` at T0, and three that each fail one check.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dpop_proof");
    let store = Arc::new(MemoryStore::new());
    store.record_once("warm-up", "x", T0 - 99, T0 - 100).await.unwrap();
    let random = keyward::common::random::OsRandom;
    let verifier = DpopVerifier::new(DpopConfig::new(), store, &random);
    let method = http::Method::POST;
    let target = ProofTarget { method: &method, url: TOKEN, access_token: None };
    for (seed, accepted) in [
        ("seed-es256", true),
        ("seed-eddsa", true),
        ("seed-ps256", true),
        ("seed-wrong-typ", false),
        ("seed-wrong-htu", false),
        ("seed-old-iat", false),
        ("seed-alg-none", false),
    ] {
        let proof = std::fs::read_to_string(dir.join(seed)).unwrap();
        let outcome = verifier.verify(proof.trim(), target, T0).await;
        if accepted {
            outcome.unwrap_or_else(|e| panic!("{seed}: {e}"));
        } else {
            assert!(matches!(outcome, Err(DpopError::Invalid(_))), "{seed}: {outcome:?}");
        }
    }
}

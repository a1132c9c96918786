//! The OpenID Provider over the memory store, with an injected clock and random source:
//! ID-token claims and algorithms, refresh, pairwise subjects, UserInfo, the OpenID Connect
//! request parameters, discovery, the JWK set and key rotation. ID tokens are validated with
//! the project's own relying-party validator (`keyward::oidc::core`) against the JWK set the
//! server publishes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::clock::FixedClock;
use keyward::common::encoding::{encode_form, parse_form};
use keyward::common::random::RandomSource;
use keyward::common::secret::SecretString;
use keyward::common::store::{BoxFuture, StoreError};
use keyward::jose::rotation::{KeyManager, RotationPolicy, SharedKeySet};
use keyward::jose::{KeySet, SigningAlg, SigningKey};
use keyward::oauth2::provider::store::{ClientSecret, OAuth2ClientStore};
use keyward::oauth2::provider::{
    AuthorizationRequest, AuthorizationServer, Grant, ProviderError, RegisteredClient, ServerConfig,
    SubjectType,
};
use keyward::oidc::Algorithm;
use keyward::oidc::core::{IdTokenCheck, IdTokenClaims, IdTokenValidator};
use keyward::oidc::jwks::KeySet as JwkSet;
use keyward::oidc::provider::{ClaimsRequest, ClaimsSource, ClaimsTarget, OpenIdConfig, OpenIdProvider};
use keyward_stores::{MemoryKeyStore, MemoryStore};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

const ISSUER: &str = "https://op.example";
const T0: i64 = 1_800_000_000;
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A deterministic random source: a counter, spread over the buffer.
struct Counter(AtomicU64);

impl RandomSource for Counter {
    fn fill(&self, buf: &mut [u8]) {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        let digest = Sha256::digest(n.to_be_bytes());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = digest[i % 32];
        }
    }
}

/// One call of the claims hook: the target, the names asked, the essential ones.
type Asked = (ClaimsTarget, Vec<String>, Vec<String>);

/// The application's users, and a log of what the provider asked for.
#[derive(Default)]
struct Users {
    asked: Mutex<Vec<Asked>>,
}

impl ClaimsSource for Users {
    fn claims<'a>(
        &'a self,
        request: &'a ClaimsRequest<'a>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, StoreError>> {
        self.asked.lock().unwrap().push((request.target, request.names.clone(), request.essential.clone()));
        let subject = request.subject.to_owned();
        Box::pin(async move {
            if subject == "broken" {
                return Err(StoreError::Corrupt("no such user row".into()));
            }
            // Everything the application knows, and claims it must never be able to set.
            let Value::Object(all) = json!({
                "name": format!("{subject} Example"),
                "given_name": subject,
                "email": format!("{subject}@example.com"),
                "email_verified": true,
                "phone_number": "+1 555 0100",
                "sub": "forged",
                "iss": "https://evil.example",
                "aud": "someone-else",
                "nonce": "forged",
                "acr": "forged",
            }) else {
                unreachable!()
            };
            Ok(all)
        })
    }
}

struct Fixture {
    server: AuthorizationServer,
    clock: FixedClock,
    users: Arc<Users>,
    rs256: Arc<SharedKeySet>,
}

fn rsa_key(name: &str) -> SigningKey {
    let pem = std::fs::read_to_string(keyward_testkit::jose::key_path(name)).unwrap();
    SigningKey::from_pem(&pem, None).unwrap()
}

fn client(id: &str) -> RegisteredClient {
    RegisteredClient::confidential(id, format!("{id}-secret"))
        .with_redirect_uris([format!("https://{id}.example/cb")])
        .with_scopes(["openid", "profile", "email", "phone", "read"])
}

fn clients() -> Vec<RegisteredClient> {
    let with_alg = |id: &str, alg: &str| {
        let mut c = client(id);
        c.id_token_signed_response_alg = Some(alg.into());
        c
    };
    let pairwise = |id: &str| {
        let mut c = client(id);
        c.subject_type = SubjectType::Pairwise;
        c
    };
    let mut hashed = with_alg("hashed", "HS256");
    hashed.secrets = vec![ClientSecret::hashed(&SecretString::new("hashed-secret"))];
    let mut same_sector = pairwise("third");
    same_sector.sector_identifier_uri = Some("https://one.example/sector.json".into());
    let mut strict = client("strict");
    strict.require_auth_time = true;
    let mut aged = client("aged");
    aged.default_max_age = Some(600);
    vec![
        client("rp"),
        with_alg("es", "ES256"),
        with_alg("ed", "EdDSA"),
        with_alg("hs", "HS256"),
        with_alg("unsigned", "none"),
        with_alg("rs384", "RS384"),
        hashed,
        pairwise("one"),
        pairwise("two"),
        same_sector,
        strict,
        aged,
    ]
}

async fn fixture_with(config: OpenIdConfig, extra_algs: &[SigningAlg]) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    for c in clients() {
        store.create_registered_client(&c).await.unwrap();
    }
    let clock = FixedClock::new(T0);
    let users = Arc::new(Users::default());
    let mut rs = KeySet::new(rsa_key("oidc_op_a.pem"));
    rs.publish_next(rsa_key("oidc_op_b.pem")).unwrap();
    let rs256 = Arc::new(SharedKeySet::new(rs));
    let mut openid = OpenIdProvider::new(config, rs256.clone(), users.clone());
    for alg in extra_algs {
        openid = openid.with_keys(Arc::new(SharedKeySet::new(KeySet::generate(*alg).unwrap())));
    }
    let server = AuthorizationServer::builder(
        store,
        ServerConfig::new(ISSUER).with_scopes_supported(["openid", "profile", "email", "phone", "read"]),
    )
    .clock(clock.clone())
    .random(Counter(AtomicU64::new(0)))
    .openid(openid)
    .build();
    Fixture { server, clock, users, rs256 }
}

fn salted() -> OpenIdConfig {
    OpenIdConfig::new(ISSUER).with_pairwise_salt(SecretString::new("pepper")).with_claims_supported([
        "name",
        "email",
        "email_verified",
    ])
}

async fn fixture() -> Fixture {
    fixture_with(salted(), &[SigningAlg::ES256, SigningAlg::EdDSA]).await
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

fn redirect(client: &str) -> String {
    format!("https://{client}.example/cb")
}

fn authorize_uri(client: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let c = challenge();
    let r = redirect(client);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", r.as_str()),
        ("scope", scope),
        ("state", "st"),
        ("code_challenge", c.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    format!("{ISSUER}/authorize?{}", encode_form(pairs))
}

async fn request(
    f: &Fixture,
    client: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> Result<AuthorizationRequest, ProviderError> {
    let req = http::Request::get(authorize_uri(client, scope, extra)).body(Vec::new()).unwrap();
    f.server.authorization_request(&req).await.map_err(|e| {
        assert!(e.is_redirected(), "{e}");
        e.error
    })
}

fn location_params(r: &http::Response<Vec<u8>>) -> Vec<(String, String)> {
    let loc = r.headers()["location"].to_str().unwrap();
    parse_form(loc.split_once('?').unwrap().1).unwrap()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Authorizes `client` for `subject` with `extra` parameters and `grant`, and returns the code.
async fn code_with(
    f: &Fixture,
    client: &str,
    scope: &str,
    extra: &[(&str, &str)],
    grant: impl FnOnce(Grant) -> Grant,
) -> String {
    let req = request(f, client, scope, extra).await.unwrap();
    let response = f.server.grant(&req, grant(Grant::new("alice", req.scopes.clone()))).await.unwrap();
    assert_eq!(response.status(), 302);
    param(&location_params(&response), "code").unwrap().to_owned()
}

fn token_request(client: &str, secret: &str, pairs: &[(&str, &str)]) -> http::Request<Vec<u8>> {
    http::Request::post(format!("{ISSUER}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {}", STANDARD.encode(format!("{client}:{secret}"))))
        .body(encode_form(pairs.iter().copied()).into_bytes())
        .unwrap()
}

async fn exchange_as(f: &Fixture, client: &str, secret: &str, code: &str) -> http::Response<Vec<u8>> {
    let r = redirect(client);
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", r.as_str()),
        ("code_verifier", VERIFIER),
    ];
    f.server.token(&token_request(client, secret, &pairs)).await
}

async fn exchange(f: &Fixture, client: &str, code: &str) -> Value {
    let r = exchange_as(f, client, &format!("{client}-secret"), code).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    serde_json::from_slice(r.body()).unwrap()
}

async fn refresh(f: &Fixture, client: &str, token: &str, scope: Option<&str>) -> Value {
    let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    let r = f.server.token(&token_request(client, &format!("{client}-secret"), &pairs)).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    serde_json::from_slice(r.body()).unwrap()
}

fn jwks(f: &Fixture) -> JwkSet {
    let r = f.server.jwks_response();
    assert_eq!(r.status(), 200);
    JwkSet::from_value(&serde_json::from_slice(r.body()).unwrap()).unwrap()
}

fn validator(client: &str) -> IdTokenValidator {
    let mut v = IdTokenValidator::new(ISSUER, client);
    v.algorithms = vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256];
    v.leeway = 0;
    v
}

/// Validates `body`'s ID token as a relying party would: signature against the published
/// JWK set, `iss`, `aud`, times, `nonce`, `at_hash`.
fn validate(f: &Fixture, client: &str, body: &Value, nonce: Option<&str>) -> IdTokenClaims {
    let token = body["id_token"].as_str().expect("an id_token");
    let check =
        IdTokenCheck { now: f.clock_now(), nonce, access_token: body["access_token"].as_str(), code: None };
    validator(client).validate(token, &jwks(f), &check).unwrap()
}

fn header(token: &str) -> Value {
    let seg = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg).unwrap()).unwrap()
}

impl Fixture {
    fn clock_now(&self) -> i64 {
        use keyward::Clock as _;
        self.clock.now()
    }
}

fn assert_error(r: &http::Response<Vec<u8>>, status: u16, code: &str) {
    assert_eq!(r.status(), status, "body: {}", String::from_utf8_lossy(r.body()));
    let body: Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(body["error"], code);
}

#[tokio::test]
async fn the_id_token_of_the_code_grant_carries_every_claim() {
    let f = fixture().await;
    let nonce = "n-0S6_WzA2Mj &é\"'";
    let claims = r#"{"id_token":{"email":{"essential":true},"sub":null,"acr":{"values":["urn:gold"]}}}"#;
    let code = code_with(
        &f,
        "rp",
        "openid profile",
        &[("nonce", nonce), ("max_age", "300"), ("claims", claims)],
        |g| g.auth_time(T0 - 100).acr("urn:gold").amr(["pwd", "otp"]).sid("session-1"),
    )
    .await;
    f.clock.advance(5);
    let body = exchange(&f, "rp", &code).await;
    let c = validate(&f, "rp", &body, Some(nonce));
    let raw = &c.raw;
    assert_eq!(raw["iss"], ISSUER);
    assert_eq!(raw["sub"], "alice");
    assert_eq!(raw["aud"], "rp", "one audience: a string");
    assert!(raw.get("azp").is_none(), "azp only with several audiences");
    assert_eq!(raw["iat"], T0 + 5);
    assert_eq!(raw["exp"], T0 + 5 + 3600);
    assert_eq!(raw["auth_time"], T0 - 100);
    assert_eq!(raw["nonce"], nonce);
    assert_eq!(raw["acr"], "urn:gold");
    assert_eq!(raw["amr"], json!(["pwd", "otp"]));
    assert_eq!(raw["sid"], "session-1");
    // at_hash (Core §3.1.3.6): the left half of SHA-256 of the access token, base64url.
    let at = body["access_token"].as_str().unwrap();
    let digest = Sha256::digest(at.as_bytes());
    assert_eq!(raw["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    // The claims parameter's ID-token member: email (asked), from the hook; the profile
    // scope's claims are for UserInfo, not the ID token (Core §5.4); the hook cannot forge.
    assert_eq!(raw["email"], "alice@example.com");
    assert!(raw.get("name").is_none());
    let asked = f.users.asked.lock().unwrap().clone();
    assert_eq!(asked, vec![(ClaimsTarget::IdToken, vec!["email".to_owned()], vec!["email".to_owned()])]);
    assert_eq!(header(body["id_token"].as_str().unwrap())["alg"], "RS256");
    assert_eq!(
        header(body["id_token"].as_str().unwrap())["kid"],
        f.rs256.snapshot().key_set().current().kid()
    );

    // A nonce that differs is refused by the relying party.
    let token = body["id_token"].as_str().unwrap();
    let check = IdTokenCheck { now: T0 + 5, nonce: Some("other"), access_token: None, code: None };
    assert!(validator("rp").validate(token, &jwks(&f), &check).is_err());
}

#[tokio::test]
async fn no_id_token_without_openid_and_no_hook_call_without_claims() {
    let f = fixture().await;
    let code = code_with(&f, "rp", "read", &[], |g| g).await;
    let body = exchange(&f, "rp", &code).await;
    assert!(body.get("id_token").is_none());
    let code = code_with(&f, "rp", "openid", &[], |g| g).await;
    let body = exchange(&f, "rp", &code).await;
    let c = validate(&f, "rp", &body, None);
    assert!(c.raw.get("auth_time").is_none(), "not known, not required");
    assert!(c.raw.get("nonce").is_none());
    assert!(c.raw.get("acr").is_none() && c.raw.get("amr").is_none() && c.raw.get("sid").is_none());
    assert!(f.users.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn auth_time_when_required() {
    let f = fixture().await;
    // require_auth_time: present when the grant gives it; a grant without it is an error.
    let code = code_with(&f, "strict", "openid", &[], |g| g.auth_time(T0 - 1)).await;
    let c = validate(&f, "strict", &exchange(&f, "strict", &code).await, None);
    assert_eq!(c.raw["auth_time"], T0 - 1);
    let req = request(&f, "strict", "openid", &[]).await.unwrap();
    let err = f.server.grant(&req, Grant::new("alice", ["openid"])).await.unwrap_err();
    assert!(matches!(err.error, ProviderError::Misconfigured(_)));
    assert!(err.is_redirected());

    // max_age: an authentication older than it cannot be granted (login_required).
    let req = request(&f, "rp", "openid", &[("max_age", "60")]).await.unwrap();
    assert_eq!(req.max_age, Some(60));
    assert!(req.needs_reauthentication(Some(T0 - 61), T0));
    assert!(!req.needs_reauthentication(Some(T0 - 60), T0));
    assert!(req.needs_reauthentication(None, T0));
    let err = f.server.grant(&req, Grant::new("alice", ["openid"]).auth_time(T0 - 61)).await.unwrap_err();
    assert!(matches!(err.error, ProviderError::LoginRequired));
    let response = f.server.authorize_error_response(&err);
    assert_eq!(param(&location_params(&response), "error"), Some("login_required"));

    // default_max_age applies when the request gives none, and makes auth_time required.
    let req = request(&f, "aged", "openid", &[]).await.unwrap();
    assert_eq!(req.max_age, Some(600));
    let code = code_with(&f, "aged", "openid", &[], |g| g.auth_time(T0 - 10)).await;
    let c = validate(&f, "aged", &exchange(&f, "aged", &code).await, None);
    assert_eq!(c.raw["auth_time"], T0 - 10);

    // A `sub` asked for with a value (Core §5.5.1): that user, or login_required.
    let only_bob = r#"{"id_token":{"sub":{"value":"bob"}}}"#;
    let req = request(&f, "rp", "openid", &[("claims", only_bob)]).await.unwrap();
    let err = f.server.grant(&req, Grant::new("alice", ["openid"])).await.unwrap_err();
    assert!(matches!(err.error, ProviderError::LoginRequired));
    assert!(f.server.grant(&req, Grant::new("bob", ["openid"])).await.is_ok());

    for bad in ["-1", "1.5", "soon", "+5"] {
        assert!(matches!(
            request(&f, "rp", "openid", &[("max_age", bad)]).await,
            Err(ProviderError::InvalidRequest(_))
        ));
    }
}

#[tokio::test]
async fn each_client_gets_its_algorithm() {
    let f = fixture().await;
    for (client, alg) in [("es", "ES256"), ("ed", "EdDSA"), ("hs", "HS256")] {
        let code = code_with(&f, client, "openid", &[("nonce", "n")], |g| g).await;
        let body = exchange(&f, client, &code).await;
        let token = body["id_token"].as_str().unwrap();
        assert_eq!(header(token)["alg"], alg);
        let mut v = validator(client);
        v.client_secret = Some(SecretString::new(format!("{client}-secret")));
        let check = IdTokenCheck {
            now: T0,
            nonce: Some("n"),
            access_token: body["access_token"].as_str(),
            code: None,
        };
        let c = v.validate(token, &jwks(&f), &check).unwrap();
        // at_hash uses the alg's hash: SHA-512 for EdDSA.
        let at = body["access_token"].as_str().unwrap();
        let half = match alg {
            "EdDSA" => URL_SAFE_NO_PAD.encode(&sha2::Sha512::digest(at.as_bytes())[..32]),
            _ => URL_SAFE_NO_PAD.encode(&Sha256::digest(at.as_bytes())[..16]),
        };
        assert_eq!(c.raw["at_hash"], half, "{alg}");
        if alg == "HS256" {
            // Keyed by the client's secret: another secret does not verify.
            v.client_secret = Some(SecretString::new("wrong"));
            assert!(v.validate(token, &jwks(&f), &check).is_err());
        }
    }
    // HS256 for a client whose secret is only a hash, `none`, and an alg the server has no
    // key for: the client cannot be served.
    for (client, secret) in
        [("hashed", "hashed-secret"), ("unsigned", "unsigned-secret"), ("rs384", "rs384-secret")]
    {
        let code = code_with(&f, client, "openid", &[], |g| g).await;
        let r = exchange_as(&f, client, secret, &code).await;
        assert_error(&r, 500, "server_error");
    }
    // A server without an ES256 key set cannot serve the ES256 client.
    let g = fixture_with(salted(), &[]).await;
    let code = code_with(&g, "es", "openid", &[], |g| g).await;
    assert_error(&exchange_as(&g, "es", "es-secret", &code).await, 500, "server_error");
}

#[tokio::test]
async fn refresh_gives_an_id_token_with_the_same_sub_and_auth_time_and_no_nonce() {
    let f = fixture().await;
    for client in ["rp", "one"] {
        let code = code_with(&f, client, "openid email read", &[("nonce", "abc")], |g| {
            g.auth_time(T0 - 30).sid("s-9")
        })
        .await;
        let first = exchange(&f, client, &code).await;
        let c1 = validate(&f, client, &first, Some("abc"));
        f.clock.advance(100);
        let second = refresh(&f, client, first["refresh_token"].as_str().unwrap(), None).await;
        let c2 = validate(&f, client, &second, None);
        assert_eq!(c2.sub, c1.sub);
        assert_eq!(c2.raw["auth_time"], T0 - 30);
        assert_eq!(c2.raw["sid"], "s-9");
        assert_eq!(c2.iss, ISSUER);
        assert_eq!(c2.iat, f.clock_now());
        assert!(c2.raw.get("nonce").is_none());
        // Narrowed to a scope without openid: no ID token.
        let third = refresh(&f, client, second["refresh_token"].as_str().unwrap(), Some("read")).await;
        assert!(third.get("id_token").is_none());
    }
}

#[tokio::test]
async fn pairwise_subjects_differ_per_sector_and_are_stable() {
    let f = fixture().await;
    let mut subs = Vec::new();
    for client in ["one", "two", "third", "one", "rp"] {
        let code = code_with(&f, client, "openid", &[], |g| g).await;
        let body = exchange(&f, client, &code).await;
        let sub = validate(&f, client, &body, None).sub;
        // UserInfo's sub is the ID token's.
        let info = userinfo(&f, get_with_token(body["access_token"].as_str().unwrap())).await;
        assert_eq!(info.status(), 200);
        let info: Value = serde_json::from_slice(info.body()).unwrap();
        assert_eq!(info["sub"], sub.as_str());
        subs.push(sub);
    }
    assert_ne!(subs[0], "alice");
    assert_ne!(subs[0], subs[1], "another sector, another sub");
    assert_eq!(subs[0], subs[2], "the same sector (sector_identifier_uri), the same sub");
    assert_eq!(subs[0], subs[3], "stable");
    assert_eq!(subs[4], "alice", "a public client sees the local subject");
    // subject_for agrees, and another user gets another sub.
    let mut one = client("one");
    one.subject_type = SubjectType::Pairwise;
    assert_eq!(f.server.subject_for(&one, "alice").unwrap(), subs[0]);
    assert_ne!(f.server.subject_for(&one, "bob").unwrap(), subs[0]);

    // Without a salt, a pairwise client cannot be served.
    let g = fixture_with(OpenIdConfig::new(ISSUER), &[]).await;
    assert!(matches!(g.server.subject_for(&one, "alice"), Err(ProviderError::Misconfigured(_))));
    let code = code_with(&g, "one", "openid", &[], |g| g).await;
    assert_error(&exchange_as(&g, "one", "one-secret", &code).await, 500, "server_error");
    // Several redirect hosts and no sector_identifier_uri: no sector.
    let mut spread = one.clone().with_redirect_uris(["https://a.example/cb", "https://b.example/cb"]);
    assert!(f.server.subject_for(&spread, "alice").is_err());
    spread.sector_identifier_uri = Some("https://a.example/s.json".into());
    assert!(f.server.subject_for(&spread, "alice").is_ok());
}

fn get_with_token(token: &str) -> http::Request<Vec<u8>> {
    http::Request::get(format!("{ISSUER}/userinfo"))
        .header("authorization", format!("Bearer {token}"))
        .body(Vec::new())
        .unwrap()
}

fn post_body(body: &str, bearer: Option<&str>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::post(format!("{ISSUER}/userinfo"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(body.as_bytes().to_vec()).unwrap()
}

async fn userinfo(f: &Fixture, req: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    f.server.userinfo(&req).await
}

async fn access_token(f: &Fixture, scope: &str, extra: &[(&str, &str)]) -> String {
    let code = code_with(f, "rp", scope, extra, |g| g).await;
    exchange(f, "rp", &code).await["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn userinfo_releases_the_claims_of_the_scopes_and_of_the_claims_parameter() {
    let f = fixture().await;
    let token = access_token(&f, "openid email", &[]).await;
    let r = userinfo(&f, get_with_token(&token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(body, json!({"sub": "alice", "email": "alice@example.com", "email_verified": true}));

    // POST with the token in the body, and POST with the header.
    let r = userinfo(&f, post_body(&format!("access_token={token}"), None)).await;
    assert_eq!(serde_json::from_slice::<Value>(r.body()).unwrap(), body);
    let r = userinfo(&f, post_body("", Some(&token))).await;
    assert_eq!(serde_json::from_slice::<Value>(r.body()).unwrap(), body);

    // profile, and the claims parameter's userinfo member (phone_number without its scope).
    let claims = r#"{"userinfo":{"phone_number":{"essential":true},"iss":null}}"#;
    let token = access_token(&f, "openid profile", &[("claims", claims)]).await;
    let body: Value = serde_json::from_slice(userinfo(&f, get_with_token(&token)).await.body()).unwrap();
    assert_eq!(
        body,
        json!({"sub": "alice", "name": "alice Example", "given_name": "alice", "phone_number": "+1 555 0100"})
    );
    let (target, names, essential) = f.users.asked.lock().unwrap().last().unwrap().clone();
    assert_eq!(target, ClaimsTarget::UserInfo);
    assert!(names.contains(&"phone_number".to_owned()) && names.contains(&"nickname".to_owned()));
    assert!(!names.contains(&"iss".to_owned()));
    assert_eq!(essential, ["phone_number"]);
}

#[tokio::test]
async fn userinfo_errors_follow_rfc6750() {
    let f = fixture().await;
    let token = access_token(&f, "openid", &[]).await;
    // No token: 401 with a bare challenge.
    let r = userinfo(&f, http::Request::get(format!("{ISSUER}/userinfo")).body(Vec::new()).unwrap()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    // An unknown or malformed token: 401 invalid_token.
    for bad in ["nope", "a b\"c"] {
        let r = userinfo(&f, get_with_token(bad)).await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
    }
    // A token without openid: 403 insufficient_scope.
    let plain = access_token(&f, "read", &[]).await;
    let r = userinfo(&f, get_with_token(&plain)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["www-authenticate"], "Bearer error=\"insufficient_scope\", scope=\"openid\"");
    // The token twice: 400 invalid_request.
    let r = userinfo(&f, post_body(&format!("access_token={token}"), Some(&token))).await;
    assert_eq!(r.status(), 400);
    // Another method: 405.
    let r = userinfo(
        &f,
        http::Request::put(format!("{ISSUER}/userinfo"))
            .header("authorization", format!("Bearer {token}"))
            .body(Vec::new())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), 405);
    // A revoked token: 401 at once.
    let revoke = token_request("rp", "rp-secret", &[("token", token.as_str())]);
    assert_eq!(f.server.revoke(&revoke).await.status(), 200);
    assert_eq!(userinfo(&f, get_with_token(&token)).await.status(), 401);
    // An expired one too.
    let token = access_token(&f, "openid", &[]).await;
    f.clock.advance(3601);
    assert_eq!(userinfo(&f, get_with_token(&token)).await.status(), 401);
}

#[tokio::test]
async fn prompt_and_request_parameters() {
    let f = fixture().await;
    let req = request(&f, "rp", "openid", &[("prompt", "none")]).await.unwrap();
    assert!(req.openid());
    assert_eq!(req.prompt_none_error(None, T0, false).map(|e| e.code()), Some("login_required"));
    assert_eq!(req.prompt_none_error(Some(T0 - 5), T0, true).map(|e| e.code()), Some("consent_required"));
    assert!(req.prompt_none_error(Some(T0 - 5), T0, false).is_none());
    let response = f.server.authorize_error(&req, ProviderError::LoginRequired);
    let params = location_params(&response);
    assert_eq!(param(&params, "error"), Some("login_required"));
    assert_eq!(param(&params, "state"), Some("st"));
    for (error, code) in [
        (ProviderError::InteractionRequired, "interaction_required"),
        (ProviderError::AccountSelectionRequired, "account_selection_required"),
    ] {
        let response = f.server.authorize_error(&req, error);
        assert_eq!(param(&location_params(&response), "error"), Some(code));
    }

    let req = request(&f, "rp", "openid", &[("prompt", "login consent select_account")]).await.unwrap();
    assert!(req.prompt_login() && req.prompt_consent() && req.prompt_select_account());
    assert!(req.needs_reauthentication(Some(T0), T0), "prompt=login");
    assert!(f.server.consent_needed(&req, "alice").await.unwrap());

    let req = request(
        &f,
        "rp",
        "openid",
        &[
            ("login_hint", "alice@example.com"),
            ("id_token_hint", "eyJ.x.y"),
            ("ui_locales", "fr-CA  en"),
            ("acr_values", "urn:gold urn:silver"),
            ("display", "popup"),
            ("custom", "kept"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(req.login_hint.as_deref(), Some("alice@example.com"));
    assert_eq!(req.id_token_hint.as_deref(), Some("eyJ.x.y"));
    assert_eq!(req.ui_locales, ["fr-CA", "en"]);
    assert_eq!(req.acr_values, ["urn:gold", "urn:silver"]);
    assert_eq!(req.display.as_deref(), Some("popup"));
    assert_eq!(req.extra, [("custom".to_owned(), "kept".to_owned())]);
    // Kept across the sign-in pages: serde round trip.
    let kept: AuthorizationRequest = serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
    assert_eq!(kept, req);

    for (extra, code) in [
        (("request", "eyJhbGciOiJub25lIn0.e30."), "request_not_supported"),
        (("request_uri", "https://rp.example/r.jwt"), "request_uri_not_supported"),
        (("claims", "{not json"), "invalid_request"),
        (("claims", r#"{"userinfo":{"email":1}}"#), "invalid_request"),
        (("prompt", "none login"), "invalid_request"),
        (("prompt", "sometimes"), "invalid_request"),
        (("display", "hologram"), "invalid_request"),
    ] {
        let err = request(&f, "rp", "openid", &[extra]).await.unwrap_err();
        assert_eq!(err.code(), code, "{extra:?}");
    }
}

#[tokio::test]
async fn the_discovery_document_lists_only_real_things() {
    let f = fixture().await;
    let r = f.server.openid_configuration_response();
    assert_eq!(r.status(), 200);
    let doc: Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["authorization_endpoint"], "https://op.example/authorize");
    assert_eq!(doc["token_endpoint"], "https://op.example/token");
    assert_eq!(doc["userinfo_endpoint"], "https://op.example/userinfo");
    assert_eq!(doc["jwks_uri"], "https://op.example/jwks");
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["subject_types_supported"], json!(["public", "pairwise"]));
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["RS256", "ES256", "EdDSA", "HS256"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["claims_parameter_supported"], true);
    assert_eq!(doc["request_parameter_supported"], false);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(doc["prompt_values_supported"], json!(["none", "login", "consent", "select_account"]));
    assert!(doc["scopes_supported"].as_array().unwrap().contains(&json!("openid")));
    assert!(doc["claims_supported"].as_array().unwrap().contains(&json!("email")));
    for absent in ["end_session_endpoint", "registration_endpoint", "acr_values_supported"] {
        assert!(doc.get(absent).is_none(), "{absent}");
    }
    assert!(!doc["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&json!("none")));
    // The relying party's discovery check accepts it (issuer equal to the well-known URL's).
    let url = format!("{ISSUER}/.well-known/openid-configuration");
    let meta = keyward::oidc::discovery::parse_discovery_response(&r, &url, None).unwrap();
    assert_eq!(meta.issuer, ISSUER);

    // Without a salt: public only; with the logout and registration endpoints set: listed.
    let mut config = OpenIdConfig::new(ISSUER).with_acr_values_supported(["urn:gold"]);
    config.end_session_endpoint = Some("https://op.example/logout".into());
    config.registration_endpoint = Some("https://op.example/register".into());
    let g = fixture_with(config, &[]).await;
    let doc = g.server.openid_configuration();
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["RS256", "HS256"]));
    assert_eq!(doc["end_session_endpoint"], "https://op.example/logout");
    assert_eq!(doc["registration_endpoint"], "https://op.example/register");
    assert_eq!(doc["acr_values_supported"], json!(["urn:gold"]));
}

#[tokio::test]
async fn the_jwks_has_public_keys_only() {
    let f = fixture().await;
    let r = f.server.jwks_response();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(r.headers()["content-type"], "application/json");
    let set: Value = serde_json::from_slice(r.body()).unwrap();
    let keys = set["keys"].as_array().unwrap();
    // RS256 current and next, ES256 current and next, EdDSA current and next.
    assert_eq!(keys.len(), 6);
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(key.get(private).is_none(), "{private} in {key}");
        }
        assert!(key["kid"].is_string());
        assert!(["RS256", "ES256", "EdDSA"].contains(&key["alg"].as_str().unwrap()));
        assert_eq!(key["use"], "sig");
    }
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_until_the_retired_key_goes() {
    let store = Arc::new(MemoryStore::new());
    store.create_registered_client(&client("rp")).await.unwrap();
    let clock = FixedClock::new(T0);
    let policy = RotationPolicy { alg: SigningAlg::EdDSA, rotation_period: 1000, max_token_lifetime: 3600 };
    let manager = KeyManager::start(Arc::new(MemoryKeyStore::new()), "id-tokens", policy, T0).await.unwrap();
    let openid = OpenIdProvider::new(OpenIdConfig::new(ISSUER), manager.keys(), Arc::new(Users::default()));
    let server = AuthorizationServer::builder(store, ServerConfig::new(ISSUER))
        .clock(clock.clone())
        .openid(openid)
        .build();
    let f = Fixture { server, clock, users: Arc::new(Users::default()), rs256: manager.keys() };
    let mut rp = client("rp");
    rp.id_token_signed_response_alg = Some("EdDSA".into());
    let store_client = f.server.store().clone();
    store_client.update_registered_client(&rp).await.unwrap();

    let code = code_with(&f, "rp", "openid", &[], |g| g).await;
    let before = exchange(&f, "rp", &code).await;
    let old_kid = header(before["id_token"].as_str().unwrap())["kid"].as_str().unwrap().to_owned();
    let kids = |f: &Fixture| -> Vec<String> {
        let set: Value = serde_json::from_slice(f.server.jwks_response().body()).unwrap();
        set["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    };
    let next_kid = kids(&f).into_iter().find(|k| *k != old_kid).unwrap();

    // Rotation: the next key (published all along) signs; the old token still validates.
    f.clock.set(T0 + 1000);
    manager.tick(T0 + 1000).await.unwrap();
    validate(&f, "rp", &before, None);
    assert!(kids(&f).contains(&old_kid));
    let code = code_with(&f, "rp", "openid", &[], |g| g).await;
    let after = exchange(&f, "rp", &code).await;
    assert_eq!(header(after["id_token"].as_str().unwrap())["kid"], next_kid.as_str());
    validate(&f, "rp", &after, None);
    assert!(f.server.verify_id_token_hint(before["id_token"].as_str().unwrap()).is_some());

    // After the retired key's last token has expired, it leaves the JWK set.
    f.clock.set(T0 + 1000 + 3600);
    manager.tick(T0 + 1000 + 3600).await.unwrap();
    assert!(!kids(&f).contains(&old_kid));
    assert!(kids(&f).contains(&next_kid));
}

#[tokio::test]
async fn id_token_hints_are_verified_expired_or_not() {
    let f = fixture().await;
    let code = code_with(&f, "one", "openid", &[], |g| g.sid("s-1")).await;
    let body = exchange(&f, "one", &code).await;
    let token = body["id_token"].as_str().unwrap();
    f.clock.advance(10 * 3600); // long expired: still a good hint (RP-Initiated Logout §2)
    let hint = f.server.verify_id_token_hint(token).unwrap();
    assert_eq!(hint.client_id.as_deref(), Some("one"));
    assert_eq!(hint.audience, ["one"]);
    assert_eq!(hint.sid.as_deref(), Some("s-1"));
    assert_eq!(hint.expires_at, Some(T0 + 3600));
    let mut one = client("one");
    one.subject_type = SubjectType::Pairwise;
    assert_eq!(hint.subject, f.server.subject_for(&one, "alice").unwrap());

    // Tampered, foreign, unsigned or garbage: refused.
    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged_claims =
        URL_SAFE_NO_PAD.encode(br#"{"iss":"https://op.example","sub":"mallory","aud":"one"}"#);
    assert!(f.server.verify_id_token_hint(&format!("{head}.{forged_claims}.{sig}")).is_none());
    let other = keyward_testkit::jose::TestSigner::load("oidc_client.pem", "k1");
    let foreign = other.sign(&json!({"iss": ISSUER, "sub": "alice", "aud": "one"}));
    assert!(f.server.verify_id_token_hint(&foreign).is_none());
    assert!(
        f.server.verify_id_token_hint(&keyward_testkit::jose::unsigned(&json!({"iss": ISSUER}))).is_none()
    );
    assert!(f.server.verify_id_token_hint("not a token").is_none());
    // A token of this server's key for another issuer: refused.
    let key = f.rs256.snapshot().key_set().current().clone();
    let other_iss =
        key.sign(None, &json!({"iss": "https://elsewhere.example", "sub": "a", "aud": "one"})).unwrap();
    assert!(f.server.verify_id_token_hint(&other_iss).is_none());
    let same_iss =
        key.sign(None, &json!({"iss": ISSUER, "sub": "a", "aud": ["one", "two"], "azp": "two"})).unwrap();
    assert_eq!(f.server.verify_id_token_hint(&same_iss).unwrap().client_id.as_deref(), Some("two"));
}

#[tokio::test]
async fn a_failing_claims_hook_is_a_server_error_not_a_panic() {
    let f = fixture().await;
    let req = request(&f, "rp", "openid email", &[]).await.unwrap();
    let response = f.server.grant(&req, Grant::new("broken", ["openid", "email"])).await.unwrap();
    let code = param(&location_params(&response), "code").unwrap().to_owned();
    let token = exchange(&f, "rp", &code).await["access_token"].as_str().unwrap().to_owned();
    let r = userinfo(&f, get_with_token(&token)).await;
    assert_error(&r, 500, "server_error");
}

#[tokio::test]
async fn the_device_grant_gives_an_id_token_for_openid() {
    use keyward::oauth2::provider::{DeviceConfig, GrantType};
    let store = Arc::new(MemoryStore::new());
    let tv = RegisteredClient::public("tv")
        .with_scopes(["openid", "email"])
        .with_grant_types([GrantType::DeviceCode, GrantType::RefreshToken]);
    store.create_registered_client(&tv).await.unwrap();
    let clock = FixedClock::new(T0);
    let keys = Arc::new(SharedKeySet::new(KeySet::new(rsa_key("oidc_op_a.pem"))));
    let openid = OpenIdProvider::new(OpenIdConfig::new(ISSUER), keys.clone(), Arc::new(Users::default()));
    let server = AuthorizationServer::builder(store.clone(), ServerConfig::new(ISSUER))
        .clock(clock.clone())
        .device_codes(store, DeviceConfig::new(ISSUER))
        .openid(openid)
        .build();
    let form = |pairs: &[(&str, &str)]| {
        http::Request::post(format!("{ISSUER}/device"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form(pairs.iter().copied()).into_bytes())
            .unwrap()
    };
    let r = server.device_authorization(&form(&[("client_id", "tv"), ("scope", "openid email")])).await;
    let body: Value = serde_json::from_slice(r.body()).unwrap();
    let v = server.verify_user_code(body["user_code"].as_str().unwrap(), "k").await.unwrap();
    server.approve_device(&v, Grant::new("alice", ["openid", "email"]).auth_time(T0 - 3)).await.unwrap();
    let grant = "urn:ietf:params:oauth:grant-type:device_code";
    let device_code = body["device_code"].as_str().unwrap();
    let r = server
        .token(&form(&[("grant_type", grant), ("client_id", "tv"), ("device_code", device_code)]))
        .await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    let tokens: Value = serde_json::from_slice(r.body()).unwrap();
    let f = Fixture { server, clock, users: Arc::new(Users::default()), rs256: keys };
    let c = validate(&f, "tv", &tokens, None);
    assert_eq!(c.sub, "alice");
    assert_eq!(c.raw["auth_time"], T0 - 3);
    let info = userinfo(&f, get_with_token(tokens["access_token"].as_str().unwrap())).await;
    assert_eq!(serde_json::from_slice::<Value>(info.body()).unwrap()["email"], "alice@example.com");
}

//! Dynamic Client Registration (RFC 7591) and management (RFC 7592) over the memory store:
//! off by default, the initial access token, open mode, every refused kind of metadata with
//! its error code, a registered client going through the code flow, what is stored (hashes
//! only), and read, update and delete with the registration access token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::clock::FixedClock;
use keyward::common::encoding::{encode_form, parse_form};
use keyward::common::random::RandomSource;
use keyward::common::secret::SecretString;
use keyward::oauth2::provider::store::{OAuth2ClientStore, SecretForm};
use keyward::oauth2::provider::{
    AuthorizationServer, ClientAuthMethod, ClientKind, Grant, GrantType, RegisteredClient,
    RegistrationConfig, RegistrationPolicy, ServerConfig, SubjectType,
};
use keyward_stores::MemoryStore;
use keyward_testkit::jose::TestSigner;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ISSUER: &str = "https://as.example";
const ENDPOINT: &str = "https://as.example/register";
const IAT: &str = "initial-access-token-of-the-test";
const T0: i64 = 1_800_000_000;
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A deterministic random source (a counter, hashed) that remembers every 128-bit draw: the
/// client ids the server may have used.
struct Counter {
    n: AtomicU64,
    ids: Arc<Mutex<Vec<String>>>,
}

impl RandomSource for Counter {
    fn fill(&self, buf: &mut [u8]) {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let digest = Sha256::digest(n.to_be_bytes());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = digest[i % 32];
        }
        if buf.len() == 16 {
            self.ids.lock().unwrap().push(URL_SAFE_NO_PAD.encode(&buf[..]));
        }
    }
}

struct Fixture {
    server: AuthorizationServer,
    store: Arc<MemoryStore>,
    ids: Arc<Mutex<Vec<String>>>,
}

impl Fixture {
    /// How many clients the server registered (of the ids it drew, those in the store).
    async fn registered(&self) -> usize {
        let ids = self.ids.lock().unwrap().clone();
        let mut n = 0;
        for id in ids {
            n += usize::from(self.store.get_registered_client(&id).await.unwrap().is_some());
        }
        n
    }
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn server_config() -> ServerConfig {
    ServerConfig::new(ISSUER).with_scopes_supported(["openid", "profile", "read", "write"])
}

async fn fixture_with(registration: Option<RegistrationConfig>, config: ServerConfig) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    store
        .create_registered_client(
            &RegisteredClient::confidential("static", "static-secret")
                .with_redirect_uris(["https://static.example/cb"]),
        )
        .await
        .unwrap();
    let ids = Arc::new(Mutex::new(Vec::new()));
    let mut builder = AuthorizationServer::builder(store.clone(), config)
        .clock(FixedClock::new(T0))
        .random(Counter { n: AtomicU64::new(0), ids: ids.clone() });
    if let Some(r) = registration {
        builder = builder.registration(r);
    }
    Fixture { server: builder.build(), store, ids }
}

fn token_config() -> RegistrationConfig {
    RegistrationConfig::new(
        ENDPOINT,
        RegistrationPolicy::InitialAccessToken(vec![
            SecretString::new("another-token"),
            SecretString::new(IAT),
        ]),
    )
    .with_scopes(["openid", "read"])
}

async fn fixture() -> Fixture {
    fixture_with(Some(token_config()), server_config()).await
}

fn request(method: &str, uri: &str, token: Option<&str>, body: Option<&Value>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    match body {
        Some(v) => b.header("content-type", "application/json").body(serde_json::to_vec(v).unwrap()).unwrap(),
        None => b.body(Vec::new()).unwrap(),
    }
}

fn register_req(body: &Value) -> http::Request<Vec<u8>> {
    request("POST", ENDPOINT, Some(IAT), Some(body))
}

fn json_body(r: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

fn assert_error(r: &http::Response<Vec<u8>>, status: u16, code: &str) {
    assert_eq!(r.status(), status, "body: {}", String::from_utf8_lossy(r.body()));
    assert_eq!(json_body(r)["error"], code, "body: {}", String::from_utf8_lossy(r.body()));
    assert_eq!(r.headers()["cache-control"], "no-store");
}

fn web_metadata() -> Value {
    json!({
        "redirect_uris": ["https://rp.example/cb", "https://rp.example/cb2"],
        "client_name": "An RP",
        "client_name#fr": "Un RP",
        "scope": "openid read",
        "contacts": ["ops@rp.example"],
        "logo_uri": "https://rp.example/logo.png",
        "x_vendor_extension": {"nested": [1, 2, 3]},
        "post_logout_redirect_uris": ["https://rp.example/bye"],
        "backchannel_logout_uri": "https://rp.example/backchannel",
        "backchannel_logout_session_required": true,
        "require_auth_time": true,
        "default_max_age": 600,
        "id_token_signed_response_alg": "ES256",
    })
}

async fn register(f: &Fixture, body: &Value) -> Value {
    let r = f.server.register(&register_req(body)).await;
    assert_eq!(r.status(), 201, "body: {}", String::from_utf8_lossy(r.body()));
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["content-type"], "application/json");
    json_body(&r)
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

/// The code flow for `client_id` at `redirect`, signing with `basic` when given (else the
/// client is public); the token response.
async fn code_flow(
    f: &Fixture,
    client_id: &str,
    redirect: &str,
    basic: Option<&str>,
) -> http::Response<Vec<u8>> {
    let query = encode_form([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "openid read"),
        ("state", "st"),
        ("code_challenge", challenge().as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let req = http::Request::get(format!("{ISSUER}/authorize?{query}")).body(Vec::new()).unwrap();
    let authz = f.server.authorization_request(&req).await.unwrap();
    let scopes = authz.scopes.clone();
    let response = f.server.grant(&authz, Grant::new("alice", scopes).auth_time(T0)).await.unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (base, q) = location.split_once('?').unwrap();
    assert_eq!(base, redirect);
    let params = parse_form(q).unwrap();
    let code = params.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", VERIFIER),
    ];
    if basic.is_none() {
        pairs.push(("client_id", client_id));
    }
    let mut b = http::Request::post(format!("{ISSUER}/token"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(secret) = basic {
        b = b.header("authorization", format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}"))));
    }
    f.server.token(&b.body(encode_form(pairs).into_bytes()).unwrap()).await
}

fn refresh_request(client_id: &str, secret: &str, refresh: &str) -> http::Request<Vec<u8>> {
    let body = encode_form([
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", client_id),
        ("client_secret", secret),
    ]);
    http::Request::post(format!("{ISSUER}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.into_bytes())
        .unwrap()
}

#[tokio::test]
async fn off_by_default_answers_404_and_metadata_is_silent() {
    let f = fixture_with(None, server_config()).await;
    assert!(f.server.registration_config().is_none());
    let r = f.server.register(&register_req(&web_metadata())).await;
    assert_error(&r, 404, "invalid_request");
    let r = f
        .server
        .client_configuration(&request("GET", &format!("{ENDPOINT}/static"), Some("x"), None), "static")
        .await;
    assert_error(&r, 404, "invalid_request");
    let meta = serde_json::to_value(f.server.metadata()).unwrap();
    assert!(meta.get("registration_endpoint").is_none(), "{meta}");

    let on = fixture().await;
    let meta = serde_json::to_value(on.server.metadata()).unwrap();
    assert_eq!(meta["registration_endpoint"], ENDPOINT);
}

#[tokio::test]
async fn the_initial_access_token_is_required() {
    let f = fixture().await;
    let body = web_metadata();
    let r = f.server.register(&request("POST", ENDPOINT, None, Some(&body))).await;
    assert_error(&r, 401, "invalid_token");
    assert_eq!(r.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
    for wrong in ["initial-access-token-of-the-tesT", "initial-access-token-of-the-tes", "x"] {
        let r = f.server.register(&request("POST", ENDPOINT, Some(wrong), Some(&body))).await;
        assert_error(&r, 401, "invalid_token");
    }
    // A Basic header is not the initial access token.
    let mut req = request("POST", ENDPOINT, None, Some(&body));
    req.headers_mut().insert("authorization", format!("Basic {}", STANDARD.encode(IAT)).parse().unwrap());
    assert_error(&f.server.register(&req).await, 401, "invalid_token");
    // Either configured token works.
    register(&f, &body).await;
    let r = f.server.register(&request("POST", ENDPOINT, Some("another-token"), Some(&body))).await;
    assert_eq!(r.status(), 201);
    // Nothing was stored for the refused attempts: two clients were registered.
    assert_eq!(f.registered().await, 2);

    // An empty token list lets nobody register.
    let none = fixture_with(
        Some(RegistrationConfig::new(ENDPOINT, RegistrationPolicy::InitialAccessToken(Vec::new()))),
        server_config(),
    )
    .await;
    assert_error(&none.server.register(&register_req(&body)).await, 401, "invalid_token");
}

#[tokio::test]
async fn open_registration_needs_no_token() {
    let f =
        fixture_with(Some(RegistrationConfig::open(ENDPOINT).with_scopes(["read"])), server_config()).await;
    let r = f
        .server
        .register(&request("POST", ENDPOINT, None, Some(&json!({"redirect_uris": ["https://a.example/cb"]}))))
        .await;
    assert_eq!(r.status(), 201, "{}", String::from_utf8_lossy(r.body()));
    let body = json_body(&r);
    // RFC 7591 defaults: authorization_code, code, client_secret_basic; the config's scopes.
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["scope"], "read");
    assert_eq!(body["application_type"], "web");
    assert_eq!(body["subject_type"], "public");
    assert_eq!(body["id_token_signed_response_alg"], "RS256");
}

#[tokio::test]
async fn bad_metadata_is_refused_with_the_right_code() {
    let f = fixture().await;
    let redirect = |uris: Value| json!({"redirect_uris": uris});
    let with = |extra: Value| {
        let mut v = json!({"redirect_uris": ["https://rp.example/cb"]});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let jwk = TestSigner::load("oidc_op_a.pem", "k1").jwk();
    let mut private_jwk = jwk.clone();
    private_jwk["d"] = json!("AAAA");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("http redirect off loopback", redirect(json!(["http://rp.example/cb"])), "invalid_redirect_uri"),
        (
            "localhost is not a loopback literal",
            redirect(json!(["http://localhost/cb"])),
            "invalid_redirect_uri",
        ),
        (
            "loopback look-alike host",
            redirect(json!(["http://127.0.0.1.evil.example/cb"])),
            "invalid_redirect_uri",
        ),
        ("fragment", redirect(json!(["https://rp.example/cb#x"])), "invalid_redirect_uri"),
        ("empty fragment", redirect(json!(["https://rp.example/cb#"])), "invalid_redirect_uri"),
        ("relative", redirect(json!(["/cb"])), "invalid_redirect_uri"),
        ("user information", redirect(json!(["https://user:pw@rp.example/cb"])), "invalid_redirect_uri"),
        (
            "private-use scheme for a web client",
            redirect(json!(["com.example.app:/cb"])),
            "invalid_redirect_uri",
        ),
        (
            "native scheme without a domain",
            json!({"application_type": "native", "redirect_uris": ["myapp:/cb"]}),
            "invalid_redirect_uri",
        ),
        ("javascript scheme", redirect(json!(["javascript:alert(1)"])), "invalid_redirect_uri"),
        ("no redirect_uris with the code grant", json!({"client_name": "x"}), "invalid_redirect_uri"),
        ("redirect_uris not an array", redirect(json!("https://rp.example/cb")), "invalid_redirect_uri"),
        (
            "too many redirect_uris",
            redirect(json!((0..17).map(|i| format!("https://rp.example/{i}")).collect::<Vec<_>>())),
            "invalid_redirect_uri",
        ),
        ("unknown grant type", with(json!({"grant_types": ["implicit"]})), "invalid_client_metadata"),
        (
            "grant not allowed",
            with(json!({"grant_types": ["client_credentials"], "response_types": []})),
            "invalid_client_metadata",
        ),
        ("response type token", with(json!({"response_types": ["token"]})), "invalid_client_metadata"),
        (
            "code without authorization_code",
            with(json!({"grant_types": ["refresh_token"], "response_types": ["code"]})),
            "invalid_client_metadata",
        ),
        (
            "authorization_code without code",
            with(json!({"grant_types": ["authorization_code"], "response_types": []})),
            "invalid_client_metadata",
        ),
        (
            "client_secret_jwt",
            with(json!({"token_endpoint_auth_method": "client_secret_jwt"})),
            "invalid_client_metadata",
        ),
        (
            "unknown auth method",
            with(json!({"token_endpoint_auth_method": "tls_client_auth"})),
            "invalid_client_metadata",
        ),
        (
            "private_key_jwt without jwks",
            with(json!({"token_endpoint_auth_method": "private_key_jwt"})),
            "invalid_client_metadata",
        ),
        (
            "jwks_uri",
            with(
                json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}, "jwks_uri": "https://rp.example/jwks"}),
            ),
            "invalid_client_metadata",
        ),
        (
            "private key in jwks",
            with(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [private_jwk]}})),
            "invalid_client_metadata",
        ),
        ("jwks without keys", with(json!({"jwks": {"k": 1}})), "invalid_client_metadata"),
        (
            "id token alg none",
            with(json!({"id_token_signed_response_alg": "none"})),
            "invalid_client_metadata",
        ),
        (
            "id token alg HS256",
            with(json!({"id_token_signed_response_alg": "HS256"})),
            "invalid_client_metadata",
        ),
        (
            "id token alg unknown",
            with(json!({"id_token_signed_response_alg": "RS1024"})),
            "invalid_client_metadata",
        ),
        ("subject type", with(json!({"subject_type": "anonymous"})), "invalid_client_metadata"),
        (
            "sector identifier over http",
            with(json!({"subject_type": "pairwise", "sector_identifier_uri": "http://rp.example/s.json"})),
            "invalid_client_metadata",
        ),
        (
            "sector identifier on another host",
            with(
                json!({"subject_type": "pairwise", "sector_identifier_uri": "https://victim.example/s.json"}),
            ),
            "invalid_client_metadata",
        ),
        (
            "pairwise over two hosts",
            json!({"subject_type": "pairwise", "redirect_uris": ["https://a.example/cb", "https://b.example/cb"]}),
            "invalid_client_metadata",
        ),
        (
            "post-logout URI with fragment",
            with(json!({"post_logout_redirect_uris": ["https://rp.example/bye#x"]})),
            "invalid_client_metadata",
        ),
        (
            "back-channel over http",
            with(json!({"backchannel_logout_uri": "http://rp.example/bc"})),
            "invalid_client_metadata",
        ),
        (
            "back-channel with fragment",
            with(json!({"backchannel_logout_uri": "https://rp.example/bc#f"})),
            "invalid_client_metadata",
        ),
        ("scope wider than the server's", with(json!({"scope": "read admin"})), "invalid_client_metadata"),
        ("scope malformed", with(json!({"scope": "read \"x\""})), "invalid_client_metadata"),
        (
            "software statement",
            with(json!({"software_statement": "eyJ.eyJ.sig"})),
            "unapproved_software_statement",
        ),
        ("chosen client_id", with(json!({"client_id": "mine"})), "invalid_client_metadata"),
        ("chosen client_secret", with(json!({"client_secret": "mine"})), "invalid_client_metadata"),
        ("server member", with(json!({"registration_access_token": "mine"})), "invalid_client_metadata"),
        ("javascript logo", with(json!({"logo_uri": "javascript:alert(1)"})), "invalid_client_metadata"),
        (
            "localized javascript policy",
            with(json!({"policy_uri#fr": "javascript:alert(1)"})),
            "invalid_client_metadata",
        ),
        (
            "encrypted ID tokens",
            with(json!({"id_token_encrypted_response_alg": "RSA-OAEP"})),
            "invalid_client_metadata",
        ),
        (
            "front-channel logout",
            with(json!({"frontchannel_logout_uri": "https://rp.example/fc"})),
            "invalid_client_metadata",
        ),
        ("wrong type", with(json!({"require_auth_time": "yes"})), "invalid_client_metadata"),
        ("negative max age", with(json!({"default_max_age": -1})), "invalid_client_metadata"),
        ("application type", with(json!({"application_type": "desktop"})), "invalid_client_metadata"),
        (
            "public client with client_credentials",
            json!({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        ("oversize kept metadata", with(json!({"x_blob": "a".repeat(5000)})), "invalid_client_metadata"),
    ];
    assert!(cases.len() >= 10);
    for (name, body, code) in &cases {
        let r = f.server.register(&register_req(body)).await;
        assert_eq!(r.status(), 400, "{name}: {}", String::from_utf8_lossy(r.body()));
        assert_eq!(json_body(&r)["error"], *code, "{name}: {}", String::from_utf8_lossy(r.body()));
        assert_eq!(r.headers()["cache-control"], "no-store", "{name}");
        assert!(json_body(&r)["error_description"].is_string(), "{name}");
    }
    // Nothing of it was stored.
    assert_eq!(f.registered().await, 0);
    register(&f, &web_metadata()).await;
    assert_eq!(f.registered().await, 1);
}

#[tokio::test]
async fn malformed_requests_are_refused() {
    let f = fixture().await;
    let mut not_json = register_req(&json!({}));
    *not_json.body_mut() = b"{\"redirect_uris\": [".to_vec();
    assert_error(&f.server.register(&not_json).await, 400, "invalid_request");
    assert_error(&f.server.register(&register_req(&json!(["a"]))).await, 400, "invalid_request");
    let mut form = register_req(&web_metadata());
    form.headers_mut().insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
    assert_error(&f.server.register(&form).await, 400, "invalid_request");
    // Oversize body: 413 before it is parsed.
    let big = json!({"redirect_uris": ["https://rp.example/cb"], "x": "a".repeat(17 * 1024)});
    assert_error(&f.server.register(&register_req(&big)).await, 413, "invalid_request");
    // Wrong method.
    let r = f.server.register(&request("GET", ENDPOINT, Some(IAT), None)).await;
    assert_error(&r, 405, "invalid_request");
    assert_eq!(r.headers()["allow"], "POST");
}

#[tokio::test]
async fn a_registered_client_runs_the_code_flow_and_is_stored_hashed() {
    let f = fixture().await;
    let body = register(&f, &web_metadata()).await;
    let client_id = body["client_id"].as_str().unwrap().to_owned();
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    let token = body["registration_access_token"].as_str().unwrap().to_owned();
    assert_eq!(client_id.len(), 22, "128 bits, base64url");
    assert_eq!(URL_SAFE_NO_PAD.decode(&secret).unwrap().len(), 32, "a 256-bit secret");
    assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32, "a 256-bit token");
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["client_id_issued_at"], T0);
    assert_eq!(body["registration_client_uri"], format!("{ENDPOINT}/{client_id}"));
    assert_eq!(body["redirect_uris"], json!(["https://rp.example/cb", "https://rp.example/cb2"]));
    assert_eq!(body["scope"], "openid read");
    assert_eq!(body["id_token_signed_response_alg"], "ES256");
    assert_eq!(body["backchannel_logout_session_required"], true);
    assert_eq!(body["default_max_age"], 600);
    // Unknown and kept members are echoed as given.
    assert_eq!(body["client_name#fr"], "Un RP");
    assert_eq!(body["contacts"], json!(["ops@rp.example"]));
    assert_eq!(body["x_vendor_extension"], json!({"nested": [1, 2, 3]}));
    assert_eq!(body["logo_uri"], "https://rp.example/logo.png");

    // Stored: the secret and token only as SHA-256; the metadata in its fields.
    let stored = f.store.get_registered_client(&client_id).await.unwrap().unwrap();
    assert_eq!(stored.kind, ClientKind::Confidential);
    assert_eq!(stored.auth_method, ClientAuthMethod::ClientSecretBasic);
    assert_eq!(stored.secrets.len(), 1);
    match &stored.secrets[0].value {
        SecretForm::Sha256(hex) => assert_eq!(*hex, sha256_hex(&secret)),
        SecretForm::Plain(_) => panic!("a generated secret is stored plain"),
    }
    assert_eq!(stored.registration_token_hash.as_deref(), Some(sha256_hex(&token).as_str()));
    let dump = serde_json::to_string(&stored).unwrap();
    assert!(!dump.contains(&secret) && !dump.contains(&token), "a raw value is stored");
    assert!(stored.require_auth_time);
    assert_eq!(stored.default_max_age, Some(600));
    assert_eq!(stored.backchannel_logout_uri.as_deref(), Some("https://rp.example/backchannel"));
    assert_eq!(stored.post_logout_redirect_uris, ["https://rp.example/bye"]);
    assert_eq!(stored.metadata["x_vendor_extension"], json!({"nested": [1, 2, 3]}));
    assert!(!stored.metadata.contains_key("client_name"), "a known member is in its field");
    assert_eq!(stored.client_name.as_deref(), Some("An RP"));

    // The full code flow with the new client.
    let r = code_flow(&f, &client_id, "https://rp.example/cb2", Some(&secret)).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    let access = json_body(&r)["access_token"].as_str().unwrap().to_owned();
    let api = http::Request::get("https://api.example/me")
        .header("authorization", format!("Bearer {access}"))
        .body(Vec::new())
        .unwrap();
    let grant = f.server.resource_protector().validate(&api, &["read"]).await.unwrap();
    assert_eq!(grant.client_id, client_id);
    assert_eq!(grant.subject.as_deref(), Some("alice"));
    // A wrong secret does not authenticate.
    let r = code_flow(&f, &client_id, "https://rp.example/cb", Some("not-the-secret")).await;
    assert_error(&r, 401, "invalid_client");
}

#[tokio::test]
async fn public_native_and_private_key_clients() {
    let f = fixture().await;
    let body = register(
        &f,
        &json!({
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "redirect_uris": ["com.example.app:/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
        }),
    )
    .await;
    assert!(body.get("client_secret").is_none());
    assert!(body.get("client_secret_expires_at").is_none());
    assert_eq!(body["application_type"], "native");
    let id = body["client_id"].as_str().unwrap().to_owned();
    let stored = f.store.get_registered_client(&id).await.unwrap().unwrap();
    assert_eq!(stored.kind, ClientKind::Public);
    assert!(stored.secrets.is_empty());
    // A loopback redirect matches on any port (RFC 8252 §7.3).
    let r = code_flow(&f, &id, "http://127.0.0.1:49152/cb", None).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    assert!(json_body(&r)["refresh_token"].is_string());

    let jwk = TestSigner::load("oidc_op_a.pem", "k1").jwk();
    let body = register(
        &f,
        &json!({
            "redirect_uris": ["https://rp.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "RS256",
            "jwks": {"keys": [jwk]},
            "subject_type": "pairwise",
            "sector_identifier_uri": "https://rp.example/sector.json",
        }),
    )
    .await;
    assert!(body.get("client_secret").is_none());
    assert_eq!(body["jwks"]["keys"][0]["kid"], "k1");
    assert_eq!(body["subject_type"], "pairwise");
    let stored = f.store.get_registered_client(body["client_id"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.auth_method, ClientAuthMethod::PrivateKeyJwt);
    assert_eq!(stored.subject_type, SubjectType::Pairwise);
    assert!(stored.secrets.is_empty());
    assert_eq!(stored.grant_types, [GrantType::AuthorizationCode]);
}

#[tokio::test]
async fn read_update_delete_with_the_registration_access_token() {
    let f = fixture().await;
    let body = register(&f, &web_metadata()).await;
    let id = body["client_id"].as_str().unwrap().to_owned();
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    let token = body["registration_access_token"].as_str().unwrap().to_owned();
    let uri = body["registration_client_uri"].as_str().unwrap().to_owned();
    let config = |method: &str, token: Option<&str>, body: Option<&Value>| request(method, &uri, token, body);

    // Refusals without the right token: 401 invalid_token, nothing changed.
    for t in [None, Some("wrong"), Some(&token[1..])] {
        let r = f.server.client_configuration(&config("GET", t, None), &id).await;
        assert_error(&r, 401, "invalid_token");
        assert_eq!(r.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
        let r = f.server.client_configuration(&config("DELETE", t, None), &id).await;
        assert_error(&r, 401, "invalid_token");
    }
    // The token is for its own client only; an application-configured client has none.
    let other = register(&f, &json!({"redirect_uris": ["https://other.example/cb"]})).await;
    let other_token = other["registration_access_token"].as_str().unwrap();
    assert_error(
        &f.server.client_configuration(&config("GET", Some(other_token), None), &id).await,
        401,
        "invalid_token",
    );
    assert_error(
        &f.server.client_configuration(&config("GET", Some(&token), None), "static").await,
        401,
        "invalid_token",
    );
    assert_error(
        &f.server.client_configuration(&config("GET", Some(&token), None), "nobody").await,
        401,
        "invalid_token",
    );
    let r = f.server.client_configuration(&config("POST", Some(&token), None), &id).await;
    assert_error(&r, 405, "invalid_request");
    assert_eq!(r.headers()["allow"], "GET, PUT, DELETE");

    // Read: the same metadata, and a new token that replaces the old one.
    let r = f.server.client_configuration(&config("GET", Some(&token), None), &id).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let read = json_body(&r);
    assert_eq!(read["client_id"], id);
    assert_eq!(read["redirect_uris"], body["redirect_uris"]);
    assert_eq!(read["x_vendor_extension"], body["x_vendor_extension"]);
    assert_eq!(read["client_secret_expires_at"], 0);
    assert!(read.get("client_secret").is_none(), "a hashed secret cannot be read back");
    let token2 = read["registration_access_token"].as_str().unwrap().to_owned();
    assert_ne!(token2, token);
    assert_error(
        &f.server.client_configuration(&config("GET", Some(&token), None), &id).await,
        401,
        "invalid_token",
    );

    // Update: client_id must be repeated, and client_secret may only be repeated as it is.
    let mut update = json!({
        "redirect_uris": ["https://rp.example/new"],
        "scope": "openid read profile",
        "grant_types": ["authorization_code", "refresh_token"],
    });
    let r = f.server.client_configuration(&config("PUT", Some(&token2), Some(&update)), &id).await;
    assert_error(&r, 400, "invalid_client_metadata");
    update["client_id"] = json!("someone-else");
    let r = f.server.client_configuration(&config("PUT", Some(&token2), Some(&update)), &id).await;
    assert_error(&r, 400, "invalid_client_metadata");
    update["client_id"] = json!(id);
    update["client_secret"] = json!("a-secret-of-my-choosing");
    let r = f.server.client_configuration(&config("PUT", Some(&token2), Some(&update)), &id).await;
    assert_error(&r, 400, "invalid_client_metadata");
    update["client_secret"] = json!(secret);
    let mut bad = update.clone();
    bad["redirect_uris"] = json!(["http://rp.example/cb"]);
    let r = f.server.client_configuration(&config("PUT", Some(&token2), Some(&bad)), &id).await;
    assert_error(&r, 400, "invalid_redirect_uri");
    let mut echoed = update.clone();
    echoed["client_id_issued_at"] = json!(T0);
    let r = f.server.client_configuration(&config("PUT", Some(&token2), Some(&echoed)), &id).await;
    assert_error(&r, 400, "invalid_client_metadata");
    // The refused updates changed nothing, and did not use up the token.
    let stored = f.store.get_registered_client(&id).await.unwrap().unwrap();
    assert_eq!(stored.redirect_uris, ["https://rp.example/cb", "https://rp.example/cb2"]);

    let r = f.server.client_configuration(&config("PUT", Some(&token2), Some(&update)), &id).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    let updated = json_body(&r);
    assert_eq!(updated["redirect_uris"], json!(["https://rp.example/new"]));
    assert_eq!(updated["scope"], "openid read profile");
    assert!(updated.get("client_name").is_none(), "an omitted member is removed (RFC 7592 §2.2)");
    assert!(updated.get("x_vendor_extension").is_none());
    assert!(updated.get("client_secret").is_none(), "the secret is kept, not reissued");
    assert_eq!(updated["client_id_issued_at"], T0);
    let token3 = updated["registration_access_token"].as_str().unwrap().to_owned();
    let stored = f.store.get_registered_client(&id).await.unwrap().unwrap();
    assert_eq!(stored.redirect_uris, ["https://rp.example/new"]);
    assert_eq!(stored.client_name, None);
    assert!(stored.secret_matches(&secret, T0), "the secret survives the update");
    // The same secret still runs the code flow, at the new redirect URI.
    let r = code_flow(&f, &id, "https://rp.example/new", Some(&secret)).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    let refresh = json_body(&r)["refresh_token"].as_str().unwrap().to_owned();

    // Becoming public drops the secret; becoming confidential again issues a new one.
    let public = json!({"client_id": id, "redirect_uris": ["https://rp.example/new"], "token_endpoint_auth_method": "none"});
    let r = f.server.client_configuration(&config("PUT", Some(&token3), Some(&public)), &id).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    let token4 = json_body(&r)["registration_access_token"].as_str().unwrap().to_owned();
    assert!(f.store.get_registered_client(&id).await.unwrap().unwrap().secrets.is_empty());
    let back = json!({
        "client_id": id,
        "redirect_uris": ["https://rp.example/new"],
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["authorization_code", "refresh_token"],
    });
    let r = f.server.client_configuration(&config("PUT", Some(&token4), Some(&back)), &id).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    let body = json_body(&r);
    let new_secret = body["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let token5 = body["registration_access_token"].as_str().unwrap().to_owned();
    let stored = f.store.get_registered_client(&id).await.unwrap().unwrap();
    assert!(stored.secret_matches(&new_secret, T0) && !stored.secret_matches(&secret, T0));

    // Before the delete, the refresh token works (and rotates).
    let r = f.server.token(&refresh_request(&id, &new_secret, &refresh)).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    let refresh = json_body(&r)["refresh_token"].as_str().unwrap().to_owned();
    let access = json_body(&r)["access_token"].as_str().unwrap().to_owned();
    let api = || {
        http::Request::get("https://api.example/me")
            .header("authorization", format!("Bearer {access}"))
            .body(Vec::new())
            .unwrap()
    };
    assert!(f.server.resource_protector().validate(&api(), &[]).await.is_ok());

    // Delete: 204, then the client is gone, its token and its refresh token with it.
    let r = f.server.client_configuration(&config("DELETE", Some(&token5), None), &id).await;
    assert_eq!(r.status(), 204);
    assert!(r.body().is_empty());
    assert!(f.store.get_registered_client(&id).await.unwrap().is_none());
    assert_error(
        &f.server.client_configuration(&config("GET", Some(&token5), None), &id).await,
        401,
        "invalid_token",
    );
    assert_error(&f.server.token(&refresh_request(&id, &new_secret, &refresh)).await, 401, "invalid_client");
    // Its access token is revoked with it (RFC 7592 §2.3), and so is its refresh token.
    let refused = f.server.resource_protector().validate(&api(), &[]).await.unwrap_err();
    assert_eq!(refused.status(), 401);
    let refresh_hash = sha256_hex(&refresh);
    assert!(
        keyward::oauth2::provider::store::TokenStore::get_token(&*f.store, &refresh_hash, T0)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn grants_and_scopes_follow_the_configuration() {
    // No scopes_supported on the server: a registration may only narrow the config's scopes.
    let config = token_config().with_grant_types([
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ]);
    let f = fixture_with(Some(config), ServerConfig::new(ISSUER)).await;
    let r = f
        .server
        .register(&register_req(&json!({"redirect_uris": ["https://rp.example/cb"], "scope": "profile"})))
        .await;
    assert_error(&r, 400, "invalid_client_metadata");
    let body = register(&f, &json!({"redirect_uris": ["https://rp.example/cb"], "scope": "read"})).await;
    assert_eq!(body["scope"], "read");
    // A client_credentials-only client needs no redirect URI; its response types are none.
    let body = register(&f, &json!({"grant_types": ["client_credentials"]})).await;
    assert_eq!(body["response_types"], json!([]));
    assert_eq!(body["scope"], "openid read");
    // The device grant needs the server's device codes.
    let r = f
        .server
        .register(&register_req(&json!({"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]})))
        .await;
    assert_error(&r, 400, "invalid_client_metadata");
    // An auth method the configuration leaves out.
    let f = fixture_with(
        Some(token_config().with_auth_methods([ClientAuthMethod::ClientSecretBasic])),
        server_config(),
    )
    .await;
    let r = f
        .server
        .register(&register_req(
            &json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "none"}),
        ))
        .await;
    assert_error(&r, 400, "invalid_client_metadata");
}

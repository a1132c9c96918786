//! Pushed authorization requests (RFC 9126), the server's half: the PAR endpoint, the
//! authorization endpoint's use of its `request_uri` (once, by the same client, before it
//! expires), required PAR, and the metadata.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::clock::FixedClock;
use keyward::common::encoding::{encode, encode_form};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, Grant, ParConfig, ProviderError, RegisteredClient, ServerConfig,
};
use keyward_stores::MemoryStore;
use serde_json::Value;
use sha2::{Digest, Sha256};

const ISSUER: &str = "https://as.example";
const T0: i64 = 1_800_000_000;
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

struct Fixture {
    server: AuthorizationServer,
    store: Arc<MemoryStore>,
    clock: FixedClock,
}

async fn fixture(par: ParConfig) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let web = RegisteredClient::confidential("web", "web-secret")
        .with_redirect_uris(["https://web.example/cb"])
        .with_scopes(["read", "write"]);
    let other = RegisteredClient::confidential("other", "other-secret")
        .with_redirect_uris(["https://other.example/cb"])
        .with_scopes(["read"]);
    let mut strict = RegisteredClient::confidential("strict", "strict-secret")
        .with_redirect_uris(["https://strict.example/cb"])
        .with_scopes(["read"]);
    strict.require_pushed_authorization_requests = true;
    for c in [web, other, strict] {
        store.create_registered_client(&c).await.unwrap();
    }
    let clock = FixedClock::new(T0);
    let server = AuthorizationServer::builder(store.clone(), ServerConfig::new(ISSUER))
        .clock(clock.clone())
        .pushed_requests(store.clone(), par)
        .build();
    Fixture { server, store, clock }
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

fn push_request(pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::post("https://as.example/par")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        b = b.header("authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
    }
    b.body(encode_form(pairs.iter().copied()).into_bytes()).unwrap()
}

fn authorization_params(client: &str, redirect: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", client.into()),
        ("redirect_uri", redirect.into()),
        ("scope", "read".into()),
        ("state", "st-1".into()),
        ("code_challenge", challenge()),
        ("code_challenge_method", "S256".into()),
    ]
}

fn json(r: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

/// Pushes `web`'s request; the `request_uri`.
async fn push(f: &Fixture) -> String {
    let params = authorization_params("web", "https://web.example/cb");
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = f.server.pushed_authorization(&push_request(&pairs, Some(("web", "web-secret")))).await;
    assert_eq!(response.status(), 201, "{:?}", json(&response));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json(&response);
    assert_eq!(body["expires_in"], 60);
    body["request_uri"].as_str().unwrap().to_owned()
}

fn authorize(client: &str, request_uri: &str, extra: &str) -> http::Request<Vec<u8>> {
    http::Request::get(format!(
        "https://as.example/authorize?client_id={client}&request_uri={}{extra}",
        encode(request_uri)
    ))
    .body(Vec::new())
    .unwrap()
}

#[tokio::test]
async fn a_pushed_request_is_used_once_at_the_authorization_endpoint() {
    let f = fixture(ParConfig::new(ISSUER)).await;
    let request_uri = push(&f).await;
    let random = request_uri.strip_prefix("urn:ietf:params:oauth:request_uri:").unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(random).unwrap().len(), 32, "256 random bits");

    // Other parameters than client_id and request_uri are ignored (§4).
    let request =
        f.server.authorization_request(&authorize("web", &request_uri, "&scope=write")).await.unwrap();
    assert_eq!(request.client_id, "web");
    assert_eq!(request.scopes, ["read"]);
    assert_eq!(request.target.state.as_deref(), Some("st-1"));
    assert_eq!(request.code_challenge.as_deref(), Some(challenge().as_str()));
    assert!(request.redirect_uri_given);
    assert!(request.extra.is_empty(), "no client authentication kept: {:?}", request.extra);
    let granted = f.server.grant(&request, Grant::new("alice", ["read"])).await.unwrap();
    assert_eq!(granted.status(), 302);

    // Used: refused, not redirected.
    let err = f.server.authorization_request(&authorize("web", &request_uri, "")).await.unwrap_err();
    assert!(!err.is_redirected());
    assert!(matches!(err.error, ProviderError::InvalidRequest(_)), "{err:?}");
}

#[tokio::test]
async fn a_pushed_request_expires() {
    let f = fixture(ParConfig::new(ISSUER)).await;
    let request_uri = push(&f).await;
    f.clock.advance(60);
    let err = f.server.authorization_request(&authorize("web", &request_uri, "")).await.unwrap_err();
    assert_eq!(err.error.code(), "invalid_request");
    // Before expiry it works.
    let request_uri = push(&f).await;
    f.clock.advance(59);
    f.server.authorization_request(&authorize("web", &request_uri, "")).await.unwrap();
}

#[tokio::test]
async fn another_client_cannot_use_a_pushed_request() {
    let f = fixture(ParConfig::new(ISSUER)).await;
    let request_uri = push(&f).await;
    let err = f.server.authorization_request(&authorize("other", &request_uri, "")).await.unwrap_err();
    assert_eq!(err.error.code(), "invalid_request");
    assert!(!err.is_redirected());
    // A request_uri of some other kind, or none at all, is no pushed request.
    let err = f
        .server
        .authorization_request(&authorize("web", "https://attacker.example/req", ""))
        .await
        .unwrap_err();
    assert_eq!(err.error.code(), "request_uri_not_supported");
    let err =
        f.server.authorization_request(&authorize("web", "urn:ietf:params:oauth:request_uri:nope", "")).await;
    assert!(err.is_err());
}

#[tokio::test]
async fn the_par_endpoint_authenticates_and_validates() {
    let f = fixture(ParConfig::new(ISSUER)).await;
    let params = authorization_params("web", "https://web.example/cb");
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // Wrong secret: 401 invalid_client.
    let r = f.server.pushed_authorization(&push_request(&pairs, Some(("web", "nope")))).await;
    assert_eq!(r.status(), 401);
    assert_eq!(json(&r)["error"], "invalid_client");
    // No authentication of a confidential client.
    let r = f.server.pushed_authorization(&push_request(&pairs, None)).await;
    assert_eq!(r.status(), 401);
    // client_id in the form is another client than the authenticated one.
    let mut mismatched = pairs.clone();
    mismatched[1] = ("client_id", "other");
    let r = f.server.pushed_authorization(&push_request(&mismatched, Some(("web", "web-secret")))).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(&r)["error"], "invalid_request");
    // A request_uri inside a pushed request.
    let mut nested = pairs.clone();
    nested.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
    let r = f.server.pushed_authorization(&push_request(&nested, Some(("web", "web-secret")))).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(&r)["error"], "invalid_request");
    // Validated like the authorization endpoint: an unregistered redirect URI, a scope the
    // client may not ask for, no PKCE.
    let mut bad = pairs.clone();
    bad[2] = ("redirect_uri", "https://evil.example/cb");
    let r = f.server.pushed_authorization(&push_request(&bad, Some(("web", "web-secret")))).await;
    assert_eq!((r.status().as_u16(), json(&r)["error"].clone()), (400, "invalid_request".into()));
    let mut bad = pairs.clone();
    bad[3] = ("scope", "admin");
    let r = f.server.pushed_authorization(&push_request(&bad, Some(("web", "web-secret")))).await;
    assert_eq!(json(&r)["error"], "invalid_scope");
    let bad: Vec<_> = pairs.iter().copied().filter(|(k, _)| !k.starts_with("code_challenge")).collect();
    let r = f.server.pushed_authorization(&push_request(&bad, Some(("web", "web-secret")))).await;
    assert_eq!(json(&r)["error"], "invalid_request");
    // GET: 405.
    let get = http::Request::get("https://as.example/par").body(Vec::new()).unwrap();
    assert_eq!(f.server.pushed_authorization(&get).await.status(), 405);
    // Nothing was stored by the refusals.
    use keyward::oauth2::provider::PushedRequestStore;
    assert_eq!(f.store.purge_expired_pushed_requests(T0 + 3600).await.unwrap(), 0);
}

#[tokio::test]
async fn a_client_that_must_push_is_refused_without_par() {
    let f = fixture(ParConfig::new(ISSUER)).await;
    let params = authorization_params("strict", "https://strict.example/cb");
    let query = encode_form(params.iter().map(|(k, v)| (*k, v.as_str())));
    let get = http::Request::get(format!("https://as.example/authorize?{query}")).body(Vec::new()).unwrap();
    let err = f.server.authorization_request(&get).await.unwrap_err();
    assert_eq!(err.error.code(), "invalid_request");
    // Others need not push.
    let params = authorization_params("web", "https://web.example/cb");
    let query = encode_form(params.iter().map(|(k, v)| (*k, v.as_str())));
    let get = http::Request::get(format!("https://as.example/authorize?{query}")).body(Vec::new()).unwrap();
    f.server.authorization_request(&get).await.unwrap();
    // Pushed, the strict client is served.
    let params = authorization_params("strict", "https://strict.example/cb");
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = f.server.pushed_authorization(&push_request(&pairs, Some(("strict", "strict-secret")))).await;
    assert_eq!(r.status(), 201);
    let request_uri = json(&r)["request_uri"].as_str().unwrap().to_owned();
    f.server.authorization_request(&authorize("strict", &request_uri, "")).await.unwrap();
}

#[tokio::test]
async fn server_wide_required_par_and_metadata() {
    let f = fixture(ParConfig::new(ISSUER).with_required(true)).await;
    let params = authorization_params("web", "https://web.example/cb");
    let query = encode_form(params.iter().map(|(k, v)| (*k, v.as_str())));
    let get = http::Request::get(format!("https://as.example/authorize?{query}")).body(Vec::new()).unwrap();
    assert_eq!(f.server.authorization_request(&get).await.unwrap_err().error.code(), "invalid_request");
    let meta = serde_json::to_value(f.server.metadata()).unwrap();
    assert_eq!(meta["pushed_authorization_request_endpoint"], "https://as.example/par");
    assert_eq!(meta["require_pushed_authorization_requests"], true);

    let f = fixture(ParConfig::new(ISSUER)).await;
    let meta = serde_json::to_value(f.server.metadata()).unwrap();
    assert_eq!(meta["pushed_authorization_request_endpoint"], "https://as.example/par");
    assert!(meta.get("require_pushed_authorization_requests").is_none());

    // Off: neither member, and the endpoint refuses.
    let store = Arc::new(MemoryStore::new());
    let server = AuthorizationServer::builder(store, ServerConfig::new(ISSUER)).build();
    let meta = serde_json::to_value(server.metadata()).unwrap();
    assert!(meta.get("pushed_authorization_request_endpoint").is_none());
    let r = server.pushed_authorization(&push_request(&[("client_id", "web")], None)).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn concurrent_uses_of_one_request_uri_succeed_once() {
    let f = fixture(ParConfig::new(ISSUER)).await;
    let request_uri = push(&f).await;
    let server = f.server.clone();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let server = server.clone();
            let uri = request_uri.clone();
            tokio::spawn(
                async move { server.authorization_request(&authorize("web", &uri, "")).await.is_ok() },
            )
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1);
}

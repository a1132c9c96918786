//! The OAuth 2.1 authorization server over the memory store, with an injected clock and
//! random source: every endpoint rule, with its status, error code and (at the
//! authorization endpoint) whether the error is redirected.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::clock::FixedClock;
use keyward::common::encoding::{encode_form, parse_form};
use keyward::common::random::RandomSource;
use keyward::oauth2::provider::store::{ClientSecret, OAuth2ClientStore};
use keyward::oauth2::provider::{
    AuthorizationServer, BearerPlacement, ClientAuthMethod, Grant, GrantType, ProviderError,
    RegisteredClient, ServerConfig,
};
use keyward_stores::MemoryStore;
use keyward_testkit::jose::{TestSigner, hs256, jwks};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ISSUER: &str = "https://as.example";
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

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

struct Fixture {
    server: AuthorizationServer,
    store: Arc<MemoryStore>,
    clock: FixedClock,
}

fn web_client() -> RegisteredClient {
    RegisteredClient::confidential("web", "web-secret")
        .with_redirect_uris(["https://web.example/cb", "https://web.example/other"])
        .with_scopes(["read", "write", "admin"])
        .with_resources(["https://api.example/"])
        .with_grant_types([
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ])
}

fn app_client() -> RegisteredClient {
    let mut c =
        RegisteredClient::public("app").with_redirect_uris(["http://127.0.0.1/cb"]).with_scopes(["read"]);
    c.pkce_required = false; // ignored: public clients always use PKCE
    c
}

async fn fixture_with(config: ServerConfig) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    for c in [web_client(), app_client()] {
        store.create_registered_client(&c).await.unwrap();
    }
    let clock = FixedClock::new(T0);
    let server = AuthorizationServer::builder(store.clone(), config)
        .clock(clock.clone())
        .random(Counter(AtomicU64::new(0)))
        .build();
    Fixture { server, store, clock }
}

async fn fixture() -> Fixture {
    fixture_with(ServerConfig::new(ISSUER)).await
}

fn get(query: &str) -> http::Request<Vec<u8>> {
    http::Request::get(format!("https://as.example/authorize?{query}")).body(Vec::new()).unwrap()
}

fn post_form(pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> http::Request<Vec<u8>> {
    post_raw(encode_form(pairs.iter().copied()).into_bytes(), basic)
}

fn post_raw(body: Vec<u8>, basic: Option<(&str, &str)>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::post("https://as.example/token")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        b = b.header("authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
    }
    b.body(body).unwrap()
}

fn json_body(r: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

fn location_params(r: &http::Response<Vec<u8>>) -> (String, Vec<(String, String)>) {
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let (base, query) = loc.split_once('?').unwrap();
    (base.to_owned(), parse_form(query).unwrap())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn auth_query(client: &str, redirect: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let c = challenge(VERIFIER);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect),
        ("scope", scope),
        ("state", "xyz &state"),
        ("code_challenge", c.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    encode_form(pairs)
}

/// Runs the authorization endpoint for `web` and returns the code.
async fn code_for(f: &Fixture, client: &str, redirect: &str, scope: &str) -> String {
    let request =
        f.server.authorization_request(&get(&auth_query(client, redirect, scope, &[]))).await.unwrap();
    let scopes: Vec<String> = request.scopes.clone();
    let response = f.server.grant(&request, Grant::new("alice", scopes).auth_time(T0)).await.unwrap();
    assert_eq!(response.status(), 302);
    let (base, params) = location_params(&response);
    assert_eq!(base, redirect);
    assert_eq!(param(&params, "state"), Some("xyz &state"));
    assert_eq!(param(&params, "iss"), Some(ISSUER));
    param(&params, "code").unwrap().to_owned()
}

async fn exchange(f: &Fixture, code: &str, redirect: &str) -> http::Response<Vec<u8>> {
    let req = post_form(
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ],
        Some(("web", "web-secret")),
    );
    f.server.token(&req).await
}

async fn refresh(f: &Fixture, token: &str) -> http::Response<Vec<u8>> {
    f.server
        .token(&post_form(
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
            Some(("web", "web-secret")),
        ))
        .await
}

async fn introspect(f: &Fixture, token: &str) -> Value {
    introspect_by(f, ("web", "web-secret"), token).await
}

/// Introspects as another client (by default a client may introspect only its own tokens).
async fn introspect_by(f: &Fixture, client: (&str, &str), token: &str) -> Value {
    let r = f.server.introspect(&post_form(&[("token", token)], Some(client))).await;
    assert_eq!(r.status(), 200);
    json_body(&r)
}

fn assert_error(r: &http::Response<Vec<u8>>, status: u16, code: &str) {
    assert_eq!(r.status(), status, "body: {}", String::from_utf8_lossy(r.body()));
    assert_eq!(json_body(r)["error"], code);
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn code_with_pkce_then_refresh_with_rotation() {
    let f = fixture().await;
    let code = code_for(&f, "web", "https://web.example/cb", "read write").await;
    let r = exchange(&f, &code, "https://web.example/cb").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let body = json_body(&r);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write");
    let access = body["access_token"].as_str().unwrap();
    let refresh1 = body["refresh_token"].as_str().unwrap().to_owned();
    let info = introspect(&f, access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["client_id"], "web");
    assert_eq!(info["scope"], "read write");

    // Refresh narrows; the refresh token rotates.
    let r = f
        .server
        .token(&post_form(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh1), ("scope", "read")],
            Some(("web", "web-secret")),
        ))
        .await;
    assert_eq!(r.status(), 200);
    let body = json_body(&r);
    assert_eq!(body["scope"], "read");
    let refresh2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2);
    // Widening is refused.
    let r = f
        .server
        .token(&post_form(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh2), ("scope", "read admin")],
            Some(("web", "web-secret")),
        ))
        .await;
    assert_error(&r, 400, "invalid_scope");
    // The new refresh token still carries the grant's full scope.
    let r = refresh(&f, &refresh2).await;
    assert_eq!(json_body(&r)["scope"], "read write");
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_family() {
    let f = fixture().await;
    let code = code_for(&f, "web", "https://web.example/cb", "read").await;
    let body = json_body(&exchange(&f, &code, "https://web.example/cb").await);
    let refresh1 = body["refresh_token"].as_str().unwrap().to_owned();
    let body2 = json_body(&refresh(&f, &refresh1).await);
    let access2 = body2["access_token"].as_str().unwrap().to_owned();
    let refresh2 = body2["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&f, &access2).await["active"], true);

    // The rotated-out token comes back: refused, and the whole family is revoked.
    assert_error(&refresh(&f, &refresh1).await, 400, "invalid_grant");
    assert_eq!(introspect(&f, &access2).await, json!({ "active": false }));
    assert_error(&refresh(&f, &refresh2).await, 400, "invalid_grant");
    // The original access token too.
    assert_eq!(introspect(&f, body["access_token"].as_str().unwrap()).await, json!({ "active": false }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_refreshes_exactly_one_succeeds() {
    for _ in 0..20 {
        let f = Arc::new(fixture().await);
        let code = code_for(&f, "web", "https://web.example/cb", "read").await;
        let body = json_body(&exchange(&f, &code, "https://web.example/cb").await);
        let token = body["refresh_token"].as_str().unwrap().to_owned();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (f, token) = (f.clone(), token.clone());
                tokio::spawn(async move { refresh(&f, &token).await.status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses.sort();
        assert_eq!(statuses, [200, 400]);
    }
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_the_tokens_issued_from_it() {
    let f = fixture().await;
    let code = code_for(&f, "web", "https://web.example/cb", "read").await;
    let body = json_body(&exchange(&f, &code, "https://web.example/cb").await);
    let access = body["access_token"].as_str().unwrap();
    let refresh_token = body["refresh_token"].as_str().unwrap();
    assert_error(&exchange(&f, &code, "https://web.example/cb").await, 400, "invalid_grant");
    assert_eq!(introspect(&f, access).await, json!({ "active": false }));
    assert_error(&refresh(&f, refresh_token).await, 400, "invalid_grant");
}

#[tokio::test]
async fn a_code_is_bound_to_client_redirect_uri_verifier_and_lifetime() {
    let f = fixture().await;
    // Another redirect URI.
    let code = code_for(&f, "web", "https://web.example/cb", "read").await;
    assert_error(&exchange(&f, &code, "https://web.example/other").await, 400, "invalid_grant");
    // Another verifier.
    let code = code_for(&f, "web", "https://web.example/cb", "read").await;
    let req = post_form(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://web.example/cb"),
            ("code_verifier", "xBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ],
        Some(("web", "web-secret")),
    );
    assert_error(&f.server.token(&req).await, 400, "invalid_grant");
    // No verifier.
    let code = code_for(&f, "web", "https://web.example/cb", "read").await;
    let req = post_form(
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "https://web.example/cb")],
        Some(("web", "web-secret")),
    );
    assert_error(&f.server.token(&req).await, 400, "invalid_grant");
    // Another client.
    let code = code_for(&f, "web", "https://web.example/cb", "read").await;
    let req = post_form(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://web.example/cb"),
            ("code_verifier", VERIFIER),
            ("client_id", "app"),
        ],
        None,
    );
    assert_error(&f.server.token(&req).await, 400, "invalid_grant");
    // Expired (60 s).
    let code = code_for(&f, "web", "https://web.example/cb", "read").await;
    f.clock.advance(60);
    assert_error(&exchange(&f, &code, "https://web.example/cb").await, 400, "invalid_grant");
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirect_uris_are_never_redirected() {
    let f = fixture().await;
    let cases = [
        auth_query("nobody", "https://web.example/cb", "read", &[]),
        auth_query("web", "https://evil.example/cb", "read", &[]),
        auth_query("web", "https://web.example/cb/", "read", &[]),
        auth_query("web", "https://web.example/cb?x=1", "read", &[]),
        // Two registered URIs: the request must name one.
        encode_form([("response_type", "code"), ("client_id", "web")]),
        // A repeated redirect_uri.
        format!(
            "{}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb",
            auth_query("web", "https://web.example/cb", "read", &[])
        ),
        // Even with another error present.
        auth_query("web", "https://evil.example/cb", "read", &[("response_type", "token")]),
    ];
    for q in cases {
        let err = f.server.authorization_request(&get(&q)).await.unwrap_err();
        assert!(!err.is_redirected(), "{q}");
        let r = f.server.authorize_error_response(&err);
        assert_eq!(r.status(), 400, "{q}");
        assert!(r.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn loopback_redirect_uris_match_on_any_port() {
    let f = fixture().await;
    let q = auth_query("app", "http://127.0.0.1:51004/cb", "read", &[]);
    let request = f.server.authorization_request(&get(&q)).await.unwrap();
    assert_eq!(request.target.redirect_uri, "http://127.0.0.1:51004/cb");
    let q = auth_query("app", "http://127.0.0.1:51004/other", "read", &[]);
    assert!(!f.server.authorization_request(&get(&q)).await.unwrap_err().is_redirected());
    let q = auth_query("app", "http://localhost:51004/cb", "read", &[]);
    assert!(!f.server.authorization_request(&get(&q)).await.unwrap_err().is_redirected());
}

/// The error redirected to the client for `query`, with `state` and `iss` checked.
async fn redirected_error(f: &Fixture, query: &str) -> String {
    let err = f.server.authorization_request(&get(query)).await.unwrap_err();
    assert!(err.is_redirected(), "{query}: {err}");
    let r = f.server.authorize_error_response(&err);
    assert_eq!(r.status(), 302);
    let (base, params) = location_params(&r);
    assert_eq!(base, "https://web.example/cb");
    assert_eq!(param(&params, "iss"), Some(ISSUER));
    param(&params, "error").unwrap().to_owned()
}

#[tokio::test]
async fn later_errors_are_redirected_with_state_and_iss() {
    let f = fixture().await;
    let cb = "https://web.example/cb";
    let base = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("client_id", "web"), ("redirect_uri", cb), ("state", "s1")];
        pairs.extend_from_slice(extra);
        encode_form(pairs)
    };
    let c = challenge(VERIFIER);
    let pkce = [("code_challenge", c.as_str()), ("code_challenge_method", "S256")];
    let with = |more: &[(&str, &str)]| {
        let mut v: Vec<(&str, &str)> = pkce.to_vec();
        v.extend_from_slice(more);
        base(&v)
    };
    assert_eq!(redirected_error(&f, &with(&[("response_type", "token")])).await, "unsupported_response_type");
    assert_eq!(
        redirected_error(&f, &with(&[("response_type", "code id_token")])).await,
        "unsupported_response_type"
    );
    assert_eq!(redirected_error(&f, &with(&[])).await, "invalid_request");
    assert_eq!(redirected_error(&f, &base(&[("response_type", "code")])).await, "invalid_request"); // no PKCE
    assert_eq!(
        redirected_error(
            &f,
            &base(&[
                ("response_type", "code"),
                ("code_challenge", c.as_str()),
                ("code_challenge_method", "plain")
            ])
        )
        .await,
        "invalid_request"
    );
    assert_eq!(
        redirected_error(&f, &base(&[("response_type", "code"), ("code_challenge", c.as_str())])).await,
        "invalid_request"
    );
    assert_eq!(
        redirected_error(&f, &with(&[("response_type", "code"), ("scope", "read delete")])).await,
        "invalid_scope"
    );
    assert_eq!(
        redirected_error(&f, &with(&[("response_type", "code"), ("resource", "https://other.example/")]))
            .await,
        "invalid_target"
    );
    assert_eq!(
        redirected_error(&f, &with(&[("response_type", "code"), ("scope", "read"), ("scope", "write")]))
            .await,
        "invalid_request"
    );
    assert_eq!(
        redirected_error(&f, &with(&[("response_type", "code"), ("prompt", "none login")])).await,
        "invalid_request"
    );
    // The state comes back byte for byte.
    let err = f.server.authorization_request(&get(&with(&[("response_type", "token")]))).await.unwrap_err();
    assert_eq!(err.redirect.unwrap().state.as_deref(), Some("s1"));
}

#[tokio::test]
async fn a_confidential_client_may_opt_out_of_pkce_but_a_public_one_may_not() {
    let f = fixture().await;
    let mut legacy = web_client();
    legacy.client_id = "legacy".into();
    legacy.pkce_required = false;
    f.store.create_registered_client(&legacy).await.unwrap();
    let q = encode_form([
        ("response_type", "code"),
        ("client_id", "legacy"),
        ("redirect_uri", "https://web.example/cb"),
    ]);
    let request = f.server.authorization_request(&get(&q)).await.unwrap();
    assert_eq!(request.code_challenge, None);
    let r = f.server.grant(&request, Grant::new("alice", Vec::<String>::new())).await.unwrap();
    let (_, params) = location_params(&r);
    let code = param(&params, "code").unwrap();
    let ok = post_form(
        &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", "https://web.example/cb")],
        Some(("legacy", "web-secret")),
    );
    assert_eq!(f.server.token(&ok).await.status(), 200);

    let q = encode_form([
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
    ]);
    let err = f.server.authorization_request(&get(&q)).await.unwrap_err();
    assert!(err.is_redirected());
    assert_eq!(err.error.code(), "invalid_request");
}

#[tokio::test]
async fn form_post_escapes_its_values() {
    let f = fixture().await;
    let q = auth_query("web", "https://web.example/cb", "read", &[("response_mode", "form_post")])
        .replace("state=xyz%20%26state", "state=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    let request = f.server.authorization_request(&get(&q)).await.unwrap();
    let r = f.server.grant(&request, Grant::new("alice", ["read"])).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = String::from_utf8(r.body().clone()).unwrap();
    assert!(page.contains("action=\"https://web.example/cb\""));
    assert!(page.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
    assert!(!page.contains("<script>"));
    assert!(page.contains("name=\"iss\" value=\"https://as.example\""));
}

#[tokio::test]
async fn prompt_none_and_stored_consent() {
    let f = fixture().await;
    let q = auth_query("web", "https://web.example/cb", "read", &[("prompt", "none")]);
    let request = f.server.authorization_request(&get(&q)).await.unwrap();
    assert!(request.prompt_none());
    assert!(f.server.consent_needed(&request, "alice").await.unwrap());
    let (_, params) = location_params(&f.server.authorize_error(&request, ProviderError::ConsentRequired));
    assert_eq!(param(&params, "error"), Some("consent_required"));
    let (_, params) = location_params(&f.server.authorize_error(&request, ProviderError::LoginRequired));
    assert_eq!(param(&params, "error"), Some("login_required"));
    assert_eq!(param(&params, "state"), Some("xyz &state"));

    // Consent to read and write, remembered: a repeat request for read needs no page.
    let q = auth_query("web", "https://web.example/cb", "read write", &[]);
    let request = f.server.authorization_request(&get(&q)).await.unwrap();
    f.server.grant(&request, Grant::new("alice", ["read", "write"])).await.unwrap();
    let q = auth_query("web", "https://web.example/cb", "read", &[]);
    let again = f.server.authorization_request(&get(&q)).await.unwrap();
    assert!(!f.server.consent_needed(&again, "alice").await.unwrap());
    assert!(f.server.consent_needed(&again, "bob").await.unwrap());
    let wider = f
        .server
        .authorization_request(&get(&auth_query("web", "https://web.example/cb", "admin", &[])))
        .await
        .unwrap();
    assert!(f.server.consent_needed(&wider, "alice").await.unwrap());
    let forced = f
        .server
        .authorization_request(&get(&auth_query(
            "web",
            "https://web.example/cb",
            "read",
            &[("prompt", "consent")],
        )))
        .await
        .unwrap();
    assert!(f.server.consent_needed(&forced, "alice").await.unwrap());

    // Granting beyond what was asked is refused.
    let err = f.server.grant(&again, Grant::new("alice", ["admin"])).await.unwrap_err();
    assert_eq!(err.error.code(), "invalid_scope");
    assert!(err.is_redirected());

    // Revoking the grant revokes its tokens.
    let code = code_for(&f, "web", "https://web.example/cb", "read").await;
    let body = json_body(&exchange(&f, &code, "https://web.example/cb").await);
    let grants = f.server.list_grants("alice").await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].scopes, ["read", "write"]);
    assert!(f.server.revoke_grant("alice", "web").await.unwrap());
    assert!(f.server.list_grants("alice").await.unwrap().is_empty());
    assert_eq!(introspect(&f, body["access_token"].as_str().unwrap()).await, json!({ "active": false }));
    assert_error(&refresh(&f, body["refresh_token"].as_str().unwrap()).await, 400, "invalid_grant");
    assert!(f.server.consent_needed(&again, "alice").await.unwrap());
}

#[tokio::test]
async fn a_deny_is_access_denied_at_the_client() {
    let f = fixture().await;
    let request = f
        .server
        .authorization_request(&get(&auth_query("web", "https://web.example/cb", "read", &[])))
        .await
        .unwrap();
    let (_, params) = location_params(&f.server.deny(&request));
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some("xyz &state"));
    assert_eq!(param(&params, "iss"), Some(ISSUER));
}

#[tokio::test]
async fn client_authentication_failures() {
    let f = fixture().await;
    let cc = [("grant_type", "client_credentials")];
    // Wrong secret with Basic: 401 and a Basic challenge.
    let r = f.server.token(&post_form(&cc, Some(("web", "nope")))).await;
    assert_error(&r, 401, "invalid_client");
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    // Unknown client with Basic.
    assert_error(&f.server.token(&post_form(&cc, Some(("who", "nope")))).await, 401, "invalid_client");
    // The registered method is Basic: the secret in the body is refused, without a challenge.
    let r = f
        .server
        .token(&post_form(
            &[("grant_type", "client_credentials"), ("client_id", "web"), ("client_secret", "web-secret")],
            None,
        ))
        .await;
    assert_error(&r, 401, "invalid_client");
    assert!(r.headers().get("www-authenticate").is_none());
    // Two methods at once.
    let r = f
        .server
        .token(&post_form(
            &[("grant_type", "client_credentials"), ("client_secret", "web-secret")],
            Some(("web", "web-secret")),
        ))
        .await;
    assert_error(&r, 400, "invalid_request");
    // No authentication from a confidential client.
    assert_error(
        &f.server
            .token(&post_form(&[("grant_type", "client_credentials"), ("client_id", "web")], None))
            .await,
        401,
        "invalid_client",
    );
    // A public client may not use client_credentials.
    let mut public = app_client();
    public.client_id = "app2".into();
    public.grant_types.push(GrantType::ClientCredentials);
    f.store.create_registered_client(&public).await.unwrap();
    assert_error(
        &f.server
            .token(&post_form(&[("grant_type", "client_credentials"), ("client_id", "app2")], None))
            .await,
        400,
        "unauthorized_client",
    );
    // A grant the client may not use.
    assert_error(
        &f.server
            .token(&post_form(&[("grant_type", "client_credentials"), ("client_id", "app")], None))
            .await,
        400,
        "unauthorized_client",
    );
    // Unknown grant type.
    assert_error(
        &f.server.token(&post_form(&[("grant_type", "password")], Some(("web", "web-secret")))).await,
        400,
        "unsupported_grant_type",
    );
}

#[tokio::test]
async fn rotated_secrets_expire_and_post_works_when_registered() {
    let f = fixture().await;
    let mut c = web_client().with_auth_method(ClientAuthMethod::ClientSecretPost);
    c.client_id = "rot".into();
    let (generated, stored) = f.server.generate_client_secret();
    assert!(generated.secret().len() >= 43);
    c.secrets = vec![ClientSecret::plain("old").expiring_at(T0 + 10), stored];
    f.store.create_registered_client(&c).await.unwrap();
    let with = |secret: &str| {
        post_form(
            &[("grant_type", "client_credentials"), ("client_id", "rot"), ("client_secret", secret)],
            None,
        )
    };
    assert_eq!(f.server.token(&with("old")).await.status(), 200);
    assert_eq!(f.server.token(&with(generated.secret())).await.status(), 200);
    f.clock.advance(10);
    assert_error(&f.server.token(&with("old")).await, 401, "invalid_client");
    let r = f.server.token(&with(generated.secret())).await;
    assert_eq!(r.status(), 200);
    let body = json_body(&r);
    assert_eq!(body["scope"], "read write admin");
    assert!(body.get("refresh_token").is_none());
}

fn assertion_claims(client: &str, aud: &str, jti: &str, now: i64) -> Value {
    json!({ "iss": client, "sub": client, "aud": aud, "jti": jti, "iat": now, "exp": now + 60 })
}

#[tokio::test]
async fn private_key_jwt_and_a_replayed_jti() {
    let f = fixture().await;
    let signer = TestSigner::load("oidc_op_a.pem", "k1");
    let mut c = web_client().with_auth_method(ClientAuthMethod::PrivateKeyJwt);
    c.client_id = "pkj".into();
    c.secrets.clear();
    c.jwks = Some(jwks(&[&signer]));
    f.store.create_registered_client(&c).await.unwrap();
    let now = T0 + 5;
    let with = |assertion: String, id: bool| {
        let mut pairs = vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion".to_owned(), assertion),
        ];
        if id {
            pairs.push(("client_id".into(), "pkj".into()));
        }
        post_raw(encode_form(pairs).into_bytes(), None)
    };
    // The memory store's replay epoch starts at its first call: an assertion issued in
    // that second cannot be judged (a restarted cache could not either), and is refused.
    let warm = signer.sign(&assertion_claims("pkj", ISSUER, "warm", T0));
    assert_error(&f.server.token(&with(warm, true)).await, 401, "invalid_client");
    f.clock.advance(5);

    let ok = signer.sign(&assertion_claims("pkj", ISSUER, "j1", now));
    assert_eq!(f.server.token(&with(ok.clone(), true)).await.status(), 200);
    assert_error(&f.server.token(&with(ok, true)).await, 401, "invalid_client");
    // aud = the token endpoint; no client_id in the body.
    let ok = signer.sign(&assertion_claims("pkj", "https://as.example/token", "j2", now));
    assert_eq!(f.server.token(&with(ok, false)).await.status(), 200);
    // Wrong audience, missing exp, expired, too long-lived, another key, HMAC with the public key.
    let bad_aud = signer.sign(&assertion_claims("pkj", "https://other.example", "j3", now));
    assert_error(&f.server.token(&with(bad_aud, true)).await, 401, "invalid_client");
    let no_exp = signer.sign(&json!({ "iss": "pkj", "sub": "pkj", "aud": ISSUER, "jti": "j4", "iat": now }));
    assert_error(&f.server.token(&with(no_exp, true)).await, 401, "invalid_client");
    let expired = signer.sign(&json!({ "iss": "pkj", "sub": "pkj", "aud": ISSUER, "jti": "j5", "iat": now - 200, "exp": now - 100 }));
    assert_error(&f.server.token(&with(expired, true)).await, 401, "invalid_client");
    let long = signer.sign(
        &json!({ "iss": "pkj", "sub": "pkj", "aud": ISSUER, "jti": "j6", "iat": now, "exp": now + 3600 }),
    );
    assert_error(&f.server.token(&with(long, true)).await, 401, "invalid_client");
    let other = TestSigner::load("oidc_op_b.pem", "k1");
    assert_error(
        &f.server.token(&with(other.sign(&assertion_claims("pkj", ISSUER, "j7", now)), true)).await,
        401,
        "invalid_client",
    );
    let confused = hs256(&signer.public_bytes(), Some("k1"), &assertion_claims("pkj", ISSUER, "j8", now));
    assert_error(&f.server.token(&with(confused, true)).await, 401, "invalid_client");
    let no_jti =
        signer.sign(&json!({ "iss": "pkj", "sub": "pkj", "aud": ISSUER, "iat": now, "exp": now + 60 }));
    assert_error(&f.server.token(&with(no_jti, true)).await, 401, "invalid_client");
}

#[tokio::test]
async fn client_secret_jwt_needs_a_plain_secret() {
    let f = fixture().await;
    let mut c = web_client().with_auth_method(ClientAuthMethod::ClientSecretJwt);
    c.client_id = "csj".into();
    c.secrets = vec![ClientSecret::plain("a-long-shared-secret-for-hmac-256-bits!!")];
    f.store.create_registered_client(&c).await.unwrap();
    let now = T0 + 5;
    let req = |jwt: String| {
        post_form(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "csj"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", &jwt),
            ],
            None,
        )
    };
    let _ = f
        .server
        .token(&req(hs256(
            b"a-long-shared-secret-for-hmac-256-bits!!",
            None,
            &assertion_claims("csj", ISSUER, "w", T0),
        )))
        .await;
    f.clock.advance(5);
    let good =
        hs256(b"a-long-shared-secret-for-hmac-256-bits!!", None, &assertion_claims("csj", ISSUER, "a", now));
    assert_eq!(f.server.token(&req(good.clone())).await.status(), 200);
    assert_error(&f.server.token(&req(good)).await, 401, "invalid_client");
    let wrong =
        hs256(b"another-secret-another-secret-another!!!", None, &assertion_claims("csj", ISSUER, "b", now));
    assert_error(&f.server.token(&req(wrong)).await, 401, "invalid_client");
    // A hashed secret cannot check a MAC.
    let mut h = c.clone();
    h.client_id = "csj2".into();
    h.secrets = vec![ClientSecret::hashed(&keyward::common::secret::SecretString::new(
        "a-long-shared-secret-for-hmac-256-bits!!",
    ))];
    f.store.create_registered_client(&h).await.unwrap();
    let jwt =
        hs256(b"a-long-shared-secret-for-hmac-256-bits!!", None, &assertion_claims("csj2", ISSUER, "c", now));
    let r = f
        .server
        .token(&post_form(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "csj2"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", &jwt),
            ],
            None,
        ))
        .await;
    assert_error(&r, 401, "invalid_client");
}

#[tokio::test]
async fn malformed_token_requests_are_400_invalid_request() {
    let f = fixture().await;
    let basic = Some(("web", "web-secret"));
    let cases: Vec<http::Request<Vec<u8>>> = vec![
        post_raw(b"grant_type=client_credentials&grant_type=client_credentials".to_vec(), basic),
        post_raw(b"grant_type=client_credentials&scope=%zz".to_vec(), basic),
        post_raw(b"grant_type=client_credentials&scope=%ff".to_vec(), basic),
        post_raw(b"grant_type=client_credentials&scope=\xff".to_vec(), basic),
        post_raw(format!("grant_type=client_credentials&scope={}", "a".repeat(70_000)).into_bytes(), basic),
        http::Request::post("https://as.example/token")
            .header("content-type", "application/json")
            .header("authorization", format!("Basic {}", STANDARD.encode("web:web-secret")))
            .body(br#"{"grant_type":"client_credentials"}"#.to_vec())
            .unwrap(),
        post_raw(b"scope=read".to_vec(), basic),
    ];
    for req in cases {
        let r = f.server.token(&req).await;
        assert_error(&r, 400, "invalid_request");
    }
    let get = http::Request::get("https://as.example/token?grant_type=client_credentials")
        .body(Vec::new())
        .unwrap();
    let r = f.server.token(&get).await;
    assert_eq!(r.status(), 405);
    assert_eq!(json_body(&r)["error"], "invalid_request");
}

#[tokio::test]
async fn revocation() {
    let f = fixture().await;
    let code = code_for(&f, "web", "https://web.example/cb", "read").await;
    let body = json_body(&exchange(&f, &code, "https://web.example/cb").await);
    let access = body["access_token"].as_str().unwrap();
    let refresh_token = body["refresh_token"].as_str().unwrap();
    // Unknown token: 200.
    let r = f.server.revoke(&post_form(&[("token", "nothing")], Some(("web", "web-secret")))).await;
    assert_eq!(r.status(), 200);
    // Another client cannot revoke it (answered 200 all the same).
    let r = f.server.revoke(&post_form(&[("token", access), ("client_id", "app")], None)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(&f, access).await["active"], true);
    // Unauthenticated: 401.
    assert_error(
        &f.server.revoke(&post_form(&[("token", access)], Some(("web", "bad")))).await,
        401,
        "invalid_client",
    );
    // A refresh token takes its access tokens with it.
    let r = f
        .server
        .revoke(&post_form(
            &[("token", refresh_token), ("token_type_hint", "refresh_token")],
            Some(("web", "web-secret")),
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(&f, access).await, json!({ "active": false }));
    assert_error(&refresh(&f, refresh_token).await, 400, "invalid_grant");
}

#[tokio::test]
async fn introspection_requires_a_confidential_client_and_hides_inactive_tokens() {
    let f = fixture().await;
    let r = f
        .server
        .token(&post_form(
            &[("grant_type", "client_credentials"), ("scope", "read")],
            Some(("web", "web-secret")),
        ))
        .await;
    let token = json_body(&r)["access_token"].as_str().unwrap().to_owned();
    let info = introspect(&f, &token).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["exp"], T0 + 3600);
    assert!(info.get("sub").is_none());
    let r = f.server.introspect(&post_form(&[("token", &token)], None)).await;
    assert_error(&r, 401, "invalid_client");
    // A public client presents no credentials: like a request without authentication.
    let r = f.server.introspect(&post_form(&[("token", &token), ("client_id", "app")], None)).await;
    assert_error(&r, 401, "invalid_client");
    f.clock.advance(3600);
    assert_eq!(introspect(&f, &token).await, json!({ "active": false }));
}

#[tokio::test]
async fn a_client_introspects_its_own_tokens_and_only_the_audiences_it_is_allowed() {
    use keyward::oauth2::provider::IntrospectionAccess;
    let f = fixture().await;
    let rs = |id: &str, access: IntrospectionAccess| {
        RegisteredClient::confidential(id, "rs-secret")
            .with_grant_types([GrantType::ClientCredentials])
            .with_introspection(access)
    };
    for c in [
        rs("plain", IntrospectionAccess::OwnTokens),
        rs("api", IntrospectionAccess::Audiences(vec!["https://api.example/".into()])),
        rs("default-aud", IntrospectionAccess::Audiences(vec![ISSUER.into()])),
        rs("trusted", IntrospectionAccess::AllTokens),
    ] {
        f.store.create_registered_client(&c).await.unwrap();
    }
    let f = &f;
    let as_client = |who: &'static str| async move {
        let pairs = [("grant_type", "client_credentials")];
        let r = f.server.token(&post_form(&pairs, Some((who, "rs-secret")))).await;
        json_body(&r)["access_token"].as_str().unwrap().to_owned()
    };
    let introspect_as = |who: &'static str, secret: &'static str, token: String| async move {
        let r = f.server.introspect(&post_form(&[("token", &token)], Some((who, secret)))).await;
        assert_eq!(r.status(), 200);
        json_body(&r)["active"] == true
    };
    // `web`'s tokens: one for the API's resource, one with the default audience (the issuer),
    // and a refresh token.
    let api_token = json_body(
        &f.server
            .token(&post_form(
                &[("grant_type", "client_credentials"), ("resource", "https://api.example/")],
                Some(("web", "web-secret")),
            ))
            .await,
    )["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let plain_token = json_body(
        &f.server
            .token(&post_form(&[("grant_type", "client_credentials")], Some(("web", "web-secret"))))
            .await,
    )["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(f, "web", "https://web.example/cb", "read").await;
    let issued = json_body(&exchange(f, &code, "https://web.example/cb").await);
    let refresh_token = issued["refresh_token"].as_str().unwrap().to_owned();

    // Its own tokens: any confidential client.
    assert!(introspect_as("web", "web-secret", api_token.clone()).await);
    assert!(introspect_as("web", "web-secret", refresh_token.clone()).await);
    let own = as_client("plain").await;
    assert!(introspect_as("plain", "rs-secret", own).await);
    // Another client's token, by default: inactive, as if unknown (RFC 7662 §2.2).
    let r = f.server.introspect(&post_form(&[("token", &api_token)], Some(("plain", "rs-secret")))).await;
    assert_eq!(json_body(&r), json!({ "active": false }));
    // By audience: the API sees tokens for its resource, not others, nor refresh tokens.
    assert!(introspect_as("api", "rs-secret", api_token.clone()).await);
    assert!(!introspect_as("api", "rs-secret", plain_token.clone()).await);
    assert!(!introspect_as("api", "rs-secret", refresh_token.clone()).await);
    // The server's own identifier stands for the default audience.
    assert!(introspect_as("default-aud", "rs-secret", plain_token.clone()).await);
    assert!(!introspect_as("default-aud", "rs-secret", api_token.clone()).await);
    // All tokens.
    for t in [api_token, plain_token, refresh_token] {
        assert!(introspect_as("trusted", "rs-secret", t).await);
    }
}

#[tokio::test]
async fn metadata_follows_the_configuration() {
    let f = fixture_with(ServerConfig::new(ISSUER).with_scopes_supported(["read", "write"])).await;
    let m = serde_json::to_value(f.server.metadata()).unwrap();
    assert_eq!(m["issuer"], ISSUER);
    assert_eq!(m["token_endpoint"], "https://as.example/token");
    assert_eq!(m["authorization_endpoint"], "https://as.example/authorize");
    assert_eq!(m["response_types_supported"], json!(["code"]));
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(m["scopes_supported"], json!(["read", "write"]));
    assert!(
        m["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("private_key_jwt"))
    );
    assert_eq!(f.server.metadata_response().status(), 200);
}

#[tokio::test]
async fn the_bearer_protector() {
    let f = fixture().await;
    let r = f
        .server
        .token(&post_form(
            &[("grant_type", "client_credentials"), ("scope", "read"), ("resource", "https://api.example/")],
            Some(("web", "web-secret")),
        ))
        .await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    let token = json_body(&r)["access_token"].as_str().unwrap().to_owned();
    let protector = f.server.resource_protector();
    let with_header = |v: &str| {
        http::Request::get("https://api.example/me").header("authorization", v).body(Vec::new()).unwrap()
    };
    let grant = protector.validate(&with_header(&format!("Bearer {token}")), &["read"]).await.unwrap();
    assert_eq!(grant.client_id, "web");
    assert_eq!(grant.audience, ["https://api.example/"]);
    assert!(
        protector
            .clone()
            .with_audience("https://api.example/")
            .validate(&with_header(&format!("Bearer {token}")), &[])
            .await
            .is_ok()
    );
    let e = protector
        .clone()
        .with_audience("https://other.example/")
        .validate(&with_header(&format!("Bearer {token}")), &[])
        .await
        .unwrap_err();
    assert_eq!(e.status(), 401);

    let e = protector.validate(&with_header(&format!("Bearer {token}")), &["write"]).await.unwrap_err();
    let r = e.to_response(None);
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["www-authenticate"], "Bearer error=\"insufficient_scope\", scope=\"write\"");

    let e = protector.validate(&with_header("Bearer not-a-token"), &[]).await.unwrap_err();
    let r = e.to_response(Some("api"));
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"api\", error=\"invalid_token\"");

    let none = http::Request::get("https://api.example/me").body(Vec::new()).unwrap();
    let r = protector.validate(&none, &[]).await.unwrap_err().to_response(None);
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");

    // The query is not looked at unless enabled.
    let q =
        http::Request::get(format!("https://api.example/me?access_token={token}")).body(Vec::new()).unwrap();
    assert_eq!(protector.validate(&q, &[]).await.unwrap_err().status(), 401);
    let f2 = fixture_with(
        ServerConfig::new(ISSUER).with_bearer_placement(BearerPlacement { form_body: true, query: true }),
    )
    .await;
    let r = f2
        .server
        .token(&post_form(&[("grant_type", "client_credentials")], Some(("web", "web-secret"))))
        .await;
    let token2 = json_body(&r)["access_token"].as_str().unwrap().to_owned();
    let q =
        http::Request::get(format!("https://api.example/me?access_token={token2}")).body(Vec::new()).unwrap();
    assert!(f2.server.resource_protector().validate(&q, &[]).await.is_ok());
    // Revoked: refused.
    f.server.revoke(&post_form(&[("token", &token)], Some(("web", "web-secret")))).await;
    assert_eq!(
        protector.validate(&with_header(&format!("Bearer {token}")), &[]).await.unwrap_err().status(),
        401
    );
    // Expired: refused.
    f2.clock.advance(3600);
    assert_eq!(f2.server.resource_protector().validate(&q, &[]).await.unwrap_err().status(), 401);
}

#[tokio::test]
async fn a_public_client_uses_pkce_and_its_refresh_tokens_rotate() {
    let f = fixture_with(
        ServerConfig::new(ISSUER)
            .with_refresh_rotation(keyward::oauth2::provider::RefreshRotation::PublicClientsOnly),
    )
    .await;
    let q = auth_query("app", "http://127.0.0.1:8123/cb", "read", &[]);
    let request = f.server.authorization_request(&get(&q)).await.unwrap();
    let r = f.server.grant(&request, Grant::new("alice", ["read"])).await.unwrap();
    let (base, params) = location_params(&r);
    assert_eq!(base, "http://127.0.0.1:8123/cb");
    let code = param(&params, "code").unwrap();
    let token = |pairs: &[(&str, &str)]| {
        let mut all = vec![("client_id", "app")];
        all.extend_from_slice(pairs);
        post_form(&all, None)
    };
    let r = f
        .server
        .token(&token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:8123/cb"),
            ("code_verifier", VERIFIER),
        ]))
        .await;
    assert_eq!(r.status(), 200);
    let refresh1 = json_body(&r)["refresh_token"].as_str().unwrap().to_owned();
    let r = f.server.token(&token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh1)])).await;
    assert_eq!(r.status(), 200);
    let refresh2 = json_body(&r)["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2);
    // Another client cannot use it.
    let r = f
        .server
        .token(&post_form(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh2)],
            Some(("web", "web-secret")),
        ))
        .await;
    assert_error(&r, 400, "invalid_grant");

    // A confidential client keeps its refresh token under this policy.
    let code = code_for(&f, "web", "https://web.example/cb", "read").await;
    let body = json_body(&exchange(&f, &code, "https://web.example/cb").await);
    let kept = body["refresh_token"].as_str().unwrap();
    for _ in 0..2 {
        let r = refresh(&f, kept).await;
        assert_eq!(r.status(), 200);
        assert!(json_body(&r).get("refresh_token").is_none());
    }
}

#[tokio::test]
async fn resource_indicators_select_and_narrow_the_audience() {
    let f = fixture().await;
    let mut c = web_client().with_resources(["https://api.example/", "https://files.example/"]);
    c.client_id = "res".into();
    f.store.create_registered_client(&c).await.unwrap();
    let q = auth_query(
        "res",
        "https://web.example/cb",
        "read",
        &[("resource", "https://api.example/"), ("resource", "https://files.example/")],
    );
    let request = f.server.authorization_request(&get(&q)).await.unwrap();
    assert_eq!(request.resources, ["https://api.example/", "https://files.example/"]);
    let r = f.server.grant(&request, Grant::new("alice", ["read"])).await.unwrap();
    let (_, params) = location_params(&r);
    let code = param(&params, "code").unwrap().to_owned();
    let exchange_for = |resource: &'static str| {
        post_form(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://web.example/cb"),
                ("code_verifier", VERIFIER),
                ("resource", resource),
            ],
            Some(("res", "web-secret")),
        )
    };
    // A resource outside the grant is refused; the code is spent all the same.
    assert_error(&f.server.token(&exchange_for("https://other.example/")).await, 400, "invalid_target");

    let q = auth_query(
        "res",
        "https://web.example/cb",
        "read",
        &[("resource", "https://api.example/"), ("resource", "https://files.example/")],
    );
    let request = f.server.authorization_request(&get(&q)).await.unwrap();
    let r = f.server.grant(&request, Grant::new("alice", ["read"])).await.unwrap();
    let (_, params) = location_params(&r);
    let code = param(&params, "code").unwrap().to_owned();
    let req = post_form(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://web.example/cb"),
            ("code_verifier", VERIFIER),
            ("resource", "https://files.example/"),
        ],
        Some(("res", "web-secret")),
    );
    let body = json_body(&f.server.token(&req).await);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        introspect_by(&f, ("res", "web-secret"), access).await["aud"],
        json!(["https://files.example/"])
    );
    // The refresh token may be exchanged for the other resource of the grant.
    let r = f
        .server
        .token(&post_form(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
                ("resource", "https://api.example/"),
            ],
            Some(("res", "web-secret")),
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        introspect_by(&f, ("res", "web-secret"), json_body(&r)["access_token"].as_str().unwrap()).await["aud"],
        json!(["https://api.example/"])
    );
    // A relative or fragment resource is invalid_target at the authorization endpoint.
    for bad in ["/relative", "https://api.example/#frag"] {
        let q = auth_query("res", "https://web.example/cb", "read", &[("resource", bad)]);
        assert_eq!(
            f.server.authorization_request(&get(&q)).await.unwrap_err().error.code(),
            "invalid_target"
        );
    }
}

#[tokio::test]
async fn the_authorization_endpoint_takes_a_posted_form_and_refuses_bad_ones_unredirected() {
    let f = fixture().await;
    let body = auth_query("web", "https://web.example/cb", "read", &[]);
    let post = |body: Vec<u8>, ct: &str| {
        http::Request::post("https://as.example/authorize").header("content-type", ct).body(body).unwrap()
    };
    let request = f
        .server
        .authorization_request(&post(body.clone().into_bytes(), "application/x-www-form-urlencoded"))
        .await
        .unwrap();
    assert_eq!(request.client_id, "web");
    for (bytes, ct) in [
        (body.clone().into_bytes(), "application/json"),
        (b"client_id=web&redirect_uri=%zz".to_vec(), "application/x-www-form-urlencoded"),
        (b"client_id=w\xffeb".to_vec(), "application/x-www-form-urlencoded"),
        (vec![b'a'; 70_000], "application/x-www-form-urlencoded"),
        (b"client_id=web&client_id=app".to_vec(), "application/x-www-form-urlencoded"),
    ] {
        let err = f.server.authorization_request(&post(bytes, ct)).await.unwrap_err();
        assert!(!err.is_redirected());
        assert_eq!(err.error.code(), "invalid_request");
        assert_eq!(f.server.authorize_error_response(&err).status(), 400);
    }
}

/// A stand-in for the server's key set: HS256 under a fixed key, `typ: at+jwt`.
struct TestJwt;

impl keyward::oauth2::provider::JwtAccessTokens for TestJwt {
    fn sign(&self, c: &keyward::oauth2::provider::AccessTokenClaims) -> Result<String, ProviderError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        let claims = json!({
            "iss": c.issuer, "sub": c.subject, "client_id": c.client_id, "scope": c.scopes.join(" "),
            "aud": c.audience, "jti": c.jti, "iat": c.issued_at, "exp": c.expires_at,
        });
        Ok(jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(b"k")).unwrap())
    }

    fn verify(&self, token: &str, now: i64) -> Option<keyward::oauth2::provider::AccessTokenClaims> {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.validate_aud = false;
        v.validate_exp = false;
        let c = jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(b"k"), &v)
            .ok()?
            .claims;
        if c["exp"].as_i64()? <= now {
            return None;
        }
        Some(keyward::oauth2::provider::AccessTokenClaims {
            issuer: c["iss"].as_str()?.into(),
            subject: c["sub"].as_str().map(Into::into),
            client_id: c["client_id"].as_str()?.into(),
            scopes: c["scope"].as_str()?.split(' ').map(Into::into).collect(),
            audience: serde_json::from_value(c["aud"].clone()).ok()?,
            jti: c["jti"].as_str()?.into(),
            issued_at: c["iat"].as_i64()?,
            expires_at: c["exp"].as_i64()?,
            auth_time: None,
            jkt: None,
        })
    }
}

#[tokio::test]
async fn jwt_access_tokens_go_through_the_signer_seam() {
    let store = Arc::new(MemoryStore::new());
    let mut c = web_client();
    c.access_token_format = Some(keyward::oauth2::provider::AccessTokenFormat::Jwt);
    store.create_registered_client(&c).await.unwrap();
    let clock = FixedClock::new(T0);
    let cc =
        post_form(&[("grant_type", "client_credentials"), ("scope", "read")], Some(("web", "web-secret")));

    // Without a signer: a server error, never a token of another format.
    let bare =
        AuthorizationServer::builder(store.clone(), ServerConfig::new(ISSUER)).clock(clock.clone()).build();
    assert_error(&bare.token(&cc).await, 500, "server_error");

    let server = AuthorizationServer::builder(store, ServerConfig::new(ISSUER))
        .clock(clock.clone())
        .jwt_access_tokens(Arc::new(TestJwt))
        .build();
    let r = server.token(&cc).await;
    assert_eq!(r.status(), 200);
    let token = json_body(&r)["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.matches('.').count(), 2);
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    let req = http::Request::get("https://api.example/")
        .header("authorization", format!("Bearer {token}"))
        .body(Vec::new())
        .unwrap();
    let grant = server.resource_protector().validate(&req, &["read"]).await.unwrap();
    assert_eq!(grant.client_id, "web");
    assert_eq!(grant.subject.as_deref(), Some("web"));
    assert_eq!(grant.audience, [ISSUER]);
    // Tampered: refused.
    let tampered = format!("{}x", token);
    let req = http::Request::get("https://api.example/")
        .header("authorization", format!("Bearer {tampered}"))
        .body(Vec::new())
        .unwrap();
    assert_eq!(server.resource_protector().validate(&req, &[]).await.unwrap_err().status(), 401);
    clock.advance(3600);
    let req = http::Request::get("https://api.example/")
        .header("authorization", format!("Bearer {token}"))
        .body(Vec::new())
        .unwrap();
    assert_eq!(server.resource_protector().validate(&req, &[]).await.unwrap_err().status(), 401);
}

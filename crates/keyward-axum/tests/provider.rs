//! The OAuth 1.0a provider served by axum: every error code with its status through the
//! glue (tower `oneshot`), the flow end to end, and Python's `requests-oauthlib` and
//! `authlib` clients completing the three-legged flow against a real server on 127.0.0.1.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{Method, Request, StatusCode, header};
use keyward::common::clock::{Clock, FixedClock, SystemClock};
use keyward::common::encoding::parse_form;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::{AuthorizationServer, Consent};
use keyward::oauth1::rfc5849::store::Client;
use keyward::oauth1::rfc5849::{
    ClientCredentials, HmacSha1, SignatureMethods, SignatureType, Signer, SigningParams, TokenCredentials,
};
use keyward_axum::provider::{
    OAuth1Protected, OAuth1Provider, OAuth1Request, ProviderRejection, RequestOptions,
    temporary_credential_endpoint, token_endpoint,
};
use keyward_stores::{MemoryStore, StoreAdmin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tower::ServiceExt;

const NOW: i64 = 1_700_000_000;
const HOST: &str = "127.0.0.1:8080";
const RSA_PUBLIC: &str = include_str!("../../../tests/peers/keys/rsa_public.pem");

static NONCE: AtomicU64 = AtomicU64::new(0);

/// The test server's authorization page: grants for alice at once, or denies with `deny=1`.
async fn authorize(State(p): State<OAuth1Provider>, OAuth1Request(req): OAuth1Request) -> Response {
    if let Err(e) = p.server().check_authorization_request(&req).await {
        return ProviderRejection(e).into_response();
    }
    let consent = if req.uri().query().unwrap_or("").contains("deny=1") {
        Consent::Deny
    } else {
        Consent::Grant { user_id: "alice" }
    };
    match p.server().create_authorization_response(&req, consent).await {
        Ok(resp) => keyward_axum::provider::into_response(resp),
        Err(e) => ProviderRejection(e).into_response(),
    }
}

async fn me(auth: OAuth1Protected) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "user": auth.user_id(),
        "client": auth.client.client_id,
        "body": String::from_utf8_lossy(auth.request.body()),
    }))
}

async fn store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let mut client = Client::new("client1", SecretString::new("secret1"));
    client.rsa_public_key = Some(RSA_PUBLIC.to_owned());
    store.put_client(&client).await.unwrap();
    let mut py = Client::new("py-client", SecretString::new("py-secret"));
    py.rsa_public_key = Some(RSA_PUBLIC.to_owned());
    store.put_client(&py).await.unwrap();
    // Up since before the tests' requests (its replay epoch).
    store.purge_expired(NOW - 3600).await.unwrap();
    store
}

fn app(store: Arc<MemoryStore>, clock: impl Clock, methods: &[&str]) -> Router {
    let server = AuthorizationServer::builder(store)
        .clock(clock)
        .signature_methods(SignatureMethods::default().allow_only(methods))
        .build();
    Router::new()
        .route("/oauth/request_token", any(temporary_credential_endpoint))
        .route("/oauth/access_token", any(token_endpoint))
        .route("/oauth/authorize", get(authorize))
        .route("/api/me", any(me))
        .route("/bare", get(|| async { "ok" }))
        .with_state(OAuth1Provider::with_options(server, RequestOptions::default().body_limit(4096)))
}

async fn test_app() -> Router {
    app(store().await, FixedClock::new(NOW), &["HMAC-SHA1"])
}

fn signer() -> Signer {
    Signer::new(ClientCredentials::new("client1", "secret1"))
        .method(HmacSha1)
        .signature_type(SignatureType::Header)
}

/// Signs a request to `http://127.0.0.1:8080{path}`, then sends it as a server receives it:
/// an origin-form URI and a `Host` header.
fn signed(
    s: &Signer,
    method: Method,
    path: &str,
    body: Option<&str>,
    params: SigningParams<'_>,
) -> Request<axum::body::Body> {
    let mut b = Request::builder().method(method).uri(format!("http://{HOST}{path}"));
    if body.is_some() {
        b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let req = b.body(body.unwrap_or_default().as_bytes().to_vec()).unwrap();
    let nonce = format!("n{}", NONCE.fetch_add(1, Ordering::Relaxed));
    let req = s.sign_at(req, &params, &NOW.to_string(), &nonce).unwrap();
    to_server(req)
}

fn to_server(req: Request<Vec<u8>>) -> Request<axum::body::Body> {
    let (mut parts, body) = req.into_parts();
    let host = parts.uri.authority().map(|a| a.to_string()).unwrap_or_else(|| HOST.to_owned());
    parts.headers.insert(header::HOST, host.parse().unwrap());
    parts.uri = parts.uri.path_and_query().unwrap().as_str().parse().unwrap();
    Request::from_parts(parts, axum::body::Body::from(body))
}

async fn send(app: &Router, req: Request<axum::body::Body>) -> (StatusCode, http::HeaderMap, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn field(body: &str, name: &str) -> Option<String> {
    parse_form(body).ok()?.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[track_caller]
fn assert_error((status, headers, body): &(StatusCode, http::HeaderMap, String), code: &str, want: u16) {
    assert_eq!(status.as_u16(), want, "{body}");
    assert_eq!(field(body, "error").as_deref(), Some(code), "{body}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-www-form-urlencoded");
}

fn temp(s: &Signer, callback: &str) -> Request<axum::body::Body> {
    signed(
        s,
        Method::POST,
        "/oauth/request_token",
        None,
        SigningParams { callback: Some(callback), ..Default::default() },
    )
}

/// Runs the flow through the router; returns the token credentials.
async fn flow(app: &Router, s: &Signer) -> TokenCredentials {
    let (status, headers, body) = send(app, temp(s, "https://c.example/cb")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(field(&body, "oauth_callback_confirmed").as_deref(), Some("true"));
    let t = TokenCredentials::new(
        field(&body, "oauth_token").unwrap(),
        field(&body, "oauth_token_secret").unwrap(),
    );
    let auth = Request::get(format!("/oauth/authorize?oauth_token={}", t.token))
        .header(header::HOST, HOST)
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, headers, _) = send(app, auth).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = headers[header::LOCATION].to_str().unwrap();
    let query = parse_form(location.split_once('?').unwrap().1).unwrap();
    let verifier = query.iter().find(|(k, _)| k == "oauth_verifier").unwrap().1.clone();
    let params = SigningParams { token: Some(&t), verifier: Some(&verifier), ..Default::default() };
    let (status, _, body) = send(app, signed(s, Method::POST, "/oauth/access_token", None, params)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    TokenCredentials::new(field(&body, "oauth_token").unwrap(), field(&body, "oauth_token_secret").unwrap())
}

#[tokio::test]
async fn flow_through_axum_hands_the_handler_client_and_user() {
    let app = test_app().await;
    let s = signer();
    let token = flow(&app, &s).await;
    let params = SigningParams { token: Some(&token), ..Default::default() };
    let req = signed(&s, Method::POST, "/api/me?x=1", Some("a=b+c"), params);
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let (status, _, body) =
        send(&app, Request::from_parts(parts.clone(), axum::body::Body::from(bytes.clone()))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me, serde_json::json!({"user": "alice", "client": "client1", "body": "a=b+c"}));
    // The same request again: a replay.
    let replay = send(&app, Request::from_parts(parts, axum::body::Body::from(bytes))).await;
    assert_error(&replay, "invalid_nonce", 401);
    assert_eq!(replay.1[header::WWW_AUTHENTICATE], "OAuth");
}

#[tokio::test]
async fn every_error_code_through_axum() {
    let app = test_app().await;
    let s = signer();
    let cb = "https://c.example/cb";

    // 400 invalid_request: malformed header, stale timestamp, oversized and non-UTF-8 bodies,
    // no Host header.
    let mut bad = temp(&s, cb);
    bad.headers_mut().insert(header::AUTHORIZATION, "OAuth oauth_consumer_key=\"x".parse().unwrap());
    assert_error(&send(&app, bad).await, "invalid_request", 400);
    let mut bad = temp(&s, cb);
    bad.headers_mut()
        .insert(header::AUTHORIZATION, http::HeaderValue::from_bytes(b"OAuth oauth_nonce=\"\xff\"").unwrap());
    assert_error(&send(&app, bad).await, "invalid_request", 400);
    let stale = s
        .sign_at(
            Request::post(format!("http://{HOST}/oauth/request_token")).body(Vec::new()).unwrap(),
            &SigningParams { callback: Some(cb), ..Default::default() },
            &(NOW + 301).to_string(),
            "stale",
        )
        .unwrap();
    assert_error(&send(&app, to_server(stale)).await, "invalid_request", 400);
    let big = format!("oauth_consumer_key=client1&pad={}", "x".repeat(5000));
    let req = Request::post("/oauth/request_token")
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(big))
        .unwrap();
    assert_error(&send(&app, req).await, "invalid_request", 400);
    let req = Request::post("/oauth/request_token")
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(vec![b'o', b'a', b'=', 0xff, 0xfe]))
        .unwrap();
    assert_error(&send(&app, req).await, "invalid_request", 400);
    let mut no_host = temp(&s, cb);
    no_host.headers_mut().remove(header::HOST);
    assert_error(&send(&app, no_host).await, "invalid_request", 400);

    // 400 missing_required_parameter.
    let no_cb = signed(&s, Method::POST, "/oauth/request_token", None, SigningParams::default());
    assert_error(&send(&app, no_cb).await, "missing_required_parameter", 400);

    // 400 unsupported_signature_method (only HMAC-SHA1 is allowed here).
    let plain =
        Signer::new(ClientCredentials::new("client1", "secret1")).method(keyward::oauth1::rfc5849::Plaintext);
    assert_error(&send(&app, temp(&plain, cb)).await, "unsupported_signature_method", 400);

    // 400 duplicated_oauth_protocol_parameter.
    let mut dup = temp(&s, cb);
    *dup.uri_mut() = "/oauth/request_token?oauth_nonce=twice".parse().unwrap();
    assert_error(&send(&app, dup).await, "duplicated_oauth_protocol_parameter", 400);

    // 400 insecure_transport: plain http to a public host.
    let mut public = temp(&s, cb);
    public.headers_mut().insert(header::HOST, "api.example.com".parse().unwrap());
    assert_error(&send(&app, public).await, "insecure_transport", 400);
    // A loopback Host header from a remote peer (known through ConnectInfo) is not loopback.
    let mut spoofed = temp(&s, cb);
    spoofed
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([203, 0, 113, 9], 40000))));
    assert_error(&send(&app, spoofed).await, "insecure_transport", 400);
    let mut local = temp(&s, cb);
    local
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))));
    assert_eq!(send(&app, local).await.0, StatusCode::OK);

    // 400 access_denied: the user denies an out-of-band request (nowhere to redirect).
    let (_, _, body) = send(&app, temp(&s, "oob")).await;
    let token = field(&body, "oauth_token").unwrap();
    let deny = Request::get(format!("/oauth/authorize?oauth_token={token}&deny=1"))
        .header(header::HOST, HOST)
        .body(axum::body::Body::empty())
        .unwrap();
    assert_error(&send(&app, deny).await, "access_denied", 400);

    // 401 invalid_client, invalid_signature, invalid_token, invalid_nonce.
    let stranger = Signer::new(ClientCredentials::new("nobody", "secret1"));
    assert_error(&send(&app, temp(&stranger, cb)).await, "invalid_client", 401);
    let forger = Signer::new(ClientCredentials::new("client1", "guess"));
    assert_error(&send(&app, temp(&forger, cb)).await, "invalid_signature", 401);
    let fake = TokenCredentials::new("no-such-token", "x");
    let req =
        signed(&s, Method::GET, "/api/me", None, SigningParams { token: Some(&fake), ..Default::default() });
    assert_error(&send(&app, req).await, "invalid_token", 401);
    let once = s
        .sign_at(
            Request::post(format!("http://{HOST}/oauth/request_token")).body(Vec::new()).unwrap(),
            &SigningParams { callback: Some(cb), ..Default::default() },
            &NOW.to_string(),
            "once",
        )
        .unwrap();
    assert_eq!(send(&app, to_server(once.clone())).await.0, StatusCode::OK);
    assert_error(&send(&app, to_server(once)).await, "invalid_nonce", 401);

    // 405 method_not_allowed.
    let get = signed(
        &s,
        Method::GET,
        "/oauth/request_token",
        None,
        SigningParams { callback: Some(cb), ..Default::default() },
    );
    let resp = send(&app, get).await;
    assert_error(&resp, "method_not_allowed", 405);
    assert_eq!(resp.1[header::ALLOW], "POST");
    let get = signed(&s, Method::GET, "/oauth/access_token", None, SigningParams::default());
    assert_error(&send(&app, get).await, "method_not_allowed", 405);
}

#[tokio::test]
async fn https_and_forwarded_proto_options() {
    let store = store().await;
    let server = AuthorizationServer::builder(store).clock(FixedClock::new(NOW)).build();
    let s = signer();
    let cb = "https://c.example/cb";
    let sign_https = |nonce: &str| {
        let req = Request::post("https://api.example.com/oauth/request_token").body(Vec::new()).unwrap();
        let req = s
            .sign_at(
                req,
                &SigningParams { callback: Some(cb), ..Default::default() },
                &NOW.to_string(),
                nonce,
            )
            .unwrap();
        to_server(req)
    };
    let https = Router::new()
        .route("/oauth/request_token", any(temporary_credential_endpoint))
        .with_state(OAuth1Provider::with_options(server.clone(), RequestOptions::default().https(true)));
    assert_eq!(send(&https, sign_https("a")).await.0, StatusCode::OK);
    // Behind a proxy: the scheme comes from X-Forwarded-Proto only when trusted.
    let proxied = Router::new().route("/oauth/request_token", any(temporary_credential_endpoint)).with_state(
        OAuth1Provider::with_options(server.clone(), RequestOptions::default().trust_forwarded_proto(true)),
    );
    let mut req = sign_https("b");
    req.headers_mut().insert("x-forwarded-proto", "https".parse().unwrap());
    assert_eq!(send(&proxied, req).await.0, StatusCode::OK);
    let untrusting = Router::new()
        .route("/oauth/request_token", any(temporary_credential_endpoint))
        .with_state(OAuth1Provider::new(server));
    let mut req = sign_https("c");
    req.headers_mut().insert("x-forwarded-proto", "https".parse().unwrap());
    assert_error(&send(&untrusting, req).await, "insecure_transport", 400);
}

/// Serves the provider on 127.0.0.1 with the system clock; returns its base URL.
async fn serve(methods: &[&str]) -> String {
    let app = app(store().await, SystemClock, methods);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // With the peer address known, plain http is accepted because the peer is loopback.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_complete_the_flow() {
    let python = keyward_testkit::require_or_skip!(
        keyward_testkit::python(),
        "the Python peers venv (requests-oauthlib, authlib)",
        "run .ci/run or pip install -r tests/peers/python/requirements.txt into .peers/venv"
    );
    let base = serve(&["HMAC-SHA1", "RSA-SHA1", "PLAINTEXT"]).await;
    let root = keyward_testkit::workspace_root();
    let script = root.join("tests/peers/python/oauth1_client.py");
    let rsa_key = root.join("tests/peers/keys/rsa_private.pem");
    let mut runs = Vec::new();
    for lib in ["requests-oauthlib", "authlib"] {
        for method in ["HMAC-SHA1", "RSA-SHA1", "PLAINTEXT"] {
            for placement in ["header", "query", "body"] {
                let out = tokio::process::Command::new(&python)
                    .arg(&script)
                    .args(["--lib", lib, "--method", method, "--placement", placement, "--base", &base])
                    .args(["--client-key", "py-client", "--client-secret", "py-secret"])
                    .arg("--rsa-key")
                    .arg(&rsa_key)
                    .output()
                    .await
                    .unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout);
                let stderr = String::from_utf8_lossy(&out.stderr);
                if !out.status.success() {
                    runs.push(format!("{lib} {method} {placement}: {stderr}"));
                    continue;
                }
                let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
                assert_eq!(report["me"]["user"], "alice");
                assert_eq!(report["me"]["client"], "py-client");
            }
        }
    }
    assert!(runs.is_empty(), "failed runs:\n{}", runs.join("\n"));
}

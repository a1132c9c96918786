//! RP-Initiated Logout through an axum router (tower `oneshot`): an ID token from a real
//! code flow as the hint, the application's logout handler on the `EndSession` extractor
//! (confirmation when the hint is missing or names someone else, the redirect with `state`,
//! errors shown and never redirected), and the back-channel logout tokens it hands to a
//! `BackchannelNotifier`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::clock::FixedClock;
use keyward::common::encoding::{encode_form, parse_form};
use keyward::jose::rotation::SharedKeySet;
use keyward::jose::{KeySet, SigningAlg};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{AuthorizationServer, Grant, OAuth2Provider, RegisteredClient, ServerConfig};
use keyward::oidc::provider::{NoClaims, OpenIdConfig, OpenIdProvider};
use keyward::{HttpClient, HttpError};
use keyward_axum::end_session::{EndSession, end_session_response};
use keyward_client::oauth2::{BackchannelNotifier, NotifierConfig};
use keyward_stores::MemoryStore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const NOW: i64 = 1_800_000_000;
const ISS: &str = "http://op.example";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[derive(Clone)]
struct AppState {
    provider: OAuth2Provider,
    notifier: BackchannelNotifier,
}

impl FromRef<AppState> for OAuth2Provider {
    fn from_ref(state: &AppState) -> Self {
        state.provider.clone()
    }
}

/// The application's logout handler; its signed-in user comes in `x-user` (a stand-in for
/// its session), with the session id `sid-1`.
async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    EndSession(request): EndSession,
) -> Response {
    let user = headers.get("x-user").and_then(|v| v.to_str().ok());
    let server = app.provider.server();
    if server.logout_confirmation_needed(&request, user).await.unwrap() {
        return (StatusCode::OK, "confirm").into_response();
    }
    if let Some(user) = user {
        let deliveries = server.backchannel_logout(user, Some("sid-1")).await.unwrap();
        app.notifier.notify_all(deliveries);
    }
    end_session_response(server, &request).await
}

struct Setup {
    app: Router,
    server: AuthorizationServer,
    sent: Arc<Mutex<Vec<http::Request<Vec<u8>>>>>,
}

async fn setup() -> Setup {
    let store = Arc::new(MemoryStore::new());
    let mut web = RegisteredClient::confidential("web", "s3cret")
        .with_redirect_uris(["https://web.example/cb"])
        .with_scopes(["openid"]);
    web.post_logout_redirect_uris = vec!["https://web.example/bye".into()];
    web.backchannel_logout_uri = Some("https://web.example/backchannel".into());
    web.id_token_signed_response_alg = Some("EdDSA".into());
    store.create_registered_client(&web).await.unwrap();
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::EdDSA).unwrap()));
    let config =
        OpenIdConfig::new(ISS).with_end_session_endpoint(format!("{ISS}/logout")).with_backchannel_logout();
    let server = AuthorizationServer::builder(store, ServerConfig::new(ISS))
        .clock(FixedClock::new(NOW))
        .openid(OpenIdProvider::new(config, keys, Arc::new(NoClaims)))
        .build();

    let sent: Arc<Mutex<Vec<http::Request<Vec<u8>>>>> = Arc::default();
    let seen = sent.clone();
    let http: Arc<dyn HttpClient> = Arc::new(move |req: http::Request<Vec<u8>>| {
        seen.lock().unwrap().push(req);
        async move { Ok::<_, HttpError>(http::Response::builder().status(200).body(Vec::new()).unwrap()) }
    });
    let config = NotifierConfig { clock: Arc::new(FixedClock::new(NOW)), ..NotifierConfig::default() };
    let notifier = BackchannelNotifier::start(http, config);
    let state = AppState { provider: OAuth2Provider::new(server.clone()), notifier };
    let app = Router::new().route("/logout", any(logout)).with_state(state);
    Setup { app, server, sent }
}

/// An ID token for alice from a code flow (with the session id `sid-1`).
async fn id_token(server: &AuthorizationServer) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let query = encode_form([
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", "https://web.example/cb"),
        ("scope", "openid"),
        ("nonce", "n-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let request = http::Request::get(format!("{ISS}/authorize?{query}")).body(Vec::new()).unwrap();
    let request = server.authorization_request(&request).await.unwrap();
    let grant = Grant::new("alice", ["openid"]).auth_time(NOW).sid("sid-1");
    let response = server.grant(&request, grant).await.unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    let q: Vec<(String, String)> = parse_form(location.split_once('?').unwrap().1).unwrap();
    let code = &q.iter().find(|(k, _)| k == "code").unwrap().1;
    let body = encode_form([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://web.example/cb"),
        ("code_verifier", VERIFIER),
    ]);
    let token = http::Request::post(format!("{ISS}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {}", STANDARD.encode("web:s3cret")))
        .body(body.into_bytes())
        .unwrap();
    let response = server.token(&token).await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(response.body()));
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    body["id_token"].as_str().expect("an ID token").to_owned()
}

async fn get(app: &Router, query: &[(&str, &str)], user: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut req =
        Request::get(format!("/logout?{}", encode_form(query.iter().copied()))).header("host", "op.example");
    if let Some(user) = user {
        req = req.header("x-user", user);
    }
    let response = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 1 << 16).await.unwrap();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn logout_with_a_hint_redirects_with_state_and_tells_the_backchannel_client() {
    let s = setup().await;
    let hint = id_token(&s.server).await;
    let query = [
        ("id_token_hint", hint.as_str()),
        ("post_logout_redirect_uri", "https://web.example/bye"),
        ("state", "st-1"),
    ];
    let (status, headers, _) = get(&s.app, &query, Some("alice")).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(headers["location"], "https://web.example/bye?state=st-1");
    assert_eq!(headers["cache-control"], "no-store");

    // The notifier delivers in the background.
    for _ in 0..200 {
        if !s.sent.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = s.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].uri(), "https://web.example/backchannel");
    let form = parse_form(std::str::from_utf8(sent[0].body()).unwrap()).unwrap();
    let token = &form.iter().find(|(k, _)| k == "logout_token").unwrap().1;
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(
        (claims["sub"].as_str(), claims["sid"].as_str(), claims["aud"].as_str()),
        (Some("alice"), Some("sid-1"), Some("web"))
    );
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!((header["typ"].as_str(), header["alg"].as_str()), (Some("logout+jwt"), Some("EdDSA")));
}

#[tokio::test]
async fn logout_asks_first_without_a_hint_or_for_another_user() {
    let s = setup().await;
    let (status, _, body) = get(&s.app, &[("client_id", "web")], Some("alice")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "confirm"));
    let hint = id_token(&s.server).await;
    let (status, _, body) = get(&s.app, &[("id_token_hint", &hint)], Some("bob")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "confirm"));
    // Nobody signed in: nothing to confirm; no redirect asked, so the signed-out page.
    let (status, headers, body) = get(&s.app, &[("id_token_hint", &hint)], None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("location").is_none());
    assert!(body.contains("signed out"), "{body}");
    assert!(s.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn refused_requests_are_pages_not_redirects() {
    let s = setup().await;
    let hint = id_token(&s.server).await;
    for query in [
        vec![("id_token_hint", hint.as_str()), ("post_logout_redirect_uri", "https://evil.example/")],
        vec![("id_token_hint", "forged.token.here"), ("post_logout_redirect_uri", "https://web.example/bye")],
        vec![("id_token_hint", hint.as_str()), ("client_id", "other")],
        vec![("post_logout_redirect_uri", "https://web.example/bye")],
    ] {
        let (status, headers, _) = get(&s.app, &query, Some("alice")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}");
        assert!(headers.get("location").is_none(), "{query:?}");
    }
    let req = Request::delete("/logout").header("host", "op.example").body(Body::empty()).unwrap();
    assert_eq!(s.app.clone().oneshot(req).await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
    // A POST form works like a GET.
    let body = encode_form([("client_id", "web"), ("post_logout_redirect_uri", "https://web.example/bye")]);
    let req = Request::post("/logout")
        .header("host", "op.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let response = s.app.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND, "nobody signed in: straight to the registered URI");
    assert_eq!(response.headers()["location"], "https://web.example/bye");
}

//! The OAuth 2.1 authorization server served by axum on 127.0.0.1. The cases are the
//! testkit's (`keyward_testkit::oauth2_glue`), run by the actix tests as well: the Rust
//! `oauth2` crate runs every grant over HTTP, and every negative rule holds through the glue
//! with its status, error code and headers. Below them, what only the axum glue has: the
//! optional bearer extractor, an application's own error page and an application state.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use keyward::oauth2::provider::store::OAuth2Store;
use keyward::oauth2::provider::{AuthorizationServer, BearerPlacement, Grant, OAuth2Provider, ServerConfig};
use keyward::oauth2::rfc8414::OAUTH_WELL_KNOWN;
use keyward_axum::oauth2_provider::{
    AuthorizeRejection, OAuth2Authorize, OAuth2Bearer, OAuth2BearerForm, deny_response, grant_response,
    introspection_endpoint, metadata_endpoint, revocation_endpoint, token_endpoint,
};
use keyward_stores::MemoryStore;
use keyward_testkit::oauth2_glue::{self, Site, header, location, param, seed_clients};
use reqwest::StatusCode;
use serde_json::{Value, json};

keyward_axum::required_scopes!(Write = "write");

/// The test application's authorization handler: signs "alice" in and grants what was asked
/// for at once; `deny=1` in the request denies.
async fn authorize(State(p): State<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> Response {
    if req.extra.iter().any(|(k, v)| k == "deny" && v == "1") {
        return deny_response(p.server(), &req);
    }
    let scopes = req.scopes.clone();
    grant_response(p.server(), &req, Grant::new("alice", scopes)).await
}

async fn me(auth: OAuth2Bearer) -> axum::Json<Value> {
    axum::Json(json!({ "sub": auth.subject, "client_id": auth.client_id, "scope": auth.scopes }))
}

async fn write(auth: OAuth2Bearer<Write>) -> String {
    format!("written for {}", auth.client_id)
}

/// A resource that may take its token in the form body.
async fn form(auth: OAuth2BearerForm<Write>) -> String {
    format!("{} sent {} bytes", auth.client_id, auth.request.body().len())
}

/// A resource that also serves callers without a bearer token.
async fn maybe(auth: Option<OAuth2Bearer>) -> String {
    match auth {
        Some(auth) => format!("token of {}", auth.client_id),
        None => "no token".to_owned(),
    }
}

/// An authorization handler that renders its own page for the errors not redirected.
async fn own_page(auth: Result<OAuth2Authorize, AuthorizeRejection>) -> Response {
    match auth {
        Ok(OAuth2Authorize(req)) => format!("consent page for {}", req.client_id).into_response(),
        Err(e) if !e.error.is_redirected() => {
            (StatusCode::BAD_REQUEST, format!("our own page: {}", e.error.error.code())).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Serves the testkit's site (and this file's extra routes) with `placement`; its base URL.
async fn start(placement: BearerPlacement) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    seed_clients(store.as_ref()).await;
    let provider = oauth2_glue::provider(store as Arc<dyn OAuth2Store>, &base, placement);
    let app = Router::new()
        .route("/authorize", any(authorize))
        .route("/token", any(token_endpoint))
        .route("/revoke", any(revocation_endpoint))
        .route("/introspect", any(introspection_endpoint))
        .route(OAUTH_WELL_KNOWN, get(metadata_endpoint))
        .route("/api/me", get(me))
        .route("/api/write", get(write))
        .route("/api/form", post(form))
        .route("/own-page", get(own_page))
        .route("/api/maybe", get(maybe))
        .with_state(provider);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn every_shared_oauth2_case_holds_through_axum() {
    oauth2_glue::run(start).await;
}

#[tokio::test]
async fn an_optional_bearer_is_none_without_a_token_and_still_rejects_a_bad_one() {
    let s = Site::new(start(BearerPlacement::default()).await);
    let r = s.http.get(s.url("/api/maybe")).header("authorization", "OAuth oauth_token=\"x\"").send().await;
    assert_eq!(r.unwrap().text().await.unwrap(), "no token");
    let token = s.client_token("read").await;
    assert_eq!(s.bearer("/api/maybe", &token).await.text().await.unwrap(), "token of web");
    let r = s.bearer("/api/maybe", "unknown").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_token\"");
}

#[tokio::test]
async fn the_application_may_render_its_own_error_page() {
    let s = Site::new(start(BearerPlacement::default()).await);
    let r = s.http.get(s.url("/own-page?client_id=nobody")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.text().await.unwrap(), "our own page: invalid_request");
    // A redirected error keeps the server's response.
    let r = s.http.get(s.url("/own-page?client_id=web&response_type=code")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(param(&location(&r).1, "error"), Some("invalid_request"));
}

/// The handlers and extractors work with an application's own state that holds the
/// provider (`FromRef`).
#[tokio::test]
async fn the_glue_works_under_an_application_state() {
    use axum::extract::FromRef;
    use tower::ServiceExt as _;

    #[derive(Clone)]
    struct AppState {
        oauth2: OAuth2Provider,
        name: &'static str,
    }
    impl FromRef<AppState> for OAuth2Provider {
        fn from_ref(state: &AppState) -> Self {
            state.oauth2.clone()
        }
    }
    async fn hello(State(app): State<AppState>, auth: Option<OAuth2Bearer<Write>>) -> String {
        format!("{} says hello to {:?}", app.name, auth.map(|a| a.client_id.clone()))
    }

    let store = Arc::new(MemoryStore::new());
    let server = AuthorizationServer::builder(store, ServerConfig::new("https://as.example")).build();
    let state = AppState { oauth2: OAuth2Provider::new(server), name: "app" };
    let app = Router::new()
        .route("/authorize", any(authorize))
        .route("/token", any(token_endpoint))
        .route(OAUTH_WELL_KNOWN, get(metadata_endpoint))
        .route("/hello", get(hello))
        .with_state(state);
    let request =
        |uri: &str| http::Request::get(uri).header("host", "as.example").body(axum::body::Body::empty());
    let r = app.clone().oneshot(request(OAUTH_WELL_KNOWN).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.clone().oneshot(request("/hello").unwrap()).await.unwrap();
    let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"app says hello to None");
    let r = app.oneshot(request("/authorize?client_id=nobody").unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

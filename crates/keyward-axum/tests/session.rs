//! The session glue keeps flow state across requests through a real tower-sessions layer.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use http::{Request, StatusCode, header};
use keyward_axum::{KeywardSession, session_layer};
use keyward_client::registry::state::{FlowData, SessionStateStore, StateStore};
use tower::ServiceExt;
use tower_sessions::MemoryStore;

fn app() -> Router {
    Router::new()
        .route(
            "/start/{state}",
            get(|session: KeywardSession, Path(state): Path<String>| async move {
                SessionStateStore
                    .save(&session, "demo", &state, FlowData::default(), 100, 600)
                    .await
                    .unwrap();
                "started"
            }),
        )
        .route(
            "/callback/{state}",
            get(|session: KeywardSession, Path(state): Path<String>| async move {
                match SessionStateStore.take(&session, "demo", &state, 110, 600).await {
                    Ok(_) => (StatusCode::OK, "ok".to_string()),
                    Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
                }
            }),
        )
        .layer(session_layer(MemoryStore::default(), false))
}

async fn call(app: &Router, uri: &str, cookie: Option<&str>) -> (StatusCode, Option<String>, String) {
    let mut req = Request::get(uri);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let res = app.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    let cookie = res.headers().get(header::SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
    (status, cookie, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn state_survives_the_round_trip_with_a_lax_cookie() {
    let app = app();
    let (_, set_cookie, _) = call(&app, "/start/abc", None).await;
    let set_cookie = set_cookie.expect("a session cookie");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap();

    let (status, _, body) = call(&app, "/callback/abc", Some(cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(&app, "/callback/abc", Some(cookie)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("already completed"), "{body}");
    // Without the cookie: the error names the cookie problem.
    let (status, _, body) = call(&app, "/callback/abc", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("session cookie was not sent"), "{body}");
}

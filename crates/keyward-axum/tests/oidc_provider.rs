//! The OpenID Provider's endpoints through the axum glue: UserInfo (GET, POST, errors),
//! the discovery document and the JWK set, over the testkit's fixture
//! (`keyward_testkit::oidc_glue`: the server and alice's access token).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::{any, get};
use http_body_util::BodyExt as _;
use keyward::jose::SigningAlg;
use keyward::oauth2::provider::{AuthorizationServer, OAuth2Provider};
use keyward_axum::oidc_provider::{OIDC_WELL_KNOWN, jwks, openid_configuration, userinfo};
use keyward_stores::MemoryStore;
use keyward_testkit::oidc_glue::{self, ISSUER};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The fixture's server (keys signing EdDSA only) and alice's access token.
async fn server() -> (AuthorizationServer, String) {
    oidc_glue::server(Arc::new(MemoryStore::new()), SigningAlg::EdDSA).await
}

async fn call(app: &Router, req: http::Request<Body>) -> (http::StatusCode, http::HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
}

#[tokio::test]
async fn userinfo_discovery_and_jwks_through_axum() {
    let (server, token) = server().await;
    let app = Router::new()
        .route("/userinfo", any(userinfo))
        .route(OIDC_WELL_KNOWN, get(openid_configuration))
        .route("/jwks", get(jwks))
        .with_state(OAuth2Provider::new(server));
    let expected = json!({"sub": "alice", "email": "alice@example.com"});

    let get_req = http::Request::get("/userinfo")
        .header("host", "op.example")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(&app, get_req).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);

    let post_req = http::Request::post("/userinfo")
        .header("host", "op.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("access_token={token}")))
        .unwrap();
    let (status, _, body) = call(&app, post_req).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);

    let bad = http::Request::get("/userinfo")
        .header("host", "op.example")
        .header("authorization", "Bearer nope")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(&app, bad).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer error=\"invalid_token\"");
    let delete = http::Request::delete("/userinfo").header("host", "op.example").body(Body::empty()).unwrap();
    assert_eq!(call(&app, delete).await.0, 405);

    let discovery = http::Request::get(OIDC_WELL_KNOWN).body(Body::empty()).unwrap();
    let (status, _, body) = call(&app, discovery).await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["jwks_uri"], "http://op.example/jwks");
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["EdDSA", "HS256"]));

    let (status, headers, body) = call(&app, http::Request::get("/jwks").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "public, max-age=3600");
    let set: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(set["keys"].as_array().unwrap().len(), 2);
    assert!(set["keys"].as_array().unwrap().iter().all(|k| k.get("d").is_none() && k["alg"] == "EdDSA"));
}

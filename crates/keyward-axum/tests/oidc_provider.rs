//! The OpenID Provider's endpoints through the axum glue: UserInfo (GET, POST, errors),
//! the discovery document and the JWK set.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::{any, get};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::BodyExt as _;
use keyward::common::encoding::{encode_form, parse_form};
use keyward::jose::rotation::SharedKeySet;
use keyward::jose::{KeySet, SigningAlg};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{AuthorizationServer, Grant, OAuth2Provider, RegisteredClient, ServerConfig};
use keyward::oidc::provider::{ClaimsRequest, OpenIdConfig, OpenIdProvider};
use keyward_axum::oidc_provider::{OIDC_WELL_KNOWN, jwks, openid_configuration, userinfo};
use keyward_stores::MemoryStore;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt as _;

const ISSUER: &str = "http://op.example";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn email(request: &ClaimsRequest<'_>) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("email".into(), json!(format!("{}@example.com", request.subject)));
    claims
}

/// The server, and an access token with `openid email` for alice.
async fn server() -> (AuthorizationServer, String) {
    let store = Arc::new(MemoryStore::new());
    let mut client = RegisteredClient::confidential("rp", "rp-secret")
        .with_redirect_uris(["https://rp.example/cb"])
        .with_scopes(["openid", "email"]);
    // The key set signs EdDSA only: the client registers it (RS256 is the default).
    client.id_token_signed_response_alg = Some("EdDSA".into());
    store.create_registered_client(&client).await.unwrap();
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::EdDSA).unwrap()));
    let openid = OpenIdProvider::new(OpenIdConfig::new(ISSUER), keys, Arc::new(email));
    let server = AuthorizationServer::builder(store, ServerConfig::new(ISSUER)).openid(openid).build();

    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER));
    let query = encode_form([
        ("response_type", "code"),
        ("client_id", "rp"),
        ("redirect_uri", "https://rp.example/cb"),
        ("scope", "openid email"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let req = http::Request::get(format!("{ISSUER}/authorize?{query}")).body(Vec::new()).unwrap();
    let request = server.authorization_request(&req).await.unwrap();
    let response = server.grant(&request, Grant::new("alice", request.scopes.clone())).await.unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    let params = parse_form(location.split_once('?').unwrap().1).unwrap();
    let code = params.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    let body = encode_form([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://rp.example/cb"),
        ("code_verifier", VERIFIER),
    ]);
    let token = http::Request::post(format!("{ISSUER}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {}", STANDARD.encode("rp:rp-secret")))
        .body(body.into_bytes())
        .unwrap();
    let response = server.token(&token).await;
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert!(body["id_token"].is_string(), "{body}");
    (server, body["access_token"].as_str().unwrap().to_owned())
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

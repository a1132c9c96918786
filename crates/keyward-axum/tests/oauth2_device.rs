//! The device authorization endpoint (RFC 8628 §3.1) served by axum on 127.0.0.1: a device
//! starts, polls `authorization_pending`, the application approves through the core's
//! verification calls, and the next poll gets the token; plus the endpoint's refusals (an
//! unknown client, a client without the grant, a wrong method, an oversize body, a server
//! without device codes).

use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, DeviceConfig, Grant, GrantType, OAuth2Provider, RegisteredClient, RequestOptions,
    ServerConfig,
};
use keyward_axum::oauth2_provider::{device_authorization_endpoint, token_endpoint};
use keyward_stores::MemoryStore;
use serde_json::Value;

/// `urn:ietf:params:oauth:grant-type:device_code`, form-encoded.
const DEVICE_GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";

/// Serves a server over a memory store with the public clients `tv` (device grant) and
/// `web` (no device grant); device codes on when `device`. Returns the base URL and server.
async fn serve(device: bool) -> (String, AuthorizationServer) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    let tv = RegisteredClient::public("tv").with_scopes(["read"]).with_grant_types([GrantType::DeviceCode]);
    store.create_registered_client(&tv).await.unwrap();
    let web =
        RegisteredClient::public("web").with_scopes(["read"]).with_redirect_uris(["https://web.example/cb"]);
    store.create_registered_client(&web).await.unwrap();
    let mut builder = AuthorizationServer::builder(store.clone(), ServerConfig::new(base.clone()));
    if device {
        let config = DeviceConfig::new(&base).with_endpoint(format!("{base}/device_authorization"));
        builder = builder.device_codes(store, config);
    }
    let server = builder.build();
    let app = Router::new()
        .route("/device_authorization", any(device_authorization_endpoint))
        .route("/token", any(token_endpoint))
        .with_state(OAuth2Provider::with_options(server.clone(), RequestOptions::default().body_limit(4096)));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, server)
}

async fn post(url: &str, body: String) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, serde_json::from_str(&resp.text().await.unwrap()).unwrap())
}

#[tokio::test]
async fn a_device_starts_polls_and_gets_its_token_after_approval() {
    let (base, server) = serve(true).await;
    let (status, headers, started) =
        post(&format!("{base}/device_authorization"), "client_id=tv&scope=read".into()).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(started["verification_uri"], format!("{base}/device"));
    let device_code = started["device_code"].as_str().unwrap();
    let user_code = started["user_code"].as_str().unwrap();
    let poll = format!("grant_type={DEVICE_GRANT}&client_id=tv&device_code={device_code}");

    let (status, _, pending) = post(&format!("{base}/token"), poll.clone()).await;
    assert_eq!((status, pending["error"].as_str()), (400, Some("authorization_pending")));
    let verification = server.verify_user_code(user_code, "test").await.unwrap();
    server.approve_device(&verification, Grant::new("alice", ["read"])).await.unwrap();
    let (status, _, tokens) = post(&format!("{base}/token"), poll).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "read");
}

#[tokio::test]
async fn the_endpoint_refuses_with_the_servers_errors() {
    let (base, _) = serve(true).await;
    let url = format!("{base}/device_authorization");
    let (status, _, body) = post(&url, "client_id=nobody".into()).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let (status, _, body) = post(&url, "client_id=web".into()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
    let (status, _, body) = post(&url, "client_id=tv&scope=write".into()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    let (status, _, body) = post(&url, format!("client_id=tv&pad={}", "x".repeat(8192))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "oversize: {body}");
    let get = reqwest::get(&url).await.unwrap();
    assert_eq!(get.status(), 405);

    let (base, _) = serve(false).await;
    let (status, _, body) = post(&format!("{base}/device_authorization"), "client_id=tv".into()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")), "{body}");
}

//! The device authorization endpoint (RFC 8628 §3.1) served by axum on 127.0.0.1. The cases
//! are the testkit's (`keyward_testkit::oauth2_glue::run_device_cases`), run by the actix
//! tests as well: a device starts, polls, is approved and gets its token; the endpoint's
//! refusals.

use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use keyward::oauth2::provider::AuthorizationServer;
use keyward_axum::oauth2_provider::{device_authorization_endpoint, token_endpoint};
use keyward_stores::MemoryStore;
use keyward_testkit::oauth2_glue::{device_provider, device_server, run_device_cases};

/// Serves the testkit's device server (device codes on when `device`); its base URL and server.
async fn serve(device: bool) -> (String, AuthorizationServer) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = device_server(Arc::new(MemoryStore::new()), &base, device).await;
    let app = Router::new()
        .route("/device_authorization", any(device_authorization_endpoint))
        .route("/token", any(token_endpoint))
        .with_state(device_provider(server.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, server)
}

#[tokio::test]
async fn every_device_case_holds_through_axum() {
    run_device_cases(serve).await;
}

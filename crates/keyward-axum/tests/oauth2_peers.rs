//! Third-party OAuth 2 clients against the OAuth 2.1 server on axum (127.0.0.1): Python
//! Authlib and requests-oauthlib, and npm openid-client, each through RFC 8414 discovery,
//! code + PKCE (with the RFC 9207 `iss` check), refresh with rotation, introspection,
//! revocation and client_credentials, with `client_secret_basic`, `client_secret_post` and a
//! public client. The runs and their checks are the testkit's
//! (`keyward_testkit::oauth2_glue::run_peer`), run by the actix tests as well. Needs the
//! peers `.ci/run` installs; skipped visibly without them, failed under `CI=true`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{any, get};
use keyward::oauth2::provider::{Grant, OAuth2Provider};
use keyward_axum::oauth2_provider::{
    OAUTH_WELL_KNOWN, OAuth2Authorize, grant_response, introspection_endpoint, metadata_endpoint,
    revocation_endpoint, token_endpoint,
};
use keyward_stores::MemoryStore;
use keyward_testkit::oauth2_glue::{peer_provider, run_peer};
use keyward_testkit::peers::OAuth2Lib;

/// Signs "alice" in and grants what was asked for at once.
async fn authorize(State(p): State<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> Response {
    let scopes = req.scopes.clone();
    grant_response(p.server(), &req, Grant::new("alice", scopes)).await
}

/// The server the scripts talk to; its issuer.
async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let provider = peer_provider(Arc::new(MemoryStore::new()), &issuer).await;
    let app = Router::new()
        .route("/authorize", any(authorize))
        .route("/token", any(token_endpoint))
        .route("/revoke", any(revocation_endpoint))
        .route("/introspect", any(introspection_endpoint))
        .route(OAUTH_WELL_KNOWN, get(metadata_endpoint))
        .with_state(provider);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    issuer
}

#[tokio::test]
async fn authlib_every_step() {
    run_peer(OAuth2Lib::Authlib, module_path!(), start).await;
}

#[tokio::test]
async fn requests_oauthlib_every_step() {
    run_peer(OAuth2Lib::RequestsOAuthlib, module_path!(), start).await;
}

#[tokio::test]
async fn openid_client_every_step() {
    run_peer(OAuth2Lib::OpenidClient, module_path!(), start).await;
}

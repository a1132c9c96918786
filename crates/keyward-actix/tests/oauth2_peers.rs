//! Third-party OAuth 2 clients against the OAuth 2.1 server on actix-web (127.0.0.1): Python
//! Authlib and requests-oauthlib, and npm openid-client, each through RFC 8414 discovery,
//! code + PKCE (with the RFC 9207 `iss` check), refresh with rotation, introspection,
//! revocation and client_credentials, with `client_secret_basic`, `client_secret_post` and a
//! public client. The runs and their checks are the testkit's
//! (`keyward_testkit::oauth2_glue::run_peer`), run by the axum tests as well. Needs the
//! peers `.ci/run` installs; skipped visibly without them, failed under `CI=true`.

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use keyward::oauth2::provider::{Grant, OAuth2Provider};
use keyward_actix::oauth2_provider::{
    OAUTH_WELL_KNOWN, OAuth2Authorize, grant_response, introspection_endpoint, metadata_endpoint,
    revocation_endpoint, token_endpoint,
};
use keyward_stores::MemoryStore;
use keyward_testkit::oauth2_glue::{peer_provider, run_peer};
use keyward_testkit::peers::OAuth2Lib;

/// Signs "alice" in and grants what was asked for at once.
async fn authorize(p: web::Data<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> HttpResponse {
    let scopes = req.scopes.clone();
    grant_response(p.server(), &req, Grant::new("alice", scopes)).await
}

/// The server the scripts talk to; its issuer.
async fn start() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let provider = peer_provider(Arc::new(MemoryStore::new()), &issuer).await;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(provider.clone()))
            .route("/authorize", web::route().to(authorize))
            .route("/token", web::route().to(token_endpoint))
            .route("/revoke", web::route().to(revocation_endpoint))
            .route("/introspect", web::route().to(introspection_endpoint))
            .route(OAUTH_WELL_KNOWN, web::get().to(metadata_endpoint))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    issuer
}

#[actix_web::test]
async fn authlib_every_step() {
    run_peer(OAuth2Lib::Authlib, module_path!(), start).await;
}

#[actix_web::test]
async fn requests_oauthlib_every_step() {
    run_peer(OAuth2Lib::RequestsOAuthlib, module_path!(), start).await;
}

#[actix_web::test]
async fn openid_client_every_step() {
    run_peer(OAuth2Lib::OpenidClient, module_path!(), start).await;
}

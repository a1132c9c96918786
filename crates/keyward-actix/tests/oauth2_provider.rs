//! The OAuth 2.1 authorization server served by actix-web on 127.0.0.1. The cases are the
//! testkit's (`keyward_testkit::oauth2_glue`), run by the axum tests as well: the Rust
//! `oauth2` crate runs every grant over HTTP, and every negative rule holds through the glue
//! with its status, error code and headers.

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use keyward::oauth2::provider::store::OAuth2Store;
use keyward::oauth2::provider::{BearerPlacement, Grant, OAuth2Provider};
use keyward_actix::oauth2_provider::{
    OAUTH_WELL_KNOWN, OAuth2Authorize, OAuth2Bearer, OAuth2BearerForm, deny_response, grant_response,
    introspection_endpoint, metadata_endpoint, revocation_endpoint, token_endpoint,
};
use keyward_stores::MemoryStore;
use keyward_testkit::oauth2_glue::{self, seed_clients};
use serde_json::json;

keyward_actix::required_scopes!(Write = "write");

/// The test application's authorization handler: signs "alice" in and grants what was asked
/// for at once; `deny=1` in the request denies.
async fn authorize(p: web::Data<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> HttpResponse {
    if req.extra.iter().any(|(k, v)| k == "deny" && v == "1") {
        return deny_response(p.server(), &req);
    }
    let scopes = req.scopes.clone();
    grant_response(p.server(), &req, Grant::new("alice", scopes)).await
}

async fn me(auth: OAuth2Bearer) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": auth.subject, "client_id": auth.client_id, "scope": auth.scopes }))
}

async fn write(auth: OAuth2Bearer<Write>) -> String {
    format!("written for {}", auth.client_id)
}

/// A resource that reads the body after the token check.
async fn form(auth: OAuth2BearerForm<Write>) -> String {
    format!("{} sent {} bytes", auth.client_id, auth.request.body().len())
}

/// Serves the testkit's site with `placement`; its base URL.
async fn start(placement: BearerPlacement) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    seed_clients(store.as_ref()).await;
    let provider = oauth2_glue::provider(store as Arc<dyn OAuth2Store>, &base, placement);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(provider.clone()))
            .route("/authorize", web::route().to(authorize))
            .route("/token", web::route().to(token_endpoint))
            .route("/revoke", web::route().to(revocation_endpoint))
            .route("/introspect", web::route().to(introspection_endpoint))
            .route(OAUTH_WELL_KNOWN, web::get().to(metadata_endpoint))
            .route("/api/me", web::get().to(me))
            .route("/api/write", web::get().to(write))
            .route("/api/form", web::post().to(form))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    base
}

#[actix_web::test]
async fn every_shared_oauth2_case_holds_through_actix() {
    oauth2_glue::run(start).await;
}

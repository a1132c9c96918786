//! Dynamic client registration (RFC 7591) and client management (RFC 7592) served by actix-web on
//! 127.0.0.1: register with the initial access token, read, update, delete over HTTP; the
//! refusals keep their status and code through the glue; `404` when registration is off. The
//! cases and the provider are the testkit's (`keyward_testkit::oauth2_glue`), run by both glues.

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use keyward_actix::oauth2_provider::{
    OAUTH_WELL_KNOWN, client_configuration_endpoint, metadata_endpoint, registration_endpoint,
};
use keyward_stores::MemoryStore;
use keyward_testkit::oauth2_glue;

async fn serve(on: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = oauth2_glue::registration_provider(Arc::new(MemoryStore::new()), &base, on);
    let http = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(provider.clone()))
            .route("/register", web::route().to(registration_endpoint))
            .route("/register/{client_id}", web::route().to(client_configuration_endpoint))
            .route(OAUTH_WELL_KNOWN, web::get().to(metadata_endpoint))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(http);
    base
}

#[actix_web::test]
async fn register_read_update_delete_over_http() {
    oauth2_glue::registration_crud(&serve(true).await).await;
}

#[actix_web::test]
async fn off_by_default() {
    oauth2_glue::registration_off(&serve(false).await).await;
}

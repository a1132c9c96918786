//! The device authorization endpoint (RFC 8628 §3.1) served by actix-web on 127.0.0.1. The
//! cases are the testkit's (`keyward_testkit::oauth2_glue::run_device_cases`), run by the
//! axum tests as well: a device starts, polls, is approved and gets its token; the
//! endpoint's refusals.

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use keyward::oauth2::provider::AuthorizationServer;
use keyward_actix::oauth2_provider::{device_authorization_endpoint, token_endpoint};
use keyward_stores::MemoryStore;
use keyward_testkit::oauth2_glue::{device_provider, device_server, run_device_cases};

/// Serves the testkit's device server (device codes on when `device`); its base URL and server.
async fn serve(device: bool) -> (String, AuthorizationServer) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = device_server(Arc::new(MemoryStore::new()), &base, device).await;
    let provider = device_provider(server.clone());
    let http = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(provider.clone()))
            .route("/device_authorization", web::route().to(device_authorization_endpoint))
            .route("/token", web::route().to(token_endpoint))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(http);
    (base, server)
}

#[actix_web::test]
async fn every_device_case_holds_through_actix() {
    run_device_cases(serve).await;
}

//! RP-Initiated Logout through actix-web: the `EndSession` extractor and
//! `end_session_response` (the redirect with `state`), and refusals shown as pages, never
//! redirected.

use std::sync::Arc;

use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, HttpResponse, web};
use keyward::common::encoding::encode_form;
use keyward::jose::rotation::SharedKeySet;
use keyward::jose::{KeySet, SigningAlg};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{AuthorizationServer, OAuth2Provider, RegisteredClient, ServerConfig};
use keyward::oidc::provider::{NoClaims, OpenIdConfig, OpenIdProvider};
use keyward_actix::end_session::{EndSession, end_session_response};
use keyward_stores::MemoryStore;
use serde_json::json;

const ISS: &str = "http://op.example";

/// The application's logout handler: alice is signed in.
async fn logout(p: web::Data<OAuth2Provider>, EndSession(request): EndSession) -> HttpResponse {
    if p.server().logout_confirmation_needed(&request, Some("alice")).await.unwrap() {
        return HttpResponse::Ok().body("confirm");
    }
    end_session_response(p.server(), &request).await
}

async fn setup() -> (OAuth2Provider, Arc<SharedKeySet>) {
    let store = Arc::new(MemoryStore::new());
    let mut web =
        RegisteredClient::confidential("web", "s3cret").with_redirect_uris(["https://web.example/cb"]);
    web.post_logout_redirect_uris = vec!["https://web.example/bye".into()];
    store.create_registered_client(&web).await.unwrap();
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::EdDSA).unwrap()));
    let mut web_eddsa = web;
    web_eddsa.id_token_signed_response_alg = Some("EdDSA".into());
    store.update_registered_client(&web_eddsa).await.unwrap();
    let config = OpenIdConfig::new(ISS).with_end_session_endpoint(format!("{ISS}/logout"));
    let server = AuthorizationServer::builder(store, ServerConfig::new(ISS))
        .openid(OpenIdProvider::new(config, keys.clone(), Arc::new(NoClaims)))
        .build();
    (OAuth2Provider::new(server), keys)
}

#[actix_web::test]
async fn end_session_redirects_with_state_or_shows_the_refusal() {
    let (provider, keys) = setup().await;
    let hint = keys
        .snapshot()
        .key_set()
        .sign(None, &json!({"iss": ISS, "sub": "alice", "aud": "web", "iat": 1, "exp": 2, "sid": "s"}))
        .unwrap();
    let app =
        init_service(App::new().app_data(web::Data::new(provider)).route("/logout", web::route().to(logout)))
            .await;
    let uri = |q: &[(&str, &str)]| format!("/logout?{}", encode_form(q.iter().copied()));

    let req = TestRequest::get()
        .uri(&uri(&[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", "https://web.example/bye"),
            ("state", "st"),
        ]))
        .insert_header(("host", "op.example"))
        .to_request();
    let response = call_service(&app, req).await;
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers().get("location").unwrap(), "https://web.example/bye?state=st");

    let req = TestRequest::get()
        .uri(&uri(&[("client_id", "web")]))
        .insert_header(("host", "op.example"))
        .to_request();
    let response = call_service(&app, req).await;
    assert_eq!(response.status(), 200);
    assert_eq!(read_body(response).await, "confirm");

    let req = TestRequest::get()
        .uri(&uri(&[("id_token_hint", &hint), ("post_logout_redirect_uri", "https://evil.example/")]))
        .insert_header(("host", "op.example"))
        .to_request();
    let response = call_service(&app, req).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());

    let body = encode_form([("id_token_hint", hint.as_str()), ("client_id", "other")]);
    let req = TestRequest::post()
        .uri("/logout")
        .insert_header(("host", "op.example"))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body)
        .to_request();
    let response = call_service(&app, req).await;
    assert_eq!(response.status(), 400, "client_id is not the hint's client");

    let req = TestRequest::put().uri("/logout").insert_header(("host", "op.example")).to_request();
    assert_eq!(call_service(&app, req).await.status(), 405);
}

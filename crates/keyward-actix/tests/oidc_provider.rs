//! The OpenID Provider's endpoints through the actix-web glue: UserInfo (GET, POST, errors),
//! the discovery document and the JWK set, over the testkit's fixture
//! (`keyward_testkit::oidc_glue`: the server and alice's access token).

use std::sync::Arc;

use actix_web::{App, test, web};
use keyward::jose::SigningAlg;
use keyward::oauth2::provider::{AuthorizationServer, OAuth2Provider};
use keyward_actix::oidc_provider::{OIDC_WELL_KNOWN, jwks, openid_configuration, userinfo};
use keyward_stores::MemoryStore;
use keyward_testkit::oidc_glue::{self, ISSUER};
use serde_json::{Value, json};

/// The fixture's server (keys signing ES256 only) and alice's access token.
async fn server() -> (AuthorizationServer, String) {
    oidc_glue::server(Arc::new(MemoryStore::new()), SigningAlg::ES256).await
}

#[actix_web::test]
async fn userinfo_discovery_and_jwks_through_actix() {
    let (server, token) = server().await;
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(OAuth2Provider::new(server)))
            .route("/userinfo", web::route().to(userinfo))
            .route(OIDC_WELL_KNOWN, web::get().to(openid_configuration))
            .route("/jwks", web::get().to(jwks)),
    )
    .await;
    let expected = json!({"sub": "alice", "email": "alice@example.com"});

    let req = test::TestRequest::get()
        .uri("/userinfo")
        .insert_header(("host", "op.example"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body, expected);

    let req = test::TestRequest::post()
        .uri("/userinfo")
        .insert_header(("host", "op.example"))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(format!("access_token={token}"))
        .to_request();
    let body: Value = test::read_body_json(test::call_service(&app, req).await).await;
    assert_eq!(body, expected);

    let req = test::TestRequest::get()
        .uri("/userinfo")
        .insert_header(("host", "op.example"))
        .insert_header(("authorization", "Bearer nope"))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer error=\"invalid_token\"");
    let req = test::TestRequest::delete().uri("/userinfo").insert_header(("host", "op.example")).to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 405);

    let req = test::TestRequest::get().uri(OIDC_WELL_KNOWN).to_request();
    let doc: Value = test::read_body_json(test::call_service(&app, req).await).await;
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["userinfo_endpoint"], "http://op.example/userinfo");
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["ES256", "HS256"]));

    let resp = test::call_service(&app, test::TestRequest::get().uri("/jwks").to_request()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "public, max-age=3600");
    let set: Value = test::read_body_json(resp).await;
    assert_eq!(set["keys"].as_array().unwrap().len(), 2);
    assert!(set["keys"].as_array().unwrap().iter().all(|k| k.get("d").is_none() && k["alg"] == "ES256"));
}

//! The OpenID Provider's endpoints through the actix-web glue: UserInfo (GET, POST, errors),
//! the discovery document and the JWK set.

use std::sync::Arc;

use actix_web::{App, test, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::encoding::{encode_form, parse_form};
use keyward::jose::rotation::SharedKeySet;
use keyward::jose::{KeySet, SigningAlg};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{AuthorizationServer, Grant, OAuth2Provider, RegisteredClient, ServerConfig};
use keyward::oidc::provider::{ClaimsRequest, OpenIdConfig, OpenIdProvider};
use keyward_actix::oidc_provider::{OIDC_WELL_KNOWN, jwks, openid_configuration, userinfo};
use keyward_stores::MemoryStore;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

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
    // The key set signs ES256 only: the client registers it (RS256 is the default).
    client.id_token_signed_response_alg = Some("ES256".into());
    store.create_registered_client(&client).await.unwrap();
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::ES256).unwrap()));
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

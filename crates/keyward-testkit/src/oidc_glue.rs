//! The OpenID Provider's glue fixture, shared by the framework crates' tests: a server with
//! the OpenID Provider on (issuer [`ISSUER`], one confidential client `rp`) and an access
//! token with `openid email` for `alice`, obtained through the sans-IO core (code + PKCE).
//! Each crate then serves UserInfo, discovery and the JWK set through its own glue.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::encoding::{encode_form, parse_form};
use keyward::jose::rotation::SharedKeySet;
use keyward::jose::{KeySet, SigningAlg};
use keyward::oauth2::provider::store::OAuth2Store;
use keyward::oauth2::provider::{AuthorizationServer, Grant, RegisteredClient, ServerConfig};
use keyward::oidc::provider::{ClaimsRequest, OpenIdConfig, OpenIdProvider};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The OpenID Provider's issuer.
pub const ISSUER: &str = "http://op.example";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// The claims source: `email` is `{subject}@example.com`.
fn email(request: &ClaimsRequest<'_>) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("email".into(), json!(format!("{}@example.com", request.subject)));
    claims
}

/// The server over `store` (empty), whose key set signs `alg` only, and an access token with
/// `openid email` for alice (its token response carried an ID token).
pub async fn server(store: Arc<dyn OAuth2Store>, alg: SigningAlg) -> (AuthorizationServer, String) {
    let mut client = RegisteredClient::confidential("rp", "rp-secret")
        .with_redirect_uris(["https://rp.example/cb"])
        .with_scopes(["openid", "email"]);
    // The key set signs `alg` only: the client registers it (RS256 is the default).
    client.id_token_signed_response_alg = Some(alg.name().into());
    store.create_registered_client(&client).await.unwrap();
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(alg).unwrap()));
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

//! The Rust `oauth2` crate (a client nobody here wrote) against the OAuth 2.1 authorization
//! server: code + PKCE, refresh with rotation, client_credentials, revocation and
//! introspection. Its HTTP function calls the sans-IO server directly.

use std::convert::Infallible;
use std::sync::Arc;

use keyward::common::encoding::parse_form;
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{AuthorizationServer, Grant, GrantType, RegisteredClient, ServerConfig};
use keyward_stores::MemoryStore;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl, PkceCodeChallenge,
    RedirectUrl, RevocationUrl, Scope, StandardRevocableToken, TokenIntrospectionResponse, TokenResponse,
    TokenUrl,
};

const ISSUER: &str = "https://as.example";

async fn server() -> AuthorizationServer {
    let store = Arc::new(MemoryStore::new());
    let client = RegisteredClient::confidential("web", "web secret/+=")
        .with_redirect_uris(["https://web.example/cb"])
        .with_scopes(["read", "write"])
        .with_grant_types([
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ]);
    store.create_registered_client(&client).await.unwrap();
    AuthorizationServer::builder(store, ServerConfig::new(ISSUER)).build()
}

/// The `oauth2` crate's HTTP function: each endpoint's URL to the server's method.
fn http(
    server: &AuthorizationServer,
) -> impl Fn(
    oauth2::HttpRequest,
) -> std::pin::Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, Infallible>> + Send>> {
    let server = server.clone();
    move |request: oauth2::HttpRequest| {
        let server = server.clone();
        Box::pin(async move {
            Ok(match request.uri().path() {
                "/token" => server.token(&request).await,
                "/revoke" => server.revoke(&request).await,
                "/introspect" => server.introspect(&request).await,
                other => panic!("unexpected endpoint {other}"),
            })
        })
    }
}

#[tokio::test]
async fn the_oauth2_crate_runs_every_grant_against_the_server() {
    let server = server().await;
    let client = BasicClient::new(ClientId::new("web".into()))
        .set_client_secret(ClientSecret::new("web secret/+=".into()))
        .set_auth_uri(AuthUrl::new(format!("{ISSUER}/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{ISSUER}/token")).unwrap())
        .set_revocation_url(RevocationUrl::new(format!("{ISSUER}/revoke")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(format!("{ISSUER}/introspect")).unwrap())
        .set_redirect_uri(RedirectUrl::new("https://web.example/cb".into()).unwrap());
    let http = http(&server);

    // Code + PKCE.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();
    let request = http::Request::get(url.as_str()).body(Vec::new()).unwrap();
    let authorization = server.authorization_request(&request).await.unwrap();
    let response = server.grant(&authorization, Grant::new("alice", ["read", "write"])).await.unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    let params = parse_form(location.split_once('?').unwrap().1).unwrap();
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(&get("state"), csrf.secret());
    assert_eq!(get("iss"), ISSUER);
    let tokens = client
        .exchange_code(AuthorizationCode::new(get("code")))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(tokens.scopes().unwrap().len(), 2);
    let refresh1 = tokens.refresh_token().unwrap().clone();

    // Introspection.
    let info = client.introspect(tokens.access_token()).request_async(&http).await.unwrap();
    assert!(info.active());
    assert_eq!(info.sub(), Some("alice"));

    // Refresh, with rotation; the old refresh token is then refused.
    let refreshed = client.exchange_refresh_token(&refresh1).request_async(&http).await.unwrap();
    let refresh2 = refreshed.refresh_token().unwrap().clone();
    assert_ne!(refresh1.secret(), refresh2.secret());
    let reuse = client.exchange_refresh_token(&refresh1).request_async(&http).await;
    assert!(
        matches!(reuse, Err(oauth2::RequestTokenError::ServerResponse(ref e)) if e.error().to_string() == "invalid_grant"),
        "{reuse:?}"
    );

    // client_credentials.
    let cc = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert!(cc.refresh_token().is_none());
    let info = client.introspect(cc.access_token()).request_async(&http).await.unwrap();
    assert!(info.active());

    // Revocation.
    client
        .revoke_token(StandardRevocableToken::AccessToken(cc.access_token().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let info = client.introspect(cc.access_token()).request_async(&http).await.unwrap();
    assert!(!info.active());
}

//! The Rust `oauth2` crate (a client nobody here wrote) runs the device flow (RFC 8628)
//! against the authorization server: device authorization, polling through
//! `authorization_pending` and `slow_down` (it must lengthen its interval by 5 s), the
//! user's approval on the verification page, the tokens; and a denial. Its HTTP function
//! calls the sans-IO server directly; its sleep function moves the server's clock instead
//! of sleeping, and plays the user.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward::common::clock::FixedClock;
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, DeviceConfig, Grant, GrantType, RegisteredClient, ServerConfig,
};
use keyward_stores::MemoryStore;
use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, DeviceAuthorizationUrl, DeviceCodeErrorResponseType, RequestTokenError, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};

const ISSUER: &str = "https://as.example";

async fn server(clock: &FixedClock) -> AuthorizationServer {
    let store = Arc::new(MemoryStore::new());
    let client = RegisteredClient::public("tv")
        .with_scopes(["read", "write"])
        .with_grant_types([GrantType::DeviceCode, GrantType::RefreshToken]);
    store.create_registered_client(&client).await.unwrap();
    AuthorizationServer::builder(store.clone(), ServerConfig::new(ISSUER))
        .clock(clock.clone())
        .device_codes(store, DeviceConfig::new(ISSUER))
        .build()
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
                "/device_authorization" => server.device_authorization(&request).await,
                "/token" => server.token(&request).await,
                other => panic!("unexpected endpoint {other}"),
            })
        })
    }
}

fn client() -> BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new("tv".into()))
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(format!("{ISSUER}/device_authorization")).unwrap(),
        )
        .set_token_uri(TokenUrl::new(format!("{ISSUER}/token")).unwrap())
}

#[tokio::test]
async fn the_oauth2_crate_runs_the_device_flow() {
    let clock = FixedClock::new(1_800_000_000);
    let server = server(&clock).await;
    let http = http(&server);
    let client = client();

    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("read".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(details.interval(), Duration::from_secs(5));
    assert_eq!(details.verification_uri().as_str(), "https://as.example/device");
    let user_code = details.user_code().secret().clone();
    let complete = details.verification_uri_complete().unwrap().secret().clone();
    assert_eq!(complete, format!("https://as.example/device?user_code={user_code}"));

    // The sleep function: the first wait is cut short (1 s of the 5), so the next poll is
    // too soon and gets `slow_down`; during the second the user approves.
    let waits = Arc::new(Mutex::new(Vec::new()));
    let sleep = {
        let (clock, server, waits, user_code) =
            (clock.clone(), server.clone(), waits.clone(), user_code.clone());
        move |d: Duration| {
            let (clock, server, waits, user_code) =
                (clock.clone(), server.clone(), waits.clone(), user_code.clone());
            async move {
                let n = {
                    let mut waits = waits.lock().unwrap();
                    waits.push(d);
                    waits.len()
                };
                if n == 1 {
                    clock.advance(1);
                } else {
                    clock.advance(i64::try_from(d.as_secs()).unwrap());
                }
                if n == 2 {
                    let v = server.verify_user_code(&user_code, "203.0.113.7").await.unwrap();
                    assert_eq!(v.scopes, ["read"]);
                    server.approve_device(&v, Grant::new("alice", ["read"])).await.unwrap();
                }
            }
        }
    };
    let tokens =
        client.exchange_device_access_token(&details).request_async(&http, sleep, None).await.unwrap();
    // pending → (1 s) slow_down → the crate waits 10 s → approved.
    assert_eq!(*waits.lock().unwrap(), [Duration::from_secs(5), Duration::from_secs(10)]);
    assert_eq!(tokens.scopes().unwrap(), &[Scope::new("read".into())]);
    assert!(tokens.refresh_token().is_some());
    assert!(tokens.expires_in().is_some());

    // The refresh token works through the crate too.
    let refreshed =
        client.exchange_refresh_token(tokens.refresh_token().unwrap()).request_async(&http).await.unwrap();
    assert_ne!(refreshed.access_token().secret(), tokens.access_token().secret());
}

#[tokio::test]
async fn the_oauth2_crate_sees_a_denial() {
    let clock = FixedClock::new(1_800_000_000);
    let server = server(&clock).await;
    let http = http(&server);
    let client = client();
    let details: StandardDeviceAuthorizationResponse =
        client.exchange_device_code().request_async(&http).await.unwrap();
    let user_code = details.user_code().secret().clone();
    let sleep = {
        let (clock, server) = (clock.clone(), server.clone());
        move |d: Duration| {
            let (clock, server, user_code) = (clock.clone(), server.clone(), user_code.clone());
            async move {
                clock.advance(i64::try_from(d.as_secs()).unwrap());
                let v = server.verify_user_code(&user_code, "k").await.unwrap();
                server.deny_device(&v).await.unwrap();
            }
        }
    };
    let result = client.exchange_device_access_token(&details).request_async(&http, sleep, None).await;
    match result {
        Err(RequestTokenError::ServerResponse(e)) => {
            assert_eq!(e.error(), &DeviceCodeErrorResponseType::AccessDenied)
        }
        other => panic!("{other:?}"),
    }
}

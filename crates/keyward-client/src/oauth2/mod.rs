//! The OAuth 2.0 and OpenID Connect client drivers over the sans-IO core
//! ([`keyward::oauth2`], [`keyward::oidc`]).
//!
//! - [`OAuth2Client`]: one provider's client. It builds authorization URLs (state, PKCE,
//!   nonce), runs every grant (authorization code, refresh, client credentials, password,
//!   the device flow with its poll loop), authenticates to the token endpoint (the five
//!   standard methods and custom ones registered by name), revokes and introspects tokens,
//!   and for OpenID Connect keeps the discovery document and the JWK set cached and
//!   validates ID tokens.
//! - [`OAuth2Session`]: a token in use: each request refreshes it first when it is
//!   expired (once, however many requests find it expired at the same time), places it
//!   (header, body or query) and runs the compliance hooks.
//!
//! Every network call is one [`HttpClient::call`](keyward::HttpClient::call), so a test
//! (or this example) can play the provider with a closure:
//!
//! ```
//! use keyward_client::oauth2::{OAuth2Client, OAuth2Config, OAuth2Session};
//! use keyward::common::secret::SecretString;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = |req: http::Request<Vec<u8>>| async move {
//!     let body = match req.uri().path() {
//!         "/token" => r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600}"#,
//!         _ => r#"{"hello":"world"}"#,
//!     };
//!     Ok(http::Response::new(body.as_bytes().to_vec()))
//! };
//! let mut config = OAuth2Config::new("my-client");
//! config.client_secret = Some(SecretString::new("my-secret"));
//! config.token_url = Some("https://as.example/token".into());
//! let client = Arc::new(OAuth2Client::new(config, Arc::new(provider))?);
//!
//! let token = client.client_credentials(Some("read")).await?;
//! let session = OAuth2Session::new(client, token);
//! let response = session.request(http::Request::get("https://api.example/me").body(Vec::new())?).await?;
//! assert_eq!(response.body(), br#"{"hello":"world"}"#);
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod dpop;
mod error;
mod hooks;
#[cfg(feature = "provider")]
mod introspection;
mod logout;
mod oidc;
mod par;
mod refresh;
mod session;

pub use client::{AuthorizationRedirect, CodeExchange, OAuth2Client};
pub use config::{DEFAULT_JWKS_REFETCH_INTERVAL, DEFAULT_METADATA_TTL, Endpoint, OAuth2Config, Quirks};
pub use error::ClientError;
pub use hooks::{ComplianceHooks, FormHook, Hook, RequestHook, ResponseHook};
#[cfg(feature = "provider")]
pub use introspection::IntrospectionVerifier;
pub use logout::LogoutError;
pub use refresh::{OldToken, UpdateToken};
pub use session::OAuth2Session;

pub use keyward::oauth2::rfc6749::{
    AccessToken, ClientAuthMethod, ClientAuthentication, RefreshToken, Token,
};
pub use keyward::oauth2::rfc6750::TokenPlacement;
pub use keyward::oauth2::rfc7636::{ChallengeMethod, CodeVerifier};
pub use keyward::oauth2::rfc8628::DeviceAuthorization;
pub use keyward::oauth2::rfc9449::DpopKey;

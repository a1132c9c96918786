//! The OAuth 2.1 authorization server (draft-ietf-oauth-v2-1, with the Security BCP, RFC
//! 9700), sans-IO, written against the async store traits of [`store`].
//!
//! The application owns users, sign-in and consent: [`AuthorizationServer::authorization_request`]
//! hands it a validated, typed [`AuthorizationRequest`], and it answers with
//! [`AuthorizationServer::grant`] or [`AuthorizationServer::deny`]. The token, revocation
//! and introspection endpoints and the metadata document need nothing from it.
//!
//! ```
//! use std::sync::Arc;
//! use keyward::oauth2::provider::store::OAuth2ClientStore;
//! use keyward::oauth2::provider::{AuthorizationServer, Grant, RegisteredClient, ServerConfig};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = Arc::new(keyward_stores::MemoryStore::new());
//! let client = RegisteredClient::confidential("web", "s3cret")
//!     .with_redirect_uris(["https://web.example/cb"])
//!     .with_scopes(["read"]);
//! store.create_registered_client(&client).await?;
//! let server = AuthorizationServer::builder(store, ServerConfig::new("https://as.example")).build();
//!
//! // GET /authorize?… : validated, then kept by the application across sign-in and consent.
//! let uri = "https://as.example/authorize?response_type=code&client_id=web\
//!     &redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=read&state=af0ifjsldkj\
//!     &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
//! let request = server.authorization_request(&http::Request::get(uri).body(Vec::new())?).await?;
//! if server.consent_needed(&request, "alice").await? {
//!     // … show a consent page for request.scopes …
//! }
//! let response = server.grant(&request, Grant::new("alice", request.scopes.clone())).await?;
//! assert_eq!(response.status(), 302); // to https://web.example/cb?code=…&state=af0ifjsldkj&iss=…
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod authorize;
pub mod cache;
pub mod client;
pub mod client_auth;
pub mod config;
pub mod device;
pub mod device_store;
pub mod dpop;
pub mod error;
pub mod introspection;
pub mod jwt;
pub mod metadata;
pub mod par;
pub mod registration;
pub mod request;
pub mod resource;
pub mod revocation;
pub mod server;
pub mod store;
pub mod token;

pub use authorize::{AuthorizationRequest, Grant, ResponseMode, ResponseTarget};
pub use cache::{CacheConfig, CachingVerifier, TokenCache};
pub use client::{
    AccessTokenFormat, ClientAuthMethod, ClientKind, ClientSecret, GrantType, IntrospectionAccess,
    RegisteredClient, SecretForm, SubjectType,
};
pub use config::{BearerPlacement, RefreshRotation, ServerConfig};
pub use device::{DeviceConfig, DeviceGrantError, DeviceVerification, VerificationError};
pub use dpop::{DpopConfig, DpopVerifier};
pub use error::{AuthorizeError, ProviderError};
pub use jwt::KeySetAccessTokens;
pub use par::{ParConfig, PushedRequest, PushedRequestStore};
pub use registration::{RegistrationConfig, RegistrationError, RegistrationPolicy};
pub use request::{OAuth2Provider, RequestOptions};
pub use resource::{
    AccessGrant, AnyScope, BearerError, DpopChallenge, RequiredScopes, ResourceProtector, TokenVerifier,
};
pub use server::{AccessTokenClaims, AuthorizationServer, AuthorizationServerBuilder, JwtAccessTokens};

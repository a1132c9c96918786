//! The OAuth 2.1 authorization server (draft-ietf-oauth-v2-1, with the Security BCP, RFC
//! 9700), sans-IO, written against the async store traits of [`store`].
//!
//! The application owns users, sign-in and consent: [`AuthorizationServer::authorization_request`]
//! hands it a validated, typed [`AuthorizationRequest`], and it answers with
//! [`AuthorizationServer::grant`] or [`AuthorizationServer::deny`]. The token, revocation
//! and introspection endpoints and the metadata document need nothing from it.

pub mod authorize;
pub mod client;
pub mod client_auth;
pub mod config;
pub mod error;
pub mod introspection;
pub mod metadata;
pub mod request;
pub mod resource;
pub mod revocation;
pub mod server;
pub mod store;
pub mod token;

pub use authorize::{AuthorizationRequest, Grant, ResponseMode, ResponseTarget};
pub use client::{
    AccessTokenFormat, ClientAuthMethod, ClientKind, ClientSecret, GrantType, RegisteredClient, SecretForm,
};
pub use config::{BearerPlacement, RefreshRotation, ServerConfig};
pub use error::{AuthorizeError, ProviderError};
pub use request::{OAuth2Provider, RequestOptions};
pub use resource::{AccessGrant, BearerError, ResourceProtector, TokenVerifier};
pub use server::{AccessTokenClaims, AuthorizationServer, AuthorizationServerBuilder, JwtAccessTokens};

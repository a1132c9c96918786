//! The OAuth 1.0a provider (RFC 5849) on axum: conversions only, the flow lives in
//! [`keyward::oauth1::rfc5849::provider`].
//!
//! - [`OAuth1Provider`]: the router state (or a part of it, through [`FromRef`]) holding the
//!   authorization server and how requests are read ([`RequestOptions`]).
//! - [`temporary_credential_endpoint`] (RFC 5849 §2.1) and [`token_endpoint`] (§2.3):
//!   handlers to mount with `any(..)`, so that a non-POST gets the provider's own
//!   `405 method_not_allowed` body (with `post(..)`, axum answers an empty 405 itself).
//! - [`OAuth1Request`]: the request as the core takes it, for the application's own
//!   authorization (consent) handlers (§2.2).
//! - [`OAuth1Protected`]: an extractor that validates a signed request (§3) and hands the
//!   handler the client and the user the token acts for, or rejects with the error's status.
//!
//! ```no_run
//! use axum::{Router, routing::{any, get}};
//! use keyward::oauth1::rfc5849::provider::AuthorizationServer;
//! use keyward_axum::provider::{OAuth1Protected, OAuth1Provider, temporary_credential_endpoint, token_endpoint};
//! # fn app(server: AuthorizationServer) -> Router {
//! async fn me(auth: OAuth1Protected) -> String {
//!     format!("{} for {}", auth.client.client_id, auth.user_id())
//! }
//! Router::new()
//!     .route("/oauth/request_token", any(temporary_credential_endpoint))
//!     .route("/oauth/access_token", any(token_endpoint))
//!     .route("/api/me", get(me))
//!     .with_state(OAuth1Provider::new(server))
//! # }
//! ```

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef, FromRequest, Request, State};
use axum::http;
use axum::response::{IntoResponse, Response};
use keyward::oauth1::rfc5849::provider::{InvalidRequest, PeerAddr, Protected, ProviderError};
pub use keyward::oauth1::rfc5849::provider::{OAuth1Provider, RequestOptions};
use std::net::SocketAddr;

/// Converts an axum request into the core's (RFC 5849 §3.4.1): the body read up to the
/// limit, the URI made absolute from the `Host` header and the configured scheme, and the
/// TCP peer as a [`PeerAddr`] when the server was started with
/// `into_make_service_with_connect_info::<SocketAddr>()` (then plain http is accepted only
/// from loopback peers; without it, only the `Host` header is known).
pub async fn core_request(
    req: Request,
    options: &RequestOptions,
) -> Result<http::Request<Vec<u8>>, ProviderError> {
    let (mut parts, body) = req.into_parts();
    parts.uri = options.into_absolute_uri(std::mem::take(&mut parts.uri), &parts.headers)?;
    if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        let peer = PeerAddr(*peer);
        parts.extensions.insert(peer);
    }
    let bytes = axum::body::to_bytes(body, options.max_body()).await.map_err(|e| {
        if crate::client::is_length_limit(&e) {
            InvalidRequest::BodyTooLarge
        } else {
            InvalidRequest::BodyRead
        }
    })?;
    // Takes the buffer over when it is not shared, rather than copying it.
    Ok(http::Request::from_parts(parts, Vec::from(bytes)))
}

/// Converts a core response (RFC 5849 §2.1–§2.3, §3.2) into an axum response.
pub fn into_response(resp: http::Response<Vec<u8>>) -> Response {
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, Body::from(body))
}

/// A provider error (RFC 5849 §3.2) as a response: its status, form-encoded body and headers.
#[derive(Debug)]
pub struct ProviderRejection(pub ProviderError);

impl IntoResponse for ProviderRejection {
    fn into_response(self) -> Response {
        into_response(self.0.to_response())
    }
}

impl From<ProviderError> for ProviderRejection {
    fn from(e: ProviderError) -> Self {
        Self(e)
    }
}

/// The temporary credential endpoint (RFC 5849 §2.1).
pub async fn temporary_credential_endpoint(State(provider): State<OAuth1Provider>, req: Request) -> Response {
    match core_request(req, provider.options()).await {
        Ok(req) => into_response(provider.server().create_temporary_credential_response(&req).await),
        Err(e) => ProviderRejection(e).into_response(),
    }
}

/// The token endpoint (RFC 5849 §2.3).
pub async fn token_endpoint(State(provider): State<OAuth1Provider>, req: Request) -> Response {
    match core_request(req, provider.options()).await {
        Ok(req) => into_response(provider.server().create_token_response(&req).await),
        Err(e) => ProviderRejection(e).into_response(),
    }
}

/// The request as the core takes it, for authorization (consent) handlers (RFC 5849 §2.2):
/// pass it to [`check_authorization_request`](keyward::oauth1::rfc5849::provider::AuthorizationServer::check_authorization_request) and
/// [`create_authorization_response`](keyward::oauth1::rfc5849::provider::AuthorizationServer::create_authorization_response).
#[derive(Debug)]
pub struct OAuth1Request(pub http::Request<Vec<u8>>);

impl<S> FromRequest<S> for OAuth1Request
where
    OAuth1Provider: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ProviderRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let provider = OAuth1Provider::from_ref(state);
        Ok(Self(core_request(req, provider.options()).await?))
    }
}

/// A request to a protected resource, validated (RFC 5849 §3.2): the client that signed it,
/// the token credential it used, and the request itself (its body was consumed to check the
/// signature; read it here). Rejects with the error's status and body.
///
/// Derefs to the core's [`Protected`]: `auth.client`, `auth.token`, `auth.user_id()`.
#[derive(Debug)]
#[non_exhaustive]
pub struct OAuth1Protected {
    /// The client and token credential.
    pub protected: Protected,
    /// The request, with an absolute URI and the body read.
    pub request: http::Request<Vec<u8>>,
}

impl std::ops::Deref for OAuth1Protected {
    type Target = Protected;

    fn deref(&self) -> &Protected {
        &self.protected
    }
}

impl<S> FromRequest<S> for OAuth1Protected
where
    OAuth1Provider: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ProviderRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let provider = OAuth1Provider::from_ref(state);
        let request = core_request(req, provider.options()).await?;
        let protected = provider.protector().validate_request(&request).await?;
        Ok(Self { protected, request })
    }
}

//! The OAuth 2.1 authorization server on axum: conversions only, the flows live in
//! [`keyward::oauth2::provider`].
//!
//! - [`OAuth2Provider`]: the router state (or a part of it, through [`FromRef`]) holding the
//!   authorization server, its resource protector and how requests are read
//!   ([`RequestOptions`]).
//! - [`token_endpoint`] (RFC 6749 §3.2), [`revocation_endpoint`] (RFC 7009),
//!   [`introspection_endpoint`] (RFC 7662): handlers to mount with `any(..)`, so that a
//!   wrong method gets the server's own JSON `405`; [`metadata_endpoint`] (RFC 8414) at
//!   [`OAUTH_WELL_KNOWN`].
//! - [`registration_endpoint`] (RFC 7591 §3) and [`client_configuration_endpoint`] (RFC 7592
//!   §2, at `{registration endpoint}/{client_id}`): dynamic client registration, answered
//!   `404` by the server unless turned on; mount them with `any(..)` too.
//! - [`OAuth2Authorize`]: an extractor giving the application's authorization handler the
//!   validated [`AuthorizationRequest`] (RFC 6749 §4.1.1), or rejecting with the server's
//!   error response (redirected to the client, or a `400` page when the client or redirect
//!   URI is not established). The application signs the user in and asks for consent, then
//!   answers with [`grant_response`], [`deny_response`] or [`authorize_error_response`].
//! - [`OAuth2Bearer`]: an extractor that checks the bearer token (RFC 6750) and gives the
//!   handler its subject, client and scopes; `OAuth2Bearer<R>` also requires the scopes of
//!   `R: `[`RequiredScopes`] (see [`required_scopes!`](crate::required_scopes)). It rejects
//!   with `401`/`403` and `WWW-Authenticate: Bearer` (§3); `Option<OAuth2Bearer>` is `None`
//!   when no bearer token was sent.
//!
//! ```no_run
//! use axum::{Router, routing::{any, get}};
//! use axum::response::Response;
//! use keyward::oauth2::provider::{AuthorizationServer, Grant};
//! use keyward::oauth2::rfc8414::OAUTH_WELL_KNOWN;
//! use keyward_axum::oauth2_provider::{
//!     OAuth2Authorize, OAuth2Bearer, OAuth2Provider, grant_response, introspection_endpoint,
//!     metadata_endpoint, revocation_endpoint, token_endpoint,
//! };
//! use axum::extract::State;
//!
//! keyward_axum::required_scopes!(Profile = "profile");
//!
//! // A real application signs the user in and shows a consent page first.
//! async fn authorize(State(p): State<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> Response {
//!     let scopes = req.scopes.clone();
//!     grant_response(p.server(), &req, Grant::new("alice", scopes)).await
//! }
//!
//! async fn me(auth: OAuth2Bearer<Profile>) -> String {
//!     format!("{:?} via {}", auth.subject, auth.client_id)
//! }
//!
//! # fn app(server: AuthorizationServer) -> Router {
//! Router::new()
//!     .route("/authorize", any(authorize))
//!     .route("/token", any(token_endpoint))
//!     .route("/revoke", any(revocation_endpoint))
//!     .route("/introspect", any(introspection_endpoint))
//!     .route(OAUTH_WELL_KNOWN, get(metadata_endpoint))
//!     .route("/api/me", get(me))
//!     .with_state(OAuth2Provider::new(server))
//! # }
//! ```

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::{FromRef, FromRequest, FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::{self, HeaderMap, header, request::Parts};
use axum::response::{IntoResponse, Response};
use keyward::oauth2::provider::{
    AccessGrant, AuthorizationRequest, AuthorizationServer, AuthorizeError, BearerError, Grant, ProviderError,
};
pub use keyward::oauth2::provider::{OAuth2Provider, RequestOptions};
pub use keyward::oauth2::rfc8414::OAUTH_WELL_KNOWN;

use crate::provider::into_response;

/// Converts an axum request into the core's: the URI made absolute (the scheme from the
/// options, the host from the URI or the `Host` header), the body read up to the options'
/// limit. A body over the limit, one that fails to arrive, or no usable host is
/// `400 invalid_request`.
pub async fn core_request(
    req: Request,
    provider: &OAuth2Provider,
) -> Result<http::Request<Vec<u8>>, ProviderError> {
    let (mut parts, body) = req.into_parts();
    parts.uri = provider.absolute_uri(std::mem::take(&mut parts.uri), &parts.headers)?;
    let bytes = axum::body::to_bytes(body, provider.options().max_body()).await.map_err(|e| {
        if crate::client::is_length_limit(&e) {
            ProviderError::InvalidRequest("the body is too large")
        } else {
            ProviderError::InvalidRequest("the body could not be read")
        }
    })?;
    Ok(http::Request::from_parts(parts, Vec::from(bytes)))
}

/// An error of the token, revocation or introspection endpoint as a response: the RFC 6749
/// §5.2 JSON body, its status, `Cache-Control: no-store`, and `WWW-Authenticate: Basic`
/// after a failed Basic authentication.
#[derive(Debug)]
pub struct OAuth2Rejection(pub ProviderError);

impl IntoResponse for OAuth2Rejection {
    fn into_response(self) -> Response {
        into_response(self.0.to_response())
    }
}

impl From<ProviderError> for OAuth2Rejection {
    fn from(e: ProviderError) -> Self {
        Self(e)
    }
}

/// The token endpoint (RFC 6749 §3.2): every grant the server supports.
pub async fn token_endpoint(State(provider): State<OAuth2Provider>, req: Request) -> Response {
    match core_request(req, &provider).await {
        Ok(req) => into_response(provider.server().token(&req).await),
        Err(e) => OAuth2Rejection(e).into_response(),
    }
}

/// The pushed authorization request endpoint (RFC 9126 §2): `201 {request_uri,
/// expires_in}`. Mount it with `any(..)` like [`token_endpoint`]; without a PAR store the
/// server answers `400 invalid_request`.
pub async fn pushed_authorization_endpoint(State(provider): State<OAuth2Provider>, req: Request) -> Response {
    match core_request(req, &provider).await {
        Ok(req) => into_response(provider.server().pushed_authorization(&req).await),
        Err(e) => OAuth2Rejection(e).into_response(),
    }
}

/// The revocation endpoint (RFC 7009 §2).
pub async fn revocation_endpoint(State(provider): State<OAuth2Provider>, req: Request) -> Response {
    match core_request(req, &provider).await {
        Ok(req) => into_response(provider.server().revoke(&req).await),
        Err(e) => OAuth2Rejection(e).into_response(),
    }
}

/// The introspection endpoint (RFC 7662 §2).
pub async fn introspection_endpoint(State(provider): State<OAuth2Provider>, req: Request) -> Response {
    match core_request(req, &provider).await {
        Ok(req) => into_response(provider.server().introspect(&req).await),
        Err(e) => OAuth2Rejection(e).into_response(),
    }
}

/// The authorization server metadata document (RFC 8414 §3), to mount at
/// [`OAUTH_WELL_KNOWN`] (for an issuer with a path, RFC 8414 §3.1 puts the path after it).
pub async fn metadata_endpoint(State(provider): State<OAuth2Provider>) -> Response {
    into_response(provider.server().metadata_response())
}

/// A validated authorization request (RFC 6749 §4.1.1) from the query of a GET or the form
/// body of a POST, for the application's authorization handler. Keep it (it is serde)
/// across the sign-in and consent pages, then answer with [`grant_response`],
/// [`deny_response`] or [`authorize_error_response`].
///
/// Rejects with [`AuthorizeRejection`]; take `Result<OAuth2Authorize, AuthorizeRejection>`
/// to render a page of your own for the errors that are not redirected.
#[derive(Debug, Clone)]
pub struct OAuth2Authorize(pub AuthorizationRequest);

impl Deref for OAuth2Authorize {
    type Target = AuthorizationRequest;

    fn deref(&self) -> &AuthorizationRequest {
        &self.0
    }
}

/// Why an authorization request was refused. Its response is the server's: a redirect (or
/// `form_post` page) to the client with `error`, `state` and `iss`, or, when the client or
/// its redirect URI is not established, a `400` page that redirects nowhere (RFC 6749
/// §4.1.2.1).
#[derive(Debug)]
pub struct AuthorizeRejection {
    /// What went wrong, and whether it may be redirected
    /// ([`AuthorizeError::is_redirected`]).
    pub error: AuthorizeError,
    server: AuthorizationServer,
}

impl IntoResponse for AuthorizeRejection {
    fn into_response(self) -> Response {
        into_response(self.server.authorize_error_response(&self.error))
    }
}

impl<S> FromRequest<S> for OAuth2Authorize
where
    OAuth2Provider: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthorizeRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let provider = OAuth2Provider::from_ref(state);
        let server = provider.server().clone();
        let request = match core_request(req, &provider).await {
            Ok(request) => request,
            Err(error) => {
                return Err(AuthorizeRejection { error: AuthorizeError { error, redirect: None }, server });
            }
        };
        match server.authorization_request(&request).await {
            Ok(request) => Ok(Self(request)),
            Err(error) => Err(AuthorizeRejection { error, server }),
        }
    }
}

/// Grants `request` (RFC 6749 §4.1.2): the redirect (or `form_post` page) carrying the code,
/// `state` and `iss`; or, when the request no longer holds (the client or its redirect URI
/// changed, or `grant` names scopes beyond those asked for), the error response.
pub async fn grant_response(
    server: &AuthorizationServer,
    request: &AuthorizationRequest,
    grant: Grant,
) -> Response {
    into_response(server.grant_response(request, grant).await)
}

/// Denies `request`: `access_denied` back to the client (RFC 6749 §4.1.2.1).
pub fn deny_response(server: &AuthorizationServer, request: &AuthorizationRequest) -> Response {
    into_response(server.deny(request))
}

/// Answers `request` with `error` at the client's redirect URI, for example
/// [`ProviderError::LoginRequired`] or [`ProviderError::ConsentRequired`] on `prompt=none`.
pub fn authorize_error_response(
    server: &AuthorizationServer,
    request: &AuthorizationRequest,
    error: ProviderError,
) -> Response {
    into_response(server.authorize_error(request, error))
}

/// The scopes a bearer-protected handler requires, as a type (declared with
/// [`required_scopes!`](crate::required_scopes)), and the default, no scope: defined once in
/// the core, for both frameworks' extractors.
pub use keyward::oauth2::provider::{AnyScope, RequiredScopes};

/// A request with a valid OAuth 2 bearer token (RFC 6750) carrying the scopes of `R`:
/// derefs to the token's [`AccessGrant`] (`auth.subject`, `auth.client_id`, `auth.scopes`).
///
/// The token is read from the `Authorization` header, and from the query when the server's
/// [`BearerPlacement`](keyward::oauth2::provider::BearerPlacement) enables it; the body is
/// left to the handler (for a form-body token, RFC 6750 §2.2, take [`OAuth2BearerForm`]).
/// Rejects with [`BearerRejection`].
pub struct OAuth2Bearer<R: RequiredScopes = AnyScope> {
    /// What the token grants.
    pub grant: AccessGrant,
    _scopes: PhantomData<fn() -> R>,
}

impl<R: RequiredScopes> std::fmt::Debug for OAuth2Bearer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Bearer").field("grant", &self.grant).field("required", &R::SCOPES).finish()
    }
}

impl<R: RequiredScopes> Deref for OAuth2Bearer<R> {
    type Target = AccessGrant;

    fn deref(&self) -> &AccessGrant {
        &self.grant
    }
}

impl<R: RequiredScopes> OAuth2Bearer<R> {
    /// Checks further scopes at run time: `403 insufficient_scope` unless the token carries
    /// every one of `scopes`.
    pub fn require(&self, scopes: &[&str]) -> Result<(), BearerRejection> {
        self.grant.require(scopes).map_err(BearerRejection)
    }
}

/// Why a bearer-protected request was refused (RFC 6750 §3.1): `401` with
/// `WWW-Authenticate: Bearer` (and `error="invalid_token"` for a bad token), `403
/// insufficient_scope` with the scopes needed, `400 invalid_request` for a token sent twice,
/// `503` when the token store cannot answer.
#[derive(Debug)]
pub struct BearerRejection(pub BearerError);

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        into_response(self.0.to_response(None))
    }
}

/// The parts of a request the resource protector reads without a body: method, URI, the
/// `Authorization` and `DPoP` headers. With a `DPoP` proof the URI is made absolute, for
/// the proof's `htu` (RFC 9449 §4.3).
fn bearer_request(
    provider: &OAuth2Provider,
    method: &http::Method,
    uri: &http::Uri,
    headers: &HeaderMap,
) -> Result<http::Request<Vec<u8>>, ProviderError> {
    let mut request = http::Request::new(Vec::new());
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri.clone();
    for name in [header::AUTHORIZATION, http::HeaderName::from_static("dpop")] {
        for value in headers.get_all(&name) {
            request.headers_mut().append(name.clone(), value.clone());
        }
    }
    if request.headers().contains_key("dpop") {
        *request.uri_mut() = provider.absolute_uri(uri.clone(), headers)?;
    }
    Ok(request)
}

impl<S, R> FromRequestParts<S> for OAuth2Bearer<R>
where
    OAuth2Provider: FromRef<S>,
    S: Send + Sync,
    R: RequiredScopes,
{
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let provider = OAuth2Provider::from_ref(state);
        let request = bearer_request(&provider, &parts.method, &parts.uri, &parts.headers)
            .map_err(|_| BearerRejection(BearerError::InvalidRequest("the request cannot be read")))?;
        let grant = provider.protector().validate(&request, R::SCOPES).await.map_err(BearerRejection)?;
        Ok(Self { grant, _scopes: PhantomData })
    }
}

/// `Option<OAuth2Bearer<R>>`: `None` when the request carries no bearer token (for a
/// resource that also takes other credentials, or none); a token that is there but invalid,
/// or lacks a scope, still rejects.
impl<S, R> OptionalFromRequestParts<S> for OAuth2Bearer<R>
where
    OAuth2Provider: FromRef<S>,
    S: Send + Sync,
    R: RequiredScopes,
{
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        match <Self as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(bearer) => Ok(Some(bearer)),
            Err(BearerRejection(BearerError::Missing)) => Ok(None),
            Err(rejection) => Err(rejection),
        }
    }
}

/// A request with a valid OAuth 2 bearer token carrying the scopes of `R`, which may also sit
/// in the form body (RFC 6750 §2.2) when the server's
/// [`BearerPlacement`](keyward::oauth2::provider::BearerPlacement) enables it. The body is
/// read (up to the options' limit) to look for it: read it from
/// [`request`](Self::request). Derefs to the token's [`AccessGrant`]; rejects with
/// [`BearerRejection`] (a body that cannot be read is `400 invalid_request`).
pub struct OAuth2BearerForm<R: RequiredScopes = AnyScope> {
    /// What the token grants.
    pub grant: AccessGrant,
    /// The request, with an absolute URI and the body read.
    pub request: http::Request<Vec<u8>>,
    _scopes: PhantomData<fn() -> R>,
}

impl<R: RequiredScopes> std::fmt::Debug for OAuth2BearerForm<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2BearerForm")
            .field("grant", &self.grant)
            .field("required", &R::SCOPES)
            .finish_non_exhaustive()
    }
}

impl<R: RequiredScopes> Deref for OAuth2BearerForm<R> {
    type Target = AccessGrant;

    fn deref(&self) -> &AccessGrant {
        &self.grant
    }
}

impl<S, R> FromRequest<S> for OAuth2BearerForm<R>
where
    OAuth2Provider: FromRef<S>,
    S: Send + Sync,
    R: RequiredScopes,
{
    type Rejection = BearerRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let provider = OAuth2Provider::from_ref(state);
        let request = core_request(req, &provider)
            .await
            .map_err(|_| BearerRejection(BearerError::InvalidRequest("the request cannot be read")))?;
        let grant = provider.protector().validate(&request, R::SCOPES).await.map_err(BearerRejection)?;
        Ok(Self { grant, request, _scopes: PhantomData })
    }
}

/// The device authorization endpoint (RFC 8628 §3.1): the device asks for a device code and
/// a user code. Mount it with `any(..)` like [`token_endpoint`]; without a device store the
/// server answers `400 unsupported_grant_type`.
pub async fn device_authorization_endpoint(State(provider): State<OAuth2Provider>, req: Request) -> Response {
    match core_request(req, &provider).await {
        Ok(req) => into_response(provider.server().device_authorization(&req).await),
        Err(e) => OAuth2Rejection(e).into_response(),
    }
}

/// The client registration endpoint (RFC 7591 §3): mount it with `any(..)` at the
/// configured [`RegistrationConfig::endpoint`](keyward::oauth2::provider::RegistrationConfig)'s
/// path; the server answers `404` when registration is off.
pub async fn registration_endpoint(State(provider): State<OAuth2Provider>, req: Request) -> Response {
    match core_request(req, &provider).await {
        Ok(req) => into_response(provider.server().register(&req).await),
        Err(e) => OAuth2Rejection(e).into_response(),
    }
}

/// The client configuration endpoint (RFC 7592 §2; `GET`, `PUT`, `DELETE`): mount it with
/// `any(..)` at the registration endpoint's path followed by `/{client_id}`.
pub async fn client_configuration_endpoint(
    State(provider): State<OAuth2Provider>,
    axum::extract::Path(client_id): axum::extract::Path<String>,
    req: Request,
) -> Response {
    match core_request(req, &provider).await {
        Ok(req) => into_response(provider.server().client_configuration(&req, &client_id).await),
        Err(e) => OAuth2Rejection(e).into_response(),
    }
}

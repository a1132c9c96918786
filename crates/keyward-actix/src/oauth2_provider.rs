//! The OAuth 2.1 authorization server on actix-web: conversions only, the flows live in
//! [`keyward::oauth2::provider`].
//!
//! - [`OAuth2Provider`]: the server, its resource protector and how requests are read
//!   ([`RequestOptions`]), registered as `web::Data<OAuth2Provider>`.
//! - [`token_endpoint`] (RFC 6749 §3.2), [`revocation_endpoint`] (RFC 7009),
//!   [`introspection_endpoint`] (RFC 7662): handlers to mount with `web::route()` (any
//!   method), so that a wrong method gets the server's own JSON `405`; [`metadata_endpoint`]
//!   (RFC 8414) at [`OAUTH_WELL_KNOWN`].
//! - [`registration_endpoint`] (RFC 7591 §3) and [`client_configuration_endpoint`] (RFC 7592
//!   §2, at `{registration endpoint}/{client_id}`): dynamic client registration, answered
//!   `404` by the server unless turned on; mount them with `web::route()` too.
//! - [`OAuth2Authorize`]: an extractor giving the application's authorization handler the
//!   validated [`AuthorizationRequest`] (RFC 6749 §4.1.1), or failing with the server's error
//!   response (redirected to the client, or a `400` page when the client or redirect URI is
//!   not established). The application signs the user in and asks for consent, then answers
//!   with [`grant_response`], [`deny_response`] or [`authorize_error_response`].
//! - [`OAuth2Bearer`]: an extractor that checks the bearer token (RFC 6750) and gives the
//!   handler its subject, client and scopes; `OAuth2Bearer<R>` also requires the scopes of
//!   `R: `[`RequiredScopes`] (see [`required_scopes!`](crate::required_scopes)). It fails
//!   with `401`/`403` and `WWW-Authenticate: Bearer` (§3).
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, web};
//! use keyward::oauth2::provider::{AuthorizationServer, Grant};
//! use keyward_actix::oauth2_provider::{
//!     OAUTH_WELL_KNOWN, OAuth2Authorize, OAuth2Bearer, OAuth2Provider, grant_response,
//!     introspection_endpoint, metadata_endpoint, revocation_endpoint, token_endpoint,
//! };
//!
//! keyward_actix::required_scopes!(Profile = "profile");
//!
//! // A real application signs the user in and shows a consent page first.
//! async fn authorize(p: web::Data<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> HttpResponse {
//!     let scopes = req.scopes.clone();
//!     grant_response(p.server(), &req, Grant::new("alice", scopes)).await
//! }
//!
//! async fn me(auth: OAuth2Bearer<Profile>) -> String {
//!     format!("{:?} via {}", auth.subject, auth.client_id)
//! }
//!
//! # fn app(server: AuthorizationServer) {
//! let app = App::new()
//!     .app_data(web::Data::new(OAuth2Provider::new(server)))
//!     .route("/authorize", web::route().to(authorize))
//!     .route("/token", web::route().to(token_endpoint))
//!     .route("/revoke", web::route().to(revocation_endpoint))
//!     .route("/introspect", web::route().to(introspection_endpoint))
//!     .route(OAUTH_WELL_KNOWN, web::get().to(metadata_endpoint))
//!     .route("/api/me", web::get().to(me));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode as ActixStatus;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use keyward::oauth2::provider::{
    AccessGrant, AuthorizationRequest, AuthorizationServer, AuthorizeError, BearerError, Grant, ProviderError,
};
pub use keyward::oauth2::provider::{OAuth2Provider, RequestOptions};
pub use keyward::oauth2::rfc8414::OAUTH_WELL_KNOWN;

use crate::provider::into_response;

/// The request's method, URI and headers in the `http` crate's types (actix-web keeps its
/// own copies of them).
fn head(req: &HttpRequest, all_headers: bool) -> Result<http::Request<Vec<u8>>, ProviderError> {
    let method = http::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ProviderError::InvalidRequest("unknown HTTP method"))?;
    let uri: http::Uri =
        req.uri().to_string().parse().map_err(|_| ProviderError::InvalidRequest("malformed URI"))?;
    let mut out = http::Request::new(Vec::new());
    *out.method_mut() = method;
    *out.uri_mut() = uri;
    let headers = out.headers_mut();
    for (name, value) in req.headers() {
        if !all_headers && name != actix_web::http::header::AUTHORIZATION && name.as_str() != "dpop" {
            continue;
        }
        let name = http::HeaderName::from_bytes(name.as_str().as_bytes());
        let value = http::HeaderValue::from_bytes(value.as_bytes());
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    Ok(out)
}

/// Converts an actix request and its payload into the core's request: the URI made absolute
/// (the scheme from the options, the host from the URI or the `Host` header), the body read
/// up to the options' limit. A body over the limit, one that fails to arrive, or no usable
/// host is `400 invalid_request`.
pub async fn core_request(
    req: &HttpRequest,
    payload: web::Payload,
    provider: &OAuth2Provider,
) -> Result<http::Request<Vec<u8>>, ProviderError> {
    let body = match payload.to_bytes_limited(provider.options().max_body()).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return Err(ProviderError::InvalidRequest("the body could not be read")),
        Err(_) => return Err(ProviderError::InvalidRequest("the body is too large")),
    };
    let (mut parts, _) = head(req, true)?.into_parts();
    parts.uri = provider.absolute_uri(std::mem::take(&mut parts.uri), &parts.headers)?;
    Ok(http::Request::from_parts(parts, body.to_vec()))
}

fn status(status: http::StatusCode) -> ActixStatus {
    ActixStatus::from_u16(status.as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR)
}

/// An error of the token, revocation or introspection endpoint as an actix error: the RFC
/// 6749 §5.2 JSON body, its status, `Cache-Control: no-store`, and `WWW-Authenticate: Basic`
/// after a failed Basic authentication.
#[derive(Debug)]
pub struct OAuth2Rejection(pub ProviderError);

impl fmt::Display for OAuth2Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for OAuth2Rejection {
    fn status_code(&self) -> ActixStatus {
        status(self.0.status())
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.0.to_response())
    }
}

impl From<ProviderError> for OAuth2Rejection {
    fn from(e: ProviderError) -> Self {
        Self(e)
    }
}

/// The token endpoint (RFC 6749 §3.2): every grant the server supports.
pub async fn token_endpoint(
    provider: web::Data<OAuth2Provider>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match core_request(&req, payload, &provider).await {
        Ok(req) => into_response(provider.server().token(&req).await),
        Err(e) => into_response(e.to_response()),
    }
}

/// The pushed authorization request endpoint (RFC 9126 §2): `201 {request_uri,
/// expires_in}`. Mount it with `web::route()` like [`token_endpoint`]; without a PAR store
/// the server answers `400 invalid_request`.
pub async fn pushed_authorization_endpoint(
    provider: web::Data<OAuth2Provider>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match core_request(&req, payload, &provider).await {
        Ok(req) => into_response(provider.server().pushed_authorization(&req).await),
        Err(e) => into_response(e.to_response()),
    }
}

/// The revocation endpoint (RFC 7009 §2).
pub async fn revocation_endpoint(
    provider: web::Data<OAuth2Provider>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match core_request(&req, payload, &provider).await {
        Ok(req) => into_response(provider.server().revoke(&req).await),
        Err(e) => into_response(e.to_response()),
    }
}

/// The introspection endpoint (RFC 7662 §2).
pub async fn introspection_endpoint(
    provider: web::Data<OAuth2Provider>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match core_request(&req, payload, &provider).await {
        Ok(req) => into_response(provider.server().introspect(&req).await),
        Err(e) => into_response(e.to_response()),
    }
}

/// The authorization server metadata document (RFC 8414 §3), to mount at
/// [`OAUTH_WELL_KNOWN`] (for an issuer with a path, RFC 8414 §3.1 puts the path after it).
pub async fn metadata_endpoint(provider: web::Data<OAuth2Provider>) -> HttpResponse {
    into_response(provider.server().metadata_response())
}

type LocalFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>>>>;

fn provider_of(req: &HttpRequest) -> Result<web::Data<OAuth2Provider>, actix_web::Error> {
    req.app_data::<web::Data<OAuth2Provider>>().cloned().ok_or_else(|| {
        actix_web::error::ErrorInternalServerError("OAuth2Provider is not registered as app data")
    })
}

/// A validated authorization request (RFC 6749 §4.1.1) from the query of a GET or the form
/// body of a POST, for the application's authorization handler. Keep it (it is serde)
/// across the sign-in and consent pages, then answer with [`grant_response`],
/// [`deny_response`] or [`authorize_error_response`].
///
/// Fails with [`AuthorizeRejection`]; take `Result<OAuth2Authorize, actix_web::Error>` and
/// downcast to render a page of your own for the errors that are not redirected.
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

impl fmt::Display for AuthorizeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for AuthorizeRejection {
    fn status_code(&self) -> ActixStatus {
        status(self.server.authorize_error_response(&self.error).status())
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.server.authorize_error_response(&self.error))
    }
}

impl FromRequest for OAuth2Authorize {
    type Error = actix_web::Error;
    type Future = LocalFuture<Self, actix_web::Error>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, mut payload) = (req.clone(), payload.take());
        Box::pin(async move {
            let provider = provider_of(&req)?;
            let server = provider.server().clone();
            let body = web::Payload::from_request(&req, &mut payload).await?;
            let request = match core_request(&req, body, &provider).await {
                Ok(request) => request,
                Err(error) => {
                    let error = AuthorizeError { error, redirect: None };
                    return Err(AuthorizeRejection { error, server }.into());
                }
            };
            match server.authorization_request(&request).await {
                Ok(request) => Ok(Self(request)),
                Err(error) => Err(AuthorizeRejection { error, server }.into()),
            }
        })
    }
}

/// Grants `request` (RFC 6749 §4.1.2): the redirect (or `form_post` page) carrying the code,
/// `state` and `iss`; or, when the request no longer holds (the client or its redirect URI
/// changed, or `grant` names scopes beyond those asked for), the error response.
pub async fn grant_response(
    server: &AuthorizationServer,
    request: &AuthorizationRequest,
    grant: Grant,
) -> HttpResponse {
    into_response(server.grant_response(request, grant).await)
}

/// Denies `request`: `access_denied` back to the client (RFC 6749 §4.1.2.1).
pub fn deny_response(server: &AuthorizationServer, request: &AuthorizationRequest) -> HttpResponse {
    into_response(server.deny(request))
}

/// Answers `request` with `error` at the client's redirect URI, for example
/// [`ProviderError::LoginRequired`] or [`ProviderError::ConsentRequired`] on `prompt=none`.
pub fn authorize_error_response(
    server: &AuthorizationServer,
    request: &AuthorizationRequest,
    error: ProviderError,
) -> HttpResponse {
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
/// Fails with [`BearerRejection`].
pub struct OAuth2Bearer<R: RequiredScopes = AnyScope> {
    /// What the token grants.
    pub grant: AccessGrant,
    _scopes: PhantomData<fn() -> R>,
}

impl<R: RequiredScopes> fmt::Debug for OAuth2Bearer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

impl fmt::Display for BearerRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for BearerRejection {
    fn status_code(&self) -> ActixStatus {
        status(self.0.status())
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.0.to_response(None))
    }
}

impl<R: RequiredScopes> FromRequest for OAuth2Bearer<R> {
    type Error = actix_web::Error;
    type Future = LocalFuture<Self, actix_web::Error>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let provider = provider_of(&req)?;
            let unreadable = || BearerRejection(BearerError::InvalidRequest("the request cannot be read"));
            let mut request = head(&req, false).map_err(|_| unreadable())?;
            if request.headers().contains_key("dpop") {
                // A DPoP proof's `htu` is the request's absolute URL (RFC 9449 §4.3).
                let all = head(&req, true).map_err(|_| unreadable())?;
                *request.uri_mut() =
                    provider.absolute_uri(request.uri().clone(), all.headers()).map_err(|_| unreadable())?;
            }
            let grant = provider.protector().validate(&request, R::SCOPES).await.map_err(BearerRejection)?;
            Ok(Self { grant, _scopes: PhantomData })
        })
    }
}

/// A request with a valid OAuth 2 bearer token carrying the scopes of `R`, which may also sit
/// in the form body (RFC 6750 §2.2) when the server's
/// [`BearerPlacement`](keyward::oauth2::provider::BearerPlacement) enables it. The body is
/// read (up to the options' limit) to look for it: read it from
/// [`request`](Self::request). Derefs to the token's [`AccessGrant`]; fails with
/// [`BearerRejection`] (a body that cannot be read is `400 invalid_request`).
pub struct OAuth2BearerForm<R: RequiredScopes = AnyScope> {
    /// What the token grants.
    pub grant: AccessGrant,
    /// The request, with an absolute URI and the body read.
    pub request: http::Request<Vec<u8>>,
    _scopes: PhantomData<fn() -> R>,
}

impl<R: RequiredScopes> fmt::Debug for OAuth2BearerForm<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

impl<R: RequiredScopes> FromRequest for OAuth2BearerForm<R> {
    type Error = actix_web::Error;
    type Future = LocalFuture<Self, actix_web::Error>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, mut payload) = (req.clone(), payload.take());
        Box::pin(async move {
            let provider = provider_of(&req)?;
            let body = web::Payload::from_request(&req, &mut payload).await?;
            let request = core_request(&req, body, &provider)
                .await
                .map_err(|_| BearerRejection(BearerError::InvalidRequest("the request cannot be read")))?;
            let grant = provider.protector().validate(&request, R::SCOPES).await.map_err(BearerRejection)?;
            Ok(Self { grant, request, _scopes: PhantomData })
        })
    }
}

/// The device authorization endpoint (RFC 8628 §3.1): the device asks for a device code and
/// a user code. Mount it with `web::route()` like [`token_endpoint`]; without a device store
/// the server answers `400 unsupported_grant_type`.
pub async fn device_authorization_endpoint(
    provider: web::Data<OAuth2Provider>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match core_request(&req, payload, &provider).await {
        Ok(req) => into_response(provider.server().device_authorization(&req).await),
        Err(e) => into_response(e.to_response()),
    }
}

/// The client registration endpoint (RFC 7591 §3): mount it with `web::route()` at the
/// configured [`RegistrationConfig::endpoint`](keyward::oauth2::provider::RegistrationConfig)'s
/// path; the server answers `404` when registration is off.
pub async fn registration_endpoint(
    provider: web::Data<OAuth2Provider>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match core_request(&req, payload, &provider).await {
        Ok(req) => into_response(provider.server().register(&req).await),
        Err(e) => into_response(e.to_response()),
    }
}

/// The client configuration endpoint (RFC 7592 §2; `GET`, `PUT`, `DELETE`): mount it with
/// `web::route()` at the registration endpoint's path followed by `/{client_id}`.
pub async fn client_configuration_endpoint(
    provider: web::Data<OAuth2Provider>,
    client_id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match core_request(&req, payload, &provider).await {
        Ok(req) => into_response(provider.server().client_configuration(&req, &client_id).await),
        Err(e) => into_response(e.to_response()),
    }
}

//! The OAuth 1.0a provider (RFC 5849) on actix-web: conversions only, the flow lives in
//! [`keyward::oauth1::rfc5849::provider`].
//!
//! - [`OAuth1Provider`]: the provider, registered as `web::Data<OAuth1Provider>`.
//! - [`temporary_credential_endpoint`] (RFC 5849 §2.1) and [`token_endpoint`] (§2.3):
//!   handlers to mount with `web::route()` (any method), so that a non-POST gets the
//!   provider's own `405 method_not_allowed`.
//! - [`OAuth1Request`]: the request as the core takes it, for the application's own
//!   authorization (consent) handlers (§2.2).
//! - [`OAuth1Protected`]: an extractor that validates a signed request (§3) and hands the
//!   handler the client and the user the token acts for, or fails with the error's status.
//!
//! ```no_run
//! use actix_web::{App, web};
//! use keyward::oauth1::rfc5849::provider::AuthorizationServer;
//! use keyward_actix::provider::{OAuth1Protected, OAuth1Provider, temporary_credential_endpoint, token_endpoint};
//! # fn app(server: AuthorizationServer) {
//! async fn me(auth: OAuth1Protected) -> String {
//!     format!("{} for {}", auth.client.client_id, auth.user_id())
//! }
//! let app = App::new()
//!     .app_data(web::Data::new(OAuth1Provider::new(server)))
//!     .route("/oauth/request_token", web::route().to(temporary_credential_endpoint))
//!     .route("/oauth/access_token", web::route().to(token_endpoint))
//!     .route("/api/me", web::get().to(me));
//! # }
//! ```

use actix_web::dev::Payload;
use actix_web::http::StatusCode as ActixStatus;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use keyward::oauth1::rfc5849::provider::{InvalidRequest, PeerAddr, Protected, ProviderError};
pub use keyward::oauth1::rfc5849::provider::{OAuth1Provider, RequestOptions};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// Converts an actix request and its payload into the core's request (RFC 5849 §3.4.1):
/// the body read up to the limit, the URI made absolute from the `Host` header and the
/// configured scheme, and the TCP peer as a [`PeerAddr`] (plain http is then accepted only
/// from loopback peers).
pub async fn core_request(
    req: &HttpRequest,
    payload: web::Payload,
    options: &RequestOptions,
) -> Result<http::Request<Vec<u8>>, ProviderError> {
    let body = match payload.to_bytes_limited(options.max_body()).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return Err(InvalidRequest::BodyRead.into()),
        Err(_) => return Err(InvalidRequest::BodyTooLarge.into()),
    };
    let method = http::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| InvalidRequest::Other("unknown HTTP method"))?;
    let mut headers = http::HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        let name = http::HeaderName::from_bytes(name.as_str().as_bytes());
        let value = http::HeaderValue::from_bytes(value.as_bytes());
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    let uri: http::Uri = req.uri().to_string().parse().map_err(|_| InvalidRequest::RelativeUri)?;
    let uri = options.absolute_uri(&uri, &headers)?;
    let mut out = http::Request::new(body.to_vec());
    if let Some(peer) = req.peer_addr() {
        out.extensions_mut().insert(PeerAddr(peer));
    }
    *out.method_mut() = method;
    *out.uri_mut() = uri;
    *out.headers_mut() = headers;
    Ok(out)
}

/// Converts a core response (RFC 5849 §2.1–§2.3, §3.2) into an actix response.
pub fn into_response(resp: http::Response<Vec<u8>>) -> HttpResponse {
    let (parts, body) = resp.into_parts();
    let status = ActixStatus::from_u16(parts.status.as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        builder.append_header((name.as_str(), value.as_bytes()));
    }
    builder.body(body)
}

/// A provider error (RFC 5849 §3.2) as an actix error: its status, form-encoded body and headers.
#[derive(Debug)]
pub struct ProviderRejection(pub ProviderError);

impl fmt::Display for ProviderRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ProviderRejection {
    fn status_code(&self) -> ActixStatus {
        ActixStatus::from_u16(self.0.status().as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.0.to_response())
    }
}

impl From<ProviderError> for ProviderRejection {
    fn from(e: ProviderError) -> Self {
        Self(e)
    }
}

/// The temporary credential endpoint (RFC 5849 §2.1).
pub async fn temporary_credential_endpoint(
    provider: web::Data<OAuth1Provider>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match core_request(&req, payload, provider.options()).await {
        Ok(req) => into_response(provider.server().create_temporary_credential_response(&req).await),
        Err(e) => into_response(e.to_response()),
    }
}

/// The token endpoint (RFC 5849 §2.3).
pub async fn token_endpoint(
    provider: web::Data<OAuth1Provider>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match core_request(&req, payload, provider.options()).await {
        Ok(req) => into_response(provider.server().create_token_response(&req).await),
        Err(e) => into_response(e.to_response()),
    }
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

fn provider_of(req: &HttpRequest) -> Result<web::Data<OAuth1Provider>, actix_web::Error> {
    req.app_data::<web::Data<OAuth1Provider>>().cloned().ok_or_else(|| {
        actix_web::error::ErrorInternalServerError("OAuth1Provider is not registered as app data")
    })
}

/// Reads the request with the registered provider's options.
async fn read(
    req: HttpRequest,
    mut payload: Payload,
) -> Result<(web::Data<OAuth1Provider>, http::Request<Vec<u8>>), actix_web::Error> {
    let provider = provider_of(&req)?;
    let payload = web::Payload::from_request(&req, &mut payload).await?;
    let core = core_request(&req, payload, provider.options()).await.map_err(ProviderRejection)?;
    Ok((provider, core))
}

/// The request as the core takes it, for authorization (consent) handlers (RFC 5849 §2.2):
/// pass it to [`check_authorization_request`](keyward::oauth1::rfc5849::provider::AuthorizationServer::check_authorization_request) and
/// [`create_authorization_response`](keyward::oauth1::rfc5849::provider::AuthorizationServer::create_authorization_response).
#[derive(Debug)]
pub struct OAuth1Request(pub http::Request<Vec<u8>>);

impl FromRequest for OAuth1Request {
    type Error = actix_web::Error;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move { Ok(Self(read(req, payload).await?.1)) })
    }
}

/// A request to a protected resource, validated (RFC 5849 §3.2): the client that signed it,
/// the token credential it used, and the request itself (its body was consumed to check the
/// signature; read it here). Fails with the error's status and body.
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

impl FromRequest for OAuth1Protected {
    type Error = actix_web::Error;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, payload) = (req.clone(), payload.take());
        Box::pin(async move {
            let (provider, request) = read(req, payload).await?;
            let protected =
                provider.protector().validate_request(&request).await.map_err(ProviderRejection)?;
            Ok(Self { protected, request })
        })
    }
}

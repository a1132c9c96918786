//! The client side over actix-web: the login redirect, the callback, registry errors as
//! responses. Each function copies Keyward's session keys in and out of the actix session
//! around one step of [`RemoteApp`]'s flow; no flow logic lives here.
//!
//! ```no_run
//! use actix_session::Session;
//! use actix_web::{HttpRequest, HttpResponse, web};
//! use keyward_actix::client::{self, ClientRejection};
//! use keyward_client::registry::OAuth;
//!
//! async fn login(oauth: web::Data<OAuth>, name: web::Path<String>, session: Session)
//!     -> Result<HttpResponse, ClientRejection> {
//!     let app = oauth.client(&name)?;
//!     client::authorize_redirect(&app, &session, &format!("https://app.example/auth/{name}")).await
//! }
//!
//! async fn callback(oauth: web::Data<OAuth>, name: web::Path<String>, session: Session,
//!     req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ClientRejection> {
//!     let app = oauth.client(&name)?;
//!     let token = client::authorize_access_token(&app, &session, &req, &body).await?;
//!     Ok(HttpResponse::Ok().json(app.userinfo(&token).await?))
//! }
//! ```

use crate::SessionBridge;
use actix_session::Session as ActixSession;
use actix_web::http::StatusCode as ActixStatus;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use keyward_client::registry::{AppToken, Callback, CallbackError, Error, RemoteApp};
use std::fmt;

/// A registry error as an actix response: [`Error::status`] and the page's sentence,
/// [`ErrorKind::message`](keyward_client::registry::ErrorKind::message), as text. The error
/// itself (which rule failed, what the provider answered) goes to the log through
/// `tracing`: `WARN` for a 5xx, `INFO` for a 4xx. Never to the page.
#[derive(Debug)]
pub struct ClientRejection(pub Error);

impl From<Error> for ClientRejection {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<keyward_client::session::SessionError> for ClientRejection {
    fn from(e: keyward_client::session::SessionError) -> Self {
        Self(Error::Session(e))
    }
}

impl fmt::Display for ClientRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ClientRejection {
    fn status_code(&self) -> ActixStatus {
        ActixStatus::from_u16(self.0.status().as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self.0, "login or API call failed");
        } else {
            tracing::info!(status = status.as_u16(), error = %self.0, "login or API call refused");
        }
        HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(self.0.kind().message())
    }
}

/// Reads the provider's redirect back to the callback: a GET query or a `form_post` body.
/// [`Callback::from_request`] checks it, its size included: over
/// [`MAX_CALLBACK_BYTES`](keyward_client::flow::MAX_CALLBACK_BYTES) is
/// [`CallbackError::TooLarge`] (`413`).
pub fn callback(req: &HttpRequest, body: &[u8]) -> Result<Callback, ClientRejection> {
    let mut builder = http::Request::builder().method(req.method().as_str()).uri(req.uri().to_string());
    if let Some(ct) = req.headers().get(actix_web::http::header::CONTENT_TYPE) {
        builder = builder.header(http::header::CONTENT_TYPE, ct.as_bytes());
    }
    let request = builder
        .body(body.to_vec())
        .map_err(|e| Error::Callback(CallbackError::Unsupported(e.to_string())))?;
    Ok(Callback::from_request(&request).map_err(Error::Callback)?)
}

/// Starts `app`'s login and answers with the redirect to the provider (`302`, `no-store`).
pub async fn authorize_redirect(
    app: &RemoteApp,
    session: &ActixSession,
    redirect_uri: &str,
) -> Result<HttpResponse, ClientRejection> {
    let bridge = SessionBridge::load(session)?;
    let redirect = app.authorize_redirect(&bridge, redirect_uri).await;
    bridge.store(session)?;
    Ok(HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, redirect?.url))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// Finishes `app`'s login from the callback request and returns the token.
pub async fn authorize_access_token(
    app: &RemoteApp,
    session: &ActixSession,
    req: &HttpRequest,
    body: &[u8],
) -> Result<AppToken, ClientRejection> {
    let callback = callback(req, body)?;
    let bridge = SessionBridge::load(session)?;
    let token = app.authorize_access_token(&bridge, &callback).await;
    // The flow entry is consumed even when the exchange fails: write it back either way.
    bridge.store(session)?;
    Ok(token?)
}

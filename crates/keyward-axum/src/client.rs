//! The client side: the login redirect, the callback extractor and the registry's errors
//! as responses. The flows themselves are [`RemoteApp`](keyward_client::registry::RemoteApp)'s.
//!
//! ```no_run
//! use axum::{Router, extract::{Path, State}, routing::get, Json};
//! use keyward_axum::{KeywardSession, client::{OAuthCallback, ClientRejection, RedirectTo}};
//! use keyward_client::registry::OAuth;
//!
//! async fn login(State(oauth): State<OAuth>, Path(name): Path<String>, session: KeywardSession)
//!     -> Result<RedirectTo, ClientRejection> {
//!     let app = oauth.client(&name)?;
//!     Ok(RedirectTo(app.authorize_redirect(&session, &format!("https://app.example/auth/{name}")).await?))
//! }
//!
//! async fn callback(State(oauth): State<OAuth>, Path(name): Path<String>, session: KeywardSession,
//!     OAuthCallback(cb): OAuthCallback) -> Result<Json<serde_json::Value>, ClientRejection> {
//!     let app = oauth.client(&name)?;
//!     let token = app.authorize_access_token(&session, &cb).await?;
//!     Ok(Json(serde_json::Value::Object(app.userinfo(&token).await?)))
//! }
//!
//! # fn router(oauth: OAuth) -> Router {
//! Router::new()
//!     .route("/login/{name}", get(login))
//!     .route("/auth/{name}", get(callback).post(callback))
//!     .with_state(oauth)
//! # }
//! ```

use axum::extract::{FromRequest, Request};
use axum::http;
use axum::response::{IntoResponse, Response};
use keyward_client::registry::callback::MAX_CALLBACK_BYTES;
use keyward_client::registry::{Callback, CallbackError, Error, Redirect};

/// The provider's redirect back to the callback: a GET query or a `form_post` body.
///
/// Rejects a body over [`MAX_CALLBACK_BYTES`] with [`CallbackError::TooLarge`] (`413`), a
/// body that cannot be read (the connection broke) with [`CallbackError::BodyRead`]
/// (`400`), and a malformed callback with the [`CallbackError`] that says why (`400`).
#[derive(Debug, Clone)]
pub struct OAuthCallback(pub Callback);

impl<S: Send + Sync> FromRequest<S> for OAuthCallback {
    type Rejection = ClientRejection;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_CALLBACK_BYTES).await.map_err(|e| {
            Error::Callback(if is_length_limit(&e) {
                CallbackError::TooLarge
            } else {
                CallbackError::BodyRead(e.into_inner())
            })
        })?;
        let request = http::Request::from_parts(parts, bytes.to_vec());
        Ok(Self(Callback::from_request(&request).map_err(Error::Callback)?))
    }
}

/// Whether reading a body failed on a length limit (ours, or a limiting layer's such as
/// tower-http's `RequestBodyLimitLayer`) rather than on the body itself: axum wraps the
/// [`LengthLimitError`](http_body_util::LengthLimitError) in its own error, so the whole
/// source chain is searched.
pub(crate) fn is_length_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// A registry error as a response: [`Error::status`] and the page's sentence,
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

impl From<tower_sessions::session::Error> for ClientRejection {
    fn from(e: tower_sessions::session::Error) -> Self {
        Self(Error::Session(keyward_client::session::SessionError(e.to_string())))
    }
}

impl IntoResponse for ClientRejection {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self.0, "login or API call failed");
        } else {
            tracing::info!(status = status.as_u16(), error = %self.0, "login or API call refused");
        }
        (status, self.0.kind().message()).into_response()
    }
}

/// The redirect to the provider, as a `302 Found` that no cache keeps.
#[derive(Debug, Clone)]
pub struct RedirectTo(pub Redirect);

impl IntoResponse for RedirectTo {
    fn into_response(self) -> Response {
        let mut response = http::StatusCode::FOUND.into_response();
        match http::HeaderValue::try_from(self.0.url) {
            Ok(location) => {
                response.headers_mut().insert(http::header::LOCATION, location);
                response
                    .headers_mut()
                    .insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
                response
            }
            Err(_) => (http::StatusCode::INTERNAL_SERVER_ERROR, "invalid redirect URL").into_response(),
        }
    }
}

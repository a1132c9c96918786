//! Logout for relying parties: the back-channel logout endpoint (OpenID Connect
//! Back-Channel Logout 1.0) as a handler, and the RP-initiated logout redirect, which is
//! [`RemoteApp::logout_redirect`](keyward_client::registry::RemoteApp::logout_redirect)
//! answered with [`RedirectTo`](crate::client::RedirectTo). The validation and the hook
//! are [`BackchannelReceiver`]'s.
//!
//! ```no_run
//! use axum::{Router, extract::{Path, State}, routing::{get, post}};
//! use keyward_axum::{KeywardSession, client::{ClientRejection, RedirectTo}, logout::backchannel_logout};
//! use keyward_client::registry::{BackchannelReceiver, OAuth};
//! use std::sync::Arc;
//!
//! async fn logout(State(oauth): State<OAuth>, Path(name): Path<String>, session: KeywardSession)
//!     -> Result<RedirectTo, ClientRejection> {
//!     let app = oauth.client(&name)?;
//!     let redirect = app.logout_redirect(&session, Some("https://app.example/bye"), None).await?;
//!     // End this site's own sign-in as well, e.g. `session.0.flush().await`.
//!     Ok(RedirectTo(redirect))
//! }
//!
//! # fn router(oauth: OAuth) -> Router {
//! let receiver = BackchannelReceiver::new(
//!     oauth.clone(),
//!     Arc::new(keyward_stores::MemoryStore::new()),
//!     |app: String, sub: Option<String>, sid: Option<String>| async move {
//!         // End the sessions of `sub` (or the one of `sid`) at `app`.
//!         Ok(())
//!     },
//! );
//! Router::new()
//!     .route("/logout/{name}", get(logout))
//!     .with_state(oauth)
//!     .merge(Router::new().route("/backchannel-logout/{name}", post(backchannel_logout)).with_state(receiver))
//! # }
//! ```

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use keyward_client::registry::{BackchannelReceiver, BackchannelRejection, MAX_BACKCHANNEL_BYTES};

/// The back-channel logout endpoint of app `name` (Back-Channel §2.5, §2.8): reads the
/// form body (at most [`MAX_BACKCHANNEL_BYTES`]) and answers with
/// [`BackchannelReceiver::handle`]'s response: `200` once the hook ended the sessions,
/// `400` with `{"error":"invalid_request",…}` for an invalid request or token, `404` for an
/// unknown app, `501` when the logout could not be carried out here.
pub async fn backchannel_logout(
    State(receiver): State<BackchannelReceiver>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BACKCHANNEL_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let why = if crate::client::is_length_limit(&e) {
                "the body is too large"
            } else {
                "the body could not be read"
            };
            return into_axum(BackchannelRejection::Request(why.into()).to_response());
        }
    };
    let request = axum::http::Request::from_parts(parts, bytes.to_vec());
    let outcome = receiver.process(&name, &request).await;
    match &outcome {
        Ok(done) => tracing::info!(app = %name, sub = ?done.sub, sid = ?done.sid, "back-channel logout done"),
        Err(e) if e.status().is_client_error() => {
            tracing::info!(app = %name, status = e.status().as_u16(), error = %e, "back-channel logout refused")
        }
        Err(e) => {
            tracing::warn!(app = %name, status = e.status().as_u16(), error = %e, "back-channel logout failed")
        }
    }
    into_axum(BackchannelReceiver::respond(&outcome))
}

fn into_axum(response: axum::http::Response<Vec<u8>>) -> Response {
    let (parts, body) = response.into_parts();
    (parts, body).into_response()
}

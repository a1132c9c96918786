//! Logout for relying parties over actix-web: the RP-initiated logout redirect (OpenID
//! Connect RP-Initiated Logout 1.0) and the back-channel logout endpoint (Back-Channel
//! Logout 1.0). The flows are [`RemoteApp::logout_redirect`]'s and
//! [`BackchannelReceiver`]'s; here only conversions.
//!
//! ```no_run
//! use actix_session::Session;
//! use actix_web::{HttpRequest, HttpResponse, web};
//! use keyward_actix::{client::ClientRejection, logout};
//! use keyward_client::registry::{BackchannelReceiver, OAuth};
//!
//! async fn sign_out(oauth: web::Data<OAuth>, name: web::Path<String>, session: Session)
//!     -> Result<HttpResponse, ClientRejection> {
//!     let app = oauth.client(&name)?;
//!     logout::logout_redirect(&app, &session, Some("https://app.example/bye"), None).await
//! }
//!
//! async fn backchannel(receiver: web::Data<BackchannelReceiver>, name: web::Path<String>,
//!     req: HttpRequest, body: web::Bytes) -> HttpResponse {
//!     logout::backchannel_logout(&receiver, &name, &req, &body).await
//! }
//! ```

use crate::SessionBridge;
use crate::client::ClientRejection;
use actix_session::Session as ActixSession;
use actix_web::{HttpRequest, HttpResponse};
use keyward_client::registry::{BackchannelReceiver, RemoteApp};

/// Removes `app`'s login from the session and answers with the redirect to the provider's
/// `end_session_endpoint` (`302`, `no-store`), with `id_token_hint`, `client_id`,
/// `post_logout_redirect_uri` and `state`. The site's own sign-in is the application's to
/// end (e.g. `session.purge()`).
pub async fn logout_redirect(
    app: &RemoteApp,
    session: &ActixSession,
    post_logout_redirect_uri: Option<&str>,
    state: Option<&str>,
) -> Result<HttpResponse, ClientRejection> {
    let bridge = SessionBridge::load(session)?;
    let redirect = app.logout_redirect(&bridge, post_logout_redirect_uri, state).await;
    bridge.store(session)?;
    Ok(HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, redirect?.url))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The back-channel logout endpoint of app `name` (Back-Channel §2.5, §2.8): `200` once
/// the hook ended the sessions, `400` with `{"error":"invalid_request",…}` for an invalid
/// request or token, `404` for an unknown app, `501` when the logout could not be carried
/// out here. actix-web's payload limit applies to `body` (256 kB by default); the receiver
/// refuses more than [`MAX_BACKCHANNEL_BYTES`](keyward_client::registry::MAX_BACKCHANNEL_BYTES).
pub async fn backchannel_logout(
    receiver: &BackchannelReceiver,
    name: &str,
    req: &HttpRequest,
    body: &[u8],
) -> HttpResponse {
    let mut builder = http::Request::builder().method(req.method().as_str()).uri(req.uri().to_string());
    if let Some(ct) = req.headers().get(actix_web::http::header::CONTENT_TYPE) {
        builder = builder.header(http::header::CONTENT_TYPE, ct.as_bytes());
    }
    let outcome = match builder.body(body.to_vec()) {
        Ok(request) => receiver.process(name, &request).await,
        Err(e) => Err(keyward_client::registry::BackchannelRejection::Request(e.to_string())),
    };
    match &outcome {
        Ok(done) => tracing::info!(app = %name, sub = ?done.sub, sid = ?done.sid, "back-channel logout done"),
        Err(e) if e.status().is_client_error() => {
            tracing::info!(app = %name, status = e.status().as_u16(), error = %e, "back-channel logout refused")
        }
        Err(e) => {
            tracing::warn!(app = %name, status = e.status().as_u16(), error = %e, "back-channel logout failed")
        }
    }
    let response = BackchannelReceiver::respond(&outcome);
    let status = actix_web::http::StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(actix_web::http::StatusCode::NOT_IMPLEMENTED);
    let mut out = HttpResponse::build(status);
    for (name, value) in response.headers() {
        out.insert_header((name.as_str(), value.as_bytes()));
    }
    out.body(response.into_body())
}

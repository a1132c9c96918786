//! OpenID Connect RP-Initiated Logout 1.0 on actix-web: conversions only, the rules live in
//! [`keyward::oidc::provider::end_session`].
//!
//! [`EndSession`] extracts the validated [`LogoutRequest`] (GET query or POST form) or fails
//! with the server's error page, never redirected ([`EndSessionRejection`]). The
//! application asks [`logout_confirmation_needed`](AuthorizationServer::logout_confirmation_needed)
//! with its signed-in user, shows its confirmation page when needed (keeping the request,
//! which is serde, in its session), ends its own session, hands
//! [`backchannel_logout`](AuthorizationServer::backchannel_logout)'s deliveries to a
//! `keyward_client::oauth2::BackchannelNotifier`, and answers with [`end_session_response`].
//! The [`OAuth2Provider`] must be registered as app data.
//!
//! ```no_run
//! use actix_web::{HttpResponse, web};
//! use keyward_actix::end_session::{EndSession, end_session_response};
//! use keyward_actix::oauth2_provider::OAuth2Provider;
//!
//! async fn logout(p: web::Data<OAuth2Provider>, EndSession(request): EndSession) -> HttpResponse {
//!     let user = Some("alice"); // the application's signed-in user, from its session
//!     if p.server().logout_confirmation_needed(&request, user).await.unwrap_or(true) {
//!         // … keep `request` in the session and show a confirmation page …
//!     }
//!     // … end the application's session, notify back-channel clients …
//!     end_session_response(p.server(), &request).await
//! }
//!
//! # fn routes(cfg: &mut web::ServiceConfig) {
//! cfg.route("/logout", web::route().to(logout));
//! # }
//! ```

use std::fmt;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode as ActixStatus;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use keyward::oauth2::provider::{AuthorizationServer, OAuth2Provider};
pub use keyward::oidc::provider::end_session::{EndSessionError, LogoutRequest};

use crate::oauth2_provider::core_request;
use crate::provider::into_response;

/// A validated end-session request (RP-Initiated Logout §2) for the application's logout
/// handler. Fails with [`EndSessionRejection`].
#[derive(Debug, Clone)]
pub struct EndSession(pub LogoutRequest);

impl Deref for EndSession {
    type Target = LogoutRequest;

    fn deref(&self) -> &LogoutRequest {
        &self.0
    }
}

/// Why an end-session request was refused: the server's page with its status (`400`,
/// `405`, `500` or `503`), never a redirect (§4).
#[derive(Debug)]
pub struct EndSessionRejection(pub EndSessionError);

impl fmt::Display for EndSessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for EndSessionRejection {
    fn status_code(&self) -> ActixStatus {
        ActixStatus::from_u16(self.0.status().as_u16()).unwrap_or(ActixStatus::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.0.to_response())
    }
}

impl FromRequest for EndSession {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, mut payload) = (req.clone(), payload.take());
        Box::pin(async move {
            let provider = req.app_data::<web::Data<OAuth2Provider>>().cloned().ok_or_else(|| {
                actix_web::error::ErrorInternalServerError("OAuth2Provider is not registered as app data")
            })?;
            let body = web::Payload::from_request(&req, &mut payload).await?;
            let request =
                core_request(&req, body, &provider).await.map_err(|e| EndSessionRejection(e.into()))?;
            match provider.server().end_session_request(&request).await {
                Ok(request) => Ok(Self(request)),
                Err(e) => Err(EndSessionRejection(e).into()),
            }
        })
    }
}

/// The answer once the application ended its session (§3): the redirect to the registered
/// post-logout URI with `state`, or a "signed out" page.
pub async fn end_session_response(server: &AuthorizationServer, request: &LogoutRequest) -> HttpResponse {
    into_response(server.end_session_response(request).await)
}

//! OpenID Connect RP-Initiated Logout 1.0 on axum: conversions only, the rules live in
//! [`keyward::oidc::provider::end_session`].
//!
//! [`EndSession`] extracts the validated [`LogoutRequest`] (GET query or POST form) or
//! rejects with the server's error page, never redirected ([`EndSessionRejection`]). The
//! application asks [`logout_confirmation_needed`](AuthorizationServer::logout_confirmation_needed)
//! with its signed-in user, shows its confirmation page when needed (keeping the request,
//! which is serde, in its session), ends its own session, hands
//! [`backchannel_logout`](AuthorizationServer::backchannel_logout)'s deliveries to a
//! `keyward_client::oauth2::BackchannelNotifier`, and answers with [`end_session_response`].
//!
//! ```no_run
//! use axum::{Router, extract::State, response::Response, routing::any};
//! use keyward_axum::end_session::{EndSession, end_session_response};
//! use keyward_axum::oauth2_provider::OAuth2Provider;
//!
//! async fn logout(State(p): State<OAuth2Provider>, EndSession(request): EndSession) -> Response {
//!     let user = Some("alice"); // the application's signed-in user, from its session
//!     if p.server().logout_confirmation_needed(&request, user).await.unwrap_or(true) {
//!         // … keep `request` in the session and show a confirmation page …
//!     }
//!     // … end the application's session, notify back-channel clients …
//!     end_session_response(p.server(), &request).await
//! }
//!
//! # fn app(provider: OAuth2Provider) -> Router {
//! Router::new().route("/logout", any(logout)).with_state(provider)
//! # }
//! ```

use std::ops::Deref;

use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use keyward::oauth2::provider::{AuthorizationServer, OAuth2Provider};
pub use keyward::oidc::provider::end_session::{EndSessionError, LogoutRequest};

use crate::oauth2_provider::core_request;
use crate::provider::into_response;

/// A validated end-session request (RP-Initiated Logout §2) for the application's logout
/// handler. Rejects with [`EndSessionRejection`].
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

impl IntoResponse for EndSessionRejection {
    fn into_response(self) -> Response {
        into_response(self.0.to_response())
    }
}

impl<S> FromRequest<S> for EndSession
where
    OAuth2Provider: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = EndSessionRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let provider = OAuth2Provider::from_ref(state);
        let request = core_request(req, &provider).await.map_err(|e| EndSessionRejection(e.into()))?;
        provider.server().end_session_request(&request).await.map(Self).map_err(EndSessionRejection)
    }
}

/// The answer once the application ended its session (§3): the redirect to the registered
/// post-logout URI with `state`, or a "signed out" page.
pub async fn end_session_response(server: &AuthorizationServer, request: &LogoutRequest) -> Response {
    into_response(server.end_session_response(request).await)
}

//! The OpenID Provider on actix-web: conversions only, the provider lives in
//! [`keyward::oidc::provider`]. The handlers take the same `web::Data<OAuth2Provider>` as the
//! OAuth 2 endpoints (its server built with
//! [`openid`](keyward::oauth2::provider::AuthorizationServerBuilder::openid)).
//!
//! - [`userinfo`] (OpenID Connect Core §5.3): mount with `web::route()`; GET and POST, other
//!   methods get the server's `405`.
//! - [`openid_configuration`] (Discovery §4) at [`OIDC_WELL_KNOWN`], and [`jwks`] at the
//!   configured `jwks_uri`.
//! - [`spawn_key_rotation`]: ticks a [`KeyManager`] on a timer, off the request path.
//!
//! ```no_run
//! use actix_web::{App, web};
//! use keyward::oauth2::provider::AuthorizationServer;
//! use keyward_actix::oauth2_provider::{OAuth2Provider, token_endpoint};
//! use keyward_actix::oidc_provider::{OIDC_WELL_KNOWN, jwks, openid_configuration, userinfo};
//!
//! # fn app(server: AuthorizationServer) {
//! let app = App::new()
//!     .app_data(web::Data::new(OAuth2Provider::new(server)))
//!     .route("/token", web::route().to(token_endpoint))
//!     .route("/userinfo", web::route().to(userinfo))
//!     .route(OIDC_WELL_KNOWN, web::get().to(openid_configuration))
//!     .route("/jwks", web::get().to(jwks));
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use keyward::Clock as _;
use keyward::jose::rotation::KeyManager;
pub use keyward::oauth2::provider::OAuth2Provider;
pub use keyward::oauth2::rfc8414::OIDC_WELL_KNOWN;

use crate::oauth2_provider::core_request;
use crate::provider::into_response;

/// The UserInfo endpoint (OpenID Connect Core §5.3): the bearer token from the header, or
/// the form body of a POST; RFC 6750 errors.
pub async fn userinfo(
    provider: web::Data<OAuth2Provider>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match core_request(&req, payload, &provider).await {
        Ok(req) => into_response(provider.server().userinfo(&req).await),
        Err(e) => into_response(e.to_response()),
    }
}

/// The OpenID Provider configuration document (Discovery §4), to mount at
/// [`OIDC_WELL_KNOWN`].
pub async fn openid_configuration(provider: web::Data<OAuth2Provider>) -> HttpResponse {
    into_response(provider.server().openid_configuration_response())
}

/// The JWK set (RFC 7517 §5) of the ID-token keys, to mount at the configured `jwks_uri`.
pub async fn jwks(provider: web::Data<OAuth2Provider>) -> HttpResponse {
    into_response(provider.server().jwks_response())
}

/// Ticks `manager` every `every` (a minute is plenty) with the system time, on a task of the
/// current actix runtime: it adopts keys another instance saved, rotates and prunes (see
/// [`KeyManager::tick`]). A failed tick is logged and retried at the next one. Abort the
/// returned handle to stop.
pub fn spawn_key_rotation(manager: Arc<KeyManager>, every: Duration) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut timer = actix_web::rt::time::interval(every);
        loop {
            timer.tick().await;
            if let Err(e) = manager.tick(keyward::SystemClock.now()).await {
                tracing::warn!(error = %e, "signing key rotation tick failed");
            }
        }
    })
}

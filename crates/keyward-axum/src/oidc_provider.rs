//! The OpenID Provider on axum: conversions only, the provider lives in
//! [`keyward::oidc::provider`]. The router state is the same [`OAuth2Provider`] as the
//! OAuth 2 endpoints' (its server built with
//! [`openid`](keyward::oauth2::provider::AuthorizationServerBuilder::openid)).
//!
//! - [`userinfo`] (OpenID Connect Core §5.3): mount with `any(..)`; GET and POST, other
//!   methods get the server's `405`.
//! - [`openid_configuration`] (Discovery §4) at [`OIDC_WELL_KNOWN`], and [`jwks`] at the
//!   configured `jwks_uri`.
//! - [`spawn_key_rotation`]: ticks a [`KeyManager`] on a timer, off the request path.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use axum::{Router, routing::{any, get}};
//! use keyward::jose::rotation::{KeyManager, RotationPolicy};
//! use keyward::oauth2::provider::{AuthorizationServer, ServerConfig};
//! use keyward::oidc::provider::{NoClaims, OpenIdConfig, OpenIdProvider};
//! use keyward_axum::oauth2_provider::{OAuth2Provider, token_endpoint};
//! use keyward_axum::oidc_provider::{OIDC_WELL_KNOWN, jwks, openid_configuration, spawn_key_rotation, userinfo};
//!
//! # async fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let issuer = "https://op.example";
//! let keys = Arc::new(keyward_stores::MemoryKeyStore::new());
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
//! let manager = Arc::new(KeyManager::start(keys, "id-tokens", RotationPolicy::default(), now).await?);
//! let openid = OpenIdProvider::new(OpenIdConfig::new(issuer), manager.keys(), Arc::new(NoClaims));
//! let store = Arc::new(keyward_stores::MemoryStore::new());
//! let server = AuthorizationServer::builder(store, ServerConfig::new(issuer)).openid(openid).build();
//! spawn_key_rotation(manager, Duration::from_secs(60));
//! Ok(Router::new()
//!     .route("/token", any(token_endpoint))
//!     .route("/userinfo", any(userinfo))
//!     .route(OIDC_WELL_KNOWN, get(openid_configuration))
//!     .route("/jwks", get(jwks))
//!     .with_state(OAuth2Provider::new(server)))
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use keyward::Clock as _;
use keyward::jose::rotation::KeyManager;
pub use keyward::oauth2::provider::OAuth2Provider;
pub use keyward::oauth2::rfc8414::OIDC_WELL_KNOWN;

use crate::oauth2_provider::{OAuth2Rejection, core_request};
use crate::provider::into_response;

/// The UserInfo endpoint (OpenID Connect Core §5.3): the bearer token from the header, or
/// the form body of a POST; RFC 6750 errors.
pub async fn userinfo(State(provider): State<OAuth2Provider>, req: Request) -> Response {
    match core_request(req, &provider).await {
        Ok(req) => into_response(provider.server().userinfo(&req).await),
        Err(e) => OAuth2Rejection(e).into_response(),
    }
}

/// The OpenID Provider configuration document (Discovery §4), to mount at
/// [`OIDC_WELL_KNOWN`].
pub async fn openid_configuration(State(provider): State<OAuth2Provider>) -> Response {
    into_response(provider.server().openid_configuration_response())
}

/// The JWK set (RFC 7517 §5) of the ID-token keys, to mount at the configured `jwks_uri`.
pub async fn jwks(State(provider): State<OAuth2Provider>) -> Response {
    into_response(provider.server().jwks_response())
}

/// Ticks `manager` every `every` (a minute is plenty) with the system time, on a task of its
/// own: it adopts keys another instance saved, rotates and prunes (see
/// [`KeyManager::tick`]). A failed tick is logged and retried at the next one. Abort the
/// returned handle to stop.
pub fn spawn_key_rotation(manager: Arc<KeyManager>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            if let Err(e) = manager.tick(keyward::SystemClock.now()).await {
                tracing::warn!(error = %e, "signing key rotation tick failed");
            }
        }
    })
}

//! # keyward-axum — Keyward for axum
//!
//! Conversions only: the flows live in `keyward-client` and `keyward` once.
//!
//! - [`client`]: the login redirect, the callback extractor, registry errors as responses.
//! - [`logout`]: the back-channel logout endpoint and the RP-initiated logout redirect.
//! - [`provider`]: the OAuth 1.0a provider's endpoints and resource-protection extractor.
//! - [`oauth2_provider`]: the OAuth 2.1 authorization server's endpoints, the authorization
//!   request extractor and the bearer-token extractor.
//!
//! - [`KeywardSession`]: an extractor wrapping a tower-sessions [`tower_sessions::Session`]
//!   as Keyward's [`Session`].
//! - [`session_layer`]: a tower-sessions layer configured so that logins work out of the box:
//!   `SameSite=Lax`. tower-sessions defaults to `Strict`, with which the browser does not
//!   send the session cookie on the provider's redirect back to the callback, and every
//!   login fails with a state mismatch.

pub mod client;
pub mod logout;
#[cfg(feature = "provider")]
pub mod oauth2_provider;

/// Declares the scopes an [`OAuth2Bearer<R>`](oauth2_provider::OAuth2Bearer) requires, as a
/// type: `required_scopes!(pub WriteNotes = "notes:write");` (defined in the core).
#[cfg(feature = "provider")]
pub use keyward::required_scopes;
#[cfg(feature = "provider")]
pub mod provider;

// The crate README's axum example (the same as the repository README's, which a test keeps
// in step), compiled as a doc-test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use keyward::common::http_client::BoxFuture;
use keyward_client::session::{Session, SessionError};
use tower_sessions::cookie::SameSite;
use tower_sessions::{SessionManagerLayer, SessionStore};

/// A tower-sessions session, usable by Keyward's drivers.
#[derive(Debug, Clone)]
pub struct KeywardSession(pub tower_sessions::Session);

impl<S: Send + Sync> FromRequestParts<S> for KeywardSession {
    type Rejection = <tower_sessions::Session as FromRequestParts<S>>::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        tower_sessions::Session::from_request_parts(parts, state).await.map(KeywardSession)
    }
}

fn err(e: tower_sessions::session::Error) -> SessionError {
    SessionError(e.to_string())
}

impl Session for KeywardSession {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<serde_json::Value>, SessionError>> {
        Box::pin(async move { self.0.get(key).await.map_err(err) })
    }
    fn insert<'a>(
        &'a self,
        key: &'a str,
        value: serde_json::Value,
    ) -> BoxFuture<'a, Result<(), SessionError>> {
        Box::pin(async move { self.0.insert(key, value).await.map_err(err) })
    }
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), SessionError>> {
        Box::pin(async move { self.0.remove::<serde_json::Value>(key).await.map(drop).map_err(err) })
    }
}

/// A session layer over `store` with the cookie set as OAuth logins need:
/// `SameSite=Lax` (sent on the top-level redirect back from the provider), `HttpOnly`, and
/// `Secure` as `secure` says (true in production behind https).
pub fn session_layer<S: SessionStore + Clone>(store: S, secure: bool) -> SessionManagerLayer<S> {
    SessionManagerLayer::new(store).with_same_site(SameSite::Lax).with_http_only(true).with_secure(secure)
}

/// This crate's guide (the markdown under its `docs/` folder, listed with the others in the
/// repository's `docs/README.md`); its Rust examples are doc-tests.
pub mod guides {
    #[doc = include_str!("../docs/axum.md")]
    pub mod axum {}
}

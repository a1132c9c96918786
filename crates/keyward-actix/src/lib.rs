//! # keyward-actix — Keyward for actix-web
//!
//! Conversions only: the flows live in `keyward-client` and `keyward` once.
//!
//! - [`client`]: the login redirect, the callback, registry errors as responses.
//! - [`logout`]: the RP-initiated logout redirect and the back-channel logout endpoint.
//! - [`provider`]: the OAuth 1.0a provider's endpoints and resource-protection extractor.
//! - [`oauth2_provider`]: the OAuth 2.1 authorization server's endpoints, the authorization
//!   request extractor and the bearer-token extractor.
//!
//! actix-session's [`actix_session::Session`] is tied to its thread, while Keyward's drivers
//! are `Send`. [`SessionBridge`] copies Keyward's few session keys into a sendable session
//! for the duration of a flow step and writes them back after it.
//!
//! actix-session's cookies default to `SameSite=Lax`, which is what logins need (the cookie
//! must come back on the provider's redirect to the callback); do not set it to `Strict`.

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

use actix_session::Session as ActixSession;
use keyward::common::http_client::BoxFuture;
use keyward_client::session::{KEYWARD_KEYS, MemorySession, Session, SessionError};

/// Keyward's session keys, lifted out of an actix session.
#[derive(Debug)]
pub struct SessionBridge(MemorySession);

impl SessionBridge {
    /// Copies Keyward's keys out of `session`.
    pub fn load(session: &ActixSession) -> Result<Self, SessionError> {
        let mut values = Vec::new();
        for key in KEYWARD_KEYS {
            let v: Option<serde_json::Value> = session.get(key).map_err(|e| SessionError(e.to_string()))?;
            if let Some(v) = v {
                values.push(((*key).to_owned(), v));
            }
        }
        Ok(Self(MemorySession::from_values(values)))
    }

    /// Writes Keyward's keys back into `session` (removing those the flow removed).
    pub fn store(self, session: &ActixSession) -> Result<(), SessionError> {
        let mut values = self.0.into_values();
        for key in KEYWARD_KEYS {
            match values.remove(*key) {
                Some(v) => session.insert(*key, v).map_err(|e| SessionError(e.to_string()))?,
                None => {
                    session.remove(key);
                }
            }
        }
        Ok(())
    }
}

impl Session for SessionBridge {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<serde_json::Value>, SessionError>> {
        self.0.get(key)
    }
    fn insert<'a>(
        &'a self,
        key: &'a str,
        value: serde_json::Value,
    ) -> BoxFuture<'a, Result<(), SessionError>> {
        self.0.insert(key, value)
    }
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), SessionError>> {
        self.0.remove(key)
    }
}

/// This crate's guide (the markdown under its `docs/` folder, listed with the others in the
/// repository's `docs/README.md`); its Rust examples are doc-tests.
pub mod guides {
    #[doc = include_str!("../docs/actix-web.md")]
    pub mod actix_web {}
}

//! The user's session as the drivers see it: a small async key/value interface that the
//! framework crates implement over tower-sessions and actix-session, and [`MemorySession`]
//! for tests and non-web use.

use keyward::common::http_client::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;

/// The session backend failed (store unreachable, value not serialisable).
#[derive(Debug, thiserror::Error)]
#[error("session error: {0}")]
pub struct SessionError(pub String);

/// A user's session: JSON values under string keys.
pub trait Session: Send + Sync {
    /// Reads a value.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<serde_json::Value>, SessionError>>;
    /// Writes a value.
    fn insert<'a>(
        &'a self,
        key: &'a str,
        value: serde_json::Value,
    ) -> BoxFuture<'a, Result<(), SessionError>>;
    /// Removes a value.
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), SessionError>>;
}

/// A session held in memory: for tests, command-line programs and single-user tools.
#[derive(Debug, Default)]
pub struct MemorySession(Mutex<HashMap<String, serde_json::Value>>);

/// The session keys Keyward's drivers read and write; a bridge to a session type that
/// cannot be shared across threads copies these in and out (see `keyward-actix`).
pub const KEYWARD_KEYS: &[&str] = &[crate::flow::SESSION_KEY, crate::flow::LOGINS_KEY];

impl MemorySession {
    /// An empty session.
    pub fn new() -> Self {
        Self::default()
    }

    /// A session holding these values.
    pub fn from_values(values: impl IntoIterator<Item = (String, serde_json::Value)>) -> Self {
        Self(Mutex::new(values.into_iter().collect()))
    }

    /// The values it holds.
    pub fn into_values(self) -> HashMap<String, serde_json::Value> {
        self.0.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, serde_json::Value>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Session for MemorySession {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<serde_json::Value>, SessionError>> {
        let v = self.map().get(key).cloned();
        Box::pin(async move { Ok(v) })
    }
    fn insert<'a>(
        &'a self,
        key: &'a str,
        value: serde_json::Value,
    ) -> BoxFuture<'a, Result<(), SessionError>> {
        self.map().insert(key.to_owned(), value);
        Box::pin(async { Ok(()) })
    }
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), SessionError>> {
        self.map().remove(key);
        Box::pin(async { Ok(()) })
    }
}

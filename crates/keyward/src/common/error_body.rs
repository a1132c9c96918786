//! The error body shared by OAuth 1.0a providers (as Authlib writes it) and OAuth 2.0
//! (RFC 6749 §5.2): `error`, `error_description`, `error_uri`.

use serde::{Deserialize, Serialize};

/// An OAuth error as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error code, e.g. `invalid_request`.
    pub error: String,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// A page about the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl ErrorBody {
    /// An error with only a code.
    pub fn new(error: impl Into<String>) -> Self {
        Self { error: error.into(), error_description: None, error_uri: None }
    }

    /// Adds a description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.error_description = Some(description.into());
        self
    }

    /// Serialises as `application/x-www-form-urlencoded` (OAuth 1.0a responses).
    pub fn to_form(&self) -> String {
        let mut pairs = vec![("error", self.error.as_str())];
        if let Some(d) = &self.error_description {
            pairs.push(("error_description", d));
        }
        if let Some(u) = &self.error_uri {
            pairs.push(("error_uri", u));
        }
        super::encoding::encode_form(pairs)
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)?;
        if let Some(d) = &self.error_description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

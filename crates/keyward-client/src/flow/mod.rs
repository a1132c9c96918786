//! What a login carries from the redirect to the callback, shared by the drivers and the
//! registry: the [`FlowData`] kept between the two (PKCE verifier, OpenID Connect nonce,
//! OAuth 1 request token), the [`Callback`] the provider sends back, and the session key
//! under which flows are kept.
//!
//! The drivers ([`oauth1`](crate::oauth1), [`oauth2`](crate::oauth2)) produce and consume
//! these; the registry stores them. Nothing here knows the registry.

pub mod callback;

pub use callback::{Callback, CallbackError, MAX_CALLBACK_BYTES};

use keyward::common::secret::SecretString;
use keyward::oauth2::rfc7636::CodeVerifier;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The session key under which Keyward keeps its flow entries.
pub const SESSION_KEY: &str = "_keyward_flows";

/// The session key under which the registry keeps each app's OpenID Connect login (the ID
/// token for logout's `id_token_hint`, its `sub` and `sid`).
pub const LOGINS_KEY: &str = "_keyward_logins";

/// What the callback needs from the redirect.
///
/// Not `Clone`: it holds the PKCE verifier, a single-use secret, from the redirect that
/// creates it to the code exchange that spends it. Its `Debug` redacts the secrets.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowData {
    /// The `redirect_uri` sent in the authorization request (repeated at the token endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// The PKCE code verifier (RFC 7636 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<CodeVerifier>,
    /// The OpenID Connect nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The OAuth 1 temporary credential's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_token: Option<String>,
    /// The OAuth 1 temporary credential's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_token_secret: Option<SecretString>,
    /// Anything else the application wants back on the callback.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_survives_serde_and_stays_out_of_debug() {
        let data = FlowData {
            code_verifier: Some(CodeVerifier::new("v".repeat(43))),
            request_token_secret: Some(SecretString::new("hunter2")),
            ..FlowData::default()
        };
        let json = serde_json::to_value(&data).unwrap();
        assert_eq!(json["code_verifier"], "v".repeat(43), "stored as the plain string it was");
        let back: FlowData = serde_json::from_value(json).unwrap();
        assert_eq!(back, data);
        let debug = format!("{data:?}");
        assert!(!debug.contains("vvv") && !debug.contains("hunter2"), "{debug}");
    }
}

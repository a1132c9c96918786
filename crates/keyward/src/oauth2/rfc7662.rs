//! RFC 7662, OAuth 2.0 Token Introspection.

use super::error::{json_object, reject_error_object};
use super::{FormRequest, OAuth2Error};
use serde::{Deserialize, Serialize};

/// The introspection request of §2.1. Add client authentication as for the token endpoint.
pub fn introspection_request(endpoint: &str, token: &str, token_type_hint: Option<&str>) -> FormRequest {
    let mut r = FormRequest::new(endpoint).param("token", token);
    if let Some(hint) = token_type_hint {
        r.push("token_type_hint", hint);
    }
    r
}

/// The introspection response of §2.2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token is active; all else is meaningful only when it is.
    pub active: bool,
    /// Scopes, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The resource owner's username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The token type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The audience(s), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The token's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Other members.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Reads an introspection response (§2.2; errors §2.3).
pub fn parse_introspection_response(
    response: &http::Response<Vec<u8>>,
) -> Result<Introspection, OAuth2Error> {
    let status = response.status().as_u16();
    let map = json_object(response)?;
    reject_error_object(status, &map)?;
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| OAuth2Error::parse(status, response.body(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_active_and_inactive() {
        let r = http::Response::builder()
            .status(200)
            .body(br#"{"active":true,"scope":"a b","exp":10,"client_id":"c","x":"y"}"#.to_vec())
            .unwrap();
        let i = parse_introspection_response(&r).unwrap();
        assert!(i.active);
        assert_eq!((i.exp, i.client_id.as_deref(), i.extra["x"].as_str()), (Some(10), Some("c"), Some("y")));
        let r = http::Response::builder().status(200).body(br#"{"active":false}"#.to_vec()).unwrap();
        assert!(!parse_introspection_response(&r).unwrap().active);
        let r = http::Response::builder().status(200).body(br#"{"scope":"x"}"#.to_vec()).unwrap();
        assert!(matches!(parse_introspection_response(&r), Err(OAuth2Error::Parse { .. })));
    }
}

//! RFC 8628, OAuth 2.0 Device Authorization Grant.

use super::error::{as_seconds, json_object, reject_error_object};
use super::{FormRequest, OAuth2Error};
use crate::secret_type;

/// The `grant_type` of the device access token request (§3.4).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The polling interval when the server gives none (§3.2).
pub const DEFAULT_INTERVAL: u64 = 5;

/// Seconds added to the interval on each `slow_down` (§3.5).
pub const SLOW_DOWN_STEP: u64 = 5;

secret_type! {
    /// The `device_code` (§3.2): it authorizes the token request, so it is a secret.
    #[derive(Clone)]
    pub struct DeviceCode;
}

/// The device authorization request of §3.1. Add client authentication as for the token
/// endpoint (a public client sends `client_id` with the `none` method).
pub fn device_authorization_request(endpoint: &str, scope: Option<&str>) -> FormRequest {
    let mut r = FormRequest::new(endpoint);
    if let Some(s) = scope.filter(|s| !s.is_empty()) {
        r.push("scope", s);
    }
    r
}

/// The device authorization response of §3.2.
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    /// The device verification code.
    pub device_code: DeviceCode,
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// A URI that already holds the user code.
    pub verification_uri_complete: Option<String>,
    /// Lifetime of the codes, in seconds.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
}

/// Reads a device authorization response (§3.2; errors RFC 6749 §5.2).
pub fn parse_device_authorization_response(
    response: &http::Response<Vec<u8>>,
) -> Result<DeviceAuthorization, OAuth2Error> {
    let status = response.status().as_u16();
    let map = json_object(response)?;
    reject_error_object(status, &map)?;
    let bad = |reason: &str| OAuth2Error::parse(status, response.body(), reason);
    let text = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let secs = |k: &str| map.get(k).and_then(as_seconds).and_then(|s| u64::try_from(s).ok());
    Ok(DeviceAuthorization {
        device_code: DeviceCode::new(text("device_code").ok_or_else(|| bad("no `device_code`"))?),
        user_code: text("user_code").ok_or_else(|| bad("no `user_code`"))?,
        // `verification_url` is the name of an earlier draft that Google still uses.
        verification_uri: text("verification_uri")
            .or_else(|| text("verification_url"))
            .ok_or_else(|| bad("no `verification_uri`"))?,
        verification_uri_complete: text("verification_uri_complete"),
        expires_in: secs("expires_in").ok_or_else(|| bad("no `expires_in`"))?,
        interval: secs("interval").filter(|i| *i > 0).unwrap_or(DEFAULT_INTERVAL),
    })
}

/// What a failed device token request means for the poll loop (§3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollStep {
    /// `authorization_pending`: poll again after the interval.
    Pending,
    /// `slow_down`: poll again with the interval increased by [`SLOW_DOWN_STEP`].
    SlowDown,
    /// `access_denied`, `expired_token` or any other error: stop.
    Stop,
}

/// Classifies a token-endpoint error during device polling (§3.5).
pub fn poll_step(error: &OAuth2Error) -> PollStep {
    match error.code() {
        Some("authorization_pending") => PollStep::Pending,
        Some("slow_down") => PollStep::SlowDown,
        _ => PollStep::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_response_and_classifies_errors() {
        let r = http::Response::builder()
            .status(200)
            .body(br#"{"device_code":"d","user_code":"U-1","verification_uri":"https://a/d","expires_in":"600"}"#.to_vec())
            .unwrap();
        let d = parse_device_authorization_response(&r).unwrap();
        assert_eq!((d.user_code.as_str(), d.expires_in, d.interval), ("U-1", 600, DEFAULT_INTERVAL));
        let e = OAuth2Error::Server { status: 400, body: crate::common::ErrorBody::new("slow_down") };
        assert_eq!(poll_step(&e), PollStep::SlowDown);
        let e = OAuth2Error::Server { status: 400, body: crate::common::ErrorBody::new("expired_token") };
        assert_eq!(poll_step(&e), PollStep::Stop);
    }
}

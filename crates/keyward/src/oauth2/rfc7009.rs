//! RFC 7009, OAuth 2.0 Token Revocation.

use super::error::error_body;
use super::{FormRequest, OAuth2Error};

/// The revocation request of §2.1: `token` and, when known, `token_type_hint`
/// (`access_token` or `refresh_token`). Add client authentication as for the token endpoint.
pub fn revocation_request(endpoint: &str, token: &str, token_type_hint: Option<&str>) -> FormRequest {
    let mut r = FormRequest::new(endpoint).param("token", token);
    if let Some(hint) = token_type_hint {
        r.push("token_type_hint", hint);
    }
    r
}

/// Reads the revocation response: 200 is success whatever the body (§2.2, an invalid token
/// included); errors are §2.2.1's (`unsupported_token_type`, RFC 6749 §5.2 codes).
pub fn parse_revocation_response(response: &http::Response<Vec<u8>>) -> Result<(), OAuth2Error> {
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Ok(());
    }
    match error_body(response.body()) {
        Some(body) if (400..600).contains(&status) => Err(OAuth2Error::Server { status, body }),
        _ => Err(OAuth2Error::Status { status, body: response.body().clone() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_responses() {
        let r = revocation_request("https://as.example/revoke", "tok", Some("refresh_token"))
            .into_http()
            .unwrap();
        assert_eq!(r.body(), b"token=tok&token_type_hint=refresh_token");
        let ok = http::Response::builder().status(200).body(Vec::new()).unwrap();
        assert!(parse_revocation_response(&ok).is_ok());
        let e = http::Response::builder()
            .status(503)
            .body(br#"{"error":"unsupported_token_type"}"#.to_vec())
            .unwrap();
        assert_eq!(parse_revocation_response(&e).unwrap_err().code(), Some("unsupported_token_type"));
        let e = http::Response::builder().status(500).body(b"oops".to_vec()).unwrap();
        assert!(matches!(parse_revocation_response(&e), Err(OAuth2Error::Status { status: 500, .. })));
    }
}

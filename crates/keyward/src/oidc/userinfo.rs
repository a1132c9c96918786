//! OpenID Connect Core §5.3: the UserInfo endpoint.

use super::OidcError;
use crate::oauth2::OAuth2Error;
use crate::oauth2::rfc6750::{TokenPlacement, add_bearer_token};
use serde_json::{Map, Value};

/// The UserInfo request (§5.3.1): `GET` with the access token as a bearer header.
pub fn userinfo_request(endpoint: &str, access_token: &str) -> Result<http::Request<Vec<u8>>, OAuth2Error> {
    let mut request = super::jwks::get_json(endpoint)?;
    add_bearer_token(&mut request, access_token, TokenPlacement::Header)?;
    Ok(request)
}

/// Reads a UserInfo response (§5.3.2) and checks that its `sub` is the ID token's
/// (`expected_sub`), which the specification requires before using any claim.
///
/// An error (§5.3.3) is RFC 6750 §3's: the code is read from `WWW-Authenticate` when the
/// body has none.
pub fn parse_userinfo_response(
    response: &http::Response<Vec<u8>>,
    expected_sub: Option<&str>,
) -> Result<Map<String, Value>, OidcError> {
    let status = response.status().as_u16();
    if !response.status().is_success()
        && let Some(body) = www_authenticate_error(response)
    {
        return Err(OAuth2Error::Server { status, body }.into());
    }
    let is_jwt = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/jwt"));
    if is_jwt && response.status().is_success() {
        return Err(OidcError::Unsupported("signed or encrypted userinfo responses".into()));
    }
    let map = crate::oauth2::error_json_object(response)?;
    if let Some(expected) = expected_sub {
        let got = map.get("sub").and_then(Value::as_str);
        if got != Some(expected) {
            return Err(OidcError::SubjectMismatch {
                expected: expected.to_owned(),
                got: got.map(str::to_owned),
            });
        }
    }
    Ok(map)
}

/// The `error` and `error_description` of a `WWW-Authenticate: Bearer …` header (RFC 6750 §3).
fn www_authenticate_error(response: &http::Response<Vec<u8>>) -> Option<crate::common::ErrorBody> {
    let header = response.headers().get(http::header::WWW_AUTHENTICATE)?.to_str().ok()?;
    let param = |name: &str| {
        let start = header.find(&format!("{name}=\""))? + name.len() + 2;
        let end = header[start..].find('"')? + start;
        Some(header[start..end].to_owned())
    };
    let error = param("error")?;
    Some(crate::common::ErrorBody {
        error,
        error_description: param("error_description"),
        error_uri: param("error_uri"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_must_match_and_errors_are_read() {
        let r =
            http::Response::builder().status(200).body(br#"{"sub":"u1","email":"a@b"}"#.to_vec()).unwrap();
        assert_eq!(parse_userinfo_response(&r, Some("u1")).unwrap()["email"], "a@b");
        assert!(matches!(parse_userinfo_response(&r, Some("u2")), Err(OidcError::SubjectMismatch { .. })));
        let r = http::Response::builder()
            .status(401)
            .header("www-authenticate", r#"Bearer error="invalid_token", error_description="expired""#)
            .body(Vec::new())
            .unwrap();
        match parse_userinfo_response(&r, None) {
            Err(OidcError::Protocol(e)) => assert_eq!(e.code(), Some("invalid_token")),
            other => panic!("{other:?}"),
        }
        let req = userinfo_request("https://op.example/me", "at").unwrap();
        assert_eq!(req.headers()["authorization"], "Bearer at");
    }
}

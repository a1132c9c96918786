//! RFC 9126, OAuth 2.0 Pushed Authorization Requests (PAR), the client's half: the
//! request to the PAR endpoint (§2.1), its response (§2.2) and errors (§2.3), and the
//! short authorization URL that refers to it (§4).

use super::error::{json_object, reject_error_object};
use super::rfc6749::AuthorizationUrl;
use super::{FormRequest, OAuth2Error};
use crate::common::encoding::encode_form;

/// The metadata member naming the PAR endpoint (§5).
pub const PAR_ENDPOINT_METADATA: &str = "pushed_authorization_request_endpoint";

/// The metadata member saying the server accepts authorization requests only through PAR
/// (§5).
pub const REQUIRE_PAR_METADATA: &str = "require_pushed_authorization_requests";

/// The PAR request (§2.1): `POST` to `par_endpoint` with every parameter of the
/// authorization request in the body, `client_id` included. Add client authentication with a
/// [`ClientAuthentication`](super::rfc6749::ClientAuthentication), as at the token endpoint.
pub fn pushed_authorization_request(par_endpoint: &str, authorization: &AuthorizationUrl) -> FormRequest {
    let mut request = FormRequest::new(par_endpoint);
    for (k, v) in authorization.params() {
        request.push(k, v);
    }
    request
}

/// A successful PAR response (§2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedAuthorization {
    /// The reference to the pushed request, for the authorization URL.
    pub request_uri: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
}

/// Reads a PAR response (§2.2): `201` (any 2xx is taken) with `request_uri` and
/// `expires_in`. An error object (§2.3, in a 4xx or a 2xx body) is
/// [`OAuth2Error::Server`]; a status with no error object (`405`, `413`, `429`, a 5xx) is
/// [`OAuth2Error::Status`]; a body without a usable `request_uri` is
/// [`OAuth2Error::Parse`].
pub fn parse_par_response(response: &http::Response<Vec<u8>>) -> Result<PushedAuthorization, OAuth2Error> {
    let status = response.status().as_u16();
    let map = json_object(response)?;
    reject_error_object(status, &map)?;
    let parse = |reason: &str| OAuth2Error::parse(status, response.body(), reason);
    let request_uri = match map.get("request_uri") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(parse("no `request_uri`")),
    };
    let expires_in = map
        .get("expires_in")
        .and_then(super::error::as_seconds)
        .filter(|&e| e > 0)
        .ok_or_else(|| parse("no positive `expires_in`"))?;
    Ok(PushedAuthorization { request_uri, expires_in })
}

/// The authorization URL that refers to a pushed request (§4): the authorization
/// endpoint with only `client_id` and `request_uri` (after any query of its own).
pub fn authorization_url(
    authorization_endpoint: &str,
    client_id: &str,
    pushed: &PushedAuthorization,
) -> Result<String, OAuth2Error> {
    let mut url = url::Url::parse(authorization_endpoint).map_err(|e| OAuth2Error::InvalidUrl {
        url: authorization_endpoint.to_owned(),
        reason: e.to_string(),
    })?;
    let ours = encode_form([("client_id", client_id), ("request_uri", pushed.request_uri.as_str())]);
    let query = match url.query() {
        Some(q) if !q.is_empty() => format!("{q}&{ours}"),
        _ => ours,
    };
    url.set_query(Some(&query));
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn the_request_carries_every_authorization_parameter() {
        let mut a = AuthorizationUrl::new("https://as.example/authorize", "cid", "st");
        a.param("redirect_uri", "https://c.example/cb").param("code_challenge", "ch");
        let r = pushed_authorization_request("https://as.example/par", &a);
        let req = r.into_http().unwrap();
        assert_eq!(req.uri(), "https://as.example/par");
        assert_eq!(
            req.body(),
            b"response_type=code&client_id=cid&redirect_uri=https%3A%2F%2Fc.example%2Fcb&state=st&code_challenge=ch"
        );
    }

    #[test]
    fn responses_and_errors() {
        let ok = parse_par_response(&resp(
            201,
            r#"{"request_uri":"urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c","expires_in":60}"#,
        ))
        .unwrap();
        assert_eq!(ok.expires_in, 60);
        let url = authorization_url("https://as.example/authorize?tenant=t", "s6BhdRkqt3", &ok).unwrap();
        assert_eq!(
            url,
            "https://as.example/authorize?tenant=t&client_id=s6BhdRkqt3&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A6esc_11ACC5bwc014ltc14eY22c"
        );
        let e = parse_par_response(&resp(400, r#"{"error":"invalid_request","error_description":"bad"}"#))
            .unwrap_err();
        assert!(matches!(&e, OAuth2Error::Server { status: 400, body } if body.error == "invalid_request"));
        let e = parse_par_response(&resp(200, r#"{"error":"invalid_scope"}"#)).unwrap_err();
        assert_eq!(e.code(), Some("invalid_scope"));
        assert!(matches!(parse_par_response(&resp(405, "")), Err(OAuth2Error::Status { status: 405, .. })));
        assert!(matches!(
            parse_par_response(&resp(503, "down")),
            Err(OAuth2Error::Status { status: 503, .. })
        ));
        for body in
            [r#"{"expires_in":60}"#, r#"{"request_uri":"u"}"#, r#"{"request_uri":7,"expires_in":60}"#, "[]"]
        {
            assert!(matches!(parse_par_response(&resp(201, body)), Err(OAuth2Error::Parse { .. })), "{body}");
        }
    }
}

//! RFC 6750, Bearer Token Usage: where the access token goes on a protected request.

use super::OAuth2Error;
use crate::common::encoding::{encode, encode_form, parse_form};
use std::str::FromStr;

/// Where the access token is placed (RFC 6750 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenPlacement {
    /// §2.1: `Authorization: Bearer <token>` (the default and the one to prefer).
    #[default]
    Header,
    /// §2.2: `access_token` in a form-encoded body.
    Body,
    /// §2.3: `access_token` in the URI query.
    Query,
}

impl FromStr for TokenPlacement {
    type Err = OAuth2Error;
    /// `header`, `body`, or `uri`/`query` (Authlib's names).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "header" | "headers" => Ok(TokenPlacement::Header),
            "body" => Ok(TokenPlacement::Body),
            "uri" | "url" | "query" => Ok(TokenPlacement::Query),
            other => Err(OAuth2Error::Config(format!("unknown token placement `{other}`"))),
        }
    }
}

/// Adds `access_token` to `request` as `placement` says (RFC 6750 §2.1–§2.3).
///
/// The body placement needs a form-encoded body (§2.2: `application/x-www-form-urlencoded`,
/// a method with a body); a request without a body becomes one.
pub fn add_bearer_token(
    request: &mut http::Request<Vec<u8>>,
    access_token: &str,
    placement: TokenPlacement,
) -> Result<(), OAuth2Error> {
    match placement {
        TokenPlacement::Header => {
            let mut value = http::HeaderValue::try_from(format!("Bearer {access_token}"))
                .map_err(|_| OAuth2Error::Config("the access token is not a valid header value".into()))?;
            // Kept out of `Debug` and out of HTTP/2 header compression tables (RFC 7541 §7.1.3).
            value.set_sensitive(true);
            request.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        TokenPlacement::Query => {
            let uri = request.uri().clone();
            let mut parts = uri.into_parts();
            let path = parts.path_and_query.as_ref().map(|p| p.path()).unwrap_or("/");
            let query = parts.path_and_query.as_ref().and_then(|p| p.query());
            let pair = format!("access_token={}", encode(access_token));
            let pq = match query {
                Some(q) if !q.is_empty() => format!("{path}?{q}&{pair}"),
                _ => format!("{path}?{pair}"),
            };
            parts.path_and_query =
                Some(pq.parse().map_err(|e: http::uri::InvalidUri| {
                    OAuth2Error::Config(format!("query placement: {e}"))
                })?);
            *request.uri_mut() = http::Uri::from_parts(parts)
                .map_err(|e| OAuth2Error::Config(format!("query placement: {e}")))?;
        }
        TokenPlacement::Body => {
            if matches!(*request.method(), http::Method::GET | http::Method::HEAD) {
                return Err(OAuth2Error::Config(
                    "body placement needs a method with a body (RFC 6750 §2.2)".into(),
                ));
            }
            let form = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            if !form && !request.body().is_empty() {
                return Err(OAuth2Error::Config(
                    "body placement needs a form-encoded body (RFC 6750 §2.2)".into(),
                ));
            }
            let text = std::str::from_utf8(request.body())
                .map_err(|_| OAuth2Error::Config("form body is not UTF-8".into()))?;
            let mut pairs = parse_form(text).map_err(|e| OAuth2Error::Config(format!("form body: {e}")))?;
            pairs.push(("access_token".into(), access_token.to_owned()));
            *request.body_mut() = encode_form(pairs).into_bytes();
            request.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements() {
        let mut r = http::Request::get("https://api.example/me?a=1").body(Vec::new()).unwrap();
        add_bearer_token(&mut r, "t+/", TokenPlacement::Header).unwrap();
        assert_eq!(r.headers()["authorization"], "Bearer t+/");
        add_bearer_token(&mut r, "t+/", TokenPlacement::Query).unwrap();
        assert_eq!(r.uri(), "https://api.example/me?a=1&access_token=t%2B%2F");
        assert!(add_bearer_token(&mut r, "t", TokenPlacement::Body).is_err());
        let mut r = http::Request::post("https://api.example/x")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(b"q=a+b".to_vec())
            .unwrap();
        add_bearer_token(&mut r, "tok", TokenPlacement::Body).unwrap();
        assert_eq!(r.body(), b"q=a%20b&access_token=tok");
        assert_eq!("uri".parse::<TokenPlacement>().unwrap(), TokenPlacement::Query);
        assert!("cookie".parse::<TokenPlacement>().is_err());
    }
}

//! A form-encoded POST before it is serialised: client authentication and compliance hooks
//! edit it, then [`FormRequest::into_http`] fixes its bytes.

use super::OAuth2Error;
use crate::common::encoding::encode_form;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};

/// A request to a token, revocation, introspection or device-authorization endpoint:
/// `POST` with an `application/x-www-form-urlencoded` body (RFC 6749 §3.2, RFC 7009 §2.1,
/// RFC 7662 §2.1, RFC 8628 §3.1).
///
/// Its `Debug` shows the URL, the header names and the parameters, with the value of every
/// parameter but a few public ones redacted: the body carries client secrets, assertions,
/// codes, verifiers, refresh tokens, passwords and the tokens to revoke or introspect.
#[derive(Clone)]
pub struct FormRequest {
    /// The endpoint.
    pub url: String,
    /// Headers besides `Content-Type` and `Accept`, which [`FormRequest::into_http`] sets.
    pub headers: HeaderMap,
    /// The body's parameters, in order.
    pub params: Vec<(String, String)>,
}

/// Parameters whose values are not secrets, shown by [`FormRequest`]'s `Debug`.
const PUBLIC_PARAMS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_assertion_type",
    "scope",
    "redirect_uri",
    "token_type_hint",
    "username",
    "resource",
    "audience",
];

impl std::fmt::Debug for FormRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Params<'a>(&'a [(String, String)]);
        impl std::fmt::Debug for Params<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_list()
                    .entries(self.0.iter().map(|(k, v)| {
                        let v = if PUBLIC_PARAMS.contains(&k.as_str()) { v.as_str() } else { "[redacted]" };
                        (k, v)
                    }))
                    .finish()
            }
        }
        f.debug_struct("FormRequest")
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("params", &Params(&self.params))
            .finish()
    }
}

impl FormRequest {
    /// A request to `url` with no parameters yet.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), headers: HeaderMap::new(), params: Vec::new() }
    }

    /// Appends a parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.push(name, value);
        self
    }

    /// Appends a parameter in place.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.params.push((name.into(), value.into()));
    }

    /// Sets `name` to `value`, replacing any earlier values of `name` (in its first place).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.params.iter().position(|(k, _)| k == name) {
            Some(i) => {
                self.params[i].1 = value;
                let mut seen = false;
                self.params.retain(|(k, _)| {
                    if k != name {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.params.push((name.to_owned(), value)),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &str) {
        self.params.retain(|(k, _)| k != name);
    }

    /// Serialises: `POST`, `Content-Type: application/x-www-form-urlencoded`,
    /// `Accept: application/json`, the headers, the form body.
    pub fn into_http(self) -> Result<http::Request<Vec<u8>>, OAuth2Error> {
        let uri: http::Uri = self.url.parse().map_err(|e: http::uri::InvalidUri| {
            OAuth2Error::InvalidUrl { url: self.url.clone(), reason: e.to_string() }
        })?;
        let mut request = http::Request::new(encode_form(self.params).into_bytes());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in &self.headers {
            headers.insert(name, value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place() {
        let mut r = FormRequest::new("https://a.example/t").param("a", "1").param("b", "2").param("a", "3");
        r.set("a", "x");
        assert_eq!(r.params, vec![("a".into(), "x".into()), ("b".into(), "2".into())]);
        r.set("c", "y");
        assert_eq!(r.get("c"), Some("y"));
        let req = r.into_http().unwrap();
        assert_eq!(req.body(), b"a=x&b=2&c=y");
        assert_eq!(req.method(), http::Method::POST);
    }
}

//! The request that comes back from the provider to the callback URL: a GET with a query,
//! or a POST of a form (`response_mode=form_post`, as Apple uses).

use keyward::common::ErrorBody;
use keyward::common::encoding::{DecodeError, parse_form};
use std::collections::BTreeMap;

/// The largest callback accepted (query or body): 16 KiB, far above any real callback.
pub const MAX_CALLBACK_BYTES: usize = 16 * 1024;

/// A callback that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The provider answered the authorization request with an error (`error=access_denied`
    /// when the user declined), or, for OAuth 1, `denied=…`.
    #[error("the provider returned an error: {0}")]
    Provider(ErrorBody),
    /// A parameter appears twice; a callback never carries duplicates.
    #[error("callback parameter `{0}` appears more than once")]
    Duplicated(String),
    /// Bad percent-encoding or non-UTF-8.
    #[error("malformed callback: {0}")]
    Malformed(#[from] DecodeError),
    /// Larger than [`MAX_CALLBACK_BYTES`] (`413 Payload Too Large`).
    #[error("callback larger than {MAX_CALLBACK_BYTES} bytes")]
    TooLarge,
    /// The callback's body could not be read for another reason than its size (the
    /// connection broke, a malformed chunked encoding, a failing body stream): `400`.
    #[error("the callback's body could not be read: {0}")]
    BodyRead(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Neither a GET with a query nor a POST of a form.
    #[error("unsupported callback: {0}")]
    Unsupported(String),
}

/// The parameters of a callback, checked for duplicates and provider errors.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Callback {
    params: BTreeMap<String, String>,
}

/// Callback parameters whose values are not secrets and may show in `Debug`; the code
/// (RFC 6749 §10.5: a bearer credential until exchanged), the OAuth 1 verifier and
/// anything else are redacted.
const PUBLIC_PARAMS: &[&str] = &["iss", "scope", "session_state", "oauth_token"];

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = self.params.iter().map(|(k, v)| {
            let v = if PUBLIC_PARAMS.contains(&k.as_str()) { v.as_str() } else { "[redacted]" };
            (k, v)
        });
        f.debug_struct("Callback").field("params", &BTreeMap::from_iter(shown)).finish()
    }
}

impl Callback {
    /// Reads a query string (without the `?`).
    pub fn from_query(query: &str) -> Result<Self, CallbackError> {
        Self::from_pairs(query)
    }

    /// Reads a `application/x-www-form-urlencoded` body.
    pub fn from_form(body: &[u8]) -> Result<Self, CallbackError> {
        let text = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
        Self::from_pairs(text)
    }

    /// Reads the callback from a request: the query of a GET, or the form body of a POST.
    pub fn from_request<B: AsRef<[u8]>>(request: &http::Request<B>) -> Result<Self, CallbackError> {
        let query = request.uri().query().unwrap_or("");
        match *request.method() {
            http::Method::GET => Self::from_query(query),
            http::Method::POST => {
                let form = request
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| {
                        v.split(';').next().is_some_and(|m| {
                            m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
                        })
                    });
                if !form {
                    return Err(CallbackError::Unsupported(
                        "a POST callback must be a form (form_post)".into(),
                    ));
                }
                Self::from_form(request.body().as_ref())
            }
            ref m => Err(CallbackError::Unsupported(format!("method {m}"))),
        }
    }

    fn from_pairs(text: &str) -> Result<Self, CallbackError> {
        if text.len() > MAX_CALLBACK_BYTES {
            return Err(CallbackError::TooLarge);
        }
        let mut params = BTreeMap::new();
        for (k, v) in parse_form(text)? {
            if params.contains_key(&k) {
                return Err(CallbackError::Duplicated(k));
            }
            params.insert(k, v);
        }
        if let Some(error) = params.get("error") {
            return Err(CallbackError::Provider(ErrorBody {
                error: error.clone(),
                error_description: params.get("error_description").cloned(),
                error_uri: params.get("error_uri").cloned(),
            }));
        }
        // OAuth 1 providers (X/Twitter) report a declined authorization as `denied=<token>`.
        if params.contains_key("denied") {
            return Err(CallbackError::Provider(
                ErrorBody::new("access_denied").with_description("the user denied the authorization"),
            ));
        }
        Ok(Self { params })
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The OAuth 2 `state`.
    pub fn state(&self) -> Option<&str> {
        self.get("state")
    }

    /// The OAuth 2 authorization `code`.
    pub fn code(&self) -> Option<&str> {
        self.get("code")
    }

    /// All parameters.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_code_and_verifier() {
        let cb = Callback::from_query(
            "code=the-code-value&state=st4te&iss=https%3A%2F%2Fas.example&oauth_verifier=v3rifier",
        )
        .unwrap();
        let debug = format!("{cb:?}");
        for secret in ["the-code-value", "st4te", "v3rifier"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("https://as.example") && debug.contains("code"), "{debug}");
    }

    #[test]
    fn reads_get_and_form_post() {
        let req = http::Request::get("https://app.example/cb?code=abc&state=xyz").body(Vec::new()).unwrap();
        let cb = Callback::from_request(&req).unwrap();
        assert_eq!((cb.code(), cb.state()), (Some("abc"), Some("xyz")));
        let req = http::Request::post("https://app.example/cb")
            .header("content-type", "application/x-www-form-urlencoded; charset=UTF-8")
            .body(b"code=a%2Bb&state=s".to_vec())
            .unwrap();
        assert_eq!(Callback::from_request(&req).unwrap().code(), Some("a+b"));
    }

    #[test]
    fn errors_are_typed() {
        let e = Callback::from_query("error=access_denied&error_description=no+thanks&state=s").unwrap_err();
        assert!(
            matches!(&e, CallbackError::Provider(b) if b.error == "access_denied" && b.error_description.as_deref() == Some("no thanks"))
        );
        assert!(matches!(Callback::from_query("denied=tok"), Err(CallbackError::Provider(_))));
        assert!(
            matches!(Callback::from_query("state=a&state=b"), Err(CallbackError::Duplicated(k)) if k == "state")
        );
        assert!(matches!(Callback::from_query("code=%zz"), Err(CallbackError::Malformed(_))));
        assert!(matches!(Callback::from_form(&[0xff, 0xfe]), Err(CallbackError::Malformed(_))));
        assert!(matches!(
            Callback::from_query(&"a".repeat(MAX_CALLBACK_BYTES + 1)),
            Err(CallbackError::TooLarge)
        ));
        let req = http::Request::post("https://app.example/cb")
            .header("content-type", "application/json")
            .body(Vec::new())
            .unwrap();
        assert!(matches!(Callback::from_request(&req), Err(CallbackError::Unsupported(_))));
        let req = http::Request::delete("https://app.example/cb").body(Vec::new()).unwrap();
        assert!(matches!(Callback::from_request(&req), Err(CallbackError::Unsupported(_))));
    }
}

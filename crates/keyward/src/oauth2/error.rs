//! The error type of the OAuth 2.0 core, and the helpers that read a response's JSON object
//! into it (RFC 6749 §5.1, §5.2).

use crate::common::ErrorBody;

/// What went wrong building an OAuth 2.0 request or reading its response.
///
/// `Debug` shows the raw body of a [`OAuth2Error::Parse`] only as its length: a success
/// response that did not parse (a token response whose `scope` is an array, whose
/// `expires_in` is not a number) still holds the access and refresh tokens. The body is
/// in the field for code that needs it.
#[derive(Clone, thiserror::Error)]
#[non_exhaustive]
pub enum OAuth2Error {
    /// The server answered with an RFC 6749 §5.2 error (or a companion's: RFC 7009 §2.2.1,
    /// RFC 8628 §3.5); `body.error` is the RFC error code.
    #[error("the server returned `{body}` (HTTP {status})")]
    Server {
        /// The response status (400 or 401 for §5.2 errors).
        status: u16,
        /// `error`, `error_description`, `error_uri`.
        body: ErrorBody,
    },
    /// The server answered with a status that carries no OAuth error (a 5xx, a 404, a
    /// redirect); the body is kept as it came.
    #[error("unexpected HTTP {status} from the server")]
    Status {
        /// The response status.
        status: u16,
        /// The raw body.
        body: Vec<u8>,
    },
    /// A success status with a body that is not what the specification says.
    #[error("unparseable response (HTTP {status}): {reason}")]
    Parse {
        /// The response status.
        status: u16,
        /// The raw body.
        body: Vec<u8>,
        /// What did not parse.
        reason: String,
    },
    /// A URL from configuration or from the server cannot be used.
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The request cannot be built as configured (e.g. `client_secret_basic` without a
    /// secret, PKCE `plain` not allowed).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// Signing a JWT (RFC 7523 client assertion) failed.
    #[error("JWT signing failed: {0}")]
    Jwt(String),
    /// A metadata document whose `issuer` is not the one its URL stands for (RFC 8414
    /// §3.3, OpenID Connect Discovery §4.3): well-formed, and refused.
    #[error("metadata issuer `{got}` is not `{expected}`, the URL's issuer")]
    IssuerMismatch {
        /// The issuer the URL stands for.
        expected: String,
        /// The document's `issuer`.
        got: String,
    },
}

impl std::fmt::Debug for OAuth2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OAuth2Error::Server { status, body } => {
                f.debug_struct("Server").field("status", status).field("body", body).finish()
            }
            OAuth2Error::Status { status, body } => {
                f.debug_struct("Status").field("status", status).field("body", body).finish()
            }
            OAuth2Error::Parse { status, body, reason } => f
                .debug_struct("Parse")
                .field("status", status)
                .field("body", &format_args!("[{} bytes]", body.len()))
                .field("reason", reason)
                .finish(),
            OAuth2Error::InvalidUrl { url, reason } => {
                f.debug_struct("InvalidUrl").field("url", url).field("reason", reason).finish()
            }
            OAuth2Error::Config(reason) => f.debug_tuple("Config").field(reason).finish(),
            OAuth2Error::Jwt(reason) => f.debug_tuple("Jwt").field(reason).finish(),
            OAuth2Error::IssuerMismatch { expected, got } => {
                f.debug_struct("IssuerMismatch").field("expected", expected).field("got", got).finish()
            }
        }
    }
}

impl OAuth2Error {
    /// The RFC error code when the server sent one (`invalid_grant`, `slow_down`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            OAuth2Error::Server { body, .. } => Some(&body.error),
            _ => None,
        }
    }

    pub(crate) fn parse(status: u16, body: &[u8], reason: impl Into<String>) -> Self {
        OAuth2Error::Parse { status, body: body.to_vec(), reason: reason.into() }
    }
}

/// Reads a JSON object from a response, turning §5.2 errors and unexpected statuses into
/// typed errors.
///
/// RFC 6749 §5.2: an error response is a 400 (or 401 for client authentication) with a JSON
/// object holding `error`. Some servers use other 4xx statuses; any 4xx whose body is an
/// error object counts.
pub(crate) fn json_object(
    response: &http::Response<Vec<u8>>,
) -> Result<serde_json::Map<String, serde_json::Value>, OAuth2Error> {
    let status = response.status().as_u16();
    let body = response.body();
    if !response.status().is_success() {
        if (400..500).contains(&status)
            && let Some(err) = error_body(body)
        {
            return Err(OAuth2Error::Server { status, body: err });
        }
        return Err(OAuth2Error::Status { status, body: body.clone() });
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(OAuth2Error::parse(status, body, "expected a JSON object")),
        Err(e) => {
            // Some servers answer form-encoded (GitHub without `Accept: application/json`).
            let form =
                response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(
                    |v| v.starts_with("application/x-www-form-urlencoded") || v.starts_with("text/plain"),
                );
            if form && let Some(map) = form_object(body) {
                return Ok(map);
            }
            Err(OAuth2Error::parse(status, body, e.to_string()))
        }
    }
}

fn form_object(body: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    let text = std::str::from_utf8(body).ok()?;
    let pairs = crate::common::encoding::parse_form(text).ok()?;
    Some(pairs.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect())
}

/// Reads an RFC 6749 §5.2 error object, if the body is one.
pub(crate) fn error_body(body: &[u8]) -> Option<ErrorBody> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = v.get("error")?.as_str()?.to_owned();
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Some(ErrorBody { error, error_description: text("error_description"), error_uri: text("error_uri") })
}

/// A 200 whose JSON object holds `error` is still an error (RFC 6749 §5.2 says 400, some
/// servers send 200).
pub(crate) fn reject_error_object(
    status: u16,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), OAuth2Error> {
    if let Some(error) = map.get("error").and_then(|e| e.as_str()) {
        let text = |k: &str| map.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        return Err(OAuth2Error::Server {
            status,
            body: ErrorBody {
                error: error.to_owned(),
                error_description: text("error_description"),
                error_uri: text("error_uri"),
            },
        });
    }
    Ok(())
}

/// An integer of seconds from a JSON number or a decimal string (RFC 6749 §5.1's
/// `expires_in` is a number; some servers send a string).
pub(crate) fn as_seconds(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        }
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

//! The provider's errors, each with its wire code and HTTP status.
//!
//! The codes are those Authlib's OAuth 1 server writes (RFC 5849 §3.2 leaves them to the
//! server; the statuses follow §3.2: 400 for a malformed or unsupported request, 401 for a
//! request that fails authentication). [`ProviderError::status`] is the one place where an
//! error becomes a status.

use crate::common::ErrorBody;
use crate::oauth1::rfc5849::store::StoreError;
use http::StatusCode;

/// Why a request is malformed (all answered `400 invalid_request`, RFC 5849 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// The `Authorization` header is not a well-formed `OAuth` header (RFC 5849 §3.5.1).
    #[error("malformed Authorization header")]
    MalformedHeader,
    /// The request holds bytes that are not UTF-8 or a malformed percent-escape (§3.6).
    #[error("request parameters are not valid percent-encoded UTF-8")]
    Encoding,
    /// The request body is larger than the configured limit.
    #[error("request body too large")]
    BodyTooLarge,
    /// The request body could not be read (the connection broke, or the body was not
    /// valid HTTP framing).
    #[error("request body could not be read")]
    BodyRead,
    /// `oauth_timestamp` is not a positive integer (§3.3).
    #[error("oauth_timestamp is not a positive integer")]
    MalformedTimestamp,
    /// `oauth_timestamp` is outside the accepted window, in the past or in the future (§3.3).
    #[error("oauth_timestamp is outside the accepted window")]
    StaleTimestamp,
    /// `oauth_callback` is neither `oob` nor an absolute URL (§2.1).
    #[error("oauth_callback must be \"oob\" or an absolute URL")]
    InvalidCallback,
    /// `oauth_callback` is not one of the callbacks the client registered
    /// ([`Client::redirect_uris`](crate::oauth1::rfc5849::store::Client::redirect_uris)), or
    /// is `oob` for a client that may not use it (§2.1). Judged only once the request's
    /// signature has verified, so it tells nothing to whoever cannot sign as the client.
    #[error("oauth_callback is not registered for this client")]
    UnregisteredCallback,
    /// `oauth_verifier` does not match the one issued (§2.3). The temporary credential has
    /// been consumed.
    #[error("invalid oauth_verifier")]
    InvalidVerifier,
    /// `oauth_version` is present and not `1.0` (§3.1).
    #[error("oauth_version must be 1.0")]
    UnsupportedVersion,
    /// The request's target is not a URI the provider can reconstruct (§3.4.1.2).
    #[error("request URI is not absolute")]
    RelativeUri,
    /// An identifier longer than [`MAX_IDENTIFIER_BYTES`](super::MAX_IDENTIFIER_BYTES)
    /// (`oauth_consumer_key`, `oauth_token`, `oauth_nonce`): stores key records by them; or an
    /// `oauth_callback` longer than [`MAX_CALLBACK_BYTES`](super::MAX_CALLBACK_BYTES): stores
    /// keep it with the temporary credential.
    #[error("{0} is too long")]
    TooLong(&'static str),
    /// Any other malformed input.
    #[error("{0}")]
    Other(&'static str),
}

/// An error of the OAuth 1.0a provider endpoints (RFC 5849 §2, §3.2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// `400 invalid_request`: a malformed request (§3.2).
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] InvalidRequest),
    /// `400 missing_required_parameter`: a required protocol parameter is absent (§3.2).
    #[error("missing required parameter {0}")]
    MissingRequiredParameter(&'static str),
    /// `400 unsupported_signature_method`: the method is unknown or not allowed (§3.2).
    #[error("unsupported signature method")]
    UnsupportedSignatureMethod,
    /// `400 duplicated_oauth_protocol_parameter`: a protocol parameter appears twice, in
    /// one place or across header, query and body (§3.2, §3.5).
    #[error("duplicated OAuth protocol parameter {0}")]
    DuplicatedOAuthProtocolParameter(String),
    /// `400 access_denied`: the resource owner denied the request (§2.2).
    #[error("the resource owner denied the request")]
    AccessDenied,
    /// `400 insecure_transport`: neither https nor a loopback address (§3.4.1.2, §4.8).
    #[error("https (or a loopback address) is required")]
    InsecureTransport,
    /// `401 invalid_client`: unknown client (§3.2).
    #[error("invalid client")]
    InvalidClient,
    /// `401 invalid_token`: unknown, expired, foreign or already used token (§3.2).
    #[error("invalid or expired token")]
    InvalidToken,
    /// `401 invalid_signature`: the signature does not verify (§3.2).
    #[error("invalid signature")]
    InvalidSignature,
    /// `401 invalid_nonce`: the nonce was already used with this timestamp (§3.3).
    #[error("invalid nonce")]
    InvalidNonce,
    /// `405 method_not_allowed`: the endpoint takes another HTTP method (§2.1, §2.3).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// `429 too_many_requests` (with `Retry-After`): the client already holds as many
    /// pending temporary credentials (issued, not yet authorized, not expired) as the
    /// provider allows
    /// ([`ProviderConfig::with_max_pending_temporary_credentials`](super::ProviderConfig::with_max_pending_temporary_credentials)).
    /// Some expire or are used, and the client may try again.
    #[error("too many pending temporary credentials for this client")]
    TooManyPending,
    /// A store failed: `503 temporarily_unavailable` (with `Retry-After`) when the backend
    /// could not be reached ([`StoreError::Unavailable`]: retrying may succeed), `500
    /// server_error` otherwise. Either way the request fails closed. The detail stays in
    /// the source, not on the wire.
    #[error("store failure: {0}")]
    Store(#[source] StoreError),
}

impl ProviderError {
    /// The error code written in the `error` field (RFC 5849 §3.2 leaves the codes to the
    /// server; these are Authlib's).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::MissingRequiredParameter(_) => "missing_required_parameter",
            Self::UnsupportedSignatureMethod => "unsupported_signature_method",
            Self::DuplicatedOAuthProtocolParameter(_) => "duplicated_oauth_protocol_parameter",
            Self::AccessDenied => "access_denied",
            Self::InsecureTransport => "insecure_transport",
            Self::InvalidClient => "invalid_client",
            Self::InvalidToken => "invalid_token",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidNonce => "invalid_nonce",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooManyPending => "too_many_requests",
            Self::Store(StoreError::Unavailable(_)) => "temporarily_unavailable",
            Self::Store(_) => "server_error",
        }
    }

    /// The HTTP status (RFC 5849 §3.2). The only place an error becomes a status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_)
            | Self::MissingRequiredParameter(_)
            | Self::UnsupportedSignatureMethod
            | Self::DuplicatedOAuthProtocolParameter(_)
            | Self::AccessDenied
            | Self::InsecureTransport => StatusCode::BAD_REQUEST,
            Self::InvalidClient | Self::InvalidToken | Self::InvalidSignature | Self::InvalidNonce => {
                StatusCode::UNAUTHORIZED
            }
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyPending => StatusCode::TOO_MANY_REQUESTS,
            Self::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The wire body, form-encoded like the credential responses of RFC 5849 §2.1: the code
    /// and, except for store failures, a description.
    pub fn body(&self) -> ErrorBody {
        let body = ErrorBody::new(self.code());
        match self {
            Self::Store(_) => body,
            other => body.with_description(other.to_string()),
        }
    }

    /// The error as a response: the status, the form-encoded body, `Cache-Control:
    /// no-store`, `WWW-Authenticate: OAuth` on a 401 (RFC 5849 §3.5.1) and `Allow: POST` on
    /// a 405 (the two credential endpoints are POST-only, §2.1, §2.3), `Retry-After: 1`
    /// on a 503 and `Retry-After: 60` on a 429.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        let mut resp = super::response::form(self.status(), self.body().to_form());
        let headers = resp.headers_mut();
        match self.status() {
            StatusCode::UNAUTHORIZED => {
                headers.insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("OAuth"));
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                headers.insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("60"));
            }
            _ => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::encoding::parse_form;

    #[test]
    fn every_error_has_its_code_and_status() {
        let table: Vec<(ProviderError, &str, u16)> = vec![
            (InvalidRequest::StaleTimestamp.into(), "invalid_request", 400),
            (InvalidRequest::UnregisteredCallback.into(), "invalid_request", 400),
            (ProviderError::MissingRequiredParameter("oauth_nonce"), "missing_required_parameter", 400),
            (ProviderError::UnsupportedSignatureMethod, "unsupported_signature_method", 400),
            (
                ProviderError::DuplicatedOAuthProtocolParameter("oauth_nonce".into()),
                "duplicated_oauth_protocol_parameter",
                400,
            ),
            (ProviderError::AccessDenied, "access_denied", 400),
            (ProviderError::InsecureTransport, "insecure_transport", 400),
            (ProviderError::InvalidClient, "invalid_client", 401),
            (ProviderError::InvalidToken, "invalid_token", 401),
            (ProviderError::InvalidSignature, "invalid_signature", 401),
            (ProviderError::InvalidNonce, "invalid_nonce", 401),
            (ProviderError::MethodNotAllowed, "method_not_allowed", 405),
            (ProviderError::TooManyPending, "too_many_requests", 429),
            (InvalidRequest::TooLong("oauth_callback").into(), "invalid_request", 400),
            (ProviderError::Store(StoreError::Corrupt("row at 10.0.0.5".into())), "server_error", 500),
            (
                ProviderError::Store(StoreError::unavailable("connection refused by 10.0.0.5")),
                "temporarily_unavailable",
                503,
            ),
        ];
        for (err, code, status) in table {
            assert_eq!(err.code(), code);
            assert_eq!(err.status().as_u16(), status, "{code}");
            let resp = err.to_response();
            assert_eq!(resp.status().as_u16(), status);
            assert_eq!(resp.headers()[http::header::CACHE_CONTROL], "no-store");
            let body = parse_form(std::str::from_utf8(resp.body()).unwrap()).unwrap();
            assert_eq!(body[0], ("error".to_owned(), code.to_owned()));
            assert!(!std::str::from_utf8(resp.body()).unwrap().contains("10.0.0.5"));
            assert_eq!(resp.headers().contains_key(http::header::WWW_AUTHENTICATE), status == 401);
            assert_eq!(resp.headers().contains_key(http::header::ALLOW), status == 405);
            assert_eq!(
                resp.headers().contains_key(http::header::RETRY_AFTER),
                status == 503 || status == 429
            );
        }
    }
}

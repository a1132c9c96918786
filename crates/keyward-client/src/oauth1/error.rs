//! The error of the OAuth 1.0a client steps.

use keyward::common::ErrorBody;
use keyward::common::http_client::HttpError;
use keyward::oauth1::rfc5849::SignError;

/// What went wrong in an OAuth 1.0a client step (RFC 5849 §2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuth1Error {
    /// An endpoint URL in the configuration is not an absolute `http`/`https` URL.
    #[error("invalid endpoint URL `{url}`")]
    Endpoint {
        /// The offending URL.
        url: String,
    },
    /// The request could not be signed (RFC 5849 §3.4).
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The request could not be sent or its response not read.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The endpoint answered with a non-success status (§2.1, §2.3). `error` is the OAuth
    /// error body when the response holds one; `body` is the raw body.
    #[error("the {endpoint} endpoint answered {status}{}", error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Status {
        /// Which endpoint: `temporary-credential` or `token-credential`.
        endpoint: &'static str,
        /// The HTTP status.
        status: http::StatusCode,
        /// The parsed error body, if any.
        error: Option<ErrorBody>,
        /// The raw body, lossily decoded.
        body: String,
    },
    /// A success response that is not a form or JSON object, or lacks `oauth_token` or
    /// `oauth_token_secret` (§2.1, §2.3).
    #[error("invalid {endpoint} response: {reason}")]
    InvalidResponse {
        /// Which endpoint.
        endpoint: &'static str,
        /// What is wrong.
        reason: String,
        /// The raw body, lossily decoded.
        body: String,
    },
    /// The temporary-credential response does not set `oauth_callback_confirmed` to true
    /// (§2.1: it MUST be present and set to `true`); the server may be an OAuth 1.0 (not
    /// 1.0a) server open to session fixation.
    #[error("the server did not confirm the callback (oauth_callback_confirmed = {value:?})")]
    CallbackNotConfirmed {
        /// The value received, if any.
        value: Option<String>,
    },
}

//! The registry's error: every failure of a login or an API call, typed, with the HTTP
//! status a web framework should answer with.

use super::config::ConfigError;
use super::state::{StateCacheError, StateError};
use super::token::HookError;
use super::url::UrlError;
use crate::flow::CallbackError;
use crate::oauth1::OAuth1Error;
use crate::oauth2::ClientError;

/// A failure of the registry, of a login or of an API call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `client(name)` for a name never registered.
    #[error("no remote app is registered as `{0}`")]
    UnknownApp(String),
    /// The app's configuration is incomplete or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The callback's state does not match a login in progress; the variant says why.
    #[error(transparent)]
    State(#[from] StateError),
    /// The callback cannot be read, or the provider answered with an error
    /// (`error=access_denied` when the user declined).
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// The callback lacks a parameter the flow needs (`code`, `oauth_verifier`).
    #[error("the callback has no `{0}` parameter")]
    MissingCallbackParameter(&'static str),
    /// An API call with no token: none given, and none from `fetch_token`.
    #[error("no token for app `{app}`: pass one, or set a fetch_token hook that finds one")]
    MissingToken {
        /// The app.
        app: String,
    },
    /// A token of the other protocol (an OAuth 1 token for an OAuth 2 app, or the reverse).
    #[error("app `{app}` speaks {expected}; the token given is not one of its tokens")]
    WrongToken {
        /// The app.
        app: String,
        /// The protocol the app speaks.
        expected: &'static str,
    },
    /// The request URL cannot be resolved against `api_base_url`.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The API request could not be built (bad header name or value).
    #[error("invalid request: {0}")]
    Request(String),
    /// The response is not the JSON object expected (userinfo).
    #[error("invalid response ({status}): {reason}")]
    Response {
        /// The HTTP status.
        status: u16,
        /// What is wrong.
        reason: String,
    },
    /// The request could not be sent or its response not read.
    #[error(transparent)]
    Http(#[from] keyward::HttpError),
    /// An OAuth 1.0a step failed.
    #[error(transparent)]
    OAuth1(#[from] OAuth1Error),
    /// An OAuth 2.0 / OpenID Connect step failed.
    #[error(transparent)]
    OAuth2(#[from] ClientError),
    /// The application's `fetch_token` hook failed.
    #[error("fetch_token hook failed: {0}")]
    FetchToken(#[source] HookError),
    /// Reading or writing the session failed.
    #[error(transparent)]
    Session(#[from] crate::session::SessionError),
}

impl Error {
    /// The HTTP status a web application should answer with: 400 for a callback that does
    /// not fit a login in progress or cannot be read, 413 for one over
    /// [`MAX_CALLBACK_BYTES`](crate::flow::MAX_CALLBACK_BYTES), 403 when the user
    /// declined, 401 without a token, 502 when the provider failed or misbehaved, 503 when
    /// the flow-state cache is unreachable (a retry may succeed), 500 for the application's
    /// own faults (configuration, hooks, session store). An OAuth 1 token endpoint that
    /// refuses the exchange with a 4xx and an OAuth error body (a tampered, expired or
    /// replayed `oauth_verifier` or request token, RFC 5849 §2.3) is 400: the user starts
    /// again, nothing failed.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Error::UnknownApp(_) => S::NOT_FOUND,
            Error::Callback(CallbackError::Provider(body)) if body.error == "access_denied" => S::FORBIDDEN,
            Error::Callback(CallbackError::TooLarge) => S::PAYLOAD_TOO_LARGE,
            Error::State(StateError::Cache(StateCacheError::Unavailable(_))) => S::SERVICE_UNAVAILABLE,
            Error::State(StateError::Session(_) | StateError::Cache(_))
            | Error::OAuth2(ClientError::Config(_)) => S::INTERNAL_SERVER_ERROR,
            Error::OAuth2(ClientError::Issuer(_) | ClientError::MissingCode) => S::BAD_REQUEST,
            Error::State(_) | Error::Callback(_) | Error::MissingCallbackParameter(_) => S::BAD_REQUEST,
            Error::MissingToken { .. } => S::UNAUTHORIZED,
            Error::OAuth1(OAuth1Error::Status {
                endpoint: "token-credential",
                status,
                error: Some(_),
                ..
            }) if status.is_client_error() => S::BAD_REQUEST,
            Error::Response { .. } | Error::Http(_) | Error::OAuth1(_) | Error::OAuth2(_) => S::BAD_GATEWAY,
            Error::Config(_)
            | Error::WrongToken { .. }
            | Error::Url(_)
            | Error::Request(_)
            | Error::FetchToken(_)
            | Error::Session(_) => S::INTERNAL_SERVER_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward::common::ErrorBody;

    fn refusal(endpoint: &'static str, status: u16, error: Option<&str>) -> Error {
        Error::OAuth1(OAuth1Error::Status {
            endpoint,
            status: http::StatusCode::from_u16(status).unwrap(),
            error: error.map(ErrorBody::new),
            body: String::new(),
        })
    }

    #[test]
    fn an_oauth1_token_endpoint_refusal_is_the_users_to_retry_not_a_provider_failure() {
        assert_eq!(refusal("token-credential", 400, Some("invalid_request")).status(), 400);
        assert_eq!(refusal("token-credential", 401, Some("invalid_token")).status(), 400);
        // Not an OAuth refusal: the provider failed.
        assert_eq!(refusal("token-credential", 400, None).status(), 502);
        assert_eq!(refusal("token-credential", 500, Some("server_error")).status(), 502);
        // The temporary-credential endpoint refuses this site's own credentials.
        assert_eq!(refusal("temporary-credential", 401, Some("invalid_client")).status(), 502);
    }
}

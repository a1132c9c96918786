//! The registry's error: every failure of a login or an API call, typed, with the HTTP
//! status a web framework should answer with.

use super::config::ConfigError;
use super::state::{StateCacheError, StateError};
use super::token::HookError;
use super::url::UrlError;
use crate::flow::CallbackError;
use crate::oauth1::OAuth1Error;
use crate::oauth2::ClientError;
use keyward::oauth2::OAuth2Error;
use keyward::oidc::OidcError;

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
    /// The provider's pushed authorization request endpoint (RFC 9126) refused the login's
    /// parameters (with its RFC error code) or failed.
    #[error("pushed authorization request failed: {0}")]
    PushedAuthorization(#[source] OAuth2Error),
    /// A fleet-wide refresh could not run: the lock store failed, or another instance's
    /// refresh did not produce a new token in time (see
    /// [`FleetRefresh`](super::FleetRefresh)).
    #[error(transparent)]
    RefreshLock(#[from] super::fleet::RefreshLockError),
}

/// What a failure means to the person at the browser, and so what the page says: one row
/// of the table on [`Error::status`]. The glue crates answer with [`ErrorKind::message`];
/// an application's own error page can do the same and offer to start again when
/// [`ErrorKind::start_again`] says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No app of that name is registered (`404`).
    UnknownApp,
    /// The login cannot go on, and a new one will work: the callback does not fit a login
    /// in progress, or the token endpoint refused this exchange (`400`).
    StartAgain,
    /// The provider's answer failed validation: ID token, userinfo `sub`, discovery
    /// document, the callback's `iss` (`400`). The log says which rule; the page does not.
    Unverified,
    /// The user declined at the provider (`403`).
    Declined,
    /// An API call with no token, or one that expired and cannot be refreshed (`401`).
    NoToken,
    /// The callback is larger than [`MAX_CALLBACK_BYTES`](crate::flow::MAX_CALLBACK_BYTES)
    /// (`413`).
    TooLarge,
    /// The provider is unreachable, timed out, failed, or answered something that is not
    /// OAuth (`502`, `503`, `504`).
    Provider,
    /// This site's session or flow-state store is unreachable; a retry may succeed (`503`).
    Unavailable,
    /// This site's configuration or hooks failed (`500`).
    Internal,
}

impl ErrorKind {
    /// The sentence a page shows for this kind: it says whose fault it is and what to do,
    /// and never which validation rule failed or what the provider said.
    pub fn message(self) -> &'static str {
        match self {
            ErrorKind::UnknownApp => "There is no sign-in by that name.",
            ErrorKind::StartAgain => {
                "This sign-in cannot be completed: it expired, was already used, or was started in \
                 another browser. Start again."
            }
            ErrorKind::Unverified => "The sign-in could not be verified. Start again.",
            ErrorKind::Declined => "The sign-in was declined at the provider; nothing was shared.",
            ErrorKind::NoToken => "Sign in first.",
            ErrorKind::TooLarge => "The sign-in response is too large.",
            ErrorKind::Provider => "The provider failed or could not be reached. Try again later.",
            ErrorKind::Unavailable => "This site cannot reach its session storage. Try again in a moment.",
            ErrorKind::Internal => "Something went wrong on this site's side; it has been logged.",
        }
    }

    /// Whether a new login is the way forward (the `400` kinds): a page offers "Start
    /// again", back to the login route.
    pub fn start_again(self) -> bool {
        matches!(self, ErrorKind::StartAgain | ErrorKind::Unverified)
    }
}

impl Error {
    /// The HTTP status a web application should answer with, by whose fault the failure
    /// is. Each row is an [`ErrorKind`]; a page shows its [`message`](ErrorKind::message),
    /// and the log the error itself (its `Display` names the rule or the provider's answer).
    ///
    /// | failure | status | kind |
    /// |---|---|---|
    /// | the token endpoint refuses the exchange with an OAuth error (`invalid_grant`: code replayed, expired or unknown; `invalid_request`, …), also in a `200` body | 400 | [`StartAgain`](ErrorKind::StartAgain) |
    /// | the OAuth 1 token-credential endpoint refuses with a 4xx (tampered, expired or replayed `oauth_verifier`) | 400 | [`StartAgain`](ErrorKind::StartAgain) |
    /// | the callback's state is missing, unknown, expired or already used; no login in this session | 400 | [`StartAgain`](ErrorKind::StartAgain) |
    /// | the callback is malformed, lacks `code` / `oauth_verifier`, or carries an OAuth error other than `access_denied` (anyone can send such a link, so it is never a 5xx) | 400 | [`StartAgain`](ErrorKind::StartAgain) |
    /// | an ID token fails validation (signature, `alg`, `iss`, `aud`, `azp`, `exp`, `nonce`, `at_hash`, …) or is missing although `openid` was asked | 400 | [`Unverified`](ErrorKind::Unverified) |
    /// | the userinfo `sub` is not the ID token's | 400 | [`Unverified`](ErrorKind::Unverified) |
    /// | the discovery document's `issuer` is not its URL's; the callback's `iss` (RFC 9207) is missing or wrong | 400 | [`Unverified`](ErrorKind::Unverified) |
    /// | the user declined (`error=access_denied`, OAuth 1 `denied`) | 403 | [`Declined`](ErrorKind::Declined) |
    /// | an API call without a token, or with an expired one that cannot be refreshed | 401 | [`NoToken`](ErrorKind::NoToken) |
    /// | no app of that name | 404 | [`UnknownApp`](ErrorKind::UnknownApp) |
    /// | a callback over [`MAX_CALLBACK_BYTES`](crate::flow::MAX_CALLBACK_BYTES) | 413 | [`TooLarge`](ErrorKind::TooLarge) |
    /// | the provider cannot be reached (connection refused, TLS, reset) | 502 | [`Provider`](ErrorKind::Provider) |
    /// | the provider answers 5xx or another status with no OAuth error, `server_error`, or a body that is not OAuth (not JSON, no `access_token`, an OAuth 1 response without credentials or without `oauth_callback_confirmed`) | 502 | [`Provider`](ErrorKind::Provider) |
    /// | the provider answers `503`, `429` or `temporarily_unavailable` | 503 | [`Provider`](ErrorKind::Provider) |
    /// | the provider times out (or answers `504`) | 504 | [`Provider`](ErrorKind::Provider) |
    /// | the session store or the flow-state cache is unreachable ([`StateCacheError::Unavailable`]) | 503 | [`Unavailable`](ErrorKind::Unavailable) |
    /// | the pushed authorization request endpoint (RFC 9126) fails: unreachable, 5xx or another status with no OAuth error, `server_error`, no `request_uri` | 502 | [`Provider`](ErrorKind::Provider) |
    /// | the pushed authorization request endpoint answers `503`, `429` or `temporarily_unavailable`; times out | 503, 504 | [`Provider`](ErrorKind::Provider) |
    /// | the pushed authorization request endpoint refuses this site's request with any other OAuth error (`invalid_request`, `invalid_client`, `invalid_scope`, …): a new login would send the same | 500 | [`Internal`](ErrorKind::Internal) |
    /// | a DPoP-bound token and no DPoP key, or not the key it is bound to (the key was not kept with the token) | 500 | [`Internal`](ErrorKind::Internal) |
    /// | a refresh across instances cannot run: the refresh-lock store fails, or another instance's refresh gave no new token within the wait ([`RefreshLockError`](super::RefreshLockError)) | 503 | [`Unavailable`](ErrorKind::Unavailable) |
    /// | configuration (missing key, bad URL, bad signing key), the provider refusing our client (`invalid_client`, `unauthorized_client`, `unsupported_grant_type`, an OAuth 1 temporary-credential 4xx), a corrupt flow-state cache, the `fetch_token` / `update_token` hooks | 500 | [`Internal`](ErrorKind::Internal) |
    ///
    /// A token response that lacks only `token_type` is a Bearer token, not a failure.
    pub fn status(&self) -> http::StatusCode {
        self.classify().1
    }

    /// The row of the table on [`Error::status`] this failure falls in.
    pub fn kind(&self) -> ErrorKind {
        self.classify().0
    }

    fn classify(&self) -> (ErrorKind, http::StatusCode) {
        use ErrorKind as K;
        use http::StatusCode as S;
        match self {
            Error::UnknownApp(_) => (K::UnknownApp, S::NOT_FOUND),
            Error::Callback(CallbackError::Provider(body)) if body.error == "access_denied" => {
                (K::Declined, S::FORBIDDEN)
            }
            Error::Callback(CallbackError::TooLarge) => (K::TooLarge, S::PAYLOAD_TOO_LARGE),
            Error::Callback(_) | Error::MissingCallbackParameter(_) => start_again(),
            Error::State(StateError::Cache(StateCacheError::Unavailable(_)))
            | Error::State(StateError::Session(_))
            | Error::Session(_) => (K::Unavailable, S::SERVICE_UNAVAILABLE),
            Error::State(StateError::Cache(_)) => internal(),
            Error::State(_) => start_again(),
            Error::MissingToken { .. } => (K::NoToken, S::UNAUTHORIZED),
            Error::RefreshLock(_) => (K::Unavailable, S::SERVICE_UNAVAILABLE),
            Error::Response { status, .. } => provider_status(*status),
            Error::Http(e) => http_failure(e),
            Error::OAuth1(e) => oauth1_failure(e),
            Error::OAuth2(e) => client_failure(e),
            Error::PushedAuthorization(e) => par_failure(e),
            Error::Config(_)
            | Error::WrongToken { .. }
            | Error::Url(_)
            | Error::Request(_)
            | Error::FetchToken(_) => internal(),
        }
    }
}

fn start_again() -> (ErrorKind, http::StatusCode) {
    (ErrorKind::StartAgain, http::StatusCode::BAD_REQUEST)
}

fn unverified() -> (ErrorKind, http::StatusCode) {
    (ErrorKind::Unverified, http::StatusCode::BAD_REQUEST)
}

fn internal() -> (ErrorKind, http::StatusCode) {
    (ErrorKind::Internal, http::StatusCode::INTERNAL_SERVER_ERROR)
}

/// A provider that answered `status` without an OAuth error: 503 and 504 pass through
/// (a retry may help), a 429 (the provider throttles, often because visitors started too
/// many logins) is a 503 too, anything else is a 502.
fn provider_status(status: u16) -> (ErrorKind, http::StatusCode) {
    use http::StatusCode as S;
    let status = match status {
        429 | 503 => S::SERVICE_UNAVAILABLE,
        504 => S::GATEWAY_TIMEOUT,
        _ => S::BAD_GATEWAY,
    };
    (ErrorKind::Provider, status)
}

fn http_failure(e: &keyward::HttpError) -> (ErrorKind, http::StatusCode) {
    match e {
        keyward::HttpError::Timeout => (ErrorKind::Provider, http::StatusCode::GATEWAY_TIMEOUT),
        _ => (ErrorKind::Provider, http::StatusCode::BAD_GATEWAY),
    }
}

/// An RFC 6749 §5.2 error code the provider answered with.
fn oauth_code(code: &str) -> (ErrorKind, http::StatusCode) {
    match code {
        // The provider refuses this site, not this login.
        "invalid_client" | "unauthorized_client" | "unsupported_grant_type" => internal(),
        "server_error" => provider_status(502),
        "temporarily_unavailable" => provider_status(503),
        _ => start_again(),
    }
}

fn oauth2_failure(e: &OAuth2Error) -> (ErrorKind, http::StatusCode) {
    match e {
        OAuth2Error::Server { body, .. } => oauth_code(&body.error),
        OAuth2Error::Status { status, .. } => provider_status(*status),
        OAuth2Error::Parse { .. } => provider_status(502),
        OAuth2Error::IssuerMismatch { .. } => unverified(),
        _ => internal(),
    }
}

fn client_failure(e: &ClientError) -> (ErrorKind, http::StatusCode) {
    match e {
        ClientError::Http(e) => http_failure(e),
        ClientError::OAuth2(e) => oauth2_failure(e),
        ClientError::Oidc(OidcError::Protocol(e)) => oauth2_failure(e),
        ClientError::Oidc(
            OidcError::IdToken(_) | OidcError::SubjectMismatch { .. } | OidcError::MissingIdToken,
        )
        | ClientError::Issuer(_) => unverified(),
        ClientError::Oidc(_) => provider_status(502),
        ClientError::MissingCode | ClientError::DeviceCodeExpired => start_again(),
        ClientError::Expired => (ErrorKind::NoToken, http::StatusCode::UNAUTHORIZED),
        ClientError::Config(_) | ClientError::UpdateHook(_) => internal(),
        ClientError::Refresh(inner) => client_failure(inner),
        ClientError::PushedAuthorization(e) => par_failure(e),
        ClientError::DpopKeyMissing | ClientError::DpopKeyMismatch { .. } => internal(),
    }
}

/// A failure of the pushed authorization request endpoint (RFC 9126 §2.3): the provider's
/// trouble is a 5xx as at the token endpoint; a refusal of the parameters this site sent is
/// this site's, and starting the login again would send the same.
fn par_failure(e: &OAuth2Error) -> (ErrorKind, http::StatusCode) {
    match e {
        OAuth2Error::Server { body, .. } => match body.error.as_str() {
            "server_error" | "temporarily_unavailable" => oauth_code(&body.error),
            _ => internal(),
        },
        OAuth2Error::Status { status, .. } => provider_status(*status),
        OAuth2Error::Parse { .. } => provider_status(502),
        _ => internal(),
    }
}

fn oauth1_failure(e: &OAuth1Error) -> (ErrorKind, http::StatusCode) {
    match e {
        OAuth1Error::Http(e) => http_failure(e),
        // The provider throttles: a retry later may succeed, and visitors can cause it.
        OAuth1Error::Status { status, .. } if status.as_u16() == 429 => provider_status(429),
        // A refused verifier (tampered, expired, replayed): this login is over.
        OAuth1Error::Status { endpoint: "token-credential", status, .. } if status.is_client_error() => {
            start_again()
        }
        // The provider refuses this site's client credentials or signature.
        OAuth1Error::Status { status, .. } if status.is_client_error() => internal(),
        OAuth1Error::Status { status, .. } => provider_status(status.as_u16()),
        OAuth1Error::InvalidResponse { .. } | OAuth1Error::CallbackNotConfirmed { .. } => {
            provider_status(502)
        }
        OAuth1Error::Endpoint { .. } | OAuth1Error::Sign(_) => internal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward::common::ErrorBody;
    use keyward::oidc::IdTokenError;
    use std::sync::Arc;

    fn server(code: &str) -> ClientError {
        ClientError::OAuth2(OAuth2Error::Server { status: 400, body: ErrorBody::new(code) })
    }

    #[test]
    fn each_failure_has_its_row() {
        use ErrorKind as K;
        let oauth1_status = |endpoint, status: u16| {
            Error::OAuth1(OAuth1Error::Status {
                endpoint,
                status: http::StatusCode::from_u16(status).unwrap(),
                error: None,
                body: String::new(),
            })
        };
        let cases: Vec<(Error, u16, ErrorKind)> = vec![
            (server("invalid_grant").into(), 400, K::StartAgain),
            (server("invalid_request").into(), 400, K::StartAgain),
            (ClientError::Refresh(Arc::new(server("invalid_grant"))).into(), 400, K::StartAgain),
            (oauth1_status("token-credential", 401), 400, K::StartAgain),
            (StateError::AlreadyUsed { app: "a".into() }.into(), 400, K::StartAgain),
            (Error::MissingCallbackParameter("code"), 400, K::StartAgain),
            (Error::Callback(CallbackError::Provider(ErrorBody::new("server_error"))), 400, K::StartAgain),
            (ClientError::from(IdTokenError::NonceMismatch).into(), 400, K::Unverified),
            (ClientError::Oidc(OidcError::MissingIdToken).into(), 400, K::Unverified),
            (
                ClientError::Oidc(OidcError::SubjectMismatch { expected: "a".into(), got: None }).into(),
                400,
                K::Unverified,
            ),
            (
                ClientError::OAuth2(OAuth2Error::IssuerMismatch { expected: "a".into(), got: "b".into() })
                    .into(),
                400,
                K::Unverified,
            ),
            (ClientError::Issuer(keyward::oauth2::rfc9207::IssError::Missing).into(), 400, K::Unverified),
            (Error::Callback(CallbackError::Provider(ErrorBody::new("access_denied"))), 403, K::Declined),
            (ClientError::Expired.into(), 401, K::NoToken),
            (Error::MissingToken { app: "a".into() }, 401, K::NoToken),
            (Error::UnknownApp("a".into()), 404, K::UnknownApp),
            (Error::Callback(CallbackError::TooLarge), 413, K::TooLarge),
            (Error::Http(keyward::HttpError::Connect("refused".into())), 502, K::Provider),
            (ClientError::Http(keyward::HttpError::Timeout).into(), 504, K::Provider),
            (oauth1_status("token-credential", 500), 502, K::Provider),
            (oauth1_status("temporary-credential", 503), 503, K::Provider),
            (oauth1_status("temporary-credential", 429), 503, K::Provider),
            (oauth1_status("token-credential", 429), 503, K::Provider),
            (server("temporarily_unavailable").into(), 503, K::Provider),
            (server("server_error").into(), 502, K::Provider),
            (
                ClientError::OAuth2(OAuth2Error::Status { status: 504, body: Vec::new() }).into(),
                504,
                K::Provider,
            ),
            (
                ClientError::OAuth2(OAuth2Error::Parse { status: 200, body: Vec::new(), reason: "x".into() })
                    .into(),
                502,
                K::Provider,
            ),
            (Error::Response { status: 404, reason: "x".into() }, 502, K::Provider),
            (Error::Session(crate::session::SessionError("down".into())), 503, K::Unavailable),
            (StateError::Session(crate::session::SessionError("down".into())).into(), 503, K::Unavailable),
            (StateError::Cache(StateCacheError::unavailable("down")).into(), 503, K::Unavailable),
            (
                Error::RefreshLock(super::super::RefreshLockError::Timeout {
                    app: "a".into(),
                    waited: std::time::Duration::from_secs(1),
                }),
                503,
                K::Unavailable,
            ),
            (StateError::Cache(StateCacheError::Corrupt("x".into())).into(), 500, K::Internal),
            (server("invalid_client").into(), 500, K::Internal),
            (oauth1_status("temporary-credential", 401), 500, K::Internal),
            (ClientError::Config("x".into()).into(), 500, K::Internal),
            (ClientError::UpdateHook("x".into()).into(), 500, K::Internal),
            (
                Error::PushedAuthorization(OAuth2Error::Status { status: 500, body: Vec::new() }),
                502,
                K::Provider,
            ),
            (
                Error::PushedAuthorization(OAuth2Error::Status { status: 429, body: Vec::new() }),
                503,
                K::Provider,
            ),
            (
                Error::PushedAuthorization(OAuth2Error::Parse {
                    status: 201,
                    body: Vec::new(),
                    reason: "x".into(),
                }),
                502,
                K::Provider,
            ),
            (
                ClientError::PushedAuthorization(OAuth2Error::Server {
                    status: 400,
                    body: ErrorBody::new("temporarily_unavailable"),
                })
                .into(),
                503,
                K::Provider,
            ),
            (
                Error::PushedAuthorization(OAuth2Error::Server {
                    status: 400,
                    body: ErrorBody::new("invalid_request"),
                }),
                500,
                K::Internal,
            ),
            (ClientError::DpopKeyMissing.into(), 500, K::Internal),
        ];
        for (error, status, kind) in cases {
            assert_eq!((error.status().as_u16(), error.kind()), (status, kind), "{error:?}");
            assert_eq!(kind.start_again(), status == 400, "{error:?}");
        }
    }
}

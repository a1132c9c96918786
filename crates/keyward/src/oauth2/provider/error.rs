//! The authorization server's errors, each with its RFC 6749 §5.2 (token endpoint), §4.1.2.1
//! (authorization endpoint), RFC 6750 §3.1 (bearer) or RFC 8707 §2 code and its HTTP status.
//! [`ProviderError::status`] is the one place an error becomes a status.

use http::StatusCode;

use crate::common::ErrorBody;
use crate::common::store::StoreError;

/// An error of the OAuth 2 authorization server's endpoints.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// `400 invalid_request` (RFC 6749 §5.2, §4.1.2.1): a malformed request — a missing or
    /// duplicated parameter, a body that is not a form, not UTF-8, badly percent-encoded or
    /// too large, two client authentication methods at once.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// `401 invalid_client` (RFC 6749 §5.2): client authentication failed. With
    /// `basic`, the client tried HTTP Basic and the response carries
    /// `WWW-Authenticate: Basic`.
    #[error("client authentication failed")]
    InvalidClient {
        /// Whether the client used the `Authorization: Basic` header.
        basic: bool,
    },
    /// `400 invalid_grant` (RFC 6749 §5.2): the code or refresh token is invalid, expired,
    /// revoked, used, or issued to another client or redirect URI, or the PKCE verifier does
    /// not match.
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    /// `400 unauthorized_client` (RFC 6749 §5.2, §4.1.2.1): the client may not use this grant
    /// or response type.
    #[error("the client may not use this grant type")]
    UnauthorizedClient,
    /// `400 unsupported_grant_type` (RFC 6749 §5.2).
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// `400 unsupported_response_type` (RFC 6749 §4.1.2.1): only `code` is supported.
    #[error("unsupported response type")]
    UnsupportedResponseType,
    /// `400 invalid_scope` (RFC 6749 §5.2, §4.1.2.1): a scope the client may not ask for, or
    /// one wider than the grant's on refresh.
    #[error("invalid scope")]
    InvalidScope,
    /// `400 invalid_target` (RFC 8707 §2): a `resource` the client may not ask for, or not an
    /// absolute URI without a fragment.
    #[error("invalid resource")]
    InvalidTarget,
    /// `access_denied` (RFC 6749 §4.1.2.1): the resource owner said no.
    #[error("the resource owner denied the request")]
    AccessDenied,
    /// `login_required` (OpenID Connect Core §3.1.2.6): `prompt=none`, and nobody is signed in.
    #[error("login required")]
    LoginRequired,
    /// `consent_required` (OpenID Connect Core §3.1.2.6): `prompt=none`, and consent is needed.
    #[error("consent required")]
    ConsentRequired,
    /// `interaction_required` (OpenID Connect Core §3.1.2.6): `prompt=none`, and the user
    /// must interact in some other way than signing in or consenting.
    #[error("interaction required")]
    InteractionRequired,
    /// `account_selection_required` (OpenID Connect Core §3.1.2.6): `prompt=none`, and the
    /// user must pick one of several accounts.
    #[error("account selection required")]
    AccountSelectionRequired,
    /// `request_not_supported` (OpenID Connect Core §3.1.2.6, §6): a `request` object.
    #[error("request objects are not supported")]
    RequestNotSupported,
    /// `request_uri_not_supported` (OpenID Connect Core §3.1.2.6, §6): a `request_uri`.
    #[error("request_uri is not supported")]
    RequestUriNotSupported,
    /// `400 unsupported_token_type` (RFC 7009 §2.2.1).
    #[error("unsupported token type")]
    UnsupportedTokenType,
    /// `401 invalid_token` (RFC 6750 §3.1): the bearer token is missing, expired, revoked or
    /// malformed.
    #[error("invalid token")]
    InvalidToken,
    /// `403 insufficient_scope` (RFC 6750 §3.1): the token lacks a scope the resource needs.
    #[error("insufficient scope")]
    InsufficientScope,
    /// `405 invalid_request`: the endpoint takes another HTTP method (RFC 6749 §3.2: the
    /// token endpoint takes POST).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// `400` with a device-flow code (RFC 8628 §3.5): `authorization_pending`, `slow_down`,
    /// `access_denied` or `expired_token`.
    #[error("{0}")]
    Device(super::device::DeviceGrantError),
    /// `500 server_error`: the server is not set up for what the request needs (a client
    /// configured for JWT access tokens on a server without a signer).
    #[error("server misconfigured: {0}")]
    Misconfigured(&'static str),
    /// A store failed: `503 temporarily_unavailable` when the backend could not be reached
    /// (retrying may succeed), `500 server_error` otherwise. The detail stays off the wire.
    #[error("store failure: {0}")]
    Store(#[from] StoreError),
}

impl ProviderError {
    /// The `error` code (RFC 6749 §5.2, §4.1.2.1; RFC 6750 §3.1; RFC 7009 §2.2.1; RFC 8707 §2).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::MethodNotAllowed => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::Device(e) => e.code(),
            Self::Store(StoreError::Unavailable(_)) => "temporarily_unavailable",
            Self::Store(_) | Self::Misconfigured(_) => "server_error",
        }
    }

    /// The HTTP status when the error is answered directly (not redirected).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidClient { .. } | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope | Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) | Self::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A short description for `error_description`; never a secret, never a store's detail.
    pub fn description(&self) -> Option<String> {
        match self {
            Self::InvalidRequest(d) | Self::InvalidGrant(d) => Some((*d).to_owned()),
            Self::Store(_) | Self::Misconfigured(_) => None,
            other => Some(other.to_string()),
        }
    }

    /// The RFC 6749 §5.2 body.
    pub fn body(&self) -> ErrorBody {
        let body = ErrorBody::new(self.code());
        match self.description() {
            Some(d) => body.with_description(d),
            None => body,
        }
    }

    /// The JSON error response of the token, revocation and introspection endpoints (RFC
    /// 6749 §5.2), with `Cache-Control: no-store`, and `WWW-Authenticate: Basic` for a
    /// failed Basic authentication (§5.2) or `Retry-After` for an unreachable store.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = super::server::json_response(self.status(), body);
        let headers = response.headers_mut();
        match self {
            Self::InvalidClient { basic: true } => {
                headers.insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Basic realm=\"token\""),
                );
            }
            Self::Store(StoreError::Unavailable(_)) => {
                headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// An authorization-endpoint error (RFC 6749 §4.1.2.1), with where it may go.
///
/// Errors found before the client and its redirect URI are established (an unknown client, a
/// missing or unregistered redirect URI) are shown to the user and **never redirected**
/// ([`redirect`](Self::redirect) is `None`); every later one goes back to the client's
/// redirect URI with `error`, the exact `state` and `iss` (RFC 9207).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct AuthorizeError {
    /// What went wrong.
    pub error: ProviderError,
    /// Where the error may be sent, when the client and redirect URI were established.
    pub redirect: Option<super::authorize::ResponseTarget>,
}

impl AuthorizeError {
    /// An error shown to the user, never redirected.
    pub(crate) fn local(error: ProviderError) -> Self {
        Self { error, redirect: None }
    }

    /// Whether the error is redirected to the client.
    pub fn is_redirected(&self) -> bool {
        self.redirect.is_some()
    }
}

//! The error type of the OAuth 2.0 / OpenID Connect drivers.

use keyward::HttpError;
use keyward::oauth2::OAuth2Error;
use keyward::oauth2::rfc9207::IssError;
use keyward::oidc::{IdTokenError, OidcError};
use std::sync::Arc;

/// A failure of an OAuth 2.0 or OpenID Connect flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The request could not be sent or its response not read.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server refused (with its RFC error code), or answered something unreadable.
    #[error(transparent)]
    OAuth2(#[from] OAuth2Error),
    /// OpenID Connect: ID token, discovery, JWKS or userinfo.
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// RFC 9207: the callback's `iss` is missing or not the provider's.
    #[error(transparent)]
    Issuer(#[from] IssError),
    /// The client's configuration cannot serve this call (no such endpoint, no secret …).
    #[error("configuration: {0}")]
    Config(String),
    /// The callback has no `code`.
    #[error("the callback has no authorization code")]
    MissingCode,
    /// The token is expired and cannot be renewed: no refresh token, and client
    /// credentials are not the client's grant.
    #[error("the access token is expired and cannot be refreshed")]
    Expired,
    /// The device flow's codes expired before the user approved (RFC 8628 §3.5).
    #[error("the device code expired before the user approved")]
    DeviceCodeExpired,
    /// The application's `update_token` hook failed; the new token is not in use.
    #[error("update_token hook failed: {0}")]
    UpdateHook(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A refresh that several requests shared failed; every one of them gets this.
    #[error("token refresh failed: {0}")]
    Refresh(Arc<ClientError>),
    /// The pushed authorization request endpoint (RFC 9126 §2.3) refused the request (the
    /// RFC error code is in it) or answered something else than a `request_uri`.
    #[error("pushed authorization request failed: {0}")]
    PushedAuthorization(#[source] OAuth2Error),
    /// A DPoP-bound token (RFC 9449) and no DPoP key: it is not sent, and never as a
    /// `Bearer` token.
    #[error("the token is DPoP-bound and the client has no DPoP key")]
    DpopKeyMissing,
    /// A DPoP-bound token whose key is not the client's: the key it was bound to is lost.
    #[error("the token is bound to DPoP key {token}, the client's key is {key}")]
    DpopKeyMismatch {
        /// The thumbprint the token is bound to.
        token: String,
        /// The client's key's thumbprint.
        key: String,
    },
}

impl From<IdTokenError> for ClientError {
    fn from(e: IdTokenError) -> Self {
        ClientError::Oidc(OidcError::IdToken(e))
    }
}

impl ClientError {
    /// The RFC error code, when the server sent one (also through a shared refresh).
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::OAuth2(e) => e.code(),
            ClientError::Oidc(OidcError::Protocol(e)) => e.code(),
            ClientError::Refresh(inner) => inner.code(),
            ClientError::PushedAuthorization(e) => e.code(),
            _ => None,
        }
    }

    /// The ID-token rule that refused a token, if that is what failed.
    pub fn id_token_error(&self) -> Option<&IdTokenError> {
        match self {
            ClientError::Oidc(OidcError::IdToken(e)) => Some(e),
            ClientError::Refresh(inner) => inner.id_token_error(),
            _ => None,
        }
    }
}

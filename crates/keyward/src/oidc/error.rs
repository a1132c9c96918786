//! The error types of the OpenID Connect core.

use crate::oauth2::OAuth2Error;

/// Why an ID token was refused (OpenID Connect Core §3.1.3.7, §3.2.2.9, §3.3.2.10).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a compact JWS, or its header or claims are not JSON objects.
    #[error("malformed ID token: {0}")]
    Malformed(String),
    /// `alg: none`: an unsigned token is never accepted.
    #[error("unsigned ID token (alg `none`)")]
    Unsigned,
    /// The header's `alg` is not among the algorithms the provider advertises (or the
    /// configured ones; RS256 by default).
    #[error("ID token alg `{0}` is not allowed")]
    AlgorithmNotAllowed(String),
    /// An HMAC alg, but the client has no secret to key it with.
    #[error("HMAC-signed ID token but the client has no secret")]
    NoHmacSecret,
    /// No key of the JWK set fits the header's `kid` and `alg`.
    #[error("no signing key for kid {kid:?}")]
    UnknownKey {
        /// The header's `kid`.
        kid: Option<String>,
    },
    /// Several keys fit a header that has no `kid`.
    #[error("several keys fit an ID token without `kid`")]
    AmbiguousKey,
    /// The signature does not verify.
    #[error("bad ID token signature")]
    BadSignature,
    /// The JOSE library refused the token for another reason.
    #[error("ID token refused: {0}")]
    Jose(String),
    /// A required claim is absent or has the wrong type.
    #[error("ID token claim `{0}` is missing or malformed")]
    MissingClaim(&'static str),
    /// `iss` is not the provider's issuer.
    #[error("ID token issuer `{got}` is not `{expected}`")]
    Issuer {
        /// The expected issuer.
        expected: String,
        /// The token's `iss`.
        got: String,
    },
    /// `aud` does not contain the client id.
    #[error("ID token audience {aud:?} does not contain `{client_id}`")]
    Audience {
        /// Our client id.
        client_id: String,
        /// The token's audiences.
        aud: Vec<String>,
    },
    /// Several audiences and no `azp`, or an `azp` that is not the client id.
    #[error("ID token `azp` {0:?} is not our client id")]
    AuthorizedParty(Option<String>),
    /// `exp` is past (beyond the leeway).
    #[error("ID token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The time of validation.
        now: i64,
    },
    /// `iat` is in the future (beyond the leeway).
    #[error("ID token issued in the future ({iat}, now {now})")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: i64,
        /// The time of validation.
        now: i64,
    },
    /// `nbf` is in the future (beyond the leeway).
    #[error("ID token not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
        /// The time of validation.
        now: i64,
    },
    /// A nonce was sent but the token has none.
    #[error("ID token has no nonce")]
    NonceMissing,
    /// The token's nonce is not the one stored for the flow.
    #[error("ID token nonce does not match the flow's")]
    NonceMismatch,
    /// `at_hash` does not match the access token.
    #[error("ID token at_hash does not match the access token")]
    AccessTokenHash,
    /// `c_hash` does not match the authorization code.
    #[error("ID token c_hash does not match the code")]
    CodeHash,
}

/// An OpenID Connect failure outside the ID token itself.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The ID token was refused.
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    /// An HTTP-level or parse failure of discovery, JWKS or userinfo, or a protocol error.
    #[error(transparent)]
    Protocol(#[from] OAuth2Error),
    /// The userinfo response's `sub` is not the ID token's (Core §5.3.2).
    #[error("userinfo `sub` {got:?} is not the ID token's `{expected}`")]
    SubjectMismatch {
        /// The ID token's `sub`.
        expected: String,
        /// The userinfo `sub`.
        got: Option<String>,
    },
    /// The response to a code exchange with `openid` in scope has no `id_token`.
    #[error("the token response has no id_token although `openid` was requested")]
    MissingIdToken,
    /// The provider uses a feature Keyward does not implement (e.g. signed userinfo).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

//! Errors of the OAuth 1.0a core: parsing an incoming request (RFC 5849 §3.5), signing
//! (§3.4) and verifying (§3.2).

use super::signature_type::SignatureType;

/// An incoming request's protocol parameters could not be read (RFC 5849 §3.5).
///
/// Every variant maps to `400 Bad Request` with `invalid_request` in the provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The `Authorization: OAuth …` header does not follow §3.5.1.
    #[error("malformed OAuth Authorization header: {0}")]
    MalformedHeader(&'static str),
    /// A header, query or body holds bytes that are not UTF-8, before or after decoding.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A `%` escape in the header, query or body is malformed (§3.6).
    #[error("malformed percent-encoding in {0}")]
    BadEncoding(&'static str),
    /// A protocol parameter occurs more than once, in one place or across places (§3.5).
    #[error("duplicated OAuth parameter {0}")]
    Duplicated(String),
    /// Protocol parameters were sent in more than one place (§3.5: one method per request).
    #[error("OAuth parameters found in both the {0} and the {1}")]
    MixedPlaces(SignatureType, SignatureType),
    /// The request carries no OAuth protocol parameters at all (not an OAuth request;
    /// a resource server answers `401` with a challenge).
    #[error("no OAuth protocol parameters in the request")]
    NoParameters,
    /// A required parameter is absent.
    #[error("missing required parameter {0}")]
    Missing(&'static str),
    /// A parameter has a value the protocol does not allow (a timestamp that is not a
    /// positive integer of at most 18 digits, an `oauth_version` other than `1.0`, an empty
    /// required value).
    #[error("invalid value for {0}")]
    Invalid(&'static str),
    /// The request URI is not absolute: it lacks the scheme or the host that the base
    /// string URI needs (§3.4.1.2). Servers make it absolute before parsing (the provider's
    /// glue does, from its configured scheme and the `Host` header).
    #[error("the request URI is not absolute")]
    RelativeUri,
    /// The request URI cannot be used as a base string URI (§3.4.1.2): not a URI, or one
    /// with user information.
    #[error("unusable request URI: {0}")]
    Uri(&'static str),
}

/// A request could not be signed (RFC 5849 §3.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The method needs a key the signer was not given (an RSA private key for RSA-SHA1).
    #[error("{method} needs {missing}")]
    MissingKey {
        /// The signature method.
        method: String,
        /// What is missing.
        missing: &'static str,
    },
    /// The underlying primitive failed (RSA key too small for the digest, …).
    #[error("signing failed: {0}")]
    Crypto(String),
    /// The request cannot carry the parameters where the signer was told to put them
    /// (form-body parameters on a body that is not `application/x-www-form-urlencoded`).
    #[error("cannot place OAuth parameters: {0}")]
    Placement(&'static str),
    /// The request's URI, query or body cannot be read.
    #[error("cannot read the request: {0}")]
    Request(#[from] ParseError),
    /// The signature method is not registered.
    #[error("unsupported signature method {0}")]
    UnsupportedMethod(String),
}

/// A signature did not verify (RFC 5849 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No method of that name is registered (maps to `400 invalid_request` or Authlib's
    /// `unsupported_signature_method`).
    #[error("unsupported signature method {0}")]
    UnsupportedMethod(String),
    /// The method is registered but this server does not accept it.
    #[error("signature method {0} is not allowed")]
    MethodNotAllowed(String),
    /// The verifier was not given the key the method needs (an RSA public key, …).
    #[error("{method} needs {missing}")]
    MissingKey {
        /// The signature method.
        method: String,
        /// What is missing.
        missing: &'static str,
    },
    /// The signature does not match (maps to `401 invalid_signature`).
    #[error("invalid signature")]
    InvalidSignature,
    /// `oauth_body_hash` does not match the body, or is present on a form body.
    #[error("invalid oauth_body_hash")]
    InvalidBodyHash,
}

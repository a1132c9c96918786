//! RFC 5849: The OAuth 1.0 Protocol.
//!
//! The sans-IO protocol core:
//!
//! - [`base_string`]: the signature base string and parameter normalisation (§3.4.1);
//! - [`signature`]: the signature methods HMAC-SHA1 (§3.4.2), RSA-SHA1 (§3.4.3),
//!   PLAINTEXT (§3.4.4), HMAC-SHA256 and RSA-SHA256, behind an allow-listing registry that
//!   also takes custom methods;
//! - [`client`]: signing outgoing requests (§3.1) in the Authorization header, the query or
//!   a form body (§3.5), each protocol parameter exactly once;
//! - [`signature_type`]: the three places the protocol parameters travel in (§3.5);
//! - [`params`]: reading an incoming request's protocol parameters from all three places
//!   (§3.5), rejecting duplicates, and verifying its signature (§3.2);
//! - [`body_hash`]: `oauth_body_hash` for bodies that are not forms (OAuth Request Body
//!   Hash extension);
//! - [`provider`]: the provider's endpoints (§2.1–§2.3) and resource protector (§3) over
//!   the async store traits of [`store`].

pub mod base_string;
pub mod body_hash;
pub mod client;
pub mod error;
pub mod params;
#[cfg(feature = "provider")]
pub mod provider;
pub mod signature;
pub mod signature_type;
#[cfg(feature = "provider")]
pub mod store;

pub use client::{ClientCredentials, Signer, SigningParams, TokenCredentials};
pub use error::{ParseError, SignError, VerifyError};
pub use params::SignedRequest;
pub use signature::{
    HmacSha1, HmacSha256, KeyKind, Plaintext, RsaSha1, RsaSha256, SignatureMethod, SignatureMethods,
    SigningKeys, VerifyKeys,
};
pub use signature_type::{SignatureType, UnknownSignatureType};

/// Names of the protocol parameters (RFC 5849 §3.1, §2.1, §2.3) and of `oauth_body_hash`.
pub mod names {
    /// `oauth_consumer_key` (§3.1): the client identifier.
    pub const CONSUMER_KEY: &str = "oauth_consumer_key";
    /// `oauth_token` (§3.1): the token identifier, when the request has one.
    pub const TOKEN: &str = "oauth_token";
    /// `oauth_signature_method` (§3.1).
    pub const SIGNATURE_METHOD: &str = "oauth_signature_method";
    /// `oauth_signature` (§3.1).
    pub const SIGNATURE: &str = "oauth_signature";
    /// `oauth_timestamp` (§3.3).
    pub const TIMESTAMP: &str = "oauth_timestamp";
    /// `oauth_nonce` (§3.3).
    pub const NONCE: &str = "oauth_nonce";
    /// `oauth_version` (§3.1): `1.0` when present.
    pub const VERSION: &str = "oauth_version";
    /// `oauth_callback` (§2.1): the redirection URI or `oob`.
    pub const CALLBACK: &str = "oauth_callback";
    /// `oauth_verifier` (§2.3).
    pub const VERIFIER: &str = "oauth_verifier";
    /// `oauth_body_hash` (OAuth Request Body Hash extension §3.1, not part of RFC 5849).
    pub const BODY_HASH: &str = "oauth_body_hash";
    /// `oauth_token_secret` (§2.1, §2.3): in credential responses.
    pub const TOKEN_SECRET: &str = "oauth_token_secret";
    /// `oauth_callback_confirmed` (§2.1): in the temporary-credential response.
    pub const CALLBACK_CONFIRMED: &str = "oauth_callback_confirmed";
    /// `realm` (§3.5.1): Authorization-header only, never signed.
    pub const REALM: &str = "realm";
}

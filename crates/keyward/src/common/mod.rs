//! Pieces shared by every protocol module: secrets, injected time and randomness,
//! RFC 3986 percent-encoding, the HTTP client seam and the OAuth error body.

pub mod clock;
pub mod encoding;
pub mod error_body;
pub mod http_client;
pub mod random;
pub mod replay;
pub mod secret;
pub mod store;

pub use error_body::ErrorBody;
pub use secret::ct_eq;

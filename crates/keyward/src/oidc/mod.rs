//! OpenID Connect: ID-token validation ([`core`]), discovery, JWK sets, userinfo, and logout
//! for relying parties ([`logout`]: RP-Initiated and Back-Channel Logout); the OpenID
//! Provider on the OAuth 2.1 server ([`provider`]).

pub mod core;
pub mod discovery;
pub mod jwks;
pub mod logout;
#[cfg(feature = "provider")]
pub mod provider;
pub mod userinfo;

mod error;

pub use error::{IdTokenError, OidcError};
pub use jsonwebtoken::{Algorithm, AlgorithmFamily};

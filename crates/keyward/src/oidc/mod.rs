//! OpenID Connect: ID-token validation ([`core`]), discovery, JWK sets and userinfo.

pub mod core;
pub mod discovery;
pub mod jwks;
pub mod userinfo;

mod error;

pub use error::{IdTokenError, OidcError};
pub use jsonwebtoken::{Algorithm, AlgorithmFamily};

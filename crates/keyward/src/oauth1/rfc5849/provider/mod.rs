//! The OAuth 1.0a provider (RFC 5849 §2, §3): the temporary credential endpoint (§2.1), the
//! resource owner authorization endpoint (§2.2), the token endpoint (§2.3) and a resource
//! protector for APIs (§3), written against the async store traits of
//! [`store`](super::store) and doing no IO of their own.
//!
//! Every endpoint takes an [`http::Request<Vec<u8>>`] whose URI is absolute (the framework
//! glue rebuilds it from the `Host` header and the scheme it is configured with) and answers
//! an [`http::Response<Vec<u8>>`] or a [`ProviderError`] that knows its status and body.

mod checks;
pub mod config;
pub mod error;
pub mod response;

pub use config::{CredentialGenerator, CredentialKind, ProviderConfig};
pub use error::{InvalidRequest, ProviderError};

//! The OAuth 1.0a provider (RFC 5849 §2, §3): the temporary credential endpoint (§2.1), the
//! resource owner authorization endpoint (§2.2), the token endpoint (§2.3) and a resource
//! protector for APIs (§3), written against the async store traits of
//! [`store`](super::store) and doing no IO of their own.
//!
//! Every endpoint takes an [`http::Request<Vec<u8>>`] whose URI is absolute (the framework
//! glue rebuilds it from the `Host` header and the scheme it is configured with) and answers
//! an [`http::Response<Vec<u8>>`] or a [`ProviderError`] that knows its status and body.
//!
//! Every signed request is checked in one order (RFC 5849 §3.2): transport (https or
//! loopback), protocol parameters (each once, in one place), signature method (allow-list,
//! HMAC-SHA1 by default), timestamp (within the window, past *or* future), client, token,
//! signature, and last the nonce, inserted atomically so that of two identical requests
//! exactly one passes.

mod authorize;
mod checks;
pub mod config;
pub mod error;
pub mod request;
mod resource;
pub mod response;
mod server;
mod temporary;
mod token;

pub use authorize::{Consent, ConsentRequest};
pub use config::{CredentialGenerator, CredentialKind, DEFAULT_MAX_PENDING, ProviderConfig};
pub use error::{InvalidRequest, ProviderError};
pub use request::{OAuth1Provider, PeerAddr, RequestOptions};
pub use resource::{Protected, ResourceProtector};
pub use server::{AuthorizationServer, MAX_IDENTIFIER_BYTES, ProviderBuilder};
pub use temporary::{FORBIDDEN_CALLBACK_SCHEMES, MAX_CALLBACK_BYTES};

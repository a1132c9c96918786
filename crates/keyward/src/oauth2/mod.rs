//! OAuth 2.0: RFC 6749 and its companions, one module per specification.
//!
//! Every function here either builds a request ([`FormRequest`] → [`http::Request`]) or
//! reads a response; the drivers in `keyward-client` send them.

pub mod rfc6749;
pub mod rfc6750;
pub mod rfc7009;
pub mod rfc7523;
pub mod rfc7636;
pub mod rfc7662;
pub mod rfc8414;
pub mod rfc8628;
pub mod rfc9068;
pub mod rfc9126;
pub mod rfc9207;
pub mod rfc9449;

#[cfg(feature = "provider")]
pub mod provider;

mod error;
mod request;

pub use error::OAuth2Error;
pub(crate) use error::json_object as error_json_object;
pub use request::FormRequest;

//! The OAuth 2.1 authorization server (draft-ietf-oauth-v2-1, with the Security BCP, RFC
//! 9700), sans-IO, written against the async store traits of [`store`].

pub mod client;
pub mod store;

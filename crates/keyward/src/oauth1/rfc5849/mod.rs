//! RFC 5849: The OAuth 1.0 Protocol.
pub mod store;

//! OAuth 1.0a.

pub mod rfc5849;

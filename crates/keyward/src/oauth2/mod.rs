//! OAuth 2.0: RFC 6749 and its companions.

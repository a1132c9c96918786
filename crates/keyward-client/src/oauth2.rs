//! The OAuth 2.0 and OpenID Connect client drivers.

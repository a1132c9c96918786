//! The OAuth 1.0a client: temporary credential, authorization URL, token credential,
//! signed requests.

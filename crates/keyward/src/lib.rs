//! # Keyward — the OAuth protocol core
//!
//! Sans-IO implementations of OAuth 1.0a (RFC 5849), OAuth 2.0 (RFC 6749 and companions)
//! and OpenID Connect. Everything here builds [`http::Request`]s and parses
//! [`http::Response`]s; nothing here opens a socket, reads a clock or draws randomness
//! except through the traits in [`common`], so every flow is deterministic under test.
//!
//! The drivers that perform IO live in `keyward-client` (the client side) and the store
//! implementations in `keyward-stores` (the provider side).

pub mod common;
pub mod oauth1;
pub mod oauth2;
pub mod oidc;

pub use common::{
    clock::{Clock, SystemClock},
    http_client::{HttpClient, HttpError},
    random::{OsRandom, RandomSource},
};

/// This crate's guide to the OAuth 1.0a provider (the markdown under its `docs/` folder,
/// listed with the others in the repository's `docs/README.md`); its Rust examples are
/// doc-tests.
pub mod guides {
    #[doc = include_str!("../docs/oauth1-provider.md")]
    pub mod oauth1_provider {}
}

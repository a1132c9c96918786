//! # Keyward — the OAuth protocol core
//!
//! Sans-IO implementations of OAuth 1.0a (RFC 5849), OAuth 2.0 (RFC 6749 and companions)
//! and OpenID Connect. Everything here builds [`http::Request`]s and parses
//! [`http::Response`]s; nothing here opens a socket. Time and the random values of the
//! protocols (nonces, `state`, PKCE verifiers, assertion ids, issued credentials) come
//! through the traits in [`common`] ([`Clock`], [`RandomSource`]), so every flow is
//! deterministic under test.
//!
//! One exception sits inside the signature primitives: RSA signing draws from the operating
//! system's generator, not from a [`RandomSource`]. OAuth 1.0a's RSA-SHA1 and RSA-SHA256
//! use it for blinding, which shields the private key from timing attacks and leaves the
//! PKCS #1 v1.5 signature itself deterministic; RSA client assertions signed through
//! `jsonwebtoken` do the same, and their PSS variants (`PS256`, …) also draw a random salt.
//! The cryptographic crates take no injected source for this, and no protocol value
//! depends on it. The same holds for DPoP (RFC 9449): its key pairs are generated, and its
//! ECDSA proofs signed, with the system's generator; a proof's `jti` comes from the
//! [`RandomSource`].
//!
//! The drivers that perform IO live in `keyward-client` (the client side) and the store
//! implementations in `keyward-stores` (the provider side).

pub mod common;
pub mod jose;
pub mod oauth1;
pub mod oauth2;
pub mod oidc;

pub use common::{
    clock::{Clock, SystemClock},
    http_client::{HttpClient, HttpError},
    random::{OsRandom, RandomSource},
};

/// This crate's guides to the OAuth 1.0a provider and the OAuth 2.1 server (the markdown
/// under its `docs/` folder, listed with the others in the repository's `docs/README.md`);
/// their Rust examples are doc-tests.
pub mod guides {
    #[cfg(feature = "provider")]
    #[doc = include_str!("../docs/oauth1-provider.md")]
    pub mod oauth1_provider {}

    #[cfg(feature = "provider")]
    #[doc = include_str!("../docs/oauth2-provider.md")]
    pub mod oauth2_provider {}
}

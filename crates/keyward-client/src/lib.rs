//! # keyward-client — OAuth clients that do IO
//!
//! Drivers over the sans-IO [`keyward`] core: each network call is one
//! [`HttpClient::call`](keyward::HttpClient::call). [`ReqwestClient`] is the production
//! transport (rustls, redirects off, timeouts on).
//!
//! Two layers, and the arrows run one way:
//!
//! - the drivers — [`oauth1`], [`oauth2`] (with the OpenID Connect discovery and JWK-set
//!   caches and the single-flight refresh), [`http`], [`session`], and [`flow`], what a
//!   login carries from the redirect to the callback — know nothing of the registry;
//! - the [`registry`] of named apps builds drivers from each app's configuration, keeps the
//!   flow state between redirect and callback, and runs the token hooks.

pub mod flow;
pub mod http;
pub mod oauth1;
pub mod oauth2;
pub mod registry;
pub mod session;

pub use http::ReqwestClient;

/// This crate's guides (the markdown under its `docs/` folder, listed with the others in the
/// repository's `docs/README.md`); their Rust examples are doc-tests.
pub mod guides {
    #[doc = include_str!("../docs/web-clients.md")]
    pub mod web_clients {}

    #[doc = include_str!("../docs/oauth2.md")]
    pub mod oauth2_extras {}

    #[doc = include_str!("../docs/openid-connect.md")]
    pub mod openid_connect {}

    #[doc = include_str!("../docs/authlib.md")]
    pub mod coming_from_authlib {}
}

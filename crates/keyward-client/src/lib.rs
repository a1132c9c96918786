//! # keyward-client — OAuth clients that do IO
//!
//! Drivers over the sans-IO [`keyward`] core: each network call is one
//! [`HttpClient::call`](keyward::HttpClient::call). [`ReqwestClient`] is the production
//! transport (rustls, redirects off, timeouts on).

pub mod http;
pub mod oauth1;
pub mod oauth2;
pub mod registry;
pub mod session;

pub use http::ReqwestClient;

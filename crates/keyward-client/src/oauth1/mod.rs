//! The OAuth 1.0a client (RFC 5849 §2): temporary credential (§2.1), authorization URL
//! (§2.2), token credential (§2.3), then signed requests (§3).
//!
//! Each step builds a request with the sans-IO
//! [`Signer`](keyward::oauth1::rfc5849::Signer) and makes one
//! [`HttpClient::call`](keyward::HttpClient::call); responses are read as forms (§2.1) or,
//! as some providers answer, JSON.
//!
//! ```no_run
//! # async fn demo() -> Result<(), keyward_client::oauth1::OAuth1Error> {
//! use keyward::oauth1::rfc5849::{ClientCredentials, Signer};
//! use keyward_client::oauth1::{Endpoints, OAuth1Client};
//! use std::sync::Arc;
//!
//! let endpoints = Endpoints::new(
//!     "https://photos.example.net/initiate",
//!     "https://photos.example.net/authorize",
//!     "https://photos.example.net/token",
//! )?;
//! let signer = Signer::new(ClientCredentials::new("dpf43f3p2l4k3l03", "kd94hf93k423kf44"));
//! let client = OAuth1Client::new(signer, endpoints, Arc::new(keyward_client::ReqwestClient::new()));
//! let temporary = client.fetch_temporary_credentials(Some("https://printer.example.com/ready")).await?;
//! let _send_the_user_to = client.authorization_url(&temporary.credentials, &[]);
//! // … the user comes back to the callback with oauth_token and oauth_verifier …
//! let token = client.fetch_token_credentials(&temporary.credentials, "hfdp7dh39dks9884").await?;
//! let photo = http::Request::get("https://photos.example.net/photos?file=vacation.jpg").body(Vec::new()).unwrap();
//! let _response = client.call(photo, &token.credentials).await?;
//! # Ok(()) }
//! ```

mod client;
mod error;
mod response;

pub use client::{Endpoints, OAuth1Client};
pub use error::OAuth1Error;
pub use response::CredentialsResponse;

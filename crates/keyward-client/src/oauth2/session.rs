//! [`OAuth2Session`]: a token in use against a provider's APIs.

use super::{ClientError, OAuth2Client};
use keyward::oauth2::rfc6749::Token;
use std::sync::{Arc, Mutex};

/// A token and the client that renews it. Each request refreshes an expired token first
/// (single-flight, see [`OAuth2Client::ensure_fresh`]), places it as configured (RFC 6750;
/// a DPoP-bound token with its proof, RFC 9449) and runs the `protected_request` hooks.
#[derive(Debug)]
pub struct OAuth2Session {
    client: Arc<OAuth2Client>,
    token: Mutex<Token>,
}

impl OAuth2Session {
    /// A session using `token`.
    pub fn new(client: Arc<OAuth2Client>, token: Token) -> Self {
        Self { client, token: Mutex::new(token) }
    }

    /// The token currently in use (the renewed one after a refresh).
    pub fn token(&self) -> Token {
        self.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The client.
    pub fn client(&self) -> &Arc<OAuth2Client> {
        &self.client
    }

    /// Sends `request` with the token, refreshing it first if it is expired.
    pub async fn request(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ClientError> {
        let current = self.token();
        let fresh = self.client.ensure_fresh(&current).await?;
        if fresh.access_token != current.access_token {
            *self.token.lock().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        }
        self.client.call_with_token(request, &fresh).await
    }
}

impl OAuth2Client {
    /// Places `token` on `request` (RFC 6750, as configured; a DPoP-bound token with the
    /// `DPoP` scheme and a fresh proof, RFC 9449 §7.1) and runs the `protected_request`
    /// hooks. Does not refresh (see [`OAuth2Client::ensure_fresh`]) and does not answer a
    /// DPoP nonce challenge (see [`OAuth2Client::call_with_token`]).
    pub fn authorize_request(
        &self,
        request: &mut http::Request<Vec<u8>>,
        token: &Token,
    ) -> Result<(), ClientError> {
        self.place_token(request, token, self.config.token_placement)?;
        self.run_protected_hooks(request);
        Ok(())
    }
}

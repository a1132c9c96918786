//! [`OAuth2Session`]: a token in use against a provider's APIs.

use super::{ClientError, OAuth2Client};
use keyward::oauth2::rfc6749::Token;
use keyward::oauth2::rfc6750::add_bearer_token;
use std::sync::{Arc, Mutex};

/// A token and the client that renews it. Each request refreshes an expired token first
/// (single-flight, see [`OAuth2Client::ensure_fresh`]), places it as configured (RFC 6750)
/// and runs the `protected_request` hooks.
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
        mut request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ClientError> {
        let current = self.token();
        let fresh = self.client.ensure_fresh(&current).await?;
        if fresh.access_token != current.access_token {
            *self.token.lock().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        }
        self.client.authorize_request(&mut request, &fresh)?;
        Ok(self.client.http.call(request).await?)
    }
}

impl OAuth2Client {
    /// Places `token` on `request` (RFC 6750, as configured) and runs the
    /// `protected_request` hooks. Does not refresh; see [`OAuth2Client::ensure_fresh`].
    pub fn authorize_request(
        &self,
        request: &mut http::Request<Vec<u8>>,
        token: &Token,
    ) -> Result<(), ClientError> {
        add_bearer_token(request, token.access_token.secret(), self.config.token_placement)?;
        for hook in &self.hooks.protected_request {
            hook(request);
        }
        Ok(())
    }
}

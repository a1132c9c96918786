//! The resource protector: authenticated requests to protected resources, RFC 5849 §3.

use super::error::ProviderError;
use super::server::{Inner, join, required};
use crate::oauth1::rfc5849::names;
use crate::oauth1::rfc5849::store::{Client, TokenCredential};
use std::fmt;
use std::sync::Arc;

/// Validates requests to protected resources (RFC 5849 §3.2) against token credentials.
/// Made by [`AuthorizationServer::resource_protector`](super::AuthorizationServer::resource_protector);
/// cheap to clone.
#[derive(Clone)]
pub struct ResourceProtector {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for ResourceProtector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceProtector").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// An authenticated request (RFC 5849 §3): the client that signed it and the token
/// credential it used, which names the user the client acts for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Protected {
    /// The client.
    pub client: Client,
    /// The token credential; `token.user_id` is the resource owner.
    pub token: TokenCredential,
}

impl Protected {
    /// The resource owner the client acts for (RFC 5849 §1.1, bound at §2.3).
    pub fn user_id(&self) -> &str {
        &self.token.user_id
    }
}

impl ResourceProtector {
    /// Validates `req` (RFC 5849 §3.2), any HTTP method: transport, parameters, method
    /// allow-list, timestamp window, client, token credential (it must belong to the client),
    /// signature, then the nonce, recorded atomically.
    pub async fn validate_request(&self, req: &http::Request<Vec<u8>>) -> Result<Protected, ProviderError> {
        let inner = &self.inner;
        let (request, now) = inner.check_syntax(req)?;
        // The client and token look-ups are independent reads: run them concurrently (one
        // round trip instead of two on a networked store), then judge their results in the
        // order of `check_request`: client first, then the token.
        let token = request.token().filter(|t| !t.is_empty());
        let (client, credential) = join(inner.store.get_client(request.consumer_key()), async {
            match token {
                Some(token) => inner.store.get_token_credential(token).await,
                None => Ok(None),
            }
        })
        .await;
        let checked = inner.check_client(request, client?, now)?;
        required(checked.request.token(), names::TOKEN)?;
        let credential = credential?
            .filter(|c| c.client_id == checked.client.client_id)
            .ok_or(ProviderError::InvalidToken)?;
        inner.authenticate(&checked, credential.secret.secret()).await?;
        Ok(Protected { client: checked.client, token: credential })
    }
}

//! The resource protector: authenticated requests to protected resources, RFC 5849 §3.

use super::error::ProviderError;
use super::server::{AuthorizationServer, Inner, LookUp, required};
use crate::oauth1::rfc5849::names;
use crate::oauth1::rfc5849::store::{Client, TokenCredentialRecord};
use std::fmt;
use std::sync::Arc;

/// Validates requests to protected resources (RFC 5849 §3.2) against token credentials.
/// Made by [`AuthorizationServer::resource_protector`];
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
    pub token: TokenCredentialRecord,
}

impl Protected {
    /// The resource owner the client acts for (RFC 5849 §1.1, bound at §2.3).
    pub fn user_id(&self) -> &str {
        &self.token.user_id
    }
}

impl AuthorizationServer {
    /// A resource protector (§3) sharing this server's stores and settings.
    pub fn resource_protector(&self) -> ResourceProtector {
        ResourceProtector { inner: self.inner.clone() }
    }
}

impl ResourceProtector {
    /// Validates `req` (RFC 5849 §3.2), any HTTP method: transport, parameters, method
    /// allow-list, timestamp window, client, token credential (it must belong to the client),
    /// signature, then the nonce, recorded atomically.
    ///
    /// The client and token are looked up together ([`OAuth1Store::lookup_signed`]), and
    /// a networked store may record the nonce in that same round trip. The checks are
    /// judged in the order above whichever way the store works, so a request gets the same
    /// error either way; a nonce recorded early for a request that then fails is released,
    /// so only an accepted request uses up its nonce.
    ///
    /// [`OAuth1Store::lookup_signed`]: crate::oauth1::rfc5849::store::OAuth1Store::lookup_signed
    pub async fn validate_request(&self, req: &http::Request<Vec<u8>>) -> Result<Protected, ProviderError> {
        let inner = &*self.inner;
        inner
            .authenticate(req, LookUp::ClientAndToken, move |checked, token| async move {
                required(checked.request.token(), names::TOKEN)?;
                let credential = token
                    .filter(|c| c.client_id == checked.client.client_id)
                    .ok_or(ProviderError::InvalidToken)?;
                inner.verify_signature(&checked, credential.secret.secret())?;
                Ok(Protected { client: checked.client, token: credential })
            })
            .await
    }
}

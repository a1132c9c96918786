//! The revocation endpoint (RFC 7009 §2): a client revokes one of its tokens; a refresh
//! token takes its whole grant family with it (§2.1: "SHOULD also invalidate all access
//! tokens based on the same authorization grant").

use http::StatusCode;

use super::error::ProviderError;
use super::server::{AuthorizationServer, hash_token, json_response, read_post_form};
use super::store::TokenKind;

impl AuthorizationServer {
    /// The revocation endpoint (RFC 7009 §2.1): authenticates the client (a public client
    /// by its `client_id`), then revokes `token` if it is the client's. An unknown, expired or
    /// foreign token is answered `200` all the same (§2.2), so the endpoint tells nothing
    /// about tokens that are not the caller's. `token_type_hint` is accepted and not needed:
    /// one lookup finds either kind.
    pub async fn revoke(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        match self.revoke_inner(request).await {
            Ok(()) => json_response(StatusCode::OK, Vec::new()),
            Err(e) => e.to_response(),
        }
    }

    async fn revoke_inner(&self, request: &http::Request<Vec<u8>>) -> Result<(), ProviderError> {
        let form = read_post_form(request, self.inner.config.max_body)?;
        let client = self.authenticate_client(request, &form).await?;
        let token = form.get("token").ok_or(ProviderError::InvalidRequest("token is missing"))?;
        let hash = hash_token(token);
        let Some(record) = self.inner.store.get_token(&hash, self.now()).await? else { return Ok(()) };
        if record.client_id != client.client_id {
            return Ok(());
        }
        match record.kind {
            TokenKind::Refresh => {
                self.inner.store.revoke_family(&record.family_id).await?;
            }
            TokenKind::Access => {
                self.inner.store.revoke_token(&hash).await?;
            }
        }
        Ok(())
    }
}

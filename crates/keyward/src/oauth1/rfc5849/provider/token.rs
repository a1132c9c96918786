//! The token endpoint, RFC 5849 §2.3.

use super::config::CredentialKind;
use super::error::{InvalidRequest, ProviderError};
use super::response::form_pairs;
use super::server::{AuthorizationServer, LookUp, required};
use crate::common::secret::{SecretString, ct_eq};
use crate::oauth1::rfc5849::names;
use crate::oauth1::rfc5849::store::TokenCredentialRecord;

impl AuthorizationServer {
    /// Exchanges an authorized temporary credential for a token credential (RFC 5849 §2.3).
    ///
    /// Order matters. First everything that authenticates the request: method (POST, else
    /// `405`), transport, parameters, method allow-list, timestamp, client, the temporary
    /// credential (it must exist, be unexpired and belong to the client), the signature with
    /// the client's and the temporary credential's secrets, and the nonce. A request that
    /// fails any of these leaves the temporary credential alone: a bystander who saw the
    /// request token cannot cancel the user's flow.
    ///
    /// Then the temporary credential is *taken* from the store (atomically: of concurrent
    /// exchanges, one gets it) and the `oauth_verifier` compared in constant time. A wrong
    /// verifier on an authenticated request has thus consumed the credential: no second
    /// guess. On success a token credential bound to the granting user is stored.
    pub async fn issue_token_credential(
        &self,
        req: &http::Request<Vec<u8>>,
    ) -> Result<TokenCredentialRecord, ProviderError> {
        if req.method() != http::Method::POST {
            return Err(ProviderError::MethodNotAllowed);
        }
        let inner = &*self.inner;
        let checked = inner
            .authenticate(req, LookUp::Client, move |checked, _| async move {
                let token = required(checked.request.token(), names::TOKEN)?;
                required(checked.request.verifier(), names::VERIFIER)?;
                let pending = inner
                    .store
                    .get_temporary_credential(token, checked.now)
                    .await?
                    .filter(|c| !c.is_expired(checked.now) && c.client_id == checked.client.client_id)
                    .ok_or(ProviderError::InvalidToken)?;
                inner.verify_signature(&checked, pending.secret.secret())?;
                Ok(checked)
            })
            .await?;
        // Checked non-empty above.
        let token = checked.request.token().unwrap_or_default();
        let verifier = checked.request.verifier().unwrap_or_default();
        let client_id = checked.client.client_id.as_str();

        // Authenticated: from here on the temporary credential is spent, whatever happens.
        let taken = inner
            .store
            .take_temporary_credential(token, checked.now)
            .await?
            .filter(|c| c.client_id == client_id)
            .ok_or(ProviderError::InvalidToken)?;
        let authorization = match taken.authorization {
            Some(a) if ct_eq(a.verifier.secret().as_bytes(), verifier.as_bytes()) => a,
            _ => return Err(InvalidRequest::InvalidVerifier.into()),
        };

        inner
            .store_new(
                |inner| TokenCredentialRecord {
                    token: inner.generate(CredentialKind::Token),
                    secret: SecretString::new(inner.generate(CredentialKind::TokenSecret)),
                    client_id: client_id.to_owned(),
                    user_id: authorization.user_id.clone(),
                    created_at: checked.now,
                },
                |store, c| store.create_token_credential(c),
            )
            .await
    }

    /// [`issue_token_credential`](Self::issue_token_credential) as a response:
    /// `oauth_token` and `oauth_token_secret`, form-encoded, not cacheable (RFC 5849 §2.3),
    /// or the error's response.
    pub async fn create_token_response(&self, req: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        match self.issue_token_credential(req).await {
            Ok(c) => form_pairs([(names::TOKEN, c.token.as_str()), (names::TOKEN_SECRET, c.secret.secret())]),
            Err(e) => e.to_response(),
        }
    }
}

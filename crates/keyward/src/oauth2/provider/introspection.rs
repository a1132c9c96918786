//! The introspection endpoint (RFC 7662 §2): a confidential client (a resource server) asks
//! whether a token is active and what it carries.

use serde_json::json;

use super::client::ClientKind;
use super::error::ProviderError;
use super::server::{AuthorizationServer, hash_token, json_ok, read_post_form};
use super::store::{TokenKind, TokenRecord};

impl AuthorizationServer {
    /// The introspection endpoint (RFC 7662 §2.1): requires client authentication by a
    /// confidential client (§2.1: "the endpoint MUST require some form of authorization"); a
    /// public client gets `401 invalid_client`, as a request without client authentication
    /// (RFC 6749 §5.2). An active token the client may introspect
    /// ([`RegisteredClient::introspection`](super::client::RegisteredClient::introspection):
    /// by default only its own) gives its `scope`, `client_id`, `sub`, `aud`, `iss`, `exp`,
    /// `iat` and `token_type` (§2.2; `DPoP` with `cnf.jkt` for a DPoP-bound token, RFC 9449
    /// §6.2); anything else gives `{"active":false}` and nothing more.
    pub async fn introspect(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        match self.introspect_inner(request).await {
            Ok(response) => response,
            Err(e) => e.to_response(),
        }
    }

    async fn introspect_inner(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        let form = read_post_form(request, self.inner.config.max_body)?;
        let client = self.authenticate_client(request, &form).await?;
        if client.kind != ClientKind::Confidential {
            return Err(ProviderError::InvalidClient { basic: false });
        }
        let token = form.get("token").ok_or(ProviderError::InvalidRequest("token is missing"))?;
        let record = self.inner.store.get_token(&hash_token(token), self.now()).await?;
        let issuer = &self.inner.config.issuer;
        Ok(json_ok(&match record {
            Some(r) if client.introspection.allows(&client.client_id, &r, issuer) => {
                self.introspection_body(&r)
            }
            _ => json!({ "active": false }),
        }))
    }

    /// The §2.2 members of an active token.
    fn introspection_body(&self, r: &TokenRecord) -> serde_json::Value {
        let mut body = json!({
            "active": true,
            "scope": r.scopes.join(" "),
            "client_id": r.client_id,
            "iss": self.inner.config.issuer,
            "exp": r.expires_at,
            "iat": r.issued_at,
            "token_type": match r.kind { TokenKind::Access => "Bearer", TokenKind::Refresh => "refresh_token" },
        });
        if let Some(sub) = &r.subject {
            body["sub"] = json!(sub);
        }
        if !r.resources.is_empty() {
            body["aud"] = json!(r.resources);
        }
        // RFC 9449 §6.2: a bound token's key, and its type.
        if let Some(jkt) = &r.jkt {
            body["cnf"] = json!({ "jkt": jkt });
            if r.kind == TokenKind::Access {
                body["token_type"] = json!("DPoP");
            }
        }
        body
    }
}

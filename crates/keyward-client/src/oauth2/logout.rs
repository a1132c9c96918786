//! Logout in the driver: the provider's `end_session_endpoint` URL (OpenID Connect
//! RP-Initiated Logout 1.0 §2) and the validation of a back-channel logout token
//! (Back-Channel Logout 1.0 §2.6) with the cached JWK set and a replay store.

use super::{ClientError, OAuth2Client};
use keyward::common::store::OnceStore;
use keyward::oidc::logout::{
    EndSessionRequest, LogoutTokenClaims, LogoutTokenError, LogoutTokenValidator, end_session_url, record_jti,
};
use keyward::oidc::{IdTokenError, jwks::KeySet};

/// Why a back-channel logout token could not be accepted: the token itself
/// ([`LogoutError::Token`], the sender's fault), or this side (discovery or the JWK set
/// could not be fetched, the replay store failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutError {
    /// The token was refused (Back-Channel §2.6); answer `400` (§2.8).
    #[error(transparent)]
    Token(LogoutTokenError),
    /// The provider's metadata or keys could not be had, or the configuration cannot
    /// validate tokens; the logout could not be carried out.
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl LogoutError {
    /// Whether the token is at fault (`400 invalid_request`) rather than this side.
    pub fn is_invalid_token(&self) -> bool {
        matches!(self, LogoutError::Token(e) if e.is_invalid_token())
    }
}

impl From<LogoutTokenError> for LogoutError {
    fn from(e: LogoutTokenError) -> Self {
        LogoutError::Token(e)
    }
}

impl OAuth2Client {
    /// The RP-Initiated Logout URL (§2): the discovered `end_session_endpoint` with
    /// `id_token_hint`, our `client_id`, `post_logout_redirect_uri` and `state` (each when
    /// given). [`ClientError::Config`] when the provider advertises no such endpoint.
    pub async fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<String, ClientError> {
        if self.config.server_metadata_url.is_none() {
            return Err(ClientError::Config(
                "RP-initiated logout needs the provider's end_session_endpoint: set server_metadata_url"
                    .into(),
            ));
        }
        let meta = self.server_metadata().await?;
        let endpoint = meta.end_session_endpoint.as_deref().ok_or_else(|| {
            ClientError::Config("the provider's metadata has no end_session_endpoint".into())
        })?;
        let request = EndSessionRequest {
            id_token_hint,
            client_id: Some(&self.config.client_id),
            post_logout_redirect_uri,
            state,
            ui_locales: None,
        };
        end_session_url(endpoint, &request).map_err(|e| ClientError::Config(e.to_string()))
    }

    /// Validates a back-channel logout token (Back-Channel §2.6) with the provider's issuer,
    /// algorithms and cached JWK set (refetched once, rate-limited, on an unknown `kid`), as
    /// ID tokens are, then records its `jti` in `store` so that it is accepted once.
    pub async fn validate_logout_token(
        &self,
        token: &str,
        store: &dyn OnceStore,
    ) -> Result<LogoutTokenClaims, LogoutError> {
        let validator = LogoutTokenValidator::new(self.id_token_validator().await?);
        let now = self.clock.now();
        // An HMAC token needs no key set; the validator refuses algorithms not allowed.
        let is_hmac = validator
            .id_token
            .header(token)
            .is_ok_and(|(_, alg)| alg.family() == keyward::oidc::AlgorithmFamily::Hmac);
        let claims = if is_hmac {
            validator.validate(token, &KeySet::default(), now)?
        } else {
            let keys = self.jwks.keys(self).await?;
            match validator.validate(token, &keys, now) {
                Err(LogoutTokenError::Jwt(IdTokenError::UnknownKey { kid })) => {
                    match self.jwks.refetch(self, &keys).await? {
                        Some(newer) => validator.validate(token, &newer, now)?,
                        None => return Err(LogoutTokenError::Jwt(IdTokenError::UnknownKey { kid }).into()),
                    }
                }
                other => other?,
            }
        };
        record_jti(store, &claims, validator.id_token.leeway, now).await?;
        Ok(claims)
    }
}

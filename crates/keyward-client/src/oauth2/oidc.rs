//! OpenID Connect in the driver: the discovery cache (lifetime, issuer check), the JWK-set
//! cache (one rate-limited refetch on an unknown `kid`), ID-token validation and userinfo.

use super::config::Endpoint;
use super::{ClientError, OAuth2Client};
use keyward::oauth2::rfc6749::Token;
use keyward::oauth2::rfc8414::ServerMetadata;
use keyward::oidc::core::{
    IdTokenCheck, IdTokenClaims, IdTokenValidator, IssuerTemplate, algorithms_from_names,
};
use keyward::oidc::jwks::{KeySet, jwks_request, parse_jwks_response};
use keyward::oidc::{IdTokenError, OidcError, discovery, userinfo};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The cached discovery document and when it was fetched.
#[derive(Default)]
pub(crate) struct MetadataCache {
    slot: tokio::sync::Mutex<Option<(Arc<ServerMetadata>, i64)>>,
}

impl MetadataCache {
    /// The document, fetched when absent, older than the TTL, or `force`d. The lock is held
    /// across the fetch, so concurrent callers share one request.
    pub(crate) async fn get(
        &self,
        client: &OAuth2Client,
        force: bool,
    ) -> Result<Arc<ServerMetadata>, ClientError> {
        let url = client
            .config
            .server_metadata_url
            .as_deref()
            .ok_or_else(|| ClientError::Config("no server_metadata_url".into()))?;
        let mut slot = self.slot.lock().await;
        let now = client.clock.now();
        if let Some((meta, at)) = slot.as_ref()
            && !force
            && now.saturating_sub(*at) < client.config.metadata_ttl
        {
            return Ok(meta.clone());
        }
        let response = client.http.call(discovery::discovery_request(url)?).await?;
        let meta = discovery::parse_discovery_response(
            &response,
            url,
            client.config.quirks.issuer_template.as_deref(),
        )?;
        let meta = Arc::new(meta);
        *slot = Some((meta.clone(), now));
        Ok(meta)
    }
}

#[derive(Default)]
struct JwksState {
    keys: Option<Arc<KeySet>>,
    /// When the last refetch caused by an unknown `kid` ran (the first fetch does not count,
    /// so a rotation right after start-up is picked up at once).
    refetched_at: Option<i64>,
}

/// The cached JWK set.
#[derive(Default)]
pub(crate) struct JwksCache {
    slot: tokio::sync::Mutex<JwksState>,
}

impl JwksCache {
    async fn fetch(client: &OAuth2Client) -> Result<Arc<KeySet>, ClientError> {
        if let Some(inline) = &client.config.jwks {
            return KeySet::from_value(inline)
                .map(Arc::new)
                .map_err(|e| ClientError::Config(format!("inline jwks: {e}")));
        }
        let url = client.endpoint(Endpoint::Jwks).await?;
        let response = client.http.call(jwks_request(&url)?).await?;
        Ok(Arc::new(parse_jwks_response(&response)?))
    }

    /// The keys, fetched on first use.
    pub(crate) async fn keys(&self, client: &OAuth2Client) -> Result<Arc<KeySet>, ClientError> {
        let mut state = self.slot.lock().await;
        if let Some(keys) = &state.keys {
            return Ok(keys.clone());
        }
        let keys = Self::fetch(client).await?;
        state.keys = Some(keys.clone());
        Ok(keys)
    }

    /// After an unknown `kid` in a token checked against `seen`: the newer set if another
    /// task already refetched, else one refetch unless the last refetch was less than
    /// `jwks_refetch_interval` ago (`None`: rate-limited, or the keys are inline).
    pub(crate) async fn refetch(
        &self,
        client: &OAuth2Client,
        seen: &Arc<KeySet>,
    ) -> Result<Option<Arc<KeySet>>, ClientError> {
        if client.config.jwks.is_some() {
            return Ok(None);
        }
        let mut state = self.slot.lock().await;
        if let Some(current) = &state.keys
            && !Arc::ptr_eq(current, seen)
        {
            return Ok(Some(current.clone()));
        }
        let now = client.clock.now();
        if state.refetched_at.is_some_and(|at| now.saturating_sub(at) < client.config.jwks_refetch_interval) {
            return Ok(None);
        }
        state.refetched_at = Some(now);
        let keys = Self::fetch(client).await?;
        state.keys = Some(keys.clone());
        Ok(Some(keys))
    }
}

impl OAuth2Client {
    /// The ID-token validator for this provider: issuer and advertised algorithms from the
    /// metadata (or configuration), our client id and secret, the configured leeway and
    /// issuer template.
    pub async fn id_token_validator(&self) -> Result<IdTokenValidator, ClientError> {
        let (issuer, advertised) = if self.config.server_metadata_url.is_some() {
            let meta = self.server_metadata().await?;
            (meta.issuer.clone(), meta.id_token_signing_alg_values_supported.clone())
        } else {
            let issuer = self.config.issuer.clone().ok_or_else(|| {
                ClientError::Config("ID tokens need an issuer (server_metadata_url or issuer)".into())
            })?;
            (issuer, None)
        };
        Ok(IdTokenValidator {
            issuer,
            issuer_template: self
                .config
                .quirks
                .issuer_template
                .as_deref()
                .map(IssuerTemplate::from_placeholder),
            client_id: self.config.client_id.clone(),
            client_secret: self.config.client_secret.clone(),
            algorithms: self
                .config
                .id_token_algorithms
                .clone()
                .unwrap_or_else(|| algorithms_from_names(advertised.as_deref())),
            leeway: self.config.id_token_leeway,
        })
    }

    /// Validates an ID token (OpenID Connect Core §3.1.3.7) with the cached JWK set; on an
    /// unknown `kid` the set is refetched once (rate-limited) and the token checked again.
    pub async fn validate_id_token(
        &self,
        id_token: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
        code: Option<&str>,
    ) -> Result<IdTokenClaims, ClientError> {
        let validator = self.id_token_validator().await?;
        let (_, alg) = validator.header(id_token)?;
        let check = IdTokenCheck { now: self.clock.now(), nonce, access_token, code };
        if alg.family() == keyward::oidc::AlgorithmFamily::Hmac {
            return Ok(validator.validate(id_token, &KeySet::default(), &check)?);
        }
        let keys = self.jwks.keys(self).await?;
        match validator.validate(id_token, &keys, &check) {
            Err(IdTokenError::UnknownKey { kid }) => match self.jwks.refetch(self, &keys).await? {
                Some(newer) => Ok(validator.validate(id_token, &newer, &check)?),
                None => Err(IdTokenError::UnknownKey { kid }.into()),
            },
            other => Ok(other?),
        }
    }

    /// The user's claims from the userinfo endpoint (OpenID Connect Core §5.3), with the
    /// access token in the `Authorization` header (`Bearer`, or `DPoP` with a proof); `sub` must equal the ID token's. For providers
    /// with the `userinfo_from_id_token` quirk, the ID token's claims.
    pub async fn userinfo(&self, token: &Token) -> Result<Map<String, Value>, ClientError> {
        if self.config.quirks.userinfo_from_id_token {
            return token
                .userinfo
                .clone()
                .ok_or_else(|| ClientError::Config("no ID-token claims to use as userinfo".into()));
        }
        let url = self.endpoint(Endpoint::Userinfo).await?;
        let request = http::Request::get(&url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| keyward::oauth2::OAuth2Error::InvalidUrl {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        // The access token in the header (§5.3.1): as a bearer token, or a DPoP-bound one
        // with its proof (and one retry on a DPoP nonce challenge).
        let placement = keyward::oauth2::rfc6750::TokenPlacement::Header;
        let response = self.send_with_token(request, token, placement).await?;
        let expected = token.userinfo.as_ref().and_then(|u| u.get("sub")).and_then(Value::as_str);
        userinfo::parse_userinfo_response(&response, expected).map_err(|e: OidcError| e.into())
    }
}

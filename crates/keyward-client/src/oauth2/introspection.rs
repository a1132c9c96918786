//! [`IntrospectionVerifier`]: the bearer-token check of a resource server that is a separate
//! service from its authorization server, through the RFC 7662 introspection endpoint.

use std::fmt;
use std::sync::Arc;

use keyward::common::http_client::HttpClient;
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::SecretString;
use keyward::common::store::BoxFuture;
use keyward::oauth2::OAuth2Error;
use keyward::oauth2::provider::cache::{CacheConfig, CachedAnswer, TokenCache};
use keyward::oauth2::provider::{AccessGrant, BearerError, TokenVerifier};
use keyward::oauth2::rfc6749::{AuthContext, ClientAuthentication, ClientSecretBasic};
use keyward::oauth2::rfc7662::{Introspection, introspection_request, parse_introspection_response};

/// A [`TokenVerifier`] that asks the authorization server's introspection endpoint (RFC
/// 7662 §2) whether a bearer token is active, authenticating as a client (§2.1: the
/// resource server is a client of the authorization server; `client_secret_basic` by
/// default, any [`ClientAuthentication`] with [`with_auth`](Self::with_auth)).
///
/// Give it to [`ResourceProtector::new`](keyward::oauth2::provider::ResourceProtector::new)
/// in the resource server. A token is accepted when the answer is `active: true`, its
/// `token_type` (when given) is an access token's (`Bearer` or `DPoP`, never
/// `refresh_token`), its `exp` and `nbf` (when given) hold at `now`, and its `iss` (when given, and an issuer is
/// [expected](Self::expect_issuer)) is the issuer. `active: false` is `401 invalid_token`;
/// a transport failure, an error answer (the endpoint refused the resource server's own
/// credentials) or an unreadable one is `503`: the request fails closed.
///
/// # Caching
///
/// Without [`with_cache`](Self::with_cache), every request makes a round trip. With it, the
/// answers are kept in a bounded [`TokenCache`] under the token's SHA-256: an active answer
/// at most `max_ttl` seconds and never past the token's `exp`; an inactive answer only for
/// `inactive_ttl` seconds (default 0: never, so a client that just got a token is not
/// refused because of an earlier answer, and a flood of bad tokens reaches the endpoint
/// unless that TTL is set); failures never. A token revoked at the authorization server
/// stays accepted here until its cache entry expires: `max_ttl` is that delay, keep it short
/// (seconds to a minute).
pub struct IntrospectionVerifier {
    http: Arc<dyn HttpClient>,
    endpoint: String,
    client_id: String,
    client_secret: Option<SecretString>,
    auth: Arc<dyn ClientAuthentication>,
    random: Arc<dyn RandomSource>,
    token_endpoint: Option<String>,
    issuer: Option<String>,
    cache: Option<TokenCache>,
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("issuer", &self.issuer)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    /// A verifier that calls `endpoint` through `http` as the client `client_id` (with
    /// `client_secret`, for the secret-based methods). Refused when `endpoint` is not a
    /// valid URL.
    pub fn new(
        http: Arc<dyn HttpClient>,
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
    ) -> Result<Self, OAuth2Error> {
        let endpoint = endpoint.into();
        if let Err(e) = endpoint.parse::<http::Uri>() {
            return Err(OAuth2Error::InvalidUrl { url: endpoint, reason: e.to_string() });
        }
        Ok(Self {
            http,
            endpoint,
            client_id: client_id.into(),
            client_secret,
            auth: Arc::new(ClientSecretBasic),
            random: Arc::new(OsRandom),
            token_endpoint: None,
            issuer: None,
            cache: None,
        })
    }

    /// Authenticates with `auth` instead of `client_secret_basic`; `token_endpoint` is the
    /// audience of a client assertion (RFC 7523), when the method makes one.
    pub fn with_auth(mut self, auth: Arc<dyn ClientAuthentication>, token_endpoint: Option<String>) -> Self {
        self.auth = auth;
        self.token_endpoint = token_endpoint;
        self
    }

    /// Draws the `jti` of client assertions from `random` (default: the OS).
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// Refuses an active answer whose `iss` is given and is not `issuer`.
    pub fn expect_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Caches answers within `config` (see the [type docs](Self)).
    pub fn with_cache(mut self, config: CacheConfig) -> Self {
        self.cache = Some(TokenCache::new(config));
        self
    }

    /// The cache, when one is set.
    pub fn cache(&self) -> Option<&TokenCache> {
        self.cache.as_ref()
    }

    /// Asks the endpoint about `token`.
    async fn introspect(&self, token: &str, now: i64) -> Result<Introspection, BearerError> {
        let mut form = introspection_request(&self.endpoint, token, Some("access_token"));
        let unique =
            self.random.string(22, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
        let ctx = AuthContext {
            client_id: &self.client_id,
            client_secret: self.client_secret.as_ref(),
            now,
            unique: &unique,
            token_endpoint: self.token_endpoint.as_deref(),
        };
        self.auth.authenticate(&mut form, &ctx).map_err(|_| BearerError::Unavailable)?;
        let request = form.into_http().map_err(|_| BearerError::Unavailable)?;
        let response = self.http.call(request).await.map_err(|_| BearerError::Unavailable)?;
        parse_introspection_response(&response).map_err(|_| BearerError::Unavailable)
    }

    /// The grant of an active answer, or `None` when the answer does not make the token
    /// usable here.
    fn grant(&self, answer: Introspection, now: i64) -> Option<AccessGrant> {
        if !answer.active
            || answer.exp.is_some_and(|exp| exp <= now)
            || answer.nbf.is_some_and(|nbf| nbf > now)
            || answer.token_type.as_deref().is_some_and(|t| {
                !t.eq_ignore_ascii_case("bearer")
                    && !t.eq_ignore_ascii_case("access_token")
                    && !t.eq_ignore_ascii_case("dpop")
            })
            || matches!((&self.issuer, &answer.iss), (Some(want), Some(got)) if want != got)
        {
            return None;
        }
        // RFC 9449 §6.2: a DPoP-bound token's key.
        let jkt = answer
            .extra
            .get("cnf")
            .and_then(|cnf| cnf.get("jkt"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let audience = match answer.aud {
            Some(serde_json::Value::String(one)) => vec![one],
            Some(serde_json::Value::Array(many)) => {
                many.into_iter().filter_map(|a| a.as_str().map(str::to_owned)).collect()
            }
            _ => Vec::new(),
        };
        Some(AccessGrant {
            subject: answer.sub,
            client_id: answer.client_id.unwrap_or_default(),
            scopes: answer
                .scope
                .as_deref()
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            audience,
            // No `exp`: the token does not expire (the cache still bounds its entry).
            expires_at: answer.exp.unwrap_or(i64::MAX),
            jkt,
        })
    }
}

impl TokenVerifier for IntrospectionVerifier {
    fn verify<'a>(&'a self, token: &'a str, now: i64) -> BoxFuture<'a, Result<AccessGrant, BearerError>> {
        Box::pin(async move {
            match self.cache.as_ref().and_then(|c| c.get(token, now)) {
                Some(CachedAnswer::Active(grant)) => return Ok(grant),
                Some(CachedAnswer::Inactive) => return Err(BearerError::InvalidToken),
                None => {}
            }
            let answer = self.introspect(token, now).await?;
            match self.grant(answer, now) {
                Some(grant) => {
                    if let Some(cache) = &self.cache {
                        cache.put_active(token, &grant, now);
                    }
                    Ok(grant)
                }
                None => {
                    if let Some(cache) = &self.cache {
                        cache.put_inactive(token, now);
                    }
                    Err(BearerError::InvalidToken)
                }
            }
        })
    }
}

//! [`OAuth2Client`]: one provider's client, every call one `HttpClient::call`.

use super::ClientError;
use super::config::{Endpoint, OAuth2Config};
use super::hooks::{ComplianceHooks, Hook, run_form, run_response};
use super::oidc::{JwksCache, MetadataCache};
use super::refresh::{Flights, UpdateToken};
use crate::flow::{Callback, FlowData};
use keyward::common::clock::{Clock, SystemClock};
use keyward::common::http_client::HttpClient;
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::SecretString;
use keyward::oauth2::rfc6749::{
    AuthContext, AuthorizationUrl, ClientAuthMethod, ClientAuthentication, ClientSecretBasic,
    ClientSecretPost, Grant, PublicClient, STATE_LENGTH, Token, TokenEndpointUse, parse_token_response,
};
use keyward::oauth2::rfc7523::{AssertionKey, ClientSecretJwt, PrivateKeyJwt};
use keyward::oauth2::rfc7636::CodeVerifier;
use keyward::oauth2::rfc7662::Introspection;
use keyward::oauth2::rfc8414::ServerMetadata;
use keyward::oauth2::rfc8628::{DeviceAuthorization, PollStep, SLOW_DOWN_STEP};
use keyward::oauth2::{FormRequest, rfc7009, rfc7662, rfc8628};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Length of a generated OpenID Connect `nonce`.
const NONCE_LENGTH: usize = 30;

/// An authorization request ready to send the user to, with what the callback will need
/// (keep [`flow`](Self::flow) in the flow state, keyed by [`state`](Self::state)).
#[derive(Debug)]
pub struct AuthorizationRedirect {
    /// The URL to redirect the user to.
    pub url: String,
    /// The `state` sent (30 letters and digits).
    pub state: String,
    /// What the code exchange needs: the `redirect_uri` sent, the PKCE verifier when PKCE
    /// is on, the OpenID Connect nonce when `openid` is in scope and the provider supports
    /// it. It owns the verifier, which is not `Clone`: kept once, spent once.
    pub flow: FlowData,
}

/// What a code exchange needs from the callback and the flow state.
///
/// Its `Debug` redacts the code, a bearer credential until it is spent (RFC 6749 §10.5).
#[derive(Default)]
pub struct CodeExchange<'a> {
    /// The `code` of the callback.
    pub code: &'a str,
    /// The callback's `iss` (RFC 9207), if any.
    pub iss: Option<&'a str>,
    /// The `redirect_uri` of the authorization request.
    pub redirect_uri: Option<&'a str>,
    /// The PKCE verifier stored with the flow.
    pub code_verifier: Option<&'a CodeVerifier>,
    /// The nonce stored with the flow.
    pub nonce: Option<&'a str>,
    /// The scope requested, when not the configured one.
    pub scope: Option<&'a str>,
}

impl std::fmt::Debug for CodeExchange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeExchange")
            .field("code", &"[redacted]")
            .field("iss", &self.iss)
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &self.code_verifier)
            .field("nonce", &self.nonce)
            .field("scope", &self.scope)
            .finish()
    }
}

/// One provider's OAuth 2.0 / OpenID Connect client.
///
/// Built once and shared (`Arc<OAuth2Client>`): it holds the discovery and JWK-set
/// caches and the single-flight refresh table.
pub struct OAuth2Client {
    pub(crate) config: OAuth2Config,
    pub(crate) http: Arc<dyn HttpClient>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) hooks: ComplianceHooks,
    /// The client authentication methods by name: the built-in ones, then those the
    /// application registered (which replace a built-in of the same name).
    auth_methods: HashMap<String, Arc<dyn ClientAuthentication>>,
    pub(crate) update_token: Option<Arc<dyn UpdateToken>>,
    pub(crate) metadata: MetadataCache,
    pub(crate) jwks: JwksCache,
    pub(crate) flights: Flights,
    pub(crate) dpop: Option<super::dpop::DpopState>,
}

impl std::fmt::Debug for OAuth2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Client")
            .field("config", &self.config)
            .field("hooks", &self.hooks)
            .field("auth_methods", &self.auth_methods.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl OAuth2Client {
    /// A client over `http`, with the system clock and the OS random source.
    ///
    /// Fails when `private_key_jwt` is configured with an unusable key. With `dpop` on and
    /// no `dpop_key`, a DPoP key pair is generated ([`OAuth2Client::with_dpop_key`] replaces
    /// it).
    pub fn new(config: OAuth2Config, http: Arc<dyn HttpClient>) -> Result<Self, ClientError> {
        let mut auth_methods: HashMap<String, Arc<dyn ClientAuthentication>> = HashMap::new();
        let builtins: [(ClientAuthMethod, Arc<dyn ClientAuthentication>); 4] = [
            (ClientAuthMethod::ClientSecretBasic, Arc::new(ClientSecretBasic)),
            (ClientAuthMethod::ClientSecretPost, Arc::new(ClientSecretPost)),
            (ClientAuthMethod::None, Arc::new(PublicClient)),
            (ClientAuthMethod::ClientSecretJwt, Arc::new(ClientSecretJwt)),
        ];
        for (method, auth) in builtins {
            auth_methods.insert(method.name().to_owned(), auth);
        }
        // `private_key_jwt` signs with the app's own key: registered when the app uses it.
        if config.auth_method() == ClientAuthMethod::PrivateKeyJwt {
            let pem = config.private_key.as_ref().ok_or_else(|| {
                ClientError::Config("private_key_jwt needs a private key (client_kwargs.rsa_key)".into())
            })?;
            let key = AssertionKey::rsa_pem(pem, None, config.private_key_kid.clone())?;
            auth_methods
                .insert(ClientAuthMethod::PrivateKeyJwt.name().to_owned(), Arc::new(PrivateKeyJwt::new(key)));
        }
        let dpop = match (&config.dpop_key, config.dpop) {
            (Some(key), _) => Some(super::dpop::DpopState::new(key.clone())),
            (None, true) => Some(super::dpop::DpopState::new(keyward::oauth2::rfc9449::DpopKey::generate()?)),
            (None, false) => None,
        };
        Ok(Self {
            dpop,
            config,
            http,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            hooks: ComplianceHooks::default(),
            auth_methods,
            update_token: None,
            metadata: MetadataCache::default(),
            jwks: JwksCache::default(),
            flights: Flights::default(),
        })
    }

    /// Uses `clock` for token expiry, ID-token times and cache lifetimes.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `random` for state, nonce, PKCE verifiers and assertion ids.
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// Registers a compliance hook; hooks of a kind run in registration order.
    pub fn with_hook(mut self, hook: Hook) -> Self {
        self.hooks.register(hook);
        self
    }

    /// Registers a client authentication method under `name` (used when the configured
    /// method has that name; a registered name shadows a built-in one).
    pub fn with_auth_method(
        mut self,
        name: impl Into<String>,
        method: Arc<dyn ClientAuthentication>,
    ) -> Self {
        self.auth_methods.insert(name.into(), method);
        self
    }

    /// The hook that persists renewed tokens (called once per automatic refresh).
    pub fn with_update_token(mut self, hook: Arc<dyn UpdateToken>) -> Self {
        self.update_token = Some(hook);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &OAuth2Config {
        &self.config
    }

    /// Seconds since the epoch, by the client's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The URL of an endpoint: configured, or from the provider's metadata.
    pub async fn endpoint(&self, endpoint: Endpoint) -> Result<String, ClientError> {
        self.endpoint_if_known(endpoint).await?.ok_or_else(|| {
            ClientError::Config(format!("no `{}` configured or discovered", endpoint.metadata_name()))
        })
    }

    /// [`endpoint`](Self::endpoint), with `None` when the app neither configured nor
    /// discovered it. A failed discovery is still an error.
    async fn endpoint_if_known(&self, endpoint: Endpoint) -> Result<Option<String>, ClientError> {
        if let Some(url) = self.config.configured(endpoint) {
            return Ok(Some(url.to_owned()));
        }
        if self.config.server_metadata_url.is_none() {
            return Ok(None);
        }
        let meta = self.server_metadata().await?;
        Ok(match endpoint {
            Endpoint::Authorization => meta.authorization_endpoint.clone(),
            Endpoint::Token => meta.token_endpoint.clone(),
            Endpoint::Revocation => meta.revocation_endpoint.clone(),
            Endpoint::Introspection => meta.introspection_endpoint.clone(),
            Endpoint::DeviceAuthorization => meta.device_authorization_endpoint.clone(),
            Endpoint::Userinfo => meta.userinfo_endpoint.clone(),
            Endpoint::Jwks => meta.jwks_uri.clone(),
        })
    }

    /// The provider's metadata (cached for `metadata_ttl`; see [`OAuth2Client::refresh_server_metadata`]).
    pub async fn server_metadata(&self) -> Result<Arc<ServerMetadata>, ClientError> {
        self.metadata.get(self, false).await
    }

    /// Fetches the provider's metadata again, whatever the cache holds.
    pub async fn refresh_server_metadata(&self) -> Result<Arc<ServerMetadata>, ClientError> {
        self.metadata.get(self, true).await
    }

    /// The authorization URL (RFC 6749 §4.1.1) with a fresh `state`, the PKCE challenge
    /// (RFC 7636 §4.3) when configured, and a `nonce` when `openid` is in scope (unless the
    /// provider has the no-nonce quirk). `params` are call-time extras; the configured
    /// `authorize_params` override them. Neither replaces `state`: it is always the fresh
    /// random value, the one returned for the flow state (a fixed or reused state would
    /// undo the CSRF protection of RFC 6749 §10.12). A `redirect_uri` among them is the one
    /// returned, as it is the one the token request must repeat (§4.1.3).
    ///
    /// With PAR on ([`OAuth2Client::par_endpoint`]) the parameters are pushed first (RFC
    /// 9126) and the URL carries only `client_id` and `request_uri`.
    pub async fn authorization_url(
        &self,
        redirect_uri: Option<&str>,
        params: &[(&str, &str)],
    ) -> Result<AuthorizationRedirect, ClientError> {
        let endpoint = self.endpoint(Endpoint::Authorization).await?;
        let state = self.random.alphanumeric(STATE_LENGTH);
        let mut url = AuthorizationUrl::new(endpoint, &self.config.client_id, &state);
        if let Some(r) = redirect_uri {
            url.param("redirect_uri", r);
        }
        if let Some(s) = &self.config.scope {
            url.param("scope", s);
        }
        let code_verifier = self.config.pkce.map(|method| {
            let verifier = CodeVerifier::generate(self.random.as_ref());
            url.param("code_challenge", &verifier.challenge(method));
            url.param("code_challenge_method", method.as_str());
            verifier
        });
        for (k, v) in params {
            url.param(k, v);
        }
        for (k, v) in &self.config.authorize_params {
            url.param(k, v);
        }
        url.param("state", &state);
        let nonce = if self.config.wants_openid(url.get("scope")) && !self.config.quirks.no_nonce {
            let nonce = match url.get("nonce") {
                Some(n) => n.to_owned(),
                None => self.random.alphanumeric(NONCE_LENGTH),
            };
            url.param("nonce", &nonce);
            Some(nonce)
        } else {
            None
        };
        let flow = FlowData {
            redirect_uri: url.get("redirect_uri").map(str::to_owned),
            code_verifier,
            nonce,
            ..FlowData::default()
        };
        let url = match self.par_endpoint().await? {
            Some(par) => self.push_authorization(&par, &url).await?,
            None => url.build()?,
        };
        Ok(AuthorizationRedirect { url, state, flow })
    }

    /// Exchanges an authorization code (RFC 6749 §4.1.3).
    ///
    /// First the callback's `iss` is checked (RFC 9207) when the provider advertises it or
    /// the callback carries one. With `openid` in scope the response must hold an ID
    /// token; it is validated (signature, issuer, audience, times, nonce, `at_hash`) and
    /// its claims are put in `token.userinfo`.
    pub async fn exchange_code(&self, exchange: &CodeExchange<'_>) -> Result<Token, ClientError> {
        self.check_callback_iss(exchange.iss).await?;
        let grant = Grant::AuthorizationCode {
            code: exchange.code,
            redirect_uri: exchange.redirect_uri,
            code_verifier: exchange.code_verifier,
        };
        let mut token = self.grant(grant).await?;
        if self.config.wants_openid(exchange.scope) || token.has_scope("openid") || token.id_token.is_some() {
            let id_token = token.id_token.clone().ok_or(keyward::oidc::OidcError::MissingIdToken)?;
            let nonce = if self.config.quirks.no_nonce { None } else { exchange.nonce };
            let claims = self
                .validate_id_token(&id_token, nonce, Some(token.access_token.secret()), Some(exchange.code))
                .await?;
            token.userinfo = Some(claims.raw);
        }
        Ok(token)
    }

    /// Exchanges the code of a callback whose `state` has been matched to `flow` (the
    /// [`AuthorizationRedirect::flow`] kept since the redirect): `code` and `iss` from
    /// the callback, `redirect_uri`, the PKCE verifier and the nonce from the flow.
    ///
    /// This is where a callback's `code` is checked: one without is
    /// [`ClientError::MissingCode`].
    pub async fn exchange_callback(
        &self,
        callback: &Callback,
        flow: &FlowData,
    ) -> Result<Token, ClientError> {
        let code = callback.code().ok_or(ClientError::MissingCode)?;
        self.exchange_code(&CodeExchange {
            code,
            iss: callback.get("iss"),
            redirect_uri: flow.redirect_uri.as_deref(),
            code_verifier: flow.code_verifier.as_ref(),
            nonce: flow.nonce.as_deref(),
            scope: None,
        })
        .await
    }

    async fn check_callback_iss(&self, iss: Option<&str>) -> Result<(), ClientError> {
        use keyward::oauth2::rfc9207::check_iss;
        if self.config.server_metadata_url.is_some() {
            let meta = self.server_metadata().await?;
            let advertised = meta.authorization_response_iss_parameter_supported;
            if let (Some(t), Some(got)) = (&self.config.quirks.issuer_template, iss)
                && meta.issuer.contains(t.as_str())
            {
                return if keyward::oauth2::rfc8414::issuer_matches(&meta.issuer, got, Some(t)) {
                    Ok(())
                } else {
                    Err(keyward::oauth2::rfc9207::IssError::Mismatch {
                        expected: meta.issuer.clone(),
                        got: got.to_owned(),
                    }
                    .into())
                };
            }
            return Ok(check_iss(iss, &meta.issuer, advertised)?);
        }
        if let Some(issuer) = &self.config.issuer {
            check_iss(iss, issuer, false)?;
        }
        Ok(())
    }

    /// The client-credentials grant (RFC 6749 §4.4).
    pub async fn client_credentials(&self, scope: Option<&str>) -> Result<Token, ClientError> {
        self.grant(Grant::ClientCredentials { scope: scope.or(self.config.scope.as_deref()) }).await
    }

    /// The resource-owner password grant (RFC 6749 §4.3).
    pub async fn password(
        &self,
        username: &str,
        password: &SecretString,
        scope: Option<&str>,
    ) -> Result<Token, ClientError> {
        self.grant(Grant::Password { username, password, scope: scope.or(self.config.scope.as_deref()) })
            .await
    }

    /// Runs a grant at the token endpoint: configured `access_token_params`, client
    /// authentication, then the `access_token_response` hooks before the response is read.
    pub async fn grant(&self, grant: Grant<'_>) -> Result<Token, ClientError> {
        let url = self.endpoint(Endpoint::Token).await?;
        let mut request = grant.token_request(&url);
        for (k, v) in &self.config.access_token_params {
            request.set(k, v.clone());
        }
        let mut response = self.send_token_request(request, &[]).await?;
        run_response(&self.hooks.access_token_response, &mut response);
        let mut token = parse_token_response(&response, self.clock.now())?;
        self.bind_token(&mut token);
        Ok(token)
    }

    /// Refreshes `token` now (RFC 6749 §6), without the single-flight of automatic
    /// refresh. The old refresh token is kept when the response has none, and so is the old
    /// scope (the request asks for the scope originally granted, RFC 6749 §6, and §5.1 lets
    /// the response leave out a scope that is the one requested); a new ID token
    /// is validated (without nonce, with the same `sub`: OpenID Connect Core §12.2), else
    /// the old ID token and its claims stay.
    pub async fn refresh_token(&self, token: &Token) -> Result<Token, ClientError> {
        let refresh = token.refresh_token.as_ref().ok_or(ClientError::Expired)?;
        let url = match &self.config.refresh_token_url {
            Some(u) => u.clone(),
            None => self.endpoint(Endpoint::Token).await?,
        };
        let mut request = Grant::RefreshToken { refresh_token: refresh, scope: None }.token_request(&url);
        for (k, v) in &self.config.refresh_token_params {
            request.set(k, v.clone());
        }
        let mut response = self.send_token_request(request, &self.hooks.refresh_token_request).await?;
        run_response(&self.hooks.refresh_token_response, &mut response);
        let mut new = parse_token_response(&response, self.clock.now())?;
        self.bind_token(&mut new);
        if new.refresh_token.is_none() {
            new.refresh_token = token.refresh_token.clone();
        }
        if new.scope.is_none() {
            new.scope = token.scope.clone();
        }
        match new.id_token.clone() {
            Some(id_token) => {
                let claims =
                    self.validate_id_token(&id_token, None, Some(new.access_token.secret()), None).await?;
                let old_sub = token.userinfo.as_ref().and_then(|u| u.get("sub"));
                if old_sub.is_some_and(|s| Some(s) != claims.raw.get("sub")) {
                    return Err(keyward::oidc::OidcError::SubjectMismatch {
                        expected: old_sub.and_then(|s| s.as_str()).unwrap_or_default().to_owned(),
                        got: Some(claims.sub),
                    }
                    .into());
                }
                new.userinfo = Some(claims.raw);
            }
            None => {
                // The old ID token stays (an `id_token_hint` for logout), with its claims.
                new.id_token = token.id_token.clone();
                new.userinfo = token.userinfo.clone();
            }
        }
        Ok(new)
    }

    /// Starts the device flow (RFC 8628 §3.1–§3.2): show `user_code` and
    /// `verification_uri` to the user, then [`OAuth2Client::poll_device_token`].
    pub async fn device_authorization(
        &self,
        scope: Option<&str>,
    ) -> Result<DeviceAuthorization, ClientError> {
        let url = self.endpoint(Endpoint::DeviceAuthorization).await?;
        let mut request = rfc8628::device_authorization_request(&url, scope.or(self.config.scope.as_deref()));
        self.authenticate(&mut request).await?;
        let response = self.http.call(request.into_http()?).await?;
        Ok(rfc8628::parse_device_authorization_response(&response)?)
    }

    /// Polls the token endpoint until the user approves (RFC 8628 §3.4–§3.5): waits
    /// `interval` seconds before each poll, adds 5 s on `slow_down`, keeps polling on
    /// `authorization_pending`, stops on any other error and when the codes expire. An ID
    /// token in the response is validated and its claims put in `token.userinfo`.
    pub async fn poll_device_token(&self, device: &DeviceAuthorization) -> Result<Token, ClientError> {
        // Both numbers come from the server: arithmetic on them must not overflow.
        let start = tokio::time::Instant::now();
        let deadline = start.checked_add(Duration::from_secs(device.expires_in));
        let mut interval = device.interval.max(1);
        loop {
            let wake = tokio::time::Instant::now().checked_add(Duration::from_secs(interval));
            let (Some(wake), Some(deadline)) = (wake, deadline) else {
                return Err(ClientError::DeviceCodeExpired);
            };
            if wake > deadline {
                return Err(ClientError::DeviceCodeExpired);
            }
            tokio::time::sleep_until(wake).await;
            match self.grant(Grant::DeviceCode { device_code: &device.device_code }).await {
                Ok(mut token) => {
                    if let Some(id_token) = token.id_token.clone() {
                        // No nonce in the device flow (RFC 8628 has no authorization request).
                        let claims = self
                            .validate_id_token(&id_token, None, Some(token.access_token.secret()), None)
                            .await?;
                        token.userinfo = Some(claims.raw);
                    }
                    return Ok(token);
                }
                Err(ClientError::OAuth2(e)) => match rfc8628::poll_step(&e) {
                    PollStep::Pending => {}
                    PollStep::SlowDown => interval = interval.saturating_add(SLOW_DOWN_STEP),
                    _ if e.code() == Some("expired_token") => return Err(ClientError::DeviceCodeExpired),
                    _ => return Err(e.into()),
                },
                Err(e) => return Err(e),
            }
        }
    }

    /// Revokes a token (RFC 7009 §2.1), after the `revoke_token_request` hooks.
    pub async fn revoke_token(&self, token: &str, token_type_hint: Option<&str>) -> Result<(), ClientError> {
        let url = self.endpoint(Endpoint::Revocation).await?;
        let mut request = rfc7009::revocation_request(&url, token, token_type_hint);
        self.authenticate(&mut request).await?;
        run_form(&self.hooks.revoke_token_request, &mut request);
        let response = self.http.call(request.into_http()?).await?;
        Ok(rfc7009::parse_revocation_response(&response)?)
    }

    /// Introspects a token (RFC 7662 §2.1), after the `introspect_token_request` hooks.
    pub async fn introspect_token(
        &self,
        token: &str,
        token_type_hint: Option<&str>,
    ) -> Result<Introspection, ClientError> {
        let url = self.endpoint(Endpoint::Introspection).await?;
        let mut request = rfc7662::introspection_request(&url, token, token_type_hint);
        self.authenticate(&mut request).await?;
        run_form(&self.hooks.introspect_token_request, &mut request);
        let response = self.http.call(request.into_http()?).await?;
        Ok(rfc7662::parse_introspection_response(&response)?)
    }

    /// Authenticates a request to the token endpoint, or to another endpoint that takes
    /// client authentication (revocation, introspection, device authorization), with the
    /// method registered under the configured name (a custom one, or a built-in one).
    ///
    /// The token endpoint (configured, else discovered) is looked up only for a method
    /// that reads it ([`ClientAuthentication::token_endpoint_use`]). A `client_secret_jwt`
    /// or `private_key_jwt` assertion names it as its `aud` whatever endpoint the request
    /// goes to, as OpenID Connect Core §9 recommends and RFC 7523 §3 allows; only when the
    /// app knows no token endpoint is the `aud` the request's own URL. A custom method finds
    /// it in [`AuthContext::token_endpoint`] (`None` when unknown, or when the metadata could
    /// not be fetched).
    pub async fn authenticate(&self, request: &mut FormRequest) -> Result<(), ClientError> {
        let name = self.config.auth_method();
        let method = self.auth_methods.get(name.name()).ok_or_else(|| {
            ClientError::Config(format!("client authentication method `{}` is not registered", name.name()))
        })?;
        let token_endpoint = match method.token_endpoint_use() {
            TokenEndpointUse::Unused => None,
            TokenEndpointUse::Optional => self.endpoint_if_known(Endpoint::Token).await.ok().flatten(),
            TokenEndpointUse::Required => self.endpoint_if_known(Endpoint::Token).await?,
        };
        let unique = self.random.alphanumeric(32);
        let ctx = AuthContext {
            client_id: &self.config.client_id,
            client_secret: self.config.client_secret.as_ref(),
            now: self.clock.now(),
            unique: &unique,
            token_endpoint: token_endpoint.as_deref(),
        };
        Ok(method.authenticate(request, &ctx)?)
    }
}

//! The [`OAuth`] registry of named remote apps and [`RemoteApp`], the one API over
//! OAuth 1.0a, OAuth 2.0 and OpenID Connect.
//!
//! ```no_run
//! # async fn demo(session: &dyn keyward_client::session::Session, callback: keyward_client::registry::Callback)
//! #   -> Result<(), keyward_client::registry::Error> {
//! use keyward_client::registry::{AppConfig, OAuth};
//!
//! let oauth = OAuth::builder().env().build();
//! let config = AppConfig {
//!     client_id: Some("…".into()),
//!     client_secret: Some(keyward::common::secret::SecretString::new("…")),
//!     ..AppConfig::default()
//! };
//! oauth.register("github", config)?; // the `github` preset supplies the endpoints
//! let github = oauth.client("github")?;
//! // the login route
//! let redirect = github.authorize_redirect(session, "https://app.example/auth/github").await?;
//! // … the user comes back to /auth/github …
//! let token = github.authorize_access_token(session, &callback).await?;
//! let me = github.get("user").token(token).send().await?;
//! # let _ = (redirect, me); Ok(()) }
//! ```

use super::config::{AppConfig, ConfigSources, Overwrite, Protocol};
use super::error::Error;
use super::fixes::{ComplianceFixes, FixHooks};
use super::state::{DEFAULT_STATE_TTL, SessionStateStore, StateStore};
use super::token::{AppToken, FetchToken, OAuth1Token, TokenUpdate, UpdateToken};
use crate::flow::{Callback, FlowData};
use crate::http::ReqwestClient;
use crate::oauth1::OAuth1Client;
use crate::oauth2::{ClientAuthentication, OAuth2Client, OldToken};
use crate::session::Session;
use keyward::common::clock::{Clock, SystemClock};
use keyward::common::http_client::{BoxFuture, HttpClient, HttpError};
use keyward::common::random::{OsRandom, RandomSource};
use keyward::oauth1::rfc5849::{SignatureMethod, SignatureMethods};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

/// How many token updates the event channel buffers for slow subscribers.
const EVENT_CAPACITY: usize = 64;

/// Hooks for one app, overriding the registry's.
#[derive(Clone, Default)]
pub struct AppHooks {
    /// Finds the token an API call uses for a user.
    pub fetch_token: Option<Arc<dyn FetchToken>>,
    /// Persists a renewed token.
    pub update_token: Option<Arc<dyn UpdateToken>>,
}

impl std::fmt::Debug for AppHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppHooks")
            .field("fetch_token", &self.fetch_token.is_some())
            .field("update_token", &self.update_token.is_some())
            .finish()
    }
}

/// Builds an [`OAuth`] registry.
pub struct OAuthBuilder {
    sources: ConfigSources,
    http: Option<Arc<dyn HttpClient>>,
    state_store: Arc<dyn StateStore>,
    state_ttl: i64,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    hooks: AppHooks,
    fixes: ComplianceFixes,
    auth_methods: Vec<(String, Arc<dyn ClientAuthentication>)>,
    signature_methods: SignatureMethods,
    pub(crate) fleet: Option<super::fleet::FleetRefresh>,
}

impl OAuthBuilder {
    /// Loads `[clients.NAME]` tables from TOML text; they apply to apps registered later.
    pub fn toml(mut self, text: &str) -> Result<Self, Error> {
        self.sources = self.sources.with_toml(text)?;
        Ok(self)
    }

    /// Reads `{NAME}_CLIENT_ID`, `{NAME}_CLIENT_SECRET`, … from the environment at
    /// registration; they win over TOML values.
    pub fn env(mut self) -> Self {
        self.sources = self.sources.with_env();
        self
    }

    /// Uses these configuration sources.
    pub fn sources(mut self, sources: ConfigSources) -> Self {
        self.sources = sources;
        self
    }

    /// The transport (default: [`ReqwestClient`], redirects off, timeouts on).
    ///
    /// An app whose config sets `client_kwargs.timeout` gets its own transport: with the
    /// default, a [`ReqwestClient`] with that timeout; with one given here, this one with
    /// each call cut off after that timeout (it can only shorten the transport's own).
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// Where flow state lives between redirect and callback (default: the session).
    pub fn state_store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.state_store = store;
        self
    }

    /// How long a login may take, in seconds (default 600).
    pub fn state_ttl(mut self, seconds: i64) -> Self {
        self.state_ttl = seconds;
        self
    }

    /// The clock (tests inject a fixed one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The random source (tests inject a deterministic one).
    pub fn random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// The `fetch_token` hook of every app that has none of its own.
    pub fn fetch_token(mut self, hook: impl FetchToken + 'static) -> Self {
        self.hooks.fetch_token = Some(Arc::new(hook));
        self
    }

    /// The `update_token` hook of every app that has none of its own.
    pub fn update_token(mut self, hook: impl UpdateToken + 'static) -> Self {
        self.hooks.update_token = Some(Arc::new(hook));
        self
    }

    /// Registers a named compliance fix, usable as `compliance_fix = "name"` in config.
    pub fn compliance_fix(mut self, name: &str, fix: FixHooks) -> Self {
        self.fixes.insert(name, fix);
        self
    }

    /// Registers a custom client authentication method (Authlib's `client_auth_methods`),
    /// used by every OAuth 2 app whose `token_endpoint_auth_method` is `name`.
    pub fn client_auth_method(mut self, name: &str, method: impl ClientAuthentication + 'static) -> Self {
        self.auth_methods.push((name.to_owned(), Arc::new(method)));
        self
    }

    /// Registers a custom OAuth 1 signature method (RFC 5849 §3.4; Authlib's
    /// `register_signature_method`), used by every OAuth 1 app whose
    /// `client_kwargs.signature_method` is its name. It replaces a built-in of the same name;
    /// its [`KeyKind`](keyward::oauth1::rfc5849::KeyKind) says which key the app must set.
    pub fn signature_method(mut self, method: impl SignatureMethod) -> Self {
        self.signature_methods = self.signature_methods.register(method);
        self
    }

    /// The registry.
    pub fn build(self) -> OAuth {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        OAuth {
            inner: Arc::new(Registry {
                apps: RwLock::new(HashMap::new()),
                sources: self.sources,
                custom_http: self.http.is_some(),
                http: self.http.unwrap_or_else(|| Arc::new(ReqwestClient::new())),
                state_store: self.state_store,
                state_ttl: self.state_ttl,
                clock: self.clock,
                random: self.random,
                hooks: self.hooks,
                fixes: self.fixes,
                auth_methods: self.auth_methods,
                signature_methods: self.signature_methods,
                events,
                fleet: self.fleet,
            }),
        }
    }
}

struct Registry {
    apps: RwLock<HashMap<String, RemoteApp>>,
    sources: ConfigSources,
    /// The transport of apps without a timeout of their own.
    http: Arc<dyn HttpClient>,
    /// Whether `http` was given to the builder rather than the default [`ReqwestClient`].
    custom_http: bool,
    state_store: Arc<dyn StateStore>,
    state_ttl: i64,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    hooks: AppHooks,
    fixes: ComplianceFixes,
    auth_methods: Vec<(String, Arc<dyn ClientAuthentication>)>,
    signature_methods: SignatureMethods,
    events: broadcast::Sender<TokenUpdate>,
    fleet: Option<super::fleet::FleetRefresh>,
}

/// The registry of named remote apps (Authlib's `OAuth`). Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct OAuth {
    inner: Arc<Registry>,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let apps = self.inner.apps.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        f.debug_struct("OAuth").field("apps", &apps.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl Default for OAuth {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl OAuth {
    /// A builder with the defaults: no loaded config, reqwest transport, state in the
    /// session for 10 minutes, system clock and OS randomness, no hooks.
    pub fn builder() -> OAuthBuilder {
        OAuthBuilder {
            sources: ConfigSources::none(),
            http: None,
            state_store: Arc::new(SessionStateStore),
            state_ttl: DEFAULT_STATE_TTL,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            hooks: AppHooks::default(),
            fixes: ComplianceFixes::with_builtins(),
            auth_methods: Vec::new(),
            signature_methods: SignatureMethods::default(),
            fleet: None,
        }
    }

    /// Registers `name` with `config` layered over the loaded TOML/environment values and
    /// the preset of the same name (code wins). The config is checked now: a key its flow
    /// needs is named in the error.
    pub fn register(&self, name: &str, config: AppConfig) -> Result<RemoteApp, Error> {
        self.register_with(name, config, Overwrite::Code, AppHooks::default())
    }

    /// Registers `name` with control over layering and with the app's own hooks.
    pub fn register_with(
        &self,
        name: &str,
        config: AppConfig,
        overwrite: Overwrite,
        hooks: AppHooks,
    ) -> Result<RemoteApp, Error> {
        let reg = &self.inner;
        let (config, protocol) = reg.sources.resolve(name, config, overwrite)?;
        let hooks = AppHooks {
            fetch_token: hooks.fetch_token.or_else(|| reg.hooks.fetch_token.clone()),
            update_token: hooks.update_token.or_else(|| reg.hooks.update_token.clone()),
        };
        let http = self.transport(&config)?;
        let driver = match protocol {
            Protocol::OAuth1 => Driver::OAuth1(Box::new(self.oauth1_client(name, &config, &http)?)),
            Protocol::OAuth2 => Driver::OAuth2(Arc::new(self.oauth2_client(name, &config, &http, &hooks)?)),
        };
        let app = RemoteApp {
            inner: Arc::new(AppInner {
                name: name.to_owned(),
                config,
                http,
                driver,
                hooks,
                registry: self.inner.clone(),
            }),
        };
        reg.apps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), app.clone());
        Ok(app)
    }

    /// The app registered as `name`.
    pub fn client(&self, name: &str) -> Result<RemoteApp, Error> {
        let apps = self.inner.apps.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        apps.get(name).cloned().ok_or_else(|| Error::UnknownApp(name.to_owned()))
    }

    /// The registered apps, sorted by name (one look at the registry: a listing page needs
    /// no [`client`](Self::client) call per name).
    pub fn apps(&self) -> Vec<RemoteApp> {
        let apps = self.inner.apps.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut apps: Vec<RemoteApp> = apps.values().cloned().collect();
        apps.sort_by(|a, b| a.name().cmp(b.name()));
        apps
    }

    /// The names of the registered apps, sorted.
    pub fn names(&self) -> Vec<String> {
        let apps = self.inner.apps.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut names: Vec<String> = apps.keys().cloned().collect();
        names.sort();
        names
    }

    /// The names of apps configured in the loaded TOML (to register them all at start-up).
    pub fn configured_names(&self) -> Vec<String> {
        self.inner.sources.file_apps().map(str::to_owned).collect()
    }

    /// Subscribes to renewed tokens (Authlib's `token_update` signal). The event is sent
    /// after the `update_token` hook succeeded.
    pub fn subscribe(&self) -> broadcast::Receiver<TokenUpdate> {
        self.inner.events.subscribe()
    }

    /// The transport of an app: the registry's, unless the app's config sets
    /// `client_kwargs.timeout` (see [`OAuthBuilder::http_client`]).
    fn transport(&self, cfg: &AppConfig) -> Result<Arc<dyn HttpClient>, Error> {
        let reg = &self.inner;
        Ok(match cfg.client_kwargs.timeout {
            None => reg.http.clone(),
            Some(timeout) if reg.custom_http => Arc::new(TimeoutClient { inner: reg.http.clone(), timeout }),
            Some(timeout) => Arc::new(ReqwestClient::try_with_timeout(timeout)?),
        })
    }

    fn oauth1_client(
        &self,
        name: &str,
        cfg: &AppConfig,
        http: &Arc<dyn HttpClient>,
    ) -> Result<OAuth1Client, Error> {
        let client = cfg.oauth1_client(name, &self.inner.signature_methods, http.clone())?;
        Ok(client.with_clock(self.inner.clock.clone()).with_random(self.inner.random.clone()))
    }

    fn oauth2_client(
        &self,
        name: &str,
        cfg: &AppConfig,
        http: &Arc<dyn HttpClient>,
        hooks: &AppHooks,
    ) -> Result<OAuth2Client, Error> {
        let config = cfg.oauth2_config(name)?;
        let mut client = OAuth2Client::new(config, http.clone())?
            .with_clock(self.inner.clock.clone())
            .with_random(self.inner.random.clone())
            .with_update_token(Arc::new(UpdateBridge {
                app: name.to_owned(),
                hook: hooks.update_token.clone(),
                events: self.inner.events.clone(),
            }));
        for (method_name, method) in &self.inner.auth_methods {
            client = client.with_auth_method(method_name.clone(), method.clone());
        }
        if let Some(fix) = &cfg.compliance_fix {
            let hooks = self.inner.fixes.get(fix).ok_or_else(|| super::ConfigError::Invalid {
                app: name.to_owned(),
                key: "compliance_fix".to_owned(),
                reason: format!("no compliance fix is registered as `{fix}`"),
            })?;
            for hook in hooks {
                client = client.with_hook(hook);
            }
        }
        Ok(client)
    }
}

/// A transport given to the builder, with each call cut off after an app's
/// `client_kwargs.timeout` ([`HttpError::Timeout`]).
struct TimeoutClient {
    inner: Arc<dyn HttpClient>,
    timeout: Duration,
}

impl HttpClient for TimeoutClient {
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
        Box::pin(async move {
            tokio::time::timeout(self.timeout, self.inner.call(request))
                .await
                .unwrap_or(Err(HttpError::Timeout))
        })
    }
}

/// Runs the application's `update_token` hook, then sends the event.
struct UpdateBridge {
    app: String,
    hook: Option<Arc<dyn UpdateToken>>,
    events: broadcast::Sender<TokenUpdate>,
}

impl crate::oauth2::UpdateToken for UpdateBridge {
    fn update_token(
        &self,
        new: crate::oauth2::Token,
        old: OldToken,
    ) -> BoxFuture<'_, Result<(), Box<dyn std::error::Error + Send + Sync>>> {
        Box::pin(async move {
            let update = TokenUpdate { app: self.app.clone(), token: new, old };
            if let Some(hook) = &self.hook {
                hook.update_token(&update).await?;
            }
            // No subscriber is not an error.
            let _ = self.events.send(update);
            Ok(())
        })
    }
}

pub(crate) enum Driver {
    OAuth1(Box<OAuth1Client>),
    OAuth2(Arc<OAuth2Client>),
}

pub(crate) struct AppInner {
    pub(crate) name: String,
    config: AppConfig,
    /// The transport of every call the app makes (the registry's, or its own when its
    /// config sets a timeout).
    http: Arc<dyn HttpClient>,
    pub(crate) driver: Driver,
    pub(crate) hooks: AppHooks,
    registry: Arc<Registry>,
}

/// A registered remote app: cheap to clone, `Send + Sync`, the same API whatever the
/// protocol.
#[derive(Clone)]
pub struct RemoteApp {
    pub(crate) inner: Arc<AppInner>,
}

impl std::fmt::Debug for RemoteApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteApp")
            .field("name", &self.inner.name)
            .field("protocol", &self.protocol())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Where to send the user's browser to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The provider's authorization URL, with the flow's parameters.
    pub url: String,
}

impl RemoteApp {
    /// The name the app is registered under.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The protocol it speaks.
    pub fn protocol(&self) -> Protocol {
        match self.inner.driver {
            Driver::OAuth1(_) => Protocol::OAuth1,
            Driver::OAuth2(_) => Protocol::OAuth2,
        }
    }

    /// Its resolved configuration.
    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }

    /// The OAuth 2.0 / OpenID Connect driver, for what the common API does not cover
    /// (device flow, revocation, introspection, client credentials).
    pub fn oauth2(&self) -> Option<&Arc<OAuth2Client>> {
        match &self.inner.driver {
            Driver::OAuth2(c) => Some(c),
            Driver::OAuth1(_) => None,
        }
    }

    /// The OAuth 1.0a driver.
    pub fn oauth1(&self) -> Option<&OAuth1Client> {
        match &self.inner.driver {
            Driver::OAuth1(c) => Some(c),
            Driver::OAuth2(_) => None,
        }
    }

    pub(crate) fn http(&self) -> &Arc<dyn HttpClient> {
        &self.inner.http
    }

    fn now(&self) -> i64 {
        self.inner.registry.clock.now()
    }

    /// The registry's fleet-wide refresh, if set.
    pub(crate) fn fleet(&self) -> Option<&super::fleet::FleetRefresh> {
        self.inner.registry.fleet.as_ref()
    }

    /// 128 random bits as hex, from the registry's random source.
    pub(crate) fn random_token(&self) -> String {
        let mut bytes = [0u8; 16];
        self.inner.registry.random.fill(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Starts a login: for OAuth 2 a fresh `state`, the PKCE verifier and the OpenID nonce;
    /// for OAuth 1 a temporary credential fetched with `redirect_uri` as callback. What the
    /// callback needs is saved in `session` under this app and this state.
    pub async fn authorize_redirect(
        &self,
        session: &dyn Session,
        redirect_uri: &str,
    ) -> Result<Redirect, Error> {
        self.authorize_redirect_with(session, redirect_uri, &[]).await
    }

    /// [`RemoteApp::authorize_redirect`] with extra authorization parameters (`prompt`,
    /// `login_hint`, …; the registered `authorize_params` override them).
    pub async fn authorize_redirect_with(
        &self,
        session: &dyn Session,
        redirect_uri: &str,
        params: &[(&str, &str)],
    ) -> Result<Redirect, Error> {
        let (state, data, url) = match &self.inner.driver {
            Driver::OAuth2(client) => {
                let req = match client.authorization_url(Some(redirect_uri), params).await {
                    Ok(req) => req,
                    Err(crate::oauth2::ClientError::PushedAuthorization(e)) => {
                        return Err(Error::PushedAuthorization(e));
                    }
                    Err(e) => return Err(e.into()),
                };
                (req.state, req.flow, req.url)
            }
            Driver::OAuth1(client) => {
                let temporary = client.fetch_temporary_credentials(Some(redirect_uri)).await?;
                let creds = temporary.credentials;
                let url = client.authorization_url(&creds, params);
                let data = FlowData {
                    redirect_uri: Some(redirect_uri.to_owned()),
                    request_token: Some(creds.token.clone()),
                    request_token_secret: Some(creds.token_secret.clone()),
                    ..FlowData::default()
                };
                (creds.token, data, url)
            }
        };
        let reg = &self.inner.registry;
        reg.state_store.save(session, &self.inner.name, &state, data, self.now(), reg.state_ttl).await?;
        Ok(Redirect { url })
    }

    /// Finishes a login from the callback request: matches its state to the flow saved by
    /// [`RemoteApp::authorize_redirect`] (once), then exchanges the code (OAuth 2, with the
    /// PKCE verifier; with OpenID Connect the ID token is validated against the saved nonce
    /// and its claims put in `userinfo`) or the verifier (OAuth 1).
    pub async fn authorize_access_token(
        &self,
        session: &dyn Session,
        callback: &Callback,
    ) -> Result<AppToken, Error> {
        let reg = &self.inner.registry;
        let key = match self.inner.driver {
            Driver::OAuth2(_) => callback.state(),
            Driver::OAuth1(_) => callback.get("oauth_token"),
        };
        let state = key.ok_or(super::state::StateError::MissingParameter)?;
        let data = reg.state_store.take(session, &self.inner.name, state, self.now(), reg.state_ttl).await?;
        match &self.inner.driver {
            // The driver checks the callback's `code`; the registry names it like the other
            // missing callback parameters.
            Driver::OAuth2(client) => match client.exchange_callback(callback, &data).await {
                Ok(token) => {
                    let token = AppToken::OAuth2(token);
                    super::logout::remember_login(session, &self.inner.name, &token).await?;
                    Ok(token)
                }
                Err(crate::oauth2::ClientError::MissingCode) => Err(Error::MissingCallbackParameter("code")),
                Err(e) => Err(e.into()),
            },
            Driver::OAuth1(client) => {
                let verifier = callback
                    .get("oauth_verifier")
                    .ok_or(Error::MissingCallbackParameter("oauth_verifier"))?;
                let (Some(token), Some(secret)) = (data.request_token, data.request_token_secret) else {
                    return Err(super::state::StateError::Unknown { app: self.inner.name.clone() }.into());
                };
                let temporary = keyward::oauth1::rfc5849::TokenCredentials::new(token, secret.secret());
                let response = client.fetch_token_credentials(&temporary, verifier).await?;
                Ok(AppToken::OAuth1(OAuth1Token {
                    oauth_token: response.credentials.token,
                    oauth_token_secret: response.credentials.token_secret,
                    params: response.params,
                }))
            }
        }
    }

    /// Validates the ID token of `token` (OpenID Connect Core §3.1.3.7) and returns its
    /// claims; `nonce` is the one sent with the authorization request, if any.
    pub async fn parse_id_token(
        &self,
        token: &AppToken,
        nonce: Option<&str>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
        let (Driver::OAuth2(client), AppToken::OAuth2(t)) = (&self.inner.driver, token) else {
            return Err(self.wrong_token());
        };
        let id_token = t
            .id_token
            .as_deref()
            .ok_or(crate::oauth2::ClientError::Oidc(keyward::oidc::OidcError::MissingIdToken))?;
        let claims = client.validate_id_token(id_token, nonce, Some(t.access_token.secret()), None).await?;
        Ok(claims.raw)
    }

    pub(crate) fn wrong_token(&self) -> Error {
        let expected = match self.protocol() {
            Protocol::OAuth1 => "OAuth 1.0a",
            Protocol::OAuth2 => "OAuth 2.0",
        };
        Error::WrongToken { app: self.inner.name.clone(), expected }
    }
}

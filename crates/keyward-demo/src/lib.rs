//! # keyward-demo
//!
//! The program `cargo run -p keyward-demo` starts: one site showing both halves of Keyward.
//!
//! - **A provider**: an OAuth 1.0a authorization server (`POST /oauth/initiate`,
//!   `GET/POST /oauth/authorize`, `POST /oauth/token`) and a protected API (`GET /api/me`, or
//!   `POST` with a form body; JSON answers and errors), with its own users (sign-in and
//!   sign-up pages, Argon2 password hashes), the signature methods of
//!   [`Config::oauth1_signature_methods`], and a developer page (`/developer`) that registers
//!   OAuth 1 clients.
//! - **An OAuth 2.1 authorization server** on the same users and sign-in, its issuer the
//!   public URL: `/oauth2/authorize` (sign-in, then a consent page listing the scopes, skipped
//!   when the user's stored consent covers the request), `/oauth2/token`, `/oauth2/par`
//!   (pushed authorization requests, accepted, not required; DPoP-bound tokens for clients
//!   that send proofs, required of those registered so), `/oauth2/revoke`,
//!   `/oauth2/introspect` and the RFC 8414 metadata, through `keyward-axum`'s glue; the
//!   device grant (RFC 8628) at `/oauth2/device_authorization`, with its verification page
//!   `/device` (sign-in, the user code, a consent page);
//!   `/developer` registers OAuth 2 clients, `/connected` lists and revokes their grants,
//!   `/api/me` takes their bearer tokens. Its records are kept in memory for now.
//! - **A client website**: "Sign in with …" for every registered remote app (the demo's own
//!   provider over OAuth 1.0a and over OAuth 2, always; any other from `keyward.toml` or `{NAME}_…`
//!   environment variables, presets applying), `/login/{name}`, `/auth/{name}`, and a
//!   profile page with the token (secrets masked) and the user's profile from the app's
//!   `userinfo_endpoint`.
//!
//! Stores: a SQLite file by default (`postgres://…` too) and memory or Redis for nonces,
//! temporary credentials and browser sessions, so several instances over one PostgreSQL and
//! one Redis act as one site. The logic lives here so tests drive it in-process: [`build_app`] makes the
//! router, [`serve`] runs it.

mod client;
pub mod config;
mod device;
mod guard;
mod health;
mod html;
mod oauth2;
mod oidc;
mod provider;
mod sessions;
mod store;

pub use config::{Config, ConfigError, Limits, SeedClient, SeedOAuth2Client, SeedUser};

use axum::Router;
use axum::extract::{FromRef, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{any, get, post};
use keyward::common::clock::{Clock, SystemClock};
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::{SecretString, ct_eq};
use keyward::oauth1::rfc5849::SignatureMethods;
use keyward::oauth1::rfc5849::provider::{
    AuthorizationServer, OAuth1Provider, ProviderConfig, RequestOptions,
};
use keyward::oauth1::rfc5849::signature::rsa_public_key_from_pem;
use keyward::oauth2::provider::store::OAuth2Store;
use keyward::oauth2::provider::{
    AuthorizationServer as AuthorizationServer2, DeviceConfig, DpopConfig, OAuth2Provider, ParConfig,
    RegisteredClient, ServerConfig,
};
use keyward::oidc::provider::{OpenIdConfig, OpenIdProvider};
use keyward_axum::{oauth2_provider, oidc_provider};
use keyward_client::registry::{AppConfig, ClientKwargs, ConfigSources, OAuth};
use keyward_stores::store::{Client, StoreError};
use sessions::{MemorySessions, RedisSessions, Sessions};
use std::sync::Arc;
use std::time::Duration;
use store::Stores;

/// The name the demo's own provider is registered under in the client website's registry.
pub const OWN_APP: &str = "keyward";

/// The client identifier of the demo's own client website at its provider.
pub const OWN_CLIENT_ID: &str = "keyward-demo-site";

/// The name the demo's own OAuth 2.1 authorization server is registered under in the client
/// website's registry.
pub const OWN_OAUTH2_APP: &str = "keyward-oauth2";

/// The client identifier of the demo's own client website at its OAuth 2.1 server.
pub const OWN_OAUTH2_CLIENT_ID: &str = "keyward-demo-site-oauth2";

/// The name the demo's own OpenID Provider is registered under in the client website's
/// registry (found through its discovery document).
pub const OWN_OIDC_APP: &str = "keyward-oidc";

/// The client identifier of the demo's own client website at its OpenID Provider.
pub const OWN_OIDC_CLIENT_ID: &str = "keyward-demo-site-oidc";

/// The registry name of Notes, the site's second relying party of its OpenID Provider
/// (`/notes`), whose sessions a back-channel logout ends.
pub const NOTES_APP: &str = "keyward-notes";

/// The client identifier of Notes at the demo's OpenID Provider.
pub const NOTES_CLIENT_ID: &str = "keyward-demo-notes";

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A store could not be opened or written.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A remote app's configuration is unusable.
    #[error("remote app: {0}")]
    Registry(#[from] keyward_client::registry::Error),
    /// Listening or serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    /// The OpenID Provider's signing keys could not be loaded or made.
    #[error("signing keys: {0}")]
    Keys(#[from] keyward::jose::rotation::KeyManagerError),
}

/// The state every handler shares. Cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) provider: OAuth1Provider,
    /// The OAuth 2.1 authorization server, its bearer protector and request options.
    pub(crate) oauth2: OAuth2Provider,
    pub(crate) oauth: OAuth,
    pub(crate) stores: Arc<Stores>,
    pub(crate) base_url: Arc<str>,
    /// Bounds the password hashes computed at once.
    pub(crate) hashers: Arc<guard::HashGate>,
    /// Backoff after wrong passwords.
    pub(crate) throttle: Arc<guard::Throttle>,
    pub(crate) limits: Arc<Limits>,
    /// The OAuth 1 signature methods the provider accepts.
    pub(crate) signature_methods: Arc<[String]>,
    /// The OpenID Provider's ID-token key rotation timer, stopped once the state is gone.
    pub(crate) _keys: Arc<oidc::KeyRotation>,
    /// Sends the OpenID Provider's back-channel logout tokens, away from the user's request.
    pub(crate) notifier: keyward_client::oauth2::BackchannelNotifier,
}

impl FromRef<AppState> for OAuth1Provider {
    fn from_ref(state: &AppState) -> Self {
        state.provider.clone()
    }
}

impl FromRef<AppState> for OAuth2Provider {
    fn from_ref(state: &AppState) -> Self {
        state.oauth2.clone()
    }
}

pub(crate) fn now() -> i64 {
    SystemClock.now()
}

/// How long a login may take, from the redirect to the callback: the client's flow state
/// and the provider's temporary credentials live this long (10 minutes).
pub(crate) const LOGIN_TTL: i64 = 600;

/// Builds the site: opens the stores, seeds users and clients, registers the remote apps.
pub async fn build_app(config: Config) -> Result<Router, DemoError> {
    build(config).await.map(|(router, _)| router)
}

/// [`build_app`], also handing back the session store (for tests that count sessions).
pub(crate) async fn build(config: Config) -> Result<(Router, Sessions), DemoError> {
    let base_url = config.base_url();
    let https = base_url.starts_with("https://");
    let stores = Arc::new(
        Stores::open(&config.database_url, config.redis_url.as_deref(), config.limits.password_hashers)
            .await?,
    );
    tracing::info!(
        database = if config.database_url.starts_with("postgres") { "postgres" } else { "sqlite" },
        short_lived = if config.redis_url.is_some() { "redis" } else { "memory" },
        "stores open"
    );
    for user in &config.users {
        stores.put_user(&user.username, &user.password, now(), true).await?;
        tracing::info!(user = %user.username, "provider user seeded");
    }
    for seed in &config.oauth1_clients {
        let client = seed_client(seed)?;
        stores.admin.put_client(&client).await?;
        tracing::info!(client_id = %client.client_id, "OAuth 1 client seeded");
    }
    // The site's own client at its own provider: created once, then shared by every
    // instance over the same database.
    let mut own = Client::new(OWN_CLIENT_ID, SecretString::new(OsRandom.alphanumeric(40)));
    own.name = Some("Keyward demo site".into());
    let own = stores.ensure_client(&own).await?;

    let signature_methods =
        config::signature_methods(&config.oauth1_signature_methods, "oauth1_signature_methods")?;
    let methods: Vec<&str> = signature_methods.iter().map(String::as_str).collect();
    tracing::info!(methods = %signature_methods.join(","), "OAuth 1 signature methods");
    // A temporary credential lives as long as a login may take, not the library's 24 hours.
    let server = AuthorizationServer::builder(stores.provider.clone())
        .config(
            ProviderConfig::default()
                .with_temporary_credential_ttl(LOGIN_TTL)
                .with_max_pending_temporary_credentials(Some(config.limits.max_pending_logins)),
        )
        .signature_methods(SignatureMethods::default().allow_only(&methods))
        .build();
    let provider = OAuth1Provider::with_options(server, RequestOptions::default().https(https));

    // The OAuth 2.1 server, on the same users and sign-in; its issuer is the public URL.
    // Its clients, tokens and consent grants are in the database; codes and assertion ids
    // in the short-lived store (memory, or Redis), as OAuth 1's temporary credentials are.
    let oauth2_store: Arc<dyn OAuth2Store> = stores.oauth2.clone();
    for seed in &config.oauth2_clients {
        let client = oauth2::seeded_client(seed)?;
        oauth2::put_client(oauth2_store.as_ref(), &client).await?;
        tracing::info!(client_id = %client.client_id, "OAuth 2 client seeded");
    }
    let own_oauth2_secret = oauth2::ensure_own_client(oauth2_store.as_ref(), &base_url).await?;
    // The site's two relying parties of its own OpenID Provider: the client website, which
    // runs RP-initiated logout, and Notes, which the provider tells of logouts (back-channel).
    let oidc_scopes = oauth2::CLIENT_SCOPES;
    let mut own_oidc = RegisteredClient::confidential(OWN_OIDC_CLIENT_ID, "")
        .with_redirect_uris([format!("{base_url}/auth/{OWN_OIDC_APP}")])
        .with_scopes(oidc_scopes);
    own_oidc.post_logout_redirect_uris = vec![format!("{base_url}/signed-out")];
    let own_oidc_secret =
        oauth2::ensure_site_client(oauth2_store.as_ref(), own_oidc, "Keyward demo site (OpenID Connect)")
            .await?;
    let mut notes = RegisteredClient::confidential(NOTES_CLIENT_ID, "")
        .with_redirect_uris([format!("{base_url}/notes/auth")])
        .with_scopes(oidc_scopes);
    notes.backchannel_logout_uri = Some(format!("{base_url}/backchannel-logout/{NOTES_APP}"));
    notes.backchannel_logout_session_required = true;
    let notes_secret = oauth2::ensure_site_client(oauth2_store.as_ref(), notes, "Notes").await?;
    let mut server_config = ServerConfig::new(base_url.clone()).with_scopes_supported(oidc_scopes);
    server_config.authorization_endpoint = format!("{base_url}/oauth2/authorize");
    server_config.token_endpoint = format!("{base_url}/oauth2/token");
    server_config.revocation_endpoint = Some(format!("{base_url}/oauth2/revoke"));
    server_config.introspection_endpoint = Some(format!("{base_url}/oauth2/introspect"));
    server_config.max_body = MAX_BODY;
    // The device grant (RFC 8628): its codes in the short-lived store, its verification
    // page at `/device`.
    let device_config = DeviceConfig::new(&base_url)
        .with_endpoint(format!("{base_url}/oauth2/device_authorization"))
        .with_verification_uri(format!("{base_url}/device"))
        .with_attempt_limit(device::MAX_ATTEMPTS, device::ATTEMPT_WINDOW);
    let mut par_config = ParConfig::new(&base_url);
    par_config.endpoint = format!("{base_url}/oauth2/par");
    // The OpenID Provider: ID tokens signed by a key set kept in the database (shared by the
    // instances over it), the users' claims, UserInfo, the JWK set, RP-initiated and
    // back-channel logout.
    let (keys, key_rotation) = oidc::start_keys(&stores).await?;
    let mut openid =
        OpenIdConfig::new(&base_url).with_claims_supported(oidc::USER_CLAIMS).with_backchannel_logout();
    openid.userinfo_endpoint = format!("{base_url}/oauth2/userinfo");
    openid.jwks_uri = format!("{base_url}/oauth2/jwks");
    openid.end_session_endpoint = Some(format!("{base_url}/oauth2/end_session"));
    let claims = Arc::new(oidc::UserClaims { stores: stores.clone() });
    let oauth2 = OAuth2Provider::with_options(
        AuthorizationServer2::builder(oauth2_store, server_config)
            .device_codes(stores.device.clone(), device_config)
            // PAR (RFC 9126) accepted, not required; DPoP (RFC 9449) accepted, and required
            // only of clients registered with `dpop_bound_access_tokens`.
            .pushed_requests(stores.pushed.clone(), par_config)
            .dpop(DpopConfig::new())
            .openid(OpenIdProvider::new(openid, keys.keys(), claims))
            .build(),
        RequestOptions::default().https(https).body_limit(MAX_BODY),
    );

    let mut sources = ConfigSources::none();
    if let Some(text) = &config.toml {
        sources = sources.with_toml(text).map_err(keyward_client::registry::Error::from)?;
    }
    if config.env {
        sources = sources.with_env();
    }
    let oauth = OAuth::builder().sources(sources).state_ttl(LOGIN_TTL).build();
    oauth.register(
        OWN_APP,
        AppConfig {
            client_id: Some(own.client_id.clone()),
            client_secret: Some(own.client_secret.clone()),
            request_token_url: Some(format!("{base_url}/oauth/initiate")),
            authorize_url: Some(format!("{base_url}/oauth/authorize")),
            access_token_url: Some(format!("{base_url}/oauth/token")),
            api_base_url: Some(format!("{base_url}/api/")),
            userinfo_endpoint: Some(format!("{base_url}/api/me")),
            ..AppConfig::default()
        },
    )?;
    oauth.register(
        OWN_OAUTH2_APP,
        AppConfig {
            client_id: Some(OWN_OAUTH2_CLIENT_ID.to_owned()),
            client_secret: Some(own_oauth2_secret),
            authorize_url: Some(format!("{base_url}/oauth2/authorize")),
            access_token_url: Some(format!("{base_url}/oauth2/token")),
            api_base_url: Some(format!("{base_url}/api/")),
            userinfo_endpoint: Some(format!("{base_url}/api/me")),
            client_kwargs: ClientKwargs {
                scope: Some(oauth2::PROFILE_SCOPE.to_owned()),
                token_endpoint_auth_method: Some("client_secret_basic".to_owned()),
                code_challenge_method: Some("S256".to_owned()),
                ..ClientKwargs::default()
            },
            ..AppConfig::default()
        },
    )?;
    let discovered = |client_id: &str, secret: SecretString| AppConfig {
        client_id: Some(client_id.to_owned()),
        client_secret: Some(secret),
        server_metadata_url: Some(format!("{base_url}/.well-known/openid-configuration")),
        client_kwargs: ClientKwargs {
            scope: Some(oidc_scopes.join(" ")),
            token_endpoint_auth_method: Some("client_secret_basic".to_owned()),
            code_challenge_method: Some("S256".to_owned()),
            ..ClientKwargs::default()
        },
        ..AppConfig::default()
    };
    oauth.register(OWN_OIDC_APP, discovered(OWN_OIDC_CLIENT_ID, own_oidc_secret))?;
    oauth.register(NOTES_APP, discovered(NOTES_CLIENT_ID, notes_secret))?;
    for name in oauth.configured_names() {
        if ![OWN_APP, OWN_OAUTH2_APP, OWN_OIDC_APP, NOTES_APP].contains(&name.as_str()) {
            // Configured in the file on purpose: a mistake there stops the start.
            oauth.register(&name, AppConfig::default())?;
            tracing::info!(app = %name, "remote app registered from the configuration file");
        }
    }
    if config.env {
        for name in env_app_names() {
            if oauth.client(&name).is_ok() {
                continue;
            }
            match oauth.register(&name, AppConfig::default()) {
                Ok(_) => tracing::info!(app = %name, "remote app registered from the environment"),
                Err(error) => tracing::warn!(app = %name, %error, "remote app in the environment skipped"),
            }
        }
    }

    // Notes' back-channel logout endpoint: logout tokens validated against the provider's
    // keys, their `jti` recorded once in the short-lived store.
    let once: Arc<dyn keyward::common::store::OnceStore> = stores.oauth2.clone();
    let receiver = keyward_client::registry::BackchannelReceiver::new(
        oauth.clone(),
        once,
        oidc::EndedSessions { stores: stores.clone() },
    );
    let notifier = keyward_client::oauth2::BackchannelNotifier::start(
        Arc::new(keyward_client::ReqwestClient::new()),
        keyward_client::oauth2::NotifierConfig::default(),
    );
    let limits = config.limits.clone();
    let state = AppState {
        provider,
        oauth2,
        oauth,
        stores,
        base_url: base_url.into(),
        hashers: Arc::new(guard::HashGate::new(limits.password_hashers, limits.password_queue_wait)),
        throttle: Arc::new(guard::Throttle::new(&limits)),
        limits: Arc::new(limits.clone()),
        signature_methods: signature_methods.into(),
        _keys: Arc::new(key_rotation),
        notifier,
    };
    // Sessions live in Redis when there is one (shared by every instance), else in this
    // instance's memory, bounded; a signed-in session ends after 8 idle hours, one that only
    // holds a login in progress after 10 minutes.
    let store = match &config.redis_url {
        Some(url) => Sessions::Redis(
            RedisSessions::connect(url, "keyward-demo:session:").await.map_err(StoreError::unavailable)?,
        ),
        None => Sessions::Memory(MemorySessions::new(limits.max_sessions)),
    };
    let mut sessions = keyward_axum::session_layer(store.clone(), config.secure_cookies || https)
        .with_expiry(tower_sessions::Expiry::OnInactivity(SIGNED_IN));
    if https {
        // Only ever sent to this exact origin over https, never set by a sibling domain.
        sessions = sessions.with_name("__Host-id").with_path("/");
    }
    let request_timeout = limits.request_timeout;
    let router = Router::new()
        .route("/", get(client::home))
        .route("/login/{name}", get(client::login))
        .route("/auth/{name}", get(client::callback).post(client::callback))
        .route("/profile", get(client::profile))
        .route("/profile/refresh", post(client::call_again))
        .route("/logout", post(client::logout))
        .route("/signout/both", post(client::sign_out_of_both))
        .route("/signin", get(provider::signin_page).post(provider::signin))
        .route("/signup", get(provider::signup_page).post(provider::signup))
        .route("/signout", post(provider::signout))
        .route("/oauth/initiate", any(keyward_axum::provider::temporary_credential_endpoint))
        .route("/oauth/authorize", get(provider::authorize_page).post(provider::authorize))
        .route("/oauth/token", any(keyward_axum::provider::token_endpoint))
        .route("/oauth2/authorize", get(oauth2::authorize).post(oauth2::authorize))
        .route("/oauth2/consent", get(oauth2::consent_page).post(oauth2::decide))
        .route("/oauth2/token", any(oauth2_provider::token_endpoint))
        .route("/oauth2/par", any(oauth2_provider::pushed_authorization_endpoint))
        .route("/oauth2/device_authorization", any(oauth2_provider::device_authorization_endpoint))
        .route("/device", get(device::device_page).post(device::enter_code))
        .route("/device/consent", post(device::decide))
        .route("/oauth2/revoke", any(oauth2_provider::revocation_endpoint))
        .route("/oauth2/introspect", any(oauth2_provider::introspection_endpoint))
        .route(oidc_provider::OIDC_WELL_KNOWN, get(oidc_provider::openid_configuration))
        .route("/oauth2/userinfo", any(oidc_provider::userinfo))
        .route("/oauth2/jwks", get(oidc_provider::jwks))
        .route("/oauth2/end_session", get(oidc::end_session).post(oidc::end_session))
        .route("/oauth2/end_session/confirm", post(oidc::confirm_end_session))
        .route("/logout/everywhere", post(client::log_out_everywhere))
        .route("/signed-out", get(client::signed_out))
        .route("/notes", get(oidc::notes_page))
        .route("/notes/login", get(oidc::notes_login))
        .route("/notes/auth", get(oidc::notes_callback_page))
        .route(oauth2_provider::OAUTH_WELL_KNOWN, get(oauth2_provider::metadata_endpoint))
        .route("/api/me", get(provider::me).post(provider::me))
        .route("/developer", get(provider::developer_page).post(provider::register_client))
        .route("/connected", get(provider::connected_page))
        .route("/connected/revoke", post(provider::revoke_grant))
        .route("/connected/revoke-oauth2", post(oauth2::revoke_grant))
        .route("/developer/oauth2", post(oauth2::register_client))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(sessions)
        // Outside the session layer: probes and the provider's back-channel logout requests
        // carry no cookie and touch no session.
        .merge(
            Router::new()
                .route("/backchannel-logout/{name}", post(keyward_axum::logout::backchannel_logout))
                .with_state(receiver),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(request_timeout, time_limit))
        .layer(axum::middleware::from_fn(log_request))
        .layer(axum::middleware::from_fn_with_state(https, security_headers))
        .with_state(state);
    Ok((router, store))
}

/// How long a signed-in session lasts without use.
pub(crate) const SIGNED_IN: tower_sessions::cookie::time::Duration =
    tower_sessions::cookie::time::Duration::hours(8);

/// The largest request body read (a form with an RSA key fits many times over).
const MAX_BODY: usize = 64 * 1024;

/// Answers `408` when a request (its body included) takes longer than `limit`.
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => html::ErrorPage::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "The request took too long",
            "The request was not received or answered in time. Try again.",
        )
        .into_response(),
    }
}

/// Serves `app` on `listener` until the task is dropped or the process is interrupted,
/// with each connection's peer address known (the provider accepts plain http only
/// between loopback addresses), over HTTP/1.1 with the bounds of `limits`: a connection
/// that has not sent a request's headers within `header_read_timeout` is closed, and at
/// most `max_connections` are served at once (the others wait in the listen queue).
pub async fn serve(listener: tokio::net::TcpListener, app: Router, limits: &Limits) -> Result<(), DemoError> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut interrupted => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: wait a little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut interrupted => break,
        };
        let router = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            tower::ServiceExt::oneshot(router.clone(), req)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    // Requests under way are finished, for at most the request timeout.
    let _ = tokio::time::timeout(limits.request_timeout, graceful.shutdown()).await;
    Ok(())
}

/// Apps named by `{NAME}_CLIENT_ID` variables (the demo's own `KEYWARD_*` excepted).
fn env_app_names() -> Vec<String> {
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter_map(|k| k.strip_suffix("_CLIENT_ID").map(str::to_owned))
        .filter(|p| !p.is_empty() && !p.starts_with("KEYWARD"))
        .map(|p| p.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn seed_client(seed: &SeedClient) -> Result<Client, DemoError> {
    let invalid = |key: &str, reason: String| ConfigError::Invalid { key: key.to_owned(), reason };
    if seed.client_id.is_empty() || seed.client_secret.secret().is_empty() {
        return Err(invalid("OAuth 1 client", "client_id and client_secret must not be empty".into()).into());
    }
    let mut client = Client::new(seed.client_id.clone(), seed.client_secret.clone());
    if let Some(uri) = &seed.callback_uri {
        check_callback(uri).map_err(|reason| invalid("callback_uri", reason))?;
        client.default_redirect_uri = Some(uri.clone());
    }
    if let Some(uris) = &seed.redirect_uris {
        // Matched exactly later, so a stray space would make an entry match nothing.
        let uris: Vec<String> = uris.iter().map(|u| u.trim().to_owned()).collect();
        for uri in uris.iter().filter(|u| *u != "oob") {
            check_callback(uri).map_err(|reason| invalid("redirect_uris", reason))?;
        }
        client.redirect_uris = Some(uris);
    }
    if let Some(path) = &seed.rsa_public_key {
        let pem = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        rsa_public_key_from_pem(&pem).map_err(|e| invalid("rsa_public_key", e.to_string()))?;
        client.rsa_public_key = Some(pem);
    }
    client.name = seed.name.clone();
    Ok(client)
}

/// An absolute http(s) URL with a host, as callbacks must be; the refusal says what to fix.
pub(crate) fn check_callback(uri: &str) -> Result<(), String> {
    let shown = clip(uri);
    let example = "like https://app.example/callback";
    match url::Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) if matches!(u.scheme(), "http" | "https") => {
            Err(format!("{shown} has no host name; write the whole address, {example}"))
        }
        Ok(u) => Err(format!(
            "{shown} starts with {}:, but a callback must start with https:// or http://, {example}",
            clip(u.scheme())
        )),
        Err(url::ParseError::RelativeUrlWithoutBase) => Err(format!(
            "{shown} is not a whole address: start it with https:// or http:// and a host name, {example}"
        )),
        Err(e) => Err(format!("{shown} is not a valid address ({e}); write it {example}")),
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        return provider::api_error(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            "There is no API at this address; the API is /api/me.",
        );
    }
    html::ErrorPage::new(axum::http::StatusCode::NOT_FOUND, "Not found", "There is no page at this address.")
        .into_response()
}

/// A styled page for a method a route does not take (`GET /logout`, …); axum adds the
/// `Allow` header.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        return provider::api_error(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "The API takes GET, or POST with a form body.",
        );
    }
    let (title, detail) = if method == axum::http::Method::GET {
        (
            "This address takes a form",
            "This address only answers a form sent from one of the site's pages, not a visited link. \
             Go back to the home page and use its buttons."
                .to_owned(),
        )
    } else {
        ("Method not allowed", format!("This address does not take a {} request.", clip(method.as_str())))
    };
    html::ErrorPage::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, title, detail).into_response()
}

/// Logs each request's method, path (never the query, which may carry tokens) and status.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = clip(req.uri().path()).to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    if status >= 500 {
        tracing::error!(%method, ?path, status, ms, "request");
    } else {
        tracing::info!(%method, ?path, status, ms, "request");
    }
    response
}

/// At most the first 100 characters of `text`, for logs (which show it with `?`, escaped).
pub(crate) fn clip(text: &str) -> &str {
    match text.char_indices().nth(100) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// The content security policy of every page: no scripts, images, frames or fetches; the
/// inline style sheet; forms posted to this site only; never framed.
pub(crate) const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/// Headers on every response: no framing (the consent page must not be clickjacked), no
/// referrer beyond this site (authorization URLs carry tokens), no MIME sniffing, the
/// [`CSP`] (unless the page set its own), and HSTS when the site is served over https.
async fn security_headers(
    axum::extract::State(https): axum::extract::State<bool>,
    req: Request,
    next: Next,
) -> Response {
    use axum::http::{HeaderValue, header};
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if https {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

/// A form body, or a page saying it could not be read (instead of axum's plain-text
/// rejection).
pub(crate) struct HtmlForm<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequest<S> for HtmlForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = html::ErrorPage;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(rejection) => Err(html::ErrorPage::new(
                rejection.status(),
                "This form could not be read",
                format!("{}. Go back, reload the page and try again.", rejection.body_text()),
            )),
        }
    }
}

/// The session key of the CSRF token.
const CSRF_KEY: &str = "demo_csrf";

/// Forgets the session's CSRF token, so that a new one is made on next use: at every
/// change of privilege (sign-in, sign-out).
pub(crate) async fn renew_csrf(session: &tower_sessions::Session) -> Result<(), html::ErrorPage> {
    session
        .remove::<String>(CSRF_KEY)
        .await
        .map(drop)
        .map_err(|e| html::ErrorPage::internal("writing the session", &e))
}

/// The session's CSRF token, made on first use.
pub(crate) async fn csrf_token(session: &tower_sessions::Session) -> Result<String, html::ErrorPage> {
    let existing: Option<String> =
        session.get(CSRF_KEY).await.map_err(|e| html::ErrorPage::internal("reading the session", &e))?;
    if let Some(t) = existing {
        return Ok(t);
    }
    let token = OsRandom.alphanumeric(32);
    session
        .insert(CSRF_KEY, &token)
        .await
        .map_err(|e| html::ErrorPage::internal("writing the session", &e))?;
    Ok(token)
}

/// Checks a form's CSRF field against the session's token.
pub(crate) async fn check_csrf(
    session: &tower_sessions::Session,
    given: &str,
) -> Result<(), html::ErrorPage> {
    let expected: Option<String> =
        session.get(CSRF_KEY).await.map_err(|e| html::ErrorPage::internal("reading the session", &e))?;
    match expected {
        Some(e) if !given.is_empty() && ct_eq(e.as_bytes(), given.as_bytes()) => Ok(()),
        _ => Err(html::ErrorPage::csrf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A demo on a SQLite file in a folder of its own, with `tweak` applied to its limits:
    /// the folder, the base URL, the memory session store and the server's task.
    async fn demo(
        name: &str,
        tweak: impl FnOnce(&mut Limits),
    ) -> (std::path::PathBuf, String, MemorySessions, tokio::task::JoinHandle<()>) {
        let dir = std::env::temp_dir().join(format!("keyward-demo-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = Config::new(
            listener.local_addr().unwrap(),
            format!("sqlite://{}", dir.join("demo.db").display()),
        );
        tweak(&mut config.limits);
        let base = config.base_url();
        let limits = config.limits.clone();
        let (router, sessions) = build(config).await.unwrap();
        let server = tokio::spawn(async move { serve(listener, router, &limits).await.unwrap() });
        let Sessions::Memory(store) = sessions else { panic!("memory sessions") };
        (dir, base, store, server)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn login_starts_from_fresh_visitors_leave_the_session_store_bounded() {
        let (dir, base, store, server) = demo("sessions", |limits| limits.max_sessions = 20).await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        for i in 0..60 {
            // A fresh visitor each time: no cookie sent.
            let start = http.get(format!("{base}/login/keyward")).send().await.unwrap();
            assert_eq!(start.status(), 302, "{i}");
            let cookie = start.headers()["set-cookie"].to_str().unwrap();
            assert!(cookie.contains("Max-Age=600"), "a login start lives 10 minutes: {cookie}");
            assert!(store.len() <= 20, "{} sessions after {i} login starts", store.len());
        }
        assert_eq!(store.len(), 20);
        // A visitor who only looks gets no session.
        let home = http.get(format!("{base}/")).send().await.unwrap();
        assert!(!home.headers().contains_key("set-cookie"));
        assert_eq!(store.len(), 20);
        server.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn login_starts_past_the_pending_cap_keep_nothing() {
        let (dir, base, store, server) = demo("pending", |limits| limits.max_pending_logins = 5).await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        for i in 0..5 {
            let start = http.get(format!("{base}/login/keyward")).send().await.unwrap();
            assert_eq!(start.status(), 302, "{i}");
        }
        for i in 0..5 {
            let refused = http.get(format!("{base}/login/keyward")).send().await.unwrap();
            // The provider's 429 is the provider throttling: 503, try again later.
            assert_eq!(refused.status(), 503, "{i}");
            assert!(!refused.headers().contains_key("set-cookie"), "no session for a refused start");
        }
        assert_eq!(store.len(), 5);
        server.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

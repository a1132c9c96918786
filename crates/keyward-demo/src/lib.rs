//! # keyward-demo
//!
//! The program `cargo run -p keyward-demo` starts: one site showing both halves of Keyward.
//!
//! - **A provider**: an OAuth 1.0a authorization server (`POST /oauth/initiate`,
//!   `GET/POST /oauth/authorize`, `POST /oauth/token`) and a protected API (`GET /api/me`),
//!   with its own users (sign-in form, Argon2 password hashes) and a developer page
//!   (`/developer`) that registers OAuth 1 clients.
//! - **A client website**: "Sign in with …" for every registered remote app (the demo's own
//!   provider over OAuth 1.0a, always; any other from `keyward.toml` or `{NAME}_…`
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
mod html;
mod provider;
mod sessions;
mod store;

pub use config::{Config, ConfigError, SeedClient, SeedUser};

use axum::Router;
use axum::extract::{FromRef, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{any, get, post};
use keyward::common::clock::{Clock, SystemClock};
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::{SecretString, ct_eq};
use keyward::oauth1::rfc5849::SignatureMethods;
use keyward::oauth1::rfc5849::provider::{AuthorizationServer, OAuth1Provider, RequestOptions};
use keyward::oauth1::rfc5849::signature::rsa_public_key_from_pem;
use keyward_client::registry::{AppConfig, ConfigSources, OAuth};
use keyward_stores::store::{Client, StoreError};
use sessions::{RedisSessions, Sessions};
use std::net::SocketAddr;
use std::sync::Arc;
use store::Stores;

/// The name the demo's own provider is registered under in the client website's registry.
pub const OWN_APP: &str = "keyward";

/// The client identifier of the demo's own client website at its provider.
pub const OWN_CLIENT_ID: &str = "keyward-demo-site";

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
}

/// The state every handler shares. Cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) provider: OAuth1Provider,
    pub(crate) oauth: OAuth,
    pub(crate) stores: Arc<Stores>,
    pub(crate) base_url: Arc<str>,
}

impl FromRef<AppState> for OAuth1Provider {
    fn from_ref(state: &AppState) -> Self {
        state.provider.clone()
    }
}

pub(crate) fn now() -> i64 {
    SystemClock.now()
}

/// Builds the site: opens the stores, seeds users and clients, registers the remote apps.
pub async fn build_app(config: Config) -> Result<Router, DemoError> {
    let base_url = config.base_url();
    let stores = Arc::new(Stores::open(&config.database_url, config.redis_url.as_deref()).await?);
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

    let server = AuthorizationServer::builder(stores.provider.clone())
        .signature_methods(SignatureMethods::default().allow_only(&[
            "HMAC-SHA1",
            "HMAC-SHA256",
            "RSA-SHA1",
            "RSA-SHA256",
        ]))
        .build();
    let https = base_url.starts_with("https://");
    let provider = OAuth1Provider::with_options(server, RequestOptions::default().https(https));

    let mut sources = ConfigSources::none();
    if let Some(text) = &config.toml {
        sources = sources.with_toml(text).map_err(keyward_client::registry::Error::from)?;
    }
    if config.env {
        sources = sources.with_env();
    }
    let oauth = OAuth::builder().sources(sources).build();
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
    for name in oauth.configured_names() {
        if name != OWN_APP {
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

    let state = AppState { provider, oauth, stores, base_url: base_url.into() };
    // Sessions live in Redis when there is one (shared by every instance), else in this
    // instance's memory; they end after 8 idle hours.
    let store = match &config.redis_url {
        Some(url) => Sessions::Redis(
            RedisSessions::connect(url, "keyward-demo:session:").await.map_err(StoreError::unavailable)?,
        ),
        None => Sessions::Memory(tower_sessions::MemoryStore::default()),
    };
    let sessions = keyward_axum::session_layer(store, config.secure_cookies)
        .with_expiry(tower_sessions::Expiry::OnInactivity(tower_sessions::cookie::time::Duration::hours(8)));
    Ok(Router::new()
        .route("/", get(client::home))
        .route("/login/{name}", get(client::login))
        .route("/auth/{name}", get(client::callback).post(client::callback))
        .route("/profile", get(client::profile))
        .route("/profile/refresh", post(client::call_again))
        .route("/logout", post(client::logout))
        .route("/signin", get(provider::signin_page).post(provider::signin))
        .route("/signup", post(provider::signup))
        .route("/signout", post(provider::signout))
        .route("/oauth/initiate", any(keyward_axum::provider::temporary_credential_endpoint))
        .route("/oauth/authorize", get(provider::authorize_page).post(provider::authorize))
        .route("/oauth/token", any(keyward_axum::provider::token_endpoint))
        .route("/api/me", get(provider::me))
        .route("/developer", get(provider::developer_page).post(provider::register_client))
        .fallback(not_found)
        .layer(sessions)
        .layer(axum::middleware::from_fn(log_request))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state))
}

/// Serves `app` on `listener` until the task is dropped or the process is interrupted,
/// with each connection's peer address known (the provider accepts plain http only
/// between loopback addresses).
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> Result<(), DemoError> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
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

/// An absolute http(s) URL with a host, as callbacks must be.
pub(crate) fn check_callback(uri: &str) -> Result<(), String> {
    match url::Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err("expected an http(s) URL with a host".into()),
        Err(e) => Err(e.to_string()),
    }
}

async fn not_found() -> html::ErrorPage {
    html::ErrorPage::new(axum::http::StatusCode::NOT_FOUND, "Not found", "There is no page at this address.")
}

/// Logs each request's method, path (never the query, which may carry tokens) and status.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    if status >= 500 {
        tracing::error!(%method, %path, status, ms, "request");
    } else {
        tracing::info!(%method, %path, status, ms, "request");
    }
    response
}

/// Headers on every response: no framing (the consent page must not be clickjacked), no
/// referrer beyond this site (authorization URLs carry tokens), no MIME sniffing.
async fn security_headers(req: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, header};
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
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

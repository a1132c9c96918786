//! End to end: an axum app using the registry logs a user in with OpenID Connect + PKCE
//! against npm's `oidc-provider`, reads `userinfo`, calls the API again after the token
//! expired (auto-refresh, `update_token` hook and event), and logs in with OAuth 1.0a
//! against an Authlib provider. The browser is played by plain HTTP with a cookie jar.
//!
//! Needs the peers `.ci/run` installs; skipped visibly without them, failed under CI=true.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use keyward::common::secret::SecretString;
use keyward_axum::client::{ClientRejection, OAuthCallback, RedirectTo};
use keyward_axum::{KeywardSession, session_layer};
use keyward_client::registry::{AppConfig, AppToken, ClientKwargs, OAuth, TokenUpdate};
use keyward_testkit::peers::{AuthlibProvider, Browser, OIDC_REDIRECT, OIDC_SECRET, OidcPeer};
use keyward_testkit::require_or_skip;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
struct App {
    oauth: OAuth,
    /// The app's token store: (app, user) → token.
    tokens: Arc<Mutex<HashMap<String, AppToken>>>,
    base: String,
}

fn callback_uri(app: &App, name: &str) -> String {
    // The OIDC peer only knows its registered redirect URI; the test browser carries the
    // callback from there to this app.
    if name == "op" { OIDC_REDIRECT.to_owned() } else { format!("{}/auth/{name}", app.base) }
}

async fn login(
    State(app): State<App>,
    Path(name): Path<String>,
    session: KeywardSession,
) -> Result<RedirectTo, ClientRejection> {
    let remote = app.oauth.client(&name)?;
    Ok(RedirectTo(remote.authorize_redirect(&session, &callback_uri(&app, &name)).await?))
}

async fn callback(
    State(app): State<App>,
    Path(name): Path<String>,
    session: KeywardSession,
    OAuthCallback(cb): OAuthCallback,
) -> Result<Json<serde_json::Value>, ClientRejection> {
    let remote = app.oauth.client(&name)?;
    let token = remote.authorize_access_token(&session, &cb).await?;
    let profile = remote.userinfo(&token).await?;
    let id_claims = token.userinfo().cloned();
    app.tokens.lock().unwrap().insert(name, token);
    Ok(Json(serde_json::json!({ "profile": profile, "id_token_claims": id_claims })))
}

async fn api(
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ClientRejection> {
    let remote = app.oauth.client(&name)?;
    let token = app.tokens.lock().unwrap().get(&name).cloned();
    let token = token.ok_or(keyward_client::registry::Error::MissingToken { app: name.clone() })?;
    Ok(Json(serde_json::Value::Object(remote.userinfo(&token).await?)))
}

async fn serve(oauth: OAuth) -> (App, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = App { oauth, tokens: Arc::default(), base };
    let router = Router::new()
        .route("/login/{name}", get(login))
        .route("/auth/{name}", get(callback).post(callback))
        .route("/api/{name}", get(api))
        .layer(session_layer(tower_sessions::MemoryStore::default(), false))
        .with_state(app.clone());
    let handle = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (app, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_connect_login_userinfo_and_auto_refresh() {
    let peer = require_or_skip!(OidcPeer::start(), "node and npm oidc-provider", "run .ci/run");
    let updates: Arc<Mutex<Vec<TokenUpdate>>> = Arc::default();
    let u = updates.clone();
    let oauth = OAuth::builder()
        .update_token(move |update: TokenUpdate| {
            let u = u.clone();
            async move {
                u.lock().unwrap().push(update);
                Ok(())
            }
        })
        .build();
    let mut events = oauth.subscribe();
    oauth
        .register(
            "op",
            AppConfig {
                client_id: Some("basic".into()),
                client_secret: Some(SecretString::new(OIDC_SECRET)),
                server_metadata_url: Some(peer.metadata_url()),
                authorize_params: [("prompt".to_owned(), "consent".to_owned())].into(),
                client_kwargs: ClientKwargs {
                    scope: Some("openid email profile offline_access".into()),
                    code_challenge_method: Some("S256".into()),
                    ..ClientKwargs::default()
                },
                ..AppConfig::default()
            },
        )
        .unwrap();
    let (app, _server) = serve(oauth).await;
    let mut browser = Browser::new();

    let start = browser.get(&format!("{}/login/op", app.base)).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let authorize = start.location.unwrap();
    // The peer offers PAR, so the parameters (PKCE challenge included) were pushed and the
    // browser carries only a reference to them.
    assert!(authorize.starts_with(&peer.issuer) && authorize.contains("request_uri="), "{authorize}");
    assert!(!authorize.contains("code_challenge=") && !authorize.contains("state="), "{authorize}");
    let query = browser.login_at_oidc(&authorize, "alice").await;
    let done = browser.get(&format!("{}/auth/op?{query}", app.base)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let v: serde_json::Value = serde_json::from_str(&done.body).unwrap();
    assert_eq!(v["profile"]["sub"], "alice");
    assert_eq!(v["id_token_claims"]["sub"], "alice");
    assert_eq!(v["id_token_claims"]["aud"], "basic");

    // The same callback again: the state was used.
    let replay = browser.get(&format!("{}/auth/op?{query}", app.base)).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("Start again"), "{}", replay.body);

    // Expire the token: the next API call refreshes it first, once, and the hooks hear.
    let old = {
        let mut tokens = app.tokens.lock().unwrap();
        let Some(AppToken::OAuth2(t)) = tokens.get_mut("op") else { panic!("no OAuth 2 token") };
        t.expires_at = Some(0);
        t.access_token.clone()
    };
    let again = browser.get(&format!("{}/api/op", app.base)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let again: serde_json::Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!(again["sub"], "alice");
    let updates = updates.lock().unwrap();
    assert_eq!(updates.len(), 1, "one refresh");
    assert_eq!(updates[0].old.access_token, old);
    assert_ne!(updates[0].token.access_token, old);
    assert_eq!(events.try_recv().unwrap().app, "op");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_session_cookie_is_named_as_the_cause() {
    let peer = require_or_skip!(OidcPeer::start(), "node and npm oidc-provider", "run .ci/run");
    let oauth = OAuth::builder().build();
    let config = AppConfig {
        client_id: Some("public".into()),
        server_metadata_url: Some(peer.metadata_url()),
        client_kwargs: ClientKwargs {
            scope: Some("openid".into()),
            code_challenge_method: Some("S256".into()),
            ..ClientKwargs::default()
        },
        ..AppConfig::default()
    };
    oauth.register("op", config).unwrap();
    let (app, _server) = serve(oauth).await;
    let mut browser = Browser::new();
    let start = browser.get(&format!("{}/login/op", app.base)).await;
    let query = browser.login_at_oidc(&start.location.unwrap(), "bob").await;
    browser.clear_cookies(&app.base);
    let done = browser.get(&format!("{}/auth/op?{query}", app.base)).await;
    assert_eq!(done.status, 400);
    assert!(done.body.contains("Start again"), "{}", done.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth1_login_against_authlib() {
    let python = require_or_skip!(keyward_testkit::python(), "the peers' Python virtualenv", "run .ci/run");
    let provider = AuthlibProvider::start(&python);
    let oauth = OAuth::builder().toml(&provider.clients_toml("authlib")).unwrap().build();
    oauth.register("authlib", AppConfig::default()).unwrap();
    let (app, _server) = serve(oauth).await;
    let mut browser = Browser::new();
    let start = browser.get(&format!("{}/login/authlib", app.base)).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let at_provider = browser.get(&start.location.unwrap()).await;
    assert_eq!(at_provider.status, 302, "{}", at_provider.body);
    let back = at_provider.location.unwrap();
    assert!(back.starts_with(&format!("{}/auth/authlib?", app.base)), "{back}");
    let done = browser.get(&back).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let v: serde_json::Value = serde_json::from_str(&done.body).unwrap();
    assert_eq!(v["profile"]["user"], "alice", "{v}");
    // The API through the registry, signed with the token credentials.
    let again = browser.get(&format!("{}/api/authlib", app.base)).await;
    assert_eq!(again.status, 200, "{}", again.body);
}

//! The client website: "Sign in with …" for every registered remote app, the login
//! redirect and callback, and the profile page.

use crate::html::{ErrorPage, csrf_field, esc, page};
use crate::provider::signed_in;
use crate::{AppState, HtmlForm, OWN_APP, check_csrf, clip, csrf_token};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use keyward::common::ErrorBody;
use keyward_axum::KeywardSession;
use keyward_axum::client::{ClientRejection, OAuthCallback, RedirectTo};
use keyward_client::registry::{AppToken, CallbackError, Error, Protocol, RemoteApp, StateError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tower_sessions::Session;

/// The session key of the signed-in user of the client website.
const LOGIN_KEY: &str = "demo_login";

/// The session key of the logins in progress: app name → when it expires (Unix seconds).
/// An error the provider sends back is shown only for a login in progress.
const PENDING_KEY: &str = "demo_pending";

async fn pending(session: &Session) -> Result<BTreeMap<String, i64>, ErrorPage> {
    session
        .get(PENDING_KEY)
        .await
        .map(Option::unwrap_or_default)
        .map_err(|e| ErrorPage::internal("reading the session", &e))
}

/// Ends the login in progress with `app`; returns whether there was one.
async fn take_pending(session: &Session, app: &str) -> Result<bool, ErrorPage> {
    let mut map = pending(session).await?;
    let Some(expires_at) = map.remove(app) else { return Ok(false) };
    session.insert(PENDING_KEY, &map).await.map_err(|e| ErrorPage::internal("writing the session", &e))?;
    Ok(expires_at > crate::now())
}

/// The page for a callback that belongs to no login in progress in this browser.
fn no_login_in_progress(app: &str) -> ErrorPage {
    ErrorPage::new(
        StatusCode::BAD_REQUEST,
        "No login in progress",
        format!("No login with {app} is in progress in this browser. Start again from the home page."),
    )
}

/// An error the provider reported on its redirect back, for a login in progress: its code
/// and its own words, marked as the provider's.
fn provider_error(app: &str, body: &ErrorBody) -> ErrorPage {
    tracing::info!(
        app = ?clip(app),
        error = ?clip(&body.error),
        description = ?body.error_description.as_deref().map(clip),
        "the provider ended the login with an error"
    );
    let words = body.error_description.as_deref();
    if body.error == "access_denied" {
        return ErrorPage::new(
            StatusCode::FORBIDDEN,
            "Access denied",
            format!("The sign-in with {app} was declined at the provider, so nothing was shared."),
        )
        .with_provider_words(words);
    }
    // A 4xx, not a 5xx: the provider's redirect is not this site's failure, and the session
    // (the login ended) is saved.
    ErrorPage::new(
        StatusCode::BAD_REQUEST,
        "The provider returned an error",
        format!("{app} answered `{}`.", clip(&body.error)),
    )
    .with_provider_words(words)
}

/// What the client website remembers about a login, in its (server-side) session.
#[derive(Serialize, Deserialize)]
struct Login {
    app: String,
    token: AppToken,
    profile: Option<serde_json::Map<String, serde_json::Value>>,
    profile_error: Option<String>,
    fetched_at: i64,
    calls: u32,
}

fn label(app: &RemoteApp) -> String {
    if app.name() == OWN_APP {
        return "the Keyward demo provider (OAuth 1.0a)".to_owned();
    }
    let protocol = match app.protocol() {
        Protocol::OAuth1 => "OAuth 1.0a",
        Protocol::OAuth2 if app.config().server_metadata_url.is_some() => "OpenID Connect",
        Protocol::OAuth2 => "OAuth 2.0",
    };
    format!("{} ({protocol})", app.name())
}

/// A registry failure as a page that says what happened.
fn login_error(app: &str, e: &Error) -> ErrorPage {
    // Both may carry what a visitor typed: escaped (`?`) and clipped.
    tracing::warn!(app = ?clip(app), error = ?clip(&e.to_string()), "login failed");
    let app = clip(app);
    match e {
        // Not reached for a login in progress (the callback handler answers those).
        Error::Callback(CallbackError::Provider(_)) | Error::State(StateError::NoSession { .. }) => {
            no_login_in_progress(app)
        }
        Error::State(StateError::Session(_)) | Error::Session(_) => {
            ErrorPage::internal("reading the session", e)
        }
        Error::State(cause) => ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "The sign-in could not be matched (state mismatch)",
            format!("Cause: {cause}."),
        ),
        Error::UnknownApp(_) => ErrorPage::new(
            StatusCode::NOT_FOUND,
            "Unknown application",
            format!("No remote app is named `{app}`."),
        ),
        Error::Callback(_) | Error::MissingCallbackParameter(_) => {
            ErrorPage::new(StatusCode::BAD_REQUEST, "The callback is not usable", e.to_string())
        }
        Error::Config(_) => ErrorPage::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "This application is misconfigured",
            e.to_string(),
        ),
        _ if e.status() == StatusCode::BAD_GATEWAY => ErrorPage::new(
            StatusCode::BAD_GATEWAY,
            "The provider failed",
            format!("Talking to {app} failed: {e}"),
        ),
        _ => ErrorPage::new(e.status(), "The sign-in failed", e.to_string()),
    }
}

async fn current_login(session: &Session) -> Result<Option<Login>, ErrorPage> {
    session.get(LOGIN_KEY).await.map_err(|e| ErrorPage::internal("reading the session", &e))
}

pub(crate) async fn home(State(state): State<AppState>, session: Session) -> Result<Response, ErrorPage> {
    let buttons: String = state
        .oauth
        .apps()
        .into_iter()
        .map(|app| {
            format!(
                "<p><a class=\"button primary\" id=\"login-{id}\" href=\"/login/{id}\">Sign in with {label}</a></p>",
                id = esc(app.name()),
                label = esc(&label(&app))
            )
        })
        .collect();
    let login = match current_login(&session).await? {
        Some(l) => format!(
            "<div class=\"ok\"><p>You are signed in with <b>{}</b>. <a href=\"/profile\">See your profile</a>.</p></div>",
            esc(&l.app)
        ),
        None => String::new(),
    };
    // A visitor who is signed in nowhere gets no session (and the server keeps none).
    let provider = match signed_in(&session).await? {
        Some(user) => format!(
            "<p>Provider: signed in as <b>{}</b>. <form class=\"inline\" method=\"post\" action=\"/signout\">{}\
             <button type=\"submit\">Sign out of the provider</button></form></p>",
            esc(&user),
            csrf_field(&csrf_token(&session).await?)
        ),
        None => {
            "<p>Provider: not signed in. <a href=\"/signin\">Sign in or create an account</a>.</p>".into()
        }
    };
    let body = format!(
        "<p>This one program is both an <b>OAuth 1.0a provider</b> (with its own users, a consent page and \
         a protected API) and a <b>client website</b> that signs people in through it and through any \
         OAuth 2.0 / OpenID Connect provider you configure.</p>{login}<h2>Client website</h2>{buttons}\
         <h2>Provider</h2>{provider}<p><a href=\"/developer\">Register an OAuth 1 client</a> to use this \
         provider from other software.</p>"
    );
    Ok(page("Keyward demo", &body).into_response())
}

fn callback_url(state: &AppState, name: &str) -> String {
    format!("{}/auth/{name}", state.base_url)
}

pub(crate) async fn login(
    State(state): State<AppState>,
    Path(name): Path<String>,
    session: KeywardSession,
) -> Response {
    let app = match state.oauth.client(&name) {
        Ok(app) => app,
        Err(e) => return login_error(&name, &e).into_response(),
    };
    match app.authorize_redirect(&session, &callback_url(&state, &name)).await {
        Ok(redirect) => {
            if let Err(page) = mark_pending(&session.0, &name).await {
                return page.into_response();
            }
            tracing::info!(app = ?name, "login started");
            RedirectTo(redirect).into_response()
        }
        Err(e) => login_error(&name, &e).into_response(),
    }
}

/// Records a login started with `app` (known: the registry has it), and keeps a session
/// that holds nothing else only as long as the login may take.
async fn mark_pending(session: &Session, app: &str) -> Result<(), ErrorPage> {
    let signed_in = current_login(session).await?.is_some() || signed_in(session).await?.is_some();
    if !signed_in {
        session.set_expiry(Some(tower_sessions::Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(crate::LOGIN_TTL),
        )));
    }
    let mut map = pending(session).await?;
    map.insert(app.to_owned(), crate::now() + crate::LOGIN_TTL);
    session.insert(PENDING_KEY, &map).await.map_err(|e| ErrorPage::internal("writing the session", &e))
}

pub(crate) async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    session: KeywardSession,
    callback: Result<OAuthCallback, ClientRejection>,
) -> Response {
    let result = async {
        let app = state.oauth.client(&name).map_err(|e| login_error(&name, &e))?;
        let cb = match callback {
            Ok(OAuthCallback(cb)) => cb,
            // What the provider says is shown only for a login in progress here; otherwise
            // anyone could put words on this site's page with a link.
            Err(ClientRejection(Error::Callback(CallbackError::Provider(body)))) => {
                return Err(if take_pending(&session.0, &name).await? {
                    provider_error(&name, &body)
                } else {
                    tracing::info!(app = ?name, "a provider error for no login in progress");
                    no_login_in_progress(&name)
                });
            }
            Err(ClientRejection(e)) => return Err(login_error(&name, &e)),
        };
        let token = app.authorize_access_token(&session, &cb).await.map_err(|e| login_error(&name, &e))?;
        take_pending(&session.0, &name).await?;
        let (profile, profile_error) = match app.userinfo(&token).await {
            Ok(p) => (Some(p), None),
            Err(e) => {
                tracing::warn!(app = ?name, error = ?clip(&e.to_string()), "userinfo failed");
                (None, Some(e.to_string()))
            }
        };
        tracing::info!(app = ?name, "login completed");
        let login =
            Login { app: name.clone(), token, profile, profile_error, fetched_at: crate::now(), calls: 1 };
        session.0.cycle_id().await.map_err(|e| ErrorPage::internal("renewing the session", &e))?;
        crate::renew_csrf(&session.0).await?;
        session.0.set_expiry(Some(tower_sessions::Expiry::OnInactivity(crate::SIGNED_IN)));
        session
            .0
            .insert(LOGIN_KEY, &login)
            .await
            .map_err(|e| ErrorPage::internal("writing the session", &e))?;
        Ok::<_, ErrorPage>(Redirect::to("/profile").into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A credential's value as the profile page shows it: identifiers shortened, secrets
/// hidden, lengths kept.
fn mask(key: &str, value: &str) -> String {
    let n = value.chars().count();
    let secret =
        key.contains("secret") || key == "access_token" || key == "refresh_token" || key == "id_token";
    if secret || n <= 8 {
        format!("•••••• ({n} characters)")
    } else {
        format!("{}… ({n} characters)", value.chars().take(4).collect::<String>())
    }
}

fn token_rows(token: &AppToken) -> String {
    let value = serde_json::to_value(token).unwrap_or_default();
    let Some(map) = value.as_object() else { return String::new() };
    map.iter()
        .filter(|(k, _)| k.as_str() != "userinfo")
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let shown = if k.contains("token") && k != "token_type" || k.contains("secret") {
                mask(k, &text)
            } else {
                text
            };
            format!("<tr><th>{}</th><td><code>{}</code></td></tr>", esc(k), esc(&shown))
        })
        .collect()
}

pub(crate) async fn profile(session: Session) -> Result<Response, ErrorPage> {
    let Some(login) = current_login(&session).await? else {
        let body = "<p>Nobody is signed in to the client website. <a href=\"/\">Choose a provider</a>.</p>";
        return Ok(page("Profile", body).into_response());
    };
    let csrf = csrf_token(&session).await?;
    let profile = match (&login.profile, &login.profile_error) {
        (Some(p), _) => {
            format!("<pre id=\"profile\">{}</pre>", esc(&serde_json::to_string_pretty(p).unwrap_or_default()))
        }
        (None, Some(e)) => format!("<div class=\"error\"><p id=\"profile-error\">{}</p></div>", esc(e)),
        (None, None) => "<p>No profile yet.</p>".into(),
    };
    let claims = match login.token.userinfo() {
        Some(c) => format!(
            "<h2>ID token claims</h2><pre id=\"claims\">{}</pre>",
            esc(&serde_json::to_string_pretty(c).unwrap_or_default())
        ),
        None => String::new(),
    };
    let who = login
        .profile
        .as_ref()
        .and_then(|p| {
            ["name", "username", "login", "sub"].iter().find_map(|k| p.get(*k)?.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| "(unknown)".into());
    let body = format!(
        "<div class=\"ok\"><p>Signed in with <b id=\"app\">{app}</b> as <b id=\"who\">{who}</b>.</p></div>\
         <h2>Profile from the userinfo endpoint</h2>{profile}\
         <p>Fetched {calls} time(s), last at <span id=\"fetched-at\">{at}</span> (Unix time).</p>\
         <form class=\"inline\" method=\"post\" action=\"/profile/refresh\">{csrf}\
         <button class=\"primary\" type=\"submit\" id=\"call-again\">Call the API again</button></form> \
         <form class=\"inline\" method=\"post\" action=\"/logout\">{csrf}\
         <button type=\"submit\" id=\"logout\">Sign out</button></form>\
         <p><a href=\"/connected\" id=\"connected\">Connected applications</a>: what you granted at the \
         demo's provider, and revoking it.</p>\
         <h2>AppToken</h2><table id=\"token\">{rows}</table>{claims}",
        app = esc(&login.app),
        who = esc(&who),
        calls = login.calls,
        at = login.fetched_at,
        csrf = csrf_field(&csrf),
        rows = token_rows(&login.token),
    );
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], page("Profile", &body)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Calls the userinfo endpoint again; an expired OAuth 2 token is refreshed first, and the
/// renewed token kept.
pub(crate) async fn call_again(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    let Some(mut login) = current_login(&session).await? else {
        return Ok(Redirect::to("/profile").into_response());
    };
    let app = state.oauth.client(&login.app).map_err(|e| login_error(&login.app, &e))?;
    if let (Some(driver), AppToken::OAuth2(t)) = (app.oauth2(), &login.token) {
        match driver.ensure_fresh(t).await {
            Ok(fresh) => {
                if fresh.access_token != t.access_token {
                    tracing::info!(app = ?login.app, "token refreshed");
                }
                login.token = AppToken::OAuth2(fresh);
            }
            Err(e) => return Err(login_error(&login.app, &Error::OAuth2(e))),
        }
    }
    match app.userinfo(&login.token).await {
        Ok(p) => {
            login.profile = Some(p);
            login.profile_error = None;
        }
        Err(e) => login.profile_error = Some(e.to_string()),
    }
    login.calls += 1;
    login.fetched_at = crate::now();
    session.insert(LOGIN_KEY, &login).await.map_err(|e| ErrorPage::internal("writing the session", &e))?;
    Ok(Redirect::to("/profile").into_response())
}

pub(crate) async fn logout(
    session: Session,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    session.remove::<Login>(LOGIN_KEY).await.map_err(|e| ErrorPage::internal("writing the session", &e))?;
    crate::renew_csrf(&session).await?;
    Ok(Redirect::to("/").into_response())
}

//! The client website: "Sign in with …" for every registered remote app, the login
//! redirect and callback, and the profile page.

use crate::html::{ErrorPage, csrf_field, esc, page};
use crate::provider::signed_in;
use crate::{AppState, HtmlForm, OWN_APP, check_csrf, clip, csrf_token};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use keyward::common::ErrorBody;
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::ct_eq;
use keyward_axum::KeywardSession;
use keyward_axum::client::{ClientRejection, OAuthCallback, RedirectTo};
use keyward_client::registry::{AppToken, CallbackError, Error, ErrorKind, Protocol, RemoteApp, StateError};
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
        // The description of a denial restates it, often in the specification's words: the
        // page says it plainly instead.
        return ErrorPage::new(
            StatusCode::FORBIDDEN,
            "Access denied",
            format!(
                "You declined the sign-in with {app} at the provider, so nothing was shared with this site."
            ),
        )
        .with_action(format!("/login/{app}"), "Start again");
    }
    // A 4xx, not a 5xx: the provider's redirect is not this site's failure, and the session
    // (the login ended) is saved.
    ErrorPage::new(
        StatusCode::BAD_REQUEST,
        "The provider returned an error",
        format!("{app} answered `{}`.", clip(&body.error)),
    )
    .with_provider_words(words)
    .with_action(start_again_path(app), "Start again")
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
    if app.name() == crate::OWN_OAUTH2_APP {
        return "Keyward (OAuth 2)".to_owned();
    }
    if app.name() == crate::OWN_OIDC_APP {
        return "Keyward (OpenID Connect)".to_owned();
    }
    let protocol = match app.protocol() {
        Protocol::OAuth1 => "OAuth 1.0a",
        Protocol::OAuth2 if app.config().server_metadata_url.is_some() => "OpenID Connect",
        Protocol::OAuth2 => "OAuth 2.0",
    };
    format!("{} ({protocol})", app.name())
}

/// Where "Start again" leads: the login route of `app`.
fn start_again_path(app: &str) -> String {
    format!("/login/{}", keyward::common::encoding::encode(app))
}

/// A registry failure as a page: its status and sentence are the registry's
/// ([`Error::kind`]); a login that can be started again offers to.
fn login_error(app: &str, e: &Error) -> ErrorPage {
    let status = e.status();
    // Both may carry what a visitor typed: escaped (`?`) and clipped. The log names the
    // rule that failed; the page does not.
    if status.is_server_error() {
        tracing::warn!(app = ?clip(app), status = status.as_u16(), error = ?clip(&e.to_string()), "login failed");
    } else {
        tracing::info!(app = ?clip(app), status = status.as_u16(), error = ?clip(&e.to_string()), "login refused");
    }
    let app = clip(app);
    let kind = e.kind();
    let page = match e {
        // Not reached for a login in progress (the callback handler answers those).
        Error::Callback(CallbackError::Provider(_)) | Error::State(StateError::NoSession { .. }) => {
            no_login_in_progress(app)
        }
        Error::UnknownApp(_) => {
            ErrorPage::new(status, "Unknown application", format!("No remote app is named `{app}`."))
        }
        // Why a state did not match helps the person and tells an attacker nothing.
        Error::State(cause) if kind == ErrorKind::StartAgain => ErrorPage::new(
            status,
            "The sign-in could not be matched (state mismatch)",
            format!("{} Cause: {cause}.", kind.message()),
        ),
        _ => {
            let title = match kind {
                ErrorKind::StartAgain => "The sign-in could not be completed",
                ErrorKind::Unverified => "The sign-in could not be verified",
                ErrorKind::Declined => "Access denied",
                ErrorKind::Provider => "The provider failed",
                ErrorKind::Unavailable => "Try again in a moment",
                ErrorKind::Internal => "Something went wrong on our side",
                _ => "The sign-in failed",
            };
            ErrorPage::new(status, title, kind.message())
        }
    };
    if kind.start_again() { page.with_action(start_again_path(app), "Start again") } else { page }
}

/// Whether the visitor is signed in to the client website.
pub(crate) async fn signed_in_here(session: &Session) -> Result<bool, ErrorPage> {
    Ok(current_login(session).await?.is_some())
}

async fn current_login(session: &Session) -> Result<Option<Login>, ErrorPage> {
    session.get(LOGIN_KEY).await.map_err(|e| ErrorPage::internal("reading the session", &e))
}

#[derive(Deserialize)]
pub(crate) struct HomeQuery {
    /// Which site the visitor just signed out of: `client`, `provider` or `both`.
    left: Option<String>,
}

pub(crate) async fn home(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Query(q): axum::extract::Query<HomeQuery>,
) -> Result<Response, ErrorPage> {
    let buttons: String = state
        .oauth
        .apps()
        .into_iter()
        // Notes is an application of its own, with its own page.
        .filter(|app| app.name() != crate::NOTES_APP)
        .map(|app| {
            format!(
                "<p><a class=\"button primary\" id=\"login-{id}\" href=\"/login/{id}\">Sign in with {label}</a></p>",
                id = esc(app.name()),
                label = esc(&label(&app))
            )
        })
        .collect();
    let login = current_login(&session).await?;
    let provider_user = signed_in(&session).await?;
    // A session exists (and holds a token) only for a visitor signed in somewhere.
    let csrf = match login.is_some() || provider_user.is_some() {
        true => Some(csrf_token(&session).await?),
        false => None,
    };
    let left = left_notice(
        q.left.as_deref(),
        login.as_ref().map(|l| l.app.as_str()),
        provider_user.as_deref(),
        csrf.as_deref(),
    );
    let login = match login {
        Some(l) => format!(
            "<div class=\"ok\"><p>Client website: you are signed in with <b>{}</b>. \
             <a href=\"/profile\">See your profile</a>.</p></div>",
            esc(&l.app)
        ),
        None => "<p>Client website: not signed in.</p>".to_owned(),
    };
    // A visitor who is signed in nowhere gets no session (and the server keeps none).
    let provider = match provider_user {
        Some(user) => format!(
            "<p>Provider: signed in as <b>{}</b>. <form class=\"inline\" method=\"post\" action=\"/signout\">{}\
             <button type=\"submit\">Sign out of the provider</button></form></p>",
            esc(&user),
            csrf_field(&csrf_token(&session).await?)
        ),
        None => "<p>Provider: not signed in. <a href=\"/signin\">Sign in</a> or \
             <a href=\"/signup\">create an account</a>.</p>"
            .into(),
    };
    let body = format!(
        "<p>This one program is both a provider, <b>OAuth 1.0a</b> and <b>OAuth 2.1</b> (with its own users, \
         a consent page and a protected API), and a <b>client website</b> that signs people in through it and through any \
         OAuth 2.0 / OpenID Connect provider you configure. Each half has its own sign-in and sign-out.</p>\
         {left}<h2>Client website</h2>{login}{buttons}\
         <p><a href=\"/notes\" id=\"notes\">Notes</a>: a second application signing in through the provider \
         with OpenID Connect, which the provider tells when your session there ends (back-channel logout).</p>\
         <h2>Provider</h2>{provider}<p><a href=\"/developer\">Register an OAuth 1 or OAuth 2 client</a> to use \
         this provider from other software. Its OpenID Connect discovery document: \
         <a href=\"/.well-known/openid-configuration\"><code>/.well-known/openid-configuration</code></a>.</p>"
    );
    Ok(page("Keyward demo", &body).into_response())
}

/// What the home page says after a sign-out: which site was left, and what is still
/// signed in, with a button to leave it too.
fn left_notice(
    left: Option<&str>,
    client_app: Option<&str>,
    provider_user: Option<&str>,
    csrf: Option<&str>,
) -> String {
    let (what, still) = match left {
        Some("client") => (
            "You signed out of the <b>client website</b>.",
            provider_user.map(|u| {
                format!(
                    "You are still signed in to the <b>provider</b> as <b>{}</b>, so signing in with it again \
                     will not ask for your password.",
                    esc(u)
                )
            }),
        ),
        Some("provider") => (
            "You signed out of the <b>provider</b>.",
            client_app.map(|a| {
                format!("You are still signed in to the <b>client website</b> (with <b>{}</b>).", esc(a))
            }),
        ),
        Some("both") => ("You signed out of the client website and of the provider.", None),
        Some("everywhere") => (
            "You signed out everywhere: of the client website, and of the provider through OpenID Connect \
             RP-initiated logout. The provider told the applications registered for back-channel logout \
             (<a href=\"/notes\">Notes</a>), which ended their sessions.",
            None,
        ),
        _ => return String::new(),
    };
    match (still, csrf) {
        (Some(still), Some(csrf)) => format!(
            "<div class=\"ok\" id=\"signed-out\"><p>{what} {still}</p>\
             <form class=\"inline\" method=\"post\" action=\"/signout/both\">{}\
             <button type=\"submit\" id=\"signout-both\">Sign out of both</button></form></div>",
            csrf_field(csrf)
        ),
        _ => format!("<div class=\"ok\" id=\"signed-out\"><p>{what}</p></div>"),
    }
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
        let token = match app.authorize_access_token(&session, &cb).await {
            Ok(token) => token,
            // A reloaded (or replayed) callback after this login succeeded: the person is
            // signed in with this app, so their profile, not an error.
            Err(e) if e.kind() == ErrorKind::StartAgain
                && current_login(&session.0).await?.is_some_and(|login| login.app == name) =>
            {
                tracing::info!(app = ?clip(&name), error = ?clip(&e.to_string()), "callback of a completed login");
                return Ok(Redirect::to("/profile").into_response());
            }
            Err(e) => return Err(login_error(&name, &e)),
        };
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

/// Unix time `at` as `2026-12-07 12:19:27 UTC`.
pub(crate) fn utc_time(at: i64) -> String {
    match tower_sessions::cookie::time::OffsetDateTime::from_unix_timestamp(at) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{at} (Unix time)"),
    }
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
    // RP-initiated logout, for a login through an OpenID provider with an end_session
    // endpoint (the demo's own, or one configured).
    let everywhere = if login.token.userinfo().is_some() {
        format!(
            " <form class=\"inline\" method=\"post\" action=\"/logout/everywhere\">{}\
             <button type=\"submit\" id=\"logout-everywhere\">Log out everywhere</button></form>",
            csrf_field(&csrf)
        )
    } else {
        String::new()
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
         <p>Fetched {calls} time(s), last at <time id=\"fetched-at\" datetime=\"{iso}\">{at}</time>.</p>\
         <form class=\"inline\" method=\"post\" action=\"/profile/refresh\">{csrf}\
         <button class=\"primary\" type=\"submit\" id=\"call-again\">Call the API again</button></form> \
         <form class=\"inline\" method=\"post\" action=\"/logout\">{csrf}\
         <button type=\"submit\" id=\"logout\">Sign out of the client website</button></form> \
         <form class=\"inline\" method=\"post\" action=\"/signout/both\">{csrf}\
         <button type=\"submit\" id=\"signout-both\">Sign out of the client website and the provider</button></form>{everywhere}\
         <p><a href=\"/connected\" id=\"connected\">Connected applications</a>: what you granted at the \
         demo's provider, and revoking it.</p>\
         <h2>Token</h2><table id=\"token\">{rows}</table>{claims}",
        app = esc(&login.app),
        who = esc(&who),
        calls = login.calls,
        at = utc_time(login.fetched_at),
        iso = esc(&utc_time(login.fetched_at).replacen(' ', "T", 1).replace(" UTC", "Z")),
        csrf = csrf_field(&csrf),
        rows = token_rows(&login.token),
        everywhere = everywhere,
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
    Ok(Redirect::to("/?left=client").into_response())
}

/// The session key of the `state` sent with an RP-initiated logout, checked when the
/// provider sends the browser back to `/signed-out`.
const LOGOUT_STATE_KEY: &str = "demo_logout_state";

/// "Log out everywhere": ends the client website's sign-in, then sends the browser to the
/// OpenID provider's end-session endpoint (RP-Initiated Logout 1.0) with the ID token as
/// `id_token_hint`, to come back at `/signed-out` with `state`.
pub(crate) async fn log_out_everywhere(
    State(state): State<AppState>,
    session: KeywardSession,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session.0, &form.csrf).await?;
    let Some(login) = current_login(&session.0).await? else {
        return Ok(Redirect::to("/?left=client").into_response());
    };
    let app = state.oauth.client(&login.app).map_err(|e| login_error(&login.app, &e))?;
    let logout_state = OsRandom.alphanumeric(24);
    let back = format!("{}/signed-out", state.base_url);
    let redirect = app
        .logout_redirect(&session, Some(&back), Some(&logout_state))
        .await
        .map_err(|e| login_error(&login.app, &e))?;
    session.0.remove::<Login>(LOGIN_KEY).await.map_err(|e| ErrorPage::internal("writing the session", &e))?;
    session
        .0
        .insert(LOGOUT_STATE_KEY, &logout_state)
        .await
        .map_err(|e| ErrorPage::internal("writing the session", &e))?;
    tracing::info!(app = ?login.app, "RP-initiated logout started");
    Ok(RedirectTo(redirect).into_response())
}

#[derive(Deserialize)]
pub(crate) struct SignedOutQuery {
    #[serde(default)]
    state: String,
}

/// Where the provider sends the browser after an RP-initiated logout: the `state` must be the
/// one this browser sent.
pub(crate) async fn signed_out(
    session: Session,
    axum::extract::Query(q): axum::extract::Query<SignedOutQuery>,
) -> Result<Response, ErrorPage> {
    let expected: Option<String> =
        session.remove(LOGOUT_STATE_KEY).await.map_err(|e| ErrorPage::internal("writing the session", &e))?;
    match expected {
        Some(e) if !q.state.is_empty() && ct_eq(e.as_bytes(), q.state.as_bytes()) => {
            Ok(Redirect::to("/?left=everywhere").into_response())
        }
        _ => Err(ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "This sign-out could not be matched",
            "No sign-out from this site was under way in this browser, or the provider sent back another state.",
        )),
    }
}

/// Signs out of the client website and of the provider at once.
pub(crate) async fn sign_out_of_both(
    session: Session,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    session.remove::<Login>(LOGIN_KEY).await.map_err(|e| ErrorPage::internal("writing the session", &e))?;
    crate::provider::forget_user(&session).await?;
    crate::renew_csrf(&session).await?;
    Ok(Redirect::to("/?left=both").into_response())
}

#[cfg(test)]
mod tests {
    use super::utc_time;

    #[test]
    fn times_are_shown_in_utc_words() {
        assert_eq!(utc_time(1_796_639_275), "2026-12-07 10:27:55 UTC");
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(i64::MAX), format!("{} (Unix time)", i64::MAX), "out of range: as it is");
    }
}

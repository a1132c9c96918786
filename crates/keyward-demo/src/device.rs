//! The device grant's verification page (RFC 8628 §3.3): a signed-in user types the code a
//! device shows (prefilled from `?user_code=` when the device showed
//! `verification_uri_complete`), sees which application asks for which scopes, and grants
//! or denies. The device authorization endpoint itself is the glue's handler, mounted in
//! `lib.rs`.

use crate::guard::PeerIp;
use crate::html::{ErrorPage, csrf_field, esc, page};
use crate::oauth2::{DecisionForm, scope_words};
use crate::provider::signed_in;
use crate::{AppState, HtmlForm, check_csrf, clip, csrf_token};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use keyward::common::random::{OsRandom, RandomSource};
use keyward::oauth2::provider::{DeviceVerification, Grant, VerificationError};
use serde::Deserialize;
use std::collections::BTreeMap;
use tower_sessions::Session;

/// Device codes a signed-in user may type from one address per [`ATTEMPT_WINDOW`] (RFC 8628
/// §5.1), right or wrong.
pub(crate) const MAX_ATTEMPTS: u64 = 10;

/// The window of [`MAX_ATTEMPTS`], in seconds.
pub(crate) const ATTEMPT_WINDOW: i64 = 600;

/// The session key of the device authorizations looked up and waiting for the user's
/// decision: an id (in the consent form) → the user who looked it up and the authorization.
const WAITING_KEY: &str = "demo_device_waiting";

/// Device authorizations kept at once per session; the one expiring first goes first.
const MAX_WAITING: usize = 5;

type Waiting = BTreeMap<String, (String, DeviceVerification)>;

async fn waiting(session: &Session) -> Result<Waiting, ErrorPage> {
    session
        .get(WAITING_KEY)
        .await
        .map(Option::unwrap_or_default)
        .map_err(|e| ErrorPage::internal("reading the session", &e))
}

async fn store_waiting(session: &Session, map: &Waiting) -> Result<(), ErrorPage> {
    session.insert(WAITING_KEY, map).await.map_err(|e| ErrorPage::internal("writing the session", &e))
}

/// A page that must not be cached (it carries a CSRF token or a decision).
fn no_store(title: &str, body: &str, status: StatusCode) -> Response {
    (status, [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], page(title, body))
        .into_response()
}

fn sign_in_to(next: &str) -> Response {
    let next = url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
    Redirect::to(&format!("/signin?next={next}")).into_response()
}

#[derive(Deserialize)]
pub(crate) struct CodeQuery {
    #[serde(default)]
    user_code: String,
}

/// The form to type the user code; `error` (already escaped) above it.
fn code_form(user: &str, csrf: &str, user_code: &str, error: &str) -> String {
    format!(
        "<p>Signed in as <b>{user}</b>.</p>{error}\
         <p>Type the code your device shows to connect it to your account.</p>\
         <form method=\"post\" action=\"/device\" id=\"device-code\">{csrf}\
         <label>Code <input name=\"user_code\" value=\"{code}\" required maxlength=\"32\" \
         autocomplete=\"off\" autocapitalize=\"characters\" placeholder=\"BCDF-GHJK\"></label>\
         <button class=\"primary\" type=\"submit\">Continue</button></form>",
        user = esc(user),
        csrf = csrf_field(csrf),
        code = esc(user_code),
    )
}

/// The user code a person may have typed, clipped and without control characters, to show
/// again in the form.
fn shown_code(typed: &str) -> String {
    typed.chars().filter(|c| !c.is_control()).take(32).collect()
}

/// `GET /device`: the code form, for a signed-in user (others sign in first and come back
/// here, with the code they were given).
pub(crate) async fn device_page(session: Session, Query(q): Query<CodeQuery>) -> Result<Response, ErrorPage> {
    let code = shown_code(&q.user_code);
    let Some(user) = signed_in(&session).await? else {
        let next = if code.is_empty() {
            "/device".to_owned()
        } else {
            format!(
                "/device?user_code={}",
                url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
            )
        };
        return Ok(sign_in_to(&next));
    };
    let csrf = csrf_token(&session).await?;
    Ok(no_store("Connect a device", &code_form(&user, &csrf, &code, ""), StatusCode::OK))
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_code: String,
}

/// `POST /device`: looks the code up (one attempt counted under the signed-in user and the
/// peer address, RFC 8628 §5.1) and shows the consent page, or the form again with what was
/// wrong.
pub(crate) async fn enter_code(
    State(state): State<AppState>,
    session: Session,
    PeerIp(ip): PeerIp,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    let Some(user) = signed_in(&session).await? else {
        return Ok(sign_in_to("/device"));
    };
    let csrf = csrf_token(&session).await?;
    let ip = ip.map(|ip| ip.to_string()).unwrap_or_default();
    let attempt_key = format!("{user}\u{0}{ip}");
    let server = state.oauth2.server();
    let typed = shown_code(&form.user_code);
    let verification = match server.verify_user_code(&form.user_code, &attempt_key).await {
        Ok(v) => v,
        Err(VerificationError::TooManyAttempts) => {
            tracing::info!(user = ?user, ip = ?ip, "device code attempts over the limit");
            return Ok(crate::guard::too_many(
                std::time::Duration::from_secs(ATTEMPT_WINDOW.unsigned_abs()),
                "You typed too many device codes. Wait ten minutes, then try again.",
            ));
        }
        Err(e @ (VerificationError::UnknownCode | VerificationError::AlreadyDecided)) => {
            let what = match e {
                VerificationError::AlreadyDecided => "This code was already used.",
                _ => "This code is unknown or expired. Check it on your device and type it again.",
            };
            let error = format!("<p class=\"error\" id=\"device-error\">{what}</p>");
            return Ok(no_store(
                "Connect a device",
                &code_form(&user, &csrf, &typed, &error),
                StatusCode::BAD_REQUEST,
            ));
        }
        Err(e) => return Err(ErrorPage::internal("looking up the device code", &e)),
    };
    let now = crate::now();
    let mut map = waiting(&session).await?;
    map.retain(|_, (_, v)| v.expires_at > now);
    while map.len() >= MAX_WAITING {
        let first = map.iter().min_by_key(|(_, (_, v))| v.expires_at).map(|(id, _)| id.clone());
        match first {
            Some(id) => map.remove(&id),
            None => break,
        };
    }
    let id = OsRandom.alphanumeric(24);
    map.insert(id.clone(), (user.clone(), verification.clone()));
    store_waiting(&session, &map).await?;

    let app = verification.client_name.clone().unwrap_or_else(|| verification.client_id.clone());
    let scopes = if verification.scopes.is_empty() {
        "<li>nothing beyond knowing that you granted access</li>".to_owned()
    } else {
        verification
            .scopes
            .iter()
            .map(|s| format!("<li><code class=\"scope\">{}</code>: {}</li>", esc(s), esc(&scope_words(s))))
            .collect()
    };
    let unverified = if state
        .stores
        .has_owner(&verification.client_id)
        .await
        .map_err(|e| ErrorPage::internal("reading the client", &e))?
    {
        "<p class=\"error\" id=\"unverified\">This application was registered by a user of this site; \
         its name is not verified. Grant only if you trust the device you are connecting.</p>"
    } else {
        ""
    };
    let body = format!(
        "<p>Signed in as <b>{user}</b>.</p>\
         <p>The device showing the code <code id=\"user-code\">{code}</code> runs the application \
         <b id=\"app-name\">{app}</b> (OAuth 2 client <code>{client}</code>), which asks to:</p>\
         <ul id=\"scopes\">{scopes}</ul>{unverified}\
         <p>Grant only if you started this on a device of yours. You can withdraw this later on \
         <a href=\"/connected\">Connected applications</a>.</p>\
         <form method=\"post\" action=\"/device/consent\" id=\"consent\">{csrf}\
         <input type=\"hidden\" name=\"request\" value=\"{id}\">\
         <button class=\"primary\" type=\"submit\" name=\"decision\" value=\"grant\" id=\"grant\">Grant</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></form>",
        user = esc(&user),
        code = esc(&verification.user_code),
        app = esc(&app),
        client = esc(&verification.client_id),
        csrf = csrf_field(&csrf),
        id = esc(&id),
    );
    Ok(no_store("Connect a device", &body, StatusCode::OK))
}

/// `POST /device/consent`: the user's decision on a looked-up device authorization; the
/// device's next poll gets the tokens, or `access_denied`.
pub(crate) async fn decide(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<DecisionForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    let Some(user) = signed_in(&session).await? else {
        return Ok(sign_in_to("/device"));
    };
    if !matches!(form.decision.as_str(), "grant" | "deny") {
        return Err(ErrorPage::new(StatusCode::BAD_REQUEST, "No decision", "Choose Grant or Deny."));
    }
    let mut map = waiting(&session).await?;
    let found = map.remove(&form.request);
    store_waiting(&session, &map).await?;
    let ended = || {
        ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "This device code has ended",
            "The code is unknown in this browser, already answered, or expired. Start again on your device.",
        )
        .with_action("/device", "Type a code")
    };
    let verification = match found {
        Some((by, v)) if by == user && v.expires_at > crate::now() => v,
        _ => return Err(ended()),
    };
    let server = state.oauth2.server();
    let granted = form.decision == "grant";
    let result = if granted {
        let grant = Grant::new(user.clone(), verification.scopes.clone()).auth_time(crate::now());
        server.approve_device(&verification, grant).await
    } else {
        server.deny_device(&verification).await
    };
    match result {
        Ok(()) => {}
        Err(VerificationError::UnknownCode | VerificationError::AlreadyDecided) => return Err(ended()),
        Err(e) => return Err(ErrorPage::internal("recording the device decision", &e)),
    }
    tracing::info!(user = ?user, client_id = ?clip(&verification.client_id), decision = ?form.decision, "device authorization decided");
    let app = verification.client_name.clone().unwrap_or_else(|| verification.client_id.clone());
    let body = if granted {
        format!(
            "<div class=\"ok\" id=\"device-done\"><p>The device is connected: <b>{}</b> can now act for you with \
             the scopes you granted. Return to your device; it continues by itself.</p></div>\
             <p><a href=\"/connected\">Connected applications</a></p>",
            esc(&app)
        )
    } else {
        format!(
            "<div class=\"ok\" id=\"device-denied\"><p>You denied <b>{}</b> access. Nothing was shared; the \
             device is told so.</p></div>",
            esc(&app)
        )
    };
    Ok(no_store(if granted { "Device connected" } else { "Access denied" }, &body, StatusCode::OK))
}

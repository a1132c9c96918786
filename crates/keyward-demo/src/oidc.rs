//! The demo as an OpenID Provider, on its OAuth 2.1 server: ID tokens signed by a key set kept
//! in the database and rotated on a timer, the users' claims, discovery, the JWK set,
//! UserInfo, RP-Initiated Logout (`/oauth2/end_session`, with a confirmation page when the
//! hint does not name the signed-in user) and Back-Channel Logout deliveries when a provider
//! session ends.
//!
//! And the client website's second relying party of it, **Notes** (`/notes`): an application
//! of its own (its own session key, its own callback), registered at the provider with a
//! back-channel logout URI served by `keyward_axum::logout`. When the provider session ends
//! (RP-initiated logout, or signing out of the provider), the provider tells Notes, and Notes
//! ends its session.

use crate::html::{ErrorPage, csrf_field, esc, page};
use crate::provider::{forget_user, provider_auth, signed_in};
use crate::store::Stores;
use crate::{AppState, DemoError, HtmlForm, check_csrf, csrf_token, renew_csrf};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::store::{BoxFuture, StoreError};
use keyward::jose::rotation::{KeyManager, RotationPolicy};
use keyward::oidc::provider::end_session::{EndSessionError, LogoutRequest};
use keyward::oidc::provider::{ClaimsRequest, ClaimsSource};
use keyward_axum::KeywardSession;
use keyward_axum::client::{ClientRejection, OAuthCallback, RedirectTo};
use keyward_axum::end_session::{EndSession, EndSessionRejection, end_session_response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tower_sessions::Session;

/// The name of the ID-token key set in the key store.
const KEY_SET: &str = "keyward-demo-id-tokens";

/// How often the key set is ticked (adopting another instance's rotation, rotating, pruning).
const KEY_TICK: Duration = Duration::from_secs(60);

/// The domain of the users' (made-up, unverified) email addresses: the demo keeps none.
pub(crate) const EMAIL_DOMAIN: &str = "users.keyward-demo.example";

/// The claims the users have, published in `claims_supported`.
pub(crate) const USER_CLAIMS: [&str; 5] =
    ["name", "preferred_username", "updated_at", "email", "email_verified"];

/// The claims hook: the demo's users, by user name.
pub(crate) struct UserClaims {
    pub(crate) stores: Arc<Stores>,
}

impl ClaimsSource for UserClaims {
    fn claims<'a>(
        &'a self,
        request: &'a ClaimsRequest<'a>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, StoreError>> {
        Box::pin(async move {
            let Some(user) = self.stores.user(request.subject).await? else { return Ok(Map::new()) };
            let mut claims = Map::new();
            claims.insert("name".into(), user.username.clone().into());
            claims.insert("preferred_username".into(), user.username.clone().into());
            claims.insert("updated_at".into(), user.created_at.into());
            claims.insert("email".into(), format!("{}@{EMAIL_DOMAIN}", user.username).into());
            claims.insert("email_verified".into(), false.into());
            Ok(claims)
        })
    }
}

/// Aborts the key rotation task when the site (its state) is dropped.
pub(crate) struct KeyRotation(tokio::task::JoinHandle<()>);

impl Drop for KeyRotation {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Loads the ID-token key set from the database, or makes and saves one (instances sharing
/// the database share it), and ticks it every minute while the site runs.
pub(crate) async fn start_keys(stores: &Stores) -> Result<(Arc<KeyManager>, KeyRotation), DemoError> {
    let store = stores.key_store().await?;
    let keys = Arc::new(KeyManager::start(store, KEY_SET, RotationPolicy::default(), crate::now()).await?);
    let rotation = KeyRotation(keyward_axum::oidc_provider::spawn_key_rotation(keys.clone(), KEY_TICK));
    Ok((keys, rotation))
}

/// Tells the clients that registered a back-channel logout URI that the signed-in user's
/// provider session ends (queued: never waits for them). Call before forgetting the user.
pub(crate) async fn notify_logout(state: &AppState, session: &Session) -> Result<(), ErrorPage> {
    let Some(user) = signed_in(session).await? else { return Ok(()) };
    let sid = provider_auth(session).await?.map(|a| a.sid);
    match state.oauth2.server().backchannel_logout(&user, sid.as_deref()).await {
        Ok(deliveries) => {
            let queued = state.notifier.notify_all(deliveries);
            tracing::info!(user = ?user, queued, "back-channel logouts queued");
        }
        // The user's logout goes on: the clients are not told.
        Err(error) => tracing::warn!(user = ?user, %error, "back-channel logouts could not be made"),
    }
    Ok(())
}

/// The session key of the end-session requests waiting for the user's confirmation: id →
/// (when it lapses, the request).
const LOGOUTS_KEY: &str = "demo_logout_requests";

/// End-session requests kept at once per session; the oldest goes first.
const MAX_LOGOUTS: usize = 5;

type WaitingLogouts = BTreeMap<String, (i64, LogoutRequest)>;

fn logout_refused(EndSessionRejection(e): &EndSessionRejection) -> ErrorPage {
    tracing::info!(error = %e, "end-session request refused");
    match e {
        EndSessionError::Store(inner) => ErrorPage::internal("reading the client", inner),
        e => ErrorPage::new(
            e.status(),
            "This sign-out link is not valid",
            format!(
                "{e}. The application that sent you here asked for a sign-out this provider cannot \
                 check, so you are not sent back to it."
            ),
        ),
    }
}

/// The end-session endpoint (RP-Initiated Logout 1.0 §2), `GET` or `POST`: the request checked
/// by the core; a confirmation page when there is no `id_token_hint` or it names someone else;
/// otherwise the provider session ends at once (with back-channel logouts) and the browser
/// goes to the client's post-logout URI.
pub(crate) async fn end_session(
    State(state): State<AppState>,
    session: Session,
    request: Result<EndSession, EndSessionRejection>,
) -> Response {
    let result = async {
        let server = state.oauth2.server();
        let EndSession(request) = request.map_err(|e| logout_refused(&e))?;
        let user = signed_in(&session).await?;
        let confirm = server
            .logout_confirmation_needed(&request, user.as_deref())
            .await
            .map_err(|e| ErrorPage::internal("reading the client", &e))?;
        match user {
            Some(user) if confirm => confirmation_page(&state, &session, &user, request).await,
            _ => finish_logout(&state, &session, &request).await,
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn confirmation_page(
    state: &AppState,
    session: &Session,
    user: &str,
    request: LogoutRequest,
) -> Result<Response, ErrorPage> {
    let app = match &request.client_id {
        Some(id) => state
            .oauth2
            .server()
            .store()
            .get_registered_client(id)
            .await
            .map_err(|e| ErrorPage::internal("reading the client", &e))?
            .map(|c| c.client_name.unwrap_or(c.client_id)),
        None => None,
    };
    let now = crate::now();
    let mut waiting: WaitingLogouts = session
        .get(LOGOUTS_KEY)
        .await
        .map_err(|e| ErrorPage::internal("reading the session", &e))?
        .unwrap_or_default();
    waiting.retain(|_, (lapses, _)| *lapses > now);
    while waiting.len() >= MAX_LOGOUTS {
        let Some(oldest) = waiting.iter().min_by_key(|(_, (lapses, _))| *lapses).map(|(id, _)| id.clone())
        else {
            break;
        };
        waiting.remove(&oldest);
    }
    let id = OsRandom.alphanumeric(24);
    waiting.insert(id.clone(), (now + crate::LOGIN_TTL, request));
    session
        .insert(LOGOUTS_KEY, &waiting)
        .await
        .map_err(|e| ErrorPage::internal("writing the session", &e))?;
    let csrf = csrf_token(session).await?;
    let asker = match app {
        Some(name) => format!("The application <b id=\"logout-app\">{}</b> asks", esc(&name)),
        None => "An application asks".to_owned(),
    };
    let body = format!(
        "<p>{asker} to sign you out of the Keyward demo provider, where you are signed in as <b>{user}</b>.</p>\
         <form method=\"post\" action=\"/oauth2/end_session/confirm\" id=\"end-session\">{csrf}\
         <input type=\"hidden\" name=\"request\" value=\"{id}\">\
         <button class=\"primary\" type=\"submit\" name=\"decision\" value=\"signout\" id=\"confirm-signout\">Sign out</button> \
         <button type=\"submit\" name=\"decision\" value=\"stay\" id=\"stay\">Stay signed in</button></form>",
        user = esc(user),
        csrf = csrf_field(&csrf),
    );
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], page("Sign out?", &body)).into_response())
}

/// The confirmation form's answer.
#[derive(Deserialize)]
pub(crate) struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
}

/// Signs out (`decision=signout`) or stays signed in, for a request kept by the
/// confirmation page.
pub(crate) async fn confirm_end_session(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<ConfirmForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    let mut waiting: WaitingLogouts = session
        .get(LOGOUTS_KEY)
        .await
        .map_err(|e| ErrorPage::internal("reading the session", &e))?
        .unwrap_or_default();
    let found = waiting.remove(&form.request);
    session
        .insert(LOGOUTS_KEY, &waiting)
        .await
        .map_err(|e| ErrorPage::internal("writing the session", &e))?;
    let Some((_, request)) = found.filter(|(lapses, _)| *lapses > crate::now()) else {
        return Err(ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "This sign-out request has ended",
            "It is unknown in this browser, already answered, or older than 10 minutes.",
        ));
    };
    match form.decision.as_str() {
        "signout" => finish_logout(&state, &session, &request).await,
        _ => Ok(Redirect::to("/").into_response()),
    }
}

/// Ends the provider session (telling the back-channel clients first), then sends the browser
/// to the post-logout URI with `state`, or home.
async fn finish_logout(
    state: &AppState,
    session: &Session,
    request: &LogoutRequest,
) -> Result<Response, ErrorPage> {
    if signed_in(session).await?.is_some() {
        notify_logout(state, session).await?;
        forget_user(session).await?;
        renew_csrf(session).await?;
        tracing::info!(client_id = ?request.client_id, "provider session ended by RP-initiated logout");
    }
    if request.post_logout_redirect_uri.is_none() {
        return Ok(Redirect::to("/?left=provider").into_response());
    }
    Ok(end_session_response(state.oauth2.server(), request).await)
}

/// Notes' session key: who is signed in to it.
const NOTES_KEY: &str = "demo_notes_login";

/// A sign-in to Notes, from its validated ID token.
#[derive(Serialize, Deserialize)]
struct NotesLogin {
    sub: Option<String>,
    sid: Option<String>,
    name: Option<String>,
    signed_in_at: i64,
}

fn notes_callback(state: &AppState) -> String {
    format!("{}/notes/auth", state.base_url)
}

/// Notes' page: who is signed in, or that the provider ended the session (back-channel
/// logout), or a sign-in button.
pub(crate) async fn notes_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, ErrorPage> {
    let login: Option<NotesLogin> =
        session.get(NOTES_KEY).await.map_err(|e| ErrorPage::internal("reading the session", &e))?;
    let mut ended = false;
    let login = match login {
        Some(l) => {
            let gone = state
                .stores
                .rp_session_ended(crate::NOTES_APP, l.sub.as_deref(), l.sid.as_deref(), l.signed_in_at)
                .await
                .map_err(|e| ErrorPage::internal("reading the logouts", &e))?;
            if gone {
                session
                    .remove::<NotesLogin>(NOTES_KEY)
                    .await
                    .map_err(|e| ErrorPage::internal("writing the session", &e))?;
                ended = true;
                None
            } else {
                Some(l)
            }
        }
        None => None,
    };
    let status = match (&login, ended) {
        (Some(l), _) => format!(
            "<div class=\"ok\"><p id=\"notes-signed-in\">Signed in to Notes as <b id=\"notes-who\">{}</b> \
             (provider session <code>{}</code>).</p></div>",
            esc(l.name.as_deref().or(l.sub.as_deref()).unwrap_or("(unknown)")),
            esc(l.sid.as_deref().unwrap_or("unknown")),
        ),
        (None, true) => {
            "<div class=\"error\"><p id=\"notes-ended\">Your Notes session was ended by the provider: \
             it sent Notes a back-channel logout when your provider session ended.</p></div>"
                .to_owned()
        }
        (None, false) => "<p id=\"notes-signed-out\">Not signed in to Notes.</p>".to_owned(),
    };
    let action = match &login {
        Some(_) => String::new(),
        None => {
            "<p><a class=\"button primary\" id=\"notes-login\" href=\"/notes/login\">Sign in to Notes with \
                 Keyward (OpenID Connect)</a></p>"
                .to_owned()
        }
    };
    let body = format!(
        "<p><b>Notes</b> is a second application of this site that signs in through the demo's OpenID Provider. \
         Its client is registered with a back-channel logout URI (<code>{base}/backchannel-logout/{app}</code>): \
         when your session at the provider ends, the provider tells Notes, and Notes ends your session here.</p>\
         {status}{action}<p><a href=\"/\">Home</a></p>",
        base = esc(&state.base_url),
        app = crate::NOTES_APP,
    );
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], page("Notes", &body)).into_response())
}

/// Starts Notes' sign-in at the provider.
pub(crate) async fn notes_login(State(state): State<AppState>, session: KeywardSession) -> Response {
    let result = async {
        let app = state.oauth.client(crate::NOTES_APP)?;
        app.authorize_redirect(&session, &notes_callback(&state)).await
    }
    .await;
    match result {
        Ok(redirect) => RedirectTo(redirect).into_response(),
        Err(e) => ErrorPage::new(e.status(), "Notes could not start the sign-in", e.kind().message())
            .into_response(),
    }
}

/// Notes' callback: the code exchanged, the ID token validated, the sign-in kept.
pub(crate) async fn notes_callback_page(
    State(state): State<AppState>,
    session: KeywardSession,
    callback: Result<OAuthCallback, ClientRejection>,
) -> Response {
    let result = async {
        let OAuthCallback(cb) = callback.map_err(|ClientRejection(e)| e)?;
        let app = state.oauth.client(crate::NOTES_APP)?;
        app.authorize_access_token(&session, &cb).await
    }
    .await;
    let token = match result {
        Ok(token) => token,
        Err(e) => {
            tracing::info!(error = %e, "Notes sign-in failed");
            return ErrorPage::new(e.status(), "Notes could not sign you in", e.kind().message())
                .with_action("/notes/login", "Start again")
                .into_response();
        }
    };
    let claim =
        |name: &str| token.userinfo().and_then(|c| c.get(name)).and_then(Value::as_str).map(str::to_owned);
    let login = NotesLogin {
        sub: claim("sub"),
        sid: claim("sid"),
        name: claim("preferred_username").or_else(|| claim("name")),
        signed_in_at: crate::now(),
    };
    if let Err(e) = session.0.insert(NOTES_KEY, &login).await {
        return ErrorPage::internal("writing the session", &e).into_response();
    }
    tracing::info!(sub = ?login.sub, "Notes sign-in");
    Redirect::to("/notes").into_response()
}

/// The back-channel logout hook of the site's relying parties: records which provider
/// sessions ended, read by the app's pages on the next visit (any instance: it is in the
/// database).
pub(crate) struct EndedSessions {
    pub(crate) stores: Arc<Stores>,
}

impl keyward_client::registry::BackchannelLogout for EndedSessions {
    fn on_backchannel_logout<'a>(
        &'a self,
        app: &'a str,
        sub: Option<&'a str>,
        sid: Option<&'a str>,
    ) -> keyward::common::http_client::BoxFuture<'a, Result<(), keyward_client::registry::HookError>> {
        Box::pin(async move {
            self.stores.end_rp_sessions(app, sub, sid, crate::now()).await?;
            tracing::info!(app = ?app, sub = ?sub, sid = ?sid, "back-channel logout received");
            Ok(())
        })
    }
}

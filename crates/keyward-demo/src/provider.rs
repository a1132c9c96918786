//! The provider's pages: sign-in and sign-up of provider users, the consent page of the
//! authorization endpoint (RFC 5849 §2.2), the developer page registering OAuth 1 clients,
//! and the protected API.

use crate::guard::{PeerIp, too_many};
use crate::html::{ErrorPage, csrf_field, esc, page};
use crate::{AppState, HtmlForm, check_callback, check_csrf, clip, csrf_token, now, renew_csrf};
use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::{Consent, ProviderError};
use keyward::oauth1::rfc5849::signature::rsa_public_key_from_pem;
use keyward::oauth2::provider::BearerError;
use keyward_axum::oauth2_provider::{BearerRejection, OAuth2Bearer};
use keyward_axum::provider::{OAuth1Protected, ProviderRejection, core_request, into_response};
use keyward_stores::store::Client;
use serde::Deserialize;
use tower_sessions::Session;

/// The session key holding the signed-in provider user's name.
const USER_KEY: &str = "demo_provider_user";

/// The session key of the provider sign-in's details for OpenID Connect: when the user
/// signed in (`auth_time`) and the provider session's id (`sid`, in ID tokens and
/// back-channel logout tokens).
const AUTH_KEY: &str = "demo_provider_auth";

/// When and in which provider session the signed-in user authenticated.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ProviderAuth {
    pub(crate) auth_time: i64,
    pub(crate) sid: String,
}

/// The provider sign-in's details, when the session has them (a session signed in before
/// they were kept has none: such a user signs in again where `max_age` asks).
pub(crate) async fn provider_auth(session: &Session) -> Result<Option<ProviderAuth>, ErrorPage> {
    session.get(AUTH_KEY).await.map_err(|e| ErrorPage::internal("reading the session", &e))
}

/// The longest password read (Argon2 takes any length; a megabyte of one is an attack).
const MAX_PASSWORD: usize = 1024;
/// The longest application name.
pub(crate) const MAX_APP_NAME: usize = 100;
/// The longest callback URL, and how many one client registers at most.
pub(crate) const MAX_CALLBACK: usize = 2048;
pub(crate) const MAX_CALLBACKS: usize = 10;
/// The longest RSA public key (PEM); a 4096-bit key is under 1 KiB.
const MAX_PEM: usize = 8 * 1024;

pub(crate) async fn signed_in(session: &Session) -> Result<Option<String>, ErrorPage> {
    session.get(USER_KEY).await.map_err(|e| ErrorPage::internal("reading the session", &e))
}

/// Only local paths are followed after sign-in (no open redirect), and only printable
/// ASCII ones (a `Location` header holds nothing else).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// Which of the two forms a page shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    SignIn,
    SignUp,
}

impl Tab {
    fn title(self) -> &'static str {
        match self {
            Tab::SignIn => "Sign in",
            Tab::SignUp => "Create an account",
        }
    }
}

/// The sign-in or the sign-up page: two tabs, each its own address, the typed user name
/// kept after a refusal.
fn account_page(tab: Tab, csrf: &str, next: &str, username: &str, notice: Option<&str>) -> String {
    let notice = notice.map(|n| format!("<div class=\"error\"><p>{}</p></div>", esc(n))).unwrap_or_default();
    let query = if next == "/" {
        String::new()
    } else {
        format!("?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
    };
    let tab_link = |t: Tab, href: &str| {
        if t == tab {
            format!("<b class=\"tab current\" aria-current=\"page\">{}</b>", t.title())
        } else {
            format!("<a class=\"tab\" href=\"{href}{}\">{}</a>", esc(&query), t.title())
        }
    };
    let tabs = format!(
        "<nav class=\"tabs\">{}{}</nav>",
        tab_link(Tab::SignIn, "/signin"),
        tab_link(Tab::SignUp, "/signup")
    );
    let (form, intro) = match tab {
        Tab::SignIn => (
            format!(
                "<form method=\"post\" action=\"/signin\" id=\"signin\">{csrf}\
                 <input type=\"hidden\" name=\"next\" value=\"{next}\">\
                 <label>User name <input name=\"username\" value=\"{username}\" autocomplete=\"username\" required></label>\
                 <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
                 <button class=\"primary\" type=\"submit\">Sign in</button></form>",
                csrf = csrf_field(csrf),
                next = esc(next),
                username = esc(username),
            ),
            "<p>Sign in to the <b>Keyward demo provider</b> with your account there. \
             No account yet? Use the <b>Create an account</b> tab.</p>",
        ),
        Tab::SignUp => (
            format!(
                "<form method=\"post\" action=\"/signup\" id=\"signup\">{csrf}\
                 <input type=\"hidden\" name=\"next\" value=\"{next}\">\
                 <label>User name <input name=\"username\" value=\"{username}\" autocomplete=\"username\" \
                 required maxlength=\"64\" pattern=\"[A-Za-z0-9._\\-]{{1,64}}\"></label>\
                 <p><small>{rule}.</small></p>\
                 <label>Password <input name=\"password\" type=\"password\" autocomplete=\"new-password\" \
                 required minlength=\"8\"></label><p><small>At least 8 characters.</small></p>\
                 <button class=\"primary\" type=\"submit\">Create the account</button></form>",
                csrf = csrf_field(csrf),
                next = esc(next),
                username = esc(username),
                rule = esc(&capitalised(crate::config::USERNAME_RULE)),
            ),
            "<p>Create an account at the <b>Keyward demo provider</b>. You are signed in once it is made.</p>",
        ),
    };
    format!("{tabs}{notice}{intro}{form}")
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(crate) async fn signin_page(session: Session, Query(q): Query<NextQuery>) -> Result<Response, ErrorPage> {
    let csrf = csrf_token(&session).await?;
    let next = local_path(q.next.as_deref());
    Ok(page(Tab::SignIn.title(), &account_page(Tab::SignIn, &csrf, &next, "", None)).into_response())
}

pub(crate) async fn signup_page(session: Session, Query(q): Query<NextQuery>) -> Result<Response, ErrorPage> {
    let csrf = csrf_token(&session).await?;
    let next = local_path(q.next.as_deref());
    Ok(page(Tab::SignUp.title(), &account_page(Tab::SignUp, &csrf, &next, "", None)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct Credentials {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: Option<SecretString>,
}

impl Credentials {
    /// Checks the CSRF field; returns where to go next and the password.
    async fn checked(&self, session: &Session) -> Result<(String, SecretString), ErrorPage> {
        check_csrf(session, &self.csrf).await?;
        let password = self.password.clone().unwrap_or_else(|| SecretString::new(""));
        Ok((local_path(self.next.as_deref()), password))
    }
}

async fn start_user_session(session: &Session, username: &str) -> Result<(), ErrorPage> {
    // A new session id and a new CSRF token at sign-in: a session or a token fixed before
    // it is worth nothing.
    session.cycle_id().await.map_err(|e| ErrorPage::internal("renewing the session", &e))?;
    renew_csrf(session).await?;
    session.set_expiry(Some(tower_sessions::Expiry::OnInactivity(crate::SIGNED_IN)));
    let auth = ProviderAuth { auth_time: crate::now(), sid: OsRandom.alphanumeric(24) };
    session.insert(AUTH_KEY, &auth).await.map_err(|e| ErrorPage::internal("writing the session", &e))?;
    session.insert(USER_KEY, username).await.map_err(|e| ErrorPage::internal("writing the session", &e))
}

pub(crate) async fn signin(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    session: Session,
    HtmlForm(form): HtmlForm<Credentials>,
) -> Result<Response, ErrorPage> {
    let (next, password) = form.checked(&session).await?;
    let name = form.username.trim();
    // User names are ASCII, compared case-folded; anything longer is no one's.
    let account: String = clip(name).to_ascii_lowercase();
    if let Some(wait) = state.throttle.wait(&account, ip) {
        tracing::info!(user = ?account, ?ip, "provider sign-in refused: too many wrong passwords");
        return Ok(too_many(
            wait,
            "Too many wrong passwords for this user name or from this address. Wait a moment, then try again.",
        ));
    }
    let user = if name.len() > 64 || password.secret().len() > MAX_PASSWORD {
        None
    } else {
        let turn = match state.hashers.enter().await {
            Ok(turn) => turn,
            Err(busy) => return Ok(busy),
        };
        let user = state
            .stores
            .check_password(name, &password)
            .await
            .map_err(|e| ErrorPage::internal("checking the password", &e))?;
        drop(turn);
        user
    };
    match user {
        Some(user) => {
            state.throttle.succeeded(&account);
            start_user_session(&session, &user.username).await?;
            tracing::info!(user = ?user.username, "provider sign-in");
            Ok(Redirect::to(&next).into_response())
        }
        None => {
            state.throttle.failed(&account, ip);
            tracing::info!(user = ?account, ?ip, "provider sign-in refused");
            let csrf = csrf_token(&session).await?;
            let body = account_page(
                Tab::SignIn,
                &csrf,
                &next,
                clip(name),
                Some("Unknown user name or wrong password."),
            );
            Ok((StatusCode::UNAUTHORIZED, page(Tab::SignIn.title(), &body)).into_response())
        }
    }
}

pub(crate) async fn signup(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<Credentials>,
) -> Result<Response, ErrorPage> {
    let (next, password) = form.checked(&session).await?;
    let username = form.username.trim();
    let rule = format!("{}.", capitalised(crate::config::USERNAME_RULE));
    let problem = if !crate::config::valid_username(username) {
        Some(rule.as_str())
    } else if password.secret().chars().count() < 8 {
        Some("Choose a password of at least 8 characters.")
    } else if password.secret().len() > MAX_PASSWORD {
        Some("Choose a password of at most 1024 bytes.")
    } else {
        None
    };
    if problem.is_none() {
        let turn = match state.hashers.enter().await {
            Ok(turn) => turn,
            Err(busy) => return Ok(busy),
        };
        let created = state
            .stores
            .put_user(username, &password, now(), false)
            .await
            .map_err(|e| ErrorPage::internal("creating the account", &e))?;
        drop(turn);
        if created {
            start_user_session(&session, username).await?;
            tracing::info!(user = ?username, "provider account created");
            return Ok(Redirect::to(&next).into_response());
        }
    }
    let csrf = csrf_token(&session).await?;
    let notice = problem.unwrap_or("This user name is taken. Choose another, or sign in if it is yours.");
    let body = account_page(Tab::SignUp, &csrf, &next, clip(username), Some(notice));
    Ok((StatusCode::BAD_REQUEST, page(Tab::SignUp.title(), &body)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn signout(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    crate::oidc::notify_logout(&state, &session).await?;
    forget_user(&session).await?;
    renew_csrf(&session).await?;
    Ok(Redirect::to("/?left=provider").into_response())
}

/// Signs the provider user out of this session.
pub(crate) async fn forget_user(session: &Session) -> Result<(), ErrorPage> {
    session
        .remove::<ProviderAuth>(AUTH_KEY)
        .await
        .map_err(|e| ErrorPage::internal("writing the session", &e))?;
    session
        .remove::<String>(USER_KEY)
        .await
        .map(drop)
        .map_err(|e| ErrorPage::internal("writing the session", &e))
}

/// A provider error met by a person at the authorization endpoint, as a page.
fn authorize_error(e: &ProviderError) -> ErrorPage {
    match e {
        ProviderError::InvalidToken | ProviderError::MissingRequiredParameter(_) => ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "This authorization link is not valid",
            "The request token in this link is unknown, expired or already used. Start the sign-in \
             again from the application that sent you here.",
        ),
        ProviderError::AccessDenied => ErrorPage::new(
            StatusCode::FORBIDDEN,
            "Access denied",
            "You denied the application access to your account. Nothing was shared.",
        ),
        ProviderError::Store(source) => ErrorPage::internal("the provider's store", source),
        other => ErrorPage::new(other.status(), "The authorization request was refused", other.to_string()),
    }
}

/// The consent page's policy: browsers check the redirect that follows the form against
/// `form-action`, so the callback's origin (which the provider validated) is allowed too.
pub(crate) fn consent_csp(redirect_uri: Option<&str>) -> String {
    match redirect_uri.map(url::Url::parse) {
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") => crate::CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", u.origin().ascii_serialization()),
        ),
        _ => crate::CSP.to_owned(),
    }
}

pub(crate) async fn authorize_page(
    State(state): State<AppState>,
    session: Session,
    req: Request,
) -> Response {
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let result = async {
        let core = core_request(req, state.provider.options()).await.map_err(|e| authorize_error(&e))?;
        let request =
            state.provider.server().check_authorization_request(&core).await.map_err(|e| authorize_error(&e))?;
        let Some(user) = signed_in(&session).await? else {
            let next = format!("/signin?next={}", url::form_urlencoded::byte_serialize(path_and_query.as_bytes()).collect::<String>());
            return Ok(Redirect::to(&next).into_response());
        };
        let csrf = csrf_token(&session).await?;
        let client = &request.client;
        let app_name = client.name.clone().unwrap_or_else(|| client.client_id.clone());
        let destination = match &request.redirect_uri {
            Some(uri) => format!("<p>You will then be sent back to <code>{}</code>.</p>", esc(uri)),
            None => "<p>The application will get a verification code to type in.</p>".to_owned(),
        };
        // A name a visitor chose on /developer is theirs to choose: say so.
        let unverified = if state
            .stores
            .has_owner(&client.client_id)
            .await
            .map_err(|e| ErrorPage::internal("reading the client", &e))?
        {
            "<p class=\"error\" id=\"unverified\">This application was registered by a user of this site; \
             its name is not verified. Grant only if you trust where it sends you.</p>"
        } else {
            ""
        };
        let csp = axum::http::HeaderValue::from_str(&consent_csp(request.redirect_uri.as_deref()))
            .unwrap_or(axum::http::HeaderValue::from_static(crate::CSP));
        let body = format!(
            "<p>Signed in as <b>{user}</b>.</p>\
             <p>The application <b id=\"app-name\">{app}</b> (client <code>{id}</code>) asks to access your \
             account: your user name, through this provider's API.</p>{unverified}{destination}\
             <form method=\"post\" action=\"/oauth/authorize\" id=\"consent\">{csrf}\
             <input type=\"hidden\" name=\"oauth_token\" value=\"{token}\">\
             <button class=\"primary\" type=\"submit\" name=\"decision\" value=\"grant\" id=\"grant\">Grant</button> \
             <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></form>",
            user = esc(&user),
            app = esc(&app_name),
            id = esc(&client.client_id),
            csrf = csrf_field(&csrf),
            token = esc(&request.token),
        );
        Ok::<_, ErrorPage>(
            ([(axum::http::header::CONTENT_SECURITY_POLICY, csp)], page("Authorize an application", &body))
                .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn authorize(State(state): State<AppState>, session: Session, req: Request) -> Response {
    let result = async {
        let core = core_request(req, state.provider.options()).await.map_err(|e| authorize_error(&e))?;
        let mut csrf = String::new();
        let mut decision = String::new();
        for (k, v) in url::form_urlencoded::parse(core.body()) {
            match &*k {
                "csrf" => csrf = v.into_owned(),
                "decision" => decision = v.into_owned(),
                _ => {}
            }
        }
        check_csrf(&session, &csrf).await?;
        let Some(user) = signed_in(&session).await? else {
            return Err(ErrorPage::new(
                StatusCode::UNAUTHORIZED,
                "Please sign in",
                "Your provider session ended. Start the sign-in again from the application.",
            ));
        };
        let consent = match decision.as_str() {
            "grant" => Consent::Grant { user_id: &user },
            "deny" => Consent::Deny,
            _ => {
                return Err(ErrorPage::new(StatusCode::BAD_REQUEST, "No decision", "Choose Grant or Deny."));
            }
        };
        let response = state
            .provider
            .server()
            .create_authorization_response(&core, consent)
            .await
            .map_err(|e| authorize_error(&e))?;
        tracing::info!(user = ?user, decision = ?clip(&decision), "authorization decided");
        if response.status().is_redirection() {
            return Ok(into_response(response));
        }
        // Out of band (RFC 5849 §2.2): the user carries the verifier to the application.
        let verifier = url::form_urlencoded::parse(response.body())
            .find(|(k, _)| k == "oauth_verifier")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let body = format!(
            "<div class=\"ok\"><p>Access granted. Type this verification code into the application:</p>\
             <pre id=\"verifier\">{}</pre></div>",
            esc(&verifier)
        );
        Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], page("Verification code", &body))
            .into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Whether the request's `Authorization` header uses the `Bearer` scheme (RFC 6750 §2.1).
fn has_bearer(req: &Request) -> bool {
    req.headers()
        .get_all(axum::http::header::AUTHORIZATION)
        .iter()
        .any(|v| v.as_bytes().get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer ")))
}

/// The protected API: the user the token acts for. An OAuth 2 bearer token (RFC 6750 §2.1,
/// scope `profile`) in the `Authorization` header, or an OAuth 1 signature (RFC 5849 §3):
/// `GET`, or `POST` with a form body (whose parameters, the OAuth ones among them, are
/// signed, §3.4.1.3). Answers and errors are JSON.
pub(crate) async fn me(State(state): State<AppState>, req: Request) -> Response {
    use axum::extract::{FromRequest, FromRequestParts};
    let (username, client_id) = if has_bearer(&req) {
        let (mut parts, _) = req.into_parts();
        match OAuth2Bearer::<crate::oauth2::Profile>::from_request_parts(&mut parts, &state).await {
            Ok(auth) => match auth.grant.subject.clone() {
                Some(subject) => (subject, auth.grant.client_id.clone()),
                None => {
                    return api_error(
                        StatusCode::FORBIDDEN,
                        "insufficient_scope",
                        "This token acts for no user (a client_credentials token); /api/me needs a user's token.",
                    );
                }
            },
            Err(BearerRejection(e)) => return api_bearer_error(&state, &e),
        }
    } else {
        match OAuth1Protected::from_request(req, &state).await {
            Ok(auth) => (auth.user_id().to_owned(), auth.client.client_id.clone()),
            Err(ProviderRejection(e)) => return api_provider_error(&state, &e),
        }
    };
    match state.stores.user(&username).await {
        Ok(Some(user)) => Json(serde_json::json!({
            "sub": user.username,
            "username": user.username,
            "name": user.username,
            "created_at": user.created_at,
            "client_id": client_id,
        }))
        .into_response(),
        Ok(None) => api_error(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "The user this token acts for no longer exists.",
        ),
        Err(error) => {
            tracing::error!(%error, "reading the user");
            let mut response = api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The provider's store is unavailable; try again.",
            );
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
            response
        }
    }
}

/// An error of the API as JSON: `{"error": …, "error_description": …}`, never cached.
pub(crate) fn api_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// A refused API request: the provider's code, status and headers (`Retry-After`, …) with a
/// JSON body, and on a 401 the challenge `OAuth realm="…"` (RFC 5849 §3.5.1).
fn api_provider_error(state: &AppState, e: &ProviderError) -> Response {
    let description = match e {
        ProviderError::Store(_) => "The provider's store failed; try again.".to_owned(),
        other => other.to_string(),
    };
    let mut response = api_error(e.status(), e.code(), &description);
    let core = e.to_response();
    for name in [axum::http::header::RETRY_AFTER, axum::http::header::ALLOW] {
        if let Some(v) = core.headers().get(&name) {
            response.headers_mut().insert(name, v.clone());
        }
    }
    if e.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, challenge(&state.base_url));
        // The API takes OAuth 2 bearer tokens too (RFC 6750 §3): both schemes are offered.
        let bearer = BearerError::Missing.challenge(Some(&state.base_url));
        if let Ok(v) = axum::http::HeaderValue::from_str(&bearer) {
            response.headers_mut().append(axum::http::header::WWW_AUTHENTICATE, v);
        }
    }
    response
}

/// A refused bearer token as JSON, with the RFC 6750 §3 challenge.
fn api_bearer_error(state: &AppState, e: &BearerError) -> Response {
    let (code, description) = match e {
        BearerError::Missing => ("invalid_request", "No bearer token was sent.".to_owned()),
        BearerError::InvalidRequest(why) => ("invalid_request", format!("The request is malformed: {why}.")),
        BearerError::InvalidToken => {
            ("invalid_token", "The access token is unknown, expired or revoked.".to_owned())
        }
        BearerError::InsufficientScope { required } => {
            ("insufficient_scope", format!("The token lacks the scope {}.", required.join(" ")))
        }
        _ => ("temporarily_unavailable", "The provider's store is unavailable; try again.".to_owned()),
    };
    let mut response = api_error(e.status(), code, &description);
    if let Ok(v) = axum::http::HeaderValue::from_str(&e.challenge(Some(&state.base_url))) {
        response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, v);
    }
    if e.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    }
    response
}

/// `OAuth realm="{realm}"`, the realm a quoted string (RFC 9110 §5.6.4).
pub(crate) fn challenge(realm: &str) -> axum::http::HeaderValue {
    let quoted: String = realm
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| if c == '"' || c == '\\' { vec!['\\', c] } else { vec![c] })
        .collect();
    axum::http::HeaderValue::from_str(&format!("OAuth realm=\"{quoted}\""))
        .unwrap_or(axum::http::HeaderValue::from_static("OAuth"))
}

pub(crate) async fn developer_body(
    state: &AppState,
    session: &Session,
    user: &str,
) -> Result<String, ErrorPage> {
    let csrf = csrf_token(session).await?;
    // Each user sees the clients they registered, and no one else's.
    let ids =
        state.stores.client_ids_of(user).await.map_err(|e| ErrorPage::internal("listing the clients", &e))?;
    let mut rows = String::new();
    for id in &ids {
        let Some(c) = state
            .stores
            .provider
            .get_client(id)
            .await
            .map_err(|e| ErrorPage::internal("reading a client", &e))?
        else {
            continue;
        };
        rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.client_id),
            esc(c.name.as_deref().unwrap_or("")),
            c.redirect_uris
                .iter()
                .flatten()
                .map(|u| format!("<code>{}</code>", esc(u)))
                .collect::<Vec<_>>()
                .join("<br>"),
            if c.rsa_public_key.is_some() { "RSA" } else { "HMAC" }
        ));
    }
    let base = &state.base_url;
    Ok(format!(
        "<p>Signed in as <b>{user}</b>. This provider speaks OAuth 1.0a (RFC 5849):</p>\
         <table><tr><th>Temporary credentials</th><td><code>POST {base}/oauth/initiate</code></td></tr>\
         <tr><th>Authorization</th><td><code>GET {base}/oauth/authorize</code></td></tr>\
         <tr><th>Token credentials</th><td><code>POST {base}/oauth/token</code></td></tr>\
         <tr><th>User (protected)</th><td><code>GET {base}/api/me</code>, or <code>POST</code> with a form \
         body; JSON answers</td></tr>\
         <tr><th>Signatures</th><td id=\"signature-methods\">{methods}</td></tr></table>\
         <h2>Register an OAuth 1 client</h2>\
         <form method=\"post\" action=\"/developer\" id=\"register\">{csrf}\
         <label>Application name (unique) <input name=\"name\" required maxlength=\"{MAX_APP_NAME}\"></label>\
         <label>Callback URLs, one per line: where people are sent back after they grant access. The \
         client may send only these as <code>oauth_callback</code>. An application that cannot receive \
         a redirect writes <code>oob</code> on a line instead: people then see a verification code to type \
         into it. <textarea name=\"redirect_uris\" rows=\"3\" required \
         placeholder=\"https://app.example/callback\"></textarea></label>\
         <label>RSA public key, PEM (optional, for RSA-SHA1/RSA-SHA256) <textarea name=\"rsa_public_key\" \
         rows=\"5\" maxlength=\"{MAX_PEM}\"></textarea></label>\
         <button class=\"primary\" type=\"submit\">Register</button></form>\
         <h2>Your OAuth 1 clients</h2><p>{count} of at most {max}.</p><table><tr><th>Client key</th><th>Name</th>\
         <th>Callbacks</th><th>Signature</th></tr>{rows}</table>{oauth2}",
        user = esc(user),
        base = esc(base),
        methods = esc(&state.signature_methods.join(", ")),
        csrf = csrf_field(&csrf),
        count = ids.len(),
        max = state.limits.max_clients_per_user,
        oauth2 = crate::oauth2::developer_section(state, &csrf, &ids).await?,
    ))
}

pub(crate) async fn developer_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, ErrorPage> {
    let Some(user) = signed_in(&session).await? else {
        return Ok(Redirect::to("/signin?next=/developer").into_response());
    };
    Ok(page("Developers", &developer_body(&state, &session, &user).await?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    rsa_public_key: String,
}

pub(crate) async fn register_client(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<RegisterForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    let Some(user) = signed_in(&session).await? else {
        return Ok(Redirect::to("/signin?next=/developer").into_response());
    };
    let bad =
        |detail: String| ErrorPage::new(StatusCode::BAD_REQUEST, "The client was not registered", detail);
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > MAX_APP_NAME || name.chars().any(char::is_control) {
        return Err(bad(format!("Give the application a name of at most {MAX_APP_NAME} characters.")));
    }
    let mut callbacks: Vec<String> = Vec::new();
    for line in form.redirect_uris.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.len() > MAX_CALLBACK {
            return Err(bad(format!("A callback URL is at most {MAX_CALLBACK} bytes.")));
        }
        if line != "oob" {
            check_callback(line).map_err(|r| bad(format!("The callback URL is not usable: {r}.")))?;
        }
        if !callbacks.iter().any(|c| c == line) {
            callbacks.push(line.to_owned());
        }
    }
    if callbacks.is_empty() || callbacks.len() > MAX_CALLBACKS {
        return Err(bad(format!("Give between 1 and {MAX_CALLBACKS} callback URLs, one per line.")));
    }
    let pem = form.rsa_public_key.trim();
    if pem.len() > MAX_PEM {
        return Err(bad(format!("An RSA public key is at most {MAX_PEM} bytes.")));
    }
    if !pem.is_empty()
        && let Err(error) = rsa_public_key_from_pem(pem)
    {
        tracing::info!(error = ?clip(&error.to_string()), "an RSA public key refused");
        return Err(bad(rsa_key_problem(pem)));
    }
    let store_err = |e: keyward_stores::store::StoreError| ErrorPage::internal("registering the client", &e);
    let owned = state.stores.client_ids_of(&user).await.map_err(store_err)?;
    if owned.len() >= state.limits.max_clients_per_user {
        return Err(bad(format!(
            "You have registered {} clients, the most one user may.",
            state.limits.max_clients_per_user
        )));
    }
    if state.stores.client_name_taken(name).await.map_err(store_err)? {
        return Err(bad("An application with this name is already registered. Choose another name.".into()));
    }
    let secret = OsRandom.alphanumeric(40);
    let mut client = Client::new(OsRandom.alphanumeric(24), SecretString::new(secret.clone()));
    client.name = Some(name.to_owned());
    client.redirect_uris = Some(callbacks);
    client.rsa_public_key = (!pem.is_empty()).then(|| pem.to_owned());
    state.stores.put_owned_client(&client, &user).await.map_err(store_err)?;
    tracing::info!(client_id = ?client.client_id, by = ?user, "OAuth 1 client registered");
    let body = format!(
        "<div class=\"ok\"><p>Registered <b>{name}</b>. Copy the secret now: it is not shown again.</p>\
         <table><tr><th>Client key (<code>oauth_consumer_key</code>)</th><td><code id=\"client-id\">{id}</code></td></tr>\
         <tr><th>Client secret</th><td><code id=\"client-secret\">{secret}</code></td></tr></table></div>{rest}",
        name = esc(name),
        id = esc(&client.client_id),
        secret = esc(&secret),
        rest = developer_body(&state, &session, &user).await?,
    );
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], page("Developers", &body)).into_response())
}

/// What to fix in an RSA public key that cannot be read, in the user's terms.
fn rsa_key_problem(pem: &str) -> String {
    let detail = if pem.contains("PRIVATE KEY") {
        "This is a private key. Paste the public key made from it (openssl rsa -in key.pem -pubout) \
         and keep the private key to yourself."
    } else if pem.contains("CERTIFICATE") {
        "This is a certificate. Paste the public key it holds (openssl x509 -in cert.pem -pubkey -noout)."
    } else if !pem.contains("-----BEGIN") {
        "Paste the whole PEM text, from its -----BEGIN PUBLIC KEY----- line to its -----END PUBLIC KEY----- line."
    } else {
        "Paste an RSA public key in PEM form: -----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----, \
         its lines of base64 unchanged, then the matching END line."
    };
    format!("The RSA public key could not be read. {detail}")
}

/// The signed-in provider user's grants: every token credential issued for them, with the
/// client it went to, each with a button that revokes it.
async fn connected_body(state: &AppState, session: &Session, user: &str) -> Result<String, ErrorPage> {
    let csrf = csrf_token(session).await?;
    let grants = state
        .stores
        .provider
        .token_credentials_of_user(user)
        .await
        .map_err(|e| ErrorPage::internal("listing the grants", &e))?;
    let mut names = std::collections::HashMap::new();
    let mut rows = String::new();
    for grant in &grants {
        if !names.contains_key(&grant.client_id) {
            let client = state
                .stores
                .provider
                .get_client(&grant.client_id)
                .await
                .map_err(|e| ErrorPage::internal("reading a client", &e))?;
            names.insert(grant.client_id.clone(), client.and_then(|c| c.name));
        }
        let name = names.get(&grant.client_id).cloned().flatten().unwrap_or_else(|| "(unnamed)".into());
        // The token identifier is no secret (it travels in every request), but a prefix is
        // enough to tell grants apart on the page.
        let short: String = grant.token.chars().take(8).collect();
        rows.push_str(&format!(
            "<tr><td>{name}</td><td><code>{client}</code></td><td>{at}</td><td><code>{short}…</code></td>\
             <td><form class=\"inline\" method=\"post\" action=\"/connected/revoke\">{csrf}\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <button type=\"submit\">Revoke</button></form></td></tr>",
            name = esc(&name),
            client = esc(&grant.client_id),
            at = grant.created_at,
            short = esc(&short),
            token = esc(&grant.token),
            csrf = csrf_field(&csrf),
        ));
    }
    let list = if grants.is_empty() {
        "<p id=\"no-grants\">You have granted no OAuth 1 application access to your account.</p>".to_owned()
    } else {
        format!(
            "<table id=\"grants\"><tr><th>Application</th><th>Client key</th><th>Granted at (Unix time)</th>\
             <th>Token</th><th></th></tr>{rows}</table>"
        )
    };
    Ok(format!(
        "<p>Signed in to the provider as <b>{user}</b>. These applications hold a token that acts for you \
         at <code>/api/me</code>. Revoking one takes effect at once: its next request is refused.</p>\
         <h2>OAuth 1.0a</h2>{list}{oauth2}",
        user = esc(user),
        oauth2 = crate::oauth2::connected_section(state, &csrf, user).await?,
    ))
}

/// "Connected applications": what the signed-in provider user granted, and revoking it.
pub(crate) async fn connected_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, ErrorPage> {
    let Some(user) = signed_in(&session).await? else {
        return Ok(Redirect::to("/signin?next=/connected").into_response());
    };
    let body = connected_body(&state, &session, &user).await?;
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], page("Connected applications", &body))
        .into_response())
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// Revokes one of the signed-in user's grants (CSRF-checked); someone else's token, or one
/// already revoked, changes nothing.
pub(crate) async fn revoke_grant(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<RevokeForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    let Some(user) = signed_in(&session).await? else {
        return Ok(Redirect::to("/signin?next=/connected").into_response());
    };
    let revoked = state
        .stores
        .provider
        .revoke_token_credential(&user, &form.token)
        .await
        .map_err(|e| ErrorPage::internal("revoking the grant", &e))?;
    tracing::info!(user = ?user, revoked, "grant revoked");
    Ok(Redirect::to("/connected").into_response())
}

#[cfg(test)]
mod tests {
    use super::consent_csp;

    #[test]
    fn the_consent_page_may_post_towards_the_callback_origin_only() {
        assert_eq!(
            consent_csp(Some("https://app.example:8443/cb?x=1")),
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https://app.example:8443; \
             frame-ancestors 'none'"
        );
        assert_eq!(consent_csp(None), crate::CSP);
        assert_eq!(consent_csp(Some("myapp://cb")), crate::CSP);
    }
}

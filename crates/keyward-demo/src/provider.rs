//! The provider's pages: sign-in and sign-up of provider users, the consent page of the
//! authorization endpoint (RFC 5849 §2.2), the developer page registering OAuth 1 clients,
//! and the protected API.

use crate::html::{ErrorPage, csrf_field, esc, page};
use crate::{AppState, HtmlForm, check_callback, check_csrf, csrf_token, now};
use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::{Consent, ProviderError};
use keyward::oauth1::rfc5849::signature::rsa_public_key_from_pem;
use keyward_axum::provider::{OAuth1Protected, core_request, into_response};
use keyward_stores::store::Client;
use serde::Deserialize;
use tower_sessions::Session;

/// The session key holding the signed-in provider user's name.
const USER_KEY: &str = "demo_provider_user";

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

fn signin_form(csrf: &str, next: &str, notice: Option<&str>) -> String {
    let notice = notice.map(|n| format!("<div class=\"error\"><p>{}</p></div>", esc(n))).unwrap_or_default();
    format!(
        "{notice}<p>Sign in to the <b>Keyward demo provider</b>.</p>\
         <form method=\"post\" action=\"/signin\" id=\"signin\">{csrf}\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label>User name <input name=\"username\" autocomplete=\"username\" required></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button class=\"primary\" type=\"submit\">Sign in</button></form>\
         <h2>No account yet?</h2>\
         <form method=\"post\" action=\"/signup\" id=\"signup\">{csrf}\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label>User name <input name=\"username\" autocomplete=\"username\" required></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"new-password\" required></label>\
         <button type=\"submit\">Create an account</button></form>",
        csrf = csrf_field(csrf),
        next = esc(next),
    )
}

pub(crate) async fn signin_page(session: Session, Query(q): Query<NextQuery>) -> Result<Response, ErrorPage> {
    let csrf = csrf_token(&session).await?;
    let next = local_path(q.next.as_deref());
    Ok(page("Sign in", &signin_form(&csrf, &next, None)).into_response())
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
    // A new session id at sign-in: a session fixed before it is worth nothing.
    session.cycle_id().await.map_err(|e| ErrorPage::internal("renewing the session", &e))?;
    session.insert(USER_KEY, username).await.map_err(|e| ErrorPage::internal("writing the session", &e))
}

pub(crate) async fn signin(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<Credentials>,
) -> Result<Response, ErrorPage> {
    let (next, password) = form.checked(&session).await?;
    let user = state
        .stores
        .check_password(form.username.trim(), &password)
        .await
        .map_err(|e| ErrorPage::internal("checking the password", &e))?;
    match user {
        Some(user) => {
            start_user_session(&session, &user.username).await?;
            tracing::info!(user = %user.username, "provider sign-in");
            Ok(Redirect::to(&next).into_response())
        }
        None => {
            tracing::info!("provider sign-in refused");
            let csrf = csrf_token(&session).await?;
            let body = signin_form(&csrf, &next, Some("Unknown user name or wrong password."));
            Ok((StatusCode::UNAUTHORIZED, page("Sign in", &body)).into_response())
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
    let problem = if !crate::config::valid_username(username) {
        Some("A user name is 1 to 64 letters, digits, `.`, `_` or `-`.")
    } else if password.secret().chars().count() < 8 {
        Some("Choose a password of at least 8 characters.")
    } else {
        None
    };
    if problem.is_none() {
        let created = state
            .stores
            .put_user(username, &password, now(), false)
            .await
            .map_err(|e| ErrorPage::internal("creating the account", &e))?;
        if created {
            start_user_session(&session, username).await?;
            tracing::info!(user = %username, "provider account created");
            return Ok(Redirect::to(&next).into_response());
        }
    }
    let csrf = csrf_token(&session).await?;
    let body = signin_form(&csrf, &next, Some(problem.unwrap_or("This user name is taken.")));
    Ok((StatusCode::BAD_REQUEST, page("Sign in", &body)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn signout(
    session: Session,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    session.remove::<String>(USER_KEY).await.map_err(|e| ErrorPage::internal("writing the session", &e))?;
    Ok(Redirect::to("/").into_response())
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
        let body = format!(
            "<p>Signed in as <b>{user}</b>.</p>\
             <p>The application <b id=\"app-name\">{app}</b> (client <code>{id}</code>) asks to access your \
             account: your user name, through this provider's API.</p>{destination}\
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
        Ok::<_, ErrorPage>(page("Authorize an application", &body).into_response())
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
        tracing::info!(user = %user, decision = %decision, "authorization decided");
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

/// The protected API: the user the token acts for (RFC 5849 §3).
pub(crate) async fn me(State(state): State<AppState>, auth: OAuth1Protected) -> Response {
    match state.stores.user(auth.user_id()).await {
        Ok(Some(user)) => Json(serde_json::json!({
            "sub": user.username,
            "username": user.username,
            "name": user.username,
            "created_at": user.created_at,
            "client_id": auth.client.client_id,
        }))
        .into_response(),
        Ok(None) => {
            (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "user_not_found"}))).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "reading the user");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"error": "temporarily_unavailable"})))
                .into_response()
        }
    }
}

async fn developer_body(state: &AppState, session: &Session, user: &str) -> Result<String, ErrorPage> {
    let csrf = csrf_token(session).await?;
    let clients = state.stores.clients().await.map_err(|e| ErrorPage::internal("listing the clients", &e))?;
    let rows: String = clients
        .iter()
        .map(|c| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.client_id),
                esc(c.name.as_deref().unwrap_or("")),
                esc(c.callback.as_deref().unwrap_or("")),
                if c.rsa { "RSA" } else { "HMAC" }
            )
        })
        .collect();
    let base = &state.base_url;
    Ok(format!(
        "<p>Signed in as <b>{user}</b>. This provider speaks OAuth 1.0a (RFC 5849):</p>\
         <table><tr><th>Temporary credentials</th><td><code>POST {base}/oauth/initiate</code></td></tr>\
         <tr><th>Authorization</th><td><code>GET {base}/oauth/authorize</code></td></tr>\
         <tr><th>Token credentials</th><td><code>POST {base}/oauth/token</code></td></tr>\
         <tr><th>User (protected)</th><td><code>GET {base}/api/me</code></td></tr>\
         <tr><th>Signatures</th><td>HMAC-SHA1, HMAC-SHA256, RSA-SHA1, RSA-SHA256</td></tr></table>\
         <h2>Register a client</h2>\
         <form method=\"post\" action=\"/developer\" id=\"register\">{csrf}\
         <label>Application name <input name=\"name\" required maxlength=\"100\"></label>\
         <label>Callback URL (used for <code>oauth_callback=oob</code>) <input name=\"callback_uri\" \
         placeholder=\"https://app.example/callback\"></label>\
         <label>RSA public key, PEM (optional, for RSA-SHA1/RSA-SHA256) <textarea name=\"rsa_public_key\" \
         rows=\"5\"></textarea></label>\
         <button class=\"primary\" type=\"submit\">Register</button></form>\
         <h2>Registered clients</h2><table><tr><th>Client key</th><th>Name</th><th>Callback</th>\
         <th>Signature</th></tr>{rows}</table>",
        user = esc(user),
        base = esc(base),
        csrf = csrf_field(&csrf),
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
    callback_uri: String,
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
    if name.is_empty() || name.chars().count() > 100 {
        return Err(bad("Give the application a name of at most 100 characters.".into()));
    }
    let callback = form.callback_uri.trim();
    if !callback.is_empty() {
        check_callback(callback).map_err(|r| bad(format!("The callback URL is not usable: {r}.")))?;
    }
    let pem = form.rsa_public_key.trim();
    if !pem.is_empty() {
        rsa_public_key_from_pem(pem).map_err(|e| bad(format!("The RSA public key is not usable: {e}.")))?;
    }
    let secret = OsRandom.alphanumeric(40);
    let mut client = Client::new(OsRandom.alphanumeric(24), SecretString::new(secret.clone()));
    client.name = Some(name.to_owned());
    client.default_redirect_uri = (!callback.is_empty()).then(|| callback.to_owned());
    client.rsa_public_key = (!pem.is_empty()).then(|| pem.to_owned());
    state
        .stores
        .admin
        .put_client(&client)
        .await
        .map_err(|e| ErrorPage::internal("registering the client", &e))?;
    tracing::info!(client_id = %client.client_id, by = %user, "OAuth 1 client registered");
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

//! The OAuth 2.1 authorization server's pages: the authorization endpoint (RFC 6749 §4.1.1)
//! with the demo's sign-in and a consent page listing the scopes, the `/developer` form that
//! registers OAuth 2 clients, the OAuth 2 half of `/connected`, and the seeding of clients
//! from the configuration. The token, revocation, introspection and metadata endpoints are
//! the glue's handlers, mounted in `lib.rs`.

use crate::html::{ErrorPage, csrf_field, esc, page};
use crate::provider::{consent_csp, provider_auth, signed_in};
use crate::{AppState, DemoError, HtmlForm, check_callback, check_csrf, clip, csrf_token};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use keyward::common::random::{OsRandom, RandomSource};
use keyward::common::secret::SecretString;
use keyward::oauth2::provider::store::{OAuth2Store, StoreError};
use keyward::oauth2::provider::{
    AuthorizationRequest, ClientAuthMethod, ClientKind, Grant, GrantType, ProviderError, RegisteredClient,
};
use keyward_axum::oauth2_provider::{
    AuthorizeRejection, OAuth2Authorize, authorize_error_response, deny_response, grant_response,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use tower_sessions::Session;

/// The scope of the user's profile: at `/api/me`, and (with `openid`) the profile claims of
/// OpenID Connect (name, preferred_username, updated_at).
pub(crate) const PROFILE_SCOPE: &str = "profile";

/// OpenID Connect's scope: an ID token, and the userinfo endpoint.
pub(crate) const OPENID_SCOPE: &str = "openid";

/// The user's email address (OpenID Connect Core §5.4).
pub(crate) const EMAIL_SCOPE: &str = "email";

/// The scopes a seeded or registered client may ask for: the profile at `/api/me`, and
/// OpenID Connect with the profile and email claims.
pub(crate) const CLIENT_SCOPES: [&str; 3] = [OPENID_SCOPE, PROFILE_SCOPE, EMAIL_SCOPE];

keyward_axum::required_scopes!(pub(crate) Profile = "profile");

/// What a scope lets the application do, in the user's words.
pub(crate) fn scope_words(scope: &str) -> String {
    match scope {
        PROFILE_SCOPE => "read your profile (user name and when the account was made) at /api/me".to_owned(),
        OPENID_SCOPE => "sign you in with your identity at this provider (OpenID Connect)".to_owned(),
        EMAIL_SCOPE => "know your email address".to_owned(),
        other => format!("the scope {other}"),
    }
}

/// The session key of the authorization requests waiting for sign-in or consent: an id
/// (in the consent form) → when it lapses and the validated request.
const REQUESTS_KEY: &str = "demo_oauth2_requests";

/// Authorization requests kept at once per session; the oldest goes first.
const MAX_REQUESTS: usize = 5;

type Waiting = BTreeMap<String, (i64, AuthorizationRequest)>;

async fn waiting(session: &Session) -> Result<Waiting, ErrorPage> {
    session
        .get(REQUESTS_KEY)
        .await
        .map(Option::unwrap_or_default)
        .map_err(|e| ErrorPage::internal("reading the session", &e))
}

/// Keeps `request` in the session until sign-in and consent are done; returns its id.
async fn keep(session: &Session, request: AuthorizationRequest) -> Result<String, ErrorPage> {
    let now = crate::now();
    let mut map = waiting(session).await?;
    map.retain(|_, (lapses, _)| *lapses > now);
    while map.len() >= MAX_REQUESTS {
        let oldest = map.iter().min_by_key(|(_, (lapses, _))| *lapses).map(|(id, _)| id.clone());
        match oldest {
            Some(id) => map.remove(&id),
            None => break,
        };
    }
    if signed_in(session).await?.is_none() && !crate::client::signed_in_here(session).await? {
        // A visitor signed in nowhere keeps this session only as long as a login may take.
        session.set_expiry(Some(tower_sessions::Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(crate::LOGIN_TTL),
        )));
    }
    let id = OsRandom.alphanumeric(24);
    map.insert(id.clone(), (now + crate::LOGIN_TTL, request));
    session.insert(REQUESTS_KEY, &map).await.map_err(|e| ErrorPage::internal("writing the session", &e))?;
    Ok(id)
}

/// The kept request `id`, still live, and when it was kept; with `take`, removed from the
/// session.
async fn kept(session: &Session, id: &str, take: bool) -> Result<(AuthorizationRequest, i64), ErrorPage> {
    let mut map = waiting(session).await?;
    let found = if take { map.remove(id) } else { map.get(id).cloned() };
    if take {
        session
            .insert(REQUESTS_KEY, &map)
            .await
            .map_err(|e| ErrorPage::internal("writing the session", &e))?;
    }
    match found {
        Some((lapses, request)) if lapses > crate::now() => Ok((request, lapses - crate::LOGIN_TTL)),
        _ => Err(ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "This authorization request has ended",
            "The request is unknown in this browser, already answered, or older than 10 minutes. Start \
             the sign-in again from the application that sent you here.",
        )),
    }
}

/// The SHA-256 (base64) of the `form_post` page's one script, its `onload` attribute
/// `document.forms[0].submit()`, allowed by [`to_client`]'s policy.
const FORM_POST_SCRIPT: &str = "'sha256-ePniVEkSivX/c7XWBGafqh8tSpiRrKiqYeqbG7N1TOE='";

/// An authorization response on its way to the client at `redirect_uri`: a redirect goes as
/// it is; a `form_post` page (HTML) gets a policy that lets its one script run and its form
/// post to the redirect URI's origin, and nothing else.
fn to_client(mut response: Response, redirect_uri: &str) -> Response {
    let html = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        let csp = consent_csp(Some(redirect_uri)).replace(
            "default-src 'none';",
            &format!("default-src 'none'; script-src 'unsafe-hashes' {FORM_POST_SCRIPT};"),
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&csp) {
            response.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
    response
}

fn consent_path(id: &str) -> String {
    format!("/oauth2/consent?request={id}")
}

fn sign_in_path(next: &str) -> String {
    format!("/signin?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
}

/// The authorization endpoint, `GET` (query) or `POST` (form body): an invalid request is
/// answered as the server says (a page for an unknown client or redirect URI, else a
/// redirect with the error); a valid one goes through sign-in, then the consent page
/// unless the user's stored consent covers it. `prompt=none` gets `login_required` or
/// `consent_required` instead of a page.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    session: Session,
    request: Result<OAuth2Authorize, AuthorizeRejection>,
) -> Response {
    let request = match request {
        Ok(OAuth2Authorize(request)) => request,
        Err(rejection) if rejection.error.is_redirected() => {
            let redirect_uri =
                rejection.error.redirect.as_ref().map(|t| t.redirect_uri.clone()).unwrap_or_default();
            return to_client(rejection.into_response(), &redirect_uri);
        }
        Err(rejection) => {
            tracing::info!(error = ?clip(&rejection.error.error.to_string()), "OAuth 2 authorization request refused");
            return ErrorPage::new(
                StatusCode::BAD_REQUEST,
                "This authorization link is not valid",
                format!(
                    "{}. The application that sent you here is unknown or asked to send you to an address it \
                     did not register, so you are not sent back to it.",
                    capitalised(&rejection.error.error.to_string())
                ),
            )
            .into_response();
        }
    };
    let result = async {
        let server = state.oauth2.server();
        let user = signed_in(&session).await?;
        let reauthenticate = match &user {
            Some(_) => must_sign_in_again(&session, &request, None).await?,
            None => true,
        };
        let Some(user) = user.filter(|_| !reauthenticate) else {
            if request.prompt_none() {
                let uri = request.target.redirect_uri.clone();
                return Ok(to_client(
                    authorize_error_response(server, &request, ProviderError::LoginRequired),
                    &uri,
                ));
            }
            let id = keep(&session, request).await?;
            return Ok(Redirect::to(&sign_in_path(&consent_path(&id))).into_response());
        };
        let needed = server
            .consent_needed(&request, &user)
            .await
            .map_err(|e| ErrorPage::internal("reading the consent grants", &e))?;
        if !needed {
            tracing::info!(user = ?user, client_id = ?clip(&request.client_id), "OAuth 2 consent remembered");
            let grant = site_grant(&session, user, request.scopes.clone()).await?;
            let response = grant_response(server, &request, grant).await;
            return Ok(to_client(response, &request.target.redirect_uri));
        }
        if request.prompt_none() {
            let uri = request.target.redirect_uri.clone();
            return Ok(to_client(
                authorize_error_response(server, &request, ProviderError::ConsentRequired),
                &uri,
            ));
        }
        let id = keep(&session, request).await?;
        Ok::<_, ErrorPage>(Redirect::to(&consent_path(&id)).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Whether the signed-in user must sign in again before `request` is granted (OpenID
/// Connect Core §3.1.2.1): `prompt=login` (since the request was kept at `kept_at`, when
/// given: a sign-in after it counts), or a `max_age` older than the sign-in, whose time a
/// session signed in before it was kept does not know.
async fn must_sign_in_again(
    session: &Session,
    request: &AuthorizationRequest,
    kept_at: Option<i64>,
) -> Result<bool, ErrorPage> {
    if !request.prompt_login() && request.max_age.is_none() {
        return Ok(false);
    }
    let auth_time = provider_auth(session).await?.map(|a| a.auth_time);
    if request.prompt_login() {
        return Ok(match (kept_at, auth_time) {
            (Some(kept_at), Some(t)) => t < kept_at,
            _ => true,
        });
    }
    // prompt=login is not asked here, so only max_age decides.
    Ok(request.needs_reauthentication(auth_time, crate::now()))
}

/// The grant of `scopes` to `user`, with the provider sign-in's time and session id (for ID
/// tokens' `auth_time` and `sid`) when the session has them.
pub(crate) async fn site_grant(
    session: &Session,
    user: String,
    scopes: Vec<String>,
) -> Result<Grant, ErrorPage> {
    let grant = Grant::new(user, scopes);
    Ok(match provider_auth(session).await? {
        Some(auth) => grant.auth_time(auth.auth_time).sid(auth.sid).amr(["pwd"]),
        None => grant,
    })
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[derive(Deserialize)]
pub(crate) struct ConsentQuery {
    #[serde(default)]
    request: String,
}

/// The consent page of a kept authorization request: who asks, for which scopes, where the
/// answer goes; Grant or Deny. Signs the visitor in first; skipped when the stored consent
/// covers the request.
pub(crate) async fn consent_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ConsentQuery>,
) -> Result<Response, ErrorPage> {
    let (request, kept_at) = kept(&session, &q.request, false).await?;
    let user = match signed_in(&session).await? {
        Some(user) if !must_sign_in_again(&session, &request, Some(kept_at)).await? => user,
        _ => return Ok(Redirect::to(&sign_in_path(&consent_path(&q.request))).into_response()),
    };
    let server = state.oauth2.server();
    let needed = server
        .consent_needed(&request, &user)
        .await
        .map_err(|e| ErrorPage::internal("reading the consent grants", &e))?;
    if !needed {
        kept(&session, &q.request, true).await?;
        let grant = site_grant(&session, user, request.scopes.clone()).await?;
        let response = grant_response(server, &request, grant).await;
        return Ok(to_client(response, &request.target.redirect_uri));
    }
    let csrf = csrf_token(&session).await?;
    let app_name = request.client_name.clone().unwrap_or_else(|| request.client_id.clone());
    let scopes = if request.scopes.is_empty() {
        "<li>nothing beyond knowing that you granted access</li>".to_owned()
    } else {
        request
            .scopes
            .iter()
            .map(|s| format!("<li><code class=\"scope\">{}</code>: {}</li>", esc(s), esc(&scope_words(s))))
            .collect()
    };
    let unverified = if state
        .stores
        .has_owner(&request.client_id)
        .await
        .map_err(|e| ErrorPage::internal("reading the client", &e))?
    {
        "<p class=\"error\" id=\"unverified\">This application was registered by a user of this site; \
         its name is not verified. Grant only if you trust where it sends you.</p>"
    } else {
        ""
    };
    let csp = axum::http::HeaderValue::from_str(&consent_csp(Some(&request.target.redirect_uri)))
        .unwrap_or(axum::http::HeaderValue::from_static(crate::CSP));
    let body = format!(
        "<p>Signed in as <b>{user}</b>.</p>\
         <p>The application <b id=\"app-name\">{app}</b> (OAuth 2 client <code>{id}</code>) asks to:</p>\
         <ul id=\"scopes\">{scopes}</ul>{unverified}\
         <p>You will then be sent back to <code id=\"redirect-uri\">{redirect}</code>. You can withdraw this \
         later on <a href=\"/connected\">Connected applications</a>.</p>\
         <form method=\"post\" action=\"/oauth2/consent\" id=\"consent\">{csrf}\
         <input type=\"hidden\" name=\"request\" value=\"{request_id}\">\
         <button class=\"primary\" type=\"submit\" name=\"decision\" value=\"grant\" id=\"grant\">Grant</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></form>",
        user = esc(&user),
        app = esc(&app_name),
        id = esc(&request.client_id),
        redirect = esc(&request.target.redirect_uri),
        csrf = csrf_field(&csrf),
        request_id = esc(&q.request),
    );
    Ok((
        [
            (axum::http::header::CONTENT_SECURITY_POLICY, csp),
            (axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store")),
        ],
        page("Authorize an application", &body),
    )
        .into_response())
}

/// A consent form's answer (the OAuth 2 page and the device page): the CSRF field, the id
/// of the request kept in the session, and `decision=grant|deny`.
#[derive(Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    pub(crate) csrf: String,
    #[serde(default)]
    pub(crate) request: String,
    #[serde(default)]
    pub(crate) decision: String,
}

/// The consent form's answer: the code (and the consent remembered) or `access_denied`,
/// sent back to the client.
pub(crate) async fn decide(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<DecisionForm>,
) -> Result<Response, ErrorPage> {
    check_csrf(&session, &form.csrf).await?;
    let Some(user) = signed_in(&session).await? else {
        return Err(ErrorPage::new(
            StatusCode::UNAUTHORIZED,
            "Please sign in",
            "Your provider session ended. Start the sign-in again from the application.",
        ));
    };
    if !matches!(form.decision.as_str(), "grant" | "deny") {
        return Err(ErrorPage::new(StatusCode::BAD_REQUEST, "No decision", "Choose Grant or Deny."));
    }
    let (request, _) = kept(&session, &form.request, true).await?;
    let server = state.oauth2.server();
    tracing::info!(user = ?user, client_id = ?clip(&request.client_id), decision = ?form.decision, "OAuth 2 authorization decided");
    if form.decision == "deny" {
        return Ok(to_client(deny_response(server, &request), &request.target.redirect_uri));
    }
    let grant = site_grant(&session, user, request.scopes.clone()).await?;
    let response = grant_response(server, &request, grant).await;
    Ok(to_client(response, &request.target.redirect_uri))
}

/// The registered client of a seeded one, checked; the problem names the key to fix.
pub(crate) fn seeded_client(seed: &crate::SeedOAuth2Client) -> Result<RegisteredClient, DemoError> {
    let invalid = |key: &str, reason: String| crate::ConfigError::Invalid {
        key: format!("OAuth 2 client {key}"),
        reason,
    };
    if seed.client_id.trim().is_empty() {
        return Err(invalid("client_id", "must not be empty".into()).into());
    }
    let mut client = if seed.public {
        RegisteredClient::public(seed.client_id.trim())
    } else {
        match &seed.client_secret {
            Some(s) if !s.secret().is_empty() => {
                RegisteredClient::confidential(seed.client_id.trim(), s.secret())
            }
            _ => {
                return Err(invalid(
                    "client_secret",
                    format!("{} is confidential and needs a secret (or set public)", seed.client_id),
                )
                .into());
            }
        }
    };
    let mut uris = Vec::new();
    for uri in seed.redirect_uris.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        check_callback(uri).map_err(|r| invalid("redirect_uris", r))?;
        uris.push(uri.to_owned());
    }
    let mut grants = Vec::new();
    for name in seed.grant_types.iter().map(|g| g.trim()).filter(|g| !g.is_empty()) {
        let grant: GrantType = name.parse().map_err(|_| {
            invalid(
                "grant_types",
                format!(
                    "unknown grant type `{name}` (authorization_code, refresh_token, client_credentials, \
                     urn:ietf:params:oauth:grant-type:device_code)"
                ),
            )
        })?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    if grants.is_empty() {
        grants = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    }
    if seed.public && grants.contains(&GrantType::ClientCredentials) {
        return Err(invalid("grant_types", "a public client cannot use client_credentials".into()).into());
    }
    if grants.contains(&GrantType::AuthorizationCode) && uris.is_empty() {
        return Err(invalid(
            "redirect_uris",
            format!("{} uses authorization_code and needs one", seed.client_id),
        )
        .into());
    }
    client.client_name = seed.name.clone();
    client.redirect_uris = uris;
    client.grant_types = grants;
    client.scopes = CLIENT_SCOPES.map(str::to_owned).into();
    client.created_at = crate::now();
    Ok(client)
}

/// Registers `client`, or replaces the one with its identifier (instances starting together
/// may both try to create it: the one that finds it made replaces it).
pub(crate) async fn put_client(store: &dyn OAuth2Store, client: &RegisteredClient) -> Result<(), DemoError> {
    if store.update_registered_client(client).await? {
        return Ok(());
    }
    match store.create_registered_client(client).await {
        Err(StoreError::Duplicate) => {
            store.update_registered_client(client).await?;
            Ok(())
        }
        other => Ok(other?),
    }
}

/// The demo site's own OAuth 2 client at its own server (confidential, `client_secret_basic`,
/// code + PKCE, redirect to `{base}/auth/{OWN_OAUTH2_APP}`): made once with a random secret,
/// then kept with it (so that instances sharing a store share the secret); returns the
/// secret the registry uses.
pub(crate) async fn ensure_own_client(
    store: &dyn OAuth2Store,
    base_url: &str,
) -> Result<SecretString, DemoError> {
    let own = RegisteredClient::confidential(crate::OWN_OAUTH2_CLIENT_ID, "")
        .with_redirect_uris([format!("{base_url}/auth/{}", crate::OWN_OAUTH2_APP)])
        .with_scopes([PROFILE_SCOPE]);
    ensure_site_client(store, own, "Keyward demo site").await
}

/// One of the demo site's own clients at its own server, `wanted` as it should be (its
/// secret aside): made once with a random secret, then kept with it (so that instances
/// sharing a store share the secret), its metadata updated when the public URL changed;
/// returns the secret the registry uses.
pub(crate) async fn ensure_site_client(
    store: &dyn OAuth2Store,
    wanted: RegisteredClient,
    name: &str,
) -> Result<SecretString, DemoError> {
    let now = crate::now();
    let id = wanted.client_id.clone();
    let stored_secret = |c: &RegisteredClient| c.secrets.iter().find_map(|s| s.plain_value(now).cloned());
    let own = |secret: &SecretString, created_at: i64| {
        let mut client = RegisteredClient::confidential(&id, secret.secret());
        client.redirect_uris = wanted.redirect_uris.clone();
        client.scopes = wanted.scopes.clone();
        client.post_logout_redirect_uris = wanted.post_logout_redirect_uris.clone();
        client.backchannel_logout_uri = wanted.backchannel_logout_uri.clone();
        client.backchannel_logout_session_required = wanted.backchannel_logout_session_required;
        client.client_name = Some(name.into());
        client.created_at = created_at;
        client
    };
    let mut existing = store.get_registered_client(&id).await?;
    if existing.as_ref().and_then(stored_secret).is_none() {
        // 43 alphanumerics: over 256 bits.
        let fresh = own(&SecretString::new(OsRandom.alphanumeric(43)), now);
        let made = match existing {
            Some(_) => store.update_registered_client(&fresh).await.map(|_| ()),
            None => store.create_registered_client(&fresh).await,
        };
        match made {
            Ok(()) | Err(StoreError::Duplicate) => {}
            Err(e) => return Err(e.into()),
        }
        // Another instance may have made it first: its secret is the one.
        existing = store.get_registered_client(&id).await?;
    }
    let existing =
        existing.ok_or_else(|| StoreError::Corrupt(format!("the site's client {id} is missing")))?;
    let secret = stored_secret(&existing)
        .ok_or_else(|| StoreError::Corrupt(format!("the site's client {id} has no usable secret")))?;
    // The public URL may have changed since it was made.
    let wanted = own(&secret, existing.created_at);
    let changed = existing.redirect_uris != wanted.redirect_uris
        || existing.client_name != wanted.client_name
        || existing.scopes != wanted.scopes
        || existing.post_logout_redirect_uris != wanted.post_logout_redirect_uris
        || existing.backchannel_logout_uri != wanted.backchannel_logout_uri
        || existing.backchannel_logout_session_required != wanted.backchannel_logout_session_required;
    if changed {
        store.update_registered_client(&wanted).await?;
    }
    Ok(secret)
}

/// The OAuth 2 part of `/developer`: the endpoints, the registration form, and the user's
/// OAuth 2 clients.
pub(crate) async fn developer_section(
    state: &AppState,
    csrf: &str,
    ids: &[String],
) -> Result<String, ErrorPage> {
    let mut rows = String::new();
    for id in ids {
        let Some(c) = state
            .oauth2
            .server()
            .store()
            .get_registered_client(id)
            .await
            .map_err(|e| ErrorPage::internal("reading a client", &e))?
        else {
            continue;
        };
        rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.client_id),
            esc(c.client_name.as_deref().unwrap_or("")),
            if c.kind == ClientKind::Public { "public" } else { "confidential" },
            c.redirect_uris
                .iter()
                .map(|u| format!("<code>{}</code>", esc(u)))
                .collect::<Vec<_>>()
                .join("<br>"),
            c.grant_types.iter().map(|g| esc(g.as_str())).collect::<Vec<_>>().join(", "),
        ));
    }
    let base = esc(&state.base_url);
    Ok(format!(
        "<h2>OAuth 2.1</h2><p>The same users also sign in to OAuth 2 clients (authorization code with PKCE \
         S256, refresh tokens, client credentials, device codes):</p>\
         <table id=\"oauth2-endpoints\"><tr><th>Metadata (RFC 8414)</th><td><code>GET {base}/.well-known/oauth-authorization-server</code></td></tr>\
         <tr><th>Authorization</th><td><code>GET {base}/oauth2/authorize</code></td></tr>\
         <tr><th>Token</th><td><code>POST {base}/oauth2/token</code></td></tr>\
         <tr><th>Device authorization (RFC 8628)</th><td><code>POST {base}/oauth2/device_authorization</code>; \
         the user types the code at <a href=\"/device\"><code>{base}/device</code></a></td></tr>\
         <tr><th>Revocation</th><td><code>POST {base}/oauth2/revoke</code></td></tr>\
         <tr><th>Introspection</th><td><code>POST {base}/oauth2/introspect</code></td></tr>\
         <tr><th>User (protected)</th><td><code>GET {base}/api/me</code> with <code>Authorization: Bearer …</code>, \
         scope <code>profile</code></td></tr></table>\
         <h3>Register an OAuth 2 client</h3>\
         <form method=\"post\" action=\"/developer/oauth2\" id=\"register-oauth2\">{csrf}\
         <label>Application name (unique) <input name=\"name\" required maxlength=\"{max_name}\"></label>\
         <p>Client type: <label style=\"display:inline\"><input type=\"radio\" name=\"kind\" value=\"confidential\" \
         checked style=\"width:auto\"> confidential (a server that keeps a secret)</label> \
         <label style=\"display:inline\"><input type=\"radio\" name=\"kind\" value=\"public\" style=\"width:auto\"> \
         public (a browser or native app: no secret)</label></p>\
         <label>Redirect URIs, one per line, matched exactly (<code>http://127.0.0.1:PORT/…</code> matches \
         any port) <textarea name=\"redirect_uris\" rows=\"3\" placeholder=\"https://app.example/callback\"></textarea></label>\
         <p>Grant types: \
         <label style=\"display:inline\"><input type=\"checkbox\" name=\"grant_types\" value=\"authorization_code\" checked style=\"width:auto\"> authorization_code</label> \
         <label style=\"display:inline\"><input type=\"checkbox\" name=\"grant_types\" value=\"refresh_token\" checked style=\"width:auto\"> refresh_token</label> \
         <label style=\"display:inline\"><input type=\"checkbox\" name=\"grant_types\" value=\"client_credentials\" style=\"width:auto\"> client_credentials</label> \
         <label style=\"display:inline\"><input type=\"checkbox\" name=\"grant_types\" value=\"urn:ietf:params:oauth:grant-type:device_code\" style=\"width:auto\"> device_code (a TV or command-line app: the user types a code at <code>{base}/device</code>)</label></p>\
         <button class=\"primary\" type=\"submit\">Register the OAuth 2 client</button></form>\
         <h3>Your OAuth 2 clients</h3><table id=\"oauth2-clients\"><tr><th>Client id</th><th>Name</th><th>Type</th>\
         <th>Redirect URIs</th><th>Grant types</th></tr>{rows}</table>",
        csrf = csrf_field(csrf),
        max_name = crate::provider::MAX_APP_NAME,
    ))
}

/// The fields of the OAuth 2 registration form; `grant_types` repeats.
fn register_fields(body: &[u8]) -> (String, String, String, String, Vec<String>) {
    let (mut csrf, mut name, mut kind, mut uris, mut grants) =
        (String::new(), String::new(), String::new(), String::new(), Vec::new());
    for (k, v) in url::form_urlencoded::parse(body) {
        match &*k {
            "csrf" => csrf = v.into_owned(),
            "name" => name = v.into_owned(),
            "kind" => kind = v.into_owned(),
            "redirect_uris" => uris = v.into_owned(),
            "grant_types" => grants.push(v.into_owned()),
            _ => {}
        }
    }
    (csrf, name, kind, uris, grants)
}

/// Registers an OAuth 2 client for the signed-in user: a generated client id and, for a
/// confidential client, a generated secret of 256 bits shown once (the server keeps its
/// SHA-256).
pub(crate) async fn register_client(
    State(state): State<AppState>,
    session: Session,
    body: axum::body::Bytes,
) -> Result<Response, ErrorPage> {
    let (csrf, name, kind, uris, grant_names) = register_fields(&body);
    check_csrf(&session, &csrf).await?;
    let Some(user) = signed_in(&session).await? else {
        return Ok(Redirect::to("/signin?next=/developer").into_response());
    };
    let bad = |detail: String| {
        ErrorPage::new(StatusCode::BAD_REQUEST, "The OAuth 2 client was not registered", detail)
    };
    let max_name = crate::provider::MAX_APP_NAME;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > max_name || name.chars().any(char::is_control) {
        return Err(bad(format!("Give the application a name of at most {max_name} characters.")));
    }
    let public = match kind.as_str() {
        "confidential" | "" => false,
        "public" => true,
        _ => return Err(bad("Choose confidential or public.".into())),
    };
    let mut redirect_uris: Vec<String> = Vec::new();
    for line in uris.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.len() > crate::provider::MAX_CALLBACK {
            return Err(bad(format!("A redirect URI is at most {} bytes.", crate::provider::MAX_CALLBACK)));
        }
        check_callback(line).map_err(|r| bad(format!("The redirect URI is not usable: {r}.")))?;
        if !redirect_uris.iter().any(|c| c == line) {
            redirect_uris.push(line.to_owned());
        }
    }
    if redirect_uris.len() > crate::provider::MAX_CALLBACKS {
        return Err(bad(format!("Give at most {} redirect URIs.", crate::provider::MAX_CALLBACKS)));
    }
    let mut grants = Vec::new();
    for g in &grant_names {
        let grant = match g.as_str() {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            "client_credentials" => GrantType::ClientCredentials,
            "urn:ietf:params:oauth:grant-type:device_code" => GrantType::DeviceCode,
            _ => return Err(bad("Choose grant types from the list.".into())),
        };
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    if grants.is_empty() {
        return Err(bad("Choose at least one grant type.".into()));
    }
    if public && grants.contains(&GrantType::ClientCredentials) {
        return Err(bad("A public client has no secret, so it cannot use client_credentials.".into()));
    }
    if grants.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(
            bad("An authorization_code client needs at least one redirect URI, one per line.".into()),
        );
    }
    let store_err = |e: keyward_stores::store::StoreError| ErrorPage::internal("registering the client", &e);
    let owned = state.stores.client_ids_of(&user).await.map_err(store_err)?;
    if owned.len() >= state.limits.max_clients_per_user {
        return Err(bad(format!(
            "You have registered {} clients, the most one user may.",
            state.limits.max_clients_per_user
        )));
    }
    if name_taken(&state, name).await? {
        return Err(bad("An application with this name is already registered. Choose another name.".into()));
    }
    let server = state.oauth2.server();
    let client_id = OsRandom.alphanumeric(24);
    let (mut client, secret) = if public {
        (RegisteredClient::public(&client_id), None)
    } else {
        let (secret, stored) = server.generate_client_secret();
        let mut client = RegisteredClient::confidential(&client_id, "");
        client.secrets = vec![stored];
        (client.with_auth_method(ClientAuthMethod::ClientSecretBasic), Some(secret))
    };
    client.client_name = Some(name.to_owned());
    client.redirect_uris = redirect_uris;
    client.grant_types = grants;
    client.scopes = CLIENT_SCOPES.map(str::to_owned).into();
    client.created_at = crate::now();
    server.store().create_registered_client(&client).await.map_err(store_err)?;
    state.stores.put_owner(&client_id, &user).await.map_err(store_err)?;
    tracing::info!(client_id = ?client_id, by = ?user, public, "OAuth 2 client registered");
    let secret_row = match &secret {
        Some(s) => format!(
            "<tr><th>Client secret (<code>client_secret_basic</code> or <code>client_secret_post</code>)</th>\
             <td><code id=\"oauth2-client-secret\">{}</code></td></tr>",
            esc(s.secret())
        ),
        None => "<tr><th>Client secret</th><td>none: a public client authenticates with <code>none</code> \
                 and always uses PKCE</td></tr>"
            .to_owned(),
    };
    let copy = if secret.is_some() { " Copy the secret now: it is not shown again." } else { "" };
    let body = format!(
        "<div class=\"ok\"><p>Registered the OAuth 2 client <b>{name}</b>.{copy}</p>\
         <table><tr><th>Client id</th><td><code id=\"oauth2-client-id\">{id}</code></td></tr>{secret_row}</table></div>{rest}",
        name = esc(name),
        id = esc(&client_id),
        rest = crate::provider::developer_body(&state, &session, &user).await?,
    );
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], page("Developers", &body)).into_response())
}

/// Whether an OAuth 1 client or a user's OAuth 2 client already has this name (compared
/// case-folded, runs of spaces as one).
async fn name_taken(state: &AppState, name: &str) -> Result<bool, ErrorPage> {
    let err = |e: keyward_stores::store::StoreError| ErrorPage::internal("reading the clients", &e);
    if state.stores.client_name_taken(name).await.map_err(err)? {
        return Ok(true);
    }
    let wanted = crate::store::fold_name(name);
    for id in state.stores.owned_client_ids().await.map_err(err)? {
        if let Some(c) = state.oauth2.server().store().get_registered_client(&id).await.map_err(err)?
            && c.client_name.as_deref().is_some_and(|n| crate::store::fold_name(n) == wanted)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The OAuth 2 part of `/connected`: the user's consent grants, each with a revoke button.
pub(crate) async fn connected_section(state: &AppState, csrf: &str, user: &str) -> Result<String, ErrorPage> {
    let server = state.oauth2.server();
    let grants = server.list_grants(user).await.map_err(|e| ErrorPage::internal("listing the grants", &e))?;
    if grants.is_empty() {
        return Ok(
            "<h2>OAuth 2</h2><p id=\"no-oauth2-grants\">You have granted no OAuth 2 application access.</p>"
                .to_owned(),
        );
    }
    let mut rows = String::new();
    for grant in &grants {
        let name = server
            .store()
            .get_registered_client(&grant.client_id)
            .await
            .map_err(|e| ErrorPage::internal("reading a client", &e))?
            .and_then(|c| c.client_name)
            .unwrap_or_else(|| "(unnamed)".into());
        rows.push_str(&format!(
            "<tr><td>{name}</td><td><code>{client}</code></td><td>{scopes}</td><td>{at}</td>\
             <td><form class=\"inline\" method=\"post\" action=\"/connected/revoke-oauth2\">{csrf}\
             <input type=\"hidden\" name=\"client_id\" value=\"{client}\">\
             <button type=\"submit\">Revoke</button></form></td></tr>",
            name = esc(&name),
            client = esc(&grant.client_id),
            scopes = esc(&grant.scopes.join(" ")),
            at = esc(&crate::client::utc_time(grant.granted_at)),
            csrf = csrf_field(csrf),
        ));
    }
    Ok(format!(
        "<h2>OAuth 2</h2><p>Revoking a grant also revokes every access and refresh token the application holds \
         for you.</p><table id=\"oauth2-grants\"><tr><th>Application</th><th>Client id</th><th>Scopes</th>\
         <th>Granted at</th><th></th></tr>{rows}</table>"
    ))
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    client_id: String,
}

/// Withdraws the signed-in user's OAuth 2 grant to a client and revokes its tokens.
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
        .oauth2
        .server()
        .revoke_grant(&user, &form.client_id)
        .await
        .map_err(|e| ErrorPage::internal("revoking the grant", &e))?;
    tracing::info!(user = ?user, client_id = ?clip(&form.client_id), revoked, "OAuth 2 grant revoked");
    Ok(Redirect::to("/connected").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward::oauth2::provider::store::OAuth2ClientStore;

    #[tokio::test]
    async fn the_own_client_keeps_its_secret_across_starts_and_follows_the_public_url() {
        let store = keyward_stores::MemoryStore::new();
        let (a, b) = tokio::join!(
            ensure_own_client(&store, "http://127.0.0.1:8000"),
            ensure_own_client(&store, "http://127.0.0.1:8000")
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.secret(), b.secret(), "instances starting together share one secret");
        assert!(a.secret().len() >= 43);
        let moved = ensure_own_client(&store, "https://demo.example").await.unwrap();
        assert_eq!(moved.secret(), a.secret());
        let client = store.get_registered_client(crate::OWN_OAUTH2_CLIENT_ID).await.unwrap().unwrap();
        assert_eq!(client.redirect_uris, ["https://demo.example/auth/keyward-oauth2"]);
        assert!(client.secret_matches(a.secret(), crate::now()));
    }

    #[tokio::test]
    async fn a_seeded_client_is_created_then_replaced() {
        let store = keyward_stores::MemoryStore::new();
        let mut seed = crate::SeedOAuth2Client {
            client_id: "app".into(),
            client_secret: Some(SecretString::new("first")),
            redirect_uris: vec!["https://app.example/cb".into()],
            grant_types: Vec::new(),
            public: false,
            name: None,
        };
        put_client(&store, &seeded_client(&seed).unwrap()).await.unwrap();
        seed.client_secret = Some(SecretString::new("second"));
        put_client(&store, &seeded_client(&seed).unwrap()).await.unwrap();
        let client = store.get_registered_client("app").await.unwrap().unwrap();
        assert!(
            client.secret_matches("second", crate::now()) && !client.secret_matches("first", crate::now())
        );
        assert_eq!(client.grant_types, [GrantType::AuthorizationCode, GrantType::RefreshToken]);
        assert_eq!(client.scopes, CLIENT_SCOPES);
    }
}

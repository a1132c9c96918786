//! Logout for relying parties, in the registry: [`RemoteApp::logout_redirect`] (OpenID
//! Connect RP-Initiated Logout 1.0) and [`BackchannelReceiver`], the receiving end of
//! Back-Channel Logout 1.0, which validates the provider's logout token and calls the
//! application's [`BackchannelLogout`] hook.
//!
//! At login, [`RemoteApp::authorize_access_token`] keeps the OpenID Connect login of each
//! app in the session (under [`LOGINS_KEY`]: the ID token for `id_token_hint`, its `sub` and
//! `sid`); [`RemoteApp::logout_redirect`] takes it out again.

use super::OAuth;
use super::app::{Driver, RemoteApp};
use super::config::ConfigError;
use super::error::Error;
use super::token::{AppToken, HookError};
use crate::session::Session;
use keyward::common::ErrorBody;
use keyward::common::encoding::parse_form;
use keyward::common::http_client::BoxFuture;
use keyward::common::store::OnceStore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

pub use crate::flow::LOGINS_KEY;

/// The largest back-channel logout request body read, in bytes (a logout token is a
/// signed JWT of a few hundred bytes to a few kilobytes).
pub const MAX_BACKCHANNEL_BYTES: usize = 64 * 1024;

/// An OpenID Connect login as the session keeps it, from the validated ID token.
///
/// Its `Debug` redacts the ID token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLogin {
    /// The ID token, sent back as `id_token_hint` at logout.
    pub id_token: String,
    /// The user at the provider (`sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The provider's session id (`sid`), when its ID tokens carry one: what a
    /// back-channel logout token names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl std::fmt::Debug for SessionLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLogin")
            .field("id_token", &"[redacted]")
            .field("sub", &self.sub)
            .field("sid", &self.sid)
            .finish()
    }
}

type Logins = BTreeMap<String, SessionLogin>;

async fn read_logins(session: &dyn Session) -> Result<Logins, Error> {
    Ok(match session.get(LOGINS_KEY).await? {
        // A value this version cannot read is dropped rather than failing every logout.
        Some(value) => serde_json::from_value(value).unwrap_or_default(),
        None => Logins::new(),
    })
}

async fn write_logins(session: &dyn Session, logins: &Logins) -> Result<(), Error> {
    if logins.is_empty() {
        session.remove(LOGINS_KEY).await?;
    } else {
        let value =
            serde_json::to_value(logins).map_err(|e| crate::session::SessionError(format!("logins: {e}")))?;
        session.insert(LOGINS_KEY, value).await?;
    }
    Ok(())
}

/// Keeps the login of `app` in the session when `token` carries an ID token (validated by
/// the exchange), so that logout can send it as `id_token_hint`.
pub(crate) async fn remember_login(session: &dyn Session, app: &str, token: &AppToken) -> Result<(), Error> {
    let Some(t) = token.oauth2() else { return Ok(()) };
    let Some(id_token) = &t.id_token else { return Ok(()) };
    let claim = |name: &str| {
        t.userinfo.as_ref().and_then(|u| u.get(name)).and_then(serde_json::Value::as_str).map(str::to_owned)
    };
    let mut logins = read_logins(session).await?;
    logins.insert(
        app.to_owned(),
        SessionLogin { id_token: id_token.clone(), sub: claim("sub"), sid: claim("sid") },
    );
    write_logins(session, &logins).await
}

impl RemoteApp {
    /// The OpenID Connect login of this app kept in `session` by
    /// [`authorize_access_token`](Self::authorize_access_token), if any.
    pub async fn session_login(&self, session: &dyn Session) -> Result<Option<SessionLogin>, Error> {
        Ok(read_logins(session).await?.remove(self.name()))
    }

    /// Starts an RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0 §2): removes
    /// this app's login from `session` and returns the redirect to the provider's
    /// `end_session_endpoint` (from discovery) with `id_token_hint` (the ID token of that
    /// login, when there is one), `client_id`, `post_logout_redirect_uri` (it must be
    /// registered at the provider) and `state` (returned on that URI).
    ///
    /// The session's own sign-in (whatever the application keeps) is the application's to
    /// end. An OAuth 1 app, or a provider without `end_session_endpoint`, is a
    /// [`ConfigError::Missing`]; the login is then left in the session.
    pub async fn logout_redirect(
        &self,
        session: &dyn Session,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<super::Redirect, Error> {
        let missing = || ConfigError::Missing {
            app: self.name().to_owned(),
            key: "server_metadata_url",
            why: "RP-initiated logout uses the provider's end_session_endpoint",
        };
        let Driver::OAuth2(client) = &self.inner.driver else { return Err(missing().into()) };
        if client.config().server_metadata_url.is_none() {
            return Err(missing().into());
        }
        let mut logins = read_logins(session).await?;
        let login = logins.get(self.name());
        let url = client
            .end_session_url(login.map(|l| l.id_token.as_str()), post_logout_redirect_uri, state)
            .await?;
        if logins.remove(self.name()).is_some() {
            write_logins(session, &logins).await?;
        }
        Ok(super::Redirect { url })
    }
}

/// The application's hook that ends the sessions a back-channel logout names (Back-Channel
/// §2.7): every session of `sub` at the provider, or the one whose provider session id is
/// `sid` (at least one of the two is present), for app `app`.
///
/// It runs after the logout token was validated and its `jti` recorded. An error answers
/// the provider `501` (§2.8: the logout failed).
pub trait BackchannelLogout: Send + Sync {
    /// Ends the matching sessions.
    fn on_backchannel_logout<'a>(
        &'a self,
        app: &'a str,
        sub: Option<&'a str>,
        sid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), HookError>>;
}

impl<F, Fut> BackchannelLogout for F
where
    F: Fn(String, Option<String>, Option<String>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HookError>> + Send + 'static,
{
    fn on_backchannel_logout<'a>(
        &'a self,
        app: &'a str,
        sub: Option<&'a str>,
        sid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(self(app.to_owned(), sub.map(str::to_owned), sid.map(str::to_owned)))
    }
}

/// Why a back-channel logout request was not carried out, and so the answer
/// ([`BackchannelRejection::status`], Back-Channel §2.8).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackchannelRejection {
    /// No app of that name is registered (`404`).
    #[error("no remote app is registered as `{0}`")]
    UnknownApp(String),
    /// The request is not a form `POST` with exactly one `logout_token` (`400`).
    #[error("invalid back-channel logout request: {0}")]
    Request(String),
    /// The logout token was refused (`400`), or could not be checked (`501`).
    #[error(transparent)]
    Token(#[from] crate::oauth2::LogoutError),
    /// The app speaks OAuth 1, which has no back-channel logout (`501`).
    #[error("app `{0}` is not an OpenID Connect app")]
    NotOidc(String),
    /// The application's hook failed (`501`).
    #[error("the back-channel logout hook failed: {0}")]
    Hook(#[source] HookError),
}

impl BackchannelRejection {
    /// The status of the answer (§2.8): `400` for an invalid request or token, `404` for
    /// an unknown app, `501` when the logout could not be carried out here (keys or
    /// replay store unreachable, hook failed, not an OpenID Connect app). Never a `500`.
    pub fn status(&self) -> http::StatusCode {
        match self {
            BackchannelRejection::UnknownApp(_) => http::StatusCode::NOT_FOUND,
            BackchannelRejection::Request(_) => http::StatusCode::BAD_REQUEST,
            BackchannelRejection::Token(e) if e.is_invalid_token() => http::StatusCode::BAD_REQUEST,
            _ => http::StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// The body of a `400` (§2.8): `{"error":"invalid_request","error_description":…}`.
    pub fn error_body(&self) -> Option<ErrorBody> {
        (self.status() == http::StatusCode::BAD_REQUEST)
            .then(|| ErrorBody::new("invalid_request").with_description(self.to_string()))
    }

    /// The answer: the status, `Cache-Control: no-store`, and the JSON error body of a `400`.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        let body = self.error_body().map(|b| serde_json::to_vec(&b).unwrap_or_default()).unwrap_or_default();
        let mut builder =
            http::Response::builder().status(self.status()).header(http::header::CACHE_CONTROL, "no-store");
        if !body.is_empty() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        builder.body(body).unwrap_or_default()
    }
}

/// The receiving end of Back-Channel Logout 1.0 for the apps of a registry: validates the
/// provider's `logout_token` (§2.6; its `jti` single-use through `store`, namespace
/// `"logout"`), then calls the [`BackchannelLogout`] hook. Cheap to clone.
///
/// The store must remember across the instances that receive logouts (Redis or SQL for a
/// fleet); a memory store should have its replay epoch started at start-up, or logout
/// tokens issued before its first use are refused as unprovable.
#[derive(Clone)]
pub struct BackchannelReceiver {
    oauth: OAuth,
    store: Arc<dyn OnceStore>,
    hook: Arc<dyn BackchannelLogout>,
}

impl std::fmt::Debug for BackchannelReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackchannelReceiver").field("oauth", &self.oauth).finish_non_exhaustive()
    }
}

/// A logout carried out: what the token named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelLogoutDone {
    /// The app.
    pub app: String,
    /// The token's `sub`.
    pub sub: Option<String>,
    /// The token's `sid`.
    pub sid: Option<String>,
}

impl BackchannelReceiver {
    /// A receiver for the apps of `oauth`, recording `jti`s in `store`, calling `hook`.
    pub fn new(oauth: OAuth, store: Arc<dyn OnceStore>, hook: impl BackchannelLogout + 'static) -> Self {
        Self { oauth, store, hook: Arc::new(hook) }
    }

    /// Handles the form body of a back-channel logout `POST` for app `app` (§2.5: the form
    /// holds one `logout_token`): validates the token, records its `jti`, calls the hook.
    pub async fn receive(
        &self,
        app: &str,
        form_body: &[u8],
    ) -> Result<BackchannelLogoutDone, BackchannelRejection> {
        let remote = self.oauth.client(app).map_err(|_| BackchannelRejection::UnknownApp(app.to_owned()))?;
        let Some(client) = remote.oauth2() else { return Err(BackchannelRejection::NotOidc(app.to_owned())) };
        let text = std::str::from_utf8(form_body)
            .map_err(|_| BackchannelRejection::Request("the body is not UTF-8".into()))?;
        let pairs = parse_form(text).map_err(|e| BackchannelRejection::Request(e.to_string()))?;
        let mut tokens = pairs.iter().filter(|(k, _)| k == "logout_token").map(|(_, v)| v.as_str());
        let token = match (tokens.next(), tokens.next()) {
            (Some(t), None) if !t.is_empty() => t,
            (Some(_), Some(_)) => {
                return Err(BackchannelRejection::Request("logout_token is repeated".into()));
            }
            _ => return Err(BackchannelRejection::Request("no logout_token".into())),
        };
        let claims = client.validate_logout_token(token, self.store.as_ref()).await?;
        self.hook
            .on_backchannel_logout(app, claims.sub.as_deref(), claims.sid.as_deref())
            .await
            .map_err(BackchannelRejection::Hook)?;
        Ok(BackchannelLogoutDone { app: app.to_owned(), sub: claims.sub, sid: claims.sid })
    }

    /// [`receive`](Self::receive) for a whole request: a `POST` with an
    /// `application/x-www-form-urlencoded` body of at most [`MAX_BACKCHANNEL_BYTES`] (else
    /// [`BackchannelRejection::Request`]).
    pub async fn process(
        &self,
        app: &str,
        request: &http::Request<Vec<u8>>,
    ) -> Result<BackchannelLogoutDone, BackchannelRejection> {
        check_request(request)?;
        self.receive(app, request.body()).await
    }

    /// The answer to an outcome of [`process`](Self::process), as §2.8 says: `200` with
    /// `Cache-Control: no-store` on success, else [`BackchannelRejection::to_response`].
    pub fn respond(outcome: &Result<BackchannelLogoutDone, BackchannelRejection>) -> http::Response<Vec<u8>> {
        match outcome {
            Ok(_) => http::Response::builder()
                .status(http::StatusCode::OK)
                .header(http::header::CACHE_CONTROL, "no-store")
                .body(Vec::new())
                .unwrap_or_default(),
            Err(e) => e.to_response(),
        }
    }

    /// [`process`](Self::process), then [`respond`](Self::respond).
    pub async fn handle(&self, app: &str, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        Self::respond(&self.process(app, request).await)
    }
}

fn check_request(request: &http::Request<Vec<u8>>) -> Result<(), BackchannelRejection> {
    if request.method() != http::Method::POST {
        return Err(BackchannelRejection::Request("the method is not POST".into()));
    }
    let form = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form {
        return Err(BackchannelRejection::Request(
            "the body is not application/x-www-form-urlencoded".into(),
        ));
    }
    if request.body().len() > MAX_BACKCHANNEL_BYTES {
        return Err(BackchannelRejection::Request("the body is too large".into()));
    }
    Ok(())
}

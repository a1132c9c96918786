//! The OpenID Connect parameters of an authorization request (Core §3.1.2.1, §5.5, §6):
//! read into the [`AuthorizationRequest`] for the application, and the helpers it decides
//! with (`prompt`, `max_age`).

use serde_json::Value;

use super::claims::parse_claims_parameter;
use crate::oauth2::provider::server::Form;
use crate::oauth2::provider::store::AuthSession;
use crate::oauth2::provider::{
    AuthorizationRequest, AuthorizationServer, Grant, ProviderError, RegisteredClient,
};

/// The `prompt` values the server knows (Core §3.1.2.1).
pub const PROMPT_VALUES: &[&str] = &["none", "login", "consent", "select_account"];

/// The `display` values (Core §3.1.2.1).
pub const DISPLAY_VALUES: &[&str] = &["page", "popup", "touch", "wap"];

/// The parameters of this module, as names the authorization endpoint does not put in
/// [`AuthorizationRequest::extra`].
pub(crate) const PARAMETERS: &[&str] = &[
    "max_age",
    "login_hint",
    "id_token_hint",
    "ui_locales",
    "acr_values",
    "claims",
    "display",
    "request",
    "request_uri",
];

/// The longest `login_hint`, `id_token_hint`, `ui_locales` and `acr_values` accepted.
const MAX_VALUE: usize = 4096;

/// The OpenID Connect parameters of one request.
#[derive(Debug, Default)]
pub(crate) struct OpenIdParams {
    pub(crate) max_age: Option<i64>,
    pub(crate) login_hint: Option<String>,
    pub(crate) id_token_hint: Option<String>,
    pub(crate) ui_locales: Vec<String>,
    pub(crate) acr_values: Vec<String>,
    pub(crate) claims: Option<Value>,
    pub(crate) display: Option<String>,
}

/// Refuses request objects (Core §6): `request` is `request_not_supported`, `request_uri`
/// is `request_uri_not_supported` (§3.1.2.6). The one place a `request_uri` is judged.
pub(crate) fn check_request_objects(form: &Form) -> Result<(), ProviderError> {
    if form.get("request").is_some() {
        return Err(ProviderError::RequestNotSupported);
    }
    if form.get("request_uri").is_some() {
        return Err(ProviderError::RequestUriNotSupported);
    }
    Ok(())
}

/// Reads and checks the OpenID Connect parameters of `form` for `client`: `max_age` a
/// non-negative integer (the client's `default_max_age` without one), `display` one of
/// [`DISPLAY_VALUES`], `claims` a well-formed `claims` parameter (§5.5); else
/// `invalid_request`.
pub(crate) fn read_params(form: &Form, client: &RegisteredClient) -> Result<OpenIdParams, ProviderError> {
    let bad = ProviderError::InvalidRequest;
    let text = |name: &str| -> Result<Option<String>, ProviderError> {
        match form.get(name) {
            Some(v) if v.len() > MAX_VALUE => Err(bad("a parameter is too long")),
            v => Ok(v.map(str::to_owned)),
        }
    };
    let list = |name: &str| -> Result<Vec<String>, ProviderError> {
        Ok(text(name)?
            .map(|v| v.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default())
    };
    let max_age = match form.get("max_age") {
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0 && v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(bad("max_age is not a non-negative integer"))?,
        ),
        None => client.default_max_age,
    };
    let display = form.get("display").map(str::to_owned);
    if display.as_deref().is_some_and(|d| !DISPLAY_VALUES.contains(&d)) {
        return Err(bad("unknown display value"));
    }
    let claims = form.get("claims").map(parse_claims_parameter).transpose()?;
    Ok(OpenIdParams {
        max_age,
        login_hint: text("login_hint")?,
        id_token_hint: text("id_token_hint")?,
        ui_locales: list("ui_locales")?,
        acr_values: list("acr_values")?,
        claims,
        display,
    })
}

/// Checks `prompt` (Core §3.1.2.1): known values only, `none` alone.
pub(crate) fn check_prompt(prompt: &[String]) -> Result<(), ProviderError> {
    if prompt.iter().any(|p| !PROMPT_VALUES.contains(&p.as_str())) {
        return Err(ProviderError::InvalidRequest("unknown prompt value"));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(ProviderError::InvalidRequest("prompt=none with other values"));
    }
    Ok(())
}

impl AuthorizationRequest {
    /// Whether this is an OpenID Connect request: its scope holds `openid` (Core §3.1.2.1).
    pub fn openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }

    /// Whether the user must sign in again before this request is granted, given when they
    /// last did (`auth_time`, `None`: not signed in) at `now`: `prompt=login`, or an
    /// authentication older than `max_age` (Core §3.1.2.1; the client's `default_max_age`
    /// applies when the request gives none).
    ///
    /// With `prompt=none` the application answers with
    /// [`prompt_none_error`](Self::prompt_none_error) instead of showing a page.
    pub fn needs_reauthentication(&self, auth_time: Option<i64>, now: i64) -> bool {
        let Some(auth_time) = auth_time else { return true };
        if self.prompt_login() {
            return true;
        }
        self.max_age.is_some_and(|max_age| now.saturating_sub(auth_time) > max_age)
    }

    /// Whether the client asked for the consent page (`prompt=consent`).
    pub fn prompt_consent(&self) -> bool {
        self.prompt.iter().any(|p| p == "consent")
    }

    /// Whether the client asked the user to pick an account (`prompt=select_account`).
    pub fn prompt_select_account(&self) -> bool {
        self.prompt.iter().any(|p| p == "select_account")
    }

    /// For `prompt=none` (Core §3.1.2.6), the error to answer with, if any: nobody signed in
    /// (`auth_time` `None`) or an authentication older than `max_age` is
    /// [`ProviderError::LoginRequired`]; `consent_needed` (from
    /// [`consent_needed`](crate::oauth2::provider::AuthorizationServer::consent_needed)) is
    /// [`ProviderError::ConsentRequired`]. `None`: grant without a page (or the request did
    /// not say `prompt=none`).
    pub fn prompt_none_error(
        &self,
        auth_time: Option<i64>,
        now: i64,
        consent_needed: bool,
    ) -> Option<ProviderError> {
        if !self.prompt_none() {
            return None;
        }
        match auth_time {
            None => Some(ProviderError::LoginRequired),
            Some(t) if self.max_age.is_some_and(|m| now.saturating_sub(t) > m) => {
                Some(ProviderError::LoginRequired)
            }
            Some(_) if consent_needed => Some(ProviderError::ConsentRequired),
            Some(_) => None,
        }
    }
}

impl AuthorizationServer {
    /// The OpenID Connect details a code carries to its tokens (Core §2, §5.5), when the
    /// grant holds `openid`. An authentication older than `max_age`, or another user than
    /// the `sub` value the `claims` parameter asks for (§5.5.1), is `login_required`;
    /// `max_age` or the client's `require_auth_time` without the grant's `auth_time` is
    /// `server_error` (the application must say when the user signed in).
    pub(crate) fn auth_session(
        &self,
        request: &AuthorizationRequest,
        grant: &Grant,
        client: &RegisteredClient,
        now: i64,
    ) -> Result<Option<AuthSession>, ProviderError> {
        if !grant.scopes.iter().any(|s| s == "openid") {
            return Ok(None);
        }
        let auth_time_required = request.max_age.is_some() || client.require_auth_time;
        match (grant.auth_time, request.max_age) {
            (None, _) if auth_time_required => {
                return Err(ProviderError::Misconfigured(
                    "max_age or require_auth_time needs the grant's auth_time",
                ));
            }
            (Some(t), Some(max_age)) if now.saturating_sub(t) > max_age => {
                return Err(ProviderError::LoginRequired);
            }
            _ => {}
        }
        // Core §5.5.1: a `sub` asked for with a value is that user or nobody.
        for member in ["id_token", "userinfo"] {
            let asked = request.claims.as_ref().and_then(|c| c.get(member)?.get("sub")?.get("value"));
            if let Some(asked) = asked
                && asked.as_str() != Some(self.subject_for(client, &grant.subject)?.as_str())
            {
                return Err(ProviderError::LoginRequired);
            }
        }
        Ok(Some(AuthSession {
            sid: grant.sid.clone(),
            acr: grant.acr.clone(),
            amr: grant.amr.clone(),
            claims: request.claims.clone(),
            auth_time_required,
        }))
    }
}

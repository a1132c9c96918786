//! The authorization endpoint (RFC 6749 §4.1.1–§4.1.2, RFC 7636 §4.3, RFC 9207, RFC 8707,
//! RFC 9700 §2.1): validation in the order client → redirect URI → the rest; the typed
//! [`AuthorizationRequest`] the application keeps across its sign-in and consent pages; and
//! the response it answers with: a code, or an error, by redirect or `form_post`.

use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::error::{AuthorizeError, ProviderError};
use super::server::{AuthorizationServer, Form, check_resources, hash_token, parse_scope};
use super::store::{CodeRecord, ConsentGrant, GrantType};
use crate::common::encoding::encode_form;

/// How the authorization response travels (OAuth 2.0 Multiple Response Type Encoding
/// Practices §2.1, OAuth 2.0 Form Post Response Mode §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// In the redirect URI's query (the default for `code`).
    #[default]
    Query,
    /// In an HTML page that POSTs a form to the redirect URI.
    FormPost,
}

/// Where an authorization response (a code or an error) goes: the established redirect URI,
/// the exact `state`, and the response mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseTarget {
    /// The redirect URI: the request's, or the client's only registered one.
    pub redirect_uri: String,
    /// The `state` the client sent, returned byte for byte (RFC 6749 §4.1.2).
    pub state: Option<String>,
    /// Query or form post.
    pub response_mode: ResponseMode,
}

/// A validated authorization request (RFC 6749 §4.1.1), for the application to keep (in its
/// server-side session: it is serde) across sign-in and consent, then answer with
/// [`AuthorizationServer::grant`] or [`AuthorizationServer::deny`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The client's name, for the consent page.
    pub client_name: Option<String>,
    /// Where the response goes.
    pub target: ResponseTarget,
    /// Whether the request gave `redirect_uri` (the token request must then repeat it).
    pub redirect_uri_given: bool,
    /// The scopes asked for, each one the client may ask for.
    pub scopes: Vec<String>,
    /// The resources (RFC 8707) asked for, each one the client may ask for.
    pub resources: Vec<String>,
    /// The PKCE `code_challenge` (S256); `None` only for a confidential client that opted out.
    pub code_challenge: Option<String>,
    /// The `prompt` values (OpenID Connect Core §3.1.2.1): `none`, `login`, `consent`, …
    pub prompt: Vec<String>,
    /// The OpenID Connect `nonce`.
    pub nonce: Option<String>,
    /// The longest time since the user's authentication, in seconds (OpenID Connect Core
    /// §3.1.2.1 `max_age`; the client's `default_max_age` when the request gives none).
    #[serde(default)]
    pub max_age: Option<i64>,
    /// A hint of who is signing in (`login_hint`), for the application.
    #[serde(default)]
    pub login_hint: Option<String>,
    /// A previously issued ID token (`id_token_hint`), unverified: check it with
    /// [`AuthorizationServer::verify_id_token_hint`].
    #[serde(default)]
    pub id_token_hint: Option<String>,
    /// The preferred languages of the pages (`ui_locales`, BCP 47 tags), for the application.
    #[serde(default)]
    pub ui_locales: Vec<String>,
    /// The authentication context classes asked for (`acr_values`), in order of preference.
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// The `claims` parameter (Core §5.5), parsed and checked.
    #[serde(default)]
    pub claims: Option<serde_json::Value>,
    /// How to display the pages (`display`: `page`, `popup`, `touch` or `wap`).
    #[serde(default)]
    pub display: Option<String>,
    /// Every other parameter, for the application.
    pub extra: Vec<(String, String)>,
}

impl AuthorizationRequest {
    /// Whether the client asked for no interaction (`prompt=none`): the application answers
    /// with [`AuthorizationServer::authorize_error`] and [`ProviderError::LoginRequired`] or
    /// [`ProviderError::ConsentRequired`] instead of showing a page.
    pub fn prompt_none(&self) -> bool {
        self.prompt.iter().any(|p| p == "none")
    }

    /// Whether the client asked the user to sign in again (`prompt=login`).
    pub fn prompt_login(&self) -> bool {
        self.prompt.iter().any(|p| p == "login")
    }
}

/// The resource owner's decision to grant an [`AuthorizationRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The resource owner's identifier.
    pub subject: String,
    /// The scopes granted: some or all of those asked for (RFC 6749 §3.3).
    pub scopes: Vec<String>,
    /// When the resource owner authenticated.
    pub auth_time: Option<i64>,
    /// Whether to remember the consent, so that a later request within it needs no consent
    /// page (default true).
    pub remember: bool,
    /// The authentication context class satisfied (OpenID Connect Core §2 `acr`).
    pub acr: Option<String>,
    /// The authentication methods used (`amr`, RFC 8176 names such as `pwd`, `otp`).
    pub amr: Vec<String>,
    /// The user's session id at the provider (`sid`, Back-Channel Logout 1.0 §2.1).
    pub sid: Option<String>,
}

impl Grant {
    /// Grants `scopes` for `subject`, remembering the consent.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(subject: impl Into<String>, scopes: I) -> Self {
        Self {
            subject: subject.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            auth_time: None,
            remember: true,
            acr: None,
            amr: Vec::new(),
            sid: None,
        }
    }

    /// Sets the authentication time.
    pub fn auth_time(mut self, auth_time: i64) -> Self {
        self.auth_time = Some(auth_time);
        self
    }

    /// Sets the authentication context class (`acr`).
    pub fn acr(mut self, acr: impl Into<String>) -> Self {
        self.acr = Some(acr.into());
        self
    }

    /// Sets the authentication methods (`amr`).
    pub fn amr<I: IntoIterator<Item = S>, S: Into<String>>(mut self, amr: I) -> Self {
        self.amr = amr.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the session id (`sid`).
    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Does not remember the consent.
    pub fn once(mut self) -> Self {
        self.remember = false;
        self
    }
}

/// The longest `state` and `nonce` accepted; codes carry the nonce in the store.
const MAX_VALUE: usize = 1024;

impl AuthorizationServer {
    /// Validates an authorization request (RFC 6749 §4.1.1): the query of a GET, or the form
    /// body of a POST (§3.1).
    ///
    /// The order is client → redirect URI → the rest. An unknown client or a missing,
    /// repeated or unregistered redirect URI gives an [`AuthorizeError`] that is shown to the
    /// user and never redirected; every later error carries its [`ResponseTarget`].
    pub async fn authorization_request(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let text = if request.method() == http::Method::POST {
            if !crate::oauth1::rfc5849::params::is_form(request.headers()) {
                return Err(AuthorizeError::local(ProviderError::InvalidRequest("the body must be a form")));
            }
            if request.body().len() > self.inner.config.max_body {
                return Err(AuthorizeError::local(ProviderError::InvalidRequest("the body is too large")));
            }
            std::str::from_utf8(request.body())
                .map_err(|_| AuthorizeError::local(ProviderError::InvalidRequest("the body is not UTF-8")))?
                .to_owned()
        } else if request.method() == http::Method::GET {
            request.uri().query().unwrap_or("").to_owned()
        } else {
            return Err(AuthorizeError::local(ProviderError::MethodNotAllowed));
        };
        let form = Form::parse_lenient(&text).map_err(AuthorizeError::local)?;
        self.validate_authorization(&form).await
    }

    async fn validate_authorization(&self, form: &Form) -> Result<AuthorizationRequest, AuthorizeError> {
        // 1. The client.
        if form.repeated("client_id") {
            return Err(AuthorizeError::local(ProviderError::InvalidRequest("client_id is repeated")));
        }
        let Some(client_id) = form.get("client_id") else {
            return Err(AuthorizeError::local(ProviderError::InvalidRequest("client_id is missing")));
        };
        let client = self
            .inner
            .store
            .get_registered_client(client_id)
            .await
            .map_err(|e| AuthorizeError::local(e.into()))?
            .ok_or_else(|| AuthorizeError::local(ProviderError::InvalidRequest("unknown client")))?;

        // 2. The redirect URI: exact match (loopback: any port, RFC 8252 §7.3); without one,
        // the client's only registered URI (RFC 6749 §3.1.2.3).
        if form.repeated("redirect_uri") {
            return Err(AuthorizeError::local(ProviderError::InvalidRequest("redirect_uri is repeated")));
        }
        let redirect_uri = match form.get("redirect_uri") {
            Some(uri) if client.redirect_uri_matches(uri) => uri.to_owned(),
            Some(_) => {
                return Err(AuthorizeError::local(ProviderError::InvalidRequest(
                    "redirect_uri is not registered",
                )));
            }
            None => match client.redirect_uris.as_slice() {
                [only] => only.clone(),
                _ => {
                    return Err(AuthorizeError::local(ProviderError::InvalidRequest(
                        "redirect_uri is missing",
                    )));
                }
            },
        };

        // From here on, errors go back to the client.
        let state = if form.repeated("state") { None } else { form.get("state").map(str::to_owned) };
        let response_mode = match form.get("response_mode") {
            Some("form_post") if !form.repeated("response_mode") => ResponseMode::FormPost,
            _ => ResponseMode::Query,
        };
        let target = ResponseTarget { redirect_uri, state, response_mode };
        let fail = |error: ProviderError| AuthorizeError { error, redirect: Some(target.clone()) };

        form.check_duplicates().map_err(fail)?;
        crate::oidc::provider::request::check_request_objects(form).map_err(fail)?;
        if target.state.as_ref().is_some_and(|s| s.len() > MAX_VALUE) {
            return Err(fail(ProviderError::InvalidRequest("state is too long")));
        }
        match form.get("response_mode") {
            None | Some("query" | "form_post") => {}
            Some(_) => return Err(fail(ProviderError::InvalidRequest("unsupported response_mode"))),
        }
        match form.get("response_type") {
            None => return Err(fail(ProviderError::InvalidRequest("response_type is missing"))),
            Some("code") => {}
            Some(_) => return Err(fail(ProviderError::UnsupportedResponseType)),
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(fail(ProviderError::UnauthorizedClient));
        }

        // PKCE (RFC 7636 §4.3; OAuth 2.1 §4.1.1): S256 only, required unless a confidential
        // client opted out.
        let code_challenge = match (form.get("code_challenge"), form.get("code_challenge_method")) {
            (Some(c), Some("S256")) if is_s256_challenge(c) => Some(c.to_owned()),
            (Some(_), Some("S256")) => {
                return Err(fail(ProviderError::InvalidRequest("malformed code_challenge")));
            }
            (Some(_), _) => {
                return Err(fail(ProviderError::InvalidRequest("code_challenge_method must be S256")));
            }
            (None, Some(_)) => return Err(fail(ProviderError::InvalidRequest("code_challenge is missing"))),
            (None, None) if client.requires_pkce() => {
                return Err(fail(ProviderError::InvalidRequest("PKCE (S256) is required")));
            }
            (None, None) => None,
        };

        let scopes = parse_scope(form.get("scope")).map_err(fail)?;
        if !scopes.iter().all(|s| client.scopes.contains(s)) {
            return Err(fail(ProviderError::InvalidScope));
        }
        let resources = form.all("resource");
        check_resources(&resources, &client.resources).map_err(fail)?;

        let prompt: Vec<String> = form
            .get("prompt")
            .unwrap_or("")
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        crate::oidc::provider::request::check_prompt(&prompt).map_err(fail)?;
        let nonce = form.get("nonce").map(str::to_owned);
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_VALUE) {
            return Err(fail(ProviderError::InvalidRequest("nonce is too long")));
        }
        let oidc = crate::oidc::provider::request::read_params(form, &client).map_err(fail)?;

        const KNOWN: &[&str] = &[
            "client_id",
            "redirect_uri",
            "state",
            "response_mode",
            "response_type",
            "code_challenge",
            "code_challenge_method",
            "scope",
            "resource",
            "prompt",
            "nonce",
        ];
        let oidc_names = crate::oidc::provider::request::PARAMETERS;
        let extra = form
            .pairs()
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()) && !oidc_names.contains(&k.as_str()))
            .cloned()
            .collect();
        Ok(AuthorizationRequest {
            client_id: client.client_id.clone(),
            client_name: client.client_name.clone(),
            target,
            redirect_uri_given: form.get("redirect_uri").is_some(),
            scopes,
            resources,
            code_challenge,
            prompt,
            nonce,
            max_age: oidc.max_age,
            login_hint: oidc.login_hint,
            id_token_hint: oidc.id_token_hint,
            ui_locales: oidc.ui_locales,
            acr_values: oidc.acr_values,
            claims: oidc.claims,
            display: oidc.display,
            extra,
        })
    }

    /// Whether `subject` must be shown a consent page for `request`: when the client asked
    /// for it (`prompt=consent`), or `subject`'s stored consent grant to the client does not
    /// cover the scopes and resources asked for.
    pub async fn consent_needed(
        &self,
        request: &AuthorizationRequest,
        subject: &str,
    ) -> Result<bool, ProviderError> {
        if request.prompt.iter().any(|p| p == "consent") {
            return Ok(true);
        }
        let grant = self.inner.store.get_grant(subject, &request.client_id, self.now()).await?;
        Ok(!grant.is_some_and(|g| g.covers(&request.scopes, &request.resources)))
    }

    /// [`grant`](Self::grant), answered either way: the redirect (or `form_post` page)
    /// carrying the code, or, when the request no longer holds, the error response
    /// ([`authorize_error_response`](Self::authorize_error_response): a page for errors not
    /// redirected). What the frameworks' grant helpers convert.
    pub async fn grant_response(
        &self,
        request: &AuthorizationRequest,
        grant: Grant,
    ) -> http::Response<Vec<u8>> {
        match self.grant(request, grant).await {
            Ok(response) => response,
            Err(error) => self.authorize_error_response(&error),
        }
    }

    /// Grants `request` (RFC 6749 §4.1.2): issues a code of 256 bits (its SHA-256 stored, for
    /// [`ServerConfig::code_ttl`](super::config::ServerConfig::code_ttl)), remembers the
    /// consent when asked, and answers with the redirect (or `form_post` page) carrying
    /// `code`, `state` and `iss` (RFC 9207).
    ///
    /// The request is checked again against the client as stored now (it may have come back
    /// from a session): an unknown client or redirect URI is an error not redirected; granted
    /// scopes beyond those asked for are `invalid_scope`.
    pub async fn grant(
        &self,
        request: &AuthorizationRequest,
        grant: Grant,
    ) -> Result<http::Response<Vec<u8>>, AuthorizeError> {
        let client = self
            .inner
            .store
            .get_registered_client(&request.client_id)
            .await
            .map_err(|e| AuthorizeError::local(e.into()))?
            .ok_or_else(|| AuthorizeError::local(ProviderError::InvalidRequest("unknown client")))?;
        if !client.redirect_uri_matches(&request.target.redirect_uri) {
            return Err(AuthorizeError::local(ProviderError::InvalidRequest(
                "redirect_uri is not registered",
            )));
        }
        let fail = |error: ProviderError| AuthorizeError { error, redirect: Some(request.target.clone()) };
        if !grant.scopes.iter().all(|s| request.scopes.contains(s) && client.scopes.contains(s)) {
            return Err(fail(ProviderError::InvalidScope));
        }
        if request.code_challenge.is_none() && client.requires_pkce() {
            return Err(fail(ProviderError::InvalidRequest("PKCE (S256) is required")));
        }
        let now = self.now();
        let session = self.auth_session(request, &grant, &client, now).map_err(fail)?;
        let code = self.random_value();
        let record = CodeRecord {
            code_hash: hash_token(&code),
            client_id: client.client_id.clone(),
            redirect_uri: request.redirect_uri_given.then(|| request.target.redirect_uri.clone()),
            subject: grant.subject.clone(),
            scopes: grant.scopes.clone(),
            resources: request.resources.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: grant.auth_time,
            nonce: request.nonce.clone(),
            family_id: self.random_value(),
            issued_at: now,
            expires_at: now + self.inner.config.code_ttl,
            session,
            dpop_jkt: None,
        };
        self.inner.store.create_code(&record).await.map_err(|e| fail(e.into()))?;
        if grant.remember {
            let consent = ConsentGrant {
                subject: grant.subject,
                client_id: client.client_id,
                scopes: grant.scopes,
                resources: request.resources.clone(),
                granted_at: now,
                expires_at: None,
            };
            self.inner.store.save_grant(&consent, now).await.map_err(|e| fail(e.into()))?;
        }
        Ok(self.respond(&request.target, &[("code", &code)]))
    }

    /// Denies `request`: `access_denied` to the client (RFC 6749 §4.1.2.1).
    pub fn deny(&self, request: &AuthorizationRequest) -> http::Response<Vec<u8>> {
        self.authorize_error(request, ProviderError::AccessDenied)
    }

    /// Answers `request` with `error` at the client's redirect URI (for example
    /// [`ProviderError::LoginRequired`] or [`ProviderError::ConsentRequired`] on
    /// `prompt=none`).
    pub fn authorize_error(
        &self,
        request: &AuthorizationRequest,
        error: ProviderError,
    ) -> http::Response<Vec<u8>> {
        self.authorize_error_response(&AuthorizeError { error, redirect: Some(request.target.clone()) })
    }

    /// The response for an [`AuthorizeError`]: the redirect (or `form_post` page) to the
    /// client with `error`, `error_description`, `state` and `iss`; or, for an error that is
    /// never redirected, a plain `400` page (the application may render its own instead).
    pub fn authorize_error_response(&self, error: &AuthorizeError) -> http::Response<Vec<u8>> {
        match &error.redirect {
            Some(target) => {
                let description = error.error.description().unwrap_or_default();
                let mut params = vec![("error", error.error.code())];
                if !description.is_empty() {
                    params.push(("error_description", description.as_str()));
                }
                self.respond(target, &params)
            }
            None => {
                let body =
                    format!("{}: {}", error.error.code(), error.error.description().unwrap_or_default());
                let mut response = http::Response::new(body.into_bytes());
                *response.status_mut() = match error.error.status() {
                    s if s.is_server_error() => s,
                    StatusCode::METHOD_NOT_ALLOWED => StatusCode::METHOD_NOT_ALLOWED,
                    _ => StatusCode::BAD_REQUEST,
                };
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
                response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
        }
    }

    /// An authorization response carrying `params`, `state` and `iss` to `target`.
    fn respond(&self, target: &ResponseTarget, params: &[(&str, &str)]) -> http::Response<Vec<u8>> {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = &target.state {
            all.push(("state", state));
        }
        all.push(("iss", &self.inner.config.issuer));
        let mut response = match target.response_mode {
            ResponseMode::Query => {
                let sep = if target.redirect_uri.contains('?') { '&' } else { '?' };
                let location = format!("{}{sep}{}", target.redirect_uri, encode_form(all));
                let mut r = http::Response::new(Vec::new());
                *r.status_mut() = StatusCode::FOUND;
                match HeaderValue::from_str(&location) {
                    Ok(v) => {
                        r.headers_mut().insert(header::LOCATION, v);
                    }
                    Err(_) => *r.status_mut() = StatusCode::BAD_REQUEST,
                }
                r
            }
            ResponseMode::FormPost => {
                let mut r = http::Response::new(form_post_page(&target.redirect_uri, &all).into_bytes());
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
                r
            }
        };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Whether `c` is an S256 challenge: the base64url of a SHA-256, 43 characters (RFC 7636 §4.2).
fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `form_post` page (OAuth 2.0 Form Post Response Mode §2): a form of hidden fields that
/// submits itself, every value HTML-escaped.
fn form_post_page(action: &str, params: &[(&str, &str)]) -> String {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Submit</title></head>\n<body onload=\"document.forms[0].submit()\">\n",
    );
    page.push_str(&format!("<form method=\"post\" action=\"{}\">\n", escape_html(action)));
    for (k, v) in params {
        page.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            escape_html(k),
            escape_html(v)
        ));
    }
    page.push_str(
        "<noscript><button type=\"submit\">Continue</button></noscript>\n</form>\n</body></html>\n",
    );
    page
}

/// Escapes text for an HTML attribute value.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

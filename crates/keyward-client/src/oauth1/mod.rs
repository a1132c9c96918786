//! The OAuth 1.0a client (RFC 5849 §2): temporary credential (§2.1), authorization URL
//! (§2.2), token credential (§2.3), then signed requests (§3).
//!
//! Each step builds a request with the sans-IO [`Signer`] and makes one
//! [`HttpClient::call`]; responses are read as forms (§2.1) or, as some providers answer,
//! JSON.
//!
//! ```no_run
//! # async fn demo() -> Result<(), keyward_client::oauth1::OAuth1Error> {
//! use keyward::oauth1::rfc5849::{ClientCredentials, Signer};
//! use keyward_client::oauth1::{Endpoints, OAuth1Client};
//! use std::sync::Arc;
//!
//! let endpoints = Endpoints::new(
//!     "https://photos.example.net/initiate",
//!     "https://photos.example.net/authorize",
//!     "https://photos.example.net/token",
//! )?;
//! let signer = Signer::new(ClientCredentials::new("dpf43f3p2l4k3l03", "kd94hf93k423kf44"));
//! let client = OAuth1Client::new(signer, endpoints, Arc::new(keyward_client::ReqwestClient::new()));
//! let temporary = client.fetch_temporary_credentials(Some("https://printer.example.com/ready")).await?;
//! let _send_the_user_to = client.authorization_url(&temporary.credentials, &[]);
//! // … the user comes back to the callback with oauth_token and oauth_verifier …
//! let token = client.fetch_token_credentials(&temporary.credentials, "hfdp7dh39dks9884").await?;
//! let photo = http::Request::get("https://photos.example.net/photos?file=vacation.jpg").body(Vec::new()).unwrap();
//! let _response = client.call(photo, &token.credentials).await?;
//! # Ok(()) }
//! ```

use crate::registry::{AppConfig, ConfigError, Protocol};
use keyward::common::ErrorBody;
use keyward::common::encoding::{encode_form, parse_form};
use keyward::common::http_client::{HttpClient, HttpError};
use keyward::oauth1::rfc5849::signature::rsa_private_key_from_pem;
use keyward::oauth1::rfc5849::{ClientCredentials, SignatureMethods, SignatureType};
use keyward::oauth1::rfc5849::{SignError, Signer, SigningParams, TokenCredentials, names};
use keyward::{Clock, OsRandom, RandomSource, SystemClock};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// What went wrong in an OAuth 1.0a client step (RFC 5849 §2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuth1Error {
    /// The registry entry cannot make an OAuth 1.0a client.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An endpoint URL in the configuration is not an absolute `http`/`https` URL.
    #[error("invalid endpoint URL `{url}`")]
    Endpoint {
        /// The offending URL.
        url: String,
    },
    /// The request could not be signed (RFC 5849 §3.4).
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The request could not be sent or its response not read.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The endpoint answered with a non-success status (§2.1, §2.3). `error` is the OAuth
    /// error body when the response holds one; `body` is the raw body.
    #[error("the {endpoint} endpoint answered {status}{}", error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Status {
        /// Which endpoint: `temporary-credential` or `token-credential`.
        endpoint: &'static str,
        /// The HTTP status.
        status: http::StatusCode,
        /// The parsed error body, if any.
        error: Option<ErrorBody>,
        /// The raw body, lossily decoded.
        body: String,
    },
    /// A success response that is not a form or JSON object, or lacks `oauth_token` or
    /// `oauth_token_secret` (§2.1, §2.3).
    #[error("invalid {endpoint} response: {reason}")]
    InvalidResponse {
        /// Which endpoint.
        endpoint: &'static str,
        /// What is wrong.
        reason: String,
        /// The raw body, lossily decoded.
        body: String,
    },
    /// The temporary-credential response does not set `oauth_callback_confirmed` to true
    /// (§2.1: it MUST be present and set to `true`); the server may be an OAuth 1.0 (not
    /// 1.0a) server open to session fixation.
    #[error("the server did not confirm the callback (oauth_callback_confirmed = {value:?})")]
    CallbackNotConfirmed {
        /// The value received, if any.
        value: Option<String>,
    },
}

/// The three endpoints of RFC 5849 §2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    request_token_url: http::Uri,
    authorize_url: String,
    access_token_url: http::Uri,
}

fn absolute(url: &str) -> Result<http::Uri, OAuth1Error> {
    let uri: http::Uri = url.parse().map_err(|_| OAuth1Error::Endpoint { url: url.to_owned() })?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(OAuth1Error::Endpoint { url: url.to_owned() }),
    }
}

impl Endpoints {
    /// The temporary-credential request endpoint (§2.1), the resource-owner authorization
    /// endpoint (§2.2) and the token request endpoint (§2.3), as absolute URLs.
    pub fn new(
        request_token_url: &str,
        authorize_url: &str,
        access_token_url: &str,
    ) -> Result<Self, OAuth1Error> {
        absolute(authorize_url)?;
        Ok(Self {
            request_token_url: absolute(request_token_url)?,
            authorize_url: authorize_url.to_owned(),
            access_token_url: absolute(access_token_url)?,
        })
    }
}

/// Credentials returned by the temporary-credential (§2.1) or token (§2.3) endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsResponse {
    /// `oauth_token` and `oauth_token_secret`.
    pub credentials: TokenCredentials,
    /// Every other parameter of the response (`user_id`, `screen_name`, …), JSON
    /// non-string values in their JSON text. `oauth_callback_confirmed` is consumed.
    pub params: BTreeMap<String, String>,
}

/// An OAuth 1.0a client over an [`HttpClient`] (RFC 5849 §2).
#[derive(Clone)]
pub struct OAuth1Client {
    signer: Signer,
    endpoints: Endpoints,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    request_token_params: Vec<(String, String)>,
    access_token_params: Vec<(String, String)>,
    authorize_params: Vec<(String, String)>,
}

impl fmt::Debug for OAuth1Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth1Client")
            .field("signer", &self.signer)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

impl OAuth1Client {
    /// A client that signs with `signer`, talks to `endpoints` through `http`, and uses the
    /// system clock and the OS random source for timestamps and nonces (§3.3).
    pub fn new(signer: Signer, endpoints: Endpoints, http: Arc<dyn HttpClient>) -> Self {
        Self {
            signer,
            endpoints,
            http,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            request_token_params: Vec::new(),
            access_token_params: Vec::new(),
            authorize_params: Vec::new(),
        }
    }

    /// A client for the registry entry `app` (RFC 5849 §2 endpoints; Authlib's keys): `client_id`,
    /// `client_secret`, `request_token_url`, `authorize_url`, `access_token_url`, their
    /// `*_params`, and `client_kwargs.signature_method` (default `HMAC-SHA1`),
    /// `signature_type` (`HEADER`, `QUERY`, `BODY`), `realm` and `rsa_key` (PEM).
    pub fn from_app_config(
        app: &str,
        cfg: &AppConfig,
        http: Arc<dyn HttpClient>,
    ) -> Result<Self, OAuth1Error> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            app: app.to_owned(),
            key: key.to_owned(),
            reason,
        };
        if cfg.validate(app)? != Protocol::OAuth1 {
            return Err(
                invalid("request_token_url", "not set: the app is not an OAuth 1.0a app".to_owned()).into()
            );
        }
        let missing =
            |key: &'static str| ConfigError::Missing { app: app.to_owned(), key, why: "OAuth 1 needs it" };
        let client_id = cfg.client_id.clone().ok_or_else(|| missing("client_id"))?;
        let secret = cfg.client_secret.as_ref().map(|s| s.secret().to_owned()).unwrap_or_default();
        let kwargs = &cfg.client_kwargs;
        let mut credentials = ClientCredentials::new(client_id, secret);
        if let Some(pem) = &kwargs.rsa_key {
            let key = rsa_private_key_from_pem(pem.secret())
                .map_err(|e| invalid("client_kwargs.rsa_key", e.to_string()))?;
            credentials = credentials.with_rsa_key(key);
        }
        let method = kwargs.signature_method.as_deref().unwrap_or("HMAC-SHA1");
        let mut signer = Signer::new(credentials)
            .method_named(method, &SignatureMethods::default())
            .map_err(|e| invalid("client_kwargs.signature_method", e.to_string()))?;
        if let Some(t) = &kwargs.signature_type {
            let t: SignatureType = t.parse().map_err(|_| {
                invalid("client_kwargs.signature_type", format!("`{t}` is not HEADER, QUERY or BODY"))
            })?;
            signer = signer.signature_type(t);
        }
        if let Some(realm) = &kwargs.realm {
            signer = signer.realm(realm);
        }
        let url = |v: &Option<String>, key: &'static str| v.clone().ok_or_else(|| missing(key));
        let endpoints = Endpoints::new(
            &url(&cfg.request_token_url, "request_token_url")?,
            &url(&cfg.authorize_url, "authorize_url")?,
            &url(&cfg.access_token_url, "access_token_url")?,
        )?;
        let pairs = |p: &crate::registry::config::Params| {
            p.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()
        };
        Ok(Self::new(signer, endpoints, http)
            .with_request_token_params(pairs(&cfg.request_token_params))
            .with_access_token_params(pairs(&cfg.access_token_params))
            .with_authorize_params(pairs(&cfg.authorize_params)))
    }

    /// Uses `clock` for `oauth_timestamp` (§3.3).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `random` for `oauth_nonce` (§3.3).
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// Extra parameters sent (and signed) in the query of the temporary-credential request (§2.1)
    /// (Authlib's `request_token_params`, e.g. a provider's `scope`).
    pub fn with_request_token_params(mut self, params: impl IntoIterator<Item = (String, String)>) -> Self {
        self.request_token_params = params.into_iter().collect();
        self
    }

    /// Extra parameters added to the authorization URL (§2.2; Authlib's `authorize_params`).
    pub fn with_authorize_params(mut self, params: impl IntoIterator<Item = (String, String)>) -> Self {
        self.authorize_params = params.into_iter().collect();
        self
    }

    /// Extra parameters sent (and signed) in the query of the token request (§2.3).
    pub fn with_access_token_params(mut self, params: impl IntoIterator<Item = (String, String)>) -> Self {
        self.access_token_params = params.into_iter().collect();
        self
    }

    /// The signer (§3.1).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Builds the signed temporary-credential request (§2.1): a `POST` with
    /// `oauth_callback` (`oob` when `callback` is `None`).
    pub fn temporary_credentials_request(
        &self,
        callback: Option<&str>,
    ) -> Result<http::Request<Vec<u8>>, OAuth1Error> {
        let uri = with_query(&self.endpoints.request_token_url, &self.request_token_params)?;
        let params = SigningParams { callback: Some(callback.unwrap_or("oob")), ..SigningParams::default() };
        self.sign_post(uri, &params)
    }

    /// Obtains temporary credentials (§2.1). The server must confirm the callback
    /// (`oauth_callback_confirmed`, read leniently as `true`, `True` or `1`).
    pub async fn fetch_temporary_credentials(
        &self,
        callback: Option<&str>,
    ) -> Result<CredentialsResponse, OAuth1Error> {
        let request = self.temporary_credentials_request(callback)?;
        let response = self.http.call(request).await?;
        let mut response = read_response("temporary-credential", response)?;
        let confirmed = response.params.remove(names::CALLBACK_CONFIRMED);
        if !confirmed.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1") {
            return Err(OAuth1Error::CallbackNotConfirmed { value: confirmed });
        }
        credentials("temporary-credential", response)
    }

    /// The URL to send the resource owner to (§2.2): the authorization endpoint with
    /// `oauth_token`, the configured `authorize_params` and any `extra` parameters added to
    /// its query.
    pub fn authorization_url(&self, temporary: &TokenCredentials, extra: &[(&str, &str)]) -> String {
        let mut url = self.endpoints.authorize_url.clone();
        let (base, fragment) = match url.find('#') {
            Some(i) => {
                let fragment = url.split_off(i);
                (url, fragment)
            }
            None => (url, String::new()),
        };
        let mut out = base;
        out.push(if out.contains('?') { '&' } else { '?' });
        let configured = self.authorize_params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let pairs = std::iter::once((names::TOKEN, temporary.token.as_str()))
            .chain(configured)
            .chain(extra.iter().copied());
        out.push_str(&encode_form(pairs));
        out.push_str(&fragment);
        out
    }

    /// Builds the signed token request (§2.3): a `POST` signed with the temporary
    /// credentials and carrying `oauth_verifier`.
    pub fn token_credentials_request(
        &self,
        temporary: &TokenCredentials,
        verifier: &str,
    ) -> Result<http::Request<Vec<u8>>, OAuth1Error> {
        let uri = with_query(&self.endpoints.access_token_url, &self.access_token_params)?;
        let params =
            SigningParams { token: Some(temporary), verifier: Some(verifier), ..SigningParams::default() };
        self.sign_post(uri, &params)
    }

    /// Exchanges the temporary credentials and the verifier from the callback for token
    /// credentials (§2.3).
    pub async fn fetch_token_credentials(
        &self,
        temporary: &TokenCredentials,
        verifier: &str,
    ) -> Result<CredentialsResponse, OAuth1Error> {
        let request = self.token_credentials_request(temporary, verifier)?;
        let response = self.http.call(request).await?;
        credentials("token-credential", read_response("token-credential", response)?)
    }

    /// Signs `request` with the token credentials (§3.1).
    pub fn sign(
        &self,
        request: http::Request<Vec<u8>>,
        token: &TokenCredentials,
    ) -> Result<http::Request<Vec<u8>>, OAuth1Error> {
        let params = SigningParams { token: Some(token), ..SigningParams::default() };
        Ok(self.signer.sign(request, &params, &*self.clock, &*self.random)?)
    }

    /// Signs `request` with the token credentials and sends it. The response is returned
    /// whatever its status: it belongs to the API, not to OAuth.
    pub async fn call(
        &self,
        request: http::Request<Vec<u8>>,
        token: &TokenCredentials,
    ) -> Result<http::Response<Vec<u8>>, OAuth1Error> {
        let request = self.sign(request, token)?;
        Ok(self.http.call(request).await?)
    }

    fn sign_post(
        &self,
        uri: http::Uri,
        params: &SigningParams<'_>,
    ) -> Result<http::Request<Vec<u8>>, OAuth1Error> {
        let request = http::Request::post(uri)
            .body(Vec::new())
            .map_err(|_| OAuth1Error::Endpoint { url: "invalid request".to_owned() })?;
        Ok(self.signer.sign(request, params, &*self.clock, &*self.random)?)
    }
}

fn with_query(uri: &http::Uri, params: &[(String, String)]) -> Result<http::Uri, OAuth1Error> {
    if params.is_empty() {
        return Ok(uri.clone());
    }
    let mut s = uri.to_string();
    s.push(if uri.query().is_some() { '&' } else { '?' });
    s.push_str(&encode_form(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
    s.parse().map_err(|_| OAuth1Error::Endpoint { url: s })
}

fn is_json(response: &http::Response<Vec<u8>>) -> bool {
    response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    })
}

/// Reads a form or JSON object body into its parameters; duplicated names are refused.
fn read_params(json: bool, body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if json {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
        let serde_json::Value::Object(map) = value else {
            return Err("the JSON body is not an object".to_owned());
        };
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(k, v);
        }
    } else {
        let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
        for (k, v) in parse_form(text.trim()).map_err(|e| format!("malformed form: {e}"))? {
            if out.contains_key(&k) {
                return Err(format!("parameter `{k}` appears more than once"));
            }
            out.insert(k, v);
        }
    }
    Ok(out)
}

/// Reads a credential endpoint's response: its parameters, and its raw body for errors.
fn read_response(endpoint: &'static str, response: http::Response<Vec<u8>>) -> Result<Response, OAuth1Error> {
    let json = is_json(&response);
    let status = response.status();
    let body = response.into_body();
    let lossy = || String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        let error = read_params(json, &body).ok().and_then(|mut p| {
            let code = p.remove("error")?;
            Some(ErrorBody {
                error: code,
                error_description: p.remove("error_description"),
                error_uri: p.remove("error_uri"),
            })
        });
        return Err(OAuth1Error::Status { endpoint, status, error, body: lossy() });
    }
    match read_params(json, &body) {
        Ok(params) => Ok(Response { params, body: lossy() }),
        Err(reason) => Err(OAuth1Error::InvalidResponse { endpoint, reason, body: lossy() }),
    }
}

struct Response {
    params: BTreeMap<String, String>,
    body: String,
}

fn credentials(endpoint: &'static str, response: Response) -> Result<CredentialsResponse, OAuth1Error> {
    let Response { mut params, body } = response;
    let missing = |name: &str| OAuth1Error::InvalidResponse {
        endpoint,
        reason: format!("no `{name}`"),
        body: body.clone(),
    };
    let token = params.remove(names::TOKEN).filter(|t| !t.is_empty()).ok_or_else(|| missing(names::TOKEN))?;
    let secret = params.remove(names::TOKEN_SECRET).ok_or_else(|| missing(names::TOKEN_SECRET))?;
    Ok(CredentialsResponse { credentials: TokenCredentials::new(token, secret), params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_forms_and_json() {
        let form = read_params(false, b"oauth_token=a%20b&x=1\n").unwrap();
        assert_eq!(form["oauth_token"], "a b");
        let json = read_params(true, br#"{"oauth_token":"t","user_id":42,"ok":true}"#).unwrap();
        assert_eq!((json["user_id"].as_str(), json["ok"].as_str()), ("42", "true"));
        assert!(read_params(false, b"a=1&a=2").unwrap_err().contains("more than once"));
        assert!(read_params(true, b"[1]").is_err());
        assert!(read_params(false, b"a=\xff").is_err());
    }

    #[test]
    fn endpoints_must_be_absolute() {
        assert!(Endpoints::new("/initiate", "https://a/authorize", "https://a/token").is_err());
        assert!(Endpoints::new("https://a/i", "ftp://a/authorize", "https://a/token").is_err());
        assert!(Endpoints::new("https://a/i", "https://a/authorize", "http://a/token").is_ok());
    }
}

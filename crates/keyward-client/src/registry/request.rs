//! API calls through a registered app ([`RemoteApp::get`], …, and
//! [`RemoteApp::userinfo`]): URL relative to `api_base_url`, the token from the call or from
//! the `fetch_token` hook, OAuth 1 signing or OAuth 2 bearer placement with automatic
//! single-flight refresh.

use super::app::{Driver, RemoteApp};
use super::config::ConfigError;
use super::error::Error;
use super::token::AppToken;
use super::url::resolve;
use keyward::common::encoding::encode_form;

impl RemoteApp {
    /// The user's profile: for OAuth 2 the `userinfo_endpoint` (configured or discovered;
    /// with OpenID Connect its `sub` must be the ID token's); for OAuth 1 a signed `GET`
    /// of the configured `userinfo_endpoint`, read as a JSON object.
    pub async fn userinfo(
        &self,
        token: &AppToken,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
        match (&self.inner.driver, token) {
            (Driver::OAuth2(client), AppToken::OAuth2(t)) => {
                let fresh = client.ensure_fresh(t).await?;
                Ok(client.userinfo(&fresh).await?)
            }
            (Driver::OAuth1(_), AppToken::OAuth1(_)) => {
                let url = self.config().userinfo_endpoint.clone().ok_or_else(|| ConfigError::Missing {
                    app: self.inner.name.clone(),
                    key: "userinfo_endpoint",
                    why: "userinfo() of an OAuth 1 app reads it",
                })?;
                let response = self.get(&url).token(token.clone()).send().await?;
                let status = response.status().as_u16();
                if !response.status().is_success() {
                    return Err(Error::Response { status, reason: "the userinfo endpoint refused".into() });
                }
                match serde_json::from_slice(response.body()) {
                    Ok(serde_json::Value::Object(map)) => Ok(map),
                    _ => Err(Error::Response { status, reason: "the body is not a JSON object".into() }),
                }
            }
            _ => Err(self.wrong_token()),
        }
    }

    /// A `GET` of `url`, relative to `api_base_url` unless absolute.
    pub fn get(&self, url: &str) -> ApiRequest {
        self.request(http::Method::GET, url)
    }

    /// A `POST`.
    pub fn post(&self, url: &str) -> ApiRequest {
        self.request(http::Method::POST, url)
    }

    /// A `PUT`.
    pub fn put(&self, url: &str) -> ApiRequest {
        self.request(http::Method::PUT, url)
    }

    /// A `PATCH`.
    pub fn patch(&self, url: &str) -> ApiRequest {
        self.request(http::Method::PATCH, url)
    }

    /// A `DELETE`.
    pub fn delete(&self, url: &str) -> ApiRequest {
        self.request(http::Method::DELETE, url)
    }

    /// A request with any method.
    pub fn request(&self, method: http::Method, url: &str) -> ApiRequest {
        ApiRequest::new(self.clone(), method, url)
    }
}

enum Auth {
    None,
    AppToken(Box<AppToken>),
    User(String),
    Withhold,
}

/// A request to a provider's API, sent with [`ApiRequest::send`].
#[must_use = "an ApiRequest does nothing until it is sent"]
pub struct ApiRequest {
    app: RemoteApp,
    method: http::Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<(Vec<u8>, &'static str)>,
    auth: Auth,
}

impl ApiRequest {
    pub(crate) fn new(app: RemoteApp, method: http::Method, url: &str) -> Self {
        Self {
            app,
            method,
            url: url.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            auth: Auth::None,
        }
    }

    /// Sends with this token.
    pub fn token(mut self, token: AppToken) -> Self {
        self.auth = Auth::AppToken(Box::new(token));
        self
    }

    /// Sends with the token the `fetch_token` hook returns for `user`.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.auth = Auth::User(user.into());
        self
    }

    /// Sends no credentials at all (Authlib's `withhold_token`).
    pub fn withhold_token(mut self) -> Self {
        self.auth = Auth::Withhold;
        self
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends `pairs` as an `application/x-www-form-urlencoded` body (signed by OAuth 1).
    pub fn form<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.body = Some((encode_form(pairs).into_bytes(), "application/x-www-form-urlencoded"));
        self
    }

    /// Sends `value` as a JSON body.
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.body = Some((value.to_string().into_bytes(), "application/json"));
        self
    }

    /// Sends raw bytes with a content type.
    pub fn body(mut self, bytes: Vec<u8>, content_type: &'static str) -> Self {
        self.body = Some((bytes, content_type));
        self
    }

    fn build(&mut self) -> Result<http::Request<Vec<u8>>, Error> {
        let app = &self.app;
        let mut url = resolve(app.name(), app.config().api_base_url.as_deref(), &self.url)?;
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &self.query {
                pairs.append_pair(k, v);
            }
        }
        let mut builder = http::Request::builder().method(self.method.clone()).uri(url.as_str());
        for (k, v) in &self.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body = match self.body.take() {
            Some((bytes, content_type)) => {
                builder = builder.header(http::header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Vec::new(),
        };
        builder.body(body).map_err(|e| Error::Request(e.to_string()))
    }

    /// The token to send, and the user it was fetched for (the fleet-wide refresh reads
    /// that user's token again).
    async fn token_to_use(&mut self) -> Result<(Option<AppToken>, Option<String>), Error> {
        let app = &self.app;
        match std::mem::replace(&mut self.auth, Auth::None) {
            Auth::Withhold => Ok((None, None)),
            Auth::AppToken(t) => Ok((Some(*t), None)),
            Auth::User(user) => {
                let hook = app.inner.hooks.fetch_token.as_ref().ok_or_else(|| missing(app))?;
                let token = hook.fetch_token(app.name(), &user).await.map_err(Error::FetchToken)?;
                Ok((Some(token.ok_or_else(|| missing(app))?), Some(user)))
            }
            Auth::None => Err(missing(app)),
        }
    }

    /// Sends the request. The response is returned whatever its status: it belongs to the
    /// API. An expired OAuth 2 token is renewed first (once across concurrent requests;
    /// the `update_token` hook and event see the new token).
    pub async fn send(mut self) -> Result<http::Response<Vec<u8>>, Error> {
        let request = self.build()?;
        let (token, user) = self.token_to_use().await?;
        let app = &self.app;
        match (&app.inner.driver, token) {
            (_, None) => Ok(app.http().call(request).await?),
            (Driver::OAuth1(client), Some(AppToken::OAuth1(t))) => {
                Ok(client.call(request, &t.credentials()).await?)
            }
            (Driver::OAuth2(client), Some(AppToken::OAuth2(t))) => {
                let fresh = match user {
                    Some(user) => app.fresh_for_user(client, &user, t).await?,
                    None => client.ensure_fresh(&t).await?,
                };
                // The app's transport; a DPoP nonce challenge gets its one retry.
                Ok(client.call_with_token(request, &fresh).await?)
            }
            _ => Err(app.wrong_token()),
        }
    }

    /// Sends the request and reads a JSON response; a non-success status is an error.
    pub async fn send_json(self) -> Result<serde_json::Value, Error> {
        let response = self.send().await?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(Error::Response { status, reason: "the API refused the request".into() });
        }
        serde_json::from_slice(response.body())
            .map_err(|e| Error::Response { status, reason: format!("invalid JSON: {e}") })
    }
}

fn missing(app: &RemoteApp) -> Error {
    Error::MissingToken { app: app.name().to_owned() }
}

//! [`OAuth1Client`]: the three steps of RFC 5849 §2 and signed requests (§3), each one
//! `HttpClient::call`.

use super::OAuth1Error;
use super::response::{CredentialsResponse, credentials, read_response};
use keyward::common::encoding::encode_form;
use keyward::common::http_client::HttpClient;
use keyward::oauth1::rfc5849::{Signer, SigningParams, TokenCredentials, names};
use keyward::{Clock, OsRandom, RandomSource, SystemClock};
use std::fmt;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_absolute() {
        assert!(Endpoints::new("/initiate", "https://a/authorize", "https://a/token").is_err());
        assert!(Endpoints::new("https://a/i", "ftp://a/authorize", "https://a/token").is_err());
        assert!(Endpoints::new("https://a/i", "https://a/authorize", "http://a/token").is_ok());
    }
}

//! Pushed Authorization Requests (RFC 9126), the server's half: the PAR endpoint (§2), the
//! store of pushed requests, and the authorization endpoint's use of a `request_uri` (§4).
//!
//! PAR is on when the server is built with
//! [`AuthorizationServerBuilder::pushed_requests`](super::AuthorizationServerBuilder::pushed_requests)
//! and a [`PushedRequestStore`]; the metadata then names the endpoint
//! (`pushed_authorization_request_endpoint`), and `require_pushed_authorization_requests`
//! when [`ParConfig::required`].
//!
//! - The endpoint authenticates the client as the token endpoint does, and validates the
//!   request as the authorization endpoint does (a `request_uri` inside it is
//!   `invalid_request`). It stores the parameters for [`ParConfig::ttl`] seconds (60 by
//!   default) under `urn:ietf:params:oauth:request_uri:` and 256 random bits, of which only
//!   the SHA-256 is stored, and answers `201 {request_uri, expires_in}`.
//! - At the authorization endpoint, a `request_uri` of this server is taken once (of two
//!   concurrent uses exactly one finds it), must have been pushed by the request's
//!   `client_id`, and its stored parameters are validated again (the client may have
//!   changed since). Every other parameter of the authorization request is ignored (§4).
//! - A client registered with `require_pushed_authorization_requests`, or every client when
//!   [`ParConfig::required`], must push: a request without a pushed `request_uri` is
//!   `invalid_request`.
//! - A `DPoP` proof at the PAR endpoint (RFC 9449 §10.1) binds the code to its key, as a
//!   `dpop_jkt` parameter does.
//!
//! ```
//! use std::sync::Arc;
//! use keyward::oauth2::provider::store::OAuth2ClientStore;
//! use keyward::oauth2::provider::{AuthorizationServer, ParConfig, RegisteredClient, ServerConfig};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = Arc::new(keyward_stores::MemoryStore::new());
//! let client = RegisteredClient::confidential("web", "s3cret")
//!     .with_redirect_uris(["https://web.example/cb"])
//!     .with_scopes(["read"]);
//! store.create_registered_client(&client).await?;
//! let issuer = "https://as.example";
//! let server = AuthorizationServer::builder(store.clone(), ServerConfig::new(issuer))
//!     .pushed_requests(store, ParConfig::new(issuer))
//!     .build();
//!
//! let push = http::Request::post("https://as.example/par")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .header("authorization", "Basic d2ViOnMzY3JldA==") // web:s3cret
//!     .body(b"response_type=code&scope=read\
//!         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
//!         .to_vec())?;
//! let response = server.pushed_authorization(&push).await;
//! assert_eq!(response.status(), 201);
//! let body: serde_json::Value = serde_json::from_slice(response.body())?;
//! let request_uri = body["request_uri"].as_str().unwrap();
//!
//! let uri = format!(
//!     "https://as.example/authorize?client_id=web&request_uri={}",
//!     keyward::common::encoding::encode(request_uri)
//! );
//! let request = server.authorization_request(&http::Request::get(uri).body(Vec::new())?).await?;
//! assert_eq!(request.scopes, ["read"]);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{AuthorizeError, ProviderError};
use super::server::{AuthorizationServer, Form, hash_token, json_response, read_post_form};
use super::store::{BoxFuture, StoreError};

/// The prefix of the `request_uri`s this server issues (§2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters of client authentication, which are not part of the pushed request.
const AUTH_PARAMS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// A pushed authorization request (§2.1), kept until it is used or expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRequest {
    /// The lowercase hex SHA-256 of the random part of the `request_uri`: the key.
    pub request_uri_hash: String,
    /// The client that pushed it.
    pub client_id: String,
    /// The authorization request's parameters, in order (client authentication removed).
    pub params: Vec<(String, String)>,
    /// When it was pushed.
    pub issued_at: i64,
    /// When it expires.
    pub expires_at: i64,
}

/// The store of pushed authorization requests (RFC 9126). Like the other stores it never
/// reads a clock: every call takes `now`.
///
/// [`take_pushed_request`](Self::take_pushed_request) must be atomic across every instance
/// sharing a backend: of many concurrent takes of one hash, at most one finds the request.
pub trait PushedRequestStore: Send + Sync {
    /// Stores a pushed request. [`StoreError::Duplicate`] if its hash is taken.
    fn create_pushed_request<'a>(
        &'a self,
        request: &'a PushedRequest,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Takes the request with this hash, atomically: it is removed, and returned if it
    /// expires after `now`.
    fn take_pushed_request<'a>(
        &'a self,
        request_uri_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<PushedRequest>, StoreError>>;

    /// Removes requests that expired at or before `now`; how many.
    fn purge_expired_pushed_requests(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

impl<T: PushedRequestStore + ?Sized> PushedRequestStore for std::sync::Arc<T> {
    fn create_pushed_request<'a>(
        &'a self,
        request: &'a PushedRequest,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).create_pushed_request(request)
    }
    fn take_pushed_request<'a>(
        &'a self,
        request_uri_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<PushedRequest>, StoreError>> {
        (**self).take_pushed_request(request_uri_hash, now)
    }
    fn purge_expired_pushed_requests(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        (**self).purge_expired_pushed_requests(now)
    }
}

/// The PAR endpoint's settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParConfig {
    /// The endpoint's URL (`{issuer}/par` by default), published in metadata and the `htu`
    /// of DPoP proofs sent to it.
    pub endpoint: String,
    /// How long a pushed request lives, in seconds (default 60).
    pub ttl: i64,
    /// Whether every client must push its authorization requests (default false); a client
    /// can be required to on its own (`require_pushed_authorization_requests`).
    pub required: bool,
}

impl ParConfig {
    /// The endpoint at `{issuer}/par`, requests living 60 s, not required.
    pub fn new(issuer: &str) -> Self {
        Self { endpoint: format!("{}/par", issuer.trim_end_matches('/')), ttl: 60, required: false }
    }

    /// Requires (or not) every client to push.
    pub fn with_required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Sets the lifetime of pushed requests.
    pub fn with_ttl(mut self, secs: i64) -> Self {
        self.ttl = secs.max(1);
        self
    }
}

/// The PAR store and its settings, in the server.
pub(crate) struct ParSetup {
    pub(crate) store: std::sync::Arc<dyn PushedRequestStore>,
    pub(crate) config: ParConfig,
}

impl AuthorizationServer {
    /// The PAR endpoint (RFC 9126 §2): `201 {request_uri, expires_in}`, or an error of
    /// §2.3 (`400` JSON, `401 invalid_client`, `405` for another method). Without
    /// [`pushed_requests`](super::AuthorizationServerBuilder::pushed_requests) it is `400
    /// invalid_request`.
    pub async fn pushed_authorization(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        match self.pushed_authorization_inner(request).await {
            Ok(response) => response,
            Err(e) => e.to_response(),
        }
    }

    async fn pushed_authorization_inner(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        let par = self.inner.par.as_ref().ok_or(ProviderError::InvalidRequest("PAR is not supported"))?;
        let form = read_post_form(request, self.inner.config.max_body)?;
        let client = self.authenticate_client(request, &form).await?;
        if form.get("client_id").is_some_and(|id| id != client.client_id) {
            return Err(ProviderError::InvalidRequest("client_id differs from the authenticated client"));
        }
        if form.get("request_uri").is_some() {
            return Err(ProviderError::InvalidRequest("request_uri is not allowed in a pushed request"));
        }
        let mut params: Vec<(String, String)> = form
            .pairs()
            .iter()
            .filter(|(k, _)| !AUTH_PARAMS.contains(&k.as_str()) && k != "client_id")
            .cloned()
            .collect();
        params.insert(0, ("client_id".to_owned(), client.client_id.clone()));
        let now = self.now();
        // RFC 9449 §10.1: a proof here binds the code to its key.
        if let Some(dpop) = &self.inner.dpop {
            let proof =
                dpop.verify_at_server(request.headers(), request.method(), &par.config.endpoint, now).await?;
            if let Some(proof) = proof {
                match params.iter().find(|(k, _)| k == "dpop_jkt") {
                    Some((_, jkt)) if *jkt != proof.jkt => {
                        return Err(ProviderError::InvalidDpopProof("dpop_jkt is not the proof's key"));
                    }
                    Some(_) => {}
                    None => params.push(("dpop_jkt".to_owned(), proof.jkt)),
                }
            }
        }
        let pushed = Form::from_pairs(params);
        self.validate_authorization(&pushed).await.map_err(|e| e.error)?;
        let random = self.random_value();
        let record = PushedRequest {
            request_uri_hash: hash_token(&random),
            client_id: client.client_id,
            params: pushed.pairs().to_vec(),
            issued_at: now,
            expires_at: now + par.config.ttl,
        };
        par.store.create_pushed_request(&record).await?;
        let body = json!({
            "request_uri": format!("{REQUEST_URI_PREFIX}{random}"),
            "expires_in": par.config.ttl,
        });
        let response = json_response(StatusCode::CREATED, serde_json::to_vec(&body).unwrap_or_default());
        Ok(self.with_dpop_nonce(response))
    }

    /// The authorization endpoint's side of PAR (§4): the form to validate. A `request_uri`
    /// of this server is taken and its stored parameters returned; without one, the form
    /// itself, unless the client (or the server) requires PAR.
    pub(crate) async fn pushed_form(&self, form: Form) -> Result<Form, AuthorizeError> {
        let local = |reason: &'static str| AuthorizeError::local(ProviderError::InvalidRequest(reason));
        let request_uri = if form.repeated("request_uri") { None } else { form.get("request_uri") };
        let Some(par) = &self.inner.par else {
            return Ok(form);
        };
        let Some(request_uri) = request_uri else {
            if form.repeated("request_uri") {
                return Err(local("request_uri is repeated"));
            }
            let required = par.config.required
                || match form.get("client_id") {
                    Some(id) if !form.repeated("client_id") => self
                        .inner
                        .store
                        .get_registered_client(id)
                        .await
                        .map_err(|e| AuthorizeError::local(e.into()))?
                        .is_some_and(|c| c.require_pushed_authorization_requests),
                    _ => false,
                };
            if required {
                return Err(local("pushed authorization requests are required"));
            }
            return Ok(form);
        };
        let Some(random) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else {
            // Not a pushed request: a request object by reference, which the authorization
            // endpoint refuses (`request_uri_not_supported`).
            return Ok(form);
        };
        let Some(client_id) = form.get("client_id").filter(|_| !form.repeated("client_id")) else {
            return Err(local("client_id is missing"));
        };
        let pushed = par
            .store
            .take_pushed_request(&hash_token(random), self.now())
            .await
            .map_err(|e| AuthorizeError::local(e.into()))?
            .ok_or_else(|| local("request_uri is unknown, expired or used"))?;
        if pushed.client_id != client_id {
            return Err(local("request_uri was pushed by another client"));
        }
        Ok(Form::from_pairs(pushed.params))
    }

    /// Whether PAR is on.
    pub(crate) fn par_config(&self) -> Option<&ParConfig> {
        self.inner.par.as_ref().map(|p| &p.config)
    }
}

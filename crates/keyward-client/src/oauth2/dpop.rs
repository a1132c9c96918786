//! DPoP (RFC 9449) in the driver: a fresh proof on every token request (code exchange,
//! refresh, every grant) and on every resource call made with a DPoP-bound token; one
//! retry when the server answers `use_dpop_nonce`, with the nonce it gave; the last nonce
//! of each server remembered (a bounded map keyed by origin).
//!
//! A DPoP-bound token (its `token_type` is `DPoP`, or it carries a key thumbprint) is sent
//! only with the `DPoP` scheme and a proof by its key: without the client's key, or with
//! another key, the call fails before anything is sent, and such a token is never sent as
//! a `Bearer` token.

use super::hooks::{FormHook, run_form};
use super::{ClientError, OAuth2Client};
use keyward::oauth2::FormRequest;
use keyward::oauth2::rfc6749::Token;
use keyward::oauth2::rfc6750::{TokenPlacement, add_bearer_token};
use keyward::oauth2::rfc9449::{self, DPOP, DpopKey};
use std::sync::Mutex;

/// How many servers' nonces a client remembers; the least recently given goes first.
const NONCE_SERVERS: usize = 32;

/// An app's DPoP key and the nonces servers gave it.
pub(crate) struct DpopState {
    key: DpopKey,
    /// `(origin, nonce)`, the most recent last.
    nonces: Mutex<Vec<(String, String)>>,
}

impl DpopState {
    pub(crate) fn new(key: DpopKey) -> Self {
        Self { key, nonces: Mutex::new(Vec::new()) }
    }

    fn nonce(&self, url: &str) -> Option<String> {
        let origin = rfc9449::nonce_origin(url)?;
        let nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        nonces.iter().find(|(o, _)| *o == origin).map(|(_, n)| n.clone())
    }

    /// Keeps the `DPoP-Nonce` of a response from the server of `url`, if it sent one.
    fn remember(&self, url: &str, response: &http::Response<Vec<u8>>) {
        let (Some(origin), Some(nonce)) = (rfc9449::nonce_origin(url), rfc9449::response_nonce(response))
        else {
            return;
        };
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        nonces.retain(|(o, _)| *o != origin);
        nonces.push((origin, nonce));
        if nonces.len() > NONCE_SERVERS {
            nonces.remove(0);
        }
    }
}

impl OAuth2Client {
    /// Uses `key` for DPoP (RFC 9449): every token request and every resource call with a
    /// DPoP-bound token carries a proof signed by it. It replaces the key generated for
    /// `dpop = true`; pass the key the stored tokens are bound to (see
    /// [`DpopKey::from_pkcs8_pem`]).
    pub fn with_dpop_key(mut self, key: DpopKey) -> Self {
        self.dpop = Some(DpopState::new(key));
        self
    }

    /// The DPoP key, when DPoP is on: its [`thumbprint`](DpopKey::thumbprint) is the
    /// `dpop_jkt` of the tokens bound to it, and [`DpopKey::to_pkcs8_pem`] exports it to be
    /// stored with them.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_ref().map(|d| &d.key)
    }

    /// The nonce the server of `url` last gave this client (RFC 9449 §8, §9), if any.
    pub fn dpop_nonce(&self, url: &str) -> Option<String> {
        self.dpop.as_ref().and_then(|d| d.nonce(url))
    }

    /// Sends a request to the token endpoint: client authentication, the `hooks`, and with
    /// DPoP on a fresh proof; on `use_dpop_nonce`, once more with the server's nonce (and a
    /// fresh client authentication, whose assertion must not be replayed either).
    pub(crate) async fn send_token_request(
        &self,
        base: FormRequest,
        hooks: &[FormHook],
    ) -> Result<http::Response<Vec<u8>>, ClientError> {
        let mut retried = false;
        loop {
            let mut request = base.clone();
            self.authenticate(&mut request).await?;
            run_form(hooks, &mut request);
            let Some(dpop) = &self.dpop else {
                return Ok(self.http.call(request.into_http()?).await?);
            };
            let url = request.url.clone();
            let nonce = dpop.nonce(&url);
            let proof = dpop.key.proof(
                &http::Method::POST,
                &url,
                self.clock.now(),
                self.random.as_ref(),
                None,
                nonce.as_deref(),
            )?;
            let value = http::HeaderValue::try_from(proof)
                .map_err(|_| ClientError::Config("the DPoP proof is not a valid header value".into()))?;
            request.headers.insert(DPOP, value);
            let response = self.http.call(request.into_http()?).await?;
            dpop.remember(&url, &response);
            match rfc9449::nonce_challenge(&response) {
                Some(_) if !retried => retried = true,
                _ => return Ok(response),
            }
        }
    }

    /// Records in a token just obtained which key it is bound to: a `DPoP` token gets the
    /// thumbprint of this client's key (RFC 9449 §6) in `dpop_jkt`.
    pub(crate) fn bind_token(&self, token: &mut Token) {
        if rfc9449::is_dpop_token_type(&token.token_type) {
            token.dpop_jkt = self.dpop_key().map(|k| k.thumbprint().to_owned());
        }
    }

    /// Places `token` on `request` with `placement`: a DPoP-bound token with the `DPoP`
    /// scheme and a proof (RFC 9449 §7.1) by the key it is bound to, whatever the placement;
    /// any other token as RFC 6750 says.
    pub(crate) fn place_token(
        &self,
        request: &mut http::Request<Vec<u8>>,
        token: &Token,
        placement: TokenPlacement,
    ) -> Result<(), ClientError> {
        if !is_bound(token) {
            add_bearer_token(request, token.access_token.secret(), placement)?;
            return Ok(());
        }
        let dpop = self.dpop.as_ref().ok_or(ClientError::DpopKeyMissing)?;
        if let Some(jkt) = &token.dpop_jkt
            && jkt != dpop.key.thumbprint()
        {
            return Err(ClientError::DpopKeyMismatch {
                token: jkt.clone(),
                key: dpop.key.thumbprint().to_owned(),
            });
        }
        let url = request.uri().to_string();
        let at = token.access_token.secret();
        let nonce = dpop.nonce(&url);
        let proof = dpop.key.proof(
            request.method(),
            &url,
            self.clock.now(),
            self.random.as_ref(),
            Some(at),
            nonce.as_deref(),
        )?;
        rfc9449::add_dpop_token(request, at, &proof)?;
        Ok(())
    }

    /// Sends `request` with `token` placed as configured ([`authorize_request`](Self::authorize_request)),
    /// without refreshing it. With a DPoP-bound token, a `401` asking for a DPoP nonce
    /// (`WWW-Authenticate: DPoP error="use_dpop_nonce"`) is answered with exactly one retry
    /// carrying the server's nonce; the response is returned whatever its status.
    pub async fn call_with_token(
        &self,
        request: http::Request<Vec<u8>>,
        token: &Token,
    ) -> Result<http::Response<Vec<u8>>, ClientError> {
        self.send_with_token(request, token, self.config.token_placement).await
    }

    pub(crate) async fn send_with_token(
        &self,
        request: http::Request<Vec<u8>>,
        token: &Token,
        placement: TokenPlacement,
    ) -> Result<http::Response<Vec<u8>>, ClientError> {
        if !is_bound(token) {
            let mut request = request;
            self.place_token(&mut request, token, placement)?;
            self.run_protected_hooks(&mut request);
            return Ok(self.http.call(request).await?);
        }
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let mut retried = false;
        loop {
            let mut request = http::Request::new(body.clone());
            *request.method_mut() = parts.method.clone();
            *request.uri_mut() = parts.uri.clone();
            *request.version_mut() = parts.version;
            *request.headers_mut() = parts.headers.clone();
            self.place_token(&mut request, token, placement)?;
            self.run_protected_hooks(&mut request);
            let response = self.http.call(request).await?;
            if let Some(dpop) = &self.dpop {
                dpop.remember(&url, &response);
            }
            match rfc9449::nonce_challenge(&response) {
                Some(_) if !retried => retried = true,
                _ => return Ok(response),
            }
        }
    }

    pub(crate) fn run_protected_hooks(&self, request: &mut http::Request<Vec<u8>>) {
        for hook in &self.hooks.protected_request {
            hook(request);
        }
    }
}

/// Whether `token` is bound to a DPoP key: its type says so, or it records a key.
pub(crate) fn is_bound(token: &Token) -> bool {
    rfc9449::is_dpop_token_type(&token.token_type) || token.dpop_jkt.is_some()
}

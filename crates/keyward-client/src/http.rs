//! [`ReqwestClient`]: the production [`HttpClient`].

use keyward::common::http_client::{BoxFuture, HttpClient, HttpError};
use std::time::Duration;

/// The largest response body read by default (1 MiB): token and metadata responses are small.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// An [`HttpClient`] over reqwest with rustls: redirects are never followed (an OAuth
/// endpoint that redirects is misconfigured, and following would leak credentials),
/// every call has a timeout, and bodies are capped.
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    inner: reqwest::Client,
    max_body: usize,
}

impl ReqwestClient {
    /// A client with a 30 s timeout and a 1 MiB body cap.
    pub fn new() -> Self {
        Self::with_timeout(Duration::from_secs(30))
    }

    /// A client whose every call (connect, send, read) completes within `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { inner, max_body: DEFAULT_MAX_BODY }
    }

    /// Sets the largest response body accepted.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }
}

impl Default for ReqwestClient {
    fn default() -> Self {
        Self::new()
    }
}

fn map_err(e: reqwest::Error) -> HttpError {
    if e.is_timeout() {
        HttpError::Timeout
    } else if e.is_connect() {
        HttpError::Connect(e.to_string())
    } else {
        HttpError::Other(Box::new(e))
    }
}

impl HttpClient for ReqwestClient {
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(|e| HttpError::Other(Box::new(e)))?;
            let mut response = self.inner.execute(request).await.map_err(map_err)?;
            let mut builder = http::Response::builder().status(response.status()).version(response.version());
            if let Some(headers) = builder.headers_mut() {
                headers.extend(response.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(map_err)? {
                if body.len() + chunk.len() > self.max_body {
                    return Err(HttpError::TooLarge { limit: self.max_body });
                }
                body.extend_from_slice(&chunk);
            }
            builder.body(body).map_err(|e| HttpError::Other(Box::new(e)))
        })
    }
}

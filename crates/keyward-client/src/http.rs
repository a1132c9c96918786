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
    ///
    /// # Panics
    ///
    /// If the TLS backend cannot be initialised (see [`ReqwestClient::try_with_timeout`]).
    pub fn new() -> Self {
        Self::with_timeout(Duration::from_secs(30))
    }

    /// A client whose every call (connect, send, read) completes within `timeout`.
    ///
    /// # Panics
    ///
    /// If the TLS backend cannot be initialised: falling back to a client that follows
    /// redirects and has no timeout would silently break this type's guarantees. Use
    /// [`ReqwestClient::try_with_timeout`] to handle that case.
    pub fn with_timeout(timeout: Duration) -> Self {
        match Self::try_with_timeout(timeout) {
            Ok(client) => client,
            Err(e) => panic!("cannot build the HTTP client: {e}"),
        }
    }

    /// Like [`ReqwestClient::with_timeout`], returning the builder's error.
    pub fn try_with_timeout(timeout: Duration) -> Result<Self, HttpError> {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| HttpError::Other(Box::new(e)))?;
        Ok(Self { inner, max_body: DEFAULT_MAX_BODY })
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

/// reqwest's errors name the request's URL, query included, in Display and Debug; the query
/// can hold an access token (RFC 6750 §2.3 placement, which §5.3 warns gets logged), so it
/// is dropped before the error travels on.
fn map_err(mut e: reqwest::Error) -> HttpError {
    if let Some(url) = e.url_mut() {
        url.set_query(None);
    }
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
            let request = reqwest::Request::try_from(request).map_err(map_err)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers every connection with `response` (or never, when empty).
    async fn server(response: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    if response.is_empty() {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    let _ = sock.write_all(response.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn redirects_come_back_unfollowed_and_hangs_time_out() {
        let base = server(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        let client = ReqwestClient::try_with_timeout(Duration::from_millis(500)).unwrap();
        let req = http::Request::get(format!("{base}/token")).body(Vec::new()).unwrap();
        let resp = client.call(req).await.unwrap();
        assert_eq!(resp.status(), 302);
        assert_eq!(resp.headers()["location"], "http://127.0.0.1:1/elsewhere");

        let hang = server("").await;
        let req = http::Request::get(format!("{hang}/token")).body(Vec::new()).unwrap();
        let err = client.call(req).await.unwrap_err();
        assert!(matches!(err, HttpError::Timeout), "{err:?}");
    }
}

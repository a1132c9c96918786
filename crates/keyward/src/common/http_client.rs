//! The one seam between the sans-IO core and the network.
//!
//! Drivers hold an `Arc<dyn HttpClient>`; tests pass a closure that asserts the exact
//! request bytes and returns a canned response.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future, as returned by [`HttpClient::call`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A transport failure: the request could not be sent or no response was read.
///
/// HTTP error statuses are *not* transport failures; they come back as responses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request timed out.
    #[error("request timed out")]
    Timeout,
    /// The connection failed or broke.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The response was larger than the client accepts.
    #[error("response body exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Any other transport error.
    #[error("transport error: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Sends one HTTP request and returns its response; redirects are not followed.
pub trait HttpClient: Send + Sync {
    /// Performs the request.
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>>;
}

impl<F, Fut> HttpClient for F
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, HttpError>> + Send + 'static,
{
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
        Box::pin(self(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn closures_are_clients() {
        let client: Arc<dyn HttpClient> = Arc::new(|req: http::Request<Vec<u8>>| async move {
            assert_eq!(req.uri(), "https://example.com/x");
            Ok(http::Response::builder().status(204).body(Vec::new()).unwrap())
        });
        let req = http::Request::get("https://example.com/x").body(Vec::new()).unwrap();
        assert_eq!(client.call(req).await.unwrap().status(), 204);
    }
}

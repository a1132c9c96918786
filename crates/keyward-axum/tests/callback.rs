//! Reading request bodies. The `OAuthCallback` extractor reading the provider's redirect: a
//! body over the limit is `413 TooLarge`; a body that fails to arrive for any other reason
//! is `400 BodyRead`, never mistaken for a size problem. The OAuth 1 provider's
//! `core_request` tells the two apart the same way (both `400 invalid_request` there).

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::FromRequest;
use axum::routing::get;
use http::{Request, StatusCode, header};
use http_body::Frame;
use keyward_axum::client::{ClientRejection, OAuthCallback};
use keyward_client::registry::callback::MAX_CALLBACK_BYTES;
use keyward_client::registry::{CallbackError, Error};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::ServiceExt;

/// A request body delivered chunk by chunk, each chunk or error as scripted.
struct Scripted(VecDeque<Result<Bytes, io::Error>>);

impl HttpBody for Scripted {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(self.0.pop_front().map(|r| r.map(Frame::data)))
    }
}

fn form_post(body: Body) -> Request<Body> {
    Request::post("/cb").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body).unwrap()
}

/// The body sent in `chunks` of at most 4 KiB, then `end` (an error, or nothing).
fn chunked(body: &[u8], end: Option<io::Error>) -> Body {
    let mut script: VecDeque<_> = body.chunks(4096).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    script.extend(end.map(Err));
    Body::new(Scripted(script))
}

async fn extract(req: Request<Body>) -> Result<OAuthCallback, ClientRejection> {
    OAuthCallback::from_request(req, &()).await
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")
}

#[tokio::test]
async fn a_body_that_breaks_is_a_400_not_a_413() {
    for body in [chunked(b"", Some(reset())), chunked(b"code=abc&state=", Some(reset()))] {
        let err = extract(form_post(body)).await.unwrap_err().0;
        match &err {
            Error::Callback(CallbackError::BodyRead(source)) => {
                assert!(source.to_string().contains("connection reset"), "{source}")
            }
            other => panic!("expected BodyRead, got {other:?}"),
        }
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn only_a_body_over_the_limit_is_a_413() {
    let big = format!("code=abc&state=xyz&pad={}", "x".repeat(MAX_CALLBACK_BYTES));
    // Whole (its size known up front) or streamed (found out while reading).
    for body in [Body::from(big.clone()), chunked(big.as_bytes(), None)] {
        let err = extract(form_post(body)).await.unwrap_err().0;
        assert!(matches!(err, Error::Callback(CallbackError::TooLarge)), "{err:?}");
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    // Up to the limit is read, whole or streamed.
    let fits = format!("code=abc&state=xyz&pad={}", "x".repeat(MAX_CALLBACK_BYTES - 23));
    assert_eq!(fits.len(), MAX_CALLBACK_BYTES);
    for body in [Body::from(fits.clone()), chunked(fits.as_bytes(), None)] {
        let OAuthCallback(cb) = extract(form_post(body)).await.unwrap();
        assert_eq!((cb.code(), cb.state()), (Some("abc"), Some("xyz")));
    }
}

#[tokio::test]
async fn the_rejections_answer_with_their_status() {
    let app = Router::new().route(
        "/cb",
        get(|OAuthCallback(cb): OAuthCallback| async move { cb.code().unwrap_or_default().to_owned() })
            .post(|OAuthCallback(cb): OAuthCallback| async move { cb.code().unwrap_or_default().to_owned() }),
    );
    let status = |req: Request<Body>| {
        let app = app.clone();
        async move { app.oneshot(req).await.unwrap().status() }
    };
    assert_eq!(
        status(Request::get("/cb?code=abc&state=s").body(Body::empty()).unwrap()).await,
        StatusCode::OK
    );
    assert_eq!(status(form_post(chunked(b"code=a", Some(reset())))).await, StatusCode::BAD_REQUEST);
    let big = "x".repeat(MAX_CALLBACK_BYTES + 1);
    assert_eq!(status(form_post(Body::from(big))).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(status(form_post(Body::from("code=a&code=b"))).await, StatusCode::BAD_REQUEST);
}

#[cfg(feature = "provider")]
#[tokio::test]
async fn the_provider_tells_a_broken_body_from_an_oversized_one() {
    use keyward::oauth1::rfc5849::provider::{InvalidRequest, ProviderError, RequestOptions};
    use keyward_axum::provider::core_request;
    let options = RequestOptions::default().body_limit(64);
    let post = |body| {
        Request::post("/oauth/request_token")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .unwrap()
    };
    let read = |r: Result<_, ProviderError>| match r {
        Err(ProviderError::InvalidRequest(e)) => Some(e),
        _ => None,
    };
    let broken = core_request(post(chunked(b"a=1", Some(reset()))), &options).await;
    assert_eq!(read(broken), Some(InvalidRequest::BodyRead));
    for body in [Body::from("a".repeat(65)), chunked(&[b'a'; 65], None)] {
        let big = core_request(post(body), &options).await;
        assert_eq!(read(big), Some(InvalidRequest::BodyTooLarge));
    }
    let fits = core_request(post(chunked(&[b'a'; 64], None)), &options).await.unwrap();
    assert_eq!(fits.body().len(), 64);
}

//! Reading the callback over actix-web: the body arrives already read (actix's own `Bytes`
//! extractor answers a broken or oversized upload itself), so the only failures here are a
//! callback over the limit (`413`) and a malformed one (`400`).

use actix_web::ResponseError;
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use keyward_actix::client;
use keyward_client::registry::callback::MAX_CALLBACK_BYTES;
use keyward_client::registry::{CallbackError, Error};

fn form_post() -> actix_web::HttpRequest {
    TestRequest::post()
        .uri("/cb")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .to_http_request()
}

#[actix_web::test]
async fn over_the_limit_is_413_and_malformed_is_400() {
    let fits = format!("code=abc&state=xyz&pad={}", "x".repeat(MAX_CALLBACK_BYTES - 23));
    let cb = client::callback(&form_post(), fits.as_bytes()).unwrap();
    assert_eq!((cb.code(), cb.state()), (Some("abc"), Some("xyz")));

    let big = format!("{fits}x");
    let err = client::callback(&form_post(), big.as_bytes()).unwrap_err();
    assert!(matches!(err.0, Error::Callback(CallbackError::TooLarge)), "{err:?}");
    assert_eq!(err.status_code(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(err.error_response().status(), StatusCode::PAYLOAD_TOO_LARGE);

    let long_query = TestRequest::get().uri(&format!("/cb?{big}")).to_http_request();
    let err = client::callback(&long_query, b"").unwrap_err();
    assert_eq!(err.status_code(), StatusCode::PAYLOAD_TOO_LARGE);

    let err = client::callback(&form_post(), b"code=a&code=b").unwrap_err();
    assert!(matches!(err.0, Error::Callback(CallbackError::Duplicated(_))), "{err:?}");
    assert_eq!(err.status_code(), StatusCode::BAD_REQUEST);
}

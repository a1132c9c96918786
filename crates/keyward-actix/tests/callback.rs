//! Reading the callback over actix-web: the body arrives already read (actix's own `Bytes`
//! extractor answers a broken or oversized upload itself), so the only failures here are a
//! callback over the limit (`413`, checked by the library's `Callback`) and a malformed one
//! (`400`).

use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpRequest, HttpResponse, ResponseError, web};
use keyward_actix::client::{self, ClientRejection};
use keyward_client::registry::callback::MAX_CALLBACK_BYTES;
use keyward_client::registry::{AppConfig, CallbackError, Error, ErrorKind, OAuth};

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

async fn callback_route(
    oauth: web::Data<OAuth>,
    session: Session,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ClientRejection> {
    let app = oauth.client("corp")?;
    client::authorize_access_token(&app, &session, &req, &body).await?;
    Ok(HttpResponse::Ok().finish())
}

/// Through an actix app, as a provider's redirect arrives: an oversized `form_post` body or
/// query is answered `413` before any session or state is looked at; one that fits goes on
/// to the state check (`400`: no login in progress in this session).
#[actix_web::test]
async fn an_oversized_callback_through_an_actix_app_is_413() {
    let oauth = OAuth::builder().build();
    let config = AppConfig {
        client_id: Some("cid".into()),
        authorize_url: Some("https://as.example/authorize".into()),
        access_token_url: Some("https://as.example/token".into()),
        ..AppConfig::default()
    };
    oauth.register("corp", config).unwrap();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(oauth))
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::generate()))
            .route("/cb", web::get().to(callback_route))
            .route("/cb", web::post().to(callback_route)),
    )
    .await;
    let fits = format!("code=abc&state=xyz&pad={}", "x".repeat(MAX_CALLBACK_BYTES - 23));
    let big = format!("{fits}x");
    let post = |body: &str| {
        TestRequest::post()
            .uri("/cb")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(body.to_owned())
            .to_request()
    };

    let resp = test::call_service(&app, post(&big)).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let text = test::read_body(resp).await;
    assert_eq!(String::from_utf8_lossy(&text), ErrorKind::TooLarge.message());

    let resp = test::call_service(&app, TestRequest::get().uri(&format!("/cb?{big}")).to_request()).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let resp = test::call_service(&app, post(&fits)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let text = test::read_body(resp).await;
    assert_eq!(String::from_utf8_lossy(&text), ErrorKind::StartAgain.message());
}

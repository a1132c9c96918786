//! The session bridge keeps flow state across requests through a real actix-session cookie.

use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{App, HttpResponse, test, web};
use keyward_actix::SessionBridge;
use keyward_client::registry::state::{FlowData, SessionStateStore, StateStore};

async fn start(session: Session, state: web::Path<String>) -> HttpResponse {
    let bridge = SessionBridge::load(&session).unwrap();
    SessionStateStore.save(&bridge, "demo", &state, FlowData::default(), 100, 600).await.unwrap();
    bridge.store(&session).unwrap();
    HttpResponse::Ok().body("started")
}

async fn callback(session: Session, state: web::Path<String>) -> HttpResponse {
    let bridge = SessionBridge::load(&session).unwrap();
    let r = SessionStateStore.take(&bridge, "demo", &state, 110, 600).await;
    bridge.store(&session).unwrap();
    match r {
        Ok(_) => HttpResponse::Ok().body("ok"),
        Err(e) => HttpResponse::BadRequest().body(e.to_string()),
    }
}

#[actix_web::test]
async fn state_survives_the_round_trip() {
    let key = Key::generate();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), key))
            .route("/start/{state}", web::get().to(start))
            .route("/callback/{state}", web::get().to(callback)),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/start/abc").to_request()).await;
    let cookie = res.response().cookies().next().expect("a session cookie").into_owned();
    assert_eq!(cookie.same_site(), Some(actix_web::cookie::SameSite::Lax));

    let res = test::call_service(
        &app,
        test::TestRequest::get().uri("/callback/abc").cookie(cookie.clone()).to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let cookie2 = res.response().cookies().next().expect("updated cookie").into_owned();
    let res =
        test::call_service(&app, test::TestRequest::get().uri("/callback/abc").cookie(cookie2).to_request())
            .await;
    assert_eq!(res.status(), 400);
    let body = test::read_body(res).await;
    assert!(String::from_utf8_lossy(&body).contains("already completed"));
    let res = test::call_service(&app, test::TestRequest::get().uri("/callback/abc").to_request()).await;
    let body = test::read_body(res).await;
    assert!(String::from_utf8_lossy(&body).contains("session cookie was not sent"));
}

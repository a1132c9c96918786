//! Logout over actix-web, against a scripted OpenID provider (a closure `HttpClient`): the
//! RP-initiated logout redirect (`302`, `no-store`, the end-session parameters), and the
//! back-channel logout endpoint (`200` then `400` for the replay, with §2.8's JSON error;
//! `404` for an unknown app).

use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpRequest, HttpResponse, web};
use keyward::{HttpClient, HttpError};
use keyward_actix::client::ClientRejection;
use keyward_actix::logout;
use keyward_client::registry::{AppConfig, BackchannelReceiver, OAuth};
use keyward_stores::{MemoryStore, StoreAdmin};
use keyward_testkit::jose::{TestSigner, jwks};
use serde_json::json;
use std::sync::{Arc, Mutex};

const ISS: &str = "https://op.example";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn provider() -> Arc<dyn HttpClient> {
    let signer = TestSigner::load("oidc_op_a.pem", "key-a");
    Arc::new(move |req: http::Request<Vec<u8>>| {
        let body = match req.uri().path() {
            "/.well-known/openid-configuration" => json!({"issuer": ISS,
                "authorization_endpoint": format!("{ISS}/authorize"), "token_endpoint": format!("{ISS}/token"),
                "jwks_uri": format!("{ISS}/jwks"), "end_session_endpoint": format!("{ISS}/end")}),
            _ => jwks(&[&signer]),
        };
        async move { Ok::<_, HttpError>(http::Response::new(body.to_string().into_bytes())) }
    })
}

async fn sign_out(oauth: web::Data<OAuth>, session: Session) -> Result<HttpResponse, ClientRejection> {
    let app = oauth.client("op")?;
    logout::logout_redirect(&app, &session, Some("https://rp.example/bye"), Some("s-1")).await
}

async fn backchannel(
    receiver: web::Data<BackchannelReceiver>,
    name: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    logout::backchannel_logout(&receiver, &name, &req, &body).await
}

#[actix_web::test]
async fn logout_redirect_and_backchannel_endpoint() {
    let oauth = OAuth::builder().http_client(provider()).build();
    oauth
        .register(
            "op",
            AppConfig {
                client_id: Some("cid".into()),
                server_metadata_url: Some(format!("{ISS}/.well-known/openid-configuration")),
                ..AppConfig::default()
            },
        )
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    store.purge_expired(now() - 60).await.unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let receiver = BackchannelReceiver::new(oauth.clone(), store, move |app, sub, sid| {
        c.lock().unwrap().push((app, sub, sid));
        async { Ok(()) }
    });
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(oauth))
            .app_data(web::Data::new(receiver))
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), Key::generate()))
            .route("/logout", web::get().to(sign_out))
            .route("/bc/{name}", web::post().to(backchannel)),
    )
    .await;

    let resp = test::call_service(&app, TestRequest::get().uri("/logout").to_request()).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    assert_eq!(
        resp.headers().get("location").unwrap(),
        "https://op.example/end?client_id=cid&post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye&state=s-1"
    );

    let claims = json!({"iss": ISS, "aud": "cid", "iat": now(), "jti": "j-1", "sid": "sid-9",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}}});
    let token = TestSigner::load("oidc_op_a.pem", "key-a").sign(&claims);
    let post = |uri: &str| {
        TestRequest::post()
            .uri(uri)
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(format!("logout_token={token}"))
            .to_request()
    };
    let resp = test::call_service(&app, post("/bc/op")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    assert_eq!(*calls.lock().unwrap(), vec![("op".to_owned(), None, Some("sid-9".to_owned()))]);

    let resp = test::call_service(&app, post("/bc/op")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers().get("content-type").unwrap(), "application/json");
    let body: serde_json::Value = serde_json::from_slice(&test::read_body(resp).await).unwrap();
    assert_eq!(body["error"], "invalid_request");

    let resp = test::call_service(&app, post("/bc/other")).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(calls.lock().unwrap().len(), 1);
}

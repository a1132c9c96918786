//! Every row of the failure table on `Error::status` through actix-web: the status, and
//! the page's sentence as the body (never which rule failed). The cases are the testkit's,
//! run by the axum tests as well.

use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use keyward_actix::client::{self, ClientRejection};
use keyward_client::registry::OAuth;

async fn login(
    oauth: web::Data<OAuth>,
    name: web::Path<String>,
    session: Session,
) -> Result<HttpResponse, ClientRejection> {
    let app = oauth.client(&name)?;
    client::authorize_redirect(&app, &session, &format!("https://site.test/auth/{name}")).await
}

async fn callback(
    oauth: web::Data<OAuth>,
    name: web::Path<String>,
    session: Session,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ClientRejection> {
    let app = oauth.client(&name)?;
    let token = client::authorize_access_token(&app, &session, &req, &body).await?;
    let profile = app.userinfo(&token).await?;
    Ok(HttpResponse::Ok().body(format!("signed in as {}", profile["sub"].as_str().unwrap_or_default())))
}

async fn serve(oauth: OAuth) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let oauth = web::Data::new(oauth);
    let key = Key::generate();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(oauth.clone())
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), key.clone()))
            .route("/login/{name}", web::get().to(login))
            .route("/auth/{name}", web::get().to(callback))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    base
}

#[actix_web::test]
async fn every_failure_answers_its_status_and_sentence() {
    keyward_testkit::failures::run(serve).await;
}

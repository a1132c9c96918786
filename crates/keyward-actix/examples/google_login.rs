//! "Sign in with Google" (OpenID Connect, PKCE) in an actix-web app.
//!
//! Create an OAuth client at <https://console.cloud.google.com/apis/credentials> with the
//! redirect URI `http://127.0.0.1:8000/auth`, then:
//!
//! ```sh
//! GOOGLE_CLIENT_ID=… GOOGLE_CLIENT_SECRET=… cargo run -p keyward-actix --example google_login
//! ```
//!
//! The `google` preset supplies discovery, scope and PKCE; the ID token is validated
//! (signature from Google's JWKS, issuer, audience, expiry, nonce) and its claims shown.

use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use keyward_actix::client::{self, ClientRejection};
use keyward_client::registry::{AppConfig, OAuth};

async fn login(oauth: web::Data<OAuth>, session: Session) -> Result<HttpResponse, ClientRejection> {
    let google = oauth.client("google")?;
    client::authorize_redirect(&google, &session, "http://127.0.0.1:8000/auth").await
}

async fn auth(
    oauth: web::Data<OAuth>,
    session: Session,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ClientRejection> {
    let google = oauth.client("google")?;
    let token = client::authorize_access_token(&google, &session, &req, &body).await?;
    Ok(HttpResponse::Ok().json(token.userinfo()))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let oauth = OAuth::builder().env().build();
    if let Err(e) = oauth.register("google", AppConfig::default()) {
        // `Display`: a missing credential names its variable (GOOGLE_CLIENT_ID, …).
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let oauth = web::Data::new(oauth);
    let key = Key::generate();
    println!("open http://127.0.0.1:8000/login");
    HttpServer::new(move || {
        App::new()
            .app_data(oauth.clone())
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                    .cookie_secure(false)
                    .build(),
            )
            .route("/login", web::get().to(login))
            .route("/auth", web::get().to(auth))
    })
    .bind(("127.0.0.1", 8000))?
    .run()
    .await
}

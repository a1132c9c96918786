//! End to end over actix-web: the same registry logs a user in with OpenID Connect + PKCE
//! against npm's `oidc-provider` and with OAuth 1.0a against an Authlib provider, through
//! actix-session. The browser is played by plain HTTP with a cookie jar.
//!
//! Needs the peers `.ci/run` installs; skipped visibly without them, failed under CI=true.

use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use keyward::common::secret::SecretString;
use keyward_actix::client::{self, ClientRejection};
use keyward_client::registry::{AppConfig, ClientKwargs, OAuth};
use keyward_testkit::peers::{AuthlibProvider, Browser, OIDC_REDIRECT, OIDC_SECRET, OidcPeer};
use keyward_testkit::require_or_skip;

struct Site {
    oauth: OAuth,
    base: String,
}

async fn login(
    site: web::Data<Site>,
    name: web::Path<String>,
    session: Session,
) -> Result<HttpResponse, ClientRejection> {
    let app = site.oauth.client(&name)?;
    let redirect_uri =
        if *name == "op" { OIDC_REDIRECT.to_owned() } else { format!("{}/auth/{name}", site.base) };
    client::authorize_redirect(&app, &session, &redirect_uri).await
}

async fn callback(
    site: web::Data<Site>,
    name: web::Path<String>,
    session: Session,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ClientRejection> {
    let app = site.oauth.client(&name)?;
    let token = client::authorize_access_token(&app, &session, &req, &body).await?;
    let profile = app.userinfo(&token).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "profile": profile, "id_token_claims": token.userinfo() })))
}

/// Serves the site on a free port; returns its base URL.
fn serve(oauth: OAuth) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let site = web::Data::new(Site { oauth, base: base.clone() });
    let key = Key::generate();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(site.clone())
            .wrap(SessionMiddleware::new(CookieSessionStore::default(), key.clone()))
            .route("/login/{name}", web::get().to(login))
            .route("/auth/{name}", web::get().to(callback))
            .route("/auth/{name}", web::post().to(callback))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    base
}

#[actix_web::test]
async fn openid_connect_login_over_actix() {
    let peer = require_or_skip!(OidcPeer::start(), "node and npm oidc-provider", "run .ci/run");
    let oauth = OAuth::builder().build();
    oauth
        .register(
            "op",
            AppConfig {
                client_id: Some("post".into()),
                client_secret: Some(SecretString::new(OIDC_SECRET)),
                server_metadata_url: Some(peer.metadata_url()),
                client_kwargs: ClientKwargs {
                    scope: Some("openid email".into()),
                    code_challenge_method: Some("S256".into()),
                    token_endpoint_auth_method: Some("client_secret_post".into()),
                    ..ClientKwargs::default()
                },
                ..AppConfig::default()
            },
        )
        .unwrap();
    let base = serve(oauth);
    let mut browser = Browser::new();
    let start = browser.get(&format!("{base}/login/op")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let query = browser.login_at_oidc(&start.location.unwrap(), "carol").await;
    let done = browser.get(&format!("{base}/auth/op?{query}")).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let v: serde_json::Value = serde_json::from_str(&done.body).unwrap();
    assert_eq!(v["profile"]["sub"], "carol");
    assert_eq!(v["id_token_claims"]["aud"], "post");
    let replay = browser.get(&format!("{base}/auth/op?{query}")).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
}

#[actix_web::test]
async fn oauth1_login_over_actix() {
    let python = require_or_skip!(keyward_testkit::python(), "the peers' Python virtualenv", "run .ci/run");
    let provider = AuthlibProvider::start(&python);
    let oauth = OAuth::builder().toml(&provider.clients_toml("authlib")).unwrap().build();
    oauth.register("authlib", AppConfig::default()).unwrap();
    let base = serve(oauth);
    let mut browser = Browser::new();
    let start = browser.get(&format!("{base}/login/authlib")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let at_provider = browser.get(&start.location.unwrap()).await;
    let done = browser.get(&at_provider.location.expect("redirect back")).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let v: serde_json::Value = serde_json::from_str(&done.body).unwrap();
    assert_eq!(v["profile"]["user"], "alice");
}

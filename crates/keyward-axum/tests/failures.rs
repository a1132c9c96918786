//! Every row of the failure table on `Error::status` through axum: the status, and the
//! page's sentence as the body (never which rule failed). The cases are the testkit's, run
//! by the actix tests as well.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use keyward_axum::client::{ClientRejection, OAuthCallback, RedirectTo};
use keyward_axum::{KeywardSession, session_layer};
use keyward_client::registry::OAuth;

async fn login(
    State(oauth): State<OAuth>,
    Path(name): Path<String>,
    session: KeywardSession,
) -> Result<RedirectTo, ClientRejection> {
    let app = oauth.client(&name)?;
    Ok(RedirectTo(app.authorize_redirect(&session, &format!("https://site.test/auth/{name}")).await?))
}

async fn callback(
    State(oauth): State<OAuth>,
    Path(name): Path<String>,
    session: KeywardSession,
    OAuthCallback(cb): OAuthCallback,
) -> Result<String, ClientRejection> {
    let app = oauth.client(&name)?;
    let token = app.authorize_access_token(&session, &cb).await?;
    let profile = app.userinfo(&token).await?;
    Ok(format!("signed in as {}", profile["sub"].as_str().unwrap_or_default()))
}

async fn serve(oauth: OAuth) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/login/{name}", get(login))
        .route("/auth/{name}", get(callback).post(callback))
        .layer(session_layer(tower_sessions::MemoryStore::default(), false))
        .with_state(oauth);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test]
async fn every_failure_answers_its_status_and_sentence() {
    keyward_testkit::failures::run(serve).await;
}

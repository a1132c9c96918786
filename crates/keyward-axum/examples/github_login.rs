//! "Sign in with GitHub" in an axum app.
//!
//! Register an OAuth app at <https://github.com/settings/developers> with the callback
//! `http://127.0.0.1:8000/auth`, then:
//!
//! ```sh
//! GITHUB_CLIENT_ID=… GITHUB_CLIENT_SECRET=… cargo run -p keyward-axum --example github_login
//! ```
//!
//! The `github` preset supplies the endpoints; the environment supplies the credentials.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use axum::{Json, Router};
use keyward_axum::client::{ClientRejection, OAuthCallback, RedirectTo};
use keyward_axum::{KeywardSession, session_layer};
use keyward_client::registry::{AppConfig, OAuth};

const CALLBACK: &str = "http://127.0.0.1:8000/auth";

async fn home(session: KeywardSession) -> impl IntoResponse {
    match session.0.get::<serde_json::Value>("user").await.ok().flatten() {
        Some(user) => Json(user).into_response(),
        None => Html(r#"<a href="/login">Sign in with GitHub</a>"#).into_response(),
    }
}

async fn login(State(oauth): State<OAuth>, session: KeywardSession) -> Result<RedirectTo, ClientRejection> {
    let github = oauth.client("github")?;
    Ok(RedirectTo(github.authorize_redirect(&session, CALLBACK).await?))
}

async fn auth(
    State(oauth): State<OAuth>,
    session: KeywardSession,
    OAuthCallback(callback): OAuthCallback,
) -> Result<Redirect, ClientRejection> {
    let github = oauth.client("github")?;
    let token = github.authorize_access_token(&session, &callback).await?;
    // `user` is relative to the preset's api_base_url, https://api.github.com/.
    let user = github.get("user").token(token).send_json().await?;
    let user = serde_json::json!({ "login": user["login"], "name": user["name"] });
    session.0.insert("user", user).await?;
    Ok(Redirect::to("/"))
}

/// Errors are printed with `Display`: a missing credential names its variable.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let oauth = OAuth::builder().env().build();
    oauth.register("github", AppConfig::default())?;
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/auth", get(auth))
        .layer(session_layer(tower_sessions::MemoryStore::default(), false))
        .with_state(oauth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    println!("open http://127.0.0.1:8000/");
    axum::serve(listener, app).await?;
    Ok(())
}

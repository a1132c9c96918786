//! "Sign in with X" (Twitter) over OAuth 1.0a in an axum app.
//!
//! Create an app at <https://developer.x.com/> with the callback
//! `http://127.0.0.1:8000/auth`, then:
//!
//! ```sh
//! TWITTER_CLIENT_ID=<API key> TWITTER_CLIENT_SECRET=<API secret> \
//!     cargo run -p keyward-axum --example twitter_login
//! ```
//!
//! The request token travels in the session between `/login` and `/auth`; the `twitter`
//! preset supplies the endpoints and `userinfo_endpoint` (`account/verify_credentials`).

use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use keyward_axum::client::{ClientRejection, OAuthCallback, RedirectTo};
use keyward_axum::{KeywardSession, session_layer};
use keyward_client::registry::{AppConfig, OAuth};

async fn login(State(oauth): State<OAuth>, session: KeywardSession) -> Result<RedirectTo, ClientRejection> {
    let x = oauth.client("twitter")?;
    Ok(RedirectTo(x.authorize_redirect(&session, "http://127.0.0.1:8000/auth").await?))
}

async fn auth(
    State(oauth): State<OAuth>,
    session: KeywardSession,
    OAuthCallback(callback): OAuthCallback,
) -> Result<Json<serde_json::Value>, ClientRejection> {
    let x = oauth.client("twitter")?;
    let token = x.authorize_access_token(&session, &callback).await?;
    let profile = x.userinfo(&token).await?;
    Ok(Json(serde_json::json!({ "screen_name": profile.get("screen_name"), "name": profile.get("name") })))
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
    oauth.register("twitter", AppConfig::default())?;
    let app = Router::new()
        .route("/", get(|| async { Html(r#"<a href="/login">Sign in with X</a>"#) }))
        .route("/login", get(login))
        .route("/auth", get(auth))
        .layer(session_layer(tower_sessions::MemoryStore::default(), false))
        .with_state(oauth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    println!("open http://127.0.0.1:8000/");
    axum::serve(listener, app).await?;
    Ok(())
}

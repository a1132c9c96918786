//! "Call the API again" on the profile page renews an expired OAuth 2 token with its
//! refresh token, keeps the new one, and reads the profile with it. The provider is a
//! small scripted OAuth 2.0 server in the test.

mod common;

use axum::routing::{get, post};
use common::{TempDir, input_value};
use keyward_testkit::peers::Browser;
use std::sync::{Arc, Mutex};

/// What the scripted provider saw: grant types at the token endpoint, bearer tokens at
/// userinfo.
#[derive(Default)]
struct Seen {
    grants: Vec<String>,
    bearers: Vec<String>,
}

async fn scripted_provider(seen: Arc<Mutex<Seen>>) -> (String, tokio::task::JoinHandle<()>) {
    let token_seen = seen.clone();
    let router = axum::Router::new()
        .route(
            "/token",
            post(move |body: String| {
                let seen = token_seen.clone();
                async move {
                    let grant = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(k, _)| k == "grant_type")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    seen.lock().unwrap().grants.push(grant.clone());
                    // The first token expires 2 s after issue (the app's leeway is 0).
                    let (access, expires_in) =
                        if grant == "refresh_token" { ("access-2", 3600) } else { ("access-1", 2) };
                    axum::Json(serde_json::json!({
                        "access_token": access, "token_type": "Bearer", "expires_in": expires_in,
                        "refresh_token": "refresh-1",
                    }))
                }
            }),
        )
        .route(
            "/userinfo",
            get(move |headers: axum::http::HeaderMap| {
                let seen = seen.clone();
                async move {
                    let bearer = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .unwrap_or("")
                        .to_owned();
                    seen.lock().unwrap().bearers.push(bearer.clone());
                    axum::Json(serde_json::json!({"sub": "dana", "name": "Dana", "seen_token": bearer}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (base, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calling_the_api_again_refreshes_an_expired_oauth2_token() {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let (op, _op_task) = scripted_provider(seen.clone()).await;
    let dir = TempDir::new("refresh");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.toml = Some(format!(
        "[clients.scripted]\nclient_id = \"c\"\nclient_secret = \"s\"\n\
         authorize_url = \"{op}/authorize\"\naccess_token_url = \"{op}/token\"\n\
         userinfo_endpoint = \"{op}/userinfo\"\nclient_kwargs = {{ leeway = 0 }}\n"
    ));
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();

    let start = browser.get(&format!("{base}/login/scripted")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let authorize = url::Url::parse(&start.location.unwrap()).unwrap();
    let state = authorize.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let done = browser.get(&format!("{base}/auth/scripted?code=the-code&state={state}")).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let profile = browser.get(&format!("{base}/profile")).await;
    assert!(profile.body.contains("&quot;seen_token&quot;: &quot;access-1&quot;"), "{}", profile.body);

    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let again = browser
        .post_form(&format!("{base}/profile/refresh"), &[("csrf", &input_value(&profile.body, "csrf"))])
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    let profile = browser.get(&format!("{base}/profile")).await;
    assert!(profile.body.contains("&quot;seen_token&quot;: &quot;access-2&quot;"), "{}", profile.body);
    assert!(profile.body.contains("Fetched 2 time(s)"));
    assert!(
        profile.body.contains("<th>expires_in</th><td><code>3600</code>"),
        "the new token is kept: {}",
        profile.body
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.grants, ["authorization_code", "refresh_token"], "one refresh");
        assert_eq!(seen.bearers, ["access-1", "access-2"]);
    }

    // The renewed token is used as it is: no second refresh.
    let third = browser
        .post_form(&format!("{base}/profile/refresh"), &[("csrf", &input_value(&profile.body, "csrf"))])
        .await;
    assert_eq!(third.status, 303);
    assert_eq!(seen.lock().unwrap().grants.len(), 2);
}

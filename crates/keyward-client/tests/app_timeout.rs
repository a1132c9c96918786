//! `client_kwargs.timeout` over real sockets: a provider that accepts connections and never
//! answers. Every outgoing call of an app with a short timeout (token endpoint, userinfo, API
//! calls, discovery, OAuth 1 credentials) fails with the typed timeout error in bounded
//! time, whether the timeout comes from code, TOML or the environment, and whether the
//! registry's transport is the default one or the application's.

use keyward::HttpError;
use keyward::common::secret::SecretString;
use keyward_client::oauth1::OAuth1Error;
use keyward_client::oauth2::ClientError;
use keyward_client::registry::{AppConfig, AppToken, ClientKwargs, Error, OAuth, OAuth1Token, RemoteApp};
use keyward_client::session::MemorySession;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// The apps' timeout.
const TIMEOUT: Duration = Duration::from_millis(300);
/// Generous: the default transport's own timeout is 30 s, so a call bounded by the app's
/// timeout ends far below this even on a loaded machine.
const BOUND: Duration = Duration::from_secs(10);

/// A loopback server that accepts every connection, holds it open and never answers.
async fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    base
}

/// The error is the transport's timeout, wherever the flow wraps it.
fn is_timeout(e: &Error) -> bool {
    matches!(
        e,
        Error::Http(HttpError::Timeout)
            | Error::OAuth2(ClientError::Http(HttpError::Timeout))
            | Error::OAuth1(OAuth1Error::Http(HttpError::Timeout))
    )
}

/// Runs `call`, which must fail with a timeout within [`BOUND`].
async fn times_out<T: std::fmt::Debug>(what: &str, call: impl Future<Output = Result<T, Error>>) {
    let start = Instant::now();
    let result = tokio::time::timeout(BOUND * 2, call)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer after {:?}", BOUND * 2));
    let elapsed = start.elapsed();
    match result {
        Err(e) if is_timeout(&e) => {}
        other => panic!("{what}: expected a timeout, got {other:?}"),
    }
    assert!(elapsed < BOUND, "{what}: took {elapsed:?}");
}

fn bearer() -> AppToken {
    AppToken::OAuth2(keyward_client::oauth2::Token::bearer("at"))
}

fn oauth2_config(base: &str, timeout: Option<Duration>) -> AppConfig {
    AppConfig {
        client_id: Some("cid".into()),
        client_secret: Some(SecretString::new("secret")),
        authorize_url: Some(format!("{base}/authorize")),
        access_token_url: Some(format!("{base}/token")),
        api_base_url: Some(format!("{base}/api/")),
        userinfo_endpoint: Some(format!("{base}/userinfo")),
        client_kwargs: ClientKwargs { timeout, ..ClientKwargs::default() },
        ..AppConfig::default()
    }
}

/// Every call an OAuth 2 app makes by itself.
async fn oauth2_calls_time_out(app: &RemoteApp) {
    times_out("API call", app.get("me").token(bearer()).send()).await;
    times_out("API call without token", app.post("me").withhold_token().send()).await;
    times_out("userinfo", app.userinfo(&bearer())).await;
    let oauth2 = app.oauth2().unwrap();
    times_out("token endpoint", async { oauth2.client_credentials(None).await.map_err(Error::from) }).await;
}

#[tokio::test]
async fn an_oauth2_app_with_a_timeout_in_code_times_out_every_call() {
    let base = silent_server().await;
    let oauth = OAuth::builder().build();
    let app = oauth.register("slow", oauth2_config(&base, Some(TIMEOUT))).unwrap();
    oauth2_calls_time_out(&app).await;

    // Discovery (and, through the same transport, the JWK set) on the first login.
    let discovered = AppConfig {
        authorize_url: None,
        access_token_url: None,
        server_metadata_url: Some(format!("{base}/.well-known/openid-configuration")),
        ..oauth2_config(&base, Some(TIMEOUT))
    };
    let app = oauth.register("discovered", discovered).unwrap();
    let session = MemorySession::default();
    times_out("discovery", app.authorize_redirect(&session, "https://rp.example/cb")).await;
}

#[tokio::test]
async fn the_timeout_from_toml_and_from_the_environment_applies() {
    let base = silent_server().await;
    let toml = format!(
        r#"
        [clients.from-toml]
        client_id = "cid"
        client_secret = "secret"
        authorize_url = "{base}/authorize"
        access_token_url = "{base}/token"
        api_base_url = "{base}/api/"
        userinfo_endpoint = "{base}/userinfo"
        client_kwargs = {{ timeout = 0.3 }}
        "#
    );
    let oauth = OAuth::builder().toml(&toml).unwrap().build();
    let app = oauth.register("from-toml", AppConfig::default()).unwrap();
    assert_eq!(app.config().client_kwargs.timeout, Some(TIMEOUT));
    oauth2_calls_time_out(&app).await;

    // The environment's `{NAME}_CLIENT_KWARGS` (read through a function: tests do not set
    // process variables), here for an OAuth 1 app.
    let env = |key: &str| {
        let v = match key {
            "FROM_ENV_CLIENT_ID" => "ck".to_owned(),
            "FROM_ENV_CLIENT_SECRET" => "cs".to_owned(),
            "FROM_ENV_REQUEST_TOKEN_URL" => format!("{base}/initiate"),
            "FROM_ENV_AUTHORIZE_URL" => format!("{base}/authorize"),
            "FROM_ENV_ACCESS_TOKEN_URL" => format!("{base}/token"),
            "FROM_ENV_API_BASE_URL" => format!("{base}/api/"),
            "FROM_ENV_CLIENT_KWARGS" => r#"{"timeout": 0.3}"#.to_owned(),
            _ => return None,
        };
        Some(v)
    };
    let config = AppConfig::from_env_with("from-env", env).unwrap();
    let app = oauth.register("from-env", config).unwrap();
    assert_eq!(app.config().client_kwargs.timeout, Some(TIMEOUT));
    let session = MemorySession::default();
    times_out("temporary credentials", app.authorize_redirect(&session, "https://rp.example/cb")).await;
    let token = AppToken::OAuth1(OAuth1Token {
        oauth_token: "t".into(),
        oauth_token_secret: SecretString::new("ts"),
        params: Default::default(),
    });
    times_out("signed API call", app.get("me").token(token).send()).await;
}

#[tokio::test]
async fn the_timeout_also_bounds_an_application_transport() {
    // A transport of the application's that never answers; an app without a timeout of its
    // own keeps using it as it is.
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = {
        let answered = answered.clone();
        move |req: http::Request<Vec<u8>>| {
            let answered = answered.clone();
            async move {
                if req.uri().path().starts_with("/slow") {
                    std::future::pending::<()>().await;
                }
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, HttpError>(http::Response::new(b"{}".to_vec()))
            }
        }
    };
    let oauth = OAuth::builder().http_client(Arc::new(http)).build();
    let slow = oauth.register("slow", oauth2_config("https://prov.example/slow", Some(TIMEOUT))).unwrap();
    times_out("API call", slow.get("me").token(bearer()).send()).await;
    times_out("userinfo", slow.userinfo(&bearer())).await;
    let fast = oauth.register("fast", oauth2_config("https://prov.example/fast", None)).unwrap();
    let resp = fast.get("me").token(bearer()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(answered.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn apps_without_a_timeout_share_the_registry_transport() {
    // Without `timeout` the app has the registry's transport: a call to the silent server
    // is still pending after the short timeout (it would end at the default 30 s).
    let base = silent_server().await;
    let oauth = OAuth::builder().build();
    let app = oauth.register("plain", oauth2_config(&base, None)).unwrap();
    let pending = tokio::time::timeout(TIMEOUT * 3, app.get("me").token(bearer()).send()).await;
    assert!(pending.is_err(), "{pending:?}");
}

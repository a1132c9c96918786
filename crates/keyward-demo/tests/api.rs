//! The provider as a third-party client meets it: signature methods set by configuration,
//! `POST /api/me` with the OAuth parameters in a form body, and JSON errors on `/api/*`
//! with an `OAuth realm` challenge, while the OAuth endpoints keep RFC 5849's form encoding.

mod common;

use common::TempDir;
use keyward::common::http_client::HttpClient;
use keyward::common::secret::SecretString;
use keyward_client::ReqwestClient;
use keyward_client::registry::{AppConfig, AppToken, Callback, ClientKwargs, Error, OAuth, RemoteApp};
use keyward_client::session::MemorySession;
use keyward_demo::SeedClient;
use keyward_testkit::peers::Browser;
use std::sync::{Arc, Mutex};

const CALLBACK: &str = "http://127.0.0.1:1/cb";

fn seeded(client_id: &str) -> SeedClient {
    SeedClient {
        client_id: client_id.into(),
        client_secret: SecretString::new(format!("{client_id}-secret")),
        callback_uri: Some(CALLBACK.into()),
        redirect_uris: None,
        rsa_public_key: None,
        name: None,
    }
}

/// The requests a client sent, as (method, path, `Authorization` header, body).
type Sent = Arc<Mutex<Vec<(String, String, Option<String>, String)>>>;

/// A client of the demo's provider as `client_id`, signing with `method` and placing the
/// OAuth parameters in `signature_type`; what it sends is recorded in the returned list.
fn client(base: &str, client_id: &str, method: &str, signature_type: &str) -> (RemoteApp, Sent) {
    let sent: Sent = Arc::default();
    let record = sent.clone();
    let inner = Arc::new(ReqwestClient::new());
    let http = move |req: http::Request<Vec<u8>>| {
        record.lock().unwrap().push((
            req.method().to_string(),
            req.uri().path().to_owned(),
            req.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned()),
            String::from_utf8_lossy(req.body()).into_owned(),
        ));
        let inner = inner.clone();
        async move { inner.call(req).await }
    };
    let oauth = OAuth::builder().http_client(Arc::new(http) as Arc<dyn HttpClient>).build();
    let app = oauth
        .register(
            client_id,
            AppConfig {
                client_id: Some(client_id.into()),
                client_secret: Some(SecretString::new(format!("{client_id}-secret"))),
                request_token_url: Some(format!("{base}/oauth/initiate")),
                authorize_url: Some(format!("{base}/oauth/authorize")),
                access_token_url: Some(format!("{base}/oauth/token")),
                userinfo_endpoint: Some(format!("{base}/api/me")),
                client_kwargs: ClientKwargs {
                    signature_method: Some(method.into()),
                    signature_type: Some(signature_type.into()),
                    ..ClientKwargs::default()
                },
                ..AppConfig::default()
            },
        )
        .unwrap();
    (app, sent)
}

/// Alice grants `app` access; returns its token credentials.
async fn token_for(app: &RemoteApp, base: &str) -> AppToken {
    let mut browser = Browser::new();
    let session = MemorySession::new();
    let redirect = app.authorize_redirect(&session, CALLBACK).await.unwrap();
    let consent =
        common::sign_in_to_consent(&mut browser, base, &redirect.url, "alice", "alice-password").await;
    let granted = common::decide(&mut browser, base, &consent, "grant").await;
    let back = granted.location.unwrap();
    let query = back.strip_prefix(&format!("{CALLBACK}?")).unwrap_or_else(|| panic!("{back}"));
    app.authorize_access_token(&session, &Callback::from_query(query).unwrap()).await.unwrap()
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_signed_post_reads_the_user_and_api_errors_are_json_with_a_realm() {
    let dir = TempDir::new("api");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.oauth1_clients.push(seeded("body-signer"));
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let (app, sent) = client(base, "body-signer", "HMAC-SHA1", "BODY");
    let token = token_for(&app, base).await;

    // POST with a form body that carries the OAuth parameters: answered like GET.
    sent.lock().unwrap().clear();
    let posted =
        app.post(&format!("{base}/api/me")).token(token.clone()).form([("fields", "all")]).send().await;
    let posted = posted.unwrap();
    assert_eq!(posted.status(), 200, "{}", String::from_utf8_lossy(posted.body()));
    let me = json(posted.body());
    assert_eq!(me["username"], "alice");
    assert_eq!(me["client_id"], "body-signer");
    {
        let sent = sent.lock().unwrap();
        let (method, path, authorization, body) = &sent[0];
        assert_eq!((method.as_str(), path.as_str()), ("POST", "/api/me"));
        assert!(authorization.is_none(), "signed in the body, not the header");
        assert!(body.contains("fields=all") && body.contains("oauth_signature="), "{body}");
    }
    // The same token credentials signing a GET in the header.
    let (header_app, _) = client(base, "body-signer", "HMAC-SHA1", "HEADER");
    let got = header_app.get(&format!("{base}/api/me")).token(token.clone()).send_json().await.unwrap();
    assert_eq!(got, me, "GET and POST answer alike");

    // A body changed after signing: 401, JSON, and the challenge with the realm.
    let AppToken::OAuth1(mut forged) = token.clone() else { panic!("an OAuth 1 token") };
    forged.oauth_token_secret = SecretString::new("not-the-secret");
    let refused = app
        .post(&format!("{base}/api/me"))
        .token(AppToken::OAuth1(forged))
        .form([("a", "b")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], format!("OAuth realm=\"{base}\"").as_str());
    assert_eq!(refused.headers()["content-type"], "application/json");
    let body = json(refused.body());
    assert_eq!(body["error"], "invalid_signature");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");

    let http = reqwest::Client::new();
    // No credentials at all: 400 (a required parameter is missing), JSON.
    let unsigned = http.get(format!("{base}/api/me")).send().await.unwrap();
    assert_eq!(unsigned.status(), 400);
    assert_eq!(unsigned.headers()["content-type"], "application/json");
    let body = json(&unsigned.bytes().await.unwrap());
    assert_eq!(body["error"], "missing_required_parameter");
    assert!(body["error_description"].as_str().is_some_and(|d| d.contains("oauth_")), "{body}");
    // An unknown client in a well-formed header: 401 with the challenge.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let unknown = http
        .get(format!("{base}/api/me"))
        .header(
            "authorization",
            format!(
                "OAuth oauth_consumer_key=\"nobody\", oauth_token=\"t\", oauth_signature_method=\"HMAC-SHA1\", \
                 oauth_timestamp=\"{now}\", oauth_nonce=\"n{now}\", oauth_signature=\"s\""
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.headers()["www-authenticate"], format!("OAuth realm=\"{base}\"").as_str());
    assert!(json(&unknown.bytes().await.unwrap())["error"].is_string());
    // Another method, another path under /api/: JSON too.
    let put = http.put(format!("{base}/api/me")).send().await.unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(json(&put.bytes().await.unwrap())["error"], "method_not_allowed");
    let missing = http.get(format!("{base}/api/nothing")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(json(&missing.bytes().await.unwrap())["error"], "not_found");

    // The OAuth endpoints keep RFC 5849's form encoding.
    let endpoint = http.get(format!("{base}/oauth/token")).send().await.unwrap();
    assert_eq!(endpoint.status(), 405);
    assert_eq!(endpoint.headers()["content-type"], "application/x-www-form-urlencoded");
    assert!(endpoint.text().await.unwrap().starts_with("error=method_not_allowed"));
    let endpoint = http.post(format!("{base}/oauth/initiate")).send().await.unwrap();
    assert_eq!(endpoint.status(), 400);
    assert_eq!(endpoint.headers()["content-type"], "application/x-www-form-urlencoded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_methods_are_those_configured() {
    let dir = TempDir::new("methods");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.oauth1_clients.push(seeded("plain"));
    config.oauth1_signature_methods = vec!["HMAC-SHA1".into(), "PLAINTEXT".into()];
    let demo = common::start(listener, config).await;
    let base = &demo.base;

    // PLAINTEXT, listed, between loopback addresses: the whole flow works.
    let (app, sent) = client(base, "plain", "PLAINTEXT", "HEADER");
    let token = token_for(&app, base).await;
    let me = app.userinfo(&token).await.unwrap();
    assert_eq!(me["username"], "alice");
    let header = sent.lock().unwrap()[0].2.clone().unwrap();
    assert!(header.contains("oauth_signature_method=\"PLAINTEXT\""), "{header}");

    // HMAC-SHA256, implemented but not listed: refused.
    let (app, _) = client(base, "plain", "HMAC-SHA256", "HEADER");
    let refused = app.authorize_redirect(&MemorySession::new(), CALLBACK).await.unwrap_err();
    let text = refused.to_string();
    assert!(text.contains("unsupported_signature_method"), "{text}");
    assert!(matches!(refused, Error::OAuth1(_)), "{refused:?}");

    // The developer page lists them.
    let mut browser = Browser::new();
    let page = browser.get(&format!("{base}/signin?next=/developer")).await;
    let csrf = common::input_value(&page.body, "csrf");
    let signed = browser
        .post_form(
            &format!("{base}/signin"),
            &[("csrf", &csrf), ("next", "/developer"), ("username", "alice"), ("password", "alice-password")],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let developer = browser.get(&format!("{base}/developer")).await;
    assert!(
        developer.body.contains("<td id=\"signature-methods\">HMAC-SHA1, PLAINTEXT</td>"),
        "{}",
        developer.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_is_refused_unless_listed() {
    let dir = TempDir::new("no-plaintext");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.oauth1_clients.push(seeded("plain"));
    let demo = common::start(listener, config).await;
    let (app, _) = client(&demo.base, "plain", "PLAINTEXT", "HEADER");
    let refused = app.authorize_redirect(&MemorySession::new(), CALLBACK).await.unwrap_err();
    assert!(refused.to_string().contains("unsupported_signature_method"), "{refused}");
    // HMAC-SHA256 is among the defaults.
    let (app, _) = client(&demo.base, "plain", "HMAC-SHA256", "HEADER");
    app.authorize_redirect(&MemorySession::new(), CALLBACK).await.expect("HMAC-SHA256 by default");
}

//! "Connected applications": a provider user sees the token credentials they granted and
//! revokes one; the revoked token's next request to `/api/me` is `401 invalid_token`.

mod common;

use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::{ClientCredentials, Signer, SigningParams, TokenCredentials};
use keyward_client::registry::{AppConfig, AppToken, Callback, OAuth};
use keyward_client::session::MemorySession;
use keyward_demo::SeedClient;
use keyward_testkit::peers::Browser;

const CLIENT_ID: &str = "grants-test-client";
const CLIENT_SECRET: &str = "grants-test-secret";
const CALLBACK: &str = "http://127.0.0.1:1/cb";

/// `GET {base}/api/me` signed with the token, as reqwest sends it: status and body.
async fn me(base: &str, token: &TokenCredentials) -> (u16, String) {
    let signer = Signer::new(ClientCredentials::new(CLIENT_ID, CLIENT_SECRET));
    let params = SigningParams { token: Some(token), ..SigningParams::default() };
    let req = signer
        .sign(
            http::Request::get(format!("{base}/api/me")).body(Vec::new()).unwrap(),
            &params,
            &keyward::common::clock::SystemClock,
            &keyward::common::random::OsRandom,
        )
        .unwrap();
    let (parts, _) = req.into_parts();
    let mut out = reqwest::Client::new().get(parts.uri.to_string());
    for (name, value) in &parts.headers {
        out = out.header(name, value);
    }
    let resp = out.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_gets_401_at_api_me() {
    let dir = common::TempDir::new("grants");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.oauth1_clients.push(SeedClient {
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::new(CLIENT_SECRET),
        callback_uri: None,
        redirect_uris: Some(vec![CALLBACK.into()]),
        rsa_public_key: None,
        name: Some("Grants test app".into()),
    });
    let demo = common::start(listener, config).await;
    let base = &demo.base;

    let oauth = OAuth::builder().build();
    let app = oauth
        .register(
            "grants",
            AppConfig {
                client_id: Some(CLIENT_ID.into()),
                client_secret: Some(SecretString::new(CLIENT_SECRET)),
                request_token_url: Some(format!("{base}/oauth/initiate")),
                authorize_url: Some(format!("{base}/oauth/authorize")),
                access_token_url: Some(format!("{base}/oauth/token")),
                ..AppConfig::default()
            },
        )
        .unwrap();
    let mut browser = Browser::new();
    let session = MemorySession::new();
    let redirect = app.authorize_redirect(&session, CALLBACK).await.unwrap();
    let consent =
        common::sign_in_to_consent(&mut browser, base, &redirect.url, "alice", "alice-password").await;
    let granted = common::decide(&mut browser, base, &consent, "grant").await;
    assert_eq!(granted.status, 302, "{}", granted.body);
    let back = granted.location.unwrap();
    let query = back.strip_prefix(&format!("{CALLBACK}?")).unwrap_or_else(|| panic!("{back}"));
    let token = app.authorize_access_token(&session, &Callback::from_query(query).unwrap()).await.unwrap();
    let AppToken::OAuth1(token) = token else { panic!("an OAuth 1 token") };
    let creds = TokenCredentials::new(token.oauth_token.clone(), token.oauth_token_secret.secret());
    let (status, body) = me(base, &creds).await;
    assert_eq!(status, 200, "{body}");

    // The page lists the grant, under the client's name.
    let page = browser.get(&format!("{base}/connected")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Grants test app") && page.body.contains(CLIENT_ID), "{}", page.body);
    assert_eq!(common::input_value(&page.body, "token"), token.oauth_token);
    let csrf = common::input_value(&page.body, "csrf");

    // Without the CSRF token nothing is revoked.
    let forged =
        browser.post_form(&format!("{base}/connected/revoke"), &[("token", &token.oauth_token)]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(me(base, &creds).await.0, 200);

    let revoked = browser
        .post_form(&format!("{base}/connected/revoke"), &[("csrf", &csrf), ("token", &token.oauth_token)])
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(revoked.location.as_deref(), Some(format!("{base}/connected").as_str()));
    let (status, body) = me(base, &creds).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_token"), "{body}");
    let page = browser.get(&format!("{base}/connected")).await;
    assert!(page.body.contains("id=\"no-grants\""), "{}", page.body);

    // Signed out of the provider, the page asks to sign in.
    let mut stranger = Browser::new();
    let away = stranger.get(&format!("{base}/connected")).await;
    assert_eq!(away.status, 303);
    assert_eq!(away.location.as_deref(), Some(format!("{base}/signin?next=/connected").as_str()));
}

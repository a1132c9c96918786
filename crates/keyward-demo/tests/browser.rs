//! The demo in headless Chromium (Debian's `chromium` and `chromedriver`, installed by
//! `.ci/run`): a person clicks through a sign-in with the demo's own OAuth 1.0a provider
//! (provider sign-in, Grant, the profile from `/api/me`) and through npm's `oidc-provider`
//! configured as an OpenID provider of the demo, and through the demo's own OAuth 2.1 server
//! ("Sign in with Keyward (OAuth 2)": sign-in, the consent page's scopes, Grant, the profile
//! from `/api/me` with the bearer token), and through the demo's own OpenID Provider ("Sign in
//! with Keyward (OpenID Connect)" by discovery: sign-in, the consent page's scopes, the
//! validated ID-token claims on the profile; Notes, the second relying party; "Log out
//! everywhere" by RP-initiated logout, after which the back-channel logout has ended Notes'
//! session). A screenshot of each step is saved under `target/keyward-demo-screenshots/`.
//!
//! Skipped visibly without Chromium (or without the OIDC peer), failed under CI=true.

mod common;
#[path = "common/webdriver.rs"]
mod webdriver;

use common::TempDir;
use keyward_testkit::peers::{OIDC_SECRET, OidcPeer};
use keyward_testkit::require_or_skip;
use webdriver::Chromium;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth1_login_through_the_demo_provider_in_chromium() {
    let (browser, driver) =
        require_or_skip!(webdriver::installed(), "Debian's chromium and chromium-driver", "run .ci/run");
    let dir = TempDir::new("chromium-oauth1");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut chrome = Chromium::start(&browser, &driver, "oauth1").await;

    chrome.goto(&format!("{base}/")).await;
    chrome.wait_for("#login-keyward").await;
    chrome.screenshot("home").await;
    chrome.click("#login-keyward").await;

    chrome.wait_for("#signin input[name=username]").await;
    assert!(chrome.url().await.starts_with(&format!("{base}/signin?next=")));
    chrome.type_into("#signin input[name=username]", "alice").await;
    chrome.type_into("#signin input[name=password]", "alice-password").await;
    chrome.screenshot("provider-sign-in").await;
    chrome.click("#signin button[type=submit]").await;

    chrome.wait_for("#grant").await;
    assert_eq!(chrome.text("#app-name").await, "Keyward demo site");
    chrome.screenshot("consent").await;
    chrome.click("#grant").await;

    chrome.wait_for("#who").await;
    assert_eq!(chrome.url().await, format!("{base}/profile"));
    assert_eq!(chrome.text("#who").await, "alice");
    let profile = chrome.text("#profile").await;
    assert!(profile.contains("\"username\": \"alice\""), "the user from /api/me: {profile}");
    let token = chrome.text("#token").await;
    assert!(token.contains("oauth_token_secret •••••• (48 characters)"), "{token}");
    chrome.screenshot("profile").await;

    chrome.click("#call-again").await;
    chrome.wait_for_text("Fetched 2 time(s)").await;
    chrome.screenshot("api-called-again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_login_through_oidc_provider_in_chromium() {
    let (browser, driver) =
        require_or_skip!(webdriver::installed(), "Debian's chromium and chromium-driver", "run .ci/run");
    let peer = require_or_skip!(OidcPeer::start(), "node and npm oidc-provider", "run .ci/run");
    let dir = TempDir::new("chromium-oidc");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.toml = Some(format!(
        "[clients.op]\nclient_id = \"demo\"\nclient_secret = \"{OIDC_SECRET}\"\n\
         server_metadata_url = \"{}\"\n\
         client_kwargs = {{ scope = \"openid email profile\", code_challenge_method = \"S256\" }}\n",
        peer.metadata_url()
    ));
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut chrome = Chromium::start(&browser, &driver, "openid").await;

    chrome.goto(&format!("{base}/")).await;
    chrome.wait_for("#login-op").await;
    assert!(chrome.text("#login-op").await.contains("OpenID Connect"));
    chrome.screenshot("home").await;
    chrome.click("#login-op").await;

    chrome.wait_for("input[name=login]").await;
    assert!(chrome.url().await.starts_with(&peer.issuer), "at the OpenID provider");
    chrome.type_into("input[name=login]", "carol").await;
    if chrome.source().await.contains("name=\"password\"") {
        chrome.type_into("input[name=password]", "any").await;
    }
    chrome.screenshot("provider-login").await;
    chrome.click("button[type=submit]").await;

    // Consent (the development interaction's "Continue").
    chrome.wait_for("input[name=prompt][value=consent]").await;
    chrome.screenshot("provider-consent").await;
    chrome.click("button[type=submit]").await;

    chrome.wait_for("#who").await;
    assert_eq!(chrome.url().await, format!("{base}/profile"));
    assert_eq!(chrome.text("#who").await, "User carol");
    let profile = chrome.text("#profile").await;
    assert!(profile.contains("\"sub\": \"carol\"") && profile.contains("carol@example.com"), "{profile}");
    let claims = chrome.text("#claims").await;
    assert!(claims.contains("\"aud\": \"demo\""), "validated ID token claims: {claims}");
    let token = chrome.text("#token").await;
    assert!(token.contains("access_token ••••••"), "{token}");
    chrome.screenshot("profile").await;

    chrome.click("#call-again").await;
    chrome.wait_for_text("Fetched 2 time(s)").await;
    chrome.screenshot("api-called-again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_login_through_the_demo_authorization_server_in_chromium() {
    let (browser, driver) =
        require_or_skip!(webdriver::installed(), "Debian's chromium and chromium-driver", "run .ci/run");
    let dir = TempDir::new("chromium-oauth2");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut chrome = Chromium::start(&browser, &driver, "oauth2").await;

    chrome.goto(&format!("{base}/")).await;
    chrome.wait_for("#login-keyward-oauth2").await;
    assert_eq!(chrome.text("#login-keyward-oauth2").await, "Sign in with Keyward (OAuth 2)");
    chrome.screenshot("home").await;
    chrome.click("#login-keyward-oauth2").await;

    chrome.wait_for("#signin input[name=username]").await;
    assert!(chrome.url().await.starts_with(&format!("{base}/signin?next=")));
    chrome.type_into("#signin input[name=username]", "alice").await;
    chrome.type_into("#signin input[name=password]", "alice-password").await;
    chrome.screenshot("provider-sign-in").await;
    chrome.click("#signin button[type=submit]").await;

    chrome.wait_for("#consent #grant").await;
    assert!(chrome.url().await.starts_with(&format!("{base}/oauth2/consent?request=")));
    assert_eq!(chrome.text("#app-name").await, "Keyward demo site");
    assert!(chrome.text("#scopes").await.contains("profile"), "the scopes are listed");
    chrome.screenshot("consent").await;
    chrome.click("#grant").await;

    chrome.wait_for("#who").await;
    assert_eq!(chrome.url().await, format!("{base}/profile"));
    assert_eq!(chrome.text("#app").await, "keyward-oauth2");
    assert_eq!(chrome.text("#who").await, "alice");
    let profile = chrome.text("#profile").await;
    assert!(
        profile.contains("\"client_id\": \"keyward-demo-site-oauth2\""),
        "the user from /api/me: {profile}"
    );
    let token = chrome.text("#token").await;
    assert!(token.contains("access_token ••••••"), "{token}");
    chrome.screenshot("profile").await;

    chrome.click("#call-again").await;
    chrome.wait_for_text("Fetched 2 time(s)").await;
    chrome.screenshot("api-called-again").await;

    // What alice granted, on the provider's "Connected applications" page.
    chrome.goto(&format!("{base}/connected")).await;
    chrome.wait_for("#oauth2-grants").await;
    assert!(chrome.text("#oauth2-grants").await.contains("Keyward demo site"));
    chrome.screenshot("connected").await;

    // The developer page registers OAuth 2 clients.
    chrome.goto(&format!("{base}/developer")).await;
    chrome.wait_for("#register-oauth2").await;
    chrome.type_into("#register-oauth2 input[name=name]", "Notes app").await;
    chrome.type_into("#register-oauth2 textarea[name=redirect_uris]", "https://notes.example/cb").await;
    chrome.click("#register-oauth2 button[type=submit]").await;
    chrome.wait_for("#oauth2-client-secret").await;
    assert!(chrome.text("#oauth2-client-secret").await.len() >= 43);
    assert!(chrome.text("#oauth2-clients").await.contains("Notes app"));
    chrome.screenshot("oauth2-client-registered").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_form_post_response_mode_reaches_the_client_in_chromium() {
    let (browser, driver) =
        require_or_skip!(webdriver::installed(), "Debian's chromium and chromium-driver", "run .ci/run");
    let dir = TempDir::new("chromium-form-post");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    let base = config.base_url();
    // A second client of the demo's own server whose authorization response comes back as
    // a self-submitting form (response_mode=form_post) that the browser posts to /auth/fp.
    config.oauth2_clients.push(keyward_demo::SeedOAuth2Client {
        client_id: "form-post-client".into(),
        client_secret: Some(keyward::common::secret::SecretString::new("form-post-secret")),
        redirect_uris: vec![format!("{base}/auth/fp")],
        grant_types: Vec::new(),
        public: false,
        name: Some("Form post app".into()),
    });
    config.toml = Some(format!(
        "[clients.fp]\nclient_id = \"form-post-client\"\nclient_secret = \"form-post-secret\"\n\
         authorize_url = \"{base}/oauth2/authorize\"\naccess_token_url = \"{base}/oauth2/token\"\n\
         userinfo_endpoint = \"{base}/api/me\"\nauthorize_params = {{ response_mode = \"form_post\" }}\n\
         client_kwargs = {{ scope = \"profile\", code_challenge_method = \"S256\" }}\n"
    ));
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut chrome = Chromium::start(&browser, &driver, "oauth2-form-post").await;

    chrome.goto(&format!("{base}/login/fp")).await;
    chrome.wait_for("#signin input[name=username]").await;
    chrome.type_into("#signin input[name=username]", "alice").await;
    chrome.type_into("#signin input[name=password]", "alice-password").await;
    chrome.click("#signin button[type=submit]").await;
    chrome.wait_for("#consent #grant").await;
    assert_eq!(chrome.text("#app-name").await, "Form post app");
    chrome.click("#grant").await;

    // The form_post page's script ran under the page's policy and posted the code.
    chrome.wait_for("#who").await;
    assert_eq!(chrome.url().await, format!("{base}/profile"));
    assert_eq!(chrome.text("#app").await, "fp");
    assert_eq!(chrome.text("#who").await, "alice");
    chrome.screenshot("profile").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_sign_in_and_logout_through_the_demo_openid_provider_in_chromium() {
    let (browser, driver) =
        require_or_skip!(webdriver::installed(), "Debian's chromium and chromium-driver", "run .ci/run");
    let dir = TempDir::new("chromium-own-oidc");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut chrome = Chromium::start(&browser, &driver, "own-openid").await;

    // The client website signs in through the demo's own OpenID Provider, found by discovery.
    chrome.goto(&format!("{base}/")).await;
    chrome.wait_for("#login-keyward-oidc").await;
    assert_eq!(chrome.text("#login-keyward-oidc").await, "Sign in with Keyward (OpenID Connect)");
    chrome.click("#login-keyward-oidc").await;

    chrome.wait_for("#signin input[name=username]").await;
    assert!(chrome.url().await.starts_with(&format!("{base}/signin?next=")));
    chrome.type_into("#signin input[name=username]", "alice").await;
    chrome.type_into("#signin input[name=password]", "alice-password").await;
    chrome.click("#signin button[type=submit]").await;

    chrome.wait_for("#consent #grant").await;
    assert_eq!(chrome.text("#app-name").await, "Keyward demo site (OpenID Connect)");
    let scopes = chrome.text("#scopes").await;
    for scope in ["openid", "profile", "email"] {
        assert!(scopes.contains(scope), "{scope} is listed: {scopes}");
    }
    chrome.screenshot("consent").await;
    chrome.click("#grant").await;

    chrome.wait_for("#who").await;
    assert_eq!(chrome.url().await, format!("{base}/profile"));
    assert_eq!(chrome.text("#app").await, "keyward-oidc");
    assert_eq!(chrome.text("#who").await, "alice");
    let claims = chrome.text("#claims").await;
    for expected in [
        format!("\"iss\": \"{base}\""),
        "\"aud\": \"keyward-demo-site-oidc\"".to_owned(),
        "\"sub\": \"alice\"".to_owned(),
        "\"auth_time\"".to_owned(),
        "\"sid\"".to_owned(),
        "\"nonce\"".to_owned(),
    ] {
        assert!(claims.contains(&expected), "validated ID-token claims hold {expected}: {claims}");
    }
    let profile = chrome.text("#profile").await;
    assert!(
        profile.contains("\"preferred_username\": \"alice\"") && profile.contains("\"email\""),
        "the userinfo endpoint's claims: {profile}"
    );
    chrome.screenshot("profile").await;

    // Notes, the second relying party: the provider session is there, so only its consent.
    chrome.goto(&format!("{base}/notes")).await;
    chrome.wait_for("#notes-login").await;
    chrome.click("#notes-login").await;
    chrome.wait_for("#consent #grant").await;
    assert_eq!(chrome.text("#app-name").await, "Notes");
    chrome.click("#grant").await;
    chrome.wait_for("#notes-who").await;
    assert_eq!(chrome.text("#notes-who").await, "alice");
    chrome.screenshot("notes-signed-in").await;

    // Log out everywhere: RP-initiated logout at the provider (the ID token as the hint: no
    // confirmation), back home with the state checked.
    chrome.goto(&format!("{base}/profile")).await;
    chrome.wait_for("#logout-everywhere").await;
    chrome.click("#logout-everywhere").await;
    chrome.wait_for("#signed-out").await;
    assert!(chrome.url().await.ends_with("/?left=everywhere"), "{}", chrome.url().await);
    assert!(chrome.text("#signed-out").await.contains("signed out everywhere"));
    assert!(chrome.source().await.contains("Provider: not signed in."), "the provider session ended");
    chrome.screenshot("signed-out-everywhere").await;

    // The provider told Notes (back-channel logout, delivered off the user's request).
    let mut ended = false;
    for _ in 0..50 {
        chrome.goto(&format!("{base}/notes")).await;
        chrome.wait_for("h1").await;
        if chrome.source().await.contains("id=\"notes-ended\"") {
            ended = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ended, "Notes' session was ended by the back-channel logout: {}", chrome.source().await);
    chrome.screenshot("notes-ended").await;

    // Signing in again asks for the password: the provider session is gone.
    chrome.goto(&format!("{base}/login/keyward-oidc")).await;
    chrome.wait_for("#signin input[name=username]").await;
}

//! The demo end to end over HTTP, on a SQLite file in a temporary folder: a person signs in
//! to the client website through the demo's own OAuth 1.0a provider (provider sign-in,
//! consent, callback, profile from `/api/me`), or denies; failures are pages that say why.

mod common;

use common::{TempDir, input_value};
use keyward_testkit::peers::{Browser, Page};

/// Plays the user from `/login/keyward` to the consent page, signing in at the provider.
/// Returns the consent page's body.
async fn to_consent(browser: &mut Browser, base: &str) -> String {
    let start = browser.get(&format!("{base}/login/keyward")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let authorize = start.location.unwrap();
    assert!(authorize.starts_with(&format!("{base}/oauth/authorize?oauth_token=")), "{authorize}");
    let to_signin = browser.get(&authorize).await;
    assert_eq!(to_signin.status, 303, "{}", to_signin.body);
    let signin_url = to_signin.location.unwrap();
    assert!(signin_url.starts_with(&format!("{base}/signin?next=")), "{signin_url}");
    let signin = browser.get(&signin_url).await;
    assert_eq!(signin.status, 200);
    let csrf = input_value(&signin.body, "csrf");
    let next = input_value(&signin.body, "next");
    assert!(next.starts_with("/oauth/authorize?oauth_token="), "{next}");

    // A wrong password is a page saying so, not a sign-in.
    let wrong = browser
        .post_form(
            &format!("{base}/signin"),
            &[("csrf", &csrf), ("next", &next), ("username", "alice"), ("password", "nope")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("wrong password"), "{}", wrong.body);

    let consent = common::sign_in_to_consent(browser, base, &authorize, "alice", "alice-password").await;
    assert!(consent.contains("Keyward demo site"), "the requesting app is named: {consent}");
    assert!(consent.contains("Signed in as <b>alice</b>"), "{consent}");
    consent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_through_the_demo_provider_shows_the_user_from_the_api() {
    let dir = TempDir::new("login");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();

    let home = browser.get(&format!("{base}/")).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Sign in with the Keyward demo provider (OAuth 1.0a)"), "{}", home.body);

    let consent = to_consent(&mut browser, base).await;
    let csrf = input_value(&consent, "csrf");
    let token = input_value(&consent, "oauth_token");

    // A consent without the session's CSRF token is refused.
    let forged = browser
        .post_form(
            &format!("{base}/oauth/authorize"),
            &[("csrf", "forged"), ("oauth_token", &token), ("decision", "grant")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("anti-forgery token"), "{}", forged.body);

    let granted = browser
        .post_form(
            &format!("{base}/oauth/authorize"),
            &[("csrf", &csrf), ("oauth_token", &token), ("decision", "grant")],
        )
        .await;
    assert_eq!(granted.status, 302, "{}", granted.body);
    let back = granted.location.unwrap();
    assert!(back.starts_with(&format!("{base}/auth/keyward?oauth_token={token}&oauth_verifier=")), "{back}");

    let done = browser.get(&back).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some(format!("{base}/profile").as_str()));
    let profile = browser.get(&format!("{base}/profile")).await;
    assert_eq!(profile.status, 200);
    assert!(profile.body.contains("as <b id=\"who\">alice</b>"), "{}", profile.body);
    assert!(
        profile.body.contains("&quot;username&quot;: &quot;alice&quot;"),
        "profile from /api/me: {}",
        profile.body
    );
    assert!(
        profile.body.contains("&quot;client_id&quot;: &quot;keyward-demo-site&quot;"),
        "{}",
        profile.body
    );
    // The token's fields are shown, the secret masked.
    assert!(
        profile.body.contains("<th>oauth_token_secret</th><td><code>•••••• (48 characters)</code>"),
        "{}",
        profile.body
    );
    assert!(profile.body.contains("Fetched 1 time(s)"));

    // The same callback again (a reload): the person is signed in with this app, so their
    // profile, not an error.
    let replay = browser.get(&back).await;
    assert_eq!(replay.status, 303, "{}", replay.body);
    assert_eq!(replay.location.as_deref(), Some(format!("{base}/profile").as_str()));

    // The API again, with the stored token credentials.
    let csrf = input_value(&profile.body, "csrf");
    let again = browser.post_form(&format!("{base}/profile/refresh"), &[("csrf", &csrf)]).await;
    assert_eq!(again.status, 303, "{}", again.body);
    let profile = browser.get(&format!("{base}/profile")).await;
    assert!(profile.body.contains("Fetched 2 time(s)"), "{}", profile.body);
    assert!(profile.body.contains("&quot;username&quot;: &quot;alice&quot;"));

    // The API refuses an unsigned request with the provider's error.
    let unsigned = browser.get(&format!("{base}/api/me")).await;
    assert_eq!(unsigned.status, 400, "{}", unsigned.body);
    assert!(unsigned.body.contains("missing_required_parameter"), "{}", unsigned.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denying_at_the_provider_is_a_clear_page() {
    let dir = TempDir::new("deny");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let consent = to_consent(&mut browser, base).await;
    let denied = common::decide(&mut browser, base, &consent, "deny").await;
    assert_eq!(denied.status, 302, "{}", denied.body);
    let back = denied.location.unwrap();
    assert!(back.starts_with(&format!("{base}/auth/keyward?error=access_denied")), "{back}");
    let page = browser.get(&back).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("<h1>Access denied</h1>"), "{}", page.body);
    let profile = browser.get(&format!("{base}/profile")).await;
    assert!(profile.body.contains("Nobody is signed in"), "{}", profile.body);

    // The temporary credential was deleted: its authorization link is dead.
    let token = input_value(&consent, "oauth_token");
    let dead = browser.get(&format!("{base}/oauth/authorize?oauth_token={token}")).await;
    assert_eq!(dead.status, 400);
    assert!(dead.body.contains("This authorization link is not valid"), "{}", dead.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_page_registers_a_client_with_its_callbacks_and_shows_only_ones_own() {
    let dir = TempDir::new("dev");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.oauth1_clients.push(keyward_demo::SeedClient {
        client_id: "seeded-client".into(),
        client_secret: keyward::common::secret::SecretString::new("seeded-secret"),
        callback_uri: Some("https://seeded.example/cb".into()),
        redirect_uris: None,
        rsa_public_key: None,
        name: Some("Seeded app".into()),
    });
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let to_signin = browser.get(&format!("{base}/developer")).await;
    assert_eq!(to_signin.status, 303);
    let signin = browser.get(&to_signin.location.unwrap()).await;
    let csrf = input_value(&signin.body, "csrf");
    let signed = browser
        .post_form(
            &format!("{base}/signin"),
            &[("csrf", &csrf), ("next", "/developer"), ("username", "alice"), ("password", "alice-password")],
        )
        .await;
    assert_eq!(signed.location.as_deref(), Some(format!("{base}/developer").as_str()));
    let dev = browser.get(&format!("{base}/developer")).await;
    // Seeded clients are the operator's: no user's page lists them.
    assert!(!dev.body.contains("seeded-client") && dev.body.contains("0 of at most"), "{}", dev.body);
    // Signing in was a change of privilege: the form token changed.
    let stale = csrf;
    let csrf = input_value(&dev.body, "csrf");
    assert_ne!(stale, csrf, "a new CSRF token at sign-in");
    let pem =
        std::fs::read_to_string(keyward_testkit::workspace_root().join("tests/peers/keys/rsa_public.pem"))
            .unwrap();
    let bad = browser
        .post_form(
            &format!("{base}/developer"),
            &[("csrf", &csrf), ("name", "Printer"), ("redirect_uris", "not a url"), ("rsa_public_key", "")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("callback URL is not usable"), "{}", bad.body);
    let none = browser
        .post_form(
            &format!("{base}/developer"),
            &[("csrf", &csrf), ("name", "Printer"), ("redirect_uris", " \n")],
        )
        .await;
    assert_eq!(none.status, 400);
    assert!(none.body.contains("between 1 and 10 callback URLs"), "{}", none.body);
    let made = browser
        .post_form(
            &format!("{base}/developer"),
            &[
                ("csrf", &csrf),
                ("name", "Printer"),
                ("redirect_uris", "https://printer.example/ready\r\noob\r\n"),
                ("rsa_public_key", &pem),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let id = made.body.split("id=\"client-id\">").nth(1).unwrap().split('<').next().unwrap();
    let secret = made.body.split("id=\"client-secret\">").nth(1).unwrap().split('<').next().unwrap();
    assert_eq!((id.len(), secret.len()), (24, 40));
    assert!(made.body.contains("RSA"), "{}", made.body);
    assert!(
        made.body.contains("<code>https://printer.example/ready</code><br><code>oob</code>"),
        "the registered callbacks are listed: {}",
        made.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failures_and_bad_requests_are_pages() {
    let dir = TempDir::new("failures");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    // An OpenID provider that is down.
    config.toml = Some(
        "[clients.down]\nclient_id = \"x\"\nclient_secret = \"y\"\n\
         server_metadata_url = \"http://127.0.0.1:1/.well-known/openid-configuration\"\n"
            .into(),
    );
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let home = browser.get(&format!("{base}/")).await;
    assert!(home.body.contains("id=\"login-down\""), "{}", home.body);
    let down = browser.get(&format!("{base}/login/down")).await;
    assert_eq!(down.status, 502, "{}", down.body);
    assert!(down.body.contains("<h1>The provider failed</h1>"), "{}", down.body);
    let unknown = browser.get(&format!("{base}/login/nope")).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("No remote app is named `nope`"), "{}", unknown.body);
    // A callback for no login in progress says so.
    let stray = browser.get(&format!("{base}/auth/keyward?oauth_token=abc&oauth_verifier=def")).await;
    assert_eq!(stray.status, 400);
    assert!(stray.body.contains("<h1>No login in progress</h1>"), "{}", stray.body);
    assert!(stray.body.contains("href=\"/login/keyward\">Start again</a>"), "{}", stray.body);
    // A form that is not a form.
    let bad = browser.get(&format!("{base}/oauth/authorize")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("This authorization link is not valid"), "{}", bad.body);
    // Where to go after sign-in: local, printable paths only.
    for (next, to) in [
        ("/profile", "/profile"),
        ("//evil.example/", "/"),
        ("/\r\nSet-Cookie: x=1", "/"),
        ("https://evil.example/", "/"),
    ] {
        // Each sign-in renews the form token: read the current one.
        let page = browser.get(&format!("{base}/signin")).await;
        let csrf = input_value(&page.body, "csrf");
        let signed = browser
            .post_form(
                &format!("{base}/signin"),
                &[("csrf", &csrf), ("next", next), ("username", "alice"), ("password", "alice-password")],
            )
            .await;
        assert_eq!(signed.status, 303, "{next:?}: {}", signed.body);
        assert_eq!(signed.location, Some(format!("{base}{to}")), "{next:?}");
    }
    let signin = browser.post_form(&format!("{base}/signin"), &[("username", "alice")]).await;
    assert_eq!(signin.status, 403, "no CSRF token: {}", signin.body);
    let missing = browser.get(&format!("{base}/no/such/page")).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("<h1>Not found</h1>"));
    // Every page forbids framing (the consent page must not be clickjacked).
    let headers = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(headers.headers()["x-frame-options"], "DENY");
    assert!(!headers.headers().contains_key("set-cookie"), "a visitor gets no session until it is needed");
}

async fn sign_up(browser: &mut Browser, base: &str, csrf: &str, user: &str, password: &str) -> Page {
    let form = [("csrf", csrf), ("next", "/developer"), ("username", user), ("password", password)];
    browser.post_form(&format!("{base}/signup"), &form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_up_at_the_provider_and_signs_out() {
    let dir = TempDir::new("signup");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let page = browser.get(&format!("{base}/signin?next=/developer")).await;
    let csrf = input_value(&page.body, "csrf");
    let short = sign_up(&mut browser, base, &csrf, "newbie", "short").await;
    assert_eq!(short.status, 400);
    assert!(short.body.contains("at least 8 characters"), "{}", short.body);
    let bad_name = sign_up(&mut browser, base, &csrf, "new bie", "long-enough-password").await;
    assert!(bad_name.body.contains("A user name is 1 to 64"), "{}", bad_name.body);
    for name in ["alice", "Alice", "ALICE"] {
        let taken = sign_up(&mut browser, base, &csrf, name, "long-enough-password").await;
        assert!(taken.body.contains("This user name is taken"), "{name}: {}", taken.body);
    }
    let made = sign_up(&mut browser, base, &csrf, "newbie", "long-enough-password").await;
    assert_eq!(made.status, 303, "{}", made.body);
    assert_eq!(made.location, Some(format!("{base}/developer")));
    let home = browser.get(&format!("{base}/")).await;
    assert!(home.body.contains("signed in as <b>newbie</b>"), "{}", home.body);

    let out =
        browser.post_form(&format!("{base}/signout"), &[("csrf", &input_value(&home.body, "csrf"))]).await;
    assert_eq!(out.status, 303);
    let home = browser.get(&format!("{base}/")).await;
    assert!(home.body.contains("Provider: not signed in"), "{}", home.body);

    // The new account signs in with its password, whatever its case.
    let csrf = input_value(&browser.get(&format!("{base}/signin")).await.body, "csrf");
    let again = browser
        .post_form(
            &format!("{base}/signin"),
            &[("csrf", &csrf), ("next", "/"), ("username", "NewBie"), ("password", "long-enough-password")],
        )
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    let home = browser.get(&format!("{base}/")).await;
    assert!(home.body.contains("signed in as <b>newbie</b>"), "the account's own spelling: {}", home.body);
}

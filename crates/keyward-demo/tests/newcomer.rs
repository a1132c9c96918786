//! What a newcomer meets in the first ten minutes: a failed token exchange is theirs to
//! start again, sign-in and sign-up are distinct pages that keep the typed name, signing
//! out says which site was left, the developer page says what to fix, wrong methods get a
//! page, and times are readable.

mod common;

use common::{TempDir, input_value};
use keyward_testkit::peers::{Browser, Page};

/// From `/login/keyward` through the provider's sign-in and consent (granted); returns the
/// callback URL the provider sent the browser back to.
async fn granted_callback(browser: &mut Browser, base: &str) -> String {
    let start = browser.get(&format!("{base}/login/keyward")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let authorize = start.location.unwrap();
    let consent = common::sign_in_to_consent(browser, base, &authorize, "alice", "alice-password").await;
    let granted = common::decide(browser, base, &consent, "grant").await;
    assert_eq!(granted.status, 302, "{}", granted.body);
    granted.location.unwrap()
}

async fn sign_up(browser: &mut Browser, base: &str, username: &str, password: &str) -> Page {
    let page = browser.get(&format!("{base}/signup")).await;
    assert_eq!(page.status, 200);
    let csrf = input_value(&page.body, "csrf");
    browser
        .post_form(
            &format!("{base}/signup"),
            &[("csrf", &csrf), ("next", "/"), ("username", username), ("password", password)],
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_verifier_is_a_400_to_start_again_not_a_provider_failure() {
    let dir = TempDir::new("tampered");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let back = granted_callback(&mut browser, base).await;
    let verifier = back.split("oauth_verifier=").nth(1).unwrap().to_owned();
    let tampered = back.replace(&verifier, "tampered-verifier");
    let page = browser.get(&tampered).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("<h1>The sign-in could not be completed</h1>"), "{}", page.body);
    assert!(page.body.contains("href=\"/login/keyward\">Start again</a>"), "{}", page.body);
    assert!(!page.body.contains("provider failed"), "{}", page.body);
    // The genuine callback afterwards: the request token is spent; still the visitor's to
    // start again, not a failure of the provider.
    let genuine = browser.get(&back).await;
    assert_eq!(genuine.status, 400, "{}", genuine.body);
    assert!(genuine.body.contains("already completed"), "the cause is named: {}", genuine.body);
    assert!(genuine.body.contains("href=\"/login/keyward\">Start again</a>"), "{}", genuine.body);
    // Starting again works (still signed in at the provider: straight to the consent page).
    let start = browser.get(&format!("{base}/login/keyward")).await;
    let consent = browser.get(&start.location.unwrap()).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let granted = common::decide(&mut browser, base, &consent.body, "grant").await;
    let done = browser.get(&granted.location.unwrap()).await;
    assert_eq!(done.status, 303, "{}", done.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_sign_up_are_distinct_pages_that_keep_the_typed_name() {
    let dir = TempDir::new("tabs");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();

    let signin = browser.get(&format!("{base}/signin?next=/developer")).await;
    assert!(signin.body.contains("<title>Sign in ·"), "{}", signin.body);
    assert!(
        signin.body.contains("id=\"signin\"") && !signin.body.contains("id=\"signup\""),
        "{}",
        signin.body
    );
    assert!(signin.body.contains("href=\"/signup?next=%2Fdeveloper\""), "a tab to sign up: {}", signin.body);
    let signup = browser.get(&format!("{base}/signup?next=/developer")).await;
    assert!(signup.body.contains("<title>Create an account ·"), "{}", signup.body);
    assert!(
        signup.body.contains("id=\"signup\"") && !signup.body.contains("id=\"signin\""),
        "{}",
        signup.body
    );
    assert!(signup.body.contains("href=\"/signin?next=%2Fdeveloper\""), "a tab to sign in: {}", signup.body);
    assert_eq!(input_value(&signup.body, "next"), "/developer");

    // A refused sign-up stays on the sign-up page, with the name typed and an honest rule.
    let zoe = sign_up(&mut browser, base, "Zoë", "long-enough-password").await;
    assert_eq!(zoe.status, 400, "{}", zoe.body);
    assert!(zoe.body.contains("<title>Create an account ·"), "{}", zoe.body);
    assert!(
        zoe.body.contains("ASCII letters (a-z, A-Z), digits, dots, underscores or hyphens"),
        "{}",
        zoe.body
    );
    assert!(zoe.body.contains("name=\"username\" value=\"Zoë\""), "the typed name is kept: {}", zoe.body);
    assert!(!zoe.body.contains('`'), "no literal backticks: {}", zoe.body);
    let taken = sign_up(&mut browser, base, "alice", "long-enough-password").await;
    assert!(taken.body.contains("This user name is taken"), "{}", taken.body);
    assert!(taken.body.contains("name=\"username\" value=\"alice\""), "{}", taken.body);

    // A refused sign-in keeps the name too, on the sign-in page.
    let csrf = input_value(&browser.get(&format!("{base}/signin")).await.body, "csrf");
    let wrong = browser
        .post_form(
            &format!("{base}/signin"),
            &[("csrf", &csrf), ("next", "/"), ("username", "alice"), ("password", "wrong")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("<title>Sign in ·") && wrong.body.contains("id=\"signin\""),
        "{}",
        wrong.body
    );
    assert!(wrong.body.contains("name=\"username\" value=\"alice\""), "{}", wrong.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_says_which_site_was_left_and_offers_both() {
    let dir = TempDir::new("signout");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let back = granted_callback(&mut browser, base).await;
    assert_eq!(browser.get(&back).await.status, 303);
    let profile = browser.get(&format!("{base}/profile")).await;
    assert!(profile.body.contains("Sign out of the client website</button>"), "{}", profile.body);
    assert!(profile.body.contains("action=\"/signout/both\""), "{}", profile.body);
    // A readable UTC time, not a Unix one.
    let at = profile.body.split("<time id=\"fetched-at\"").nth(1).unwrap();
    let shown = at.split('>').nth(1).unwrap().split('<').next().unwrap();
    assert!(shown.ends_with(" UTC") && shown.len() == "2026-12-07 10:27:55 UTC".len(), "{shown}");
    assert!(!profile.body.contains("Unix time"), "{}", profile.body);

    let out =
        browser.post_form(&format!("{base}/logout"), &[("csrf", &input_value(&profile.body, "csrf"))]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location, Some(format!("{base}/?left=client")));
    let home = browser.get(&out.location.unwrap()).await;
    assert!(home.body.contains("You signed out of the <b>client website</b>."), "{}", home.body);
    assert!(home.body.contains("still signed in to the <b>provider</b> as <b>alice</b>"), "{}", home.body);
    assert!(home.body.contains("Client website: not signed in."), "{}", home.body);
    assert!(home.body.contains("id=\"signout-both\""), "{}", home.body);

    let both = browser
        .post_form(&format!("{base}/signout/both"), &[("csrf", &input_value(&home.body, "csrf"))])
        .await;
    assert_eq!(both.status, 303, "{}", both.body);
    let home = browser.get(&both.location.unwrap()).await;
    assert!(home.body.contains("You signed out of the client website and of the provider."), "{}", home.body);
    assert!(home.body.contains("Provider: not signed in."), "{}", home.body);
    assert!(!home.body.contains("signed in as"), "{}", home.body);
    // The provider asks for the password again.
    let start = browser.get(&format!("{base}/login/keyward")).await;
    let to_signin = browser.get(&start.location.unwrap()).await;
    assert_eq!(to_signin.status, 303);
    assert!(to_signin.location.unwrap().starts_with(&format!("{base}/signin?next=")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deny_page_speaks_plainly_and_wrong_methods_get_a_page() {
    let dir = TempDir::new("deny-405");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let start = browser.get(&format!("{base}/login/keyward")).await;
    let consent =
        common::sign_in_to_consent(&mut browser, base, &start.location.unwrap(), "alice", "alice-password")
            .await;
    let denied = common::decide(&mut browser, base, &consent, "deny").await;
    let page = browser.get(&denied.location.unwrap()).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("You declined the sign-in with keyward"), "{}", page.body);
    assert!(!page.body.to_lowercase().contains("resource owner"), "no specification text: {}", page.body);
    assert!(page.body.contains("href=\"/login/keyward\">Start again</a>"), "{}", page.body);

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (method, path) in [("GET", "/logout"), ("GET", "/signout"), ("GET", "/signout/both"), ("DELETE", "/")]
    {
        let r = http.request(method.parse().unwrap(), format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert!(r.headers().contains_key("allow"), "{method} {path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{method} {path}");
        let body = r.text().await.unwrap();
        assert!(body.contains("<!doctype html>") && body.contains("<h1>"), "a styled page: {body}");
    }
    let body = http.get(format!("{base}/logout")).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("only answers a form"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_developer_page_says_what_to_fix() {
    let dir = TempDir::new("dev-messages");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let signin = browser.get(&format!("{base}/signin?next=/developer")).await;
    let signed = browser
        .post_form(
            &format!("{base}/signin"),
            &[
                ("csrf", &input_value(&signin.body, "csrf")),
                ("next", "/developer"),
                ("username", "alice"),
                ("password", "alice-password"),
            ],
        )
        .await;
    assert_eq!(signed.status, 303);
    let page = browser.get(&format!("{base}/developer")).await;
    assert!(page.body.contains("writes <code>oob</code> on a line instead"), "{}", page.body);
    assert!(!page.body.contains("used for"), "{}", page.body);
    let csrf = input_value(&page.body, "csrf");
    let mut register = async |name: &str, callbacks: &str, pem: &str| {
        browser
            .post_form(
                &format!("{base}/developer"),
                &[("csrf", &csrf), ("name", name), ("redirect_uris", callbacks), ("rsa_public_key", pem)],
            )
            .await
    };

    let relative = register("app one", "app.example/callback", "").await;
    assert_eq!(relative.status, 400);
    assert!(
        relative.body.contains("app.example/callback is not a whole address: start it with https://"),
        "{}",
        relative.body
    );
    assert!(!relative.body.contains("relative URL without a base"), "{}", relative.body);
    let scheme = register("app one", "javascript:alert(1)", "").await;
    assert!(scheme.body.contains("must start with https:// or http://"), "{}", scheme.body);

    let garbage = "-----BEGIN PUBLIC KEY-----\nAAAAB3NzaC1yc2E=\n-----END PUBLIC KEY-----";
    let bad_key = register("app one", "https://app.example/cb", garbage).await;
    assert_eq!(bad_key.status, 400);
    assert!(bad_key.body.contains("The RSA public key could not be read."), "{}", bad_key.body);
    for jargon in ["signing failed", "PKCS", "ASN.1"] {
        assert!(!bad_key.body.contains(jargon), "{jargon}: {}", bad_key.body);
    }
    let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
    let private = register("app one", "https://app.example/cb", private).await;
    assert!(private.body.contains("This is a private key."), "{}", private.body);
    let ok = register("app one", "https://app.example/cb\noob", "").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_page_says_which_site_one_is_signed_in_to() {
    let dir = TempDir::new("home");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let home = browser.get(&format!("{base}/")).await;
    assert!(home.body.contains("Client website: not signed in."), "{}", home.body);
    assert!(home.body.contains("<a href=\"/signup\">create an account</a>"), "{}", home.body);
    // A forged notice says nothing more than the plain page does.
    let forged = browser.get(&format!("{base}/?left=%3Cscript%3E")).await;
    assert!(
        !forged.body.contains("id=\"signed-out\"") && !forged.body.contains("<script>"),
        "{}",
        forged.body
    );
}

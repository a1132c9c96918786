//! The demo's device authorization grant (RFC 8628) over HTTP: a device starts on
//! `/oauth2/device_authorization` and polls the token endpoint while the user signs in on
//! `/device`, types the code and grants; the token then works at `/api/me`. Also: a denial
//! reaching the device as `access_denied`, a wrong code shown on the page, the attempt
//! limit, a device client registered on `/developer`, and third-party clients (Authlib,
//! requests-oauthlib, openid-client, when installed) running their device step against
//! the demo while the test plays the user on `/device`. With `KEYWARD_TEST_DATABASE_URL`
//! and `KEYWARD_TEST_REDIS_URL`, two instances over one PostgreSQL and one Redis run one
//! device flow between them (skipped visibly without them).

mod common;

use keyward_demo::{Config, SeedOAuth2Client, SeedUser};
use keyward_testkit::peers::{Browser, OAuth2ClientArgs, OAuth2Lib, Page, PeerUser, run_oauth2_client};
use serde_json::Value;

const DEVICE_CLIENT: &str = "tv-app";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The demo with a public device client seeded from `KEYWARD_DEMO_OAUTH2_*` variables (its
/// grant types given as the URN), users alice and bob seeded.
async fn device_demo(dir: &common::TempDir) -> common::Demo {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let db = dir.sqlite_url();
    let grants = format!("{DEVICE_GRANT}, refresh_token");
    let vars = [
        ("KEYWARD_DEMO_ADDR", addr.as_str()),
        ("KEYWARD_DEMO_DATABASE_URL", db.as_str()),
        ("KEYWARD_DEMO_USERS", "alice:alice-password"),
        ("KEYWARD_DEMO_OAUTH2_CLIENT_ID", DEVICE_CLIENT),
        ("KEYWARD_DEMO_OAUTH2_PUBLIC", "true"),
        ("KEYWARD_DEMO_OAUTH2_GRANT_TYPES", grants.as_str()),
        ("KEYWARD_DEMO_OAUTH2_NAME", "Living-room TV"),
    ];
    let mut config = Config::from_args(Vec::new(), |k| {
        vars.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    config.env = false;
    config.users.push(SeedUser::parse("bob:bob-password", "test").unwrap());
    assert_eq!(config.oauth2_clients[0].grant_types, [DEVICE_GRANT, "refresh_token"]);
    common::start(listener, config).await
}

/// `POST {base}/oauth2/device_authorization` as the public `client_id`: status and JSON.
async fn start_device(base: &str, client_id: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/oauth2/device_authorization"))
        .form(&[("client_id", client_id), ("scope", "profile")])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    (status, serde_json::from_str(&resp.text().await.unwrap()).unwrap())
}

/// One poll of the token endpoint with `device_code`: status and JSON.
async fn poll(base: &str, client_id: &str, device_code: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .form(&[("grant_type", DEVICE_GRANT), ("client_id", client_id), ("device_code", device_code)])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, serde_json::from_str(&resp.text().await.unwrap()).unwrap())
}

/// Signs `user` in through the sign-in page that `/signin?next=…` shows; returns `next`.
async fn sign_in(browser: &mut Browser, base: &str, signin_url: &str, user: &str) -> String {
    let signin = browser.get(signin_url).await;
    assert_eq!(signin.status, 200, "{}", signin.body);
    let next = common::input_value(&signin.body, "next");
    let password = format!("{user}-password");
    let signed = browser
        .post_form(
            &format!("{base}/signin"),
            &[
                ("csrf", &common::input_value(&signin.body, "csrf")),
                ("next", &next),
                ("username", user),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    next
}

/// Types `code` into the `/device` form of `form_page`.
async fn enter_code(browser: &mut Browser, base: &str, form_page: &str, code: &str) -> Page {
    assert!(form_page.contains("id=\"device-code\""), "{form_page}");
    browser
        .post_form(
            &format!("{base}/device"),
            &[("csrf", &common::input_value(form_page, "csrf")), ("user_code", code)],
        )
        .await
}

/// Answers the device consent page `consent` with `decision`.
async fn decide(browser: &mut Browser, base: &str, consent: &str, decision: &str) -> Page {
    assert!(consent.contains("id=\"consent\""), "{consent}");
    browser
        .post_form(
            &format!("{base}/device/consent"),
            &[
                ("csrf", &common::input_value(consent, "csrf")),
                ("request", &common::input_value(consent, "request")),
                ("decision", decision),
            ],
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_flow_gets_a_token_for_api_me_after_the_user_grants_on_the_page() {
    let dir = common::TempDir::new("device-flow");
    let demo = device_demo(&dir).await;
    let base = &demo.base;

    let metadata = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    assert_eq!(metadata["device_authorization_endpoint"], format!("{base}/oauth2/device_authorization"));

    // The device asks and shows the user the code and the page.
    let (status, started) = start_device(base, DEVICE_CLIENT).await;
    assert_eq!(status, 200, "{started}");
    let device_code = started["device_code"].as_str().unwrap();
    let user_code = started["user_code"].as_str().unwrap();
    assert_eq!(started["verification_uri"], format!("{base}/device"));
    let complete = started["verification_uri_complete"].as_str().unwrap();
    assert_eq!(complete, format!("{base}/device?user_code={user_code}"));
    assert!(started["interval"].as_i64().unwrap() >= 5);

    let (status, pending) = poll(base, DEVICE_CLIENT, device_code).await;
    assert_eq!((status, pending["error"].as_str()), (400, Some("authorization_pending")), "{pending}");
    // Polling again at once is too fast.
    let (status, slow) = poll(base, DEVICE_CLIENT, device_code).await;
    assert_eq!((status, slow["error"].as_str()), (400, Some("slow_down")), "{slow}");

    // The user opens the complete URI: sign-in first, then back to the prefilled form.
    let mut browser = Browser::new();
    let to_signin = browser.get(complete).await;
    assert_eq!(to_signin.status, 303, "{}", to_signin.body);
    let signin_url = to_signin.location.unwrap();
    assert!(signin_url.starts_with(&format!("{base}/signin?next=")), "{signin_url}");
    let next = sign_in(&mut browser, base, &signin_url, "alice").await;
    assert_eq!(next, format!("/device?user_code={user_code}"));
    let form = browser.get(&format!("{base}{next}")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(common::input_value(&form.body, "user_code"), user_code, "prefilled");

    // The code as a person may type it: lower case, no dash.
    let typed = user_code.to_lowercase().replace('-', "");
    let consent = enter_code(&mut browser, base, &form.body, &typed).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("id=\"app-name\">Living-room TV</b>"), "{}", consent.body);
    assert!(consent.body.contains(&format!("id=\"user-code\">{user_code}</code>")), "{}", consent.body);
    assert!(consent.body.contains("<code class=\"scope\">profile</code>"), "{}", consent.body);
    let done = decide(&mut browser, base, &consent.body, "grant").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("id=\"device-done\""), "{}", done.body);
    // The decision is taken once: the same form again is refused.
    let twice = decide(&mut browser, base, &consent.body, "deny").await;
    assert_eq!(twice.status, 400, "{}", twice.body);

    // The device's next poll gets the tokens, once.
    let (status, tokens) = poll(base, DEVICE_CLIENT, device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "profile");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let (status, spent) = poll(base, DEVICE_CLIENT, device_code).await;
    assert_eq!((status, spent["error"].as_str()), (400, Some("invalid_grant")), "{spent}");

    let me = reqwest::Client::new()
        .get(format!("{base}/api/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = serde_json::from_str(&me.text().await.unwrap()).unwrap();
    assert_eq!(me["username"], "alice", "{me}");

    // The consent is listed among the user's connected applications.
    let connected = browser.get(&format!("{base}/connected")).await;
    assert!(connected.body.contains(&format!("<code>{DEVICE_CLIENT}</code>")), "{}", connected.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_reaches_the_device_as_access_denied() {
    let dir = common::TempDir::new("device-deny");
    let demo = device_demo(&dir).await;
    let base = &demo.base;
    let (_, started) = start_device(base, DEVICE_CLIENT).await;
    let device_code = started["device_code"].as_str().unwrap();
    let user_code = started["user_code"].as_str().unwrap();

    let mut browser = Browser::new();
    sign_in(&mut browser, base, &format!("{base}/signin?next=/device"), "alice").await;
    let form = browser.get(&format!("{base}/device")).await;
    assert_eq!(common::input_value(&form.body, "user_code"), "", "nothing prefilled");
    let consent = enter_code(&mut browser, base, &form.body, user_code).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let denied = decide(&mut browser, base, &consent.body, "deny").await;
    assert_eq!(denied.status, 200, "{}", denied.body);
    assert!(denied.body.contains("id=\"device-denied\""), "{}", denied.body);

    let (status, answer) = poll(base, DEVICE_CLIENT, device_code).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("access_denied")), "{answer}");
    // A decided code cannot be looked up again.
    let again = enter_code(&mut browser, base, &form.body, user_code).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("id=\"device-error\">This code was already used."), "{}", again.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_are_shown_on_the_page_until_the_attempt_limit() {
    let dir = common::TempDir::new("device-wrong");
    let demo = device_demo(&dir).await;
    let base = &demo.base;
    let (_, started) = start_device(base, DEVICE_CLIENT).await;
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    // A code of the right shape that is not the device's.
    let wrong = if user_code.starts_with('B') { "CCCC-CCCC" } else { "BBBB-BBBB" };

    let mut alice = Browser::new();
    sign_in(&mut alice, base, &format!("{base}/signin?next=/device"), "alice").await;
    let form = alice.get(&format!("{base}/device")).await.body;
    for (i, code) in [wrong, "not a code <b>"].into_iter().cycle().take(10).enumerate() {
        let page = enter_code(&mut alice, base, &form, code).await;
        assert_eq!(page.status, 400, "attempt {i}: {}", page.body);
        assert!(page.body.contains("id=\"device-error\">This code is unknown or expired."), "{}", page.body);
        assert!(!page.body.contains("<b>\""), "the typed code is escaped: {}", page.body);
        assert!(page.body.contains("id=\"device-code\""), "the form again: {}", page.body);
    }
    // The eleventh attempt is refused without a look-up, even with the right code.
    let limited = enter_code(&mut alice, base, &form, &user_code).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(!limited.body.contains("id=\"consent\""), "{}", limited.body);

    // The key is the user and the address: bob, from the same address, is not limited.
    let mut bob = Browser::new();
    sign_in(&mut bob, base, &format!("{base}/signin?next=/device"), "bob").await;
    let bob_form = bob.get(&format!("{base}/device")).await.body;
    let consent = enter_code(&mut bob, base, &bob_form, &user_code).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("id=\"consent\""), "{}", consent.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_page_and_its_answers_need_a_signed_in_user_and_the_csrf_token() {
    let dir = common::TempDir::new("device-signin");
    let demo = device_demo(&dir).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let to_signin = browser.get(&format!("{base}/device")).await;
    assert_eq!(to_signin.status, 303);
    assert_eq!(to_signin.location.as_deref(), Some(format!("{base}/signin?next=%2Fdevice").as_str()));
    let next = sign_in(&mut browser, base, &format!("{base}/signin?next=%2Fdevice"), "alice").await;
    assert_eq!(next, "/device");
    let posted =
        browser.post_form(&format!("{base}/device"), &[("csrf", "forged"), ("user_code", "BBBB-BBBB")]).await;
    assert_eq!(posted.status, 403, "{}", posted.body);
    let decided = browser
        .post_form(
            &format!("{base}/device/consent"),
            &[("csrf", "forged"), ("request", "x"), ("decision", "grant")],
        )
        .await;
    assert_eq!(decided.status, 403, "{}", decided.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_registers_a_public_device_client_without_redirect_uris() {
    let dir = common::TempDir::new("device-developer");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    sign_in(&mut browser, base, &format!("{base}/signin?next=/developer"), "alice").await;
    let developer = browser.get(&format!("{base}/developer")).await.body;
    assert!(developer.contains(&format!("value=\"{DEVICE_GRANT}\"")), "a grant-type choice: {developer}");
    assert!(developer.contains(&format!("{base}/oauth2/device_authorization")), "{developer}");
    let form = developer.split("id=\"register-oauth2\"").nth(1).unwrap();
    let made = browser
        .post_form(
            &format!("{base}/developer/oauth2"),
            &[
                ("csrf", &common::input_value(form, "csrf")),
                ("name", "Command-line tool"),
                ("kind", "public"),
                ("redirect_uris", ""),
                ("grant_types", DEVICE_GRANT),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let client_id = made.body.split("id=\"oauth2-client-id\">").nth(1).unwrap().split('<').next().unwrap();
    let (status, started) = start_device(base, client_id).await;
    assert_eq!(status, 200, "{started}");
    // The site's own client has no device grant.
    let (status, refused) = start_device(base, "keyward-demo-site-oauth2").await;
    assert_eq!(status / 100, 4, "{refused}");
}

/// A user of the demo who approves a device on `/device` (signed in as `user`, the code
/// prefilled from `verification_uri_complete`); never asked for a code grant.
struct DemoUser {
    base: String,
    user: &'static str,
}

impl PeerUser for DemoUser {
    async fn authorize(&mut self, url: &str) -> String {
        panic!("only the device step runs here, not {url}");
    }

    async fn approve_device(&mut self, pending: &Value) {
        let base = self.base.clone();
        let complete = pending["verification_uri_complete"].as_str().expect("verification_uri_complete");
        let user_code = pending["user_code"].as_str().expect("user_code");
        let mut browser = Browser::new();
        let to_signin = browser.get(complete).await;
        assert_eq!(to_signin.status, 303, "{}", to_signin.body);
        let next = sign_in(&mut browser, &base, &to_signin.location.unwrap(), self.user).await;
        let form = browser.get(&format!("{base}{next}")).await;
        assert_eq!(common::input_value(&form.body, "user_code"), user_code);
        let consent = enter_code(&mut browser, &base, &form.body, user_code).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        let done = decide(&mut browser, &base, &consent.body, "grant").await;
        assert!(done.body.contains("id=\"device-done\""), "{}", done.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_clients_run_their_device_step_against_the_demo() {
    let dir = common::TempDir::new("device-peers");
    let demo = device_demo(&dir).await;
    let base = &demo.base;
    let mut ran = 0;
    for lib in OAuth2Lib::ALL {
        let mut args = OAuth2ClientArgs::new(base, DEVICE_CLIENT);
        args.auth_method = "none".to_owned();
        args.scope = Some("profile".to_owned());
        args.steps = vec!["device"];
        let mut user = DemoUser { base: base.clone(), user: "alice" };
        let Some(result) = run_oauth2_client(lib, &args, &mut user).await else {
            eprintln!("{}: not installed, skipped", lib.name());
            continue;
        };
        let run = result.unwrap_or_else(|e| panic!("{e}"));
        let started = run.one("device_authorization");
        assert_eq!(started["verification_uri"], format!("{base}/device"), "{run}");
        assert_eq!(started["user_code_length"], 9, "XXXX-XXXX: {run}");
        let token = run.one("device_token");
        assert!(token["token_type"].as_str().unwrap_or_default().eq_ignore_ascii_case("bearer"), "{run}");
        assert_eq!(token["scope"], "profile", "{run}");
        assert_eq!(token["refresh_token"], true, "{run}");
        ran += 1;
    }
    keyward_testkit::require_or_skip!((ran > 0).then_some(()), "an OAuth 2 client peer", OAuth2Lib::HOW);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_postgres_and_redis_share_the_device_codes() {
    let (database, redis) = keyward_testkit::require_or_skip!(
        keyward_testkit::server_url("KEYWARD_TEST_DATABASE_URL")
            .zip(keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL")),
        "PostgreSQL and Redis servers (KEYWARD_TEST_DATABASE_URL, KEYWARD_TEST_REDIS_URL)",
        "run .ci/run, or tests/peers/servers.sh start"
    );
    // A client id of this run's own: the database outlives the test.
    let client_id = format!("shared-tv-{}", std::process::id());
    let mut demos = Vec::new();
    for _ in 0..2 {
        let (listener, mut config) = common::config(&database).await;
        config.redis_url = Some(redis.clone());
        config.oauth2_clients.push(SeedOAuth2Client {
            client_id: client_id.clone(),
            client_secret: None,
            redirect_uris: Vec::new(),
            grant_types: vec![DEVICE_GRANT.to_owned()],
            public: true,
            name: Some("Shared TV".to_owned()),
        });
        demos.push(common::start(listener, config).await);
    }
    let (a, b) = (&demos[0].base, &demos[1].base);

    let (status, started) = start_device(a, &client_id).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["verification_uri"], format!("{a}/device"));
    let device_code = started["device_code"].as_str().unwrap();
    let user_code = started["user_code"].as_str().unwrap();
    let (_, pending) = poll(a, &client_id, device_code).await;
    assert_eq!(pending["error"], "authorization_pending");
    // The other instance knows the code and when it was last polled.
    let (_, slow) = poll(b, &client_id, device_code).await;
    assert_eq!(slow["error"], "slow_down", "{slow}");

    // The user approves on the other instance.
    let mut browser = Browser::new();
    sign_in(&mut browser, b, &format!("{b}/signin?next=/device"), "alice").await;
    let form = browser.get(&format!("{b}/device")).await;
    let consent = enter_code(&mut browser, b, &form.body, user_code).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("id=\"app-name\">Shared TV</b>"), "{}", consent.body);
    let done = decide(&mut browser, b, &consent.body, "grant").await;
    assert!(done.body.contains("id=\"device-done\""), "{}", done.body);

    let (status, tokens) = poll(a, &client_id, device_code).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, spent) = poll(b, &client_id, device_code).await;
    assert_eq!(spent["error"], "invalid_grant", "taken once across instances: {spent}");
    let me = reqwest::Client::new()
        .get(format!("{b}/api/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

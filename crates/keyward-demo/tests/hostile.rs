//! The demo under hostile traffic: parallel sign-ins against the bound on password hashing,
//! password guessing against the backoff, a connection that sends its headers a byte at a
//! time, and clients registered to phish.

mod common;

use common::{TempDir, input_value};
use keyward::common::secret::SecretString;
use keyward_client::registry::{AppConfig, OAuth};
use keyward_client::session::MemorySession;
use keyward_testkit::peers::{Browser, Page};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A session cookie and its CSRF token, from the sign-in page, as a script would get them.
async fn form_session(http: &reqwest::Client, base: &str) -> (String, String) {
    let page = http.get(format!("{base}/signin")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = input_value(&page.text().await.unwrap(), "csrf");
    (cookie, csrf)
}

async fn post_signin(
    http: &reqwest::Client,
    base: &str,
    (cookie, csrf): &(String, String),
    user: &str,
    password: &str,
) -> reqwest::Response {
    http.post(format!("{base}/signin"))
        .header("cookie", cookie)
        .form(&[("csrf", csrf.as_str()), ("next", "/"), ("username", user), ("password", password)])
        .send()
        .await
        .unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_sign_ins_beyond_the_hashers_are_told_to_retry() {
    let dir = TempDir::new("hashers");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.limits.password_hashers = 1;
    config.limits.password_queue_wait = Duration::from_millis(100);
    config.limits.free_failures_per_address = 1000;
    let demo = common::start(listener, config).await;
    let http = no_redirects();
    let session = form_session(&http, &demo.base).await;
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let (http, base, session) = (http.clone(), demo.base.clone(), session.clone());
            tokio::spawn(
                async move { post_signin(&http, &base, &session, &format!("nobody{i}"), "guess").await },
            )
        })
        .collect();
    let (mut judged, mut busy) = (0, 0);
    for attempt in attempts {
        let response = attempt.await.unwrap();
        match response.status().as_u16() {
            401 => judged += 1,
            429 => {
                let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=5).contains(&retry), "{retry}");
                busy += 1;
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert!(judged >= 1 && busy >= 1, "{judged} judged, {busy} told to retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_past_the_threshold_wait_and_the_right_password_then_works() {
    let dir = TempDir::new("backoff");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.limits.free_failures_per_account = 2;
    config.limits.backoff_base = Duration::from_secs(1);
    let demo = common::start(listener, config).await;
    let http = no_redirects();
    let session = form_session(&http, &demo.base).await;
    for _ in 0..3 {
        let wrong = post_signin(&http, &demo.base, &session, "alice", "wrong-guess").await;
        assert_eq!(wrong.status(), 401);
    }
    // The third failure started a delay of a second: even the right password waits, and
    // so does the name in another case.
    for name in ["alice", "ALICE"] {
        let early = post_signin(&http, &demo.base, &session, name, "alice-password").await;
        assert_eq!(early.status(), 429, "{name}");
        assert_eq!(early.headers()["retry-after"], "1");
        assert!(early.text().await.unwrap().contains("Too many wrong passwords"));
    }
    // Another account from the same address is not held up.
    let other = post_signin(&http, &demo.base, &session, "bob", "wrong-guess").await;
    assert_eq!(other.status(), 401);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let right = post_signin(&http, &demo.base, &session, "alice", "alice-password").await;
    assert_eq!(right.status(), 303, "{}", right.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_sending_its_headers_slowly_is_closed_within_the_timeout() {
    let dir = TempDir::new("slowloris");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.limits.header_read_timeout = Duration::from_secs(1);
    let demo = common::start(listener, config).await;
    let addr = demo.base.strip_prefix("http://").unwrap().to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // One header byte every 200 ms, for as long as the server listens.
    let closed = async {
        let mut buf = [0u8; 1024];
        loop {
            if slow.write_all(b"X").await.is_err() {
                return;
            }
            match tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) | Err(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), closed).await.expect("the slow connection is closed");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "{took:?}");
    // A connection that sends nothing at all goes the same way.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    // The site still answers.
    let home = reqwest::get(format!("{}/", demo.base)).await.unwrap();
    assert_eq!(home.status(), 200);
}

async fn signed_in(base: &str, user: &str, password: &str, sign_up: bool) -> (Browser, String) {
    let mut browser = Browser::new();
    let page = browser.get(&format!("{base}/signin?next=/developer")).await;
    let csrf = input_value(&page.body, "csrf");
    let action = if sign_up { "signup" } else { "signin" };
    let form = [("csrf", csrf.as_str()), ("next", "/developer"), ("username", user), ("password", password)];
    let signed = browser.post_form(&format!("{base}/{action}"), &form).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let dev = browser.get(&format!("{base}/developer")).await;
    let csrf = input_value(&dev.body, "csrf");
    (browser, csrf)
}

async fn register(browser: &mut Browser, base: &str, csrf: &str, name: &str, callbacks: &str) -> Page {
    let form = [("csrf", csrf), ("name", name), ("redirect_uris", callbacks), ("rsa_public_key", "")];
    browser.post_form(&format!("{base}/developer"), &form).await
}

fn shown(page: &str, id: &str) -> String {
    page.split(&format!("id=\"{id}\">")).nth(1).unwrap().split('<').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_clients_are_their_owners_own_and_cannot_pose_as_another() {
    let dir = TempDir::new("phishing");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.limits.max_clients_per_user = 2;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let callback = "http://127.0.0.1:9/printer/cb";
    let (mut alice, csrf) = signed_in(base, "alice", "alice-password", false).await;

    // The demo's own client's name, in another case and spacing, is taken.
    let posing = register(&mut alice, base, &csrf, "keyward DEMO   site", callback).await;
    assert_eq!(posing.status, 400);
    assert!(posing.body.contains("already registered"), "{}", posing.body);
    let huge =
        register(&mut alice, base, &csrf, "Huge", &format!("https://a.example/{}", "x".repeat(3000))).await;
    assert_eq!(huge.status, 400);
    assert!(huge.body.contains("at most 2048 bytes"), "{}", huge.body);

    let made = register(&mut alice, base, &csrf, "Printer", callback).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let (id, secret) = (shown(&made.body, "client-id"), shown(&made.body, "client-secret"));
    assert_eq!(register(&mut alice, base, &csrf, "Scanner", "oob").await.status, 200);
    let third = register(&mut alice, base, &csrf, "Fax", callback).await;
    assert_eq!(third.status, 400);
    assert!(third.body.contains("the most one user may"), "{}", third.body);
    let again = register(&mut alice, base, &csrf, "printer", callback).await;
    assert!(again.body.contains("already registered") || again.body.contains("the most"), "{}", again.body);

    // Another user sees none of alice's clients; an account differing only in case is alice's.
    let (mut bob, _) = signed_in(base, "bob", "bob-password-long", true).await;
    let dev = bob.get(&format!("{base}/developer")).await;
    assert!(!dev.body.contains(&id) && !dev.body.contains("Printer"), "{}", dev.body);
    let mut eve = Browser::new();
    let page = eve.get(&format!("{base}/signin")).await;
    let form = [
        ("csrf", input_value(&page.body, "csrf")),
        ("next", "/".into()),
        ("username", "ALICE".into()),
        ("password", "another-password".into()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let taken = eve.post_form(&format!("{base}/signup"), &form).await;
    assert!(taken.body.contains("This user name is taken"), "{}", taken.body);

    // The client may use its registered callback only, and its consent page says that its
    // name is a user's choice.
    let app = OAuth::builder()
        .build()
        .register(
            "printer",
            AppConfig {
                client_id: Some(id.clone()),
                client_secret: Some(SecretString::new(secret)),
                request_token_url: Some(format!("{base}/oauth/initiate")),
                authorize_url: Some(format!("{base}/oauth/authorize")),
                access_token_url: Some(format!("{base}/oauth/token")),
                ..AppConfig::default()
            },
        )
        .unwrap();
    let refused = app.authorize_redirect(&MemorySession::new(), "https://evil.example/steal").await;
    let refused = format!("{:?}", refused.unwrap_err());
    assert!(refused.contains("callback"), "{refused}");
    let redirect = app.authorize_redirect(&MemorySession::new(), callback).await.unwrap();
    let consent = bob.get(&redirect.url).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("id=\"unverified\""), "{}", consent.body);
    assert!(consent.body.contains("Printer"), "{}", consent.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_a_strict_policy_and_https_sites_a_host_cookie_and_hsts() {
    let dir = TempDir::new("headers");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let plain = common::start(listener, config).await;
    let page = reqwest::get(format!("{}/signin", plain.base)).await.unwrap();
    assert_eq!(
        page.headers()["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    );
    assert!(!page.headers().contains_key("strict-transport-security"));
    let cookie = page.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("id="), "{cookie}");

    // Behind a proxy that terminates TLS: the public URL says https.
    let dir = TempDir::new("headers-https");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    let addr = listener.local_addr().unwrap();
    config.public_url = Some("https://demo.example".into());
    let _https = common::start(listener, config).await;
    let page = reqwest::get(format!("http://{addr}/signin")).await.unwrap();
    assert_eq!(page.headers()["strict-transport-security"], "max-age=31536000");
    let cookie = page.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-id=") && cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
}

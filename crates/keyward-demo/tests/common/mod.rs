//! Running demo instances in-process for the tests, and reading their pages.
#![allow(dead_code, unreachable_pub)]

use keyward_demo::{Config, SeedUser};
use std::path::PathBuf;

/// A demo instance serving on a free loopback port; stopped when dropped.
pub struct Demo {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listener on a free port and the config for it, with user `alice` (password
/// `alice-password`) seeded and the environment not read.
pub async fn config(database_url: &str) -> (tokio::net::TcpListener, Config) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = Config::new(listener.local_addr().unwrap(), database_url);
    config.users.push(SeedUser::parse("alice:alice-password", "test").unwrap());
    (listener, config)
}

/// Builds and serves `config` on `listener`.
pub async fn start(listener: tokio::net::TcpListener, config: Config) -> Demo {
    let base = config.base_url();
    let limits = config.limits.clone();
    let app = keyward_demo::build_app(config).await.expect("the demo starts");
    let task = tokio::spawn(async move {
        keyward_demo::serve(listener, app, &limits).await.unwrap();
    });
    Demo { base, task }
}

/// A fresh folder under the system's temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("keyward-demo-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.0.join("demo.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The value of the first `<input name="{name}" value="…">` of a page (HTML-unescaped).
pub fn input_value(html: &str, name: &str) -> String {
    let start = html
        .split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in {html}"));
    let raw = start.split('"').next().unwrap();
    raw.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
}

/// Plays the user from an authorization URL at the provider `base`: redirected to the
/// sign-in page, signs in as `user`, and lands on the consent page, whose body is returned.
pub async fn sign_in_to_consent(
    browser: &mut keyward_testkit::peers::Browser,
    base: &str,
    authorize_url: &str,
    user: &str,
    password: &str,
) -> String {
    let to_signin = browser.get(authorize_url).await;
    assert_eq!(to_signin.status, 303, "{}", to_signin.body);
    let signin = browser.get(&to_signin.location.unwrap()).await;
    let csrf = input_value(&signin.body, "csrf");
    let next = input_value(&signin.body, "next");
    let signed = browser
        .post_form(
            &format!("{base}/signin"),
            &[("csrf", &csrf), ("next", &next), ("username", user), ("password", password)],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location.as_deref(), Some(format!("{base}{next}").as_str()));
    let consent = browser.get(&format!("{base}{next}")).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    consent.body
}

/// Answers the consent page `consent` with `decision` (`grant` or `deny`).
pub async fn decide(
    browser: &mut keyward_testkit::peers::Browser,
    base: &str,
    consent: &str,
    decision: &str,
) -> keyward_testkit::peers::Page {
    browser
        .post_form(
            &format!("{base}/oauth/authorize"),
            &[
                ("csrf", &input_value(consent, "csrf")),
                ("oauth_token", &input_value(consent, "oauth_token")),
                ("decision", decision),
            ],
        )
        .await
}

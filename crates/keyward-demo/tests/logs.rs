//! What visitors put in paths and queries reaches the log escaped, clipped and on one line,
//! and what a provider's redirect says is shown only for a login in progress.

mod common;

use common::TempDir;
use keyward_testkit::peers::Browser;
use std::sync::{Arc, Mutex};

/// The log, written by the demo's tasks into memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_stay_escaped_and_forged_errors_say_no_login_in_progress() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = TempDir::new("logs");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();

    // A path segment with CR, LF and ESC.
    let unknown = browser.get(&format!("{base}/login/app%0D%0AINFO%20forged-in-path%1B%5B31m")).await;
    assert_eq!(unknown.status, 404);

    // A provider error that no login in progress asked for: a fixed message, none of its words.
    let forged = "error=access_denied&error_description=Your%20account%20is%20locked.%20Call%20\
                  %2B1-555-0100%0D%0AERROR%20forged-in-query%1B%5B31m";
    let page = browser.get(&format!("{base}/auth/keyward?{forged}")).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("<h1>No login in progress</h1>"), "{}", page.body);
    assert!(!page.body.contains("locked") && !page.body.contains("555"), "{}", page.body);

    // With a login in progress, the provider's words are shown, marked as the provider's.
    let start = browser.get(&format!("{base}/login/keyward")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let said = "error=temporarily_unavailable&error_description=Down%20for%20maintenance%0D%0A\
                ERROR%20forged-pending%1B%5B31m";
    let page = browser.get(&format!("{base}/auth/keyward?{said}")).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("The provider's own words (not this site's)"), "{}", page.body);
    assert!(
        page.body.contains("<q id=\"provider-words\">Down for maintenance  ERROR forged-pending [31m</q>"),
        "control characters are not shown: {}",
        page.body
    );
    // Once: the login is over.
    let page = browser.get(&format!("{base}/auth/keyward?{said}")).await;
    assert!(page.body.contains("<h1>No login in progress</h1>"), "{}", page.body);

    // A tampered verifier: the token endpoint refuses, the visitor starts again; no ERROR.
    let start = browser.get(&format!("{base}/login/keyward")).await;
    let consent =
        common::sign_in_to_consent(&mut browser, base, &start.location.unwrap(), "alice", "alice-password")
            .await;
    let back = common::decide(&mut browser, base, &consent, "grant").await.location.unwrap();
    let verifier = back.split("oauth_verifier=").nth(1).unwrap().to_owned();
    let page = browser.get(&back.replace(&verifier, "tampered")).await;
    assert_eq!(page.status, 400, "{}", page.body);

    // A 5,000-character unknown app name: clipped wherever it is logged.
    let long = "a".repeat(5000);
    let unknown = browser.get(&format!("{base}/login/{long}")).await;
    assert_eq!(unknown.status, 404);

    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let text = log.text();
    assert!(text.contains(&"a".repeat(100)), "the name is logged, clipped:\n{text}");
    assert!(!text.contains(&"a".repeat(101)), "a visitor's value is logged in full:\n{text}");
    assert!(!text.contains('\r') && !text.contains('\u{1b}'), "raw control characters in the log:\n{text}");
    for escaped in [r"\r\nINFO forged-in-path\u{1b}[31m", r"\r\nERROR forged-pending\u{1b}[31m"] {
        assert!(text.lines().any(|l| l.contains(escaped)), "{escaped} logged on one line:\n{text}");
    }
    assert!(
        !text.lines().any(|l| l.starts_with("INFO forged") || l.starts_with("ERROR forged")),
        "no forged log line:\n{text}"
    );
    assert!(!text.contains("forged-in-query"), "a forged error's words are not logged:\n{text}");
    assert!(!text.contains(" ERROR "), "a provider's or a visitor's error is not this site's:\n{text}");
}

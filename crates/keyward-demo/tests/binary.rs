//! The program as `cargo run -p keyward-demo` starts it, on a machine with no external
//! service: the default SQLite file in the working directory, memory for the short-lived
//! records, a user and an RSA-signing OAuth 1 client seeded from the environment. A client
//! signs in through it with RSA-SHA1, and the log holds none of the secrets involved.

mod common;

use common::TempDir;
use keyward::common::secret::SecretString;
use keyward_client::registry::{AppConfig, AppToken, Callback, ClientKwargs, OAuth};
use keyward_client::session::MemorySession;
use keyward_testkit::peers::Browser;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PASSWORD: &str = "correct-horse-battery-staple";
const CLIENT_SECRET: &str = "env-client-secret-never-logged";
const GITHUB_SECRET: &str = "github-secret-never-logged";
const CALLBACK: &str = "http://127.0.0.1:1/printer-ready";

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_program_starts_with_no_service_and_logs_no_secret() {
    let dir = TempDir::new("binary");
    let keys = keyward_testkit::workspace_root().join("tests/peers/keys");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward-demo"))
        .args(["--addr", "127.0.0.1:0"])
        .current_dir(&dir.0)
        .env_clear()
        .env("KEYWARD_DEMO_USERS", format!("alice:{PASSWORD},bob:another-password"))
        .env("KEYWARD_DEMO_OAUTH1_CLIENT_ID", "printer")
        .env("KEYWARD_DEMO_OAUTH1_CLIENT_SECRET", CLIENT_SECRET)
        .env("KEYWARD_DEMO_OAUTH1_CALLBACK_URI", CALLBACK)
        .env("KEYWARD_DEMO_OAUTH1_RSA_PUBLIC_KEY", keys.join("rsa_public.pem"))
        // A preset turned on by its two variables; an app with too little to go on, skipped.
        .env("GITHUB_CLIENT_ID", "gh-client-id")
        .env("GITHUB_CLIENT_SECRET", GITHUB_SECRET)
        .env("HALFDONE_CLIENT_ID", "x")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keyward-demo");
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let (log, tx) = (log.clone(), tx.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(url) = line.split("Keyward demo on ").nth(1) {
                    let _ = tx.send(url.split_whitespace().next().unwrap_or("").to_owned());
                }
                log.lock().unwrap().push(line);
            }
        });
    }
    let running = Running(child);
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no start line; log:\n{}", log.lock().unwrap().join("\n")));
    assert!(base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"), "{base}");
    assert!(dir.0.join("keyward-demo.db").exists(), "the default SQLite file is in the working directory");

    let mut browser = Browser::new();
    let home = browser.get(&format!("{base}/")).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Sign in with the Keyward demo provider"));
    assert!(home.body.contains("Sign in with github (OAuth 2.0)"), "{}", home.body);
    assert!(!home.body.contains("halfdone"), "{}", home.body);
    let github = browser.get(&format!("{base}/login/github")).await;
    assert_eq!(github.status, 302, "{}", github.body);
    let to = url::Url::parse(&github.location.unwrap()).unwrap();
    assert_eq!(to.as_str().split('?').next(), Some("https://github.com/login/oauth/authorize"));
    let query: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "gh-client-id");
    assert_eq!(query["redirect_uri"], format!("{base}/auth/github"));

    // The seeded client signs with RSA-SHA1 and its key pair.
    let oauth = OAuth::builder().build();
    let app = oauth
        .register(
            "printer",
            AppConfig {
                client_id: Some("printer".into()),
                request_token_url: Some(format!("{base}/oauth/initiate")),
                authorize_url: Some(format!("{base}/oauth/authorize")),
                access_token_url: Some(format!("{base}/oauth/token")),
                userinfo_endpoint: Some(format!("{base}/api/me")),
                client_kwargs: ClientKwargs {
                    signature_method: Some("RSA-SHA1".into()),
                    rsa_key: Some(SecretString::new(
                        std::fs::read_to_string(keys.join("rsa_private.pem")).unwrap(),
                    )),
                    ..ClientKwargs::default()
                },
                ..AppConfig::default()
            },
        )
        .unwrap();
    let session = MemorySession::new();
    let redirect = app.authorize_redirect(&session, CALLBACK).await.unwrap();
    let consent = common::sign_in_to_consent(&mut browser, &base, &redirect.url, "alice", PASSWORD).await;
    assert!(consent.contains("printer"), "{consent}");
    let granted = common::decide(&mut browser, &base, &consent, "grant").await;
    let back = granted.location.unwrap();
    let query = back.strip_prefix(&format!("{CALLBACK}?")).unwrap_or_else(|| panic!("{back}"));
    let verifier = query.split("oauth_verifier=").nth(1).unwrap().to_owned();
    let token = app.authorize_access_token(&session, &Callback::from_query(query).unwrap()).await.unwrap();
    let me = app.userinfo(&token).await.unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["client_id"], "printer");
    let AppToken::OAuth1(token) = token else { panic!("an OAuth 1 token") };

    // Give the log a moment, then stop the program and read it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(running);
    let log = log.lock().unwrap().join("\n");
    assert!(log.contains("provider user seeded user=alice"), "{log}");
    assert!(log.contains("path=\"/oauth/token\" status=200"), "{log}");
    assert!(log.contains("remote app in the environment skipped app=halfdone"), "{log}");
    for secret in [PASSWORD, CLIENT_SECRET, GITHUB_SECRET, token.oauth_token_secret.secret(), &verifier] {
        assert!(!log.contains(secret), "a secret is in the log:\n{log}");
    }
    assert!(!log.contains(&token.oauth_token), "the token is not logged either");
}

#[test]
fn an_unknown_signature_method_stops_the_program_with_its_name() {
    let dir = TempDir::new("binary-methods");
    let out = Command::new(env!("CARGO_BIN_EXE_keyward-demo"))
        .args(["--addr", "127.0.0.1:0"])
        .current_dir(&dir.0)
        .env_clear()
        .env("KEYWARD_DEMO_OAUTH1_SIGNATURE_METHODS", "HMAC-SHA1,HMAC-SHA512")
        .output()
        .expect("run keyward-demo");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("KEYWARD_DEMO_OAUTH1_SIGNATURE_METHODS") && text.contains("HMAC-SHA512"), "{text}");
    assert!(!dir.0.join("keyward-demo.db").exists(), "refused before any store is opened");

    let version = Command::new(env!("CARGO_BIN_EXE_keyward-demo")).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("keyward-demo {}", env!("CARGO_PKG_VERSION"))
    );
}

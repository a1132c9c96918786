//! Running the interop peers and playing the user's browser against them.
//!
//! - [`OidcPeer`]: npm's `oidc-provider` (tests/peers/oidc/server.mjs) on 127.0.0.1.
//! - [`AuthlibProvider`]: an OAuth 1.0a provider built with Python's Authlib
//!   (tests/peers/python/authlib_provider.py) on 127.0.0.1.
//! - [`Browser`]: a cookie jar over plain HTTP, no redirects followed by itself.
//!
//! Each peer is stopped when dropped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The redirect URI registered for every client of the OIDC peer. Nothing listens there:
/// [`Browser::login_at_oidc`] stops when the provider redirects to it.
pub const OIDC_REDIRECT: &str = "http://127.0.0.1:1/cb";

/// The client secret of the OIDC peer's confidential clients (`basic`, `post`, `jwt`).
pub const OIDC_SECRET: &str = "keyward-interop-secret-0123456789abcdef";

/// A running process, killed and reaped on drop.
#[derive(Debug)]
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// npm's `oidc-provider` on 127.0.0.1, configured by tests/peers/oidc/server.mjs.
#[derive(Debug)]
pub struct OidcPeer {
    _process: Process,
    /// The issuer, e.g. `http://127.0.0.1:PORT`.
    pub issuer: String,
}

impl OidcPeer {
    /// Starts the provider, or `None` when node or the npm package is missing (use with
    /// [`require_or_skip!`](crate::require_or_skip)). Panics if it starts but never
    /// reports ready.
    pub fn start() -> Option<Self> {
        Self::start_with_env(&[])
    }

    /// [`start`](Self::start) with extra environment variables for the script (e.g.
    /// `KEYWARD_BACKCHANNEL_LOGOUT_URI`, the back-channel logout URI of its `logout` client).
    pub fn start_with_env(env: &[(&str, &str)]) -> Option<Self> {
        let node_modules = crate::node_modules().filter(|p| p.join("oidc-provider").exists())?;
        let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
        if !node_ok {
            return None;
        }
        let script = crate::workspace_root().join("tests/peers/oidc/server.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("KEYWARD_NODE_MODULES", node_modules)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let stdout = child.stdout.take().expect("stdout");
        let process = Process(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("KEYWARD_OIDC_READY ") {
                    let _ = tx.send(issuer.trim().to_owned());
                }
            }
        });
        let issuer = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("oidc-provider did not print its ready line within 30 s");
        Some(Self { _process: process, issuer })
    }

    /// Its discovery document's URL.
    pub fn metadata_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }
}

/// The Authlib OAuth 1.0a provider on 127.0.0.1: client `keyward-client` with secret
/// `keyward-client-secret` and the committed RSA test key; `/authorize` grants at once for
/// user `alice`; `/api/me` is a protected resource.
#[derive(Debug)]
pub struct AuthlibProvider {
    _process: Process,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl AuthlibProvider {
    /// Starts it with the peers' Python. Panics if it does not report its port.
    pub fn start(python: &Path) -> Self {
        let script = crate::workspace_root().join("tests/peers/python/authlib_provider.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start authlib_provider.py");
        let stdout = child.stdout.take().expect("stdout");
        let process = Process(child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the port line");
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("authlib_provider.py did not report its port: {line:?}"));
        Self { _process: process, base: format!("http://127.0.0.1:{port}") }
    }
}

impl AuthlibProvider {
    /// Its registry configuration as a `[clients.NAME]` TOML table (the registry's config
    /// file format), with `/api/` as `api_base_url` and `/api/me` as `userinfo_endpoint`.
    pub fn clients_toml(&self, name: &str) -> String {
        let b = &self.base;
        format!(
            "[clients.{name}]\n\
             client_id = \"keyward-client\"\n\
             client_secret = \"keyward-client-secret\"\n\
             request_token_url = \"{b}/initiate\"\n\
             authorize_url = \"{b}/authorize\"\n\
             access_token_url = \"{b}/token\"\n\
             api_base_url = \"{b}/api/\"\n\
             userinfo_endpoint = \"{b}/api/me\"\n"
        )
    }
}

/// A response as the browser saw it.
#[derive(Debug)]
pub struct Page {
    /// The status.
    pub status: u16,
    /// The `Location` header, made absolute.
    pub location: Option<String>,
    /// The body.
    pub body: String,
}

/// A user's browser over plain HTTP: keeps cookies per host, never follows redirects by
/// itself.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    jar: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{}://{host}", url.split("://").next().unwrap_or("http"))
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        Self { http, jar: BTreeMap::new() }
    }

    /// Forgets every cookie of `url`'s origin (a cookie not sent back, as with
    /// `SameSite=Strict`).
    pub fn clear_cookies(&mut self, url: &str) {
        self.jar.remove(&origin(url));
    }

    /// `GET url`.
    pub async fn get(&mut self, url: &str) -> Page {
        self.send(reqwest::Method::GET, url, None).await
    }

    /// `POST url` with a form.
    pub async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(reqwest::Method::POST, url, Some(body)).await
    }

    async fn send(&mut self, method: reqwest::Method, url: &str, form: Option<String>) -> Page {
        let origin = origin(url);
        let cookies = self
            .jar
            .get(&origin)
            .map(|c| c.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "));
        let mut req = self.http.request(method, url);
        if let Some(c) = cookies.filter(|c| !c.is_empty()) {
            req = req.header("cookie", c);
        }
        if let Some(body) = form {
            req = req.header("content-type", "application/x-www-form-urlencoded").body(body);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let jar = self.jar.entry(origin.clone()).or_default();
        for v in resp.headers().get_all("set-cookie") {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                let lower = v.to_ascii_lowercase();
                if value.is_empty() || lower.contains("max-age=0") || lower.contains("01 jan 1970") {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| if l.starts_with('/') { format!("{origin}{l}") } else { l.to_owned() });
        let body = resp.text().await.unwrap_or_default();
        Page { status, location, body }
    }

    /// Plays the user at the OIDC peer from `authorize_url`: follows its redirects, logs
    /// in as `login` and consents, until the provider redirects to [`OIDC_REDIRECT`].
    /// Returns that callback's query string.
    pub async fn login_at_oidc(&mut self, authorize_url: &str, login: &str) -> String {
        let mut page = self.get(authorize_url).await;
        let mut url = authorize_url.to_owned();
        for _ in 0..20 {
            if let Some(location) = page.location.clone() {
                if let Some(query) = location.strip_prefix(&format!("{OIDC_REDIRECT}?")) {
                    return query.to_owned();
                }
                url = location;
                page = self.get(&url).await;
                continue;
            }
            assert_eq!(page.status, 200, "unexpected page at {url}: {}", page.body);
            // The development interaction pages: a form with a hidden `prompt`.
            let prompt = page
                .body
                .split("name=\"prompt\" value=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("no interaction form at {url}: {}", page.body))
                .to_owned();
            page = self.post_form(&url, &[("prompt", &prompt), ("login", login), ("password", "x")]).await;
        }
        panic!("the login did not reach the callback");
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

//! Running the interop peers and playing the user's browser against them.
//!
//! - [`OidcPeer`]: npm's `oidc-provider` (tests/peers/oidc/server.mjs) on 127.0.0.1.
//! - [`AuthlibProvider`]: an OAuth 1.0a provider built with Python's Authlib
//!   (tests/peers/python/authlib_provider.py) on 127.0.0.1.
//! - [`Browser`]: a cookie jar over plain HTTP, no redirects followed by itself.
//! - [`run_oauth2_client`]: a third-party OAuth 2 client library ([`OAuth2Lib`]: Authlib,
//!   requests-oauthlib, openid-client) driven by a script through code + PKCE, refresh,
//!   client_credentials, revocation, introspection and the device flow against a server on
//!   127.0.0.1, the harness playing the user ([`PeerUser`]); its JSON lines come back as a
//!   [`PeerRun`].
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

    /// [`OidcPeer::start`] with a named configuration of server.mjs
    /// (`KEYWARD_OIDC_PROFILE`): `par-dpop-nonce` requires pushed authorization requests and
    /// DPoP nonces.
    pub fn start_profile(profile: Option<&str>) -> Option<Self> {
        Self::start_with_env(&[("KEYWARD_OIDC_PROFILE", profile.unwrap_or_default())])
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

    /// The `Cookie` header this browser sends to `url`'s origin, if it holds any cookie.
    pub fn cookie_header(&self, url: &str) -> Option<String> {
        let jar = self.jar.get(&origin(url)).filter(|c| !c.is_empty())?;
        Some(jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
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

impl Browser {
    /// Plays the user from `url`: follows redirects and submits each page's first form
    /// (every named input with its value; `login` and a password filled in where empty)
    /// until a page without a form, whose body it returns. Walks the OIDC peer's device
    /// code confirmation, login and consent pages.
    pub async fn submit_forms(&mut self, url: &str, login: &str) -> String {
        let mut url = url.to_owned();
        let mut page = self.get(&url).await;
        for _ in 0..30 {
            if let Some(location) = page.location.clone() {
                url = location;
                page = self.get(&url).await;
                continue;
            }
            assert_eq!(page.status, 200, "unexpected page at {url}: {}", page.body);
            let Some((action, fields)) = first_form(&page.body, login) else { return page.body };
            let target = match action {
                Some(a) if a.starts_with('/') => format!("{}{a}", origin(&url)),
                Some(a) => a,
                None => url.clone(),
            };
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            page = self.post_form(&target, &fields).await;
            url = target;
        }
        panic!("the walk from {url} did not end");
    }
}

/// The value of an attribute in one HTML tag (whitespace folded to spaces).
fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_owned())
}

/// A form to submit: its `action`, if it has one, and its fields.
type Form = (Option<String>, Vec<(String, String)>);

/// A page's first form.
fn first_form(page: &str, login: &str) -> Option<Form> {
    let page = page.split_whitespace().collect::<Vec<_>>().join(" ");
    let at = page.find("<form")?;
    let form_tag = &page[at..at + page[at..].find('>')?];
    let mut fields = Vec::new();
    for chunk in page[at..].split("<input").skip(1) {
        let tag = format!(" {}", &chunk[..chunk.find('>').unwrap_or(chunk.len())]);
        let Some(name) = attr(&tag, "name") else { continue };
        let value = match (name.as_str(), attr(&tag, "value")) {
            (_, Some(v)) => v,
            ("login", None) => login.to_owned(),
            ("password", None) => "x".to_owned(),
            _ => continue,
        };
        fields.push((name, value));
    }
    Some((attr(&format!(" {form_tag}"), "action"), fields))
}

/// A third-party OAuth 2 client library, driven by a script against an authorization
/// server on 127.0.0.1: tests/peers/python/oauth2_client.py (Authlib, requests-oauthlib)
/// or tests/peers/node/oauth2_client.mjs (openid-client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuth2Lib {
    /// Python Authlib's `OAuth2Session` (requests integration).
    Authlib,
    /// Python requests-oauthlib's `OAuth2Session` over oauthlib.
    RequestsOAuthlib,
    /// npm `openid-client` (panva).
    OpenidClient,
}

impl OAuth2Lib {
    /// Every library, in a fixed order.
    pub const ALL: [Self; 3] = [Self::Authlib, Self::RequestsOAuthlib, Self::OpenidClient];

    /// Its name in messages and in the scripts' output (`lib` of the `done` line).
    pub fn name(self) -> &'static str {
        match self {
            Self::Authlib => "authlib",
            Self::RequestsOAuthlib => "requests-oauthlib",
            Self::OpenidClient => "openid-client",
        }
    }

    /// The command that runs its script, or `None` when the peer is not installed (use
    /// with [`require_or_skip!`](crate::require_or_skip) and [`OAuth2Lib::HOW`]).
    pub fn command(self) -> Option<tokio::process::Command> {
        let root = crate::workspace_root();
        match self {
            Self::Authlib | Self::RequestsOAuthlib => {
                let mut cmd = tokio::process::Command::new(crate::python()?);
                cmd.arg(root.join("tests/peers/python/oauth2_client.py")).args(["--lib", self.name()]);
                Some(cmd)
            }
            Self::OpenidClient => {
                let modules = crate::node_modules().filter(|p| p.join("openid-client").exists())?;
                let node_ok = std::process::Command::new("node")
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success());
                if !node_ok {
                    return None;
                }
                let mut cmd = tokio::process::Command::new("node");
                cmd.arg(root.join("tests/peers/node/oauth2_client.mjs")).env("KEYWARD_NODE_MODULES", modules);
                Some(cmd)
            }
        }
    }

    /// How to install the peers, for a skip message.
    pub const HOW: &'static str = "run .ci/run (pip installs tests/peers/python/requirements.txt into \
                                   .peers/venv, `npm ci` tests/peers/node into .peers/node)";
}

/// The steps the OAuth 2 client scripts know, in the order they run them.
pub const OAUTH2_STEPS: [&str; 6] =
    ["code", "refresh", "introspect", "revoke", "client_credentials", "device"];

/// Where an OAuth 2 client script finds the server's endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// RFC 8414 metadata at `/.well-known/oauth-authorization-server`.
    Rfc8414,
    /// OpenID Connect Discovery at `/.well-known/openid-configuration`.
    OpenidConnect,
    /// None: only [`OAuth2ClientArgs::endpoints`] (the issuer is what `iss` must be).
    None,
}

/// What an OAuth 2 client script is told: the server, the client, what to do.
#[derive(Clone, Debug)]
pub struct OAuth2ClientArgs {
    /// The server's issuer.
    pub issuer: String,
    /// How the endpoints are found ([`Discovery::Rfc8414`] by default).
    pub discovery: Discovery,
    /// Endpoints given explicitly, over the discovered ones: (`authorization`, `token`,
    /// `revocation`, `introspection` or `device-authorization`, URL).
    pub endpoints: Vec<(&'static str, String)>,
    /// The client id.
    pub client_id: String,
    /// The client secret, for `client_secret_basic` and `client_secret_post`.
    pub client_secret: Option<String>,
    /// `client_secret_basic` (the default), `client_secret_post` or `none`.
    pub auth_method: String,
    /// The registered redirect URI (the `code` step needs one).
    pub redirect_uri: Option<String>,
    /// The scope to ask for.
    pub scope: Option<String>,
    /// The steps to run, a subset of [`OAUTH2_STEPS`] (all by default).
    pub steps: Vec<&'static str>,
    /// Headers the script sends when it GETs the authorization URL itself, for a server
    /// that approves at once for a signed-in user (`--user get`). Empty: the harness plays
    /// the user through [`PeerUser`] (`--user stdio`).
    pub login_headers: Vec<(String, String)>,
    /// Let the script GET the authorization URL itself even with no login header.
    pub script_gets_authorization: bool,
    /// Push the authorization request (RFC 9126; `--par`, openid-client only).
    pub par: bool,
    /// Bind the tokens to a DPoP key (RFC 9449; `--dpop`, openid-client only).
    pub dpop: bool,
    /// A protected resource to call with the access token after the code step
    /// (`--resource`, openid-client only).
    pub resource: Option<String>,
}

impl OAuth2ClientArgs {
    /// Client `client_id` of the server at `issuer`, with `client_secret_basic` and every
    /// step.
    pub fn new(issuer: &str, client_id: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            discovery: Discovery::Rfc8414,
            endpoints: Vec::new(),
            client_id: client_id.to_owned(),
            client_secret: None,
            auth_method: "client_secret_basic".to_owned(),
            redirect_uri: None,
            scope: None,
            steps: OAUTH2_STEPS.to_vec(),
            login_headers: Vec::new(),
            script_gets_authorization: false,
            par: false,
            dpop: false,
            resource: None,
        }
    }

    fn to_args(&self) -> Vec<String> {
        let discovery = match self.discovery {
            Discovery::Rfc8414 => "oauth",
            Discovery::OpenidConnect => "oidc",
            Discovery::None => "none",
        };
        let mut a: Vec<String> = [
            ("--issuer", self.issuer.as_str()),
            ("--client-id", &self.client_id),
            ("--auth-method", &self.auth_method),
            ("--discovery", discovery),
        ]
        .map(|(flag, value)| option(flag, value))
        .into();
        for (on, flag) in [(self.par, "--par"), (self.dpop, "--dpop")] {
            if on {
                a.push(flag.into());
            }
        }
        if let Some(resource) = &self.resource {
            a.push(option("--resource", resource));
        }
        for (name, url) in &self.endpoints {
            a.push(option(&format!("--{name}-endpoint"), url));
        }
        for (flag, value) in [
            ("--client-secret", &self.client_secret),
            ("--redirect-uri", &self.redirect_uri),
            ("--scope", &self.scope),
        ] {
            if let Some(v) = value {
                a.push(option(flag, v));
            }
        }
        a.push(option("--steps", &self.steps.join(",")));
        let get = self.script_gets_authorization || !self.login_headers.is_empty();
        a.push(option("--user", if get { "get" } else { "stdio" }));
        for (name, value) in &self.login_headers {
            a.push(option("--login-header", &format!("{name}: {value}")));
        }
        a
    }
}

/// `--flag=value` as one argument: a value that starts with `-` (a generated client id or
/// secret may) is then never taken for an option by the script's parser.
fn option(flag: &str, value: &str) -> String {
    format!("{flag}={value}")
}

/// The user's part of the flows, played by the harness while a script waits.
pub trait PeerUser {
    /// Goes through the authorization endpoint from `url` (sign-in, consent) and returns
    /// the URL the server redirected to (the redirect URI with `code`, `state`, `iss`).
    fn authorize(&mut self, url: &str) -> impl Future<Output = String> + Send;

    /// Approves the device authorization whose `device_pending` line is `pending`
    /// (`user_code`, `verification_uri`, `verification_uri_complete`).
    fn approve_device(&mut self, pending: &serde_json::Value) -> impl Future<Output = ()> + Send;
}

/// The user `login` at the [`OidcPeer`]: signs in and consents through its development
/// interactions.
#[derive(Debug)]
pub struct OidcPeerUser {
    /// The account to sign in as.
    pub login: String,
}

impl PeerUser for OidcPeerUser {
    async fn authorize(&mut self, url: &str) -> String {
        let query = Browser::new().login_at_oidc(url, &self.login).await;
        format!("{OIDC_REDIRECT}?{query}")
    }

    async fn approve_device(&mut self, pending: &serde_json::Value) {
        let url = pending["verification_uri_complete"].as_str().expect("verification_uri_complete");
        let page = Browser::new().submit_forms(url, &self.login).await;
        assert!(page.contains("Sign-in Success"), "the device was not approved: {page}");
    }
}

/// The JSON lines an OAuth 2 client script printed, in order.
#[derive(Debug)]
pub struct PeerRun {
    /// Every line, each an object with a `step` member.
    pub lines: Vec<serde_json::Value>,
}

impl PeerRun {
    /// The lines of step `name`.
    pub fn all(&self, name: &str) -> Vec<&serde_json::Value> {
        self.lines.iter().filter(|l| l["step"] == name).collect()
    }

    /// The only line of step `name`; panics when there is none or more than one.
    pub fn one(&self, name: &str) -> &serde_json::Value {
        match self.all(name).as_slice() {
            [line] => line,
            lines => panic!("{} lines of step {name} in:\n{self}", lines.len()),
        }
    }

    /// The `introspect` line about `token` (e.g. `access_token`, `revoked_refresh_token`).
    pub fn introspection(&self, token: &str) -> &serde_json::Value {
        let lines: Vec<_> = self.all("introspect").into_iter().filter(|l| l["token"] == token).collect();
        match lines.as_slice() {
            [line] => line,
            _ => panic!("no single introspection of {token} in:\n{self}"),
        }
    }
}

impl std::fmt::Display for PeerRun {
    /// One JSON line per line, as the script printed them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A script that failed: its exit status, what it printed before, and its stderr.
#[derive(Debug)]
pub struct PeerFailure {
    /// The library.
    pub lib: OAuth2Lib,
    /// How it ended.
    pub status: String,
    /// The JSON lines it printed before failing.
    pub lines: Vec<serde_json::Value>,
    /// Its stderr (the failure's message).
    pub stderr: String,
}

impl std::fmt::Display for PeerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} client script failed ({}): {}", self.lib.name(), self.status, self.stderr.trim())?;
        for line in &self.lines {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PeerFailure {}

/// How long one script may take, device polling included.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs `lib`'s script with `args`, answering its questions through `user`; returns its
/// lines when it exits 0. `None` when the library is not installed (use with
/// [`require_or_skip!`](crate::require_or_skip)).
pub async fn run_oauth2_client(
    lib: OAuth2Lib,
    args: &OAuth2ClientArgs,
    user: &mut impl PeerUser,
) -> Option<Result<PeerRun, PeerFailure>> {
    run_script(lib, lib.command()?, args.to_args(), user).await
}

/// Runs one client script (`cmd` with `args`), answering its questions through `user`.
async fn run_script(
    lib: OAuth2Lib,
    mut cmd: tokio::process::Command,
    args: Vec<String>,
    user: &mut impl PeerUser,
) -> Option<Result<PeerRun, PeerFailure>> {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start the {} client script: {e}", lib.name()));
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let stderr = tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s).await;
        s
    });
    let mut lines = Vec::new();
    let talk = async {
        while let Some(line) = stdout.next_line().await.expect("read the script's stdout") {
            let value: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {line}", lib.name()));
            let answer = match value["await"].as_str() {
                Some("callback") => Some(user.authorize(value["url"].as_str().expect("url")).await),
                Some("approval") => {
                    user.approve_device(&value).await;
                    Some("approved".to_owned())
                }
                Some(other) => panic!("{}: unknown question {other:?}", lib.name()),
                None => None,
            };
            lines.push(value);
            if let Some(answer) = answer {
                // A script that died meanwhile reports it through its exit status.
                let _ = stdin.write_all(format!("{answer}\n").as_bytes()).await;
                let _ = stdin.flush().await;
            }
        }
        child.wait().await.expect("wait for the script")
    };
    let status = match tokio::time::timeout(SCRIPT_TIMEOUT, talk).await {
        Ok(status) if status.success() => return Some(Ok(PeerRun { lines })),
        Ok(status) => status.to_string(),
        Err(_) => format!("no exit within {} s", SCRIPT_TIMEOUT.as_secs()),
    };
    let stderr = tokio::time::timeout(Duration::from_secs(5), stderr).await.ok().and_then(Result::ok);
    Some(Err(PeerFailure { lib, status, lines, stderr: stderr.unwrap_or_default() }))
}

/// The steps the OpenID Connect relying-party scripts know, in the order they run them
/// (tests/peers/node/oidc_client.mjs runs them all; tests/peers/python/oidc_client.py knows
/// `code`, `userinfo`, `refresh` and `logout`).
pub const OIDC_STEPS: [&str; 6] = ["code", "userinfo", "refresh", "prompt_none", "max_age", "logout"];

impl OAuth2Lib {
    /// The command that runs its OpenID Connect relying-party script
    /// (tests/peers/node/oidc_client.mjs for openid-client, tests/peers/python/oidc_client.py
    /// for Authlib), or `None` when the peer is not installed or has no such script
    /// (requests-oauthlib knows no OpenID Connect).
    pub fn oidc_command(self) -> Option<tokio::process::Command> {
        let root = crate::workspace_root();
        match self {
            Self::Authlib => {
                let mut cmd = tokio::process::Command::new(crate::python()?);
                cmd.arg(root.join("tests/peers/python/oidc_client.py"));
                Some(cmd)
            }
            Self::OpenidClient => {
                // The same node and package checks as the OAuth 2 script's.
                let modules = self.command().and_then(|_| crate::node_modules())?;
                let mut cmd = tokio::process::Command::new("node");
                cmd.arg(root.join("tests/peers/node/oidc_client.mjs")).env("KEYWARD_NODE_MODULES", modules);
                Some(cmd)
            }
            Self::RequestsOAuthlib => None,
        }
    }
}

/// What an OpenID Connect relying-party script is told: the provider (found through its
/// discovery document), the client, what to do.
#[derive(Clone, Debug)]
pub struct OidcClientArgs {
    /// The provider's issuer.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The client secret, for `client_secret_basic` and `client_secret_post`.
    pub client_secret: Option<String>,
    /// `client_secret_basic` (the default), `client_secret_post` or `none`.
    pub auth_method: String,
    /// The registered redirect URI.
    pub redirect_uri: String,
    /// The registered post-logout redirect URI (the `logout` step needs one).
    pub post_logout_redirect_uri: Option<String>,
    /// The scope to ask for (`openid profile email` by default).
    pub scope: String,
    /// The steps to run, a subset of [`OIDC_STEPS`] (all by default).
    pub steps: Vec<&'static str>,
}

impl OidcClientArgs {
    /// Client `client_id` of the provider at `issuer`, redirecting to `redirect_uri`, with
    /// `client_secret_basic`, the scope `openid profile email` and every step.
    pub fn new(issuer: &str, client_id: &str, redirect_uri: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: None,
            auth_method: "client_secret_basic".to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            post_logout_redirect_uri: None,
            scope: "openid profile email".to_owned(),
            steps: OIDC_STEPS.to_vec(),
        }
    }

    fn to_args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            ("--issuer", self.issuer.as_str()),
            ("--client-id", &self.client_id),
            ("--auth-method", &self.auth_method),
            ("--redirect-uri", &self.redirect_uri),
            ("--scope", &self.scope),
        ]
        .map(|(flag, value)| option(flag, value))
        .into();
        for (flag, value) in [
            ("--client-secret", &self.client_secret),
            ("--post-logout-redirect-uri", &self.post_logout_redirect_uri),
        ] {
            if let Some(v) = value {
                a.push(option(flag, v));
            }
        }
        a.push(option("--steps", &self.steps.join(",")));
        a
    }
}

/// Runs `lib`'s OpenID Connect relying-party script with `args`, the harness playing the
/// user through `user` (each `authorize`, `authorize_*` and `end_session` line is a URL to
/// walk from, answered with the URL the browser ended at); returns its lines when it exits 0.
/// `None` when the library is not installed (use with
/// [`require_or_skip!`](crate::require_or_skip) and [`OAuth2Lib::oidc_command`]).
pub async fn run_oidc_client(
    lib: OAuth2Lib,
    args: &OidcClientArgs,
    user: &mut impl PeerUser,
) -> Option<Result<PeerRun, PeerFailure>> {
    run_script(lib, lib.oidc_command()?, args.to_args(), user).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_start_with_a_dash_stay_values() {
        // A generated client id may start with `-`; as a separate argument the scripts'
        // parsers (argparse, node's parseArgs) would take it for an option.
        let mut oauth2 = OAuth2ClientArgs::new("http://127.0.0.1:1", "-Xk3");
        oauth2.client_secret = Some("--secret".into());
        let args = oauth2.to_args();
        assert!(args.contains(&"--client-id=-Xk3".to_owned()), "{args:?}");
        assert!(args.contains(&"--client-secret=--secret".to_owned()), "{args:?}");
        assert!(args.iter().all(|a| a.starts_with("--")), "every value rides with its flag: {args:?}");
        let oidc = OidcClientArgs::new("http://127.0.0.1:1", "-Xk3", "http://127.0.0.1:1/cb").to_args();
        assert!(oidc.contains(&"--client-id=-Xk3".to_owned()), "{oidc:?}");
    }
}

//! The demo's settings: command-line flags, `KEYWARD_DEMO_*` environment variables and the
//! `[demo]` table of `keyward.toml` (whose `[clients.NAME]` tables configure the remote
//! apps of the client website, read by the registry itself).

use keyward::common::secret::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The address served when neither `--addr` nor `KEYWARD_DEMO_ADDR` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";

/// The database used when neither `--database-url` nor `KEYWARD_DEMO_DATABASE_URL` says
/// otherwise: a SQLite file in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keyward-demo.db";

/// The OAuth 1 signature methods the provider accepts when the configuration names none.
/// `PLAINTEXT` is left out: it is accepted only when listed (and then, as every request,
/// only over https or between loopback addresses).
pub const DEFAULT_SIGNATURE_METHODS: [&str; 4] = ["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "RSA-SHA256"];

/// A configuration that cannot be used; the message names the flag, variable or key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A command-line flag is unknown or lacks its value.
    #[error("{0}")]
    Usage(String),
    /// A value cannot be used.
    #[error("invalid {key}: {reason}")]
    Invalid {
        /// The flag, variable or TOML key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file named by the configuration cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), reason: reason.into() }
}

/// A provider user to create (or whose password to reset) at start-up.
#[derive(Clone, PartialEq, Eq)]
pub struct SeedUser {
    /// The sign-in name.
    pub username: String,
    /// The password; only its Argon2 hash is stored.
    pub password: SecretString,
}

impl std::fmt::Debug for SeedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedUser").field("username", &self.username).finish_non_exhaustive()
    }
}

impl SeedUser {
    /// Parses `name:password`.
    pub fn parse(text: &str, key: &str) -> Result<Self, ConfigError> {
        match text.split_once(':') {
            Some((u, p)) if valid_username(u.trim()) && !p.is_empty() => {
                Ok(Self { username: u.trim().to_owned(), password: SecretString::new(p) })
            }
            _ => Err(invalid(key, format!("expected name:password ({USERNAME_RULE})"))),
        }
    }
}

/// The rule for provider user names, as pages and messages state it.
pub const USERNAME_RULE: &str =
    "a user name is 1 to 64 characters: ASCII letters (a-z, A-Z), digits, dots, underscores or hyphens";

/// Whether `name` is an acceptable provider user name ([`USERNAME_RULE`]): 1 to 64 ASCII
/// letters, digits, `.`, `_` or `-`.
pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// An OAuth 1 client to register (or update) in the provider at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedClient {
    /// The client identifier (`oauth_consumer_key`).
    pub client_id: String,
    /// The shared secret, for HMAC signatures.
    pub client_secret: SecretString,
    /// The callback used when the client sends `oauth_callback=oob`.
    #[serde(default)]
    pub callback_uri: Option<String>,
    /// The callbacks the client may name, matched exactly (`oob` among them, or allowed by
    /// a `callback_uri`); absent: any absolute URL, as RFC 5849 has it.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// Path of a PEM file with the client's RSA public key, for RSA-SHA1/RSA-SHA256.
    #[serde(default)]
    pub rsa_public_key: Option<PathBuf>,
    /// The name shown on the consent page.
    #[serde(default)]
    pub name: Option<String>,
}

/// An OAuth 2 client to register (or update) in the demo's authorization server at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOAuth2Client {
    /// The client identifier (RFC 6749 §2.2).
    pub client_id: String,
    /// The client secret, kept as given (a configured secret may be short, so it is not
    /// hashed like a generated one); required unless `public`.
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// The redirect URIs, matched exactly (a loopback `http://127.0.0.1:…` one apart from the
    /// port).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// The grant types by their RFC names (`authorization_code`, `refresh_token`,
    /// `client_credentials`); empty: `authorization_code` and `refresh_token`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// A public client (no secret, authentication `none`; PKCE as for every client).
    #[serde(default)]
    pub public: bool,
    /// The name shown on the consent page.
    #[serde(default)]
    pub name: Option<String>,
}

/// The `[demo]` table of `keyward.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoTable {
    #[serde(default)]
    addr: Option<String>,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default)]
    database_url: Option<String>,
    #[serde(default)]
    redis_url: Option<String>,
    /// `name:password` entries.
    #[serde(default)]
    users: Vec<SecretString>,
    #[serde(default)]
    oauth1_clients: Vec<SeedClient>,
    #[serde(default)]
    oauth1_signature_methods: Option<Vec<String>>,
    #[serde(default)]
    oauth2_clients: Vec<SeedOAuth2Client>,
}

#[derive(Debug, Default, Deserialize)]
struct TomlFile {
    #[serde(default)]
    demo: DemoTable,
}

/// The bounds that keep the site up under hostile traffic. The defaults are the safe ones;
/// tests shorten the timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// A connection that has not sent a request's headers within this time is closed
    /// (default 30 s).
    pub header_read_timeout: Duration,
    /// A request (reading its body and answering it) that takes longer is answered
    /// `408 Request Timeout` (default 30 s).
    pub request_timeout: Duration,
    /// Connections served at once; beyond, new ones wait in the listen queue (default 1024).
    pub max_connections: usize,
    /// Password hashes (Argon2, 19 MiB each) computed at once (default: the number of
    /// cores).
    pub password_hashers: usize,
    /// How long a sign-in waits for a free hasher before it is answered `429 Too Many
    /// Requests` with `Retry-After` (default 2 s).
    pub password_queue_wait: Duration,
    /// Wrong passwords for one user name before sign-ins for it are delayed (default 5).
    pub free_failures_per_account: u32,
    /// Wrong passwords from one IP address before its sign-ins are delayed (default 20).
    pub free_failures_per_address: u32,
    /// The first delay past the free failures; it doubles with each further failure
    /// (default 1 s).
    pub backoff_base: Duration,
    /// The longest delay (default 15 min); failures are forgotten after twice this long.
    pub backoff_max: Duration,
    /// Browser sessions kept in memory at most (without Redis); beyond, those closest to
    /// expiry go first (default 10,000).
    pub max_sessions: usize,
    /// OAuth 1 clients one provider user may register (default 20).
    pub max_clients_per_user: usize,
    /// Logins under way at the provider per OAuth 1 client: its pending temporary
    /// credentials, each alive 10 minutes (default 2,000). Past it the provider answers the
    /// client `429` until some finish or expire, and the site's own "Sign in with" link fails
    /// without keeping a session.
    pub max_pending_logins: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            password_hashers: std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            password_queue_wait: Duration::from_secs(2),
            free_failures_per_account: 5,
            free_failures_per_address: 20,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(15 * 60),
            max_sessions: 10_000,
            max_clients_per_user: 20,
            max_pending_logins: 2_000,
        }
    }
}

/// Everything the demo needs to start. Its `Debug` hides passwords: URLs lose their
/// user-info, the TOML text shows its size only.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The URL users reach the site at (callbacks and the provider's own endpoints are built
    /// from it); defaults to `http://{addr}` (`127.0.0.1` for an unspecified address).
    pub public_url: Option<String>,
    /// `sqlite://…` (default [`DEFAULT_DATABASE_URL`]) or `postgres://…`: provider users,
    /// OAuth 1 clients and token credentials.
    pub database_url: String,
    /// `redis://…` for nonces, temporary credentials and browser sessions; in memory when
    /// absent.
    pub redis_url: Option<String>,
    /// The text of `keyward.toml`: `[clients.NAME]` remote apps and the `[demo]` table.
    pub toml: Option<String>,
    /// Whether the registry reads `{NAME}_CLIENT_ID`, … from the environment, and whether
    /// apps named only there are registered.
    pub env: bool,
    /// Provider users created at start-up.
    pub users: Vec<SeedUser>,
    /// OAuth 1 clients registered at start-up.
    pub oauth1_clients: Vec<SeedClient>,
    /// OAuth 2 clients registered at start-up.
    pub oauth2_clients: Vec<SeedOAuth2Client>,
    /// The OAuth 1 signature methods the provider accepts, by their RFC 5849 names
    /// (default [`DEFAULT_SIGNATURE_METHODS`]); [`Config::from_args`] refuses unknown names.
    pub oauth1_signature_methods: Vec<String>,
    /// Mark the session cookie `Secure` (when served over https).
    pub secure_cookies: bool,
    /// Timeouts, caps and sign-in throttling.
    pub limits: Limits,
}

/// `url` without its password, for display.
fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("public_url", &self.public_url)
            .field("database_url", &redacted_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redacted_url))
            .field("toml_bytes", &self.toml.as_ref().map(String::len))
            .field("env", &self.env)
            .field("users", &self.users)
            .field("oauth1_clients", &self.oauth1_clients)
            .field("oauth2_clients", &self.oauth2_clients)
            .field("oauth1_signature_methods", &self.oauth1_signature_methods)
            .field("secure_cookies", &self.secure_cookies)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Config {
    /// A configuration for `addr` with a SQLite database at `database_url`, nothing
    /// seeded and the environment not read: the starting point of tests.
    pub fn new(addr: SocketAddr, database_url: impl Into<String>) -> Self {
        Self {
            addr,
            public_url: None,
            database_url: database_url.into(),
            redis_url: None,
            toml: None,
            env: false,
            users: Vec::new(),
            oauth1_clients: Vec::new(),
            oauth2_clients: Vec::new(),
            oauth1_signature_methods: DEFAULT_SIGNATURE_METHODS.map(str::to_owned).to_vec(),
            secure_cookies: false,
            limits: Limits::default(),
        }
    }

    /// The site's public base URL, without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None if self.addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// Reads flags (`args` without the program name), then the environment through `env`,
    /// then the `--config` file (flags win over variables, variables over the file).
    pub fn from_args(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        let mut flags: std::collections::BTreeMap<&'static str, String> = Default::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let key = match name.as_str() {
                "--addr" => "addr",
                "--public-url" => "public_url",
                "--database-url" => "database_url",
                "--redis-url" => "redis_url",
                "--config" => "config",
                "-h" | "--help" => return Err(ConfigError::Usage(USAGE.to_owned())),
                "-V" | "--version" => return Err(ConfigError::Usage(VERSION.to_owned())),
                other => return Err(ConfigError::Usage(format!("unknown argument `{other}`\n\n{USAGE}"))),
            };
            let value = match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => return Err(ConfigError::Usage(format!("{name} needs a value\n\n{USAGE}"))),
            };
            flags.insert(key, value);
        }
        let pick = |flag: &str, var: &str| flags.get(flag).cloned().or_else(|| env(var));
        let config_path = pick("config", "KEYWARD_DEMO_CONFIG");
        let toml = match &config_path {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|source| ConfigError::Read { path: PathBuf::from(p), source })?,
            ),
            None => None,
        };
        let base = config_path.as_deref().map(Path::new).and_then(Path::parent).map(Path::to_path_buf);
        let file = parse_demo_table(toml.as_deref())?;
        let addr_text = pick("addr", "KEYWARD_DEMO_ADDR")
            .or(file.addr.clone())
            .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let addr = addr_text.parse().map_err(|e| invalid("--addr", format!("`{addr_text}`: {e}")))?;
        let mut config = Config::new(
            addr,
            pick("database_url", "KEYWARD_DEMO_DATABASE_URL")
                .or(file.database_url.clone())
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
        );
        config.public_url = pick("public_url", "KEYWARD_DEMO_PUBLIC_URL").or(file.public_url.clone());
        if let Some(u) = &config.public_url {
            match url::Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => {
                    config.secure_cookies = p.scheme() == "https";
                }
                _ => return Err(invalid("--public-url", "expected an http(s) URL with a host")),
            }
        }
        config.redis_url = pick("redis_url", "KEYWARD_DEMO_REDIS_URL").or(file.redis_url.clone());
        config.toml = toml;
        config.env = true;
        for entry in &file.users {
            config.users.push(SeedUser::parse(entry.secret(), "[demo].users")?);
        }
        if let Some(list) = env("KEYWARD_DEMO_USERS") {
            for entry in list.split(',').filter(|e| !e.trim().is_empty()) {
                config.users.push(SeedUser::parse(entry, "KEYWARD_DEMO_USERS")?);
            }
        }
        for mut client in file.oauth1_clients {
            // A relative key path is relative to the configuration file.
            if let (Some(path), Some(base)) = (&client.rsa_public_key, &base)
                && path.is_relative()
            {
                client.rsa_public_key = Some(base.join(path));
            }
            config.oauth1_clients.push(client);
        }
        if let Some(client_id) = env("KEYWARD_DEMO_OAUTH1_CLIENT_ID") {
            let secret = env("KEYWARD_DEMO_OAUTH1_CLIENT_SECRET")
                .ok_or_else(|| invalid("KEYWARD_DEMO_OAUTH1_CLIENT_SECRET", "required with …_CLIENT_ID"))?;
            config.oauth1_clients.push(SeedClient {
                client_id,
                client_secret: SecretString::new(secret),
                callback_uri: env("KEYWARD_DEMO_OAUTH1_CALLBACK_URI"),
                // Blank (or only commas): no list, as when the variable is unset.
                redirect_uris: env("KEYWARD_DEMO_OAUTH1_REDIRECT_URIS")
                    .map(|list| {
                        list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()
                    })
                    .filter(|uris: &Vec<String>| !uris.is_empty()),
                rsa_public_key: env("KEYWARD_DEMO_OAUTH1_RSA_PUBLIC_KEY").map(PathBuf::from),
                name: env("KEYWARD_DEMO_OAUTH1_NAME"),
            });
        }
        config.oauth2_clients = file.oauth2_clients;
        if let Some(client_id) = env("KEYWARD_DEMO_OAUTH2_CLIENT_ID") {
            let list = |var: &str| -> Vec<String> {
                env(var)
                    .map(|l| {
                        l.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()
                    })
                    .unwrap_or_default()
            };
            let public = match env("KEYWARD_DEMO_OAUTH2_PUBLIC").as_deref().map(str::trim) {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(other) => {
                    return Err(invalid(
                        "KEYWARD_DEMO_OAUTH2_PUBLIC",
                        format!("`{other}`: expected true or false"),
                    ));
                }
            };
            config.oauth2_clients.push(SeedOAuth2Client {
                client_id,
                client_secret: env("KEYWARD_DEMO_OAUTH2_CLIENT_SECRET").map(SecretString::new),
                redirect_uris: list("KEYWARD_DEMO_OAUTH2_REDIRECT_URIS"),
                grant_types: list("KEYWARD_DEMO_OAUTH2_GRANT_TYPES"),
                public,
                name: env("KEYWARD_DEMO_OAUTH2_NAME"),
            });
        }
        if let Some(list) = env("KEYWARD_DEMO_OAUTH1_SIGNATURE_METHODS") {
            let names: Vec<String> = list.split(',').map(str::to_owned).collect();
            config.oauth1_signature_methods =
                signature_methods(&names, "KEYWARD_DEMO_OAUTH1_SIGNATURE_METHODS")?;
        } else if let Some(names) = &file.oauth1_signature_methods {
            config.oauth1_signature_methods = signature_methods(names, "[demo].oauth1_signature_methods")?;
        }
        Ok(config)
    }
}

/// Checks a list of signature method names against those the library implements (RFC 5849
/// §3.4), case-insensitively, and returns them spelled as the specification does.
pub fn signature_methods(names: &[String], key: &str) -> Result<Vec<String>, ConfigError> {
    let known = keyward::oauth1::rfc5849::SignatureMethods::default();
    let known: Vec<&str> = known.allowed().collect();
    let mut out: Vec<String> = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let Some(canonical) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) else {
            return Err(invalid(
                key,
                format!("unknown signature method `{name}` (known: {})", known.join(", ")),
            ));
        };
        if !out.iter().any(|o| o == canonical) {
            out.push((*canonical).to_owned());
        }
    }
    if out.is_empty() {
        return Err(invalid(key, format!("name at least one signature method ({})", known.join(", "))));
    }
    Ok(out)
}

fn parse_demo_table(text: Option<&str>) -> Result<DemoTable, ConfigError> {
    let Some(text) = text else { return Ok(DemoTable::default()) };
    // `[clients.*]` belongs to the registry, which checks it; only `[demo]` is read here.
    let value: toml::Table = toml::from_str(text).map_err(|e| invalid("keyward.toml", e.to_string()))?;
    match value.get("demo") {
        Some(demo) => {
            let file: TomlFile = toml::Table::from_iter([("demo".to_owned(), demo.clone())])
                .try_into()
                .map_err(|e: toml::de::Error| invalid("[demo]", e.to_string()))?;
            Ok(file.demo)
        }
        None => Ok(DemoTable::default()),
    }
}

/// The `--version` text.
pub const VERSION: &str = concat!("keyward-demo ", env!("CARGO_PKG_VERSION"));

/// The `--help` text.
pub const USAGE: &str = "\
keyward-demo: an OAuth 1.0a provider, an OAuth 2.1 authorization server and a client
website in one program

USAGE: keyward-demo [--addr HOST:PORT] [--public-url URL] [--database-url URL]
                    [--redis-url URL] [--config keyward.toml]
       keyward-demo --help | --version

  --addr          where to listen (KEYWARD_DEMO_ADDR; default 127.0.0.1:8000)
  --public-url    the URL users reach the site at (KEYWARD_DEMO_PUBLIC_URL)
  --database-url  sqlite://FILE or postgres://… (KEYWARD_DEMO_DATABASE_URL;
                  default sqlite://keyward-demo.db)
  --redis-url     redis://… for nonces, temporary credentials and sessions
                  (KEYWARD_DEMO_REDIS_URL; default: in memory)
  --config        keyward.toml: [clients.NAME] remote apps, [demo] settings
                  (KEYWARD_DEMO_CONFIG)
  -h, --help      this text
  -V, --version   the version

Remote apps also come from {NAME}_CLIENT_ID, {NAME}_CLIENT_SECRET, … (presets apply:
GITHUB_CLIENT_ID=… GITHUB_CLIENT_SECRET=… turns on GitHub). Provider users:
KEYWARD_DEMO_USERS=alice:password,… An OAuth 1 client: KEYWARD_DEMO_OAUTH1_CLIENT_ID,
…_CLIENT_SECRET, …_CALLBACK_URI, …_REDIRECT_URIS (comma-separated), …_RSA_PUBLIC_KEY (a PEM
file).
An OAuth 2 client: KEYWARD_DEMO_OAUTH2_CLIENT_ID, …_CLIENT_SECRET, …_REDIRECT_URIS and
…_GRANT_TYPES (comma-separated), …_PUBLIC=true (a public client, no secret), …_NAME; or
[[demo.oauth2_clients]] in keyward.toml.

The provider's OAuth 1 signature methods: KEYWARD_DEMO_OAUTH1_SIGNATURE_METHODS=HMAC-SHA1,…
or [demo] oauth1_signature_methods = [\"HMAC-SHA1\", …] (default HMAC-SHA1, HMAC-SHA256,
RSA-SHA1, RSA-SHA256; PLAINTEXT only when listed, and then only over https or loopback).
An unknown name stops the start.

Its OAuth 2.1 server (issuer: the public URL): /oauth2/authorize, /oauth2/token,
/oauth2/par (pushed authorization requests, accepted, not required), /oauth2/revoke,
/oauth2/introspect, metadata at /.well-known/oauth-authorization-server; DPoP-bound
tokens for clients that send proofs.
Its OAuth 2 clients, tokens and grants are kept in the database, its codes beside the nonces.

Its protected API: GET or POST /api/me (POST takes a form body, which may carry the OAuth
parameters), signed with a token credential, or with Authorization: Bearer and an OAuth 2
access token of scope profile; answers and errors are JSON ({\"error\": …,
\"error_description\": …}), a 401 with WWW-Authenticate: OAuth realm=\"…\" (and Bearer).

Timeouts, caps and sign-in throttling have safe defaults (keyward_demo::Limits): 30 s to
send request headers, 429 with Retry-After when password checks queue or guesses pile up.
";

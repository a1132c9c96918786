//! The configuration of a registered remote app, with Authlib's keys, and where it comes
//! from: code (a typed builder), TOML (`[clients.NAME]` tables), environment variables
//! (`{NAME}_CLIENT_ID`, …) and presets for common providers.
//!
//! Layering, highest first: values given in code, then loaded values (environment over
//! TOML), then the preset of the same name (or the one named by `preset = "…"`). With
//! [`Overwrite::Loaded`] the loaded values win over those given in code, as Authlib's
//! `register(..., overwrite=True)` does.

use keyward::common::secret::SecretString;
use serde::{Deserialize, Serialize};

pub use crate::oauth2::Quirks;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

/// Extra parameters added to a request (`authorize_params`, `access_token_params`, …).
pub type Params = BTreeMap<String, String>;

/// Which protocol an app speaks, decided by whether `request_token_url` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OAuth 1.0a (RFC 5849).
    OAuth1,
    /// OAuth 2.0 (RFC 6749), with OpenID Connect when `openid` is in scope.
    OAuth2,
}

/// A configuration error, always naming the app and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key the app's flow needs is not set anywhere. The message names the environment
    /// variable (`{NAME}_{KEY}`) and the TOML key (`[clients.NAME]`) that would set it.
    #[error(
        "app `{app}`: missing `{key}` ({why}); set {var} in the environment, or `{key}` in \
         [clients.{app}] of the TOML configuration",
        var = env_var(app, key)
    )]
    Missing {
        /// The app's name.
        app: String,
        /// The missing key.
        key: &'static str,
        /// Why the flow needs it.
        why: &'static str,
    },
    /// A key's value cannot be used.
    #[error("app `{app}`: invalid `{key}`: {reason}")]
    Invalid {
        /// The app's name.
        app: String,
        /// The offending key (for environment variables, the variable's name).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A TOML document could not be read.
    #[error("invalid TOML configuration: {0}")]
    Toml(#[from] toml::de::Error),
}

/// Settings of the underlying OAuth session (Authlib's `client_kwargs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientKwargs {
    /// Space-separated scopes requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// OAuth 2 client authentication at the token endpoint: `client_secret_basic`,
    /// `client_secret_post`, `none`, `client_secret_jwt`, `private_key_jwt` or a custom name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// OAuth 2 token placement on API calls: `header` (default), `body` or `uri`/`query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_placement: Option<String>,
    /// PKCE: `S256` (recommended) or `plain`; unset means no PKCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<String>,
    /// OAuth 1 signature method (default `HMAC-SHA1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_method: Option<String>,
    /// OAuth 1 signature type: `HEADER` (default), `QUERY` or `BODY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_type: Option<String>,
    /// OAuth 1 RSA private key (PEM) for RSA-SHA1/RSA-SHA256, or OAuth 2 `private_key_jwt` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsa_key: Option<SecretString>,
    /// OAuth 1 `realm` of the Authorization header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// Timeout of each of the app's outgoing calls (token endpoint, userinfo, API calls,
    /// discovery, JWK set), from connecting to the end of the response body. Written in
    /// seconds, fractions allowed (`timeout = 2.5`, as Authlib's). Unset, the registry's
    /// transport keeps its own (30 s for the default [`ReqwestClient`](crate::ReqwestClient)).
    #[serde(default, with = "seconds", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Seconds before expiry at which an OAuth 2 token counts as expired (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<i64>,
}

/// The configuration of one remote app, with Authlib's keys.
///
/// Every key is optional here; [`AppConfig::validate`] says which ones a flow needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Use the named preset under this config (defaults to the app's own name if a preset
    /// of that name exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The client identifier (OAuth 1: consumer key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The client secret (OAuth 1: consumer secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretString>,
    /// OAuth 1 temporary-credential endpoint; its presence makes the app OAuth 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_token_url: Option<String>,
    /// Extra parameters of the temporary-credential request.
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub request_token_params: Params,
    /// Token endpoint (OAuth 1: token-credential endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_url: Option<String>,
    /// Extra parameters of the token request.
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub access_token_params: Params,
    /// Endpoint for refresh requests, when not the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_url: Option<String>,
    /// Extra parameters of refresh requests.
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub refresh_token_params: Params,
    /// Authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// Extra parameters of the authorization URL; they override call-time ones.
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub authorize_params: Params,
    /// Base URL that relative API paths are joined to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// OpenID Connect discovery document (or RFC 8414 metadata) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_metadata_url: Option<String>,
    /// The user's profile endpoint (OpenID Connect userinfo or any JSON endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// Inline JWK set, instead of the provider's `jwks_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Session settings.
    #[serde(default)]
    pub client_kwargs: ClientKwargs,
    /// Name of a registered compliance fix for a non-standard provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance_fix: Option<String>,
    /// Switches for known provider deviations.
    #[serde(default)]
    pub quirks: Quirks,
    /// Pushed authorization requests (RFC 9126) to the provider's
    /// `pushed_authorization_request_endpoint` (from `server_metadata_url`). Unset: used
    /// whenever the metadata advertises that endpoint; `true`: always (an error without
    /// one); `false`: only when the metadata says `require_pushed_authorization_requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_par: Option<bool>,
    /// DPoP (RFC 9449): token requests and API calls with the tokens obtained carry proofs
    /// of an ES256 key generated for the app at registration, or of `dpop_key`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop: bool,
    /// The app's DPoP key, a PEM `PRIVATE KEY` (PKCS#8, P-256 or P-384); it turns DPoP on.
    /// Tokens are bound to the key: keep it as long as the tokens (see the client guide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_key: Option<SecretString>,
}

fn or<T>(a: Option<T>, b: Option<T>) -> Option<T> {
    a.or(b)
}

fn merge_params(mut over: Params, under: Params) -> Params {
    for (k, v) in under {
        over.entry(k).or_insert(v);
    }
    over
}

/// A duration written as a number of seconds (`timeout = 10`, `timeout = 0.3`): positive and
/// finite.
mod seconds {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let Some(secs) = Option::<f64>::deserialize(d)? else { return Ok(None) };
        match Duration::try_from_secs_f64(secs) {
            Ok(duration) if !duration.is_zero() => Ok(Some(duration)),
            _ => Err(D::Error::custom(format!("expected a positive number of seconds, found {secs}"))),
        }
    }
}

impl ClientKwargs {
    fn layered_over(self, under: ClientKwargs) -> ClientKwargs {
        ClientKwargs {
            scope: or(self.scope, under.scope),
            token_endpoint_auth_method: or(self.token_endpoint_auth_method, under.token_endpoint_auth_method),
            token_placement: or(self.token_placement, under.token_placement),
            code_challenge_method: or(self.code_challenge_method, under.code_challenge_method),
            signature_method: or(self.signature_method, under.signature_method),
            signature_type: or(self.signature_type, under.signature_type),
            rsa_key: or(self.rsa_key, under.rsa_key),
            realm: or(self.realm, under.realm),
            timeout: or(self.timeout, under.timeout),
            leeway: or(self.leeway, under.leeway),
        }
    }
}

impl Quirks {
    fn layered_over(self, under: Quirks) -> Quirks {
        Quirks {
            no_nonce: self.no_nonce || under.no_nonce,
            issuer_template: or(self.issuer_template, under.issuer_template),
            userinfo_from_id_token: self.userinfo_from_id_token || under.userinfo_from_id_token,
        }
    }
}

/// Who wins when code and loaded configuration both set a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Values given in code win (the default).
    #[default]
    Code,
    /// Loaded values (environment, TOML) win over code.
    Loaded,
}

impl AppConfig {
    /// This config with every unset key taken from `under`; parameter maps are merged,
    /// this config's entries winning.
    pub fn layered_over(self, under: AppConfig) -> AppConfig {
        AppConfig {
            preset: or(self.preset, under.preset),
            client_id: or(self.client_id, under.client_id),
            client_secret: or(self.client_secret, under.client_secret),
            request_token_url: or(self.request_token_url, under.request_token_url),
            request_token_params: merge_params(self.request_token_params, under.request_token_params),
            access_token_url: or(self.access_token_url, under.access_token_url),
            access_token_params: merge_params(self.access_token_params, under.access_token_params),
            refresh_token_url: or(self.refresh_token_url, under.refresh_token_url),
            refresh_token_params: merge_params(self.refresh_token_params, under.refresh_token_params),
            authorize_url: or(self.authorize_url, under.authorize_url),
            authorize_params: merge_params(self.authorize_params, under.authorize_params),
            api_base_url: or(self.api_base_url, under.api_base_url),
            server_metadata_url: or(self.server_metadata_url, under.server_metadata_url),
            userinfo_endpoint: or(self.userinfo_endpoint, under.userinfo_endpoint),
            jwks: or(self.jwks, under.jwks),
            client_kwargs: self.client_kwargs.layered_over(under.client_kwargs),
            compliance_fix: or(self.compliance_fix, under.compliance_fix),
            quirks: self.quirks.layered_over(under.quirks),
            use_par: self.use_par.or(under.use_par),
            dpop: self.dpop || under.dpop,
            dpop_key: or(self.dpop_key, under.dpop_key),
        }
    }

    /// The protocol this config speaks.
    pub fn protocol(&self) -> Protocol {
        if self.request_token_url.is_some() { Protocol::OAuth1 } else { Protocol::OAuth2 }
    }

    /// Checks that the keys the app's flow needs are present and well-formed.
    pub fn validate(&self, app: &str) -> Result<Protocol, ConfigError> {
        let missing = |key, why| ConfigError::Missing { app: app.to_owned(), key, why };
        if self.client_id.as_deref().is_none_or(str::is_empty) {
            return Err(missing("client_id", "every flow identifies the client"));
        }
        for (key, value) in [
            ("request_token_url", &self.request_token_url),
            ("access_token_url", &self.access_token_url),
            ("refresh_token_url", &self.refresh_token_url),
            ("authorize_url", &self.authorize_url),
            ("api_base_url", &self.api_base_url),
            ("server_metadata_url", &self.server_metadata_url),
            ("userinfo_endpoint", &self.userinfo_endpoint),
        ] {
            if let Some(v) = value {
                check_url(app, key, v)?;
            }
        }
        if self.client_kwargs.timeout.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::Invalid {
                app: app.to_owned(),
                key: "client_kwargs.timeout".to_owned(),
                reason: "a zero timeout would fail every call".to_owned(),
            });
        }
        let protocol = self.protocol();
        match protocol {
            Protocol::OAuth1 => {
                if self.access_token_url.is_none() {
                    return Err(missing("access_token_url", "OAuth 1 exchanges the verifier there"));
                }
                if self.authorize_url.is_none() {
                    return Err(missing("authorize_url", "OAuth 1 sends the user there"));
                }
                // Which key the signature method needs (`client_secret` or
                // `client_kwargs.rsa_key`) is the method's declared key kind, checked where the
                // method is looked up among the registry's signature methods.
            }
            Protocol::OAuth2 => {
                if self.server_metadata_url.is_none() {
                    if self.authorize_url.is_none() {
                        return Err(missing("authorize_url", "no server_metadata_url to discover it from"));
                    }
                    if self.access_token_url.is_none() {
                        return Err(missing(
                            "access_token_url",
                            "no server_metadata_url to discover it from",
                        ));
                    }
                }
            }
        }
        Ok(protocol)
    }

    /// Reads `{PREFIX}_CLIENT_ID`, `{PREFIX}_CLIENT_SECRET`, … from the process environment,
    /// where `PREFIX` is the app's name uppercased with every other character as `_`.
    pub fn from_env(app: &str) -> Result<AppConfig, ConfigError> {
        Self::from_env_with(app, |k| std::env::var(k).ok())
    }

    /// Like [`AppConfig::from_env`], reading variables through `get`.
    ///
    /// URL keys take the value as it is; `*_PARAMS` take a JSON object or a form-encoded
    /// string; `CLIENT_KWARGS`, `QUIRKS` and `JWKS` take JSON. `SCOPE` is a shortcut for
    /// `client_kwargs.scope`. `USE_PAR` and `DPOP` take `true`/`false` (`1`/`0`, `yes`/`no`);
    /// `DPOP_KEY` a PEM private key.
    pub fn from_env_with(app: &str, get: impl Fn(&str) -> Option<String>) -> Result<AppConfig, ConfigError> {
        let prefix = env_prefix(app);
        let var = |key: &str| get(&format!("{prefix}_{key}")).filter(|v| !v.is_empty());
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            app: app.to_owned(),
            key: format!("{prefix}_{key}"),
            reason,
        };
        let params = |key: &str| -> Result<Params, ConfigError> {
            match var(key) {
                None => Ok(Params::new()),
                Some(v) => parse_params(&v).map_err(|r| invalid(key, r)),
            }
        };
        let json = |key: &str| -> Result<Option<serde_json::Value>, ConfigError> {
            var(key).map(|v| serde_json::from_str(&v).map_err(|e| invalid(key, e.to_string()))).transpose()
        };
        let mut client_kwargs: ClientKwargs = match json("CLIENT_KWARGS")? {
            Some(v) => serde_json::from_value(v).map_err(|e| invalid("CLIENT_KWARGS", e.to_string()))?,
            None => ClientKwargs::default(),
        };
        client_kwargs.scope = var("SCOPE").or(client_kwargs.scope);
        let quirks = match json("QUIRKS")? {
            Some(v) => serde_json::from_value(v).map_err(|e| invalid("QUIRKS", e.to_string()))?,
            None => Quirks::default(),
        };
        let flag = |key: &str| -> Result<bool, ConfigError> {
            match var(key).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(false),
                Some(v) => match v.as_str() {
                    "true" | "1" | "yes" | "on" => Ok(true),
                    "false" | "0" | "no" | "off" => Ok(false),
                    _ => Err(invalid(key, format!("`{v}` is not true or false"))),
                },
            }
        };
        Ok(AppConfig {
            use_par: var("USE_PAR").is_some().then(|| flag("USE_PAR")).transpose()?,
            dpop: flag("DPOP")?,
            dpop_key: var("DPOP_KEY").map(SecretString::new),
            preset: var("PRESET"),
            client_id: var("CLIENT_ID"),
            client_secret: var("CLIENT_SECRET").map(SecretString::new),
            request_token_url: var("REQUEST_TOKEN_URL"),
            request_token_params: params("REQUEST_TOKEN_PARAMS")?,
            access_token_url: var("ACCESS_TOKEN_URL"),
            access_token_params: params("ACCESS_TOKEN_PARAMS")?,
            refresh_token_url: var("REFRESH_TOKEN_URL"),
            refresh_token_params: params("REFRESH_TOKEN_PARAMS")?,
            authorize_url: var("AUTHORIZE_URL"),
            authorize_params: params("AUTHORIZE_PARAMS")?,
            api_base_url: var("API_BASE_URL"),
            server_metadata_url: var("SERVER_METADATA_URL"),
            userinfo_endpoint: var("USERINFO_ENDPOINT"),
            jwks: json("JWKS")?,
            client_kwargs,
            compliance_fix: var("COMPLIANCE_FIX"),
            quirks,
        })
    }

    /// True when no key at all is set (e.g. nothing in the environment for this app).
    pub fn is_empty(&self) -> bool {
        *self == AppConfig::default()
    }
}

/// The environment variable of an app's key: (`github`, `client_id`) → `GITHUB_CLIENT_ID`.
pub(crate) fn env_var(app: &str, key: &str) -> String {
    format!("{}_{}", env_prefix(app), key.to_ascii_uppercase().replace('.', "_"))
}

/// The environment-variable prefix of an app: `my-app` → `MY_APP`.
pub fn env_prefix(app: &str) -> String {
    app.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

fn parse_params(v: &str) -> Result<Params, String> {
    let t = v.trim_start();
    if t.starts_with('{') {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(t).map_err(|e| e.to_string())?;
        return Ok(map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect());
    }
    keyward::common::encoding::parse_form(v).map(|p| p.into_iter().collect()).map_err(|e| e.to_string())
}

fn check_url(app: &str, key: &str, value: &str) -> Result<(), ConfigError> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(()),
        Ok(u) => Err(ConfigError::Invalid {
            app: app.to_owned(),
            key: key.to_owned(),
            reason: format!("`{}` URL: expected an http(s) URL with a host", u.scheme()),
        }),
        Err(e) => {
            Err(ConfigError::Invalid { app: app.to_owned(), key: key.to_owned(), reason: e.to_string() })
        }
    }
}

/// A TOML document holding `[clients.NAME]` tables.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientsFile {
    /// The apps, by name.
    #[serde(default)]
    pub clients: BTreeMap<String, AppConfig>,
}

impl ClientsFile {
    /// Parses a TOML document; unknown keys are errors, so typos surface at start-up.
    pub fn from_toml(text: &str) -> Result<ClientsFile, ConfigError> {
        Ok(toml::from_str(text)?)
    }
}

/// The built-in presets, by name (`github`, `google`, …, `twitter`), from `presets.toml`.
pub fn presets() -> &'static BTreeMap<String, AppConfig> {
    static PRESETS: OnceLock<BTreeMap<String, AppConfig>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        // The build script turns `presets.toml` into `AppConfig` literals: a file that does
        // not parse, or does not fit `AppConfig`, fails the build.
        let presets: Vec<(&str, AppConfig)> = Vec::from(include!(concat!(env!("OUT_DIR"), "/presets.rs")));
        presets.into_iter().map(|(name, config)| (name.to_owned(), config)).collect()
    })
}

/// Where loaded configuration comes from: a TOML file's tables and the environment.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    file: BTreeMap<String, AppConfig>,
    env: bool,
}

impl ConfigSources {
    /// No loaded configuration: only code and presets.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds the `[clients.NAME]` tables of a TOML document.
    pub fn with_toml(mut self, text: &str) -> Result<Self, ConfigError> {
        self.file.extend(ClientsFile::from_toml(text)?.clients);
        Ok(self)
    }

    /// Reads `{NAME}_…` environment variables (over the TOML tables) at registration.
    pub fn with_env(mut self) -> Self {
        self.env = true;
        self
    }

    /// Names of the apps the TOML tables define.
    pub fn file_apps(&self) -> impl Iterator<Item = &str> {
        self.file.keys().map(String::as_str)
    }

    /// The loaded configuration of `app`: environment over TOML.
    pub fn loaded(&self, app: &str) -> Result<AppConfig, ConfigError> {
        self.loaded_with(app, |k| std::env::var(k).ok())
    }

    /// Like [`ConfigSources::loaded`], reading variables through `get`.
    pub fn loaded_with(
        &self,
        app: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<AppConfig, ConfigError> {
        let file = self.file.get(app).cloned().unwrap_or_default();
        if self.env { Ok(AppConfig::from_env_with(app, get)?.layered_over(file)) } else { Ok(file) }
    }

    /// The effective configuration of `app`: code and loaded values layered as `overwrite`
    /// says, over the preset, then validated.
    pub fn resolve(
        &self,
        app: &str,
        code: AppConfig,
        overwrite: Overwrite,
    ) -> Result<(AppConfig, Protocol), ConfigError> {
        self.resolve_with(app, code, overwrite, |k| std::env::var(k).ok())
    }

    /// Like [`ConfigSources::resolve`], reading variables through `get`.
    pub fn resolve_with(
        &self,
        app: &str,
        code: AppConfig,
        overwrite: Overwrite,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(AppConfig, Protocol), ConfigError> {
        let loaded = self.loaded_with(app, get)?;
        let merged = match overwrite {
            Overwrite::Code => code.layered_over(loaded),
            Overwrite::Loaded => loaded.layered_over(code),
        };
        let preset_name = merged.preset.clone().unwrap_or_else(|| app.to_owned());
        let merged = match presets().get(&preset_name) {
            Some(p) => merged.layered_over(p.clone()),
            None if merged.preset.is_some() => {
                return Err(ConfigError::Invalid {
                    app: app.to_owned(),
                    key: "preset".into(),
                    reason: format!("no preset named `{preset_name}`"),
                });
            }
            None => merged,
        };
        let protocol = merged.validate(app)?;
        Ok((merged, protocol))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn compiled_presets_equal_the_file_read_as_config() {
        let read: BTreeMap<String, AppConfig> = toml::from_str(include_str!("presets.toml")).unwrap();
        assert_eq!(&read, presets());
    }

    #[test]
    fn presets_parse_and_validate() {
        let p = presets();
        assert!(p.len() >= 10, "{} presets", p.len());
        for (name, cfg) in p {
            let mut cfg = cfg.clone();
            cfg.client_id = Some("id".into());
            cfg.client_secret = Some(SecretString::new("secret"));
            cfg.validate(name).unwrap_or_else(|e| panic!("preset {name}: {e}"));
        }
        assert_eq!(p["twitter"].protocol(), Protocol::OAuth1);
        assert_eq!(p["github"].protocol(), Protocol::OAuth2);
    }

    #[test]
    fn env_turns_on_a_preset() {
        let src = ConfigSources::none().with_env();
        let get = env(&[("GITHUB_CLIENT_ID", "abc"), ("GITHUB_CLIENT_SECRET", "s3cret")]);
        let (cfg, proto) = src.resolve_with("github", AppConfig::default(), Overwrite::Code, get).unwrap();
        assert_eq!(proto, Protocol::OAuth2);
        assert_eq!(cfg.client_id.as_deref(), Some("abc"));
        assert_eq!(cfg.client_secret.as_ref().map(SecretString::secret), Some("s3cret"));
        assert_eq!(cfg.authorize_url.as_deref(), Some("https://github.com/login/oauth/authorize"));
    }

    #[test]
    fn env_prefix_and_params() {
        assert_eq!(env_prefix("my-app.v2"), "MY_APP_V2");
        let get = env(&[
            ("MY_APP_CLIENT_ID", "x"),
            ("MY_APP_AUTHORIZE_PARAMS", r#"{"prompt": "consent", "max_age": 30}"#),
            ("MY_APP_ACCESS_TOKEN_PARAMS", "audience=api&x=a%20b"),
            ("MY_APP_CLIENT_KWARGS", r#"{"token_placement": "body"}"#),
            ("MY_APP_SCOPE", "openid"),
        ]);
        let cfg = AppConfig::from_env_with("my-app", get).unwrap();
        assert_eq!(cfg.authorize_params["prompt"], "consent");
        assert_eq!(cfg.authorize_params["max_age"], "30");
        assert_eq!(cfg.access_token_params["x"], "a b");
        assert_eq!(cfg.client_kwargs.token_placement.as_deref(), Some("body"));
        assert_eq!(cfg.client_kwargs.scope.as_deref(), Some("openid"));
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let get = env(&[("X_CLIENT_KWARGS", "{not json"), ("X_CLIENT_ID", "a")]);
        let err = AppConfig::from_env_with("x", get).unwrap_err();
        assert!(matches!(&err, ConfigError::Invalid { key, .. } if key == "X_CLIENT_KWARGS"), "{err}");
        let get = env(&[("X_CLIENT_KWARGS", r#"{"scop": "typo"}"#)]);
        assert!(AppConfig::from_env_with("x", get).unwrap_err().to_string().contains("scop"));
    }

    #[test]
    fn timeouts_are_seconds_from_toml_and_env() {
        let toml =
            "[clients.a]\nclient_kwargs = { timeout = 0.3 }\n[clients.b]\nclient_kwargs = { timeout = 10 }\n";
        let f = ClientsFile::from_toml(toml).unwrap();
        assert_eq!(f.clients["a"].client_kwargs.timeout, Some(Duration::from_millis(300)));
        assert_eq!(f.clients["b"].client_kwargs.timeout, Some(Duration::from_secs(10)));
        for bad in ["0", "-1", "0.0", "\"10s\"", "1e300", "nan"] {
            let err =
                ClientsFile::from_toml(&format!("[clients.a]\nclient_kwargs = {{ timeout = {bad} }}\n"));
            assert!(err.is_err(), "{bad}");
        }

        let get = env(&[("X_CLIENT_KWARGS", r#"{"timeout": 2.5, "scope": "s"}"#)]);
        let cfg = AppConfig::from_env_with("x", get).unwrap();
        assert_eq!(cfg.client_kwargs.timeout, Some(Duration::from_millis(2500)));
        let get = env(&[("X_CLIENT_KWARGS", r#"{"timeout": -3}"#)]);
        let err = AppConfig::from_env_with("x", get).unwrap_err();
        assert!(matches!(&err, ConfigError::Invalid { key, .. } if key == "X_CLIENT_KWARGS"), "{err}");

        // Serialized back as seconds.
        let kwargs = ClientKwargs { timeout: Some(Duration::from_millis(300)), ..ClientKwargs::default() };
        assert_eq!(serde_json::to_value(&kwargs).unwrap(), serde_json::json!({"timeout": 0.3}));

        // A zero duration given in code is refused at validation, naming the key.
        let cfg = AppConfig {
            client_id: Some("a".into()),
            authorize_url: Some("https://a.example/auth".into()),
            access_token_url: Some("https://a.example/token".into()),
            client_kwargs: ClientKwargs { timeout: Some(Duration::ZERO), ..ClientKwargs::default() },
            ..AppConfig::default()
        };
        let err = cfg.validate("a").unwrap_err();
        assert!(matches!(&err, ConfigError::Invalid { key, .. } if key == "client_kwargs.timeout"), "{err}");
    }

    #[test]
    fn par_and_dpop_from_toml_env_and_code() {
        let f = ClientsFile::from_toml("[clients.a]\nuse_par = true\ndpop = true\n").unwrap();
        assert!(f.clients["a"].use_par == Some(true) && f.clients["a"].dpop);
        let off = ClientsFile::from_toml("[clients.a]\nuse_par = false\n").unwrap();
        assert_eq!(off.clients["a"].use_par, Some(false), "off is not unset");
        assert_eq!(ClientsFile::from_toml("[clients.a]\n").unwrap().clients["a"].use_par, None);
        let get = env(&[("X_USE_PAR", "1"), ("X_DPOP", "false"), ("X_DPOP_KEY", "pem")]);
        let cfg = AppConfig::from_env_with("x", get).unwrap();
        assert!(cfg.use_par == Some(true) && !cfg.dpop);
        assert_eq!(AppConfig::from_env_with("x", env(&[])).unwrap().use_par, None);
        assert_eq!(AppConfig::from_env_with("x", env(&[("X_USE_PAR", "off")])).unwrap().use_par, Some(false));
        assert_eq!(cfg.dpop_key.as_ref().map(SecretString::secret), Some("pem"));
        let err = AppConfig::from_env_with("x", env(&[("X_DPOP", "maybe")])).unwrap_err();
        assert!(matches!(&err, ConfigError::Invalid { key, .. } if key == "X_DPOP"), "{err}");
        // Either layer turns DPoP on; `use_par` is the upper layer's when it says.
        let code = AppConfig { dpop: true, ..AppConfig::default() };
        let merged = code.layered_over(AppConfig { use_par: Some(true), ..AppConfig::default() });
        assert!(merged.use_par == Some(true) && merged.dpop);
        let code = AppConfig { use_par: Some(false), ..AppConfig::default() };
        let merged = code.layered_over(AppConfig { use_par: Some(true), ..AppConfig::default() });
        assert_eq!(merged.use_par, Some(false));
    }

    #[test]
    fn code_wins_unless_overwrite() {
        let toml = r#"
            [clients.corp]
            client_id = "from-file"
            client_secret = "file-secret"
            authorize_url = "https://corp.example/authorize"
            access_token_url = "https://corp.example/token"
            authorize_params = { prompt = "login", audience = "file" }
        "#;
        let src = ConfigSources::none().with_toml(toml).unwrap().with_env();
        let code = AppConfig {
            client_id: Some("from-code".into()),
            authorize_params: [("audience".to_string(), "code".to_string())].into(),
            ..Default::default()
        };
        let get = env(&[("CORP_CLIENT_SECRET", "env-secret")]);
        let (cfg, _) = src.resolve_with("corp", code.clone(), Overwrite::Code, &get).unwrap();
        assert_eq!(cfg.client_id.as_deref(), Some("from-code"));
        assert_eq!(cfg.client_secret.as_ref().map(SecretString::secret), Some("env-secret"), "env over TOML");
        assert_eq!(cfg.authorize_params["audience"], "code");
        assert_eq!(cfg.authorize_params["prompt"], "login", "maps merge");
        let (cfg, _) = src.resolve_with("corp", code, Overwrite::Loaded, &get).unwrap();
        assert_eq!(cfg.client_id.as_deref(), Some("from-file"));
        assert_eq!(cfg.authorize_params["audience"], "file");
    }

    #[test]
    fn missing_keys_are_named() {
        let src = ConfigSources::none();
        let err = |cfg: AppConfig| src.resolve_with("acme", cfg, Overwrite::Code, |_| None).unwrap_err();
        let e = err(AppConfig::default());
        assert!(matches!(e, ConfigError::Missing { key: "client_id", .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("set ACME_CLIENT_ID in the environment, or `client_id` in [clients.acme]"),
            "{text}"
        );
        let e = err(AppConfig {
            client_id: Some("a".into()),
            authorize_url: Some("https://a.example/auth".into()),
            ..Default::default()
        });
        assert!(matches!(e, ConfigError::Missing { key: "access_token_url", .. }), "{e}");
        assert!(e.to_string().contains("acme"));
        let e = err(AppConfig {
            client_id: Some("a".into()),
            server_metadata_url: Some("ftp://a.example/x".into()),
            ..Default::default()
        });
        assert!(matches!(&e, ConfigError::Invalid { key, .. } if key == "server_metadata_url"), "{e}");
        let e = err(AppConfig { preset: Some("nope".into()), ..Default::default() });
        assert!(matches!(&e, ConfigError::Invalid { key, .. } if key == "preset"), "{e}");
    }

    #[test]
    fn toml_rejects_unknown_keys_and_redacts_secrets() {
        let err = ClientsFile::from_toml("[clients.a]\nclient_idd = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("client_idd"), "{err}");
        let f = ClientsFile::from_toml("[clients.a]\nclient_secret = \"topsecret\"\n").unwrap();
        assert!(!format!("{f:?}").contains("topsecret"));
    }
}

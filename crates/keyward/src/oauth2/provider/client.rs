//! Registered OAuth 2 clients (RFC 6749 §2; RFC 7591 §2 for the names of the metadata): what
//! the authorization server knows of each client, and how the client authenticates at the
//! token endpoint (RFC 6749 §2.3, RFC 7523 §2.2).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::common::secret::{SecretString, ct_eq};

/// The client type of RFC 6749 §2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A client that can keep a credential secret (a server-side web application).
    Confidential,
    /// A client that cannot (a native or browser application): it authenticates with `none`,
    /// always uses PKCE, and its refresh tokens rotate on every use.
    Public,
}

/// A token-endpoint client authentication method (RFC 7591 §2 `token_endpoint_auth_method`,
/// RFC 8414 §2 `token_endpoint_auth_methods_supported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// A JWT assertion MACed with the client secret (RFC 7523 §2.2, OpenID Connect Core §9).
    /// Needs the secret itself: only for clients whose secret is [`SecretForm::Plain`].
    ClientSecretJwt,
    /// A JWT assertion signed with a key of the client's [`jwks`](RegisteredClient::jwks)
    /// (RFC 7523 §2.2, OpenID Connect Core §9).
    PrivateKeyJwt,
    /// No authentication: a public client that sends only its `client_id`.
    None,
}

impl ClientAuthMethod {
    /// Every method, in the order metadata lists them.
    pub const ALL: [ClientAuthMethod; 5] = [
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::ClientSecretJwt,
        Self::PrivateKeyJwt,
        Self::None,
    ];

    /// The registered name (`client_secret_basic`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

impl FromStr for ClientAuthMethod {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// A grant type a client may use at the token endpoint (RFC 7591 §2 `grant_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GrantType {
    /// `authorization_code` (RFC 6749 §4.1).
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// `refresh_token` (RFC 6749 §6).
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// `client_credentials` (RFC 6749 §4.4).
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    /// Every grant type.
    pub const ALL: [GrantType; 4] =
        [Self::AuthorizationCode, Self::RefreshToken, Self::ClientCredentials, Self::DeviceCode];

    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

impl FromStr for GrantType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// A name that is not one of an enumeration's registered names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name: {0:?}")]
pub struct UnknownName(pub String);

/// The format of the access tokens issued to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccessTokenFormat {
    /// A random value (256 bits) whose SHA-256 is stored and looked up on use.
    #[default]
    Opaque,
    /// A signed JWT of the RFC 9068 profile, verified without the store.
    Jwt,
}

/// How a client secret is kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretForm {
    /// The lowercase hex SHA-256 of a secret the server generated (at least 256 bits of
    /// entropy, so a fast hash is enough: nobody can search that space). The secret itself
    /// is shown once, when it is generated; `client_secret_jwt` is not possible.
    Sha256(String),
    /// The secret itself, for clients configured in code or TOML; `client_secret_jwt`
    /// (RFC 7523 §2.2) needs it to check the assertion's MAC.
    Plain(SecretString),
}

impl fmt::Debug for SecretForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sha256(_) => f.write_str("Sha256([redacted])"),
            Self::Plain(_) => f.write_str("Plain([redacted])"),
        }
    }
}

/// One client secret, with its expiry (a client holds up to two while one is rotated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecret {
    /// The secret, hashed or plain.
    pub value: SecretForm,
    /// When the secret stops being accepted (seconds since the Unix epoch); `None`: never.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl ClientSecret {
    /// A plain secret (from code or TOML) that does not expire.
    pub fn plain(secret: impl Into<String>) -> Self {
        Self { value: SecretForm::Plain(SecretString::new(secret)), expires_at: None }
    }

    /// The stored form of a generated secret: its SHA-256, in lowercase hex.
    pub fn hashed(secret: &SecretString) -> Self {
        Self { value: SecretForm::Sha256(sha256_hex(secret.secret().as_bytes())), expires_at: None }
    }

    /// Sets the expiry.
    pub fn expiring_at(mut self, expires_at: i64) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Whether `presented` is this secret and the secret is still valid at `now`; the
    /// comparison is constant-time.
    pub fn matches(&self, presented: &str, now: i64) -> bool {
        if self.expires_at.is_some_and(|e| e <= now) {
            return false;
        }
        match &self.value {
            SecretForm::Sha256(hex) => ct_eq(sha256_hex(presented.as_bytes()).as_bytes(), hex.as_bytes()),
            SecretForm::Plain(s) => ct_eq(s.secret().as_bytes(), presented.as_bytes()),
        }
    }

    /// The secret itself, when it is kept plain and valid at `now` (for `client_secret_jwt`).
    pub fn plain_value(&self, now: i64) -> Option<&SecretString> {
        match &self.value {
            SecretForm::Plain(s) if self.expires_at.is_none_or(|e| e > now) => Some(s),
            _ => None,
        }
    }
}

/// The lowercase hex SHA-256 of `bytes`: how codes, tokens and generated secrets are stored.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// A registered client of the authorization server (RFC 6749 §2, with the metadata names of
/// RFC 7591 §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredClient {
    /// The client identifier (RFC 6749 §2.2).
    pub client_id: String,
    /// A name to show on the consent page.
    #[serde(default)]
    pub client_name: Option<String>,
    /// Confidential or public (RFC 6749 §2.1).
    pub kind: ClientKind,
    /// How the client authenticates at the token endpoint; a public client's is
    /// [`ClientAuthMethod::None`].
    pub auth_method: ClientAuthMethod,
    /// The client's secrets: at most two, so that one can be rotated out while the other is
    /// rolled in. Empty for public clients and `private_key_jwt` clients.
    #[serde(default)]
    pub secrets: Vec<ClientSecret>,
    /// The client's public keys, a JWK Set (RFC 7517 §5), for `private_key_jwt`.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// The registered redirect URIs (RFC 6749 §3.1.2.2), compared as exact strings (a
    /// loopback URI matches any port, RFC 8252 §7.3).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// The grant types the client may use.
    #[serde(default)]
    pub grant_types: Vec<GrantType>,
    /// The scopes the client may ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The resources (RFC 8707 §2 `resource` values, absolute URIs) the client may ask an
    /// access token for. Empty: the client gives no `resource` and its tokens carry the
    /// server's default audience.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Whether PKCE (RFC 7636, `S256` only) is required. Always true for public clients;
    /// turning it off for a confidential client is a legacy option (OAuth 2.1 §4.1.1 and
    /// RFC 9700 §2.1.1 require PKCE) for clients that cannot send a challenge.
    #[serde(default = "yes")]
    pub pkce_required: bool,
    /// The access-token format for this client; `None`: the server's default.
    #[serde(default)]
    pub access_token_format: Option<AccessTokenFormat>,
    /// Which tokens the client may introspect (RFC 7662 §2.2, §4); by default only its own.
    #[serde(default)]
    pub introspection: IntrospectionAccess,
    /// When the client was registered (seconds since the Unix epoch).
    #[serde(default)]
    pub created_at: i64,
    /// The algorithm of the client's ID tokens (OpenID Connect Registration §2
    /// `id_token_signed_response_alg`): `RS256` when `None`; `ES256` or `EdDSA` from the
    /// server's key set; `HS256` keyed by the client secret, only when it is kept plain.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// Public or pairwise subject identifiers (OpenID Connect Core §8).
    #[serde(default)]
    pub subject_type: SubjectType,
    /// The sector identifier of pairwise subjects (§8.1): the host of this URI, or without
    /// one the host of the client's single redirect URI.
    #[serde(default)]
    pub sector_identifier_uri: Option<String>,
    /// Whether ID tokens always carry `auth_time` (Registration §2 `require_auth_time`).
    #[serde(default)]
    pub require_auth_time: bool,
    /// The `max_age` applied when a request gives none (Registration §2 `default_max_age`).
    #[serde(default)]
    pub default_max_age: Option<i64>,
    /// Where RP-Initiated Logout may send the user back (RP-Initiated Logout 1.0 §3.1),
    /// compared as exact strings.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where logout tokens are POSTed (Back-Channel Logout 1.0 §2.2).
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Whether logout tokens must carry `sid`, and ID tokens with it (§2.2).
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// Whether the client must use pushed authorization requests (RFC 9126 §6).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Whether the client's access tokens are always DPoP-bound (RFC 9449 §5.2).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// The SHA-256 (lowercase hex) of the registration access token of a dynamically
    /// registered client (RFC 7592 §3); `None` for clients configured by the application.
    #[serde(default)]
    pub registration_token_hash: Option<String>,
    /// Other registered metadata (RFC 7591 §2: `client_uri`, `logo_uri`, `contacts`, …), kept
    /// as given and returned by client configuration reads.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// The kind of subject identifier a client receives (OpenID Connect Core §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// The same `sub` for every client (§8).
    #[default]
    Public,
    /// A different `sub` per sector identifier (§8.1).
    Pairwise,
}

/// Which tokens a client may introspect (RFC 7662). The endpoint always requires client
/// authentication, so a public client may introspect nothing (§2.1: "to prevent token
/// scanning attacks, the endpoint MUST also require some form of authorization"). A token the
/// client may not introspect is answered like an unknown one, `{"active":false}` (§2.2: "or
/// the protected resource is not allowed to introspect this particular token"); that way the
/// answer tells nothing about other clients' tokens (§4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrospectionAccess {
    /// Only the tokens issued to this client (the default).
    #[default]
    OwnTokens,
    /// The tokens issued to this client, and access tokens with one of these audiences: a
    /// resource server names the resource indicators (RFC 8707) it serves. An access token
    /// asked without `resource` has the server's issuer as its audience.
    Audiences(Vec<String>),
    /// Every token: a resource server trusted with all of them (what every confidential
    /// client could do before this setting existed).
    AllTokens,
}

impl IntrospectionAccess {
    /// Whether a client `client_id` with this access may introspect `token`, whose audience
    /// is `issuer` when it has no resources.
    pub fn allows(&self, client_id: &str, token: &super::store::TokenRecord, issuer: &str) -> bool {
        if token.client_id == client_id {
            return true;
        }
        match self {
            Self::OwnTokens => false,
            Self::AllTokens => true,
            Self::Audiences(served) => {
                token.kind == super::store::TokenKind::Access
                    && if token.resources.is_empty() {
                        served.iter().any(|a| a == issuer)
                    } else {
                        token.resources.iter().any(|r| served.contains(r))
                    }
            }
        }
    }
}

fn yes() -> bool {
    true
}

impl RegisteredClient {
    /// A confidential client authenticating with `client_secret_basic` and a plain secret,
    /// allowed the `authorization_code` and `refresh_token` grants; PKCE required.
    pub fn confidential(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_name: None,
            kind: ClientKind::Confidential,
            auth_method: ClientAuthMethod::ClientSecretBasic,
            secrets: vec![ClientSecret::plain(secret)],
            jwks: None,
            redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: Vec::new(),
            resources: Vec::new(),
            pkce_required: true,
            access_token_format: None,
            introspection: IntrospectionAccess::OwnTokens,
            created_at: 0,
            id_token_signed_response_alg: None,
            subject_type: SubjectType::Public,
            sector_identifier_uri: None,
            require_auth_time: false,
            default_max_age: None,
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
            registration_token_hash: None,
            metadata: serde_json::Map::new(),
        }
    }

    /// A public client (authentication `none`), allowed the `authorization_code` and
    /// `refresh_token` grants; PKCE required.
    pub fn public(client_id: impl Into<String>) -> Self {
        Self {
            kind: ClientKind::Public,
            auth_method: ClientAuthMethod::None,
            secrets: Vec::new(),
            ..Self::confidential(client_id, "")
        }
    }

    /// Sets the redirect URIs.
    pub fn with_redirect_uris<I: IntoIterator<Item = S>, S: Into<String>>(mut self, uris: I) -> Self {
        self.redirect_uris = uris.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the scopes the client may ask for.
    pub fn with_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the resources the client may ask for (RFC 8707).
    pub fn with_resources<I: IntoIterator<Item = S>, S: Into<String>>(mut self, resources: I) -> Self {
        self.resources = resources.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the grant types.
    pub fn with_grant_types(mut self, grant_types: impl IntoIterator<Item = GrantType>) -> Self {
        self.grant_types = grant_types.into_iter().collect();
        self
    }

    /// Sets the authentication method.
    pub fn with_auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.auth_method = method;
        self
    }

    /// Sets which tokens the client may introspect.
    pub fn with_introspection(mut self, access: IntrospectionAccess) -> Self {
        self.introspection = access;
        self
    }

    /// Whether the client may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether PKCE is required of this client: always for public clients.
    pub fn requires_pkce(&self) -> bool {
        self.pkce_required || self.kind == ClientKind::Public
    }

    /// Whether `presented` is one of the client's secrets, valid at `now` (constant-time).
    pub fn secret_matches(&self, presented: &str, now: i64) -> bool {
        // Every secret is compared, so the time does not tell which one matched.
        self.secrets.iter().fold(false, |ok, s| s.matches(presented, now) | ok)
    }

    /// Whether `uri` is one of the registered redirect URIs: byte for byte, or, for a
    /// loopback `http` URI (`127.0.0.1` or `[::1]`), apart from the port (RFC 8252 §7.3).
    pub fn redirect_uri_matches(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| {
            r == uri || loopback_without_port(r).is_some_and(|a| Some(a) == loopback_without_port(uri))
        })
    }
}

/// A loopback `http` URI with its port removed (RFC 8252 §7.3: `127.0.0.1` and `[::1]`;
/// `localhost` is not a loopback literal, §8.3), else `None`.
fn loopback_without_port(uri: &str) -> Option<(&'static str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    for host in ["127.0.0.1", "[::1]"] {
        if let Some(after) = rest.strip_prefix(host) {
            let path = match after.strip_prefix(':') {
                Some(p) => {
                    let digits = p.bytes().take_while(u8::is_ascii_digit).count();
                    if digits == 0 || digits > 5 {
                        return None;
                    }
                    &p[digits..]
                }
                None => after,
            };
            if path.is_empty() || path.starts_with(['/', '?']) {
                return Some((host, path));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_apart_from_the_port() {
        let c = RegisteredClient::public("app").with_redirect_uris([
            "http://127.0.0.1/cb",
            "https://app.example/cb",
            "http://[::1]:80/x",
        ]);
        assert!(c.redirect_uri_matches("http://127.0.0.1:51234/cb"));
        assert!(c.redirect_uri_matches("http://127.0.0.1/cb"));
        assert!(c.redirect_uri_matches("http://[::1]:9/x"));
        assert!(!c.redirect_uri_matches("http://127.0.0.1:51234/cb2"));
        assert!(!c.redirect_uri_matches("http://127.0.0.1.evil.example/cb"));
        assert!(!c.redirect_uri_matches("http://127.0.0.1:80@evil.example/cb"));
        assert!(!c.redirect_uri_matches("https://app.example/cb/"));
        assert!(!c.redirect_uri_matches("https://app.example:443/cb"));
        assert!(c.redirect_uri_matches("https://app.example/cb"));
    }

    #[test]
    fn secrets_expire_and_hashed_secrets_match() {
        let generated = SecretString::new("s3cr3t");
        let mut c = RegisteredClient::confidential("c", "old");
        c.secrets = vec![ClientSecret::plain("old").expiring_at(100), ClientSecret::hashed(&generated)];
        assert!(c.secret_matches("old", 99));
        assert!(!c.secret_matches("old", 100));
        assert!(c.secret_matches("s3cr3t", 1000));
        assert!(!c.secret_matches("s3cr3", 1000));
        assert!(!format!("{c:?}").contains("old\""));
        assert_eq!("client_secret_jwt".parse::<ClientAuthMethod>(), Ok(ClientAuthMethod::ClientSecretJwt));
    }
}

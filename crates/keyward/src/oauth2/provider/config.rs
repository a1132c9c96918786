//! The authorization server's configuration: its issuer and endpoints (RFC 8414 §2), the
//! lifetimes of codes and tokens, and the choices the RFCs leave open (safer default first).

use super::client::AccessTokenFormat;

/// When refresh tokens rotate (RFC 9700 §4.14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RefreshRotation {
    /// Every refresh issues a new refresh token and retires the old one (default).
    #[default]
    Always,
    /// Only public clients' refresh tokens rotate (OAuth 2.1 §4.3.1 requires rotation or
    /// sender-constraining for them); a confidential client keeps its refresh token.
    PublicClientsOnly,
}

/// Where the resource protector looks for a bearer token (RFC 6750 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BearerPlacement {
    /// The form body (§2.2); off by default.
    pub form_body: bool,
    /// The query (§2.3); off by default (the token would land in logs and `Referer`).
    pub query: bool,
}

impl Default for BearerPlacement {
    /// The `Authorization` header only (§2.1).
    fn default() -> Self {
        Self { form_body: false, query: false }
    }
}

/// The authorization server's configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The issuer identifier (RFC 8414 §2): an `https` URL without query or fragment. It
    /// goes into metadata, into the `iss` of authorization responses (RFC 9207) and is an
    /// accepted `aud` of client assertions (RFC 7523 §3).
    pub issuer: String,
    /// The authorization endpoint's URL (RFC 6749 §3.1).
    pub authorization_endpoint: String,
    /// The token endpoint's URL (RFC 6749 §3.2); also an accepted `aud` of client assertions.
    pub token_endpoint: String,
    /// The revocation endpoint's URL (RFC 7009), if served.
    pub revocation_endpoint: Option<String>,
    /// The introspection endpoint's URL (RFC 7662), if served.
    pub introspection_endpoint: Option<String>,
    /// Lifetime of authorization codes, in seconds (default 60; RFC 6749 §4.1.2: at most 10
    /// minutes, short is recommended).
    pub code_ttl: i64,
    /// Lifetime of access tokens, in seconds (default 3600).
    pub access_token_ttl: i64,
    /// Lifetime of refresh tokens, in seconds (default 30 days); a rotated token gets a new
    /// lifetime.
    pub refresh_token_ttl: i64,
    /// Whether `authorization_code` grants get a refresh token (default true).
    pub issue_refresh_tokens: bool,
    /// When refresh tokens rotate (default: always).
    pub refresh_rotation: RefreshRotation,
    /// The format of access tokens for clients that set none (default opaque).
    pub access_token_format: AccessTokenFormat,
    /// The scopes the server knows, published in metadata (RFC 8414 `scopes_supported`);
    /// empty: not published.
    pub scopes_supported: Vec<String>,
    /// The longest lifetime a client assertion may claim (`exp − iat`, or `exp − now`
    /// without `iat`), in seconds (default 300): its `jti` is remembered that long.
    pub max_assertion_lifetime: i64,
    /// The clock skew allowed when checking a client assertion's `exp`, `nbf` and `iat`, in
    /// seconds (default 30).
    pub assertion_leeway: i64,
    /// The largest request body read, in bytes (default 64 KiB); larger is `invalid_request`.
    pub max_body: usize,
    /// Where the resource protector looks for bearer tokens (default: header only).
    pub bearer_placement: BearerPlacement,
}

impl ServerConfig {
    /// A configuration for `issuer`, with the endpoints at `{issuer}/authorize`,
    /// `{issuer}/token`, `{issuer}/revoke` and `{issuer}/introspect` and the defaults above.
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        let base = issuer.trim_end_matches('/').to_owned();
        Self {
            authorization_endpoint: format!("{base}/authorize"),
            token_endpoint: format!("{base}/token"),
            revocation_endpoint: Some(format!("{base}/revoke")),
            introspection_endpoint: Some(format!("{base}/introspect")),
            issuer,
            code_ttl: 60,
            access_token_ttl: 3600,
            refresh_token_ttl: 30 * 24 * 3600,
            issue_refresh_tokens: true,
            refresh_rotation: RefreshRotation::Always,
            access_token_format: AccessTokenFormat::Opaque,
            scopes_supported: Vec::new(),
            max_assertion_lifetime: 300,
            assertion_leeway: 30,
            max_body: 64 * 1024,
            bearer_placement: BearerPlacement::default(),
        }
    }

    /// Sets the code lifetime.
    pub fn with_code_ttl(mut self, secs: i64) -> Self {
        self.code_ttl = secs;
        self
    }

    /// Sets the access-token lifetime.
    pub fn with_access_token_ttl(mut self, secs: i64) -> Self {
        self.access_token_ttl = secs;
        self
    }

    /// Sets the refresh-token lifetime.
    pub fn with_refresh_token_ttl(mut self, secs: i64) -> Self {
        self.refresh_token_ttl = secs;
        self
    }

    /// Sets the rotation policy.
    pub fn with_refresh_rotation(mut self, rotation: RefreshRotation) -> Self {
        self.refresh_rotation = rotation;
        self
    }

    /// Sets the scopes published in metadata.
    pub fn with_scopes_supported<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets where bearer tokens are looked for.
    pub fn with_bearer_placement(mut self, placement: BearerPlacement) -> Self {
        self.bearer_placement = placement;
        self
    }
}

//! RFC 6749, The OAuth 2.0 Authorization Framework: the authorization URL (§4.1.1), the
//! grants' token requests (§4.1.3, §4.3.2, §4.4.2, §6), client authentication (§2.3.1),
//! the token response (§5.1) and its errors (§5.2), and the token the client keeps.

use super::error::{as_seconds, json_object, reject_error_object};
use super::rfc7636::CodeVerifier;
use super::{FormRequest, OAuth2Error};
use crate::common::encoding::{encode, encode_form};
use crate::common::secret::SecretString;
use crate::secret_type;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};
use std::str::FromStr;

secret_type! {
    /// An access token (RFC 6749 §1.4).
    #[derive(Clone)]
    pub struct AccessToken;
}

secret_type! {
    /// A refresh token (RFC 6749 §1.5).
    #[derive(Clone)]
    pub struct RefreshToken;
}

/// The length of a generated `state` value: 30 ASCII letters and digits (as Authlib).
pub const STATE_LENGTH: usize = 30;

/// Default seconds before `expires_at` at which a token counts as expired.
pub const DEFAULT_LEEWAY: i64 = 60;

/// The authorization request of RFC 6749 §4.1.1 (and §4.2.1), as a URL to send the user to.
///
/// Parameters are written in this order: `response_type`, `client_id`, `redirect_uri`,
/// `scope`, `state`, then the extra parameters in the order they were set. A parameter set
/// with [`AuthorizationUrl::param`] replaces any earlier value of the same name, the standard
/// ones included, so the driver sets call-time parameters first and registered ones last.
/// The endpoint's own query is kept in front.
#[derive(Debug, Clone)]
pub struct AuthorizationUrl {
    endpoint: String,
    params: Vec<(String, String)>,
}

impl AuthorizationUrl {
    /// An authorization request with `response_type=code`.
    pub fn new(endpoint: impl Into<String>, client_id: &str, state: &str) -> Self {
        let mut this = Self { endpoint: endpoint.into(), params: Vec::new() };
        this.param("response_type", "code");
        this.param("client_id", client_id);
        this.param("redirect_uri", "");
        this.param("scope", "");
        this.param("state", state);
        this
    }

    /// Sets a parameter (replacing an earlier value of the same name). An empty value
    /// leaves the parameter out.
    pub fn param(&mut self, name: &str, value: &str) -> &mut Self {
        match self.params.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.params.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    /// The current value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// The authorization endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The parameters that [`build`](Self::build) writes (those with a value), in order:
    /// what a pushed authorization request (RFC 9126) sends in its body.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The URL, parameters percent-encoded per RFC 3986.
    pub fn build(&self) -> Result<String, OAuth2Error> {
        let mut url = url::Url::parse(&self.endpoint)
            .map_err(|e| OAuth2Error::InvalidUrl { url: self.endpoint.clone(), reason: e.to_string() })?;
        let ours = encode_form(self.params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k, v)));
        let query = match url.query() {
            Some(q) if !q.is_empty() => format!("{q}&{ours}"),
            _ => ours,
        };
        url.set_query(Some(&query));
        Ok(url.into())
    }
}

/// A grant's token request (RFC 6749 §4.1.3, §4.3.2, §4.4.2, §6; RFC 8628 §3.4).
///
/// Its `Debug` redacts the authorization code, a bearer credential until it is spent
/// (§10.5); the other secrets are newtypes that redact themselves.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Grant<'a> {
    /// §4.1.3: exchange an authorization code (with the PKCE verifier of RFC 7636 §4.5).
    AuthorizationCode {
        /// The code from the callback.
        code: &'a str,
        /// The `redirect_uri` of the authorization request, if it had one.
        redirect_uri: Option<&'a str>,
        /// The PKCE verifier, if the authorization request had a challenge.
        code_verifier: Option<&'a CodeVerifier>,
    },
    /// §6: refresh an access token.
    RefreshToken {
        /// The refresh token.
        refresh_token: &'a RefreshToken,
        /// A narrower scope, if wanted.
        scope: Option<&'a str>,
    },
    /// §4.4.2: the client's own credentials.
    ClientCredentials {
        /// The scope requested.
        scope: Option<&'a str>,
    },
    /// §4.3.2: the resource owner's password.
    Password {
        /// The resource owner's username.
        username: &'a str,
        /// Their password.
        password: &'a SecretString,
        /// The scope requested.
        scope: Option<&'a str>,
    },
    /// RFC 8628 §3.4: poll with a device code.
    DeviceCode {
        /// The `device_code` of the device authorization response.
        device_code: &'a super::rfc8628::DeviceCode,
    },
}

impl std::fmt::Debug for Grant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grant::AuthorizationCode { code: _, redirect_uri, code_verifier } => f
                .debug_struct("AuthorizationCode")
                .field("code", &"[redacted]")
                .field("redirect_uri", redirect_uri)
                .field("code_verifier", code_verifier)
                .finish(),
            Grant::RefreshToken { refresh_token, scope } => f
                .debug_struct("RefreshToken")
                .field("refresh_token", refresh_token)
                .field("scope", scope)
                .finish(),
            Grant::ClientCredentials { scope } => {
                f.debug_struct("ClientCredentials").field("scope", scope).finish()
            }
            Grant::Password { username, password, scope } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", password)
                .field("scope", scope)
                .finish(),
            Grant::DeviceCode { device_code } => {
                f.debug_struct("DeviceCode").field("device_code", device_code).finish()
            }
        }
    }
}

impl Grant<'_> {
    /// The `grant_type` value.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::RefreshToken { .. } => "refresh_token",
            Grant::ClientCredentials { .. } => "client_credentials",
            Grant::Password { .. } => "password",
            Grant::DeviceCode { .. } => super::rfc8628::DEVICE_CODE_GRANT_TYPE,
        }
    }

    /// The token request to `token_url`, without client authentication (add it with a
    /// [`ClientAuthentication`]).
    pub fn token_request(&self, token_url: &str) -> FormRequest {
        let mut r = FormRequest::new(token_url).param("grant_type", self.grant_type());
        let scope = |r: &mut FormRequest, s: Option<&str>| {
            if let Some(s) = s.filter(|s| !s.is_empty()) {
                r.push("scope", s);
            }
        };
        match *self {
            Grant::AuthorizationCode { code, redirect_uri, code_verifier } => {
                r.push("code", code);
                if let Some(u) = redirect_uri {
                    r.push("redirect_uri", u);
                }
                if let Some(v) = code_verifier {
                    r.push("code_verifier", v.secret());
                }
            }
            Grant::RefreshToken { refresh_token, scope: s } => {
                r.push("refresh_token", refresh_token.secret());
                scope(&mut r, s);
            }
            Grant::ClientCredentials { scope: s } => scope(&mut r, s),
            Grant::Password { username, password, scope: s } => {
                r.push("username", username);
                r.push("password", password.secret());
                scope(&mut r, s);
            }
            Grant::DeviceCode { device_code } => r.push("device_code", device_code.secret()),
        }
        r
    }
}

/// How the client authenticates to the token endpoint (RFC 6749 §2.3, OpenID Connect Core
/// §9, RFC 7523 §2.2), by its registered name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// §2.3.1: HTTP Basic with the form-encoded id and secret (default with a secret).
    ClientSecretBasic,
    /// §2.3.1: `client_id` and `client_secret` in the body.
    ClientSecretPost,
    /// A public client: `client_id` in the body, no secret (default without a secret).
    None,
    /// RFC 7523 §2.2: a JWT signed with the client secret (HS256).
    ClientSecretJwt,
    /// RFC 7523 §2.2: a JWT signed with the client's private key.
    PrivateKeyJwt,
    /// A method the application registers under this name.
    Custom(String),
}

impl ClientAuthMethod {
    /// The method's registered name.
    pub fn name(&self) -> &str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::None => "none",
            ClientAuthMethod::ClientSecretJwt => "client_secret_jwt",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
            ClientAuthMethod::Custom(name) => name,
        }
    }

    /// The default: `client_secret_basic` with a secret, `none` without.
    pub fn default_for(has_secret: bool) -> Self {
        if has_secret { ClientAuthMethod::ClientSecretBasic } else { ClientAuthMethod::None }
    }
}

impl FromStr for ClientAuthMethod {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
            "client_secret_post" => ClientAuthMethod::ClientSecretPost,
            "none" => ClientAuthMethod::None,
            "client_secret_jwt" => ClientAuthMethod::ClientSecretJwt,
            "private_key_jwt" => ClientAuthMethod::PrivateKeyJwt,
            other => ClientAuthMethod::Custom(other.to_owned()),
        })
    }
}

/// What a client authentication method may need: the client's credentials, the time and a
/// fresh unique value (the drivers fill these from their `Clock` and `RandomSource`).
#[derive(Debug, Clone)]
pub struct AuthContext<'a> {
    /// The client identifier.
    pub client_id: &'a str,
    /// The client secret, if the client has one.
    pub client_secret: Option<&'a SecretString>,
    /// Seconds since the epoch.
    pub now: i64,
    /// A fresh random value (a JWT's `jti`).
    pub unique: &'a str,
    /// The authorization server's token endpoint, when known (configured or discovered),
    /// whatever endpoint the request goes to: the audience of a client assertion (OpenID
    /// Connect Core §9), which [`rfc7523::authenticate_with_jwt`](super::rfc7523::authenticate_with_jwt)
    /// uses and a custom method may use too.
    pub token_endpoint: Option<&'a str>,
}

/// Whether a client authentication method reads [`AuthContext::token_endpoint`], so that a
/// driver looks it up (from configuration or discovery) only for methods that use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenEndpointUse {
    /// The method does not read it; the driver leaves it `None` and makes no discovery call.
    Unused,
    /// The method reads it when known; when discovery fails it gets `None`.
    Optional,
    /// The method reads it and a failed discovery fails the request (a client assertion
    /// does not guess its audience). `None` still means the app knows no token endpoint.
    Required,
}

/// A client authentication method (RFC 6749 §2.3): edits a request to an endpoint that
/// authenticates the client (token, revocation, introspection, device authorization).
///
/// The built-in methods are implementations too: [`ClientSecretBasic`],
/// [`ClientSecretPost`], [`PublicClient`] (`none`), and RFC 7523's
/// [`ClientSecretJwt`](super::rfc7523::ClientSecretJwt) and
/// [`PrivateKeyJwt`](super::rfc7523::PrivateKeyJwt). Applications implement it (a closure
/// will do) for providers with their own scheme, and register it by name.
pub trait ClientAuthentication: Send + Sync {
    /// Adds the client's credentials to `request`.
    fn authenticate(&self, request: &mut FormRequest, ctx: &AuthContext<'_>) -> Result<(), OAuth2Error>;

    /// Whether the method reads [`AuthContext::token_endpoint`] (default:
    /// [`TokenEndpointUse::Optional`]).
    fn token_endpoint_use(&self) -> TokenEndpointUse {
        TokenEndpointUse::Optional
    }
}

impl<F> ClientAuthentication for F
where
    F: Fn(&mut FormRequest, &AuthContext<'_>) -> Result<(), OAuth2Error> + Send + Sync,
{
    fn authenticate(&self, request: &mut FormRequest, ctx: &AuthContext<'_>) -> Result<(), OAuth2Error> {
        self(request, ctx)
    }
}

/// The client secret of `ctx`, or a configuration error naming `method`.
fn client_secret<'a>(method: &str, ctx: &AuthContext<'a>) -> Result<&'a SecretString, OAuth2Error> {
    ctx.client_secret.ok_or_else(|| OAuth2Error::Config(format!("`{method}` needs a client secret")))
}

/// `client_secret_basic`, RFC 6749 §2.3.1: HTTP Basic with the client id and secret, each
/// `application/x-www-form-urlencoded` before they are joined with `:`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientSecretBasic;

impl ClientAuthentication for ClientSecretBasic {
    fn authenticate(&self, request: &mut FormRequest, ctx: &AuthContext<'_>) -> Result<(), OAuth2Error> {
        let secret = client_secret("client_secret_basic", ctx)?;
        let raw = format!("{}:{}", encode(ctx.client_id), encode(secret.secret()));
        let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
        let mut value = http::HeaderValue::try_from(value)
            .map_err(|e| OAuth2Error::Config(format!("client credentials: {e}")))?;
        // Kept out of `Debug` and out of HTTP/2 header compression tables (RFC 7541 §7.1.3).
        value.set_sensitive(true);
        request.headers.insert(http::header::AUTHORIZATION, value);
        Ok(())
    }

    fn token_endpoint_use(&self) -> TokenEndpointUse {
        TokenEndpointUse::Unused
    }
}

/// `client_secret_post`, RFC 6749 §2.3.1: `client_id` and `client_secret` in the body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientSecretPost;

impl ClientAuthentication for ClientSecretPost {
    fn authenticate(&self, request: &mut FormRequest, ctx: &AuthContext<'_>) -> Result<(), OAuth2Error> {
        let secret = client_secret("client_secret_post", ctx)?;
        request.set("client_id", ctx.client_id);
        request.set("client_secret", secret.secret());
        Ok(())
    }

    fn token_endpoint_use(&self) -> TokenEndpointUse {
        TokenEndpointUse::Unused
    }
}

/// `none`: a public client (RFC 6749 §2.1) sends only its `client_id` in the body (§3.2.1).
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicClient;

impl ClientAuthentication for PublicClient {
    fn authenticate(&self, request: &mut FormRequest, ctx: &AuthContext<'_>) -> Result<(), OAuth2Error> {
        request.set("client_id", ctx.client_id);
        Ok(())
    }

    fn token_endpoint_use(&self) -> TokenEndpointUse {
        TokenEndpointUse::Unused
    }
}

/// The token a client keeps: RFC 6749 §5.1's response with `expires_at` computed.
///
/// It is what the application persists (serde) and hands back; `userinfo` holds the
/// validated ID-token claims after an OpenID Connect login.
///
/// Its `Debug` redacts the tokens — the ID token too, which many APIs accept as a bearer
/// credential — and shows only the names of the `extra` members, which can hold more
/// tokens (Slack's `authed_user.access_token`, webhook URLs).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// The access token.
    pub access_token: AccessToken,
    /// The token type, `Bearer` unless the server says otherwise.
    #[serde(default = "bearer")]
    pub token_type: String,
    /// The refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// Lifetime in seconds, as the server sent it.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "int_or_string")]
    pub expires_in: Option<i64>,
    /// When the token expires, in seconds since the epoch. `None`: no known expiry, and
    /// the token is never refreshed automatically.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "int_or_string")]
    pub expires_at: Option<i64>,
    /// The granted scope, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The OpenID Connect ID token (compact JWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The validated ID-token claims, after an OpenID Connect login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo: Option<serde_json::Map<String, serde_json::Value>>,
    /// The JWK thumbprint (RFC 7638) of the DPoP key the access token is bound to (RFC 9449
    /// §6), set by the client that obtained a `DPoP` token: the token is usable only with
    /// that key, so whoever stores the token stores (or can find) the key by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// Any other member of the response.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("refresh_token", &self.refresh_token)
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .field("userinfo", &self.userinfo)
            .field("dpop_jkt", &self.dpop_jkt)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn bearer() -> String {
    "Bearer".to_owned()
}

fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => as_seconds(&v).map(Some).ok_or_else(|| serde::de::Error::custom("expected seconds")),
    }
}

impl Token {
    /// A bearer token with no known expiry.
    pub fn bearer(access_token: impl Into<String>) -> Self {
        Token {
            access_token: AccessToken::new(access_token),
            token_type: bearer(),
            refresh_token: None,
            expires_in: None,
            expires_at: None,
            scope: None,
            id_token: None,
            userinfo: None,
            dpop_jkt: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Builds the token of a §5.1 response object received at `now`.
    ///
    /// `expires_at` is the response's own `expires_at` if it has one, else `now +
    /// expires_in`; `expires_in` may be a number or a string.
    pub fn from_response_object(
        mut map: serde_json::Map<String, serde_json::Value>,
        now: i64,
    ) -> Result<Token, String> {
        let mut text = |k: &str| -> Result<Option<String>, String> {
            match map.remove(k) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(format!("`{k}` is not a string")),
            }
        };
        let access_token = text("access_token")?.filter(|s| !s.is_empty()).ok_or("no `access_token`")?;
        let token_type = text("token_type")?.unwrap_or_else(bearer);
        let refresh_token = text("refresh_token")?.filter(|s| !s.is_empty()).map(RefreshToken::new);
        let scope = text("scope")?;
        let id_token = text("id_token")?;
        let mut seconds = |k: &str| -> Result<Option<i64>, String> {
            match map.remove(k) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => {
                    as_seconds(&v).map(Some).ok_or_else(|| format!("`{k}` is not a number of seconds"))
                }
            }
        };
        let expires_in = seconds("expires_in")?;
        let expires_at = seconds("expires_at")?.or_else(|| expires_in.map(|e| now.saturating_add(e)));
        Ok(Token {
            access_token: AccessToken::new(access_token),
            token_type,
            refresh_token,
            expires_in,
            expires_at,
            scope,
            id_token,
            userinfo: None,
            dpop_jkt: None,
            extra: map,
        })
    }

    /// Whether the token counts as expired at `now`: it expires within `leeway` seconds.
    /// A token without `expires_at` never counts as expired.
    pub fn is_expired(&self, now: i64, leeway: i64) -> bool {
        self.expires_at.is_some_and(|at| at.saturating_sub(leeway) < now)
    }

    /// Whether the granted scope holds `s`.
    pub fn has_scope(&self, s: &str) -> bool {
        self.scope.as_deref().is_some_and(|scope| scope.split_ascii_whitespace().any(|x| x == s))
    }
}

/// Reads a token endpoint response (RFC 6749 §5.1) received at `now`; errors (§5.2) are
/// [`OAuth2Error::Server`], other statuses [`OAuth2Error::Status`].
pub fn parse_token_response(response: &http::Response<Vec<u8>>, now: i64) -> Result<Token, OAuth2Error> {
    let status = response.status().as_u16();
    let map = json_object(response)?;
    reject_error_object(status, &map)?;
    Token::from_response_object(map, now)
        .map_err(|reason| OAuth2Error::parse(status, response.body(), reason))
}

/// Splits a space-delimited scope (RFC 6749 §3.3).
pub fn scopes(scope: &str) -> impl Iterator<Item = &str> {
    scope.split_ascii_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn authorization_url_order_override_and_existing_query() {
        let mut a = AuthorizationUrl::new("https://as.example/auth?tenant=x", "cid", "st");
        a.param("redirect_uri", "https://c.example/cb").param("scope", "openid profile");
        a.param("prompt", "login").param("prompt", "consent").param("response_type", "code id_token");
        assert_eq!(
            a.build().unwrap(),
            "https://as.example/auth?tenant=x&response_type=code%20id_token&client_id=cid&\
             redirect_uri=https%3A%2F%2Fc.example%2Fcb&scope=openid%20profile&state=st&prompt=consent"
        );
        assert!(AuthorizationUrl::new("not a url", "c", "s").build().is_err());
    }

    #[test]
    fn token_response_expires_in_as_string_or_number() {
        let t = parse_token_response(&resp(200, r#"{"access_token":"a","expires_in":"3600","x":1}"#), 100)
            .unwrap();
        assert_eq!((t.expires_in, t.expires_at, t.token_type.as_str()), (Some(3600), Some(3700), "Bearer"));
        assert_eq!(t.extra["x"], 1);
        assert!(!t.is_expired(3639, 60));
        assert!(t.is_expired(3641, 60));
        let t =
            parse_token_response(&resp(200, r#"{"access_token":"a","token_type":"bearer"}"#), 100).unwrap();
        assert!(!t.is_expired(i64::MAX, 60), "no expiry, never expired");
    }

    #[test]
    fn errors_are_typed_and_keep_the_body() {
        let e = parse_token_response(
            &resp(400, r#"{"error":"invalid_grant","error_description":"bad code","error_uri":"https://e"}"#),
            0,
        )
        .unwrap_err();
        match &e {
            OAuth2Error::Server { status: 400, body } => {
                assert_eq!(body.error, "invalid_grant");
                assert_eq!(body.error_description.as_deref(), Some("bad code"));
                assert_eq!(body.error_uri.as_deref(), Some("https://e"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.code(), Some("invalid_grant"));
        let e = parse_token_response(&resp(502, "<html>bad gateway</html>"), 0).unwrap_err();
        assert!(
            matches!(&e, OAuth2Error::Status { status: 502, body } if body == b"<html>bad gateway</html>")
        );
        let e = parse_token_response(&resp(200, "not json"), 0).unwrap_err();
        assert!(matches!(&e, OAuth2Error::Parse { status: 200, body, .. } if body == b"not json"));
        let e = parse_token_response(&resp(200, r#"{"token_type":"Bearer"}"#), 0).unwrap_err();
        assert!(matches!(e, OAuth2Error::Parse { .. }));
        let e = parse_token_response(&resp(200, r#"{"error":"slow_down"}"#), 0).unwrap_err();
        assert_eq!(e.code(), Some("slow_down"));
    }

    #[test]
    fn form_encoded_token_responses_are_read() {
        let r = http::Response::builder()
            .status(200)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(b"access_token=abc&scope=repo&token_type=bearer".to_vec())
            .unwrap();
        let t = parse_token_response(&r, 0).unwrap();
        assert_eq!(t.access_token.secret(), "abc");
        assert!(t.has_scope("repo"));
    }

    #[test]
    fn basic_auth_form_encodes_credentials() {
        let secret = SecretString::new("s e:c");
        let ctx = AuthContext {
            client_id: "id/1",
            client_secret: Some(&secret),
            now: 0,
            unique: "j",
            token_endpoint: None,
        };
        let mut r = FormRequest::new("https://as.example/token");
        ClientSecretBasic.authenticate(&mut r, &ctx).unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode("id%2F1:s%20e%3Ac");
        assert_eq!(r.headers["authorization"], format!("Basic {expected}").as_str());
        let ctx = AuthContext { client_secret: None, ..ctx };
        assert!(matches!(ClientSecretPost.authenticate(&mut r, &ctx), Err(OAuth2Error::Config(_))));
        assert!(matches!(ClientSecretBasic.authenticate(&mut r, &ctx), Err(OAuth2Error::Config(_))));
    }

    #[test]
    fn token_round_trips_through_serde() {
        let t = parse_token_response(
            &resp(200, r#"{"access_token":"a","refresh_token":"r","expires_in":10}"#),
            5,
        )
        .unwrap();
        let json = serde_json::to_string(&t).unwrap();
        let back: Token = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert!(!format!("{t:?}").contains("\"a\""));
        let legacy: Token = serde_json::from_str(r#"{"access_token":"a","expires_at":"99"}"#).unwrap();
        assert_eq!(legacy.expires_at, Some(99));
    }
}

//! Client authentication at the token, revocation and introspection endpoints (RFC 6749
//! §2.3, §3.2.1; RFC 7523 §2.2 and §3 for `client_secret_jwt` and `private_key_jwt`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::error::ProviderError;
use super::server::{AuthorizationServer, Form};
use super::store::{ClientAuthMethod, ClientKind, RegisteredClient};
use crate::common::encoding::decode_form_component;
use crate::common::replay::ReplayVerdict;
use crate::oidc::jwks::KeySet;

/// `client_assertion_type` for JWT client authentication (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The [`OnceStore`](crate::common::store::OnceStore) namespace of client-assertion `jti`s.
pub const ASSERTION_NAMESPACE: &str = "client-assertion";

/// What the request presented.
enum Presented<'a> {
    Basic { id: String, secret: String },
    Post { id: &'a str, secret: &'a str },
    Jwt { id: Option<&'a str>, assertion: &'a str },
    None { id: &'a str },
}

/// The claims of a client assertion this server reads (RFC 7523 §3).
#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
}

impl AuthorizationServer {
    /// Authenticates the client of a token-endpoint-style request (RFC 6749 §2.3): exactly
    /// one method among HTTP Basic, `client_secret` in the body, a JWT assertion, or none
    /// (a public client's `client_id` alone); two at once is `invalid_request` (§2.3). The
    /// method must be the one the client registered. A failure is `401 invalid_client`, with
    /// `WWW-Authenticate: Basic` when Basic was tried (§5.2).
    pub(crate) async fn authenticate_client(
        &self,
        request: &http::Request<Vec<u8>>,
        form: &Form,
    ) -> Result<RegisteredClient, ProviderError> {
        let presented = presented(request, form)?;
        let basic = matches!(presented, Presented::Basic { .. });
        let fail = ProviderError::InvalidClient { basic };
        let id = match &presented {
            Presented::Basic { id, .. } => id.as_str(),
            Presented::Post { id, .. } | Presented::None { id } => id,
            Presented::Jwt { id, assertion } => match id {
                Some(id) => id,
                None => return self.authenticate_jwt_unnamed(assertion).await,
            },
        };
        let client = self.inner.store.get_registered_client(id).await?.ok_or(fail)?;
        let fail = || ProviderError::InvalidClient { basic };
        let now = self.now();
        let ok = match (&presented, client.auth_method) {
            (Presented::Basic { secret, .. }, ClientAuthMethod::ClientSecretBasic) => {
                client.kind == ClientKind::Confidential && client.secret_matches(secret, now)
            }
            (Presented::Post { secret, .. }, ClientAuthMethod::ClientSecretPost) => {
                client.kind == ClientKind::Confidential && client.secret_matches(secret, now)
            }
            (Presented::None { .. }, ClientAuthMethod::None) => client.kind == ClientKind::Public,
            (
                Presented::Jwt { assertion, .. },
                ClientAuthMethod::ClientSecretJwt | ClientAuthMethod::PrivateKeyJwt,
            ) => self.check_assertion(&client, assertion, now).await?,
            _ => false,
        };
        if ok { Ok(client) } else { Err(fail()) }
    }

    /// A JWT assertion without `client_id` in the body: the client is the assertion's `sub`
    /// (RFC 7523 §3), read unverified to find the key, then verified.
    async fn authenticate_jwt_unnamed(&self, assertion: &str) -> Result<RegisteredClient, ProviderError> {
        let fail = ProviderError::InvalidClient { basic: false };
        let sub = unverified_sub(assertion).ok_or(ProviderError::InvalidClient { basic: false })?;
        let client = self.inner.store.get_registered_client(&sub).await?.ok_or(fail)?;
        if !matches!(client.auth_method, ClientAuthMethod::ClientSecretJwt | ClientAuthMethod::PrivateKeyJwt)
        {
            return Err(ProviderError::InvalidClient { basic: false });
        }
        if self.check_assertion(&client, assertion, self.now()).await? {
            Ok(client)
        } else {
            Err(ProviderError::InvalidClient { basic: false })
        }
    }

    /// Verifies a client assertion (RFC 7523 §3): signature (HMAC with a plain client secret
    /// for `client_secret_jwt`, a key of the client's JWKS for `private_key_jwt`), `iss` and
    /// `sub` the client, `aud` the issuer or the token endpoint, `exp` required and within
    /// [`max_assertion_lifetime`](super::config::ServerConfig::max_assertion_lifetime), and a
    /// `jti` used once (recorded in the [`OnceStore`](crate::common::store::OnceStore) until
    /// `exp`, judged by [`Recorded::verdict`](crate::common::replay::Recorded::verdict)).
    async fn check_assertion(
        &self,
        client: &RegisteredClient,
        assertion: &str,
        now: i64,
    ) -> Result<bool, ProviderError> {
        let config = &self.inner.config;
        let Ok(header) = jsonwebtoken::decode_header(assertion) else { return Ok(false) };
        let keys: Vec<DecodingKey> = match client.auth_method {
            ClientAuthMethod::ClientSecretJwt => {
                if !matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                    return Ok(false);
                }
                client
                    .secrets
                    .iter()
                    .filter_map(|s| s.plain_value(now))
                    .map(|s| DecodingKey::from_secret(s.secret().as_bytes()))
                    .collect()
            }
            ClientAuthMethod::PrivateKeyJwt => {
                if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                    return Ok(false);
                }
                let Some(jwks) = &client.jwks else { return Ok(false) };
                let Ok(set) = KeySet::from_value(jwks) else { return Ok(false) };
                match set.select(header.kid.as_deref(), header.alg) {
                    Ok(key) => vec![key.clone()],
                    Err(_) => return Ok(false),
                }
            }
            _ => return Ok(false),
        };
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[config.issuer.as_str(), config.token_endpoint.as_str()]);
        validation.set_issuer(&[client.client_id.as_str()]);
        validation.sub = Some(client.client_id.clone());
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 0;
        // Time is checked below against the injected clock, not the system's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let Some(claims) = keys
            .iter()
            .find_map(|key| jsonwebtoken::decode::<AssertionClaims>(assertion, key, &validation).ok())
            .map(|d| d.claims)
        else {
            return Ok(false);
        };
        let leeway = config.assertion_leeway;
        let issued_at = claims.iat.unwrap_or(now);
        if claims.iss != client.client_id
            || claims.sub != client.client_id
            || claims.exp + leeway <= now
            || issued_at > now + leeway
            || claims.exp - issued_at.min(now) > config.max_assertion_lifetime
        {
            return Ok(false);
        }
        let Some(jti) = claims.jti.filter(|j| !j.is_empty() && j.len() <= 256) else { return Ok(false) };
        let key = format!("{}\u{0}{jti}", client.client_id);
        let recorded =
            self.inner.store.record_once(ASSERTION_NAMESPACE, &key, claims.exp + leeway, now).await?;
        Ok(recorded.verdict(issued_at) == ReplayVerdict::Fresh)
    }
}

/// Reads which authentication the request presents (RFC 6749 §2.3); two at once is
/// `invalid_request`.
fn presented<'a>(request: &http::Request<Vec<u8>>, form: &'a Form) -> Result<Presented<'a>, ProviderError> {
    let basic = match request.headers().get(http::header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| ProviderError::InvalidClient { basic: true })?;
            let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("basic") {
                Some(parse_basic(credentials.trim()).ok_or(ProviderError::InvalidClient { basic: true })?)
            } else {
                return Err(ProviderError::InvalidRequest("unsupported Authorization scheme"));
            }
        }
        None => None,
    };
    let secret = form.get("client_secret");
    let assertion = match (form.get("client_assertion_type"), form.get("client_assertion")) {
        (Some(JWT_BEARER_ASSERTION), Some(a)) => Some(a),
        (None, None) => None,
        _ => {
            return Err(ProviderError::InvalidRequest(
                "client_assertion_type must be jwt-bearer, with client_assertion",
            ));
        }
    };
    let id = form.get("client_id");
    let count =
        usize::from(basic.is_some()) + usize::from(secret.is_some()) + usize::from(assertion.is_some());
    if count > 1 {
        return Err(ProviderError::InvalidRequest("more than one client authentication method"));
    }
    Ok(match (basic, secret, assertion) {
        (Some((bid, bsecret)), _, _) => {
            if id.is_some_and(|i| i != bid) {
                return Err(ProviderError::InvalidRequest("client_id differs from the authenticated client"));
            }
            Presented::Basic { id: bid, secret: bsecret }
        }
        (_, Some(secret), _) => {
            Presented::Post { id: id.ok_or(ProviderError::InvalidRequest("client_id is missing"))?, secret }
        }
        (_, _, Some(assertion)) => Presented::Jwt { id, assertion },
        _ => Presented::None { id: id.ok_or(ProviderError::InvalidClient { basic: false })? },
    })
}

/// Reads HTTP Basic credentials: the client id and secret, each form-encoded (RFC 6749
/// §2.3.1), joined by `:` and base64-encoded (RFC 7617 §2).
fn parse_basic(credentials: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(credentials).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let id = decode_form_component(id).ok()?;
    let secret = decode_form_component(secret).ok()?;
    (!id.is_empty()).then_some((id, secret))
}

/// The `sub` of a JWT, unverified: only to find which client's key verifies it.
fn unverified_sub(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("sub")?.as_str().map(str::to_owned)
}

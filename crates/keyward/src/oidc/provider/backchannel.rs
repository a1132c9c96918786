//! OpenID Connect Back-Channel Logout 1.0, the provider's side: when a user's session at
//! the provider ends, [`AuthorizationServer::backchannel_logout`] makes one signed logout
//! token (§2.4) per client that registered a `backchannel_logout_uri` (§2.2) and holds a
//! consent grant from the user, with the `POST` that carries it (§2.5). Sans-IO: sending
//! is the driver's (`keyward-client`'s `BackchannelNotifier`: a bounded queue, retries with
//! back-off, never blocking the user's logout).
//!
//! Logging out does not revoke tokens: a client told of the logout ends its own session,
//! and the access and refresh tokens it holds stay valid until they expire. An application
//! that wants them gone too calls
//! [`AuthorizationServer::revoke_grant`] for each client as well.

use std::fmt;

use serde_json::{Map, Value, json};

use super::OpenIdConfig;
use crate::common::encoding::encode_form;
use crate::common::secret::SecretString;
use crate::oauth2::provider::client::RegisteredClient;
use crate::oauth2::provider::error::ProviderError;
use crate::oauth2::provider::server::AuthorizationServer;
pub use crate::oidc::logout::{BACKCHANNEL_LOGOUT_EVENT, LOGOUT_JWT_TYPE};

/// How long a logout token is valid after its `iat`, in seconds (§2.4 asks for a short
/// `exp`; two minutes covers the driver's retries).
pub const LOGOUT_TOKEN_LIFETIME: i64 = 120;

/// One logout to deliver: a client's `backchannel_logout_uri` and the logout token for it
/// (Back-Channel Logout §2.5). The token is redacted in `Debug`.
pub struct LogoutDelivery {
    /// The client told of the logout (the token's `aud`).
    pub client_id: String,
    /// Its registered `backchannel_logout_uri`.
    pub uri: String,
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp`: no delivery is worth trying after it.
    pub expires_at: i64,
    logout_token: SecretString,
}

impl fmt::Debug for LogoutDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutDelivery")
            .field("client_id", &self.client_id)
            .field("uri", &self.uri)
            .field("jti", &self.jti)
            .field("expires_at", &self.expires_at)
            .field("logout_token", &self.logout_token)
            .finish()
    }
}

impl LogoutDelivery {
    /// A delivery of `logout_token` (whose `jti` and `exp` are given) to `client_id` at
    /// `uri`.
    pub fn new(
        client_id: impl Into<String>,
        uri: impl Into<String>,
        logout_token: SecretString,
        jti: impl Into<String>,
        expires_at: i64,
    ) -> Self {
        Self { client_id: client_id.into(), uri: uri.into(), jti: jti.into(), expires_at, logout_token }
    }

    /// The signed logout token.
    pub fn logout_token(&self) -> &SecretString {
        &self.logout_token
    }

    /// The request that delivers it (§2.5): `POST` to the URI with the form
    /// `logout_token=…`. A fresh request each call, for retries; an error when the URI is
    /// not a valid URI.
    pub fn request(&self) -> Result<http::Request<Vec<u8>>, http::Error> {
        let body = encode_form([("logout_token", self.logout_token.secret())]).into_bytes();
        http::Request::post(self.uri.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(body)
    }

    /// Whether a response means the logout was received: `200 OK` or `204 No Content`
    /// (§2.8).
    pub fn is_success(status: http::StatusCode) -> bool {
        status == http::StatusCode::OK || status == http::StatusCode::NO_CONTENT
    }
}

/// The claims of a logout token (§2.4), as [`AuthorizationServer::backchannel_logout`]
/// signs them: `iss`, `aud` (the one client), `iat`, `exp`
/// ([`LOGOUT_TOKEN_LIFETIME`] later), `jti`, the back-channel `events` member, `sub` (the
/// client's own subject identifier, pairwise or public), and `sid` when given. Never a
/// `nonce`.
pub fn logout_token_claims(
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: Option<&str>,
    jti: &str,
    now: i64,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from(issuer));
    claims.insert("sub".into(), Value::from(sub));
    claims.insert("aud".into(), Value::from(client_id));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now.saturating_add(LOGOUT_TOKEN_LIFETIME)));
    claims.insert("jti".into(), Value::from(jti));
    claims.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
    if let Some(sid) = sid {
        claims.insert("sid".into(), Value::from(sid));
    }
    claims
}

/// Adds `backchannel_logout_supported` and `backchannel_logout_session_supported` (§2.1,
/// both `true`: logout tokens carry `sid` whenever it is known) to a discovery document when
/// [`OpenIdConfig::backchannel_logout`] is on.
pub(crate) fn discovery_members(config: &OpenIdConfig, document: &mut Map<String, Value>) {
    if config.backchannel_logout {
        document.insert("backchannel_logout_supported".into(), Value::Bool(true));
        document.insert("backchannel_logout_session_supported".into(), Value::Bool(true));
    }
}

impl AuthorizationServer {
    /// The logouts to deliver when `subject`'s session `sid` ends (Back-Channel Logout
    /// §2.4–§2.5): for each client `subject` holds a live consent grant with that registered
    /// a `backchannel_logout_uri`, a logout token signed like that client's ID tokens (its
    /// `id_token_signed_response_alg`, through the key set), typed `logout+jwt`, with the
    /// client's `sub` for the user and `sid` when known; and its `POST`.
    ///
    /// A client that registered `backchannel_logout_session_required` needs `sid` (§2.4);
    /// without one it is left out, since it would refuse the token. Clients the user
    /// granted nothing to, or that registered no URI, are not told.
    ///
    /// Nothing is revoked: see the [module docs](self). Hand the deliveries to a driver;
    /// none is sent here.
    pub async fn backchannel_logout(
        &self,
        subject: &str,
        sid: Option<&str>,
    ) -> Result<Vec<LogoutDelivery>, ProviderError> {
        let now = self.now();
        let grants = self.inner.store.list_grants(subject, now).await?;
        let mut deliveries = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for grant in grants {
            if !grant.is_live(now) || !seen.insert(grant.client_id.clone()) {
                continue;
            }
            let Some(client) = self.inner.store.get_registered_client(&grant.client_id).await? else {
                continue;
            };
            if let Some(delivery) = self.logout_delivery(&client, subject, sid, now)? {
                deliveries.push(delivery);
            }
        }
        Ok(deliveries)
    }

    /// The delivery for one client, or `None` when it registered no URI or needs a `sid`
    /// that is unknown.
    fn logout_delivery(
        &self,
        client: &RegisteredClient,
        subject: &str,
        sid: Option<&str>,
        now: i64,
    ) -> Result<Option<LogoutDelivery>, ProviderError> {
        let Some(uri) = client.backchannel_logout_uri.as_deref() else { return Ok(None) };
        if client.backchannel_logout_session_required && sid.is_none() {
            return Ok(None);
        }
        let Some(openid) = self.inner.openid.as_ref() else {
            return Err(ProviderError::Misconfigured("back-channel logout needs an OpenID Provider"));
        };
        let sub = self.subject_for(client, subject)?;
        let jti = self.random_value();
        let claims = logout_token_claims(&self.inner.config.issuer, &client.client_id, &sub, sid, &jti, now);
        let token = openid.signer(client, now)?.sign(Some(LOGOUT_JWT_TYPE), &claims)?;
        Ok(Some(LogoutDelivery::new(
            client.client_id.clone(),
            uri,
            SecretString::new(token),
            jti,
            now.saturating_add(LOGOUT_TOKEN_LIFETIME),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claims_carry_the_event_and_no_nonce() {
        let claims = logout_token_claims("https://op.example", "web", "alice", Some("s1"), "j1", 1_000);
        assert_eq!(
            Value::Object(claims),
            json!({
                "iss": "https://op.example", "sub": "alice", "aud": "web", "iat": 1_000,
                "exp": 1_000 + LOGOUT_TOKEN_LIFETIME, "jti": "j1", "sid": "s1",
                "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
            })
        );
        let claims = logout_token_claims("https://op.example", "web", "alice", None, "j1", 1_000);
        assert!(!claims.contains_key("sid") && !claims.contains_key("nonce"));
    }

    #[test]
    fn the_request_is_a_form_post_and_the_token_stays_out_of_debug() {
        let delivery =
            LogoutDelivery::new("web", "https://rp.example/bc?x=1", SecretString::new("a.b+c"), "j1", 9);
        let request = delivery.request().unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri(), "https://rp.example/bc?x=1");
        assert_eq!(request.headers()[http::header::CONTENT_TYPE], "application/x-www-form-urlencoded");
        assert_eq!(request.body(), b"logout_token=a.b%2Bc");
        assert!(!format!("{delivery:?}").contains("a.b+c"));
        assert!(LogoutDelivery::is_success(http::StatusCode::OK));
        assert!(LogoutDelivery::is_success(http::StatusCode::NO_CONTENT));
        assert!(!LogoutDelivery::is_success(http::StatusCode::ACCEPTED));
    }
}

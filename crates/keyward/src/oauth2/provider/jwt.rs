//! JWT access tokens (RFC 9068) signed with the server's rotating key set: the
//! [`JwtAccessTokens`] the server issues [`AccessTokenFormat::Jwt`] tokens through, and the
//! resource protector verifies them with.
//!
//! Each token carries `typ: at+jwt` in its header (§2.1) and the claims of §2.2: `iss`,
//! `sub` (the resource owner, or the client itself for `client_credentials`), `aud` (the
//! RFC 8707 resources, else the server's default audience), `client_id`, `scope`, `jti`,
//! `exp`, `iat`, `auth_time` when a user signed in, and `cnf: {jkt}` when the token is
//! bound to a DPoP key (RFC 9449 §6.1). It is signed with the current key of
//! a [`SharedKeySet`], which a [`KeyManager`](crate::jose::rotation::KeyManager) may rotate
//! while the server serves: a token signed before a rotation verifies until its retired key
//! is pruned, after its last token's expiry.
//!
//! # Revocation
//!
//! The server stores the SHA-256 of every JWT access token it issues, as it does for
//! opaque tokens, so introspection (RFC 7662) and revocation (RFC 7009) work for JWTs too:
//! a revoked JWT introspects as `{"active": false}`. A resource server that verifies the
//! signature locally (this protector, or any RFC 9068 verifier) does not ask the store and
//! so sees a revocation only when the token expires. Keep access-token lifetimes short, or
//! have resource servers that must see revocation at once introspect instead.
//!
//! Wiring it into a server, with keys kept in a store and rotated on a timer:
//!
//! ```
//! use std::sync::Arc;
//! use keyward::jose::rotation::{KeyManager, RotationPolicy};
//! use keyward::oauth2::provider::{AuthorizationServer, KeySetAccessTokens, ServerConfig};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let now = 1_800_000_000;
//! let keys = Arc::new(keyward_stores::MemoryKeyStore::new());
//! let manager = KeyManager::start(keys, "access-tokens", RotationPolicy::default(), now).await?;
//! let jwt = Arc::new(KeySetAccessTokens::new(manager.keys(), "https://as.example"));
//! let store = Arc::new(keyward_stores::MemoryStore::new());
//! let server = AuthorizationServer::builder(store, ServerConfig::new("https://as.example"))
//!     .jwt_access_tokens(jwt)
//!     .build();
//! // Serve `manager.keys().snapshot().key_set().jwks(now)` at `jwks_uri`, and from a timer:
//! manager.tick(now + 60).await?;
//! # let _ = server;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Signing and verifying directly:
//!
//! ```
//! use std::sync::Arc;
//! use keyward::jose::{KeySet, SigningAlg, rotation::SharedKeySet};
//! use keyward::oauth2::provider::jwt::KeySetAccessTokens;
//! use keyward::oauth2::provider::{AccessTokenClaims, JwtAccessTokens};
//!
//! let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::EdDSA)?));
//! let jwt = KeySetAccessTokens::new(keys, "https://as.example");
//! let claims = AccessTokenClaims {
//!     issuer: "https://as.example".into(),
//!     subject: Some("alice".into()),
//!     client_id: "web".into(),
//!     scopes: vec!["read".into()],
//!     audience: vec!["https://api.example".into()],
//!     jti: "j1".into(),
//!     issued_at: 1_000,
//!     expires_at: 4_600,
//!     auth_time: Some(990),
//!     jkt: None,
//! };
//! let token = jwt.sign(&claims)?;
//! assert_eq!(jwt.verify(&token, 2_000), Some(claims));
//! assert_eq!(jwt.verify(&token, 5_000), None); // expired
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;

use serde_json::Map;

#[cfg(doc)]
use super::client::AccessTokenFormat;
use super::error::ProviderError;
use super::server::{AccessTokenClaims, JwtAccessTokens};
use crate::jose::rotation::SharedKeySet;
use crate::oauth2::rfc9068::{self, Audience};

/// [`JwtAccessTokens`] over a [`SharedKeySet`] with [`rfc9068`]: signs with the current
/// key; verifies the signature with any published key, `typ`, `iss`, `exp` (with a leeway,
/// default none) and, when one is set, `aud`.
pub struct KeySetAccessTokens {
    keys: Arc<SharedKeySet>,
    issuer: String,
    audience: Option<String>,
    leeway: i64,
}

impl fmt::Debug for KeySetAccessTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySetAccessTokens")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl KeySetAccessTokens {
    /// Signs and verifies with `keys` for `issuer` (the server's `issuer`, which every token
    /// must carry as `iss`).
    pub fn new(keys: Arc<SharedKeySet>, issuer: impl Into<String>) -> Self {
        Self { keys, issuer: issuer.into(), audience: None, leeway: 0 }
    }

    /// Verifies only tokens whose `aud` holds `audience` (RFC 9068 §4 step 4). Without it
    /// the audience is left to the [`ResourceProtector`](super::ResourceProtector)
    /// ([`with_audience`](super::ResourceProtector::with_audience)).
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Allows `secs` of clock skew on `exp` and `iat` (between instances of one server).
    pub fn with_leeway(mut self, secs: i64) -> Self {
        self.leeway = secs.max(0);
        self
    }

    /// The key set.
    pub fn keys(&self) -> &Arc<SharedKeySet> {
        &self.keys
    }

    /// Verifies `token` at `now` with the reason when it does not verify.
    pub fn verify_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<AccessTokenClaims, rfc9068::AccessTokenError> {
        let snapshot = self.keys.snapshot();
        let verifier = snapshot.verifier(now);
        let c =
            rfc9068::verify_with(token, &verifier, &self.issuer, self.audience.as_deref(), now, self.leeway)?;
        let scopes = c.scopes().map(str::to_owned).collect();
        Ok(AccessTokenClaims {
            issuer: c.iss,
            subject: Some(c.sub),
            client_id: c.client_id,
            scopes,
            audience: match c.aud {
                Audience::One(one) => vec![one],
                Audience::Many(many) => many,
            },
            jti: c.jti,
            issued_at: c.iat,
            expires_at: c.exp,
            auth_time: c.auth_time,
            jkt: c
                .extra
                .get("cnf")
                .and_then(|cnf| cnf.get("jkt"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        })
    }
}

impl JwtAccessTokens for KeySetAccessTokens {
    fn sign(&self, c: &AccessTokenClaims) -> Result<String, ProviderError> {
        let claims = rfc9068::AccessTokenClaims {
            iss: c.issuer.clone(),
            sub: c.subject.clone().unwrap_or_else(|| c.client_id.clone()),
            aud: match c.audience.as_slice() {
                [one] => Audience::One(one.clone()),
                many => Audience::Many(many.to_vec()),
            },
            client_id: c.client_id.clone(),
            scope: (!c.scopes.is_empty()).then(|| c.scopes.join(" ")),
            jti: c.jti.clone(),
            exp: c.expires_at,
            iat: c.issued_at,
            auth_time: c.auth_time,
            extra: match &c.jkt {
                Some(jkt) => {
                    let mut extra = Map::new();
                    extra.insert("cnf".into(), serde_json::json!({ "jkt": jkt }));
                    extra
                }
                None => Map::new(),
            },
        };
        rfc9068::issue(self.keys.snapshot().key_set(), &claims)
            .map_err(|_| ProviderError::Misconfigured("the access token could not be signed"))
    }

    fn verify(&self, token: &str, now: i64) -> Option<AccessTokenClaims> {
        self.verify_token(token, now).ok()
    }
}

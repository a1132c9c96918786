//! The OpenID Provider (OpenID Connect Core 1.0, Discovery 1.0) on the OAuth 2.1
//! authorization server of [`oauth2::provider`](crate::oauth2::provider).
//!
//! Give the server an [`OpenIdProvider`] with
//! [`AuthorizationServerBuilder::openid`](crate::oauth2::provider::AuthorizationServerBuilder::openid)
//! and it becomes an OpenID Provider:
//!
//! - **ID tokens** ([`id_token`]): the token endpoint adds an `id_token` to the response of
//!   every `authorization_code` and `refresh_token` grant whose scope holds `openid` (§3.1.3.3,
//!   §12.2), signed per client (`RS256` by default, `ES256`/`EdDSA` from the key sets,
//!   `HS256` with a client secret kept plain; never `none`).
//! - **Request parameters** ([`request`]): `prompt`, `max_age`, `login_hint`,
//!   `id_token_hint`, `ui_locales`, `acr_values`, `display` and `claims` are validated into
//!   the [`AuthorizationRequest`](crate::oauth2::provider::AuthorizationRequest);
//!   `request`/`request_uri` are refused.
//! - **Subject identifiers** ([`subject`]): public, or pairwise per sector (§8.1).
//! - **UserInfo** ([`userinfo`], §5.3) and the **claims hook** ([`ClaimsSource`], §5.4, §5.5).
//! - **Discovery** and the **JWK set** ([`discovery`]).
//!
//! The application owns the users: it signs them in, asks for consent, and answers the
//! request with a [`Grant`](crate::oauth2::provider::Grant) that carries the authentication
//! time, `acr`, `amr` and session id.

pub mod backchannel;
pub mod claims;
pub mod config;
pub mod discovery;
pub mod end_session;
pub mod id_token;
pub mod request;
pub mod subject;
pub mod userinfo;

use std::fmt;
use std::sync::Arc;

pub use claims::{ClaimsRequest, ClaimsSource, ClaimsTarget, NoClaims, parse_claims_parameter};
pub use config::OpenIdConfig;
pub use id_token::IdTokenHint;

use crate::jose::SigningKey;
use crate::jose::rotation::{KeySnapshot, SharedKeySet};

/// What turns an authorization server into an OpenID Provider: its [`OpenIdConfig`], the
/// signing key sets of its ID tokens, and the application's [`ClaimsSource`]. Cheap to clone.
#[derive(Clone)]
pub struct OpenIdProvider {
    pub(crate) config: OpenIdConfig,
    /// The key sets: the first one's algorithm is the default (RS256 expected); the others
    /// serve clients that registered another `id_token_signed_response_alg`.
    pub(crate) keys: Vec<Arc<SharedKeySet>>,
    pub(crate) claims: Arc<dyn ClaimsSource>,
}

impl fmt::Debug for OpenIdProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenIdProvider")
            .field("config", &self.config)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl OpenIdProvider {
    /// A provider signing ID tokens with `keys` (rotated by a
    /// [`KeyManager`](crate::jose::rotation::KeyManager), or fixed) and releasing the
    /// claims `claims` gives. Clients that register no `id_token_signed_response_alg` get
    /// `RS256` (OpenID Connect Registration §2), so `keys` should sign RS256; a client
    /// whose algorithm no key set signs gets `server_error` at the token endpoint.
    pub fn new(config: OpenIdConfig, keys: Arc<SharedKeySet>, claims: Arc<dyn ClaimsSource>) -> Self {
        Self { config, keys: vec![keys], claims }
    }

    /// Adds a key set whose current key signs the ID tokens of clients that registered its
    /// algorithm (`id_token_signed_response_alg` `ES256` or `EdDSA`); its keys are published
    /// in the JWK set too. One key set per algorithm: each may have its own
    /// [`KeyManager`](crate::jose::rotation::KeyManager).
    pub fn with_keys(mut self, keys: Arc<SharedKeySet>) -> Self {
        self.keys.push(keys);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &OpenIdConfig {
        &self.config
    }

    /// The key sets, the default one first.
    pub fn key_sets(&self) -> &[Arc<SharedKeySet>] {
        &self.keys
    }

    /// A snapshot of every key set, the default one first.
    pub(crate) fn snapshots(&self) -> Vec<Arc<KeySnapshot>> {
        self.keys.iter().map(|k| k.snapshot()).collect()
    }

    /// The algorithms ID tokens can be signed with (OpenID Connect Discovery §3
    /// `id_token_signing_alg_values_supported`): those of the key sets' current keys, then
    /// `HS256` (keyed by a client secret kept plain). What a client may register as its
    /// `id_token_signed_response_alg`.
    pub fn id_token_signing_algs(&self) -> Vec<&'static str> {
        let mut algs: Vec<&'static str> = Vec::new();
        for keys in &self.keys {
            let name = keys.snapshot().key_set().current().alg().name();
            if !algs.contains(&name) {
                algs.push(name);
            }
        }
        algs.push("HS256");
        algs
    }

    /// The key that signs for `alg` now: the current key of the first key set whose current
    /// key has that algorithm (for example to sign a logout token with the default one).
    pub fn signing_key(&self, alg: crate::jose::SigningAlg) -> Option<SigningKey> {
        self.keys.iter().map(|k| k.snapshot().key_set().current().clone()).find(|k| k.alg() == alg)
    }
}

impl crate::oauth2::provider::AuthorizationServer {
    /// The OpenID Provider part of the server, when it has one.
    pub fn openid_provider(&self) -> Option<&OpenIdProvider> {
        self.inner.openid.as_ref()
    }
}

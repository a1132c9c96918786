//! The authorization server's storage, as traits: registered clients (RFC 6749 §2),
//! authorization codes (§4.1.2), access and refresh tokens (§1.4, §1.5, §6), and the
//! resource owners' consent grants. With [`OnceStore`] (the single-use `jti` of client
//! assertions, RFC 7523 §3) they make [`OAuth2Store`].
//!
//! Like the OAuth 1 provider's stores, these are async traits returning boxed futures,
//! object-safe (`Arc<dyn OAuth2Store>` works) and `Send + Sync`; the implementations (memory,
//! SQLite, PostgreSQL, Redis) live in the `keyward-stores` crate and pass one conformance
//! suite. Stores never read a clock: every operation whose answer depends on time takes `now`
//! (seconds since the Unix epoch, from the server's injected [`Clock`](crate::Clock)), and
//! records carry absolute expiry times.
//!
//! Codes and tokens are stored only as the lowercase hex SHA-256 of their value
//! ([`sha256_hex`](super::client::sha256_hex)); the value itself exists only in the response
//! that carries it.
//!
//! Three operations must be atomic across every instance sharing a backend, because the
//! protocol's safety rests on them:
//! - [`AuthorizationCodeStore::take_code`]: of many concurrent exchanges of one code, exactly
//!   one gets [`TakeCode::Fresh`]; the others, and any later one until the code's expiry, get
//!   [`TakeCode::Used`] (RFC 6749 §4.1.2: a second use revokes the tokens issued from it);
//! - [`TokenStore::rotate_refresh`]: of many concurrent refreshes that rotate one token,
//!   exactly one gets [`RotateRefresh::Rotated`] (RFC 9700 §4.14.2);
//! - [`OnceStore::record_once`] (insert-if-absent).
//!
//! Device authorization codes (RFC 8628 §3.2) have a store trait of their own,
//! [`DeviceCodeStore`](super::device_store::DeviceCodeStore), outside [`OAuth2Store`]: the
//! server takes it only when the device grant is on.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use super::client::{
    AccessTokenFormat, ClientAuthMethod, ClientKind, ClientSecret, GrantType, RegisteredClient, SecretForm,
};
pub use crate::common::store::{BoxFuture, OnceStore, StoreError};

/// An issued authorization code (RFC 6749 §4.1.2), kept until it is exchanged or expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The lowercase hex SHA-256 of the code: the key.
    pub code_hash: String,
    /// The client the code was issued to.
    pub client_id: String,
    /// The `redirect_uri` of the authorization request, which the token request must repeat
    /// (RFC 6749 §4.1.3); `None` when the request gave none (the client's only registered
    /// URI was used).
    pub redirect_uri: Option<String>,
    /// The resource owner who granted it.
    pub subject: String,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The resources (RFC 8707) the tokens may be for.
    pub resources: Vec<String>,
    /// The PKCE `code_challenge` (RFC 7636 §4.2, always `S256`); `None` only for a
    /// confidential client that opted out of PKCE.
    pub code_challenge: Option<String>,
    /// When the resource owner last authenticated (OpenID Connect `auth_time`).
    pub auth_time: Option<i64>,
    /// The OpenID Connect `nonce` of the request, for the ID token.
    pub nonce: Option<String>,
    /// The grant family: every token issued from this code (and refreshed from them) carries
    /// it, so that a replay of the code can revoke them all.
    pub family_id: String,
    /// When the code was issued.
    pub issued_at: i64,
    /// When it expires (60 s after issue by default).
    pub expires_at: i64,
    /// The OpenID Connect details of the authentication, carried to the tokens.
    #[serde(default)]
    pub session: Option<AuthSession>,
    /// The DPoP key thumbprint the code is bound to (RFC 9449 §10 `dpop_jkt`): the token
    /// request must carry a proof made with that key.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// The OpenID Connect details of an authentication (OpenID Connect Core §2, §3.1.2.1, §5.5),
/// carried from the code to the tokens issued from it and to their refreshes: what the ID
/// tokens and the UserInfo endpoint need later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthSession {
    /// The session id at the provider (`sid`, Front- and Back-Channel Logout §2.1).
    #[serde(default)]
    pub sid: Option<String>,
    /// The authentication context class satisfied (`acr`).
    #[serde(default)]
    pub acr: Option<String>,
    /// The authentication methods used (`amr`).
    #[serde(default)]
    pub amr: Vec<String>,
    /// The `claims` request parameter (§5.5), as the client gave it.
    #[serde(default)]
    pub claims: Option<serde_json::Value>,
    /// Whether ID tokens must carry `auth_time` (`max_age` was asked, or the client
    /// registered `require_auth_time`).
    #[serde(default)]
    pub auth_time_required: bool,
}

/// What [`AuthorizationCodeStore::take_code`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
// One value per token request, moved straight out: boxing would add an allocation to every
// code exchange and buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum TakeCode {
    /// The code was live and unused; it is now used.
    Fresh(CodeRecord),
    /// The code was used before (and has not expired yet): a replay. The caller revokes the
    /// family (RFC 6749 §4.1.2).
    Used {
        /// The family of the tokens issued from the code.
        family_id: String,
        /// The client it was issued to.
        client_id: String,
    },
    /// No such code, or it expired.
    Unknown,
}

/// Authorization codes.
pub trait AuthorizationCodeStore: Send + Sync {
    /// Stores a new code. [`StoreError::Duplicate`] if its hash is already there.
    fn create_code<'a>(&'a self, code: &'a CodeRecord) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Marks the code used and returns it, atomically: of many concurrent calls with one
    /// hash, at most one is [`TakeCode::Fresh`]. A used code stays as a tombstone until its
    /// `expires_at`, so that a second use is [`TakeCode::Used`]; a code whose `expires_at` is
    /// at or before `now` is [`TakeCode::Unknown`].
    fn take_code<'a>(&'a self, code_hash: &'a str, now: i64) -> BoxFuture<'a, Result<TakeCode, StoreError>>;

    /// Removes codes (fresh or used) that expired at or before `now`; how many.
    fn purge_expired_codes(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// Whether a token is an access or a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// An access token (RFC 6749 §1.4).
    Access,
    /// A refresh token (RFC 6749 §1.5).
    Refresh,
}

/// An issued token (opaque access tokens and refresh tokens; JWT access tokens need no
/// record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The lowercase hex SHA-256 of the token: the key.
    pub token_hash: String,
    /// Access or refresh.
    pub kind: TokenKind,
    /// The client it was issued to.
    pub client_id: String,
    /// The resource owner; `None` for `client_credentials` tokens.
    pub subject: Option<String>,
    /// The scopes.
    pub scopes: Vec<String>,
    /// The audiences (RFC 8707 resources) of an access token; for a refresh token, the
    /// resources its grant may be refreshed for.
    pub resources: Vec<String>,
    /// The grant family (one per code or `client_credentials` issue): every token of one
    /// grant, so that reuse of a refresh token can revoke all of them.
    pub family_id: String,
    /// When it was issued.
    pub issued_at: i64,
    /// When it expires.
    pub expires_at: i64,
    /// When the resource owner authenticated, carried from the code.
    pub auth_time: Option<i64>,
    /// Revoked (RFC 7009), rotated out, or revoked with its family. A revoked token stays
    /// until its expiry, so a rotated-out refresh token that comes back is recognised.
    pub revoked: bool,
    /// The OpenID Connect details of the authentication the grant came from.
    #[serde(default)]
    pub session: Option<AuthSession>,
    /// The thumbprint of the DPoP key the token is bound to (RFC 9449 §6 `cnf.jkt`); `None`:
    /// a bearer token.
    #[serde(default)]
    pub jkt: Option<String>,
}

impl TokenRecord {
    /// Whether the token is usable at `now`: not revoked and not expired.
    pub fn is_active(&self, now: i64) -> bool {
        !self.revoked && self.expires_at > now
    }
}

/// What [`TokenStore::rotate_refresh`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
// One value per refresh, moved straight out (see `TakeCode`).
#[allow(clippy::large_enum_variant)]
pub enum RotateRefresh {
    /// The old refresh token was active; it is now revoked (as a tombstone until its expiry)
    /// and the new pair is stored. Holds the old record as it was.
    Rotated(TokenRecord),
    /// The old refresh token was already revoked (rotated out or revoked) and has not
    /// expired: reuse. Nothing was stored; the caller revokes the family (RFC 9700 §4.14.2).
    Reused {
        /// The family of the reused token.
        family_id: String,
    },
    /// No such refresh token, or it expired. Nothing was stored.
    Unknown,
}

/// Access and refresh tokens.
pub trait TokenStore: Send + Sync {
    /// Stores an access token and, when given, its refresh token, in one step (both or
    /// neither). [`StoreError::Duplicate`] if a hash is already there.
    fn create_tokens<'a>(
        &'a self,
        access: &'a TokenRecord,
        refresh: Option<&'a TokenRecord>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The token with this hash, if it is active at `now` ([`TokenRecord::is_active`]).
    fn get_token<'a>(
        &'a self,
        token_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>>;

    /// Atomically: if `old_hash` is an active refresh token, revokes it and stores the new
    /// pair; of many concurrent calls with one `old_hash` and a `new_refresh`, at most one
    /// is [`RotateRefresh::Rotated`]. When `new_refresh` is `None` the refresh token is kept
    /// (a confidential client under
    /// [`RefreshRotation::PublicClientsOnly`](super::config::RefreshRotation::PublicClientsOnly)):
    /// only the new access token is stored, the old refresh token stays active, and every
    /// concurrent call is `Rotated` — with nothing rotated out there is no reuse to detect.
    /// See [`RotateRefresh`] for the rest.
    fn rotate_refresh<'a>(
        &'a self,
        old_hash: &'a str,
        new_access: &'a TokenRecord,
        new_refresh: Option<&'a TokenRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<RotateRefresh, StoreError>>;

    /// Revokes one token; whether an unrevoked one was found.
    fn revoke_token<'a>(&'a self, token_hash: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Revokes every token of a family; how many were revoked.
    fn revoke_family<'a>(&'a self, family_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Revokes every token a client holds for a resource owner (when the owner withdraws the
    /// grant); how many were revoked.
    fn revoke_subject_tokens<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Revokes every token issued to a client, of every subject and family (when the client
    /// is deleted, RFC 7592 §2.3); how many were revoked.
    fn revoke_client_tokens<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Removes tokens (revoked or not) that expired at or before `now`; how many.
    fn purge_expired_tokens(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// What a resource owner consented to for a client: a repeat authorization request within it
/// needs no consent page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentGrant {
    /// The resource owner.
    pub subject: String,
    /// The client.
    pub client_id: String,
    /// The scopes consented to.
    pub scopes: Vec<String>,
    /// The resources (RFC 8707) consented to.
    pub resources: Vec<String>,
    /// When the consent was (last) given.
    pub granted_at: i64,
    /// When it lapses; `None`: when it is revoked.
    pub expires_at: Option<i64>,
}

impl ConsentGrant {
    /// Whether the grant is live at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }

    /// Whether the grant covers these scopes and resources.
    pub fn covers(&self, scopes: &[String], resources: &[String]) -> bool {
        scopes.iter().all(|s| self.scopes.contains(s)) && resources.iter().all(|r| self.resources.contains(r))
    }
}

/// Resource owners' consent grants, one per (subject, client).
pub trait ConsentStore: Send + Sync {
    /// The grant of `subject` to `client_id`, if it is live at `now`.
    fn get_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<ConsentGrant>, StoreError>>;

    /// Saves a grant, merging with a live one of the same (subject, client): the scopes and
    /// resources become the union of both (the stored ones first, then the new ones not yet
    /// there), and `granted_at` and `expires_at` become the new grant's. An expired grant is
    /// replaced. Merging is atomic (two concurrent saves lose no scope).
    fn save_grant<'a>(&'a self, grant: &'a ConsentGrant, now: i64) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The live grants of `subject`, in no particular order.
    fn list_grants<'a>(
        &'a self,
        subject: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<ConsentGrant>, StoreError>>;

    /// Deletes the grant of `subject` to `client_id`; whether there was one. The tokens are
    /// revoked apart, by [`TokenStore::revoke_subject_tokens`]
    /// (`AuthorizationServer::revoke_grant` does both).
    fn revoke_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Removes grants that expired at or before `now`; how many.
    fn purge_expired_grants(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// Registered clients.
pub trait OAuth2ClientStore: Send + Sync {
    /// The client with this id.
    fn get_registered_client<'a>(
        &'a self,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<RegisteredClient>, StoreError>>;

    /// Registers a client; [`StoreError::Duplicate`] if its id is taken.
    fn create_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Replaces a registered client; whether it existed (nothing is stored if not).
    fn update_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Deletes a client; whether it existed. From then on it cannot authenticate, so its
    /// codes and refresh tokens are useless; its access tokens stay valid until they expire,
    /// unless they are revoked too ([`TokenStore::revoke_client_tokens`]).
    fn delete_registered_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// Everything the authorization server stores: one backend, or several behind one type.
pub trait OAuth2Store:
    OAuth2ClientStore + AuthorizationCodeStore + TokenStore + ConsentStore + OnceStore
{
    /// Runs every `purge_expired_*` (codes, tokens, grants); how many records were removed.
    /// Single-use `jti`s are swept by the [`OnceStore`] backend itself.
    fn purge_expired_oauth2(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            Ok(self.purge_expired_codes(now).await?
                + self.purge_expired_tokens(now).await?
                + self.purge_expired_grants(now).await?)
        })
    }
}

impl<T: OAuth2Store + ?Sized> OAuth2Store for Arc<T> {
    fn purge_expired_oauth2(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        (**self).purge_expired_oauth2(now)
    }
}

impl<T: OAuth2ClientStore + ?Sized> OAuth2ClientStore for Arc<T> {
    fn get_registered_client<'a>(
        &'a self,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<RegisteredClient>, StoreError>> {
        (**self).get_registered_client(client_id)
    }
    fn create_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).create_registered_client(client)
    }
    fn update_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).update_registered_client(client)
    }
    fn delete_registered_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).delete_registered_client(client_id)
    }
}

impl<T: AuthorizationCodeStore + ?Sized> AuthorizationCodeStore for Arc<T> {
    fn create_code<'a>(&'a self, code: &'a CodeRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).create_code(code)
    }
    fn take_code<'a>(&'a self, code_hash: &'a str, now: i64) -> BoxFuture<'a, Result<TakeCode, StoreError>> {
        (**self).take_code(code_hash, now)
    }
    fn purge_expired_codes(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        (**self).purge_expired_codes(now)
    }
}

impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    fn create_tokens<'a>(
        &'a self,
        access: &'a TokenRecord,
        refresh: Option<&'a TokenRecord>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).create_tokens(access, refresh)
    }
    fn get_token<'a>(
        &'a self,
        token_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>> {
        (**self).get_token(token_hash, now)
    }
    fn rotate_refresh<'a>(
        &'a self,
        old_hash: &'a str,
        new_access: &'a TokenRecord,
        new_refresh: Option<&'a TokenRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<RotateRefresh, StoreError>> {
        (**self).rotate_refresh(old_hash, new_access, new_refresh, now)
    }
    fn revoke_token<'a>(&'a self, token_hash: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).revoke_token(token_hash)
    }
    fn revoke_family<'a>(&'a self, family_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        (**self).revoke_family(family_id)
    }
    fn revoke_subject_tokens<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        (**self).revoke_subject_tokens(subject, client_id)
    }
    fn revoke_client_tokens<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        (**self).revoke_client_tokens(client_id)
    }
    fn purge_expired_tokens(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        (**self).purge_expired_tokens(now)
    }
}

impl<T: ConsentStore + ?Sized> ConsentStore for Arc<T> {
    fn get_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<ConsentGrant>, StoreError>> {
        (**self).get_grant(subject, client_id, now)
    }
    fn save_grant<'a>(&'a self, grant: &'a ConsentGrant, now: i64) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).save_grant(grant, now)
    }
    fn list_grants<'a>(
        &'a self,
        subject: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<ConsentGrant>, StoreError>> {
        (**self).list_grants(subject, now)
    }
    fn revoke_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).revoke_grant(subject, client_id)
    }
    fn purge_expired_grants(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        (**self).purge_expired_grants(now)
    }
}

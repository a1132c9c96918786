//! One provider store made of two backends: the records that must last in one, the
//! short-lived ones in the other.

use keyward::oauth1::rfc5849::store::{
    Authorization, AuthorizeOutcome, BoxFuture, Client, ClientStore, NonceStore, NonceToRecord, OAuth1Store,
    Recorded, SignedLookup, StoreError, TemporaryCredential, TemporaryCredentialStore, TokenCredentialRecord,
    TokenCredentialStore,
};

use keyward::common::store::OnceStore;
use keyward::oauth2::provider::store::{
    AuthorizationCodeStore, CodeRecord, ConsentGrant, ConsentStore, OAuth2ClientStore, OAuth2Store,
    RegisteredClient, RotateRefresh, TakeCode, TokenRecord, TokenStore,
};

use crate::StoreAdmin;

/// An [`OAuth1Store`] that keeps clients and token credentials in `durable` (a database:
/// SQLite or PostgreSQL) and temporary credentials and nonces in `ephemeral` (memory, or
/// Redis shared by several instances), which live minutes and are written by every request.
///
/// Either part may be a concrete store or an `Arc<dyn OAuth1Store>`. Each record kind lives in
/// one part only: `durable` is never asked about nonces or temporary credentials, and
/// `ephemeral` never about clients or token credentials.
///
/// A signed request's look-up ([`OAuth1Store::lookup_signed`]) reads client and token
/// credential from `durable`, and the nonce is recorded in `ephemeral` after the signature
/// ([`NonceStore::insert_nonce`]): two backends cannot answer in one round trip, so the
/// split store does not record the nonce early. The replay epoch it reports is
/// `ephemeral`'s, which holds the nonces.
///
/// As a [`StoreAdmin`] (when both parts are), clients are registered in `durable`, and a
/// purge purges both.
///
/// As the OAuth 2 authorization server's store ([`OAuth2Store`]), the records that last —
/// registered clients, access and refresh tokens, consent grants — are in `durable`, and
/// the short-lived single-use ones — authorization codes (a minute) and the values of
/// [`OnceStore`] (client-assertion `jti`s), written and taken once by every exchange — in
/// `ephemeral`. Each part keeps its own operations atomic: a code is taken once in
/// `ephemeral`, a refresh token rotated once in `durable`.
///
/// ```
/// use std::sync::Arc;
/// use keyward::common::secret::SecretString;
/// use keyward_stores::store::{Client, ClientStore, OAuth1Store};
/// use keyward_stores::{MemoryStore, SplitStore, SqliteStore, StoreAdmin};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // In production: `SqliteStore::connect(url)` or `PostgresStore`, and `RedisStore`.
/// let store = SplitStore::new(SqliteStore::in_memory().await?, MemoryStore::new());
/// store.put_client(&Client::new("printer", SecretString::new("kd94hf93k423kf44"))).await?;
/// assert!(store.durable().get_client("printer").await?.is_some());
/// assert!(store.ephemeral().get_client("printer").await?.is_none());
///
/// let provider_store: Arc<dyn OAuth1Store> = Arc::new(store);
/// # let _ = provider_store;
/// # Ok::<(), keyward_stores::store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SplitStore<D, E> {
    durable: D,
    ephemeral: E,
}

impl<D, E> SplitStore<D, E> {
    /// Clients and token credentials in `durable`, temporary credentials and nonces in
    /// `ephemeral`.
    pub fn new(durable: D, ephemeral: E) -> Self {
        Self { durable, ephemeral }
    }

    /// The part that holds clients and token credentials.
    pub fn durable(&self) -> &D {
        &self.durable
    }

    /// The part that holds temporary credentials and nonces.
    pub fn ephemeral(&self) -> &E {
        &self.ephemeral
    }
}

impl<D: ClientStore, E: Send + Sync> ClientStore for SplitStore<D, E> {
    fn get_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<Option<Client>, StoreError>> {
        self.durable.get_client(client_id)
    }
}

impl<D: TokenCredentialStore, E: Send + Sync> TokenCredentialStore for SplitStore<D, E> {
    fn create_token_credential<'a>(
        &'a self,
        credential: &'a TokenCredentialRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.durable.create_token_credential(credential)
    }

    fn get_token_credential<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<TokenCredentialRecord>, StoreError>> {
        self.durable.get_token_credential(token)
    }

    fn token_credentials_of_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TokenCredentialRecord>, StoreError>> {
        self.durable.token_credentials_of_user(user_id)
    }

    fn revoke_token_credential<'a>(
        &'a self,
        user_id: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.durable.revoke_token_credential(user_id, token)
    }
}

impl<D: Send + Sync, E: TemporaryCredentialStore> TemporaryCredentialStore for SplitStore<D, E> {
    fn create_temporary_credential<'a>(
        &'a self,
        credential: &'a TemporaryCredential,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.ephemeral.create_temporary_credential(credential, now)
    }

    fn create_temporary_credential_capped<'a>(
        &'a self,
        credential: &'a TemporaryCredential,
        now: i64,
        max_pending: usize,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.ephemeral.create_temporary_credential_capped(credential, now, max_pending)
    }

    fn get_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
        self.ephemeral.get_temporary_credential(token, now)
    }

    fn authorize_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        authorization: &'a Authorization,
        now: i64,
    ) -> BoxFuture<'a, Result<AuthorizeOutcome, StoreError>> {
        self.ephemeral.authorize_temporary_credential(token, authorization, now)
    }

    fn take_temporary_credential<'a>(
        &'a self,
        token: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
        self.ephemeral.take_temporary_credential(token, now)
    }
}

impl<D: Send + Sync, E: NonceStore> NonceStore for SplitStore<D, E> {
    fn insert_nonce<'a>(
        &'a self,
        nonce: &'a NonceToRecord,
        now: i64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        self.ephemeral.insert_nonce(nonce, now)
    }

    fn release_nonce<'a>(&'a self, nonce: &'a NonceToRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        self.ephemeral.release_nonce(nonce)
    }
}

/// Client and token credential from `durable` in one look-up; the nonce is left to
/// [`NonceStore::insert_nonce`] after the signature.
impl<D: OAuth1Store, E: OAuth1Store> OAuth1Store for SplitStore<D, E> {
    fn lookup_signed<'a>(
        &'a self,
        client_id: &'a str,
        token: Option<&'a str>,
        _nonce: Option<&'a NonceToRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<SignedLookup, StoreError>> {
        Box::pin(async move {
            let found = self.durable.lookup_signed(client_id, token, None, now).await?;
            Ok(SignedLookup::new(found.client, found.token))
        })
    }
}

impl<D: OAuth2ClientStore, E: Send + Sync> OAuth2ClientStore for SplitStore<D, E> {
    fn get_registered_client<'a>(
        &'a self,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<RegisteredClient>, StoreError>> {
        self.durable.get_registered_client(client_id)
    }

    fn create_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.durable.create_registered_client(client)
    }

    fn update_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.durable.update_registered_client(client)
    }

    fn delete_registered_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.durable.delete_registered_client(client_id)
    }
}

impl<D: Send + Sync, E: AuthorizationCodeStore> AuthorizationCodeStore for SplitStore<D, E> {
    fn create_code<'a>(&'a self, code: &'a CodeRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        self.ephemeral.create_code(code)
    }

    fn take_code<'a>(&'a self, code_hash: &'a str, now: i64) -> BoxFuture<'a, Result<TakeCode, StoreError>> {
        self.ephemeral.take_code(code_hash, now)
    }

    fn purge_expired_codes(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.ephemeral.purge_expired_codes(now)
    }
}

impl<D: TokenStore, E: Send + Sync> TokenStore for SplitStore<D, E> {
    fn create_tokens<'a>(
        &'a self,
        access: &'a TokenRecord,
        refresh: Option<&'a TokenRecord>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.durable.create_tokens(access, refresh)
    }

    fn get_token<'a>(
        &'a self,
        token_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>> {
        self.durable.get_token(token_hash, now)
    }

    fn rotate_refresh<'a>(
        &'a self,
        old_hash: &'a str,
        new_access: &'a TokenRecord,
        new_refresh: Option<&'a TokenRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<RotateRefresh, StoreError>> {
        self.durable.rotate_refresh(old_hash, new_access, new_refresh, now)
    }

    fn revoke_token<'a>(&'a self, token_hash: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.durable.revoke_token(token_hash)
    }

    fn revoke_family<'a>(&'a self, family_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.durable.revoke_family(family_id)
    }

    fn revoke_subject_tokens<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.durable.revoke_subject_tokens(subject, client_id)
    }

    fn revoke_client_tokens<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.durable.revoke_client_tokens(client_id)
    }

    fn purge_expired_tokens(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.durable.purge_expired_tokens(now)
    }
}

impl<D: ConsentStore, E: Send + Sync> ConsentStore for SplitStore<D, E> {
    fn get_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<ConsentGrant>, StoreError>> {
        self.durable.get_grant(subject, client_id, now)
    }

    fn save_grant<'a>(&'a self, grant: &'a ConsentGrant, now: i64) -> BoxFuture<'a, Result<(), StoreError>> {
        self.durable.save_grant(grant, now)
    }

    fn list_grants<'a>(
        &'a self,
        subject: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<ConsentGrant>, StoreError>> {
        self.durable.list_grants(subject, now)
    }

    fn revoke_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.durable.revoke_grant(subject, client_id)
    }

    fn purge_expired_grants(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.durable.purge_expired_grants(now)
    }
}

/// Single-use values in `ephemeral`, with its replay epoch.
impl<D: Send + Sync, E: OnceStore> OnceStore for SplitStore<D, E> {
    fn record_once<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        self.ephemeral.record_once(namespace, key, expires_at, now)
    }
}

/// Clients, tokens and grants in `durable`; codes and single-use values in `ephemeral`.
impl<D, E> OAuth2Store for SplitStore<D, E>
where
    D: OAuth2ClientStore + TokenStore + ConsentStore,
    E: AuthorizationCodeStore + OnceStore,
{
}

impl<D: StoreAdmin, E: StoreAdmin> StoreAdmin for SplitStore<D, E> {
    fn put_client<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, Result<(), StoreError>> {
        self.durable.put_client(client)
    }

    fn delete_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.durable.delete_client(client_id)
    }

    fn purge_expired(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let durable = self.durable.purge_expired(now).await?;
            Ok(durable + self.ephemeral.purge_expired(now).await?)
        })
    }
}

/// Pings `durable`, then `ephemeral`: the first that fails answers (each bounded by its own
/// timeout). A readiness probe that names each dependency pings [`SplitStore::durable`] and
/// [`SplitStore::ephemeral`] separately.
impl<D: crate::Ping, E: crate::Ping> crate::Ping for SplitStore<D, E> {
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.durable.ping().await?;
            self.ephemeral.ping().await
        })
    }
}

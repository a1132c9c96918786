//! The conformance suite every store passes, for your own backend too.
//!
//! [`conformance_tests!`](crate::conformance_tests) expands to one `#[test]` per case of this
//! module, each running the case on a multi-threaded tokio runtime of its own (your test crate
//! needs no tokio of its own). A case asks your `make` function for a fresh store, by the
//! case's name (use it to pick a schema, a key prefix or a file of its own, so that cases
//! run in parallel); `make` answers `None` to skip the case, when the backend is not
//! configured, say.
//!
//! The cases check what the provider relies on: every record kind round-trips whole, the
//! caller's `now` decides expiry (stores never read the clock), and the operations the
//! protocol's safety rests on are atomic under concurrency (nonce insertion, taking a
//! temporary credential, authorizing one). A store that records nonces during
//! [`OAuth1Store::lookup_signed`] is held to the same answers as `insert_nonce`.
//!
//! ```
//! // In `tests/conformance.rs` of a crate with a store of its own (here, the memory store),
//! // and `keyward-stores` with the `conformance` feature among its dev-dependencies:
//! mod my_store {
//!     use keyward_stores::MemoryStore;
//!     use std::sync::Arc;
//!
//!     async fn make(_case: &str) -> Option<Arc<MemoryStore>> {
//!         Some(Arc::new(MemoryStore::new()))
//!     }
//!
//!     // `purges = true`: `purge_expired` removes expired records on demand.
//!     keyward_stores::conformance_tests!(oauth1_store: make, purges = true);
//! }
//! # fn main() {}
//! ```
//!
//! `conformance_tests!(oauth2_store: make, purges = BOOL)` runs the cases of the OAuth 2
//! authorization server's stores: clients, codes taken once, tokens rotated once, families
//! revoked, consent grants merged, and single-use values ([`OnceStore`](keyward::common::store::OnceStore))
//! recorded once with the store's replay epoch.
//!
//! With the `client` feature too, `conformance_tests!(state_cache: make)` runs the cases of a
//! `keyward_client` `StateCache` (the client's flow state: set with expiry, taken once).

use std::collections::HashSet;
use std::sync::Arc;

use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::store::{
    Authorization, AuthorizeOutcome, Client, NonceKey, NonceStatus, NonceToRecord, OAuth1Store, ReplayEpoch,
    StoreError, TemporaryCredential, TokenCredentialRecord,
};

use crate::StoreAdmin;

/// The provider's clock in every case: stores only know time through `now`.
pub const NOW: i64 = 1_700_000_000;

/// How many tasks race in the concurrency cases.
pub const RACERS: usize = 64;

/// What a store under test implements: the provider's store, and [`StoreAdmin`] to register
/// clients and purge.
pub trait StoreUnderTest: OAuth1Store + StoreAdmin + std::fmt::Debug + 'static {}
impl<T: OAuth1Store + StoreAdmin + std::fmt::Debug + 'static> StoreUnderTest for T {}

/// Runs a case to completion on a multi-threaded runtime of its own (four workers, so that
/// the races race).
pub fn run<F: std::future::Future<Output = ()>>(case: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance case")
        .block_on(case)
}

/// One `#[test]` per case of the [conformance suite](crate::conformance), against the
/// stores `make` returns.
///
/// - `conformance_tests!(oauth1_store: make, purges = BOOL)`: the OAuth 1.0a provider's
///   store. `make` is an `async fn(&str) -> Option<Arc<S>>` where `S` is a
///   [`StoreUnderTest`](crate::conformance::StoreUnderTest), called with the case's name
///   for a fresh store (`None` skips the case). `purges` says whether
///   `StoreAdmin::purge_expired` removes expired records on demand (`false` for a backend
///   that expires them itself, such as Redis).
/// - `conformance_tests!(oauth2_store: make, purges = BOOL)`: the OAuth 2 authorization
///   server's stores ([`keyward::oauth2::provider::store::OAuth2Store`], with
///   [`OnceStore`](keyward::common::store::OnceStore)); `make` returns an `Arc<S>` where `S`
///   is an [`OAuth2StoreUnderTest`](crate::conformance::OAuth2StoreUnderTest). `purges` says
///   whether the `purge_expired_*` methods remove expired records on demand.
/// - `conformance_tests!(state_cache: make)` (feature `client`): a `keyward_client`
///   `StateCache`; `make` is an `async fn(&str) -> Option<Arc<C>>`.
///
/// Use it once per backend, each in a module of its own (the tests are named after the
/// cases). See the [module's example](crate::conformance).
#[macro_export]
macro_rules! conformance_tests {
    (oauth1_store: $make:path, purges = $purges:expr $(,)?) => {
        $crate::conformance_tests!(@each $make, $purges,
            clients_round_trip,
            temporary_credentials_create_and_get,
            temporary_credentials_expire,
            authorize_sets_user_and_verifier_once,
            take_returns_the_credential_once,
            take_of_an_expired_credential_gives_nothing,
            concurrent_takes_exactly_one_wins,
            concurrent_authorizations_exactly_one_wins,
            token_credentials_create_and_get,
            pending_temporary_credentials_are_capped,
            concurrent_capped_creations_stop_at_the_cap,
            grants_are_listed_by_user_and_revoked,
            nonce_is_fresh_once,
            nonce_key_components_are_distinct,
            nonce_expiry_follows_now,
            concurrent_nonces_exactly_one_fresh,
            release_nonce_forgets_it,
            lookup_signed_finds_client_and_token,
            lookup_signed_nonce_is_insert_nonce,
            concurrent_lookups_exactly_one_fresh,
            replay_epoch_is_read_with_the_nonce,
            secrets_never_in_debug,
            purge_removes_expired_records,
        );
    };
    (oauth2_store: $make:path, purges = $purges:expr $(,)?) => {
        $crate::conformance_tests!(@each $make, $purges,
            oauth2_clients_round_trip,
            code_is_taken_once,
            concurrent_code_takes_exactly_one_fresh,
            used_code_tombstone_is_purged,
            tokens_are_created_as_a_pair_and_looked_up_by_hash,
            refresh_token_rotates_once,
            concurrent_rotations_exactly_one_rotated,
            revoke_family_revokes_every_token_of_it,
            revoke_client_tokens_revokes_every_token_of_the_client,
            consent_grants_save_merge_list_revoke,
            oauth2_purge_removes_expired_records,
            once_values_are_recorded_once,
            concurrent_once_values_exactly_one_fresh,
            oauth2_secrets_never_in_debug,
        );
    };
    (state_cache: $make:path $(,)?) => {
        $crate::conformance_tests!(@each_cache $make,
            state_cache_takes_once,
            state_cache_set_replaces,
            state_cache_keys_are_distinct,
            state_cache_concurrent_takes_one_wins,
            state_cache_entries_expire,
        );
    };
    (@each $make:path, $purges:expr, $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::run(async {
                    let Some(store) = $make(stringify!($name)).await else { return };
                    $crate::conformance::$name(store, $purges).await;
                });
            }
        )*
    };
    (@each_cache $make:path, $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::run(async {
                    let Some(cache) = $make(stringify!($name)).await else { return };
                    $crate::conformance::$name(cache).await;
                });
            }
        )*
    };
}

fn client(id: &str) -> Client {
    Client {
        client_id: id.into(),
        client_secret: SecretString::new(format!("{id}-client-secret")),
        rsa_public_key: Some("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n".into()),
        default_redirect_uri: Some("https://client.example/cb".into()),
        allowed_signature_methods: Some(vec!["HMAC-SHA1".into(), "RSA-SHA256".into()]),
        name: Some("Printer ☃".into()),
        // Free text, stored as it is: a query, `oob`, quotes, brackets, spaces, non-ASCII.
        redirect_uris: Some(vec![
            "https://client.example/cb?x=1&y=2".into(),
            "oob".into(),
            "myapp://done/\"é\" [1], 2".into(),
        ]),
    }
}

fn temporary(token: &str, expires_at: i64) -> TemporaryCredential {
    TemporaryCredential {
        token: token.into(),
        secret: SecretString::new(format!("{token}-temporary-secret")),
        client_id: "client-1".into(),
        callback_uri: "https://client.example/cb?x=1&y=2".into(),
        expires_at,
        authorization: None,
    }
}

fn authorization(user: &str) -> Authorization {
    Authorization { user_id: user.into(), verifier: SecretString::new(format!("{user}-verifier")) }
}

fn token_credential(token: &str) -> TokenCredentialRecord {
    TokenCredentialRecord {
        token: token.into(),
        secret: SecretString::new(format!("{token}-token-secret")),
        client_id: "client-1".into(),
        user_id: "alice".into(),
        created_at: NOW,
    }
}

fn nonce(client: &str, token: Option<&str>, timestamp: i64, nonce: &str) -> NonceToRecord {
    let key =
        NonceKey { client_id: client.into(), token: token.map(Into::into), timestamp, nonce: nonce.into() };
    NonceToRecord { key, expires_at: NOW + 300 }
}

/// `nonce` kept until `expires_at`.
fn until(nonce: &NonceToRecord, expires_at: i64) -> NonceToRecord {
    NonceToRecord { key: nonce.key.clone(), expires_at }
}

/// Clients are stored whole (every optional field, free-text callbacks), replaced by
/// `put_client`, and removed by `delete_client`.
pub async fn clients_round_trip<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    assert_eq!(store.get_client("client-1").await.unwrap(), None);
    let c = client("client-1");
    store.put_client(&c).await.unwrap();
    assert_eq!(store.get_client("client-1").await.unwrap().as_ref(), Some(&c));

    // A bare client: every optional field absent.
    let bare = Client::new("client:2/é", SecretString::new("s"));
    store.put_client(&bare).await.unwrap();
    assert_eq!(store.get_client("client:2/é").await.unwrap().as_ref(), Some(&bare));

    // put replaces.
    let mut changed = client("client-1");
    changed.client_secret = SecretString::new("rotated");
    changed.allowed_signature_methods = None;
    changed.name = None;
    changed.redirect_uris = Some(Vec::new());
    store.put_client(&changed).await.unwrap();
    let got = store.get_client("client-1").await.unwrap().unwrap();
    assert_eq!(got, changed);
    assert_eq!(got.client_secret.secret(), "rotated");
    // An empty list (nothing but `oob` to the default) is not the absence of one (anything).
    assert_eq!(got.redirect_uris, Some(Vec::new()));
    changed.redirect_uris = None;
    store.put_client(&changed).await.unwrap();
    assert_eq!(store.get_client("client-1").await.unwrap().unwrap().redirect_uris, None);

    assert!(store.delete_client("client-1").await.unwrap());
    assert!(!store.delete_client("client-1").await.unwrap());
    assert_eq!(store.get_client("client-1").await.unwrap(), None);
    assert!(store.get_client("client:2/é").await.unwrap().is_some());
}

/// A temporary credential is read back whole; its token is its key, and a second one with the
/// same token is [`StoreError::Duplicate`].
pub async fn temporary_credentials_create_and_get<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let t = temporary("temp-1", NOW + 600);
    store.create_temporary_credential(&t, NOW).await.unwrap();
    assert_eq!(store.get_temporary_credential("temp-1", NOW).await.unwrap().as_ref(), Some(&t));
    assert_eq!(store.get_temporary_credential("temp-2", NOW).await.unwrap(), None);

    // The token is the key: a second credential with it is refused, the first kept.
    let mut other = temporary("temp-1", NOW + 900);
    other.client_id = "client-2".into();
    assert!(matches!(store.create_temporary_credential(&other, NOW).await, Err(StoreError::Duplicate)));
    assert_eq!(store.get_temporary_credential("temp-1", NOW).await.unwrap().as_ref(), Some(&t));

    // Created already authorized (an implementation of the flow may do so): kept whole.
    let mut authorized = temporary("temp-3", NOW + 600);
    authorized.authorization = Some(authorization("bob"));
    store.create_temporary_credential(&authorized, NOW).await.unwrap();
    assert_eq!(store.get_temporary_credential("temp-3", NOW).await.unwrap().as_ref(), Some(&authorized));
}

/// A temporary credential is gone at its `expires_at` (exclusive) by the caller's `now`, for
/// reading and for authorizing.
pub async fn temporary_credentials_expire<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_temporary_credential(&temporary("temp-1", NOW + 60), NOW).await.unwrap();
    assert!(store.get_temporary_credential("temp-1", NOW + 59).await.unwrap().is_some());
    assert_eq!(
        store.get_temporary_credential("temp-1", NOW + 60).await.unwrap(),
        None,
        "expires_at is exclusive"
    );
    assert_eq!(store.get_temporary_credential("temp-1", NOW + 3600).await.unwrap(), None);
    assert_eq!(
        store.authorize_temporary_credential("temp-1", &authorization("alice"), NOW + 60).await.unwrap(),
        AuthorizeOutcome::NotFound
    );
}

/// Authorization is recorded once: a second one does not overwrite the first.
pub async fn authorize_sets_user_and_verifier_once<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_temporary_credential(&temporary("temp-1", NOW + 600), NOW).await.unwrap();
    let alice = authorization("alice");
    assert_eq!(
        store.authorize_temporary_credential("temp-1", &alice, NOW).await.unwrap(),
        AuthorizeOutcome::Authorized
    );
    assert_eq!(
        store.authorize_temporary_credential("temp-1", &authorization("mallory"), NOW).await.unwrap(),
        AuthorizeOutcome::AlreadyAuthorized
    );
    let got = store.get_temporary_credential("temp-1", NOW).await.unwrap().unwrap();
    assert_eq!(got.authorization.as_ref(), Some(&alice));
    assert_eq!(got.authorization.unwrap().verifier.secret(), "alice-verifier");
    assert_eq!(
        store.authorize_temporary_credential("missing", &alice, NOW).await.unwrap(),
        AuthorizeOutcome::NotFound
    );
}

/// `take_temporary_credential` returns the credential once and removes it.
pub async fn take_returns_the_credential_once<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let t = temporary("temp-1", NOW + 600);
    store.create_temporary_credential(&t, NOW).await.unwrap();
    store.authorize_temporary_credential("temp-1", &authorization("alice"), NOW).await.unwrap();
    let taken = store.take_temporary_credential("temp-1", NOW).await.unwrap().unwrap();
    assert_eq!(taken.token, "temp-1");
    assert_eq!(taken.secret, t.secret);
    assert_eq!(taken.authorization, Some(authorization("alice")));
    assert_eq!(store.take_temporary_credential("temp-1", NOW).await.unwrap(), None);
    assert_eq!(store.get_temporary_credential("temp-1", NOW).await.unwrap(), None);
    assert_eq!(store.take_temporary_credential("never-issued", NOW).await.unwrap(), None);
    // The token is free again once taken.
    store.create_temporary_credential(&t, NOW).await.unwrap();
}

/// Taking an expired credential returns nothing and removes it.
pub async fn take_of_an_expired_credential_gives_nothing<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_temporary_credential(&temporary("temp-1", NOW + 60), NOW).await.unwrap();
    assert_eq!(store.take_temporary_credential("temp-1", NOW + 61).await.unwrap(), None);
    // ... and removes it: going back in time does not bring it back.
    assert_eq!(store.get_temporary_credential("temp-1", NOW).await.unwrap(), None);
}

/// Runs `step(store, i)` in `RACERS` tasks released together by a barrier, and returns what
/// each returned, in task order.
async fn race<S, T, F, Fut>(store: &Arc<S>, step: F) -> Vec<T>
where
    S: Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(Arc<S>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let (work, barrier) = (step(store.clone(), i), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(RACERS);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// A client holds at most `max_pending` pending temporary credentials: unauthorized and
/// unexpired by the caller's `now`. Authorized, taken and expired ones do not count, nor do
/// other clients' ones; a refused creation stores nothing.
pub async fn pending_temporary_credentials_are_capped<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let capped = |token: &str, expires_at: i64, now: i64| {
        let (store, t) = (store.clone(), temporary(token, expires_at));
        async move { store.create_temporary_credential_capped(&t, now, 3).await }
    };
    // One that expires soon, two that live.
    capped("p-1", NOW + 10, NOW).await.unwrap();
    capped("p-2", NOW + 600, NOW).await.unwrap();
    capped("p-3", NOW + 600, NOW).await.unwrap();
    assert!(matches!(capped("p-4", NOW + 600, NOW).await, Err(StoreError::LimitReached)));
    assert_eq!(store.get_temporary_credential("p-4", NOW).await.unwrap(), None, "nothing stored");
    // Another client has a count of its own.
    let mut other = temporary("q-1", NOW + 600);
    other.client_id = "client-2".into();
    store.create_temporary_credential_capped(&other, NOW, 3).await.unwrap();
    // The uncapped creation is not refused, and its credential counts.
    store.create_temporary_credential(&temporary("p-5", NOW + 600), NOW).await.unwrap();
    assert!(matches!(capped("p-6", NOW + 600, NOW).await, Err(StoreError::LimitReached)));

    // Once p-1 has expired (by the caller's clock), one of the others is authorized, and
    // one is taken, the client has two free places.
    assert_eq!(
        store.authorize_temporary_credential("p-2", &authorization("alice"), NOW).await.unwrap(),
        AuthorizeOutcome::Authorized
    );
    assert!(store.take_temporary_credential("p-3", NOW).await.unwrap().is_some());
    let later = NOW + 20;
    capped("p-7", NOW + 600, later).await.unwrap();
    capped("p-8", NOW + 600, later).await.unwrap();
    // p-5, p-7, p-8 pending.
    assert!(matches!(capped("p-9", NOW + 600, later).await, Err(StoreError::LimitReached)));
    // A credential created already authorized is not pending: never refused.
    let mut authorized = temporary("p-10", NOW + 600);
    authorized.authorization = Some(authorization("bob"));
    store.create_temporary_credential_capped(&authorized, later, 3).await.unwrap();
    // The duplicate check still holds under the cap.
    assert!(matches!(
        store.create_temporary_credential_capped(&temporary("p-7", NOW + 600), later, 100).await,
        Err(StoreError::Duplicate)
    ));
}

/// Of many concurrent capped creations for one client, as many succeed as the cap allows
/// and the others are refused with [`StoreError::LimitReached`].
pub async fn concurrent_capped_creations_stop_at_the_cap<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    const CAP: usize = 10;
    let results = race(&store, |store, i| async move {
        let t = temporary(&format!("raced-{i}"), NOW + 600);
        store.create_temporary_credential_capped(&t, NOW, CAP).await
    })
    .await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    let refused = results.iter().filter(|r| matches!(r, Err(StoreError::LimitReached))).count();
    assert_eq!((created, refused), (CAP, RACERS - CAP), "{results:?}");
}

/// A user's grants (token credentials) are listed, oldest first, and revoked one by one,
/// only by that user: a revoked token is gone for every read, the signed look-up included.
pub async fn grants_are_listed_by_user_and_revoked<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    assert_eq!(store.token_credentials_of_user("alice").await.unwrap(), Vec::new());
    let mut newer = token_credential("alice-2");
    newer.client_id = "client-2".into();
    newer.created_at = NOW + 60;
    let older = token_credential("alice-1");
    let mut bobs = token_credential("bob-1");
    bobs.user_id = "bob".into();
    for t in [&newer, &older, &bobs] {
        store.create_token_credential(t).await.unwrap();
    }
    assert_eq!(store.token_credentials_of_user("alice").await.unwrap(), vec![older.clone(), newer.clone()]);
    assert_eq!(store.token_credentials_of_user("bob").await.unwrap(), vec![bobs.clone()]);
    assert_eq!(store.token_credentials_of_user("carol").await.unwrap(), Vec::new());

    // Only the user a token was issued for revokes it.
    assert!(!store.revoke_token_credential("alice", "bob-1").await.unwrap());
    assert_eq!(store.get_token_credential("bob-1").await.unwrap().as_ref(), Some(&bobs));
    assert!(store.revoke_token_credential("alice", "alice-1").await.unwrap());
    assert!(!store.revoke_token_credential("alice", "alice-1").await.unwrap(), "revoked once");
    assert!(!store.revoke_token_credential("alice", "never-issued").await.unwrap());
    assert_eq!(store.get_token_credential("alice-1").await.unwrap(), None);
    let found = store.lookup_signed("client-1", Some("alice-1"), None, NOW).await.unwrap();
    assert!(found.token.is_none(), "the signed look-up no longer finds a revoked token");
    assert_eq!(store.token_credentials_of_user("alice").await.unwrap(), vec![newer]);
    assert_eq!(store.token_credentials_of_user("bob").await.unwrap(), vec![bobs]);
}

/// Of many concurrent takes of one credential, exactly one gets it.
pub async fn concurrent_takes_exactly_one_wins<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    for round in 0..3 {
        let token = format!("temp-race-{round}");
        store.create_temporary_credential(&temporary(&token, NOW + 600), NOW).await.unwrap();
        store.authorize_temporary_credential(&token, &authorization("alice"), NOW).await.unwrap();
        let taken = race(&store, |store, _| {
            let token = token.clone();
            async move { store.take_temporary_credential(&token, NOW).await.unwrap() }
        })
        .await;
        let mut winners = 0;
        for c in taken.into_iter().flatten() {
            assert_eq!(c.token, token);
            assert_eq!(c.authorization, Some(authorization("alice")));
            winners += 1;
        }
        assert_eq!(winners, 1, "round {round}: {winners} tasks took one temporary credential");
    }
}

/// Of many concurrent authorizations of one credential, exactly one is recorded, and it is the
/// one kept.
pub async fn concurrent_authorizations_exactly_one_wins<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_temporary_credential(&temporary("temp-1", NOW + 600), NOW).await.unwrap();
    let outcomes = race(&store, |store, i| async move {
        let auth = authorization(&format!("user-{i}"));
        (store.authorize_temporary_credential("temp-1", &auth, NOW).await.unwrap(), auth)
    })
    .await;
    let mut winners = Vec::new();
    for (outcome, auth) in outcomes {
        match outcome {
            AuthorizeOutcome::Authorized => winners.push(auth),
            AuthorizeOutcome::AlreadyAuthorized => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{} authorizations recorded", winners.len());
    let stored = store.get_temporary_credential("temp-1", NOW).await.unwrap().unwrap();
    assert_eq!(
        stored.authorization.as_ref(),
        Some(&winners[0]),
        "the winner's authorization is the one kept"
    );
}

/// Token credentials are read back whole; a duplicate token is refused and the first kept.
pub async fn token_credentials_create_and_get<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let t = token_credential("token-1");
    store.create_token_credential(&t).await.unwrap();
    let got = store.get_token_credential("token-1").await.unwrap().unwrap();
    assert_eq!(got, t);
    assert_eq!(got.secret.secret(), "token-1-token-secret");
    assert_eq!(store.get_token_credential("token-2").await.unwrap(), None);
    let mut again = token_credential("token-1");
    again.user_id = "mallory".into();
    assert!(matches!(store.create_token_credential(&again).await, Err(StoreError::Duplicate)));
    assert_eq!(store.get_token_credential("token-1").await.unwrap().unwrap().user_id, "alice");
}

/// A nonce is fresh once, and a replay until it expires.
pub async fn nonce_is_fresh_once<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let key = nonce("client-1", Some("token-1"), NOW, "n0nce");
    assert!(store.insert_nonce(&key, NOW).await.unwrap().fresh, "first use is fresh");
    assert!(!store.insert_nonce(&key, NOW).await.unwrap().fresh, "a replay is not");
    assert!(!store.insert_nonce(&key, NOW + 299).await.unwrap().fresh, "nor later, before expiry");
}

/// Client, token, timestamp and nonce each tell nonces apart, separators inside them included.
pub async fn nonce_key_components_are_distinct<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let keys = [
        nonce("client-1", Some("token-1"), NOW, "n"),
        nonce("client-2", Some("token-1"), NOW, "n"),
        nonce("client-1", Some("token-2"), NOW, "n"),
        nonce("client-1", None, NOW, "n"),
        nonce("client-1", Some("token-1"), NOW + 1, "n"),
        nonce("client-1", Some("token-1"), NOW, "m"),
        // Separators inside components must not make two keys one.
        nonce("a:b", Some("c"), NOW, "d"),
        nonce("a", Some("b:c"), NOW, "d"),
        nonce("a", Some("b"), NOW, "c:d"),
    ];
    for k in &keys {
        assert!(store.insert_nonce(k, NOW).await.unwrap().fresh, "{k:?} is fresh");
    }
    for k in &keys {
        assert!(!store.insert_nonce(k, NOW).await.unwrap().fresh, "{k:?} is a replay");
    }
}

/// A nonce expired by the caller's `now` is fresh again, whatever the backend's own clock says.
pub async fn nonce_expiry_follows_now<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let key = nonce("client-1", Some("token-1"), NOW, "n0nce");
    assert!(store.insert_nonce(&key, NOW).await.unwrap().fresh);
    assert!(!store.insert_nonce(&until(&key, NOW + 600), NOW + 299).await.unwrap().fresh);
    // Expired at `now`: forgotten, so the key is fresh again (and remembered again).
    assert!(store.insert_nonce(&until(&key, NOW + 600), NOW + 300).await.unwrap().fresh);
    assert!(!store.insert_nonce(&until(&key, NOW + 600), NOW + 301).await.unwrap().fresh);
}

/// Of many concurrent insertions of one nonce, exactly one is fresh (insert-if-absent).
pub async fn concurrent_nonces_exactly_one_fresh<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    for round in 0..3 {
        let key = nonce("client-1", Some("token-1"), NOW, &format!("race-{round}"));
        let fresh = race(&store, |store, _| {
            let key = key.clone();
            async move { store.insert_nonce(&key, NOW).await.unwrap().fresh }
        })
        .await
        .into_iter()
        .filter(|f| *f)
        .count();
        assert_eq!(fresh, 1, "round {round}: {fresh} of {RACERS} replays accepted");
    }
    // Many distinct nonces at once are all fresh.
    let all = race(&store, |store, i| async move {
        let key = nonce("client-1", None, NOW, &format!("distinct-{i}"));
        store.insert_nonce(&key, NOW).await.unwrap().fresh
    })
    .await;
    assert!(all.into_iter().all(|f| f));
}

/// `release_nonce` makes that nonce fresh again, and no other.
pub async fn release_nonce_forgets_it<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let key = nonce("client-1", Some("token-1"), NOW, "released");
    let other = nonce("client-1", Some("token-1"), NOW, "kept");
    assert!(store.insert_nonce(&key, NOW).await.unwrap().fresh);
    assert!(store.insert_nonce(&other, NOW).await.unwrap().fresh);
    store.release_nonce(&key).await.unwrap();
    assert!(store.insert_nonce(&key, NOW).await.unwrap().fresh, "fresh again once released");
    assert!(!store.insert_nonce(&key, NOW).await.unwrap().fresh, "and recorded again");
    assert!(!store.insert_nonce(&other, NOW).await.unwrap().fresh, "another nonce is not released");
    // Releasing a nonce that was never recorded is harmless.
    store.release_nonce(&nonce("client-1", None, NOW, "never")).await.unwrap();
    assert!(!store.insert_nonce(&other, NOW).await.unwrap().fresh);
}

/// `lookup_signed` finds the client and the token credential, each independently of the other.
pub async fn lookup_signed_finds_client_and_token<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    store.put_client(&client("client-1")).await.unwrap();
    store.create_token_credential(&token_credential("token-1")).await.unwrap();
    let found = store.lookup_signed("client-1", Some("token-1"), None, NOW).await.unwrap();
    assert_eq!(found.client.unwrap(), client("client-1"));
    assert_eq!(found.token.unwrap(), token_credential("token-1"));
    assert_eq!(found.nonce, NonceStatus::NotRecorded, "no nonce given, none recorded");
    for (c, t) in [("client-2", Some("token-1")), ("client-1", Some("token-2")), ("client-1", None)] {
        let found = store.lookup_signed(c, t, None, NOW).await.unwrap();
        assert_eq!(found.client.is_some(), c == "client-1", "{c} {t:?}");
        assert_eq!(found.token.is_some(), t == Some("token-1"), "{c} {t:?}");
    }
    // With a nonce to record, and without a token: the same client.
    let key = nonce("client-1", None, NOW, "client-only");
    let found = store.lookup_signed("client-1", None, Some(&key), NOW).await.unwrap();
    assert_eq!(found.client.unwrap(), client("client-1"));
    assert!(found.token.is_none());
}

/// Whether a look-up that recorded the nonce found it fresh; `None` if it did not record it.
fn fresh(status: NonceStatus) -> Option<bool> {
    match status {
        NonceStatus::Recorded(recorded) => Some(recorded.fresh),
        _ => None,
    }
}

/// A store that records the nonce during `lookup_signed` answers as `insert_nonce` would, and
/// `release_nonce` forgets it; one that does not leaves it fresh for `insert_nonce`.
pub async fn lookup_signed_nonce_is_insert_nonce<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let key = nonce("client-1", Some("token-1"), NOW, "looked-up");
    let lookup = |n: NonceToRecord, now: i64| {
        let store = store.clone();
        async move { store.lookup_signed("client-1", Some("token-1"), Some(&n), now).await.unwrap().nonce }
    };
    match lookup(key.clone(), NOW).await {
        NonceStatus::NotRecorded => {
            assert!(store.insert_nonce(&key, NOW).await.unwrap().fresh, "not recorded by the look-up")
        }
        first => {
            assert_eq!(fresh(first), Some(true), "first use is fresh");
            assert_eq!(fresh(lookup(key.clone(), NOW).await), Some(false), "a replay is not");
            assert!(!store.insert_nonce(&key, NOW).await.unwrap().fresh, "insert_nonce agrees");
            store.release_nonce(&key).await.unwrap();
            assert_eq!(fresh(lookup(key.clone(), NOW).await), Some(true), "fresh again once released");
            // An expired nonce is fresh again, as with insert_nonce.
            let later = until(&key, NOW + 900);
            assert_eq!(fresh(lookup(later, NOW + 300).await), Some(true), "expired at now");
        }
    }
}

/// Of many concurrent look-ups of one nonce, exactly one request gets it fresh, whichever way
/// the store records it.
pub async fn concurrent_lookups_exactly_one_fresh<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let key = nonce("client-1", Some("token-1"), NOW, "raced-lookup");
    let fresh = race(&store, |store, _| {
        let key = key.clone();
        async move {
            match store.lookup_signed("client-1", Some("token-1"), Some(&key), NOW).await.unwrap().nonce {
                NonceStatus::NotRecorded => store.insert_nonce(&key, NOW).await.unwrap().fresh,
                status => fresh(status) == Some(true),
            }
        }
    })
    .await
    .into_iter()
    .filter(|f| *f)
    .count();
    assert_eq!(fresh, 1, "{fresh} of {RACERS} replays accepted");
}

/// Every nonce answer carries the store's replay epoch, read in the same step: durable, or a
/// second no later than the store's first call (a fresh store has remembered nothing before
/// it), the same in every later answer while the store keeps its data, and the same from
/// `lookup_signed` when it records the nonce. So a request signed after the first call is
/// judged by the nonce alone, and one signed at or before the epoch cannot be proven fresh.
pub async fn replay_epoch_is_read_with_the_nonce<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    let first = store.insert_nonce(&nonce("client-1", None, NOW + 1, "epoch-1"), NOW).await.unwrap();
    assert!(first.fresh);
    if let ReplayEpoch::Since(epoch) = first.epoch {
        assert!(epoch <= NOW, "the epoch {epoch} is after the store's first call at {NOW}");
    }
    assert!(first.epoch.covers(NOW + 1), "a request signed after the first call is judged by its nonce");
    let second = until(&nonce("client-1", None, NOW + 1, "epoch-2"), NOW + 700);
    let later = store.insert_nonce(&second, NOW + 100).await.unwrap();
    assert_eq!(later.epoch, first.epoch, "the epoch stays while the store remembers");
    let replay = store.insert_nonce(&nonce("client-1", None, NOW + 1, "epoch-1"), NOW + 5).await.unwrap();
    assert_eq!((replay.fresh, replay.epoch), (false, first.epoch));
    let key = nonce("client-1", Some("token-1"), NOW + 1, "epoch-3");
    if let NonceStatus::Recorded(recorded) =
        store.lookup_signed("client-1", Some("token-1"), Some(&key), NOW + 10).await.unwrap().nonce
    {
        assert_eq!((recorded.fresh, recorded.epoch), (true, first.epoch), "the look-up reads the same epoch");
    }
}

/// No secret appears in the `Debug` output of a record or of the store.
pub async fn secrets_never_in_debug<S: StoreUnderTest>(store: Arc<S>, _: bool) {
    store.put_client(&client("client-1")).await.unwrap();
    store.create_temporary_credential(&temporary("temp-1", NOW + 600), NOW).await.unwrap();
    store.authorize_temporary_credential("temp-1", &authorization("alice"), NOW).await.unwrap();
    store.create_token_credential(&token_credential("token-1")).await.unwrap();
    let debug = format!(
        "{:?} {:?} {:?} {:?}",
        store.get_client("client-1").await.unwrap(),
        store.get_temporary_credential("temp-1", NOW).await.unwrap(),
        store.get_token_credential("token-1").await.unwrap(),
        store,
    );
    let secrets: HashSet<&str> =
        ["client-1-client-secret", "temp-1-temporary-secret", "alice-verifier", "token-1-token-secret"]
            .into();
    for s in secrets {
        assert!(!debug.contains(s), "{s} appears in {debug}");
    }
    assert!(debug.contains("client-1") && debug.contains("alice"), "Debug still shows identifiers: {debug}");
}

/// `purge_expired` removes expired records and keeps live ones (`purges`: whether the backend
/// removes them on demand, as opposed to expiring them itself, as Redis does).
pub async fn purge_removes_expired_records<S: StoreUnderTest>(store: Arc<S>, purges: bool) {
    store.create_temporary_credential(&temporary("old", NOW + 60), NOW).await.unwrap();
    store.create_temporary_credential(&temporary("live", NOW + 600), NOW).await.unwrap();
    let old_nonce = nonce("client-1", None, NOW, "old");
    let live_nonce = nonce("client-1", None, NOW, "live");
    assert!(store.insert_nonce(&until(&old_nonce, NOW + 60), NOW).await.unwrap().fresh);
    assert!(store.insert_nonce(&until(&live_nonce, NOW + 600), NOW).await.unwrap().fresh);

    let removed = store.purge_expired(NOW + 100).await.unwrap();
    // Live records survive a purge whatever the backend.
    assert!(store.get_temporary_credential("live", NOW + 100).await.unwrap().is_some());
    assert!(!store.insert_nonce(&until(&live_nonce, NOW + 600), NOW + 100).await.unwrap().fresh);
    if purges {
        assert_eq!(removed, 2);
        // Gone for good: even a clock set back does not find them.
        assert_eq!(store.get_temporary_credential("old", NOW).await.unwrap(), None);
        assert!(store.insert_nonce(&until(&old_nonce, NOW + 60), NOW).await.unwrap().fresh);
    } else {
        // Redis expires keys by itself (TTL) and purges nothing on demand.
        assert_eq!(removed, 0);
    }
}

/// Two store instances over one backend (two pools, two connections), as several provider
/// instances see it: each sees what the other wrote, and races split between them still have
/// one winner. Not part of [`conformance_tests!`](crate::conformance_tests), since it needs two
/// instances; call it from a test of your own.
pub async fn two_instances_share_one_backend<S: StoreUnderTest>(a: Arc<S>, b: Arc<S>) {
    a.create_temporary_credential(&temporary("shared", NOW + 600), NOW).await.unwrap();
    assert!(b.get_temporary_credential("shared", NOW).await.unwrap().is_some(), "b sees what a wrote");
    assert_eq!(
        b.authorize_temporary_credential("shared", &authorization("alice"), NOW).await.unwrap(),
        AuthorizeOutcome::Authorized
    );
    assert_eq!(
        a.authorize_temporary_credential("shared", &authorization("bob"), NOW).await.unwrap(),
        AuthorizeOutcome::AlreadyAuthorized
    );

    let key = nonce("client-1", Some("token-1"), NOW, "shared");
    // Even tasks go through `a`, odd ones through `b`.
    let results = race(&a, |a, i| {
        let (store, key) = (if i % 2 == 0 { a } else { b.clone() }, key.clone());
        async move {
            let taken = store.take_temporary_credential("shared", NOW).await.unwrap();
            (taken.is_some(), store.insert_nonce(&key, NOW).await.unwrap().fresh)
        }
    })
    .await;
    let taken = results.iter().filter(|(t, _)| *t).count();
    let fresh = results.iter().filter(|(_, f)| *f).count();
    assert_eq!(taken, 1, "{taken} instances took one temporary credential");
    assert_eq!(fresh, 1, "{fresh} instances accepted one nonce");
}

mod oauth2;
pub use oauth2::*;

#[cfg(feature = "client")]
pub use state_cache::*;

/// The cases of a `keyward_client` `StateCache`.
#[cfg(feature = "client")]
mod state_cache {
    use std::sync::Arc;

    use keyward_client::registry::state::StateCache;

    use super::RACERS;

    /// A value set is taken once; a key never set gives nothing.
    pub async fn state_cache_takes_once<C: StateCache + 'static>(cache: Arc<C>) {
        cache.set("app:state-1", "{\"v\":1}".into(), 60).await.unwrap();
        assert_eq!(cache.take("app:state-1").await.unwrap().as_deref(), Some("{\"v\":1}"));
        assert_eq!(cache.take("app:state-1").await.unwrap(), None, "read once");
        assert_eq!(cache.take("app:never-set").await.unwrap(), None);
    }

    /// A second `set` of a key replaces the first value.
    pub async fn state_cache_set_replaces<C: StateCache + 'static>(cache: Arc<C>) {
        cache.set("app:k", "first".into(), 60).await.unwrap();
        cache.set("app:k", "second".into(), 60).await.unwrap();
        assert_eq!(cache.take("app:k").await.unwrap().as_deref(), Some("second"));
        assert_eq!(cache.take("app:k").await.unwrap(), None);
    }

    /// Keys are independent, whatever characters they hold.
    pub async fn state_cache_keys_are_distinct<C: StateCache + 'static>(cache: Arc<C>) {
        let keys = ["app:a", "app:b", "other:a", "app:a:b", "app:é 1"];
        for k in keys {
            cache.set(k, format!("value of {k}"), 60).await.unwrap();
        }
        for k in keys.iter().rev() {
            assert_eq!(cache.take(k).await.unwrap(), Some(format!("value of {k}")), "{k}");
        }
    }

    /// Of many concurrent takes of one key, exactly one gets the value.
    pub async fn state_cache_concurrent_takes_one_wins<C: StateCache + 'static>(cache: Arc<C>) {
        cache.set("app:race", "x".into(), 60).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let tasks: Vec<_> = (0..RACERS)
            .map(|_| {
                let (cache, barrier) = (cache.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    cache.take("app:race").await.unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap().is_some());
        }
        assert_eq!(winners, 1, "{winners} callbacks read one state");
    }

    /// An entry is gone once its `ttl` (seconds) has passed; this case waits 1.5 s.
    pub async fn state_cache_entries_expire<C: StateCache + 'static>(cache: Arc<C>) {
        cache.set("app:short", "x".into(), 1).await.unwrap();
        cache.set("app:long", "y".into(), 60).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(cache.take("app:short").await.unwrap(), None, "expired");
        assert_eq!(cache.take("app:long").await.unwrap().as_deref(), Some("y"), "still live");
    }
}

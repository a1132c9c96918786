//! The conformance suite every store passes. `conformance_tests!(make, purges = ..)`
//! expands to one `#[tokio::test]` per check below, each calling `make(test_name)` for a
//! fresh, isolated store (`None` skips the test: its server is not configured).

#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::sync::Arc;

use keyward::common::secret::SecretString;
use keyward_stores::StoreAdmin;
use keyward_stores::store::{
    Authorization, AuthorizeOutcome, Client, NonceKey, NonceToRecord, OAuth1Store, StoreError,
    TemporaryCredential, TokenCredentialRecord,
};

/// The provider's clock in every test: stores only know time through `now`.
pub const NOW: i64 = 1_700_000_000;

/// How many tasks race in the concurrency tests.
pub const RACERS: usize = 64;

pub trait TestStore: OAuth1Store + StoreAdmin + std::fmt::Debug + 'static {}
impl<T: OAuth1Store + StoreAdmin + std::fmt::Debug + 'static> TestStore for T {}

macro_rules! conformance_tests {
    ($make:path, purges = $purges:expr) => {
        conformance_tests!(@each $make, $purges,
            clients_round_trip,
            temporary_credentials_create_and_get,
            temporary_credentials_expire,
            authorize_sets_user_and_verifier_once,
            take_returns_the_credential_once,
            take_of_an_expired_credential_gives_nothing,
            concurrent_takes_exactly_one_wins,
            concurrent_authorizations_exactly_one_wins,
            token_credentials_create_and_get,
            nonce_is_fresh_once,
            nonce_key_components_are_distinct,
            nonce_expiry_follows_now,
            concurrent_nonces_exactly_one_fresh,
            lookup_signed_finds_client_and_token,
            lookup_signed_nonce_is_insert_nonce,
            concurrent_lookups_exactly_one_fresh,
            secrets_never_in_debug,
            purge_removes_expired_records,
        );
    };
    (@each $make:path, $purges:expr, $($name:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(store) = $make(stringify!($name)).await else { return };
                crate::common::$name(store, $purges).await;
            }
        )*
    };
}

pub(crate) use conformance_tests;

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

fn nonce(client: &str, token: Option<&str>, timestamp: i64, nonce: &str) -> NonceKey {
    NonceKey { client_id: client.into(), token: token.map(Into::into), timestamp, nonce: nonce.into() }
}

pub async fn clients_round_trip<S: TestStore>(store: Arc<S>, _: bool) {
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

pub async fn temporary_credentials_create_and_get<S: TestStore>(store: Arc<S>, _: bool) {
    let t = temporary("temp-1", NOW + 600);
    store.create_temporary_credential(&t).await.unwrap();
    assert_eq!(store.get_temporary_credential("temp-1", NOW).await.unwrap().as_ref(), Some(&t));
    assert_eq!(store.get_temporary_credential("temp-2", NOW).await.unwrap(), None);

    // The token is the key: a second credential with it is refused, the first kept.
    let mut other = temporary("temp-1", NOW + 900);
    other.client_id = "client-2".into();
    assert!(matches!(store.create_temporary_credential(&other).await, Err(StoreError::Duplicate)));
    assert_eq!(store.get_temporary_credential("temp-1", NOW).await.unwrap().as_ref(), Some(&t));

    // Created already authorized (an implementation of the flow may do so): kept whole.
    let mut authorized = temporary("temp-3", NOW + 600);
    authorized.authorization = Some(authorization("bob"));
    store.create_temporary_credential(&authorized).await.unwrap();
    assert_eq!(store.get_temporary_credential("temp-3", NOW).await.unwrap().as_ref(), Some(&authorized));
}

pub async fn temporary_credentials_expire<S: TestStore>(store: Arc<S>, _: bool) {
    store.create_temporary_credential(&temporary("temp-1", NOW + 60)).await.unwrap();
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

pub async fn authorize_sets_user_and_verifier_once<S: TestStore>(store: Arc<S>, _: bool) {
    store.create_temporary_credential(&temporary("temp-1", NOW + 600)).await.unwrap();
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

pub async fn take_returns_the_credential_once<S: TestStore>(store: Arc<S>, _: bool) {
    let t = temporary("temp-1", NOW + 600);
    store.create_temporary_credential(&t).await.unwrap();
    store.authorize_temporary_credential("temp-1", &authorization("alice"), NOW).await.unwrap();
    let taken = store.take_temporary_credential("temp-1", NOW).await.unwrap().unwrap();
    assert_eq!(taken.token, "temp-1");
    assert_eq!(taken.secret, t.secret);
    assert_eq!(taken.authorization, Some(authorization("alice")));
    assert_eq!(store.take_temporary_credential("temp-1", NOW).await.unwrap(), None);
    assert_eq!(store.get_temporary_credential("temp-1", NOW).await.unwrap(), None);
    assert_eq!(store.take_temporary_credential("never-issued", NOW).await.unwrap(), None);
    // The token is free again once taken.
    store.create_temporary_credential(&t).await.unwrap();
}

pub async fn take_of_an_expired_credential_gives_nothing<S: TestStore>(store: Arc<S>, _: bool) {
    store.create_temporary_credential(&temporary("temp-1", NOW + 60)).await.unwrap();
    assert_eq!(store.take_temporary_credential("temp-1", NOW + 61).await.unwrap(), None);
    // ... and removes it: going back in time does not bring it back.
    assert_eq!(store.get_temporary_credential("temp-1", NOW).await.unwrap(), None);
}

/// Runs `step(store, i)` in `RACERS` tasks released together by a barrier, and returns what
/// each returned, in task order.
async fn race<S, T, F, Fut>(store: &Arc<S>, step: F) -> Vec<T>
where
    S: TestStore,
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

pub async fn concurrent_takes_exactly_one_wins<S: TestStore>(store: Arc<S>, _: bool) {
    for round in 0..3 {
        let token = format!("temp-race-{round}");
        store.create_temporary_credential(&temporary(&token, NOW + 600)).await.unwrap();
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

pub async fn concurrent_authorizations_exactly_one_wins<S: TestStore>(store: Arc<S>, _: bool) {
    store.create_temporary_credential(&temporary("temp-1", NOW + 600)).await.unwrap();
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

pub async fn token_credentials_create_and_get<S: TestStore>(store: Arc<S>, _: bool) {
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

pub async fn nonce_is_fresh_once<S: TestStore>(store: Arc<S>, _: bool) {
    let key = nonce("client-1", Some("token-1"), NOW, "n0nce");
    assert!(store.insert_nonce(&key, NOW + 300, NOW).await.unwrap(), "first use is fresh");
    assert!(!store.insert_nonce(&key, NOW + 300, NOW).await.unwrap(), "a replay is not");
    assert!(!store.insert_nonce(&key, NOW + 300, NOW + 299).await.unwrap(), "nor later, before expiry");
}

pub async fn nonce_key_components_are_distinct<S: TestStore>(store: Arc<S>, _: bool) {
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
        assert!(store.insert_nonce(k, NOW + 300, NOW).await.unwrap(), "{k:?} is fresh");
    }
    for k in &keys {
        assert!(!store.insert_nonce(k, NOW + 300, NOW).await.unwrap(), "{k:?} is a replay");
    }
}

pub async fn nonce_expiry_follows_now<S: TestStore>(store: Arc<S>, _: bool) {
    let key = nonce("client-1", Some("token-1"), NOW, "n0nce");
    assert!(store.insert_nonce(&key, NOW + 300, NOW).await.unwrap());
    assert!(!store.insert_nonce(&key, NOW + 600, NOW + 299).await.unwrap());
    // Expired at `now`: forgotten, so the key is fresh again (and remembered again).
    assert!(store.insert_nonce(&key, NOW + 600, NOW + 300).await.unwrap());
    assert!(!store.insert_nonce(&key, NOW + 600, NOW + 301).await.unwrap());
}

pub async fn concurrent_nonces_exactly_one_fresh<S: TestStore>(store: Arc<S>, _: bool) {
    for round in 0..3 {
        let key = nonce("client-1", Some("token-1"), NOW, &format!("race-{round}"));
        let fresh = race(&store, |store, _| {
            let key = key.clone();
            async move { store.insert_nonce(&key, NOW + 300, NOW).await.unwrap() }
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
        store.insert_nonce(&key, NOW + 300, NOW).await.unwrap()
    })
    .await;
    assert!(all.into_iter().all(|f| f));
}

fn record(key: &NonceKey) -> Option<NonceToRecord<'_>> {
    Some(NonceToRecord { key, expires_at: NOW + 300, now: NOW })
}

pub async fn lookup_signed_finds_client_and_token<S: TestStore>(store: Arc<S>, _: bool) {
    store.put_client(&client("client-1")).await.unwrap();
    store.create_token_credential(&token_credential("token-1")).await.unwrap();
    let found = store.lookup_signed("client-1", Some("token-1"), None).await.unwrap();
    assert_eq!(found.client.unwrap(), client("client-1"));
    assert_eq!(found.token.unwrap(), token_credential("token-1"));
    assert_eq!(found.nonce, None, "no nonce given, none recorded");
    for (c, t) in [("client-2", Some("token-1")), ("client-1", Some("token-2")), ("client-1", None)] {
        let found = store.lookup_signed(c, t, None).await.unwrap();
        assert_eq!(found.client.is_some(), c == "client-1", "{c} {t:?}");
        assert_eq!(found.token.is_some(), t == Some("token-1"), "{c} {t:?}");
    }
}

/// A store may record the nonce during the look-up; if it does, its answer is
/// `insert_nonce`'s, and `release_nonce` forgets it. If it does not, `insert_nonce` still
/// finds the key fresh.
pub async fn lookup_signed_nonce_is_insert_nonce<S: TestStore>(store: Arc<S>, _: bool) {
    let key = nonce("client-1", Some("token-1"), NOW, "looked-up");
    let first = store.lookup_signed("client-1", Some("token-1"), record(&key)).await.unwrap();
    match first.nonce {
        None => {
            assert!(store.insert_nonce(&key, NOW + 300, NOW).await.unwrap(), "not recorded by the look-up")
        }
        Some(fresh) => {
            assert!(fresh, "first use is fresh");
            let again = store.lookup_signed("client-1", Some("token-1"), record(&key)).await.unwrap();
            assert_eq!(again.nonce, Some(false), "a replay is not");
            assert!(!store.insert_nonce(&key, NOW + 300, NOW).await.unwrap(), "insert_nonce agrees");
            store.release_nonce(&key).await.unwrap();
            let released = store.lookup_signed("client-1", Some("token-1"), record(&key)).await.unwrap();
            assert_eq!(released.nonce, Some(true), "fresh again once released");
            // An expired nonce is fresh again, as with insert_nonce.
            let later = NonceToRecord { key: &key, expires_at: NOW + 900, now: NOW + 300 };
            let expired = store.lookup_signed("client-1", Some("token-1"), Some(later)).await.unwrap();
            assert_eq!(expired.nonce, Some(true), "expired at now");
        }
    }
}

pub async fn concurrent_lookups_exactly_one_fresh<S: TestStore>(store: Arc<S>, _: bool) {
    let key = nonce("client-1", Some("token-1"), NOW, "raced-lookup");
    let fresh = race(&store, |store, _| {
        let key = key.clone();
        async move {
            match store.lookup_signed("client-1", Some("token-1"), record(&key)).await.unwrap().nonce {
                Some(fresh) => fresh,
                None => store.insert_nonce(&key, NOW + 300, NOW).await.unwrap(),
            }
        }
    })
    .await
    .into_iter()
    .filter(|f| *f)
    .count();
    assert_eq!(fresh, 1, "{fresh} of {RACERS} replays accepted");
}

pub async fn secrets_never_in_debug<S: TestStore>(store: Arc<S>, _: bool) {
    store.put_client(&client("client-1")).await.unwrap();
    store.create_temporary_credential(&temporary("temp-1", NOW + 600)).await.unwrap();
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

pub async fn purge_removes_expired_records<S: TestStore>(store: Arc<S>, purges: bool) {
    store.create_temporary_credential(&temporary("old", NOW + 60)).await.unwrap();
    store.create_temporary_credential(&temporary("live", NOW + 600)).await.unwrap();
    let old_nonce = nonce("client-1", None, NOW, "old");
    let live_nonce = nonce("client-1", None, NOW, "live");
    assert!(store.insert_nonce(&old_nonce, NOW + 60, NOW).await.unwrap());
    assert!(store.insert_nonce(&live_nonce, NOW + 600, NOW).await.unwrap());

    let removed = store.purge_expired(NOW + 100).await.unwrap();
    // Live records survive a purge whatever the backend.
    assert!(store.get_temporary_credential("live", NOW + 100).await.unwrap().is_some());
    assert!(!store.insert_nonce(&live_nonce, NOW + 600, NOW + 100).await.unwrap());
    if purges {
        assert_eq!(removed, 2);
        // Gone for good: even a clock set back does not find them.
        assert_eq!(store.get_temporary_credential("old", NOW).await.unwrap(), None);
        assert!(store.insert_nonce(&old_nonce, NOW + 60, NOW).await.unwrap());
    } else {
        // Redis expires keys by itself (TTL) and purges nothing on demand.
        assert_eq!(removed, 0);
    }
}

/// Two store instances over one backend (two pools, two connections): what several provider
/// instances see. Each race is split between them.
pub async fn two_instances_share_one_backend<S: TestStore>(a: Arc<S>, b: Arc<S>) {
    a.create_temporary_credential(&temporary("shared", NOW + 600)).await.unwrap();
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
            (taken.is_some(), store.insert_nonce(&key, NOW + 300, NOW).await.unwrap())
        }
    })
    .await;
    let taken = results.iter().filter(|(t, _)| *t).count();
    let fresh = results.iter().filter(|(_, f)| *f).count();
    assert_eq!(taken, 1, "{taken} instances took one temporary credential");
    assert_eq!(fresh, 1, "{fresh} instances accepted one nonce");
}

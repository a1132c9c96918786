//! The cases of the OAuth 2 authorization server's stores
//! ([`keyward::oauth2::provider::store`]) and of [`OnceStore`], run by
//! `conformance_tests!(oauth2_store: make, purges = BOOL)`.

use std::collections::HashSet;
use std::sync::Arc;

use keyward::common::replay::ReplayEpoch;
use keyward::oauth2::provider::SubjectType;
use keyward::oauth2::provider::store::{
    AccessTokenFormat, AuthSession, ClientAuthMethod, ClientSecret, CodeRecord, ConsentGrant, GrantType,
    OAuth2Store, RegisteredClient, RotateRefresh, StoreError, TakeCode, TokenKind, TokenRecord,
};

use super::{NOW, RACERS, race};

/// What an OAuth 2 store under test implements: every trait of [`OAuth2Store`] (clients,
/// codes, tokens, consent grants and [`OnceStore`](keyward::common::store::OnceStore)).
pub trait OAuth2StoreUnderTest: OAuth2Store + std::fmt::Debug + 'static {}
impl<T: OAuth2Store + std::fmt::Debug + 'static> OAuth2StoreUnderTest for T {}

/// A client with every field set: two secrets (one expiring), keys, free-text URIs.
fn registered(id: &str) -> RegisteredClient {
    let mut c = RegisteredClient::confidential(id, format!("{id}-plain-secret"))
        .with_redirect_uris([
            "https://client.example/cb?x=1&y=2",
            "http://127.0.0.1/cb",
            "myapp://done/\"é\"",
        ])
        .with_scopes(["openid", "read", "write"])
        .with_resources(["https://api.example/", "urn:example:printer"])
        .with_grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode])
        .with_auth_method(ClientAuthMethod::ClientSecretJwt);
    c.client_name = Some("Printer ☃".into());
    c.secrets.push(ClientSecret::plain(format!("{id}-next-secret")).expiring_at(NOW + 86_400));
    c.jwks = Some(serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qY"}]}));
    c.pkce_required = false;
    c.access_token_format = Some(AccessTokenFormat::Jwt);
    c.created_at = NOW;
    c.id_token_signed_response_alg = Some("EdDSA".into());
    c.subject_type = SubjectType::Pairwise;
    c.sector_identifier_uri = Some("https://client.example/sector.json".into());
    c.require_auth_time = true;
    c.default_max_age = Some(600);
    c.post_logout_redirect_uris = vec!["https://client.example/bye?a=b".into()];
    c.backchannel_logout_uri = Some("https://client.example/backchannel".into());
    c.backchannel_logout_session_required = true;
    c.require_pushed_authorization_requests = true;
    c.dpop_bound_access_tokens = true;
    c.registration_token_hash = Some("ab".repeat(32));
    c.metadata.insert("contacts".into(), serde_json::json!(["ops@client.example"]));
    c
}

/// OpenID Connect details with every field set.
fn session() -> AuthSession {
    AuthSession {
        sid: Some("sid-☃-1".into()),
        acr: Some("urn:mace:incommon:iap:silver".into()),
        amr: vec!["pwd".into(), "otp".into()],
        claims: Some(serde_json::json!({"userinfo": {"email": {"essential": true}}})),
        auth_time_required: true,
    }
}

/// A code issued at `NOW`, live 60 s, of family `family-{hash}`.
fn code(hash: &str) -> CodeRecord {
    CodeRecord {
        code_hash: hash.into(),
        client_id: "client-1".into(),
        redirect_uri: Some("https://client.example/cb?x=1&y=2".into()),
        subject: "alice".into(),
        scopes: vec!["openid".into(), "read".into()],
        resources: vec!["https://api.example/".into()],
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        auth_time: Some(NOW - 30),
        nonce: Some("n-0S6_WzA2Mj".into()),
        family_id: format!("family-{hash}"),
        issued_at: NOW,
        expires_at: NOW + 60,
        session: Some(session()),
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
    }
}

/// A token of `family`, issued at `NOW`, for alice at client-1.
fn token(hash: &str, kind: TokenKind, family: &str, expires_at: i64) -> TokenRecord {
    TokenRecord {
        token_hash: hash.into(),
        kind,
        client_id: "client-1".into(),
        subject: Some("alice".into()),
        scopes: vec!["read".into(), "write".into()],
        resources: vec!["https://api.example/".into(), "urn:example:printer".into()],
        family_id: family.into(),
        issued_at: NOW,
        expires_at,
        auth_time: Some(NOW - 30),
        revoked: false,
        session: Some(session()),
        jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
    }
}

fn access(hash: &str, family: &str) -> TokenRecord {
    token(hash, TokenKind::Access, family, NOW + 3600)
}

fn refresh(hash: &str, family: &str) -> TokenRecord {
    token(hash, TokenKind::Refresh, family, NOW + 86_400)
}

fn grant(subject: &str, client: &str, scopes: &[&str], expires_at: Option<i64>) -> ConsentGrant {
    ConsentGrant {
        subject: subject.into(),
        client_id: client.into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        resources: Vec::new(),
        granted_at: NOW,
        expires_at,
    }
}

/// Registered clients are stored whole (every field, both secrets), created once, replaced
/// only when they exist, and deleted.
pub async fn oauth2_clients_round_trip<S: OAuth2StoreUnderTest>(store: Arc<S>, _: bool) {
    assert_eq!(store.get_registered_client("client-1").await.unwrap(), None);
    let full = registered("client-1");
    store.create_registered_client(&full).await.unwrap();
    assert_eq!(store.get_registered_client("client-1").await.unwrap().as_ref(), Some(&full));
    let got = store.get_registered_client("client-1").await.unwrap().unwrap();
    assert!(
        got.secret_matches("client-1-plain-secret", NOW) && got.secret_matches("client-1-next-secret", NOW)
    );
    assert!(!got.secret_matches("client-1-next-secret", NOW + 86_400), "the second secret keeps its expiry");

    // A bare public client, and an id with characters a key must not be confused by.
    let bare = RegisteredClient::public("client:2/é 1");
    store.create_registered_client(&bare).await.unwrap();
    assert_eq!(store.get_registered_client("client:2/é 1").await.unwrap().as_ref(), Some(&bare));

    // The id is the key: a second client with it is refused, the first kept.
    let other = RegisteredClient::public("client-1");
    assert!(matches!(store.create_registered_client(&other).await, Err(StoreError::Duplicate)));
    assert_eq!(store.get_registered_client("client-1").await.unwrap().as_ref(), Some(&full));

    // Update replaces an existing client, and stores nothing for an unknown one.
    let mut changed = full.clone();
    changed.secrets = vec![ClientSecret::hashed(&keyward::common::secret::SecretString::new("generated"))];
    changed.redirect_uris = Vec::new();
    changed.jwks = None;
    changed.client_name = None;
    assert!(store.update_registered_client(&changed).await.unwrap());
    assert_eq!(store.get_registered_client("client-1").await.unwrap().as_ref(), Some(&changed));
    assert!(!store.update_registered_client(&RegisteredClient::public("nobody")).await.unwrap());
    assert_eq!(store.get_registered_client("nobody").await.unwrap(), None, "update does not create");

    assert!(store.delete_registered_client("client-1").await.unwrap());
    assert!(!store.delete_registered_client("client-1").await.unwrap());
    assert_eq!(store.get_registered_client("client-1").await.unwrap(), None);
    assert!(store.get_registered_client("client:2/é 1").await.unwrap().is_some());
    // Free again once deleted.
    store.create_registered_client(&full).await.unwrap();
}

/// A code is read back whole when taken, once: a second take is `Used` (with the family to
/// revoke), an unknown or expired code is `Unknown`, and a hash is created once.
pub async fn code_is_taken_once<S: OAuth2StoreUnderTest>(store: Arc<S>, _: bool) {
    let c = code("code-1");
    store.create_code(&c).await.unwrap();
    let mut other = code("code-1");
    other.client_id = "client-2".into();
    assert!(matches!(store.create_code(&other).await, Err(StoreError::Duplicate)));
    assert_eq!(store.take_code("code-1", NOW + 1).await.unwrap(), TakeCode::Fresh(c.clone()));
    let used = TakeCode::Used { family_id: "family-code-1".into(), client_id: "client-1".into() };
    assert_eq!(store.take_code("code-1", NOW + 2).await.unwrap(), used);
    assert_eq!(store.take_code("code-1", NOW + 59).await.unwrap(), used, "a tombstone until the expiry");
    assert_eq!(store.take_code("never-issued", NOW).await.unwrap(), TakeCode::Unknown);

    // A code with every optional field absent.
    let mut bare = code("code-2");
    (bare.redirect_uri, bare.code_challenge, bare.auth_time, bare.nonce) = (None, None, None, None);
    (bare.session, bare.dpop_jkt) = (None, None);
    (bare.scopes, bare.resources) = (Vec::new(), Vec::new());
    store.create_code(&bare).await.unwrap();
    assert_eq!(store.take_code("code-2", NOW).await.unwrap(), TakeCode::Fresh(bare));

    // Expired by the caller's clock (`expires_at` is exclusive): unknown, taken or not.
    store.create_code(&code("code-3")).await.unwrap();
    assert_eq!(store.take_code("code-3", NOW + 60).await.unwrap(), TakeCode::Unknown);
    assert_eq!(store.take_code("code-1", NOW + 60).await.unwrap(), TakeCode::Unknown);
}

/// Of many concurrent takes of one code, exactly one is `Fresh`; the others are `Used`.
pub async fn concurrent_code_takes_exactly_one_fresh<S: OAuth2StoreUnderTest>(store: Arc<S>, _: bool) {
    for round in 0..3 {
        let hash = format!("raced-code-{round}");
        store.create_code(&code(&hash)).await.unwrap();
        let results = race(&store, |store, _| {
            let hash = hash.clone();
            async move { store.take_code(&hash, NOW).await.unwrap() }
        })
        .await;
        let fresh = results.iter().filter(|r| matches!(r, TakeCode::Fresh(_))).count();
        let used = results.iter().filter(|r| matches!(r, TakeCode::Used { .. })).count();
        assert_eq!((fresh, used), (1, RACERS - 1), "round {round}: {results:?}");
    }
}

/// A used code stays as a tombstone until its expiry and is removed by the purge then
/// (`purges`: whether the backend removes records on demand).
pub async fn used_code_tombstone_is_purged<S: OAuth2StoreUnderTest>(store: Arc<S>, purges: bool) {
    store.create_code(&code("used")).await.unwrap();
    store.create_code(&code("live")).await.unwrap();
    let mut short = code("short");
    short.expires_at = NOW + 10;
    store.create_code(&short).await.unwrap();
    assert!(matches!(store.take_code("used", NOW).await.unwrap(), TakeCode::Fresh(_)));
    let removed = store.purge_expired_codes(NOW + 10).await.unwrap();
    assert!(matches!(store.take_code("used", NOW + 11).await.unwrap(), TakeCode::Used { .. }));
    assert!(matches!(store.take_code("live", NOW + 11).await.unwrap(), TakeCode::Fresh(_)));
    if purges {
        assert_eq!(removed, 1, "only the expired code");
        assert_eq!(store.take_code("short", NOW).await.unwrap(), TakeCode::Unknown, "gone for good");
        assert_eq!(store.purge_expired_codes(NOW + 60).await.unwrap(), 2, "used or not");
        assert_eq!(store.take_code("used", NOW).await.unwrap(), TakeCode::Unknown);
    } else {
        assert_eq!(removed, 0);
    }
}

/// Tokens are created as a pair (both or neither), read back whole by hash, and not
/// returned once expired or revoked.
pub async fn tokens_are_created_as_a_pair_and_looked_up_by_hash<S: OAuth2StoreUnderTest>(
    store: Arc<S>,
    _: bool,
) {
    let (a, r) = (access("access-1", "family-1"), refresh("refresh-1", "family-1"));
    store.create_tokens(&a, Some(&r)).await.unwrap();
    assert_eq!(store.get_token("access-1", NOW).await.unwrap().as_ref(), Some(&a));
    assert_eq!(store.get_token("refresh-1", NOW).await.unwrap().as_ref(), Some(&r));
    assert_eq!(store.get_token("never-issued", NOW).await.unwrap(), None);
    // Expired by the caller's clock (exclusive).
    assert!(store.get_token("access-1", NOW + 3599).await.unwrap().is_some());
    assert_eq!(store.get_token("access-1", NOW + 3600).await.unwrap(), None);
    assert!(store.get_token("refresh-1", NOW + 3600).await.unwrap().is_some());

    // An access token alone (client_credentials): no subject, no scopes.
    let mut alone = access("access-2", "family-2");
    (alone.subject, alone.auth_time, alone.scopes, alone.resources) = (None, None, Vec::new(), Vec::new());
    (alone.session, alone.jkt) = (None, None);
    store.create_tokens(&alone, None).await.unwrap();
    assert_eq!(store.get_token("access-2", NOW).await.unwrap().as_ref(), Some(&alone));

    // A token stored revoked (a placeholder) stays revoked.
    let mut inert = access("inert", "family-2");
    inert.revoked = true;
    store.create_tokens(&inert, None).await.unwrap();
    assert_eq!(store.get_token("inert", NOW).await.unwrap(), None);
    assert!(!store.revoke_token("inert").await.unwrap());

    // A hash is the key: a pair with a taken hash stores neither of its tokens.
    let fresh = access("access-3", "family-3");
    assert!(matches!(
        store.create_tokens(&fresh, Some(&refresh("refresh-1", "family-3"))).await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(store.get_token("access-3", NOW).await.unwrap(), None, "both or neither");
    assert!(matches!(
        store.create_tokens(&access("access-1", "family-3"), Some(&refresh("refresh-3", "family-3"))).await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(store.get_token("refresh-3", NOW).await.unwrap(), None, "both or neither");
    assert_eq!(store.get_token("refresh-1", NOW).await.unwrap().as_ref(), Some(&r), "the first kept");

    // Revoked: not returned; revoking is reported once.
    assert!(store.revoke_token("access-1").await.unwrap());
    assert!(!store.revoke_token("access-1").await.unwrap());
    assert!(!store.revoke_token("never-issued").await.unwrap());
    assert_eq!(store.get_token("access-1", NOW).await.unwrap(), None);
    assert!(store.get_token("refresh-1", NOW).await.unwrap().is_some(), "its pair is not revoked");
}

/// A refresh token rotates once: the old one is revoked and kept as a tombstone, the new
/// pair is stored; the old one coming back is `Reused` (storing nothing); an access token,
/// an unknown or an expired one is `Unknown`. A refresh that keeps the token stores the
/// new access token and leaves the old refresh token active.
pub async fn refresh_token_rotates_once<S: OAuth2StoreUnderTest>(store: Arc<S>, _: bool) {
    let (a1, r1) = (access("a1", "fam"), refresh("r1", "fam"));
    store.create_tokens(&a1, Some(&r1)).await.unwrap();
    let (a2, r2) = (access("a2", "fam"), refresh("r2", "fam"));
    assert_eq!(
        store.rotate_refresh("r1", &a2, Some(&r2), NOW + 10).await.unwrap(),
        RotateRefresh::Rotated(r1)
    );
    assert_eq!(store.get_token("r1", NOW + 10).await.unwrap(), None, "rotated out");
    assert_eq!(store.get_token("a2", NOW + 10).await.unwrap().as_ref(), Some(&a2));
    assert_eq!(store.get_token("r2", NOW + 10).await.unwrap().as_ref(), Some(&r2));
    assert!(store.get_token("a1", NOW + 10).await.unwrap().is_some(), "the old access token lives on");

    // Reuse of the rotated-out token: nothing stored.
    let (a3, r3) = (access("a3", "fam"), refresh("r3", "fam"));
    assert_eq!(
        store.rotate_refresh("r1", &a3, Some(&r3), NOW + 20).await.unwrap(),
        RotateRefresh::Reused { family_id: "fam".into() }
    );
    assert_eq!(store.get_token("a3", NOW + 20).await.unwrap(), None);
    assert_eq!(store.get_token("r3", NOW + 20).await.unwrap(), None);
    // A revoked (not rotated) refresh token is reuse too.
    assert!(store.revoke_token("r2").await.unwrap());
    assert_eq!(
        store.rotate_refresh("r2", &a3, Some(&r3), NOW + 20).await.unwrap(),
        RotateRefresh::Reused { family_id: "fam".into() }
    );

    // Not a refresh token, never issued, or expired: unknown, nothing stored.
    for (old, now) in [("a1", NOW), ("never-issued", NOW), ("r1", NOW + 86_400)] {
        assert_eq!(
            store.rotate_refresh(old, &a3, Some(&r3), now).await.unwrap(),
            RotateRefresh::Unknown,
            "{old}"
        );
    }
    assert_eq!(store.get_token("a3", NOW).await.unwrap(), None);

    // Kept: only a new access token, the refresh token stays active.
    let (a4, r4) = (access("a4", "kept"), refresh("r4", "kept"));
    store.create_tokens(&a4, Some(&r4)).await.unwrap();
    let a5 = access("a5", "kept");
    assert_eq!(store.rotate_refresh("r4", &a5, None, NOW).await.unwrap(), RotateRefresh::Rotated(r4.clone()));
    assert_eq!(store.get_token("a5", NOW).await.unwrap().as_ref(), Some(&a5));
    assert_eq!(store.get_token("r4", NOW).await.unwrap().as_ref(), Some(&r4));

    // A new token whose hash is taken fails the rotation, which then did nothing.
    let (a6, r6) = (access("a6", "kept"), refresh("r4", "kept"));
    assert!(matches!(store.rotate_refresh("r4", &a6, Some(&r6), NOW).await, Err(StoreError::Duplicate)));
    assert_eq!(store.get_token("r4", NOW).await.unwrap().as_ref(), Some(&r4), "still active");
    assert_eq!(store.get_token("a6", NOW).await.unwrap(), None);
}

/// Of many concurrent rotations of one refresh token, exactly one is `Rotated`, the others
/// `Reused`, and only the winner's tokens are stored.
pub async fn concurrent_rotations_exactly_one_rotated<S: OAuth2StoreUnderTest>(store: Arc<S>, _: bool) {
    for round in 0..3 {
        let family = format!("raced-{round}");
        let old = format!("raced-refresh-{round}");
        store
            .create_tokens(&access(&format!("raced-access-{round}"), &family), Some(&refresh(&old, &family)))
            .await
            .unwrap();
        let results = race(&store, |store, i| {
            let (family, old) = (family.clone(), old.clone());
            async move {
                let (a, r) =
                    (access(&format!("{old}-a{i}"), &family), refresh(&format!("{old}-r{i}"), &family));
                store.rotate_refresh(&old, &a, Some(&r), NOW).await.unwrap()
            }
        })
        .await;
        let winners: Vec<usize> =
            (0..RACERS).filter(|&i| matches!(results[i], RotateRefresh::Rotated(_))).collect();
        let reused =
            results.iter().filter(|r| **r == RotateRefresh::Reused { family_id: family.clone() }).count();
        assert_eq!((winners.len(), reused), (1, RACERS - 1), "round {round}: {results:?}");
        for i in 0..RACERS {
            let stored = store.get_token(&format!("{old}-r{i}"), NOW).await.unwrap().is_some();
            assert_eq!(stored, winners.contains(&i), "round {round}: racer {i}'s refresh token");
            let stored = store.get_token(&format!("{old}-a{i}"), NOW).await.unwrap().is_some();
            assert_eq!(stored, winners.contains(&i), "round {round}: racer {i}'s access token");
        }
    }
}

/// `revoke_family` revokes every token of a family (rotated ones included) and no other;
/// `revoke_subject_tokens` every token of one (subject, client).
pub async fn revoke_family_revokes_every_token_of_it<S: OAuth2StoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_tokens(&access("a1", "fam"), Some(&refresh("r1", "fam"))).await.unwrap();
    store.rotate_refresh("r1", &access("a2", "fam"), Some(&refresh("r2", "fam")), NOW).await.unwrap();
    store.create_tokens(&access("a3", "fam"), None).await.unwrap();
    store.create_tokens(&access("b1", "other"), Some(&refresh("s1", "other"))).await.unwrap();
    // a1, a2, r2, a3: r1 was revoked by its rotation.
    assert_eq!(store.revoke_family("fam").await.unwrap(), 4);
    for hash in ["a1", "r1", "a2", "r2", "a3"] {
        assert_eq!(store.get_token(hash, NOW).await.unwrap(), None, "{hash}");
    }
    assert!(store.get_token("b1", NOW).await.unwrap().is_some());
    assert!(store.get_token("s1", NOW).await.unwrap().is_some());
    assert_eq!(store.revoke_family("fam").await.unwrap(), 0, "nothing left to revoke");
    assert_eq!(store.revoke_family("never-issued").await.unwrap(), 0);
    // A revoked family's refresh tokens are reuse, not unknown.
    assert_eq!(
        store.rotate_refresh("r2", &access("a9", "fam"), Some(&refresh("r9", "fam")), NOW).await.unwrap(),
        RotateRefresh::Reused { family_id: "fam".into() }
    );

    // By subject and client.
    let mut bobs = access("bob-a", "bob-fam");
    bobs.subject = Some("bob".into());
    let mut elsewhere = access("alice-c2", "c2-fam");
    elsewhere.client_id = "client-2".into();
    let mut machine = access("machine", "m-fam");
    machine.subject = None;
    for t in [&bobs, &elsewhere, &machine] {
        store.create_tokens(t, None).await.unwrap();
    }
    store
        .create_tokens(&access("alice-a", "alice-fam"), Some(&refresh("alice-r", "alice-fam")))
        .await
        .unwrap();
    // alice at client-1: alice-a, alice-r, b1, s1 (b1 and s1 are alice's too).
    assert_eq!(store.revoke_subject_tokens("alice", "client-1").await.unwrap(), 4);
    for hash in ["alice-a", "alice-r", "b1", "s1"] {
        assert_eq!(store.get_token(hash, NOW).await.unwrap(), None, "{hash}");
    }
    for hash in ["bob-a", "alice-c2", "machine"] {
        assert!(store.get_token(hash, NOW).await.unwrap().is_some(), "{hash}");
    }
    assert_eq!(store.revoke_subject_tokens("alice", "client-1").await.unwrap(), 0);
}

/// `revoke_client_tokens` revokes every token of one client, whatever its subject (none for
/// `client_credentials`) or family, rotated ones included, and no other client's.
pub async fn revoke_client_tokens_revokes_every_token_of_the_client<S: OAuth2StoreUnderTest>(
    store: Arc<S>,
    _: bool,
) {
    store.create_tokens(&access("a1", "fam"), Some(&refresh("r1", "fam"))).await.unwrap();
    store.rotate_refresh("r1", &access("a2", "fam"), Some(&refresh("r2", "fam")), NOW).await.unwrap();
    let mut bobs = access("bob-a", "bob-fam");
    bobs.subject = Some("bob".into());
    let mut machine = access("machine", "m-fam");
    machine.subject = None;
    let mut elsewhere = access("other-a", "other-fam");
    elsewhere.client_id = "client-2".into();
    let mut elsewhere_refresh = refresh("other-r", "other-fam");
    elsewhere_refresh.client_id = "client-2".into();
    store.create_tokens(&bobs, None).await.unwrap();
    store.create_tokens(&machine, None).await.unwrap();
    store.create_tokens(&elsewhere, Some(&elsewhere_refresh)).await.unwrap();
    // a1, a2, r2, bob-a, machine: r1 was revoked by its rotation.
    assert_eq!(store.revoke_client_tokens("client-1").await.unwrap(), 5);
    for hash in ["a1", "r1", "a2", "r2", "bob-a", "machine"] {
        assert_eq!(store.get_token(hash, NOW).await.unwrap(), None, "{hash}");
    }
    for hash in ["other-a", "other-r"] {
        assert!(store.get_token(hash, NOW).await.unwrap().is_some(), "{hash}");
    }
    assert_eq!(store.revoke_client_tokens("client-1").await.unwrap(), 0, "nothing left to revoke");
    assert_eq!(store.revoke_client_tokens("never-registered").await.unwrap(), 0);
    // A revoked client's refresh token is reuse, not unknown.
    assert_eq!(
        store.rotate_refresh("r2", &access("a9", "fam"), Some(&refresh("r9", "fam")), NOW).await.unwrap(),
        RotateRefresh::Reused { family_id: "fam".into() }
    );
}

/// Consent grants are saved, merged with a live one (union of scopes and resources, the
/// new times), replaced when expired, listed by subject, and revoked; revoking the grant's
/// tokens is `revoke_subject_tokens`. Concurrent saves lose no scope.
pub async fn consent_grants_save_merge_list_revoke<S: OAuth2StoreUnderTest>(store: Arc<S>, _: bool) {
    assert_eq!(store.get_grant("alice", "client-1", NOW).await.unwrap(), None);
    let mut first = grant("alice", "client-1", &["openid", "read"], None);
    first.resources = vec!["https://api.example/".into()];
    store.save_grant(&first, NOW).await.unwrap();
    assert_eq!(store.get_grant("alice", "client-1", NOW).await.unwrap().as_ref(), Some(&first));

    let mut second = grant("alice", "client-1", &["read", "write"], Some(NOW + 100));
    second.resources = vec!["urn:example:printer".into(), "https://api.example/".into()];
    second.granted_at = NOW + 5;
    store.save_grant(&second, NOW + 5).await.unwrap();
    let merged = store.get_grant("alice", "client-1", NOW + 5).await.unwrap().unwrap();
    assert_eq!(merged.scopes, ["openid", "read", "write"]);
    assert_eq!(merged.resources, ["https://api.example/", "urn:example:printer"]);
    assert_eq!((merged.granted_at, merged.expires_at), (NOW + 5, Some(NOW + 100)));
    assert_eq!(store.get_grant("alice", "client-1", NOW + 100).await.unwrap(), None, "lapsed");

    // An expired grant is replaced, not merged.
    let third = grant("alice", "client-1", &["profile"], None);
    store.save_grant(&third, NOW + 100).await.unwrap();
    assert_eq!(store.get_grant("alice", "client-1", NOW + 100).await.unwrap().unwrap().scopes, ["profile"]);

    // Listed by subject, live ones only.
    store.save_grant(&grant("alice", "client:2/é", &["read"], Some(NOW + 50)), NOW).await.unwrap();
    store.save_grant(&grant("alice", "client-3", &["read"], Some(NOW + 500)), NOW).await.unwrap();
    store.save_grant(&grant("bob", "client-1", &["read"], None), NOW).await.unwrap();
    let listed = |now: i64| {
        let store = store.clone();
        async move {
            let mut ids: Vec<String> =
                store.list_grants("alice", now).await.unwrap().into_iter().map(|g| g.client_id).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(listed(NOW + 10).await, ["client-1", "client-3", "client:2/é"]);
    assert_eq!(listed(NOW + 60).await, ["client-1", "client-3"]);
    assert_eq!(store.list_grants("carol", NOW).await.unwrap(), Vec::new());

    // Revoked: the grant goes; its tokens go with revoke_subject_tokens.
    store.create_tokens(&access("granted-a", "g"), Some(&refresh("granted-r", "g"))).await.unwrap();
    assert!(store.revoke_grant("alice", "client-1").await.unwrap());
    assert!(!store.revoke_grant("alice", "client-1").await.unwrap());
    assert_eq!(store.revoke_subject_tokens("alice", "client-1").await.unwrap(), 2);
    assert_eq!(store.get_grant("alice", "client-1", NOW + 10).await.unwrap(), None);
    assert_eq!(store.get_token("granted-r", NOW).await.unwrap(), None);
    assert_eq!(listed(NOW + 10).await, ["client-3", "client:2/é"]);
    assert!(store.get_grant("bob", "client-1", NOW).await.unwrap().is_some(), "bob's grant is his");

    // Concurrent saves of one grant, each with a scope of its own: every scope is kept.
    race(&store, |store, i| async move {
        store
            .save_grant(&grant("carol", "client-1", &["common", &format!("scope-{i}")], None), NOW)
            .await
            .unwrap()
    })
    .await;
    let saved = store.get_grant("carol", "client-1", NOW).await.unwrap().unwrap();
    let scopes: HashSet<&str> = saved.scopes.iter().map(String::as_str).collect();
    assert_eq!(scopes.len(), saved.scopes.len(), "no scope twice: {:?}", saved.scopes);
    assert_eq!(scopes.len(), RACERS + 1, "a concurrent save lost a scope: {:?}", saved.scopes);
}

/// The purges remove expired codes, tokens (revoked or not) and grants, and keep live
/// ones (`purges`: whether the backend removes every kind on demand; Redis expires them
/// itself).
pub async fn oauth2_purge_removes_expired_records<S: OAuth2StoreUnderTest>(store: Arc<S>, purges: bool) {
    let mut old_code = code("old");
    old_code.expires_at = NOW + 10;
    store.create_code(&old_code).await.unwrap();
    store.create_code(&code("live")).await.unwrap();
    let old_access = token("old-a", TokenKind::Access, "f", NOW + 10);
    let old_refresh = token("old-r", TokenKind::Refresh, "f", NOW + 20);
    store.create_tokens(&old_access, Some(&old_refresh)).await.unwrap();
    store.revoke_token("old-r").await.unwrap();
    store.create_tokens(&access("live-a", "g"), Some(&refresh("live-r", "g"))).await.unwrap();
    store.save_grant(&grant("alice", "old", &["read"], Some(NOW + 10)), NOW).await.unwrap();
    store.save_grant(&grant("alice", "live", &["read"], Some(NOW + 600)), NOW).await.unwrap();

    let removed = store.purge_expired_oauth2(NOW + 30).await.unwrap();
    assert!(matches!(store.take_code("live", NOW + 30).await.unwrap(), TakeCode::Fresh(_)));
    assert!(store.get_token("live-a", NOW + 30).await.unwrap().is_some());
    assert!(store.get_token("live-r", NOW + 30).await.unwrap().is_some());
    assert!(store.get_grant("alice", "live", NOW + 30).await.unwrap().is_some());
    if purges {
        assert_eq!(removed, 4, "a code, two tokens, a grant");
        // Gone for good: a clock set back does not find them.
        assert_eq!(store.take_code("old", NOW).await.unwrap(), TakeCode::Unknown);
        assert_eq!(store.get_token("old-a", NOW).await.unwrap(), None);
        assert_eq!(
            store.rotate_refresh("old-r", &access("x", "f"), None, NOW).await.unwrap(),
            RotateRefresh::Unknown,
            "the tombstone went at its expiry"
        );
        assert_eq!(store.get_grant("alice", "old", NOW).await.unwrap(), None);
        assert_eq!(store.purge_expired_oauth2(NOW + 30).await.unwrap(), 0);
    } else {
        // A backend that expires records by itself removes none on demand; a split store
        // over one may still purge its other part.
        assert!(removed < 4, "{removed} removed");
    }
}

/// `record_once` is insert-if-absent per (namespace, key), until the value's expiry by the
/// caller's clock; namespaces are apart; every answer carries the store's replay epoch:
/// durable, or a second no later than the store's first call, the same while the store
/// keeps its data.
pub async fn once_values_are_recorded_once<S: OAuth2StoreUnderTest>(store: Arc<S>, _: bool) {
    let first =
        store.record_once("client-assertion", "https://issuer.example jti-1", NOW + 300, NOW).await.unwrap();
    assert!(first.fresh);
    if let ReplayEpoch::Since(epoch) = first.epoch {
        assert!(epoch <= NOW, "the epoch {epoch} is after the store's first call at {NOW}");
    }
    assert!(first.epoch.covers(NOW + 1));
    let again = store
        .record_once("client-assertion", "https://issuer.example jti-1", NOW + 300, NOW + 5)
        .await
        .unwrap();
    assert_eq!((again.fresh, again.epoch), (false, first.epoch));
    // Other namespaces, other keys: fresh.
    for (ns, key) in [
        ("dpop", "https://issuer.example jti-1"),
        ("client-assertion", "https://issuer.example jti-2"),
        ("client-assertion:x", "jti"),
        ("client-assertion", "x:jti"),
        ("logout", "é 1/2"),
    ] {
        assert!(store.record_once(ns, key, NOW + 300, NOW).await.unwrap().fresh, "{ns} {key}");
    }
    assert!(!store.record_once("logout", "é 1/2", NOW + 300, NOW).await.unwrap().fresh);
    // Expired at `now` (exclusive): fresh again, and recorded again.
    assert!(
        !store
            .record_once("client-assertion", "https://issuer.example jti-1", NOW + 900, NOW + 299)
            .await
            .unwrap()
            .fresh
    );
    let later = store
        .record_once("client-assertion", "https://issuer.example jti-1", NOW + 900, NOW + 300)
        .await
        .unwrap();
    assert!(later.fresh, "expired at now");
    assert_eq!(later.epoch, first.epoch, "the epoch stays while the store remembers");
    assert!(
        !store
            .record_once("client-assertion", "https://issuer.example jti-1", NOW + 900, NOW + 301)
            .await
            .unwrap()
            .fresh
    );
}

/// Of many concurrent recordings of one value, exactly one is fresh; distinct values at once
/// are all fresh.
pub async fn concurrent_once_values_exactly_one_fresh<S: OAuth2StoreUnderTest>(store: Arc<S>, _: bool) {
    for round in 0..3 {
        let key = format!("raced-jti-{round}");
        let fresh = race(&store, |store, _| {
            let key = key.clone();
            async move { store.record_once("client-assertion", &key, NOW + 300, NOW).await.unwrap().fresh }
        })
        .await
        .into_iter()
        .filter(|f| *f)
        .count();
        assert_eq!(fresh, 1, "round {round}: {fresh} of {RACERS} replays accepted");
    }
    let all = race(&store, |store, i| async move {
        store.record_once("dpop", &format!("distinct-{i}"), NOW + 300, NOW).await.unwrap().fresh
    })
    .await;
    assert!(all.into_iter().all(|f| f));
}

/// No client secret appears in the `Debug` output of a client or of the store.
pub async fn oauth2_secrets_never_in_debug<S: OAuth2StoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_registered_client(&registered("client-1")).await.unwrap();
    let debug = format!("{:?} {:?}", store.get_registered_client("client-1").await.unwrap(), store);
    for s in ["client-1-plain-secret", "client-1-next-secret"] {
        assert!(!debug.contains(s), "{s} appears in {debug}");
    }
    assert!(debug.contains("client-1"), "Debug still shows identifiers: {debug}");
}

/// Two store instances over one backend (two pools, two connections), as several
/// authorization server instances see it: a code is taken once and a refresh token rotated
/// once across both, and a `jti` is recorded once. Not part of
/// [`conformance_tests!`](crate::conformance_tests); call it from a test of your own.
pub async fn two_instances_share_one_oauth2_backend<S: OAuth2StoreUnderTest>(a: Arc<S>, b: Arc<S>) {
    a.create_registered_client(&registered("shared")).await.unwrap();
    assert!(b.get_registered_client("shared").await.unwrap().is_some(), "b sees what a wrote");
    a.create_code(&code("shared-code")).await.unwrap();
    b.create_tokens(&access("shared-a", "shared"), Some(&refresh("shared-r", "shared"))).await.unwrap();
    // Even tasks go through `a`, odd ones through `b`.
    let results = race(&a, |a, i| {
        let store = if i % 2 == 0 { a } else { b.clone() };
        async move {
            let taken = store.take_code("shared-code", NOW).await.unwrap();
            let (na, nr) =
                (access(&format!("shared-a{i}"), "shared"), refresh(&format!("shared-r{i}"), "shared"));
            let rotated = store.rotate_refresh("shared-r", &na, Some(&nr), NOW).await.unwrap();
            let once = store.record_once("client-assertion", "shared-jti", NOW + 60, NOW).await.unwrap();
            (matches!(taken, TakeCode::Fresh(_)), matches!(rotated, RotateRefresh::Rotated(_)), once.fresh)
        }
    })
    .await;
    let count = |f: fn(&(bool, bool, bool)) -> bool| results.iter().filter(|r| f(r)).count();
    assert_eq!(count(|r| r.0), 1, "instances took one code more than once");
    assert_eq!(count(|r| r.1), 1, "instances rotated one refresh token more than once");
    assert_eq!(count(|r| r.2), 1, "instances accepted one jti more than once");
    assert_eq!(a.revoke_family("shared").await.unwrap(), 3, "the first access token, the winner's pair");
    assert_eq!(b.get_token("shared-a", NOW).await.unwrap(), None);
}

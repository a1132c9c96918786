//! JWT access tokens (RFC 9068) from the OAuth 2.1 server: issued through the token
//! endpoint with a rotating key set, checked by the resource protector, introspected and
//! revoked; key rotation through a `KeyManager` while serving; the verified-token cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::clock::FixedClock;
use keyward::common::encoding::{encode_form, parse_form};
use keyward::common::store::BoxFuture;
use keyward::jose::rotation::{KeyManager, KeyStore, RotationPolicy, SharedKeySet, Tick};
use keyward::jose::{KeySet, SigningAlg};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AccessGrant, AccessTokenFormat, AuthorizationServer, BearerError, CacheConfig, CachingVerifier, Grant,
    GrantType, KeySetAccessTokens, RegisteredClient, ServerConfig, TokenVerifier,
};
use keyward::oauth2::rfc9068;
use keyward_stores::{MemoryKeyStore, MemoryStore};
use serde_json::Value;
use sha2::{Digest, Sha256};

const ISSUER: &str = "https://as.example";
const API: &str = "https://api.example/";
const T0: i64 = 1_800_000_000;
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn jwt_client() -> RegisteredClient {
    let mut c = RegisteredClient::confidential("web", "web-secret")
        .with_redirect_uris(["https://web.example/cb"])
        .with_scopes(["read", "write"])
        .with_resources([API])
        .with_grant_types([
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ]);
    c.access_token_format = Some(AccessTokenFormat::Jwt);
    c
}

struct Fixture {
    server: AuthorizationServer,
    jwt: Arc<KeySetAccessTokens>,
    clock: FixedClock,
}

async fn fixture(keys: Arc<SharedKeySet>) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    store.create_registered_client(&jwt_client()).await.unwrap();
    let clock = FixedClock::new(T0);
    let jwt = Arc::new(KeySetAccessTokens::new(keys, ISSUER));
    let server = AuthorizationServer::builder(store, ServerConfig::new(ISSUER))
        .clock(clock.clone())
        .jwt_access_tokens(jwt.clone())
        .build();
    Fixture { server, jwt, clock }
}

fn post(path: &str, pairs: &[(&str, &str)]) -> http::Request<Vec<u8>> {
    http::Request::post(format!("{ISSUER}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {}", STANDARD.encode("web:web-secret")))
        .body(encode_form(pairs.iter().copied()).into_bytes())
        .unwrap()
}

fn bearer(token: &str) -> http::Request<Vec<u8>> {
    http::Request::get("https://api.example/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Vec::new())
        .unwrap()
}

fn json(r: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(r.body()).unwrap()
}

fn segment(token: &str, i: usize) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

async fn client_credentials(f: &Fixture) -> String {
    let r = f.server.token(&post("/token", &[("grant_type", "client_credentials"), ("scope", "read")])).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    json(&r)["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn code_flow_issues_rfc9068_tokens_that_the_protector_and_a_resource_server_accept() {
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::RS256).unwrap()));
    let f = fixture(keys.clone()).await;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER));
    let query = encode_form([
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", "https://web.example/cb"),
        ("scope", "read write"),
        ("state", "s"),
        ("resource", API),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let request = http::Request::get(format!("{ISSUER}/authorize?{query}")).body(Vec::new()).unwrap();
    let request = f.server.authorization_request(&request).await.unwrap();
    let scopes = request.scopes.clone();
    let r = f.server.grant(&request, Grant::new("alice", scopes).auth_time(T0 - 5)).await.unwrap();
    let location = r.headers()["location"].to_str().unwrap();
    let params = parse_form(location.split_once('?').unwrap().1).unwrap();
    let code = params.iter().find(|(k, _)| k == "code").unwrap().1.clone();

    let r = f
        .server
        .token(&post(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://web.example/cb"),
                ("code_verifier", VERIFIER),
            ],
        ))
        .await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    let body = json(&r);
    let token = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    let header = segment(&token, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], keys.snapshot().key_set().current().kid());
    let claims = segment(&token, 1);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["client_id"], "web");
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["iat"], T0);
    assert_eq!(claims["exp"], T0 + 3600);
    assert_eq!(claims["auth_time"], T0 - 5);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));

    // A separate resource server with only the published JWK set accepts it (RFC 9068 §4)…
    let published = keyward::oidc::jwks::KeySet::from_value(&keys.snapshot().key_set().jwks(T0)).unwrap();
    let seen = rfc9068::verify(&token, &published, ISSUER, API, T0 + 10, 0).unwrap();
    assert_eq!(seen.sub, "alice");
    // …and refuses it for another audience or issuer.
    assert_eq!(
        rfc9068::verify(&token, &published, ISSUER, "https://other.example/", T0, 0),
        Err(rfc9068::AccessTokenError::WrongAudience)
    );
    assert!(matches!(
        rfc9068::verify(&token, &published, "https://evil.example", API, T0, 0),
        Err(rfc9068::AccessTokenError::WrongIssuer(_))
    ));

    // The server's own protector: scopes, audience, expiry.
    let protector = f.server.resource_protector().with_audience(API);
    let grant = protector.validate(&bearer(&token), &["read"]).await.unwrap();
    assert_eq!(
        (grant.subject.as_deref(), grant.client_id.as_str(), grant.expires_at),
        (Some("alice"), "web", T0 + 3600)
    );
    assert_eq!(grant.audience, [API]);
    assert_eq!(protector.validate(&bearer(&token), &["admin"]).await.unwrap_err().status(), 403);
    let other = f.server.resource_protector().with_audience("https://other.example/");
    assert_eq!(other.validate(&bearer(&token), &[]).await.unwrap_err().status(), 401);

    // Introspection knows the JWT (its hash is stored); revocation ends it there.
    let r = f.server.introspect(&post("/introspect", &[("token", &token)])).await;
    assert_eq!(json(&r)["active"], true);
    assert_eq!(json(&r)["sub"], "alice");
    let r = f.server.revoke(&post("/revoke", &[("token", &refresh)])).await;
    assert_eq!(r.status(), 200);
    let r = f.server.introspect(&post("/introspect", &[("token", &token)])).await;
    assert_eq!(json(&r), serde_json::json!({ "active": false }));
    // Local verification does not see the revocation before expiry (documented).
    assert!(protector.validate(&bearer(&token), &[]).await.is_ok());
    f.clock.set(T0 + 3601);
    assert_eq!(protector.validate(&bearer(&token), &[]).await.unwrap_err().status(), 401);
}

#[tokio::test]
async fn client_credentials_token_has_the_client_as_subject_and_the_default_audience() {
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::EdDSA).unwrap()));
    let f = fixture(keys).await;
    let token = client_credentials(&f).await;
    let claims = segment(&token, 1);
    assert_eq!(claims["sub"], "web");
    assert_eq!(claims["client_id"], "web");
    assert_eq!(claims["aud"], ISSUER);
    assert!(claims.get("auth_time").is_none());
    let grant = f.server.resource_protector().validate(&bearer(&token), &["read"]).await.unwrap();
    assert_eq!(grant.audience, [ISSUER]);
    // A token with its signature changed, or of another issuer's keys, is refused.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert!(f.jwt.verify_token(&forged, T0).is_err());
    let stranger = KeySetAccessTokens::new(
        Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::EdDSA).unwrap())),
        ISSUER,
    );
    assert_eq!(stranger.verify_token(&token, T0), Err(rfc9068::AccessTokenError::UnknownKey));
    let elsewhere = KeySetAccessTokens::new(f.jwt.keys().clone(), "https://other-as.example");
    assert!(matches!(elsewhere.verify_token(&token, T0), Err(rfc9068::AccessTokenError::WrongIssuer(_))));
    let audience = KeySetAccessTokens::new(f.jwt.keys().clone(), ISSUER).with_audience(API);
    assert_eq!(audience.verify_token(&token, T0), Err(rfc9068::AccessTokenError::WrongAudience));
}

fn policy() -> RotationPolicy {
    RotationPolicy { alg: SigningAlg::EdDSA, rotation_period: 100, max_token_lifetime: 60 }
}

#[tokio::test]
async fn rotation_while_serving_keeps_old_tokens_until_the_retired_key_is_pruned() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let manager = KeyManager::start(store, "access-tokens", policy(), T0).await.unwrap();
    let f = fixture(manager.keys()).await;
    let first_kid = manager.keys().snapshot().key_set().current().kid().to_owned();
    let next_kid = {
        let snapshot = manager.keys().snapshot();
        let next = snapshot.key_set().keys().find(|(_, s)| *s == keyward::jose::KeyState::Next);
        next.unwrap().0.kid().to_owned()
    };
    // The next key is published before it signs anything.
    let jwks = manager.keys().snapshot().key_set().jwks(T0);
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == next_kid.as_str()));

    let before = client_credentials(&f).await;
    assert_eq!(segment(&before, 0)["kid"], first_kid.as_str());
    assert_eq!(manager.tick(T0 + 50).await.unwrap(), Tick::Unchanged);

    f.clock.set(T0 + 100);
    assert_eq!(manager.tick(T0 + 100).await.unwrap(), Tick::Rotated);
    let after = client_credentials(&f).await;
    assert_eq!(segment(&after, 0)["kid"], next_kid.as_str());
    let protector = f.server.resource_protector();
    // Signed before the rotation: still verifies, as does the new one.
    assert!(protector.validate(&bearer(&before), &[]).await.is_ok());
    assert!(protector.validate(&bearer(&after), &[]).await.is_ok());

    // The retired key is kept until now + max_token_lifetime, then pruned: its tokens are
    // refused (here one the policy's lifetime understated, so it has not expired yet).
    f.clock.set(T0 + 159);
    assert_eq!(manager.tick(T0 + 159).await.unwrap(), Tick::Unchanged);
    assert!(protector.validate(&bearer(&before), &[]).await.is_ok());
    f.clock.set(T0 + 160);
    assert!(protector.validate(&bearer(&before), &[]).await.is_err(), "past its key's publication");
    assert_eq!(manager.tick(T0 + 160).await.unwrap(), Tick::Pruned);
    assert!(!manager.keys().snapshot().key_set().keys().any(|(k, _)| k.kid() == first_kid));
    assert_eq!(protector.validate(&bearer(&before), &[]).await.unwrap_err().status(), 401);
    assert!(protector.validate(&bearer(&after), &[]).await.is_ok());
}

#[tokio::test]
async fn instances_sharing_a_key_store_rotate_once_and_agree() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let a = KeyManager::start(store.clone(), "at", policy(), T0).await.unwrap();
    let b = KeyManager::start(store.clone(), "at", policy(), T0 + 1).await.unwrap();
    let kid = |m: &KeyManager| m.keys().snapshot().key_set().current().kid().to_owned();
    assert_eq!(kid(&a), kid(&b), "the second instance loads the first one's keys");
    // Another name is another key set.
    let c = KeyManager::start(store.clone(), "id-tokens", policy(), T0).await.unwrap();
    assert_ne!(kid(&a), kid(&c));

    let (ta, tb) = tokio::join!(a.tick(T0 + 100), b.tick(T0 + 100));
    let mut outcomes = [ta.unwrap(), tb.unwrap()];
    outcomes.sort_by_key(|t| *t == Tick::Rotated);
    assert_eq!(outcomes, [Tick::Adopted, Tick::Rotated]);
    assert_eq!(kid(&a), kid(&b));
    assert_eq!(store.load_keys("at").await.unwrap().unwrap().version, 2);
    // A token one instance signs, the other verifies.
    let ja = KeySetAccessTokens::new(a.keys(), ISSUER);
    let jb = KeySetAccessTokens::new(b.keys(), ISSUER);
    let f = fixture(a.keys()).await;
    let token = client_credentials(&f).await;
    assert!(jb.verify_token(&token, T0).is_ok());
    assert!(ja.verify_token(&token, T0).is_ok());
    // A later tick of the one that lost sees no change.
    assert_eq!(b.tick(T0 + 101).await.unwrap(), Tick::Unchanged);
}

/// A verifier that counts its calls: tokens `ok-…` are active until `T0 + 30`.
#[derive(Default)]
struct Counting(AtomicUsize);

impl TokenVerifier for Counting {
    fn verify<'a>(&'a self, token: &'a str, _now: i64) -> BoxFuture<'a, Result<AccessGrant, BearerError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if token == "down" {
                return Err(BearerError::Unavailable);
            }
            if !token.starts_with("ok-") {
                return Err(BearerError::InvalidToken);
            }
            Ok(AccessGrant {
                subject: Some(token.into()),
                client_id: "web".into(),
                scopes: vec!["read".into()],
                audience: Vec::new(),
                expires_at: T0 + 30,
                jkt: None,
            })
        })
    }
}

#[tokio::test]
async fn the_cache_is_bounded_and_never_outlives_a_token() {
    let inner = Arc::new(Counting::default());
    let cache = CachingVerifier::new(inner.clone(), CacheConfig::new(16, 60));
    let calls = || inner.0.load(Ordering::SeqCst);

    assert_eq!(cache.verify("ok-a", T0).await.unwrap().subject.as_deref(), Some("ok-a"));
    assert_eq!(cache.verify("ok-a", T0 + 1).await.unwrap().subject.as_deref(), Some("ok-a"));
    assert_eq!(calls(), 1, "the second check is answered from the cache");
    // max_ttl is 60 but the token expires at T0 + 30: the entry ends there.
    assert_eq!(cache.verify("ok-a", T0 + 29).await.unwrap().expires_at, T0 + 30);
    assert_eq!(calls(), 1);
    let _ = cache.verify("ok-a", T0 + 30).await;
    assert_eq!(calls(), 2, "at the token's expiry the inner verifier is asked again");

    // Many distinct tokens: never more than the capacity.
    for i in 0..200 {
        cache.verify(&format!("ok-{i}"), T0).await.unwrap();
        assert!(cache.cache().len() <= 16, "{} entries", cache.cache().len());
    }
    // Invalid tokens are not cached by default; failures of the verifier never are.
    let before = calls();
    for _ in 0..3 {
        assert!(matches!(cache.verify("bad", T0).await, Err(BearerError::InvalidToken)));
        assert!(matches!(cache.verify("down", T0).await, Err(BearerError::Unavailable)));
    }
    assert_eq!(calls(), before + 6);

    // With an inactive TTL, a bad token is remembered that long.
    let inner = Arc::new(Counting::default());
    let cache = CachingVerifier::new(inner.clone(), CacheConfig::new(16, 60).with_inactive_ttl(5));
    for now in [T0, T0 + 4] {
        assert!(matches!(cache.verify("bad", now).await, Err(BearerError::InvalidToken)));
    }
    assert_eq!(inner.0.load(Ordering::SeqCst), 1);
    let _ = cache.verify("bad", T0 + 5).await;
    assert_eq!(inner.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_protector_can_cache_verified_jwts() {
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::EdDSA).unwrap()));
    let f = fixture(keys).await;
    let token = client_credentials(&f).await;
    let protector = f.server.resource_protector().with_cache(CacheConfig::new(100, 60));
    assert!(protector.validate(&bearer(&token), &["read"]).await.is_ok());
    // Cached, and still scope-checked per request.
    assert_eq!(protector.validate(&bearer(&token), &["write"]).await.unwrap_err().status(), 403);
    assert!(protector.validate(&bearer(&token), &["read"]).await.is_ok());
    // Never past the token's expiry.
    f.clock.set(T0 + 3601);
    assert_eq!(protector.validate(&bearer(&token), &[]).await.unwrap_err().status(), 401);
}

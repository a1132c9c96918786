//! The device authorization grant (RFC 8628) over the memory store, with an injected clock:
//! the device authorization endpoint, the verification page's calls (user-code
//! normalisation, the rate limit, approve and deny once), and every answer of the
//! `device_code` grant (`authorization_pending`, `slow_down` with the interval growing,
//! `access_denied`, `expired_token`, tokens once, even under concurrency).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward::common::clock::FixedClock;
use keyward::common::encoding::{encode_form, parse_form};
use keyward::oauth2::provider::device::{
    DEVICE_CODE_GRANT_TYPE, USER_CODE_ALPHABET, format_user_code, normalize_user_code,
};
use keyward::oauth2::provider::device_store::{DeviceCodeStore, DevicePoll};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, DeviceConfig, DeviceVerification, Grant, GrantType, RegisteredClient, ServerConfig,
    VerificationError,
};
use keyward_stores::MemoryStore;
use serde_json::Value;

const ISSUER: &str = "https://as.example";
const T0: i64 = 1_800_000_000;

struct Fixture {
    server: AuthorizationServer,
    store: Arc<MemoryStore>,
    clock: FixedClock,
}

fn tv() -> RegisteredClient {
    RegisteredClient::public("tv")
        .with_scopes(["read", "write"])
        .with_grant_types([GrantType::DeviceCode, GrantType::RefreshToken])
}

/// Also the resource server that introspects the other clients' tokens.
fn box_client() -> RegisteredClient {
    RegisteredClient::confidential("box", "box-secret")
        .with_scopes(["read"])
        .with_grant_types([GrantType::DeviceCode])
        .with_introspection(keyward::oauth2::provider::IntrospectionAccess::AllTokens)
}

fn web() -> RegisteredClient {
    RegisteredClient::confidential("web", "web-secret")
        .with_scopes(["read"])
        .with_grant_types([GrantType::AuthorizationCode])
}

async fn fixture_with(device: bool) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    for c in [tv(), box_client(), web()] {
        store.create_registered_client(&c).await.unwrap();
    }
    let clock = FixedClock::new(T0);
    let mut builder =
        AuthorizationServer::builder(store.clone(), ServerConfig::new(ISSUER)).clock(clock.clone());
    if device {
        builder = builder.device_codes(store.clone(), DeviceConfig::new(ISSUER));
    }
    Fixture { server: builder.build(), store, clock }
}

async fn fixture() -> Fixture {
    fixture_with(true).await
}

fn post(path: &str, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::post(format!("{ISSUER}{path}"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        b = b.header("authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
    }
    b.body(encode_form(pairs.iter().copied()).into_bytes()).unwrap()
}

fn json_body(r: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

fn assert_error(r: &http::Response<Vec<u8>>, status: u16, code: &str) {
    assert_eq!(r.status(), status, "body: {}", String::from_utf8_lossy(r.body()));
    assert_eq!(json_body(r)["error"], code);
    assert_eq!(r.headers()["cache-control"], "no-store");
}

/// Starts a device flow for the public client `tv`; returns (device_code, user_code).
async fn start(f: &Fixture, scope: &str) -> (String, String) {
    let r = f
        .server
        .device_authorization(&post("/device_authorization", &[("client_id", "tv"), ("scope", scope)], None))
        .await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    let body = json_body(&r);
    (body["device_code"].as_str().unwrap().to_owned(), body["user_code"].as_str().unwrap().to_owned())
}

async fn poll(f: &Fixture, device_code: &str) -> http::Response<Vec<u8>> {
    f.server
        .token(&post(
            "/token",
            &[("grant_type", DEVICE_CODE_GRANT_TYPE), ("client_id", "tv"), ("device_code", device_code)],
            None,
        ))
        .await
}

async fn approve(f: &Fixture, user_code: &str, scopes: &[&str]) -> DeviceVerification {
    let v = f.server.verify_user_code(user_code, "203.0.113.7").await.unwrap();
    f.server.approve_device(&v, Grant::new("alice", scopes.iter().copied()).auth_time(T0)).await.unwrap();
    v
}

#[tokio::test]
async fn the_device_authorization_response_has_every_field() {
    let f = fixture().await;
    let r = f
        .server
        .device_authorization(&post("/device_authorization", &[("client_id", "tv"), ("scope", "read")], None))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = json_body(&r);
    let device_code = body["device_code"].as_str().unwrap();
    // 256 bits, base64url without padding.
    assert_eq!(device_code.len(), 43);
    let user_code = body["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code.bytes().filter(|b| *b != b'-').all(|b| USER_CODE_ALPHABET.contains(&b)), "{user_code}");
    assert_eq!(body["verification_uri"], "https://as.example/device");
    let complete = body["verification_uri_complete"].as_str().unwrap();
    let (base, query) = complete.split_once('?').unwrap();
    assert_eq!(base, "https://as.example/device");
    assert_eq!(parse_form(query).unwrap(), vec![("user_code".to_owned(), user_code.to_owned())]);
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["interval"], 5);

    // Only hashes are stored: the raw device code is no key of the store.
    assert_eq!(f.store.poll_device_code(device_code, "tv", T0).await.unwrap(), DevicePoll::Unknown);
    // The user code is found through the server, normalised.
    let v = f.server.verify_user_code(&user_code.to_lowercase(), "k").await.unwrap();
    assert_eq!(v.client_id, "tv");
    assert_eq!(v.scopes, ["read"]);
    assert_eq!(v.user_code, user_code);
    assert_eq!(v.expires_at, T0 + 600);
}

#[tokio::test]
async fn user_codes_spread_over_the_alphabet() {
    let f = fixture().await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let (_, user_code) = start(&f, "").await;
        seen.extend(user_code.bytes().filter(|b| *b != b'-'));
    }
    // 320 draws of 20 letters: every letter shows, and nothing else.
    assert_eq!(seen.len(), USER_CODE_ALPHABET.len());
}

#[test]
fn user_codes_are_normalised() {
    assert_eq!(normalize_user_code("WDJB-MJHT").as_deref(), Some("WDJBMJHT"));
    assert_eq!(normalize_user_code("wdjb mjht").as_deref(), Some("WDJBMJHT"));
    assert_eq!(normalize_user_code(" wdjB-\tMjht \n").as_deref(), Some("WDJBMJHT"));
    assert_eq!(normalize_user_code("wdjbmjht").as_deref(), Some("WDJBMJHT"));
    assert_eq!(normalize_user_code("WDJB-MJH"), None); // too short
    assert_eq!(normalize_user_code("WDJB-MJHTB"), None); // too long
    assert_eq!(normalize_user_code("WDJA-MJHT"), None); // a vowel
    assert_eq!(normalize_user_code("WDJB-MJH0"), None); // a digit
    assert_eq!(normalize_user_code("WDJY-MJHT"), None); // Y is not in the alphabet
    assert_eq!(normalize_user_code("WDJB_MJHT"), None);
    assert_eq!(normalize_user_code("WDJB-MJHṪ"), None);
    assert_eq!(format_user_code("WDJBMJHT"), "WDJB-MJHT");
}

#[tokio::test]
async fn device_authorization_errors() {
    let f = fixture().await;
    // A scope the client may not ask for.
    let r = f
        .server
        .device_authorization(&post(
            "/device_authorization",
            &[("client_id", "tv"), ("scope", "admin")],
            None,
        ))
        .await;
    assert_error(&r, 400, "invalid_scope");
    // A client not allowed the device grant.
    let r =
        f.server.device_authorization(&post("/device_authorization", &[], Some(("web", "web-secret")))).await;
    assert_error(&r, 400, "unauthorized_client");
    // A confidential client authenticates as at the token endpoint.
    let r = f.server.device_authorization(&post("/device_authorization", &[], Some(("box", "wrong")))).await;
    assert_error(&r, 401, "invalid_client");
    assert!(r.headers().contains_key("www-authenticate"));
    let r =
        f.server.device_authorization(&post("/device_authorization", &[("client_id", "box")], None)).await;
    assert_error(&r, 401, "invalid_client");
    let r =
        f.server.device_authorization(&post("/device_authorization", &[], Some(("box", "box-secret")))).await;
    assert_eq!(r.status(), 200);
    // An unknown client.
    let r =
        f.server.device_authorization(&post("/device_authorization", &[("client_id", "nobody")], None)).await;
    assert_error(&r, 401, "invalid_client");
    // A repeated parameter, a GET.
    let r = f
        .server
        .device_authorization(&post(
            "/device_authorization",
            &[("client_id", "tv"), ("scope", "read"), ("scope", "write")],
            None,
        ))
        .await;
    assert_error(&r, 400, "invalid_request");
    let get =
        http::Request::get(format!("{ISSUER}/device_authorization?client_id=tv")).body(Vec::new()).unwrap();
    assert_error(&f.server.device_authorization(&get).await, 405, "invalid_request");
}

#[tokio::test]
async fn without_a_device_store_the_grant_is_unsupported() {
    let f = fixture_with(false).await;
    let r = f.server.device_authorization(&post("/device_authorization", &[("client_id", "tv")], None)).await;
    assert_error(&r, 400, "unsupported_grant_type");
    assert_error(&poll(&f, "whatever").await, 400, "unsupported_grant_type");
    let metadata = f.server.metadata();
    assert_eq!(metadata.device_authorization_endpoint, None);
    assert!(!metadata.grant_types_supported.unwrap().iter().any(|g| g == DEVICE_CODE_GRANT_TYPE));
    assert!(matches!(f.server.verify_user_code("BCDF-GHJK", "k").await, Err(VerificationError::NotEnabled)));

    let f = fixture().await;
    let metadata = f.server.metadata();
    assert_eq!(
        metadata.device_authorization_endpoint.as_deref(),
        Some("https://as.example/device_authorization")
    );
    assert!(metadata.grant_types_supported.unwrap().iter().any(|g| g == DEVICE_CODE_GRANT_TYPE));
}

#[tokio::test]
async fn pending_then_slow_down_with_a_growing_interval() {
    let f = fixture().await;
    let (device_code, _) = start(&f, "read").await;
    assert_error(&poll(&f, &device_code).await, 400, "authorization_pending");
    // Polling again at once: slow down; the interval is now 10 s.
    f.clock.advance(1);
    assert_error(&poll(&f, &device_code).await, 400, "slow_down");
    // 6 s later: sooner than 10 s, slow down again; now 15 s.
    f.clock.advance(6);
    assert_error(&poll(&f, &device_code).await, 400, "slow_down");
    // 14 s later: still too soon for 15 s; now 20 s.
    f.clock.advance(14);
    assert_error(&poll(&f, &device_code).await, 400, "slow_down");
    // 20 s later: at the interval, pending again.
    f.clock.advance(20);
    assert_error(&poll(&f, &device_code).await, 400, "authorization_pending");
    f.clock.advance(20);
    assert_error(&poll(&f, &device_code).await, 400, "authorization_pending");
}

#[tokio::test]
async fn approved_gives_tokens_once() {
    let f = fixture().await;
    let (device_code, user_code) = start(&f, "read write").await;
    assert_error(&poll(&f, &device_code).await, 400, "authorization_pending");
    approve(&f, &user_code, &["read"]).await;
    // Approved: no slow_down even if the device polls at once.
    let r = poll(&f, &device_code).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = json_body(&r);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read");
    assert_eq!(body["expires_in"], 3600);
    let refresh = body["refresh_token"].as_str().expect("tv may refresh");
    // The access token is the user's.
    let info = f
        .server
        .introspect(&post(
            "/introspect",
            &[("token", body["access_token"].as_str().unwrap())],
            Some(("box", "box-secret")),
        ))
        .await;
    let info = json_body(&info);
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["client_id"], "tv");
    // The device code is spent.
    f.clock.advance(30);
    assert_error(&poll(&f, &device_code).await, 400, "invalid_grant");
    // The refresh token works (the public client's rotates).
    let r = f
        .server
        .token(&post(
            "/token",
            &[("grant_type", "refresh_token"), ("client_id", "tv"), ("refresh_token", refresh)],
            None,
        ))
        .await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    // The consent was remembered: a connected application.
    let grants = f.server.list_grants("alice").await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].client_id, "tv");
    assert_eq!(grants[0].scopes, ["read"]);
}

#[tokio::test]
async fn no_refresh_token_without_the_refresh_grant() {
    let f = fixture().await;
    let r = f
        .server
        .device_authorization(&post(
            "/device_authorization",
            &[("scope", "read")],
            Some(("box", "box-secret")),
        ))
        .await;
    let body = json_body(&r);
    let device_code = body["device_code"].as_str().unwrap();
    let v = f.server.verify_user_code(body["user_code"].as_str().unwrap(), "k").await.unwrap();
    f.server.approve_device(&v, Grant::new("bob", ["read"]).once()).await.unwrap();
    // Another client cannot redeem it, and its try does not spend it.
    let r = f
        .server
        .token(&post(
            "/token",
            &[("grant_type", DEVICE_CODE_GRANT_TYPE), ("client_id", "tv"), ("device_code", device_code)],
            None,
        ))
        .await;
    assert_error(&r, 400, "invalid_grant");
    let mine = post(
        "/token",
        &[("grant_type", DEVICE_CODE_GRANT_TYPE), ("device_code", device_code)],
        Some(("box", "box-secret")),
    );
    let r = f.server.token(&mine).await;
    assert_eq!(r.status(), 200);
    let body = json_body(&r);
    assert_eq!(body["scope"], "read");
    assert!(body.get("refresh_token").is_none());
    // `once()`: no consent remembered.
    assert!(f.server.list_grants("bob").await.unwrap().is_empty());
}

#[tokio::test]
async fn denied_gives_access_denied() {
    let f = fixture().await;
    let (device_code, user_code) = start(&f, "read").await;
    let v = f.server.verify_user_code(&user_code, "k").await.unwrap();
    f.server.deny_device(&v).await.unwrap();
    assert_error(&poll(&f, &device_code).await, 400, "access_denied");
    f.clock.advance(1);
    assert_error(&poll(&f, &device_code).await, 400, "access_denied");
    // Decided once: neither approve nor deny again, and the page says so.
    assert!(matches!(
        f.server.approve_device(&v, Grant::new("alice", ["read"])).await,
        Err(VerificationError::AlreadyDecided)
    ));
    assert!(matches!(f.server.deny_device(&v).await, Err(VerificationError::AlreadyDecided)));
    assert!(matches!(
        f.server.verify_user_code(&user_code, "k").await,
        Err(VerificationError::AlreadyDecided)
    ));
}

#[tokio::test]
async fn expired_codes_give_expired_token() {
    let f = fixture().await;
    let (device_code, user_code) = start(&f, "read").await;
    f.clock.advance(599);
    assert_error(&poll(&f, &device_code).await, 400, "authorization_pending");
    f.clock.advance(1);
    assert_error(&poll(&f, &device_code).await, 400, "expired_token");
    assert!(matches!(f.server.verify_user_code(&user_code, "k").await, Err(VerificationError::UnknownCode)));
    // Swept: then an unknown code.
    // The record goes; the attempt counter of the last look-up lives on.
    assert_eq!(f.store.purge_expired_device_codes(T0 + 600).await.unwrap(), 1);
    assert_error(&poll(&f, &device_code).await, 400, "invalid_grant");
}

#[tokio::test]
async fn poll_errors() {
    let f = fixture().await;
    assert_error(&poll(&f, "no-such-code").await, 400, "invalid_grant");
    let r = f
        .server
        .token(&post("/token", &[("grant_type", DEVICE_CODE_GRANT_TYPE), ("client_id", "tv")], None))
        .await;
    assert_error(&r, 400, "invalid_request");
    // A client not allowed the grant.
    let r = f
        .server
        .token(&post(
            "/token",
            &[("grant_type", DEVICE_CODE_GRANT_TYPE), ("device_code", "x")],
            Some(("web", "web-secret")),
        ))
        .await;
    assert_error(&r, 400, "unauthorized_client");
}

#[tokio::test]
async fn approvals_are_checked() {
    let f = fixture().await;
    let (_, user_code) = start(&f, "read").await;
    let v = f.server.verify_user_code(&user_code, "k").await.unwrap();
    // More than asked for.
    assert!(matches!(
        f.server.approve_device(&v, Grant::new("alice", ["read", "write"])).await,
        Err(VerificationError::InvalidScope)
    ));
    // A verification whose code was tampered with.
    let forged = DeviceVerification { user_code: "BCDF-GHJK".into(), ..v.clone() };
    assert!(matches!(
        f.server.approve_device(&forged, Grant::new("alice", ["read"])).await,
        Err(VerificationError::UnknownCode)
    ));
    f.server.approve_device(&v, Grant::new("alice", ["read"])).await.unwrap();
    assert!(matches!(
        f.server.approve_device(&v, Grant::new("mallory", ["read"])).await,
        Err(VerificationError::AlreadyDecided)
    ));
    // Unknown and malformed codes.
    assert!(matches!(f.server.verify_user_code("BCDF-GHJK", "k").await, Err(VerificationError::UnknownCode)));
    assert!(matches!(f.server.verify_user_code("nonsense", "k").await, Err(VerificationError::UnknownCode)));
}

#[tokio::test]
async fn verification_attempts_are_rate_limited_per_key() {
    let f = fixture().await;
    let (_, user_code) = start(&f, "read").await;
    for _ in 0..10 {
        assert!(matches!(
            f.server.verify_user_code("BCDF-GHJK", "198.51.100.1").await,
            Err(VerificationError::UnknownCode)
        ));
    }
    // The 11th attempt in the window is refused before any look-up, even with the right code.
    assert!(matches!(
        f.server.verify_user_code(&user_code, "198.51.100.1").await,
        Err(VerificationError::TooManyAttempts)
    ));
    // Another key is not affected.
    assert!(f.server.verify_user_code(&user_code, "198.51.100.2").await.is_ok());
    // The window ends 600 s after its first attempt.
    f.clock.advance(599);
    assert!(matches!(
        f.server.verify_user_code(&user_code, "198.51.100.1").await,
        Err(VerificationError::TooManyAttempts)
    ));
    f.clock.advance(1);
    let (_, user_code) = start(&f, "read").await;
    assert!(f.server.verify_user_code(&user_code, "198.51.100.1").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_polls_of_an_approved_code_issue_tokens_once() {
    for _ in 0..20 {
        let f = fixture().await;
        let (device_code, user_code) = start(&f, "read").await;
        approve(&f, &user_code, &["read"]).await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let server = f.server.clone();
                let device_code = device_code.clone();
                tokio::spawn(async move {
                    server
                        .token(&post(
                            "/token",
                            &[
                                ("grant_type", DEVICE_CODE_GRANT_TYPE),
                                ("client_id", "tv"),
                                ("device_code", &device_code),
                            ],
                            None,
                        ))
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            let r = t.await.unwrap();
            if r.status() == 200 {
                ok += 1;
            } else {
                assert_error(&r, 400, "invalid_grant");
            }
        }
        assert_eq!(ok, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_decisions_land_once() {
    let f = fixture().await;
    let (device_code, user_code) = start(&f, "read").await;
    let v = f.server.verify_user_code(&user_code, "k").await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let server = f.server.clone();
            let v = v.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    server.approve_device(&v, Grant::new(format!("user{i}"), ["read"]).once()).await
                } else {
                    server.deny_device(&v).await
                }
            })
        })
        .collect();
    let mut decided = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => decided += 1,
            Err(VerificationError::AlreadyDecided) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(decided, 1);
    let r = poll(&f, &device_code).await;
    assert!(r.status() == 200 || json_body(&r)["error"] == "access_denied");
}

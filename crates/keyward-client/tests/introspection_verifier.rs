//! The remote introspection verifier (RFC 7662) of a resource server: against a scripted
//! endpoint, then against Keyward's own authorization server through the sans-IO seam.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward::HttpError;
use keyward::common::clock::FixedClock;
use keyward::common::encoding::{encode_form, parse_form};
use keyward::common::secret::SecretString;
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, BearerError, BearerPlacement, CacheConfig, GrantType, IntrospectionAccess,
    RegisteredClient, ResourceProtector, ServerConfig, TokenVerifier,
};
use keyward_client::oauth2::IntrospectionVerifier;
use serde_json::{Value, json};

const T0: i64 = 1_800_000_000;
const ENDPOINT: &str = "https://as.example/introspect";

/// A scripted introspection endpoint: checks the request, answers by token, counts calls.
#[derive(Default)]
struct Script {
    calls: AtomicUsize,
    seen: Mutex<Vec<Vec<(String, String)>>>,
}

fn answer(token: &str) -> Result<http::Response<Vec<u8>>, HttpError> {
    let body = match token {
        "good" => json!({
            "active": true, "scope": "read write", "client_id": "web", "sub": "alice",
            "aud": ["https://api.example/"], "iss": "https://as.example", "exp": T0 + 30,
            "token_type": "Bearer",
        }),
        "no-exp" => json!({ "active": true, "scope": "read", "client_id": "web" }),
        "bound" => json!({
            "active": true, "scope": "read", "client_id": "web", "exp": T0 + 30,
            "token_type": "DPoP", "cnf": { "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" },
        }),
        "refresh" => {
            json!({ "active": true, "client_id": "web", "token_type": "refresh_token", "exp": T0 + 99 })
        }
        "stale" => json!({ "active": true, "client_id": "web", "exp": T0 - 1 }),
        "foreign" => {
            json!({ "active": true, "client_id": "web", "iss": "https://evil.example", "exp": T0 + 99 })
        }
        "down" => return Err(HttpError::Timeout),
        "garbage" => return Ok(http::Response::new(b"<html>".to_vec())),
        "refused" => {
            let mut r = http::Response::new(br#"{"error":"invalid_client"}"#.to_vec());
            *r.status_mut() = http::StatusCode::UNAUTHORIZED;
            return Ok(r);
        }
        _ => json!({ "active": false }),
    };
    Ok(http::Response::new(serde_json::to_vec(&body).unwrap()))
}

fn scripted() -> (Arc<Script>, IntrospectionVerifier) {
    let script = Arc::new(Script::default());
    let s = script.clone();
    let http = move |request: http::Request<Vec<u8>>| {
        s.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri(), ENDPOINT);
        assert_eq!(
            request.headers()["authorization"],
            format!("Basic {}", STANDARD.encode("rs:rs-secret")).as_str()
        );
        let form = parse_form(std::str::from_utf8(request.body()).unwrap()).unwrap();
        let token = form.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone()).unwrap();
        s.seen.lock().unwrap().push(form);
        let result = answer(&token);
        async move { result }
    };
    let verifier =
        IntrospectionVerifier::new(Arc::new(http), ENDPOINT, "rs", Some(SecretString::new("rs-secret")))
            .unwrap()
            .expect_issuer("https://as.example");
    (script, verifier)
}

#[tokio::test]
async fn active_tokens_are_granted_and_everything_else_refused_or_failed_closed() {
    let (script, v) = scripted();
    let grant = v.verify("good", T0).await.unwrap();
    assert_eq!(grant.subject.as_deref(), Some("alice"));
    assert_eq!(grant.client_id, "web");
    assert_eq!(grant.scopes, ["read", "write"]);
    assert_eq!(grant.audience, ["https://api.example/"]);
    assert_eq!(grant.expires_at, T0 + 30);
    let form = script.seen.lock().unwrap()[0].clone();
    assert!(form.contains(&("token_type_hint".into(), "access_token".into())));
    assert!(!form.iter().any(|(k, _)| k == "client_secret"), "Basic only, the secret not in the body");

    assert_eq!(v.verify("no-exp", T0).await.unwrap().expires_at, i64::MAX);
    assert_eq!(grant.jkt, None);
    // A DPoP-bound token (RFC 9449 §6.2): accepted, with its key for the protector's check.
    let bound = v.verify("bound", T0).await.unwrap();
    assert_eq!(bound.jkt.as_deref(), Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
    for token in ["inactive", "refresh", "stale", "foreign"] {
        assert!(matches!(v.verify(token, T0).await, Err(BearerError::InvalidToken)), "{token}");
    }
    for token in ["down", "garbage", "refused"] {
        assert!(matches!(v.verify(token, T0).await, Err(BearerError::Unavailable)), "{token}");
    }
    // Without a cache, every check is a round trip.
    let before = script.calls.load(Ordering::SeqCst);
    v.verify("good", T0).await.unwrap();
    assert_eq!(script.calls.load(Ordering::SeqCst), before + 1);
    assert!(IntrospectionVerifier::new(Arc::new(answer_fn), "not a url", "rs", None).is_err());
}

fn answer_fn(_: http::Request<Vec<u8>>) -> std::future::Ready<Result<http::Response<Vec<u8>>, HttpError>> {
    std::future::ready(Err(HttpError::Timeout))
}

#[tokio::test]
async fn the_cache_is_bounded_short_and_skips_inactive_answers() {
    let (script, v) = scripted();
    let v = v.with_cache(CacheConfig::new(8, 10));
    let calls = || script.calls.load(Ordering::SeqCst);
    v.verify("good", T0).await.unwrap();
    v.verify("good", T0 + 9).await.unwrap();
    assert_eq!(calls(), 1, "answered from the cache within max_ttl");
    v.verify("good", T0 + 10).await.unwrap();
    assert_eq!(calls(), 2, "max_ttl passed");
    // The token expires at T0 + 30: an entry made at T0 + 25 ends there, not at T0 + 35.
    v.verify("good", T0 + 25).await.unwrap();
    assert!(matches!(v.verify("good", T0 + 30).await, Err(BearerError::InvalidToken)));
    assert_eq!(calls(), 4);
    // Inactive answers and failures are not cached.
    for _ in 0..2 {
        let _ = v.verify("inactive", T0).await;
        let _ = v.verify("down", T0).await;
    }
    assert_eq!(calls(), 8);
    // Bounded.
    for i in 0..50 {
        let _ = v.verify(&format!("x{i}"), T0).await;
    }
    assert!(v.cache().unwrap().len() <= 8);
    // With an inactive TTL, a bad token is remembered that long.
    let (script, v) = scripted();
    let v = v.with_cache(CacheConfig::new(8, 10).with_inactive_ttl(3));
    for now in [T0, T0 + 2] {
        assert!(matches!(v.verify("inactive", now).await, Err(BearerError::InvalidToken)));
    }
    assert_eq!(script.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_resource_server_introspects_at_keyward_s_own_authorization_server() {
    let store = Arc::new(keyward_stores::MemoryStore::new());
    let web = RegisteredClient::confidential("web", "web-secret")
        .with_scopes(["read"])
        .with_grant_types([GrantType::ClientCredentials]);
    // The resource server serves the default audience (the issuer), so it may introspect
    // `web`'s tokens.
    let rs = RegisteredClient::confidential("rs", "rs-secret")
        .with_grant_types([GrantType::ClientCredentials])
        .with_introspection(IntrospectionAccess::Audiences(vec!["https://as.example".into()]));
    for c in [web, rs] {
        store.create_registered_client(&c).await.unwrap();
    }
    let clock = FixedClock::new(T0);
    let server = AuthorizationServer::builder(store, ServerConfig::new("https://as.example"))
        .clock(clock.clone())
        .build();
    let post = |path: &str, who: &str, pairs: &[(&str, &str)]| {
        http::Request::post(format!("https://as.example{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Basic {}", STANDARD.encode(who)))
            .body(encode_form(pairs.iter().copied()).into_bytes())
            .unwrap()
    };
    let r = server.token(&post("/token", "web:web-secret", &[("grant_type", "client_credentials")])).await;
    let token =
        serde_json::from_slice::<Value>(r.body()).unwrap()["access_token"].as_str().unwrap().to_owned();

    // The resource server's HTTP client is the authorization server itself (no network).
    let as_server = server.clone();
    let http = move |request: http::Request<Vec<u8>>| {
        let server = as_server.clone();
        async move { Ok::<_, HttpError>(server.introspect(&request).await) }
    };
    let verifier = IntrospectionVerifier::new(
        Arc::new(http),
        "https://as.example/introspect",
        "rs",
        Some(SecretString::new("rs-secret")),
    )
    .unwrap()
    .expect_issuer("https://as.example")
    .with_cache(CacheConfig::new(100, 5));
    let protector =
        ResourceProtector::new(Arc::new(verifier), Arc::new(clock.clone()), BearerPlacement::default());
    let bearer = |t: &str| {
        http::Request::get("https://api.example/")
            .header("authorization", format!("Bearer {t}"))
            .body(Vec::new())
            .unwrap()
    };
    let grant = protector.validate(&bearer(&token), &["read"]).await.unwrap();
    assert_eq!(grant.client_id, "web");
    assert_eq!(protector.validate(&bearer(&token), &["write"]).await.unwrap_err().status(), 403);
    assert_eq!(protector.validate(&bearer("unknown"), &[]).await.unwrap_err().status(), 401);

    // Revoked at the authorization server: seen once the cache entry (5 s) has expired.
    let r = server.revoke(&post("/revoke", "web:web-secret", &[("token", &token)])).await;
    assert_eq!(r.status(), 200);
    assert!(protector.validate(&bearer(&token), &[]).await.is_ok(), "still cached");
    clock.advance(5);
    assert_eq!(protector.validate(&bearer(&token), &[]).await.unwrap_err().status(), 401);
}

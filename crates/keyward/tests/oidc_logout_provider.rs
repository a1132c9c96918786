//! The OpenID Provider's logout: the end-session endpoint (RP-Initiated Logout 1.0 §2–§4)
//! and back-channel logout tokens (Back-Channel Logout 1.0 §2.4–§2.5), checked claim by
//! claim and validated by Keyward's own relying-party side (the core validator and
//! `keyward-client`'s `BackchannelReceiver`, fed by the provider's discovery and JWK set).

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use keyward::common::clock::FixedClock;
use keyward::common::encoding::parse_form;
use keyward::common::secret::SecretString;
use keyward::jose::rotation::SharedKeySet;
use keyward::jose::{KeySet, SigningAlg};
use keyward::oauth2::provider::store::{ConsentGrant, ConsentStore, OAuth2ClientStore};
use keyward::oauth2::provider::{AuthorizationServer, RegisteredClient, ServerConfig, SubjectType};
use keyward::oidc::Algorithm;
use keyward::oidc::core::IdTokenValidator;
use keyward::oidc::logout::{LogoutTokenError, LogoutTokenValidator};
use keyward::oidc::provider::backchannel::{LOGOUT_TOKEN_LIFETIME, LogoutDelivery};
use keyward::oidc::provider::end_session::{EndSessionError, LogoutRequest};
use keyward::oidc::provider::{NoClaims, OpenIdConfig, OpenIdProvider};
use keyward::{HttpClient, HttpError};
use keyward_stores::{MemoryStore, StoreAdmin};
use serde_json::{Map, Value, json};

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://op.example";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

struct Op {
    server: AuthorizationServer,
    store: Arc<MemoryStore>,
    rsa: Arc<SharedKeySet>,
    clock: FixedClock,
}

fn client(id: &str, host: &str) -> RegisteredClient {
    let mut c = RegisteredClient::confidential(id, "s3cret")
        .with_redirect_uris([format!("https://{host}/cb")])
        .with_scopes(["openid"]);
    c.post_logout_redirect_uris = vec![format!("https://{host}/bye"), format!("https://{host}/bye?lang=en")];
    c
}

/// An OpenID Provider with four clients, and alice's grants to three of them:
/// - `web`: public subjects, RS256, a back-channel URI that needs `sid`;
/// - `pw`: pairwise subjects, ES256, a back-channel URI that does not need `sid`;
/// - `quiet`: no back-channel URI;
/// - `other`: a back-channel URI, but alice granted it nothing.
async fn op() -> Op {
    let store = Arc::new(MemoryStore::new());
    let rsa = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::RS256).unwrap()));
    let es = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::ES256).unwrap()));
    let config = OpenIdConfig::new(ISS)
        .with_end_session_endpoint(format!("{ISS}/logout"))
        .with_backchannel_logout()
        .with_pairwise_salt(SecretString::new("pepper"));
    let openid = OpenIdProvider::new(config, rsa.clone(), Arc::new(NoClaims)).with_keys(es);
    let clock = FixedClock::new(NOW);
    let server = AuthorizationServer::builder(store.clone(), ServerConfig::new(ISS))
        .clock(clock.clone())
        .openid(openid)
        .build();

    let mut web = client("web", "web.example");
    web.backchannel_logout_uri = Some("https://web.example/backchannel".into());
    web.backchannel_logout_session_required = true;
    let mut pw = client("pw", "pw.example");
    pw.subject_type = SubjectType::Pairwise;
    pw.id_token_signed_response_alg = Some("ES256".into());
    pw.backchannel_logout_uri = Some("https://pw.example/backchannel".into());
    let quiet = client("quiet", "quiet.example");
    let mut other = client("other", "other.example");
    other.backchannel_logout_uri = Some("https://other.example/backchannel".into());
    for c in [&web, &pw, &quiet, &other] {
        store.create_registered_client(c).await.unwrap();
    }
    for id in ["web", "pw", "quiet"] {
        let grant = ConsentGrant {
            subject: "alice".into(),
            client_id: id.into(),
            scopes: vec!["openid".into()],
            resources: vec![],
            granted_at: NOW - 100,
            expires_at: None,
        };
        store.save_grant(&grant, NOW - 100).await.unwrap();
    }
    Op { server, store, rsa, clock }
}

impl Op {
    /// An ID token as the server signs them, for `aud`, with `sub`, `sid`, and any changes.
    fn id_token(&self, aud: &str, sub: &str, change: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut claims = json!({"iss": ISS, "sub": sub, "aud": aud, "iat": NOW - 60, "exp": NOW + 3600,
            "sid": "sid-1", "nonce": "n"});
        change(claims.as_object_mut().unwrap());
        self.rsa.snapshot().key_set().sign(None, &claims).unwrap()
    }

    async fn client(&self, id: &str) -> RegisteredClient {
        self.store.get_registered_client(id).await.unwrap().unwrap()
    }

    async fn end(&self, query: &[(&str, &str)]) -> Result<LogoutRequest, EndSessionError> {
        let q = keyward::common::encoding::encode_form(query.iter().copied());
        let request = http::Request::get(format!("{ISS}/logout?{q}")).body(Vec::new()).unwrap();
        self.server.end_session_request(&request).await
    }

    fn verifier(&self) -> keyward::oidc::jwks::KeySet {
        let jwks: Value = serde_json::from_slice(self.server.jwks_response().body()).unwrap();
        keyward::oidc::jwks::KeySet::from_value(&jwks).unwrap()
    }
}

fn header_and_claims(token: &str) -> (Value, Map<String, Value>) {
    let part = |i: usize| {
        let seg = token.split('.').nth(i).unwrap();
        serde_json::from_slice::<Value>(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(seg).unwrap(),
        )
        .unwrap()
    };
    let Value::Object(claims) = part(1) else { panic!("claims are an object") };
    (part(0), claims)
}

// ---- the end-session endpoint ----

#[tokio::test]
async fn a_good_hint_identifies_the_client_and_allows_its_registered_redirect_with_state() {
    let op = op().await;
    let hint = op.id_token("web", "alice", |_| {});
    let request = op
        .end(&[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", "https://web.example/bye?lang=en"),
            ("state", "st 1"),
            ("ui_locales", "fr en"),
            ("logout_hint", "alice@example.com"),
        ])
        .await
        .unwrap();
    assert_eq!(request.client_id.as_deref(), Some("web"));
    assert_eq!(request.hint_subject.as_deref(), Some("alice"));
    assert_eq!(request.hint_sid.as_deref(), Some("sid-1"));
    assert_eq!(request.ui_locales.as_deref(), Some("fr en"));
    assert_eq!(request.logout_hint.as_deref(), Some("alice@example.com"));
    assert!(!op.server.logout_confirmation_needed(&request, Some("alice")).await.unwrap());
    assert!(op.server.logout_confirmation_needed(&request, Some("bob")).await.unwrap(), "another user");
    assert!(!op.server.logout_confirmation_needed(&request, None).await.unwrap(), "nobody to log out");

    // It survives the application's keeping (serde), and the answer echoes `state`.
    let kept: LogoutRequest = serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
    assert_eq!(kept, request);
    let response = op.server.end_session_response(&kept).await;
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "https://web.example/bye?lang=en&state=st%201");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn the_request_may_be_a_post_form_and_an_expired_hint_is_fine() {
    let op = op().await;
    let hint = op.id_token("web", "alice", |c| {
        c.insert("iat".into(), json!(NOW - 90_000));
        c.insert("exp".into(), json!(NOW - 86_400));
    });
    let body = keyward::common::encoding::encode_form([
        ("id_token_hint", hint.as_str()),
        ("client_id", "web"),
        ("post_logout_redirect_uri", "https://web.example/bye"),
    ]);
    let request = http::Request::post(format!("{ISS}/logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.into_bytes())
        .unwrap();
    let request = op.server.end_session_request(&request).await.unwrap();
    assert_eq!(request.hint_subject.as_deref(), Some("alice"));
    let response = op.server.end_session_response(&request).await;
    assert_eq!(response.headers()["location"], "https://web.example/bye", "no state, none added");
}

#[tokio::test]
async fn a_forged_or_foreign_hint_is_refused() {
    let op = op().await;
    let claims = json!({"iss": ISS, "sub": "alice", "aud": "web", "iat": NOW, "exp": NOW + 60});
    let forged = KeySet::generate(SigningAlg::RS256).unwrap().sign(None, &claims).unwrap();
    let foreign = op.id_token("web", "alice", |c| {
        c.insert("iss".into(), json!("https://evil.example"));
    });
    let mut tampered = op.id_token("web", "alice", |_| {});
    let claims_part = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&json!({"iss": ISS, "sub": "bob", "aud": "web"})).unwrap());
    let parts: Vec<&str> = tampered.split('.').collect();
    tampered = format!("{}.{claims_part}.{}", parts[0], parts[2]);
    for hint in [forged.as_str(), foreign.as_str(), tampered.as_str(), "not-a-jwt", "a.b.c"] {
        let err =
            op.end(&[("id_token_hint", hint), ("post_logout_redirect_uri", "https://web.example/bye")]).await;
        assert!(matches!(err, Err(EndSessionError::InvalidHint)), "{hint}: {err:?}");
        let response = err.unwrap_err().to_response();
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("location").is_none(), "never redirected");
    }
}

#[tokio::test]
async fn client_id_must_match_the_hint() {
    let op = op().await;
    let hint = op.id_token("web", "alice", |_| {});
    let err = op.end(&[("id_token_hint", &hint), ("client_id", "pw")]).await.unwrap_err();
    assert!(matches!(err, EndSessionError::ClientMismatch), "{err:?}");
    assert!(op.end(&[("id_token_hint", &hint), ("client_id", "web")]).await.is_ok());
}

#[tokio::test]
async fn an_unregistered_post_logout_uri_is_refused_and_never_redirected_to() {
    let op = op().await;
    let hint = op.id_token("web", "alice", |_| {});
    for uri in [
        "https://evil.example/bye",
        "https://web.example/bye/",        // not an exact match
        "https://web.example/bye?lang=fr", // another query
        "https://pw.example/bye",          // another client's
        "https://web.example/cb",          // a redirect URI, not a post-logout one
    ] {
        let err =
            op.end(&[("id_token_hint", &hint), ("post_logout_redirect_uri", uri), ("state", "s")]).await;
        let err = err.unwrap_err();
        assert!(matches!(err, EndSessionError::UnregisteredRedirect), "{uri}: {err:?}");
        let response = err.to_response();
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("location").is_none());
        assert!(!String::from_utf8(response.into_body()).unwrap().contains(uri));
    }
    // A URI needs a client to check it against.
    let err = op.end(&[("post_logout_redirect_uri", "https://web.example/bye")]).await.unwrap_err();
    assert!(matches!(err, EndSessionError::RedirectWithoutClient), "{err:?}");
    let err = op.end(&[("client_id", "nobody"), ("post_logout_redirect_uri", "https://x/bye")]).await;
    assert!(matches!(err, Err(EndSessionError::UnknownClient)), "{err:?}");
    // With client_id alone, a registered URI is fine.
    let request =
        op.end(&[("client_id", "web"), ("post_logout_redirect_uri", "https://web.example/bye")]).await;
    assert_eq!(request.unwrap().client_id.as_deref(), Some("web"));
}

#[tokio::test]
async fn without_a_hint_the_user_is_asked_and_without_a_uri_the_answer_is_a_page() {
    let op = op().await;
    let request = op.end(&[("client_id", "web"), ("state", "s")]).await.unwrap();
    assert!(op.server.logout_confirmation_needed(&request, Some("alice")).await.unwrap());
    let response = op.server.end_session_response(&request).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    assert!(String::from_utf8(response.into_body()).unwrap().contains("signed out"));

    let request = op.end(&[]).await.unwrap();
    assert_eq!(request.client_id, None);
    assert!(op.server.logout_confirmation_needed(&request, Some("alice")).await.unwrap());
}

#[tokio::test]
async fn a_pairwise_hint_matches_the_signed_in_user_through_the_clients_sector() {
    let op = op().await;
    let pw = op.client("pw").await;
    let sub = op.server.subject_for(&pw, "alice").unwrap();
    assert_ne!(sub, "alice");
    let hint = op.id_token("pw", &sub, |_| {});
    let request = op.end(&[("id_token_hint", &hint)]).await.unwrap();
    assert_eq!(request.client_id.as_deref(), Some("pw"));
    assert!(!op.server.logout_confirmation_needed(&request, Some("alice")).await.unwrap());
    assert!(op.server.logout_confirmation_needed(&request, Some("bob")).await.unwrap());
}

#[tokio::test]
async fn malformed_requests_are_refused() {
    let op = op().await;
    let request = http::Request::get(format!("{ISS}/logout?state=a&state=b")).body(Vec::new()).unwrap();
    let err = op.server.end_session_request(&request).await.unwrap_err();
    assert!(matches!(err, EndSessionError::InvalidRequest(_)), "{err:?}");
    let request = http::Request::put(format!("{ISS}/logout")).body(Vec::new()).unwrap();
    let err = op.server.end_session_request(&request).await.unwrap_err();
    assert_eq!(err.to_response().status(), 405);
    let request = http::Request::post(format!("{ISS}/logout"))
        .header("content-type", "application/json")
        .body(b"{}".to_vec())
        .unwrap();
    let err = op.server.end_session_request(&request).await.unwrap_err();
    assert!(matches!(err, EndSessionError::InvalidRequest(_)), "{err:?}");
    let request = http::Request::get(format!("{ISS}/logout?state=%FF")).body(Vec::new()).unwrap();
    assert!(op.server.end_session_request(&request).await.is_err());
}

#[tokio::test]
async fn a_kept_request_is_not_redirected_once_its_uri_is_no_longer_registered() {
    let op = op().await;
    let request =
        op.end(&[("client_id", "web"), ("post_logout_redirect_uri", "https://web.example/bye")]).await;
    let mut request = request.unwrap();
    // Tampered with while kept outside the server.
    request.post_logout_redirect_uri = Some("https://evil.example/".into());
    let response = op.server.end_session_response(&request).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn discovery_announces_logout() {
    let op = op().await;
    let doc = op.server.openid_configuration();
    assert_eq!(doc["end_session_endpoint"], format!("{ISS}/logout"));
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);

    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::EdDSA).unwrap()));
    let plain = AuthorizationServer::builder(Arc::new(MemoryStore::new()), ServerConfig::new(ISS))
        .openid(OpenIdProvider::new(OpenIdConfig::new(ISS), keys, Arc::new(NoClaims)))
        .build();
    let doc = plain.openid_configuration();
    for member in
        ["end_session_endpoint", "backchannel_logout_supported", "backchannel_logout_session_supported"]
    {
        assert!(doc.get(member).is_none(), "{member} only when on");
    }
}

// ---- back-channel logout tokens ----

fn by_client(deliveries: &[LogoutDelivery], id: &str) -> (Value, Map<String, Value>) {
    let d = deliveries.iter().find(|d| d.client_id == id).unwrap_or_else(|| panic!("no delivery to {id}"));
    header_and_claims(d.logout_token().secret())
}

#[tokio::test]
async fn each_granted_client_with_a_uri_gets_a_logout_token_with_exact_claims() {
    let op = op().await;
    let deliveries = op.server.backchannel_logout("alice", Some("sid-1")).await.unwrap();
    let mut ids: Vec<&str> = deliveries.iter().map(|d| d.client_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["pw", "web"], "quiet has no URI, other has no grant");

    let web = deliveries.iter().find(|d| d.client_id == "web").unwrap();
    assert_eq!(web.uri, "https://web.example/backchannel");
    assert_eq!(web.expires_at, NOW + LOGOUT_TOKEN_LIFETIME);
    let request = web.request().unwrap();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(request.uri(), "https://web.example/backchannel");
    assert_eq!(request.headers()["content-type"], "application/x-www-form-urlencoded");
    let form = parse_form(std::str::from_utf8(request.body()).unwrap()).unwrap();
    assert_eq!(form, [("logout_token".to_owned(), web.logout_token().secret().to_owned())]);

    let (header, claims) = by_client(&deliveries, "web");
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], op.rsa.snapshot().key_set().current().kid());
    let jti = claims["jti"].as_str().unwrap().to_owned();
    assert_eq!(jti, web.jti);
    assert!(jti.len() >= 32, "a random jti: {jti}");
    assert_eq!(
        Value::Object(claims),
        json!({"iss": ISS, "aud": "web", "sub": "alice", "sid": "sid-1", "iat": NOW,
            "exp": NOW + LOGOUT_TOKEN_LIFETIME, "jti": jti, "events": {EVENT: {}}})
    );

    // The pairwise client sees its own `sub`, signed with its algorithm.
    let (header, claims) = by_client(&deliveries, "pw");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["sub"], op.server.subject_for(&op.client("pw").await, "alice").unwrap());
    assert_eq!(claims["aud"], "pw");
    assert_eq!(claims["sid"], "sid-1");
    assert!(!claims.contains_key("nonce"));

    // Every jti is its own.
    let again = op.server.backchannel_logout("alice", Some("sid-1")).await.unwrap();
    assert!(again.iter().all(|a| deliveries.iter().all(|d| d.jti != a.jti)));
    assert!(!format!("{deliveries:?}").contains(web.logout_token().secret()), "tokens stay out of Debug");
}

#[tokio::test]
async fn without_a_sid_the_token_has_only_sub_and_a_client_that_needs_sid_is_left_out() {
    let op = op().await;
    let deliveries = op.server.backchannel_logout("alice", None).await.unwrap();
    let ids: Vec<&str> = deliveries.iter().map(|d| d.client_id.as_str()).collect();
    assert_eq!(ids, ["pw"], "web registered backchannel_logout_session_required");
    let (_, claims) = by_client(&deliveries, "pw");
    assert!(!claims.contains_key("sid") && claims.contains_key("sub"));
    assert!(op.server.backchannel_logout("nobody", Some("s")).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_logout_tokens_validate_with_keywards_own_validator() {
    let op = op().await;
    let deliveries = op.server.backchannel_logout("alice", Some("sid-1")).await.unwrap();
    let keys = op.verifier();
    for (id, alg) in [("web", Algorithm::RS256), ("pw", Algorithm::ES256)] {
        let d = deliveries.iter().find(|d| d.client_id == id).unwrap();
        let mut id_token = IdTokenValidator::new(ISS, id);
        id_token.algorithms = vec![alg];
        let validator = LogoutTokenValidator::new(id_token);
        let claims = validator.validate(d.logout_token().secret(), &keys, NOW + 1).unwrap();
        assert_eq!(claims.sid.as_deref(), Some("sid-1"));
        assert_eq!(claims.jti, d.jti);
        // Not for another client, and not after it expires.
        let mut other = IdTokenValidator::new(ISS, "quiet");
        other.algorithms = vec![alg];
        assert!(LogoutTokenValidator::new(other).validate(d.logout_token().secret(), &keys, NOW).is_err());
        let late = validator.validate(d.logout_token().secret(), &keys, NOW + LOGOUT_TOKEN_LIFETIME + 3_600);
        assert!(matches!(late, Err(LogoutTokenError::Jwt(_))), "{late:?}");
    }
    // An ID token is no logout token (it has a nonce and no event).
    let id_token = op.id_token("web", "alice", |_| {});
    let validator = LogoutTokenValidator::new(IdTokenValidator::new(ISS, "web"));
    assert!(matches!(validator.validate(&id_token, &keys, NOW), Err(LogoutTokenError::Nonce)));
}

#[tokio::test]
async fn the_logout_token_is_received_by_keywards_backchannel_receiver() {
    use keyward_client::registry::{AppConfig, BackchannelReceiver, ClientKwargs, OAuth};

    let op = op().await;
    let server = op.server.clone();
    let http: Arc<dyn HttpClient> = Arc::new(move |req: http::Request<Vec<u8>>| {
        let response = match req.uri().path() {
            "/.well-known/openid-configuration" => server.openid_configuration_response(),
            "/jwks" => server.jwks_response(),
            other => panic!("unexpected request to {other}"),
        };
        async move { Ok::<_, HttpError>(response) }
    });
    let oauth = OAuth::builder().http_client(http).clock(Arc::new(op.clock.clone())).build();
    oauth
        .register(
            "op",
            AppConfig {
                client_id: Some("web".into()),
                client_secret: Some(SecretString::new("s3cret")),
                server_metadata_url: Some(format!("{ISS}/.well-known/openid-configuration")),
                client_kwargs: ClientKwargs { scope: Some("openid".into()), ..ClientKwargs::default() },
                ..AppConfig::default()
            },
        )
        .unwrap();
    let replay = Arc::new(MemoryStore::new());
    replay.purge_expired(NOW - 60).await.unwrap();
    type Calls = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let hook = move |app: String, sub: Option<String>, sid: Option<String>| {
        seen.lock().unwrap().push((app, sub, sid));
        async move { Ok(()) }
    };
    let receiver = BackchannelReceiver::new(oauth, replay, hook);

    let deliveries = op.server.backchannel_logout("alice", Some("sid-1")).await.unwrap();
    let web = deliveries.into_iter().find(|d| d.client_id == "web").unwrap();
    op.clock.advance(5);
    let response = receiver.handle("op", &web.request().unwrap()).await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(response.body()));
    assert_eq!(
        *calls.lock().unwrap(),
        [("op".to_owned(), Some("alice".to_owned()), Some("sid-1".to_owned()))]
    );
    // The same delivery again is a replay.
    let response = receiver.handle("op", &web.request().unwrap()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(calls.lock().unwrap().len(), 1);
}

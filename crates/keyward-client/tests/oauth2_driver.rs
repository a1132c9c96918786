//! The OAuth 2.0 / OpenID Connect driver against a closure `HttpClient` that plays the
//! provider: exact request bytes, every grant and auth method, single-flight refresh, the
//! device poll loop, the discovery and JWKS caches, hooks, and the error paths.

use keyward::common::clock::FixedClock;
use keyward::common::random::RandomSource;
use keyward::common::secret::SecretString;
use keyward::oauth2::FormRequest;
use keyward::oauth2::rfc6749::AuthContext;
use keyward::oidc::IdTokenError;
use keyward::{HttpClient, HttpError};
use keyward_client::oauth2::{
    ChallengeMethod, ClientAuthMethod, ClientError, CodeExchange, CodeVerifier, Hook, OAuth2Client,
    OAuth2Config, OAuth2Session, OldToken, Token, TokenPlacement,
};
use keyward_testkit::jose::{TestSigner, jwks};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ISS: &str = "https://op.example";
const NOW: i64 = 1_700_000_000;

type Req = http::Request<Vec<u8>>;
type Log = Arc<Mutex<Vec<Req>>>;

/// A provider played by a routing function; every request is logged.
fn provider(route: impl Fn(&Req) -> (u16, String) + Send + Sync + 'static) -> (Arc<dyn HttpClient>, Log) {
    let log: Log = Arc::default();
    let log2 = log.clone();
    let client = move |req: Req| {
        let (status, body) = route(&req);
        let slow = req.uri().path() == "/token" && body.contains("slow-refresh");
        log2.lock().unwrap().push(req);
        async move {
            if slow {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok::<_, HttpError>(
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(body.into_bytes())
                    .unwrap(),
            )
        }
    };
    (Arc::new(client), log)
}

fn body(r: &Req) -> &str {
    std::str::from_utf8(r.body()).unwrap()
}

fn form(r: &Req) -> Vec<(String, String)> {
    keyward::common::encoding::parse_form(body(r)).unwrap()
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// Deterministic randomness: bytes 0, 1, 2, … so state, nonce and verifier are fixed.
struct Counting(AtomicUsize);

impl RandomSource for Counting {
    fn fill(&self, buf: &mut [u8]) {
        for b in buf {
            *b = (self.0.fetch_add(1, Ordering::SeqCst) % 62) as u8;
        }
    }
}

fn discovery(extra: Value) -> String {
    let mut doc = json!({
        "issuer": ISS,
        "authorization_endpoint": "https://op.example/auth",
        "token_endpoint": "https://op.example/token",
        "jwks_uri": "https://op.example/jwks",
        "userinfo_endpoint": "https://op.example/me",
        "revocation_endpoint": "https://op.example/revoke",
        "introspection_endpoint": "https://op.example/introspect",
        "device_authorization_endpoint": "https://op.example/device",
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    if let (Value::Object(d), Value::Object(e)) = (&mut doc, extra) {
        d.extend(e);
    }
    doc.to_string()
}

fn oidc_config() -> OAuth2Config {
    let mut c = OAuth2Config::new("client-1");
    c.client_secret = Some(SecretString::new("secret-1"));
    c.server_metadata_url = Some(format!("{ISS}/.well-known/openid-configuration"));
    c.scope = Some("openid profile".into());
    c.pkce = Some(ChallengeMethod::S256);
    c
}

fn client(config: OAuth2Config, http: Arc<dyn HttpClient>, clock: &FixedClock) -> OAuth2Client {
    OAuth2Client::new(config, http)
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
        .with_random(Arc::new(Counting(AtomicUsize::new(0))))
}

fn id_token(signer: &TestSigner, nonce: &str, access_token: &str) -> String {
    signer.sign(&json!({
        "iss": ISS, "sub": "user-1", "aud": "client-1", "iat": NOW, "exp": NOW + 300, "nonce": nonce,
        "at_hash": keyward::oidc::core::left_half_hash(keyward::oidc::Algorithm::RS256, access_token),
        "email": "u@example.com",
    }))
}

#[tokio::test]
async fn authorization_url_exact() {
    let (http, _) = provider(|_| (200, discovery(json!({}))));
    let mut config = oidc_config();
    config.authorize_params.insert("prompt".into(), "consent".into());
    let clock = FixedClock::new(NOW);
    let c = client(config, http, &clock);
    let req = c
        .authorization_url(Some("https://rp.example/cb"), &[("prompt", "login"), ("ui_locales", "de")])
        .await
        .unwrap();
    assert_eq!(req.state.len(), 30);
    assert!(req.state.bytes().all(|b| b.is_ascii_alphanumeric()));
    let verifier = req.flow.code_verifier.as_ref().unwrap();
    assert_eq!(verifier.secret().len(), 48);
    let nonce = req.flow.nonce.clone().unwrap();
    let expected = format!(
        "https://op.example/auth?response_type=code&client_id=client-1&redirect_uri=https%3A%2F%2Frp.example%2Fcb&\
         scope=openid%20profile&state={}&code_challenge={}&code_challenge_method=S256&prompt=consent&ui_locales=de&\
         nonce={nonce}",
        req.state,
        verifier.challenge(ChallengeMethod::S256)
    );
    assert_eq!(req.url, expected);
    assert_eq!(req.flow.redirect_uri.as_deref(), Some("https://rp.example/cb"));
    assert_eq!(req.flow.nonce.as_deref(), Some(nonce.as_str()));
}

fn full_provider(
    signer: TestSigner,
    token_body: impl Fn(&Req) -> (u16, String) + Send + Sync + 'static,
) -> (Arc<dyn HttpClient>, Log) {
    let keys = jwks(&[&signer]).to_string();
    provider(move |req| match req.uri().path() {
        "/.well-known/openid-configuration" => (200, discovery(json!({}))),
        "/jwks" => (200, keys.clone()),
        "/token" => token_body(req),
        "/me" => (200, json!({"sub": "user-1", "name": "U"}).to_string()),
        other => (404, format!("no route {other}")),
    })
}

#[tokio::test]
async fn code_exchange_bytes_id_token_and_userinfo() {
    let signer = TestSigner::load("oidc_op_a.pem", "key-a");
    let s2 = signer.clone();
    let (http, log) = full_provider(signer, move |_| {
        (200, json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-1",
                     "scope": "openid profile", "id_token": id_token(&s2, "nonce-1", "at-1")}).to_string())
    });
    let clock = FixedClock::new(NOW);
    let c = client(oidc_config(), http, &clock);
    // The flow state as the registry keeps it, and the callback as it arrives.
    let flow = keyward_client::flow::FlowData {
        redirect_uri: Some("https://rp.example/cb".into()),
        code_verifier: Some(CodeVerifier::new("v".repeat(43))),
        nonce: Some("nonce-1".into()),
        ..Default::default()
    };
    let callback = keyward_client::flow::Callback::from_query("code=code-1&state=s").unwrap();
    let token = c.exchange_callback(&callback, &flow).await.unwrap();
    assert_eq!(token.expires_at, Some(NOW + 3600));
    assert_eq!(token.userinfo.as_ref().unwrap()["email"], "u@example.com");
    {
        let log = log.lock().unwrap();
        let paths: Vec<_> = log.iter().map(|r| r.uri().path().to_owned()).collect();
        assert_eq!(paths, ["/.well-known/openid-configuration", "/token", "/jwks"]);
        let t = &log[1];
        assert_eq!(t.method(), "POST");
        assert_eq!(t.uri(), "https://op.example/token");
        assert_eq!(t.headers()["authorization"], "Basic Y2xpZW50LTE6c2VjcmV0LTE=");
        assert_eq!(t.headers()["content-type"], "application/x-www-form-urlencoded");
        assert_eq!(t.headers()["accept"], "application/json");
        assert_eq!(
            body(t),
            format!(
                "grant_type=authorization_code&code=code-1&redirect_uri=https%3A%2F%2Frp.example%2Fcb&code_verifier={}",
                "v".repeat(43)
            )
        );
    }
    let info = c.userinfo(&token).await.unwrap();
    assert_eq!(info["name"], "U");
    let log = log.lock().unwrap();
    let me = log.last().unwrap();
    assert_eq!(
        (me.method().as_str(), me.headers()["authorization"].to_str().unwrap()),
        ("GET", "Bearer at-1")
    );
}

#[tokio::test]
async fn openid_exchange_refuses_missing_or_bad_id_token() {
    let signer = TestSigner::load("oidc_op_a.pem", "key-a");
    let s2 = signer.clone();
    let (http, _) = full_provider(signer, move |req| {
        let code = param(&form(req), "code").unwrap_or("").to_owned();
        match code.as_str() {
            "no-id-token" => (200, json!({"access_token": "at"}).to_string()),
            "bad-nonce" => {
                (200, json!({"access_token": "at", "id_token": id_token(&s2, "other", "at")}).to_string())
            }
            _ => (200, json!({"access_token": "at2", "id_token": id_token(&s2, "n", "at")}).to_string()),
        }
    });
    let clock = FixedClock::new(NOW);
    let c = client(oidc_config(), http, &clock);
    let ex = |code| CodeExchange { code, nonce: Some("n"), ..Default::default() };
    let e = c.exchange_code(&ex("no-id-token")).await.unwrap_err();
    assert!(matches!(e, ClientError::Oidc(keyward::oidc::OidcError::MissingIdToken)), "{e:?}");
    let e = c.exchange_code(&ex("bad-nonce")).await.unwrap_err();
    assert_eq!(e.id_token_error(), Some(&IdTokenError::NonceMismatch));
    let e = c.exchange_code(&ex("at-hash")).await.unwrap_err();
    assert_eq!(e.id_token_error(), Some(&IdTokenError::AccessTokenHash));
}

#[tokio::test]
async fn rfc9207_iss_parameter() {
    let (http, log) = provider(|req| match req.uri().path() {
        "/.well-known/openid-configuration" => {
            (200, discovery(json!({"authorization_response_iss_parameter_supported": true})))
        }
        _ => (200, json!({"access_token": "at"}).to_string()),
    });
    let mut config = oidc_config();
    config.scope = Some("profile".into());
    let clock = FixedClock::new(NOW);
    let c = client(config, http, &clock);
    let e = c.exchange_code(&CodeExchange { code: "c", ..Default::default() }).await.unwrap_err();
    assert!(matches!(e, ClientError::Issuer(keyward::oauth2::rfc9207::IssError::Missing)), "{e:?}");
    let e = c
        .exchange_code(&CodeExchange { code: "c", iss: Some("https://evil.example"), ..Default::default() })
        .await;
    assert!(matches!(e, Err(ClientError::Issuer(_))));
    assert!(c.exchange_code(&CodeExchange { code: "c", iss: Some(ISS), ..Default::default() }).await.is_ok());
    assert_eq!(
        log.lock().unwrap().iter().filter(|r| r.uri().path() == "/token").count(),
        1,
        "no code spent on a mix-up"
    );
}

fn token_endpoint_only(method: Option<ClientAuthMethod>) -> (OAuth2Client, Log) {
    let (http, log) = provider(|_| (200, json!({"access_token": "at", "expires_in": 60}).to_string()));
    let mut config = OAuth2Config::new("client-1");
    config.token_url = Some("https://as.example/token".into());
    config.client_secret = Some(SecretString::new("secret-1-which-is-long-enough-for-hs256"));
    config.auth_method = method;
    let clock = FixedClock::new(NOW);
    (client(config, http, &clock), log)
}

#[tokio::test]
async fn client_auth_methods() {
    let (c, log) = token_endpoint_only(Some(ClientAuthMethod::ClientSecretPost));
    c.client_credentials(Some("read")).await.unwrap();
    assert_eq!(
        body(&log.lock().unwrap()[0]),
        "grant_type=client_credentials&scope=read&client_id=client-1&client_secret=secret-1-which-is-long-enough-for-hs256"
    );

    let (c, log) = token_endpoint_only(Some(ClientAuthMethod::ClientSecretJwt));
    c.client_credentials(None).await.unwrap();
    let p = form(&log.lock().unwrap()[0]);
    assert_eq!(
        param(&p, "client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&["https://as.example/token"]);
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(
        param(&p, "client_assertion").unwrap(),
        &jsonwebtoken::DecodingKey::from_secret(b"secret-1-which-is-long-enough-for-hs256"),
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(
        (claims["iss"].as_str(), claims["sub"].as_str(), claims["iat"].as_i64()),
        (Some("client-1"), Some("client-1"), Some(NOW))
    );
    assert_eq!(claims["jti"].as_str().map(str::len), Some(32));

    let key = TestSigner::load("oidc_client.pem", "client-key");
    let (http, log) = provider(|_| (200, json!({"access_token": "at"}).to_string()));
    let mut config = OAuth2Config::new("client-1");
    config.token_url = Some("https://as.example/token".into());
    config.auth_method = Some(ClientAuthMethod::PrivateKeyJwt);
    config.private_key = Some(SecretString::new(key.pem()));
    config.private_key_kid = Some("client-key".into());
    let c = client(config, http, &FixedClock::new(NOW));
    c.client_credentials(None).await.unwrap();
    let p = form(&log.lock().unwrap()[0]);
    let assertion = param(&p, "client_assertion").unwrap();
    let header = jsonwebtoken::decode_header(assertion).unwrap();
    assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::RS256, Some("client-key")));
    let set = keyward::oidc::jwks::KeySet::from_value(&jwks(&[&key])).unwrap();
    let dk = set.select(Some("client-key"), jsonwebtoken::Algorithm::RS256).unwrap();
    assert!(keyward::oidc::core::verify_signature(assertion, dk, jsonwebtoken::Algorithm::RS256).is_ok());

    let (c, log) = token_endpoint_only(Some(ClientAuthMethod::Custom("x-api-key".into())));
    assert!(
        matches!(c.client_credentials(None).await, Err(ClientError::Config(_))),
        "unregistered custom method"
    );
    let c = c.with_auth_method(
        "x-api-key",
        Arc::new(|r: &mut FormRequest, ctx: &AuthContext<'_>| {
            let value = format!("{}:{}:{}", ctx.client_id, ctx.now, ctx.token_endpoint.unwrap_or("none"));
            r.headers.insert("x-api-key", value.parse().unwrap());
            Ok(())
        }),
    );
    c.client_credentials(None).await.unwrap();
    let log = log.lock().unwrap();
    // A custom method gets the token endpoint too (e.g. for an assertion's audience).
    assert_eq!(log[0].headers()["x-api-key"], format!("client-1:{NOW}:https://as.example/token").as_str());
    assert!(log[0].headers().get("authorization").is_none());
}

/// The claims of the client assertion a logged request carries, its signature checked.
fn assertion_claims(r: &Req, key: &jsonwebtoken::DecodingKey, alg: jsonwebtoken::Algorithm) -> Value {
    let p = form(r);
    let jwt = param(&p, "client_assertion").unwrap_or_else(|| panic!("no assertion sent to {}", r.uri()));
    Value::Object(keyward::oidc::core::verify_signature(jwt, key, alg).unwrap())
}

/// Each logged request's path and its assertion's `aud`, discovery fetches left out.
fn audiences(
    log: &Log,
    key: &jsonwebtoken::DecodingKey,
    alg: jsonwebtoken::Algorithm,
) -> Vec<(String, String)> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| !r.uri().path().starts_with("/.well-known/"))
        .map(|r| {
            let aud = assertion_claims(r, key, alg)["aud"].as_str().unwrap_or_default().to_owned();
            (r.uri().path().to_owned(), aud)
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(p, a)| ((*p).to_owned(), (*a).to_owned())).collect()
}

/// OpenID Connect Core §9: a client assertion's `aud` SHOULD be the token endpoint, also
/// when it authenticates a request to another endpoint (RFC 7009, RFC 7662, RFC 8628).
#[tokio::test]
async fn assertion_audience_is_the_token_endpoint_at_every_endpoint() {
    let route = |req: &Req| match req.uri().path() {
        "/.well-known/openid-configuration" => (200, discovery(json!({}))),
        "/token" | "/refresh" => (200, json!({"access_token": "at", "refresh_token": "rt"}).to_string()),
        "/revoke" => (200, String::new()),
        "/introspect" => (200, json!({"active": false}).to_string()),
        "/device" => (
            200,
            json!({
                "device_code": "dc", "user_code": "UC-1", "expires_in": 600,
                "verification_uri": "https://op.example/activate",
            })
            .to_string(),
        ),
        _ => (404, String::new()),
    };

    // private_key_jwt, every endpoint discovered.
    let key = TestSigner::load("oidc_client.pem", "client-key");
    let set = keyward::oidc::jwks::KeySet::from_value(&jwks(&[&key])).unwrap();
    let rs256 = jsonwebtoken::Algorithm::RS256;
    let dk = set.select(Some("client-key"), rs256).unwrap();
    let (http, log) = provider(route);
    let mut config = OAuth2Config::new("client-1");
    config.server_metadata_url = Some(format!("{ISS}/.well-known/openid-configuration"));
    config.auth_method = Some(ClientAuthMethod::PrivateKeyJwt);
    config.private_key = Some(SecretString::new(key.pem()));
    config.private_key_kid = Some("client-key".into());
    let c = client(config, http, &FixedClock::new(NOW));
    let token = c.client_credentials(None).await.unwrap();
    c.refresh_token(&token).await.unwrap();
    c.revoke_token("rt-1", Some("refresh_token")).await.unwrap();
    c.introspect_token("at-1", None).await.unwrap();
    c.device_authorization(None).await.unwrap();
    let token_endpoint = "https://op.example/token";
    assert_eq!(
        audiences(&log, dk, rs256),
        pairs(&[
            ("/token", token_endpoint),
            ("/token", token_endpoint),
            ("/revoke", token_endpoint),
            ("/introspect", token_endpoint),
            ("/device", token_endpoint),
        ])
    );

    // client_secret_jwt, every endpoint configured, refreshes at their own URL.
    let secret = "secret-1-which-is-long-enough-for-hs256";
    let hs = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    let hs256 = jsonwebtoken::Algorithm::HS256;
    let configured = |with_token_endpoint: bool| {
        let (http, log) = provider(route);
        let mut config = OAuth2Config::new("client-1");
        config.client_secret = Some(SecretString::new(secret));
        config.auth_method = Some(ClientAuthMethod::ClientSecretJwt);
        if with_token_endpoint {
            config.token_url = Some("https://as.example/token".into());
            config.refresh_token_url = Some("https://as.example/refresh".into());
            config.introspection_url = Some("https://as.example/introspect".into());
        }
        config.revocation_url = Some("https://as.example/revoke".into());
        (client(config, http, &FixedClock::new(NOW)), log)
    };
    let (c, log) = configured(true);
    let token = c.client_credentials(None).await.unwrap();
    c.refresh_token(&token).await.unwrap();
    c.revoke_token("rt-1", None).await.unwrap();
    c.introspect_token("at-1", None).await.unwrap();
    let token_endpoint = "https://as.example/token";
    assert_eq!(
        audiences(&log, &hs, hs256),
        pairs(&[
            ("/token", token_endpoint),
            ("/refresh", token_endpoint),
            ("/revoke", token_endpoint),
            ("/introspect", token_endpoint),
        ])
    );

    // No token endpoint configured or discoverable: the request's own URL.
    let (c, log) = configured(false);
    c.revoke_token("rt-1", None).await.unwrap();
    assert_eq!(audiences(&log, &hs, hs256), pairs(&[("/revoke", "https://as.example/revoke")]));

    // A failed discovery is an error, not a fallback to the revocation URL.
    let (http, log) = provider(|req| match req.uri().path() {
        "/revoke" => (200, String::new()),
        _ => (503, String::new()),
    });
    let mut config = OAuth2Config::new("client-1");
    config.client_secret = Some(SecretString::new(secret));
    config.auth_method = Some(ClientAuthMethod::ClientSecretJwt);
    config.server_metadata_url = Some(format!("{ISS}/.well-known/openid-configuration"));
    config.revocation_url = Some("https://op.example/revoke".into());
    let c = client(config, http, &FixedClock::new(NOW));
    assert!(c.revoke_token("rt-1", None).await.is_err());
    assert!(
        log.lock().unwrap().iter().all(|r| r.uri().path() != "/revoke"),
        "nothing revoked with a guessed aud"
    );

    // A custom method, which may not need the token endpoint, is told it is unknown instead.
    let (http, log) = provider(|req| match req.uri().path() {
        "/revoke" => (200, String::new()),
        _ => (503, String::new()),
    });
    let mut config = OAuth2Config::new("client-1");
    config.auth_method = Some(ClientAuthMethod::Custom("x-audience".into()));
    config.server_metadata_url = Some(format!("{ISS}/.well-known/openid-configuration"));
    config.revocation_url = Some("https://op.example/revoke".into());
    let c = client(config, http, &FixedClock::new(NOW)).with_auth_method(
        "x-audience",
        Arc::new(|r: &mut FormRequest, ctx: &AuthContext<'_>| {
            r.headers.insert("x-audience", ctx.token_endpoint.unwrap_or("unknown").parse().unwrap());
            Ok(())
        }),
    );
    c.revoke_token("rt-1", None).await.unwrap();
    let log = log.lock().unwrap();
    let revoke = log.iter().find(|r| r.uri().path() == "/revoke").expect("revoked");
    assert_eq!(revoke.headers()["x-audience"], "unknown");
}

#[tokio::test]
async fn password_grant_and_errors_keep_details() {
    let (http, log) = provider(|req| match param(&form(req), "username") {
        Some("down") => (503, "<h1>maintenance</h1>".into()),
        Some("bad") => {
            (400, json!({"error": "invalid_grant", "error_description": "wrong password"}).to_string())
        }
        _ => (200, json!({"access_token": "at"}).to_string()),
    });
    let mut config = OAuth2Config::new("public-client");
    config.token_url = Some("https://as.example/token".into());
    let c = client(config, http, &FixedClock::new(NOW));
    let pw = SecretString::new("p w");
    c.password("alice", &pw, Some("a")).await.unwrap();
    assert_eq!(
        body(&log.lock().unwrap()[0]),
        "grant_type=password&username=alice&password=p%20w&scope=a&client_id=public-client"
    );
    let e = c.password("bad", &pw, None).await.unwrap_err();
    assert_eq!(e.code(), Some("invalid_grant"));
    match c.password("down", &pw, None).await.unwrap_err() {
        ClientError::OAuth2(keyward::oauth2::OAuth2Error::Status { status: 503, body }) => {
            assert_eq!(body, b"<h1>maintenance</h1>")
        }
        other => panic!("{other:?}"),
    }
}

fn expired_token() -> Token {
    let mut t = Token::bearer("old-at");
    t.refresh_token = Some(keyward_client::oauth2::RefreshToken::new("old-rt"));
    t.expires_at = Some(NOW + 30); // inside the 60 s leeway: counts as expired
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_flight_refresh() {
    const N: usize = 16;
    let refreshes = Arc::new(AtomicUsize::new(0));
    let r2 = refreshes.clone();
    let (http, log) = provider(move |req| match req.uri().path() {
        "/token" => {
            let n = r2.fetch_add(1, Ordering::SeqCst);
            (
                200,
                json!({"access_token": format!("new-at-{n}"), "expires_in": 3600, "x": "slow-refresh"})
                    .to_string(),
            )
        }
        "/api" => {
            let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
            (if auth == "Bearer new-at-0" { 200 } else { 401 }, "{}".into())
        }
        _ => (404, String::new()),
    });
    let mut config = OAuth2Config::new("client-1");
    config.token_url = Some("https://as.example/token".into());
    config.client_secret = Some(SecretString::new("s"));
    let hook_calls: Arc<Mutex<Vec<(Token, OldToken)>>> = Arc::default();
    let h2 = hook_calls.clone();
    let c = Arc::new(client(config, http, &FixedClock::new(NOW)).with_update_token(Arc::new(
        move |new: Token, old: OldToken| {
            h2.lock().unwrap().push((new, old));
            async { Ok(()) }
        },
    )));
    let mut tasks = Vec::new();
    for _ in 0..N {
        // Each request loaded the same expired token from the store: separate sessions.
        let session = OAuth2Session::new(c.clone(), expired_token());
        tasks.push(tokio::spawn(async move {
            let r = session
                .request(http::Request::get("https://api.example/api").body(Vec::new()).unwrap())
                .await;
            (r.map(|r| r.status().as_u16()), session.token())
        }));
    }
    for t in tasks {
        let (status, token) = t.await.unwrap();
        assert_eq!(status.unwrap(), 200);
        assert_eq!(token.access_token.secret(), "new-at-0");
        assert_eq!(
            token.refresh_token.as_ref().unwrap().secret(),
            "old-rt",
            "kept when the response omits it"
        );
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1, "exactly one refresh request");
    {
        let calls = hook_calls.lock().unwrap();
        assert_eq!(calls.len(), 1, "update_token once");
        assert_eq!(calls[0].0.access_token.secret(), "new-at-0");
        assert_eq!(calls[0].1.access_token.secret(), "old-at");
        assert_eq!(calls[0].1.refresh_token.as_ref().unwrap().secret(), "old-rt");
        let log = log.lock().unwrap();
        let refresh = log.iter().find(|r| r.uri().path() == "/token").unwrap();
        assert_eq!(body(refresh), "grant_type=refresh_token&refresh_token=old-rt");
    }
    // A late request with the stale token gets the memoised result, not a second refresh.
    let late = c.ensure_fresh(&expired_token()).await.unwrap();
    assert_eq!(late.access_token.secret(), "new-at-0");
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refresh_failure_is_shared_then_retried_and_no_expiry_never_refreshes() {
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let f2 = fail.clone();
    let (http, log) = provider(move |_| {
        if f2.load(Ordering::SeqCst) {
            (400, json!({"error": "invalid_grant"}).to_string())
        } else {
            (200, json!({"access_token": "fresh", "refresh_token": "rotated"}).to_string())
        }
    });
    let mut config = OAuth2Config::new("c");
    config.token_url = Some("https://as.example/token".into());
    let c = client(config, http, &FixedClock::new(NOW));
    let e = c.ensure_fresh(&expired_token()).await.unwrap_err();
    assert_eq!(e.code(), Some("invalid_grant"));
    fail.store(false, Ordering::SeqCst);
    let mut old = expired_token();
    old.id_token = Some("old-id-token".into());
    let t = c.ensure_fresh(&old).await.unwrap();
    assert_eq!(t.id_token.as_deref(), Some("old-id-token"), "kept when the refresh response has none");
    assert_eq!(t.refresh_token.unwrap().secret(), "rotated");
    let n = log.lock().unwrap().len();
    let forever = Token::bearer("no-expiry");
    assert_eq!(c.ensure_fresh(&forever).await.unwrap(), forever);
    let mut no_rt = Token::bearer("x");
    no_rt.expires_at = Some(NOW - 1);
    assert!(matches!(c.ensure_fresh(&no_rt).await, Err(ClientError::Expired)));
    assert_eq!(log.lock().unwrap().len(), n, "no request for a token without expiry or refresh token");
}

#[tokio::test]
async fn client_credentials_refetch_and_placements() {
    let (http, log) = provider(|req| match req.uri().path() {
        "/token" => (200, json!({"access_token": "cc-2", "expires_in": 600}).to_string()),
        _ => (200, "{}".into()),
    });
    let mut config = OAuth2Config::new("c");
    config.token_url = Some("https://as.example/token".into());
    config.client_secret = Some(SecretString::new("s"));
    config.refetch_with_client_credentials = true;
    config.token_placement = TokenPlacement::Query;
    let c = Arc::new(
        client(config, http, &FixedClock::new(NOW))
            .with_hook(Hook::ProtectedRequest(Arc::new(|r| {
                r.headers_mut().insert("x-order", "1".parse().unwrap());
            })))
            .with_hook(Hook::ProtectedRequest(Arc::new(|r| {
                let prev = r.headers()["x-order"].to_str().unwrap().to_owned();
                r.headers_mut().insert("x-order", format!("{prev},2").parse().unwrap());
            }))),
    );
    let mut old = Token::bearer("cc-1");
    old.expires_at = Some(NOW - 5);
    let s = OAuth2Session::new(c.clone(), old);
    s.request(http::Request::get("https://api.example/x?a=1").body(Vec::new()).unwrap()).await.unwrap();
    let log = log.lock().unwrap();
    assert_eq!(body(&log[0]), "grant_type=client_credentials");
    assert_eq!(log[1].uri(), "https://api.example/x?a=1&access_token=cc-2");
    assert_eq!(log[1].headers()["x-order"], "1,2", "hooks run in registration order");
    assert_eq!(s.token().access_token.secret(), "cc-2");
}

#[tokio::test(start_paused = true)]
async fn device_flow_polls_with_interval_slow_down_and_expiry() {
    let start = tokio::time::Instant::now();
    let polls: Arc<Mutex<Vec<u64>>> = Arc::default();
    let p2 = polls.clone();
    let (http, log) = provider(move |req| {
        match req.uri().path() {
        "/device" => (200, json!({"device_code": "dc", "user_code": "WDJB-MJHT", "verification_uri": "https://op.example/activate",
                                  "expires_in": 120, "interval": 5}).to_string()),
        "/token" => {
            let mut p = p2.lock().unwrap();
            p.push(start.elapsed().as_secs());
            match p.len() {
                1 => (400, json!({"error": "authorization_pending"}).to_string()),
                2 => (400, json!({"error": "slow_down"}).to_string()),
                3 => (400, json!({"error": "authorization_pending"}).to_string()),
                _ => (200, json!({"access_token": "device-at"}).to_string()),
            }
        }
        _ => (404, String::new()),
    }
    });
    let mut config = OAuth2Config::new("tv");
    config.token_url = Some("https://op.example/token".into());
    config.device_authorization_url = Some("https://op.example/device".into());
    let c = client(config, http, &FixedClock::new(NOW));
    let device = c.device_authorization(Some("openid")).await.unwrap();
    assert_eq!(body(&log.lock().unwrap()[0]), "scope=openid&client_id=tv");
    let token = c.poll_device_token(&device).await.unwrap();
    assert_eq!(token.access_token.secret(), "device-at");
    assert_eq!(*polls.lock().unwrap(), [5, 10, 20, 30], "5 s, then +5 after slow_down");
    assert_eq!(
        body(&log.lock().unwrap()[1]),
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dc&client_id=tv"
    );

    let (http, log) = provider(|req| match req.uri().path() {
        "/device" => (
            200,
            json!({"device_code": "dc", "user_code": "U", "verification_uri": "https://v", "expires_in": 30})
                .to_string(),
        ),
        _ => (400, json!({"error": "authorization_pending"}).to_string()),
    });
    let mut config = OAuth2Config::new("tv");
    config.token_url = Some("https://op.example/token".into());
    config.device_authorization_url = Some("https://op.example/device".into());
    let c = client(config, http, &FixedClock::new(NOW));
    let device = c.device_authorization(None).await.unwrap();
    assert!(matches!(c.poll_device_token(&device).await, Err(ClientError::DeviceCodeExpired)));
    assert_eq!(log.lock().unwrap().len(), 1 + 6, "polls at 5..=30 s, then stops");

    let (http, _) = provider(|req| match req.uri().path() {
        "/device" => (
            200,
            json!({"device_code": "dc", "user_code": "U", "verification_uri": "https://v", "expires_in": 30})
                .to_string(),
        ),
        _ => (400, json!({"error": "access_denied"}).to_string()),
    });
    let mut config = OAuth2Config::new("tv");
    config.token_url = Some("https://op.example/token".into());
    config.device_authorization_url = Some("https://op.example/device".into());
    let c = client(config, http, &FixedClock::new(NOW));
    let device = c.device_authorization(None).await.unwrap();
    assert_eq!(c.poll_device_token(&device).await.unwrap_err().code(), Some("access_denied"));

    // Absurd numbers from the server do not overflow the clock arithmetic.
    let (http, _) = provider(|req| match req.uri().path() {
        "/device" => (
            200,
            json!({"device_code": "dc", "user_code": "U", "verification_uri": "https://v",
                                  "expires_in": u64::MAX, "interval": u64::MAX})
            .to_string(),
        ),
        _ => (400, json!({"error": "authorization_pending"}).to_string()),
    });
    let mut config = OAuth2Config::new("tv");
    config.token_url = Some("https://op.example/token".into());
    config.device_authorization_url = Some("https://op.example/device".into());
    let c = client(config, http, &FixedClock::new(NOW));
    let device = c.device_authorization(None).await.unwrap();
    assert!(matches!(c.poll_device_token(&device).await, Err(ClientError::DeviceCodeExpired)));
}

#[tokio::test]
async fn jwks_rotation_refetches_once_rate_limited() {
    let a = TestSigner::load("oidc_op_a.pem", "key-a");
    let b = TestSigner::load("oidc_op_b.pem", "key-b");
    let rotated = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r2 = rotated.clone();
    let (sa, sb) = (a.clone(), b.clone());
    let (http, log) = provider(move |req| match req.uri().path() {
        "/.well-known/openid-configuration" => (200, discovery(json!({}))),
        "/jwks" if r2.load(Ordering::SeqCst) => (200, jwks(&[&sa, &sb]).to_string()),
        "/jwks" => (200, jwks(&[&sa]).to_string()),
        _ => (404, String::new()),
    });
    let clock = FixedClock::new(NOW);
    let c = client(oidc_config(), http, &clock);
    let claims = json!({"iss": ISS, "sub": "u", "aud": "client-1", "iat": NOW, "exp": NOW + 600});
    c.validate_id_token(&a.sign(&claims), None, None, None).await.unwrap();
    let fetches = |log: &Log| log.lock().unwrap().iter().filter(|r| r.uri().path() == "/jwks").count();
    assert_eq!(fetches(&log), 1);
    // A token under a key we do not know, before the provider published it: one refetch,
    // which does not find it either.
    let e = c.validate_id_token(&b.sign(&claims), None, None, None).await.unwrap_err();
    assert_eq!(e.id_token_error(), Some(&IdTokenError::UnknownKey { kid: Some("key-b".into()) }));
    assert_eq!(fetches(&log), 2, "one refetch on the unknown kid");
    // Again at once: the refetch is rate-limited, no request.
    rotated.store(true, Ordering::SeqCst);
    assert!(c.validate_id_token(&b.sign(&claims), None, None, None).await.is_err());
    assert_eq!(fetches(&log), 2, "rate-limited");
    // A minute later: one refetch finds the rotated key, and the token passes.
    clock.advance(61);
    c.validate_id_token(&b.sign(&claims), None, None, None).await.unwrap();
    assert_eq!(fetches(&log), 3);
    c.validate_id_token(&a.sign(&claims), None, None, None).await.unwrap();
    assert_eq!(fetches(&log), 3, "known keys need no fetch");
    // A flood of unknown kids cannot hammer the provider.
    let c3 = TestSigner::load("oidc_client.pem", "key-c");
    for _ in 0..10 {
        assert!(c.validate_id_token(&c3.sign(&claims), None, None, None).await.is_err());
    }
    assert_eq!(fetches(&log), 3, "at most one refetch per interval");
}

#[tokio::test]
async fn discovery_cache_ttl_and_issuer_check() {
    let (http, log) = provider(|req| match req.uri().host() {
        Some("op.example") => (200, discovery(json!({}))),
        _ => (200, discovery(json!({"issuer": "https://other.example"}))),
    });
    let clock = FixedClock::new(NOW);
    let c = client(oidc_config(), http.clone(), &clock);
    c.server_metadata().await.unwrap();
    c.server_metadata().await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 1, "cached");
    clock.advance(3601);
    c.server_metadata().await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 2, "refetched after the TTL");
    c.refresh_server_metadata().await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 3, "refreshable on demand");

    let mut config = oidc_config();
    config.server_metadata_url = Some("https://mixup.example/.well-known/openid-configuration".into());
    let c = client(config, http, &clock);
    assert!(matches!(
        c.server_metadata().await,
        Err(ClientError::OAuth2(keyward::oauth2::OAuth2Error::IssuerMismatch { .. }))
    ));
}

#[tokio::test]
async fn microsoft_issuer_template_as_data() {
    let a = TestSigner::load("oidc_op_a.pem", "key-a");
    let sa = a.clone();
    let (http, _) = provider(move |req| match req.uri().path() {
        "/common/v2.0/.well-known/openid-configuration" => (
            200,
            json!({
            "issuer": "https://login.example/{tenantid}/v2.0",
            "jwks_uri": "https://login.example/keys", "token_endpoint": "https://login.example/token"})
            .to_string(),
        ),
        "/keys" => (200, jwks(&[&sa]).to_string()),
        _ => (404, String::new()),
    });
    let mut config = OAuth2Config::new("client-1");
    config.server_metadata_url =
        Some("https://login.example/common/v2.0/.well-known/openid-configuration".into());
    config.quirks.issuer_template = Some("{tenantid}".into());
    let c = client(config, http, &FixedClock::new(NOW));
    let claims = json!({"iss": "https://login.example/t-1/v2.0", "tid": "t-1", "sub": "u", "aud": "client-1", "iat": NOW, "exp": NOW + 60});
    c.validate_id_token(&a.sign(&claims), None, None, None).await.unwrap();
    let forged = json!({"iss": "https://login.example/t-2/v2.0", "tid": "t-1", "sub": "u", "aud": "client-1", "iat": NOW, "exp": NOW + 60});
    assert!(c.validate_id_token(&a.sign(&forged), None, None, None).await.is_err());
    // RFC 9207 with a templated issuer: the callback's `iss` is the tenant's issuer.
    let e = c
        .exchange_code(&CodeExchange {
            code: "c",
            iss: Some("https://evil.example/t-1/v2.0"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Issuer(_)), "{e:?}");
    let e = c
        .exchange_code(&CodeExchange {
            code: "c",
            iss: Some("https://login.example/t-1/v2.0"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(!matches!(e, ClientError::Issuer(_)), "the tenant's issuer passes the iss check: {e:?}");
}

#[tokio::test]
async fn revoke_introspect_userinfo_sub_and_hooks() {
    let (http, log) = provider(|req| match req.uri().path() {
        "/.well-known/openid-configuration" => (200, discovery(json!({}))),
        "/revoke" => (200, String::new()),
        "/introspect" => (200, json!({"active": true, "sub": "user-1", "scope": "openid"}).to_string()),
        "/me" => (200, json!({"sub": "someone-else"}).to_string()),
        _ => (404, String::new()),
    });
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let c = client(oidc_config(), http, &FixedClock::new(NOW))
        .with_hook(Hook::RevokeTokenRequest(Arc::new(move |r| {
            s1.lock().unwrap().push("revoke-1".into());
            r.push("extra", "1");
        })))
        .with_hook(Hook::RevokeTokenRequest(Arc::new(move |r| {
            s2.lock().unwrap().push(format!("revoke-2 saw extra={}", r.get("extra").unwrap_or("")));
        })));
    c.revoke_token("rt-1", Some("refresh_token")).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), ["revoke-1", "revoke-2 saw extra=1"]);
    let i = c.introspect_token("at-1", None).await.unwrap();
    assert!(i.active);
    {
        let log = log.lock().unwrap();
        assert_eq!(body(&log[1]), "token=rt-1&token_type_hint=refresh_token&extra=1");
        assert_eq!(log[1].headers()["authorization"], "Basic Y2xpZW50LTE6c2VjcmV0LTE=");
        assert_eq!(body(&log[2]), "token=at-1");
    }
    let mut token = Token::bearer("at-1");
    token.userinfo = Some(serde_json::from_value(json!({"sub": "user-1"})).unwrap());
    let e = c.userinfo(&token).await.unwrap_err();
    assert!(matches!(e, ClientError::Oidc(keyward::oidc::OidcError::SubjectMismatch { .. })), "{e:?}");
}

#[tokio::test]
async fn config_from_registry_app_config() {
    let app: keyward_client::registry::AppConfig = toml::from_str(
        r#"
        client_id = "abc"
        client_secret = "s3"
        authorize_url = "https://as.example/auth"
        access_token_url = "https://as.example/token"
        authorize_params = { prompt = "consent" }
        client_kwargs = { scope = "openid email", token_endpoint_auth_method = "client_secret_post", token_placement = "body", code_challenge_method = "S256", leeway = 30 }
        quirks = { no_nonce = true }
        "#,
    )
    .unwrap();
    let cfg = app.oauth2_config("corp").unwrap();
    assert_eq!(cfg.auth_method(), ClientAuthMethod::ClientSecretPost);
    assert_eq!(
        (cfg.token_placement, cfg.pkce, cfg.leeway),
        (TokenPlacement::Body, Some(ChallengeMethod::S256), 30)
    );
    let (http, _) = provider(|_| (404, String::new()));
    let c = client(cfg, http, &FixedClock::new(NOW));
    let req = c.authorization_url(None, &[]).await.unwrap();
    assert!(req.flow.nonce.is_none(), "no-nonce quirk");
    assert!(!req.url.contains("nonce="));
    assert!(req.url.contains("prompt=consent"));
    let mut bad = app.clone();
    bad.client_kwargs.code_challenge_method = Some("plain".into());
    assert!(bad.oauth2_config("corp").is_err(), "plain refused unless asked for");
}

#[tokio::test]
async fn token_response_and_refresh_hooks_in_order_and_inline_jwks() {
    // A Slack-like provider: errors as `200 {"ok": false}`; a hook turns them into 400s.
    let (http, log) = provider(|req| match param(&form(req), "grant_type") {
        Some("authorization_code") => (200, json!({"ok": false, "error": "invalid_code"}).to_string()),
        Some("refresh_token") => {
            (200, json!({"ok": true, "access_token": "at-2", "expires_in": 60}).to_string())
        }
        _ => (404, String::new()),
    });
    let mut config = OAuth2Config::new("c");
    config.token_url = Some("https://as.example/token".into());
    config.refresh_token_params.insert("resource".into(), "api".into());
    let order = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let (o1, o2, o3) = (order.clone(), order.clone(), order.clone());
    let c = client(config, http, &FixedClock::new(NOW))
        .with_hook(Hook::AccessTokenResponse(Arc::new(move |r| {
            o1.lock().unwrap().push("access_token_response");
            let v: Value = serde_json::from_slice(r.body()).unwrap_or_default();
            if v["ok"] == false {
                *r.status_mut() = http::StatusCode::BAD_REQUEST;
            }
        })))
        .with_hook(Hook::RefreshTokenRequest(Arc::new(move |r| {
            o2.lock().unwrap().push("refresh_token_request");
            r.push("hooked", "yes");
        })))
        .with_hook(Hook::RefreshTokenResponse(Arc::new(move |_| {
            o3.lock().unwrap().push("refresh_token_response")
        })));
    let e = c.exchange_code(&CodeExchange { code: "x", ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Some("invalid_code"));
    let t = c.refresh_token(&expired_token()).await.unwrap();
    assert_eq!(t.access_token.secret(), "at-2");
    assert_eq!(
        *order.lock().unwrap(),
        ["access_token_response", "refresh_token_request", "refresh_token_response"]
    );
    assert_eq!(
        body(&log.lock().unwrap()[1]),
        "grant_type=refresh_token&refresh_token=old-rt&resource=api&client_id=c&hooked=yes"
    );

    // Inline JWKS (no jwks_uri, no fetch) and a configured issuer instead of discovery.
    let a = TestSigner::load("oidc_op_a.pem", "key-a");
    let (http, log) = provider(|_| (500, String::new()));
    let mut config = OAuth2Config::new("client-1");
    config.issuer = Some(ISS.into());
    config.jwks = Some(jwks(&[&a]));
    let c = client(config, http, &FixedClock::new(NOW));
    let claims = json!({"iss": ISS, "sub": "u", "aud": "client-1", "iat": NOW, "exp": NOW + 60});
    assert_eq!(c.validate_id_token(&a.sign(&claims), None, None, None).await.unwrap().sub, "u");
    let b = TestSigner::load("oidc_op_b.pem", "key-b");
    assert!(c.validate_id_token(&b.sign(&claims), None, None, None).await.is_err());
    assert!(log.lock().unwrap().is_empty(), "inline keys: no request");
}

#[tokio::test]
async fn refreshed_id_token_is_validated_and_keeps_the_subject() {
    let a = TestSigner::load("oidc_op_a.pem", "key-a");
    let sa = a.clone();
    let (http, _) = provider(move |req| match req.uri().path() {
        "/.well-known/openid-configuration" => (200, discovery(json!({}))),
        "/jwks" => (200, jwks(&[&sa]).to_string()),
        "/token" => {
            let sub =
                if param(&form(req), "refresh_token") == Some("rt-other") { "user-2" } else { "user-1" };
            let id = sa.sign(
                &json!({"iss": ISS, "sub": sub, "aud": "client-1", "iat": NOW, "exp": NOW + 300, "v": 2}),
            );
            (200, json!({"access_token": "at-new", "id_token": id}).to_string())
        }
        _ => (404, String::new()),
    });
    let c = client(oidc_config(), http, &FixedClock::new(NOW));
    let mut old = expired_token();
    old.userinfo = Some(serde_json::from_value(json!({"sub": "user-1", "v": 1})).unwrap());
    let t = c.refresh_token(&old).await.unwrap();
    assert_eq!(t.userinfo.as_ref().unwrap()["v"], 2, "claims of the new ID token");
    old.refresh_token = Some(keyward_client::oauth2::RefreshToken::new("rt-other"));
    let e = c.refresh_token(&old).await.unwrap_err();
    assert!(matches!(e, ClientError::Oidc(keyward::oidc::OidcError::SubjectMismatch { .. })), "{e:?}");
}

//! The registry's common API over a scripted OAuth 2.0 provider (a closure `HttpClient`
//! that checks every request): login with state and PKCE, each state-mismatch case with
//! its own error, API calls relative to `api_base_url` with the token from the call or
//! from `fetch_token`, and automatic refresh with the `update_token` hook and event.

use keyward::common::clock::FixedClock;
use keyward::common::encoding::parse_form;
use keyward::common::http_client::BoxFuture;
use keyward::common::secret::SecretString;
use keyward::oauth2::rfc7636::{ChallengeMethod, CodeVerifier};
use keyward::{HttpClient, HttpError};
use keyward_client::registry::state::{CacheStateStore, MemoryStateCache, StateCache};
use keyward_client::registry::{
    AppConfig, AppHooks, AppToken, Callback, ClientKwargs, ConfigError, Error, OAuth, Overwrite,
    StateCacheError, StateError,
};
use keyward_client::session::MemorySession;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const NOW: i64 = 1_800_000_000;
const REDIRECT: &str = "https://app.example/auth/prov";

/// What the scripted provider saw.
#[derive(Default)]
struct Seen {
    challenges: Mutex<Vec<String>>,
    token_requests: Mutex<Vec<BTreeMap<String, String>>>,
    refreshes: AtomicUsize,
    api_auth: Mutex<Vec<Option<String>>>,
}

fn json(status: u16, body: serde_json::Value) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .unwrap()
}

/// A provider: token endpoint (code and refresh grants, basic auth checked) and an API.
fn provider(seen: Arc<Seen>) -> Arc<dyn HttpClient> {
    Arc::new(move |req: http::Request<Vec<u8>>| {
        let seen = seen.clone();
        async move {
            let url = req.uri().to_string();
            if url == "https://prov.example/token" {
                let form: BTreeMap<String, String> =
                    parse_form(std::str::from_utf8(req.body()).unwrap()).unwrap().into_iter().collect();
                let basic = req.headers()["authorization"].to_str().unwrap().to_owned();
                assert_eq!(basic, "Basic Y2lkOnNlY3JldA==", "client_secret_basic with cid:secret");
                seen.token_requests.lock().unwrap().push(form.clone());
                return Ok::<_, HttpError>(match form["grant_type"].as_str() {
                    "authorization_code" => {
                        let verifier = CodeVerifier::new(form["code_verifier"].clone());
                        let expected = seen.challenges.lock().unwrap().last().cloned().unwrap();
                        if verifier.challenge(ChallengeMethod::S256) != expected || form["code"] != "the-code"
                        {
                            json(400, serde_json::json!({"error": "invalid_grant"}))
                        } else {
                            json(
                                200,
                                serde_json::json!({"access_token": "at-1", "token_type": "Bearer",
                                    "expires_in": 3600, "refresh_token": "rt-1"}),
                            )
                        }
                    }
                    "refresh_token" => {
                        let n = seen.refreshes.fetch_add(1, Ordering::SeqCst) + 2;
                        assert_eq!(form["refresh_token"], "rt-1");
                        // The response omits refresh_token: the old one is kept.
                        json(200, serde_json::json!({"access_token": format!("at-{n}"), "expires_in": 3600}))
                    }
                    other => panic!("unexpected grant {other}"),
                });
            }
            if let Some(path) = url.strip_prefix("https://api.prov.example/v2/") {
                let auth = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
                seen.api_auth.lock().unwrap().push(auth.clone());
                return Ok(json(200, serde_json::json!({"path": path, "auth": auth})));
            }
            panic!("unexpected request to {url}");
        }
    })
}

fn config() -> AppConfig {
    AppConfig {
        client_id: Some("cid".into()),
        client_secret: Some(SecretString::new("secret")),
        authorize_url: Some("https://prov.example/authorize".into()),
        access_token_url: Some("https://prov.example/token".into()),
        api_base_url: Some("https://api.prov.example/v2".into()),
        client_kwargs: ClientKwargs {
            scope: Some("read".into()),
            code_challenge_method: Some("S256".into()),
            ..ClientKwargs::default()
        },
        ..AppConfig::default()
    }
}

struct Setup {
    oauth: OAuth,
    seen: Arc<Seen>,
    clock: FixedClock,
}

fn setup(
    builder: impl FnOnce(keyward_client::registry::OAuthBuilder) -> keyward_client::registry::OAuthBuilder,
) -> Setup {
    let seen = Arc::new(Seen::default());
    let clock = FixedClock::new(NOW);
    let oauth =
        builder(OAuth::builder().http_client(provider(seen.clone())).clock(Arc::new(clock.clone()))).build();
    oauth.register("prov", config()).unwrap();
    Setup { oauth, seen, clock }
}

/// Starts a login and returns the callback the provider would send.
async fn start(s: &Setup, session: &MemorySession) -> Callback {
    let app = s.oauth.client("prov").unwrap();
    let redirect = app.authorize_redirect(session, REDIRECT).await.unwrap();
    let (base, query) = redirect.url.split_once('?').unwrap();
    assert_eq!(base, "https://prov.example/authorize");
    let q: BTreeMap<String, String> = parse_form(query).unwrap().into_iter().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "cid");
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["scope"], "read");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["state"].len(), 30);
    s.seen.challenges.lock().unwrap().push(q["code_challenge"].clone());
    Callback::from_query(&format!("code=the-code&state={}", q["state"])).unwrap()
}

#[tokio::test]
async fn login_exchanges_the_code_with_the_pkce_verifier_once() {
    let s = setup(|b| b);
    let session = MemorySession::new();
    let callback = start(&s, &session).await;
    let app = s.oauth.client("prov").unwrap();
    let token = app.authorize_access_token(&session, &callback).await.unwrap();
    let t = token.oauth2().unwrap();
    assert_eq!(t.access_token.secret(), "at-1");
    assert_eq!(t.expires_at, Some(NOW + 3600));
    let sent = s.seen.token_requests.lock().unwrap()[0].clone();
    assert_eq!(sent["redirect_uri"], REDIRECT);
    // A replayed callback is told apart from a forged one.
    let again = app.authorize_access_token(&session, &callback).await.unwrap_err();
    assert!(matches!(again, Error::State(StateError::AlreadyUsed { .. })), "{again:?}");
    assert_eq!(again.status(), 400);
    assert_eq!(s.seen.token_requests.lock().unwrap().len(), 1, "no second exchange");
}

#[tokio::test]
async fn each_state_mismatch_has_its_own_error() {
    let s = setup(|b| b);
    let app = s.oauth.client("prov").unwrap();
    // The session cookie did not come back: an empty session.
    let session = MemorySession::new();
    let callback = start(&s, &session).await;
    let err = app.authorize_access_token(&MemorySession::new(), &callback).await.unwrap_err();
    assert!(matches!(err, Error::State(StateError::NoSession { .. })), "{err:?}");
    // A state this session never issued.
    let forged = Callback::from_query("code=the-code&state=forged").unwrap();
    let err = app.authorize_access_token(&session, &forged).await.unwrap_err();
    assert!(matches!(err, Error::State(StateError::Unknown { .. })), "{err:?}");
    // No state at all.
    let err =
        app.authorize_access_token(&session, &Callback::from_query("code=x").unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::State(StateError::MissingParameter)), "{err:?}");
    // Too late.
    s.clock.advance(601);
    let err = app.authorize_access_token(&session, &callback).await.unwrap_err();
    assert!(matches!(err, Error::State(StateError::Expired { .. })), "{err:?}");
    // The provider said no: a typed error with 403, before any state is spent.
    let denied = Callback::from_query("error=access_denied&state=x");
    let err = Error::from(denied.unwrap_err());
    assert_eq!(err.status(), 403);
    assert!(s.seen.token_requests.lock().unwrap().is_empty());
}

/// A callback without `code` is refused before any request to the provider, with the
/// parameter named (400); the flow is spent, as for any callback that matched a state.
#[tokio::test]
async fn a_callback_without_a_code_is_named_and_spends_the_flow() {
    let s = setup(|b| b);
    let app = s.oauth.client("prov").unwrap();
    let session = MemorySession::new();
    let callback = start(&s, &session).await;
    let no_code = Callback::from_query(&format!("state={}", callback.state().unwrap())).unwrap();
    let err = app.authorize_access_token(&session, &no_code).await.unwrap_err();
    assert!(matches!(err, Error::MissingCallbackParameter("code")), "{err:?}");
    assert_eq!(err.status(), 400);
    assert!(s.seen.token_requests.lock().unwrap().is_empty());
    let err = app.authorize_access_token(&session, &callback).await.unwrap_err();
    assert!(matches!(err, Error::State(StateError::AlreadyUsed { .. })), "{err:?}");
}

/// A flow-state cache that fails as told: each call returns the next error of the list
/// (none left: it works, in memory).
#[derive(Default)]
struct FailingCache {
    errors: Mutex<Vec<StateCacheError>>,
    inner: MemoryStateCache,
}

impl StateCache for FailingCache {
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: String,
        ttl: i64,
    ) -> BoxFuture<'a, Result<(), StateCacheError>> {
        match self.errors.lock().unwrap().pop() {
            Some(e) => Box::pin(async move { Err(e) }),
            None => self.inner.set(key, value, ttl),
        }
    }
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, StateCacheError>> {
        match self.errors.lock().unwrap().pop() {
            Some(e) => Box::pin(async move { Err(e) }),
            None => self.inner.take(key),
        }
    }
}

/// An unreachable flow-state cache is a 503 (try again) at both steps of a login; a corrupt
/// entry or another fault of the cache is a 500.
#[tokio::test]
async fn a_state_cache_outage_is_503_and_a_fault_500() {
    let cache = Arc::new(FailingCache::default());
    struct Shared(Arc<FailingCache>);
    impl StateCache for Shared {
        fn set<'a>(&'a self, k: &'a str, v: String, ttl: i64) -> BoxFuture<'a, Result<(), StateCacheError>> {
            self.0.set(k, v, ttl)
        }
        fn take<'a>(&'a self, k: &'a str) -> BoxFuture<'a, Result<Option<String>, StateCacheError>> {
            self.0.take(k)
        }
    }
    let s = setup(|b| b.state_store(Arc::new(CacheStateStore::new(Shared(cache.clone())))));
    let app = s.oauth.client("prov").unwrap();
    let down = || StateCacheError::unavailable(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));

    cache.errors.lock().unwrap().push(down());
    let err = app.authorize_redirect(&MemorySession::new(), REDIRECT).await.unwrap_err();
    assert!(matches!(err, Error::State(StateError::Cache(StateCacheError::Unavailable(_)))), "{err:?}");
    assert_eq!(err.status(), 503);

    let session = MemorySession::new();
    let callback = start(&s, &session).await;
    cache.errors.lock().unwrap().push(down());
    let err = app.authorize_access_token(&session, &callback).await.unwrap_err();
    assert_eq!(err.status(), 503, "{err:?}");

    let session = MemorySession::new();
    let callback = start(&s, &session).await;
    cache.errors.lock().unwrap().push(StateCacheError::Corrupt("not JSON".into()));
    let err = app.authorize_access_token(&session, &callback).await.unwrap_err();
    assert!(matches!(err, Error::State(StateError::Cache(StateCacheError::Corrupt(_)))), "{err:?}");
    assert_eq!(err.status(), 500);
    assert!(s.seen.token_requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn two_tabs_log_in_concurrently() {
    let s = setup(|b| b);
    let app = s.oauth.client("prov").unwrap();
    let session = MemorySession::new();
    let first = start(&s, &session).await;
    let first_challenge = s.seen.challenges.lock().unwrap()[0].clone();
    let second = start(&s, &session).await;
    // Complete the second tab first, then the first (the provider checks each verifier).
    app.authorize_access_token(&session, &second).await.unwrap();
    s.seen.challenges.lock().unwrap().push(first_challenge);
    app.authorize_access_token(&session, &first).await.unwrap();
}

#[tokio::test]
async fn api_calls_resolve_urls_and_find_tokens() {
    let s = setup(|b| {
        b.fetch_token(|app: String, user: String| async move {
            assert_eq!(app, "prov");
            Ok(match user.as_str() {
                "alice" => Some(AppToken::OAuth2(keyward_client::oauth2::Token::bearer("alice-at"))),
                _ => None,
            })
        })
    });
    let app = s.oauth.client("prov").unwrap();
    let given = AppToken::OAuth2(keyward_client::oauth2::Token::bearer("given"));
    let v = app.get("/users/me").token(given).query("fields", "a b").send_json().await.unwrap();
    assert_eq!(v["path"], "users/me?fields=a+b");
    assert_eq!(v["auth"], "Bearer given");
    let v = app.post("items").user("alice").form([("x", "1")]).send_json().await.unwrap();
    assert_eq!(v["auth"], "Bearer alice-at");
    let err = app.get("items").user("bob").send().await.unwrap_err();
    assert!(matches!(err, Error::MissingToken { .. }) && err.status() == 401, "{err:?}");
    let err = app.get("items").send().await.unwrap_err();
    assert!(matches!(err, Error::MissingToken { .. }), "{err:?}");
    let v = app.get("public").withhold_token().send_json().await.unwrap();
    assert_eq!(v["auth"], serde_json::Value::Null);
    let oauth1 =
        AppToken::OAuth1(serde_json::from_str(r#"{"oauth_token":"t","oauth_token_secret":"s"}"#).unwrap());
    assert!(matches!(app.get("x").token(oauth1).send().await, Err(Error::WrongToken { .. })));
}

#[tokio::test]
async fn expired_tokens_are_refreshed_once_and_the_hooks_hear_of_it() {
    let updates = Arc::new(Mutex::new(Vec::new()));
    let u = updates.clone();
    let s = setup(move |b| {
        b.update_token(move |update: keyward_client::registry::TokenUpdate| {
            let u = u.clone();
            async move {
                u.lock().unwrap().push(update);
                Ok(())
            }
        })
    });
    let mut events = s.oauth.subscribe();
    let session = MemorySession::new();
    let callback = start(&s, &session).await;
    let app = s.oauth.client("prov").unwrap();
    let token = app.authorize_access_token(&session, &callback).await.unwrap();
    s.clock.advance(3600);
    let calls = (0..8).map(|_| app.get("me").token(token.clone()).send_json());
    let results = futures_join_all(calls).await;
    for v in results {
        assert_eq!(v.unwrap()["auth"], "Bearer at-2");
    }
    assert_eq!(s.seen.refreshes.load(Ordering::SeqCst), 1, "single-flight refresh");
    let updates = updates.lock().unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].app, "prov");
    assert_eq!(updates[0].token.access_token.secret(), "at-2");
    assert_eq!(updates[0].token.refresh_token.as_ref().unwrap().secret(), "rt-1", "old refresh token kept");
    assert_eq!(updates[0].old.access_token.secret(), "at-1");
    let event = events.try_recv().unwrap();
    assert_eq!(event.token.access_token.secret(), "at-2");
}

async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn registration_errors_are_typed_and_name_the_key() {
    let oauth = OAuth::builder().build();
    assert!(matches!(oauth.client("nope"), Err(Error::UnknownApp(_))));
    let mut cfg = config();
    cfg.access_token_url = None;
    let err = oauth.register("custom", cfg).unwrap_err();
    assert!(matches!(err, Error::Config(ConfigError::Missing { key: "access_token_url", .. })), "{err:?}");
    let mut cfg = config();
    cfg.compliance_fix = Some("unheard-of".into());
    let err = oauth.register("custom", cfg).unwrap_err();
    assert!(matches!(err, Error::Config(ConfigError::Invalid { .. })), "{err:?}");
    // A preset fills the endpoints; code gives only the credentials.
    let cfg = AppConfig {
        client_id: Some("gh".into()),
        client_secret: Some(SecretString::new("s")),
        ..AppConfig::default()
    };
    let github = oauth.register_with("github", cfg, Overwrite::Code, AppHooks::default()).unwrap();
    assert_eq!(github.config().api_base_url.as_deref(), Some("https://api.github.com/"));
    assert_eq!(oauth.names(), ["github"]);
    assert!(!format!("{:?}", oauth.client("github").unwrap()).contains("\"s\""));
}

#[tokio::test]
async fn apps_lists_the_registered_apps_by_name() {
    let oauth = OAuth::builder().build();
    assert!(oauth.apps().is_empty());
    for name in ["zeta", "alpha", "mid"] {
        oauth.register(name, config()).unwrap();
    }
    // Registering a name again replaces the app.
    let mut again = config();
    again.client_kwargs.scope = Some("again".into());
    oauth.register("mid", again).unwrap();
    let apps = oauth.apps();
    assert_eq!(apps.iter().map(|a| a.name()).collect::<Vec<_>>(), ["alpha", "mid", "zeta"]);
    assert_eq!(oauth.names(), ["alpha", "mid", "zeta"]);
    assert_eq!(apps[1].config().client_kwargs.scope.as_deref(), Some("again"));
}

#[tokio::test]
async fn custom_client_auth_methods_are_selected_by_name() {
    let seen = Arc::new(Seen::default());
    let http: Arc<dyn HttpClient> = Arc::new({
        let seen = seen.clone();
        move |req: http::Request<Vec<u8>>| {
            let seen = seen.clone();
            async move {
                let form: BTreeMap<String, String> =
                    parse_form(std::str::from_utf8(req.body()).unwrap()).unwrap().into_iter().collect();
                assert!(req.headers().get("authorization").is_none(), "no basic auth");
                assert_eq!(req.headers()["x-client-proof"], "proof-for-cid");
                seen.token_requests.lock().unwrap().push(form);
                Ok::<_, HttpError>(json(200, serde_json::json!({"access_token": "cc", "expires_in": 60})))
            }
        }
    });
    let oauth = OAuth::builder()
        .http_client(http)
        .client_auth_method(
            "header_proof",
            |req: &mut keyward::oauth2::FormRequest, ctx: &keyward::oauth2::rfc6749::AuthContext<'_>| {
                let value = format!("proof-for-{}", ctx.client_id);
                req.headers.insert("x-client-proof", http::HeaderValue::from_str(&value).unwrap());
                Ok(())
            },
        )
        .build();
    let mut cfg = config();
    cfg.client_kwargs.token_endpoint_auth_method = Some("header_proof".into());
    let app = oauth.register("prov", cfg).unwrap();
    let token = app.oauth2().unwrap().client_credentials(None).await.unwrap();
    assert_eq!(token.access_token.secret(), "cc");
    let sent = seen.token_requests.lock().unwrap()[0].clone();
    assert_eq!(sent["grant_type"], "client_credentials");
    assert!(!sent.contains_key("client_secret"));
}

#[tokio::test]
async fn toml_config_layers_under_code_unless_loaded_values_overwrite() {
    let toml = r#"
        [clients.prov]
        client_id = "from-toml"
        client_secret = "toml-secret"
        authorize_url = "https://toml.example/authorize"
        access_token_url = "https://toml.example/token"
        client_kwargs = { scope = "toml-scope" }
    "#;
    let oauth = OAuth::builder().toml(toml).unwrap().build();
    assert_eq!(oauth.configured_names(), ["prov"]);
    let code = AppConfig { client_id: Some("from-code".into()), ..AppConfig::default() };
    let app = oauth.register("prov", code.clone()).unwrap();
    assert_eq!(app.config().client_id.as_deref(), Some("from-code"));
    assert_eq!(app.config().authorize_url.as_deref(), Some("https://toml.example/authorize"));
    assert_eq!(app.config().client_kwargs.scope.as_deref(), Some("toml-scope"));
    let app = oauth.register_with("prov", code, Overwrite::Loaded, AppHooks::default()).unwrap();
    assert_eq!(app.config().client_id.as_deref(), Some("from-toml"));
    assert!(matches!(OAuth::builder().toml("[clients.x]\nnot_a_key = 1"), Err(Error::Config(_))));
}

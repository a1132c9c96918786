//! A whole registry login with its flow state in a `StateCache` (`OAuthBuilder::state_store(
//! CacheStateStore)`), over memory and over Redis (`KEYWARD_TEST_REDIS_URL`; skipped visibly
//! without it, a failure under `CI=true`): the session keeps only a marker, the PKCE verifier
//! comes back from the cache to the token request, and a replayed callback is refused.

use keyward::common::clock::FixedClock;
use keyward::common::encoding::parse_form;
use keyward::common::secret::SecretString;
use keyward::oauth2::rfc7636::{ChallengeMethod, CodeVerifier};
use keyward::{HttpClient, HttpError};
use keyward_client::registry::state::{CacheStateStore, MemoryStateCache, SESSION_KEY, StateStore};
use keyward_client::registry::{AppConfig, Callback, ClientKwargs, Error, OAuth, StateError};
use keyward_client::session::{MemorySession, Session};
use keyward_stores::RedisStore;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const NOW: i64 = 1_800_000_000;
const REDIRECT: &str = "https://app.example/auth/prov";

/// A token endpoint that grants a token only for the code challenge of the last
/// authorization URL.
fn provider(challenge: Arc<Mutex<Option<String>>>) -> Arc<dyn HttpClient> {
    Arc::new(move |req: http::Request<Vec<u8>>| {
        let challenge = challenge.clone();
        async move {
            assert_eq!(req.uri(), "https://prov.example/token");
            let form: BTreeMap<String, String> =
                parse_form(std::str::from_utf8(req.body()).unwrap()).unwrap().into_iter().collect();
            let verifier = CodeVerifier::new(form["code_verifier"].clone());
            let expected = challenge.lock().unwrap().clone().unwrap();
            let ok = verifier.challenge(ChallengeMethod::S256) == expected
                && form["code"] == "the-code"
                && form["redirect_uri"] == REDIRECT;
            let (status, body) = if ok {
                (200, r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600}"#)
            } else {
                (400, r#"{"error":"invalid_grant"}"#)
            };
            Ok::<_, HttpError>(
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(body.as_bytes().to_vec())
                    .unwrap(),
            )
        }
    })
}

/// Logs in through a registry whose flow state lives in `store`.
async fn login_through(store: Arc<dyn StateStore>) {
    let challenge = Arc::new(Mutex::new(None));
    let oauth = OAuth::builder()
        .http_client(provider(challenge.clone()))
        .clock(Arc::new(FixedClock::new(NOW)))
        .state_store(store)
        .build();
    let config = AppConfig {
        client_id: Some("cid".into()),
        client_secret: Some(SecretString::new("secret")),
        authorize_url: Some("https://prov.example/authorize".into()),
        access_token_url: Some("https://prov.example/token".into()),
        client_kwargs: ClientKwargs { code_challenge_method: Some("S256".into()), ..ClientKwargs::default() },
        ..AppConfig::default()
    };
    let app = oauth.register("prov", config).unwrap();
    let session = MemorySession::new();

    let redirect = app.authorize_redirect(&session, REDIRECT).await.unwrap();
    let (_, query) = redirect.url.split_once('?').unwrap();
    let q: BTreeMap<String, String> = parse_form(query).unwrap().into_iter().collect();
    *challenge.lock().unwrap() = Some(q["code_challenge"].clone());

    // The flow data went to the cache; the session holds only a marker.
    let marker = session.get(SESSION_KEY).await.unwrap().expect("a marker in the session").to_string();
    for kept_out in ["code_verifier", "redirect_uri", REDIRECT] {
        assert!(!marker.contains(kept_out), "{kept_out} in the session: {marker}");
    }

    let callback = Callback::from_query(&format!("code=the-code&state={}", q["state"])).unwrap();
    let token = app.authorize_access_token(&session, &callback).await.unwrap();
    assert_eq!(
        token.oauth2().unwrap().access_token.secret(),
        "at-1",
        "the verifier came back from the cache"
    );

    let replay = app.authorize_access_token(&session, &callback).await.unwrap_err();
    assert!(matches!(replay, Error::State(StateError::AlreadyUsed { .. })), "{replay:?}");

    // A callback with a state this session never saw.
    let forged = Callback::from_query("code=the-code&state=forged").unwrap();
    let err = app.authorize_access_token(&session, &forged).await.unwrap_err();
    assert!(matches!(err, Error::State(StateError::Unknown { .. })), "{err:?}");
}

#[tokio::test]
async fn a_login_with_its_state_in_a_memory_cache() {
    login_through(Arc::new(CacheStateStore::new(MemoryStateCache::default()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_with_its_state_in_redis() {
    let url = keyward_testkit::require_or_skip!(
        keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL"),
        "Redis (KEYWARD_TEST_REDIS_URL)",
        "run `source tests/peers/servers.sh && keyward_servers_start` or `bash .ci/run`"
    );
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let prefix = format!("kwtest:client_state_login_{}_{nanos}:", std::process::id());
    let store = RedisStore::connect(&url, prefix).await.expect("RedisStore");
    login_through(Arc::new(CacheStateStore::new(store))).await;
}

//! Logout for relying parties through the registry, against a scripted OpenID provider (a
//! closure `HttpClient`): the login kept in the session, `logout_redirect` (RP-Initiated
//! Logout), and the back-channel receiver (Back-Channel Logout §2.6, §2.8) with its hook.

use keyward::common::clock::FixedClock;
use keyward::common::encoding::parse_form;
use keyward::common::secret::SecretString;
use keyward::{HttpClient, HttpError};
use keyward_client::registry::{
    AppConfig, BackchannelReceiver, BackchannelRejection, Callback, ClientKwargs, Error, LOGINS_KEY, OAuth,
};
use keyward_client::session::MemorySession;
use keyward_stores::{MemoryStore, StoreAdmin};
use keyward_testkit::jose::{TestSigner, jwks};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://op.example";
const REDIRECT: &str = "https://rp.example/auth/op";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

type Req = http::Request<Vec<u8>>;

struct Op {
    signer: TestSigner,
    nonce: Mutex<Option<String>>,
}

impl Op {
    fn http(self: &Arc<Self>) -> Arc<dyn HttpClient> {
        let op = self.clone();
        Arc::new(move |req: Req| {
            let body = op.route(&req);
            async move {
                Ok::<_, HttpError>(
                    http::Response::builder().status(200).body(body.to_string().into_bytes()).unwrap(),
                )
            }
        })
    }

    fn route(&self, req: &Req) -> Value {
        match req.uri().path() {
            "/.well-known/openid-configuration" => json!({
                "issuer": ISS,
                "authorization_endpoint": format!("{ISS}/authorize"),
                "token_endpoint": format!("{ISS}/token"),
                "jwks_uri": format!("{ISS}/jwks"),
                "end_session_endpoint": format!("{ISS}/session/end?ui=1"),
            }),
            "/jwks" => jwks(&[&self.signer]),
            "/token" => {
                let claims = json!({"iss": ISS, "sub": "user-1", "sid": "sid-1", "aud": "cid", "iat": NOW,
                    "exp": NOW + 300, "nonce": self.nonce.lock().unwrap().clone()});
                json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600,
                    "id_token": self.signer.sign(&claims)})
            }
            other => panic!("unexpected request to {other}"),
        }
    }
}

struct Setup {
    oauth: OAuth,
    op: Arc<Op>,
}

fn setup() -> Setup {
    let op = Arc::new(Op { signer: TestSigner::load("oidc_op_a.pem", "key-a"), nonce: Mutex::new(None) });
    let oauth = OAuth::builder().http_client(op.http()).clock(Arc::new(FixedClock::new(NOW))).build();
    oauth
        .register(
            "op",
            AppConfig {
                client_id: Some("cid".into()),
                client_secret: Some(SecretString::new("secret")),
                server_metadata_url: Some(format!("{ISS}/.well-known/openid-configuration")),
                client_kwargs: ClientKwargs { scope: Some("openid".into()), ..ClientKwargs::default() },
                ..AppConfig::default()
            },
        )
        .unwrap();
    Setup { oauth, op }
}

fn query(url: &str) -> BTreeMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    parse_form(q).unwrap().into_iter().collect()
}

async fn login(s: &Setup, session: &MemorySession) {
    let app = s.oauth.client("op").unwrap();
    let redirect = app.authorize_redirect(session, REDIRECT).await.unwrap();
    let q = query(&redirect.url);
    *s.op.nonce.lock().unwrap() = q.get("nonce").cloned();
    let callback = Callback::from_query(&format!("code=c&state={}", q["state"])).unwrap();
    app.authorize_access_token(session, &callback).await.unwrap();
}

#[tokio::test]
async fn logout_redirect_sends_the_id_token_of_the_login_and_forgets_it() {
    let s = setup();
    let session = MemorySession::new();
    login(&s, &session).await;
    let app = s.oauth.client("op").unwrap();
    let kept = app.session_login(&session).await.unwrap().expect("the login is kept");
    assert_eq!((kept.sub.as_deref(), kept.sid.as_deref()), (Some("user-1"), Some("sid-1")));
    assert!(!format!("{kept:?}").contains(&kept.id_token), "the ID token stays out of Debug");

    let redirect = app.logout_redirect(&session, Some("https://rp.example/bye"), Some("st-1")).await.unwrap();
    assert!(redirect.url.starts_with(&format!("{ISS}/session/end?ui=1&")), "{}", redirect.url);
    let q = query(&redirect.url);
    assert_eq!(q["id_token_hint"], kept.id_token);
    assert_eq!(q["client_id"], "cid");
    assert_eq!(q["post_logout_redirect_uri"], "https://rp.example/bye");
    assert_eq!(q["state"], "st-1");
    assert!(app.session_login(&session).await.unwrap().is_none(), "the login left the session");
    assert!(!session.into_values().contains_key(LOGINS_KEY), "the key is gone, not left empty");

    // Without a login in the session: still a logout URL, without the hint.
    let session = MemorySession::new();
    let redirect = app.logout_redirect(&session, None, None).await.unwrap();
    let q = query(&redirect.url);
    assert!(!q.contains_key("id_token_hint") && !q.contains_key("state"), "{q:?}");
    assert_eq!(q["client_id"], "cid");
}

#[tokio::test]
async fn logout_redirect_needs_discovery() {
    let oauth = OAuth::builder().build();
    let app = oauth
        .register(
            "plain",
            AppConfig {
                client_id: Some("cid".into()),
                authorize_url: Some("https://p.example/a".into()),
                access_token_url: Some("https://p.example/t".into()),
                ..AppConfig::default()
            },
        )
        .unwrap();
    let err = app.logout_redirect(&MemorySession::new(), None, None).await.unwrap_err();
    assert!(matches!(err, Error::Config(_)) && err.status() == 500, "{err:?}");
}

type Calls = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;

async fn receiver(s: &Setup, fail: bool) -> (BackchannelReceiver, Calls) {
    let store = Arc::new(MemoryStore::new());
    // The replay cache remembers from before the tokens of the test were issued.
    store.purge_expired(NOW - 60).await.unwrap();
    let calls: Calls = Arc::default();
    let c = calls.clone();
    let hook = move |app: String, sub: Option<String>, sid: Option<String>| {
        c.lock().unwrap().push((app, sub, sid));
        async move { if fail { Err("the session store is down".into()) } else { Ok(()) } }
    };
    (BackchannelReceiver::new(s.oauth.clone(), store, hook), calls)
}

fn logout_token(s: &Setup, f: impl FnOnce(&mut Value)) -> String {
    let mut claims = json!({"iss": ISS, "aud": "cid", "iat": NOW, "jti": "j-1", "sub": "user-1", "sid": "sid-1", "events": {EVENT: {}}});
    f(&mut claims);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("key-a".into());
    header.typ = Some("logout+jwt".into());
    s.op.signer.sign_with(header, &claims)
}

fn post(body: &str) -> Req {
    http::Request::post("https://rp.example/backchannel/op")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn error_of(response: &http::Response<Vec<u8>>) -> Value {
    assert_eq!(response.headers()["cache-control"], "no-store");
    serde_json::from_slice(response.body()).unwrap()
}

#[tokio::test]
async fn a_valid_logout_token_calls_the_hook_once() {
    let s = setup();
    let (receiver, calls) = receiver(&s, false).await;
    let body = format!("logout_token={}", logout_token(&s, |_| {}));
    let response = receiver.handle("op", &post(&body)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        *calls.lock().unwrap(),
        vec![("op".to_owned(), Some("user-1".to_owned()), Some("sid-1".to_owned()))]
    );

    // The same token again: a replayed jti.
    let response = receiver.handle("op", &post(&body)).await;
    assert_eq!(response.status(), 400);
    let error = error_of(&response);
    assert_eq!(error["error"], "invalid_request");
    assert!(error["error_description"].as_str().unwrap().contains("jti"), "{error}");
    assert_eq!(calls.lock().unwrap().len(), 1, "the hook is not called for a replay");
}

#[tokio::test]
async fn invalid_logout_requests_get_400_and_never_reach_the_hook() {
    let s = setup();
    let (receiver, calls) = receiver(&s, false).await;
    let cases = [
        ("nonce", format!("logout_token={}", logout_token(&s, |c| c["nonce"] = json!("n")))),
        ("aud", format!("logout_token={}", logout_token(&s, |c| c["aud"] = json!("another-client")))),
        ("iss", format!("logout_token={}", logout_token(&s, |c| c["iss"] = json!("https://evil.example")))),
        ("events", format!("logout_token={}", logout_token(&s, |c| c["events"] = json!({})))),
        ("no token", "other=1".to_owned()),
        ("two tokens", format!("logout_token={0}&logout_token={0}", logout_token(&s, |_| {}))),
        ("not a jwt", "logout_token=abc".to_owned()),
    ];
    for (name, body) in cases {
        let response = receiver.handle("op", &post(&body)).await;
        assert_eq!(response.status(), 400, "{name}");
        assert_eq!(error_of(&response)["error"], "invalid_request", "{name}");
    }
    let get = http::Request::get("https://rp.example/backchannel/op").body(Vec::new()).unwrap();
    assert_eq!(receiver.handle("op", &get).await.status(), 400);
    let json_body = http::Request::post("https://rp.example/backchannel/op")
        .header("content-type", "application/json")
        .body(b"{}".to_vec())
        .unwrap();
    assert_eq!(receiver.handle("op", &json_body).await.status(), 400);
    assert_eq!(receiver.handle("nope", &post("logout_token=x")).await.status(), 404);
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_hook_is_501_not_500() {
    let s = setup();
    let (receiver, calls) = receiver(&s, true).await;
    let token = logout_token(&s, |_| {});
    let err = receiver.receive("op", format!("logout_token={token}").as_bytes()).await.unwrap_err();
    assert!(matches!(err, BackchannelRejection::Hook(_)), "{err:?}");
    assert_eq!(err.status(), 501);
    assert!(err.error_body().is_none());
    assert_eq!(calls.lock().unwrap().len(), 1);
}

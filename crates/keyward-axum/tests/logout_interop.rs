//! Logout against npm's `oidc-provider` (tests/peers/oidc/server.mjs, its `logout` client):
//! the RP-initiated logout redirect is accepted (confirmation page, then the redirect to
//! the post-logout URI with our `state`), and the back-channel logout it then sends reaches
//! a Keyward axum app on 127.0.0.1, whose hook hears the login's `sub` and `sid`. Then
//! tokens signed with the provider's key (the committed test key) posted to the same
//! endpoint: a `nonce`, a replayed `jti` and a wrong `aud` are answered 400.
//!
//! Needs node and `oidc-provider` (`.ci/run` installs it); skipped visibly without them,
//! failed under CI=true.

use axum::Router;
use axum::routing::post;
use keyward::common::secret::SecretString;
use keyward_axum::logout::backchannel_logout;
use keyward_client::registry::{AppConfig, BackchannelReceiver, Callback, ClientKwargs, OAuth};
use keyward_client::session::MemorySession;
use keyward_stores::{MemoryStore, StoreAdmin};
use keyward_testkit::jose::TestSigner;
use keyward_testkit::peers::{Browser, OIDC_REDIRECT, OIDC_SECRET, OidcPeer};
use keyward_testkit::require_or_skip;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BYE: &str = "http://127.0.0.1:1/bye";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

type Calls = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn xsrf(page: &str) -> Option<String> {
    let at = page.find("name=\"xsrf\"")?;
    let tag_start = page[..at].rfind('<')?;
    let tag = &page[tag_start..tag_start + page[tag_start..].find('>')?];
    let v = tag.split("value=\"").nth(1)?;
    Some(v[..v.find('"')?].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_redirect_and_back_channel_logout_with_oidc_provider() {
    // The Keyward app first: the provider needs its back-channel URI at start.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let backchannel_uri = format!("{base}/backchannel-logout/op");
    let peer = require_or_skip!(
        OidcPeer::start_with_env(&[("KEYWARD_BACKCHANNEL_LOGOUT_URI", &backchannel_uri)]),
        "node and npm oidc-provider",
        "run .ci/run, or `npm ci` tests/peers/node into .peers/node"
    );

    let oauth = OAuth::builder().build();
    let app = oauth
        .register(
            "op",
            AppConfig {
                client_id: Some("logout".into()),
                client_secret: Some(SecretString::new(OIDC_SECRET)),
                server_metadata_url: Some(peer.metadata_url()),
                client_kwargs: ClientKwargs {
                    scope: Some("openid".into()),
                    code_challenge_method: Some("S256".into()),
                    ..ClientKwargs::default()
                },
                ..AppConfig::default()
            },
        )
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    // A server starts its replay cache's epoch at start-up (a second back, for the tokens
    // this test signs in the current second).
    store.purge_expired(now() - 1).await.unwrap();
    let calls: Calls = Arc::default();
    let c = calls.clone();
    let receiver = BackchannelReceiver::new(
        oauth.clone(),
        store,
        move |app: String, sub: Option<String>, sid: Option<String>| {
            c.lock().unwrap().push((app, sub, sid));
            async { Ok(()) }
        },
    );
    let router =
        Router::new().route("/backchannel-logout/{name}", post(backchannel_logout)).with_state(receiver);
    let _server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    // Log in (the registry's session; the provider's session is the browser's cookies).
    let session = MemorySession::new();
    let mut browser = Browser::new();
    let redirect = app.authorize_redirect(&session, OIDC_REDIRECT).await.unwrap();
    let query = browser.login_at_oidc(&redirect.url, "alice").await;
    app.authorize_access_token(&session, &Callback::from_query(&query).unwrap()).await.unwrap();
    let login = app.session_login(&session).await.unwrap().expect("the login is kept");
    assert_eq!(login.sub.as_deref(), Some("alice"));
    let sid = login.sid.clone().expect("the provider puts sid in ID tokens for back-channel clients");

    // RP-initiated logout: the provider shows its confirmation, then sends us back.
    let logout = app.logout_redirect(&session, Some(BYE), Some("st-42")).await.unwrap();
    assert!(app.session_login(&session).await.unwrap().is_none());
    let page = browser.get(&logout.url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let xsrf = xsrf(&page.body).unwrap_or_else(|| panic!("no logout confirmation form: {}", page.body));
    let confirm = format!("{}/session/end/confirm", peer.issuer);
    let page = browser.post_form(&confirm, &[("xsrf", &xsrf), ("logout", "yes")]).await;
    let location =
        page.location.unwrap_or_else(|| panic!("no redirect after logout: {} {}", page.status, page.body));
    assert_eq!(location, format!("{BYE}?state=st-42"));

    // The back-channel logout reached the app and its hook.
    for _ in 0..50 {
        if !calls.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        *calls.lock().unwrap(),
        vec![("op".to_owned(), Some("alice".to_owned()), Some(sid.clone()))],
        "the hook heard the provider's back-channel logout"
    );

    // Tokens signed with the provider's own key, posted over HTTP.
    let signer = TestSigner::load("oidc_op_a.pem", "op-a");
    let token = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut claims = json!({"iss": peer.issuer, "aud": "logout", "iat": now(), "jti": format!("kw-{}", now()),
            "sub": "alice", "sid": sid, "events": {EVENT: {}}});
        f(&mut claims);
        // The committed key's default header: `typ: JWT`, which a logout token may carry.
        signer.sign(&claims)
    };
    let send = |t: String| {
        let uri = backchannel_uri.clone();
        async move {
            let page = Browser::new().post_form(&uri, &[("logout_token", &t)]).await;
            (page.status, page.body)
        }
    };
    let valid = token(&|_| {});
    assert_eq!(send(valid.clone()).await.0, 200, "a token of ours, as the provider would sign it");
    for (name, t) in [
        ("replayed jti", valid),
        ("nonce", token(&|c| c["nonce"] = json!("n-1"))),
        ("wrong aud", token(&|c| c["aud"] = json!("another-client"))),
    ] {
        let (status, body) = send(t).await;
        assert_eq!(status, 400, "{name}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"], "invalid_request", "{name}");
    }
    assert_eq!(calls.lock().unwrap().len(), 2, "only the valid tokens reached the hook");
}

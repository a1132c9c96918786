//! The demo as an OpenID Provider: its discovery document and JWK set (the signing keys kept
//! in the database across a restart), and npm openid-client, a relying party nobody here
//! wrote, signing in through it with a seeded client (code + PKCE + nonce with the ID token's
//! signature checked, userinfo, refresh, `prompt=none` with and without a session, `max_age`
//! asking for the password again), and the end-session endpoint's confirmation and refusals.
//! The peer is skipped visibly when missing, failed under `CI=true`.

mod common;

use common::{TempDir, input_value};
use keyward::common::secret::SecretString;
use keyward_testkit::peers::{Browser, OAuth2Lib, OidcClientArgs, PeerUser, run_oidc_client};
use keyward_testkit::require_or_skip;
use serde_json::Value;

const CLIENT_SITE: &str = "http://127.0.0.1:1/rp/";
const REDIRECT: &str = "http://127.0.0.1:1/rp/cb";
const SECRET: &str = "openid-peer-secret-0123456789";

async fn json(url: &str) -> (reqwest::header::HeaderMap, Value) {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let headers = response.headers().clone();
    (headers, serde_json::from_str(&response.text().await.unwrap()).unwrap())
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    kids.sort();
    kids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_signing_keys_that_outlive_a_restart() {
    let dir = TempDir::new("openid-keys");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = demo.base.clone();

    let (_, doc) = json(&format!("{base}/.well-known/openid-configuration")).await;
    assert_eq!(doc["issuer"], base.as_str());
    assert_eq!(doc["userinfo_endpoint"], format!("{base}/oauth2/userinfo"));
    assert_eq!(doc["jwks_uri"], format!("{base}/oauth2/jwks"));
    assert_eq!(doc["end_session_endpoint"], format!("{base}/oauth2/end_session"));
    assert_eq!(doc["backchannel_logout_supported"], true);
    for scope in ["openid", "profile", "email"] {
        assert!(doc["scopes_supported"].as_array().unwrap().iter().any(|s| s == scope), "{doc}");
    }
    for claim in ["email", "preferred_username", "sid"] {
        assert!(doc["claims_supported"].as_array().unwrap().iter().any(|c| c == claim), "{doc}");
    }
    // PAR accepted, not required; DPoP accepted (RFC 9126 §5, RFC 9449 §5.1).
    assert_eq!(doc["pushed_authorization_request_endpoint"], format!("{base}/oauth2/par"), "{doc}");
    assert_ne!(doc["require_pushed_authorization_requests"], true, "{doc}");
    assert!(doc["dpop_signing_alg_values_supported"].as_array().is_some_and(|a| !a.is_empty()), "{doc}");
    // The PAR endpoint is served: a push without client authentication is refused as such.
    let par = reqwest::Client::new()
        .post(format!("{base}/oauth2/par"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("response_type=code&client_id=nobody")
        .send()
        .await
        .unwrap();
    assert_eq!(par.status(), 401);
    let body: Value = serde_json::from_str(&par.text().await.unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");

    let (headers, jwks) = json(&format!("{base}/oauth2/jwks")).await;
    assert!(headers["cache-control"].to_str().unwrap().contains("max-age="));
    let before = kids(&jwks);
    assert!(before.len() >= 2, "the current key and the next one are published: {jwks}");
    for key in jwks["keys"].as_array().unwrap() {
        assert_eq!(key["kty"], "RSA");
        assert!(key.get("d").is_none(), "public keys only: {key}");
    }
    drop(demo);

    // The same database on another port: the same keys, so tokens signed before still verify.
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let again = common::start(listener, config).await;
    let (_, jwks) = json(&format!("{}/oauth2/jwks", again.base)).await;
    assert_eq!(kids(&jwks), before, "the key set is kept in the database");
}

/// The user at the demo in one browser: signs in as alice when the demo asks (counting the
/// sign-ins), grants on the consent page, until the demo sends the browser to the client.
struct DemoUser {
    browser: Browser,
    base: String,
    sign_ins: usize,
}

impl PeerUser for DemoUser {
    async fn authorize(&mut self, url: &str) -> String {
        let mut url = url.to_owned();
        let mut page = self.browser.get(&url).await;
        for _ in 0..10 {
            if let Some(location) = page.location.clone() {
                if location.starts_with(CLIENT_SITE) {
                    return location;
                }
                url = location;
                page = self.browser.get(&url).await;
                continue;
            }
            assert_eq!(page.status, 200, "unexpected page at {url}: {}", page.body);
            let csrf = input_value(&page.body, "csrf");
            if page.body.contains("id=\"signin\"") {
                self.sign_ins += 1;
                let next = input_value(&page.body, "next");
                url = format!("{}/signin", self.base);
                let form = [
                    ("csrf", csrf.as_str()),
                    ("next", &next),
                    ("username", "alice"),
                    ("password", "alice-password"),
                ];
                page = self.browser.post_form(&url, &form).await;
            } else {
                let request = input_value(&page.body, "request");
                url = format!("{}/oauth2/consent", self.base);
                page = self
                    .browser
                    .post_form(&url, &[("csrf", &csrf), ("request", &request), ("decision", "grant")])
                    .await;
            }
        }
        panic!("the walk from {url} did not reach the client");
    }

    async fn approve_device(&mut self, _: &Value) {
        panic!("no device flow here");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_signs_in_through_the_demo() {
    let lib = OAuth2Lib::OpenidClient;
    require_or_skip!(lib.oidc_command(), "node and openid-client", OAuth2Lib::HOW);
    let dir = TempDir::new("openid-peer");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.oauth2_clients.push(keyward_demo::SeedOAuth2Client {
        client_id: "peer-rp".into(),
        client_secret: Some(SecretString::new(SECRET)),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: Vec::new(),
        public: false,
        name: Some("Peer relying party".into()),
    });
    let demo = common::start(listener, config).await;
    let base = demo.base.clone();

    let mut args = OidcClientArgs::new(&base, "peer-rp", REDIRECT);
    args.client_secret = Some(SECRET.into());
    args.steps = vec!["code", "userinfo", "refresh", "prompt_none", "max_age"];
    let mut user = DemoUser { browser: Browser::new(), base: base.clone(), sign_ins: 0 };
    let run =
        run_oidc_client(lib, &args, &mut user).await.expect("installed").unwrap_or_else(|e| panic!("{e}"));

    let code = run.one("code");
    assert_eq!(code["iss"], base.as_str());
    assert_eq!(code["sub"], "alice");
    assert_eq!(code["aud"], "peer-rp");
    assert_eq!(code["signature_checked"], true);
    assert!(code["sid"].is_string() && code["auth_time"].is_i64(), "{code}");
    let info = run.one("userinfo");
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["email_verified"], false, "the demo's addresses are made up: {info}");
    let refresh = run.one("refresh");
    assert_eq!((refresh["id_token"].clone(), refresh["same_auth_time"].clone()), (true.into(), true.into()));
    let silent = run.one("prompt_none");
    assert_eq!(silent["auth_time"], code["auth_time"], "prompt=none signs nobody in");
    assert_eq!(run.one("prompt_none_no_session")["error"], "login_required");
    assert_eq!(run.one("max_age")["signed_in_again"], true);
    assert_eq!(user.sign_ins, 2, "the first sign-in, and again for max_age=0");
}

/// Signs alice in to the demo's provider in `browser` (the sign-in page, then its form).
async fn sign_in(browser: &mut Browser, base: &str) {
    let page = browser.get(&format!("{base}/signin")).await;
    let csrf = input_value(&page.body, "csrf");
    let form =
        [("csrf", csrf.as_str()), ("next", "/"), ("username", "alice"), ("password", "alice-password")];
    let signed = browser.post_form(&format!("{base}/signin"), &form).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_session_without_a_hint_asks_first_and_a_forged_hint_is_refused() {
    let dir = TempDir::new("openid-end-session");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = demo.base.clone();
    let mut browser = Browser::new();
    sign_in(&mut browser, &base).await;
    assert!(browser.get(&format!("{base}/")).await.body.contains("signed in as <b>alice</b>"));

    // A hint that is no ID token of this provider: a page, never a redirect.
    let forged = browser
        .get(&format!("{base}/oauth2/end_session?id_token_hint=e30.e30.x&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"))
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(forged.location.is_none());
    assert!(forged.body.contains("This sign-out link is not valid"), "{}", forged.body);

    // No hint: the user is asked; staying keeps the provider session.
    let ask = browser.get(&format!("{base}/oauth2/end_session")).await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    assert!(ask.body.contains("id=\"confirm-signout\""), "{}", ask.body);
    let form = |decision: &'static str, page: &str| {
        [
            ("csrf", input_value(page, "csrf")),
            ("request", input_value(page, "request")),
            ("decision", decision.into()),
        ]
    };
    let stay = form("stay", &ask.body);
    let stay: Vec<(&str, &str)> = stay.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let stayed = browser.post_form(&format!("{base}/oauth2/end_session/confirm"), &stay).await;
    assert_eq!(stayed.location.as_deref(), Some(format!("{base}/").as_str()));
    assert!(browser.get(&format!("{base}/")).await.body.contains("signed in as <b>alice</b>"));

    // Asked again and confirmed: signed out of the provider; the answered request is gone.
    let ask = browser.get(&format!("{base}/oauth2/end_session")).await;
    let sign_out = form("signout", &ask.body);
    let sign_out: Vec<(&str, &str)> = sign_out.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser.post_form(&format!("{base}/oauth2/end_session/confirm"), &sign_out).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some(format!("{base}/?left=provider").as_str()));
    assert!(browser.get(&format!("{base}/")).await.body.contains("Provider: not signed in."));
}

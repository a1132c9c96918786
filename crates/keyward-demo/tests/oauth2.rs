//! The demo as an OAuth 2.1 authorization server: its own client website's "Sign in with
//! Keyward (OAuth 2)" end to end (sign-up, consent, callback, profile; a second login that
//! stored consent lets through without the page), a client seeded from the environment
//! getting a bearer token for `/api/me`, the grant revoked from `/connected` making that
//! token fail, and the RFC 8414 metadata naming the public URL as issuer.

mod common;

use keyward::common::secret::SecretString;
use keyward_client::registry::{AppConfig, AppToken, Callback, ClientKwargs, OAuth};
use keyward_client::session::MemorySession;
use keyward_demo::Config;
use keyward_testkit::peers::Browser;

const CLIENT_ID: &str = "seeded-oauth2";
const CLIENT_SECRET: &str = "seeded-oauth2-secret";
const CALLBACK: &str = "http://127.0.0.1:1/cb";

/// `GET {base}/api/me` with `Authorization: Bearer {token}`: status, `WWW-Authenticate`,
/// body.
async fn me(base: &str, token: &str) -> (u16, String, serde_json::Value) {
    let resp = reqwest::Client::new().get(format!("{base}/api/me")).bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    let challenge =
        resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, challenge, serde_json::from_str(&resp.text().await.unwrap()).unwrap())
}

/// `POST {base}/oauth2/introspect` of `token`, authenticated as the seeded client.
async fn introspect(base: &str, token: &str) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(format!("{base}/oauth2/introspect"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

/// The `value` of the hidden input named `name` that follows `after` in `html`.
fn hidden_after(html: &str, after: &str, name: &str) -> String {
    let rest = html.split(after).nth(1).unwrap_or_else(|| panic!("no {after} in {html}"));
    common::input_value(rest, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_oauth2_login_signs_up_consents_and_shows_the_profile_then_skips_consent() {
    let dir = common::TempDir::new("oauth2-own");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();

    let home = browser.get(&format!("{base}/")).await;
    assert!(
        home.body.contains(
            "id=\"login-keyward-oauth2\" href=\"/login/keyward-oauth2\">Sign in with Keyward (OAuth 2)"
        ),
        "{}",
        home.body
    );
    let start = browser.get(&format!("{base}/login/keyward-oauth2")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let authorize = start.location.unwrap();
    assert!(authorize.starts_with(&format!("{base}/oauth2/authorize?")), "{authorize}");
    assert!(authorize.contains("code_challenge_method=S256"), "PKCE: {authorize}");

    // Not signed in at the provider: to the sign-in page, whose sign-up tab makes bob.
    let to_signin = browser.get(&authorize).await;
    assert_eq!(to_signin.status, 303, "{}", to_signin.body);
    let signin = browser.get(&to_signin.location.unwrap()).await;
    assert!(signin.body.contains("id=\"signin\""), "{}", signin.body);
    let next = common::input_value(&signin.body, "next");
    assert!(next.starts_with("/oauth2/consent?request="), "{next}");
    let signup = browser.get(&format!("{base}/signup?next={}", urlencode(&next))).await;
    let created = browser
        .post_form(
            &format!("{base}/signup"),
            &[
                ("csrf", &common::input_value(&signup.body, "csrf")),
                ("next", &next),
                ("username", "bob"),
                ("password", "bob-password"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.location.as_deref(), Some(format!("{base}{next}").as_str()));

    let consent = browser.get(&format!("{base}{next}")).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("id=\"consent\""), "{}", consent.body);
    assert!(consent.body.contains("<b id=\"app-name\">Keyward demo site</b>"), "{}", consent.body);
    assert!(consent.body.contains("<code class=\"scope\">profile</code>"), "scopes listed: {}", consent.body);
    let granted = browser
        .post_form(
            &format!("{base}/oauth2/consent"),
            &[
                ("csrf", &common::input_value(&consent.body, "csrf")),
                ("request", &common::input_value(&consent.body, "request")),
                ("decision", "grant"),
            ],
        )
        .await;
    assert!(matches!(granted.status, 302 | 303), "{} {}", granted.status, granted.body);
    let callback = granted.location.unwrap();
    assert!(callback.starts_with(&format!("{base}/auth/keyward-oauth2?code=")), "{callback}");
    assert!(callback.contains(&format!("iss={}", urlencode(base))), "RFC 9207 iss: {callback}");

    let done = browser.get(&callback).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some(format!("{base}/profile").as_str()));
    let profile = browser.get(&format!("{base}/profile")).await;
    assert!(profile.body.contains("<b id=\"app\">keyward-oauth2</b>"), "{}", profile.body);
    assert!(profile.body.contains("<b id=\"who\">bob</b>"), "{}", profile.body);
    assert!(
        profile.body.contains("&quot;client_id&quot;: &quot;keyward-demo-site-oauth2&quot;"),
        "{}",
        profile.body
    );

    // The grant is listed beside the OAuth 1 ones.
    let connected = browser.get(&format!("{base}/connected")).await;
    assert!(connected.body.contains("id=\"oauth2-grants\""), "{}", connected.body);
    assert!(connected.body.contains("keyward-demo-site-oauth2"), "{}", connected.body);

    // Signed out of the client website only: signing in again needs no consent page.
    let logout = browser
        .post_form(&format!("{base}/logout"), &[("csrf", &common::input_value(&profile.body, "csrf"))])
        .await;
    assert_eq!(logout.status, 303, "{}", logout.body);
    let again = browser.get(&format!("{base}/login/keyward-oauth2")).await;
    let straight = browser.get(&again.location.unwrap()).await;
    assert!(matches!(straight.status, 302 | 303), "{}", straight.body);
    let callback = straight.location.unwrap();
    assert!(
        callback.starts_with(&format!("{base}/auth/keyward-oauth2?code=")),
        "consent remembered: {callback}"
    );
    let done = browser.get(&callback).await;
    assert_eq!(done.location.as_deref(), Some(format!("{base}/profile").as_str()), "{}", done.body);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The demo with a client seeded from `KEYWARD_DEMO_OAUTH2_*` variables (read through
/// [`Config::from_args`]), user alice seeded.
async fn seeded_demo(dir: &common::TempDir) -> common::Demo {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let db = dir.sqlite_url();
    let vars = [
        ("KEYWARD_DEMO_ADDR", addr.as_str()),
        ("KEYWARD_DEMO_DATABASE_URL", db.as_str()),
        ("KEYWARD_DEMO_USERS", "alice:alice-password"),
        ("KEYWARD_DEMO_OAUTH2_CLIENT_ID", CLIENT_ID),
        ("KEYWARD_DEMO_OAUTH2_CLIENT_SECRET", CLIENT_SECRET),
        ("KEYWARD_DEMO_OAUTH2_REDIRECT_URIS", CALLBACK),
        ("KEYWARD_DEMO_OAUTH2_GRANT_TYPES", "authorization_code, refresh_token,client_credentials"),
        ("KEYWARD_DEMO_OAUTH2_NAME", "Seeded OAuth 2 app"),
    ];
    let mut config = Config::from_args(Vec::new(), |k| {
        vars.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    // The registry's own `{NAME}_CLIENT_ID` variables of this process are not the test's.
    config.env = false;
    assert_eq!(config.oauth2_clients.len(), 1);
    assert_eq!(
        config.oauth2_clients[0].grant_types,
        ["authorization_code", "refresh_token", "client_credentials"]
    );
    common::start(listener, config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_client_gets_a_bearer_token_for_api_me_until_the_grant_is_revoked() {
    let dir = common::TempDir::new("oauth2-seeded");
    let demo = seeded_demo(&dir).await;
    let base = &demo.base;

    let meta: serde_json::Value = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    assert_eq!(meta["issuer"], base.as_str(), "{meta}");
    assert_eq!(meta["authorization_endpoint"], format!("{base}/oauth2/authorize"), "{meta}");
    assert_eq!(meta["token_endpoint"], format!("{base}/oauth2/token"), "{meta}");
    assert_eq!(meta["revocation_endpoint"], format!("{base}/oauth2/revoke"), "{meta}");
    assert_eq!(meta["introspection_endpoint"], format!("{base}/oauth2/introspect"), "{meta}");

    // The client is another program: keyward-client's registry, over its own session.
    let oauth = OAuth::builder().build();
    let app = oauth
        .register(
            "seeded",
            AppConfig {
                client_id: Some(CLIENT_ID.into()),
                client_secret: Some(SecretString::new(CLIENT_SECRET)),
                authorize_url: Some(meta["authorization_endpoint"].as_str().unwrap().to_owned()),
                access_token_url: Some(meta["token_endpoint"].as_str().unwrap().to_owned()),
                client_kwargs: ClientKwargs {
                    scope: Some("profile".into()),
                    code_challenge_method: Some("S256".into()),
                    ..ClientKwargs::default()
                },
                ..AppConfig::default()
            },
        )
        .unwrap();
    let mut browser = Browser::new();
    let session = MemorySession::new();
    let redirect = app.authorize_redirect(&session, CALLBACK).await.unwrap();
    let consent =
        common::sign_in_to_consent(&mut browser, base, &redirect.url, "alice", "alice-password").await;
    assert!(consent.contains("<b id=\"app-name\">Seeded OAuth 2 app</b>"), "{consent}");
    assert!(!consent.contains("id=\"unverified\""), "a seeded client is the operator's: {consent}");
    let granted = browser
        .post_form(
            &format!("{base}/oauth2/consent"),
            &[
                ("csrf", &common::input_value(&consent, "csrf")),
                ("request", &common::input_value(&consent, "request")),
                ("decision", "grant"),
            ],
        )
        .await;
    let back = granted.location.unwrap_or_else(|| panic!("{}", granted.body));
    let query = back.strip_prefix(&format!("{CALLBACK}?")).unwrap_or_else(|| panic!("{back}"));
    let token = app.authorize_access_token(&session, &Callback::from_query(query).unwrap()).await.unwrap();
    let AppToken::OAuth2(token) = token else { panic!("an OAuth 2 token") };
    let access = token.access_token.secret().to_owned();
    assert!(token.refresh_token.is_some(), "authorization_code with refresh_token allowed");

    let (status, _, body) = me(base, &access).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["client_id"], CLIENT_ID);
    assert_eq!(introspect(base, &access).await["active"], true);

    // A client_credentials token acts for no user: refused at /api/me.
    let cc: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "profile")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    let (status, _, body) = me(base, cc["access_token"].as_str().unwrap_or_else(|| panic!("{cc}"))).await;
    assert_eq!(status, 403, "{body}");

    // A wrong token: 401 with the Bearer challenge, JSON body.
    let (status, challenge, body) = me(base, "not-a-token").await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(body["error"], "invalid_token");

    // Revoked from /connected: the access token fails at once, the refresh token too.
    let connected = browser.get(&format!("{base}/connected")).await;
    assert!(connected.body.contains("Seeded OAuth 2 app"), "{}", connected.body);
    let revoke_form = "action=\"/connected/revoke-oauth2\"";
    assert_eq!(hidden_after(&connected.body, revoke_form, "client_id"), CLIENT_ID);
    let revoked = browser
        .post_form(
            &format!("{base}/connected/revoke-oauth2"),
            &[("csrf", &hidden_after(&connected.body, revoke_form, "csrf")), ("client_id", CLIENT_ID)],
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    let (status, challenge, body) = me(base, &access).await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(introspect(base, &access).await, serde_json::json!({ "active": false }));
    let refresh = token.refresh_token.as_ref().unwrap().secret().to_owned();
    let refused = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let connected = browser.get(&format!("{base}/connected")).await;
    assert!(connected.body.contains("id=\"no-oauth2-grants\""), "{}", connected.body);

    // Consent is asked again after the revocation.
    let redirect = app.authorize_redirect(&session, CALLBACK).await.unwrap();
    let page = browser.get(&redirect.url).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.unwrap().starts_with(&format!("{base}/oauth2/consent?request=")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denial_unknown_clients_and_prompt_none() {
    let dir = common::TempDir::new("oauth2-deny");
    let demo = seeded_demo(&dir).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let authorize = format!(
        "{base}/oauth2/authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri={}\
         &scope=profile&state=s1&code_challenge={challenge}&code_challenge_method=S256",
        urlencode(CALLBACK)
    );

    // An unknown client is a page here, never a redirect.
    let unknown = browser.get(&authorize.replace(CLIENT_ID, "nobody")).await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(unknown.location.is_none());
    assert!(unknown.body.contains("This authorization link is not valid"), "{}", unknown.body);

    // prompt=none without a signed-in user: login_required, at the client.
    let none = browser.get(&format!("{authorize}&prompt=none")).await;
    let back = none.location.unwrap_or_else(|| panic!("{}", none.body));
    assert!(back.starts_with(&format!("{CALLBACK}?error=login_required")), "{back}");
    assert!(back.contains("state=s1"), "{back}");

    let consent = common::sign_in_to_consent(&mut browser, base, &authorize, "alice", "alice-password").await;
    // A decision without the page's CSRF field changes nothing.
    let forged = browser
        .post_form(
            &format!("{base}/oauth2/consent"),
            &[("request", &common::input_value(&consent, "request")), ("decision", "grant")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let denied = browser
        .post_form(
            &format!("{base}/oauth2/consent"),
            &[
                ("csrf", &common::input_value(&consent, "csrf")),
                ("request", &common::input_value(&consent, "request")),
                ("decision", "deny"),
            ],
        )
        .await;
    let back = denied.location.unwrap_or_else(|| panic!("{}", denied.body));
    assert!(back.starts_with(&format!("{CALLBACK}?error=access_denied")), "{back}");
    // The answered request is gone: a second answer is refused.
    let again = browser
        .post_form(
            &format!("{base}/oauth2/consent"),
            &[
                ("csrf", &common::input_value(&consent, "csrf")),
                ("request", &common::input_value(&consent, "request")),
                ("decision", "grant"),
            ],
        )
        .await;
    assert_eq!(again.status, 400, "{}", again.body);

    // Signed in, nothing consented, prompt=none: consent_required.
    let none = browser.get(&format!("{authorize}&prompt=none")).await;
    let back = none.location.unwrap_or_else(|| panic!("{}", none.body));
    assert!(back.starts_with(&format!("{CALLBACK}?error=consent_required")), "{back}");
}

/// Signs `browser` in as alice (going to `/developer`) and returns the developer page.
async fn developer_page(browser: &mut Browser, base: &str) -> String {
    let page = browser.get(&format!("{base}/signin?next=/developer")).await;
    let signed = browser
        .post_form(
            &format!("{base}/signin"),
            &[
                ("csrf", &common::input_value(&page.body, "csrf")),
                ("next", "/developer"),
                ("username", "alice"),
                ("password", "alice-password"),
            ],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    browser.get(&format!("{base}/developer")).await.body
}

/// The text of the element `id="{id}"` (up to the next `<`).
fn element_text(html: &str, id: &str) -> String {
    let rest = html.split(&format!("id=\"{id}\">")).nth(1).unwrap_or_else(|| panic!("no #{id} in {html}"));
    rest.split('<').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_registers_confidential_and_public_oauth2_clients() {
    let dir = common::TempDir::new("oauth2-developer");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let base = &demo.base;
    let mut browser = Browser::new();
    let developer = developer_page(&mut browser, base).await;
    assert!(developer.contains("id=\"register-oauth2\""), "{developer}");
    assert!(developer.contains(&format!("{base}/oauth2/token")), "{developer}");
    let csrf = hidden_after(&developer, "id=\"register-oauth2\"", "csrf");

    // A confidential client with client_credentials: its generated secret is shown once.
    let made = browser
        .post_form(
            &format!("{base}/developer/oauth2"),
            &[
                ("csrf", &csrf),
                ("name", "Batch job"),
                ("kind", "confidential"),
                ("redirect_uris", "https://job.example/cb\r\n"),
                ("grant_types", "authorization_code"),
                ("grant_types", "client_credentials"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let client_id = element_text(&made.body, "oauth2-client-id");
    let secret = element_text(&made.body, "oauth2-client-secret");
    assert!(secret.len() >= 43, "at least 256 bits, base64url: {secret}");
    assert!(made.body.contains("<td><code>https://job.example/cb</code></td>"), "listed: {}", made.body);
    let again = browser.get(&format!("{base}/developer")).await;
    assert!(again.body.contains(&client_id) && !again.body.contains(&secret), "the secret is shown once");

    let token = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200, "{}", token.text().await.unwrap());
    let wrong = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&client_id, Some("not-the-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    // A public client has no secret; it may not use client_credentials.
    let refused = browser
        .post_form(
            &format!("{base}/developer/oauth2"),
            &[
                ("csrf", &csrf),
                ("name", "Phone app"),
                ("kind", "public"),
                ("redirect_uris", "http://127.0.0.1/cb"),
                ("grant_types", "client_credentials"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let public = browser
        .post_form(
            &format!("{base}/developer/oauth2"),
            &[
                ("csrf", &csrf),
                ("name", "Phone app"),
                ("kind", "public"),
                ("redirect_uris", "http://127.0.0.1/cb"),
                ("grant_types", "authorization_code"),
            ],
        )
        .await;
    assert_eq!(public.status, 200, "{}", public.body);
    assert!(!public.body.contains("id=\"oauth2-client-secret\""), "{}", public.body);
    let public_id = element_text(&public.body, "oauth2-client-id");

    // Its consent page says the name is not verified; a loopback redirect matches any port.
    let authorize = format!(
        "{base}/oauth2/authorize?response_type=code&client_id={public_id}&redirect_uri={}\
         &scope=profile&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        urlencode("http://127.0.0.1:4711/cb")
    );
    let to_consent = browser.get(&authorize).await;
    assert_eq!(to_consent.status, 303, "{}", to_consent.body);
    let consent = browser.get(&to_consent.location.unwrap()).await;
    assert!(consent.body.contains("id=\"unverified\""), "{}", consent.body);

    // Names are unique across OAuth 1 and OAuth 2 clients.
    let taken = browser
        .post_form(
            &format!("{base}/developer/oauth2"),
            &[
                ("csrf", &csrf),
                ("name", "batch  JOB"),
                ("kind", "confidential"),
                ("grant_types", "client_credentials"),
            ],
        )
        .await;
    assert_eq!(taken.status, 400, "{}", taken.body);
    assert!(taken.body.contains("already registered"), "{}", taken.body);
    // And without the CSRF field nothing is registered.
    let forged = browser
        .post_form(
            &format!("{base}/developer/oauth2"),
            &[("name", "Forged"), ("kind", "confidential"), ("grant_types", "client_credentials")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
}

//! Third-party OpenID Connect relying parties against Keyward's OpenID Provider on axum
//! (127.0.0.1), each through OpenID Connect Discovery: npm openid-client (every ID token's
//! signature checked against the JWKS; code + PKCE + nonce, userinfo, refresh, `prompt=none`
//! with and without a session, `max_age`, RP-initiated logout), Python Authlib (`parse_id_token`
//! against the JWKS, userinfo, refresh, logout) and the Rust `openidconnect` crate (code flow,
//! ID token with `at_hash`, userinfo, refresh). The provider is built here: a memory store, a
//! generated RS256 key set, a claims hook with profile and email claims, a sign-in page with a
//! session cookie and a consent page. The script peers need what `.ci/run` installs; skipped
//! visibly without them, failed under `CI=true`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use keyward::jose::rotation::SharedKeySet;
use keyward::jose::{KeySet, SigningAlg};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationRequest, AuthorizationServer, ClientAuthMethod, Grant, GrantType, OAuth2Provider,
    RegisteredClient, ServerConfig,
};
use keyward::oidc::provider::end_session::LogoutRequest;
use keyward::oidc::provider::{ClaimsRequest, OpenIdConfig, OpenIdProvider};
use keyward_axum::end_session::{EndSession, end_session_response};
use keyward_axum::oauth2_provider::{
    AuthorizeRejection, OAuth2Authorize, authorize_error_response, grant_response, token_endpoint,
};
use keyward_axum::oidc_provider::{OIDC_WELL_KNOWN, jwks, openid_configuration, userinfo};
use keyward_stores::MemoryStore;
use keyward_testkit::peers::{
    Browser, OAuth2Lib, OIDC_STEPS, OidcClientArgs, PeerRun, PeerUser, run_oidc_client,
};
use keyward_testkit::require_or_skip;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Map, Value, json};

const SECRET: &str = "rp-secret-0123456789abcdef";
/// Every client's redirect URIs are under this prefix, where nothing listens: the harness
/// stops the browser when the provider sends it there.
const CLIENT_SITE: &str = "http://127.0.0.1:1/rp/";
const REDIRECT: &str = "http://127.0.0.1:1/rp/cb";
const BYE: &str = "http://127.0.0.1:1/rp/bye";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A signed-in browser at the provider: who, when they signed in, the session id.
#[derive(Clone, Debug)]
struct SignedIn {
    user: String,
    auth_time: i64,
    sid: String,
}

#[derive(Clone)]
struct Op {
    provider: OAuth2Provider,
    /// Browser sessions by cookie value.
    sessions: Arc<Mutex<HashMap<String, SignedIn>>>,
    /// Authorization requests waiting for sign-in or consent, by id.
    waiting: Arc<Mutex<HashMap<String, AuthorizationRequest>>>,
    /// Logout requests waiting for confirmation, by id.
    logouts: Arc<Mutex<HashMap<String, LogoutRequest>>>,
}

impl axum::extract::FromRef<Op> for OAuth2Provider {
    fn from_ref(op: &Op) -> Self {
        op.provider.clone()
    }
}

const COOKIE: &str = "op_session";

impl Op {
    fn session(&self, headers: &HeaderMap) -> Option<(String, SignedIn)> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        let id = cookies.split(';').find_map(|c| c.trim().strip_prefix(&format!("{COOKIE}=")))?;
        let found = self.sessions.lock().unwrap().get(id).cloned()?;
        Some((id.to_owned(), found))
    }

    fn keep(&self, request: AuthorizationRequest) -> String {
        let id = format!("r{}", rand_id());
        self.waiting.lock().unwrap().insert(id.clone(), request);
        id
    }
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now())
}

fn login_page(id: &str) -> Response {
    Html(format!(
        "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"request\" value=\"{id}\">\
         <input name=\"login\"><input name=\"password\" type=\"password\"><button>Sign in</button></form>"
    ))
    .into_response()
}

fn consent_page(id: &str, request: &AuthorizationRequest) -> Response {
    Html(format!(
        "<p>{} asks for {}</p><form method=\"post\" action=\"/consent\">\
         <input type=\"hidden\" name=\"request\" value=\"{id}\">\
         <input type=\"hidden\" name=\"decision\" value=\"grant\"><button>Grant</button></form>",
        request.client_id,
        request.scopes.join(" ")
    ))
    .into_response()
}

/// Past sign-in: `prompt=none` errors, the consent page, or the code.
async fn answer(op: &Op, request: AuthorizationRequest, who: Option<&SignedIn>) -> Response {
    let server = op.provider.server();
    let consent_needed = match who {
        Some(who) => server.consent_needed(&request, &who.user).await.unwrap(),
        None => true,
    };
    if let Some(error) = request.prompt_none_error(who.map(|w| w.auth_time), now(), consent_needed) {
        return authorize_error_response(server, &request, error);
    }
    let Some(who) = who.filter(|w| !request.needs_reauthentication(Some(w.auth_time), now())) else {
        return login_page(&op.keep(request));
    };
    if consent_needed {
        let id = op.keep(request.clone());
        return consent_page(&id, &request);
    }
    grant(op, &request, who).await
}

async fn grant(op: &Op, request: &AuthorizationRequest, who: &SignedIn) -> Response {
    let grant =
        Grant::new(&who.user, request.scopes.clone()).auth_time(who.auth_time).sid(&who.sid).amr(["pwd"]);
    grant_response(op.provider.server(), request, grant).await
}

async fn authorize(
    State(op): State<Op>,
    headers: HeaderMap,
    request: Result<OAuth2Authorize, AuthorizeRejection>,
) -> Response {
    let request = match request {
        Ok(OAuth2Authorize(r)) => r,
        Err(rejection) => return rejection.into_response(),
    };
    let who = op.session(&headers).map(|(_, s)| s);
    answer(&op, request, who.as_ref()).await
}

type Fields = Form<HashMap<String, String>>;

fn field(form: &HashMap<String, String>, name: &str) -> String {
    form.get(name).cloned().unwrap_or_default()
}

/// Signs `login` in (any password) with a fresh session, then goes on with the request.
async fn login(State(op): State<Op>, Form(form): Fields) -> Response {
    let Some(request) = op.waiting.lock().unwrap().remove(&field(&form, "request")) else {
        return (StatusCode::BAD_REQUEST, "unknown request").into_response();
    };
    let who = SignedIn { user: field(&form, "login"), auth_time: now(), sid: format!("sid{}", rand_id()) };
    let cookie_value = format!("c{}", rand_id());
    op.sessions.lock().unwrap().insert(cookie_value.clone(), who.clone());
    let mut response = answer(&op, request, Some(&who)).await;
    response
        .headers_mut()
        .append(header::SET_COOKIE, format!("{COOKIE}={cookie_value}; Path=/; HttpOnly").parse().unwrap());
    response
}

async fn consent(State(op): State<Op>, headers: HeaderMap, Form(form): Fields) -> Response {
    let request = op.waiting.lock().unwrap().remove(&field(&form, "request"));
    match (request, op.session(&headers)) {
        (Some(request), Some((_, who))) => grant(&op, &request, &who).await,
        _ => (StatusCode::BAD_REQUEST, "unknown request or session").into_response(),
    }
}

/// The end-session endpoint (RP-Initiated Logout 1.0): the request validated by the glue's
/// extractor; a confirmation page when the hint does not name the signed-in user; the session
/// ended; the redirect to the post-logout URI.
async fn end_session(State(op): State<Op>, headers: HeaderMap, EndSession(request): EndSession) -> Response {
    let session = op.session(&headers);
    let user = session.as_ref().map(|(_, s)| s.user.as_str());
    if op.provider.server().logout_confirmation_needed(&request, user).await.unwrap() {
        let id = format!("l{}", rand_id());
        op.logouts.lock().unwrap().insert(id.clone(), request);
        return Html(format!(
            "<p>Sign out?</p><form method=\"post\" action=\"/end_session/confirm\">\
             <input type=\"hidden\" name=\"request\" value=\"{id}\"><button>Sign out</button></form>"
        ))
        .into_response();
    }
    log_out(&op, session.map(|(id, _)| id), &request).await
}

async fn confirm_end_session(State(op): State<Op>, headers: HeaderMap, Form(form): Fields) -> Response {
    let Some(request) = op.logouts.lock().unwrap().remove(&field(&form, "request")) else {
        return (StatusCode::BAD_REQUEST, "unknown logout").into_response();
    };
    log_out(&op, op.session(&headers).map(|(id, _)| id), &request).await
}

async fn log_out(op: &Op, cookie: Option<String>, request: &LogoutRequest) -> Response {
    if let Some(cookie) = cookie {
        op.sessions.lock().unwrap().remove(&cookie);
    }
    let mut response = end_session_response(op.provider.server(), request).await;
    response
        .headers_mut()
        .append(header::SET_COOKIE, format!("{COOKIE}=; Path=/; Max-Age=0").parse().unwrap());
    response
}

/// The claims hook: each user's name and email, asked per scope.
fn claims(request: &ClaimsRequest<'_>) -> Map<String, Value> {
    let user = request.subject;
    let all = json!({
        "name": format!("User {user}"),
        "preferred_username": user,
        "email": format!("{user}@example.com"),
        "email_verified": true,
    });
    all.as_object().unwrap().clone()
}

/// The provider on 127.0.0.1 with clients `rp-basic` (client_secret_basic) and `rp-post`
/// (client_secret_post); its issuer.
async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    let scopes = ["openid", "profile", "email"];
    for (id, method) in
        [("rp-basic", ClientAuthMethod::ClientSecretBasic), ("rp-post", ClientAuthMethod::ClientSecretPost)]
    {
        let mut client = RegisteredClient::confidential(id, SECRET)
            .with_auth_method(method)
            .with_grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .with_redirect_uris([REDIRECT])
            .with_scopes(scopes);
        client.post_logout_redirect_uris = vec![BYE.to_owned()];
        store.create_registered_client(&client).await.unwrap();
    }
    let mut config = ServerConfig::new(issuer.clone()).with_scopes_supported(scopes);
    config.authorization_endpoint = format!("{issuer}/authorize");
    config.token_endpoint = format!("{issuer}/token");
    let mut openid = OpenIdConfig::new(&issuer).with_claims_supported([
        "name",
        "preferred_username",
        "email",
        "email_verified",
    ]);
    openid.userinfo_endpoint = format!("{issuer}/userinfo");
    openid.jwks_uri = format!("{issuer}/jwks");
    openid.end_session_endpoint = Some(format!("{issuer}/end_session"));
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::RS256).unwrap()));
    let server = AuthorizationServer::builder(store, config)
        .openid(OpenIdProvider::new(openid, keys, Arc::new(claims)))
        .build();
    let op = Op {
        provider: OAuth2Provider::new(server),
        sessions: Arc::default(),
        waiting: Arc::default(),
        logouts: Arc::default(),
    };
    let app = Router::new()
        .route("/authorize", any(authorize))
        .route("/login", post(login))
        .route("/consent", post(consent))
        .route("/token", any(token_endpoint))
        .route("/userinfo", any(userinfo))
        .route(OIDC_WELL_KNOWN, get(openid_configuration))
        .route("/jwks", get(jwks))
        .route("/end_session", any(end_session))
        .route("/end_session/confirm", post(confirm_end_session))
        .with_state(op);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    issuer
}

/// The user in one browser for the whole run: signs in as `login` when asked, consents,
/// until the provider sends the browser to the client's site. Counts the sign-ins.
struct User {
    browser: Browser,
    login: String,
    logins: usize,
    consents: usize,
    confirmations: usize,
}

impl User {
    fn new(login: &str) -> Self {
        Self { browser: Browser::new(), login: login.to_owned(), logins: 0, consents: 0, confirmations: 0 }
    }
}

fn hidden(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\""))?;
    let v = page[at..].split("value=\"").nth(1)?;
    Some(v[..v.find('"')?].to_owned())
}

impl PeerUser for User {
    async fn authorize(&mut self, url: &str) -> String {
        let origin = url.split('/').take(3).collect::<Vec<_>>().join("/");
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
            let request =
                hidden(&page.body, "request").unwrap_or_else(|| panic!("no form at {url}: {}", page.body));
            let action =
                page.body.split("action=\"").nth(1).and_then(|a| a.split('"').next()).unwrap_or_default();
            url = format!("{origin}{action}");
            let mut fields = vec![("request", request.as_str())];
            match action {
                "/login" => {
                    self.logins += 1;
                    fields.extend([("login", self.login.as_str()), ("password", "x")]);
                }
                "/consent" => {
                    self.consents += 1;
                    fields.push(("decision", "grant"));
                }
                _ => self.confirmations += 1,
            }
            page = self.browser.post_form(&url, &fields).await;
        }
        panic!("the walk from {url} did not reach the client");
    }

    async fn approve_device(&mut self, _: &Value) {
        panic!("no device flow here");
    }
}

/// The `openidconnect` crate's HTTP client: a closure over reqwest, redirects not followed.
async fn http(request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let (parts, body) = request.into_parts();
    let response =
        client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let mut out = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    Ok(out.body(response.bytes().await?.to_vec()).expect("a response copied from reqwest's"))
}

/// What the `openidconnect` crate saw of one code flow.
#[derive(Debug)]
struct RustRpRun {
    sub: String,
    issuer: String,
    audiences: Vec<String>,
    auth_time: Option<i64>,
    alg: String,
    at_hash_checked: bool,
    userinfo: CoreUserInfoClaims,
    refreshed_sub: Option<String>,
}

/// The `openidconnect` crate through discovery, code + PKCE + nonce, the ID token (signature
/// against the JWKS, iss, aud, exp, nonce, then `at_hash`), userinfo (its `sub` must be the ID
/// token's) and a refresh; `walk` plays the user from the authorization URL to the callback.
async fn rust_rp<W, F>(issuer: &str, client_id: &str, secret: &str, redirect: &str, walk: W) -> RustRpRun
where
    W: FnOnce(String) -> F,
    F: Future<Output = String>,
{
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.to_owned()).unwrap(), &http)
        .await
        .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_owned()),
        Some(ClientSecret::new(secret.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let callback = openidconnect::url::Url::parse(&walk(url.to_string()).await).expect("the callback URL");
    let param = |name: &str| callback.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("state").as_deref(), Some(state.secret().as_str()), "state came back: {callback}");
    let code = param("code").unwrap_or_else(|| panic!("no code in {callback}"));
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("a token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = token.id_token().expect("an ID token for the openid scope");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("the ID token validates");
    let alg = id_token.signing_alg().expect("a signing alg");
    let at_hash_checked = match claims.access_token_hash() {
        Some(given) => {
            let key = id_token.signing_key(&verifier).expect("the key that signed it");
            let expected =
                AccessTokenHash::from_token(token.access_token(), alg, key).expect("at_hash computed");
            assert_eq!(given, &expected, "at_hash matches the access token");
            true
        }
        None => false,
    };
    let userinfo: CoreUserInfoClaims = client
        .user_info(token.access_token().clone(), Some(claims.subject().clone()))
        .expect("a userinfo endpoint")
        .request_async(&http)
        .await
        .expect("userinfo with the ID token's sub");
    let refreshed_sub = match token.refresh_token() {
        Some(refresh) => {
            let fresh = client
                .exchange_refresh_token(refresh)
                .expect("a token endpoint")
                .request_async(&http)
                .await
                .expect("the refresh");
            // No nonce on a refreshed ID token (OIDC Core §12.2).
            fresh.id_token().map(|t| {
                let c = t
                    .claims(&verifier, |_: Option<&Nonce>| Ok(()))
                    .expect("the refreshed ID token validates");
                c.subject().to_string()
            })
        }
        None => None,
    };
    RustRpRun {
        sub: claims.subject().to_string(),
        issuer: claims.issuer().to_string(),
        audiences: claims.audiences().iter().map(|a| a.to_string()).collect(),
        auth_time: claims.auth_time().map(|t| t.timestamp()),
        alg: format!("{alg:?}"),
        at_hash_checked,
        userinfo,
        refreshed_sub,
    }
}

fn args(issuer: &str, client_id: &str, auth_method: &str, steps: &[&'static str]) -> OidcClientArgs {
    let mut a = OidcClientArgs::new(issuer, client_id, REDIRECT);
    a.client_secret = Some(SECRET.to_owned());
    a.auth_method = auth_method.to_owned();
    a.post_logout_redirect_uri = Some(BYE.to_owned());
    a.steps = steps.to_vec();
    a
}

/// What every ID token the scripts validated shows.
fn check_id_token(issuer: &str, line: &Value, client_id: &str) {
    assert_eq!(line["iss"], issuer, "{line}");
    assert_eq!(line["aud"], client_id, "{line}");
    assert_eq!(line["sub"], "alice", "{line}");
    assert_eq!(line["alg"], "RS256", "{line}");
    assert!(line["kid"].is_string(), "a kid to find the key by: {line}");
    assert!(line["auth_time"].as_i64().is_some_and(|t| t > 0), "{line}");
    assert_eq!(line["signature_checked"], true);
}

#[tokio::test]
async fn openid_client_every_step() {
    let lib = OAuth2Lib::OpenidClient;
    require_or_skip!(lib.oidc_command(), "node and openid-client", OAuth2Lib::HOW);
    let issuer = start().await;
    let mut user = User::new("alice");
    let run = run_oidc_client(lib, &args(&issuer, "rp-basic", "client_secret_basic", &OIDC_STEPS), &mut user)
        .await
        .expect("installed")
        .unwrap_or_else(|e| panic!("{e}"));
    check_openid_client(&issuer, &run);
    assert_eq!((user.logins, user.consents), (2, 1), "signed in twice (max_age=0), consented once");
    assert_eq!(user.confirmations, 0, "a logout with the signed-in user's ID token needs no confirmation");
}

fn check_openid_client(issuer: &str, run: &PeerRun) {
    let meta = run.one("metadata");
    assert_eq!(meta["issuer"], issuer);
    assert_eq!(meta["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(meta["jwks_uri"], format!("{issuer}/jwks"));
    assert!(
        meta["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&json!("RS256")),
        "{meta}"
    );
    assert!(meta["subject_types_supported"].as_array().unwrap().contains(&json!("public")), "{meta}");

    let code = run.one("code");
    check_id_token(issuer, code, "rp-basic");
    assert_eq!(code["nonce_checked"], true);
    assert_eq!(code["at_hash"], true, "at_hash in the code flow's ID token: {code}");
    assert!(code["sid"].is_string(), "the grant's sid: {code}");
    assert_eq!(code["refresh_token"], true);

    let info = run.one("userinfo");
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["name"], "User alice");
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["email_verified"], true);
    let forged = run.one("userinfo_forged");
    assert_eq!(forged["status"], 401, "{forged}");

    let refresh = run.one("refresh");
    assert_eq!(refresh["id_token"], true, "a refreshed openid grant gets a new ID token: {refresh}");
    check_id_token(issuer, refresh, "rp-basic");
    assert_eq!(refresh["same_sub"], true);
    assert_eq!(refresh["same_auth_time"], true);
    assert_eq!(refresh["rotated"], true);

    let silent = run.one("prompt_none");
    check_id_token(issuer, silent, "rp-basic");
    assert_eq!(silent["auth_time"], code["auth_time"], "no new sign-in for prompt=none");
    assert_eq!(run.one("prompt_none_no_session")["error"], "login_required");

    let again = run.one("max_age");
    check_id_token(issuer, again, "rp-basic");
    assert_eq!(again["signed_in_again"], true, "{again}");

    assert_eq!(meta["end_session_endpoint"], format!("{issuer}/end_session"));
    let logout = run.one("logout");
    assert_eq!(logout["state_matched"], true);
    assert_eq!(logout["after_logout"], "login_required", "the session ended at the provider: {logout}");
}

#[tokio::test]
async fn authlib_code_flow_with_the_id_token_checked_against_the_jwks() {
    let lib = OAuth2Lib::Authlib;
    require_or_skip!(lib.oidc_command(), "python Authlib", OAuth2Lib::HOW);
    let issuer = start().await;
    let mut user = User::new("alice");
    let run = run_oidc_client(
        lib,
        &args(&issuer, "rp-post", "client_secret_post", &["code", "userinfo", "refresh", "logout"]),
        &mut user,
    )
    .await
    .expect("installed")
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.one("metadata")["issuer"], issuer.as_str());
    let code = run.one("code");
    check_id_token(&issuer, code, "rp-post");
    assert_eq!(code["nonce_checked"], true);
    assert_eq!(code["at_hash"], true, "{code}");
    let info = run.one("userinfo");
    assert_eq!(info["sub_matches_id_token"], true);
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["preferred_username"], "alice");
    let refresh = run.one("refresh");
    assert_eq!(refresh["id_token"], true, "{refresh}");
    check_id_token(&issuer, refresh, "rp-post");
    assert_eq!(refresh["same_auth_time"], true);
    assert_eq!(run.one("logout")["state_matched"], true);
    assert_eq!(run.one("done")["lib"], "authlib");
}

#[tokio::test]
async fn openidconnect_crate_code_flow_userinfo_and_refresh() {
    let issuer = start().await;
    let mut user = User::new("alice");
    let run =
        rust_rp(&issuer, "rp-basic", SECRET, REDIRECT, |url| async move { user.authorize(&url).await }).await;
    assert_eq!(run.sub, "alice");
    assert_eq!(run.issuer, issuer);
    assert_eq!(run.audiences, ["rp-basic"]);
    assert!(run.auth_time.is_some_and(|t| t > 0));
    assert_eq!(run.alg, "RsaSsaPkcs1V15Sha256");
    assert!(run.at_hash_checked, "the code flow's ID token has at_hash");
    assert_eq!(run.userinfo.email().map(|e| e.as_str()), Some("alice@example.com"));
    assert_eq!(run.refreshed_sub.as_deref(), Some("alice"), "a refreshed ID token, same sub");
}

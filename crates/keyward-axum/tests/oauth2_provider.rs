//! The OAuth 2.1 authorization server served by axum on 127.0.0.1: the Rust `oauth2` crate
//! (a client nobody here wrote) runs code + PKCE, refresh, client_credentials and
//! introspection over HTTP, beside revocation; and the negative rules end to end through the glue, each
//! with its status, error code and headers.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::encoding::{encode_form, parse_form};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, BearerPlacement, Grant, GrantType, OAuth2Provider, RegisteredClient, RequestOptions,
    ServerConfig,
};
use keyward::oauth2::rfc8414::OAUTH_WELL_KNOWN;
use keyward_axum::oauth2_provider::{
    AuthorizeRejection, OAuth2Authorize, OAuth2Bearer, OAuth2BearerForm, deny_response, grant_response,
    introspection_endpoint, metadata_endpoint, revocation_endpoint, token_endpoint,
};
use keyward_stores::MemoryStore;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl, PkceCodeChallenge,
    RedirectUrl, Scope, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const REDIRECT: &str = "https://web.example/cb";
const APP_REDIRECT: &str = "http://127.0.0.1/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const BODY_LIMIT: usize = 4096;

keyward_axum::required_scopes!(Write = "write");

/// The test application's authorization handler: signs "alice" in and grants what was asked
/// for at once; `deny=1` in the request denies.
async fn authorize(State(p): State<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> Response {
    if req.extra.iter().any(|(k, v)| k == "deny" && v == "1") {
        return deny_response(p.server(), &req);
    }
    let scopes = req.scopes.clone();
    grant_response(p.server(), &req, Grant::new("alice", scopes)).await
}

async fn me(auth: OAuth2Bearer) -> axum::Json<Value> {
    axum::Json(json!({ "sub": auth.subject, "client_id": auth.client_id, "scope": auth.scopes }))
}

async fn write(auth: OAuth2Bearer<Write>) -> String {
    format!("written for {}", auth.client_id)
}

/// A resource that may take its token in the form body.
async fn form(auth: OAuth2BearerForm<Write>) -> String {
    format!("{} sent {} bytes", auth.client_id, auth.request.body().len())
}

/// A resource that also serves callers without a bearer token.
async fn maybe(auth: Option<OAuth2Bearer>) -> String {
    match auth {
        Some(auth) => format!("token of {}", auth.client_id),
        None => "no token".to_owned(),
    }
}

/// An authorization handler that renders its own page for the errors not redirected.
async fn own_page(auth: Result<OAuth2Authorize, AuthorizeRejection>) -> Response {
    match auth {
        Ok(OAuth2Authorize(req)) => format!("consent page for {}", req.client_id).into_response(),
        Err(e) if !e.error.is_redirected() => {
            (StatusCode::BAD_REQUEST, format!("our own page: {}", e.error.error.code())).into_response()
        }
        Err(e) => e.into_response(),
    }
}

struct TestServer {
    base: String,
    http: reqwest::Client,
}

impl TestServer {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A POST of `body` as a form to `path`, with Basic credentials when given.
    async fn post(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = basic {
            r = r.header("authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
        }
        r.send().await.unwrap()
    }

    async fn post_form(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        self.post(path, encode_form(pairs.iter().copied()), basic).await
    }

    async fn bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// Revokes `token` as `web` (RFC 7009 §2.1); the status.
    async fn revoke(&self, token: &str, hint: &str) -> StatusCode {
        let pairs = [("token", token), ("token_type_hint", hint)];
        self.post_form("/revoke", &pairs, Some(("web", "web-secret"))).await.status()
    }

    /// Runs an authorization request of `pairs` and returns the response (not followed).
    async fn authorize(&self, pairs: &[(&str, &str)]) -> reqwest::Response {
        let url = format!("{}?{}", self.url("/authorize"), encode_form(pairs.iter().copied()));
        self.http.get(url).send().await.unwrap()
    }

    /// A code for `web` with PKCE (the `VERIFIER`), scopes `read write`.
    async fn code(&self) -> String {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER));
        let r = self
            .authorize(&[
                ("response_type", "code"),
                ("client_id", "web"),
                ("redirect_uri", REDIRECT),
                ("scope", "read write"),
                ("state", "s1"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        assert_eq!(r.status(), StatusCode::FOUND);
        let (_, params) = location(&r);
        param(&params, "code").expect("a code").to_owned()
    }

    /// Exchanges `code` for tokens.
    async fn exchange(&self, code: &str) -> reqwest::Response {
        let pairs = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        self.post_form("/token", &pairs, Some(("web", "web-secret"))).await
    }
}

fn location(r: &reqwest::Response) -> (String, Vec<(String, String)>) {
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let (base, query) = loc.split_once('?').unwrap();
    (base.to_owned(), parse_form(query).unwrap())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn json(r: reqwest::Response) -> Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null)
}

/// Checks an RFC 6749 §5.2 error response: its status, its `error` and `no-store`.
async fn assert_error(r: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(r.status(), status);
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "content-type"), "application/json");
    assert_eq!(json(r).await["error"], error);
}

async fn start() -> TestServer {
    start_with(|config| config).await
}

/// The test server, its configuration changed by `configure`.
async fn start_with(configure: impl FnOnce(ServerConfig) -> ServerConfig) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    let web = RegisteredClient::confidential("web", "web-secret")
        .with_redirect_uris([REDIRECT])
        .with_scopes(["read", "write"])
        .with_grant_types([
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ]);
    let app_client = RegisteredClient::public("app").with_redirect_uris([APP_REDIRECT]).with_scopes(["read"]);
    for c in [web, app_client] {
        store.create_registered_client(&c).await.unwrap();
    }
    let config = configure(ServerConfig::new(base.clone()).with_scopes_supported(["read", "write"]));
    let server = AuthorizationServer::builder(store, config).build();
    let provider = OAuth2Provider::with_options(server, RequestOptions::default().body_limit(BODY_LIMIT));
    let app = Router::new()
        .route("/authorize", any(authorize))
        .route("/token", any(token_endpoint))
        .route("/revoke", any(revocation_endpoint))
        .route("/introspect", any(introspection_endpoint))
        .route(OAUTH_WELL_KNOWN, get(metadata_endpoint))
        .route("/api/me", get(me))
        .route("/api/write", get(write))
        .route("/own-page", get(own_page))
        .route("/api/maybe", get(maybe))
        .route("/api/form", post(form))
        .with_state(provider);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestServer { base, http }
}

#[tokio::test]
async fn the_oauth2_crate_runs_every_grant_over_http() {
    let s = start().await;
    let client = BasicClient::new(ClientId::new("web".into()))
        .set_client_secret(ClientSecret::new("web-secret".into()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(s.url("/introspect")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let http = &s.http;

    // Code + PKCE: the authorization URL the crate builds, answered with a redirect.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();
    let r = http.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let (to, params) = location(&r);
    assert_eq!(to, REDIRECT);
    assert_eq!(param(&params, "state"), Some(csrf.secret().as_str()));
    assert_eq!(param(&params, "iss"), Some(s.base.as_str()));
    let code = param(&params, "code").unwrap().to_owned();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .unwrap();
    assert_eq!(tokens.scopes().unwrap().len(), 2);
    let me = s.bearer("/api/me", tokens.access_token().secret()).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(json(me).await, json!({ "sub": "alice", "client_id": "web", "scope": ["read", "write"] }));
    let w = s.bearer("/api/write", tokens.access_token().secret()).await;
    assert_eq!(w.status(), StatusCode::OK);
    assert_eq!(w.text().await.unwrap(), "written for web");

    // Introspection.
    let info = client.introspect(tokens.access_token()).request_async(http).await.unwrap();
    assert!(info.active());
    assert_eq!(info.sub(), Some("alice"));
    assert_eq!(info.client_id().map(|c| c.as_str()), Some("web"));

    // Refresh with rotation, narrowing the scope.
    let refresh1 = tokens.refresh_token().unwrap().clone();
    let refreshed = client
        .exchange_refresh_token(&refresh1)
        .add_scope(Scope::new("read".into()))
        .request_async(http)
        .await
        .unwrap();
    let refresh2 = refreshed.refresh_token().unwrap().clone();
    assert_ne!(refresh1.secret(), refresh2.secret());
    assert_eq!(refreshed.scopes().unwrap(), &vec![Scope::new("read".into())]);
    // The narrowed token may read but not write.
    assert_eq!(s.bearer("/api/me", refreshed.access_token().secret()).await.status(), StatusCode::OK);
    let w = s.bearer("/api/write", refreshed.access_token().secret()).await;
    assert_eq!(w.status(), StatusCode::FORBIDDEN);

    // client_credentials: no refresh token, no subject.
    let cc = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".into()))
        .request_async(http)
        .await
        .unwrap();
    assert!(cc.refresh_token().is_none());
    let me = s.bearer("/api/me", cc.access_token().secret()).await;
    assert_eq!(json(me).await, json!({ "sub": null, "client_id": "web", "scope": ["read"] }));

    // Revocation: the token stops working at the resource and at introspection. (The crate
    // sends revocations to https URLs only, RFC 7009 §2; this server is plain http on
    // loopback, so the request is written here.)
    assert_eq!(s.revoke(cc.access_token().secret(), "access_token").await, StatusCode::OK);
    let info = client.introspect(cc.access_token()).request_async(http).await.unwrap();
    assert!(!info.active());
    assert_eq!(s.bearer("/api/me", cc.access_token().secret()).await.status(), StatusCode::UNAUTHORIZED);

    // Revoking the refresh token takes the grant's access tokens with it (RFC 7009 §2.1).
    assert_eq!(s.revoke(refresh2.secret(), "refresh_token").await, StatusCode::OK);
    let r = s.bearer("/api/me", refreshed.access_token().secret()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_public_client_runs_code_pkce_and_rotating_refresh() {
    let s = start().await;
    let client = BasicClient::new(ClientId::new("app".into()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap())
        // Loopback redirect: any port matches (RFC 8252 §7.3).
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:53111/cb".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let r = s.http.get(url.as_str()).send().await.unwrap();
    let (to, params) = location(&r);
    assert_eq!(to, "http://127.0.0.1:53111/cb");
    let code = param(&params, "code").unwrap().to_owned();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&s.http)
        .await
        .unwrap();
    let refreshed =
        client.exchange_refresh_token(tokens.refresh_token().unwrap()).request_async(&s.http).await.unwrap();
    assert_ne!(refreshed.refresh_token().unwrap().secret(), tokens.refresh_token().unwrap().secret());
    assert_eq!(s.bearer("/api/me", refreshed.access_token().secret()).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn metadata_is_served_at_the_well_known_path() {
    let s = start().await;
    let r = s.http.get(s.url(OAUTH_WELL_KNOWN)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let m = json(r).await;
    assert_eq!(m["issuer"], s.base);
    assert_eq!(m["token_endpoint"], s.url("/token"));
    assert_eq!(m["authorization_endpoint"], s.url("/authorize"));
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn an_unknown_client_or_redirect_uri_is_never_redirected() {
    let s = start().await;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER));
    let base = [
        ("response_type", "code"),
        ("state", "s1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let cases: [&[(&str, &str)]; 5] = [
        &[("client_id", "nobody"), ("redirect_uri", REDIRECT)],
        &[("client_id", "web"), ("redirect_uri", "https://evil.example/cb")],
        &[("client_id", "web"), ("redirect_uri", "https://web.example/cb/")],
        &[("client_id", "web"), ("redirect_uri", REDIRECT), ("redirect_uri", REDIRECT)],
        &[("redirect_uri", REDIRECT)],
    ];
    for case in cases {
        let pairs: Vec<_> = case.iter().chain(base.iter()).copied().collect();
        let r = s.authorize(&pairs).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{case:?}");
        assert!(r.headers().get("location").is_none(), "{case:?}");
        assert!(header(&r, "content-type").starts_with("text/plain"));
        assert!(r.text().await.unwrap().starts_with("invalid_request"));
    }
    // Malformed percent-encoding and non-UTF-8 query: a 400 page, never a 5xx.
    for query in ["client_id=web&state=%zz", "client_id=%ff%fe"] {
        let r = s.http.get(format!("{}?{query}", s.url("/authorize"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(r.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn later_authorization_errors_go_back_with_state_and_iss() {
    let s = start().await;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER));
    let ok = [
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("state", "xyz"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let without = |name: &str| ok.iter().filter(|(k, _)| *k != name).copied().collect::<Vec<_>>();
    let with = |extra: (&'static str, &'static str)| {
        let mut v: Vec<_> = ok.to_vec();
        v.push(extra);
        v
    };
    let plain_pkce: Vec<_> =
        ok.iter().map(|&(k, v)| if k == "code_challenge_method" { (k, "plain") } else { (k, v) }).collect();
    let token_type: Vec<_> =
        ok.iter().map(|&(k, v)| if k == "response_type" { (k, "token") } else { (k, v) }).collect();
    let cases = [
        (without("code_challenge"), "invalid_request"),
        (plain_pkce, "invalid_request"),
        (token_type, "unsupported_response_type"),
        (with(("scope", "admin")), "invalid_scope"),
        (with(("deny", "1")), "access_denied"),
    ];
    for (pairs, error) in cases {
        let r = s.authorize(&pairs).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{error}");
        let (to, params) = location(&r);
        assert_eq!(to, REDIRECT);
        assert_eq!(param(&params, "error"), Some(error));
        assert_eq!(param(&params, "state"), Some("xyz"));
        assert_eq!(param(&params, "iss"), Some(s.base.as_str()));
        assert_eq!(param(&params, "code"), None);
    }

    // form_post: an auto-submitting page, its values escaped.
    let mut pairs = without("code_challenge");
    pairs.push(("response_mode", "form_post"));
    pairs.retain(|(k, _)| *k != "state");
    pairs.push(("state", "<\"x\">"));
    let r = s.authorize(&pairs).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type").starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(page.contains("action=\"https://web.example/cb\""));
    assert!(page.contains("value=\"&lt;&quot;x&quot;&gt;\""));
    assert!(!page.contains("<\"x\">"));

    // The same request as a POSTed form is answered the same way.
    let r = s.post_form("/authorize", &ok, None).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(param(&location(&r).1, "code").is_some());
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_the_first_tokens() {
    let s = start().await;
    let code = s.code().await;
    let r = s.exchange(&code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let tokens = json(r).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(s.bearer("/api/me", &access).await.status(), StatusCode::OK);

    assert_error(s.exchange(&code).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = s.bearer("/api/me", &access).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_token\"");
    // The refresh token of that grant is gone too.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let pairs = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let r = s.post_form("/token", &pairs, Some(("web", "web-secret"))).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_family() {
    let s = start().await;
    let tokens = json(s.exchange(&s.code().await).await).await;
    let refresh1 = tokens["refresh_token"].as_str().unwrap();
    let refresh = |token: &str| {
        let token = token.to_owned();
        let s = &s;
        async move {
            let pairs = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
            s.post_form("/token", &pairs, Some(("web", "web-secret"))).await
        }
    };
    let r = refresh(refresh1).await;
    assert_eq!(r.status(), StatusCode::OK);
    let second = json(r).await;
    let access2 = second["access_token"].as_str().unwrap();
    let refresh2 = second["refresh_token"].as_str().unwrap();
    assert_eq!(s.bearer("/api/me", access2).await.status(), StatusCode::OK);

    // The rotated-out token comes back: refused, and every token of the family dies.
    assert_error(refresh(refresh1).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(s.bearer("/api/me", access2).await.status(), StatusCode::UNAUTHORIZED);
    assert_error(refresh(refresh2).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn client_authentication_failures_are_401_invalid_client() {
    let s = start().await;
    let cc = [("grant_type", "client_credentials")];
    // Basic with a wrong secret: the challenge names Basic (RFC 6749 §5.2).
    let r = s.post_form("/token", &cc, Some(("web", "wrong"))).await;
    assert!(header(&r, "www-authenticate").starts_with("Basic"), "{:?}", r.headers());
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let r = s.post_form("/token", &cc, Some(("nobody", "x"))).await;
    assert!(header(&r, "www-authenticate").starts_with("Basic"));
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // In the body (a method the client did not register): no Basic challenge.
    let pairs = [("grant_type", "client_credentials"), ("client_id", "web"), ("client_secret", "web-secret")];
    let r = s.post_form("/token", &pairs, None).await;
    assert!(r.headers().get("www-authenticate").is_none());
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Two methods at once.
    let r = s.post_form("/token", &pairs, Some(("web", "web-secret"))).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Introspection and revocation authenticate the same way.
    let token = [("token", "x")];
    for path in ["/introspect", "/revoke"] {
        let r = s.post_form(path, &token, Some(("web", "wrong"))).await;
        assert!(header(&r, "www-authenticate").starts_with("Basic"));
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    // A public client may not introspect: it presents no client authentication.
    let pairs = [("token", "x"), ("client_id", "app")];
    assert_error(s.post_form("/introspect", &pairs, None).await, StatusCode::UNAUTHORIZED, "invalid_client")
        .await;
    // Unknown tokens: revocation says 200, introspection says inactive and nothing more.
    let r = s.post_form("/revoke", &token, Some(("web", "web-secret"))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.post_form("/introspect", &token, Some(("web", "web-secret"))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(r).await, json!({ "active": false }));
}

#[tokio::test]
async fn bearer_failures_follow_rfc_6750() {
    let s = start().await;
    let pairs = [("grant_type", "client_credentials"), ("scope", "read")];
    let r = s.post_form("/token", &pairs, Some(("web", "web-secret"))).await;
    let read_only = json(r).await["access_token"].as_str().unwrap().to_owned();

    // No token: 401, a bare challenge.
    let r = s.http.get(s.url("/api/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    // Another scheme is no bearer token.
    let r = s.http.get(s.url("/api/me")).basic_auth("web", Some("web-secret")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    // Unknown or malformed token: 401 invalid_token.
    for token in ["unknown", "not a b64token!"] {
        let r = s.http.get(s.url("/api/me")).header("authorization", format!("Bearer {token}")).send().await;
        let r = r.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_token\"");
    }
    // A token in the query is not looked at by default.
    let r = s.http.get(format!("{}?access_token={read_only}", s.url("/api/me"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Optional: no token is None, a bad token still rejects.
    let r = s.http.get(s.url("/api/maybe")).header("authorization", "OAuth oauth_token=\"x\"").send().await;
    assert_eq!(r.unwrap().text().await.unwrap(), "no token");
    assert_eq!(s.bearer("/api/maybe", &read_only).await.text().await.unwrap(), "token of web");
    let r = s.bearer("/api/maybe", "unknown").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_token\"");
    // Missing scope: 403 insufficient_scope, naming the scope.
    let r = s.bearer("/api/write", &read_only).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"insufficient_scope\", scope=\"write\"");
    assert_eq!(s.bearer("/api/me", &read_only).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_bodies_are_400_invalid_request_never_5xx() {
    let s = start().await;
    let basic = Some(("web", "web-secret"));
    for path in ["/token", "/revoke", "/introspect"] {
        let bodies: [Vec<u8>; 4] = [
            b"grant_type=client_credentials&grant_type=client_credentials&token=a&token=a".to_vec(),
            b"grant_type=client%zzcredentials&token=%zz".to_vec(),
            b"grant_type=client_credentials&token=\xff\xfe".to_vec(),
            vec![b'a'; BODY_LIMIT + 1],
        ];
        for body in bodies {
            let r = s.post(path, body.clone(), basic).await;
            assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
        // A wrong content type.
        let r = s
            .http
            .post(s.url(path))
            .basic_auth("web", Some("web-secret"))
            .header("content-type", "application/json")
            .body("{\"grant_type\":\"client_credentials\"}")
            .send()
            .await
            .unwrap();
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        // A GET: the server's own JSON 405.
        let r = s.http.get(s.url(path)).send().await.unwrap();
        assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "invalid_request").await;
    }
    // Token requests missing what the grant needs.
    let cases: [&[(&str, &str)]; 4] = [
        &[],
        &[("grant_type", "authorization_code")],
        &[("grant_type", "refresh_token")],
        &[("grant_type", "authorization_code"), ("code", "c"), ("code_verifier", VERIFIER)],
    ];
    let expected = ["invalid_request", "invalid_request", "invalid_request", "invalid_grant"];
    for (pairs, error) in cases.iter().zip(expected) {
        assert_error(s.post_form("/token", pairs, basic).await, StatusCode::BAD_REQUEST, error).await;
    }
    let r = s.post_form("/token", &[("grant_type", "password")], basic).await;
    assert_error(r, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
}

#[tokio::test]
async fn the_application_may_render_its_own_error_page() {
    let s = start().await;
    let r = s.http.get(s.url("/own-page?client_id=nobody")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.text().await.unwrap(), "our own page: invalid_request");
    // A redirected error keeps the server's response.
    let r = s.http.get(s.url("/own-page?client_id=web&response_type=code")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(param(&location(&r).1, "error"), Some("invalid_request"));
}

#[tokio::test]
async fn query_tokens_are_read_when_the_server_enables_them() {
    let s = start_with(|c| c.with_bearer_placement(BearerPlacement { form_body: false, query: true })).await;
    let pairs = [("grant_type", "client_credentials"), ("scope", "read")];
    let r = s.post_form("/token", &pairs, Some(("web", "web-secret"))).await;
    let token = json(r).await["access_token"].as_str().unwrap().to_owned();
    let query = encode_form([("access_token", token.as_str())]);
    let r = s.http.get(format!("{}?{query}", s.url("/api/me"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(r).await["client_id"], "web");
    // In the header and the query at once: 400 invalid_request (RFC 6750 §2).
    let r = s.http.get(format!("{}?{query}", s.url("/api/me"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_request\"");
}

#[tokio::test]
async fn form_body_tokens_are_read_when_the_server_enables_them() {
    let placement = BearerPlacement { form_body: true, query: false };
    let s = start_with(|c| c.with_bearer_placement(placement)).await;
    let pairs = [("grant_type", "client_credentials"), ("scope", "read write")];
    let r = s.post_form("/token", &pairs, Some(("web", "web-secret"))).await;
    let token = json(r).await["access_token"].as_str().unwrap().to_owned();
    let body = encode_form([("access_token", token.as_str()), ("note", "hi")]);
    let r = s.post("/api/form", body.clone(), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), format!("web sent {} bytes", body.len()));
    // In the header too: 400 invalid_request.
    let r = s
        .http
        .post(s.url("/api/form"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A body over the limit: 400, never 5xx.
    let r = s.post("/api/form", vec![b'a'; BODY_LIMIT + 1], None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_request\"");
    // Not enabled: the body is not looked at.
    let s = start().await;
    let r = s.post_form("/token", &pairs, Some(("web", "web-secret"))).await;
    let token = json(r).await["access_token"].as_str().unwrap().to_owned();
    let r = s.post("/api/form", encode_form([("access_token", token.as_str())]), None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
}

/// The handlers and extractors work with an application's own state that holds the
/// provider (`FromRef`).
#[tokio::test]
async fn the_glue_works_under_an_application_state() {
    use axum::extract::FromRef;
    use tower::ServiceExt as _;

    #[derive(Clone)]
    struct AppState {
        oauth2: OAuth2Provider,
        name: &'static str,
    }
    impl FromRef<AppState> for OAuth2Provider {
        fn from_ref(state: &AppState) -> Self {
            state.oauth2.clone()
        }
    }
    async fn hello(State(app): State<AppState>, auth: Option<OAuth2Bearer<Write>>) -> String {
        format!("{} says hello to {:?}", app.name, auth.map(|a| a.client_id.clone()))
    }

    let store = Arc::new(MemoryStore::new());
    let server = AuthorizationServer::builder(store, ServerConfig::new("https://as.example")).build();
    let state = AppState { oauth2: OAuth2Provider::new(server), name: "app" };
    let app = Router::new()
        .route("/authorize", any(authorize))
        .route("/token", any(token_endpoint))
        .route(OAUTH_WELL_KNOWN, get(metadata_endpoint))
        .route("/hello", get(hello))
        .with_state(state);
    let request =
        |uri: &str| http::Request::get(uri).header("host", "as.example").body(axum::body::Body::empty());
    let r = app.clone().oneshot(request(OAUTH_WELL_KNOWN).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.clone().oneshot(request("/hello").unwrap()).await.unwrap();
    let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"app says hello to None");
    let r = app.oneshot(request("/authorize?client_id=nobody").unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

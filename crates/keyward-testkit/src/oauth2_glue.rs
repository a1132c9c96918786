//! The OAuth 2.1 authorization server's glue, end to end over HTTP on 127.0.0.1, as cases
//! that each framework crate runs through a real server of its own, so that axum and actix
//! answer every rule the same way: the Rust `oauth2` crate (a client nobody here wrote) runs
//! code + PKCE, refresh, client_credentials and introspection, beside revocation; and every
//! negative rule is checked with its status, error code and headers.
//!
//! The site under test is built over [`provider`] (a memory store seeded by
//! [`seed_clients`]) and serves:
//! - `/authorize`: the application's handler, which signs `alice` in and grants what was
//!   asked at once; `deny=1` in the request denies (the glue's `grant_response` /
//!   `deny_response`);
//! - `/token`, `/revoke`, `/introspect` (any method) and the metadata at
//!   `OAUTH_WELL_KNOWN` (GET): the glue's handlers;
//! - `GET /api/me` (`OAuth2Bearer`): the JSON `{"sub", "client_id", "scope"}` of the grant;
//! - `GET /api/write` (`OAuth2Bearer<Write>`, scope `write`): `written for {client_id}`;
//! - `POST /api/form` (`OAuth2BearerForm<Write>`): `{client_id} sent {n} bytes`, the length
//!   of the body the handler got.

use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::encoding::{encode_form, parse_form};
use keyward::oauth2::provider::store::{OAuth2ClientStore, OAuth2Store};
use keyward::oauth2::provider::{
    AuthorizationServer, BearerPlacement, GrantType, OAuth2Provider, RegisteredClient, RequestOptions,
    ServerConfig,
};
use keyward::oauth2::rfc8414::OAUTH_WELL_KNOWN;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl, PkceCodeChallenge,
    RedirectUrl, Scope, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The confidential client `web`'s redirect URI.
pub const REDIRECT: &str = "https://web.example/cb";
/// The public client `app`'s redirect URI (loopback: any port matches).
pub const APP_REDIRECT: &str = "http://127.0.0.1/cb";
/// The PKCE verifier of the cases' hand-written requests.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The body limit the site's provider is built with ([`provider`]).
pub const BODY_LIMIT: usize = 4096;

/// Registers the cases' clients: `web` (confidential, `client_secret_basic`, secret
/// `web-secret`, scopes `read write`, code + refresh + client_credentials) and `app`
/// (public, scope `read`).
pub async fn seed_clients(store: &dyn OAuth2ClientStore) {
    let web = RegisteredClient::confidential("web", "web-secret")
        .with_redirect_uris([REDIRECT])
        .with_scopes(["read", "write"])
        .with_grant_types([
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ]);
    let app = RegisteredClient::public("app").with_redirect_uris([APP_REDIRECT]).with_scopes(["read"]);
    for c in [web, app] {
        store.create_registered_client(&c).await.expect("seed a client");
    }
}

/// The provider of a site at `base` over `store` (already seeded), with `placement` for
/// bearer tokens and a body limit of [`BODY_LIMIT`].
pub fn provider(store: Arc<dyn OAuth2Store>, base: &str, placement: BearerPlacement) -> OAuth2Provider {
    let config =
        ServerConfig::new(base).with_scopes_supported(["read", "write"]).with_bearer_placement(placement);
    let server = AuthorizationServer::builder(store, config).build();
    OAuth2Provider::with_options(server, RequestOptions::default().body_limit(BODY_LIMIT))
}

/// A site under test and an HTTP client that does not follow redirects.
pub struct Site {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// The client.
    pub http: reqwest::Client,
}

impl Site {
    /// A site at `base`.
    pub fn new(base: String) -> Self {
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { base, http }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A POST of `body` as a form to `path`, with Basic credentials when given.
    pub async fn post(
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
        r.send().await.expect("POST")
    }

    /// A POST of `pairs` as a form.
    pub async fn post_form(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        self.post(path, encode_form(pairs.iter().copied()), basic).await
    }

    /// A GET of `path` with `token` in the `Authorization: Bearer` header.
    pub async fn bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.expect("GET")
    }

    /// Revokes `token` as `web` (RFC 7009 §2.1); the status.
    pub async fn revoke(&self, token: &str, hint: &str) -> StatusCode {
        let pairs = [("token", token), ("token_type_hint", hint)];
        self.post_form("/revoke", &pairs, Some(("web", "web-secret"))).await.status()
    }

    /// Runs an authorization request of `pairs` and returns the response (not followed).
    pub async fn authorize(&self, pairs: &[(&str, &str)]) -> reqwest::Response {
        let url = format!("{}?{}", self.url("/authorize"), encode_form(pairs.iter().copied()));
        self.http.get(url).send().await.expect("GET /authorize")
    }

    /// A code for `web` with PKCE ([`VERIFIER`]), scopes `read write`.
    pub async fn code(&self) -> String {
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

    /// Exchanges `code` for tokens as `web`.
    pub async fn exchange(&self, code: &str) -> reqwest::Response {
        let pairs = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        self.post_form("/token", &pairs, Some(("web", "web-secret"))).await
    }

    /// A `client_credentials` access token of `web` with `scope`.
    pub async fn client_token(&self, scope: &str) -> String {
        let pairs = [("grant_type", "client_credentials"), ("scope", scope)];
        let r = self.post_form("/token", &pairs, Some(("web", "web-secret"))).await;
        json(r).await["access_token"].as_str().expect("an access token").to_owned()
    }
}

/// The target and the decoded query of a redirect.
pub fn location(r: &reqwest::Response) -> (String, Vec<(String, String)>) {
    let loc = r.headers()["location"].to_str().expect("location").to_owned();
    let (base, query) = loc.split_once('?').expect("a query");
    (base.to_owned(), parse_form(query).expect("a form"))
}

/// The value of `name` in `params`.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A header's value, or "" when absent.
pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).map(|v| v.to_str().expect("a text header").to_owned()).unwrap_or_default()
}

/// The body as JSON (`null` when it is not).
pub async fn json(r: reqwest::Response) -> Value {
    serde_json::from_slice(&r.bytes().await.expect("a body")).unwrap_or(Value::Null)
}

/// Checks an RFC 6749 §5.2 error response: its status, its `error`, `no-store` and JSON.
pub async fn assert_error(r: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(r.status(), status);
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "content-type"), "application/json");
    assert_eq!(json(r).await["error"], error);
}

/// Runs every case against sites that `start` serves (see the module's docs) with the
/// given bearer placement; `start` returns the site's base URL. Panics on the first rule a
/// site breaks.
pub async fn run<F, Fut>(start: F)
where
    F: Fn(BearerPlacement) -> Fut,
    Fut: Future<Output = String>,
{
    let site = || async { Site::new(start(BearerPlacement::default()).await) };
    the_oauth2_crate_runs_every_grant_over_http(&site().await).await;
    a_public_client_runs_code_pkce_and_rotating_refresh(&site().await).await;
    metadata_is_served_at_the_well_known_path(&site().await).await;
    an_unknown_client_or_redirect_uri_is_never_redirected(&site().await).await;
    later_authorization_errors_go_back_with_state_and_iss(&site().await).await;
    a_replayed_code_is_refused_and_revokes_the_first_tokens(&site().await).await;
    a_reused_refresh_token_revokes_the_family(&site().await).await;
    client_authentication_failures_are_401_invalid_client(&site().await).await;
    bearer_failures_follow_rfc_6750(&site().await).await;
    malformed_bodies_are_400_invalid_request_never_5xx(&site().await).await;
    form_body_tokens_are_read_only_when_the_server_enables_them(&site().await).await;
    let query = BearerPlacement { form_body: false, query: true };
    query_tokens_are_read_when_the_server_enables_them(&Site::new(start(query).await)).await;
    let form_body = BearerPlacement { form_body: true, query: false };
    form_body_tokens_are_read_when_the_server_enables_them(&Site::new(start(form_body).await)).await;
}

async fn the_oauth2_crate_runs_every_grant_over_http(s: &Site) {
    let client = BasicClient::new(ClientId::new("web".into()))
        .set_client_secret(ClientSecret::new("web-secret".into()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).expect("url"))
        .set_token_uri(TokenUrl::new(s.url("/token")).expect("url"))
        .set_introspection_url(IntrospectionUrl::new(s.url("/introspect")).expect("url"))
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("url"));
    let http = &s.http;

    // Code + PKCE: the authorization URL the crate builds, answered with a redirect.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();
    let r = http.get(url.as_str()).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let (to, params) = location(&r);
    assert_eq!(to, REDIRECT);
    assert_eq!(param(&params, "state"), Some(csrf.secret().as_str()));
    assert_eq!(param(&params, "iss"), Some(s.base.as_str()));
    let code = param(&params, "code").expect("a code").to_owned();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .expect("the code exchange");
    assert_eq!(tokens.scopes().expect("scopes").len(), 2);
    let me = s.bearer("/api/me", tokens.access_token().secret()).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(json(me).await, json!({ "sub": "alice", "client_id": "web", "scope": ["read", "write"] }));
    let w = s.bearer("/api/write", tokens.access_token().secret()).await;
    assert_eq!(w.status(), StatusCode::OK);
    assert_eq!(w.text().await.expect("text"), "written for web");

    // Introspection.
    let info = client.introspect(tokens.access_token()).request_async(http).await.expect("introspection");
    assert!(info.active());
    assert_eq!(info.sub(), Some("alice"));
    assert_eq!(info.client_id().map(|c| c.as_str()), Some("web"));

    // Refresh with rotation, narrowing the scope.
    let refresh1 = tokens.refresh_token().expect("a refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&refresh1)
        .add_scope(Scope::new("read".into()))
        .request_async(http)
        .await
        .expect("the refresh");
    let refresh2 = refreshed.refresh_token().expect("a new refresh token").clone();
    assert_ne!(refresh1.secret(), refresh2.secret());
    assert_eq!(refreshed.scopes().expect("scopes"), &vec![Scope::new("read".into())]);
    // The narrowed token may read but not write.
    assert_eq!(s.bearer("/api/me", refreshed.access_token().secret()).await.status(), StatusCode::OK);
    let w = s.bearer("/api/write", refreshed.access_token().secret()).await;
    assert_eq!(w.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&w, "www-authenticate"), "Bearer error=\"insufficient_scope\", scope=\"write\"");

    // client_credentials: no refresh token, no subject.
    let cc = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".into()))
        .request_async(http)
        .await
        .expect("client_credentials");
    assert!(cc.refresh_token().is_none());
    let me = s.bearer("/api/me", cc.access_token().secret()).await;
    assert_eq!(json(me).await, json!({ "sub": null, "client_id": "web", "scope": ["read"] }));

    // Revocation: the token stops working at the resource and at introspection. (The crate
    // sends revocations to https URLs only, RFC 7009 §2; this server is plain http on
    // loopback, so the request is written here.)
    assert_eq!(s.revoke(cc.access_token().secret(), "access_token").await, StatusCode::OK);
    let info = client.introspect(cc.access_token()).request_async(http).await.expect("introspection");
    assert!(!info.active());
    assert_eq!(s.bearer("/api/me", cc.access_token().secret()).await.status(), StatusCode::UNAUTHORIZED);

    // Revoking the refresh token takes the grant's access tokens with it (RFC 7009 §2.1).
    assert_eq!(s.revoke(refresh2.secret(), "refresh_token").await, StatusCode::OK);
    let r = s.bearer("/api/me", refreshed.access_token().secret()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_token\"");
}

async fn a_public_client_runs_code_pkce_and_rotating_refresh(s: &Site) {
    let client = BasicClient::new(ClientId::new("app".into()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).expect("url"))
        .set_token_uri(TokenUrl::new(s.url("/token")).expect("url"))
        // Loopback redirect: any port matches (RFC 8252 §7.3).
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:53111/cb".into()).expect("url"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let r = s.http.get(url.as_str()).send().await.expect("GET");
    let (to, params) = location(&r);
    assert_eq!(to, "http://127.0.0.1:53111/cb");
    let code = param(&params, "code").expect("a code").to_owned();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&s.http)
        .await
        .expect("the code exchange");
    let refresh = tokens.refresh_token().expect("a refresh token");
    let refreshed = client.exchange_refresh_token(refresh).request_async(&s.http).await.expect("the refresh");
    assert_ne!(refreshed.refresh_token().expect("rotated").secret(), refresh.secret());
    assert_eq!(s.bearer("/api/me", refreshed.access_token().secret()).await.status(), StatusCode::OK);
}

async fn metadata_is_served_at_the_well_known_path(s: &Site) {
    let r = s.http.get(s.url(OAUTH_WELL_KNOWN)).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
    let m = json(r).await;
    assert_eq!(m["issuer"], s.base);
    assert_eq!(m["token_endpoint"], s.url("/token"));
    assert_eq!(m["authorization_endpoint"], s.url("/authorize"));
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
}

async fn an_unknown_client_or_redirect_uri_is_never_redirected(s: &Site) {
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
        assert!(r.text().await.expect("text").starts_with("invalid_request"));
    }
    // Malformed percent-encoding and non-UTF-8 query: a 400 page, never a 5xx.
    for query in ["client_id=web&state=%zz", "client_id=%ff%fe", "client_id=%ff&state=%zz"] {
        let r = s.http.get(format!("{}?{query}", s.url("/authorize"))).send().await.expect("GET");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(r.headers().get("location").is_none());
    }
}

async fn later_authorization_errors_go_back_with_state_and_iss(s: &Site) {
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
    let page = r.text().await.expect("text");
    assert!(page.contains("action=\"https://web.example/cb\""));
    assert!(page.contains("value=\"&lt;&quot;x&quot;&gt;\""));
    assert!(!page.contains("<\"x\">"));

    // The same request as a POSTed form is answered the same way.
    let r = s.post_form("/authorize", &ok, None).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(param(&location(&r).1, "code").is_some());
}

async fn a_replayed_code_is_refused_and_revokes_the_first_tokens(s: &Site) {
    let code = s.code().await;
    let r = s.exchange(&code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let tokens = json(r).await;
    let access = tokens["access_token"].as_str().expect("an access token").to_owned();
    assert_eq!(s.bearer("/api/me", &access).await.status(), StatusCode::OK);

    assert_error(s.exchange(&code).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = s.bearer("/api/me", &access).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_token\"");
    // The refresh token of that grant is gone too.
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let pairs = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let r = s.post_form("/token", &pairs, Some(("web", "web-secret"))).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn a_reused_refresh_token_revokes_the_family(s: &Site) {
    let tokens = json(s.exchange(&s.code().await).await).await;
    let refresh1 = tokens["refresh_token"].as_str().expect("a refresh token");
    let refresh = |token: &str| {
        let token = token.to_owned();
        async move {
            let pairs = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
            s.post_form("/token", &pairs, Some(("web", "web-secret"))).await
        }
    };
    let r = refresh(refresh1).await;
    assert_eq!(r.status(), StatusCode::OK);
    let second = json(r).await;
    let access2 = second["access_token"].as_str().expect("an access token");
    let refresh2 = second["refresh_token"].as_str().expect("a refresh token");
    assert_eq!(s.bearer("/api/me", access2).await.status(), StatusCode::OK);

    // The rotated-out token comes back: refused, and every token of the family dies.
    assert_error(refresh(refresh1).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(s.bearer("/api/me", access2).await.status(), StatusCode::UNAUTHORIZED);
    assert_error(refresh(refresh2).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn client_authentication_failures_are_401_invalid_client(s: &Site) {
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

async fn bearer_failures_follow_rfc_6750(s: &Site) {
    let read_only = s.client_token("read").await;
    // No token: 401, a bare challenge.
    let r = s.http.get(s.url("/api/me")).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    // Another scheme is no bearer token.
    let r = s.http.get(s.url("/api/me")).basic_auth("web", Some("web-secret")).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    // Unknown or malformed token: 401 invalid_token.
    for token in ["unknown", "not a b64token!"] {
        let r = s.http.get(s.url("/api/me")).header("authorization", format!("Bearer {token}")).send().await;
        let r = r.expect("GET");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_token\"");
    }
    // A token in the query is not looked at by default.
    let r = s.http.get(format!("{}?access_token={read_only}", s.url("/api/me"))).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    // Missing scope: 403 insufficient_scope, naming the scope.
    let r = s.bearer("/api/write", &read_only).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"insufficient_scope\", scope=\"write\"");
    assert_eq!(s.bearer("/api/me", &read_only).await.status(), StatusCode::OK);
}

async fn malformed_bodies_are_400_invalid_request_never_5xx(s: &Site) {
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
        for content_type in ["application/json", "text/plain"] {
            let r = s
                .http
                .post(s.url(path))
                .basic_auth("web", Some("web-secret"))
                .header("content-type", content_type)
                .body("grant_type=client_credentials")
                .send()
                .await
                .expect("POST");
            assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
        // A GET: the server's own JSON 405.
        let r = s.http.get(s.url(path)).send().await.expect("GET");
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

/// On a site with the default placement: the body-reading extractor checks the header's
/// token and hands the body on; a form-body token is not looked at.
async fn form_body_tokens_are_read_only_when_the_server_enables_them(s: &Site) {
    let token = s.client_token("read write").await;
    let body = encode_form([("note", "hi")]);
    let r = s
        .http
        .post(s.url("/api/form"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("text"), format!("web sent {} bytes", body.len()));
    let r = s.post("/api/form", encode_form([("access_token", token.as_str())]), None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    // A body over the limit: 400, never 5xx.
    let r = s
        .http
        .post(s.url("/api/form"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; BODY_LIMIT + 1])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_request\"");
}

async fn query_tokens_are_read_when_the_server_enables_them(s: &Site) {
    let token = s.client_token("read").await;
    let query = encode_form([("access_token", token.as_str())]);
    let r = s.http.get(format!("{}?{query}", s.url("/api/me"))).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(r).await["client_id"], "web");
    // In the header and the query at once: 400 invalid_request (RFC 6750 §2).
    let r =
        s.http.get(format!("{}?{query}", s.url("/api/me"))).bearer_auth(&token).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_request\"");
}

async fn form_body_tokens_are_read_when_the_server_enables_them(s: &Site) {
    let token = s.client_token("read write").await;
    let body = encode_form([("access_token", token.as_str()), ("note", "hi")]);
    let r = s.post("/api/form", body.clone(), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("text"), format!("web sent {} bytes", body.len()));
    // In the header too: 400 invalid_request.
    let r = s
        .http
        .post(s.url("/api/form"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A body over the limit: 400, never 5xx.
    let r = s.post("/api/form", vec![b'a'; BODY_LIMIT + 1], None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_request\"");
}

/// The secret of the peer scripts' confidential clients.
pub const PEER_SECRET: &str = "peer-secret-0123456789";
/// The redirect URI of the peer scripts' clients.
pub const PEER_REDIRECT: &str = "http://127.0.0.1/peer/cb";

/// The provider a site serves to the third-party client scripts ([`run_peer`]): over a memory
/// store `store`, with a client per authentication method (`peer-basic`, `peer-post`,
/// `peer-public`), scope `read`.
pub async fn peer_provider(store: Arc<dyn OAuth2Store>, issuer: &str) -> OAuth2Provider {
    let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials];
    let clients = [
        RegisteredClient::confidential("peer-basic", PEER_SECRET).with_grant_types(grants),
        RegisteredClient::confidential("peer-post", PEER_SECRET)
            .with_auth_method(keyward::oauth2::provider::ClientAuthMethod::ClientSecretPost)
            .with_grant_types(grants),
        RegisteredClient::public("peer-public"),
    ];
    for c in clients {
        let c = c.with_redirect_uris([PEER_REDIRECT]).with_scopes(["read"]);
        store.create_registered_client(&c).await.expect("seed a peer client");
    }
    let config = ServerConfig::new(issuer).with_scopes_supported(["read"]);
    OAuth2Provider::new(AuthorizationServer::builder(store, config).build())
}

/// The user of the peer scripts: the site's authorization endpoint approves at once, so the
/// harness only fetches the redirect.
pub struct AutoApproved;

impl crate::peers::PeerUser for AutoApproved {
    async fn authorize(&mut self, url: &str) -> String {
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let r = http.get(url).send().await.expect("GET the authorization URL");
        assert_eq!(r.status(), 302, "{url}: {}", r.text().await.unwrap_or_default());
        r.headers()["location"].to_str().expect("location").to_owned()
    }

    async fn approve_device(&mut self, _: &Value) {
        panic!("the device flow is not served here");
    }
}

/// The peer scripts' arguments for `client_id` at `issuer`, authenticating with
/// `auth_method`: scope `read`, [`PEER_REDIRECT`], every step but the device flow (and
/// `client_credentials` for a public client).
pub fn peer_args(issuer: &str, client_id: &str, auth_method: &str) -> crate::peers::OAuth2ClientArgs {
    let mut a = crate::peers::OAuth2ClientArgs::new(issuer, client_id);
    a.auth_method = auth_method.to_owned();
    if auth_method != "none" {
        a.client_secret = Some(PEER_SECRET.to_owned());
    }
    a.redirect_uri = Some(PEER_REDIRECT.to_owned());
    a.scope = Some("read".to_owned());
    a.steps.retain(|s| *s != "device");
    if auth_method == "none" {
        a.steps.retain(|s| *s != "client_credentials");
    }
    a
}

fn is_bearer(line: &Value) {
    let t = line["token_type"].as_str().unwrap_or_default();
    assert!(t.eq_ignore_ascii_case("bearer"), "{line}");
}

/// What every peer run shows: discovery, the code with `iss`, refresh rotation, and (for a
/// confidential client) introspection before and after revocation.
fn check_peer_run(issuer: &str, run: &crate::peers::PeerRun, client_id: &str, confidential: bool) {
    let meta = run.one("metadata");
    assert_eq!(meta["issuer"], issuer);
    assert_eq!(meta["iss_parameter_supported"], true, "{run}");

    let code = run.one("code");
    is_bearer(code);
    assert_eq!(code["iss"], issuer, "RFC 9207 iss reached the script");
    assert_eq!(code["iss_checked"], true, "{code}");
    assert_eq!(code["refresh_token"], true, "{code}");
    assert_eq!(code["expires_in"], 3600);
    assert_eq!(code["scope"], "read", "{code}");
    if run.one("done")["lib"] == "openid-client" {
        assert_eq!(code["forged_iss_refused"], true, "openid-client checks iss (RFC 9207)");
    }

    let refresh = run.one("refresh");
    assert_eq!(refresh["rotated"], true, "every refresh token rotates: {refresh}");
    assert_eq!(refresh["new_access_token"], true);
    is_bearer(refresh);

    let revoked: Vec<_> = run.all("revoke").iter().map(|l| l["token"].clone()).collect();
    assert_eq!(revoked.first(), Some(&Value::from("refresh_token")), "{run}");
    if confidential {
        let access = run.introspection("access_token");
        assert_eq!(access["active"], true);
        assert_eq!(access["scope"], "read");
        assert_eq!(access["sub"], "alice");
        assert_eq!(run.introspection("rotated_out_refresh_token")["active"], false);
        assert_eq!(run.introspection("revoked_refresh_token")["active"], false);
        assert_eq!(run.introspection("revoked_access_token")["active"], false);

        let cc = run.one("client_credentials");
        is_bearer(cc);
        assert_eq!(cc["refresh_token"], false, "no refresh token for client_credentials: {cc}");
        let i = run.introspection("client_credentials_token");
        assert_eq!(i["active"], true);
        assert_eq!(i["client_id"], client_id);
        assert!(i.get("sub").is_none(), "no user behind a client_credentials token: {i}");
    } else {
        assert!(run.all("introspect").is_empty(), "a public client cannot introspect");
    }
}

/// Runs the third-party client script of `lib` (Authlib, requests-oauthlib, openid-client)
/// through every step against a site that `start` serves over [`peer_provider`], with each of
/// its three clients: RFC 8414 discovery, code + PKCE with the RFC 9207 `iss` check, refresh
/// with rotation, introspection, revocation and client_credentials. The site serves
/// `/authorize` (signs `alice` in and grants at once), `/token`, `/revoke`, `/introspect` and
/// the metadata; `start` returns its issuer (base URL). Skips visibly when the peer is not
/// installed (fails under `CI=true`).
pub async fn run_peer<F, Fut>(lib: crate::peers::OAuth2Lib, test: &str, start: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = String>,
{
    let Some(_) = crate::require(
        lib.command(),
        test,
        &format!("the {} peer", lib.name()),
        crate::peers::OAuth2Lib::HOW,
    ) else {
        return;
    };
    let issuer = start().await;
    for (client_id, method) in
        [("peer-basic", "client_secret_basic"), ("peer-post", "client_secret_post"), ("peer-public", "none")]
    {
        let run =
            crate::peers::run_oauth2_client(lib, &peer_args(&issuer, client_id, method), &mut AutoApproved)
                .await
                .expect("installed")
                .unwrap_or_else(|e| panic!("{} with {client_id}: {e}", lib.name()));
        check_peer_run(&issuer, &run, client_id, method != "none");
        assert_eq!(run.one("done")["lib"], lib.name());
    }
}

/// One JSON call to the registration endpoints: `method` on `url`, with `token` as a bearer
/// and `body` as JSON; the status and the JSON body (`Null` when none). Every answer must be
/// `Cache-Control: no-store`.
pub async fn registration_call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(serde_json::to_vec(&b).unwrap());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Dynamic client registration (RFC 7591) and management (RFC 7592) over HTTP against the
/// site at `base`, which serves `/register` (behind the initial access token `iat`),
/// `/register/{client_id}` and the metadata: register, read, update, delete, with the
/// refusals' statuses and codes.
pub async fn registration_crud(base: &str) {
    let call = registration_call;
    let (_, meta) = call("GET", &format!("{base}{OAUTH_WELL_KNOWN}"), None, None).await;
    assert_eq!(meta["registration_endpoint"], format!("{base}/register"));

    let metadata = json!({"redirect_uris": ["https://rp.example/cb"], "client_name": "RP"});
    let (status, body) = call("POST", &format!("{base}/register"), None, Some(metadata.clone())).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")));
    let (status, body) = call(
        "POST",
        &format!("{base}/register"),
        Some("iat"),
        Some(json!({"redirect_uris": ["http://rp.example/cb"]})),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_redirect_uri")));
    let (status, body) = call("POST", &format!("{base}/register"), Some("iat"), Some(metadata)).await;
    assert_eq!(status, 201, "{body}");
    let id = body["client_id"].as_str().unwrap().to_owned();
    let uri = body["registration_client_uri"].as_str().unwrap().to_owned();
    assert_eq!(uri, format!("{base}/register/{id}"));
    let token = body["registration_access_token"].as_str().unwrap().to_owned();

    let (status, read) = call("GET", &uri, Some(&token), None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["client_name"], "RP");
    let token = read["registration_access_token"].as_str().unwrap().to_owned();
    let (status, _) = call("GET", &uri, Some("wrong"), None).await;
    assert_eq!(status, 401);

    let update = json!({"client_id": id, "redirect_uris": ["https://rp.example/new"]});
    let (status, updated) = call("PUT", &uri, Some(&token), Some(update)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["redirect_uris"], json!(["https://rp.example/new"]));
    let token = updated["registration_access_token"].as_str().unwrap().to_owned();

    let (status, _) = call("DELETE", &uri, Some(&token), None).await;
    assert_eq!(status, 204);
    let (status, _) = call("GET", &uri, Some(&token), None).await;
    assert_eq!(status, 401);
}

/// Against a site at `base` built without registration: `/register` is `404` and the
/// metadata has no `registration_endpoint`.
pub async fn registration_off(base: &str) {
    let (status, _) =
        registration_call("POST", &format!("{base}/register"), Some("iat"), Some(json!({}))).await;
    assert_eq!(status, 404);
    let (_, meta) = registration_call("GET", &format!("{base}{OAUTH_WELL_KNOWN}"), None, None).await;
    assert!(meta.get("registration_endpoint").is_none());
}

/// The provider of a registration site at `base` over `store`: with `on`, registration at
/// `{base}/register` behind the initial access token `iat`; without, none.
pub fn registration_provider(store: Arc<dyn OAuth2Store>, base: &str, on: bool) -> OAuth2Provider {
    let mut builder = AuthorizationServer::builder(store, ServerConfig::new(base));
    if on {
        let config = keyward::oauth2::provider::RegistrationConfig::with_initial_access_token(
            format!("{base}/register"),
            keyward::common::secret::SecretString::new("iat"),
        );
        builder = builder.registration(config);
    }
    OAuth2Provider::new(builder.build())
}

/// `urn:ietf:params:oauth:grant-type:device_code`, form-encoded.
const DEVICE_GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";

/// The server of the device cases ([`run_device_cases`]), over `store`, at `base`: the public
/// clients `tv` (device grant, scope `read`) and `web` (no device grant); device codes on
/// when `device`, with the device authorization endpoint at `{base}/device_authorization`.
pub async fn device_server<S>(store: Arc<S>, base: &str, device: bool) -> AuthorizationServer
where
    S: OAuth2Store + keyward::oauth2::provider::device_store::DeviceCodeStore + 'static,
{
    let tv = RegisteredClient::public("tv").with_scopes(["read"]).with_grant_types([GrantType::DeviceCode]);
    store.create_registered_client(&tv).await.expect("seed tv");
    let web = RegisteredClient::public("web").with_scopes(["read"]).with_redirect_uris([REDIRECT]);
    store.create_registered_client(&web).await.expect("seed web");
    let mut builder = AuthorizationServer::builder(store.clone(), ServerConfig::new(base));
    if device {
        let config = keyward::oauth2::provider::DeviceConfig::new(base)
            .with_endpoint(format!("{base}/device_authorization"));
        builder = builder.device_codes(store, config);
    }
    builder.build()
}

/// The provider a site serves for the device cases: `server` with a body limit of 4 KiB.
pub fn device_provider(server: AuthorizationServer) -> OAuth2Provider {
    OAuth2Provider::with_options(server, RequestOptions::default().body_limit(BODY_LIMIT))
}

async fn post_json(url: &str, body: String) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, serde_json::from_str(&resp.text().await.expect("body")).expect("JSON"))
}

/// The device authorization endpoint (RFC 8628 §3.1) through a framework's glue: a device
/// starts, polls `authorization_pending`, the application approves through the core's
/// verification calls, and the next poll gets the token; then the endpoint's refusals (an
/// unknown client, a client without the grant, a scope it may not ask, an oversize body, a
/// wrong method, a server without device codes). `start(device)` serves
/// `/device_authorization` and `/token` of a [`device_server`] through [`device_provider`]
/// and returns its base URL and server.
pub async fn run_device_cases<F, Fut>(start: F)
where
    F: Fn(bool) -> Fut,
    Fut: Future<Output = (String, AuthorizationServer)>,
{
    let (base, server) = start(true).await;
    let url = format!("{base}/device_authorization");
    let (status, headers, started) = post_json(&url, "client_id=tv&scope=read".into()).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(started["verification_uri"], format!("{base}/device"));
    let device_code = started["device_code"].as_str().expect("device_code");
    let user_code = started["user_code"].as_str().expect("user_code");
    let poll = format!("grant_type={DEVICE_GRANT}&client_id=tv&device_code={device_code}");
    let (status, _, pending) = post_json(&format!("{base}/token"), poll.clone()).await;
    assert_eq!((status, pending["error"].as_str()), (400, Some("authorization_pending")));
    let verification = server.verify_user_code(user_code, "test").await.expect("the user code");
    let grant = keyward::oauth2::provider::Grant::new("alice", ["read"]);
    server.approve_device(&verification, grant).await.expect("approve");
    let (status, _, tokens) = post_json(&format!("{base}/token"), poll).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "read");

    let (status, _, body) = post_json(&url, "client_id=nobody".into()).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let (status, _, body) = post_json(&url, "client_id=web".into()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
    let (status, _, body) = post_json(&url, "client_id=tv&scope=write".into()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    let (status, _, body) = post_json(&url, format!("client_id=tv&pad={}", "x".repeat(8192))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "oversize: {body}");
    assert_eq!(reqwest::get(&url).await.expect("GET").status(), 405);

    let (base, _) = start(false).await;
    let (status, _, body) = post_json(&format!("{base}/device_authorization"), "client_id=tv".into()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")), "{body}");
}

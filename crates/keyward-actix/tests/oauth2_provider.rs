//! The OAuth 2.1 authorization server served by actix-web on 127.0.0.1: the Rust `oauth2`
//! crate (a client nobody here wrote) runs code + PKCE, refresh and client_credentials over
//! HTTP; and the negative rules end to end through the glue, each with its status, error code
//! and headers.

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::encoding::{encode_form, parse_form};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, Grant, GrantType, OAuth2Provider, RegisteredClient, RequestOptions, ServerConfig,
};
use keyward_actix::oauth2_provider::{
    OAUTH_WELL_KNOWN, OAuth2Authorize, OAuth2Bearer, OAuth2BearerForm, deny_response, grant_response,
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
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const BODY_LIMIT: usize = 4096;

keyward_actix::required_scopes!(Write = "write");

/// The test application's authorization handler: signs "alice" in and grants what was asked
/// for at once; `deny=1` in the request denies.
async fn authorize(p: web::Data<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> HttpResponse {
    if req.extra.iter().any(|(k, v)| k == "deny" && v == "1") {
        return deny_response(p.server(), &req);
    }
    let scopes = req.scopes.clone();
    grant_response(p.server(), &req, Grant::new("alice", scopes)).await
}

async fn me(auth: OAuth2Bearer) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": auth.subject, "client_id": auth.client_id, "scope": auth.scopes }))
}

async fn write(auth: OAuth2Bearer<Write>) -> String {
    format!("written for {}", auth.client_id)
}

/// A resource that reads the body after the token check.
async fn form(auth: OAuth2BearerForm<Write>) -> String {
    format!("{} sent {} bytes", auth.client_id, auth.request.body().len())
}

struct TestServer {
    base: String,
    http: reqwest::Client,
}

impl TestServer {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: Vec<u8>, basic: Option<(&str, &str)>) -> reqwest::Response {
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
        self.post(path, encode_form(pairs.iter().copied()).into_bytes(), basic).await
    }

    async fn bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    async fn authorize(&self, pairs: &[(&str, &str)]) -> reqwest::Response {
        let url = format!("{}?{}", self.url("/authorize"), encode_form(pairs.iter().copied()));
        self.http.get(url).send().await.unwrap()
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

async fn assert_error(r: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(r.status(), status);
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(json(r).await["error"], error);
}

async fn start() -> TestServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    let web_client = RegisteredClient::confidential("web", "web-secret")
        .with_redirect_uris([REDIRECT])
        .with_scopes(["read", "write"])
        .with_grant_types([
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ]);
    store.create_registered_client(&web_client).await.unwrap();
    let server = AuthorizationServer::builder(store, ServerConfig::new(base.clone())).build();
    let provider = OAuth2Provider::with_options(server, RequestOptions::default().body_limit(BODY_LIMIT));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(provider.clone()))
            .route("/authorize", web::route().to(authorize))
            .route("/token", web::route().to(token_endpoint))
            .route("/revoke", web::route().to(revocation_endpoint))
            .route("/introspect", web::route().to(introspection_endpoint))
            .route(OAUTH_WELL_KNOWN, web::get().to(metadata_endpoint))
            .route("/api/me", web::get().to(me))
            .route("/api/write", web::get().to(write))
            .route("/api/form", web::post().to(form))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestServer { base, http }
}

#[actix_web::test]
async fn the_oauth2_crate_runs_every_grant_over_http() {
    let s = start().await;
    let client = BasicClient::new(ClientId::new("web".into()))
        .set_client_secret(ClientSecret::new("web-secret".into()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(s.url("/introspect")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let http = &s.http;

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();
    let r = http.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let (to, params) = location(&r);
    assert_eq!(to, REDIRECT);
    assert_eq!(param(&params, "state"), Some(csrf.secret().as_str()));
    assert_eq!(param(&params, "iss"), Some(s.base.as_str()));
    let code = param(&params, "code").unwrap().to_owned();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .unwrap();
    let me = s.bearer("/api/me", tokens.access_token().secret()).await;
    assert_eq!(json(me).await, json!({ "sub": "alice", "client_id": "web", "scope": ["read", "write"] }));
    let info = client.introspect(tokens.access_token()).request_async(http).await.unwrap();
    assert!(info.active());
    assert_eq!(info.sub(), Some("alice"));

    // Refresh with rotation; the rotated-out token coming back revokes the family.
    let refresh1 = tokens.refresh_token().unwrap().clone();
    let refreshed = client.exchange_refresh_token(&refresh1).request_async(http).await.unwrap();
    assert_ne!(refreshed.refresh_token().unwrap().secret(), refresh1.secret());
    assert_eq!(s.bearer("/api/write", refreshed.access_token().secret()).await.status(), StatusCode::OK);
    let reuse = client.exchange_refresh_token(&refresh1).request_async(http).await;
    assert!(
        matches!(reuse, Err(oauth2::RequestTokenError::ServerResponse(ref e)) if e.error().to_string() == "invalid_grant"),
        "{reuse:?}"
    );
    let r = s.bearer("/api/me", refreshed.access_token().secret()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_token\"");

    // client_credentials.
    let cc = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".into()))
        .request_async(http)
        .await
        .unwrap();
    assert!(cc.refresh_token().is_none());
    let me = s.bearer("/api/me", cc.access_token().secret()).await;
    assert_eq!(json(me).await, json!({ "sub": null, "client_id": "web", "scope": ["read"] }));
    let r = s.bearer("/api/write", cc.access_token().secret()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"insufficient_scope\", scope=\"write\"");
    let pairs = [("token", cc.access_token().secret().as_str())];
    assert_eq!(s.post_form("/revoke", &pairs, Some(("web", "web-secret"))).await.status(), StatusCode::OK);
    assert_eq!(s.bearer("/api/me", cc.access_token().secret()).await.status(), StatusCode::UNAUTHORIZED);

    // The metadata document.
    let m = json(http.get(s.url(OAUTH_WELL_KNOWN)).send().await.unwrap()).await;
    assert_eq!(m["issuer"], s.base);
    assert_eq!(m["token_endpoint"], s.url("/token"));
}

#[actix_web::test]
async fn the_negative_rules_hold_through_the_glue() {
    let s = start().await;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER));
    let ok = [
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("state", "xyz"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", "read"),
    ];
    let replace = |name: &str, value: &'static str| {
        ok.iter().map(|&(k, v)| if k == name { (k, value) } else { (k, v) }).collect::<Vec<_>>()
    };

    // Unknown client, unregistered redirect URI: a 400 page, never a redirect.
    for pairs in [replace("client_id", "nobody"), replace("redirect_uri", "https://evil.example/cb")] {
        let r = s.authorize(&pairs).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get("location").is_none());
    }
    let r = s.http.get(format!("{}?client_id=%ff&state=%zz", s.url("/authorize"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Missing PKCE, denial: back to the client with state and iss.
    let no_pkce: Vec<_> = ok.iter().filter(|(k, _)| !k.starts_with("code_challenge")).copied().collect();
    let mut denied = ok.to_vec();
    denied.push(("deny", "1"));
    for (pairs, error) in [(no_pkce, "invalid_request"), (denied, "access_denied")] {
        let r = s.authorize(&pairs).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        let (to, params) = location(&r);
        assert_eq!(to, REDIRECT);
        assert_eq!(param(&params, "error"), Some(error));
        assert_eq!(param(&params, "state"), Some("xyz"));
        assert_eq!(param(&params, "iss"), Some(s.base.as_str()));
    }

    // Code replay: invalid_grant, and the first tokens are revoked.
    let r = s.authorize(&ok).await;
    let code = param(&location(&r).1, "code").unwrap().to_owned();
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let basic = Some(("web", "web-secret"));
    let tokens = json(s.post_form("/token", &exchange, basic).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(s.bearer("/api/me", access).await.status(), StatusCode::OK);
    assert_error(s.post_form("/token", &exchange, basic).await, StatusCode::BAD_REQUEST, "invalid_grant")
        .await;
    assert_eq!(s.bearer("/api/me", access).await.status(), StatusCode::UNAUTHORIZED);

    // Failed Basic authentication: 401 invalid_client with a Basic challenge.
    let cc = [("grant_type", "client_credentials")];
    let r = s.post_form("/token", &cc, Some(("web", "wrong"))).await;
    assert!(header(&r, "www-authenticate").starts_with("Basic"));
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // No bearer token: 401 with a bare challenge.
    let r = s.http.get(s.url("/api/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");

    // Malformed bodies: 400 invalid_request, never 5xx; a GET is the server's JSON 405.
    for path in ["/token", "/revoke", "/introspect"] {
        let bodies: [Vec<u8>; 4] = [
            b"grant_type=client_credentials&grant_type=client_credentials&token=a&token=a".to_vec(),
            b"grant_type=client%zzcredentials&token=%zz".to_vec(),
            b"grant_type=client_credentials&token=\xff\xfe".to_vec(),
            vec![b'a'; BODY_LIMIT + 1],
        ];
        for body in bodies {
            assert_error(s.post(path, body, basic).await, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
        let r = s
            .http
            .post(s.url(path))
            .basic_auth("web", Some("web-secret"))
            .header("content-type", "text/plain")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        let r = s.http.get(s.url(path)).send().await.unwrap();
        assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "invalid_request").await;
    }
}

#[actix_web::test]
async fn the_body_reading_extractor_checks_the_token_and_keeps_the_body() {
    let s = start().await;
    let pairs = [("grant_type", "client_credentials"), ("scope", "read write")];
    let r = s.post_form("/token", &pairs, Some(("web", "web-secret"))).await;
    let token = json(r).await["access_token"].as_str().unwrap().to_owned();
    let body = encode_form([("note", "hi")]);
    let send = |token: Option<String>, body: Vec<u8>| {
        let mut r =
            s.http.post(s.url("/api/form")).header("content-type", "application/x-www-form-urlencoded");
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.body(body).send()
    };
    let r = send(Some(token.clone()), body.clone().into_bytes()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), format!("web sent {} bytes", body.len()));
    // The form body is not looked at unless the server enables it.
    let r = send(None, encode_form([("access_token", token.as_str())]).into_bytes()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    // A body over the limit: 400, never 5xx.
    let r = send(Some(token), vec![b'a'; BODY_LIMIT + 1]).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&r, "www-authenticate"), "Bearer error=\"invalid_request\"");
}

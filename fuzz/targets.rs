//! The fuzz targets' bodies: each takes arbitrary bytes, feeds them to a parser that reads
//! bytes from the network, and only requires that it returns (an `Ok` or a typed `Err`,
//! never a panic). Shared by the cargo-fuzz targets (`fuzz_targets/*.rs`) and by the
//! workspace test `crates/keyward/tests/fuzz_corpus.rs`, which replays `corpus/<target>/`.

use keyward::common::clock::FixedClock;
use keyward::common::encoding::{decode, decode_form_component, parse_form};
use keyward::common::http_client::HttpError;
use keyward::common::random::RandomSource;
use keyward::common::secret::SecretString;
use keyward::common::store::OnceStore;
use keyward::oauth1::rfc5849::SignedRequest;
use keyward::oauth1::rfc5849::params::parse_authorization_params;
use keyward::oauth1::rfc5849::provider::AuthorizationServer;
use keyward::oauth1::rfc5849::store::Client;
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::store::SecretForm;
use keyward::oauth2::provider::{
    AuthorizationServer as OAuth2Server, ClientAuthMethod, Grant, GrantType, RegisteredClient,
    RegistrationConfig, ResponseMode, ResponseTarget, ServerConfig,
};
use keyward::oauth2::rfc6749::parse_token_response;
use keyward::oidc::Algorithm;
use keyward::oidc::core::{IdTokenCheck, IdTokenValidator};
use keyward::oidc::discovery::parse_discovery_response;
use keyward::oidc::jwks::{KeySet, parse_jwks_response};
use keyward_client::registry::{AppConfig, Callback, OAuth, RemoteApp};
use keyward_client::session::MemorySession;
use keyward_stores::{MemoryStore, StoreAdmin};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by name, as the corpus folders are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("authorization_header", authorization_header),
    ("form_query", form_query),
    ("provider_request", provider_request),
    ("token_response", token_response),
    ("error_response", error_response),
    ("discovery", discovery),
    ("jwks", jwks),
    ("id_token", id_token),
    ("callback", callback),
    ("oauth2_authorize", oauth2_authorize),
    ("oauth2_token", oauth2_token),
    ("client_assertion", client_assertion),
    ("oauth2_endpoints", oauth2_endpoints),
    ("dpop_proof", dpop_proof),
    ("oidc_claims", oidc_claims),
    ("oidc_userinfo", oidc_userinfo),
    ("end_session", end_session),
    ("client_registration", client_registration),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Splits `data` at the first three `\n` into up to four parts.
fn parts(data: &[u8]) -> [Vec<u8>; 4] {
    let mut out: [Vec<u8>; 4] = Default::default();
    let mut i = 0;
    for &b in data {
        if b == b'\n' && i < 3 {
            i += 1;
        } else {
            out[i].push(b);
        }
    }
    out
}

/// The OAuth 1 `Authorization` header (RFC 5849 §3.5.1).
pub fn authorization_header(data: &[u8]) {
    let _ = parse_authorization_params(&text(data));
    let mut s = String::from("OAuth ");
    s.push_str(&text(data));
    let _ = parse_authorization_params(&s);
}

/// Form and query parsing (RFC 5849 §3.5.2, §3.5.3, §3.6) and the duplicate detection of
/// a whole request: `uri-query \n body \n authorization-header`.
pub fn form_query(data: &[u8]) {
    let s = text(data);
    let _ = parse_form(&s);
    let _ = decode(&s);
    let _ = decode_form_component(&s);
    let [query, body, header, _] = parts(data);
    let query: String = text(&query).chars().filter(|c| c.is_ascii_graphic()).collect();
    let Ok(uri) = http::Uri::try_from(format!("https://api.example.com/r?{query}")) else { return };
    let mut req = http::Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Ok(h) = http::HeaderValue::from_bytes(&header) {
        req = req.header("authorization", h);
    }
    if let Ok(req) = req.body(body) {
        let _ = SignedRequest::from_http(&req);
    }
}

const NOW: i64 = 1_700_000_000;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().unwrap())
}

fn provider() -> &'static AuthorizationServer {
    static SERVER: OnceLock<AuthorizationServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let store = Arc::new(MemoryStore::new());
        runtime().block_on(store.put_client(&Client::new("client1", SecretString::new("secret1")))).unwrap();
        AuthorizationServer::builder(store).clock(FixedClock::new(NOW)).build()
    })
}

/// The whole provider validation path: `method \n path-and-query \n authorization \n body`
/// into the temporary-credential, token and resource endpoints over a memory store.
pub fn provider_request(data: &[u8]) {
    let [method, path, header, body] = parts(data);
    let method = http::Method::from_bytes(&method).unwrap_or(http::Method::POST);
    let Ok(uri) =
        http::Uri::try_from(format!("http://127.0.0.1:8080/{}", text(&path).trim_start_matches('/')))
    else {
        return;
    };
    let mut req = http::Request::builder().method(method).uri(uri);
    if let Ok(h) = http::HeaderValue::from_bytes(&header) {
        req = req.header("authorization", h);
    }
    let Ok(req) = req.header("content-type", "application/x-www-form-urlencoded").body(body) else { return };
    let server = provider();
    let protector = server.resource_protector();
    runtime().block_on(async {
        let _ = server.create_temporary_credential_response(&req).await;
        let _ = server.create_token_response(&req).await;
        let _ = protector.validate_request(&req).await;
        let _ = server.check_authorization_request(&req).await;
    });
}

fn response(status: u16, content_type: &str, body: &[u8]) -> http::Response<Vec<u8>> {
    http::Response::builder().status(status).header("content-type", content_type).body(body.to_vec()).unwrap()
}

/// OAuth 2 token responses (RFC 6749 §5.1), any status the first byte picks.
pub fn token_response(data: &[u8]) {
    let (status, body) = match data.split_first() {
        Some((s, rest)) => (200 + u16::from(*s % 4) * 100, rest),
        None => (200, data),
    };
    let _ = parse_token_response(&response(status, "application/json", body), NOW);
    let _ = parse_token_response(&response(status, "application/x-www-form-urlencoded", body), NOW);
}

/// OAuth 2 error responses (RFC 6749 §5.2) on the error statuses.
pub fn error_response(data: &[u8]) {
    for status in [400, 401, 403, 500] {
        if let Err(e) = parse_token_response(&response(status, "application/json", data), NOW) {
            let _ = e.code();
            let _ = e.to_string();
        }
    }
}

/// Discovery documents (OpenID Connect Discovery §4, RFC 8414 §3).
pub fn discovery(data: &[u8]) {
    let resp = response(200, "application/json", data);
    let _ = parse_discovery_response(&resp, "https://op.example/.well-known/openid-configuration", None);
    let _ = parse_discovery_response(
        &resp,
        "https://op.example/{tenantid}/.well-known/openid-configuration",
        Some("https://op.example/{tenantid}"),
    );
}

/// JWK sets (RFC 7517 §5).
pub fn jwks(data: &[u8]) {
    if let Ok(set) = parse_jwks_response(&response(200, "application/json", data)) {
        let _ = set.select(None, Algorithm::RS256);
        let _ = set.select(Some("k"), Algorithm::ES256);
    }
}

/// ID tokens (compact JWS, OpenID Connect Core §3.1.3.7), validated with an HMAC secret
/// (so that a forged-but-well-formed token reaches the claim checks) and an empty key set.
pub fn id_token(data: &[u8]) {
    let mut v = IdTokenValidator::new("https://op.example", "client-1");
    v.client_secret = Some(SecretString::new("secret-1"));
    v.algorithms = vec![Algorithm::RS256, Algorithm::HS256];
    let keys = KeySet::from_value(&serde_json::json!({"keys": []})).unwrap();
    let check = IdTokenCheck { now: NOW, nonce: Some("n"), access_token: Some("at"), code: None };
    let _ = v.validate(&text(data), &keys, &check);
}

/// Draws the same bytes every time, so that the callback target's login always has the
/// same `state` ([`CALLBACK_STATE`]) and the fuzzer can reach the steps after the state
/// check.
struct SameBytes;

impl RandomSource for SameBytes {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
}

/// The `state` of the callback target's login (what [`SameBytes`] draws).
pub const CALLBACK_STATE: &str = "HHHHHHHHHHHHHHHHHHHHHHHHHHHHHH";

fn callback_app() -> &'static RemoteApp {
    static APP: OnceLock<RemoteApp> = OnceLock::new();
    APP.get_or_init(|| {
        // The token endpoint answers every request with one bearer token.
        let http = |_req: http::Request<Vec<u8>>| async {
            Ok::<_, HttpError>(response(
                200,
                "application/json",
                br#"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#,
            ))
        };
        let oauth = OAuth::builder().http_client(Arc::new(http)).random(Arc::new(SameBytes)).build();
        let config = AppConfig {
            client_id: Some("client1".into()),
            client_secret: Some(SecretString::new("secret1")),
            authorize_url: Some("https://as.example/authorize".into()),
            access_token_url: Some("https://as.example/token".into()),
            ..AppConfig::default()
        };
        oauth.register("fuzz", config).unwrap()
    })
}

/// The callback of a login (RFC 6749 §4.1.2; a GET with a query, or a form_post POST):
/// `method \n content-type \n query \n body` into `Callback::from_request` (or, when
/// the query cannot be part of a URI, `Callback::from_query`), then, when it reads,
/// `authorize_access_token` of an OAuth 2 app whose login was started in a fresh session
/// with state [`CALLBACK_STATE`], against a token endpoint that answers a token. Checks
/// that only that state gets a token, and only once.
pub fn callback(data: &[u8]) {
    let [method, content_type, query, body] = parts(data);
    let method = http::Method::from_bytes(&method).unwrap_or(http::Method::GET);
    let query = text(&query);
    let mut req = http::Request::builder().method(method).uri(format!("https://client.example/cb?{query}"));
    if let Ok(v) = http::HeaderValue::from_bytes(&content_type) {
        req = req.header("content-type", v);
    }
    let parsed = match req.body(body) {
        Ok(req) => Callback::from_request(&req),
        Err(_) => Callback::from_query(&query),
    };
    let Ok(cb) = parsed else { return };
    let _ = (cb.state(), cb.code(), cb.params().len());
    let app = callback_app();
    runtime().block_on(async {
        let session = MemorySession::new();
        let redirect = app.authorize_redirect(&session, "https://client.example/cb").await.unwrap();
        assert!(redirect.url.contains(CALLBACK_STATE), "{}", redirect.url);
        let token = app.authorize_access_token(&session, &cb).await;
        // Only the callback of the login in this session may finish it.
        assert!(token.is_err() || cb.state() == Some(CALLBACK_STATE), "a token for another state");
        if token.is_ok() {
            assert!(app.authorize_access_token(&session, &cb).await.is_err(), "a state used twice");
        }
    });
}

// ---------------------------------------------------------------------------------------
// The OAuth 2.1 authorization server (`keyward::oauth2::provider`).

/// Draws `n, n, n, …` on its `n`-th call (from 1), so that a fresh server's codes and
/// tokens are known in advance ([`AS_CODE_WEB`], [`AS_CODE_APP`], [`AS_REFRESH`],
/// [`AS_ACCESS`]) and the fuzzer's seeds can reach the grants that take them.
struct Counting(AtomicU8);

impl RandomSource for Counting {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(self.0.fetch_add(1, Ordering::Relaxed).wrapping_add(1));
    }
}

/// The OAuth 2 server's issuer.
pub const AS_ISSUER: &str = "https://as.example";
/// The token endpoint (an accepted client-assertion `aud`, like the issuer).
pub const AS_TOKEN_ENDPOINT: &str = "https://as.example/token";
/// The secret of `web` (`client_secret_basic`).
pub const AS_SECRET_WEB: &str = "secret-web";
/// The secret of `post` (`client_secret_post`).
pub const AS_SECRET_POST: &str = "secret-post";
/// The secret of `hmac` (`client_secret_jwt`): the HMAC key of its assertions.
pub const AS_SECRET_HMAC: &str = "secret-hmac-0123456789abcdef0123456789abcdef";
/// The PKCE verifier of the fixture's codes (RFC 7636 Appendix B), and its challenge.
pub const AS_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const AS_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The fixture's unused code for `web` (redirect URI given), with [`AS_VERIFIER`].
pub const AS_CODE_WEB: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
/// The fixture's unused code for the public client `app` (redirect URI not given).
pub const AS_CODE_APP: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM";
/// The access token the fixture holds for `web`.
pub const AS_ACCESS: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc";
/// The refresh token the fixture holds for `web`.
pub const AS_REFRESH: &str = "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg";

/// The public half of the `pk` client's P-256 key (`private_key_jwt`); the private half
/// signed the checked-in seed and was not kept.
fn pk_jwks() -> serde_json::Value {
    serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "pk-1", "alg": "ES256", "use": "sig",
        "x": "TQdp6Wmn8Sit-Vb7Njjp0wIWDmWPA5w3vfTz7WHM4O4",
        "y": "IiMmuJk7MEI-B02BaKYlO6Hdcg6m-J4c0HYC7i0XwKY",
    }]})
}

/// The registered clients: `web` (confidential, Basic, every grant, two redirect URIs one
/// of them loopback, a resource), `post` (`client_secret_post`), `legacy` (confidential
/// without PKCE), `app` (public, one redirect URI with a query), `hmac`
/// (`client_secret_jwt`) and `pk` (`private_key_jwt`).
fn as_clients() -> Vec<RegisteredClient> {
    use GrantType::{AuthorizationCode, ClientCredentials, RefreshToken};
    let mut legacy = RegisteredClient::confidential("legacy", "secret-legacy")
        .with_redirect_uris(["https://legacy.example/cb"])
        .with_scopes(["read"]);
    legacy.pkce_required = false;
    let mut pk = RegisteredClient::confidential("pk", "")
        .with_auth_method(ClientAuthMethod::PrivateKeyJwt)
        .with_grant_types([ClientCredentials])
        .with_scopes(["read"]);
    pk.secrets.clear();
    pk.jwks = Some(pk_jwks());
    vec![
        RegisteredClient::confidential("web", AS_SECRET_WEB)
            .with_redirect_uris(["https://web.example/cb", "http://127.0.0.1/cb"])
            .with_scopes(["read", "write"])
            .with_resources(["https://api.example/"])
            .with_grant_types([AuthorizationCode, RefreshToken, ClientCredentials]),
        RegisteredClient::confidential("post", AS_SECRET_POST)
            .with_auth_method(ClientAuthMethod::ClientSecretPost)
            .with_grant_types([ClientCredentials])
            .with_scopes(["read"]),
        legacy,
        RegisteredClient::public("app")
            .with_redirect_uris(["https://app.example/cb?x=1"])
            .with_scopes(["read"]),
        RegisteredClient::confidential("hmac", AS_SECRET_HMAC)
            .with_auth_method(ClientAuthMethod::ClientSecretJwt)
            .with_grant_types([ClientCredentials])
            .with_scopes(["read"]),
        pk,
    ]
}

fn form_request(
    method: http::Method,
    uri: &str,
    content_type: &[u8],
    authorization: &[u8],
    body: Vec<u8>,
) -> Option<http::Request<Vec<u8>>> {
    let mut req = http::Request::builder().method(method).uri(uri);
    if !content_type.is_empty() {
        req = req.header("content-type", http::HeaderValue::from_bytes(content_type).ok()?);
    }
    if !authorization.is_empty() {
        req = req.header("authorization", http::HeaderValue::from_bytes(authorization).ok()?);
    }
    req.body(body).ok()
}

fn post_form(body: &str, authorization: &str) -> http::Request<Vec<u8>> {
    form_request(
        http::Method::POST,
        AS_TOKEN_ENDPOINT,
        b"application/x-www-form-urlencoded",
        authorization.as_bytes(),
        body.as_bytes().to_vec(),
    )
    .unwrap()
}

/// The value of `name` in a redirect's query.
fn query_param(location: &str, name: &str) -> Option<String> {
    let query = location.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A fresh OAuth 2 server over a fresh memory store, at [`NOW`], with [`as_clients`]; with
/// `tokens`, also holding [`AS_CODE_WEB`], [`AS_CODE_APP`], and [`AS_ACCESS`] and
/// [`AS_REFRESH`] of a third code already exchanged.
async fn as_fixture(tokens: bool) -> OAuth2Server {
    let store = Arc::new(MemoryStore::new());
    for client in as_clients() {
        store.create_registered_client(&client).await.unwrap();
    }
    // The memory store's replay epoch is its first call's time, and it refuses an assertion
    // issued then (it could not judge it after a restart): start it an hour before NOW, as a
    // server that has been up for a while.
    store.record_once("fuzz-warm-up", "start", NOW, NOW - 3600).await.unwrap();
    let server = OAuth2Server::builder(store, ServerConfig::new(AS_ISSUER))
        .clock(FixedClock::new(NOW))
        .random(Counting(AtomicU8::new(0)))
        .build();
    if tokens {
        let pkce = format!("&code_challenge={AS_CHALLENGE}&code_challenge_method=S256");
        let mut codes = Vec::new();
        for query in [
            format!(
                "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=read+write{pkce}"
            ),
            format!("response_type=code&client_id=app&scope=read{pkce}"),
            format!(
                "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=read{pkce}"
            ),
        ] {
            let get = http::Request::get(format!("{AS_ISSUER}/authorize?{query}")).body(Vec::new()).unwrap();
            let request = server.authorization_request(&get).await.unwrap();
            let response = server.grant(&request, Grant::new("alice", request.scopes.clone())).await.unwrap();
            let location = response.headers()["location"].to_str().unwrap();
            codes.push(query_param(location, "code").unwrap());
        }
        assert_eq!([codes[0].as_str(), codes[1].as_str()], [AS_CODE_WEB, AS_CODE_APP]);
        let body = format!(
            "grant_type=authorization_code&code={}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&code_verifier={AS_VERIFIER}",
            codes[2]
        );
        let response = server.token(&post_form(&body, "Basic d2ViOnNlY3JldC13ZWI=")).await;
        let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(json["access_token"], AS_ACCESS, "{json}");
        assert_eq!(json["refresh_token"], AS_REFRESH, "{json}");
    }
    server
}

/// Whether `s` is made of the characters RFC 6749 §5.2 allows in `error` and
/// `error_description`: `%x20-21 / %x23-5B / %x5D-7E`.
fn nqschar(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// Checks a token, revocation or introspection response: never a 5xx,
/// `Cache-Control: no-store`, and an error is a §5.2 JSON object whose status fits its code
/// (`401` exactly for `invalid_client`, with `WWW-Authenticate` exactly when the request had
/// an `Authorization` header, which is only accepted as Basic). Returns the JSON body.
fn check_json_endpoint(response: &http::Response<Vec<u8>>, had_authorization: bool) -> serde_json::Value {
    let status = response.status();
    assert!(!status.is_server_error(), "{status}: {}", text(response.body()));
    assert_eq!(response.headers().get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]));
    if status == http::StatusCode::OK {
        return if response.body().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(response.body()).expect("a JSON 200 body")
        };
    }
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(response.body()).expect("a JSON error body");
    let object = body.as_object().expect("an error body is an object");
    assert!(
        object.keys().all(|k| ["error", "error_description", "error_uri"].contains(&k.as_str())),
        "{body}"
    );
    let code = object["error"].as_str().expect("error is a string");
    assert!(
        [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
            "invalid_target",
            "unsupported_token_type",
        ]
        .contains(&code),
        "{body}"
    );
    if let Some(d) = object.get("error_description") {
        assert!(d.as_str().is_some_and(nqschar), "{body}");
    }
    let expected = match code {
        "invalid_client" => http::StatusCode::UNAUTHORIZED,
        "invalid_request" if status == http::StatusCode::METHOD_NOT_ALLOWED => status,
        _ => http::StatusCode::BAD_REQUEST,
    };
    assert_eq!(status, expected, "{body}");
    let challenged = response.headers().contains_key("www-authenticate");
    assert_eq!(challenged, status == http::StatusCode::UNAUTHORIZED && had_authorization, "{body}");
    body
}

/// The form pairs of `text`, decoded leniently (for the checks; the server's own parser
/// is the one under test).
fn pairs_of(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The non-empty values of `name` among `pairs`.
fn values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str()).collect()
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Checks that an authorization response went to `target` and carries exactly `state`.
fn check_authorization_response(
    response: &http::Response<Vec<u8>>,
    target: &ResponseTarget,
    state: Option<&str>,
) {
    assert_eq!(response.headers().get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]));
    match target.response_mode {
        ResponseMode::Query => {
            assert_eq!(response.status(), http::StatusCode::FOUND);
            let location = response.headers()["location"].to_str().unwrap();
            assert!(location.starts_with(&target.redirect_uri), "{location}");
            assert_eq!(query_param(location, "state").as_deref(), state, "{location}");
            assert_eq!(query_param(location, "iss").as_deref(), Some(AS_ISSUER), "{location}");
        }
        ResponseMode::FormPost => {
            let page = text(response.body());
            assert!(page.contains(&format!("action=\"{}\"", escape_html(&target.redirect_uri))), "{page}");
            let field = state.map(|s| format!("name=\"state\" value=\"{}\"", escape_html(s)));
            assert_eq!(page.contains("name=\"state\""), field.is_some(), "{page}");
            if let Some(field) = field {
                assert!(page.contains(&field), "{page}");
            }
        }
    }
}

/// The authorization endpoint (RFC 6749 §4.1.1, §4.1.2.1; RFC 7636; RFC 9207):
/// `method \n content-type \n query \n body` into
/// `AuthorizationServer::authorization_request` over [`as_clients`]. Checks that an error
/// is redirected only when the input names exactly one registered client and a redirect URI
/// registered to it (or none, and the client has one); that every redirected error and
/// every answer to a valid request (deny, grant) carries the exact `state`, and `iss`.
pub fn oauth2_authorize(data: &[u8]) {
    let [method, content_type, query, body] = parts(data);
    let method = http::Method::from_bytes(&method).unwrap_or(http::Method::GET);
    let query: String = text(&query).chars().filter(|c| c.is_ascii_graphic()).collect();
    let uri = format!("{AS_ISSUER}/authorize?{query}");
    let Some(req) = form_request(method, &uri, &content_type, b"", body) else { return };
    let sent = if req.method() == http::Method::POST {
        String::from_utf8_lossy(req.body()).into_owned()
    } else {
        req.uri().query().unwrap_or("").to_owned()
    };
    let pairs = pairs_of(&sent);
    let state = match (values(&pairs, "state").as_slice(), pairs.iter().filter(|(k, _)| k == "state").count())
    {
        ([one], 1) => Some(one.to_string()),
        _ => None,
    };
    let clients = as_clients();
    runtime().block_on(async {
        let server = as_fixture(false).await;
        match server.authorization_request(&req).await {
            Err(e) => {
                let response = server.authorize_error_response(&e);
                if let Some(target) = &e.redirect {
                    // Established: one client_id, registered; one redirect_uri, registered to
                    // it, or none and the client has exactly one.
                    let ids = values(&pairs, "client_id");
                    assert_eq!(pairs.iter().filter(|(k, _)| k == "client_id").count(), 1, "{e}");
                    let client = clients.iter().find(|c| c.client_id == ids[0]).expect("a registered client");
                    match values(&pairs, "redirect_uri").as_slice() {
                        [given] => {
                            assert_eq!(*given, target.redirect_uri);
                            assert!(client.redirect_uri_matches(given));
                        }
                        [] => assert_eq!(client.redirect_uris, std::slice::from_ref(&target.redirect_uri)),
                        _ => panic!("a redirected error with a repeated redirect_uri"),
                    }
                    assert_eq!(target.state, state);
                    check_authorization_response(&response, target, state.as_deref());
                } else {
                    assert!(matches!(response.status().as_u16(), 400 | 405), "{}", response.status());
                    assert!(!response.headers().contains_key("location"));
                }
            }
            Ok(request) => {
                assert_eq!(request.target.state, state);
                let client = clients.iter().find(|c| c.client_id == request.client_id).unwrap();
                assert!(client.redirect_uri_matches(&request.target.redirect_uri));
                assert!(request.code_challenge.is_some() || !client.requires_pkce());
                check_authorization_response(&server.deny(&request), &request.target, state.as_deref());
                let response =
                    server.grant(&request, Grant::new("alice", request.scopes.clone())).await.unwrap();
                check_authorization_response(&response, &request.target, state.as_deref());
            }
        }
    });
}

/// The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §5, §6): `method \n content-type \n
/// authorization \n body` into `AuthorizationServer::token` of a fresh server holding
/// [`AS_CODE_WEB`], [`AS_CODE_APP`] and [`AS_REFRESH`]. Checks [`check_json_endpoint`],
/// and that a code, a refresh token or a client assertion that succeeded once fails the
/// second time.
pub fn oauth2_token(data: &[u8]) {
    let [method, content_type, authorization, body] = parts(data);
    let method = http::Method::from_bytes(&method).unwrap_or(http::Method::POST);
    let Some(req) = form_request(method, AS_TOKEN_ENDPOINT, &content_type, &authorization, body) else {
        return;
    };
    let had_authorization = req.headers().contains_key("authorization");
    runtime().block_on(async {
        let server = as_fixture(true).await;
        let response = server.token(&req).await;
        let json = check_json_endpoint(&response, had_authorization);
        if response.status() != http::StatusCode::OK {
            return;
        }
        assert_eq!(json["token_type"], "Bearer", "{json}");
        assert!(json["access_token"].as_str().is_some_and(|t| t.len() >= 43), "{json}");
        assert!(json["expires_in"].as_i64().is_some_and(|e| e > 0), "{json}");
        let pairs = pairs_of(&text(req.body()));
        let grant = values(&pairs, "grant_type");
        if grant != ["client_credentials"] || !values(&pairs, "client_assertion").is_empty() {
            // A code, a refresh token (rotated) or an assertion's jti is spent.
            let again = server.token(&req).await;
            check_json_endpoint(&again, had_authorization);
            assert_ne!(again.status(), http::StatusCode::OK, "{grant:?} accepted twice");
        }
    });
}

/// Client authentication by JWT assertion (RFC 7523 §2.2, §3): the input, as
/// `client_assertion`, to a `client_credentials` request naming `hmac` (whose
/// `client_secret_jwt` key is [`AS_SECRET_HMAC`], so a token signed with it reaches the claim
/// checks), then naming `pk` (`private_key_jwt`), then naming no client (the `sub` picks
/// it), then the first again. Checks [`check_json_endpoint`]; that an accepted assertion
/// names its client as `iss` and `sub`, the server as `aud`, and has an `exp` and a `jti`;
/// and that at most one of the four is accepted (a `jti` is used once).
pub fn client_assertion(data: &[u8]) {
    let assertion: String = url::form_urlencoded::byte_serialize(data).collect();
    let base = format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
    );
    runtime().block_on(async {
        let server = as_fixture(false).await;
        let mut accepted = 0;
        for client_id in [Some("hmac"), Some("pk"), None, Some("hmac")] {
            let body = match client_id {
                Some(id) => format!("{base}&client_id={id}"),
                None => base.clone(),
            };
            let response = server.token(&post_form(&body, "")).await;
            check_json_endpoint(&response, false);
            if response.status() != http::StatusCode::OK {
                continue;
            }
            accepted += 1;
            let claims = unverified_claims(&text(data)).expect("an accepted assertion has claims");
            let client = claims["iss"].as_str().expect("iss");
            assert!(["hmac", "pk"].contains(&client) && client_id.is_none_or(|id| id == client), "{claims}");
            assert_eq!(claims["sub"], client, "{claims}");
            let aud = match &claims["aud"] {
                serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>(),
                v => v.as_str().into_iter().collect(),
            };
            assert!(aud.iter().any(|a| [AS_ISSUER, AS_TOKEN_ENDPOINT].contains(a)), "{claims}");
            assert!(claims["exp"].as_i64().is_some_and(|e| e > NOW - 60), "{claims}");
            assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()), "{claims}");
        }
        assert!(accepted <= 1, "one assertion accepted {accepted} times");
    });
}

/// The payload of a compact JWS, unverified.
fn unverified_claims(jws: &str) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let payload = jws.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Revocation (RFC 7009 §2) and introspection (RFC 7662 §2): `method \n content-type \n
/// authorization \n body` into `AuthorizationServer::introspect`, then `revoke`, then
/// `introspect` again, of a fresh server holding [`AS_ACCESS`] and [`AS_REFRESH`] for `web`.
/// Checks [`check_json_endpoint`]; that revocation answers `200` with an empty body unless
/// it is an error; that an inactive token is `{"active":false}` and nothing more; that an
/// active one is `web`'s; and that after a successful revocation of a token the same
/// introspection finds it inactive.
pub fn oauth2_endpoints(data: &[u8]) {
    let [method, content_type, authorization, body] = parts(data);
    let method = http::Method::from_bytes(&method).unwrap_or(http::Method::POST);
    let Some(req) = form_request(method, AS_TOKEN_ENDPOINT, &content_type, &authorization, body) else {
        return;
    };
    let had_authorization = req.headers().contains_key("authorization");
    let check_introspection = |response: &http::Response<Vec<u8>>| {
        let json = check_json_endpoint(response, had_authorization);
        if response.status() == http::StatusCode::OK {
            match json["active"].as_bool() {
                Some(false) => assert_eq!(json, serde_json::json!({"active": false})),
                Some(true) => assert_eq!(json["client_id"], "web", "{json}"),
                None => panic!("no active member: {json}"),
            }
        }
        json
    };
    runtime().block_on(async {
        let server = as_fixture(true).await;
        let before = check_introspection(&server.introspect(&req).await);
        let revoked = server.revoke(&req).await;
        check_json_endpoint(&revoked, had_authorization);
        if revoked.status() == http::StatusCode::OK {
            assert!(revoked.body().is_empty());
        }
        let after = check_introspection(&server.introspect(&req).await);
        // Revocation by another client leaves the token alone (RFC 7009 §2.1).
        let pairs = pairs_of(&text(req.body()));
        let by_web =
            values(&pairs, "client_id") == ["web"] || basic_client_id(&req).as_deref() == Some("web");
        if before["active"] == true && revoked.status() == http::StatusCode::OK && by_web {
            assert_eq!(after, serde_json::json!({"active": false}), "still active after revocation");
        }
    });
}

/// The client id of an `Authorization: Basic` header (RFC 6749 §2.3.1), decoded leniently.
fn basic_client_id(req: &http::Request<Vec<u8>>) -> Option<String> {
    use base64::Engine as _;
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(credentials.trim()).ok()?;
    let id = String::from_utf8(decoded).ok()?.split_once(':')?.0.to_owned();
    pairs_of(&format!("id={id}")).into_iter().next().map(|(_, v)| v)
}

/// The OpenID Provider's access token for `alice`, scope `openid email`, client `rp` (the
/// fourth value the fixture's random source draws, after the code and its family id... and
/// checked when the fixture is built).
pub const OP_ACCESS: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM";

/// An OpenID Provider over a memory store (built once: the targets below only read it),
/// with one client `rp` (EdDSA ID tokens), a claims hook giving `email`, and [`OP_ACCESS`]
/// issued from a code.
fn op_fixture() -> &'static OAuth2Server {
    use keyward::jose::rotation::SharedKeySet;
    use keyward::jose::{KeySet as SigningKeys, SigningAlg};
    use keyward::oidc::provider::{ClaimsRequest, OpenIdConfig, OpenIdProvider};
    static SERVER: OnceLock<OAuth2Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        runtime().block_on(async {
            let store = Arc::new(MemoryStore::new());
            let mut rp = RegisteredClient::confidential("rp", "secret-rp")
                .with_redirect_uris(["https://rp.example/cb"])
                .with_scopes(["openid", "email", "profile"]);
            rp.id_token_signed_response_alg = Some("EdDSA".into());
            store.create_registered_client(&rp).await.unwrap();
            let keys = Arc::new(SharedKeySet::new(SigningKeys::generate(SigningAlg::EdDSA).unwrap()));
            let claims = |r: &ClaimsRequest<'_>| {
                let mut m = serde_json::Map::new();
                m.insert("email".into(), format!("{}@example.com", r.subject).into());
                m
            };
            let openid = OpenIdProvider::new(OpenIdConfig::new(AS_ISSUER), keys, Arc::new(claims));
            let server = OAuth2Server::builder(store, ServerConfig::new(AS_ISSUER))
                .clock(FixedClock::new(NOW))
                .random(Counting(AtomicU8::new(0)))
                .openid(openid)
                .build();
            let query = format!(
                "response_type=code&client_id=rp&scope=openid+email&code_challenge={AS_CHALLENGE}&code_challenge_method=S256"
            );
            let get = http::Request::get(format!("{AS_ISSUER}/authorize?{query}")).body(Vec::new()).unwrap();
            let request = server.authorization_request(&get).await.unwrap();
            let response = server.grant(&request, Grant::new("alice", request.scopes.clone())).await.unwrap();
            let code = query_param(response.headers()["location"].to_str().unwrap(), "code").unwrap();
            let body = format!("grant_type=authorization_code&code={code}&code_verifier={AS_VERIFIER}");
            let response = server.token(&post_form(&body, "Basic cnA6c2VjcmV0LXJw")).await;
            let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(json["access_token"], OP_ACCESS, "{json}");
            assert!(json["id_token"].is_string());
            server
        })
    })
}

/// The `claims` request parameter (OpenID Connect Core §5.5): `parse_claims_parameter`
/// directly, then as the `claims` of an authorization request to the OpenID Provider.
/// Asserts that a refusal is `invalid_request`, that an accepted value is a JSON object
/// whose essential names are among its names, and that the endpoint agrees with the parser
/// (the same value kept, or an `invalid_request` redirected to the client).
pub fn oidc_claims(data: &[u8]) {
    use keyward::oidc::provider::claims::{ClaimsTarget, claims_parameter_names, parse_claims_parameter};
    let input = text(data);
    let parsed = parse_claims_parameter(&input);
    match &parsed {
        Ok(value) => {
            assert!(value.is_object());
            for target in [ClaimsTarget::IdToken, ClaimsTarget::UserInfo] {
                let (names, essential) = claims_parameter_names(Some(value), target);
                assert!(essential.iter().all(|e| names.contains(e)));
            }
        }
        Err(e) => assert_eq!(e.code(), "invalid_request"),
    }
    let server = op_fixture();
    let query = keyward::common::encoding::encode_form([
        ("response_type", "code"),
        ("client_id", "rp"),
        ("scope", "openid"),
        ("code_challenge", AS_CHALLENGE),
        ("code_challenge_method", "S256"),
        ("claims", input.as_str()),
    ]);
    let get = http::Request::get(format!("{AS_ISSUER}/authorize?{query}")).body(Vec::new()).unwrap();
    let outcome = runtime().block_on(server.authorization_request(&get));
    match (outcome, parsed) {
        // An empty value counts as absent (RFC 6749 §3.1).
        (Ok(request), _) if input.is_empty() => assert_eq!(request.claims, None),
        (Ok(request), Ok(value)) => assert_eq!(request.claims, Some(value)),
        (Err(e), Err(_)) => {
            assert!(e.is_redirected());
            assert_eq!(e.error.code(), "invalid_request");
        }
        (outcome, parsed) => panic!("the endpoint and the parser disagree: {outcome:?} / {parsed:?}"),
    }
}

/// The UserInfo endpoint (OpenID Connect Core §5.3, RFC 6750 §2, §3) of the OpenID
/// Provider, which holds [`OP_ACCESS`]. Asserts never a 5xx; `200` only for that token (in
/// the header, or in a POSTed form), with exactly `{"sub":"alice","email":…}`; a
/// `WWW-Authenticate: Bearer` challenge on every 400/401/403 (a bare one when no token was
/// sent); and that `userinfo_token` agrees with the status.
pub fn oidc_userinfo(data: &[u8]) {
    use keyward::oauth2::provider::BearerError;
    use keyward::oidc::provider::userinfo::userinfo_token;
    let [method, content_type, authorization, body] = parts(data);
    let method = http::Method::from_bytes(&method).unwrap_or(http::Method::GET);
    let Some(req) = form_request(method, "https://as.example/userinfo", &content_type, &authorization, body)
    else {
        return;
    };
    let token = userinfo_token(&req, 64 * 1024);
    let response = runtime().block_on(op_fixture().userinfo(&req));
    let status = response.status();
    assert!(!status.is_server_error(), "{status}");
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    match status.as_u16() {
        200 => {
            assert!(matches!(&token, Ok(t) if t == OP_ACCESS));
            let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(json, serde_json::json!({"sub": "alice", "email": "alice@example.com"}));
        }
        405 => assert!(req.method() != http::Method::GET && req.method() != http::Method::POST),
        400 | 401 | 403 => {
            let challenge = challenge.expect("a Bearer challenge");
            assert!(challenge.starts_with("Bearer"));
            if matches!(token, Err(BearerError::Missing)) {
                assert_eq!(challenge, "Bearer");
            }
            assert!(!matches!(&token, Ok(t) if t == OP_ACCESS));
        }
        other => panic!("unexpected status {other}"),
    }
}

/// The OpenID Provider of [`end_session`], built once: clients `web` (post-logout URIs
/// `https://web.example/bye` and `https://web.example/bye?x=1`) and `other` (none), and
/// alice's ID tokens for each (placeholders `@HINT_WEB@`, `@HINT_OTHER@` in the input).
fn end_session_fixture() -> &'static (OAuth2Server, String, String) {
    use keyward::jose::rotation::SharedKeySet;
    use keyward::jose::{KeySet as ServerKeys, SigningAlg};
    use keyward::oidc::provider::{NoClaims, OpenIdConfig, OpenIdProvider};
    static FIXTURE: OnceLock<(OAuth2Server, String, String)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        runtime().block_on(async {
            let store = Arc::new(MemoryStore::new());
            let mut web = RegisteredClient::confidential("web", AS_SECRET_WEB)
                .with_redirect_uris(["https://web.example/cb"]);
            web.post_logout_redirect_uris =
                vec!["https://web.example/bye".into(), "https://web.example/bye?x=1".into()];
            let other = RegisteredClient::confidential("other", AS_SECRET_WEB)
                .with_redirect_uris(["https://o.example/cb"]);
            store.create_registered_client(&web).await.unwrap();
            store.create_registered_client(&other).await.unwrap();
            let keys = Arc::new(SharedKeySet::new(ServerKeys::generate(SigningAlg::RS256).unwrap()));
            let hint = |aud: &str| {
                let claims = serde_json::json!({"iss": AS_ISSUER, "sub": "alice", "aud": aud, "iat": NOW,
                    "exp": NOW + 60, "sid": "s-1"});
                keys.snapshot().key_set().sign(None, &claims).unwrap()
            };
            let (hint_web, hint_other) = (hint("web"), hint("other"));
            let openid = OpenIdProvider::new(OpenIdConfig::new(AS_ISSUER), keys, Arc::new(NoClaims));
            let server = OAuth2Server::builder(store, ServerConfig::new(AS_ISSUER))
                .clock(FixedClock::new(NOW))
                .openid(openid)
                .build();
            (server, hint_web, hint_other)
        })
    })
}

/// The end-session endpoint (RP-Initiated Logout 1.0 §2–§4): `method \n content-type \n
/// query \n body` into `AuthorizationServer::end_session_request` over
/// [`end_session_fixture`]. Checks that a refused request is a page, never a redirect; that
/// an accepted one names a post-logout URI only when its client registered exactly that
/// URI; and that the answer redirects there (with the exact `state`) or nowhere.
pub fn end_session(data: &[u8]) {
    let (server, hint_web, hint_other) = end_session_fixture();
    let [method, content_type, query, body] = parts(data);
    let method = http::Method::from_bytes(&method).unwrap_or(http::Method::GET);
    let fill = |s: String| s.replace("@HINT_WEB@", hint_web).replace("@HINT_OTHER@", hint_other);
    let query: String = fill(text(&query).chars().filter(|c| c.is_ascii_graphic()).collect());
    let body = fill(text(&body)).into_bytes();
    let uri = format!("{AS_ISSUER}/logout?{query}");
    let Some(req) = form_request(method, &uri, &content_type, b"", body) else { return };
    runtime().block_on(async {
        match server.end_session_request(&req).await {
            Err(e) => {
                let response = e.to_response();
                assert!(matches!(response.status().as_u16(), 400 | 405), "{}", response.status());
                assert!(!response.headers().contains_key("location"));
            }
            Ok(request) => {
                let kept: keyward::oidc::provider::end_session::LogoutRequest =
                    serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
                assert_eq!(kept, request);
                let response = server.end_session_response(&request).await;
                match &request.post_logout_redirect_uri {
                    Some(uri) => {
                        let ok = ["https://web.example/bye", "https://web.example/bye?x=1"]
                            .contains(&uri.as_str());
                        assert!(ok && request.client_id.as_deref() == Some("web"), "{request:?}");
                        assert_eq!(response.status(), 302);
                        let location = response.headers()["location"].to_str().unwrap();
                        assert!(location.starts_with(uri.as_str()), "{location}");
                        assert_eq!(query_param(location, "state"), request.state);
                    }
                    None => {
                        assert_eq!(response.status(), 200);
                        assert!(!response.headers().contains_key("location"));
                    }
                }
            }
        }
    });
}

/// The registration endpoint of an open registration server, for [`client_registration`].
pub const AS_REGISTER: &str = "https://as.example/register";

fn json_request(
    method: http::Method,
    uri: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder().method(method).uri(uri).header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(body).unwrap()
}

/// Dynamic client registration (RFC 7591 §3, §3.2.2; RFC 7592 §2): the input as the JSON
/// body of a registration at an open registration endpoint of a fresh server. Checks that
/// the answer is `201`, `400` with an RFC 7591 §3.2.2 code (or `invalid_request`), or `413`,
/// always JSON with `Cache-Control: no-store`. When it is `201`: the client is stored with
/// only hashed secrets and the hash of the registration access token, its redirect URIs
/// keep the rules (no fragment; `https`, loopback `http` or a private-use scheme with a
/// `.`); the same metadata with `client_id` is accepted as an update (RFC 7592 §2.2: one set
/// of rules); a read returns what the registration returned but for the rotated token and
/// the secret shown once; a delete answers `204` and the client is gone.
pub fn client_registration(data: &[u8]) {
    runtime().block_on(async {
        let store = Arc::new(MemoryStore::new());
        let config = ServerConfig::new(AS_ISSUER).with_scopes_supported(["openid", "read", "write"]);
        let server = OAuth2Server::builder(store.clone(), config)
            .clock(FixedClock::new(NOW))
            .random(Counting(AtomicU8::new(0)))
            .registration(RegistrationConfig::open(AS_REGISTER).with_scopes(["read"]))
            .build();
        let response =
            server.register(&json_request(http::Method::POST, AS_REGISTER, None, data.to_vec())).await;
        assert_eq!(response.headers().get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]));
        let json: serde_json::Value = serde_json::from_slice(response.body()).expect("a JSON answer");
        match response.status().as_u16() {
            201 => {}
            400 => {
                let code = json["error"].as_str().unwrap_or_default();
                assert!(
                    [
                        "invalid_request",
                        "invalid_redirect_uri",
                        "invalid_client_metadata",
                        "unapproved_software_statement"
                    ]
                    .contains(&code),
                    "{json}"
                );
                return;
            }
            413 => {
                assert!(data.len() > 16 * 1024);
                return;
            }
            other => panic!("status {other}: {json}"),
        }
        let id = json["client_id"].as_str().expect("client_id");
        let token = json["registration_access_token"].as_str().expect("registration_access_token");
        let stored = store.get_registered_client(id).await.unwrap().expect("stored");
        assert!(stored.secrets.iter().all(|s| matches!(s.value, SecretForm::Sha256(_))));
        assert_eq!(stored.registration_token_hash.as_deref(), Some(sha256_hex(token).as_str()));
        for uri in &stored.redirect_uris {
            // Schemes are case-insensitive (RFC 3986 §3.1): `Https://` is https.
            let scheme = uri.split(':').next().unwrap_or_default().to_ascii_lowercase();
            let loopback = uri.starts_with("http://127.0.0.1") || uri.starts_with("http://[::1]");
            assert!(!uri.contains('#') && (scheme == "https" || loopback || scheme.contains('.')), "{uri}");
        }

        // The same metadata is a valid update.
        let mut update: serde_json::Value = serde_json::from_slice(data).expect("accepted, so JSON");
        update["client_id"] = serde_json::Value::String(id.to_owned());
        let uri = json["registration_client_uri"].as_str().expect("registration_client_uri");
        let put = json_request(http::Method::PUT, uri, Some(token), serde_json::to_vec(&update).unwrap());
        let updated = server.client_configuration(&put, id).await;
        let updated_json: serde_json::Value = serde_json::from_slice(updated.body()).unwrap();
        assert_eq!(updated.status(), 200, "{updated_json}");
        let token = updated_json["registration_access_token"].as_str().unwrap();

        // A read gives the registration's answer back, but the token and the secret.
        let read = server
            .client_configuration(&json_request(http::Method::GET, uri, Some(token), Vec::new()), id)
            .await;
        assert_eq!(read.status(), 200);
        let mut read_json: serde_json::Value = serde_json::from_slice(read.body()).unwrap();
        let token = read_json["registration_access_token"].as_str().unwrap().to_owned();
        let mut expected = json.clone();
        for v in [&mut expected, &mut read_json] {
            let o = v.as_object_mut().unwrap();
            o.remove("registration_access_token");
            o.remove("client_secret");
        }
        assert_eq!(read_json, expected);

        let gone = server
            .client_configuration(&json_request(http::Method::DELETE, uri, Some(&token), Vec::new()), id)
            .await;
        assert_eq!(gone.status(), 204);
        assert!(store.get_registered_client(id).await.unwrap().is_none());
    });
}

/// The lowercase hex SHA-256 of `s`, as the server stores tokens.
fn sha256_hex(s: &str) -> String {
    keyward::oauth2::provider::client::sha256_hex(s.as_bytes())
}

/// The time of the `dpop_proof` seeds' proofs.
const DPOP_NOW: i64 = 1_800_000_000;

/// A DPoP proof (RFC 9449 §4.2) as the `DPoP` header of `POST https://as.example/token`:
/// [`parse_proof`](keyward::oauth2::provider::dpop::parse_proof), then
/// `DpopVerifier::verify` at the seeds' time over a fresh memory store whose replay epoch
/// starts before it. Asserts that an accepted proof parses, names the key whose thumbprint
/// it returns, is for `POST` to the token endpoint within the `iat` window, and is refused
/// when sent a second time.
pub fn dpop_proof(data: &[u8]) {
    use keyward::oauth2::provider::dpop::{DpopConfig, DpopVerifier, ProofTarget, parse_proof};
    let Ok(proof) = std::str::from_utf8(data) else { return };
    let config = DpopConfig::new();
    let parsed = parse_proof(proof, &config.algs, config.max_proof_len);
    if let Ok(p) = &parsed {
        let _ = p.signature_verifies(proof);
    }
    let store = Arc::new(MemoryStore::new());
    runtime().block_on(async {
        store.record_once("warm-up", "x", DPOP_NOW - 3599, DPOP_NOW - 3600).await.unwrap();
        let verifier = DpopVerifier::new(config, store.clone(), &Fixed(1));
        let method = http::Method::POST;
        let target = ProofTarget { method: &method, url: "https://as.example/token", access_token: None };
        if let Ok(verified) = verifier.verify(proof, target, DPOP_NOW).await {
            let p = parsed.expect("an accepted proof parses");
            assert_eq!(verified.jkt, p.jkt);
            assert_eq!(p.claims.htm, "POST");
            assert!((p.claims.iat - DPOP_NOW).abs() <= 60);
            assert!(verifier.verify(proof, target, DPOP_NOW).await.is_err(), "a proof is accepted once");
        }
    });
}

/// A random source that fills every byte with one value.
struct Fixed(u8);

impl RandomSource for Fixed {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(self.0);
    }
}

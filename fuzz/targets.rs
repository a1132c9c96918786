//! The fuzz targets' bodies: each takes arbitrary bytes, feeds them to a parser that reads
//! bytes from the network, and only requires that it returns (an `Ok` or a typed `Err`,
//! never a panic). Shared by the cargo-fuzz targets (`fuzz_targets/*.rs`) and by the
//! workspace test `crates/keyward/tests/fuzz_corpus.rs`, which replays `corpus/<target>/`.

use keyward::common::clock::FixedClock;
use keyward::common::encoding::{decode, decode_form_component, parse_form};
use keyward::common::http_client::HttpError;
use keyward::common::random::RandomSource;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::SignedRequest;
use keyward::oauth1::rfc5849::params::parse_authorization_params;
use keyward::oauth1::rfc5849::provider::AuthorizationServer;
use keyward::oauth1::rfc5849::store::Client;
use keyward::oauth2::rfc6749::parse_token_response;
use keyward::oidc::Algorithm;
use keyward::oidc::core::{IdTokenCheck, IdTokenValidator};
use keyward::oidc::discovery::parse_discovery_response;
use keyward::oidc::jwks::{KeySet, parse_jwks_response};
use keyward_client::registry::{AppConfig, Callback, OAuth, RemoteApp};
use keyward_client::session::MemorySession;
use keyward_stores::{MemoryStore, StoreAdmin};
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

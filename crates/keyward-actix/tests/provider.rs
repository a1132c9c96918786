//! The OAuth 1.0a provider served by actix-web: the three-legged flow, the protected
//! resource extractor, and the glue's own refusals (body cap, malformed input, missing Host,
//! wrong method), each with its status and error code.

use actix_web::http::{StatusCode, header};
use actix_web::{App, HttpResponse, test, web};
use keyward::common::clock::FixedClock;
use keyward::common::encoding::parse_form;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::{AuthorizationServer, Consent};
use keyward::oauth1::rfc5849::store::Client;
use keyward::oauth1::rfc5849::{ClientCredentials, SignatureType, Signer, SigningParams, TokenCredentials};
use keyward_actix::provider::{
    OAuth1Protected, OAuth1Provider, OAuth1Request, ProviderRejection, RequestOptions, into_response,
    temporary_credential_endpoint, token_endpoint,
};
use keyward_stores::{MemoryStore, StoreAdmin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const NOW: i64 = 1_700_000_000;
const HOST: &str = "127.0.0.1:8080";
static NONCE: AtomicU64 = AtomicU64::new(0);

async fn authorize(
    p: web::Data<OAuth1Provider>,
    OAuth1Request(req): OAuth1Request,
) -> Result<HttpResponse, ProviderRejection> {
    p.server().check_authorization_request(&req).await?;
    Ok(into_response(
        p.server().create_authorization_response(&req, Consent::Grant { user_id: "alice" }).await?,
    ))
}

async fn me(auth: OAuth1Protected) -> HttpResponse {
    HttpResponse::Ok().body(format!(
        "{} {} {}",
        auth.user_id(),
        auth.client.client_id,
        String::from_utf8_lossy(auth.request.body())
    ))
}

async fn provider() -> OAuth1Provider {
    let store = Arc::new(MemoryStore::new());
    store.put_client(&Client::new("client1", SecretString::new("secret1"))).await.unwrap();
    store.purge_expired(NOW - 3600).await.unwrap(); // up for an hour (its replay epoch)
    let server = AuthorizationServer::builder(store).clock(FixedClock::new(NOW)).build();
    OAuth1Provider::with_options(server, RequestOptions::default().body_limit(4096))
}

macro_rules! service {
    () => {
        test::init_service(
            App::new()
                .app_data(web::Data::new(provider().await))
                .route("/oauth/request_token", web::route().to(temporary_credential_endpoint))
                .route("/oauth/access_token", web::route().to(token_endpoint))
                .route("/oauth/authorize", web::get().to(authorize))
                .route("/api/me", web::route().to(me)),
        )
        .await
    };
}

fn signer(secret: &str) -> Signer {
    Signer::new(ClientCredentials::new("client1", secret)).signature_type(SignatureType::Header)
}

/// Signs for `http://127.0.0.1:8080{path}` and builds the request a server receives.
fn signed(
    s: &Signer,
    method: http::Method,
    path: &str,
    body: Option<&str>,
    params: SigningParams<'_>,
) -> test::TestRequest {
    let mut b = http::Request::builder().method(method.clone()).uri(format!("http://{HOST}{path}"));
    if body.is_some() {
        b = b.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = b.body(body.unwrap_or_default().as_bytes().to_vec()).unwrap();
    let nonce = format!("n{}", NONCE.fetch_add(1, Ordering::Relaxed));
    let req = s.sign_at(req, &params, &NOW.to_string(), &nonce).unwrap();
    let mut t = test::TestRequest::default()
        .method(actix_web::http::Method::from_bytes(method.as_str().as_bytes()).unwrap())
        .uri(req.uri().path_and_query().unwrap().as_str())
        .insert_header((header::HOST, HOST));
    for (k, v) in req.headers() {
        t = t.insert_header((k.as_str(), v.as_bytes()));
    }
    t.set_payload(req.into_body())
}

fn field(body: &[u8], name: &str) -> Option<String> {
    parse_form(std::str::from_utf8(body).ok()?).ok()?.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Sends a request; returns status, headers and body.
macro_rules! call {
    ($app:expr, $req:expr) => {{
        let resp = test::call_service($app, $req.to_request()).await;
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, test::read_body(resp).await.to_vec())
    }};
}

#[track_caller]
fn assert_error((status, headers, body): &(StatusCode, header::HeaderMap, Vec<u8>), code: &str, want: u16) {
    assert_eq!(status.as_u16(), want, "{}", String::from_utf8_lossy(body));
    assert_eq!(field(body, "error").as_deref(), Some(code));
    assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
}

#[actix_web::test]
async fn flow_through_actix_hands_the_handler_client_and_user() {
    let app = service!();
    let s = signer("secret1");
    let cb = SigningParams { callback: Some("https://c.example/cb"), ..Default::default() };
    let (status, headers, body) =
        call!(&app, signed(&s, http::Method::POST, "/oauth/request_token", None, cb));
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), "application/x-www-form-urlencoded");
    assert_eq!(field(&body, "oauth_callback_confirmed").as_deref(), Some("true"));
    let temp = TokenCredentials::new(
        field(&body, "oauth_token").unwrap(),
        field(&body, "oauth_token_secret").unwrap(),
    );

    let auth = test::TestRequest::get()
        .uri(&format!("/oauth/authorize?oauth_token={}", temp.token))
        .insert_header((header::HOST, HOST));
    let (status, headers, _) = call!(&app, auth);
    assert_eq!(status, StatusCode::FOUND);
    let location = headers.get(header::LOCATION).unwrap().to_str().unwrap().to_owned();
    let verifier = parse_form(location.split_once('?').unwrap().1)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "oauth_verifier")
        .unwrap()
        .1;

    let params = SigningParams { token: Some(&temp), verifier: Some(&verifier), ..Default::default() };
    let (status, _, body) = call!(&app, signed(&s, http::Method::POST, "/oauth/access_token", None, params));
    assert_eq!(status, StatusCode::OK);
    let token = TokenCredentials::new(
        field(&body, "oauth_token").unwrap(),
        field(&body, "oauth_token_secret").unwrap(),
    );

    let params = SigningParams { token: Some(&token), ..Default::default() };
    let req = || signed(&s, http::Method::POST, "/api/me?x=1", Some("a=b"), params);
    let (status, _, body) = call!(&app, req());
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"alice client1 a=b"[..]));

    // A replay of one signed request.
    let once = s
        .sign_at(
            http::Request::get(format!("http://{HOST}/api/me")).body(Vec::new()).unwrap(),
            &params,
            &NOW.to_string(),
            "once",
        )
        .unwrap();
    let as_test = |r: &http::Request<Vec<u8>>| {
        test::TestRequest::get()
            .uri("/api/me")
            .insert_header((header::HOST, HOST))
            .insert_header((header::AUTHORIZATION, r.headers()[http::header::AUTHORIZATION].as_bytes()))
    };
    assert_eq!(call!(&app, as_test(&once)).0, StatusCode::OK);
    let replay = call!(&app, as_test(&once));
    assert_error(&replay, "invalid_nonce", 401);
    assert_eq!(replay.1.get(header::WWW_AUTHENTICATE).unwrap(), "OAuth");
    let forged = TokenCredentials::new(token.token.clone(), "guess");
    let params = SigningParams { token: Some(&forged), ..Default::default() };
    assert_error(
        &call!(&app, signed(&s, http::Method::GET, "/api/me", None, params)),
        "invalid_signature",
        401,
    );
}

#[actix_web::test]
async fn glue_refusals_through_actix() {
    let app = service!();
    let s = signer("secret1");
    let cb = SigningParams { callback: Some("https://c.example/cb"), ..Default::default() };
    let post = |req: test::TestRequest| {
        req.method(actix_web::http::Method::POST)
            .uri("/oauth/request_token")
            .insert_header((header::HOST, HOST))
    };

    // Oversized body.
    let big = format!("oauth_consumer_key=client1&pad={}", "x".repeat(5000));
    let req = post(test::TestRequest::default())
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(big);
    assert_error(&call!(&app, req), "invalid_request", 400);
    // Non-UTF-8 body and malformed header.
    let req = post(test::TestRequest::default())
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(vec![b'o', b'=', 0xff]);
    assert_error(&call!(&app, req), "invalid_request", 400);
    let req = post(test::TestRequest::default())
        .insert_header((header::AUTHORIZATION, "OAuth oauth_consumer_key=\"x"));
    assert_error(&call!(&app, req), "invalid_request", 400);
    // No Host header.
    let req = test::TestRequest::post().uri("/oauth/request_token");
    assert_error(&call!(&app, req), "invalid_request", 400);
    // Plain http to a public host.
    let req = signed(&s, http::Method::POST, "/oauth/request_token", None, cb)
        .insert_header((header::HOST, "api.example.com"));
    assert_error(&call!(&app, req), "insecure_transport", 400);
    // A loopback Host header from a remote peer is not loopback transport.
    let req = signed(&s, http::Method::POST, "/oauth/request_token", None, cb)
        .peer_addr("203.0.113.9:40000".parse().unwrap());
    assert_error(&call!(&app, req), "insecure_transport", 400);
    let req = signed(&s, http::Method::POST, "/oauth/request_token", None, cb)
        .peer_addr("127.0.0.1:40000".parse().unwrap());
    assert_eq!(call!(&app, req).0, StatusCode::OK);
    // Wrong method, wrong client, wrong secret, unsupported method, missing callback.
    let resp = call!(&app, signed(&s, http::Method::GET, "/oauth/request_token", None, cb));
    assert_error(&resp, "method_not_allowed", 405);
    assert_eq!(resp.1.get(header::ALLOW).unwrap(), "POST");
    assert_error(
        &call!(&app, signed(&signer("wrong"), http::Method::POST, "/oauth/request_token", None, cb)),
        "invalid_signature",
        401,
    );
    let stranger = Signer::new(ClientCredentials::new("nobody", "x"));
    assert_error(
        &call!(&app, signed(&stranger, http::Method::POST, "/oauth/request_token", None, cb)),
        "invalid_client",
        401,
    );
    let plain =
        Signer::new(ClientCredentials::new("client1", "secret1")).method(keyward::oauth1::rfc5849::Plaintext);
    assert_error(
        &call!(&app, signed(&plain, http::Method::POST, "/oauth/request_token", None, cb)),
        "unsupported_signature_method",
        400,
    );
    let none = SigningParams::default();
    assert_error(
        &call!(&app, signed(&s, http::Method::POST, "/oauth/request_token", None, none)),
        "missing_required_parameter",
        400,
    );
    let unknown = TokenCredentials::new("nope", "x");
    let params = SigningParams { token: Some(&unknown), ..Default::default() };
    assert_error(&call!(&app, signed(&s, http::Method::GET, "/api/me", None, params)), "invalid_token", 401);
    let mut dup = signed(&s, http::Method::POST, "/oauth/request_token", None, cb);
    dup = dup.uri("/oauth/request_token?oauth_nonce=again");
    assert_error(&call!(&app, dup), "duplicated_oauth_protocol_parameter", 400);
}

/// A body whose peer goes away after `sent`: actix's own HTTP/1 payload, failed with
/// `Incomplete` as the dispatcher fails it when the connection drops mid-body.
fn broken_payload(sent: &'static [u8]) -> actix_web::dev::Payload {
    let (mut sender, payload) = actix_http::h1::Payload::create(false);
    sender.feed_data(web::Bytes::from_static(sent));
    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer reset mid-body");
    sender.set_error(actix_web::error::PayloadError::Incomplete(Some(reset)));
    payload.into()
}

#[actix_web::test]
async fn an_unreadable_body_is_told_from_an_oversized_one() {
    use actix_web::FromRequest;
    use keyward::oauth1::rfc5849::provider::{InvalidRequest, ProviderError};
    use keyward_actix::provider::core_request;
    let post = |path: &str| {
        test::TestRequest::post()
            .uri(path)
            .insert_header((header::HOST, HOST))
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
    };

    // The glue's answer: 400 invalid_request (RFC 5849 §3.2) at an endpoint and from the
    // protected-resource extractor, its description naming the unreadable body.
    let app = service!();
    for path in ["/oauth/request_token", "/api/me"] {
        let (req, _) = post(path).to_request().replace_payload(broken_payload(b"oauth_consumer_key=cli"));
        let resp = test::call_service(&app, req).await;
        let (status, headers) = (resp.status(), resp.headers().clone());
        let broken = (status, headers, test::read_body(resp).await.to_vec());
        assert_error(&broken, "invalid_request", 400);
        assert_eq!(
            field(&broken.2, "error_description").as_deref(),
            Some(ProviderError::from(InvalidRequest::BodyRead).to_string().as_str()),
            "{path}"
        );
    }
    let big = call!(&app, post("/oauth/request_token").set_payload(vec![b'a'; 4097]));
    assert_error(&big, "invalid_request", 400);
    assert_eq!(
        field(&big.2, "error_description"),
        Some(ProviderError::from(InvalidRequest::BodyTooLarge).to_string())
    );

    // The typed error `core_request` returns.
    let options = RequestOptions::default().body_limit(64);
    let read = |r: Result<_, ProviderError>| match r {
        Err(ProviderError::InvalidRequest(e)) => Some(e),
        _ => None,
    };
    let req = post("/oauth/request_token").to_http_request();
    let body = |mut p: actix_web::dev::Payload| {
        let req = req.clone();
        async move { web::Payload::from_request(&req, &mut p).await.unwrap() }
    };
    let broken = core_request(&req, body(broken_payload(b"a=1")).await, &options).await;
    assert_eq!(read(broken), Some(InvalidRequest::BodyRead));
    let big = core_request(&req, body(vec![b'a'; 65].into()).await, &options).await;
    assert_eq!(read(big), Some(InvalidRequest::BodyTooLarge));
    let fits = core_request(&req, body(vec![b'a'; 64].into()).await, &options).await.unwrap();
    assert_eq!(fits.body().len(), 64);
}

//! The OAuth 1.0a provider (RFC 5849 §2, §3) end to end over the memory store: every
//! endpoint, every error code with its status, the token endpoint's consumption rules, and
//! the atomicity of verifier exchange and nonce insertion under concurrency.

use http::{Method, StatusCode, header};
use keyward::RandomSource;
use keyward::common::clock::FixedClock;
use keyward::common::encoding::parse_form;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::{
    AuthorizationServer, Consent, CredentialKind, InvalidRequest, ProviderConfig, ProviderError,
    ResourceProtector,
};
use keyward::oauth1::rfc5849::signature::{rsa_private_key_from_pem, rsa_public_key_from_pem};
use keyward::oauth1::rfc5849::store::{Client, ClientStore, NonceKey, TemporaryCredentialStore};
use keyward::oauth1::rfc5849::{
    ClientCredentials, HmacSha1, HmacSha256, Plaintext, RsaSha1, SignatureMethods, SignatureType, Signer,
    SigningParams, TokenCredentials,
};
use keyward_stores::{MemoryStore, StoreAdmin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const NOW: i64 = 1_700_000_000;
const BASE: &str = "http://127.0.0.1:8080";
const CALLBACK: &str = "https://client.example/cb?state=xyz";
const RSA_PRIVATE: &str = include_str!("../../../tests/peers/keys/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../../../tests/peers/keys/rsa_public.pem");
const RSA_OTHER_PUBLIC: &str = include_str!("../../../tests/peers/keys/rsa_other_public.pem");

static NONCE: AtomicU64 = AtomicU64::new(0);

struct Fx {
    store: Arc<MemoryStore>,
    clock: FixedClock,
    server: AuthorizationServer,
    protector: ResourceProtector,
}

async fn fixture_with(config: ProviderConfig, methods: SignatureMethods) -> Fx {
    let store = Arc::new(MemoryStore::new());
    let mut client = Client::new("client1", SecretString::new("secret1"));
    client.rsa_public_key = Some(RSA_PUBLIC.to_owned());
    store.put_client(&client).await.unwrap();
    let mut other = Client::new("client2", SecretString::new("secret2"));
    other.default_redirect_uri = Some("https://two.example/default".into());
    store.put_client(&other).await.unwrap();
    let mut narrow = Client::new("narrow", SecretString::new("secret3"));
    narrow.allowed_signature_methods = Some(vec!["HMAC-SHA256".into()]);
    store.put_client(&narrow).await.unwrap();
    // The store's first call with a time starts its replay epoch: an hour before the
    // requests, as for a provider that has been up for a while.
    store.purge_expired(NOW - 3600).await.unwrap();
    let clock = FixedClock::new(NOW);
    let server = AuthorizationServer::builder(store.clone())
        .clock(clock.clone())
        .config(config)
        .signature_methods(methods)
        .build();
    let protector = server.resource_protector();
    Fx { store, clock, server, protector }
}

fn all_methods() -> SignatureMethods {
    SignatureMethods::default().allow_only(&["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"])
}

async fn fixture() -> Fx {
    fixture_with(ProviderConfig::default(), all_methods()).await
}

fn signer(client: &str, secret: &str, method: &str, placement: SignatureType) -> Signer {
    let mut creds = ClientCredentials::new(client, secret);
    if method.starts_with("RSA") {
        creds = creds.with_rsa_key(rsa_private_key_from_pem(RSA_PRIVATE).unwrap());
    }
    let s = Signer::new(creds).signature_type(placement);
    match method {
        "HMAC-SHA1" => s.method(HmacSha1),
        "HMAC-SHA256" => s.method(HmacSha256),
        "RSA-SHA1" => s.method(RsaSha1),
        "PLAINTEXT" => s.method(Plaintext),
        m => panic!("no method {m}"),
    }
}

fn client1() -> Signer {
    signer("client1", "secret1", "HMAC-SHA1", SignatureType::Header)
}

fn fresh_nonce() -> String {
    format!("nonce{}", NONCE.fetch_add(1, Ordering::Relaxed))
}

fn request(method: Method, url: &str, body: Option<&str>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder().method(method).uri(url);
    if body.is_some() {
        b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    b.body(body.unwrap_or_default().as_bytes().to_vec()).unwrap()
}

fn sign_at(
    s: &Signer,
    req: http::Request<Vec<u8>>,
    params: SigningParams<'_>,
    ts: i64,
) -> http::Request<Vec<u8>> {
    s.sign_at(req, &params, &ts.to_string(), &fresh_nonce()).unwrap()
}

fn sign(s: &Signer, req: http::Request<Vec<u8>>, params: SigningParams<'_>) -> http::Request<Vec<u8>> {
    sign_at(s, req, params, NOW)
}

fn temp_request(s: &Signer) -> http::Request<Vec<u8>> {
    sign(
        s,
        request(Method::POST, &format!("{BASE}/oauth/request_token"), None),
        SigningParams { callback: Some(CALLBACK), ..Default::default() },
    )
}

fn form(resp: &http::Response<Vec<u8>>) -> Vec<(String, String)> {
    parse_form(std::str::from_utf8(resp.body()).unwrap()).unwrap()
}

fn field(resp: &http::Response<Vec<u8>>, name: &str) -> Option<String> {
    form(resp).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Asserts the error code and status, both on the error and on its response.
#[track_caller]
fn assert_error<T: std::fmt::Debug>(r: Result<T, ProviderError>, code: &str, status: u16) {
    let e = r.expect_err("expected an error");
    assert_eq!((e.code(), e.status().as_u16()), (code, status), "{e:?}");
    let resp = e.to_response();
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(field(&resp, "error").as_deref(), Some(code));
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
}

#[track_caller]
fn assert_response(resp: &http::Response<Vec<u8>>, code: &str, status: u16) {
    assert_eq!(resp.status().as_u16(), status, "{:?}", String::from_utf8_lossy(resp.body()));
    assert_eq!(field(resp, "error").as_deref(), Some(code));
}

/// Temporary credentials for `s`, authorized by alice; returns them and the verifier.
async fn authorized(fx: &Fx, s: &Signer) -> (TokenCredentials, String) {
    let resp = fx.server.create_temporary_credential_response(&temp_request(s)).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", String::from_utf8_lossy(resp.body()));
    let temp = TokenCredentials::new(
        field(&resp, "oauth_token").unwrap(),
        field(&resp, "oauth_token_secret").unwrap(),
    );
    let auth = request(Method::GET, &format!("{BASE}/oauth/authorize?oauth_token={}", temp.token), None);
    let resp =
        fx.server.create_authorization_response(&auth, Consent::Grant { user_id: "alice" }).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let query = url::Url::parse(&location).unwrap();
    let verifier = query.query_pairs().find(|(k, _)| k == "oauth_verifier").unwrap().1.into_owned();
    (temp, verifier)
}

fn token_request(s: &Signer, temp: &TokenCredentials, verifier: &str) -> http::Request<Vec<u8>> {
    sign(
        s,
        request(Method::POST, &format!("{BASE}/oauth/access_token"), None),
        SigningParams { token: Some(temp), verifier: Some(verifier), ..Default::default() },
    )
}

async fn token_for(fx: &Fx, s: &Signer) -> TokenCredentials {
    let (temp, verifier) = authorized(fx, s).await;
    let cred = fx.server.issue_token_credential(&token_request(s, &temp, &verifier)).await.unwrap();
    TokenCredentials::new(cred.token, cred.secret.into_secret())
}

fn resource_request(s: &Signer, token: &TokenCredentials) -> http::Request<Vec<u8>> {
    sign(
        s,
        request(Method::GET, &format!("{BASE}/api/me?q=1"), None),
        SigningParams { token: Some(token), ..Default::default() },
    )
}

#[tokio::test]
async fn three_legged_flow_for_every_method_and_placement() {
    let fx = fixture().await;
    for method in ["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"] {
        for placement in [SignatureType::Header, SignatureType::Query, SignatureType::Body] {
            let s = signer("client1", "secret1", method, placement);
            let (temp, verifier) = authorized(&fx, &s).await;
            let resp = fx.server.create_token_response(&token_request(&s, &temp, &verifier)).await;
            assert_eq!(resp.status(), StatusCode::OK, "{method} {placement:?}");
            assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/x-www-form-urlencoded");
            let token = TokenCredentials::new(
                field(&resp, "oauth_token").unwrap(),
                field(&resp, "oauth_token_secret").unwrap(),
            );
            let (m, url, body) = match placement {
                SignatureType::Body => (Method::POST, format!("{BASE}/api/me"), Some("q=a+b&n=1")),
                _ => (Method::GET, format!("{BASE}/api/me?q=a%20b&n=1"), None),
            };
            let req =
                sign(&s, request(m, &url, body), SigningParams { token: Some(&token), ..Default::default() });
            let who = fx.protector.validate_request(&req).await.unwrap();
            assert_eq!(
                (who.client.client_id.as_str(), who.user_id()),
                ("client1", "alice"),
                "{method} {placement:?}"
            );
            // The same signed request again is a replay.
            assert_error(fx.protector.validate_request(&req).await, "invalid_nonce", 401);
        }
    }
}

#[tokio::test]
async fn temporary_credential_response_has_confirmed_callback_and_lengths() {
    let fx = fixture().await;
    let resp = fx.server.create_temporary_credential_response(&temp_request(&client1())).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(field(&resp, "oauth_callback_confirmed").as_deref(), Some("true"));
    let token = field(&resp, "oauth_token").unwrap();
    assert_eq!(token.len(), 42);
    assert_eq!(field(&resp, "oauth_token_secret").unwrap().len(), 48);
    let stored = fx.store.get_temporary_credential(&token, NOW).await.unwrap().unwrap();
    assert_eq!(stored.callback_uri, CALLBACK);
    assert_eq!(stored.expires_at, NOW + 24 * 3600);
    assert_eq!(stored.client_id, "client1");
}

#[tokio::test]
async fn temporary_credential_errors() {
    let fx = fixture().await;
    let s = client1();
    let url = format!("{BASE}/oauth/request_token");
    let with_cb = |cb: Option<&'static str>| SigningParams { callback: cb, ..Default::default() };

    // 405 for anything but POST.
    let get = sign(&s, request(Method::GET, &url, None), with_cb(Some(CALLBACK)));
    assert_error(fx.server.issue_temporary_credential(&get).await, "method_not_allowed", 405);
    let resp = fx.server.create_temporary_credential_response(&get).await;
    assert_response(&resp, "method_not_allowed", 405);
    assert_eq!(resp.headers()[header::ALLOW], "POST");

    let missing = sign(&s, request(Method::POST, &url, None), with_cb(None));
    assert_error(fx.server.issue_temporary_credential(&missing).await, "missing_required_parameter", 400);
    for bad in ["/relative", "javascript:alert(1)", "OOB"] {
        let req = sign(
            &s,
            request(Method::POST, &url, None),
            SigningParams { callback: Some(bad), ..Default::default() },
        );
        assert_error(fx.server.issue_temporary_credential(&req).await, "invalid_request", 400);
    }
    let oob = sign(&s, request(Method::POST, &url, None), with_cb(Some("oob")));
    assert!(fx.server.issue_temporary_credential(&oob).await.is_ok());

    let unknown = signer("nobody", "secret1", "HMAC-SHA1", SignatureType::Header);
    let resp = fx.server.create_temporary_credential_response(&temp_request(&unknown)).await;
    assert_response(&resp, "invalid_client", 401);
    assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "OAuth");

    let wrong = signer("client1", "not-the-secret", "HMAC-SHA1", SignatureType::Header);
    assert_error(fx.server.issue_temporary_credential(&temp_request(&wrong)).await, "invalid_signature", 401);

    // RSA-SHA1 by a client without a public key cannot verify.
    let rsa = signer("client2", "", "RSA-SHA1", SignatureType::Header);
    assert_error(fx.server.issue_temporary_credential(&temp_request(&rsa)).await, "invalid_signature", 401);

    // A client limited to HMAC-SHA256.
    let narrow = signer("narrow", "secret3", "HMAC-SHA1", SignatureType::Header);
    assert_error(
        fx.server.issue_temporary_credential(&temp_request(&narrow)).await,
        "unsupported_signature_method",
        400,
    );
    let narrow = signer("narrow", "secret3", "HMAC-SHA256", SignatureType::Header);
    assert!(fx.server.issue_temporary_credential(&temp_request(&narrow)).await.is_ok());

    // Plain http to a public host.
    let public = sign(
        &s,
        request(Method::POST, "http://api.example.com/oauth/request_token", None),
        with_cb(Some(CALLBACK)),
    );
    assert_error(fx.server.issue_temporary_credential(&public).await, "insecure_transport", 400);
    let https = sign(
        &s,
        request(Method::POST, "https://api.example.com/oauth/request_token", None),
        with_cb(Some(CALLBACK)),
    );
    assert!(fx.server.issue_temporary_credential(&https).await.is_ok());
}

/// A client that registered its callbacks (`Client::redirect_uris`): only those, compared
/// exactly, and judged only for a request that the client signed, before its nonce.
#[tokio::test]
async fn registered_callbacks_are_enforced_after_the_signature() {
    let fx = fixture().await;
    let mut registered = Client::new("registered", SecretString::new("secret4"));
    registered.redirect_uris = Some(vec![CALLBACK.into(), "myapp://done".into()]);
    fx.store.put_client(&registered).await.unwrap();
    let s = signer("registered", "secret4", "HMAC-SHA1", SignatureType::Header);
    let url = format!("{BASE}/oauth/request_token");
    let temp_with = |s: &Signer, cb: &str| {
        sign(s, request(Method::POST, &url, None), SigningParams { callback: Some(cb), ..Default::default() })
    };
    #[track_caller]
    fn unregistered<T: std::fmt::Debug>(r: Result<T, ProviderError>) {
        assert!(
            matches!(r, Err(ProviderError::InvalidRequest(InvalidRequest::UnregisteredCallback))),
            "{r:?}"
        );
    }

    // Registered: issued, and the verifier goes there.
    let (_, verifier) = authorized(&fx, &s).await;
    assert_eq!(verifier.len(), 36);
    assert!(fx.server.issue_temporary_credential(&temp_with(&s, "myapp://done")).await.is_ok());

    // Anything else, however close, is a 400 invalid_request.
    for bad in [
        "https://client.example/cb?state=other",
        "https://client.example/cb",
        "https://CLIENT.example/cb?state=xyz",
        "https://client.example:443/cb?state=xyz",
        "https://attacker.example/cb?state=xyz",
        "oob",
    ] {
        let req = temp_with(&s, bad);
        assert_error(fx.server.issue_temporary_credential(&req).await, "invalid_request", 400);
        unregistered(fx.server.issue_temporary_credential(&req).await);
        let resp = fx.server.create_temporary_credential_response(&req).await;
        assert_response(&resp, "invalid_request", 400);
        assert!(field(&resp, "error_description").unwrap().contains("not registered"), "{bad}");
    }

    // Without the client's secret the registration cannot be probed: a bad signature is
    // invalid_signature whether or not the callback is registered.
    let forger = signer("registered", "guessed", "HMAC-SHA1", SignatureType::Header);
    for cb in [CALLBACK, "https://attacker.example/cb"] {
        assert_error(
            fx.server.issue_temporary_credential(&temp_with(&forger, cb)).await,
            "invalid_signature",
            401,
        );
    }

    // The nonce is checked last: a refused request did not spend it, and succeeds once
    // the callback is registered.
    let later = temp_with(&s, "https://client.example/other");
    unregistered(fx.server.issue_temporary_credential(&later).await);
    registered.redirect_uris.as_mut().unwrap().push("https://client.example/other".into());
    fx.store.put_client(&registered).await.unwrap();
    assert!(fx.server.issue_temporary_credential(&later).await.is_ok());
    assert_error(fx.server.issue_temporary_credential(&later).await, "invalid_nonce", 401);

    // A registration withdrawn after issue: the verifier is not sent there.
    let pending = fx.server.issue_temporary_credential(&temp_request(&s)).await.unwrap();
    registered.redirect_uris = Some(vec!["myapp://done".into()]);
    fx.store.put_client(&registered).await.unwrap();
    let auth = request(Method::GET, &format!("{BASE}/oauth/authorize?oauth_token={}", pending.token), None);
    unregistered(fx.server.check_authorization_request(&auth).await);
    let grant = fx.server.create_authorization_response(&auth, Consent::Grant { user_id: "alice" }).await;
    assert_error(grant, "invalid_request", 400);
    assert!(
        fx.store
            .get_temporary_credential(&pending.token, NOW)
            .await
            .unwrap()
            .unwrap()
            .authorization
            .is_none()
    );

    // `oob` with a registered list: allowed when the list holds "oob" (the verifier is
    // shown to the user) ...
    let mut shown = Client::new("oob-listed", SecretString::new("secret5"));
    shown.redirect_uris = Some(vec!["oob".into()]);
    fx.store.put_client(&shown).await.unwrap();
    let s = signer("oob-listed", "secret5", "HMAC-SHA1", SignatureType::Header);
    let temp = fx.server.issue_temporary_credential(&temp_with(&s, "oob")).await.unwrap();
    let auth = request(Method::GET, &format!("{BASE}/oauth/authorize?oauth_token={}", temp.token), None);
    let resp =
        fx.server.create_authorization_response(&auth, Consent::Grant { user_id: "alice" }).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(field(&resp, "oauth_token"), Some(temp.token));
    unregistered(fx.server.issue_temporary_credential(&temp_with(&s, CALLBACK)).await);

    // ... or when the client has a default redirect URI, where `oob` then goes; the
    // default itself is not a registered callback.
    let mut default = Client::new("oob-default", SecretString::new("secret6"));
    default.default_redirect_uri = Some("https://six.example/default".into());
    default.redirect_uris = Some(Vec::new());
    fx.store.put_client(&default).await.unwrap();
    let s = signer("oob-default", "secret6", "HMAC-SHA1", SignatureType::Header);
    let temp = fx.server.issue_temporary_credential(&temp_with(&s, "oob")).await.unwrap();
    let auth = request(Method::GET, &format!("{BASE}/oauth/authorize?oauth_token={}", temp.token), None);
    let pending = fx.server.check_authorization_request(&auth).await.unwrap();
    assert_eq!(pending.redirect_uri.as_deref(), Some("https://six.example/default"));
    unregistered(fx.server.issue_temporary_credential(&temp_with(&s, "https://six.example/default")).await);
}

#[tokio::test]
async fn default_allow_list_is_hmac_sha1_only() {
    let fx =
        fixture_with(ProviderConfig::default(), SignatureMethods::default().allow_only(&["HMAC-SHA1"])).await;
    assert!(fx.server.issue_temporary_credential(&temp_request(&client1())).await.is_ok());
    for method in ["HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"] {
        let s = signer("client1", "secret1", method, SignatureType::Header);
        assert_error(
            fx.server.issue_temporary_credential(&temp_request(&s)).await,
            "unsupported_signature_method",
            400,
        );
    }
    // The builder's default is the same.
    let store = Arc::new(MemoryStore::new());
    store.put_client(&Client::new("client1", SecretString::new("secret1"))).await.unwrap();
    store.purge_expired(NOW - 3600).await.unwrap(); // up for an hour (its replay epoch)
    let server = AuthorizationServer::builder(store).clock(FixedClock::new(NOW)).build();
    let s = signer("client1", "secret1", "PLAINTEXT", SignatureType::Header);
    assert_error(
        server.issue_temporary_credential(&temp_request(&s)).await,
        "unsupported_signature_method",
        400,
    );
    assert!(server.issue_temporary_credential(&temp_request(&client1())).await.is_ok());
    // An unknown method name.
    let mut req = temp_request(&client1());
    let h = req.headers()[header::AUTHORIZATION].to_str().unwrap().replace("HMAC-SHA1", "HMAC-MD5");
    req.headers_mut().insert(header::AUTHORIZATION, h.parse().unwrap());
    assert_error(server.issue_temporary_credential(&req).await, "unsupported_signature_method", 400);
}

#[tokio::test]
async fn timestamp_window_is_enforced_both_ways() {
    let fx = fixture().await;
    let s = client1();
    let url = format!("{BASE}/oauth/request_token");
    let at = |ts| {
        sign_at(
            &s,
            request(Method::POST, &url, None),
            SigningParams { callback: Some(CALLBACK), ..Default::default() },
            ts,
        )
    };
    for ok in [NOW - 300, NOW - 299, NOW + 299, NOW + 300] {
        assert!(fx.server.issue_temporary_credential(&at(ok)).await.is_ok(), "{ok}");
    }
    for stale in [NOW - 301, NOW + 301, NOW + 86_400, 1] {
        assert_error(fx.server.issue_temporary_credential(&at(stale)).await, "invalid_request", 400);
    }
    fx.clock.advance(1000);
    assert!(fx.server.issue_temporary_credential(&at(NOW + 1000)).await.is_ok());
}

/// Timestamps that are not a positive integer of at most 18 digits (RFC 5849 §3.3), each
/// correctly signed: every endpoint answers `400 invalid_request` (malformed timestamp),
/// whatever the window, and accepts none.
#[tokio::test]
async fn malformed_timestamps_are_refused_by_every_endpoint() {
    // A window of a century: "0" would be in it if it were a timestamp.
    let fx =
        fixture_with(ProviderConfig::default().with_timestamp_window(3_200_000_000), all_methods()).await;
    let s = client1();
    let token = token_for(&fx, &s).await;
    let (temp, verifier) = authorized(&fx, &s).await;
    let malformed = |r: Result<_, ProviderError>, what: &str| match r {
        Err(ProviderError::InvalidRequest(InvalidRequest::MalformedTimestamp)) => {}
        other => panic!("{what}: {other:?}"),
    };
    for ts in [
        "0",
        "000",
        "+5",
        " 5",
        "5 ",
        "-1",
        "1e9",
        "1.7e9",
        "0x6553F100",
        "1000000000000000000",  // 19 digits
        "99999999999999999999", // 20 digits
        "",
    ] {
        let at = |req, params: SigningParams<'_>| s.sign_at(req, &params, ts, &fresh_nonce()).unwrap();
        let temp_req = at(
            request(Method::POST, &format!("{BASE}/oauth/request_token"), None),
            SigningParams { callback: Some(CALLBACK), ..Default::default() },
        );
        malformed(
            fx.server.issue_temporary_credential(&temp_req).await.map(drop),
            &format!("temporary {ts:?}"),
        );
        let resp = fx.server.create_temporary_credential_response(&temp_req).await;
        assert_response(&resp, "invalid_request", 400);

        let token_req = at(
            request(Method::POST, &format!("{BASE}/oauth/access_token"), None),
            SigningParams { token: Some(&temp), verifier: Some(&verifier), ..Default::default() },
        );
        malformed(fx.server.issue_token_credential(&token_req).await.map(drop), &format!("token {ts:?}"));

        let api_req = at(
            request(Method::GET, &format!("{BASE}/api/me?q=1"), None),
            SigningParams { token: Some(&token), ..Default::default() },
        );
        malformed(fx.protector.validate_request(&api_req).await.map(drop), &format!("resource {ts:?}"));
    }
    // The temporary credential was not consumed by the refused exchanges.
    let cred = fx.server.issue_token_credential(&token_request(&s, &temp, &verifier)).await;
    assert!(cred.is_ok(), "{cred:?}");
}

#[tokio::test]
async fn nonces_are_single_use_per_client_token_and_timestamp() {
    let fx = fixture().await;
    let s = client1();
    let url = format!("{BASE}/oauth/request_token");
    let params = SigningParams { callback: Some(CALLBACK), ..Default::default() };
    let a = s.sign_at(request(Method::POST, &url, None), &params, &NOW.to_string(), "samenonce").unwrap();
    assert!(fx.server.issue_temporary_credential(&a).await.is_ok());
    assert_error(fx.server.issue_temporary_credential(&a).await, "invalid_nonce", 401);
    // The same nonce with another timestamp is another request (§3.3).
    let b =
        s.sign_at(request(Method::POST, &url, None), &params, &(NOW + 1).to_string(), "samenonce").unwrap();
    assert!(fx.server.issue_temporary_credential(&b).await.is_ok());
    // A badly signed request does not burn the nonce of a good one.
    let wrong = signer("client1", "wrong", "HMAC-SHA1", SignatureType::Header);
    let bad = wrong.sign_at(request(Method::POST, &url, None), &params, &NOW.to_string(), "later").unwrap();
    assert_error(fx.server.issue_temporary_credential(&bad).await, "invalid_signature", 401);
    let good = s.sign_at(request(Method::POST, &url, None), &params, &NOW.to_string(), "later").unwrap();
    assert!(fx.server.issue_temporary_credential(&good).await.is_ok());
}

/// The memory store forgets its nonces with its process. A new store (a restart) refuses a
/// request timestamped at or before its first call, as a stale timestamp, since it cannot
/// tell whether the old one accepted it; a request signed after the restart is accepted.
#[tokio::test]
async fn a_restarted_memory_store_refuses_requests_it_may_have_forgotten() {
    let fx = fixture().await;
    let s = client1();
    let url = format!("{BASE}/oauth/request_token");
    let params = SigningParams { callback: Some(CALLBACK), ..Default::default() };
    let at =
        |ts: i64, nonce: &str| s.sign_at(request(Method::POST, &url, None), &params, &ts.to_string(), nonce);
    let captured = at(NOW, "captured").unwrap();
    assert!(fx.server.issue_temporary_credential(&captured).await.is_ok());
    assert_error(fx.server.issue_temporary_credential(&captured).await, "invalid_nonce", 401);
    drop(fx);

    // The process restarts in the same second, with the same clients (from a database).
    let store = Arc::new(MemoryStore::new());
    store.put_client(&Client::new("client1", SecretString::new("secret1"))).await.unwrap();
    let clock = FixedClock::new(NOW);
    let server = AuthorizationServer::builder(store.clone())
        .clock(clock.clone())
        .signature_methods(all_methods())
        .build();
    assert_error(server.issue_temporary_credential(&captured).await, "invalid_request", 400);
    // Still refused later on, while its timestamp is in the window; so is a new request
    // from a client whose clock is behind, until it signs after the restart.
    clock.advance(200);
    assert_error(server.issue_temporary_credential(&captured).await, "invalid_request", 400);
    let behind = at(NOW, "new-but-behind").unwrap();
    assert_error(server.issue_temporary_credential(&behind).await, "invalid_request", 400);
    let fresh = at(NOW + 1, "after-restart").unwrap();
    assert!(server.issue_temporary_credential(&fresh).await.is_ok());
    assert_error(server.issue_temporary_credential(&fresh).await, "invalid_nonce", 401);
}

#[tokio::test]
async fn plaintext_without_timestamp_and_nonce_is_refused_by_default() {
    let store = Arc::new(MemoryStore::new());
    store.put_client(&Client::new("client1", SecretString::new("secret1"))).await.unwrap();
    let methods = SignatureMethods::default().allow_only(&["PLAINTEXT"]);
    let header_value = format!(
        "OAuth oauth_consumer_key=\"client1\", oauth_signature_method=\"PLAINTEXT\", oauth_signature=\"secret1%26\", oauth_callback=\"{}\"",
        keyward::common::encoding::encode(CALLBACK)
    );
    let mut req = request(Method::POST, &format!("{BASE}/oauth/request_token"), None);
    req.headers_mut().insert(header::AUTHORIZATION, header_value.parse().unwrap());
    let strict = AuthorizationServer::builder(store.clone())
        .clock(FixedClock::new(NOW))
        .signature_methods(methods.clone())
        .build();
    assert_error(strict.issue_temporary_credential(&req).await, "missing_required_parameter", 400);
    let lax = AuthorizationServer::builder(store)
        .clock(FixedClock::new(NOW))
        .signature_methods(methods)
        .config(ProviderConfig::default().with_plaintext_requires_nonce(false))
        .build();
    assert!(lax.issue_temporary_credential(&req).await.is_ok());
    // A timestamp without a nonce is refused even in lax mode: the pair identifies the request.
    let with_ts = header_value
        .replace("oauth_signature_method", &format!("oauth_timestamp=\"{NOW}\", oauth_signature_method"));
    req.headers_mut().insert(header::AUTHORIZATION, with_ts.parse().unwrap());
    assert_error(lax.issue_temporary_credential(&req).await, "missing_required_parameter", 400);
}

#[tokio::test]
async fn malformed_input_is_a_400_never_a_panic() {
    let fx = fixture().await;
    let url = format!("{BASE}/oauth/request_token");
    let with_auth = |v: &[u8]| {
        let mut r = request(Method::POST, &url, None);
        r.headers_mut().insert(header::AUTHORIZATION, http::HeaderValue::from_bytes(v).unwrap());
        r
    };
    for h in [
        &b"OAuth oauth_consumer_key"[..],
        b"OAuth oauth_consumer_key=unquoted",
        b"OAuth oauth_consumer_key=\"unterminated",
        b"OAuth oauth_consumer_key=\"%ZZ\"",
        b"OAuth oauth_consumer_key=\"\xff\xfe\"",
        b"OAuth ,,,=\"\"",
    ] {
        let resp = fx.server.create_temporary_credential_response(&with_auth(h)).await;
        assert_response(&resp, "invalid_request", 400);
    }
    // Duplicated protocol parameters, in one place and across places.
    let dup = with_auth(b"OAuth oauth_consumer_key=\"client1\", oauth_consumer_key=\"client1\"");
    assert_response(
        &fx.server.create_temporary_credential_response(&dup).await,
        "duplicated_oauth_protocol_parameter",
        400,
    );
    let signed = temp_request(&client1());
    let (mut parts, body) = signed.into_parts();
    parts.uri = format!("{url}?oauth_nonce=again").parse().unwrap();
    let across = http::Request::from_parts(parts, body);
    assert_response(
        &fx.server.create_temporary_credential_response(&across).await,
        "duplicated_oauth_protocol_parameter",
        400,
    );
    let dup_query = request(Method::POST, &format!("{url}?oauth_consumer_key=a&oauth_consumer_key=b"), None);
    assert_response(
        &fx.server.create_temporary_credential_response(&dup_query).await,
        "duplicated_oauth_protocol_parameter",
        400,
    );
    // Non-UTF-8 and broken escapes in a form body.
    let mut raw = b"oauth_consumer_key=".to_vec();
    raw.extend_from_slice(&[0xff, 0xfe]);
    let mut req = request(Method::POST, &url, Some(""));
    *req.body_mut() = raw;
    assert_response(&fx.server.create_temporary_credential_response(&req).await, "invalid_request", 400);
    let req = request(Method::POST, &url, Some("oauth_consumer_key=%E0%A4%A"));
    assert_response(&fx.server.create_temporary_credential_response(&req).await, "invalid_request", 400);
    // No OAuth parameters at all.
    let bare = request(Method::POST, &url, None);
    assert_response(
        &fx.server.create_temporary_credential_response(&bare).await,
        "missing_required_parameter",
        400,
    );
    // A relative URI (the glue always sends absolute ones).
    let mut rel = temp_request(&client1());
    *rel.uri_mut() = "/oauth/request_token".parse().unwrap();
    assert_response(&fx.server.create_temporary_credential_response(&rel).await, "invalid_request", 400);
}

#[tokio::test]
async fn authorization_endpoint() {
    let fx = fixture().await;
    let s = client1();
    let temp = fx.server.issue_temporary_credential(&temp_request(&s)).await.unwrap();
    let auth_url = |t: &str| format!("{BASE}/oauth/authorize?oauth_token={t}");

    let ask = fx
        .server
        .check_authorization_request(&request(Method::GET, &auth_url(&temp.token), None))
        .await
        .unwrap();
    assert_eq!(ask.client.client_id, "client1");
    assert_eq!(ask.redirect_uri.as_deref(), Some(CALLBACK));
    assert_eq!(ask.token, temp.token);

    let check = |url: String| {
        let server = fx.server.clone();
        async move { server.check_authorization_request(&request(Method::GET, &url, None)).await }
    };
    assert_error(check(format!("{BASE}/oauth/authorize")).await, "missing_required_parameter", 400);
    assert_error(check(auth_url("unknown")).await, "invalid_token", 401);
    assert_error(
        check(format!("{}&oauth_token=x", auth_url(&temp.token))).await,
        "duplicated_oauth_protocol_parameter",
        400,
    );
    assert_error(
        check(format!("http://api.example.com/oauth/authorize?oauth_token={}", temp.token)).await,
        "insecure_transport",
        400,
    );
    // A consent form posted back carries the token in its body.
    let posted = request(
        Method::POST,
        &format!("{BASE}/oauth/authorize"),
        Some(&format!("oauth_token={}&ok=1", temp.token)),
    );
    assert!(fx.server.check_authorization_request(&posted).await.is_ok());

    // Granting redirects to the callback, keeping its query; a second grant is refused.
    let req = request(Method::GET, &auth_url(&temp.token), None);
    let resp =
        fx.server.create_authorization_response(&req, Consent::Grant { user_id: "alice" }).await.unwrap();
    let location = resp.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("https://client.example/cb?state=xyz&oauth_token="), "{location}");
    let verifier = url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "oauth_verifier")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(verifier.len(), 36);
    assert_error(
        fx.server.create_authorization_response(&req, Consent::Grant { user_id: "mallory" }).await,
        "invalid_token",
        401,
    );
    let stored = fx.store.get_temporary_credential(&temp.token, NOW).await.unwrap().unwrap();
    assert_eq!(stored.authorization.unwrap().user_id, "alice");

    // An expired temporary credential.
    let temp = fx.server.issue_temporary_credential(&temp_request(&s)).await.unwrap();
    fx.clock.advance(24 * 3600);
    assert_error(check(auth_url(&temp.token)).await, "invalid_token", 401);
}

#[tokio::test]
async fn denial_and_out_of_band() {
    let fx = fixture().await;
    let s = client1();
    let auth = |t: &str| request(Method::GET, &format!("{BASE}/oauth/authorize?oauth_token={t}"), None);

    // Deny with a callback: redirect with error=access_denied, credential gone.
    let temp = fx.server.issue_temporary_credential(&temp_request(&s)).await.unwrap();
    let resp = fx.server.create_authorization_response(&auth(&temp.token), Consent::Deny).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("https://client.example/cb?state=xyz&error=access_denied"), "{location}");
    assert!(fx.store.get_temporary_credential(&temp.token, NOW).await.unwrap().is_none());

    // oob and no default redirect: deny is a 400 access_denied, grant shows the verifier.
    let oob_req = |s: &Signer| {
        sign(
            s,
            request(Method::POST, &format!("{BASE}/oauth/request_token"), None),
            SigningParams { callback: Some("oob"), ..Default::default() },
        )
    };
    let temp = fx.server.issue_temporary_credential(&oob_req(&s)).await.unwrap();
    assert_error(
        fx.server.create_authorization_response(&auth(&temp.token), Consent::Deny).await,
        "access_denied",
        400,
    );
    let temp = fx.server.issue_temporary_credential(&oob_req(&s)).await.unwrap();
    let resp = fx
        .server
        .create_authorization_response(&auth(&temp.token), Consent::Grant { user_id: "alice" })
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(field(&resp, "oauth_token"), Some(temp.token.clone()));
    assert_eq!(field(&resp, "oauth_verifier").unwrap().len(), 36);

    // oob with a default redirect: the default is used.
    let two = signer("client2", "secret2", "HMAC-SHA1", SignatureType::Header);
    let temp = fx.server.issue_temporary_credential(&oob_req(&two)).await.unwrap();
    let resp = fx
        .server
        .create_authorization_response(&auth(&temp.token), Consent::Grant { user_id: "bob" })
        .await
        .unwrap();
    assert!(
        resp.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("https://two.example/default?oauth_token=")
    );
}

#[tokio::test]
async fn token_endpoint_issues_a_bound_token_once() {
    let fx = fixture().await;
    let s = client1();
    let (temp, verifier) = authorized(&fx, &s).await;
    let cred = fx.server.issue_token_credential(&token_request(&s, &temp, &verifier)).await.unwrap();
    assert_eq!((cred.client_id.as_str(), cred.user_id.as_str(), cred.token.len()), ("client1", "alice", 42));
    assert_eq!(cred.secret.secret().len(), 48);
    assert!(fx.store.get_temporary_credential(&temp.token, NOW).await.unwrap().is_none());
    // A second exchange, freshly signed, finds nothing.
    assert_error(
        fx.server.issue_token_credential(&token_request(&s, &temp, &verifier)).await,
        "invalid_token",
        401,
    );
}

#[tokio::test]
async fn wrong_verifier_consumes_only_when_authenticated() {
    let fx = fixture().await;
    let s = client1();

    // Unauthenticated failures leave the temporary credential: bad signature, unknown client.
    let (temp, verifier) = authorized(&fx, &s).await;
    let forged = signer("client1", "guess", "HMAC-SHA1", SignatureType::Header);
    assert_error(
        fx.server.issue_token_credential(&token_request(&forged, &temp, "bad")).await,
        "invalid_signature",
        401,
    );
    let stranger = signer("nobody", "secret1", "HMAC-SHA1", SignatureType::Header);
    assert_error(
        fx.server.issue_token_credential(&token_request(&stranger, &temp, "bad")).await,
        "invalid_client",
        401,
    );
    let bystander = TokenCredentials::new(temp.token.clone(), "unknown-secret");
    assert_error(
        fx.server.issue_token_credential(&token_request(&s, &bystander, &verifier)).await,
        "invalid_signature",
        401,
    );
    // Another client's request with this token: invalid_token, credential untouched.
    let two = signer("client2", "secret2", "HMAC-SHA1", SignatureType::Header);
    assert_error(
        fx.server.issue_token_credential(&token_request(&two, &temp, &verifier)).await,
        "invalid_token",
        401,
    );
    assert!(fx.store.get_temporary_credential(&temp.token, NOW).await.unwrap().is_some());
    assert!(fx.server.issue_token_credential(&token_request(&s, &temp, &verifier)).await.is_ok());

    // An authenticated wrong verifier consumes it: the right one cannot follow.
    let (temp, verifier) = authorized(&fx, &s).await;
    let mut wrong = verifier.clone();
    wrong.replace_range(0..1, if verifier.starts_with('A') { "B" } else { "A" });
    assert_error(
        fx.server.issue_token_credential(&token_request(&s, &temp, &wrong)).await,
        "invalid_request",
        400,
    );
    assert!(fx.store.get_temporary_credential(&temp.token, NOW).await.unwrap().is_none());
    assert_error(
        fx.server.issue_token_credential(&token_request(&s, &temp, &verifier)).await,
        "invalid_token",
        401,
    );

    // Exchanging a credential the user has not authorized yet also consumes it.
    let pending = fx.server.issue_temporary_credential(&temp_request(&s)).await.unwrap();
    let pending = TokenCredentials::new(pending.token, pending.secret.into_secret());
    assert_error(
        fx.server.issue_token_credential(&token_request(&s, &pending, "guess")).await,
        "invalid_request",
        400,
    );
    assert!(fx.store.get_temporary_credential(&pending.token, NOW).await.unwrap().is_none());
}

#[tokio::test]
async fn token_endpoint_errors() {
    let fx = fixture().await;
    let s = client1();
    let (temp, verifier) = authorized(&fx, &s).await;
    let url = format!("{BASE}/oauth/access_token");
    let get = sign(
        &s,
        request(Method::GET, &url, None),
        SigningParams { token: Some(&temp), verifier: Some(&verifier), ..Default::default() },
    );
    assert_error(fx.server.issue_token_credential(&get).await, "method_not_allowed", 405);
    assert_response(&fx.server.create_token_response(&get).await, "method_not_allowed", 405);
    let no_verifier = sign(
        &s,
        request(Method::POST, &url, None),
        SigningParams { token: Some(&temp), ..Default::default() },
    );
    assert_error(fx.server.issue_token_credential(&no_verifier).await, "missing_required_parameter", 400);
    let no_token = sign(
        &s,
        request(Method::POST, &url, None),
        SigningParams { verifier: Some(&verifier), ..Default::default() },
    );
    assert_error(fx.server.issue_token_credential(&no_token).await, "missing_required_parameter", 400);
    let unknown = TokenCredentials::new("unknown", "x");
    assert_error(
        fx.server.issue_token_credential(&token_request(&s, &unknown, &verifier)).await,
        "invalid_token",
        401,
    );
    // Stale timestamp: invalid_request, credential kept.
    let stale = sign_at(
        &s,
        request(Method::POST, &url, None),
        SigningParams { token: Some(&temp), verifier: Some(&verifier), ..Default::default() },
        NOW - 1000,
    );
    assert_error(fx.server.issue_token_credential(&stale).await, "invalid_request", 400);
    // The stale request left the credential; a good one succeeds; replaying it finds
    // nothing to exchange.
    let good = token_request(&s, &temp, &verifier);
    let resp = fx.server.create_token_response(&good).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_response(&fx.server.create_token_response(&good).await, "invalid_token", 401);
    // Expired temporary credentials cannot be exchanged.
    let (temp, verifier) = authorized(&fx, &s).await;
    fx.clock.advance(24 * 3600);
    let req = sign_at(
        &s,
        request(Method::POST, &url, None),
        SigningParams { token: Some(&temp), verifier: Some(&verifier), ..Default::default() },
        NOW + 24 * 3600,
    );
    assert_error(fx.server.issue_token_credential(&req).await, "invalid_token", 401);
}

#[tokio::test]
async fn resource_protector_errors() {
    let fx = fixture().await;
    let s = client1();
    let token = token_for(&fx, &s).await;
    assert_eq!(
        fx.protector.validate_request(&resource_request(&s, &token)).await.unwrap().user_id(),
        "alice"
    );

    let no_token = sign(&s, request(Method::GET, &format!("{BASE}/api/me"), None), SigningParams::default());
    assert_error(fx.protector.validate_request(&no_token).await, "missing_required_parameter", 400);
    assert_error(
        fx.protector.validate_request(&resource_request(&s, &TokenCredentials::new("nope", "x"))).await,
        "invalid_token",
        401,
    );
    let forged = TokenCredentials::new(token.token.clone(), "wrong-secret");
    assert_error(
        fx.protector.validate_request(&resource_request(&s, &forged)).await,
        "invalid_signature",
        401,
    );
    // Another client cannot use alice's token with client1, even knowing the token secret.
    let two = signer("client2", "secret2", "HMAC-SHA1", SignatureType::Header);
    assert_error(fx.protector.validate_request(&resource_request(&two, &token)).await, "invalid_token", 401);
    // A temporary credential is not a token credential.
    let temp = fx.server.issue_temporary_credential(&temp_request(&s)).await.unwrap();
    let temp = TokenCredentials::new(temp.token, temp.secret.into_secret());
    assert_error(fx.protector.validate_request(&resource_request(&s, &temp)).await, "invalid_token", 401);
    let public = sign(
        &s,
        request(Method::GET, "http://api.example.com/api/me", None),
        SigningParams { token: Some(&token), ..Default::default() },
    );
    assert_error(fx.protector.validate_request(&public).await, "insecure_transport", 400);
    let unknown_client = signer("ghost", "secret1", "HMAC-SHA1", SignatureType::Header);
    assert_error(
        fx.protector.validate_request(&resource_request(&unknown_client, &token)).await,
        "invalid_client",
        401,
    );
}

#[tokio::test]
async fn a_rotated_rsa_key_is_picked_up() {
    // The provider keeps parsed RSA keys between requests; the store stays authoritative.
    let fx = fixture().await;
    let s = signer("client1", "secret1", "RSA-SHA1", SignatureType::Header);
    let token = token_for(&fx, &s).await;
    assert_eq!(
        fx.protector.validate_request(&resource_request(&s, &token)).await.unwrap().user_id(),
        "alice"
    );

    // The client's key is rotated to one whose private half `s` does not hold.
    let mut client = fx.store.get_client("client1").await.unwrap().unwrap();
    client.rsa_public_key = Some(RSA_OTHER_PUBLIC.to_owned());
    fx.store.put_client(&client).await.unwrap();
    assert_error(
        fx.protector.validate_request(&resource_request(&s, &token)).await,
        "invalid_signature",
        401,
    );

    // And back: requests signed with the original key verify again.
    client.rsa_public_key = Some(RSA_PUBLIC.to_owned());
    fx.store.put_client(&client).await.unwrap();
    assert_eq!(
        fx.protector.validate_request(&resource_request(&s, &token)).await.unwrap().user_id(),
        "alice"
    );

    // A key that does not parse is an invalid signature, not a server error.
    client.rsa_public_key = Some("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n".into());
    fx.store.put_client(&client).await.unwrap();
    assert_error(
        fx.protector.validate_request(&resource_request(&s, &token)).await,
        "invalid_signature",
        401,
    );
}

#[tokio::test]
async fn resource_protector_judges_the_client_before_the_token() {
    // Client and token are looked up together; the client's verdict still comes first.
    let fx = fixture().await;
    let ghost = signer("ghost", "x", "HMAC-SHA1", SignatureType::Header);
    let no_token =
        sign(&ghost, request(Method::GET, &format!("{BASE}/api/me"), None), SigningParams::default());
    assert_error(fx.protector.validate_request(&no_token).await, "invalid_client", 401);
    let unknown = TokenCredentials::new("nope", "x");
    assert_error(
        fx.protector.validate_request(&resource_request(&ghost, &unknown)).await,
        "invalid_client",
        401,
    );
    // A client that may not use the method is refused before its unknown token.
    let narrow = signer("narrow", "secret3", "HMAC-SHA1", SignatureType::Header);
    assert_error(
        fx.protector.validate_request(&resource_request(&narrow, &unknown)).await,
        "unsupported_signature_method",
        400,
    );
    // An empty oauth_token is a missing one.
    let empty = TokenCredentials::new("", "x");
    assert_error(
        fx.protector.validate_request(&resource_request(&client1(), &empty)).await,
        "missing_required_parameter",
        400,
    );
}

#[tokio::test]
async fn configured_lengths_expiry_and_generator() {
    let config = ProviderConfig::default()
        .with_token_length(20)
        .with_secret_length(24)
        .with_verifier_length(16)
        .with_temporary_credential_ttl(60);
    let fx = fixture_with(config, all_methods()).await;
    let s = client1();
    let temp = fx.server.issue_temporary_credential(&temp_request(&s)).await.unwrap();
    assert_eq!((temp.token.len(), temp.secret.secret().len(), temp.expires_at), (20, 24, NOW + 60));
    fx.clock.advance(60);
    let auth = request(Method::GET, &format!("{BASE}/oauth/authorize?oauth_token={}", temp.token), None);
    assert_error(fx.server.check_authorization_request(&auth).await, "invalid_token", 401);

    let counter = Arc::new(AtomicU64::new(0));
    let c = counter.clone();
    let config =
        ProviderConfig::default().with_generator(move |kind: CredentialKind, r: &dyn RandomSource| {
            format!("{kind:?}-{}-{}", c.fetch_add(1, Ordering::Relaxed), r.alphanumeric(8))
        });
    let fx = fixture_with(config, all_methods()).await;
    let (temp, verifier) = authorized(&fx, &s).await;
    assert!(temp.token.starts_with("TemporaryToken-"), "{}", temp.token);
    assert!(verifier.starts_with("Verifier-"), "{verifier}");
    let cred = fx.server.issue_token_credential(&token_request(&s, &temp, &verifier)).await.unwrap();
    assert!(cred.token.starts_with("Token-") && cred.secret.secret().starts_with("TokenSecret-"));
    assert!(counter.load(Ordering::Relaxed) >= 5);
}

#[tokio::test]
async fn secrets_stay_out_of_debug() {
    let fx = fixture().await;
    let s = client1();
    let (temp, verifier) = authorized(&fx, &s).await;
    let cred = fx.server.issue_token_credential(&token_request(&s, &temp, &verifier)).await.unwrap();
    let token = TokenCredentials::new(cred.token.clone(), cred.secret.secret());
    let who = fx.protector.validate_request(&resource_request(&s, &token)).await.unwrap();
    let debug = format!("{cred:?} {who:?} {:?} {:?}", fx.server, fx.protector);
    for secret in [cred.secret.secret(), "secret1", verifier.as_str()] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    let _ = rsa_public_key_from_pem(RSA_PUBLIC).unwrap();
    let client = fx.store.get_client("client1").await.unwrap().unwrap();
    assert!(!format!("{client:?}").contains("secret1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_exchanges_of_one_verifier_issue_one_token() {
    let fx = fixture().await;
    let s = client1();
    for _round in 0..5 {
        let (temp, verifier) = authorized(&fx, &s).await;
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let server = fx.server.clone();
                let req = token_request(&s, &temp, &verifier);
                tokio::spawn(async move { server.issue_token_credential(&req).await })
            })
            .collect();
        let mut issued = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => issued += 1,
                Err(e) => assert_eq!(e.code(), "invalid_token"),
            }
        }
        assert_eq!(issued, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replays_of_one_nonce_pass_once() {
    let fx = fixture().await;
    let s = client1();
    let token = token_for(&fx, &s).await;
    for _round in 0..5 {
        let req = Arc::new(resource_request(&s, &token));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let p = fx.protector.clone();
                let req = req.clone();
                tokio::spawn(async move { p.validate_request(&req).await })
            })
            .collect();
        let mut accepted = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => accepted += 1,
                Err(e) => assert_eq!(e.code(), "invalid_nonce"),
            }
        }
        assert_eq!(accepted, 1);
    }
}

#[tokio::test]
async fn colliding_generated_tokens_are_redrawn_then_refused() {
    // The first two temporary tokens drawn are "taken"; the next ones are fresh.
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let config = ProviderConfig::default().with_generator(
        move |kind: CredentialKind, r: &dyn RandomSource| match kind {
            CredentialKind::TemporaryToken if c.fetch_add(1, Ordering::Relaxed) < 2 => "taken".to_owned(),
            _ => r.alphanumeric(40),
        },
    );
    let fx = fixture_with(config, all_methods()).await;
    let first = fx.server.issue_temporary_credential(&temp_request(&client1())).await.unwrap();
    assert_eq!(first.token, "taken");
    let second = fx.server.issue_temporary_credential(&temp_request(&client1())).await.unwrap();
    assert_ne!(second.token, "taken");
    assert_eq!(calls.load(Ordering::Relaxed), 3);

    // A generator whose tokens always collide: a server error, not a panic or an overwrite.
    let config =
        ProviderConfig::default().with_generator(|kind: CredentialKind, r: &dyn RandomSource| match kind {
            CredentialKind::TemporaryToken => "same".to_owned(),
            _ => r.alphanumeric(40),
        });
    let fx = fixture_with(config, all_methods()).await;
    let first = fx.server.issue_temporary_credential(&temp_request(&client1())).await.unwrap();
    assert_error(fx.server.issue_temporary_credential(&temp_request(&client1())).await, "server_error", 500);
    let kept = fx.store.get_temporary_credential("same", NOW).await.unwrap().unwrap();
    assert_eq!(kept.secret, first.secret);
}

/// A store that records the nonce during the look-up, as a networked store does to save a
/// round trip (`OAuth1Store::lookup_signed`): the fixture's memory store for the rest, its
/// own set of nonces (which never expire here), and a count of the nonces released.
struct Reserving(Arc<MemoryStore>, AtomicU64, std::sync::Mutex<std::collections::HashSet<NonceKey>>);

mod reserving {
    use super::Reserving;
    use keyward::oauth1::rfc5849::store::*;
    use std::sync::atomic::Ordering;

    impl ClientStore for Reserving {
        fn get_client<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Client>, StoreError>> {
            self.0.get_client(id)
        }
    }
    impl TemporaryCredentialStore for Reserving {
        fn create_temporary_credential<'a>(
            &'a self,
            c: &'a TemporaryCredential,
            now: i64,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.create_temporary_credential(c, now)
        }
        fn create_temporary_credential_capped<'a>(
            &'a self,
            c: &'a TemporaryCredential,
            now: i64,
            max: usize,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.create_temporary_credential_capped(c, now, max)
        }
        fn get_temporary_credential<'a>(
            &'a self,
            t: &'a str,
            now: i64,
        ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
            self.0.get_temporary_credential(t, now)
        }
        fn authorize_temporary_credential<'a>(
            &'a self,
            t: &'a str,
            a: &'a Authorization,
            now: i64,
        ) -> BoxFuture<'a, Result<AuthorizeOutcome, StoreError>> {
            self.0.authorize_temporary_credential(t, a, now)
        }
        fn take_temporary_credential<'a>(
            &'a self,
            t: &'a str,
            now: i64,
        ) -> BoxFuture<'a, Result<Option<TemporaryCredential>, StoreError>> {
            self.0.take_temporary_credential(t, now)
        }
    }
    impl TokenCredentialStore for Reserving {
        fn create_token_credential<'a>(
            &'a self,
            c: &'a TokenCredentialRecord,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.create_token_credential(c)
        }
        fn get_token_credential<'a>(
            &'a self,
            t: &'a str,
        ) -> BoxFuture<'a, Result<Option<TokenCredentialRecord>, StoreError>> {
            self.0.get_token_credential(t)
        }
        fn token_credentials_of_user<'a>(
            &'a self,
            u: &'a str,
        ) -> BoxFuture<'a, Result<Vec<TokenCredentialRecord>, StoreError>> {
            self.0.token_credentials_of_user(u)
        }
        fn revoke_token_credential<'a>(
            &'a self,
            u: &'a str,
            t: &'a str,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.0.revoke_token_credential(u, t)
        }
    }
    impl NonceStore for Reserving {
        fn insert_nonce<'a>(
            &'a self,
            n: &'a NonceToRecord,
            _: i64,
        ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
            let fresh = self.2.lock().unwrap().insert(n.key.clone());
            let epoch = ReplayEpoch::Durable;
            Box::pin(
                async move { Ok(if fresh { Recorded::fresh(epoch) } else { Recorded::replayed(epoch) }) },
            )
        }
        fn release_nonce<'a>(&'a self, n: &'a NonceToRecord) -> BoxFuture<'a, Result<(), StoreError>> {
            self.1.fetch_add(1, Ordering::SeqCst);
            assert!(self.2.lock().unwrap().remove(&n.key), "released a nonce it did not hold");
            Box::pin(async { Ok(()) })
        }
    }
    impl OAuth1Store for Reserving {
        fn lookup_signed<'a>(
            &'a self,
            client_id: &'a str,
            token: Option<&'a str>,
            nonce: Option<&'a NonceToRecord>,
            now: i64,
        ) -> BoxFuture<'a, Result<SignedLookup, StoreError>> {
            Box::pin(async move {
                let found = self.0.lookup_signed(client_id, token, None, now).await?;
                Ok(match nonce {
                    Some(n) => found.with_nonce(self.insert_nonce(n, now).await?),
                    None => found,
                })
            })
        }
    }
}

/// Whether the store records the nonce after the signature (the default look-up) or
/// during the look-up (then releases it when the request fails), the resource protector
/// answers the same: a forged request does not use up the nonce of the real one, a
/// request that finds its nonce taken does not free it, and a failed request's error is
/// the same error either way.
#[tokio::test]
async fn nonce_recorded_during_the_look_up_is_released_only_by_its_own_failed_request() {
    let fx = fixture().await;
    let s = client1();
    let token = token_for(&fx, &s).await;
    let reserving = Arc::new(Reserving(fx.store.clone(), AtomicU64::new(0), Default::default()));
    let early = AuthorizationServer::builder(reserving.clone())
        .clock(fx.clock.clone())
        .signature_methods(all_methods())
        .build()
        .resource_protector();
    let forger = signer("client1", "not-the-secret", "HMAC-SHA1", SignatureType::Header);
    let url = format!("{BASE}/api/me");
    let params = SigningParams { token: Some(&token), ..Default::default() };
    for (round, protector) in [&fx.protector, &early].into_iter().enumerate() {
        let signed = |s: &Signer, nonce: &str| {
            s.sign_at(
                request(Method::GET, &url, None),
                &params,
                &NOW.to_string(),
                &format!("{nonce}-{round}"),
            )
            .unwrap()
        };
        // A forged request first: refused, and the real one with its nonce still passes.
        assert_error(protector.validate_request(&signed(&forger, "n1")).await, "invalid_signature", 401);
        let real = signed(&s, "n1");
        assert_eq!(protector.validate_request(&real).await.unwrap().user_id(), "alice");
        // Its replay is refused; a forgery of it is refused for its signature, and
        // neither frees the nonce.
        assert_error(protector.validate_request(&real).await, "invalid_nonce", 401);
        assert_error(protector.validate_request(&signed(&forger, "n1")).await, "invalid_signature", 401);
        assert_error(protector.validate_request(&real).await, "invalid_nonce", 401);
        // An unknown client or token is reported as such, not as the nonce.
        let stranger = signer("nobody", "x", "HMAC-SHA1", SignatureType::Header);
        assert_error(protector.validate_request(&signed(&stranger, "n2")).await, "invalid_client", 401);
        let bogus = TokenCredentials::new("no-such-token", "x");
        let unknown = s
            .sign_at(
                request(Method::GET, &url, None),
                &SigningParams { token: Some(&bogus), ..Default::default() },
                &NOW.to_string(),
                &format!("n3-{round}"),
            )
            .unwrap();
        assert_error(protector.validate_request(&unknown).await, "invalid_token", 401);
    }
    // The early store released exactly the nonces of the three refused requests that had
    // recorded theirs fresh: the first forgery, the stranger, the unknown token.
    assert_eq!(reserving.1.load(Ordering::SeqCst), 3);
}

/// The temporary credential and token endpoints go down the same path: over a store that
/// records the nonce during the look-up, every refused request releases the nonce it
/// recorded, a replay releases nothing, and the answers are those of the memory store.
#[tokio::test]
async fn every_endpoint_releases_an_early_recorded_nonce_when_refused() {
    let fx = fixture().await;
    let reserving = Arc::new(Reserving(fx.store.clone(), AtomicU64::new(0), Default::default()));
    let early = AuthorizationServer::builder(reserving.clone())
        .clock(fx.clock.clone())
        .signature_methods(all_methods())
        .build();
    let s = client1();
    let forger = signer("client1", "not-the-secret", "HMAC-SHA1", SignatureType::Header);
    let temp_url = format!("{BASE}/oauth/request_token");
    let at = |s: &Signer, req, params: SigningParams<'_>, nonce: &str| {
        s.sign_at(req, &params, &NOW.to_string(), nonce).unwrap()
    };
    let temp = |s: &Signer, callback: &str, nonce: &str| {
        let params = SigningParams { callback: Some(callback), ..Default::default() };
        at(s, request(Method::POST, &temp_url, None), params, nonce)
    };
    let released = || reserving.1.load(Ordering::SeqCst);

    for server in [&fx.server, &early] {
        // Refused for its signature, its callback, its client: the real request with the
        // same nonce still passes afterwards.
        let tag = if std::ptr::eq(server, &early) { "early" } else { "memory" };
        let n = format!("temp-{tag}");
        assert_error(
            server.issue_temporary_credential(&temp(&forger, CALLBACK, &n)).await,
            "invalid_signature",
            401,
        );
        assert_error(
            server.issue_temporary_credential(&temp(&s, "/relative", &n)).await,
            "invalid_request",
            400,
        );
        let stranger = signer("nobody", "x", "HMAC-SHA1", SignatureType::Header);
        assert_error(
            server.issue_temporary_credential(&temp(&stranger, CALLBACK, &n)).await,
            "invalid_client",
            401,
        );
        let issued = server.issue_temporary_credential(&temp(&s, CALLBACK, &n)).await.unwrap();
        assert_eq!(issued.client_id, "client1");
        assert_error(server.issue_temporary_credential(&temp(&s, CALLBACK, &n)).await, "invalid_nonce", 401);
    }
    // The early store released the three refused requests' nonces, not the replay's.
    assert_eq!(released(), 3);

    // The token endpoint: a forgery and a request for an unknown temporary credential are
    // refused and release their nonce; the real exchange then passes once.
    let (pending, verifier) = authorized(&fx, &s).await;
    let token_url = format!("{BASE}/oauth/access_token");
    let exchange = |s: &Signer, t: &TokenCredentials, nonce: &str| {
        let params = SigningParams { token: Some(t), verifier: Some(&verifier), ..Default::default() };
        at(s, request(Method::POST, &token_url, None), params, nonce)
    };
    let forged = exchange(&forger, &pending, "exchange");
    assert_error(early.issue_token_credential(&forged).await, "invalid_signature", 401);
    let unknown = TokenCredentials::new("no-such-temporary", "x");
    assert_error(
        early.issue_token_credential(&exchange(&s, &unknown, "exchange")).await,
        "invalid_token",
        401,
    );
    assert_eq!(released(), 5);
    let real = exchange(&s, &pending, "exchange");
    let token = early.issue_token_credential(&real).await.unwrap();
    assert_eq!(token.user_id, "alice");
    // Replayed: the temporary credential is spent, which is judged before the nonce; the
    // nonce, found taken, is not released.
    assert_error(early.issue_token_credential(&real).await, "invalid_token", 401);
    assert_eq!(released(), 5);
    assert!(reserving.2.lock().unwrap().iter().any(|k| k.nonce == "exchange"), "the accepted nonce stays");
}

/// Identifiers that stores key records by are bounded: an overlong consumer key, token or
/// nonce is `400 invalid_request` before any store is asked (RFC 5849 sets no limit).
#[tokio::test]
async fn overlong_identifiers_are_refused_before_any_look_up() {
    use keyward::oauth1::rfc5849::provider::MAX_IDENTIFIER_BYTES;
    let fx = fixture().await;
    let s = client1();
    let token = token_for(&fx, &s).await;
    let url = format!("{BASE}/api/me");
    let long = "n".repeat(MAX_IDENTIFIER_BYTES + 1);
    let params = SigningParams { token: Some(&token), ..Default::default() };
    let nonce = s.sign_at(request(Method::GET, &url, None), &params, &NOW.to_string(), &long).unwrap();
    assert_error(fx.protector.validate_request(&nonce).await, "invalid_request", 400);
    let stranger = signer(&long, "x", "HMAC-SHA1", SignatureType::Header);
    assert_error(
        fx.protector.validate_request(&resource_request(&stranger, &token)).await,
        "invalid_request",
        400,
    );
    let bogus = TokenCredentials::new(long.clone(), "x");
    assert_error(fx.protector.validate_request(&resource_request(&s, &bogus)).await, "invalid_request", 400);
    // At the limit, the request is judged as usual.
    let edge = "n".repeat(MAX_IDENTIFIER_BYTES);
    let ok = s.sign_at(request(Method::GET, &url, None), &params, &NOW.to_string(), &edge).unwrap();
    assert_eq!(fx.protector.validate_request(&ok).await.unwrap().user_id(), "alice");
}

/// `oauth_callback` (RFC 5849 §2.1): `javascript`, `data`, `vbscript` and `file` are refused
/// in any case, registered or not, before any look-up; an unregistered client may use
/// https, http to loopback and `oob`; anything else (plain http elsewhere, a custom scheme)
/// must be registered.
#[tokio::test]
async fn callback_schemes() {
    let fx = fixture().await;
    let url = format!("{BASE}/oauth/request_token");
    let temp_with = |s: &Signer, cb: &str| {
        sign(s, request(Method::POST, &url, None), SigningParams { callback: Some(cb), ..Default::default() })
    };
    let forbidden = [
        "javascript://client.example/%0Aalert(document.cookie)",
        "JavaScript://client.example/x",
        "data://text/html;base64,PHNjcmlwdD4=",
        "DATA://x/y",
        "vbscript://client.example/msgbox",
        "VBSCRIPT://x/y",
        "file:///etc/passwd",
        "File://server/share/x",
    ];
    // Even a client that registered them cannot use them.
    let mut reckless = Client::new("reckless", SecretString::new("secret7"));
    reckless.redirect_uris = Some(forbidden.iter().map(|s| s.to_string()).collect());
    fx.store.put_client(&reckless).await.unwrap();
    let reckless = signer("reckless", "secret7", "HMAC-SHA1", SignatureType::Header);
    for bad in forbidden {
        for s in [&client1(), &reckless] {
            let r = fx.server.issue_temporary_credential(&temp_with(s, bad)).await;
            assert!(
                matches!(r, Err(ProviderError::InvalidRequest(InvalidRequest::InvalidCallback))),
                "{bad}: {r:?}"
            );
        }
    }

    // client1 registered nothing.
    for ok in [
        "https://client.example/cb",
        "http://127.0.0.1:9000/cb",
        "http://[::1]:9000/cb",
        "http://localhost:3000/cb",
        "oob",
    ] {
        assert!(fx.server.issue_temporary_credential(&temp_with(&client1(), ok)).await.is_ok(), "{ok}");
    }
    for unregistered in ["http://client.example/cb", "http://192.168.1.2/cb", "myapp://done"] {
        let r = fx.server.issue_temporary_credential(&temp_with(&client1(), unregistered)).await;
        assert!(
            matches!(r, Err(ProviderError::InvalidRequest(InvalidRequest::UnregisteredCallback))),
            "{unregistered}: {r:?}"
        );
    }
    // Registered exactly, plain http and custom schemes are allowed.
    let mut native = Client::new("native", SecretString::new("secret8"));
    native.redirect_uris = Some(vec!["http://client.example/cb".into(), "myapp://done".into()]);
    fx.store.put_client(&native).await.unwrap();
    let native = signer("native", "secret8", "HMAC-SHA1", SignatureType::Header);
    for ok in ["http://client.example/cb", "myapp://done"] {
        assert!(fx.server.issue_temporary_credential(&temp_with(&native, ok)).await.is_ok(), "{ok}");
    }
}

/// An `oauth_callback` over `MAX_CALLBACK_BYTES` is a 400 before any look-up; one at the
/// limit is accepted.
#[tokio::test]
async fn oversize_callbacks_are_refused() {
    use keyward::oauth1::rfc5849::provider::MAX_CALLBACK_BYTES;
    let fx = fixture().await;
    let url = format!("{BASE}/oauth/request_token");
    let prefix = "https://client.example/cb?x=";
    let at_limit = format!("{prefix}{}", "a".repeat(MAX_CALLBACK_BYTES - prefix.len()));
    let over = format!("{at_limit}a");
    let temp_with = |cb: &str| {
        sign(
            &client1(),
            request(Method::POST, &url, None),
            SigningParams { callback: Some(cb), ..Default::default() },
        )
    };
    assert!(fx.server.issue_temporary_credential(&temp_with(&at_limit)).await.is_ok());
    let r = fx.server.issue_temporary_credential(&temp_with(&over)).await;
    assert!(
        matches!(r, Err(ProviderError::InvalidRequest(InvalidRequest::TooLong("oauth_callback")))),
        "{r:?}"
    );
    let resp = fx.server.create_temporary_credential_response(&temp_with(&"a".repeat(400_000))).await;
    assert_response(&resp, "invalid_request", 400);
}

/// Past the configured number of pending temporary credentials, a client gets `429` with
/// `Retry-After` and nothing is stored; authorizing, exchanging or expiry frees places.
#[tokio::test]
async fn pending_temporary_credentials_are_capped_per_client() {
    let config = ProviderConfig::default().with_max_pending_temporary_credentials(Some(2));
    let fx = fixture_with(config, all_methods()).await;
    let s = client1();
    let first = fx.server.issue_temporary_credential(&temp_request(&s)).await.unwrap();
    fx.server.issue_temporary_credential(&temp_request(&s)).await.unwrap();
    let refused = fx.server.issue_temporary_credential(&temp_request(&s)).await;
    assert_error(refused, "too_many_requests", 429);
    let resp = fx.server.create_temporary_credential_response(&temp_request(&s)).await;
    assert_response(&resp, "too_many_requests", 429);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    // Another client is not affected.
    let two = signer("client2", "secret2", "HMAC-SHA1", SignatureType::Header);
    fx.server.issue_temporary_credential(&temp_request(&two)).await.unwrap();

    // Authorizing one frees its place.
    let auth = request(Method::GET, &format!("{BASE}/oauth/authorize?oauth_token={}", first.token), None);
    fx.server.create_authorization_response(&auth, Consent::Grant { user_id: "alice" }).await.unwrap();
    fx.server.issue_temporary_credential(&temp_request(&s)).await.unwrap();
    assert_error(fx.server.issue_temporary_credential(&temp_request(&s)).await, "too_many_requests", 429);
    // Expiry frees them all.
    fx.clock.set(NOW + 24 * 3600 + 1);
    for _ in 0..2 {
        let req = sign_at(
            &s,
            request(Method::POST, &format!("{BASE}/oauth/request_token"), None),
            SigningParams { callback: Some(CALLBACK), ..Default::default() },
            NOW + 24 * 3600 + 1,
        );
        fx.server.issue_temporary_credential(&req).await.unwrap();
    }
}

/// A grant the user revoked (`TokenCredentialStore::revoke_token_credential`) no longer
/// authenticates: the token's next request is `401 invalid_token`; other grants stand.
#[tokio::test]
async fn a_revoked_grant_is_refused_at_once() {
    use keyward::oauth1::rfc5849::store::TokenCredentialStore;
    let fx = fixture().await;
    let s = client1();
    let kept = token_for(&fx, &s).await;
    let revoked = token_for(&fx, &s).await;
    let grants = fx.store.token_credentials_of_user("alice").await.unwrap();
    assert_eq!(grants.len(), 2);
    assert!(grants.iter().all(|g| g.client_id == "client1" && g.user_id == "alice"));
    assert!(fx.protector.validate_request(&resource_request(&s, &revoked)).await.is_ok());
    // Someone else cannot revoke alice's grant.
    assert!(!fx.store.revoke_token_credential("bob", &revoked.token).await.unwrap());
    assert!(fx.protector.validate_request(&resource_request(&s, &revoked)).await.is_ok());
    assert!(fx.store.revoke_token_credential("alice", &revoked.token).await.unwrap());
    assert_error(fx.protector.validate_request(&resource_request(&s, &revoked)).await, "invalid_token", 401);
    assert!(fx.protector.validate_request(&resource_request(&s, &kept)).await.is_ok());
    assert_eq!(fx.store.token_credentials_of_user("alice").await.unwrap().len(), 1);
}

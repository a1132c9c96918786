//! Pushed authorization requests (RFC 9126) and DPoP (RFC 9449) in the driver and the
//! registry, against a closure `HttpClient` that plays the provider: what is pushed and
//! where the user is sent, typed PAR errors, proofs on token requests, refreshes and
//! resource calls, exactly one retry on `use_dpop_nonce`, nonces remembered per server, and
//! a bound token never sent as `Bearer`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward::common::clock::FixedClock;
use keyward::common::secret::SecretString;
use keyward::oauth2::rfc9449;
use keyward::{HttpClient, HttpError};
use keyward_client::oauth2::{
    ClientError, DpopKey, Endpoint, OAuth2Client, OAuth2Config, OAuth2Session, Token,
};
use keyward_client::registry::{AppConfig, Error, ErrorKind, OAuth};
use keyward_client::session::MemorySession;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const ISS: &str = "https://op.example";
const NOW: i64 = 1_700_000_000;

type Req = http::Request<Vec<u8>>;
type Resp = http::Response<Vec<u8>>;
type Log = Arc<Mutex<Vec<Req>>>;

fn provider(route: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> (Arc<dyn HttpClient>, Log) {
    let log: Log = Arc::default();
    let log2 = log.clone();
    let client = move |req: Req| {
        let resp = route(&req);
        log2.lock().unwrap().push(req);
        async move { Ok::<_, HttpError>(resp) }
    };
    (Arc::new(client), log)
}

fn json_resp(status: u16, body: Value, headers: &[(&str, &str)]) -> Resp {
    let mut b = http::Response::builder().status(status).header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.to_string().into_bytes()).unwrap()
}

fn metadata(extra: Value) -> Value {
    let mut doc = json!({
        "issuer": ISS,
        "authorization_endpoint": "https://op.example/auth",
        "token_endpoint": "https://op.example/token",
        "userinfo_endpoint": "https://api.example/me",
        "pushed_authorization_request_endpoint": "https://op.example/par",
    });
    doc.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    doc
}

fn form(r: &Req) -> Vec<(String, String)> {
    keyward::common::encoding::parse_form(std::str::from_utf8(r.body()).unwrap()).unwrap()
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn config() -> OAuth2Config {
    let mut c = OAuth2Config::new("client-1");
    c.client_secret = Some(SecretString::new("s3cret"));
    c.server_metadata_url = Some(format!("{ISS}/.well-known/openid-configuration"));
    c.scope = Some("profile".into());
    c.pkce = Some(keyward_client::oauth2::ChallengeMethod::S256);
    c
}

fn client(config: OAuth2Config, http: Arc<dyn HttpClient>) -> OAuth2Client {
    OAuth2Client::new(config, http).unwrap().with_clock(Arc::new(FixedClock::new(NOW)))
}

/// The header and claims of a proof.
fn proof_parts(req: &Req) -> (Value, Value) {
    let proof = req.headers().get("dpop").expect("a DPoP proof").to_str().unwrap();
    let part = |i: usize| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(proof.split('.').nth(i).unwrap()).unwrap()).unwrap()
    };
    (part(0), part(1))
}

fn par_route(req: &Req) -> Option<Resp> {
    match req.uri().path() {
        "/.well-known/openid-configuration" => Some(json_resp(200, metadata(json!({})), &[])),
        "/par" => Some(json_resp(201, json!({"request_uri": "urn:r:abc", "expires_in": 60}), &[])),
        _ => None,
    }
}

#[tokio::test]
async fn par_pushes_the_parameters_and_redirects_with_the_reference_only() {
    let (http, log) = provider(|req| par_route(req).unwrap());
    let mut cfg = config();
    cfg.use_par = Some(true);
    let c = client(cfg, http);
    let auth = c.authorization_url(Some("https://app.example/cb"), &[("prompt", "login")]).await.unwrap();
    assert_eq!(auth.url, "https://op.example/auth?client_id=client-1&request_uri=urn%3Ar%3Aabc");
    let log = log.lock().unwrap();
    let par = log.iter().find(|r| r.uri().path() == "/par").expect("a PAR request");
    assert_eq!(par.method(), http::Method::POST);
    assert!(par.headers()["authorization"].to_str().unwrap().starts_with("Basic "), "client auth");
    let p = form(par);
    assert_eq!(param(&p, "state"), Some(auth.state.as_str()));
    assert_eq!(param(&p, "redirect_uri"), Some("https://app.example/cb"));
    assert_eq!(param(&p, "scope"), Some("profile"));
    assert_eq!(param(&p, "prompt"), Some("login"));
    assert_eq!(param(&p, "code_challenge_method"), Some("S256"));
    let verifier = auth.flow.code_verifier.as_ref().unwrap();
    assert_eq!(
        param(&p, "code_challenge"),
        Some(verifier.challenge(keyward_client::oauth2::ChallengeMethod::S256).as_str())
    );
    assert_eq!(param(&p, "client_id"), Some("client-1"));
}

#[tokio::test]
async fn par_when_offered_unless_turned_off_and_always_when_required() {
    // The endpoint alone turns PAR on when `use_par` is unset.
    let (http, log) = provider(|req| par_route(req).unwrap());
    let auth = client(config(), http).authorization_url(None, &[]).await.unwrap();
    assert!(auth.url.ends_with("request_uri=urn%3Ar%3Aabc"), "{}", auth.url);
    assert!(log.lock().unwrap().iter().any(|r| r.uri().path() == "/par"));

    // `use_par = false`: the plain URL, nothing pushed.
    let (http, log) = provider(|req| par_route(req).unwrap());
    let mut cfg = config();
    cfg.use_par = Some(false);
    let auth = client(cfg, http).authorization_url(None, &[]).await.unwrap();
    assert!(auth.url.contains("state="), "{}", auth.url);
    assert!(log.lock().unwrap().iter().all(|r| r.uri().path() != "/par"));

    // No endpoint offered, `use_par` unset: the plain URL.
    let (http, _) = provider(|_| {
        json_resp(200, json!({"issuer": ISS, "authorization_endpoint": "https://op.example/auth"}), &[])
    });
    let auth = client(config(), http).authorization_url(None, &[]).await.unwrap();
    assert!(auth.url.contains("state="), "{}", auth.url);

    // `require_pushed_authorization_requests` wins over `use_par = false`.
    let (http, log) = provider(|req| match req.uri().path() {
        "/.well-known/openid-configuration" => {
            json_resp(200, metadata(json!({"require_pushed_authorization_requests": true})), &[])
        }
        _ => par_route(req).unwrap(),
    });
    let mut cfg = config();
    cfg.use_par = Some(false);
    let auth = client(cfg, http).authorization_url(None, &[]).await.unwrap();
    assert!(auth.url.ends_with("request_uri=urn%3Ar%3Aabc"), "{}", auth.url);
    assert!(log.lock().unwrap().iter().any(|r| r.uri().path() == "/par"));

    // PAR on with no endpoint to push to: refused, not sent in the clear.
    let (http, _) = provider(|_| {
        json_resp(200, json!({"issuer": ISS, "authorization_endpoint": "https://op.example/auth"}), &[])
    });
    let mut cfg = config();
    cfg.use_par = Some(true);
    let e = client(cfg, http).authorization_url(None, &[]).await.unwrap_err();
    assert!(matches!(e, ClientError::Config(_)), "{e:?}");
}

#[tokio::test]
async fn par_errors_are_typed_with_their_status() {
    for (status, body, http_status, kind) in [
        (
            400,
            json!({"error": "invalid_request", "error_description": "bad redirect_uri"}),
            500,
            ErrorKind::Internal,
        ),
        (400, json!({"error": "temporarily_unavailable"}), 503, ErrorKind::Provider),
        (500, json!({"oops": true}), 502, ErrorKind::Provider),
        (201, json!({"expires_in": 60}), 502, ErrorKind::Provider),
    ] {
        let body2 = body.clone();
        let (http, _) = provider(move |req| match req.uri().path() {
            "/par" => json_resp(status, body2.clone(), &[]),
            _ => par_route(req).unwrap(),
        });
        let mut cfg = config();
        cfg.use_par = Some(true);
        let e = client(cfg, http.clone()).authorization_url(None, &[]).await.unwrap_err();
        assert!(matches!(e, ClientError::PushedAuthorization(_)), "{e:?}");
        assert_eq!(e.code(), body["error"].as_str());

        let oauth = OAuth::builder().http_client(http).build();
        let app = oauth
            .register(
                "op",
                AppConfig {
                    client_id: Some("client-1".into()),
                    client_secret: Some(SecretString::new("s3cret")),
                    server_metadata_url: Some(format!("{ISS}/.well-known/openid-configuration")),
                    use_par: Some(true),
                    ..AppConfig::default()
                },
            )
            .unwrap();
        let e = app.authorize_redirect(&MemorySession::new(), "https://app.example/cb").await.unwrap_err();
        assert!(matches!(e, Error::PushedAuthorization(_)), "{e:?}");
        assert_eq!((e.status().as_u16(), e.kind()), (http_status, kind), "{body}");
    }
}

/// A token endpoint that wants a nonce: `use_dpop_nonce` for a proof without `nonce-1`.
fn dpop_route(req: &Req) -> Resp {
    let nonce_header = [("DPoP-Nonce", "nonce-1")];
    match req.uri().path() {
        "/.well-known/openid-configuration" => json_resp(200, metadata(json!({})), &[]),
        "/token" => {
            let (_, claims) = proof_parts(req);
            if claims["nonce"] != "nonce-1" {
                return json_resp(400, json!({"error": "use_dpop_nonce"}), &nonce_header);
            }
            let at = if param(&form(req), "grant_type") == Some("refresh_token") { "at-2" } else { "at-1" };
            json_resp(
                200,
                json!({"access_token": at, "token_type": "DPoP", "expires_in": 300, "refresh_token": "rt"}),
                &nonce_header,
            )
        }
        path => {
            // A resource server with a nonce of its own.
            let (_, claims) = proof_parts(req);
            if claims["nonce"] != "rs-nonce" {
                let mut r = json_resp(401, json!({}), &[("DPoP-Nonce", "rs-nonce")]);
                r.headers_mut().insert(
                    "www-authenticate",
                    http::HeaderValue::from_static(r#"DPoP error="use_dpop_nonce", algs="ES256""#),
                );
                return r;
            }
            json_resp(200, json!({"sub": "alice", "path": path}), &[])
        }
    }
}

#[tokio::test]
async fn dpop_token_refresh_and_resource_calls_with_one_nonce_retry_each() {
    let (http, log) = provider(dpop_route);
    let mut cfg = config();
    cfg.dpop = true;
    let c = Arc::new(client(cfg, http));
    let key = c.dpop_key().expect("a generated key").clone();
    assert_eq!(key.public_jwk()["crv"], "P-256", "ES256 by default");

    let token = c.client_credentials(None).await.unwrap();
    assert_eq!(token.token_type, "DPoP");
    assert_eq!(token.dpop_jkt.as_deref(), Some(key.thumbprint()), "bound to the client's key");
    {
        let log = log.lock().unwrap();
        let token_calls: Vec<&Req> = log.iter().filter(|r| r.uri().path() == "/token").collect();
        assert_eq!(token_calls.len(), 2, "one retry with the server's nonce");
        let (header, first) = proof_parts(token_calls[0]);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["jwk"], Value::Object(key.public_jwk().clone()));
        assert_eq!(
            (first["htm"].as_str(), first["htu"].as_str()),
            (Some("POST"), Some("https://op.example/token"))
        );
        assert_eq!(first["iat"], NOW);
        assert!(first.get("ath").is_none() && first.get("nonce").is_none(), "{first}");
        let (_, second) = proof_parts(token_calls[1]);
        assert_eq!(second["nonce"], "nonce-1");
        assert_ne!(first["jti"], second["jti"], "a fresh proof per request");
    }
    assert_eq!(c.dpop_nonce("https://op.example/anything").as_deref(), Some("nonce-1"));

    // A resource call: the DPoP scheme, `ath`, and the resource server's own nonce.
    log.lock().unwrap().clear();
    let session = OAuth2Session::new(c.clone(), token.clone());
    let r = session
        .request(http::Request::get("https://api.example/items?page=2").body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 2, "exactly one retry");
        for req in log.iter() {
            assert_eq!(req.headers()["authorization"], "DPoP at-1");
            let (_, claims) = proof_parts(req);
            assert_eq!(claims["ath"], rfc9449::ath("at-1"));
            assert_eq!(claims["htu"], "https://api.example/items");
            assert_eq!(claims["htm"], "GET");
        }
        assert_eq!(proof_parts(&log[1]).1["nonce"], "rs-nonce");
    }
    // Remembered per server: the next call sends each server's nonce at once.
    log.lock().unwrap().clear();
    session
        .request(http::Request::post("https://api.example/x").body(b"{}".to_vec()).unwrap())
        .await
        .unwrap();
    assert_eq!(log.lock().unwrap().len(), 1);
    assert_eq!(c.dpop_nonce("https://api.example/").as_deref(), Some("rs-nonce"));
    assert_eq!(c.dpop_nonce("https://op.example/").as_deref(), Some("nonce-1"));

    // userinfo goes the same way.
    let info = c.userinfo(&token).await.unwrap();
    assert_eq!(info["sub"], "alice");

    // Refresh: a proof (with the nonce already known), the new token bound too.
    log.lock().unwrap().clear();
    assert_eq!(c.endpoint(Endpoint::Token).await.unwrap(), "https://op.example/token");
    let fresh = c.refresh_token(&token).await.unwrap();
    assert_eq!(fresh.access_token.secret(), "at-2");
    assert_eq!(fresh.dpop_jkt.as_deref(), Some(key.thumbprint()));
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    let (_, claims) = proof_parts(&log[0]);
    assert_eq!((claims["htm"].as_str(), claims["nonce"].as_str()), (Some("POST"), Some("nonce-1")));
}

#[tokio::test]
async fn a_nonce_challenge_is_answered_exactly_once() {
    // A server that always wants another nonce.
    let (http, log) = provider(|req| match req.uri().path() {
        "/token" => json_resp(400, json!({"error": "use_dpop_nonce"}), &[("DPoP-Nonce", "again")]),
        _ => {
            let mut r = json_resp(401, json!({}), &[("DPoP-Nonce", "again")]);
            r.headers_mut()
                .insert("www-authenticate", http::HeaderValue::from_static(r#"DPoP error="use_dpop_nonce""#));
            r
        }
    });
    let mut cfg = config();
    cfg.server_metadata_url = None;
    cfg.token_url = Some("https://op.example/token".into());
    cfg.authorize_url = Some("https://op.example/auth".into());
    cfg.dpop = true;
    let c = Arc::new(client(cfg, http));
    let e = c.client_credentials(None).await.unwrap_err();
    assert_eq!(e.code(), Some("use_dpop_nonce"));
    assert_eq!(log.lock().unwrap().len(), 2);

    log.lock().unwrap().clear();
    let mut token = Token::bearer("at");
    token.token_type = "DPoP".into();
    let r = c
        .call_with_token(http::Request::get("https://api.example/").body(Vec::new()).unwrap(), &token)
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the API's answer is returned");
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_bound_token_is_never_sent_as_bearer() {
    let (http, log) = provider(|_| json_resp(200, json!({}), &[]));
    let mut cfg = config();
    cfg.server_metadata_url = None;
    let plain = Arc::new(client(cfg.clone(), http.clone()));
    let get = || http::Request::get("https://api.example/").body(Vec::new()).unwrap();

    let mut dpop_token = Token::bearer("at");
    dpop_token.token_type = "dpop".into();
    let e = plain.call_with_token(get(), &dpop_token).await.unwrap_err();
    assert!(matches!(e, ClientError::DpopKeyMissing), "{e:?}");
    let mut req = get();
    assert!(plain.authorize_request(&mut req, &dpop_token).is_err());
    assert!(req.headers().get("authorization").is_none());
    // A token that records its key is bound whatever its type says.
    let mut relabelled = Token::bearer("at");
    relabelled.dpop_jkt = Some("some-key".into());
    assert!(matches!(plain.call_with_token(get(), &relabelled).await, Err(ClientError::DpopKeyMissing)));
    assert!(matches!(
        OAuth2Session::new(plain.clone(), dpop_token.clone()).request(get()).await,
        Err(ClientError::DpopKeyMissing)
    ));
    assert!(log.lock().unwrap().is_empty(), "nothing was sent");

    // With a key, but not the one the token is bound to.
    cfg.dpop = true;
    let other = Arc::new(client(cfg, http));
    let e = other.call_with_token(get(), &relabelled).await.unwrap_err();
    assert!(matches!(&e, ClientError::DpopKeyMismatch { token, .. } if token == "some-key"), "{e:?}");
    assert!(log.lock().unwrap().is_empty());
    // The relabelled token with the right key goes with the DPoP scheme.
    relabelled.dpop_jkt = Some(other.dpop_key().unwrap().thumbprint().to_owned());
    other.call_with_token(get(), &relabelled).await.unwrap();
    assert_eq!(log.lock().unwrap()[0].headers()["authorization"], "DPoP at");
    // A plain bearer token stays a bearer token, with no proof.
    plain.call_with_token(get(), &Token::bearer("b")).await.unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log[1].headers()["authorization"], "Bearer b");
    assert!(log[1].headers().get("dpop").is_none());
}

#[tokio::test]
async fn the_registry_takes_dpop_from_config_and_a_key_from_pem() {
    let key = DpopKey::generate().unwrap();
    let (http, _) = provider(dpop_route);
    let oauth = OAuth::builder().http_client(http).clock(Arc::new(FixedClock::new(NOW))).build();
    let base = AppConfig {
        client_id: Some("client-1".into()),
        client_secret: Some(SecretString::new("s3cret")),
        server_metadata_url: Some(format!("{ISS}/.well-known/openid-configuration")),
        ..AppConfig::default()
    };
    let app =
        oauth.register("keyed", AppConfig { dpop_key: Some(key.to_pkcs8_pem()), ..base.clone() }).unwrap();
    let driver = app.oauth2().unwrap();
    assert_eq!(driver.dpop_key().unwrap().thumbprint(), key.thumbprint(), "the key given");
    let token = driver.client_credentials(None).await.unwrap();
    assert_eq!(token.dpop_jkt.as_deref(), Some(key.thumbprint()));
    let me = app.get("https://api.example/me").token(token.into()).send_json().await.unwrap();
    assert_eq!(me["sub"], "alice");

    let generated = oauth.register("gen", AppConfig { dpop: true, ..base.clone() }).unwrap();
    assert_ne!(generated.oauth2().unwrap().dpop_key().unwrap().thumbprint(), key.thumbprint());
    assert!(oauth.register("off", base.clone()).unwrap().oauth2().unwrap().dpop_key().is_none());
    let e = oauth
        .register("bad", AppConfig { dpop_key: Some(SecretString::new("not a key")), ..base })
        .unwrap_err();
    assert!(e.to_string().contains("dpop_key"), "{e}");
}

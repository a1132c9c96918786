//! DPoP (RFC 9449) and PAR (RFC 9126) through the actix-web glue on 127.0.0.1: a token bound
//! to a key at the token endpoint, the bound token at a resource with a proof (after the
//! server's nonce, when it asks), refused as `Bearer` and when its proof is replayed; and the
//! PAR endpoint's `201`.

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward::common::encoding::encode_form;
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, GrantType, OAuth2Provider, RegisteredClient, ServerConfig,
};
use keyward_actix::oauth2_provider::{OAuth2Bearer, token_endpoint};
use keyward_stores::MemoryStore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const REDIRECT: &str = "https://web.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

async fn me(auth: OAuth2Bearer) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": auth.subject, "client_id": auth.client_id, "scope": auth.scopes }))
}

struct TestServer {
    base: String,
    http: reqwest::Client,
}

impl TestServer {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_form(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form(pairs.iter().copied()).into_bytes());
        if let Some((id, secret)) = basic {
            r = r.header("authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
        }
        r.send().await.unwrap()
    }

    async fn bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn json(r: reqwest::Response) -> Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null)
}

/// A server with PAR and DPoP on, for `web` (client_credentials); its base URL.
async fn start_dpop() -> TestServer {
    use keyward::oauth2::provider::{DpopConfig, ParConfig};
    use keyward_actix::oauth2_provider::pushed_authorization_endpoint;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    let web_client = RegisteredClient::confidential("web", "web-secret")
        .with_redirect_uris([REDIRECT])
        .with_scopes(["read"])
        .with_grant_types([GrantType::ClientCredentials, GrantType::AuthorizationCode]);
    store.create_registered_client(&web_client).await.unwrap();
    let server = AuthorizationServer::builder(store.clone(), ServerConfig::new(base.clone()))
        .pushed_requests(store, ParConfig::new(&base))
        .dpop(DpopConfig::new())
        .build();
    let provider = OAuth2Provider::new(server);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(provider.clone()))
            .route("/par", web::route().to(pushed_authorization_endpoint))
            .route("/token", web::route().to(token_endpoint))
            .route("/api/me", web::get().to(me))
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
async fn dpop_bound_tokens_and_par_through_the_glue() {
    use keyward::common::random::OsRandom;
    use keyward::oauth2::rfc9449::{DpopKey, add_dpop_token, nonce_challenge};
    let s = start_dpop().await;
    let key = DpopKey::generate().unwrap();
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let token_url = s.url("/token");
    // A proof for the token endpoint; a client answers use_dpop_nonce once (RFC 9449 §8).
    let mut nonce: Option<String> = None;
    let mut token = None;
    for _ in 0..2 {
        let proof =
            key.proof(&http::Method::POST, &token_url, now(), &OsRandom, None, nonce.as_deref()).unwrap();
        let r = s
            .http
            .post(&token_url)
            .basic_auth("web", Some("web-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("dpop", proof)
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.unwrap().to_vec();
        let mut response = http::Response::new(body.clone());
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
        for (k, v) in &headers {
            response
                .headers_mut()
                .insert(k.as_str().parse::<http::HeaderName>().unwrap(), v.as_bytes().try_into().unwrap());
        }
        if let Some(n) = nonce_challenge(&response) {
            nonce = Some(n);
            continue;
        }
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        token = Some(serde_json::from_slice::<Value>(&body).unwrap());
        break;
    }
    let token = token.expect("a token");
    assert_eq!(token["token_type"], "DPoP");
    let access = token["access_token"].as_str().unwrap();

    // The resource: with the DPoP scheme and a proof of the key, for this URL (and the
    // server's nonce, if it asks for one).
    let me_url = s.url("/api/me");
    let mut nonce: Option<String> = None;
    let mut proof = String::new();
    for attempt in 0..2 {
        proof =
            key.proof(&http::Method::GET, &me_url, now(), &OsRandom, Some(access), nonce.as_deref()).unwrap();
        let mut req = http::Request::get(&me_url).body(Vec::new()).unwrap();
        add_dpop_token(&mut req, access, &proof).unwrap();
        let mut call = s.http.get(&me_url);
        for (k, v) in req.headers() {
            call = call.header(k.as_str(), v.as_bytes());
        }
        let r = call.send().await.unwrap();
        if attempt == 0 && r.status() == 401 && header(&r, "www-authenticate").contains("use_dpop_nonce") {
            nonce = Some(header(&r, "dpop-nonce"));
            continue;
        }
        assert_eq!(r.status(), 200, "{:?}", r.headers());
        break;
    }
    // As Bearer: refused, with a DPoP challenge.
    let r = s.bearer("/api/me", access).await;
    assert_eq!(r.status(), 401);
    let www = header(&r, "www-authenticate");
    assert!(www.starts_with("DPoP ") && www.contains("error=\"invalid_token\""), "{www}");
    // The same proof again (replayed): refused.
    let r = s
        .http
        .get(&me_url)
        .header("authorization", format!("DPoP {access}"))
        .header("dpop", &proof)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").contains("invalid_dpop_proof"));

    // PAR: 201 with a request_uri.
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let r = s
        .post_form(
            "/par",
            &[
                ("response_type", "code"),
                ("scope", "read"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            Some(("web", "web-secret")),
        )
        .await;
    assert_eq!(r.status(), 201);
    let body = json(r).await;
    assert!(body["request_uri"].as_str().unwrap().starts_with("urn:ietf:params:oauth:request_uri:"));
    assert_eq!(body["expires_in"], 60);
}

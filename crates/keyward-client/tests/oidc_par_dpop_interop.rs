//! Pushed authorization requests (RFC 9126) and DPoP (RFC 9449) against npm's
//! `oidc-provider` on 127.0.0.1: a login through PAR, DPoP-bound tokens through the code
//! exchange, refresh and userinfo, and the same with PAR required and DPoP nonces required
//! (tests/peers/oidc/server.mjs, profile `par-dpop-nonce`).
//!
//! Needs node and `oidc-provider` in `<peers>/node/node_modules` (`.ci/run` installs it);
//! skipped visibly without them, failed under `CI=true`.

use keyward::HttpClient;
use keyward::common::secret::SecretString;
use keyward_client::ReqwestClient;
use keyward_client::oauth2::{
    ChallengeMethod, ClientAuthMethod, ClientError, Endpoint, OAuth2Client, OAuth2Config, Token,
};
use keyward_testkit::peers::{Browser, OIDC_REDIRECT as REDIRECT, OIDC_SECRET as SECRET, OidcPeer};
use keyward_testkit::require_or_skip;
use std::sync::{Arc, Mutex};

macro_rules! peer {
    ($profile:expr) => {
        require_or_skip!(
            OidcPeer::start_profile($profile),
            "node and npm oidc-provider",
            "run .ci/run, or `npm ci` tests/peers/node into .peers/node"
        )
    };
}

fn config(issuer: &str, client_id: &str, method: ClientAuthMethod) -> OAuth2Config {
    let mut c = OAuth2Config::new(client_id);
    c.server_metadata_url = Some(format!("{issuer}/.well-known/openid-configuration"));
    c.scope = Some("openid email profile offline_access".into());
    c.pkce = Some(ChallengeMethod::S256);
    c.authorize_params.insert("prompt".into(), "consent".into());
    match method {
        ClientAuthMethod::None => {}
        ClientAuthMethod::PrivateKeyJwt => {
            let pem = std::fs::read_to_string(keyward_testkit::jose::key_path("oidc_client.pem")).unwrap();
            c.private_key = Some(SecretString::new(pem));
            c.private_key_kid = Some("client-key".into());
        }
        _ => c.client_secret = Some(SecretString::new(SECRET)),
    }
    c.auth_method = Some(method);
    c.dpop = true;
    c
}

/// Logs `login` in through the client (PAR when on) and exchanges the code.
async fn login(peer: &OidcPeer, client: &OAuth2Client, login: &str) -> Token {
    let auth = client.authorization_url(Some(REDIRECT), &[]).await.unwrap();
    let url = url::Url::parse(&auth.url).unwrap();
    let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(names, ["client_id", "request_uri"], "pushed: only the reference in {}", auth.url);
    let query = Browser::new().login_at_oidc(&auth.url, login).await;
    let callback = keyward_client::flow::Callback::from_query(&query).unwrap();
    assert_eq!(callback.state(), Some(auth.state.as_str()));
    assert_eq!(callback.get("iss"), Some(peer.issuer.as_str()));
    client.exchange_callback(&callback, &auth.flow).await.unwrap()
}

/// The token is DPoP-bound, to this client's key, and the provider agrees on the key.
async fn assert_bound(client: &OAuth2Client, token: &Token, who: &str) {
    let key = client.dpop_key().unwrap();
    assert_eq!(token.token_type, "DPoP", "{who}");
    assert_eq!(token.dpop_jkt.as_deref(), Some(key.thumbprint()), "{who}");
    let info = client.userinfo(token).await.unwrap_or_else(|e| panic!("{who}: userinfo: {e}"));
    assert_eq!(info["email"], format!("{who}@example.com"));
}

#[tokio::test]
async fn par_login_and_dpop_tokens_through_exchange_refresh_and_userinfo() {
    let peer = peer!(None);
    let mut cfg = config(&peer.issuer, "basic", ClientAuthMethod::ClientSecretBasic);
    cfg.use_par = Some(true);
    let client = OAuth2Client::new(cfg, Arc::new(ReqwestClient::new())).unwrap();
    let meta = client.server_metadata().await.unwrap();
    assert!(meta.pushed_authorization_request_endpoint.is_some());
    assert!(!meta.require_pushed_authorization_requests);

    let token = login(&peer, &client, "alice").await;
    assert_eq!(token.userinfo.as_ref().unwrap()["sub"], "alice", "validated ID token");
    assert_bound(&client, &token, "alice").await;

    // The provider bound the token to the key whose thumbprint Keyward computes.
    let i = client.introspect_token(token.access_token.secret(), Some("access_token")).await.unwrap();
    assert!(i.active);
    assert_eq!(i.extra["cnf"]["jkt"], client.dpop_key().unwrap().thumbprint());

    // Sent as a bearer token (by hand: Keyward refuses to), the provider refuses it.
    let userinfo = client.endpoint(Endpoint::Userinfo).await.unwrap();
    let bearer =
        reqwest::Client::new().get(&userinfo).bearer_auth(token.access_token.secret()).send().await.unwrap();
    assert_eq!(bearer.status(), 401);
    let plain = OAuth2Client::new(
        OAuth2Config { dpop: false, ..config(&peer.issuer, "basic", ClientAuthMethod::ClientSecretBasic) },
        Arc::new(ReqwestClient::new()),
    )
    .unwrap();
    assert!(matches!(plain.userinfo(&token).await, Err(ClientError::DpopKeyMissing)));

    // Automatic refresh: a proof on the refresh request, a new bound token.
    let mut expired = token.clone();
    expired.expires_at = Some(client.now() - 1);
    let fresh = client.ensure_fresh(&expired).await.unwrap();
    assert_ne!(fresh.access_token, token.access_token);
    assert_bound(&client, &fresh, "alice").await;
}

/// What the provider answered: (path, status, whether it asked for a DPoP nonce).
type Answers = Arc<Mutex<Vec<(String, u16, bool)>>>;

/// The real transport, with each answer noted.
fn noting_transport() -> (Arc<dyn HttpClient>, Answers) {
    let answers: Answers = Arc::default();
    let inner = Arc::new(ReqwestClient::new());
    let noted = answers.clone();
    let http = move |req: http::Request<Vec<u8>>| {
        let inner = inner.clone();
        let noted = noted.clone();
        async move {
            let path = req.uri().path().to_owned();
            let response = inner.call(req).await?;
            let challenge = keyward::oauth2::rfc9449::nonce_challenge(&response).is_some();
            noted.lock().unwrap().push((path, response.status().as_u16(), challenge));
            Ok::<_, keyward::HttpError>(response)
        }
    };
    (Arc::new(http), answers)
}

#[tokio::test]
async fn required_par_and_required_dpop_nonces() {
    let peer = peer!(Some("par-dpop-nonce"));
    for (id, method) in [("public", ClientAuthMethod::None), ("pkjwt", ClientAuthMethod::PrivateKeyJwt)] {
        // `use_par` off: the metadata's requirement turns PAR on.
        let (http, answers) = noting_transport();
        let client = OAuth2Client::new(config(&peer.issuer, id, method.clone()), http).unwrap();
        assert!(client.server_metadata().await.unwrap().require_pushed_authorization_requests);
        let token = login(&peer, &client, "bob").await;
        assert_eq!(token.userinfo.as_ref().unwrap()["aud"], id, "{method:?}");
        let token_endpoint = client.endpoint(Endpoint::Token).await.unwrap();
        assert!(client.dpop_nonce(&token_endpoint).is_some(), "{method:?}: the nonce is remembered");
        assert_bound(&client, &token, "bob").await;
        let fresh = client.refresh_token(&token).await.unwrap_or_else(|e| panic!("{method:?}: refresh: {e}"));
        assert_bound(&client, &fresh, "bob").await;
        // Only the first token request was asked for a nonce (userinfo is on the same
        // server, whose nonce the client remembers), and one retry answered it.
        let answers = answers.lock().unwrap();
        let challenged: Vec<&str> = answers.iter().filter(|a| a.2).map(|a| a.0.as_str()).collect();
        assert_eq!(challenged, ["/token"], "{method:?}: {answers:?}");
        for (i, a) in answers.iter().enumerate().filter(|(_, a)| a.2) {
            let next = &answers[i + 1];
            assert_eq!((next.0.as_str(), next.1 < 300, next.2), (a.0.as_str(), true, false), "{answers:?}");
        }
    }
}

//! Interop with npm's `oidc-provider` (OpenID Certified) on 127.0.0.1: code + PKCE with
//! each client authentication method it supports, ID-token validation, userinfo, refresh,
//! introspection and revocation. The login and consent pages are driven over plain HTTP.
//!
//! Needs node and `oidc-provider` in `<peers>/node/node_modules` (`.ci/run` installs it);
//! skipped visibly without them, failed under `CI=true`.

use keyward::common::secret::SecretString;
use keyward_client::ReqwestClient;
use keyward_client::oauth2::{
    ChallengeMethod, ClientAuthMethod, ClientError, CodeExchange, Endpoint, OAuth2Client, OAuth2Config,
    OAuth2Session, OldToken, Token,
};
use keyward_testkit::peers::{Browser, OIDC_REDIRECT as REDIRECT, OIDC_SECRET as SECRET, OidcPeer};
use keyward_testkit::require_or_skip;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

macro_rules! peer {
    () => {
        require_or_skip!(
            OidcPeer::start(),
            "node and npm oidc-provider",
            "run .ci/run, or `npm ci` tests/peers/node into .peers/node"
        )
    };
}

/// The value of an attribute in one HTML tag (whitespace already folded to spaces).
fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_owned())
}

/// The first form of a page: its action and the inputs to submit (every named input with
/// its value, `login`/`password` filled in for the login page).
/// A form to submit: its `action`, if it has one, and its fields.
type Form = (Option<String>, Vec<(String, String)>);

fn scrape_form(page: &str, login: &str) -> Option<Form> {
    let page = page.split_whitespace().collect::<Vec<_>>().join(" ");
    let form_at = page.find("<form")?;
    let form_tag = &page[form_at..form_at + page[form_at..].find('>')?];
    let mut fields = Vec::new();
    for chunk in page[form_at..].split("<input").skip(1) {
        let tag = format!(" {}", &chunk[..chunk.find('>').unwrap_or(chunk.len())]);
        let Some(name) = attr(&tag, "name") else { continue };
        let value = match (name.as_str(), attr(&tag, "value")) {
            (_, Some(v)) => v,
            ("login", None) => login.to_owned(),
            ("password", None) => "x".to_owned(),
            _ => continue,
        };
        fields.push((name, value));
    }
    Some((attr(&format!(" {form_tag}"), "action"), fields))
}

/// Plays the user's browser from `url`: follows redirects, submits each form it meets
/// (login as `login`, consent, the device code's confirmation) until a page without a form.
async fn submit_forms(url: &str, login: &str) -> String {
    let mut browser = Browser::new();
    let mut url = url.to_owned();
    let mut page = browser.get(&url).await;
    for _ in 0..30 {
        if let Some(location) = page.location.clone() {
            url = location;
            page = browser.get(&url).await;
            continue;
        }
        assert_eq!(page.status, 200, "unexpected page at {url}: {}", page.body);
        let Some((action, fields)) = scrape_form(&page.body, login) else { return page.body };
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let target = match action {
            Some(a) if a.starts_with('/') => {
                format!("{}{a}", url.split('/').take(3).collect::<Vec<_>>().join("/"))
            }
            Some(a) => a,
            None => url.clone(),
        };
        page = browser.post_form(&target, &fields).await;
        url = target;
    }
    panic!("the browser walk did not end");
}

/// Logs in through the authorization URL; returns the callback's parameters.
async fn browser_login(authorize_url: &str, login: &str) -> BTreeMap<String, String> {
    let query = Browser::new().login_at_oidc(authorize_url, login).await;
    keyward::common::encoding::parse_form(&query).unwrap().into_iter().collect()
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
    c
}

/// Logs `login` in through the client and exchanges the code.
async fn login(peer: &OidcPeer, client: &OAuth2Client, login: &str) -> Token {
    let auth = client.authorization_url(Some(REDIRECT), &[]).await.unwrap();
    let callback = browser_login(&auth.url, login).await;
    assert_eq!(callback.get("state"), Some(&auth.state));
    assert_eq!(callback.get("iss"), Some(&peer.issuer), "the provider sends RFC 9207 iss");
    // Through the registry's types: the callback as it arrives, the flow state as kept.
    let query = keyward::common::encoding::encode_form(&callback);
    let callback = keyward_client::flow::Callback::from_query(&query).unwrap();
    client.exchange_callback(&callback, &auth.flow).await.unwrap()
}

#[tokio::test]
async fn code_pkce_id_token_userinfo_refresh_introspect_revoke() {
    let peer = peer!();
    let client = OAuth2Client::new(
        config(&peer.issuer, "basic", ClientAuthMethod::ClientSecretBasic),
        Arc::new(ReqwestClient::new()),
    )
    .unwrap();
    let token = login(&peer, &client, "alice").await;
    let claims = token.userinfo.clone().expect("validated ID-token claims");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], "basic");
    assert!(token.refresh_token.is_some());

    let info = client.userinfo(&token).await.unwrap();
    assert_eq!((info["sub"].as_str(), info["email"].as_str()), (Some("alice"), Some("alice@example.com")));

    let introspection =
        client.introspect_token(token.access_token.secret(), Some("access_token")).await.unwrap();
    assert!(introspection.active);
    assert_eq!(introspection.sub.as_deref(), Some("alice"));

    // Automatic refresh of an expired token: a new access token, a validated ID token.
    let mut expired = token.clone();
    expired.expires_at = Some(client.now() - 1);
    let fresh = client.ensure_fresh(&expired).await.unwrap();
    assert_ne!(fresh.access_token, token.access_token);
    assert_eq!(fresh.userinfo.as_ref().unwrap()["sub"], "alice");

    let refresh = fresh.refresh_token.clone().unwrap();
    client.revoke_token(refresh.secret(), Some("refresh_token")).await.unwrap();
    let after = client.introspect_token(refresh.secret(), Some("refresh_token")).await.unwrap();
    assert!(!after.active, "revoked");
    let e = client.refresh_token(&fresh).await.unwrap_err();
    assert_eq!(e.code(), Some("invalid_grant"));
}

#[tokio::test]
async fn every_client_auth_method() {
    let peer = peer!();
    for (id, method) in [
        ("post", ClientAuthMethod::ClientSecretPost),
        ("jwt", ClientAuthMethod::ClientSecretJwt),
        ("pkjwt", ClientAuthMethod::PrivateKeyJwt),
        ("public", ClientAuthMethod::None),
    ] {
        let client =
            OAuth2Client::new(config(&peer.issuer, id, method.clone()), Arc::new(ReqwestClient::new()))
                .unwrap();
        let token = login(&peer, &client, "bob").await;
        assert_eq!(token.userinfo.as_ref().unwrap()["aud"], id, "{method:?}");
        let fresh = client.refresh_token(&token).await.unwrap_or_else(|e| panic!("{method:?}: refresh: {e}"));
        assert!(fresh.access_token != token.access_token, "{method:?}");
        if method != ClientAuthMethod::None {
            let i = client.introspect_token(fresh.access_token.secret(), None).await.unwrap();
            assert!(i.active, "{method:?}");
        }
    }
}

#[tokio::test]
async fn wrong_nonce_and_mixed_up_issuer_are_refused() {
    let peer = peer!();
    let client = OAuth2Client::new(
        config(&peer.issuer, "basic", ClientAuthMethod::ClientSecretBasic),
        Arc::new(ReqwestClient::new()),
    )
    .unwrap();
    let auth = client.authorization_url(Some(REDIRECT), &[]).await.unwrap();
    let callback = browser_login(&auth.url, "carol").await;
    let base = CodeExchange {
        code: &callback["code"],
        iss: Some("https://attacker.example"),
        redirect_uri: Some(REDIRECT),
        code_verifier: auth.flow.code_verifier.as_ref(),
        nonce: auth.flow.nonce.as_deref(),
        scope: None,
    };
    assert!(matches!(client.exchange_code(&base).await, Err(ClientError::Issuer(_))));
    let e = client
        .exchange_code(&CodeExchange { iss: Some(&peer.issuer), nonce: Some("not-the-flow-nonce"), ..base })
        .await
        .unwrap_err();
    assert_eq!(e.id_token_error(), Some(&keyward::oidc::IdTokenError::NonceMismatch));
}

#[tokio::test]
async fn device_flow_polls_until_the_user_approves() {
    let peer = peer!();
    let mut config = OAuth2Config::new("device");
    config.server_metadata_url = Some(format!("{}/.well-known/openid-configuration", peer.issuer));
    config.scope = Some("openid email".into());
    config.auth_method = Some(ClientAuthMethod::None);
    let client = Arc::new(OAuth2Client::new(config, Arc::new(ReqwestClient::new())).unwrap());
    let device = client.device_authorization(None).await.unwrap();
    assert!(device.verification_uri.starts_with(&peer.issuer));
    let poller = {
        let client = client.clone();
        let device = device.clone();
        tokio::spawn(async move { client.poll_device_token(&device).await })
    };
    // Approve only after the first poll has been answered `authorization_pending`.
    tokio::time::sleep(Duration::from_secs(device.interval + 1)).await;
    assert!(!poller.is_finished());
    let complete = device.verification_uri_complete.clone().expect("verification_uri_complete");
    let page = submit_forms(&complete, "dana").await;
    assert!(page.contains("Sign-in Success"), "{page}");
    let token = poller.await.unwrap().unwrap();
    assert_eq!(token.userinfo.as_ref().expect("validated ID token")["sub"], "dana");
    assert_eq!(client.userinfo(&token).await.unwrap()["email"], "dana@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_one_refresh_of_a_rotating_token() {
    const N: usize = 8;
    let peer = peer!();
    let updates: Arc<std::sync::Mutex<Vec<(Token, OldToken)>>> = Arc::default();
    let u2 = updates.clone();
    let client = Arc::new(
        OAuth2Client::new(
            config(&peer.issuer, "basic", ClientAuthMethod::ClientSecretBasic),
            Arc::new(ReqwestClient::new()),
        )
        .unwrap()
        .with_update_token(Arc::new(move |new: Token, old: OldToken| {
            u2.lock().unwrap().push((new, old));
            async { Ok(()) }
        })),
    );
    let token = login(&peer, &client, "erin").await;
    let mut expired = token.clone();
    expired.expires_at = Some(client.now() - 1);
    let userinfo_url = client.endpoint(Endpoint::Userinfo).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..N {
        let session = OAuth2Session::new(client.clone(), expired.clone());
        let url = userinfo_url.clone();
        tasks.push(tokio::spawn(async move {
            let response = session.request(http::Request::get(url).body(Vec::new()).unwrap()).await.unwrap();
            (response.status().as_u16(), session.token())
        }));
    }
    let mut access_tokens = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, token) = t.await.unwrap();
        assert_eq!(status, 200, "every request succeeds with the shared refresh");
        access_tokens.insert(token.access_token.secret().to_owned());
    }
    assert_eq!(access_tokens.len(), 1, "all requests use the one refreshed token");
    let (new, old) = {
        let updates = updates.lock().unwrap();
        assert_eq!(updates.len(), 1, "one refresh, one update_token call");
        updates[0].clone()
    };
    assert_eq!(old.refresh_token, token.refresh_token);
    assert_eq!(old.access_token, token.access_token);
    assert_ne!(new.refresh_token, token.refresh_token, "the provider rotated the refresh token");
    // The grant is intact (a second refresh with the old token would have revoked it)…
    let again = client.refresh_token(&new).await.unwrap();
    assert!(again.refresh_token.is_some());
    // …and the old refresh token is indeed spent.
    assert_eq!(client.refresh_token(&token).await.unwrap_err().code(), Some("invalid_grant"));
}

#[tokio::test]
async fn client_credentials_grant() {
    let peer = peer!();
    let mut config = config(&peer.issuer, "service", ClientAuthMethod::ClientSecretBasic);
    config.scope = None;
    let client = OAuth2Client::new(config, Arc::new(ReqwestClient::new())).unwrap();
    let token = client.client_credentials(None).await.unwrap();
    assert!(token.expires_at.is_some());
    let i = client.introspect_token(token.access_token.secret(), None).await.unwrap();
    assert!(i.active);
    assert_eq!(i.client_id.as_deref(), Some("service"));
}

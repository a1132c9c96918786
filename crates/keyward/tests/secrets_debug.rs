//! No secret leaves its box through `Debug`: every secret-bearing type, and every value and
//! error a full OAuth 1.0a flow (client signing + provider over the memory store) produces,
//! is formatted with `{:?}` and `{:#?}` and scanned for the secrets in play. The library
//! crates do not log, so `Debug` (what an application's `tracing::debug!(?x)` would print)
//! is the way a secret could reach a log.

use http::{Method, StatusCode, header};
use keyward::common::clock::FixedClock;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::provider::{AuthorizationServer, Consent, ProviderConfig};
use keyward::oauth1::rfc5849::store::{Client, TemporaryCredentialStore};
use keyward::oauth1::rfc5849::{
    ClientCredentials, HmacSha1, SignatureMethods, SignedRequest, Signer, SigningParams, TokenCredentials,
};
use keyward::oauth2::rfc6749::{AccessToken, RefreshToken, parse_token_response};
use keyward::oauth2::rfc7636::CodeVerifier;
use keyward::oauth2::rfc8628::DeviceCode;
use keyward_stores::{MemoryStore, StoreAdmin};
use std::fmt::Debug;
use std::sync::Arc;

const NOW: i64 = 1_700_000_000;
const BASE: &str = "http://127.0.0.1:8080";
const CLIENT_SECRET: &str = "cs-Zq81-client-secret-value";

/// Collects the `Debug` output of everything and checks it against the secrets at the end.
#[derive(Default)]
struct Scan {
    secrets: Vec<String>,
    seen: Vec<(String, String)>,
}

impl Scan {
    fn secret(&mut self, s: impl Into<String>) {
        let s = s.into();
        assert!(s.len() >= 8, "a secret too short to scan for: {s:?}");
        self.secrets.push(s);
    }

    fn debug(&mut self, what: &str, v: &impl Debug) {
        self.seen.push((what.to_owned(), format!("{v:?}")));
        self.seen.push((format!("{what} (pretty)"), format!("{v:#?}")));
    }

    fn assert_clean(&self) {
        assert!(self.seen.len() > 20, "too little was formatted to mean anything");
        for (what, text) in &self.seen {
            for s in &self.secrets {
                assert!(!text.contains(s.as_str()), "{what} leaks a secret in its Debug: {text}");
            }
        }
    }
}

fn post(url: &str) -> http::Request<Vec<u8>> {
    http::Request::builder().method(Method::POST).uri(url).body(Vec::new()).unwrap()
}

#[tokio::test]
async fn no_secret_in_debug_of_types_or_of_a_full_oauth1_flow() {
    let mut scan = Scan::default();
    scan.secret(CLIENT_SECRET);

    // The provider over the memory store.
    let store = Arc::new(MemoryStore::new());
    let mut client = Client::new("client1", SecretString::new(CLIENT_SECRET));
    client.default_redirect_uri = Some("https://client.example/default".into());
    store.put_client(&client).await.unwrap();
    store.purge_expired(NOW - 3600).await.unwrap(); // up for an hour (its replay epoch)
    let server = AuthorizationServer::builder(store.clone())
        .clock(FixedClock::new(NOW))
        .config(ProviderConfig::default())
        .signature_methods(SignatureMethods::default().allow_only(&["HMAC-SHA1"]))
        .build();
    let protector = server.resource_protector();
    scan.debug("Client", &client);
    scan.debug("AuthorizationServer", &server);
    scan.debug("ResourceProtector", &protector);
    scan.debug("ProviderConfig", server.config());
    scan.debug("MemoryStore", &*store);

    let creds = ClientCredentials::new("client1", CLIENT_SECRET);
    scan.debug("ClientCredentials", &creds);
    let signer = Signer::new(creds).method(HmacSha1);
    scan.debug("Signer", &signer);
    let mut nonce = 0u32;
    let mut sign = |req: http::Request<Vec<u8>>, params: SigningParams<'_>| {
        nonce += 1;
        signer.sign_at(req, &params, &NOW.to_string(), &format!("nonce{nonce}")).unwrap()
    };

    // §2.1 temporary credential.
    let params = SigningParams { callback: Some("https://client.example/cb"), ..Default::default() };
    let req = sign(post(&format!("{BASE}/oauth/request_token")), params);
    scan.debug("SignedRequest (temporary)", &SignedRequest::from_http(&req).unwrap());
    let temp = server.issue_temporary_credential(&req).await.unwrap();
    scan.secret(temp.secret.secret());
    scan.debug("TemporaryCredential", &temp);
    // The same request again: a replayed nonce.
    let replay = server.issue_temporary_credential(&req).await.unwrap_err();
    assert_eq!(replay.code(), "invalid_nonce");
    scan.debug("ProviderError (replay)", &replay);
    scan.debug("error response (replay)", &replay.to_response());

    // §2.2 authorization.
    let auth = http::Request::get(format!("{BASE}/oauth/authorize?oauth_token={}", temp.token))
        .body(Vec::new())
        .unwrap();
    let pending = server.check_authorization_request(&auth).await.unwrap();
    scan.debug("pending authorization", &pending);
    let resp =
        server.create_authorization_response(&auth, Consent::Grant { user_id: "alice" }).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = url::Url::parse(resp.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let verifier = location.query_pairs().find(|(k, _)| k == "oauth_verifier").unwrap().1.into_owned();
    scan.secret(&verifier);
    let stored = store.get_temporary_credential(&temp.token, NOW).await.unwrap().unwrap();
    assert!(stored.authorization.is_some());
    scan.debug("TemporaryCredential (authorized)", &stored);

    // §2.3 token: a wrong signature first (the temporary secret guessed wrong), then the
    // real exchange, then the same exchange again.
    let temp_creds = TokenCredentials::new(temp.token.clone(), temp.secret.secret());
    scan.debug("TokenCredentials (temporary)", &temp_creds);
    let wrong = TokenCredentials::new(temp.token.clone(), "not-the-temporary-secret");
    let params = SigningParams { token: Some(&wrong), verifier: Some(&verifier), ..Default::default() };
    let bad = server.issue_token_credential(&sign(post(&format!("{BASE}/oauth/access_token")), params)).await;
    let bad = bad.unwrap_err();
    assert_eq!(bad.code(), "invalid_signature");
    scan.debug("ProviderError (bad signature)", &bad);
    scan.debug("error response (bad signature)", &bad.to_response());

    let params = SigningParams { token: Some(&temp_creds), verifier: Some(&verifier), ..Default::default() };
    let req = sign(post(&format!("{BASE}/oauth/access_token")), params);
    scan.debug("SignedRequest (token)", &SignedRequest::from_http(&req).unwrap());
    let token = server.issue_token_credential(&req).await.unwrap();
    scan.secret(token.secret.secret());
    scan.debug("TokenCredentialRecord", &token);
    let params = SigningParams { token: Some(&temp_creds), verifier: Some(&verifier), ..Default::default() };
    let again =
        server.issue_token_credential(&sign(post(&format!("{BASE}/oauth/access_token")), params)).await;
    let again = again.unwrap_err();
    assert_eq!(again.code(), "invalid_token");
    scan.debug("ProviderError (used temporary credential)", &again);
    scan.debug("error response (used temporary credential)", &again.to_response());

    // §3 protected resource.
    let token_creds = TokenCredentials::new(token.token.clone(), token.secret.secret());
    scan.debug("TokenCredentials", &token_creds);
    let params = SigningParams { token: Some(&token_creds), ..Default::default() };
    let req = sign(http::Request::get(format!("{BASE}/api/me")).body(Vec::new()).unwrap(), params);
    let protected = protector.validate_request(&req).await.unwrap();
    assert_eq!(protected.user_id(), "alice");
    scan.debug("Protected", &protected);
    let denied = protector.validate_request(&req).await.unwrap_err();
    assert_eq!(denied.code(), "invalid_nonce");
    scan.debug("ProviderError (resource replay)", &denied);

    // OAuth 2 secret types and a parsed token response.
    let access = "at-Kq93-access-token-value";
    let refresh = "rt-Lp27-refresh-token-value";
    scan.secret(access);
    scan.secret(refresh);
    scan.debug("AccessToken", &AccessToken::new(access));
    scan.debug("RefreshToken", &RefreshToken::new(refresh));
    scan.debug("SecretString", &SecretString::new(CLIENT_SECRET));
    let device = "dc-Mn45-device-code-value";
    scan.secret(device);
    scan.debug("DeviceCode", &DeviceCode::new(device));
    let pkce = CodeVerifier::generate(&keyward::OsRandom);
    scan.secret(pkce.secret());
    scan.debug("CodeVerifier", &pkce);
    let body = format!(
        r#"{{"access_token":"{access}","refresh_token":"{refresh}","token_type":"Bearer","expires_in":3600}}"#
    );
    let resp = http::Response::builder().status(200).body(body.into_bytes()).unwrap();
    let parsed = parse_token_response(&resp, NOW).unwrap();
    scan.debug("Token", &parsed);

    scan.assert_clean();
}

/// The scan itself finds a leak: a type that prints its secret is caught.
#[test]
fn the_scan_catches_a_leaking_type() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Leaky(String);
    let mut scan = Scan::default();
    scan.secret(CLIENT_SECRET);
    for i in 0..20 {
        scan.debug("filler", &i);
    }
    scan.debug("Leaky", &Leaky(CLIENT_SECRET.to_owned()));
    let caught = std::panic::catch_unwind(|| scan.assert_clean());
    assert!(caught.is_err(), "a leaking Debug went unnoticed");
}

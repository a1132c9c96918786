//! Regression tests from a review of the OAuth 2.0 / OpenID Connect driver against the
//! RFCs: one test per defect found, each named after the rule it checks.

use keyward::HttpClient;
use keyward::common::clock::FixedClock;
use keyward::common::secret::SecretString;
use keyward_client::oauth2::{ChallengeMethod, OAuth2Client, OAuth2Config};
use std::sync::Arc;

const NOW: i64 = 1_700_000_000;

type Req = http::Request<Vec<u8>>;

/// A provider that answers every request with `status` and `body`.
fn answering(status: u16, body: &'static str) -> Arc<dyn HttpClient> {
    Arc::new(move |_req: Req| async move {
        Ok(http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap())
    })
}

fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

fn all<'a>(q: &'a [(String, String)], k: &str) -> Vec<&'a str> {
    q.iter().filter(|(n, _)| n == k).map(|(_, v)| v.as_str()).collect()
}

/// RFC 6749 §10.12: the `state` the callback is matched with must be the one in the URL,
/// and unguessable per flow; §4.1.3: the token request repeats the `redirect_uri` of the
/// authorization request. Extras that name `state` or `redirect_uri` (call-time params, or
/// a registered `authorize_params` copied from another library's config) must not make the
/// returned values differ from what the URL carries.
#[tokio::test]
async fn the_returned_state_and_redirect_uri_are_the_ones_in_the_url() {
    let mut config = OAuth2Config::new("client-1");
    config.client_secret = Some(SecretString::new("secret-1"));
    config.authorize_url = Some("https://as.example/authorize".into());
    config.pkce = Some(ChallengeMethod::S256);
    config.authorize_params.insert("state".into(), "fixed-state-from-config".into());
    let c =
        OAuth2Client::new(config, answering(404, "{}")).unwrap().with_clock(Arc::new(FixedClock::new(NOW)));

    let req = c
        .authorization_url(
            Some("https://rp.example/cb"),
            &[("state", "caller-state"), ("redirect_uri", "https://rp.example/other-cb")],
        )
        .await
        .unwrap();
    let q = query(&req.url);
    assert_eq!(all(&q, "state"), [req.state.as_str()], "one state, the one kept for the callback");
    assert_eq!(req.state.len(), 30, "the fresh random state, not a fixed one");
    assert_eq!(all(&q, "redirect_uri"), ["https://rp.example/other-cb"]);
    assert_eq!(req.flow.redirect_uri.as_deref(), Some("https://rp.example/other-cb"));

    let again = c.authorization_url(Some("https://rp.example/cb"), &[]).await.unwrap();
    assert_ne!(again.state, req.state, "a new state per flow");
    assert_eq!(again.flow.redirect_uri.as_deref(), Some("https://rp.example/cb"));
}

/// RFC 6750 §2.3 / §5.3: a token in the URI query is easily logged. With the query
/// placement, a transport failure of an API call must not carry the token in its error
/// (reqwest's errors name the URL, query included, in Display and Debug).
#[tokio::test]
async fn transport_errors_do_not_carry_a_token_placed_in_the_query() {
    use keyward_client::ReqwestClient;
    use keyward_client::oauth2::{OAuth2Session, Token, TokenPlacement};
    use tokio::io::AsyncReadExt;

    // A port nobody listens on (connection refused), and a server that closes at once.
    let refused = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let closing = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closing_addr = closing.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = closing.accept().await {
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
        }
    });

    let mut config = OAuth2Config::new("client-1");
    config.token_placement = TokenPlacement::Query;
    let http = ReqwestClient::try_with_timeout(std::time::Duration::from_secs(5)).unwrap();
    let client = Arc::new(OAuth2Client::new(config, Arc::new(http)).unwrap());
    let session = OAuth2Session::new(client, Token::bearer("at-Kq93-query-token"));
    for addr in [refused, closing_addr] {
        let request = http::Request::get(format!("http://{addr}/api/me?a=1")).body(Vec::new()).unwrap();
        let e = session.request(request).await.unwrap_err();
        let text = format!("{e} {e:?} {e:#?}");
        assert!(!text.contains("at-Kq93"), "{addr}: the error carries the token: {text}");
    }
}

/// RFC 6749 §10.5: the authorization code is a bearer credential until it is spent; the
/// `CodeExchange` that carries it to the token endpoint must not print it in `Debug`.
#[test]
fn code_exchange_debug_redacts_the_code() {
    let e = keyward_client::oauth2::CodeExchange {
        code: "code-Hx52-authorization",
        iss: Some("https://op.example"),
        redirect_uri: Some("https://rp.example/cb"),
        ..Default::default()
    };
    let text = format!("{e:?}{e:#?}");
    assert!(!text.contains("code-Hx52"), "{text}");
    assert!(text.contains("https://op.example") && text.contains("https://rp.example/cb"), "{text}");
}

/// RFC 6749 §6: a refresh request without `scope` asks for the scope originally granted, and
/// §5.1: the response may leave `scope` out when it is the one requested. The renewed token
/// keeps the old scope then (as it keeps the old refresh token), so `has_scope` does not
/// turn false after an automatic refresh.
#[tokio::test]
async fn a_refresh_response_without_scope_keeps_the_granted_scope() {
    use keyward_client::oauth2::{RefreshToken, Token};
    let mut config = OAuth2Config::new("client-1");
    config.token_url = Some("https://as.example/token".into());
    let c = OAuth2Client::new(config, answering(200, r#"{"access_token":"at-2","expires_in":3600}"#))
        .unwrap()
        .with_clock(Arc::new(FixedClock::new(NOW)));
    let mut old = Token::bearer("at-1");
    old.refresh_token = Some(RefreshToken::new("rt-1"));
    old.scope = Some("read write".into());
    old.expires_at = Some(NOW - 1);
    let new = c.ensure_fresh(&old).await.unwrap();
    assert_eq!(new.access_token.secret(), "at-2");
    assert_eq!(new.scope.as_deref(), Some("read write"));
    assert!(new.has_scope("write"));

    // A response that names a scope is taken as it is (a narrower grant).
    let mut config = OAuth2Config::new("client-1");
    config.token_url = Some("https://as.example/token".into());
    let c = OAuth2Client::new(config, answering(200, r#"{"access_token":"at-3","scope":"read"}"#))
        .unwrap()
        .with_clock(Arc::new(FixedClock::new(NOW)));
    let new = c.refresh_token(&old).await.unwrap();
    assert_eq!(new.scope.as_deref(), Some("read"));
}

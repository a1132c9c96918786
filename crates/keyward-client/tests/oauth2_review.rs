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
    assert_eq!(req.redirect_uri.as_deref(), Some("https://rp.example/other-cb"));
    assert_eq!(req.flow_data().redirect_uri.as_deref(), Some("https://rp.example/other-cb"));

    let again = c.authorization_url(Some("https://rp.example/cb"), &[]).await.unwrap();
    assert_ne!(again.state, req.state, "a new state per flow");
    assert_eq!(again.redirect_uri.as_deref(), Some("https://rp.example/cb"));
}

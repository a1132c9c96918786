//! The third-party OpenID Connect relying-party scripts (tests/peers/node/oidc_client.mjs with
//! openid-client, tests/peers/python/oidc_client.py with Authlib) against npm's
//! `oidc-provider` (OpenID Certified): proof that the scripts and their harness work, so that
//! they can be pointed at Keyward's own OpenID Provider. Its `logout` client runs every step:
//! code + PKCE + nonce with the ID token's signature checked, userinfo, refresh,
//! `prompt=none` with and without a session, `max_age`, and RP-initiated logout. Needs the
//! peers `.ci/run` installs; skipped visibly without them, failed under `CI=true`.

use keyward_testkit::peers::{
    Browser, OAuth2Lib, OIDC_REDIRECT, OIDC_SECRET, OidcClientArgs, OidcPeer, PeerRun, PeerUser,
    run_oidc_client,
};
use keyward_testkit::require_or_skip;
use serde_json::Value;

const BYE: &str = "http://127.0.0.1:1/bye";

/// One browser for the whole run, so that the provider's session lasts between steps:
/// follows redirects, signs in and consents through the development interactions, confirms
/// a logout, until the provider sends it to a URL of the (unreachable) client.
struct SignedInBrowser {
    browser: Browser,
    logins: usize,
}

fn hidden(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\""))?;
    let tag_start = page[..at].rfind('<')?;
    let tag = &page[tag_start..tag_start + page[tag_start..].find('>')?];
    let v = tag.split("value=\"").nth(1)?;
    Some(v[..v.find('"')?].to_owned())
}

impl PeerUser for SignedInBrowser {
    async fn authorize(&mut self, url: &str) -> String {
        let mut url = url.to_owned();
        let mut page = self.browser.get(&url).await;
        for _ in 0..20 {
            if let Some(location) = page.location.clone() {
                if location.starts_with("http://127.0.0.1:1/") {
                    return location;
                }
                url = location;
                page = self.browser.get(&url).await;
                continue;
            }
            assert_eq!(page.status, 200, "unexpected page at {url}: {}", page.body);
            if let Some(prompt) = hidden(&page.body, "prompt") {
                if prompt == "login" {
                    self.logins += 1;
                }
                page = self
                    .browser
                    .post_form(&url, &[("prompt", &prompt), ("login", "erin"), ("password", "x")])
                    .await;
            } else if let Some(xsrf) = hidden(&page.body, "xsrf") {
                let origin = url.split('/').take(3).collect::<Vec<_>>().join("/");
                url = format!("{origin}/session/end/confirm");
                page = self.browser.post_form(&url, &[("xsrf", &xsrf), ("logout", "yes")]).await;
            } else {
                panic!("no form to answer at {url}: {}", page.body);
            }
        }
        panic!("the walk from {url} did not reach the client");
    }

    async fn approve_device(&mut self, _: &Value) {
        panic!("no device flow here");
    }
}

async fn run(lib: OAuth2Lib, peer: &OidcPeer, steps: &[&'static str]) -> (PeerRun, usize) {
    let mut args = OidcClientArgs::new(&peer.issuer, "logout", OIDC_REDIRECT);
    args.client_secret = Some(OIDC_SECRET.to_owned());
    args.post_logout_redirect_uri = Some(BYE.to_owned());
    // oidc-provider releases refresh tokens only with offline_access and consent.
    args.scope = "openid email profile offline_access".to_owned();
    args.steps = steps.to_vec();
    let mut user = SignedInBrowser { browser: Browser::new(), logins: 0 };
    let run = run_oidc_client(lib, &args, &mut user).await.expect("installed");
    (run.unwrap_or_else(|e| panic!("{}: {e}", lib.name())), user.logins)
}

#[tokio::test]
async fn openid_client_every_step_against_oidc_provider() {
    let lib = OAuth2Lib::OpenidClient;
    let peer = require_or_skip!(
        lib.oidc_command().and_then(|_| OidcPeer::start()),
        "node, openid-client and oidc-provider",
        OAuth2Lib::HOW
    );
    let (run, logins) = run(lib, &peer, &keyward_testkit::peers::OIDC_STEPS).await;
    assert_eq!(run.one("metadata")["issuer"], peer.issuer.as_str());
    let code = run.one("code");
    assert_eq!(code["sub"], "erin");
    assert_eq!(code["aud"], "logout");
    assert_eq!(code["signature_checked"], true);
    assert_eq!(code["alg"], "RS256");
    assert_eq!(run.one("userinfo")["email"], "erin@example.com");
    assert_eq!(run.one("refresh")["same_sub"], true, "{run}");
    assert_eq!(run.one("prompt_none")["same_sub"], true);
    assert_eq!(run.one("prompt_none_no_session")["error"], "login_required");
    assert_eq!(run.one("max_age")["signed_in_again"], true, "{run}");
    assert_eq!(run.one("logout")["after_logout"], "login_required");
    assert_eq!(logins, 2, "signed in at first and again for max_age=0");
}

#[tokio::test]
async fn authlib_every_step_against_oidc_provider() {
    let lib = OAuth2Lib::Authlib;
    let peer = require_or_skip!(
        lib.oidc_command().and_then(|_| OidcPeer::start()),
        "python Authlib and oidc-provider",
        OAuth2Lib::HOW
    );
    let (run, _) = run(lib, &peer, &["code", "userinfo", "refresh", "logout"]).await;
    let code = run.one("code");
    assert_eq!(code["sub"], "erin");
    assert_eq!(code["signature_checked"], true);
    assert_eq!(run.one("userinfo")["email"], "erin@example.com");
    assert_eq!(run.one("refresh")["same_sub"], true, "{run}");
    assert_eq!(run.one("logout")["state_matched"], true);
}

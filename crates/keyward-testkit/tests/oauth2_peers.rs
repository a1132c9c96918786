//! The third-party OAuth 2 client scripts (tests/peers/python/oauth2_client.py with Authlib
//! and requests-oauthlib, tests/peers/node/oauth2_client.mjs with openid-client) against
//! npm's `oidc-provider` standing in for an OAuth 2 authorization server: proof that the
//! scripts and their harness work, so that they can be pointed at Keyward's own server.
//!
//! Each library runs every step with each of the stand-in's `peer-*` clients: code + PKCE
//! (the harness plays the user), refresh with rotation, introspection, revocation,
//! client_credentials and the device flow. Needs the peers `.ci/run` installs; skipped
//! visibly without them, failed under `CI=true`.

use keyward_testkit::peers::{
    Browser, Discovery, OAuth2ClientArgs, OAuth2Lib, OIDC_REDIRECT, OIDC_SECRET, OidcPeer, OidcPeerUser,
    PeerRun, run_oauth2_client,
};
use keyward_testkit::require_or_skip;
use serde_json::Value;

macro_rules! peer {
    () => {
        require_or_skip!(
            OidcPeer::start(),
            "node and npm oidc-provider",
            "run .ci/run, or `npm ci` tests/peers/node into .peers/node"
        )
    };
}

/// The stand-in's client `client_id` with its authentication method, every step but
/// `steps_left_out`.
fn args(peer: &OidcPeer, client_id: &str, auth_method: &str, steps_left_out: &[&str]) -> OAuth2ClientArgs {
    let mut a = OAuth2ClientArgs::new(&peer.issuer, client_id);
    a.auth_method = auth_method.to_owned();
    if auth_method != "none" {
        a.client_secret = Some(OIDC_SECRET.to_owned());
    }
    a.redirect_uri = Some(OIDC_REDIRECT.to_owned());
    a.scope = Some("email".to_owned());
    a.steps.retain(|s| !steps_left_out.contains(s));
    a
}

async fn run(lib: OAuth2Lib, args: &OAuth2ClientArgs) -> Option<PeerRun> {
    let mut user = OidcPeerUser { login: "erin".to_owned() };
    let run = run_oauth2_client(lib, args, &mut user).await?;
    Some(run.unwrap_or_else(|e| panic!("{} with {}: {e}", lib.name(), args.client_id)))
}

fn is_bearer(line: &Value) {
    let t = line["token_type"].as_str().unwrap_or_default();
    assert!(t.eq_ignore_ascii_case("bearer"), "{line}");
}

/// What every run against the stand-in shows, whatever the library.
fn check_code_flow(peer: &OidcPeer, run: &PeerRun, confidential: bool) {
    let meta = run.one("metadata");
    assert_eq!(meta["issuer"], peer.issuer.as_str());

    let code = run.one("code");
    is_bearer(code);
    assert_eq!(code["iss"], peer.issuer.as_str(), "RFC 9207 iss reached the script");
    assert_eq!(code["iss_checked"], true, "{code}");
    assert_eq!(code["refresh_token"], true, "{code}");
    assert_eq!(code["expires_in"], 600, "the stand-in's AccessToken ttl");
    if run.one("done")["lib"] == "openid-client" {
        assert_eq!(code["forged_iss_refused"], true, "openid-client checks iss (RFC 9207)");
    }

    assert_eq!(code["scope"], "email", "{code}");
    let refresh = run.one("refresh");
    assert_eq!(refresh["rotated"], true, "the stand-in rotates every refresh token: {refresh}");
    assert_eq!(refresh["new_access_token"], true);
    is_bearer(refresh);

    let revoked: Vec<_> = run.all("revoke").iter().map(|l| l["token"].clone()).collect();
    assert_eq!(revoked.first(), Some(&Value::from("refresh_token")), "{run}");
    if confidential {
        let access = run.introspection("access_token");
        assert_eq!(access["active"], true);
        assert_eq!(access["scope"], "email");
        assert_eq!(access["sub"], "erin");
        assert_eq!(run.introspection("rotated_out_refresh_token")["active"], false);
        assert_eq!(run.introspection("revoked_refresh_token")["active"], false);
        assert_eq!(run.introspection("revoked_access_token")["active"], false);
    } else {
        assert!(run.all("introspect").is_empty(), "a public client cannot introspect");
    }
}

fn check_client_credentials(run: &PeerRun, client_id: &str) {
    let cc = run.one("client_credentials");
    is_bearer(cc);
    assert_eq!(cc["refresh_token"], false, "no refresh token for client_credentials: {cc}");
    let i = run.introspection("client_credentials_token");
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], client_id);
    assert!(i.get("sub").is_none(), "no user behind a client_credentials token: {i}");
}

fn check_device(run: &PeerRun) {
    let dev = run.one("device_authorization");
    assert!(dev["verification_uri_complete"].as_str().is_some(), "{dev}");
    assert_eq!(run.one("device_pending")["error"], "authorization_pending");
    let token = run.one("device_token");
    is_bearer(token);
    assert!(token["polls"].as_u64().unwrap() >= 2, "a poll before approval and one after: {token}");
}

/// Every step with a confidential client per authentication method (the device flow with
/// `client_secret_post` only), then the code flow and the device flow with a public one.
async fn every_step(lib: OAuth2Lib) {
    require_or_skip!(lib.command(), &format!("the {} peer", lib.name()), OAuth2Lib::HOW);
    let peer = peer!();
    for (client_id, method) in [("peer-basic", "client_secret_basic"), ("peer-post", "client_secret_post")] {
        // The device flow waits for the polling interval: with Basic authentication left out.
        let left_out: &[&str] = if method == "client_secret_basic" { &["device"] } else { &[] };
        let Some(run) = run(lib, &args(&peer, client_id, method, left_out)).await else { return };
        assert_eq!(run.one("metadata")["iss_parameter_supported"], true, "discovered: {run}");
        check_code_flow(&peer, &run, true);
        check_client_credentials(&run, client_id);
        if left_out.is_empty() {
            check_device(&run);
        }
        assert_eq!(run.one("done")["lib"], lib.name());
    }
    let public = args(&peer, "peer-public", "none", &["client_credentials"]);
    let Some(run) = run(lib, &public).await else { return };
    check_code_flow(&peer, &run, false);
    check_device(&run);
}

#[tokio::test]
async fn authlib_every_step() {
    every_step(OAuth2Lib::Authlib).await;
}

#[tokio::test]
async fn requests_oauthlib_every_step() {
    every_step(OAuth2Lib::RequestsOAuthlib).await;
}

#[tokio::test]
async fn openid_client_every_step() {
    every_step(OAuth2Lib::OpenidClient).await;
}

/// `--user get`: the script GETs the authorization URL itself, with the session cookie of
/// a user who signed in and consented before, and the server redirects at once. Discovery
/// through OpenID Connect's document this time.
#[tokio::test]
async fn the_script_gets_the_authorization_itself_with_a_login_header() {
    let libs: Vec<OAuth2Lib> = OAuth2Lib::ALL.into_iter().filter(|l| l.command().is_some()).collect();
    require_or_skip!(
        (libs.len() == OAuth2Lib::ALL.len()).then_some(()),
        "every OAuth 2 client peer",
        OAuth2Lib::HOW
    );
    let peer = peer!();
    // The user signs in and consents to `email` for peer-basic once, in a browser whose
    // session cookie the scripts then send.
    let mut browser = Browser::new();
    let first = format!(
        "{}/auth?response_type=code&client_id=peer-basic&scope=email&state=s&redirect_uri={}\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        peer.issuer,
        OIDC_REDIRECT.replace(':', "%3A").replace('/', "%2F"),
    );
    let callback = browser.login_at_oidc(&first, "erin").await;
    assert!(callback.contains("code="), "{callback}");
    let cookie = browser.cookie_header(&peer.issuer).expect("a session cookie");
    for lib in libs {
        let mut a = args(&peer, "peer-basic", "client_secret_basic", &[]);
        a.steps = vec!["code", "introspect"];
        a.discovery = Discovery::OpenidConnect;
        a.login_headers = vec![("Cookie".to_owned(), cookie.clone())];
        let run = run(lib, &a).await.expect("installed");
        assert!(run.all("authorize").is_empty(), "{} asked the harness: {run}", lib.name());
        assert_eq!(run.one("code")["iss"], peer.issuer.as_str());
        assert_eq!(run.introspection("access_token")["sub"], "erin");
    }
}

/// A failing script is a failure the harness reports with the script's message: a wrong
/// client secret at the token endpoint.
#[tokio::test]
async fn a_wrong_client_secret_fails_the_script_with_its_message() {
    let peer = peer!();
    for lib in OAuth2Lib::ALL {
        let mut a = args(&peer, "peer-basic", "client_secret_basic", &[]);
        a.client_secret = Some("not-the-secret".to_owned());
        a.steps = vec!["client_credentials"];
        let mut user = OidcPeerUser { login: "erin".to_owned() };
        let Some(result) = run_oauth2_client(lib, &a, &mut user).await else {
            require_or_skip!(None::<()>, &format!("the {} peer", lib.name()), OAuth2Lib::HOW);
            continue;
        };
        let failure = result.expect_err("a wrong secret must fail the script");
        assert!(failure.to_string().contains("invalid_client"), "{}: {failure}", lib.name());
        assert!(failure.lines.iter().all(|l| l["step"] != "client_credentials"), "{failure}");
    }
}

/// No discovery: every endpoint given on the command line, taken here from the metadata.
#[tokio::test]
async fn explicit_endpoints_without_discovery() {
    let peer = peer!();
    let body = reqwest::get(peer.metadata_url()).await.unwrap().text().await.unwrap();
    let meta: Value = serde_json::from_str(&body).unwrap();
    let endpoint = |name: &str| meta[format!("{name}_endpoint")].as_str().unwrap().to_owned();
    for lib in OAuth2Lib::ALL {
        let mut a = args(&peer, "peer-post", "client_secret_post", &["device"]);
        a.discovery = Discovery::None;
        a.endpoints = ["authorization", "token", "revocation", "introspection"]
            .into_iter()
            .map(|name| (name, endpoint(name)))
            .collect();
        let mut user = OidcPeerUser { login: "erin".to_owned() };
        let Some(result) = run_oauth2_client(lib, &a, &mut user).await else {
            require_or_skip!(None::<()>, &format!("the {} peer", lib.name()), OAuth2Lib::HOW);
            continue;
        };
        let run = result.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run.one("metadata")["iss_parameter_supported"], false, "nothing discovered: {run}");
        check_code_flow(&peer, &run, true);
        check_client_credentials(&run, "peer-post");
    }
}

//! Third-party OAuth 2 clients against the OAuth 2.1 server on axum (127.0.0.1): Python
//! Authlib and requests-oauthlib, and npm openid-client, each through RFC 8414 discovery,
//! code + PKCE (with the RFC 9207 `iss` check), refresh with rotation, introspection,
//! revocation and client_credentials, with `client_secret_basic`, `client_secret_post` and a
//! public client. Needs the peers `.ci/run` installs; skipped visibly without them, failed
//! under `CI=true`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{any, get};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, ClientAuthMethod, Grant, GrantType, OAuth2Provider, RegisteredClient, ServerConfig,
};
use keyward_axum::oauth2_provider::{
    OAUTH_WELL_KNOWN, OAuth2Authorize, OAuth2Bearer, grant_response, introspection_endpoint,
    metadata_endpoint, revocation_endpoint, token_endpoint,
};
use keyward_stores::MemoryStore;
use keyward_testkit::peers::{OAuth2ClientArgs, OAuth2Lib, PeerRun, PeerUser, run_oauth2_client};
use keyward_testkit::require_or_skip;
use serde_json::Value;

const SECRET: &str = "peer-secret-0123456789";
const REDIRECT: &str = "http://127.0.0.1/peer/cb";

/// Signs "alice" in and grants what was asked for at once.
async fn authorize(State(p): State<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> Response {
    let scopes = req.scopes.clone();
    grant_response(p.server(), &req, Grant::new("alice", scopes)).await
}

async fn me(auth: OAuth2Bearer) -> String {
    auth.subject.clone().unwrap_or_default()
}

/// The server, with a client per authentication method; its issuer.
async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials];
    let clients = [
        RegisteredClient::confidential("peer-basic", SECRET).with_grant_types(grants),
        RegisteredClient::confidential("peer-post", SECRET)
            .with_auth_method(ClientAuthMethod::ClientSecretPost)
            .with_grant_types(grants),
        RegisteredClient::public("peer-public"),
    ];
    for c in clients {
        store
            .create_registered_client(&c.with_redirect_uris([REDIRECT]).with_scopes(["read"]))
            .await
            .unwrap();
    }
    let config = ServerConfig::new(issuer.clone()).with_scopes_supported(["read"]);
    let server = AuthorizationServer::builder(store, config).build();
    let app = Router::new()
        .route("/authorize", any(authorize))
        .route("/token", any(token_endpoint))
        .route("/revoke", any(revocation_endpoint))
        .route("/introspect", any(introspection_endpoint))
        .route(OAUTH_WELL_KNOWN, get(metadata_endpoint))
        .route("/api/me", get(me))
        .with_state(OAuth2Provider::new(server));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    issuer
}

/// The user: the authorization endpoint approves at once, so the harness only fetches the
/// redirect.
struct AutoApproved;

impl PeerUser for AutoApproved {
    async fn authorize(&mut self, url: &str) -> String {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 302, "{url}: {}", r.text().await.unwrap_or_default());
        r.headers()["location"].to_str().unwrap().to_owned()
    }

    async fn approve_device(&mut self, _: &Value) {
        panic!("the device flow is not served here");
    }
}

fn args(issuer: &str, client_id: &str, auth_method: &str) -> OAuth2ClientArgs {
    let mut a = OAuth2ClientArgs::new(issuer, client_id);
    a.auth_method = auth_method.to_owned();
    if auth_method != "none" {
        a.client_secret = Some(SECRET.to_owned());
    }
    a.redirect_uri = Some(REDIRECT.to_owned());
    a.scope = Some("read".to_owned());
    a.steps.retain(|s| *s != "device");
    if auth_method == "none" {
        a.steps.retain(|s| *s != "client_credentials");
    }
    a
}

fn is_bearer(line: &Value) {
    let t = line["token_type"].as_str().unwrap_or_default();
    assert!(t.eq_ignore_ascii_case("bearer"), "{line}");
}

/// What every run shows: discovery, the code with `iss`, refresh rotation, and (for a
/// confidential client) introspection before and after revocation.
fn check(issuer: &str, run: &PeerRun, client_id: &str, confidential: bool) {
    let meta = run.one("metadata");
    assert_eq!(meta["issuer"], issuer);
    assert_eq!(meta["iss_parameter_supported"], true, "{run}");

    let code = run.one("code");
    is_bearer(code);
    assert_eq!(code["iss"], issuer, "RFC 9207 iss reached the script");
    assert_eq!(code["iss_checked"], true, "{code}");
    assert_eq!(code["refresh_token"], true, "{code}");
    assert_eq!(code["expires_in"], 3600);
    assert_eq!(code["scope"], "read", "{code}");
    if run.one("done")["lib"] == "openid-client" {
        assert_eq!(code["forged_iss_refused"], true, "openid-client checks iss (RFC 9207)");
    }

    let refresh = run.one("refresh");
    assert_eq!(refresh["rotated"], true, "every refresh token rotates: {refresh}");
    assert_eq!(refresh["new_access_token"], true);
    is_bearer(refresh);

    let revoked: Vec<_> = run.all("revoke").iter().map(|l| l["token"].clone()).collect();
    assert_eq!(revoked.first(), Some(&Value::from("refresh_token")), "{run}");
    if confidential {
        let access = run.introspection("access_token");
        assert_eq!(access["active"], true);
        assert_eq!(access["scope"], "read");
        assert_eq!(access["sub"], "alice");
        assert_eq!(run.introspection("rotated_out_refresh_token")["active"], false);
        assert_eq!(run.introspection("revoked_refresh_token")["active"], false);
        assert_eq!(run.introspection("revoked_access_token")["active"], false);

        let cc = run.one("client_credentials");
        is_bearer(cc);
        assert_eq!(cc["refresh_token"], false, "no refresh token for client_credentials: {cc}");
        let i = run.introspection("client_credentials_token");
        assert_eq!(i["active"], true);
        assert_eq!(i["client_id"], client_id);
        assert!(i.get("sub").is_none(), "no user behind a client_credentials token: {i}");
    } else {
        assert!(run.all("introspect").is_empty(), "a public client cannot introspect");
    }
}

async fn every_step(lib: OAuth2Lib) {
    require_or_skip!(lib.command(), &format!("the {} peer", lib.name()), OAuth2Lib::HOW);
    let issuer = start().await;
    for (client_id, method) in
        [("peer-basic", "client_secret_basic"), ("peer-post", "client_secret_post"), ("peer-public", "none")]
    {
        let run = run_oauth2_client(lib, &args(&issuer, client_id, method), &mut AutoApproved)
            .await
            .expect("installed")
            .unwrap_or_else(|e| panic!("{} with {client_id}: {e}", lib.name()));
        check(&issuer, &run, client_id, method != "none");
        assert_eq!(run.one("done")["lib"], lib.name());
    }
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

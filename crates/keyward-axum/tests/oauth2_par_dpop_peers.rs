//! npm openid-client against the OAuth 2.1 server on axum (127.0.0.1) through PAR (RFC 9126)
//! and DPoP (RFC 9449): the authorization request pushed, tokens bound to the client's key
//! (nonces required or not), a bound refresh, a protected resource called with a proof, and
//! the bound token refused as `Bearer`; for a confidential client registered for DPoP-bound
//! tokens and a public one. Needs the peers `.ci/run` installs; skipped visibly without
//! them, failed under `CI=true`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{any, get};
use keyward::oauth2::provider::store::OAuth2ClientStore;
use keyward::oauth2::provider::{
    AuthorizationServer, DpopConfig, Grant, GrantType, OAuth2Provider, ParConfig, RegisteredClient,
    ServerConfig,
};
use keyward_axum::oauth2_provider::{
    OAUTH_WELL_KNOWN, OAuth2Authorize, OAuth2Bearer, grant_response, introspection_endpoint,
    metadata_endpoint, pushed_authorization_endpoint, revocation_endpoint, token_endpoint,
};
use keyward_stores::MemoryStore;
use keyward_testkit::oauth2_glue::{AutoApproved, PEER_REDIRECT, PEER_SECRET, peer_args};
use keyward_testkit::peers::{OAuth2Lib, run_oauth2_client};
use keyward_testkit::require_or_skip;
use serde_json::Value;

/// Signs "alice" in and grants what was asked for at once.
async fn authorize(State(p): State<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> Response {
    let scopes = req.scopes.clone();
    grant_response(p.server(), &req, Grant::new("alice", scopes)).await
}

async fn me(auth: OAuth2Bearer) -> String {
    auth.subject.clone().unwrap_or_default()
}

/// A server with PAR and DPoP on (nonces required or not): a public client and a
/// confidential one registered for DPoP-bound tokens; its issuer.
async fn start_modern(nonce_required: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    let mut bound = RegisteredClient::confidential("peer-dpop", PEER_SECRET).with_grant_types([
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ]);
    bound.dpop_bound_access_tokens = true;
    for c in [bound, RegisteredClient::public("peer-dpop-public")] {
        store
            .create_registered_client(&c.with_redirect_uris([PEER_REDIRECT]).with_scopes(["read"]))
            .await
            .unwrap();
    }
    let config = ServerConfig::new(issuer.clone()).with_scopes_supported(["read"]);
    let server = AuthorizationServer::builder(store.clone(), config)
        .pushed_requests(store, ParConfig::new(&issuer))
        .dpop(DpopConfig::new().with_nonce_required(nonce_required))
        .build();
    let app = Router::new()
        .route("/authorize", any(authorize))
        .route("/par", any(pushed_authorization_endpoint))
        .route("/token", any(token_endpoint))
        .route("/revoke", any(revocation_endpoint))
        .route("/introspect", any(introspection_endpoint))
        .route(OAUTH_WELL_KNOWN, get(metadata_endpoint))
        .route("/api/me", get(me))
        .with_state(OAuth2Provider::new(server));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    issuer
}

/// openid-client reports the token type in lowercase.
fn is_dpop(line: &Value) {
    let t = line["token_type"].as_str().unwrap_or_default();
    assert!(t.eq_ignore_ascii_case("dpop"), "{line}");
}

async fn par_and_dpop(nonce_required: bool) {
    let lib = OAuth2Lib::OpenidClient;
    require_or_skip!(lib.command(), "the openid-client peer", OAuth2Lib::HOW);
    let issuer = start_modern(nonce_required).await;
    for (client_id, method) in [("peer-dpop", "client_secret_basic"), ("peer-dpop-public", "none")] {
        let mut a = peer_args(&issuer, client_id, method);
        a.par = true;
        a.dpop = true;
        a.resource = Some(format!("{issuer}/api/me"));
        let run = run_oauth2_client(lib, &a, &mut AutoApproved)
            .await
            .expect("installed")
            .unwrap_or_else(|e| panic!("openid-client with {client_id}: {e}"));
        let url = run.one("authorization_url");
        assert_eq!(url["par"], true);
        assert_eq!(url["params"], serde_json::json!(["client_id", "request_uri"]), "{url}");
        let code = run.one("code");
        is_dpop(code);
        assert_eq!(code["forged_iss_refused"], true);
        let refresh = run.one("refresh");
        is_dpop(refresh);
        assert_eq!(refresh["rotated"], true);
        let resource = run.one("resource");
        assert_eq!(resource["status"], 200, "{resource}");
        assert_eq!(resource["body"], "alice");
        assert_eq!(resource["bearer_downgrade_status"], 401, "{resource}");
        let challenge = resource["bearer_downgrade_challenge"].as_str().unwrap_or_default();
        assert!(challenge.starts_with("DPoP ") && challenge.contains("invalid_token"), "{challenge}");
        if method != "none" {
            let access = run.introspection("access_token");
            assert_eq!(access["active"], true);
            assert_eq!(access["token_type"], "DPoP", "{access}");
            assert!(access["cnf"]["jkt"].is_string(), "{access}");
            let cc = run.one("client_credentials");
            is_dpop(cc);
        }
        assert_eq!(run.one("done")["lib"], "openid-client");
    }
}

#[tokio::test]
async fn openid_client_par_and_dpop() {
    par_and_dpop(false).await;
}

#[tokio::test]
async fn openid_client_par_and_dpop_with_nonces() {
    par_and_dpop(true).await;
}

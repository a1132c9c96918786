//! Dynamic client registration (RFC 7591) and client management (RFC 7592) served by axum on
//! 127.0.0.1: register with the initial access token, read, update, delete over HTTP; the
//! refusals keep their status and code through the glue; `404` when registration is off. The
//! cases and the provider are the testkit's (`keyward_testkit::oauth2_glue`), run by both glues.
//! And a client registered by npm openid-client (tests/peers/node/register_client.mjs, RFC
//! 8414 discovery of `registration_endpoint`), then used by openid-client, Authlib and
//! requests-oauthlib for code + PKCE, refresh, introspection and revocation (skipped visibly
//! without the peers, failed under `CI=true`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{any, get};
use keyward::common::secret::SecretString;
use keyward::oauth2::provider::{
    AuthorizationServer, Grant, GrantType, OAuth2Provider, RegistrationConfig, ServerConfig,
};
use keyward_axum::oauth2_provider::{
    OAUTH_WELL_KNOWN, OAuth2Authorize, client_configuration_endpoint, grant_response, introspection_endpoint,
    metadata_endpoint, registration_endpoint, revocation_endpoint, token_endpoint,
};
use keyward_stores::MemoryStore;
use keyward_testkit::oauth2_glue::{self, AutoApproved};
use keyward_testkit::peers::{OAuth2ClientArgs, OAuth2Lib, run_oauth2_client};
use keyward_testkit::require_or_skip;
use serde_json::{Value, json};

async fn serve(on: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = oauth2_glue::registration_provider(Arc::new(MemoryStore::new()), &base, on);
    let app = Router::new()
        .route("/register", any(registration_endpoint))
        .route("/register/{client_id}", any(client_configuration_endpoint))
        .route(OAUTH_WELL_KNOWN, get(metadata_endpoint))
        .with_state(provider);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn register_read_update_delete_over_http() {
    oauth2_glue::registration_crud(&serve(true).await).await;
}

#[tokio::test]
async fn off_by_default() {
    oauth2_glue::registration_off(&serve(false).await).await;
}

const REDIRECT: &str = "http://127.0.0.1/peer/cb";

/// Signs "alice" in and grants what was asked for at once.
async fn authorize(State(p): State<OAuth2Provider>, OAuth2Authorize(req): OAuth2Authorize) -> Response {
    let scopes = req.scopes.clone();
    grant_response(p.server(), &req, Grant::new("alice", scopes)).await
}

/// A whole server with registration behind the initial access token `iat`; its issuer.
async fn serve_all() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let config = ServerConfig::new(issuer.clone()).with_scopes_supported(["read"]);
    let registration =
        RegistrationConfig::with_initial_access_token(format!("{issuer}/register"), SecretString::new("iat"))
            .with_scopes(["read"])
            .with_grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]);
    let server =
        AuthorizationServer::builder(Arc::new(MemoryStore::new()), config).registration(registration).build();
    let app = Router::new()
        .route("/authorize", any(authorize))
        .route("/token", any(token_endpoint))
        .route("/revoke", any(revocation_endpoint))
        .route("/introspect", any(introspection_endpoint))
        .route("/register", any(registration_endpoint))
        .route("/register/{client_id}", any(client_configuration_endpoint))
        .route(OAUTH_WELL_KNOWN, get(metadata_endpoint))
        .with_state(OAuth2Provider::new(server));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    issuer
}

/// Registers a client with openid-client's `dynamicClientRegistration`; its output line.
async fn register_with_openid_client(issuer: &str, metadata: &Value) -> Option<Value> {
    let modules = keyward_testkit::node_modules().filter(|p| p.join("openid-client").exists())?;
    let script = keyward_testkit::workspace_root().join("tests/peers/node/register_client.mjs");
    let out = tokio::process::Command::new("node")
        .arg(script)
        .env("KEYWARD_NODE_MODULES", modules)
        .args(["--issuer", issuer, "--initial-access-token", "iat", "--metadata", &metadata.to_string()])
        .output()
        .await
        .ok()?;
    assert!(out.status.success(), "register_client.mjs: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).expect("one JSON line"))
}

#[tokio::test]
async fn a_client_registered_by_openid_client_runs_the_flows_of_three_libraries() {
    let issuer = serve_all().await;
    for auth_method in ["client_secret_basic", "none"] {
        let metadata = json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": auth_method,
            "scope": "read",
            "client_name": "a peer",
        });
        let registered = require_or_skip!(
            register_with_openid_client(&issuer, &metadata).await,
            "node and npm openid-client",
            OAuth2Lib::HOW
        );
        assert_eq!(registered["registration_endpoint"], format!("{issuer}/register"));
        assert_eq!(registered["token_endpoint_auth_method"], auth_method);
        assert_eq!(registered["redirect_uris"], json!([REDIRECT]));
        assert_eq!(registered["registration_access_token"], true);
        let client_id = registered["client_id"].as_str().unwrap();
        assert_eq!(registered["registration_client_uri"], format!("{issuer}/register/{client_id}"));
        let secret = registered["client_secret"].as_str().map(str::to_owned);
        assert_eq!(secret.is_some(), auth_method != "none", "{registered}");
        if secret.is_some() {
            assert_eq!(registered["client_secret_expires_at"], 0);
        }

        for lib in OAuth2Lib::ALL {
            let mut args = OAuth2ClientArgs::new(&issuer, client_id);
            args.auth_method = auth_method.to_owned();
            args.client_secret = secret.clone();
            args.redirect_uri = Some(REDIRECT.to_owned());
            args.scope = Some("read".to_owned());
            args.steps = vec!["code", "refresh", "introspect", "revoke"];
            if auth_method == "none" {
                args.steps.retain(|s| *s != "introspect");
            }
            let found = run_oauth2_client(lib, &args, &mut AutoApproved).await;
            let Some(run) = keyward_testkit::require(found, module_path!(), lib.name(), OAuth2Lib::HOW)
            else {
                continue;
            };
            let run =
                run.unwrap_or_else(|e| panic!("{} with a registered {auth_method} client: {e}", lib.name()));
            let code = run.one("code");
            assert_eq!(code["scope"], "read", "{run}");
            assert_eq!(code["iss_checked"], true, "{run}");
            assert_eq!(run.one("refresh")["rotated"], true, "{run}");
        }
    }
}

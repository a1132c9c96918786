//! Dynamic client registration (RFC 7591) and client management (RFC 7592) served by actix-web on
//! 127.0.0.1: register with the initial access token, read, update, delete over HTTP; the
//! refusals keep their status and code through the glue; `404` when registration is off.

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use keyward::common::secret::SecretString;
use keyward::oauth2::provider::{AuthorizationServer, OAuth2Provider, RegistrationConfig, ServerConfig};
use keyward_actix::oauth2_provider::{
    OAUTH_WELL_KNOWN, client_configuration_endpoint, metadata_endpoint, registration_endpoint,
};
use keyward_stores::MemoryStore;
use serde_json::{Value, json};

async fn serve(on: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut builder =
        AuthorizationServer::builder(Arc::new(MemoryStore::new()), ServerConfig::new(base.clone()));
    if on {
        let config = RegistrationConfig::with_initial_access_token(
            format!("{base}/register"),
            SecretString::new("iat"),
        );
        builder = builder.registration(config);
    }
    let provider = OAuth2Provider::new(builder.build());
    let http = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(provider.clone()))
            .route("/register", web::route().to(registration_endpoint))
            .route("/register/{client_id}", web::route().to(client_configuration_endpoint))
            .route(OAUTH_WELL_KNOWN, web::get().to(metadata_endpoint))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(http);
    base
}

async fn call(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(serde_json::to_vec(&b).unwrap());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn register_read_update_delete_over_http() {
    let base = serve(true).await;
    let (_, meta) = call("GET", &format!("{base}{OAUTH_WELL_KNOWN}"), None, None).await;
    assert_eq!(meta["registration_endpoint"], format!("{base}/register"));

    let metadata = json!({"redirect_uris": ["https://rp.example/cb"], "client_name": "RP"});
    let (status, body) = call("POST", &format!("{base}/register"), None, Some(metadata.clone())).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")));
    let (status, body) = call(
        "POST",
        &format!("{base}/register"),
        Some("iat"),
        Some(json!({"redirect_uris": ["http://rp.example/cb"]})),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_redirect_uri")));
    let (status, body) = call("POST", &format!("{base}/register"), Some("iat"), Some(metadata)).await;
    assert_eq!(status, 201, "{body}");
    let id = body["client_id"].as_str().unwrap().to_owned();
    let uri = body["registration_client_uri"].as_str().unwrap().to_owned();
    assert_eq!(uri, format!("{base}/register/{id}"));
    let token = body["registration_access_token"].as_str().unwrap().to_owned();

    let (status, read) = call("GET", &uri, Some(&token), None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["client_name"], "RP");
    let token = read["registration_access_token"].as_str().unwrap().to_owned();
    let (status, _) = call("GET", &uri, Some("wrong"), None).await;
    assert_eq!(status, 401);

    let update = json!({"client_id": id, "redirect_uris": ["https://rp.example/new"]});
    let (status, updated) = call("PUT", &uri, Some(&token), Some(update)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["redirect_uris"], json!(["https://rp.example/new"]));
    let token = updated["registration_access_token"].as_str().unwrap().to_owned();

    let (status, _) = call("DELETE", &uri, Some(&token), None).await;
    assert_eq!(status, 204);
    let (status, _) = call("GET", &uri, Some(&token), None).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn off_by_default() {
    let base = serve(false).await;
    let (status, _) = call("POST", &format!("{base}/register"), Some("iat"), Some(json!({}))).await;
    assert_eq!(status, 404);
    let (_, meta) = call("GET", &format!("{base}{OAUTH_WELL_KNOWN}"), None, None).await;
    assert!(meta.get("registration_endpoint").is_none());
}

//! Public registry API that the other tests do not reach, each against a scripted OpenID
//! provider (a closure `HttpClient` that logs every request): per-app hooks, `put`,
//! `patch` and `delete`, a named compliance fix with its introspection and protected-request
//! hooks, the Apple and Microsoft presets' quirks, `authorize_redirect_with` and
//! `parse_id_token`.

use keyward::common::clock::FixedClock;
use keyward::common::encoding::parse_form;
use keyward::common::secret::SecretString;
use keyward::oidc::{IdTokenError, OidcError};
use keyward::{HttpClient, HttpError};
use keyward_client::oauth2::{ClientError, Hook, Token};
use keyward_client::registry::{
    AppConfig, AppHooks, AppToken, Callback, ClientKwargs, Error, OAuth, OAuthBuilder, Overwrite, TokenUpdate,
};
use keyward_client::session::MemorySession;
use keyward_testkit::jose::{TestSigner, jwks};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const NOW: i64 = 1_800_000_000;
const REDIRECT: &str = "https://app.example/auth/cb";
const API: &str = "https://api.example/";

type Req = http::Request<Vec<u8>>;

/// A scripted OpenID provider. Its discovery document sits at `metadata_url`; the token,
/// JWK-set, introspection and userinfo endpoints under `base`; an echoing API at [`API`].
struct Op {
    metadata_url: String,
    base: String,
    /// The discovery document's `issuer`.
    issuer: String,
    /// Whether the document names a userinfo endpoint.
    userinfo: bool,
    signer: TestSigner,
    /// The claims of the next ID token (`nonce` is filled from the last authorization URL).
    claims: Mutex<Value>,
    nonce: Mutex<Option<String>>,
    log: Mutex<Vec<Req>>,
}

impl Op {
    fn new(metadata_url: &str, base: &str, issuer: &str) -> Arc<Self> {
        let claims = json!({"iss": issuer, "sub": "user-1", "aud": "cid", "iat": NOW, "exp": NOW + 300,
            "email": "u@example.com"});
        Arc::new(Self {
            metadata_url: metadata_url.into(),
            base: base.into(),
            issuer: issuer.into(),
            userinfo: true,
            signer: TestSigner::load("oidc_op_a.pem", "key-a"),
            claims: Mutex::new(claims),
            nonce: Mutex::new(None),
            log: Mutex::new(Vec::new()),
        })
    }

    /// The same provider with no userinfo endpoint in its discovery document.
    fn without_userinfo(self: Arc<Self>) -> Arc<Self> {
        let mut op = Arc::into_inner(self).expect("not shared yet");
        op.userinfo = false;
        Arc::new(op)
    }

    fn generic() -> Arc<Self> {
        Self::new(
            "https://op.example/.well-known/openid-configuration",
            "https://op.example",
            "https://op.example",
        )
    }

    fn http(self: &Arc<Self>) -> Arc<dyn HttpClient> {
        let op = self.clone();
        Arc::new(move |req: Req| {
            let (status, body) = op.route(&req);
            op.log.lock().unwrap().push(req);
            async move {
                Ok::<_, HttpError>(
                    http::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(body.to_string().into_bytes())
                        .unwrap(),
                )
            }
        })
    }

    fn route(&self, req: &Req) -> (u16, Value) {
        let url = req.uri().to_string();
        if url == self.metadata_url {
            let mut doc = json!({
                "issuer": self.issuer,
                "authorization_endpoint": format!("{}/authorize", self.base),
                "token_endpoint": format!("{}/token", self.base),
                "jwks_uri": format!("{}/jwks", self.base),
                "introspection_endpoint": format!("{}/introspect", self.base),
                "id_token_signing_alg_values_supported": ["RS256"],
            });
            if self.userinfo {
                doc["userinfo_endpoint"] = format!("{}/userinfo", self.base).into();
            }
            return (200, doc);
        }
        if url.starts_with(API) {
            let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            return (
                200,
                json!({
                    "method": req.method().as_str(),
                    "path": req.uri().path(),
                    "body": std::str::from_utf8(req.body()).unwrap(),
                    "content_type": header("content-type"),
                    "auth": header("authorization"),
                    "corp": header("x-corp"),
                }),
            );
        }
        let Some(path) = url.strip_prefix(&self.base) else { panic!("unexpected request to {url}") };
        match path {
            "/jwks" => (200, jwks(&[&self.signer])),
            "/introspect" => (200, json!({"active": true, "sub": "user-1"})),
            "/userinfo" => (200, json!({"sub": "user-1", "from": "userinfo"})),
            "/token" => {
                let form: BTreeMap<String, String> =
                    parse_form(std::str::from_utf8(req.body()).unwrap()).unwrap().into_iter().collect();
                match form["grant_type"].as_str() {
                    "authorization_code" => {
                        let mut claims = self.claims.lock().unwrap().clone();
                        if let Some(nonce) = self.nonce.lock().unwrap().clone() {
                            claims["nonce"] = nonce.into();
                        }
                        let id_token = self.signer.sign(&claims);
                        (
                            200,
                            json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600,
                            "refresh_token": "rt-1", "id_token": id_token}),
                        )
                    }
                    "refresh_token" => (
                        200,
                        json!({"access_token": format!("fresh-for-{}", form["refresh_token"]),
                            "token_type": "Bearer", "expires_in": 3600}),
                    ),
                    other => panic!("unexpected grant {other}"),
                }
            }
            _ => panic!("unexpected request to {url}"),
        }
    }

    /// The requests made to `path` under `base`.
    fn requests_to(&self, path: &str) -> Vec<(String, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|r| r.uri().to_string() == url)
            .map(|r| (r.uri().to_string(), r.body().clone()))
            .collect()
    }
}

fn builder(op: &Arc<Op>) -> OAuthBuilder {
    OAuth::builder().http_client(op.http()).clock(Arc::new(FixedClock::new(NOW)))
}

fn credentials() -> AppConfig {
    AppConfig {
        client_id: Some("cid".into()),
        client_secret: Some(SecretString::new("secret")),
        ..AppConfig::default()
    }
}

/// An OpenID Connect app of the generic provider.
fn oidc_config() -> AppConfig {
    AppConfig {
        server_metadata_url: Some("https://op.example/.well-known/openid-configuration".into()),
        api_base_url: Some(API.into()),
        client_kwargs: ClientKwargs {
            scope: Some("openid email".into()),
            code_challenge_method: Some("S256".into()),
            ..ClientKwargs::default()
        },
        ..credentials()
    }
}

/// The query of an authorization URL, after checking where it goes.
fn query(url: &str, authorize: &str) -> BTreeMap<String, String> {
    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, authorize);
    parse_form(query).unwrap().into_iter().collect()
}

/// A whole login through the registry: redirect (with `params`), then the callback. Returns
/// the token, or the callback's error, and the authorization URL's query.
async fn login(
    oauth: &OAuth,
    app: &str,
    op: &Op,
    params: &[(&str, &str)],
) -> (Result<AppToken, Error>, BTreeMap<String, String>) {
    let app = oauth.client(app).unwrap();
    let session = MemorySession::new();
    let redirect = app.authorize_redirect_with(&session, REDIRECT, params).await.unwrap();
    let q = query(&redirect.url, &format!("{}/authorize", op.base));
    *op.nonce.lock().unwrap() = q.get("nonce").cloned();
    let callback = Callback::from_query(&format!("code=the-code&state={}", q["state"])).unwrap();
    (app.authorize_access_token(&session, &callback).await, q)
}

fn expired_token(access: &str, refresh: &str) -> AppToken {
    AppToken::OAuth2(
        serde_json::from_value(json!({"access_token": access, "token_type": "Bearer",
            "expires_at": NOW - 10, "refresh_token": refresh}))
        .unwrap(),
    )
}

type Updates = Arc<Mutex<Vec<(String, String, String)>>>;

/// An `update_token` hook that records (hook name, app, new access token).
fn recorder(
    name: &'static str,
    updates: Updates,
) -> impl Fn(TokenUpdate) -> std::future::Ready<Result<(), keyward_client::registry::HookError>> + Send + Sync
{
    move |u: TokenUpdate| {
        updates.lock().unwrap().push((name.into(), u.app, u.token.access_token.secret().to_owned()));
        std::future::ready(Ok(()))
    }
}

#[tokio::test]
async fn per_app_hooks_override_the_registry_hooks() {
    let op = Op::generic();
    let updates: Updates = Arc::default();
    let oauth = builder(&op)
        .fetch_token(|_app: String, _user: String| async {
            Ok(Some(expired_token("registry-at", "registry-rt")))
        })
        .update_token(recorder("registry", updates.clone()))
        .build();
    let own = AppHooks {
        fetch_token: Some(Arc::new(|app: String, user: String| async move {
            assert_eq!((app.as_str(), user.as_str()), ("own", "alice"));
            Ok(Some(expired_token("own-at", "own-rt")))
        })),
        update_token: Some(Arc::new(recorder("own", updates.clone()))),
    };
    let own = oauth.register_with("own", oidc_config(), Overwrite::Code, own).unwrap();
    let plain = oauth.register("plain", oidc_config()).unwrap();

    // The app's own fetch_token finds the token; its own update_token hears of the renewal.
    let v = own.get("me").user("alice").send_json().await.unwrap();
    assert_eq!(v["auth"], "Bearer fresh-for-own-rt");
    assert_eq!(*updates.lock().unwrap(), [("own".into(), "own".into(), "fresh-for-own-rt".into())]);

    // An app without hooks of its own uses the registry's.
    let v = plain.get("me").user("alice").send_json().await.unwrap();
    assert_eq!(v["auth"], "Bearer fresh-for-registry-rt");
    assert_eq!(
        updates.lock().unwrap()[1],
        ("registry".into(), "plain".into(), "fresh-for-registry-rt".into())
    );
    assert_eq!(updates.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn put_patch_and_delete_send_their_method_body_and_token() {
    let op = Op::generic();
    let oauth = builder(&op).build();
    let app = oauth.register("op", oidc_config()).unwrap();
    let token = || AppToken::OAuth2(Token::bearer("at-api"));

    let v = app.put("items/1").token(token()).json(&json!({"name": "a"})).send_json().await.unwrap();
    assert_eq!(
        (v["method"].as_str(), v["path"].as_str(), v["body"].as_str(), v["content_type"].as_str()),
        (Some("PUT"), Some("/items/1"), Some(r#"{"name":"a"}"#), Some("application/json"))
    );
    assert_eq!(v["auth"], "Bearer at-api");

    let v = app.patch("/items/1").token(token()).form([("name", "b c")]).send_json().await.unwrap();
    assert_eq!(
        (v["method"].as_str(), v["path"].as_str(), v["body"].as_str(), v["content_type"].as_str()),
        (Some("PATCH"), Some("/items/1"), Some("name=b%20c"), Some("application/x-www-form-urlencoded"))
    );
    assert_eq!(v["auth"], "Bearer at-api");

    let v = app.delete("items/1").token(token()).send_json().await.unwrap();
    assert_eq!(
        (v["method"].as_str(), v["path"].as_str(), v["body"].as_str()),
        (Some("DELETE"), Some("/items/1"), Some(""))
    );
    assert_eq!(v["content_type"], Value::Null);
    assert_eq!(v["auth"], "Bearer at-api");
}

#[tokio::test]
async fn a_named_compliance_fix_applies_its_hooks_to_the_apps_that_name_it() {
    let op = Op::generic();
    let oauth = builder(&op)
        .compliance_fix(
            "corp",
            vec![
                Hook::IntrospectTokenRequest(Arc::new(|r| r.push("audience", "corp-api"))),
                Hook::ProtectedRequest(Arc::new(|r| {
                    r.headers_mut().insert("x-corp", http::HeaderValue::from_static("1"));
                })),
            ],
        )
        .build();
    let fixed =
        oauth.register("fixed", AppConfig { compliance_fix: Some("corp".into()), ..oidc_config() }).unwrap();
    let plain = oauth.register("plain", oidc_config()).unwrap();

    for app in [&fixed, &plain] {
        let introspection =
            app.oauth2().unwrap().introspect_token("at-1", Some("access_token")).await.unwrap();
        assert!(introspection.active);
    }
    let sent = op.requests_to("/introspect");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].1, b"token=at-1&token_type_hint=access_token&audience=corp-api", "the hook ran");
    assert_eq!(sent[1].1, b"token=at-1&token_type_hint=access_token", "only for the app that names the fix");

    let token = AppToken::OAuth2(Token::bearer("at-api"));
    let v = fixed.get("me").token(token.clone()).send_json().await.unwrap();
    assert_eq!(v["corp"], "1");
    let v = plain.get("me").token(token).send_json().await.unwrap();
    assert_eq!(v["corp"], Value::Null);
}

#[tokio::test]
async fn authorize_redirect_with_adds_parameters_and_parse_id_token_checks_the_nonce() {
    let op = Op::generic();
    let oauth = builder(&op).build();
    let mut config = oidc_config();
    config.authorize_params.insert("prompt".into(), "login".into());
    oauth.register("op", config).unwrap();

    let params = [("prompt", "consent"), ("login_hint", "alice@example.com")];
    let (token, q) = login(&oauth, "op", &op, &params).await;
    let token = token.unwrap();
    assert_eq!(q["login_hint"], "alice@example.com");
    assert_eq!(q["prompt"], "login", "registered authorize_params override call-time ones");
    assert_eq!((q["client_id"].as_str(), q["redirect_uri"].as_str()), ("cid", REDIRECT));

    let app = oauth.client("op").unwrap();
    let claims = app.parse_id_token(&token, Some(&q["nonce"])).await.unwrap();
    assert_eq!((claims["sub"].as_str(), claims["email"].as_str()), (Some("user-1"), Some("u@example.com")));
    let id_token_error = |r: Result<_, Error>| match r {
        Err(Error::OAuth2(ClientError::Oidc(OidcError::IdToken(e)))) => e,
        other => panic!("{other:?}"),
    };
    let e = id_token_error(app.parse_id_token(&token, Some("another-nonce")).await);
    assert_eq!(e, IdTokenError::NonceMismatch, "the nonce is checked");
    let mut forged = token.oauth2().unwrap().clone();
    forged.id_token =
        Some(op.signer.sign(&json!({"iss": "https://op.example", "sub": "user-1", "aud": "someone-else",
        "iat": NOW, "exp": NOW + 300})));
    let e = id_token_error(app.parse_id_token(&AppToken::OAuth2(forged), None).await);
    assert!(matches!(e, IdTokenError::Audience { .. }), "the audience is checked: {e:?}");
    let no_id_token = AppToken::OAuth2(Token::bearer("at"));
    let e = app.parse_id_token(&no_id_token, None).await.unwrap_err();
    assert!(matches!(e, Error::OAuth2(ClientError::Oidc(OidcError::MissingIdToken))), "{e:?}");
    let oauth1 =
        AppToken::OAuth1(serde_json::from_str(r#"{"oauth_token":"t","oauth_token_secret":"s"}"#).unwrap());
    assert!(matches!(app.parse_id_token(&oauth1, None).await, Err(Error::WrongToken { .. })));
}

#[tokio::test]
async fn the_apple_preset_reads_userinfo_from_the_id_token() {
    let op = Op::new(
        "https://appleid.apple.com/.well-known/openid-configuration",
        "https://appleid.apple.com/auth",
        "https://appleid.apple.com",
    )
    .without_userinfo();
    let oauth = builder(&op).build();
    // Only credentials in code: the rest comes from the `apple` preset.
    oauth.register("apple", credentials()).unwrap();

    let (token, q) = login(&oauth, "apple", &op, &[]).await;
    let token = token.unwrap();
    assert_eq!(q["response_mode"], "form_post", "the preset's authorize_params");
    assert_eq!(q["scope"], "openid email name");
    // The preset's client_secret_post.
    let sent = op.requests_to("/token");
    let form: BTreeMap<String, String> =
        parse_form(std::str::from_utf8(&sent[0].1).unwrap()).unwrap().into_iter().collect();
    assert_eq!((form["client_id"].as_str(), form["client_secret"].as_str()), ("cid", "secret"));

    let requests = op.log.lock().unwrap().len();
    let userinfo = oauth.client("apple").unwrap().userinfo(&token).await.unwrap();
    assert_eq!(
        (userinfo["sub"].as_str(), userinfo["email"].as_str()),
        (Some("user-1"), Some("u@example.com"))
    );
    assert_eq!(userinfo["nonce"], q["nonce"].as_str(), "the ID token's claims");
    assert_eq!(op.log.lock().unwrap().len(), requests, "no request to a userinfo endpoint");
}

#[tokio::test]
async fn the_microsoft_preset_fills_the_issuer_template_from_the_tenant() {
    let op = Op::new(
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
        "https://login.microsoftonline.com/common/oauth2/v2.0",
        "https://login.microsoftonline.com/{tenantid}/v2.0",
    );
    let oauth = builder(&op).build();
    oauth.register("microsoft", credentials()).unwrap();

    let tenant = |iss_tenant: &str, tid: &str| {
        json!({"iss": format!("https://login.microsoftonline.com/{iss_tenant}/v2.0"), "tid": tid,
            "sub": "user-1", "aud": "cid", "iat": NOW, "exp": NOW + 300})
    };
    *op.claims.lock().unwrap() = tenant("t-1", "t-1");
    let (token, _) = login(&oauth, "microsoft", &op, &[]).await;
    let token = token.unwrap();
    assert_eq!(token.userinfo().unwrap()["tid"], "t-1");

    // An ID token whose issuer is another tenant's than its `tid` is refused.
    *op.claims.lock().unwrap() = tenant("t-2", "t-1");
    let (token, _) = login(&oauth, "microsoft", &op, &[]).await;
    let err = token.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::OAuth2(ClientError::Oidc(OidcError::IdToken(IdTokenError::Issuer { expected, .. })))
                if expected == "https://login.microsoftonline.com/t-1/v2.0"
        ),
        "{err:?}"
    );
}

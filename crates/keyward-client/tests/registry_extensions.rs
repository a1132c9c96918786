//! The registry's declared extension points: custom OAuth 1 signature methods registered on
//! the builder and chosen by `client_kwargs.signature_method`, the key each method's
//! declared kind requires, and unknown names as configuration errors.

use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::{KeyKind, SignError, SignatureMethod, SigningKeys, VerifyError, VerifyKeys};
use keyward::{HttpClient, HttpError};
use keyward_client::registry::{AppConfig, ClientKwargs, ConfigError, Error, OAuth};
use keyward_client::session::MemorySession;
use std::sync::{Arc, Mutex};

/// A custom shared-secret method: the "signature" names the secret it was given.
struct Echo;
impl SignatureMethod for Echo {
    fn name(&self) -> &str {
        "X-ECHO"
    }
    fn key_kind(&self) -> KeyKind {
        KeyKind::SharedSecret
    }
    fn sign(&self, base: &str, keys: &SigningKeys<'_>) -> Result<String, SignError> {
        assert!(base.starts_with("POST&https%3A%2F%2Fprov.example%2Finitiate&"), "{base}");
        Ok(format!("echo:{}", keys.client_secret))
    }
    fn verify(&self, _: &str, _: &str, _: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        Err(VerifyError::InvalidSignature)
    }
}

/// A custom method that declares an RSA key pair, whatever its name.
struct Pkcs1;
impl SignatureMethod for Pkcs1 {
    fn name(&self) -> &str {
        "X-PKCS1"
    }
    fn key_kind(&self) -> KeyKind {
        KeyKind::RsaKeyPair
    }
    fn sign(&self, _: &str, _: &SigningKeys<'_>) -> Result<String, SignError> {
        unreachable!("never registered with a key in these tests")
    }
    fn verify(&self, _: &str, _: &str, _: &VerifyKeys<'_>) -> Result<(), VerifyError> {
        Err(VerifyError::InvalidSignature)
    }
}

fn oauth1_config(method: &str) -> AppConfig {
    AppConfig {
        client_id: Some("ck".into()),
        client_secret: Some(SecretString::new("cs")),
        request_token_url: Some("https://prov.example/initiate".into()),
        authorize_url: Some("https://prov.example/authorize".into()),
        access_token_url: Some("https://prov.example/token".into()),
        client_kwargs: ClientKwargs { signature_method: Some(method.into()), ..ClientKwargs::default() },
        ..AppConfig::default()
    }
}

#[tokio::test]
async fn a_custom_signature_method_signs_registry_requests() {
    let headers = Arc::new(Mutex::new(Vec::new()));
    let seen = headers.clone();
    let http: Arc<dyn HttpClient> = Arc::new(move |req: http::Request<Vec<u8>>| {
        let seen = seen.clone();
        async move {
            assert_eq!(req.uri(), "https://prov.example/initiate");
            let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
            seen.lock().unwrap().push(auth);
            Ok::<_, HttpError>(
                http::Response::builder()
                    .status(200)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(b"oauth_token=rt&oauth_token_secret=rts&oauth_callback_confirmed=true".to_vec())
                    .unwrap(),
            )
        }
    });
    let oauth = OAuth::builder().http_client(http).signature_method(Echo).build();
    let app = oauth.register("prov", oauth1_config("X-ECHO")).unwrap();
    let session = MemorySession::new();
    let redirect = app.authorize_redirect(&session, "https://app.example/cb").await.unwrap();
    assert_eq!(redirect.url, "https://prov.example/authorize?oauth_token=rt");
    let headers = headers.lock().unwrap();
    assert_eq!(headers.len(), 1);
    assert!(headers[0].starts_with("OAuth "), "{}", headers[0]);
    assert!(headers[0].contains(r#"oauth_signature_method="X-ECHO""#), "{}", headers[0]);
    // The method got the client secret, and its output is the percent-encoded signature.
    assert!(headers[0].contains(r#"oauth_signature="echo%3Acs""#), "{}", headers[0]);
}

#[test]
fn an_unknown_signature_method_is_a_config_error() {
    // Registered on another registry only: unknown here.
    let oauth = OAuth::builder().build();
    let err = oauth.register("prov", oauth1_config("X-ECHO")).unwrap_err();
    assert!(
        matches!(&err, Error::Config(ConfigError::Invalid { key, .. }) if key == "client_kwargs.signature_method"),
        "{err:?}"
    );
    assert!(err.to_string().contains("X-ECHO"), "{err}");
}

#[test]
fn the_declared_key_kind_says_which_key_is_required() {
    let oauth = OAuth::builder().signature_method(Pkcs1).build();
    // An RSA method needs client_kwargs.rsa_key, even with a secret and a name without `RSA-`.
    let err = oauth.register("a", oauth1_config("X-PKCS1")).unwrap_err();
    assert!(
        matches!(err, Error::Config(ConfigError::Missing { key: "client_kwargs.rsa_key", .. })),
        "{err:?}"
    );
    // A shared-secret method needs client_secret.
    let mut cfg = oauth1_config("HMAC-SHA1");
    cfg.client_secret = None;
    let err = oauth.register("b", cfg).unwrap_err();
    assert!(matches!(err, Error::Config(ConfigError::Missing { key: "client_secret", .. })), "{err:?}");
    // The built-in RSA methods declare it too.
    let err = oauth.register("c", oauth1_config("RSA-SHA256")).unwrap_err();
    assert!(
        matches!(err, Error::Config(ConfigError::Missing { key: "client_kwargs.rsa_key", .. })),
        "{err:?}"
    );
    assert!(oauth.register("d", oauth1_config("HMAC-SHA256")).is_ok());
}

/// The `Authorization` header and the form body of each token request.
type TokenRequests = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// A token endpoint that records each request.
fn token_endpoint(seen: TokenRequests) -> Arc<dyn HttpClient> {
    Arc::new(move |req: http::Request<Vec<u8>>| {
        let seen = seen.clone();
        async move {
            assert_eq!(req.uri(), "https://prov.example/token");
            let auth = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
            seen.lock().unwrap().push((auth, String::from_utf8(req.body().clone()).unwrap()));
            Ok::<_, HttpError>(
                http::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(br#"{"access_token":"at","token_type":"Bearer","expires_in":60}"#.to_vec())
                    .unwrap(),
            )
        }
    })
}

fn oauth2_config(method: Option<&str>) -> AppConfig {
    AppConfig {
        client_id: Some("cid".into()),
        client_secret: Some(SecretString::new("secret")),
        authorize_url: Some("https://prov.example/authorize".into()),
        access_token_url: Some("https://prov.example/token".into()),
        client_kwargs: ClientKwargs {
            token_endpoint_auth_method: method.map(str::to_owned),
            ..ClientKwargs::default()
        },
        ..AppConfig::default()
    }
}

#[tokio::test]
async fn client_auth_methods_built_in_or_registered_are_one_lookup_by_name() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let oauth = OAuth::builder()
        .http_client(token_endpoint(seen.clone()))
        // Replaces the built-in method of that name.
        .client_auth_method(
            "client_secret_post",
            |req: &mut keyward::oauth2::FormRequest, ctx: &keyward::oauth2::rfc6749::AuthContext<'_>| {
                req.set("client_id", ctx.client_id);
                req.set("proof", "replaced");
                Ok(())
            },
        )
        .build();
    for (app, method) in [("basic", None), ("post", Some("client_secret_post")), ("public", Some("none"))] {
        let app = oauth.register(app, oauth2_config(method)).unwrap();
        app.oauth2().unwrap().client_credentials(None).await.unwrap();
    }
    {
        let seen = seen.lock().unwrap();
        // The default with a secret: client_secret_basic.
        assert_eq!(seen[0].0.as_deref(), Some("Basic Y2lkOnNlY3JldA=="));
        assert_eq!(seen[0].1, "grant_type=client_credentials");
        // The registered method won over the built-in one.
        assert_eq!(seen[1], (None, "grant_type=client_credentials&client_id=cid&proof=replaced".to_owned()));
        assert_eq!(seen[2], (None, "grant_type=client_credentials&client_id=cid".to_owned()));
    }

    let app = oauth.register("unknown", oauth2_config(Some("mystery_auth"))).unwrap();
    let err = app.oauth2().unwrap().client_credentials(None).await.unwrap_err();
    assert!(err.to_string().contains("mystery_auth"), "{err}");
}

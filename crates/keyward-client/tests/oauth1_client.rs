//! The OAuth 1.0a client driver over a closure [`HttpClient`]: the exact bytes of each
//! request it sends (RFC 5849 §2.1, §2.3, §3.1; signatures cross-checked with Python's
//! oauthlib for the same timestamp and nonce), and how it reads every kind of response.

use keyward::RandomSource;
use keyward::common::clock::FixedClock;
use keyward::common::http_client::{HttpClient, HttpError};
use keyward::oauth1::rfc5849::{
    ClientCredentials, SignatureMethods, SignatureType, Signer, TokenCredentials,
};
use keyward_client::oauth1::{Endpoints, OAuth1Client, OAuth1Error};
use keyward_client::registry::ConfigError;
use std::sync::{Arc, Mutex};

/// Random bytes that are all zero: every nonce is thirty `A`s.
struct Zeros;
impl RandomSource for Zeros {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(0);
    }
}

type Seen = Arc<Mutex<Vec<http::Request<Vec<u8>>>>>;

/// A client that records each request and answers with the next canned response.
fn mock(responses: Vec<Result<http::Response<Vec<u8>>, HttpError>>) -> (Arc<dyn HttpClient>, Seen) {
    let seen: Seen = Arc::default();
    let queue = Arc::new(Mutex::new(responses));
    let record = seen.clone();
    let client = move |req: http::Request<Vec<u8>>| {
        record.lock().unwrap().push(req);
        let next = queue.lock().unwrap().remove(0);
        async move { next }
    };
    (Arc::new(client), seen)
}

fn form(status: u16, body: &str) -> Result<http::Response<Vec<u8>>, HttpError> {
    Ok(http::Response::builder()
        .status(status)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.as_bytes().to_vec())
        .unwrap())
}

fn client(http: Arc<dyn HttpClient>, signer: Signer) -> OAuth1Client {
    let endpoints = Endpoints::new(
        "https://photos.example.net/initiate",
        "https://photos.example.net/authorize?lang=en",
        "https://photos.example.net/token",
    )
    .unwrap();
    OAuth1Client::new(signer, endpoints, http)
        .with_clock(Arc::new(FixedClock::new(137131200)))
        .with_random(Arc::new(Zeros))
}

fn rfc_signer() -> Signer {
    Signer::new(ClientCredentials::new("dpf43f3p2l4k3l03", "kd94hf93k423kf44")).realm("Photos")
}

const NONCE: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

#[tokio::test]
async fn three_legged_flow_sends_exact_bytes() {
    let (http, seen) = mock(vec![
        form(
            200,
            "oauth_token=hh5s93j4hdidpola&oauth_token_secret=hdhd0244k9j7ao03&oauth_callback_confirmed=True",
        ),
        form(200, "oauth_token=nnch734d00sl2jdk&oauth_token_secret=pfkkdhi9sl3r4s00&user_id=7"),
        Ok(http::Response::builder().status(404).body(b"no such photo".to_vec()).unwrap()),
    ]);
    let client = client(http, rfc_signer());

    let temporary =
        client.fetch_temporary_credentials(Some("http://printer.example.com/ready")).await.unwrap();
    assert_eq!(temporary.credentials, TokenCredentials::new("hh5s93j4hdidpola", "hdhd0244k9j7ao03"));
    assert!(temporary.params.is_empty(), "oauth_callback_confirmed is consumed");

    assert_eq!(
        client.authorization_url(&temporary.credentials, &[("perms", "read write")]),
        "https://photos.example.net/authorize?lang=en&oauth_token=hh5s93j4hdidpola&perms=read%20write"
    );

    let token = client.fetch_token_credentials(&temporary.credentials, "hfdp7dh39dks9884").await.unwrap();
    assert_eq!(token.credentials, TokenCredentials::new("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00"));
    assert_eq!(token.params.get("user_id").map(String::as_str), Some("7"));

    let photo = http::Request::get("http://photos.example.net/photos?file=vacation.jpg&size=original")
        .body(Vec::new())
        .unwrap();
    let response = client.call(photo, &token.credentials).await.unwrap();
    assert_eq!(response.status(), 404, "API responses come back whatever their status");

    let seen = seen.lock().unwrap();
    let expect = [
        (
            "POST",
            "https://photos.example.net/initiate",
            format!(
                "OAuth realm=\"Photos\", oauth_consumer_key=\"dpf43f3p2l4k3l03\", oauth_signature_method=\"HMAC-SHA1\", \
                 oauth_timestamp=\"137131200\", oauth_nonce=\"{NONCE}\", oauth_version=\"1.0\", \
                 oauth_callback=\"http%3A%2F%2Fprinter.example.com%2Fready\", \
                 oauth_signature=\"laAKJLH9z6Zi%2FzAC7n%2FZN%2F6xLRA%3D\""
            ),
        ),
        (
            "POST",
            "https://photos.example.net/token",
            format!(
                "OAuth realm=\"Photos\", oauth_consumer_key=\"dpf43f3p2l4k3l03\", oauth_token=\"hh5s93j4hdidpola\", \
                 oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"137131200\", oauth_nonce=\"{NONCE}\", \
                 oauth_version=\"1.0\", oauth_verifier=\"hfdp7dh39dks9884\", \
                 oauth_signature=\"uchnk%2BQKo8XSmgaY0FURN6SxVQk%3D\""
            ),
        ),
        (
            "GET",
            "http://photos.example.net/photos?file=vacation.jpg&size=original",
            format!(
                "OAuth realm=\"Photos\", oauth_consumer_key=\"dpf43f3p2l4k3l03\", oauth_token=\"nnch734d00sl2jdk\", \
                 oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"137131200\", oauth_nonce=\"{NONCE}\", \
                 oauth_version=\"1.0\", oauth_signature=\"CUWQlcoYyvnCRS3z%2BsVLQzIeWF8%3D\""
            ),
        ),
    ];
    assert_eq!(seen.len(), expect.len());
    for (req, (method, uri, auth)) in seen.iter().zip(expect) {
        assert_eq!(req.method(), method);
        assert_eq!(req.uri(), uri);
        assert_eq!(req.headers()["authorization"], auth.as_str(), "{uri}");
        assert_eq!(req.headers().len(), 1, "{uri}: only the Authorization header");
        assert!(req.body().is_empty());
    }
}

#[tokio::test]
async fn query_signing_with_request_token_params() {
    let (http, seen) = mock(vec![form(200, "oauth_token=t&oauth_token_secret=s&oauth_callback_confirmed=1")]);
    let signer = Signer::new(ClientCredentials::new("dpf43f3p2l4k3l03", "kd94hf93k423kf44"))
        .signature_type(SignatureType::Query);
    let client =
        client(http, signer).with_request_token_params([("scope".to_owned(), "photos read".to_owned())]);
    client.fetch_temporary_credentials(None).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].uri(),
        "https://photos.example.net/initiate?scope=photos%20read&oauth_consumer_key=dpf43f3p2l4k3l03\
         &oauth_signature_method=HMAC-SHA1&oauth_timestamp=137131200&oauth_nonce=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
         &oauth_version=1.0&oauth_callback=oob&oauth_signature=hn5J13Uws1tLrzhMWHdQFCaQeGA%3D"
    );
    assert!(seen[0].headers().get("authorization").is_none());
}

#[tokio::test]
async fn body_signing_puts_parameters_in_a_form() {
    let (http, seen) =
        mock(vec![form(200, "oauth_token=t&oauth_token_secret=s&oauth_callback_confirmed=true")]);
    let signer = Signer::new(ClientCredentials::new("ck", "cs")).signature_type(SignatureType::Body);
    client(http, signer).fetch_temporary_credentials(Some("https://c.example/cb")).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].uri(), "https://photos.example.net/initiate");
    assert_eq!(seen[0].headers()["content-type"], "application/x-www-form-urlencoded");
    let body = std::str::from_utf8(seen[0].body()).unwrap();
    assert!(body.starts_with("oauth_consumer_key=ck&oauth_signature_method=HMAC-SHA1&"), "{body}");
    assert!(body.contains("&oauth_callback=https%3A%2F%2Fc.example%2Fcb&oauth_signature="), "{body}");
}

#[tokio::test]
async fn callback_confirmation_is_lenient_in_form_strict_in_presence() {
    for value in ["true", "True", "TRUE", "1"] {
        let body = format!("oauth_token=t&oauth_token_secret=s&oauth_callback_confirmed={value}");
        let (http, _) = mock(vec![form(200, &body)]);
        assert!(client(http, rfc_signer()).fetch_temporary_credentials(None).await.is_ok(), "{value}");
    }
    let (http, _) = mock(vec![form(200, "oauth_token=t&oauth_token_secret=s")]);
    let err = client(http, rfc_signer()).fetch_temporary_credentials(Some("https://c/cb")).await.unwrap_err();
    assert!(matches!(err, OAuth1Error::CallbackNotConfirmed { value: None }), "{err:?}");
    let (http, _) =
        mock(vec![form(200, "oauth_token=t&oauth_token_secret=s&oauth_callback_confirmed=false")]);
    let err = client(http, rfc_signer()).fetch_temporary_credentials(Some("https://c/cb")).await.unwrap_err();
    assert!(
        matches!(err, OAuth1Error::CallbackNotConfirmed { value: Some(ref v) } if v == "false"),
        "{err:?}"
    );
}

#[tokio::test]
async fn json_responses_are_read() {
    let json = Ok(http::Response::builder()
        .status(200)
        .header("content-type", "application/json; charset=utf-8")
        .body(
            br#"{"oauth_token":"tk","oauth_token_secret":"ts","user_id":12345,"screen_name":"ann"}"#.to_vec(),
        )
        .unwrap());
    let (http, _) = mock(vec![json]);
    let token = client(http, rfc_signer())
        .fetch_token_credentials(&TokenCredentials::new("a", "b"), "v")
        .await
        .unwrap();
    assert_eq!(token.credentials, TokenCredentials::new("tk", "ts"));
    assert_eq!(token.params["user_id"], "12345");
    assert_eq!(token.params["screen_name"], "ann");
}

#[tokio::test]
async fn failing_responses_are_typed_errors_with_status_and_body() {
    let (http, _) = mock(vec![form(401, "error=invalid_signature&error_description=bad+sig")]);
    let err = client(http, rfc_signer()).fetch_token_credentials(&TokenCredentials::new("a", "b"), "v").await;
    match err.unwrap_err() {
        OAuth1Error::Status { endpoint, status, error, body } => {
            assert_eq!((endpoint, status.as_u16()), ("token-credential", 401));
            let error = error.unwrap();
            assert_eq!(error.error, "invalid_signature");
            assert_eq!(error.error_description.as_deref(), Some("bad sig"));
            assert_eq!(body, "error=invalid_signature&error_description=bad+sig");
        }
        other => panic!("{other:?}"),
    }

    let html = Ok(http::Response::builder().status(500).body(b"<h1>oops</h1>".to_vec()).unwrap());
    let (http, _) = mock(vec![html]);
    match client(http, rfc_signer()).fetch_temporary_credentials(None).await.unwrap_err() {
        OAuth1Error::Status { status, error: None, body, .. } => {
            assert_eq!((status.as_u16(), body.as_str()), (500, "<h1>oops</h1>"));
        }
        other => panic!("{other:?}"),
    }

    let (http, _) = mock(vec![form(200, "oauth_token=t&oauth_callback_confirmed=true")]);
    match client(http, rfc_signer()).fetch_temporary_credentials(None).await.unwrap_err() {
        OAuth1Error::InvalidResponse { reason, body, .. } => {
            assert!(reason.contains("oauth_token_secret"), "{reason}");
            assert_eq!(body, "oauth_token=t&oauth_callback_confirmed=true");
        }
        other => panic!("{other:?}"),
    }

    let (http, _) = mock(vec![form(200, "oauth_token=%ZZ")]);
    let err = client(http, rfc_signer()).fetch_token_credentials(&TokenCredentials::new("a", "b"), "v").await;
    assert!(matches!(err, Err(OAuth1Error::InvalidResponse { .. })));

    let (http, _) = mock(vec![Err(HttpError::Timeout)]);
    let err = client(http, rfc_signer()).fetch_temporary_credentials(None).await;
    assert!(matches!(err, Err(OAuth1Error::Http(HttpError::Timeout))));
}

#[test]
fn secrets_stay_out_of_debug() {
    let token = TokenCredentials::new("public-token", "very-secret");
    let (http, _) = mock(vec![]);
    let c = client(http, rfc_signer());
    let dbg = format!("{token:?} {c:?}");
    assert!(dbg.contains("public-token"));
    assert!(!dbg.contains("very-secret") && !dbg.contains("kd94hf93k423kf44"), "{dbg}");
}

fn app_config(toml_text: &str) -> keyward_client::registry::AppConfig {
    toml::from_str(toml_text).unwrap()
}

#[tokio::test]
async fn clients_come_from_registry_entries() {
    let cfg = app_config(
        r#"
        client_id = "dpf43f3p2l4k3l03"
        client_secret = "kd94hf93k423kf44"
        request_token_url = "https://photos.example.net/initiate"
        authorize_url = "https://photos.example.net/authorize"
        access_token_url = "https://photos.example.net/token"
        request_token_params = { scope = "photos read" }
        authorize_params = { perms = "read" }
        [client_kwargs]
        signature_type = "QUERY"
        signature_method = "HMAC-SHA1"
        "#,
    );
    let (http, seen) =
        mock(vec![form(200, "oauth_token=t&oauth_token_secret=s&oauth_callback_confirmed=true")]);
    let client = cfg
        .oauth1_client("photos", &SignatureMethods::default(), http)
        .unwrap()
        .with_clock(Arc::new(FixedClock::new(137131200)))
        .with_random(Arc::new(Zeros));
    let temporary = client.fetch_temporary_credentials(None).await.unwrap();
    // The same bytes as `query_signing_with_request_token_params`, whose signature
    // oauthlib computed.
    assert!(
        seen.lock().unwrap()[0]
            .uri()
            .to_string()
            .ends_with("&oauth_signature=hn5J13Uws1tLrzhMWHdQFCaQeGA%3D")
    );
    assert_eq!(
        client.authorization_url(&temporary.credentials, &[]),
        "https://photos.example.net/authorize?oauth_token=t&perms=read"
    );

    let oauth2 = app_config(
        r#"
        client_id = "x"
        client_secret = "y"
        authorize_url = "https://a.example/authorize"
        access_token_url = "https://a.example/token"
        "#,
    );
    let (http, _) = mock(vec![]);
    assert!(
        matches!(oauth2.oauth1_client("a", &SignatureMethods::default(), http), Err(ConfigError::Invalid { key, .. }) if key == "request_token_url")
    );

    for (key, value) in [("signature_type", "HEADERS"), ("signature_method", "HMAC-MD5")] {
        let mut bad = cfg.clone();
        match key {
            "signature_type" => bad.client_kwargs.signature_type = Some(value.into()),
            _ => bad.client_kwargs.signature_method = Some(value.into()),
        }
        let (http, _) = mock(vec![]);
        let err = bad.oauth1_client("photos", &SignatureMethods::default(), http).unwrap_err();
        assert!(err.to_string().contains(key), "{key}: {err}");
    }

    // An endpoint that is not absolute is a configuration error naming its key.
    let mut bad = cfg.clone();
    bad.access_token_url = Some("/token".into());
    let (http, _) = mock(vec![]);
    let err = bad.oauth1_client("photos", &SignatureMethods::default(), http).unwrap_err();
    assert!(matches!(&err, ConfigError::Invalid { key, .. } if key == "access_token_url"), "{err:?}");
}

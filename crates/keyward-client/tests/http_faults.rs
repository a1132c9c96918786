//! A misbehaving provider over real HTTP (a local TCP server, `ReqwestClient`): the token
//! endpoint answering garbage, an HTML page, a 200 carrying an `error`, or nothing at all,
//! and the JWKS endpoint down, failing or hanging. Every case is a typed error inside a
//! bounded time, and the same client logs in once the provider behaves again.

use keyward::HttpError;
use keyward::common::secret::SecretString;
use keyward::oauth2::OAuth2Error;
use keyward_client::ReqwestClient;
use keyward_client::flow::{Callback, FlowData};
use keyward_client::oauth2::{ClientError, OAuth2Client, OAuth2Config};
use keyward_testkit::jose::{TestSigner, jwks};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The client's timeout on every call.
const TIMEOUT: Duration = Duration::from_millis(800);
/// The most any failing login may take: the timeout and some slack for a loaded machine.
const BOUND: Duration = Duration::from_secs(4);

#[derive(Clone)]
enum Answer {
    /// Status, content type, body.
    Reply(u16, &'static str, String),
    /// Accept the request, never answer.
    Hang,
    /// Close the connection without a response.
    Close,
}

type Routes = Arc<Mutex<HashMap<&'static str, Answer>>>;

/// A tiny HTTP/1.1 server on a free loopback port, answering by path from `routes`.
async fn server(routes: Routes) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head and as much body as Content-Length says.
                let (head_end, length) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0usize);
                        break (i + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&buf[..head_end]).lines().next().unwrap_or("").to_owned();
                let path = line.split(' ').nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_owned();
                let answer = routes.lock().unwrap().get(path.as_str()).cloned();
                match answer.unwrap_or(Answer::Reply(404, "text/plain", "no route".into())) {
                    Answer::Reply(status, ctype, body) => {
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = sock.write_all(resp.as_bytes()).await;
                    }
                    Answer::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Answer::Close => drop(sock),
                }
            });
        }
    });
    base
}

fn set(routes: &Routes, path: &'static str, answer: Answer) {
    routes.lock().unwrap().insert(path, answer);
}

fn json_reply(status: u16, body: serde_json::Value) -> Answer {
    Answer::Reply(status, "application/json", body.to_string())
}

fn client(config: OAuth2Config) -> OAuth2Client {
    OAuth2Client::new(config, Arc::new(ReqwestClient::with_timeout(TIMEOUT))).unwrap()
}

/// Runs one callback exchange and checks it ends inside [`BOUND`].
async fn exchange(c: &OAuth2Client, flow: &FlowData) -> Result<(), ClientError> {
    let callback = Callback::from_query("code=code-1&state=s").unwrap();
    let start = Instant::now();
    let r = tokio::time::timeout(BOUND * 2, c.exchange_callback(&callback, flow))
        .await
        .expect("a login did not finish in bounded time");
    assert!(start.elapsed() < BOUND, "took {:?}", start.elapsed());
    r.map(drop)
}

#[tokio::test]
async fn a_broken_token_endpoint_is_a_typed_error_in_bounded_time() {
    let routes = Routes::default();
    let base = server(routes.clone()).await;
    let mut config = OAuth2Config::new("client-1");
    config.client_secret = Some(SecretString::new("secret-1"));
    config.token_url = Some(format!("{base}/token"));
    let c = client(config);
    let flow = FlowData { redirect_uri: Some("https://rp.example/cb".into()), ..Default::default() };

    set(&routes, "/token", Answer::Reply(200, "application/json", "{\"access_token\": \"at".into()));
    let e = exchange(&c, &flow).await.unwrap_err();
    assert!(matches!(e, ClientError::OAuth2(OAuth2Error::Parse { status: 200, .. })), "garbage: {e:?}");

    let html = "<html><body><h1>502 Bad Gateway</h1></body></html>".to_owned();
    set(&routes, "/token", Answer::Reply(502, "text/html", html.clone()));
    let e = exchange(&c, &flow).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::OAuth2(OAuth2Error::Status { .. } | OAuth2Error::Parse { .. })),
        "html: {e:?}"
    );
    set(&routes, "/token", Answer::Reply(200, "text/html", html));
    let e = exchange(&c, &flow).await.unwrap_err();
    assert!(matches!(&e, ClientError::OAuth2(OAuth2Error::Parse { status: 200, .. })), "200 html: {e:?}");

    set(
        &routes,
        "/token",
        json_reply(200, json!({"error": "invalid_grant", "error_description": "code used"})),
    );
    let e = exchange(&c, &flow).await.unwrap_err();
    match &e {
        ClientError::OAuth2(o) => assert_eq!(o.code(), Some("invalid_grant"), "{e:?}"),
        other => panic!("200 with error: {other:?}"),
    }

    set(&routes, "/token", Answer::Hang);
    let start = Instant::now();
    let e = exchange(&c, &flow).await.unwrap_err();
    assert!(matches!(e, ClientError::Http(HttpError::Timeout)), "hang: {e:?}");
    assert!(start.elapsed() >= TIMEOUT, "the timeout fired early: {:?}", start.elapsed());

    set(&routes, "/token", Answer::Close);
    let e = exchange(&c, &flow).await.unwrap_err();
    assert!(matches!(e, ClientError::Http(_)), "closed: {e:?}");

    // The same client works once the endpoint does.
    set(&routes, "/token", json_reply(200, json!({"access_token": "at-1", "token_type": "Bearer"})));
    exchange(&c, &flow).await.unwrap();
}

#[tokio::test]
async fn jwks_down_or_slow_fails_the_login_clearly_in_bounded_time() {
    let routes = Routes::default();
    let base = server(routes.clone()).await;
    let signer = TestSigner::load("oidc_op_a.pem", "key-a");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let id_token = signer.sign(&json!({
        "iss": base, "sub": "user-1", "aud": "client-1", "iat": now, "exp": now + 300, "nonce": "nonce-1",
    }));
    set(
        &routes,
        "/token",
        json_reply(200, json!({"access_token": "at-1", "token_type": "Bearer", "id_token": id_token})),
    );
    let mut config = OAuth2Config::new("client-1");
    config.client_secret = Some(SecretString::new("secret-1"));
    config.token_url = Some(format!("{base}/token"));
    config.jwks_uri = Some(format!("{base}/jwks"));
    config.issuer = Some(base.clone());
    config.scope = Some("openid".into());
    config.jwks_refetch_interval = 0;
    let c = client(config);
    let flow = FlowData {
        redirect_uri: Some("https://rp.example/cb".into()),
        nonce: Some("nonce-1".into()),
        ..Default::default()
    };

    type Expect = fn(&ClientError) -> bool;
    let cases: [(&str, Answer, Expect); 4] = [
        ("down", Answer::Close, |e| matches!(e, ClientError::Http(_))),
        ("503", Answer::Reply(503, "text/html", "<h1>Service Unavailable</h1>".into()), |e| {
            matches!(e, ClientError::OAuth2(OAuth2Error::Status { status: 503, .. }))
        }),
        ("garbage", Answer::Reply(200, "application/json", "{\"keys\": [".into()), |e| {
            matches!(e, ClientError::OAuth2(OAuth2Error::Parse { status: 200, .. }))
        }),
        ("slow", Answer::Hang, |e| matches!(e, ClientError::Http(HttpError::Timeout))),
    ];
    for (what, answer, expect) in cases {
        set(&routes, "/jwks", answer);
        let e = exchange(&c, &flow).await.expect_err(what);
        assert!(expect(&e), "{what}: {e:?}");
    }

    // The provider recovers: the same client logs in.
    set(&routes, "/jwks", json_reply(200, jwks(&[&signer])));
    exchange(&c, &flow).await.unwrap();
}

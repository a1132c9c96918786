//! Load benchmark (not a timed test) for the OAuth 2.1 authorization server on axum, with
//! panva's `oidc-provider` (npm, in one Node process) as the anchor, loaded by the same
//! generator in the same run.
//!
//! The server runs in the bench's process: axum over the server's memory store (and over
//! the Redis store with `REDIS_URL`), with a confidential client `service` allowed the
//! `client_credentials` grant, authenticating with `client_secret_basic`; its secret is
//! stored as a SHA-256, as a generated secret is. Its phases, after one second of warm-up
//! each, run twice in turn for `SECONDS` each:
//!
//! - `bare`: a handler that reads nothing, sent the same request as the bearer route;
//! - `token`: the token endpoint (RFC 6749 §4.4), `grant_type=client_credentials`, opaque
//!   access tokens (each request stores a new token);
//! - `introspect`: the introspection endpoint (RFC 7662 §2), client-authenticated with
//!   Basic, of `TOKENS` distinct opaque access tokens issued just before the phase;
//! - `bearer`: `GET /api/me` behind the `OAuth2Bearer` extractor (RFC 6750), with `TOKENS`
//!   distinct opaque access tokens.
//!
//! JWT access tokens (RFC 9068, RS256, a 2048-bit key from a `KeySet`) on a second server
//! in the process whose `service` client gets them: `JWT_TOKENS` (default 5 000) distinct
//! tokens issued through the core before the load, then twice in turn
//! - `bare (JWT)`: the bare handler, sent the same requests;
//! - `bearer-jwt`: `GET /api/me`, each request's signature checked (no cache);
//! - `bearer-jwt-cached`: `GET /api/me-cached`, behind a protector with
//!   `ResourceProtector::with_cache` (`CachingVerifier`, default bounds: 10 000 entries,
//!   60 s): once warm, every token is in the cache;
//! - `bearer-jwt-small-cache`: `GET /api/me-small`, a cache of `JWT_TOKENS / 5` entries, so
//!   that most requests miss it (what a cache smaller than the live tokens buys).
//!
//! OpenID Connect, on a Keyward OpenID Provider in the process (memory store, client `basic`
//! with `client_secret_basic`, ID tokens RS256, then a second one with EdDSA) and on the
//! anchor, twice each after a warm-up:
//! - `userinfo`: `GET /userinfo` (the anchor's `/me`) over `OIDC_TOKENS` (default 200)
//!   distinct access tokens (scope `openid email`) from code flows run just before (each flow
//!   leaves three records in the anchor's LRU of 1 000: code, access and refresh token);
//! - `code flow`: each iteration of a connection is a whole flow, counted once: the
//!   authorization request of a signed-in user whose consent is given (Keyward: the bench's
//!   handler takes the `session=alice` cookie as that user and grants at once; the anchor:
//!   its session cookie from one sign-in and consent through its development interactions,
//!   after which it answers with the code at once), the token request with the PKCE
//!   verifier (which signs an ID token), and UserInfo with the new access token.
//!
//! The anchor (`KEYWARD_PEERS` set, with `oidc-provider` installed under
//! `$KEYWARD_PEERS/node/node_modules`): `tests/peers/oidc/server.mjs` in a Node process of
//! its own, default in-memory adapter, its `service` client (the same secret): token
//! requests and introspections of opaque tokens in the same shape. Its in-memory adapter
//! keeps at most 1 000 records (an LRU), so the introspected tokens are issued just before
//! each introspection phase and `TOKENS` stays under that; every answer is checked to be
//! `"active":true`.
//!
//! The load generator is this bench binary run again as a process of its own (the
//! environment variable `KEYWARD_BENCH_GENERATOR` selects that mode): it opens
//! `CONNECTIONS` (default 8) keep-alive HTTP/1.1 connections to 127.0.0.1, sends the
//! phase's requests (handed over on its stdin, each connection cycling through them from
//! its own offset), one at a time per connection, for `SECONDS`, checks every response's
//! status and that its body holds the expected text, and reports its counts and its own CPU
//! time. It runs on one thread (`GENERATOR_THREADS` to change). Every phase prints
//! requests/s and the CPU time per request (user + system, from `/proc`) of the server's
//! process, of the generator, and of the local `redis-server` in the Redis phases.
//!
//! Before the load, without HTTP, the bench times `SAMPLES` (default 20 000) requests through
//! the core alone on a fresh memory store: the token endpoint, introspection and the
//! resource protector's `validate`. `LOAD=0` runs only that; its three loops are functions
//! that callgrind can count alone (instructions per request = count / `SAMPLES`).
//!
//! With `TARGET=host:port` only the anchor's phases run, against another process (another
//! OAuth 2 server with the `service` client and secret, at `TOKEN_PATH` and
//! `INTROSPECTION_PATH`); `TARGET_PID` adds that process's CPU time. `ONLY=token` (or
//! `bare`, `introspect`, `bearer`, `userinfo`, `code flow`; several separated by commas) runs
//! only the phases whose name starts so, to profile one.
//!
//! ```text
//! KEYWARD_PEERS=$PWD/.peers cargo bench -p keyward-axum --bench oauth2_provider_load
//! SECONDS=5 CONNECTIONS=8 TOKENS=500 REDIS_URL=redis://127.0.0.1:6379/ \
//!     KEYWARD_PEERS=$PWD/.peers cargo bench -p keyward-axum --bench oauth2_provider_load
//! TARGET=127.0.0.1:3000 TARGET_PID=$pid TOKEN_PATH=/token INTROSPECTION_PATH=/token/introspection \
//!     cargo bench -p keyward-axum --bench oauth2_provider_load
//! LOAD=0 SAMPLES=2000 valgrind --tool=callgrind --toggle-collect='*measure_token*' \
//!     target/release/deps/oauth2_provider_load-* --bench
//! ```

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{any, get};
use base64::Engine as _;
use keyward::common::secret::SecretString;
use keyward::jose::rotation::SharedKeySet;
use keyward::jose::{KeySet, SigningAlg};
use keyward::oauth2::provider::store::{OAuth2ClientStore, OAuth2Store};
use keyward::oauth2::provider::{
    AccessTokenFormat, AuthorizationServer, CacheConfig, ClientSecret, GrantType, KeySetAccessTokens,
    RegisteredClient, ResourceProtector, ServerConfig,
};
use keyward_axum::oauth2_provider::{OAuth2Bearer, OAuth2Provider, introspection_endpoint, token_endpoint};
use keyward_stores::{MemoryStore, RedisStore};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The client of both servers (`tests/peers/oidc/server.mjs` registers the same).
const CLIENT_ID: &str = "service";
const CLIENT_SECRET: &str = "keyward-interop-secret-0123456789abcdef";
/// Selects the generator mode; its value is the address to load.
const GENERATOR: &str = "KEYWARD_BENCH_GENERATOR";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU time (user + system) a process has used so far, in seconds, from `/proc/<pid>/stat`
/// (Linux; `None` elsewhere). Ticks are `USER_HZ`, which Linux fixes at 100.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let (user, system): (u64, u64) = (fields.next()?.parse().ok()?, fields.next()?.parse().ok()?);
    Some((user + system) as f64 / 100.0)
}

// ---------------------------------------------------------------------------------------
// The requests, as raw HTTP/1.1 bytes, the same for both servers.

fn basic() -> String {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    format!("Basic {credentials}")
}

fn post(addr: SocketAddr, path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\nContent-Type: \
         application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        basic(),
        body.len()
    )
    .into_bytes()
}

fn token_request(addr: SocketAddr, path: &str) -> Vec<u8> {
    post(addr, path, "grant_type=client_credentials")
}

fn bearer_get(addr: SocketAddr, path: &str, token: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n").into_bytes()
}

/// What a phase sends and what counts as a good answer.
struct Load {
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    status: u16,
    /// Text every good response body holds.
    expect: String,
    /// A code flow per iteration ([`code_flow`]) instead of one request.
    flow: bool,
}

/// One response: status and body. Reads `Content-Length` and chunked bodies.
async fn read_response<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    body: &mut Vec<u8>,
) -> std::io::Result<u16> {
    read_response_location(reader, line, body, &mut Vec::new()).await
}

/// [`read_response`], keeping the `Location` header's value in `location` (empty if none).
async fn read_response_location<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    body: &mut Vec<u8>,
    location: &mut Vec<u8>,
) -> std::io::Result<u16> {
    location.clear();
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    line.clear();
    if reader.read_until(b'\n', line).await? == 0 {
        return Err(bad("the server closed the connection"));
    }
    let status = line
        .split(|b| *b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let (mut length, mut chunked) = (0usize, false);
    loop {
        line.clear();
        reader.read_until(b'\n', line).await?;
        let l = std::str::from_utf8(line).map_err(|_| bad("a header is not UTF-8"))?.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| bad("bad Content-Length"))?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.trim().eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("location") {
                location.extend_from_slice(value.trim().as_bytes());
            }
        }
    }
    body.clear();
    if !chunked {
        body.resize(length, 0);
        reader.read_exact(body).await?;
        return Ok(status);
    }
    loop {
        line.clear();
        reader.read_until(b'\n', line).await?;
        let size = std::str::from_utf8(line).ok().map(|l| l.trim_end().split(';').next().unwrap_or(""));
        let size =
            size.and_then(|s| usize::from_str_radix(s, 16).ok()).ok_or_else(|| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                line.clear();
                reader.read_until(b'\n', line).await?;
                if line.trim_ascii().is_empty() {
                    return Ok(status);
                }
            }
        }
        let start = body.len();
        body.resize(start + size + 2, 0);
        reader.read_exact(&mut body[start..]).await?;
        body.truncate(start + size);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sends `request` `n` times over one connection and returns each answer's `access_token`
/// (for the tokens the introspection and bearer phases use).
async fn issue_tokens(addr: SocketAddr, request: &[u8], n: u64) -> Vec<String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut stream = BufReader::new(stream);
    let (mut line, mut body) = (Vec::new(), Vec::new());
    let mut tokens = Vec::with_capacity(n as usize);
    for _ in 0..n {
        stream.get_mut().write_all(request).await.unwrap();
        let status = read_response(&mut stream, &mut line, &mut body).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 200, "token request refused: {json}");
        tokens.push(json["access_token"].as_str().unwrap().to_owned());
    }
    tokens
}

// ---------------------------------------------------------------------------------------
// The generator: this binary in a process of its own.

/// What the generator reports.
struct Counts {
    ok: u64,
    bad: u64,
    elapsed: f64,
    cpu: Option<f64>,
}

/// The placeholders of a code flow's templates (see [`code_flow`]).
const CODE_SLOT: &str = "@@CODE@@";
const TOKEN_SLOT: &str = "@@TOKEN@@";

/// `template` with `slot` replaced by `value`, its `Content-Length` (if any) recomputed.
fn fill(template: &[u8], slot: &str, value: &[u8]) -> Vec<u8> {
    let at = template.windows(slot.len()).position(|w| w == slot.as_bytes()).expect("a slot");
    let mut out = template[..at].to_vec();
    out.extend_from_slice(value);
    out.extend_from_slice(&template[at + slot.len()..]);
    let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else { return out };
    let body_len = out.len() - end - 4;
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let head: Vec<String> = head
        .split("\r\n")
        .map(|h| {
            if h.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {body_len}")
            } else {
                h.to_owned()
            }
        })
        .collect();
    let mut filled = head.join("\r\n").into_bytes();
    filled.extend_from_slice(&out[end..]);
    filled
}

/// The value of `name` in the query of a `Location`.
fn query_param(location: &[u8], name: &str) -> Option<String> {
    let location = std::str::from_utf8(location).ok()?;
    let query = location.split_once('?')?.1;
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).map(str::to_owned)
}

/// One code flow over `stream`: the authorization request (`requests[0]`, answered with a
/// redirect carrying `code`), the token request (`requests[1]`, the code in its
/// [`CODE_SLOT`]), and the UserInfo request (`requests[2]`, the access token in its
/// [`TOKEN_SLOT`]), whose body must hold `expect`. `Err` names the step that failed.
async fn code_flow<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    requests: &[Vec<u8>],
    expect: &[u8],
    bufs: &mut (Vec<u8>, Vec<u8>, Vec<u8>),
) -> Result<String, String> {
    let (line, body, location) = bufs;
    stream.get_mut().write_all(&requests[0]).await.map_err(|e| e.to_string())?;
    let status = read_response_location(stream, line, body, location).await.map_err(|e| e.to_string())?;
    let code = query_param(location, "code")
        .ok_or_else(|| format!("authorize: {status} {}", String::from_utf8_lossy(location)))?;
    stream
        .get_mut()
        .write_all(&fill(&requests[1], CODE_SLOT, code.as_bytes()))
        .await
        .map_err(|e| e.to_string())?;
    let status = read_response(stream, line, body).await.map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let token = json["access_token"]
        .as_str()
        .ok_or_else(|| format!("token: {status} {}", String::from_utf8_lossy(body)))?
        .to_owned();
    stream
        .get_mut()
        .write_all(&fill(&requests[2], TOKEN_SLOT, token.as_bytes()))
        .await
        .map_err(|e| e.to_string())?;
    let status = read_response(stream, line, body).await.map_err(|e| e.to_string())?;
    if status == 200 && contains(body, expect) {
        Ok(token)
    } else {
        Err(format!("userinfo: {status} {}", String::from_utf8_lossy(body)))
    }
}

/// Runs `load` in a generator process for `seconds` over `connections`.
async fn generate(load: &Load, connections: u64, seconds: u64) -> Counts {
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new(exe)
        .env("GEN_FLOW", if load.flow { "1" } else { "0" })
        .env(GENERATOR, load.addr.to_string())
        .env("GEN_SECONDS", seconds.to_string())
        .env("GEN_CONNECTIONS", connections.to_string())
        .env("GEN_STATUS", load.status.to_string())
        .env("GEN_EXPECT", &load.expect)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // The requests, each as `<length>\n<bytes>`.
    let mut input = Vec::new();
    for r in &load.requests {
        input.extend_from_slice(format!("{}\n", r.len()).as_bytes());
        input.extend_from_slice(r);
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&input).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "the generator failed: {}", output.status);
    let text = String::from_utf8(output.stdout).unwrap();
    let f: Vec<&str> = text.split_whitespace().collect();
    Counts {
        ok: f[0].parse().unwrap(),
        bad: f[1].parse().unwrap(),
        elapsed: f[2].parse().unwrap(),
        cpu: f[3].parse().ok(),
    }
}

/// The generator's main: see the module docs. Prints `ok bad elapsed cpu` on stdout.
fn generator_main(addr: String) {
    let addr: SocketAddr = addr.parse().unwrap();
    let seconds = env("GEN_SECONDS", 5);
    let connections = env("GEN_CONNECTIONS", 8);
    let status = env("GEN_STATUS", 200) as u16;
    let flow = env("GEN_FLOW", 0) == 1;
    let expect: Arc<[u8]> = std::env::var("GEN_EXPECT").unwrap_or_default().into_bytes().into();
    let mut input = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut input).unwrap();
    let mut requests = Vec::new();
    let mut rest = &input[..];
    while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
        let len: usize = std::str::from_utf8(&rest[..nl]).unwrap().parse().unwrap();
        requests.push(rest[nl + 1..nl + 1 + len].to_vec());
        rest = &rest[nl + 1 + len..];
    }
    assert!(!requests.is_empty(), "no requests on stdin");
    let requests = Arc::new(requests);
    let threads = env("GENERATOR_THREADS", 1);
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads as usize)
            .enable_all()
            .build()
            .unwrap()
    };
    rt.block_on(async move {
        let mut streams = Vec::new();
        for _ in 0..connections {
            let s = TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            streams.push(s);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let cpu_before = cpu_seconds("self");
        let started = Instant::now();
        let n = requests.len();
        let tasks: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, stream)| {
                let (requests, stop, expect) = (requests.clone(), stop.clone(), expect.clone());
                tokio::spawn(async move {
                    let mut stream = BufReader::with_capacity(16 * 1024, stream);
                    let (mut line, mut body) = (Vec::new(), Vec::new());
                    let (mut ok, mut bad, mut first_bad) = (0u64, 0u64, None);
                    let mut next = i * n / connections as usize;
                    if flow {
                        let mut bufs = Default::default();
                        while !stop.load(Ordering::Relaxed) {
                            match code_flow(&mut stream, &requests, &expect, &mut bufs).await {
                                Ok(_) => ok += 1,
                                Err(e) => {
                                    bad += 1;
                                    first_bad.get_or_insert(e);
                                }
                            }
                        }
                        return (ok, bad, first_bad);
                    }
                    while !stop.load(Ordering::Relaxed) {
                        stream.get_mut().write_all(&requests[next % n]).await.unwrap();
                        next += 1;
                        let got = read_response(&mut stream, &mut line, &mut body).await.unwrap();
                        if got == status && contains(&body, &expect) {
                            ok += 1;
                        } else {
                            bad += 1;
                            first_bad
                                .get_or_insert_with(|| format!("{got} {}", String::from_utf8_lossy(&body)));
                        }
                    }
                    (ok, bad, first_bad)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let (mut ok, mut bad) = (0, 0);
        for t in tasks {
            let (o, b, first_bad) = t.await.unwrap();
            ok += o;
            bad += b;
            if let Some(r) = first_bad {
                eprintln!("generator: unexpected response: {r}");
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = match (cpu_before, cpu_seconds("self")) {
            (Some(b), Some(a)) => format!("{}", a - b),
            _ => "-".to_owned(),
        };
        println!("{ok} {bad} {elapsed} {cpu}");
    });
}

// ---------------------------------------------------------------------------------------
// Phases and what they report.

/// The processes whose CPU time a phase reports per request, besides the generator's.
#[derive(Clone, Default)]
struct Accounting {
    /// The server's process: `self` for the bench's own, or another pid.
    server: Option<String>,
    /// A store's server (the local `redis-server`): its name and pid.
    store: Option<(&'static str, String)>,
}

/// One phase: prints requests/s and CPU time per request; returns requests/s.
async fn phase(name: &str, load: &Load, connections: u64, seconds: u64, accounting: &Accounting) -> f64 {
    // ONLY=token (say): only the phases whose name starts so, for a profiler.
    if std::env::var("ONLY").is_ok_and(|only| !only.split(',').any(|o| name.starts_with(o))) {
        return 0.0;
    }
    let sample = || {
        (
            accounting.server.as_deref().and_then(cpu_seconds),
            accounting.store.as_ref().and_then(|(_, pid)| cpu_seconds(pid)),
        )
    };
    let before = sample();
    let counts = generate(load, connections, seconds).await;
    let after = sample();
    assert_eq!(
        counts.bad, 0,
        "{name}: {} responses were not {} with {:?}",
        counts.bad, load.status, load.expect
    );
    let rps = counts.ok as f64 / counts.elapsed;
    let per_request = |cpu: Option<f64>| match cpu {
        Some(cpu) => format!("{:>5.1} us", cpu * 1e6 / counts.ok.max(1) as f64),
        None => "    -   ".to_owned(),
    };
    let delta = |b: Option<f64>, a: Option<f64>| Some(a? - b?);
    let store = match &accounting.store {
        Some((store, _)) => format!(", {store} {}", per_request(delta(before.1, after.1))),
        None => String::new(),
    };
    println!(
        "{name:<24} {:>8} requests in {:>5.2} s = {rps:>8.0} req/s; CPU per request: server {}, generator {}{store}",
        counts.ok,
        counts.elapsed,
        per_request(delta(before.0, after.0)),
        per_request(counts.cpu),
    );
    rps
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// A Keyward server in this process over `store`, with the `service` client.
async fn keyward_server(store: Arc<dyn OAuth2Store>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client =
        RegisteredClient::confidential(CLIENT_ID, "").with_grant_types([GrantType::ClientCredentials]);
    // Stored as a generated secret is: its SHA-256.
    client.secrets = vec![ClientSecret::hashed(&SecretString::new(CLIENT_SECRET))];
    store.create_registered_client(&client).await.unwrap();
    let server = AuthorizationServer::builder(store, ServerConfig::new(format!("http://{addr}"))).build();
    let app = Router::new()
        .route("/bare", get(|| async { CLIENT_ID }))
        .route("/api/me", get(me))
        .route("/token", any(token_endpoint))
        .route("/introspect", any(introspection_endpoint))
        .with_state(OAuth2Provider::new(server));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn me(auth: OAuth2Bearer) -> String {
    auth.client_id.clone()
}

/// A Keyward server in this process over a memory store whose `service` client gets RS256
/// JWT access tokens, with `tokens` of them issued through the core; its address and the
/// tokens. `/api/me` checks every signature, `/api/me-cached` and `/api/me-small` go through
/// a `CachingVerifier` (default bounds, and `tokens / 5` entries).
async fn jwt_server(tokens: u64) -> (SocketAddr, Vec<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = format!("http://{addr}");
    let store = Arc::new(MemoryStore::new());
    let mut client =
        RegisteredClient::confidential(CLIENT_ID, "").with_grant_types([GrantType::ClientCredentials]);
    client.secrets = vec![ClientSecret::hashed(&SecretString::new(CLIENT_SECRET))];
    client.access_token_format = Some(AccessTokenFormat::Jwt);
    store.create_registered_client(&client).await.unwrap();
    let keys = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::RS256).unwrap()));
    let jwt = Arc::new(KeySetAccessTokens::new(keys, issuer.clone()));
    let server =
        AuthorizationServer::builder(store, ServerConfig::new(issuer)).jwt_access_tokens(jwt).build();
    let issued: Vec<String> = (0..tokens)
        .map(|_| {
            let response = run_ready(server.token(&core_post("/token", "grant_type=client_credentials")));
            let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            json["access_token"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(issued.iter().all(|t| t.split('.').count() == 3), "JWT access tokens");
    let plain = OAuth2Provider::new(server.clone());
    let cached = OAuth2Provider::new(server.clone())
        .with_protector(server.resource_protector().with_cache(CacheConfig::default()));
    let small = OAuth2Provider::new(server.clone()).with_protector(
        server.resource_protector().with_cache(CacheConfig::new((tokens / 5).max(1) as usize, 60)),
    );
    let app = Router::new()
        .route("/bare", get(|| async { CLIENT_ID }))
        .route("/api/me", get(me))
        .with_state(plain)
        .merge(Router::new().route("/api/me-cached", get(me)).with_state(cached))
        .merge(Router::new().route("/api/me-small", get(me)).with_state(small));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, issued)
}

/// The JWT phases (see the module docs): warm-up, then twice bare, uncached, cached and
/// small-cache; returns (bare, uncached, cached, small-cache) req/s per round.
async fn jwt_phases(tokens: u64, connections: u64, seconds: u64, accounting: &Accounting) -> [Vec<f64>; 4] {
    let (addr, issued) = jwt_server(tokens).await;
    let load = |path: &str| Load {
        addr,
        requests: issued.iter().map(|t| bearer_get(addr, path, t)).collect(),
        status: 200,
        expect: CLIENT_ID.into(),
        flow: false,
    };
    let loads = [load("/bare"), load("/api/me"), load("/api/me-cached"), load("/api/me-small")];
    let names = ["bare (JWT)", "bearer-jwt", "bearer-jwt-cached", "bearer-jwt-small-cache"];
    println!(
        "Keyward, JWT (RS256): {connections} connections, {seconds} s per phase, {tokens} distinct tokens"
    );
    for (name, load) in names.iter().zip(&loads) {
        phase(name, load, connections, 1, accounting).await;
    }
    let mut figures: [Vec<f64>; 4] = Default::default();
    for _ in 0..2 {
        for ((name, load), f) in names.iter().zip(&loads).zip(&mut figures) {
            f.push(phase(name, load, connections, seconds, accounting).await);
        }
    }
    let [bare, plain, cached, small] = &figures;
    println!(
        "mean (Keyward, JWT): bare {:.0}, bearer-jwt {:.0} ({:.1}% of bare), cached {:.0} ({:.1}%), \
         small cache {:.0} ({:.1}%) req/s",
        mean(bare),
        mean(plain),
        100.0 * mean(plain) / mean(bare),
        mean(cached),
        100.0 * mean(cached) / mean(bare),
        mean(small),
        100.0 * mean(small) / mean(bare),
    );
    figures
}

// ---------------------------------------------------------------------------------------
// OpenID Connect: UserInfo and the whole code flow.

/// The PKCE verifier of every code flow (each code is new, so one verifier serves).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The session cookie the bench's authorization handler takes as a signed-in user.
const SESSION: &str = "session=alice";

fn challenge() -> String {
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
}

/// A code flow's three templates (see [`code_flow`]) for client `basic` of a server at
/// `addr`, with `cookie` on the authorization request.
fn flow_requests(addr: SocketAddr, paths: [&str; 3], cookie: &str) -> Vec<Vec<u8>> {
    let [authorize, token, userinfo] = paths;
    let query = keyward::common::encoding::encode_form([
        ("response_type", "code"),
        ("client_id", "basic"),
        ("redirect_uri", keyward_testkit::peers::OIDC_REDIRECT),
        ("scope", "openid email"),
        ("state", "s1"),
        ("code_challenge", challenge().as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let get = format!("GET {authorize}?{query} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n");
    let body = keyward::common::encoding::encode_form([
        ("grant_type", "authorization_code"),
        ("code", CODE_SLOT),
        ("redirect_uri", keyward_testkit::peers::OIDC_REDIRECT),
        ("code_verifier", VERIFIER),
    ])
    .replace(&keyward::common::encoding::encode_form([("c", CODE_SLOT)])[2..], CODE_SLOT);
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("basic:{CLIENT_SECRET}"));
    let post = format!(
        "POST {token} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {credentials}\r\nContent-Type: \
         application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let me = format!("GET {userinfo} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN_SLOT}\r\n\r\n");
    vec![get.into_bytes(), post.into_bytes(), me.into_bytes()]
}

/// `n` access tokens (scope `openid email`) from code flows run one after another.
async fn flow_tokens(addr: SocketAddr, requests: &[Vec<u8>], n: u64) -> Vec<String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut stream = BufReader::new(stream);
    let mut bufs = Default::default();
    let mut tokens = Vec::with_capacity(n as usize);
    for _ in 0..n {
        tokens.push(code_flow(&mut stream, requests, b"\"sub\":\"alice\"", &mut bufs).await.unwrap());
    }
    tokens
}

/// The bench's authorization handler: a request with the session cookie is `alice`, signed
/// in, whose consent is already given; the grant is answered at once.
async fn oidc_authorize(
    axum::extract::State(p): axum::extract::State<OAuth2Provider>,
    headers: http::HeaderMap,
    keyward_axum::oauth2_provider::OAuth2Authorize(req): keyward_axum::oauth2_provider::OAuth2Authorize,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let signed_in = headers.get(http::header::COOKIE).is_some_and(|c| c.as_bytes() == SESSION.as_bytes());
    if !signed_in {
        return (http::StatusCode::UNAUTHORIZED, "sign in first").into_response();
    }
    let scopes = req.scopes.clone();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    keyward_axum::oauth2_provider::grant_response(
        p.server(),
        &req,
        keyward::oauth2::provider::Grant::new("alice", scopes).auth_time(now),
    )
    .await
}

/// A Keyward OpenID Provider in this process over a memory store: client `basic`
/// (`client_secret_basic`, its secret stored as a SHA-256), ID tokens signed with `alg`
/// (a generated key), UserInfo claims `email`, `email_verified` and `name` as
/// `oidc-provider`'s stand-in gives them. Serves `/authorize`, `/token`, `/userinfo`.
async fn oidc_server(alg: SigningAlg) -> SocketAddr {
    use keyward::oidc::provider::{ClaimsRequest, OpenIdConfig, OpenIdProvider};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = format!("http://{addr}");
    let store = Arc::new(MemoryStore::new());
    let mut client = RegisteredClient::confidential("basic", "")
        .with_redirect_uris([keyward_testkit::peers::OIDC_REDIRECT])
        .with_scopes(["openid", "email", "profile"])
        .with_grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]);
    client.secrets = vec![ClientSecret::hashed(&SecretString::new(CLIENT_SECRET))];
    if alg != SigningAlg::RS256 {
        client.id_token_signed_response_alg = Some(alg.name().to_owned());
    }
    store.create_registered_client(&client).await.unwrap();
    let rsa = Arc::new(SharedKeySet::new(KeySet::generate(SigningAlg::RS256).unwrap()));
    let claims = |r: &ClaimsRequest<'_>| {
        let v = serde_json::json!({
            "email": format!("{}@example.com", r.subject),
            "email_verified": true,
            "name": format!("User {}", r.subject),
        });
        v.as_object().cloned().unwrap_or_default()
    };
    let mut op = OpenIdProvider::new(OpenIdConfig::new(&issuer), rsa, Arc::new(claims));
    if alg != SigningAlg::RS256 {
        op = op.with_keys(Arc::new(SharedKeySet::new(KeySet::generate(alg).unwrap())));
    }
    let config = ServerConfig::new(issuer).with_scopes_supported(["openid", "email", "profile"]);
    let server = AuthorizationServer::builder(store, config).openid(op).build();
    let app = Router::new()
        .route("/authorize", any(oidc_authorize))
        .route("/token", any(token_endpoint))
        .route("/userinfo", any(keyward_axum::oidc_provider::userinfo))
        .with_state(OAuth2Provider::new(server));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The OpenID phases of one server: warm-up, then twice `userinfo` (over `tokens` distinct
/// access tokens from code flows) and `code flow`; returns their req/s and flows/s.
async fn oidc_server_phases(
    label: &str,
    addr: SocketAddr,
    flow: Vec<Vec<u8>>,
    tokens: u64,
    connections: u64,
    seconds: u64,
    accounting: &Accounting,
) -> (Vec<f64>, Vec<f64>) {
    // Issued just before each UserInfo phase: the anchor's in-memory adapter is an LRU of
    // 1 000 records, which the code-flow phases would otherwise evict them from.
    let userinfo = async |flow: &[Vec<u8>]| Load {
        addr,
        requests: flow_tokens(addr, flow, tokens)
            .await
            .iter()
            .map(|t| fill(&flow[2], TOKEN_SLOT, t.as_bytes()))
            .collect(),
        status: 200,
        expect: "\"sub\":\"alice\"".into(),
        flow: false,
    };
    let code_flow =
        Load { addr, requests: flow, status: 200, expect: "\"sub\":\"alice\"".into(), flow: true };
    println!("{label}: {connections} connections, {seconds} s per phase, {tokens} distinct tokens");
    let name = |what: &str| format!("{what} ({label})");
    phase(&name("userinfo"), &userinfo(&code_flow.requests).await, connections, 1, accounting).await;
    phase(&name("code flow"), &code_flow, connections, 1, accounting).await;
    let (mut u, mut f) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let load = userinfo(&code_flow.requests).await;
        u.push(phase(&name("userinfo"), &load, connections, seconds, accounting).await);
        f.push(phase(&name("code flow"), &code_flow, connections, seconds, accounting).await);
    }
    println!("mean ({label}): userinfo {:.0} req/s, code flow {:.0} flows/s", mean(&u), mean(&f));
    (u, f)
}

/// The OpenID phases: Keyward with RS256 and with EdDSA ID tokens, then `oidc-provider`
/// (signed in once through its development interactions, consent given, so that its
/// authorization endpoint answers at once with the session cookie).
async fn oidc_phases(tokens: u64, connections: u64, seconds: u64, own: &Accounting) {
    let paths = ["/authorize", "/token", "/userinfo"];
    let rs = oidc_server(SigningAlg::RS256).await;
    let flow = flow_requests(rs, paths, SESSION);
    let keyward = oidc_server_phases("Keyward OP, RS256", rs, flow, tokens, connections, seconds, own).await;
    let ed = oidc_server(SigningAlg::EdDSA).await;
    let flow = flow_requests(ed, paths, SESSION);
    oidc_server_phases("Keyward OP, EdDSA", ed, flow, tokens, connections, seconds, own).await;
    let Some((child, addr, pid)) = start_anchor().await else {
        println!(
            "oidc-provider (OpenID): skipped (set KEYWARD_PEERS to a peers directory with node/node_modules)"
        );
        return;
    };
    let issuer = format!("http://{addr}");
    let mut browser = keyward_testkit::peers::Browser::new();
    let first = String::from_utf8(flow_requests(addr, ["/auth", "/token", "/me"], "")[0].clone()).unwrap();
    let target = first.split_whitespace().nth(1).unwrap().to_owned();
    browser.login_at_oidc(&format!("{issuer}{target}"), "alice").await;
    let cookie = browser.cookie_header(&issuer).expect("a session cookie");
    let accounting = Accounting { server: Some(pid), store: None };
    let flow = flow_requests(addr, ["/auth", "/token", "/me"], &cookie);
    let anchor =
        oidc_server_phases("oidc-provider", addr, flow, tokens, connections, seconds, &accounting).await;
    drop(child);
    println!(
        "Keyward (RS256) / oidc-provider: userinfo {}x, code flow {}x",
        ratio(&keyward.0, &anchor.0),
        ratio(&keyward.1, &anchor.1)
    );
}

/// A server's token and introspection endpoints.
#[derive(Clone, Copy)]
struct Endpoints<'a> {
    addr: SocketAddr,
    token: &'a str,
    introspection: &'a str,
}

impl Endpoints<'_> {
    fn token_load(&self) -> Load {
        let request = token_request(self.addr, self.token);
        Load {
            addr: self.addr,
            requests: vec![request],
            status: 200,
            expect: "\"access_token\"".into(),
            flow: false,
        }
    }

    /// `tokens` fresh opaque tokens to introspect.
    async fn introspection_load(&self, tokens: u64) -> Load {
        let issued = issue_tokens(self.addr, &token_request(self.addr, self.token), tokens).await;
        let requests =
            issued.iter().map(|t| post(self.addr, self.introspection, &format!("token={t}"))).collect();
        Load { addr: self.addr, requests, status: 200, expect: "\"active\":true".into(), flow: false }
    }
}

/// The figures of a server's phases, for the summary.
#[derive(Default)]
struct Figures {
    bare: Vec<f64>,
    token: Vec<f64>,
    introspect: Vec<f64>,
    bearer: Vec<f64>,
}

/// Keyward's phases on the server at `addr`: warm-up, then twice bare, token, introspect,
/// bearer.
async fn keyward_phases(
    label: &str,
    addr: SocketAddr,
    tokens: u64,
    connections: u64,
    seconds: u64,
    accounting: &Accounting,
) -> Figures {
    let endpoints = Endpoints { addr, token: "/token", introspection: "/introspect" };
    let issued = issue_tokens(addr, &token_request(addr, "/token"), tokens).await;
    let bare = Load {
        addr,
        requests: issued.iter().map(|t| bearer_get(addr, "/bare", t)).collect(),
        status: 200,
        expect: CLIENT_ID.into(),
        flow: false,
    };
    let bearer = Load {
        addr,
        requests: issued.iter().map(|t| bearer_get(addr, "/api/me", t)).collect(),
        status: 200,
        expect: CLIENT_ID.into(),
        flow: false,
    };
    let token = endpoints.token_load();
    println!("Keyward, {label}: {connections} connections, {seconds} s per phase, {tokens} distinct tokens");
    let name = |what: &str| format!("{what} ({label})");
    phase(&name("bare"), &bare, connections, 1, accounting).await;
    phase(&name("token"), &token, connections, 1, accounting).await;
    phase(&name("introspect"), &endpoints.introspection_load(tokens).await, connections, 1, accounting).await;
    phase(&name("bearer"), &bearer, connections, 1, accounting).await;
    let mut f = Figures::default();
    for _ in 0..2 {
        f.bare.push(phase(&name("bare"), &bare, connections, seconds, accounting).await);
        f.token.push(phase(&name("token"), &token, connections, seconds, accounting).await);
        let introspection = endpoints.introspection_load(tokens).await;
        f.introspect.push(phase(&name("introspect"), &introspection, connections, seconds, accounting).await);
        f.bearer.push(phase(&name("bearer"), &bearer, connections, seconds, accounting).await);
    }
    println!(
        "mean (Keyward, {label}): bare {:.0}, token {:.0}, introspect {:.0}, bearer {:.0} req/s; bearer / bare {:.1}%",
        mean(&f.bare),
        mean(&f.token),
        mean(&f.introspect),
        mean(&f.bearer),
        100.0 * mean(&f.bearer) / mean(&f.bare),
    );
    f
}

/// The anchor's phases (or another server's with `TARGET`): warm-up, then twice token and
/// introspection.
async fn anchor_phases(
    label: &str,
    endpoints: Endpoints<'_>,
    tokens: u64,
    connections: u64,
    seconds: u64,
    accounting: &Accounting,
) -> Figures {
    println!("{label}: {connections} connections, {seconds} s per phase, {tokens} distinct tokens");
    let token = endpoints.token_load();
    let name = |what: &str| format!("{what} ({label})");
    phase(&name("token"), &token, connections, 1, accounting).await;
    phase(&name("introspect"), &endpoints.introspection_load(tokens).await, connections, 1, accounting).await;
    let mut f = Figures::default();
    for _ in 0..2 {
        f.token.push(phase(&name("token"), &token, connections, seconds, accounting).await);
        let introspection = endpoints.introspection_load(tokens).await;
        f.introspect.push(phase(&name("introspect"), &introspection, connections, seconds, accounting).await);
    }
    println!("mean ({label}): token {:.0}, introspect {:.0} req/s", mean(&f.token), mean(&f.introspect));
    f
}

/// `oidc-provider` in a Node process of its own (`tests/peers/oidc/server.mjs`), with its
/// address and pid; `None` without `KEYWARD_PEERS` or Node.
async fn start_anchor() -> Option<(tokio::process::Child, SocketAddr, String)> {
    let peers = std::env::var("KEYWARD_PEERS").ok().filter(|p| !p.is_empty())?;
    let modules = std::path::Path::new(&peers).join("node/node_modules");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/oidc/server.mjs");
    let mut child = tokio::process::Command::new("node")
        .arg(script)
        .env("KEYWARD_NODE_MODULES", modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let mut lines = BufReader::new(child.stdout.take()?).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(issuer) = line.strip_prefix("KEYWARD_OIDC_READY ") {
            let addr = issuer.trim().strip_prefix("http://")?.parse().ok()?;
            let pid = child.id()?.to_string();
            // Keep reading its stdout so that it never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Some((child, addr, pid));
        }
    }
    None
}

/// The process id of the Redis server at `url` when it runs on this machine (its CPU time is
/// then readable), from `INFO server`.
async fn redis_pid(url: &str) -> Option<String> {
    let mut conn = redis::Client::open(url).ok()?.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut conn).await.ok()?;
    let pid = info.lines().find_map(|l| l.strip_prefix("process_id:"))?.trim().to_owned();
    cpu_seconds(&pid).map(|_| pid)
}

/// Deletes the run's keys (`prefix*`) from Redis.
async fn redis_cleanup(url: &str, prefix: &str) {
    let mut conn = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: u64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// A request as the core takes it: `POST {path}` with Basic credentials and a form body.
fn core_post(path: &str, body: &str) -> http::Request<Vec<u8>> {
    http::Request::post(format!("http://127.0.0.1:8080{path}"))
        .header(http::header::AUTHORIZATION, basic())
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

/// Polls `f` on this thread until it is ready. The memory store never waits, so this runs
/// an endpoint without a runtime, in one function callgrind can count.
fn run_ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The token endpoint (client_credentials) on every request; the issued tokens. Not
/// inlined, so that `valgrind --tool=callgrind --toggle-collect='*measure_token*'` counts
/// it alone.
#[inline(never)]
fn measure_token(server: &AuthorizationServer, reqs: &[http::Request<Vec<u8>>]) -> Vec<String> {
    reqs.iter()
        .map(|r| {
            let response = run_ready(server.token(r));
            assert_eq!(response.status(), 200);
            let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            json["access_token"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The introspection endpoint on every request (see [`measure_token`]).
#[inline(never)]
fn measure_introspect(server: &AuthorizationServer, reqs: &[http::Request<Vec<u8>>]) {
    for r in reqs {
        let response = run_ready(server.introspect(r));
        assert!(contains(response.body(), b"\"active\":true"));
    }
}

/// The resource protector on every request (see [`measure_token`]).
#[inline(never)]
fn measure_validate(protector: &ResourceProtector, reqs: &[http::Request<Vec<u8>>]) {
    for r in reqs {
        run_ready(protector.validate(r, &[])).unwrap();
    }
}

/// Microseconds per request of the token endpoint, introspection and the resource
/// protector in the core, without HTTP, on a fresh memory store.
async fn breakdown(samples: usize) -> (f64, f64, f64) {
    let store = Arc::new(MemoryStore::new());
    let mut client =
        RegisteredClient::confidential(CLIENT_ID, "").with_grant_types([GrantType::ClientCredentials]);
    client.secrets = vec![ClientSecret::hashed(&SecretString::new(CLIENT_SECRET))];
    store.create_registered_client(&client).await.unwrap();
    let server = AuthorizationServer::builder(store, ServerConfig::new("http://127.0.0.1:8080")).build();
    let per_request = |started: Instant| started.elapsed().as_secs_f64() * 1e6 / samples as f64;

    let reqs: Vec<_> = (0..samples).map(|_| core_post("/token", "grant_type=client_credentials")).collect();
    let started = Instant::now();
    let tokens = measure_token(&server, &reqs);
    let token = per_request(started);

    let reqs: Vec<_> = tokens.iter().map(|t| core_post("/introspect", &format!("token={t}"))).collect();
    let started = Instant::now();
    measure_introspect(&server, &reqs);
    let introspect = per_request(started);

    let protector = server.resource_protector();
    let reqs: Vec<_> = tokens
        .iter()
        .map(|t| {
            http::Request::get("http://127.0.0.1:8080/api/me")
                .header(http::header::AUTHORIZATION, format!("Bearer {t}"))
                .body(Vec::new())
                .unwrap()
        })
        .collect();
    let started = Instant::now();
    measure_validate(&protector, &reqs);
    (token, introspect, per_request(started))
}

fn ratio(a: &[f64], b: &[f64]) -> String {
    if a.is_empty() || b.is_empty() { "-".into() } else { format!("{:.2}", mean(a) / mean(b)) }
}

fn main() {
    if let Ok(addr) = std::env::var(GENERATOR) {
        return generator_main(addr);
    }
    // `cargo bench` passes `--bench`; nothing else is parsed.
    let seconds = env("SECONDS", 5);
    let connections = env("CONNECTIONS", 8);
    let tokens = env("TOKENS", 500);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        if let Ok(target) = std::env::var("TARGET") {
            let addr = tokio::net::lookup_host(&target).await.unwrap().next().unwrap();
            let token = std::env::var("TOKEN_PATH").unwrap_or_else(|_| "/token".into());
            let introspection = std::env::var("INTROSPECTION_PATH").unwrap_or_else(|_| "/introspect".into());
            let endpoints = Endpoints { addr, token: &token, introspection: &introspection };
            let accounting = Accounting { server: std::env::var("TARGET_PID").ok(), store: None };
            let label = format!("the server at {target}");
            anchor_phases(&label, endpoints, tokens, connections, seconds, &accounting).await;
            return;
        }
        let samples = env("SAMPLES", 20_000) as usize;
        let (token, introspect, validate) = breakdown(samples).await;
        println!(
            "in-process, memory store, {samples} requests: token {token:.2} us, introspect {introspect:.2} us, \
             ResourceProtector::validate {validate:.2} us"
        );
        if env("LOAD", 1) == 0 {
            return;
        }
        let own = Accounting { server: Some("self".into()), store: None };
        let memory = keyward_server(Arc::new(MemoryStore::new())).await;
        let keyward = keyward_phases("memory", memory, tokens, connections, seconds, &own).await;
        jwt_phases(env("JWT_TOKENS", 5_000), connections, seconds, &own).await;
        oidc_phases(env("OIDC_TOKENS", 200), connections, seconds, &own).await;

        let anchor = match start_anchor().await {
            Some((child, addr, pid)) => {
                let endpoints = Endpoints { addr, token: "/token", introspection: "/token/introspection" };
                let accounting = Accounting { server: Some(pid), store: None };
                let f = anchor_phases("oidc-provider", endpoints, tokens, connections, seconds, &accounting)
                    .await;
                drop(child);
                Some(f)
            }
            None => {
                println!(
                    "oidc-provider: skipped (set KEYWARD_PEERS to a peers directory with node/node_modules)"
                );
                None
            }
        };

        if let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
            let prefix = format!("keyward-bench-oauth2-{}:", std::process::id());
            let store = RedisStore::connect(&url, prefix.clone()).await.unwrap();
            let accounting = Accounting {
                server: Some("self".into()),
                store: redis_pid(&url).await.map(|pid| ("redis-server", pid)),
            };
            let addr = keyward_server(Arc::new(store)).await;
            keyward_phases("Redis", addr, tokens, connections, seconds, &accounting).await;
            redis_cleanup(&url, &prefix).await;
        }

        if let Some(anchor) = anchor {
            println!(
                "Keyward (memory) / oidc-provider: token {}x, introspect {}x",
                ratio(&keyward.token, &anchor.token),
                ratio(&keyward.introspect, &anchor.introspect),
            );
        }
    });
}

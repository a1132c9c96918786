//! The OAuth 2.1 authorization server of `keyward` over each durable or shared backend
//! (SQLite file, PostgreSQL, Redis, and PostgreSQL + Redis split), as two server instances
//! with a store each over one backend: a code exchanged on one instance is a replay on the
//! other and revokes its tokens, a refresh token rotated on one is reuse on the other and
//! revokes the family, and of two concurrent refreshes on the two instances exactly one
//! succeeds. A replay that lands between the first exchange's taking of the code and the
//! storing of its tokens still revokes them (played step by step, and raced). The memory
//! store runs the same scenario with both instances over one store.
//!
//! The PostgreSQL and Redis tests skip visibly when their server is not configured and fail
//! under `CI=true`.

use std::sync::Arc;

use keyward::common::clock::FixedClock;
use keyward::common::encoding::{encode_form, parse_form};
use keyward::common::replay::Recorded;
use keyward::oauth2::provider::store::{
    AuthorizationCodeStore, BoxFuture, CodeRecord, ConsentGrant, ConsentStore, OAuth2ClientStore,
    OAuth2Store, OnceStore, RotateRefresh, StoreError, TakeCode, TokenRecord, TokenStore,
};
use keyward::oauth2::provider::{
    AuthorizationServer, ClientAuthMethod, Grant, GrantType, RegisteredClient, ServerConfig,
};
use keyward::oauth2::rfc7636::{ChallengeMethod, CodeVerifier};
use keyward_stores::{MemoryStore, PostgresStore, RedisStore, SplitStore, SqliteStore};
use serde_json::Value;
use tokio::sync::{Mutex, oneshot};

const ISSUER: &str = "https://as.example";
const T0: i64 = 1_800_000_000;
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://web.example/cb";
const HOW: &str = "run `source tests/peers/servers.sh start` or `bash .ci/run`";

/// A name unique to this test run and test, for schemas, key prefixes and files.
fn unique(test: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{test}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

fn server(store: Arc<dyn OAuth2Store>) -> AuthorizationServer {
    AuthorizationServer::builder(store, ServerConfig::new(ISSUER)).clock(FixedClock::new(T0)).build()
}

fn post(pairs: &[(&str, &str)]) -> http::Request<Vec<u8>> {
    let mut all = vec![("client_id", "web"), ("client_secret", "web-secret")];
    all.extend_from_slice(pairs);
    http::Request::post("https://as.example/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(all).into_bytes())
        .unwrap()
}

fn body(r: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

/// A code from the authorization endpoint of `server`.
async fn code(server: &AuthorizationServer) -> String {
    let challenge = CodeVerifier::parse(VERIFIER).unwrap().challenge(ChallengeMethod::S256);
    let query = encode_form([
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("scope", "read"),
        ("state", "s"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let get = http::Request::get(format!("{ISSUER}/authorize?{query}")).body(Vec::new()).unwrap();
    let request = server.authorization_request(&get).await.unwrap();
    let response = server.grant(&request, Grant::new("alice", ["read"]).auth_time(T0)).await.unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    let params = parse_form(location.split_once('?').unwrap().1).unwrap();
    params.into_iter().find(|(k, _)| k == "code").unwrap().1
}

async fn exchange(server: &AuthorizationServer, code: &str) -> http::Response<Vec<u8>> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    server.token(&post(&form)).await
}

async fn refresh(server: &AuthorizationServer, token: &str) -> http::Response<Vec<u8>> {
    server.token(&post(&[("grant_type", "refresh_token"), ("refresh_token", token)])).await
}

async fn active(server: &AuthorizationServer, token: &str) -> bool {
    let r = server.introspect(&post(&[("token", token)])).await;
    assert_eq!(r.status(), 200);
    body(&r)["active"] == true
}

/// A store that forwards to another, except that `create_tokens` can be held: once
/// [`Pausing::hold`] is armed, the next call says it arrived and waits for the release
/// before storing.
struct Pausing {
    inner: Arc<dyn OAuth2Store>,
    gate: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

impl Pausing {
    fn new(inner: Arc<dyn OAuth2Store>) -> Self {
        Self { inner, gate: Mutex::new(None) }
    }

    /// Arms the gate: the receiver fires when `create_tokens` arrives; the sender releases it.
    async fn hold(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (arrived_tx, arrived_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.gate.lock().await = Some((arrived_tx, release_rx));
        (arrived_rx, release_tx)
    }
}

impl OAuth2Store for Pausing {}

impl OAuth2ClientStore for Pausing {
    fn get_registered_client<'a>(
        &'a self,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<RegisteredClient>, StoreError>> {
        self.inner.get_registered_client(client_id)
    }
    fn create_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.create_registered_client(client)
    }
    fn update_registered_client<'a>(
        &'a self,
        client: &'a RegisteredClient,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.update_registered_client(client)
    }
    fn delete_registered_client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.delete_registered_client(client_id)
    }
}

impl AuthorizationCodeStore for Pausing {
    fn create_code<'a>(&'a self, code: &'a CodeRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.create_code(code)
    }
    fn take_code<'a>(&'a self, code_hash: &'a str, now: i64) -> BoxFuture<'a, Result<TakeCode, StoreError>> {
        self.inner.take_code(code_hash, now)
    }
    fn purge_expired_codes(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.purge_expired_codes(now)
    }
}

impl TokenStore for Pausing {
    fn create_tokens<'a>(
        &'a self,
        access: &'a TokenRecord,
        refresh: Option<&'a TokenRecord>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let gate = self.gate.lock().await.take();
            if let Some((arrived, release)) = gate {
                arrived.send(()).ok();
                release.await.ok();
            }
            self.inner.create_tokens(access, refresh).await
        })
    }
    fn get_token<'a>(
        &'a self,
        token_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>> {
        self.inner.get_token(token_hash, now)
    }
    fn rotate_refresh<'a>(
        &'a self,
        old_hash: &'a str,
        new_access: &'a TokenRecord,
        new_refresh: Option<&'a TokenRecord>,
        now: i64,
    ) -> BoxFuture<'a, Result<RotateRefresh, StoreError>> {
        self.inner.rotate_refresh(old_hash, new_access, new_refresh, now)
    }
    fn revoke_token<'a>(&'a self, token_hash: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.revoke_token(token_hash)
    }
    fn revoke_family<'a>(&'a self, family_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.inner.revoke_family(family_id)
    }
    fn revoke_subject_tokens<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.inner.revoke_subject_tokens(subject, client_id)
    }
    fn revoke_client_tokens<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.inner.revoke_client_tokens(client_id)
    }
    fn purge_expired_tokens(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.purge_expired_tokens(now)
    }
}

impl ConsentStore for Pausing {
    fn get_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<ConsentGrant>, StoreError>> {
        self.inner.get_grant(subject, client_id, now)
    }
    fn save_grant<'a>(&'a self, grant: &'a ConsentGrant, now: i64) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.save_grant(grant, now)
    }
    fn list_grants<'a>(
        &'a self,
        subject: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<ConsentGrant>, StoreError>> {
        self.inner.list_grants(subject, now)
    }
    fn revoke_grant<'a>(
        &'a self,
        subject: &'a str,
        client_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.revoke_grant(subject, client_id)
    }
    fn purge_expired_grants(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.purge_expired_grants(now)
    }
}

impl OnceStore for Pausing {
    fn record_once<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        self.inner.record_once(namespace, key, expires_at, now)
    }
}

/// The scenario, over two stores of one backend.
async fn two_servers_act_as_one(a: Arc<dyn OAuth2Store>, b: Arc<dyn OAuth2Store>) {
    let web = RegisteredClient::confidential("web", "web-secret")
        .with_auth_method(ClientAuthMethod::ClientSecretPost)
        .with_redirect_uris([REDIRECT])
        .with_scopes(["read"])
        .with_grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]);
    a.create_registered_client(&web).await.unwrap();
    let paused = Arc::new(Pausing::new(a.clone()));
    let held = server(paused.clone());
    let (a, b) = (Arc::new(server(a)), Arc::new(server(b)));

    // A replay on `b` that lands after `held` took the code but before it stored the
    // tokens: the tokens `held` then stores are revoked, and its exchange fails too.
    let c = code(&a).await;
    let (arrived, release) = paused.hold().await;
    let first = tokio::spawn({
        let c = c.clone();
        async move { exchange(&held, &c).await }
    });
    arrived.await.expect("the first exchange reaches create_tokens");
    let replay = exchange(&b, &c).await;
    assert_eq!((replay.status().as_u16(), body(&replay)["error"].as_str()), (400, Some("invalid_grant")));
    release.send(()).unwrap();
    let first = first.await.unwrap();
    assert_eq!((first.status().as_u16(), body(&first)["error"].as_str()), (400, Some("invalid_grant")));

    // Raced: a code exchanged at once on both instances gives at most one token response,
    // and the replay leaves none of its tokens active.
    for round in 0..20 {
        let c = code(&a).await;
        let tasks: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|server| {
                let c = c.clone();
                tokio::spawn(async move {
                    let r = exchange(&server, &c).await;
                    (r.status().as_u16(), body(&r))
                })
            })
            .collect();
        let mut issued = Vec::new();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            if status == 200 {
                issued.push(body);
            } else {
                assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "round {round}");
            }
        }
        assert!(issued.len() <= 1, "round {round}: one code gave two token responses");
        for body in issued {
            let access = body["access_token"].as_str().unwrap();
            assert!(!active(&a, access).await, "round {round}: the replay left the access token active");
            let refresh_token = body["refresh_token"].as_str().unwrap();
            assert_eq!(refresh(&a, refresh_token).await.status(), 400, "round {round}");
        }
    }

    // A code exchanged on `a` is a replay on `b`, which revokes what `a` issued.
    let c = code(&a).await;
    let issued = exchange(&a, &c).await;
    assert_eq!(issued.status(), 200, "{:?}", body(&issued));
    let issued = body(&issued);
    let (access, refresh1) =
        (issued["access_token"].as_str().unwrap(), issued["refresh_token"].as_str().unwrap());
    assert!(active(&b, access).await);
    let replay = exchange(&b, &c).await;
    assert_eq!((replay.status().as_u16(), body(&replay)["error"].as_str()), (400, Some("invalid_grant")));
    assert!(!active(&a, access).await, "the replay revoked the access token");
    assert_eq!(refresh(&a, refresh1).await.status(), 400, "and the refresh token");

    // A refresh token rotated on `a` is reuse on `b`, which revokes the family.
    let issued = body(&exchange(&a, &code(&b).await).await);
    let refresh1 = issued["refresh_token"].as_str().unwrap();
    let rotated = refresh(&a, refresh1).await;
    assert_eq!(rotated.status(), 200);
    let rotated = body(&rotated);
    let (access2, refresh2) =
        (rotated["access_token"].as_str().unwrap(), rotated["refresh_token"].as_str().unwrap());
    assert!(active(&b, access2).await);
    assert_eq!(refresh(&b, refresh1).await.status(), 400);
    assert!(!active(&a, access2).await, "reuse revoked the family");
    assert_eq!(refresh(&a, refresh2).await.status(), 400);

    // Of two concurrent refreshes with one token, on the two instances, exactly one wins.
    for round in 0..10 {
        let issued = body(&exchange(&b, &code(&a).await).await);
        let token = issued["refresh_token"].as_str().unwrap().to_owned();
        let tasks: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|server| {
                let token = token.clone();
                tokio::spawn(async move { refresh(&server, &token).await.status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses.sort();
        assert_eq!(statuses, [200, 400], "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory() {
    let store: Arc<dyn OAuth2Store> = Arc::new(MemoryStore::new());
    two_servers_act_as_one(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file() {
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.db", unique("oauth2_server")));
    let url = format!("sqlite://{}", path.display());
    let a = SqliteStore::connect(&url).await.unwrap();
    let b = SqliteStore::connect(&url).await.unwrap();
    two_servers_act_as_one(Arc::new(a), Arc::new(b)).await;
}

async fn postgres(test: &str) -> Option<(PostgresStore, PostgresStore)> {
    use sqlx::Connection;
    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use std::str::FromStr;
    let url = keyward_testkit::require(
        keyward_testkit::server_url("KEYWARD_TEST_DATABASE_URL"),
        &format!("keyward-stores oauth2_server::{test}"),
        "PostgreSQL (KEYWARD_TEST_DATABASE_URL)",
        HOW,
    )?;
    let mut schema = format!("kw_{}", unique(test));
    schema.truncate(63);
    let mut admin = PgConnection::connect(&url).await.expect("connect to PostgreSQL");
    sqlx::raw_sql(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut admin).await.expect("create schema");
    admin.close().await.ok();
    let options =
        PgConnectOptions::from_str(&url).expect("database URL").options([("search_path", schema.as_str())]);
    let a = PostgresStore::connect_with(options.clone()).await.expect("PostgresStore");
    let b = PostgresStore::connect_with(options).await.expect("PostgresStore");
    Some((a, b))
}

async fn redis(test: &str) -> Option<(RedisStore, RedisStore)> {
    let url = keyward_testkit::require(
        keyward_testkit::server_url("KEYWARD_TEST_REDIS_URL"),
        &format!("keyward-stores oauth2_server::{test}"),
        "Redis (KEYWARD_TEST_REDIS_URL)",
        HOW,
    )?;
    let prefix = format!("kwtest:{}:", unique(test));
    let a = RedisStore::connect(&url, prefix.clone()).await.expect("RedisStore");
    let b = RedisStore::connect(&url, prefix).await.expect("RedisStore");
    Some((a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_only() {
    let Some((a, b)) = postgres("postgres").await else { return };
    two_servers_act_as_one(Arc::new(a), Arc::new(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_only() {
    let Some((a, b)) = redis("redis").await else { return };
    two_servers_act_as_one(Arc::new(a), Arc::new(b)).await;
}

/// Clients, tokens and grants in PostgreSQL; codes and `jti`s in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_and_redis_split() {
    let Some((pa, pb)) = postgres("split").await else { return };
    let Some((ra, rb)) = redis("split").await else { return };
    two_servers_act_as_one(Arc::new(SplitStore::new(pa, ra)), Arc::new(SplitStore::new(pb, rb))).await;
}

//! The table of `keyward_client::registry::Error::status` (every failure of a login → its
//! status → the page's sentence) as cases that each glue crate runs through a real server
//! of its framework, so that both answer every row the same way.
//!
//! Each [`Case`] is a registry with one app, [`APP`], whose provider is a closure transport
//! that fails one way. [`run`] plays the browser: `GET /login/{name}`, then, unless the
//! case fails there, `GET /auth/{name}?…` with the state the redirect carried. The site
//! under test serves those two routes: the login redirect, and a callback that finishes
//! the login, reads the user's profile (`userinfo`) and answers `200 signed in as {sub}`.

use crate::jose::{TestSigner, jwks};
use crate::peers::Browser;
use keyward::common::clock::FixedClock;
use keyward::common::http_client::BoxFuture;
use keyward::common::secret::SecretString;
use keyward::{HttpClient, HttpError};
use keyward_client::registry::state::FlowData;
use keyward_client::registry::{
    AppConfig, ClientKwargs, ErrorKind, OAuth, StateCacheError, StateError, StateStore,
};
use keyward_client::session::Session;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// The name of the app every case registers.
pub const APP: &str = "p";
/// The registry's clock.
const NOW: i64 = 1_800_000_000;
const BASE: &str = "https://op.test";
const METADATA: &str = "https://op.test/.well-known/openid-configuration";

/// What the provider's token endpoint (OAuth 2) or token-credential endpoint (OAuth 1)
/// answers.
#[derive(Clone, Copy)]
enum Token {
    /// A token response, with an ID token whose claims `claims` may change.
    Issue { claims: fn(&mut Value), token_type: bool },
    /// This status, content type and body.
    Answer(u16, &'static str, &'static str),
    /// A transport failure.
    Fail(fn() -> HttpError),
}

/// How the provider behaves.
struct Provider {
    /// OpenID Connect (discovery, ID token) or plain OAuth 2 (configured endpoints).
    oidc: bool,
    /// The discovery document's `issuer`.
    issuer: &'static str,
    token: Token,
    /// The userinfo `sub`.
    userinfo_sub: &'static str,
    /// The OAuth 1 temporary-credential endpoint's answer (status, body).
    temporary: (u16, &'static str),
    signer: TestSigner,
    nonce: Mutex<Option<String>>,
}

fn reply(status: u16, content_type: &str, body: String) -> Result<http::Response<Vec<u8>>, HttpError> {
    Ok(http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body.into_bytes())
        .expect("response"))
}

impl Provider {
    fn answer(&self, req: &http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, HttpError> {
        let url = req.uri().to_string();
        let path = url.strip_prefix(BASE).unwrap_or_else(|| panic!("unexpected request to {url}"));
        let json = |v: Value| reply(200, "application/json", v.to_string());
        match path {
            "/.well-known/openid-configuration" => json(json!({
                "issuer": self.issuer,
                "authorization_endpoint": format!("{BASE}/authorize"),
                "token_endpoint": format!("{BASE}/token"),
                "userinfo_endpoint": format!("{BASE}/userinfo"),
                "jwks_uri": format!("{BASE}/jwks"),
                "id_token_signing_alg_values_supported": ["RS256"],
            })),
            "/jwks" => json(jwks(&[&self.signer])),
            "/userinfo" => json(json!({"sub": self.userinfo_sub})),
            "/request_token" => {
                reply(self.temporary.0, "application/x-www-form-urlencoded", self.temporary.1.into())
            }
            "/token" | "/access_token" => match self.token {
                Token::Fail(error) => Err(error()),
                Token::Answer(status, content_type, body) => reply(status, content_type, body.into()),
                Token::Issue { claims, token_type } => {
                    let mut body = json!({"access_token": "at-1", "expires_in": 3600});
                    if token_type {
                        body["token_type"] = "Bearer".into();
                    }
                    if self.oidc {
                        let mut c = json!({"iss": BASE, "sub": "alice", "aud": "cid", "iat": NOW,
                            "exp": NOW + 300, "nonce": self.nonce.lock().expect("nonce").clone()});
                        claims(&mut c);
                        body["id_token"] = self.signer.sign(&c).into();
                    }
                    json(body)
                }
            },
            _ => panic!("unexpected request to {url}"),
        }
    }
}

/// Where the case's browser goes, and what it sends back to the callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Callback {
    /// The login itself fails.
    AtLogin,
    /// The provider's redirect back, as the provider sent it.
    Genuine,
    /// With a state that belongs to no login.
    WrongState,
    /// Without `code`.
    NoCode,
    /// `error=access_denied`.
    Declined,
}

/// One row of the failure table.
pub struct Case {
    /// What fails.
    pub name: &'static str,
    /// The registry (one app, [`APP`], unless the case is about an unknown app).
    pub registry: OAuth,
    /// The app the browser logs in with.
    pub app: &'static str,
    callback: Callback,
    /// The status the site must answer with.
    pub status: u16,
    /// The row; `None` for a login that succeeds.
    pub kind: Option<ErrorKind>,
    provider: Arc<Provider>,
}

/// A flow-state store that cannot be reached.
struct Unreachable;

impl StateStore for Unreachable {
    fn save<'a>(
        &'a self,
        _: &'a dyn Session,
        _: &'a str,
        _: &'a str,
        _: FlowData,
        _: i64,
        _: i64,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async { Err(StateCacheError::unavailable("connection refused").into()) })
    }
    fn take<'a>(
        &'a self,
        _: &'a dyn Session,
        _: &'a str,
        _: &'a str,
        _: i64,
        _: i64,
    ) -> BoxFuture<'a, Result<FlowData, StateError>> {
        Box::pin(async { Err(StateCacheError::unavailable("connection refused").into()) })
    }
}

fn keep(_: &mut Value) {}

/// Builds a case: a provider, a registry over it with one app.
struct Setup {
    provider: Provider,
    oauth1: bool,
    state_down: bool,
}

impl Setup {
    fn oidc(token: Token) -> Self {
        Self::oauth2(token, true)
    }

    fn oauth2(token: Token, oidc: bool) -> Self {
        Setup {
            provider: Provider {
                oidc,
                issuer: BASE,
                token,
                userinfo_sub: "alice",
                temporary: (200, "oauth_token=rt&oauth_token_secret=rs&oauth_callback_confirmed=true"),
                signer: TestSigner::load("oidc_op_a.pem", "key-a"),
                nonce: Mutex::new(None),
            },
            oauth1: false,
            state_down: false,
        }
    }

    fn oauth1(token: Token) -> Self {
        Setup { oauth1: true, ..Self::oauth2(token, false) }
    }

    fn case(
        self,
        name: &'static str,
        callback: Callback,
        status: u16,
        kind: impl Into<Option<ErrorKind>>,
    ) -> Case {
        let provider = Arc::new(self.provider);
        let transport = provider.clone();
        let http: Arc<dyn HttpClient> = Arc::new(move |req: http::Request<Vec<u8>>| {
            let answer = transport.answer(&req);
            async move { answer }
        });
        let mut builder = OAuth::builder().http_client(http).clock(Arc::new(FixedClock::new(NOW)));
        if self.state_down {
            builder = builder.state_store(Arc::new(Unreachable));
        }
        let registry = builder.build();
        let credentials = AppConfig {
            client_id: Some("cid".into()),
            client_secret: Some(SecretString::new("secret")),
            ..AppConfig::default()
        };
        let config = if self.oauth1 {
            AppConfig {
                request_token_url: Some(format!("{BASE}/request_token")),
                access_token_url: Some(format!("{BASE}/access_token")),
                authorize_url: Some(format!("{BASE}/authorize")),
                userinfo_endpoint: Some(format!("{BASE}/userinfo")),
                ..credentials
            }
        } else if provider.oidc {
            AppConfig {
                server_metadata_url: Some(METADATA.into()),
                client_kwargs: ClientKwargs { scope: Some("openid".into()), ..ClientKwargs::default() },
                ..credentials
            }
        } else {
            AppConfig {
                access_token_url: Some(format!("{BASE}/token")),
                authorize_url: Some(format!("{BASE}/authorize")),
                userinfo_endpoint: Some(format!("{BASE}/userinfo")),
                ..credentials
            }
        };
        registry.register(APP, config).expect("a valid configuration");
        Case { name, registry, app: APP, callback, status, kind: kind.into(), provider }
    }
}

const JSON: &str = "application/json";

/// Every row of the table, in its order.
pub fn cases() -> Vec<Case> {
    use Callback::*;
    use ErrorKind as K;
    let issue = Token::Issue { claims: keep, token_type: true };
    vec![
        // 200: a token response that lacks only `token_type` is a Bearer token.
        Setup::oauth2(Token::Issue { claims: keep, token_type: false }, false).case(
            "no token_type",
            Genuine,
            200,
            Option::None,
        ),
        Setup::oidc(issue).case("a valid OpenID login", Genuine, 200, Option::None),
        // 400, start again.
        Setup::oidc(Token::Answer(400, JSON, r#"{"error":"invalid_grant","error_description":"code used"}"#))
            .case("invalid_grant (code replayed)", Genuine, 400, K::StartAgain),
        Setup::oauth2(Token::Answer(200, JSON, r#"{"error":"invalid_grant"}"#), false).case(
            "invalid_grant in a 200",
            Genuine,
            400,
            K::StartAgain,
        ),
        Setup::oauth1(Token::Answer(401, "text/plain", "oauth_problem=verifier_invalid")).case(
            "OAuth 1 verifier refused",
            Genuine,
            400,
            K::StartAgain,
        ),
        Setup::oidc(issue).case("unknown state", WrongState, 400, K::StartAgain),
        Setup::oidc(issue).case("no code", NoCode, 400, K::StartAgain),
        // 400, could not be verified.
        Setup::oidc(Token::Issue { claims: |c| c["nonce"] = "another".into(), token_type: true }).case(
            "ID token nonce",
            Genuine,
            400,
            K::Unverified,
        ),
        Setup::oidc(Token::Issue { claims: |c| c["aud"] = "someone-else".into(), token_type: true }).case(
            "ID token audience",
            Genuine,
            400,
            K::Unverified,
        ),
        Setup::oidc(Token::Issue { claims: |c| c["iss"] = "https://evil.test".into(), token_type: true })
            .case("ID token issuer", Genuine, 400, K::Unverified),
        {
            let mut s = Setup::oidc(issue);
            s.provider.userinfo_sub = "mallory";
            s.case("userinfo sub", Genuine, 400, K::Unverified)
        },
        {
            let mut s = Setup::oidc(issue);
            s.provider.issuer = "https://evil.test";
            s.case("discovery issuer", AtLogin, 400, K::Unverified)
        },
        // 403.
        Setup::oidc(issue).case("declined", Declined, 403, K::Declined),
        // 404.
        {
            let mut case = Setup::oidc(issue).case("unknown app", AtLogin, 404, K::UnknownApp);
            case.app = "nope";
            case
        },
        // 502, 503, 504: the provider.
        Setup::oidc(Token::Fail(|| HttpError::Connect("connection refused".into()))).case(
            "provider unreachable",
            Genuine,
            502,
            K::Provider,
        ),
        Setup::oidc(Token::Fail(|| HttpError::Timeout)).case("provider timed out", Genuine, 504, K::Provider),
        Setup::oidc(Token::Answer(500, "text/html", "<h1>Internal Server Error</h1>")).case(
            "provider 500",
            Genuine,
            502,
            K::Provider,
        ),
        Setup::oidc(Token::Answer(503, "text/html", "<h1>Down for maintenance</h1>")).case(
            "provider 503",
            Genuine,
            503,
            K::Provider,
        ),
        Setup::oidc(Token::Answer(200, "text/html", "<html>welcome</html>")).case(
            "a body that is not OAuth",
            Genuine,
            502,
            K::Provider,
        ),
        // 503: our flow-state store.
        {
            let mut s = Setup::oidc(issue);
            s.state_down = true;
            s.case("state store unreachable", AtLogin, 503, K::Unavailable)
        },
        // 500: our configuration.
        Setup::oidc(Token::Answer(401, JSON, r#"{"error":"invalid_client"}"#)).case(
            "invalid_client",
            Genuine,
            500,
            K::Internal,
        ),
        {
            let mut s = Setup::oauth1(issue);
            s.provider.temporary = (401, "oauth_problem=consumer_key_unknown");
            s.case("OAuth 1 consumer refused", AtLogin, 500, K::Internal)
        },
    ]
}

/// The query of a URL, decoded.
fn query(url: &str) -> BTreeMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    keyward::common::encoding::parse_form(query).expect("a query").into_iter().collect()
}

/// Runs every case against a site that `serve` starts over a registry; `serve` returns its
/// base URL. Panics on the first case the site answers otherwise than the table says.
pub async fn run<F, Fut>(serve: F)
where
    F: Fn(OAuth) -> Fut,
    Fut: Future<Output = String>,
{
    for case in cases() {
        let base = serve(case.registry.clone()).await;
        let mut browser = Browser::new();
        let start = browser.get(&format!("{base}/login/{}", case.app)).await;
        let done = if case.callback == Callback::AtLogin {
            start
        } else {
            assert_eq!(start.status, 302, "{}: {}", case.name, start.body);
            let params = query(start.location.as_deref().expect("a redirect"));
            *case.provider.nonce.lock().expect("nonce") = params.get("nonce").cloned();
            let state = params.get("state").or(params.get("oauth_token")).expect("a state");
            let key = if params.contains_key("oauth_token") { "oauth_token" } else { "state" };
            let back = match case.callback {
                Callback::Genuine if key == "oauth_token" => format!("oauth_token={state}&oauth_verifier=v1"),
                Callback::Genuine => format!("code=c1&state={state}"),
                Callback::WrongState => "code=c1&state=another".to_owned(),
                Callback::NoCode => format!("state={state}"),
                Callback::Declined => format!("error=access_denied&state={state}"),
                Callback::AtLogin => unreachable!(),
            };
            browser.get(&format!("{base}/auth/{}?{back}", case.app)).await
        };
        assert_eq!(done.status, case.status, "{}: {}", case.name, done.body);
        let expected = case.kind.map_or("signed in as alice", ErrorKind::message);
        assert_eq!(done.body, expected, "{}", case.name);
    }
}

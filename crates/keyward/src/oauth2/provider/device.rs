//! The device authorization grant (RFC 8628): the device authorization endpoint (§3.1–§3.2),
//! the application's verification page (§3.3: look up a user code, then approve or deny
//! it), and the token endpoint's `urn:ietf:params:oauth:grant-type:device_code` grant
//! (§3.4–§3.5).
//!
//! The grant is on when the server is built with
//! [`AuthorizationServerBuilder::device_codes`](super::AuthorizationServerBuilder::device_codes)
//! and a [`DeviceCodeStore`]; without it the grant type is `unsupported_grant_type` and the
//! metadata lists no `device_authorization_endpoint`.
//!
//! # Codes
//! - The **device code** is 256 random bits (base64url); only its SHA-256 is stored.
//! - The **user code** is eight characters from [`USER_CODE_ALPHABET`] (twenty consonants,
//!   no vowels so no words, no digits so no `0`/`O` or `1`/`I` confusion; §6.1), shown as
//!   `XXXX-XXXX`. What the user types is normalised before it is looked up: case is folded,
//!   dashes and spaces are dropped. It too is stored as its SHA-256.
//!
//! # Rate limit of verification attempts (§5.1)
//! The eight characters give 20⁸ ≈ 2.6 × 10¹⁰ codes. Every call of
//! [`AuthorizationServer::verify_user_code`] counts one attempt under a key the application
//! passes (the client's IP address, its session, or both joined), in a window of
//! [`DeviceConfig::attempt_window`] seconds; past [`DeviceConfig::max_attempts`] attempts
//! the key gets [`VerificationError::TooManyAttempts`] without a look-up. The counter is
//! per key, not per user-code prefix: a prefix counter would let one guesser lock out
//! every user whose code shares it, while a key counter only slows the guesser. With the
//! defaults (10 attempts per 10 minutes, codes living 10 minutes), one key that guesses for
//! a whole day finds one of `N` live codes with probability about `N × 5.6 × 10⁻⁸`; the
//! application can add a second, global key (`"*"`) with a higher limit of its own.
//! Approving and denying take the [`DeviceVerification`] the look-up returned, so they are
//! no guessing oracle of their own.
//!
//! # The flow
//! ```
//! use std::sync::Arc;
//! use keyward::oauth2::provider::store::OAuth2ClientStore;
//! use keyward::oauth2::provider::{
//!     AuthorizationServer, DeviceConfig, Grant, GrantType, RegisteredClient, ServerConfig,
//! };
//! use keyward_stores::MemoryStore;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let tv = RegisteredClient::public("tv")
//!     .with_scopes(["read"])
//!     .with_grant_types([GrantType::DeviceCode, GrantType::RefreshToken]);
//! store.create_registered_client(&tv).await.unwrap();
//! let issuer = "https://as.example";
//! let server = AuthorizationServer::builder(store.clone(), ServerConfig::new(issuer))
//!     .device_codes(store, DeviceConfig::new(issuer))
//!     .build();
//! let post = |body: &str| {
//!     http::Request::post("https://as.example/")
//!         .header("content-type", "application/x-www-form-urlencoded")
//!         .body(body.as_bytes().to_vec())
//!         .unwrap()
//! };
//!
//! // The device asks (§3.1) and shows the user code.
//! let response = server.device_authorization(&post("client_id=tv&scope=read")).await;
//! let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
//! let device_code = body["device_code"].as_str().unwrap();
//! let user_code = body["user_code"].as_str().unwrap();
//! let grant_type = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";
//! let poll = format!("grant_type={grant_type}&client_id=tv&device_code={device_code}");
//! assert_eq!(server.token(&post(&poll)).await.status(), 400); // authorization_pending
//!
//! // The user types the code on the verification page, signed in, and approves.
//! let typed = user_code.to_lowercase().replace('-', " ");
//! let verification = server.verify_user_code(&typed, "203.0.113.7").await.unwrap();
//! assert_eq!(verification.client_id, "tv");
//! assert_eq!(verification.scopes, ["read"]);
//! server.approve_device(&verification, Grant::new("alice", ["read"])).await.unwrap();
//!
//! // The device's next poll gets the tokens, once.
//! assert_eq!(server.token(&post(&poll)).await.status(), 200);
//! assert_eq!(server.token(&post(&poll)).await.status(), 400); // invalid_grant
//! # });
//! ```

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::authorize::Grant;
use super::client::{GrantType, RegisteredClient};
use super::device_store::{DeviceCodeRecord, DeviceCodeStore, DeviceDecide, DevicePoll, DeviceStatus};
use super::error::ProviderError;
use super::server::{AuthorizationServer, Form, hash_token, json_ok, parse_scope, read_post_form};
use super::store::{ConsentGrant, StoreError};

/// The grant type of the device flow (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The characters of user codes (RFC 8628 §6.1): upper-case consonants without `Y`.
pub const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// The length of a user code, without its dash.
pub const USER_CODE_LEN: usize = 8;

/// How many times a user code is drawn again when it collides with a live one.
const USER_CODE_DRAWS: usize = 4;

/// The settings of the device authorization grant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceConfig {
    /// The device authorization endpoint's URL (RFC 8628 §3.1; metadata
    /// `device_authorization_endpoint`, §4).
    pub endpoint: String,
    /// The verification page the user visits (§3.2 `verification_uri`); the response's
    /// `verification_uri_complete` is it with `?user_code=XXXX-XXXX`.
    pub verification_uri: String,
    /// The lifetime of device and user codes, in seconds (§3.2 `expires_in`; default 600).
    pub expires_in: i64,
    /// The initial polling interval, in seconds (§3.2 `interval`; default 5, the RFC's
    /// default). Each `slow_down` adds 5 (§3.5).
    pub interval: i64,
    /// How many verification attempts one key may make per window (default 10).
    pub max_attempts: u64,
    /// The window of the attempt counter, in seconds (default 600).
    pub attempt_window: i64,
}

impl DeviceConfig {
    /// Settings for `issuer`: the endpoint at `{issuer}/device_authorization`, the
    /// verification page at `{issuer}/device`, and the defaults above.
    pub fn new(issuer: &str) -> Self {
        let base = issuer.trim_end_matches('/');
        Self {
            endpoint: format!("{base}/device_authorization"),
            verification_uri: format!("{base}/device"),
            expires_in: 600,
            interval: 5,
            max_attempts: 10,
            attempt_window: 600,
        }
    }

    /// Sets the device authorization endpoint's URL.
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// Sets the verification page's URL.
    pub fn with_verification_uri(mut self, url: impl Into<String>) -> Self {
        self.verification_uri = url.into();
        self
    }

    /// Sets the lifetime of the codes.
    pub fn with_expires_in(mut self, secs: i64) -> Self {
        self.expires_in = secs;
        self
    }

    /// Sets the initial polling interval.
    pub fn with_interval(mut self, secs: i64) -> Self {
        self.interval = secs;
        self
    }

    /// Sets the attempt limit: `max` attempts per key per `window` seconds.
    pub fn with_attempt_limit(mut self, max: u64, window: i64) -> Self {
        self.max_attempts = max;
        self.attempt_window = window;
        self
    }
}

/// The device grant's store and settings, held by the server.
pub(crate) struct DeviceSetup {
    pub(crate) store: Arc<dyn DeviceCodeStore>,
    pub(crate) config: DeviceConfig,
}

impl fmt::Debug for DeviceSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceSetup").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The token endpoint's answers to a device-code poll that are not tokens (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceGrantError {
    /// `authorization_pending`: the user has not decided yet; poll again after the interval.
    #[error("the authorization is pending")]
    AuthorizationPending,
    /// `slow_down`: still pending, and the client polls too fast; the interval grew by 5 s.
    #[error("polling too fast: slow down")]
    SlowDown,
    /// `access_denied`: the user denied the authorization.
    #[error("the user denied the authorization")]
    AccessDenied,
    /// `expired_token`: the device code expired; the client may start again.
    #[error("the device code expired")]
    ExpiredToken,
}

impl DeviceGrantError {
    /// The `error` code (RFC 8628 §3.5).
    pub fn code(self) -> &'static str {
        match self {
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
        }
    }
}

/// Why a verification-page call failed. None of these goes on the wire to the device: the
/// application shows the user a page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerificationError {
    /// The attempt key made too many attempts in the current window (RFC 8628 §5.1); nothing
    /// was looked up.
    #[error("too many verification attempts")]
    TooManyAttempts,
    /// The user code is malformed, unknown or expired.
    #[error("unknown or expired user code")]
    UnknownCode,
    /// The authorization was approved or denied already.
    #[error("the code was already used")]
    AlreadyDecided,
    /// The approval grants a scope the device did not ask for.
    #[error("a granted scope was not asked for")]
    InvalidScope,
    /// The server has no device grant (no [`DeviceCodeStore`]).
    #[error("the device authorization grant is not enabled")]
    NotEnabled,
    /// A store failed.
    #[error("store failure: {0}")]
    Store(#[from] StoreError),
}

/// A pending device authorization, found by its user code, for the application's consent
/// page (RFC 8628 §3.3). Serde, so that the application may keep it in its session between
/// the page that shows it and the one that answers it with
/// [`AuthorizationServer::approve_device`] or [`AuthorizationServer::deny_device`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceVerification {
    /// The user code as shown, `XXXX-XXXX`.
    pub user_code: String,
    /// The client that asked.
    pub client_id: String,
    /// The client's name, for the page.
    pub client_name: Option<String>,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// When the code expires.
    pub expires_at: i64,
}

/// Normalises a user code as typed (RFC 8628 §6.1): ASCII case folded to upper, dashes and
/// white space dropped; `None` unless eight characters of [`USER_CODE_ALPHABET`] remain.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let mut out = String::with_capacity(USER_CODE_LEN);
    for c in input.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = c.to_ascii_uppercase();
        if !c.is_ascii() || !USER_CODE_ALPHABET.contains(&(c as u8)) || out.len() == USER_CODE_LEN {
            return None;
        }
        out.push(c);
    }
    (out.len() == USER_CODE_LEN).then_some(out)
}

/// A normalised user code as shown: `XXXX-XXXX`.
pub fn format_user_code(normalized: &str) -> String {
    let (a, b) = normalized.split_at(normalized.len().min(USER_CODE_LEN / 2));
    format!("{a}-{b}")
}

/// The stored key of a normalised user code.
fn user_code_hash(normalized: &str) -> String {
    hash_token(&format!("user-code\u{0}{normalized}"))
}

impl AuthorizationServer {
    fn device(&self) -> Result<&DeviceSetup, VerificationError> {
        self.inner.device.as_ref().ok_or(VerificationError::NotEnabled)
    }

    /// The device authorization endpoint (RFC 8628 §3.1–§3.2): a POSTed form; the client
    /// authenticates as at the token endpoint (a public client sends its `client_id`), must
    /// be allowed the device grant (else `unauthorized_client`), and may ask for `scope`s
    /// among its own (else `invalid_scope`). Answers `device_code`, `user_code`,
    /// `verification_uri`, `verification_uri_complete`, `expires_in` and `interval`, with
    /// `Cache-Control: no-store`; errors as at the token endpoint (RFC 6749 §5.2). Without a
    /// device store, `400 unsupported_grant_type`.
    pub async fn device_authorization(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        match self.device_authorization_inner(request).await {
            Ok(response) => response,
            Err(e) => e.to_response(),
        }
    }

    async fn device_authorization_inner(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        let setup = self.inner.device.as_ref().ok_or(ProviderError::UnsupportedGrantType)?;
        let form = read_post_form(request, self.inner.config.max_body)?;
        let client = self.authenticate_client(request, &form).await?;
        if !client.allows_grant(GrantType::DeviceCode) {
            return Err(ProviderError::UnauthorizedClient);
        }
        let scopes = parse_scope(form.get("scope"))?;
        if !scopes.iter().all(|s| client.scopes.contains(s)) {
            return Err(ProviderError::InvalidScope);
        }
        let config = &setup.config;
        let now = self.now();
        let device_code = self.random_value();
        let mut record = DeviceCodeRecord {
            device_code_hash: hash_token(&device_code),
            user_code_hash: String::new(),
            client_id: client.client_id.clone(),
            scopes,
            interval: config.interval,
            last_poll: None,
            issued_at: now,
            expires_at: now + config.expires_in,
            status: DeviceStatus::Pending,
        };
        let mut user_code = None;
        for _ in 0..USER_CODE_DRAWS {
            let code = self.inner.random.string(USER_CODE_LEN, USER_CODE_ALPHABET);
            record.user_code_hash = user_code_hash(&code);
            match setup.store.create_device_code(&record, now).await {
                Ok(()) => {
                    user_code = Some(code);
                    break;
                }
                Err(StoreError::Duplicate) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let user_code = format_user_code(&user_code.ok_or(StoreError::Duplicate)?);
        let mut complete = url::Url::parse(&config.verification_uri)
            .map_err(|_| ProviderError::Misconfigured("the verification URI is not a URL"))?;
        complete.query_pairs_mut().append_pair("user_code", &user_code);
        Ok(json_ok(&json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": config.verification_uri,
            "verification_uri_complete": complete.as_str(),
            "expires_in": config.expires_in,
            "interval": config.interval,
        })))
    }

    /// The verification page's look-up (RFC 8628 §3.3): counts one attempt under
    /// `attempt_key` (see the [module](self) on the rate limit), normalises `user_code` as
    /// typed, and finds the pending authorization, with the client and scopes for the
    /// consent page.
    pub async fn verify_user_code(
        &self,
        user_code: &str,
        attempt_key: &str,
    ) -> Result<DeviceVerification, VerificationError> {
        let setup = self.device()?;
        let config = &setup.config;
        let now = self.now();
        let key = hash_token(&format!("device-verify\u{0}{attempt_key}"));
        let count = setup.store.count_attempt(&key, now + config.attempt_window, now).await?;
        if count > config.max_attempts {
            return Err(VerificationError::TooManyAttempts);
        }
        let normalized = normalize_user_code(user_code).ok_or(VerificationError::UnknownCode)?;
        let record = setup
            .store
            .get_device_code_by_user_code(&user_code_hash(&normalized), now)
            .await?
            .ok_or(VerificationError::UnknownCode)?;
        if record.status != DeviceStatus::Pending {
            return Err(VerificationError::AlreadyDecided);
        }
        let client = self
            .inner
            .store
            .get_registered_client(&record.client_id)
            .await?
            .ok_or(VerificationError::UnknownCode)?;
        Ok(DeviceVerification {
            user_code: format_user_code(&normalized),
            client_id: client.client_id,
            client_name: client.client_name,
            scopes: record.scopes,
            expires_at: record.expires_at,
        })
    }

    /// Approves a device authorization found by [`verify_user_code`](Self::verify_user_code)
    /// for `grant.subject` with `grant.scopes` (some or all of those asked for, else
    /// [`VerificationError::InvalidScope`]), once: a second decision is
    /// [`VerificationError::AlreadyDecided`]. The device's next poll gets the tokens. The
    /// consent is remembered when `grant.remember` (it then shows among the user's grants).
    pub async fn approve_device(
        &self,
        verification: &DeviceVerification,
        grant: Grant,
    ) -> Result<(), VerificationError> {
        let setup = self.device()?;
        let now = self.now();
        let normalized =
            normalize_user_code(&verification.user_code).ok_or(VerificationError::UnknownCode)?;
        let hash = user_code_hash(&normalized);
        let record = setup
            .store
            .get_device_code_by_user_code(&hash, now)
            .await?
            .ok_or(VerificationError::UnknownCode)?;
        if !grant.scopes.iter().all(|s| record.scopes.contains(s)) {
            return Err(VerificationError::InvalidScope);
        }
        let decision = DeviceStatus::Approved {
            subject: grant.subject.clone(),
            scopes: grant.scopes.clone(),
            auth_time: grant.auth_time,
        };
        self.decide(setup, &hash, &decision, now).await?;
        if grant.remember {
            let consent = ConsentGrant {
                subject: grant.subject,
                client_id: record.client_id,
                scopes: grant.scopes,
                resources: Vec::new(),
                granted_at: now,
                expires_at: None,
            };
            self.inner.store.save_grant(&consent, now).await?;
        }
        Ok(())
    }

    /// Denies a device authorization found by [`verify_user_code`](Self::verify_user_code),
    /// once: the device's next poll gets `access_denied`.
    pub async fn deny_device(&self, verification: &DeviceVerification) -> Result<(), VerificationError> {
        let setup = self.device()?;
        let normalized =
            normalize_user_code(&verification.user_code).ok_or(VerificationError::UnknownCode)?;
        self.decide(setup, &user_code_hash(&normalized), &DeviceStatus::Denied, self.now()).await
    }

    async fn decide(
        &self,
        setup: &DeviceSetup,
        hash: &str,
        decision: &DeviceStatus,
        now: i64,
    ) -> Result<(), VerificationError> {
        match setup.store.decide_device_code(hash, decision, now).await? {
            DeviceDecide::Decided(_) => Ok(()),
            DeviceDecide::AlreadyDecided => Err(VerificationError::AlreadyDecided),
            DeviceDecide::Unknown => Err(VerificationError::UnknownCode),
        }
    }

    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4–§3.5): one poll. The
    /// device code must be this client's; pending is `authorization_pending`, or `slow_down`
    /// when the client polls sooner than the interval (which then grows by 5 s); denied is
    /// `access_denied`, expired `expired_token`; approved gives the tokens once (the store
    /// takes the authorization atomically), with a refresh token when the client may use
    /// the `refresh_token` grant. A spent or unknown code is `invalid_grant`.
    pub(super) async fn device_code_grant(
        &self,
        client: &RegisteredClient,
        form: &Form,
        jkt: Option<&str>,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        let setup = self.inner.device.as_ref().ok_or(ProviderError::UnsupportedGrantType)?;
        let code = form.get("device_code").ok_or(ProviderError::InvalidRequest("device_code is missing"))?;
        let now = self.now();
        let record = match setup.store.poll_device_code(&hash_token(code), &client.client_id, now).await? {
            DevicePoll::Approved(record) => record,
            DevicePoll::Pending => return Err(DeviceGrantError::AuthorizationPending.into()),
            DevicePoll::SlowDown { .. } => return Err(DeviceGrantError::SlowDown.into()),
            DevicePoll::Denied => return Err(DeviceGrantError::AccessDenied.into()),
            DevicePoll::Expired => return Err(DeviceGrantError::ExpiredToken.into()),
            DevicePoll::Taken => return Err(ProviderError::InvalidGrant("the device code was already used")),
            DevicePoll::Unknown => return Err(ProviderError::InvalidGrant("unknown device code")),
        };
        let DeviceStatus::Approved { subject, scopes, auth_time } = record.status else {
            return Err(StoreError::Corrupt("a taken device authorization is not approved".into()).into());
        };
        self.issue_for_grant(client, Some(subject), scopes, auth_time, jkt, now).await
    }
}

impl From<DeviceGrantError> for ProviderError {
    fn from(e: DeviceGrantError) -> Self {
        ProviderError::Device(e)
    }
}

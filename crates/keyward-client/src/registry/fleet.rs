//! Refresh that is single-flight across instances: a [`RefreshLock`] in a store every
//! instance shares makes one instance refresh a token; the others wait, and read the new
//! token through the application's `fetch_token` hook.
//!
//! Within one process, refresh is already single-flight
//! ([`OAuth2Client::ensure_fresh`]). Across processes it is not, and with rotating refresh
//! tokens and reuse detection (Auth0, Okta, Keyward's own provider) two instances that
//! refresh the same token at once make the provider revoke the whole grant. With a
//! [`FleetRefresh`] set on the registry ([`OAuthBuilder::refresh_lock`]), an API call made
//! for a user ([`ApiRequest::user`](super::ApiRequest::user)) whose token is expired:
//!
//! 1. tries to take the lock of that token (keyed by app and a hash of the refresh token,
//!    held with a random fencing value for [`FleetRefresh::ttl`]);
//! 2. if it got it, asks `fetch_token` again (another instance may have refreshed and
//!    released between the first read and the lock): a newer, unexpired token is used as
//!    is; otherwise it refreshes (the `update_token` hook persists the new token before
//!    anything else happens) and releases the lock, only if it still holds it;
//! 3. if it did not, it polls with backoff: `fetch_token` first (a newer token ends the
//!    wait), then the lock again, so that a lock lost with its holder (a crash, a TTL run
//!    out) is taken over and the refresh done here;
//! 4. after [`FleetRefresh::wait`] without either, it fails with
//!    [`RefreshLockError::Timeout`] rather than risk a second refresh with the same token.
//!
//! The default wait is longer than the default TTL, so a waiter outlives a lost lock and
//! takes it over. A holder that dies after the provider rotated the token but before
//! `update_token` persisted it cannot be helped: the new refresh token is lost with it.
//!
//! A token passed to the call ([`ApiRequest::token`](super::ApiRequest::token)) has no
//! `fetch_token` path to read a newer one from, so it is refreshed single-flight per
//! process only.

use super::OAuthBuilder;
use super::app::RemoteApp;
use super::error::Error;
use super::token::AppToken;
use crate::oauth2::{OAuth2Client, Token};
use keyward::common::http_client::BoxFuture;
use keyward::common::store::StoreError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A lock shared by the instances of an application, with an expiry and a fencing value:
/// held by one owner at a time, released only by its owner (Redis `SET NX PX` and a
/// compare-and-delete; a PostgreSQL advisory lock; [`MemoryRefreshLock`] in one process).
pub trait RefreshLock: Send + Sync {
    /// Takes `key` for `ttl` with the owner's `fence` (a random value), unless another
    /// owner holds it and its TTL has not run out. `true` when taken.
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        fence: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Releases `key` if it is still held with `fence` (not if it expired and another
    /// owner took it since). `true` when released.
    fn release<'a>(&'a self, key: &'a str, fence: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
}

impl<T: RefreshLock + ?Sized> RefreshLock for Arc<T> {
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        fence: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).try_acquire(key, fence, ttl)
    }

    fn release<'a>(&'a self, key: &'a str, fence: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).release(key, fence)
    }
}

/// A [`RefreshLock`] in this process's memory: for one instance, and for tests (two
/// registries sharing one play two instances).
#[derive(Debug, Default)]
pub struct MemoryRefreshLock {
    held: Mutex<HashMap<String, (String, Instant)>>,
}

impl MemoryRefreshLock {
    /// No lock held.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RefreshLock for MemoryRefreshLock {
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        fence: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.retain(|_, (_, until)| *until > now);
        let taken = match held.get(key) {
            Some(_) => false,
            None => {
                held.insert(key.to_owned(), (fence.to_owned(), now + ttl));
                true
            }
        };
        Box::pin(std::future::ready(Ok(taken)))
    }

    fn release<'a>(&'a self, key: &'a str, fence: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = held.get(key).is_some_and(|(f, until)| f == fence && *until > Instant::now());
        if mine {
            held.remove(key);
        }
        Box::pin(std::future::ready(Ok(mine)))
    }
}

/// Why a fleet-wide refresh did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshLockError {
    /// The lock store failed.
    #[error("refresh lock store failed: {0}")]
    Store(#[from] StoreError),
    /// Another instance held the refresh lock and no newer token appeared through
    /// `fetch_token` within the wait.
    #[error("app `{app}`: another instance is refreshing the token; no new token after {waited:?}")]
    Timeout {
        /// The app.
        app: String,
        /// How long the call waited.
        waited: Duration,
    },
}

/// Default [`FleetRefresh::ttl`].
pub const DEFAULT_REFRESH_LOCK_TTL: Duration = Duration::from_secs(20);
/// Default [`FleetRefresh::wait`]: longer than the TTL, so a lost lock is taken over.
pub const DEFAULT_REFRESH_LOCK_WAIT: Duration = Duration::from_secs(25);

/// The registry's fleet-wide refresh: a [`RefreshLock`] and its timings.
#[derive(Clone)]
pub struct FleetRefresh {
    lock: Arc<dyn RefreshLock>,
    ttl: Duration,
    wait: Duration,
    first_poll: Duration,
    max_poll: Duration,
}

impl std::fmt::Debug for FleetRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetRefresh")
            .field("ttl", &self.ttl)
            .field("wait", &self.wait)
            .field("first_poll", &self.first_poll)
            .field("max_poll", &self.max_poll)
            .finish_non_exhaustive()
    }
}

impl FleetRefresh {
    /// Refresh under `lock`, with the default TTL (20 s) and wait (25 s), polling from
    /// 25 ms, doubling up to 500 ms.
    pub fn new(lock: Arc<dyn RefreshLock>) -> Self {
        Self {
            lock,
            ttl: DEFAULT_REFRESH_LOCK_TTL,
            wait: DEFAULT_REFRESH_LOCK_WAIT,
            first_poll: Duration::from_millis(25),
            max_poll: Duration::from_millis(500),
        }
    }

    /// How long a lock is held at most: longer than a refresh takes (the transport's
    /// timeout plus the `update_token` hook), or a second instance may refresh too.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a call waits for another instance's refresh before
    /// [`RefreshLockError::Timeout`]; keep it longer than the TTL to survive a lost lock.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The lock key of `token` of app `app`: `keyward-refresh:{app}:{digest}`, where the
    /// digest is the base64url of the left half of the SHA-256 of the refresh token (of the
    /// access token when there is none), so that no secret reaches the lock store.
    pub fn lock_key(app: &str, token: &Token) -> String {
        let secret = token.refresh_token.as_ref().map(|r| r.secret()).unwrap_or(token.access_token.secret());
        let digest = keyward::oidc::core::left_half_hash(keyward::oidc::Algorithm::RS256, secret);
        format!("keyward-refresh:{app}:{digest}")
    }

    /// The first and the longest pause between two polls.
    pub fn poll(mut self, first: Duration, max: Duration) -> Self {
        self.first_poll = first;
        self.max_poll = max.max(first);
        self
    }
}

impl OAuthBuilder {
    /// Makes refresh single-flight across instances (see [`FleetRefresh`]): API calls made
    /// for a user refresh an expired token under `fleet`'s lock, and read the token another
    /// instance refreshed through the `fetch_token` hook.
    pub fn refresh_lock(mut self, fleet: FleetRefresh) -> Self {
        self.fleet = Some(fleet);
        self
    }
}

impl RemoteApp {
    /// The fresh token for a call made for `user` with `token` (read from `fetch_token`):
    /// refreshed under the fleet lock when the registry has one (see the module docs),
    /// else single-flight in this process.
    pub(crate) async fn fresh_for_user(
        &self,
        client: &OAuth2Client,
        user: &str,
        token: Token,
    ) -> Result<Token, Error> {
        let leeway = client.config().leeway;
        if !token.is_expired(client.now(), leeway) {
            return Ok(token);
        }
        let Some(fleet) = self.fleet() else { return Ok(client.ensure_fresh(&token).await?) };
        let key = FleetRefresh::lock_key(self.name(), &token);
        let fence = self.random_token();
        let started = Instant::now();
        let mut pause = fleet.first_poll;
        loop {
            if fleet.lock.try_acquire(&key, &fence, fleet.ttl).await.map_err(RefreshLockError::from)? {
                let outcome = self.refresh_holding_lock(client, user, &token).await;
                // A failed release is not the call's failure: the lock runs out by itself.
                let _ = fleet.lock.release(&key, &fence).await;
                return outcome;
            }
            if started.elapsed() >= fleet.wait {
                return Err(RefreshLockError::Timeout {
                    app: self.name().to_owned(),
                    waited: started.elapsed(),
                }
                .into());
            }
            tokio::time::sleep(pause.min(fleet.wait.saturating_sub(started.elapsed()))).await;
            pause = (pause * 2).min(fleet.max_poll);
            if let Some(newer) = self.newer_token(client, user, &token).await? {
                return Ok(newer);
            }
        }
    }

    /// Under the lock: the token another instance refreshed meanwhile, or a refresh here.
    async fn refresh_holding_lock(
        &self,
        client: &OAuth2Client,
        user: &str,
        token: &Token,
    ) -> Result<Token, Error> {
        if let Some(newer) = self.newer_token(client, user, token).await? {
            return Ok(newer);
        }
        Ok(client.ensure_fresh(token).await?)
    }

    /// The user's token from `fetch_token`, if it is another one than `old` and unexpired.
    async fn newer_token(
        &self,
        client: &OAuth2Client,
        user: &str,
        old: &Token,
    ) -> Result<Option<Token>, Error> {
        let Some(hook) = &self.inner.hooks.fetch_token else { return Ok(None) };
        match hook.fetch_token(self.name(), user).await.map_err(Error::FetchToken)? {
            Some(AppToken::OAuth2(t))
                if t.access_token != old.access_token
                    && !t.is_expired(client.now(), client.config().leeway) =>
            {
                Ok(Some(t))
            }
            _ => Ok(None),
        }
    }
}

//! Automatic refresh, single-flight: however many requests find the same token expired at
//! the same time, one refresh request is sent and every one of them gets its result.
//!
//! With rotating refresh tokens this is a matter of correctness, not only load: a second
//! refresh with the already-used refresh token fails (and some servers revoke the whole
//! grant on reuse). Results stay memoised for a while, so a request that read the old
//! token from its store just before the application persisted the new one still gets the
//! new token instead of spending the dead refresh token.

use super::{ClientError, OAuth2Client};
use keyward::common::http_client::BoxFuture;
use keyward::oauth2::rfc6749::{AccessToken, RefreshToken, Token};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// How long a finished refresh is remembered, in seconds.
const MEMO_SECONDS: i64 = 120;

/// The token a refresh replaced: what the application needs to find its row.
#[derive(Debug, Clone)]
pub struct OldToken {
    /// The old access token.
    pub access_token: AccessToken,
    /// The old refresh token.
    pub refresh_token: Option<RefreshToken>,
}

/// The application's hook that persists a renewed token (Authlib's `update_token`).
///
/// It runs once per refresh, before any request uses the new token; if it fails, the
/// requests waiting on the refresh fail too (the new token would otherwise be lost).
pub trait UpdateToken: Send + Sync {
    /// Stores `new`, which replaces `old`.
    fn update_token(
        &self,
        new: Token,
        old: OldToken,
    ) -> BoxFuture<'_, Result<(), Box<dyn std::error::Error + Send + Sync>>>;
}

impl<F, Fut> UpdateToken for F
where
    F: Fn(Token, OldToken) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send + 'static,
{
    fn update_token(
        &self,
        new: Token,
        old: OldToken,
    ) -> BoxFuture<'_, Result<(), Box<dyn std::error::Error + Send + Sync>>> {
        Box::pin(self(new, old))
    }
}

type Outcome = Result<Token, Arc<ClientError>>;

struct Flight {
    started: i64,
    cell: Arc<tokio::sync::OnceCell<Outcome>>,
}

/// In-flight and recent refreshes, keyed by the access token they replace.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Flight>>,
}

impl Flights {
    fn cell(&self, key: &str, now: i64) -> Arc<tokio::sync::OnceCell<Outcome>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, f| now.saturating_sub(f.started) < MEMO_SECONDS || !f.cell.initialized());
        map.entry(key.to_owned())
            .or_insert_with(|| Flight { started: now, cell: Arc::new(tokio::sync::OnceCell::new()) })
            .cell
            .clone()
    }

    fn forget(&self, key: &str, cell: &Arc<tokio::sync::OnceCell<Outcome>>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|f| Arc::ptr_eq(&f.cell, cell)) {
            map.remove(key);
        }
    }
}

impl OAuth2Client {
    /// `token` if it is not expired (by the configured leeway), else its renewal: by the
    /// refresh token, or by the client-credentials grant when configured so. Concurrent
    /// callers with the same expired token share one renewal; the `update_token` hook runs
    /// once, with the new token and the old access and refresh tokens.
    pub async fn ensure_fresh(&self, token: &Token) -> Result<Token, ClientError> {
        let now = self.clock.now();
        if !token.is_expired(now, self.config.leeway) {
            return Ok(token.clone());
        }
        if token.refresh_token.is_none() && !self.config.refetch_with_client_credentials {
            return Err(ClientError::Expired);
        }
        let key = token.access_token.secret();
        let cell = self.flights.cell(key, now);
        let outcome = cell.get_or_init(|| async { self.renew(token).await.map_err(Arc::new) }).await.clone();
        if outcome.is_err() {
            // A failure is not memoised: the next request may try again.
            self.flights.forget(key, &cell);
        }
        outcome.map_err(ClientError::Refresh)
    }

    async fn renew(&self, token: &Token) -> Result<Token, ClientError> {
        let new = if token.refresh_token.is_some() {
            self.refresh_token(token).await?
        } else {
            self.client_credentials(None).await?
        };
        if let Some(hook) = &self.update_token {
            let old = OldToken {
                access_token: token.access_token.clone(),
                refresh_token: token.refresh_token.clone(),
            };
            hook.update_token(new.clone(), old).await.map_err(ClientError::UpdateHook)?;
        }
        Ok(new)
    }
}

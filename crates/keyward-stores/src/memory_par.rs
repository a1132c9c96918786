//! Pushed authorization requests in memory: the part of [`MemoryStore`] that implements
//! [`PushedRequestStore`] (RFC 9126).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use keyward::oauth2::provider::par::{PushedRequest, PushedRequestStore};
use keyward::oauth2::provider::store::{BoxFuture, StoreError};

use crate::MemoryStore;

/// The fewest records at which the store sweeps expired ones as it grows.
const MIN_SWEEP: usize = 1024;

/// Pushed requests by hash, behind one short-held lock (a take is one critical section).
#[derive(Default)]
pub(crate) struct ParMemory {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    requests: HashMap<String, PushedRequest>,
    /// The size at which the next insertion sweeps.
    sweep_at: usize,
}

impl State {
    fn sweep(&mut self, now: i64) -> u64 {
        let before = self.requests.len();
        self.requests.retain(|_, r| r.expires_at > now);
        self.sweep_at = (self.requests.len() * 2).max(MIN_SWEEP);
        (before - self.requests.len()) as u64
    }
}

impl ParMemory {
    /// Sweeps expired requests; how many were removed.
    pub(crate) fn purge(&self, now: i64) -> u64 {
        lock(&self.state).sweep(now)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl PushedRequestStore for MemoryStore {
    fn create_pushed_request<'a>(
        &'a self,
        request: &'a PushedRequest,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut state = lock(&self.par.state);
        if state.requests.len() >= state.sweep_at.max(MIN_SWEEP) {
            state.sweep(request.issued_at);
        }
        if state.requests.contains_key(&request.request_uri_hash) {
            return ready(Err(StoreError::Duplicate));
        }
        state.requests.insert(request.request_uri_hash.clone(), request.clone());
        ready(Ok(()))
    }

    fn take_pushed_request<'a>(
        &'a self,
        request_uri_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<PushedRequest>, StoreError>> {
        let taken = lock(&self.par.state).requests.remove(request_uri_hash);
        ready(Ok(taken.filter(|r| r.expires_at > now)))
    }

    fn purge_expired_pushed_requests(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        ready(Ok(self.par.purge(now)))
    }
}

//! The device authorization grant's store in memory: the part of [`MemoryStore`] that
//! implements [`DeviceCodeStore`] (RFC 8628).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use keyward::oauth2::provider::device_store::{
    DeviceCodeRecord, DeviceCodeStore, DeviceDecide, DevicePoll, DeviceStatus,
};
use keyward::oauth2::provider::store::{BoxFuture, StoreError};

use crate::MemoryStore;

/// The fewest records at which a store sweeps expired ones as it grows.
const MIN_SWEEP: usize = 1024;

/// Device authorizations and attempt counters behind one short-held lock (one critical
/// section per operation, none held across an `await`).
#[derive(Default)]
pub(crate) struct DeviceMemory {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Records by device-code hash.
    by_device: HashMap<String, DeviceCodeRecord>,
    /// Device-code hash by user-code hash.
    by_user: HashMap<String, String>,
    /// Attempt counters: key → (count, window end).
    attempts: HashMap<String, (u64, i64)>,
    /// The size at which the next insertion sweeps.
    sweep_at: usize,
}

impl DeviceMemory {
    /// Sweeps expired device codes and attempt counters; how many were removed.
    pub(crate) fn purge(&self, now: i64) -> u64 {
        lock(&self.state).sweep(now)
    }
}

impl State {
    /// Removes expired records and counters; how many.
    fn sweep(&mut self, now: i64) -> u64 {
        let before = self.by_device.len() + self.attempts.len();
        self.by_device.retain(|_, r| r.expires_at > now);
        let by_device = &self.by_device;
        self.by_user.retain(|_, d| by_device.contains_key(d));
        self.attempts.retain(|_, (_, ends)| *ends > now);
        self.sweep_at = ((self.by_device.len() + self.attempts.len()) * 2).max(MIN_SWEEP);
        (before - self.by_device.len() - self.attempts.len()) as u64
    }

    fn maybe_sweep(&mut self, now: i64) {
        if self.by_device.len() + self.attempts.len() >= self.sweep_at.max(MIN_SWEEP) {
            self.sweep(now);
        }
    }

    /// The live record of a user-code hash.
    fn by_user_mut(&mut self, user_code_hash: &str, now: i64) -> Option<&mut DeviceCodeRecord> {
        let device = self.by_user.get(user_code_hash)?;
        self.by_device.get_mut(device).filter(|r| r.expires_at > now)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl DeviceCodeStore for MemoryStore {
    fn create_device_code<'a>(
        &'a self,
        record: &'a DeviceCodeRecord,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut state = lock(&self.device.state);
        state.maybe_sweep(now);
        if state.by_device.contains_key(&record.device_code_hash)
            || state.by_user_mut(&record.user_code_hash, now).is_some()
        {
            return ready(Err(StoreError::Duplicate));
        }
        if let Some(old) =
            state.by_user.insert(record.user_code_hash.clone(), record.device_code_hash.clone())
        {
            // An expired record that held the user code.
            state.by_device.remove(&old);
        }
        state.by_device.insert(record.device_code_hash.clone(), record.clone());
        ready(Ok(()))
    }

    fn get_device_code_by_user_code<'a>(
        &'a self,
        user_code_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<DeviceCodeRecord>, StoreError>> {
        let mut state = lock(&self.device.state);
        ready(Ok(state.by_user_mut(user_code_hash, now).map(|r| r.clone())))
    }

    fn decide_device_code<'a>(
        &'a self,
        user_code_hash: &'a str,
        decision: &'a DeviceStatus,
        now: i64,
    ) -> BoxFuture<'a, Result<DeviceDecide, StoreError>> {
        let mut state = lock(&self.device.state);
        let answer = match state.by_user_mut(user_code_hash, now) {
            None => DeviceDecide::Unknown,
            Some(r) if r.status != DeviceStatus::Pending => DeviceDecide::AlreadyDecided,
            Some(r) => {
                r.status = decision.clone();
                DeviceDecide::Decided(r.clone())
            }
        };
        ready(Ok(answer))
    }

    fn poll_device_code<'a>(
        &'a self,
        device_code_hash: &'a str,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<DevicePoll, StoreError>> {
        let mut state = lock(&self.device.state);
        let answer = match state.by_device.get_mut(device_code_hash) {
            Some(r) if r.client_id != client_id => DevicePoll::Unknown,
            None => DevicePoll::Unknown,
            Some(r) if r.expires_at <= now => DevicePoll::Expired,
            Some(r) => match &r.status {
                DeviceStatus::Pending => {
                    let too_soon = r.last_poll.is_some_and(|last| now - last < r.interval);
                    r.last_poll = Some(now);
                    if too_soon {
                        r.interval += 5;
                        DevicePoll::SlowDown { interval: r.interval }
                    } else {
                        DevicePoll::Pending
                    }
                }
                DeviceStatus::Denied => DevicePoll::Denied,
                DeviceStatus::Taken => DevicePoll::Taken,
                DeviceStatus::Approved { .. } => {
                    let approved = r.clone();
                    r.status = DeviceStatus::Taken;
                    r.last_poll = Some(now);
                    DevicePoll::Approved(approved)
                }
            },
        };
        ready(Ok(answer))
    }

    fn count_attempt<'a>(
        &'a self,
        key: &'a str,
        window_ends_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let mut state = lock(&self.device.state);
        state.maybe_sweep(now);
        let entry = state.attempts.entry(key.to_owned()).or_insert((0, window_ends_at));
        if entry.1 <= now {
            *entry = (0, window_ends_at);
        }
        entry.0 += 1;
        ready(Ok(entry.0))
    }

    fn purge_expired_device_codes(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        ready(Ok(lock(&self.device.state).sweep(now)))
    }
}

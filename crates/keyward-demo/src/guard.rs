//! What keeps sign-in affordable under attack: a bound on the password hashes computed at
//! once, and exponential backoff per user name and per address after wrong passwords.

use crate::config::Limits;
use crate::html::ErrorPage;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A `429 Too Many Requests` page with `Retry-After` in whole seconds (at least 1).
pub(crate) fn too_many(retry_after: Duration, detail: &str) -> Response {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut response =
        ErrorPage::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", detail).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

/// At most `permits` password hashes at once (each holds Argon2's 19 MiB); a caller waits
/// `wait` at most for its turn.
pub(crate) struct HashGate {
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl HashGate {
    pub(crate) fn new(permits: usize, wait: Duration) -> Self {
        Self { permits: Arc::new(Semaphore::new(permits.max(1))), wait }
    }

    /// A turn to hash, or the `429` to answer when none came in time.
    pub(crate) async fn enter(&self) -> Result<OwnedSemaphorePermit, Response> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(too_many(
                self.wait.max(Duration::from_secs(1)),
                "The server is busy checking other passwords. Try again in a moment.",
            )),
        }
    }
}

/// One key's failures.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    blocked_until: Instant,
    last: Instant,
}

/// Failure counts by key, at most `cap` of them; a key idle for `forget` is dropped.
struct Counter<K> {
    map: HashMap<K, Failures>,
    free: u32,
    cap: usize,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn blocked(&self, key: &K, now: Instant) -> Option<Duration> {
        let f = self.map.get(key)?;
        (f.blocked_until > now).then(|| f.blocked_until - now)
    }

    fn fail(&mut self, key: K, now: Instant, base: Duration, max: Duration, forget: Duration) {
        if !self.map.contains_key(&key) && self.map.len() >= self.cap {
            self.map.retain(|_, f| now.saturating_duration_since(f.last) < forget);
            if self.map.len() >= self.cap {
                // Still full: the key idle the longest goes.
                if let Some(oldest) = self.map.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| k.clone()) {
                    self.map.remove(&oldest);
                }
            }
        }
        let f = self.map.entry(key).or_insert(Failures { count: 0, blocked_until: now, last: now });
        if now.saturating_duration_since(f.last) >= forget {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        if f.count > self.free {
            let doublings = (f.count - self.free - 1).min(30);
            let delay = base.saturating_mul(1u32 << doublings).min(max);
            f.blocked_until = now + delay;
        }
    }
}

/// Exponential backoff after wrong passwords, per user name (case-folded) and per IP
/// address: past the free failures, each further one doubles the delay, up to a maximum;
/// nothing is ever locked for good. Memory is bounded: at most [`Throttle::CAP`] names and
/// as many addresses.
pub(crate) struct Throttle {
    inner: Mutex<(Counter<String>, Counter<IpAddr>)>,
    base: Duration,
    max: Duration,
}

impl Throttle {
    /// Names (and addresses) tracked at most.
    pub(crate) const CAP: usize = 10_000;

    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            inner: Mutex::new((
                Counter { map: HashMap::new(), free: limits.free_failures_per_account, cap: Self::CAP },
                Counter { map: HashMap::new(), free: limits.free_failures_per_address, cap: Self::CAP },
            )),
            base: limits.backoff_base,
            max: limits.backoff_max.max(limits.backoff_base),
        }
    }

    fn forget(&self) -> Duration {
        self.max.saturating_mul(2)
    }

    /// How long `account` or `addr` must still wait, if either must.
    pub(crate) fn wait(&self, account: &str, addr: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let by_name = guard.0.blocked(&account.to_owned(), now);
        let by_addr = addr.and_then(|a| guard.1.blocked(&a, now));
        by_name.into_iter().chain(by_addr).max()
    }

    /// Counts a wrong password.
    pub(crate) fn failed(&self, account: &str, addr: Option<IpAddr>) {
        let now = Instant::now();
        let forget = self.forget();
        let mut guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.0.fail(account.to_owned(), now, self.base, self.max, forget);
        if let Some(a) = addr {
            guard.1.fail(a, now, self.base, self.max, forget);
        }
    }

    /// A right password: the name's failures are forgotten (the address's are not, or one
    /// account of the attacker's own would clear its address's count).
    pub(crate) fn succeeded(&self, account: &str) {
        let mut guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.0.map.remove(account);
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        let guard = self.inner.lock().unwrap();
        (guard.0.map.len(), guard.1.map.len())
    }
}

/// The TCP peer's address, when the server recorded it.
pub(crate) struct PeerIp(pub(crate) Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(free_name: u32, free_addr: u32, base_ms: u64, max_ms: u64) -> Limits {
        Limits {
            free_failures_per_account: free_name,
            free_failures_per_address: free_addr,
            backoff_base: Duration::from_millis(base_ms),
            backoff_max: Duration::from_millis(max_ms),
            ..Limits::default()
        }
    }

    #[test]
    fn delays_double_past_the_free_failures_up_to_the_maximum() {
        let t = Throttle::new(&limits(2, 100, 1000, 5000));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..2 {
            t.failed("alice", Some(ip));
            assert_eq!(t.wait("alice", Some(ip)), None);
        }
        let mut seen = Vec::new();
        for _ in 0..5 {
            t.failed("alice", Some(ip));
            let w = t.wait("alice", Some(ip)).unwrap();
            seen.push(w.as_millis().div_ceil(1000));
        }
        assert_eq!(seen, [1, 2, 4, 5, 5]);
        // Another name from another address is not slowed by alice's failures.
        assert_eq!(t.wait("bob", Some("192.0.2.2".parse().unwrap())), None);
        // A right password clears the name, not the address.
        t.succeeded("alice");
        assert_eq!(t.wait("alice", None), None);
    }

    #[test]
    fn an_address_is_slowed_across_names() {
        let t = Throttle::new(&limits(100, 3, 1000, 5000));
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        for i in 0..4 {
            t.failed(&format!("user{i}"), Some(ip));
        }
        assert!(t.wait("someone-else", Some(ip)).is_some());
        assert!(t.wait("someone-else", None).is_none());
    }

    #[test]
    fn memory_stays_bounded() {
        let t = Throttle::new(&limits(5, 20, 1000, 5000));
        for i in 0..(Throttle::CAP + 500) {
            let ip = IpAddr::from((i as u32).to_be_bytes());
            t.failed(&format!("name{i}"), Some(ip));
        }
        let (names, addrs) = t.tracked();
        assert!(names <= Throttle::CAP && addrs <= Throttle::CAP, "{names} {addrs}");
    }

    #[tokio::test]
    async fn the_gate_admits_its_permits_and_refuses_after_the_wait() {
        let gate = HashGate::new(2, Duration::from_millis(50));
        let a = gate.enter().await.unwrap();
        let _b = gate.enter().await.unwrap();
        let refused = gate.enter().await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        drop(a);
        assert!(gate.enter().await.is_ok(), "a released permit is handed on");
    }
}

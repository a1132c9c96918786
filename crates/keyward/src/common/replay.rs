//! Replay caches that know since when they remember: the one mechanism every single-use
//! value goes through (OAuth 1 nonces today; later the `jti` of client assertions, DPoP
//! proofs and logout tokens).
//!
//! A replay cache records each single-use value until it can no longer be accepted (its
//! time window has passed) and answers whether it was fresh. A cache that forgets — an
//! in-memory map when the process restarts, a Redis without persistence after a restart,
//! a `FLUSHALL`, a fail-over to a replica that lacks recent writes — would answer "fresh"
//! for a value it saw before, and a captured request could be replayed for as long as its
//! timestamp stays in the window.
//!
//! So every cache also reports its [`ReplayEpoch`]: the second since which it has
//! remembered everything. A value issued at or before that second cannot be proven fresh
//! (timestamps are whole seconds, so a value issued in the very second the cache started
//! may have been seen by the cache before it), and [`Recorded::verdict`] answers
//! [`ReplayVerdict::BeforeEpoch`] for it; the caller refuses it as it refuses a stale
//! timestamp, and the client retries with a new one.
//!
//! # How a cache uses it
//!
//! - The store's "record if absent" operation returns a [`Recorded`]: whether the value was
//!   fresh, and the cache's epoch, found in the same step (no extra round trip).
//! - An in-memory cache holds a [`FirstCall`] and passes it every `now` it is given
//!   ([`FirstCall::observe`]): its epoch is the provider clock's `now` at its first call
//!   (stores never read a clock).
//! - A networked cache keeps a marker holding its epoch next to the values, written by the
//!   first call that finds it missing and read with the value, in the same round trip: a
//!   cache that lost its data lost the marker too, and starts a new epoch. The Redis store
//!   in `keyward-stores` does this, with one marker per key prefix shared by all its caches.
//! - A durable cache (an SQL table) never forgets: [`ReplayEpoch::Durable`].
//! - The protocol code asks [`Recorded::verdict`] with the value's own time (`oauth_timestamp`,
//!   `iat`) and maps [`ReplayVerdict::BeforeEpoch`] to its "stale timestamp" error.
//!
//! The trade-off: after a cache forgets, for up to the timestamp window, a client whose
//! clock runs behind the server's is refused until its values carry times after the
//! cache's epoch. What it does not cover: a value dated in the future (a client clock
//! ahead, within the window) recorded before the epoch is still replayable until its
//! timestamp leaves the window.

use std::sync::atomic::{AtomicI64, Ordering};

/// Since when a replay cache has remembered every value recorded in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReplayEpoch {
    /// The cache never forgets a value before it expires (a durable table).
    Durable,
    /// The cache has remembered everything recorded after this second (seconds since the
    /// Unix epoch); values issued at or before it may have been recorded and forgotten.
    Since(i64),
}

impl ReplayEpoch {
    /// Whether a value issued at `issued_at` (seconds since the Unix epoch) would have been
    /// remembered had it been recorded before: issued strictly after the epoch's second.
    pub fn covers(self, issued_at: i64) -> bool {
        match self {
            Self::Durable => true,
            Self::Since(epoch) => issued_at > epoch,
        }
    }
}

/// A replay cache's answer when asked to record a single-use value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Recorded {
    /// The value was absent (or expired) and is now recorded.
    pub fresh: bool,
    /// Since when the cache has remembered everything, read in the same step.
    pub epoch: ReplayEpoch,
}

impl Recorded {
    /// A value recorded now, by a cache whose epoch is `epoch`.
    pub fn fresh(epoch: ReplayEpoch) -> Self {
        Self { fresh: true, epoch }
    }

    /// A value the cache already held, by a cache whose epoch is `epoch`.
    pub fn replayed(epoch: ReplayEpoch) -> Self {
        Self { fresh: false, epoch }
    }

    /// The answer for a value issued at `issued_at`: one issued at or before the cache's
    /// epoch cannot be judged, whatever the cache found ([`ReplayEpoch::covers`]), so that
    /// every attempt gets the same answer; otherwise fresh or a replay, as the cache found.
    ///
    /// A fresh value refused as [`ReplayVerdict::BeforeEpoch`] may stay recorded: no value
    /// with its time can be accepted in this epoch anyway.
    pub fn verdict(self, issued_at: i64) -> ReplayVerdict {
        if !self.epoch.covers(issued_at) {
            ReplayVerdict::BeforeEpoch
        } else if self.fresh {
            ReplayVerdict::Fresh
        } else {
            ReplayVerdict::Replayed
        }
    }
}

/// What to do with a single-use value, from [`Recorded::verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReplayVerdict {
    /// Seen for the first time: accept it.
    Fresh,
    /// Seen before: refuse it as a replay.
    Replayed,
    /// Issued at or before the cache's epoch, so it may have been seen and forgotten:
    /// refuse it as a stale timestamp (the client retries with a new one).
    BeforeEpoch,
}

/// The epoch of an in-memory replay cache: the first `now` it observes. Lock-free; one
/// atomic load per call once set.
#[derive(Debug)]
pub struct FirstCall(AtomicI64);

/// Not yet observed: no clock gives `i64::MIN`.
const UNSET: i64 = i64::MIN;

impl Default for FirstCall {
    fn default() -> Self {
        Self(AtomicI64::new(UNSET))
    }
}

impl FirstCall {
    /// Not observed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `now` if this is the first call, and returns the epoch: the `now` of the
    /// first call (of concurrent first calls, exactly one wins and all see its value).
    pub fn observe(&self, now: i64) -> ReplayEpoch {
        let seen = self.0.load(Ordering::Acquire);
        if seen != UNSET {
            return ReplayEpoch::Since(seen);
        }
        match self.0.compare_exchange(UNSET, now, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => ReplayEpoch::Since(now),
            Err(winner) => ReplayEpoch::Since(winner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_at_or_before_the_epoch_cannot_be_proven_fresh() {
        let epoch = ReplayEpoch::Since(100);
        assert_eq!(Recorded::fresh(epoch).verdict(101), ReplayVerdict::Fresh);
        assert_eq!(Recorded::fresh(epoch).verdict(100), ReplayVerdict::BeforeEpoch);
        assert_eq!(Recorded::fresh(epoch).verdict(40), ReplayVerdict::BeforeEpoch);
        assert_eq!(Recorded::replayed(epoch).verdict(101), ReplayVerdict::Replayed);
        assert_eq!(Recorded::replayed(epoch).verdict(100), ReplayVerdict::BeforeEpoch);
        assert_eq!(Recorded::fresh(ReplayEpoch::Durable).verdict(i64::MIN), ReplayVerdict::Fresh);
        assert_eq!(Recorded::replayed(ReplayEpoch::Durable).verdict(0), ReplayVerdict::Replayed);
    }

    #[test]
    fn the_first_call_sets_the_epoch_for_good() {
        let first = FirstCall::new();
        assert_eq!(first.observe(50), ReplayEpoch::Since(50));
        assert_eq!(first.observe(70), ReplayEpoch::Since(50));
        assert_eq!(first.observe(10), ReplayEpoch::Since(50));
        let shared = std::sync::Arc::new(FirstCall::new());
        let seen: Vec<_> = (0..8)
            .map(|i| {
                let shared = shared.clone();
                std::thread::spawn(move || shared.observe(i))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    }
}

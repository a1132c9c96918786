//! The conformance suite of the device authorization grant's store
//! ([`DeviceCodeStore`], RFC 8628), for every backend and your own.
//!
//! [`device_conformance_tests!`](crate::device_conformance_tests) expands to one `#[test]`
//! per case, each on a multi-threaded runtime of its own (as
//! [`conformance_tests!`](crate::conformance_tests) does). The cases check that records
//! round-trip whole, that the caller's `now` decides expiry, that polling answers pending,
//! `slow_down` (the interval growing by 5 s) and the rest, and that the operations the
//! grant's safety rests on are atomic under concurrency: a decision lands once, an approved
//! authorization is taken once, attempts are counted one by one.
//!
//! ```
//! mod my_store {
//!     use keyward_stores::MemoryStore;
//!     use std::sync::Arc;
//!
//!     async fn make(_case: &str) -> Option<Arc<MemoryStore>> {
//!         Some(Arc::new(MemoryStore::new()))
//!     }
//!
//!     // `purges = true`: `purge_expired_device_codes` removes expired records on demand.
//!     keyward_stores::device_conformance_tests!(make, purges = true);
//! }
//! # fn main() {}
//! ```

use std::sync::Arc;

use keyward::oauth2::provider::device_store::{
    DeviceCodeRecord, DeviceCodeStore, DeviceDecide, DevicePoll, DeviceStatus,
};
use keyward::oauth2::provider::store::StoreError;

pub use crate::conformance::{NOW, RACERS, run};

/// What a device store under test implements.
pub trait DeviceStoreUnderTest: DeviceCodeStore + std::fmt::Debug + 'static {}
impl<T: DeviceCodeStore + std::fmt::Debug + 'static> DeviceStoreUnderTest for T {}

/// One `#[test]` per case of the [device conformance suite](crate::conformance_device).
///
/// `device_conformance_tests!(make, purges = BOOL)`: `make` is an
/// `async fn(&str) -> Option<Arc<S>>` where `S` is a
/// [`DeviceStoreUnderTest`](crate::conformance_device::DeviceStoreUnderTest), called with the
/// case's name for a fresh store (`None` skips the case); `purges` says whether
/// `purge_expired_device_codes` removes expired records on demand (`false` for a backend
/// that expires them itself, such as Redis).
#[macro_export]
macro_rules! device_conformance_tests {
    ($make:path, purges = $purges:expr $(,)?) => {
        $crate::device_conformance_tests!(@each $make, $purges,
            device_codes_round_trip,
            device_code_keys_are_unique_while_live,
            device_codes_expire_by_now,
            decisions_land_once,
            polls_answer_pending_then_slow_down,
            polls_of_another_client_find_nothing,
            approved_is_taken_once,
            denied_stays_denied,
            concurrent_decisions_exactly_one_wins,
            concurrent_takes_exactly_one_wins,
            attempts_are_counted_per_key_and_window,
            concurrent_attempts_are_all_counted,
            purge_removes_expired_device_records,
        );
    };
    (@each $make:path, $purges:expr, $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance_device::run(async {
                    let Some(store) = $make(stringify!($name)).await else { return };
                    $crate::conformance_device::$name(store, $purges).await;
                });
            }
        )*
    };
}

/// A pending record of client `tv`: `id` names its device-code and user-code hashes.
fn record(id: &str, expires_at: i64) -> DeviceCodeRecord {
    DeviceCodeRecord {
        device_code_hash: format!("device-{id}"),
        user_code_hash: format!("user-{id}"),
        client_id: "tv".into(),
        scopes: vec!["read".into(), "write ☃".into()],
        interval: 5,
        last_poll: None,
        issued_at: NOW,
        expires_at,
        status: DeviceStatus::Pending,
    }
}

fn approval(subject: &str) -> DeviceStatus {
    DeviceStatus::Approved { subject: subject.into(), scopes: vec!["read".into()], auth_time: Some(NOW - 7) }
}

/// A record is stored whole and found by its user code; no scopes round-trip as none.
pub async fn device_codes_round_trip<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    let r = record("a", NOW + 600);
    store.create_device_code(&r, NOW).await.unwrap();
    assert_eq!(store.get_device_code_by_user_code("user-a", NOW).await.unwrap(), Some(r.clone()));
    assert_eq!(store.get_device_code_by_user_code("user-b", NOW).await.unwrap(), None);
    // The device-code hash is no user-code key.
    assert_eq!(store.get_device_code_by_user_code("device-a", NOW).await.unwrap(), None);
    let mut empty = record("e", NOW + 600);
    empty.scopes = Vec::new();
    store.create_device_code(&empty, NOW).await.unwrap();
    assert_eq!(store.get_device_code_by_user_code("user-e", NOW).await.unwrap(), Some(empty));
    // A decision is read back with the record.
    assert!(matches!(
        store.decide_device_code("user-a", &approval("alice"), NOW).await.unwrap(),
        DeviceDecide::Decided(ref d) if d.status == approval("alice")
    ));
    let found = store.get_device_code_by_user_code("user-a", NOW).await.unwrap().unwrap();
    assert_eq!(found, DeviceCodeRecord { status: approval("alice"), ..r });
}

/// A device-code hash is unique; a user-code hash is unique among live records, and an
/// expired record's user code may be drawn again.
pub async fn device_code_keys_are_unique_while_live<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_device_code(&record("a", NOW + 600), NOW).await.unwrap();
    let same_device = DeviceCodeRecord { user_code_hash: "user-other".into(), ..record("a", NOW + 600) };
    assert!(matches!(store.create_device_code(&same_device, NOW).await, Err(StoreError::Duplicate)));
    let same_user = DeviceCodeRecord { device_code_hash: "device-other".into(), ..record("a", NOW + 600) };
    assert!(matches!(store.create_device_code(&same_user, NOW).await, Err(StoreError::Duplicate)));
    // Neither failed creation replaced anything.
    assert_eq!(
        store.get_device_code_by_user_code("user-a", NOW).await.unwrap(),
        Some(record("a", NOW + 600))
    );
    assert_eq!(store.get_device_code_by_user_code("user-other", NOW).await.unwrap(), None);

    // An expired record gives up its user code.
    store.create_device_code(&record("b", NOW + 10), NOW).await.unwrap();
    let later = NOW + 10;
    let again = DeviceCodeRecord {
        device_code_hash: "device-b2".into(),
        issued_at: later,
        ..record("b", later + 600)
    };
    store.create_device_code(&again, later).await.unwrap();
    assert_eq!(store.get_device_code_by_user_code("user-b", later).await.unwrap(), Some(again));
    assert_eq!(store.poll_device_code("device-b2", "tv", later).await.unwrap(), DevicePoll::Pending);
}

/// `expires_at` against the caller's `now`: live before, expired at it.
pub async fn device_codes_expire_by_now<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_device_code(&record("a", NOW + 600), NOW).await.unwrap();
    assert!(store.get_device_code_by_user_code("user-a", NOW + 599).await.unwrap().is_some());
    assert_eq!(store.get_device_code_by_user_code("user-a", NOW + 600).await.unwrap(), None);
    assert_eq!(
        store.decide_device_code("user-a", &approval("alice"), NOW + 600).await.unwrap(),
        DeviceDecide::Unknown
    );
    assert_eq!(store.poll_device_code("device-a", "tv", NOW + 600).await.unwrap(), DevicePoll::Expired);
    assert_eq!(store.poll_device_code("device-a", "tv", NOW + 599).await.unwrap(), DevicePoll::Pending);
    // Approved but expired before the poll: expired, not taken.
    store.create_device_code(&record("b", NOW + 600), NOW).await.unwrap();
    store.decide_device_code("user-b", &approval("alice"), NOW).await.unwrap();
    assert_eq!(store.poll_device_code("device-b", "tv", NOW + 600).await.unwrap(), DevicePoll::Expired);
}

/// A pending record is approved or denied once; an unknown user code is unknown.
pub async fn decisions_land_once<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_device_code(&record("a", NOW + 600), NOW).await.unwrap();
    store.create_device_code(&record("b", NOW + 600), NOW).await.unwrap();
    assert_eq!(
        store.decide_device_code("user-x", &DeviceStatus::Denied, NOW).await.unwrap(),
        DeviceDecide::Unknown
    );
    let DeviceDecide::Decided(decided) =
        store.decide_device_code("user-a", &approval("alice"), NOW).await.unwrap()
    else {
        panic!("the first decision lands")
    };
    assert_eq!(decided, DeviceCodeRecord { status: approval("alice"), ..record("a", NOW + 600) });
    assert_eq!(
        store.decide_device_code("user-a", &approval("mallory"), NOW).await.unwrap(),
        DeviceDecide::AlreadyDecided
    );
    assert_eq!(
        store.decide_device_code("user-a", &DeviceStatus::Denied, NOW).await.unwrap(),
        DeviceDecide::AlreadyDecided
    );
    assert!(matches!(
        store.decide_device_code("user-b", &DeviceStatus::Denied, NOW).await.unwrap(),
        DeviceDecide::Decided(ref d) if d.status == DeviceStatus::Denied
    ));
    assert_eq!(
        store.decide_device_code("user-b", &approval("alice"), NOW).await.unwrap(),
        DeviceDecide::AlreadyDecided
    );
    // The first decision stands.
    assert_eq!(
        store.get_device_code_by_user_code("user-a", NOW).await.unwrap().unwrap().status,
        approval("alice")
    );
    assert_eq!(
        store.get_device_code_by_user_code("user-b", NOW).await.unwrap().unwrap().status,
        DeviceStatus::Denied
    );
}

/// Polls are recorded: sooner than the interval after the last is `slow_down`, and the
/// interval grows by 5 s each time; at or after it, pending.
pub async fn polls_answer_pending_then_slow_down<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_device_code(&record("a", NOW + 600), NOW).await.unwrap();
    let poll = |t: i64| store.poll_device_code("device-a", "tv", t);
    assert_eq!(poll(NOW).await.unwrap(), DevicePoll::Pending);
    assert_eq!(poll(NOW + 5).await.unwrap(), DevicePoll::Pending);
    assert_eq!(poll(NOW + 9).await.unwrap(), DevicePoll::SlowDown { interval: 10 });
    assert_eq!(poll(NOW + 18).await.unwrap(), DevicePoll::SlowDown { interval: 15 });
    assert_eq!(poll(NOW + 33).await.unwrap(), DevicePoll::Pending);
    assert_eq!(poll(NOW + 47).await.unwrap(), DevicePoll::SlowDown { interval: 20 });
    let r = store.get_device_code_by_user_code("user-a", NOW + 47).await.unwrap().unwrap();
    assert_eq!((r.interval, r.last_poll), (20, Some(NOW + 47)));
    assert_eq!(r.status, DeviceStatus::Pending);
    assert_eq!(store.poll_device_code("device-zzz", "tv", NOW).await.unwrap(), DevicePoll::Unknown);
}

/// A poll by another client finds nothing and records nothing.
pub async fn polls_of_another_client_find_nothing<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_device_code(&record("a", NOW + 600), NOW).await.unwrap();
    assert_eq!(store.poll_device_code("device-a", "other", NOW).await.unwrap(), DevicePoll::Unknown);
    assert_eq!(store.get_device_code_by_user_code("user-a", NOW).await.unwrap().unwrap().last_poll, None);
    store.decide_device_code("user-a", &approval("alice"), NOW).await.unwrap();
    assert_eq!(store.poll_device_code("device-a", "other", NOW).await.unwrap(), DevicePoll::Unknown);
    // Not taken by the stranger.
    assert!(matches!(store.poll_device_code("device-a", "tv", NOW).await.unwrap(), DevicePoll::Approved(_)));
}

/// An approved record is taken by the next poll (whatever its pace), once.
pub async fn approved_is_taken_once<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_device_code(&record("a", NOW + 600), NOW).await.unwrap();
    assert_eq!(store.poll_device_code("device-a", "tv", NOW).await.unwrap(), DevicePoll::Pending);
    store.decide_device_code("user-a", &approval("alice"), NOW).await.unwrap();
    let DevicePoll::Approved(taken) = store.poll_device_code("device-a", "tv", NOW + 1).await.unwrap() else {
        panic!("the approved record is taken")
    };
    assert_eq!(taken.status, approval("alice"));
    assert_eq!(taken.client_id, "tv");
    assert_eq!(taken.scopes, record("a", 0).scopes);
    assert_eq!(store.poll_device_code("device-a", "tv", NOW + 30).await.unwrap(), DevicePoll::Taken);
    assert_eq!(
        store.get_device_code_by_user_code("user-a", NOW).await.unwrap().unwrap().status,
        DeviceStatus::Taken
    );
    assert_eq!(
        store.decide_device_code("user-a", &DeviceStatus::Denied, NOW).await.unwrap(),
        DeviceDecide::AlreadyDecided
    );
}

/// A denied record answers denied to every poll.
pub async fn denied_stays_denied<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_device_code(&record("a", NOW + 600), NOW).await.unwrap();
    store.decide_device_code("user-a", &DeviceStatus::Denied, NOW).await.unwrap();
    assert_eq!(store.poll_device_code("device-a", "tv", NOW).await.unwrap(), DevicePoll::Denied);
    assert_eq!(store.poll_device_code("device-a", "tv", NOW).await.unwrap(), DevicePoll::Denied);
}

/// Of many concurrent decisions on one pending record, exactly one lands.
pub async fn concurrent_decisions_exactly_one_wins<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_device_code(&record("a", NOW + 600), NOW).await.unwrap();
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let decision = if i % 2 == 0 { approval(&format!("user{i}")) } else { DeviceStatus::Denied };
                (store.decide_device_code("user-a", &decision, NOW).await.unwrap(), decision)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (DeviceDecide::Decided(_), decision) => winners.push(decision),
            (DeviceDecide::AlreadyDecided, _) => {}
            (other, _) => panic!("{other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(store.get_device_code_by_user_code("user-a", NOW).await.unwrap().unwrap().status, winners[0]);
}

/// Of many concurrent polls of one approved record, exactly one takes it.
pub async fn concurrent_takes_exactly_one_wins<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_device_code(&record("a", NOW + 600), NOW).await.unwrap();
    store.decide_device_code("user-a", &approval("alice"), NOW).await.unwrap();
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.poll_device_code("device-a", "tv", NOW).await.unwrap() })
        })
        .collect();
    let mut taken = 0;
    for t in tasks {
        match t.await.unwrap() {
            DevicePoll::Approved(_) => taken += 1,
            DevicePoll::Taken => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(taken, 1);
}

/// Attempts count per key; a window ends at its end, then a new one starts at 1.
pub async fn attempts_are_counted_per_key_and_window<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    for n in 1..=3 {
        assert_eq!(store.count_attempt("k1", NOW + 60, NOW).await.unwrap(), n);
    }
    assert_eq!(store.count_attempt("k2", NOW + 60, NOW).await.unwrap(), 1);
    // A later call's window end does not move the current window.
    assert_eq!(store.count_attempt("k1", NOW + 1000, NOW + 59).await.unwrap(), 4);
    assert_eq!(store.count_attempt("k1", NOW + 120, NOW + 60).await.unwrap(), 1);
    assert_eq!(store.count_attempt("k1", NOW + 200, NOW + 119).await.unwrap(), 2);
    assert_eq!(store.count_attempt("k1", NOW + 200, NOW + 120).await.unwrap(), 1);
}

/// Concurrent attempts under one key are each counted.
pub async fn concurrent_attempts_are_all_counted<S: DeviceStoreUnderTest>(store: Arc<S>, _: bool) {
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.count_attempt("k", NOW + 60, NOW).await.unwrap() })
        })
        .collect();
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=RACERS as u64).collect::<Vec<_>>());
}

/// `purge_expired_device_codes` removes expired records and counters (when the backend
/// purges on demand) and keeps live ones.
pub async fn purge_removes_expired_device_records<S: DeviceStoreUnderTest>(store: Arc<S>, purges: bool) {
    store.create_device_code(&record("old", NOW + 10), NOW).await.unwrap();
    store.create_device_code(&record("new", NOW + 600), NOW).await.unwrap();
    store.count_attempt("old", NOW + 10, NOW).await.unwrap();
    store.count_attempt("new", NOW + 600, NOW).await.unwrap();
    let removed = store.purge_expired_device_codes(NOW + 10).await.unwrap();
    if purges {
        assert_eq!(removed, 2);
        assert_eq!(store.poll_device_code("device-old", "tv", NOW + 10).await.unwrap(), DevicePoll::Unknown);
    }
    assert_eq!(store.poll_device_code("device-new", "tv", NOW + 10).await.unwrap(), DevicePoll::Pending);
    assert_eq!(store.count_attempt("new", NOW + 600, NOW + 10).await.unwrap(), 2);
    assert_eq!(store.count_attempt("old", NOW + 100, NOW + 10).await.unwrap(), 1);
}

//! The conformance suite of the store of pushed authorization requests
//! ([`PushedRequestStore`], RFC 9126), for every backend and your own.
//!
//! [`par_conformance_tests!`](crate::par_conformance_tests) expands to one `#[test]` per
//! case, each on a multi-threaded runtime of its own. The cases check that a request
//! round-trips whole, that a hash is unique, that the caller's `now` decides expiry, and
//! that a request is taken once, also by 64 concurrent takers.
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
//!     // `purges = true`: `purge_expired_pushed_requests` removes expired requests on demand.
//!     keyward_stores::par_conformance_tests!(make, purges = true);
//! }
//! # fn main() {}
//! ```

use std::sync::Arc;

use keyward::oauth2::provider::par::{PushedRequest, PushedRequestStore};
use keyward::oauth2::provider::store::StoreError;

pub use crate::conformance::{NOW, RACERS, run};

/// What a PAR store under test implements.
pub trait ParStoreUnderTest: PushedRequestStore + std::fmt::Debug + 'static {}
impl<T: PushedRequestStore + std::fmt::Debug + 'static> ParStoreUnderTest for T {}

/// One `#[test]` per case of the [PAR conformance suite](crate::conformance_par).
///
/// `par_conformance_tests!(make, purges = BOOL)`: `make` is an `async fn(&str) ->
/// Option<Arc<S>>` where `S` is a [`ParStoreUnderTest`](crate::conformance_par::ParStoreUnderTest),
/// called with the case's name for a fresh store (`None` skips the case); `purges` says
/// whether `purge_expired_pushed_requests` removes expired requests on demand (`false` for
/// a backend that expires them itself, such as Redis).
#[macro_export]
macro_rules! par_conformance_tests {
    ($make:path, purges = $purges:expr $(,)?) => {
        $crate::par_conformance_tests!(@each $make, $purges,
            pushed_requests_round_trip,
            pushed_request_hashes_are_unique,
            pushed_requests_are_taken_once,
            pushed_requests_expire_by_now,
            concurrent_takes_of_a_pushed_request_exactly_one_wins,
            purge_removes_expired_pushed_requests,
        );
    };
    (@each $make:path, $purges:expr, $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance_par::run(async {
                    let Some(store) = $make(stringify!($name)).await else { return };
                    $crate::conformance_par::$name(store, $purges).await;
                });
            }
        )*
    };
}

/// A request of client `web` under the hash `hash-{id}`, expiring at `expires_at`.
fn request(id: &str, expires_at: i64) -> PushedRequest {
    PushedRequest {
        request_uri_hash: format!("hash-{id}"),
        client_id: "web".into(),
        params: vec![
            ("client_id".into(), "web".into()),
            ("response_type".into(), "code".into()),
            ("scope".into(), "read write ☃".into()),
            ("resource".into(), "https://a.example/".into()),
            ("resource".into(), "https://b.example/".into()),
            ("state".into(), "a&b=c%d".into()),
        ],
        issued_at: NOW,
        expires_at,
    }
}

/// A request is stored whole (repeated and non-ASCII parameters in order) and taken back.
pub async fn pushed_requests_round_trip<S: ParStoreUnderTest>(store: Arc<S>, _: bool) {
    let r = request("a", NOW + 60);
    store.create_pushed_request(&r).await.unwrap();
    assert_eq!(store.take_pushed_request("hash-b", NOW).await.unwrap(), None);
    assert_eq!(store.take_pushed_request("hash-a", NOW).await.unwrap(), Some(r));
}

/// A hash taken by a live request is [`StoreError::Duplicate`].
pub async fn pushed_request_hashes_are_unique<S: ParStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_pushed_request(&request("a", NOW + 60)).await.unwrap();
    let mut other = request("a", NOW + 60);
    other.client_id = "other".into();
    assert!(matches!(store.create_pushed_request(&other).await, Err(StoreError::Duplicate)));
    assert_eq!(store.take_pushed_request("hash-a", NOW).await.unwrap().unwrap().client_id, "web");
}

/// A taken request is gone.
pub async fn pushed_requests_are_taken_once<S: ParStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_pushed_request(&request("a", NOW + 60)).await.unwrap();
    assert!(store.take_pushed_request("hash-a", NOW).await.unwrap().is_some());
    assert_eq!(store.take_pushed_request("hash-a", NOW).await.unwrap(), None);
    assert_eq!(store.take_pushed_request("hash-a", NOW + 1).await.unwrap(), None);
}

/// The caller's `now` decides expiry: at `expires_at` a request is gone, and a take then
/// does not make it usable later.
pub async fn pushed_requests_expire_by_now<S: ParStoreUnderTest>(store: Arc<S>, _: bool) {
    store.create_pushed_request(&request("a", NOW + 60)).await.unwrap();
    store.create_pushed_request(&request("b", NOW + 60)).await.unwrap();
    assert!(store.take_pushed_request("hash-a", NOW + 59).await.unwrap().is_some());
    assert_eq!(store.take_pushed_request("hash-b", NOW + 60).await.unwrap(), None);
    assert_eq!(store.take_pushed_request("hash-b", NOW).await.unwrap(), None, "an expired take removes it");
}

/// Of [`RACERS`] concurrent takes of one request, exactly one gets it.
pub async fn concurrent_takes_of_a_pushed_request_exactly_one_wins<S: ParStoreUnderTest>(
    store: Arc<S>,
    _: bool,
) {
    store.create_pushed_request(&request("a", NOW + 60)).await.unwrap();
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_pushed_request("hash-a", NOW).await.unwrap() })
        })
        .collect();
    let mut taken = 0;
    for t in tasks {
        if t.await.unwrap().is_some() {
            taken += 1;
        }
    }
    assert_eq!(taken, 1);
}

/// `purge_expired_pushed_requests` removes the expired requests only (when the backend
/// purges on demand).
pub async fn purge_removes_expired_pushed_requests<S: ParStoreUnderTest>(store: Arc<S>, purges: bool) {
    store.create_pushed_request(&request("old", NOW + 10)).await.unwrap();
    store.create_pushed_request(&request("new", NOW + 100)).await.unwrap();
    let removed = store.purge_expired_pushed_requests(NOW + 10).await.unwrap();
    if purges {
        assert_eq!(removed, 1);
    }
    assert!(store.take_pushed_request("hash-new", NOW + 10).await.unwrap().is_some());
    assert_eq!(store.take_pushed_request("hash-old", NOW + 10).await.unwrap(), None);
}

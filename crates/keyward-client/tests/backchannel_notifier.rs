//! The back-channel logout notifier (Back-Channel Logout 1.0 §2.5, §2.8) against local
//! receivers on 127.0.0.1: retried with back-off until received, bounded when the receiver
//! is down or hangs, a refusal not retried, and a full queue that drops without blocking.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use keyward::common::secret::SecretString;
use keyward::oidc::provider::backchannel::LogoutDelivery;
use keyward::{HttpClient, HttpError};
use keyward_client::ReqwestClient;
use keyward_client::oauth2::{BackchannelNotifier, NotifierConfig, NotifierStats};

const FAR: i64 = 4_000_000_000;

fn delivery(uri: &str, expires_at: i64) -> LogoutDelivery {
    LogoutDelivery::new("web", uri, SecretString::new("h.p.s"), "jti-1", expires_at)
}

fn fast() -> NotifierConfig {
    NotifierConfig {
        initial_backoff: Duration::from_millis(60),
        max_backoff: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..NotifierConfig::default()
    }
}

fn http() -> Arc<dyn HttpClient> {
    Arc::new(ReqwestClient::with_timeout(Duration::from_secs(5)))
}

/// Waits (up to 10 s) until `done` holds for the notifier's stats.
async fn settle(notifier: &BackchannelNotifier, done: impl Fn(&NotifierStats) -> bool) -> NotifierStats {
    let start = Instant::now();
    loop {
        let stats = notifier.stats();
        if done(&stats) {
            return stats;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the notifier did not settle: {stats:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A receiver answering each hit with the next status of `script` (the last one repeats),
/// recording when each hit came and its body.
async fn receiver(script: Vec<StatusCode>) -> (String, Arc<Mutex<Vec<(Instant, String)>>>) {
    let hits: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let seen = hits.clone();
    let app = Router::new().route(
        "/backchannel",
        post(move |body: String| {
            let seen = seen.clone();
            let script = script.clone();
            async move {
                let mut hits = seen.lock().unwrap();
                hits.push((Instant::now(), body));
                script[(hits.len() - 1).min(script.len() - 1)]
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/backchannel"), hits)
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_token_once_after_backing_off() {
    let unavailable = StatusCode::SERVICE_UNAVAILABLE;
    let (uri, hits) = receiver(vec![unavailable, StatusCode::INTERNAL_SERVER_ERROR, StatusCode::OK]).await;
    let notifier = BackchannelNotifier::start(http(), fast());
    assert!(notifier.notify(delivery(&uri, FAR)));
    let stats = settle(&notifier, |s| s.delivered + s.failed == 1).await;
    assert_eq!(stats, NotifierStats { queued: 1, delivered: 1, failed: 0, dropped: 0, attempts: 3 });
    // Nothing is sent after the token was received.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = hits.lock().unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|(_, body)| body == "logout_token=h.p.s"));
    let first_gap = hits[1].0 - hits[0].0;
    let second_gap = hits[2].0 - hits[1].0;
    assert!(first_gap >= Duration::from_millis(60), "{first_gap:?}");
    assert!(second_gap >= Duration::from_millis(120), "the back-off doubles: {second_gap:?}");
}

#[tokio::test]
async fn no_content_is_success_and_a_refusal_is_not_retried() {
    let (ok_uri, ok_hits) = receiver(vec![StatusCode::NO_CONTENT]).await;
    let (bad_uri, bad_hits) = receiver(vec![StatusCode::BAD_REQUEST]).await;
    let notifier = BackchannelNotifier::start(http(), fast());
    assert_eq!(notifier.notify_all([delivery(&ok_uri, FAR), delivery(&bad_uri, FAR)]), 2);
    let stats = settle(&notifier, |s| s.delivered + s.failed == 2).await;
    assert_eq!((stats.delivered, stats.failed, stats.attempts), (1, 1, 2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ok_hits.lock().unwrap().len(), 1);
    assert_eq!(bad_hits.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreachable_receiver_gets_a_bounded_number_of_attempts_and_the_caller_never_waits() {
    // A port that was just free: connections are refused.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/backchannel", listener.local_addr().unwrap());
    drop(listener);
    let config = NotifierConfig { max_attempts: 4, initial_backoff: Duration::from_millis(20), ..fast() };
    let notifier = BackchannelNotifier::start(http(), config);
    let started = Instant::now();
    assert!(notifier.notify(delivery(&uri, FAR)));
    assert!(started.elapsed() < Duration::from_millis(50), "notify waited {:?}", started.elapsed());
    let stats = settle(&notifier, |s| s.failed == 1).await;
    assert_eq!((stats.delivered, stats.attempts), (0, 4));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(notifier.stats().attempts, 4);
}

#[tokio::test]
async fn a_hanging_receiver_is_cut_by_the_request_timeout_and_the_total_time() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let count = attempts.clone();
    let hang: Arc<dyn HttpClient> = Arc::new(move |_req: http::Request<Vec<u8>>| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            std::future::pending::<()>().await;
            Err::<http::Response<Vec<u8>>, HttpError>(HttpError::Timeout)
        }
    });
    let config = NotifierConfig {
        max_attempts: 100,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
        request_timeout: Duration::from_millis(50),
        max_total: Duration::from_millis(400),
        ..NotifierConfig::default()
    };
    let notifier = BackchannelNotifier::start(hang, config);
    let started = Instant::now();
    notifier.notify(delivery("https://rp.example/bc", FAR));
    settle(&notifier, |s| s.failed == 1).await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_000), "gave up after {took:?}");
    let n = attempts.load(Ordering::SeqCst);
    assert!((2..=10).contains(&n), "{n} attempts");
}

#[tokio::test]
async fn an_expired_token_is_not_sent() {
    let (uri, hits) = receiver(vec![StatusCode::OK]).await;
    let notifier = BackchannelNotifier::start(http(), fast());
    notifier.notify(delivery(&uri, 1_000));
    let stats = settle(&notifier, |s| s.failed == 1).await;
    assert_eq!(stats.attempts, 0);
    assert!(hits.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_full_queue_drops_without_blocking() {
    // Every request hangs, so one delivery is in flight and the queue fills.
    let hang: Arc<dyn HttpClient> = Arc::new(|_req: http::Request<Vec<u8>>| async move {
        std::future::pending::<()>().await;
        Err::<http::Response<Vec<u8>>, HttpError>(HttpError::Timeout)
    });
    let config = NotifierConfig { queue_capacity: 2, max_in_flight: 1, ..NotifierConfig::default() };
    let notifier = BackchannelNotifier::start(hang, config);
    let started = Instant::now();
    let queued = (0..50).filter(|_| notifier.notify(delivery("https://rp.example/bc", FAR))).count();
    assert!(started.elapsed() < Duration::from_millis(50), "notify blocked for {:?}", started.elapsed());
    let stats = notifier.stats();
    assert!((2..=3).contains(&queued), "{queued} queued");
    assert_eq!(stats.queued as usize, queued);
    assert_eq!(stats.dropped as usize, 50 - queued);
}

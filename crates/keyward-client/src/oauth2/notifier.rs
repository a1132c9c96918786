//! [`BackchannelNotifier`]: delivers an OpenID Provider's back-channel logout tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keyward::common::clock::{Clock, SystemClock};
use keyward::common::http_client::HttpClient;
use keyward::oidc::provider::backchannel::LogoutDelivery;
use tokio::sync::{Semaphore, mpsc};

/// How a [`BackchannelNotifier`] queues, sends and retries.
#[derive(Clone)]
pub struct NotifierConfig {
    /// How many deliveries may wait in the queue; more are dropped (default 1024).
    pub queue_capacity: usize,
    /// How many deliveries are sent (or waiting to retry) at once (default 16).
    pub max_in_flight: usize,
    /// The most attempts per delivery, the first included (default 5).
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each further one (default 1 s).
    pub initial_backoff: Duration,
    /// The longest wait between attempts (default 30 s).
    pub max_backoff: Duration,
    /// The longest time spent on one delivery, from its first attempt (default 2 min; the
    /// token's own `exp` also ends it).
    pub max_total: Duration,
    /// The timeout of each request (default 10 s).
    pub request_timeout: Duration,
    /// The clock the token's `exp` is read against (default: the system clock).
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for NotifierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierConfig")
            .field("queue_capacity", &self.queue_capacity)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("max_total", &self.max_total)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
            max_in_flight: 16,
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_total: Duration::from_secs(120),
            request_timeout: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
        }
    }
}

/// What a [`BackchannelNotifier`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifierStats {
    /// Deliveries accepted onto the queue.
    pub queued: u64,
    /// Deliveries the client received (`200` or `204`).
    pub delivered: u64,
    /// Deliveries given up: refused, out of attempts, out of time, or expired.
    pub failed: u64,
    /// Deliveries dropped because the queue was full (or the worker had stopped).
    pub dropped: u64,
    /// Requests sent, retries included.
    pub attempts: u64,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    attempts: AtomicU64,
}

/// Delivers an OpenID Provider's back-channel logout tokens (OpenID Connect Back-Channel
/// Logout 1.0 §2.5) to its clients, away from the user's request. Cheap to clone; the
/// worker stops when the last clone is dropped and the queue is empty.
///
/// The core makes the deliveries
/// ([`AuthorizationServer::backchannel_logout`](keyward::oauth2::provider::AuthorizationServer::backchannel_logout));
/// this driver sends them. [`notify`](Self::notify) puts a delivery on a bounded queue and
/// returns at once: when the queue is full the delivery is dropped and logged (`tracing`),
/// never waited for. A worker task sends each one (at most
/// [`max_in_flight`](NotifierConfig::max_in_flight) at a time), with a timeout per request,
/// and retries with exponential back-off until it is received (`200` or `204`, §2.8), a
/// permanent refusal comes back (a `4xx` other than `408` and `429`: the token itself was
/// refused and would be again), the attempts run out, the total time runs out, or the
/// token expires.
///
/// A retry resends the same token; a receiver that took the first attempt but whose answer
/// was lost refuses the second as a replay, which counts as a failure here.
///
/// ```no_run
/// # async fn run(server: keyward::oauth2::provider::AuthorizationServer) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use keyward_client::ReqwestClient;
/// use keyward_client::oauth2::{BackchannelNotifier, NotifierConfig};
///
/// let notifier = BackchannelNotifier::start(Arc::new(ReqwestClient::new()), NotifierConfig::default());
/// // When alice's session "s-1" ends:
/// notifier.notify_all(server.backchannel_logout("alice", Some("s-1")).await?);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BackchannelNotifier {
    queue: mpsc::Sender<LogoutDelivery>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for BackchannelNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackchannelNotifier").field("stats", &self.stats()).finish()
    }
}

impl BackchannelNotifier {
    /// Starts a notifier sending through `http` (a [`ReqwestClient`](crate::ReqwestClient)
    /// in production: redirects are not followed). Spawns its worker on the current tokio
    /// runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start(http: Arc<dyn HttpClient>, config: NotifierConfig) -> Self {
        let (queue, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        tokio::spawn(worker(receiver, http, config, counters.clone()));
        Self { queue, counters }
    }

    /// Queues `delivery` and returns at once: `true` when it was queued, `false` when it was
    /// dropped (the queue is full, or the worker stopped), which is logged.
    pub fn notify(&self, delivery: LogoutDelivery) -> bool {
        match self.queue.try_send(delivery) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                let (reason, delivery) = match e {
                    mpsc::error::TrySendError::Full(d) => ("the queue is full", d),
                    mpsc::error::TrySendError::Closed(d) => ("the notifier stopped", d),
                };
                tracing::warn!(
                    client_id = %delivery.client_id,
                    jti = %delivery.jti,
                    "back-channel logout dropped: {reason}"
                );
                false
            }
        }
    }

    /// Queues every delivery ([`notify`](Self::notify)); how many were queued.
    pub fn notify_all(&self, deliveries: impl IntoIterator<Item = LogoutDelivery>) -> usize {
        deliveries.into_iter().map(|d| self.notify(d)).filter(|queued| *queued).count()
    }

    /// The counts so far.
    pub fn stats(&self) -> NotifierStats {
        let c = &self.counters;
        NotifierStats {
            queued: c.queued.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            attempts: c.attempts.load(Ordering::Relaxed),
        }
    }
}

async fn worker(
    mut receiver: mpsc::Receiver<LogoutDelivery>,
    http: Arc<dyn HttpClient>,
    config: NotifierConfig,
    counters: Arc<Counters>,
) {
    let slots = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    let config = Arc::new(config);
    // A permit is taken before the next delivery leaves the queue, so the queue (bounded)
    // holds the backlog, not the task list.
    while let Ok(permit) = slots.clone().acquire_owned().await {
        let Some(delivery) = receiver.recv().await else { break };
        let (http, config, counters) = (http.clone(), config.clone(), counters.clone());
        tokio::spawn(async move {
            let delivered = deliver(&delivery, http.as_ref(), &config, &counters).await;
            let counter = if delivered { &counters.delivered } else { &counters.failed };
            counter.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

/// Whether a failed attempt's status is worth retrying: a server error, `408` or `429`.
fn retryable(status: http::StatusCode) -> bool {
    !status.is_client_error()
        || status == http::StatusCode::REQUEST_TIMEOUT
        || status == http::StatusCode::TOO_MANY_REQUESTS
}

/// Sends one delivery until it is received or given up; whether it was received.
async fn deliver(
    delivery: &LogoutDelivery,
    http: &dyn HttpClient,
    config: &NotifierConfig,
    counters: &Counters,
) -> bool {
    let started = tokio::time::Instant::now();
    let until_exp = delivery.expires_at.saturating_sub(config.clock.now());
    let budget = config.max_total.min(Duration::from_secs(u64::try_from(until_exp).unwrap_or(0)));
    let deadline = started + budget;
    let mut backoff = config.initial_backoff;
    let mut attempt = 0;
    loop {
        if attempt >= config.max_attempts || tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                client_id = %delivery.client_id,
                jti = %delivery.jti,
                attempts = attempt,
                "back-channel logout given up: out of attempts or time"
            );
            return false;
        }
        attempt += 1;
        let Ok(request) = delivery.request() else {
            tracing::warn!(client_id = %delivery.client_id, "back-channel logout URI is not a valid URI");
            return false;
        };
        counters.attempts.fetch_add(1, Ordering::Relaxed);
        let timeout =
            config.request_timeout.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        match tokio::time::timeout(timeout, http.call(request)).await {
            Ok(Ok(response)) if LogoutDelivery::is_success(response.status()) => {
                tracing::debug!(client_id = %delivery.client_id, jti = %delivery.jti, attempt, "back-channel logout delivered");
                return true;
            }
            Ok(Ok(response)) if !retryable(response.status()) => {
                tracing::warn!(
                    client_id = %delivery.client_id,
                    jti = %delivery.jti,
                    status = response.status().as_u16(),
                    "back-channel logout refused by the client"
                );
                return false;
            }
            Ok(Ok(response)) => {
                tracing::debug!(client_id = %delivery.client_id, status = response.status().as_u16(), attempt, "back-channel logout failed; will retry");
            }
            Ok(Err(e)) => {
                tracing::debug!(client_id = %delivery.client_id, error = %e, attempt, "back-channel logout failed; will retry");
            }
            Err(_) => {
                tracing::debug!(client_id = %delivery.client_id, attempt, "back-channel logout timed out; will retry");
            }
        }
        if attempt >= config.max_attempts {
            continue;
        }
        let now = tokio::time::Instant::now();
        if now + backoff >= deadline {
            tracing::warn!(
                client_id = %delivery.client_id,
                jti = %delivery.jti,
                attempts = attempt,
                "back-channel logout given up: no time left to retry"
            );
            return false;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(config.max_backoff);
    }
}

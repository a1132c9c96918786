//! `GET /healthz` and `GET /readyz`, for load balancers and orchestrators.
//!
//! - `/healthz` answers `200 ok` whenever the process serves requests: it touches no store.
//! - `/readyz` pings the database and, when configured, Redis (each ping bounded at 1 s by
//!   the store, run at once) and answers a JSON body naming each dependency and its state:
//!   `200` when all answer, `503` otherwise. It holds no URL, no secret, no error text (the
//!   log has the error).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_stores::Ping;
use keyward_stores::store::StoreError;

use crate::AppState;

/// The stores `/readyz` pings.
pub(crate) struct Dependencies {
    /// `sqlite` or `postgres`.
    database_kind: &'static str,
    database: Arc<dyn Ping>,
    redis: Option<Arc<dyn Ping>>,
}

impl Dependencies {
    pub(crate) fn new(
        database_kind: &'static str,
        database: Arc<dyn Ping>,
        redis: Option<Arc<dyn Ping>>,
    ) -> Self {
        Self { database_kind, database, redis }
    }
}

/// A ping's outcome as `/readyz` shows it.
#[derive(serde::Serialize)]
struct Check {
    name: &'static str,
    kind: &'static str,
    /// `up` or `down`.
    state: &'static str,
    /// How long the ping took, in milliseconds.
    ms: u64,
}

/// The longest a ping may take before `/readyz` counts it down, whatever the store's own
/// bound (1 s for every store the demo opens).
const PING_BOUND: Duration = Duration::from_millis(1500);

async fn check(name: &'static str, kind: &'static str, store: &dyn Ping) -> Check {
    let start = Instant::now();
    let result = tokio::time::timeout(PING_BOUND, store.ping())
        .await
        .unwrap_or_else(|_| Err(StoreError::unavailable("no answer in time")));
    if let Err(error) = &result {
        tracing::warn!(dependency = name, %error, "readiness check failed");
    }
    let ms = start.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
    Check { name, kind, state: if result.is_ok() { "up" } else { "down" }, ms }
}

/// `GET /healthz`: the process serves requests.
pub(crate) async fn healthz() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n").into_response()
}

/// `GET /readyz`: `200` when every dependency answers, `503` otherwise, with a body such as
/// `{"ready":true,"dependencies":[{"name":"database","kind":"sqlite","state":"up","ms":0}]}`.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let deps = &state.stores.health;
    let redis = async {
        match &deps.redis {
            Some(redis) => Some(check("redis", "redis", redis.as_ref()).await),
            None => None,
        }
    };
    let (database, redis) =
        tokio::join!(check("database", deps.database_kind, deps.database.as_ref()), redis);
    let dependencies: Vec<Check> = std::iter::once(database).chain(redis).collect();
    let ready = dependencies.iter().all(|c| c.state == "up");
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({ "ready": ready, "dependencies": dependencies });
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

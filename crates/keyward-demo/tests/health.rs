//! `/healthz` and `/readyz`: the first answers whenever the process serves; the second
//! names each dependency and answers `503` within about a second when one is down, and
//! `200` again when it is back.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keyward_testkit::postgres::Cluster;

/// `/readyz` must answer within this, up or down (pings are bounded at 1 s).
const BOUND: Duration = Duration::from_millis(2500);

async fn get(url: &str) -> (u16, String, Duration) {
    let start = Instant::now();
    let resp = reqwest::get(url).await.expect("the demo answers");
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    (status, body, start.elapsed())
}

/// `/readyz`: the status, the body as JSON, and the states by dependency name.
async fn readyz(base: &str) -> (u16, serde_json::Value, Vec<(String, String)>) {
    let (status, body, took) = get(&format!("{base}/readyz")).await;
    assert!(took < BOUND, "/readyz took {took:?}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(json["ready"], serde_json::Value::Bool(status == 200), "{body}");
    let states = json["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .map(|d| (d["name"].as_str().unwrap().to_owned(), d["state"].as_str().unwrap().to_owned()))
        .collect();
    (status, json, states)
}

fn pair(name: &str, state: &str) -> (String, String) {
    (name.to_owned(), state.to_owned())
}

#[tokio::test]
async fn healthz_and_readyz_on_the_default_sqlite() {
    let dir = common::TempDir::new("health");
    let (listener, config) = common::config(&dir.sqlite_url()).await;
    let demo = common::start(listener, config).await;
    let (status, body, _) = get(&format!("{}/healthz", demo.base)).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, json, states) = readyz(&demo.base).await;
    assert_eq!(status, 200);
    assert_eq!(states, [pair("database", "up")]);
    assert_eq!(json["dependencies"][0]["kind"], "sqlite");
    // Probes carry no cookie, and get none.
    let resp = reqwest::get(format!("{}/readyz", demo.base)).await.unwrap();
    assert!(resp.headers().get("set-cookie").is_none());
}

/// A redis-server of the test's own on `port`, killed on drop.
struct Redis(Child);

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis(child)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_redis_is_down_and_200_when_it_is_back() {
    let found = Command::new("redis-server").arg("--version").output().ok().filter(|o| o.status.success());
    keyward_testkit::require_or_skip!(found, "redis-server", "Debian's redis-server; .ci/run installs it");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let redis = Redis::start(port);
    let dir = common::TempDir::new("health-redis");
    let (listener, mut config) = common::config(&dir.sqlite_url()).await;
    config.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    let demo = common::start(listener, config).await;
    let (status, _, states) = readyz(&demo.base).await;
    assert_eq!((status, states), (200, vec![pair("database", "up"), pair("redis", "up")]));

    drop(redis);
    for _ in 0..3 {
        let (status, json, states) = readyz(&demo.base).await;
        assert_eq!((status, states), (503, vec![pair("database", "up"), pair("redis", "down")]));
        assert!(!json.to_string().contains("redis://"), "no URL in {json}");
        // Alive, though not ready.
        assert_eq!(get(&format!("{}/healthz", demo.base)).await.0, 200);
    }

    let _redis = Redis::start(port);
    let back = Instant::now();
    while readyz(&demo.base).await.0 != 200 {
        assert!(back.elapsed() < Duration::from_secs(5), "/readyz did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_postgres_is_down_and_200_when_it_is_back() {
    let bin = keyward_testkit::postgres::bindir();
    keyward_testkit::require_or_skip!(
        bin,
        "PostgreSQL's initdb and pg_ctl",
        "Debian's postgresql; .ci/run installs it"
    );
    let cluster = Cluster::start().expect("a PostgreSQL cluster");
    let (listener, config) = common::config(&cluster.url()).await;
    let demo = common::start(listener, config).await;
    let (status, json, states) = readyz(&demo.base).await;
    assert_eq!((status, states), (200, vec![pair("database", "up")]));
    assert_eq!(json["dependencies"][0]["kind"], "postgres");

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop_immediate();
        cluster
    })
    .await
    .unwrap();
    for _ in 0..3 {
        let (status, json, states) = readyz(&demo.base).await;
        assert_eq!((status, states), (503, vec![pair("database", "down")]));
        assert!(!json.to_string().contains("postgres://"), "no URL in {json}");
        assert_eq!(get(&format!("{}/healthz", demo.base)).await.0, 200);
    }

    // Dropping the cluster would stop it: it comes back from the blocking task.
    let _cluster = tokio::task::spawn_blocking(move || {
        cluster.restart();
        cluster
    })
    .await
    .unwrap();
    let back = Instant::now();
    while readyz(&demo.base).await.0 != 200 {
        assert!(back.elapsed() < Duration::from_secs(5), "/readyz did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

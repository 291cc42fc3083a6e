//! The live pipeline: a replay at a fixed rate, an ETL follower and the API.
//! While data flows, `/realtime/stats`, the leaderboard and
//! `/realtime/alerts` move, and the follower's `/metrics` shows its
//! per-partition consumer lag.

mod common;

use common::{free_port, generated, wait_for, Namespace};
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::Duration;

/// Kills a background process when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.lines()
        .next()?
        .contains(" 200 ")
        .then(|| body.to_string())
}

fn json(port: u16, path: &str) -> Option<Value> {
    serde_json::from_str(&http_get(port, path)?).ok()
}

/// What the live endpoints say at one moment.
#[derive(Debug)]
struct Snapshot {
    as_of: String,
    top_orders: i64,
    alerts: usize,
}

fn snapshot(api: u16) -> Option<Snapshot> {
    let stats = json(api, "/realtime/stats")?;
    if stats["source"] != "redis" {
        return None;
    }
    let board = json(api, "/realtime/leaderboard?by=orders&limit=20")?;
    let alerts = json(api, "/realtime/alerts?limit=1000")?;
    Some(Snapshot {
        as_of: stats["as_of"].as_str()?.to_string(),
        top_orders: board["restaurants"]
            .as_array()?
            .iter()
            .filter_map(|p| p["score"].as_i64())
            .sum(),
        alerts: alerts["alerts"].as_array()?.len(),
    })
}

#[test]
fn while_a_replay_flows_the_live_views_move_and_the_lag_is_exported() {
    let ns = Namespace::new();
    let (dir, _) = generated(31, 0.03);
    let source = dir.path().display().to_string();
    // Every hour with a late delivery is an alert here, so alerts appear as
    // the replay moves through the data's hours.
    let alerting = |c: &mut std::process::Command| {
        c.env("BAEDAL_ALERT_LATE_RATE", "0.01")
            .env("BAEDAL_ALERT_MIN_ORDERS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    };
    let mut replay = ns.command(&[
        "ingest", "--source", &source, "--mode", "replay", "--rate", "600",
    ]);
    alerting(&mut replay);
    let mut replay = Running(replay.spawn().expect("replay"));
    std::thread::sleep(Duration::from_secs(1));

    let metrics = free_port();
    let mut follower = ns.command(&["etl", "--follow"]);
    follower
        .env("BAEDAL_ETL_LIVE_REFRESH_MS", "300")
        .env("BAEDAL_ETL_BATCH_SIZE", "200")
        .env("BAEDAL_METRICS_ADDR", format!("127.0.0.1:{metrics}"));
    alerting(&mut follower);
    let _follower = Running(follower.spawn().expect("follower"));

    let api = free_port();
    let mut server = ns.command(&["api", "--listen", &format!("127.0.0.1:{api}")]);
    alerting(&mut server);
    let _api = Running(server.spawn().expect("api"));

    let first = wait_for("the first live views", Duration::from_secs(60), || {
        snapshot(api)
    });
    std::thread::sleep(Duration::from_secs(4));
    let later = wait_for("live views", Duration::from_secs(10), || snapshot(api));
    assert!(
        replay.0.try_wait().expect("replay").is_none(),
        "the replay ended before the second look: the test proves nothing"
    );
    assert!(
        later.as_of > first.as_of,
        "/realtime/stats did not move: {first:?} then {later:?}"
    );
    assert!(
        later.top_orders > first.top_orders,
        "the leaderboard did not move: {first:?} then {later:?}"
    );
    assert!(
        later.alerts > first.alerts,
        "no new alert while the replay moved through the hours: {first:?} then {later:?}"
    );

    let exported = wait_for("the lag on /metrics", Duration::from_secs(20), || {
        let text = http_get(metrics, "/metrics")?;
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("baedal_etl_consumer_lag{"))
            .map(str::to_string)
            .collect();
        (!lines.is_empty()).then_some(lines)
    });
    let orders_topic = format!("topic=\"{}.orders\"", ns.0);
    assert!(
        exported
            .iter()
            .any(|l| l.contains(&orders_topic) && l.contains("partition=\"")),
        "{exported:?}"
    );
}

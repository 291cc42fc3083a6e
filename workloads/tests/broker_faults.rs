//! Faults of the broker itself, on the local Apache Kafka that
//! `scripts/services.sh` runs (it stops and restarts it, keeping its data):
//! a restart in the middle of an ingest loses and doubles nothing, and a
//! broker that is down when the ETL starts is a clear error within a bound.
//!
//! One test, so that nothing else in this binary runs while the broker is
//! down (test binaries run one at a time).

mod common;

use common::{assert_loaded_exactly, generated, run_with_deadline, Namespace};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn services(arg: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg(arg)
        .stdout(Stdio::null())
        .status()
        .expect("services.sh");
    assert!(status.success(), "services.sh {arg} failed");
}

/// Starts the broker again even when an assertion failed with it down.
struct BrokerBack;

impl Drop for BrokerBack {
    fn drop(&mut self) {
        services("--start-kafka-again");
    }
}

#[test]
fn a_broker_restart_mid_ingest_loses_nothing_and_a_broker_down_at_etl_start_is_a_clear_error() {
    let _back = BrokerBack;

    // 1. A restart in the middle of a replay: the producer retries.
    let ns = Namespace::new();
    let (dir, summary) = generated(21, 0.02);
    let source = dir.path().display().to_string();
    let mut replay = ns.command(&[
        "ingest", "--source", &source, "--mode", "replay", "--rate", "1500",
    ]);
    replay.env("BAEDAL_LOG", "warn");
    let ingest = std::thread::spawn(move || run_with_deadline(replay, Duration::from_secs(300)));
    std::thread::sleep(Duration::from_secs(3));
    services("--stop-kafka");
    std::thread::sleep(Duration::from_secs(3));
    services("--start-kafka-again");
    assert!(
        !ingest.is_finished(),
        "the replay ended before the broker came back: the test proves nothing"
    );
    let out = ingest.join().expect("ingest thread");
    assert!(
        out.status.success(),
        "the ingest did not survive the restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ns.run(&["etl"]);
    assert_loaded_exactly(&ns, dir.path(), &summary);

    // 2. The broker is down when the ETL starts: it stops with the reason.
    services("--stop-kafka");
    let started = Instant::now();
    let out = run_with_deadline(ns.command(&["etl"]), Duration::from_secs(120));
    let took = started.elapsed();
    services("--start-kafka-again");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the ETL succeeded with no broker");
    assert!(
        took < Duration::from_secs(30),
        "the ETL took {took:?} to give up"
    );
    let bootstrap =
        std::env::var("BAEDAL_KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    assert!(
        stderr.contains(&format!("cannot connect to Kafka at {bootstrap}")),
        "{stderr}"
    );
}

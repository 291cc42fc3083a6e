//! The ETL's two ways of reading Kafka, on Apache Kafka: a batch run ends at
//! the high watermarks it saw when it started, and followers in one consumer
//! group share the partitions, rebalance when one dies, and together lose or
//! double no row.

mod common;

use common::{assert_loaded_exactly, count, generated, poll_until, runtime, wait_for, Namespace};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The broker's high watermark of each partition of the namespace's topics.
fn high_watermarks(config: &baedal::config::Config) -> BTreeMap<(String, i32), i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let wait = Duration::from_secs(10);
    let consumer: BaseConsumer = baedal::kafka::consumer_config(config)
        .create()
        .expect("a consumer");
    let metadata = consumer.fetch_metadata(None, wait).expect("metadata");
    let mut ends = BTreeMap::new();
    for topic in metadata.topics() {
        if !topic.name().starts_with(&config.kafka.topic_prefix) {
            continue;
        }
        for partition in topic.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(topic.name(), partition.id(), wait)
                .expect("watermarks");
            ends.insert((topic.name().to_string(), partition.id()), high);
        }
    }
    ends
}

/// What a follower logged so far.
fn log_of(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    text
}

/// Whether a follower's latest rebalance left it holding at least one
/// partition: its last "partitions assigned" or "partitions revoked" line is
/// an assignment of more than zero. A member that joined while the other was
/// alone may log an assignment of nothing, or be revoked right after.
fn holds_partitions(log: &str) -> bool {
    let last = log
        .lines()
        .rev()
        .find(|line| line.contains("partitions assigned") || line.contains("partitions revoked"));
    last.is_some_and(|line| {
        line.contains("partitions assigned")
            && line
                .split_whitespace()
                .filter_map(|word| word.strip_prefix("partitions="))
                .any(|n| {
                    n.trim_matches(|c: char| !c.is_ascii_digit())
                        .parse::<u32>()
                        .is_ok_and(|n| n > 0)
                })
    })
}

/// Waits until `done`; on a timeout the failure adds what `explain` says.
fn wait_or_explain(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
    explain: impl Fn() -> String,
) {
    if poll_until(limit, || done().then_some(())).is_none() {
        panic!("{what}: not within {limit:?}{}", explain());
    }
}

fn stop(mut child: Child) -> std::process::ExitStatus {
    // SIGTERM: the follower finishes its batch in flight and leaves the group.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let limit = Duration::from_secs(60);
    poll_until(limit, || child.try_wait().expect("wait")).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("a follower did not stop within {limit:?} of SIGTERM");
    })
}

#[test]
fn two_followers_share_the_partitions_and_the_survivor_of_a_sigkill_loads_every_row_once() {
    let ns = Namespace::new();
    let (dir, summary) = generated(11, 0.03);
    let source = dir.path().display().to_string();
    let records: i64 = summary.records() as i64;
    let logs = tempfile::tempdir().expect("logs");

    // The topics first (six partitions each), then both followers holding a
    // share of them, then data flowing while they work: a replay at a fixed
    // rate. Started in that order, the kill below lands while the replay
    // still sends, however long the followers take to start.
    runtime()
        .block_on(baedal::kafka::ensure_topics(&ns.config(), 6))
        .expect("the topics");
    let follower = |name: &str| {
        let log = logs.path().join(format!("{name}.log"));
        let child = ns
            .command(&["etl", "--follow"])
            .env("BAEDAL_ETL_BATCH_SIZE", "100")
            .env("BAEDAL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("follower");
        (child, log)
    };
    let (first, first_log) = follower("first");
    let (second, second_log) = follower("second");

    // Both members hold a share of the partitions, then one dies without
    // warning mid-load.
    wait_or_explain(
        "both followers holding partitions",
        Duration::from_secs(90),
        || holds_partitions(&log_of(&first_log)) && holds_partitions(&log_of(&second_log)),
        || {
            format!(
                "; first:\n{}\nsecond:\n{}",
                log_of(&first_log),
                log_of(&second_log)
            )
        },
    );
    let mut replay = ns
        .command(&[
            "ingest",
            "--source",
            &source,
            "--mode",
            "replay",
            "--rate",
            "2500",
            "--partitions",
            "6",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("replay");
    wait_for("some rows loaded", Duration::from_secs(60), || {
        (count(&ns, "raw_records") >= 300).then_some(())
    });
    let mut first = first;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let loaded_at_kill = count(&ns, "raw_records");
    let assignments_before = log_of(&second_log).matches("partitions assigned").count();

    // The replay ends; the survivor takes the dead member's partitions and
    // loads everything.
    let status = replay.wait().expect("replay");
    assert!(status.success(), "the replay failed");
    wait_or_explain(
        "every message loaded",
        Duration::from_secs(180),
        || count(&ns, "raw_records") >= records,
        || {
            let log = log_of(&second_log);
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            format!(
                " ({} of {records}); the survivor's log ends:\n{}",
                count(&ns, "raw_records"),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(stop(second).success(), "the survivor did not stop cleanly");

    let survivor = log_of(&second_log);
    assert!(
        survivor.matches("partitions assigned").count() > assignments_before,
        "the survivor was not given the dead member's partitions: {survivor}"
    );
    assert!(
        loaded_at_kill < records,
        "the kill must land mid-load: {loaded_at_kill} of {records} loaded"
    );
    assert_loaded_exactly(&ns, dir.path(), &summary);
}

#[test]
fn a_batch_run_ends_at_the_high_watermarks_it_saw_while_data_keeps_arriving() {
    let ns = Namespace::new();
    let (dir, _) = generated(12, 0.02);
    let source = dir.path().display().to_string();
    ns.ingest(&source);

    // The same records again, slowly, for longer than the run takes.
    let mut replay = ns
        .command(&[
            "ingest", "--source", &source, "--mode", "replay", "--rate", "300",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("replay");
    std::thread::sleep(Duration::from_secs(2));
    let config = ns.config();
    let before = high_watermarks(&config);
    let started = Instant::now();
    let mut etl = ns.command(&["etl"]);
    etl.env("BAEDAL_LOG", "baedal::etl::consume=debug");
    let run = common::run_with_deadline(etl, common::RUN_DEADLINE);
    let took = started.elapsed();
    let after = high_watermarks(&config);
    let still_sending = replay.try_wait().expect("replay status").is_none();
    let _ = replay.kill();
    let _ = replay.wait();
    let (out, log) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(run.status.success(), "{log}");
    assert!(out.contains("orders changed"), "{out}");
    assert!(
        still_sending,
        "the replay ended before the run did ({took:?}): the test proves nothing"
    );
    // The ends the run chose: the high watermarks at its start, between
    // those seen before and after it.
    let ends: BTreeMap<(String, i32), i64> = log
        .lines()
        .filter(|l| l.contains("reading to the high watermark seen at the start"))
        .map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{name}=")))
                    .unwrap_or_else(|| panic!("no {name} in {l}"))
                    .to_string()
            };
            let number = |name: &str| field(name).parse::<i64>().expect("a number");
            ((field("topic"), number("partition") as i32), number("to"))
        })
        .collect();
    assert!(!ends.is_empty(), "no partition read: {log}");
    for (partition, end) in &ends {
        assert!(
            before[partition] <= *end && *end <= after[partition],
            "{partition:?}: read to {end}, the broker's end was {} before and {} after",
            before[partition],
            after[partition]
        );
    }
    let grew: i64 = after.values().sum::<i64>() - ends.values().sum::<i64>();
    assert!(
        grew > 0,
        "nothing arrived after the run's start: the test proves nothing"
    );
    // What the run loaded is each partition up to the end it chose: no
    // offset beyond it, and nothing skipped before it.
    runtime().block_on(async {
        let pool = ns.pool().await;
        let gaps: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (
                 SELECT topic, partition, count(*) AS n, max(\"offset\") AS last
                 FROM raw_records GROUP BY topic, partition
             ) p WHERE n <> last + 1",
        )
        .fetch_one(&pool)
        .await
        .expect("gaps");
        assert_eq!(gaps, 0, "a partition was loaded with a gap");
        let stored: i64 =
            sqlx::query_scalar("SELECT coalesce(sum(next_offset), 0)::bigint FROM etl_offsets")
                .fetch_one(&pool)
                .await
                .expect("offsets");
        let raw: i64 = common::rows(&pool, "raw_records").await;
        assert_eq!(stored, raw, "the stored positions are the loaded rows");
        let positions: Vec<(String, i32, i64)> = common::select(
            &pool,
            "SELECT topic, partition, next_offset FROM etl_offsets",
        )
        .await;
        let positions: BTreeMap<(String, i32), i64> = positions
            .into_iter()
            .map(|(topic, partition, next)| ((topic, partition), next))
            .collect();
        assert_eq!(
            positions, ends,
            "each partition stored up to the end the run chose"
        );
    });
    // Beside followers the CronJob reads no Kafka and only rebuilds.
    let rebuilt = ns.run(&["etl", "--marts-only"]);
    assert!(rebuilt.starts_with("read 0 messages"), "{rebuilt}");
}

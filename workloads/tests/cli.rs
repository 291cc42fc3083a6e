//! The `baedal` binary as a user runs it.

use std::process::Command;

fn baedal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_baedal"))
}

/// Runs `command`, which must succeed (its stderr is the failure message).
fn succeeded(command: &mut Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn datagen_then_profile_prints_the_tables_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = succeeded(
        baedal()
            .args(["datagen", "--seed", "5", "--scale", "0.01", "--out"])
            .arg(&data),
    );
    assert!(
        out.stderr.is_empty(),
        "no progress bar when stderr is not a terminal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = dir.path().join("profile.json");
    let out = succeeded(baedal().arg("profile").arg(&data).arg("--json").arg(&json));
    let text = String::from_utf8(out.stdout).unwrap();
    for heading in [
        "결측값",
        "이상치",
        "기본 통계",
        "시간대별",
        "요일별",
        "orders.csv",
        "unified.pickle",
    ] {
        assert!(text.contains(heading), "report lacks {heading}");
    }
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(profile["files"].as_array().unwrap().len(), 6);
    let hours: u64 = profile["files"][1]["orders_by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(hours > 900, "orders.csv hours sum to {hours}");
}

#[test]
fn bad_arguments_and_empty_directories_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = baedal().arg("profile").arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dataset files"));
    let out = baedal()
        .args(["datagen", "--scale=-1", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("scale must be a positive number"));
    let out = baedal().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("datagen"));
}

#[test]
fn ingest_does_not_create_topics_an_operator_provisions() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("nocreate{}.", std::process::id());
    let file = dir.path().join("orders.csv");
    std::fs::write(&file, "order_id,order_time\n").unwrap();
    let ingest = || {
        baedal()
            .args(["ingest", "--source"])
            .arg(&file)
            .env("BAEDAL_TOPIC_PREFIX", &prefix)
            .env("BAEDAL_KAFKA_CREATE_TOPICS", "false")
            .env("BAEDAL_METRICS_ADDR", "127.0.0.1:0")
            .output()
            .unwrap()
    };
    let out = ingest();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ingest ran without its topics");
    assert!(stderr.contains(&format!("{prefix}orders")), "{stderr}");
    assert!(stderr.contains("kafka.create_topics is false"), "{stderr}");
    // And it created none: a second run finds them missing too.
    assert!(!ingest().status.success());
}

#[test]
fn the_allocator_commits_arena_memory_as_it_is_used() {
    // .cargo/config.toml sets the default at compile time; mimalloc prints
    // its options when MIMALLOC_VERBOSE is set.
    let out = baedal()
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .env_remove("MIMALLOC_ARENA_EAGER_COMMIT")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("option 'arena_eager_commit': 0"),
        "mimalloc's options: {stderr}"
    );
}

//! The data plane end to end on real servers: datagen → ingest (Kafka) → etl
//! (Postgres, Redis). `scripts/services.sh` starts the servers; their
//! addresses come from BAEDAL_KAFKA_BOOTSTRAP, BAEDAL_DATABASE_URL and
//! BAEDAL_REDIS_URL (defaults: the standard ports on 127.0.0.1). Each test
//! works in its own topics, Postgres schema and Redis key prefix.

mod common;

use baedal::model::Order;
use common::{canonical_orders, free_port, generated, run_fails, run_ok, runtime, Namespace};
use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

async fn table_counts(pool: &sqlx::PgPool) -> BTreeMap<&'static str, String> {
    let mut counts = BTreeMap::new();
    for table in [
        "raw_records",
        "dead_letters",
        "orders",
        "order_items",
        "customers",
        "restaurants",
        "conversations",
        "messages",
        "log_events",
        "reviews",
        "mart_customer_rfm",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .unwrap();
        counts.insert(table, n.to_string());
    }
    let digest: String = sqlx::query_scalar("SELECT md5(string_agg(order_id || coalesce(updated_at::text, '') || order_status || loaded_at::text, ',' ORDER BY order_id)) FROM orders")
        .fetch_one(pool)
        .await
        .unwrap();
    counts.insert("orders digest", digest);
    counts
}

#[test]
fn ingest_then_etl_loads_each_valid_order_once_and_a_rerun_changes_nothing() {
    let ns = Namespace::new();
    let (dir, summary) = generated(5, 0.03);
    let source = dir.path().display().to_string();
    let unreadable: u64 = summary.rejected();

    let sent = ns.ingest(&source);
    assert!(
        sent.contains(&format!("and {unreadable} dead letters")),
        "{sent}"
    );
    let loaded = ns.run(&["etl"]);
    assert!(loaded.contains("new"), "{loaded}");

    let expected = canonical_orders(dir.path());
    runtime().block_on(async {
        let pool = ns.pool().await;
        // One row per valid order id, carrying the latest version.
        let rows: Vec<(String, Option<chrono::DateTime<chrono::Utc>>, String)> =
            common::select(&pool, "SELECT order_id, updated_at, order_status FROM orders").await;
        assert_eq!(
            rows.len(),
            expected.len(),
            "distinct orders in Postgres vs distinct readable order ids in the files"
        );
        for (id, updated_at, status) in &rows {
            let want = &expected[id];
            assert_eq!(
                updated_at.map(|t| t.timestamp()),
                want.updated_at.map(|t| t.at.timestamp()),
                "{id}: latest updated_at wins"
            );
            assert_eq!(status, want.order_status.as_str(), "{id}");
        }
        // Every unreadable record is a dead letter, by class.
        let by_class: Vec<(String, i64)> =
            common::select(&pool, "SELECT reason_class, count(*) FROM dead_letters GROUP BY 1").await;
        let mut want: BTreeMap<String, i64> = BTreeMap::new();
        for f in summary.files.values() {
            for (class, n) in &f.rejects {
                *want.entry(class.clone()).or_default() += *n as i64;
            }
        }
        assert_eq!(by_class.into_iter().collect::<BTreeMap<_, _>>(), want);
        // Impossible values are kept but flagged.
        let flagged: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE NOT is_valid")
            .fetch_one(&pool)
            .await
            .unwrap();
        let impossible = expected
            .values()
            .filter(|o| !o.impossible_values().is_empty())
            .count() as i64;
        assert_eq!(flagged, impossible);

        // Redis agrees with Postgres.
        let mut redis = ns.redis().await;
        let sample: Vec<(String, String)> = common::select(&pool, &format!(
            "{} WHERE o.order_time >= (SELECT max(order_time) FROM orders) - interval '7 days' ORDER BY o.order_id LIMIT 40",
            baedal::etl::realtime::ORDER_JSON_SQL
        )).await;
        assert!(sample.len() >= 10, "the latest week holds orders to check");
        let stale: Option<String> = sqlx::query_scalar(
            "SELECT order_id FROM orders WHERE order_time < (SELECT max(order_time) FROM orders) - interval '8 days' LIMIT 1",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        let stale = stale.expect("older orders exist");
        let cached_old: Option<String> = redis::AsyncCommands::get(&mut redis, ns.key(&format!("order:{stale}"))).await.unwrap();
        assert!(cached_old.is_none(), "only the latest days are pre-cached");
        for (id, json) in &sample {
            let cached: Option<String> =
                redis::AsyncCommands::get(&mut redis, ns.key(&format!("order:{id}")))
                    .await
                    .unwrap();
            let cached: serde_json::Value =
                serde_json::from_str(&cached.unwrap_or_else(|| panic!("order {id} not cached")))
                    .unwrap();
            let json: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(cached, json, "{id}");
        }
        let stats: HashMap<String, String> =
            redis::AsyncCommands::hgetall(&mut redis, ns.key("realtime:stats"))
                .await
                .unwrap();
        let valid: Vec<&Order> = expected
            .values()
            .filter(|o| o.impossible_values().is_empty())
            .collect();
        let kst_day = |o: &Order| {
            o.order_time
                .at
                .with_timezone(&baedal::model::kst())
                .date_naive()
        };
        let last_day = valid.iter().map(|o| kst_day(o)).max().unwrap();
        let today: Vec<&&Order> = valid.iter().filter(|o| kst_day(o) == last_day).collect();
        let revenue: i64 = today
            .iter()
            .filter(|o| o.order_status.counts_as_revenue())
            .filter_map(|o| o.order_amount)
            .sum();
        assert_eq!(stats["date"], last_day.to_string());
        assert_eq!(stats["orders"], today.len().to_string());
        assert_eq!(stats["revenue"], revenue.to_string());
        let mut revenue_by_restaurant: HashMap<&str, i64> = HashMap::new();
        for o in valid.iter().filter(|o| o.order_status.counts_as_revenue()) {
            *revenue_by_restaurant
                .entry(o.restaurant_id.as_str())
                .or_default() += o.order_amount.unwrap_or(0);
        }
        let best = revenue_by_restaurant.values().max().copied().unwrap();
        let top: Vec<(String, i64)> = redis::AsyncCommands::zrevrange_withscores(
            &mut redis,
            ns.key("leaderboard:restaurants:revenue"),
            0,
            0,
        )
        .await
        .unwrap();
        assert_eq!(top[0].1, best);

        // A second run changes nothing.
        let before = table_counts(&pool).await;
        let again = ns.run(&["etl"]);
        assert!(
            again.contains("(0 new)") && again.contains(": 0 orders changed"),
            "{again}"
        );
        assert_eq!(table_counts(&pool).await, before);
    });
}

#[test]
fn an_etl_killed_in_the_middle_of_a_load_and_rerun_ends_with_the_same_counts() {
    let ns = Namespace::new();
    let (dir, summary) = generated(6, 0.05);
    ns.ingest(dir.path());
    let expected = canonical_orders(dir.path());
    let messages: i64 = summary.records() as i64;

    runtime().block_on(async {
        let mut etl = ns
            .command(&["etl"])
            .env("BAEDAL_ETL_BATCH_SIZE", "150")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until some batches are committed, then kill without warning.
        let started = Instant::now();
        let pool = loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(status) = etl.try_wait().unwrap() {
                panic!("the etl ended before it created its tables: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the etl did not create its tables within 2 minutes"
            );
            let pool = ns.pool().await;
            let exists: bool = sqlx::query_scalar("SELECT to_regclass('etl_offsets') IS NOT NULL")
                .fetch_one(&pool)
                .await
                .unwrap();
            if exists {
                break pool;
            }
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let loaded: i64 = sqlx::query_scalar("SELECT count(*) FROM raw_records")
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
            if loaded >= 600 || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        etl.kill().unwrap();
        etl.wait().unwrap();
        let partial: i64 = common::rows(&pool, "raw_records").await;
        let finished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM etl_runs WHERE finished_at IS NOT NULL")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(
            partial > 0 && partial < messages && finished == 0,
            "the kill must land mid-load: {partial} of {messages} loaded"
        );

        ns.run(&["etl"]);
        let raw: i64 = common::rows(&pool, "raw_records").await;
        assert_eq!(raw, messages, "every message loaded exactly once");
        let orders: i64 = common::rows(&pool, "orders").await;
        assert_eq!(orders, expected.len() as i64);
        let dead: i64 = common::rows(&pool, "dead_letters").await;
        assert_eq!(dead as u64, summary.rejected());
        let items: i64 = common::rows(&pool, "order_items").await;
        let want_items: usize = expected.values().map(|o| o.items.len()).sum();
        assert_eq!(items, want_items as i64);
    });
}

/// `/metrics`, or `None` while nothing listens yet.
fn try_scrape(port: u16) -> Option<String> {
    std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    Some(scrape(port))
}

/// The sum of the values of a Prometheus text's lines that start with
/// `prefix` (a metric's name and `{`, or its name and a space).
fn metric_total(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn replay_paces_records_serves_metrics_and_sigterm_flushes_and_exits_cleanly() {
    let ns = Namespace::new();
    let (dir, _) = generated(7, 0.01);
    let port = free_port();
    let child = ns
        .command(&[
            "ingest",
            "--source",
            &dir.path().display().to_string(),
            "--mode",
            "replay",
            "--rate",
            "400",
        ])
        .env("BAEDAL_METRICS_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sent = |metrics: &str| metric_total(metrics, "baedal_ingest_records_total{");
    // Once records flow, the rate caps what is sent in a 2.5 s window.
    let started = Instant::now();
    let first = loop {
        if let Some(m) = try_scrape(port).filter(|m| sent(m) > 0.0) {
            break m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no record sent within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let window = Instant::now();
    std::thread::sleep(Duration::from_millis(2500));
    let metrics = scrape(port);
    let seconds = window.elapsed().as_secs_f64();
    assert!(metrics.contains("baedal_ingest_records_total"), "{metrics}");
    let paced = sent(&metrics) - sent(&first);
    assert!(
        paced > 50.0 && paced <= 400.0 * seconds + 50.0,
        "{paced} records sent in {seconds:.1} s at 400/s"
    );
    // Acknowledgements (of records and dead letters) are counted as they
    // come, never ahead of the sends.
    let delivered = metric_total(&metrics, "baedal_ingest_delivered_total ");
    let handed_over = sent(&metrics) + metric_total(&metrics, "baedal_ingest_dead_letters_total{");
    assert!(
        delivered > 0.0 && delivered <= handed_over,
        "{delivered} acknowledged of {handed_over} sent"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "exit after SIGTERM: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("interrupted"), "{stdout}");
}

/// An S3 server on loopback (moto's, from PyPI), stopped when dropped.
struct S3Server {
    child: std::process::Child,
    port: u16,
}

impl S3Server {
    fn start() -> S3Server {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (scripts/setup.sh installs moto)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the S3 server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        S3Server { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The standard AWS settings pointing a client at this server.
    fn configure(&self, command: &mut Command) {
        command
            .env("AWS_ENDPOINT", self.endpoint())
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_batch_ingest_counts_every_record_and_dead_letter_acknowledged() {
    use baedal::ingest::{self, IngestMetrics, Mode, Producer};
    let ns = Namespace::new();
    let (dir, _) = generated(7, 0.01);
    // The CLI's ingest makes the topics; the second sends through the library.
    ns.ingest(dir.path());
    let config = ns.config();
    let metrics = std::sync::Arc::new(IngestMetrics::default());
    let producer = Producer::connect(&config, metrics.clone()).unwrap();
    let source = baedal::source::Source::open(&dir.path().display().to_string()).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let report = ingest::run(&config, producer, &source, Mode::Batch, &stop, &|_| {}).unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let delivered = metric_total(&text, "baedal_ingest_delivered_total ");
    assert!(report.dead_letters > 0, "{report:?}");
    assert_eq!(
        delivered,
        (report.records + report.dead_letters) as f64,
        "{text}"
    );
}

#[test]
fn an_s3_source_is_read_through_the_same_path_as_file_uris() {
    let ns = Namespace::new();
    let (dir, summary) = generated(8, 0.01);
    let s3 = S3Server::start();
    let upload = format!(
        r#"
import boto3, os, sys
s3 = boto3.client("s3", endpoint_url="{endpoint}", aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
s3.create_bucket(Bucket="orders")
for name in os.listdir(sys.argv[1]):
    s3.upload_file(os.path.join(sys.argv[1], name), "orders", "baemin/2024/" + name)
"#,
        endpoint = s3.endpoint()
    );
    let status = Command::new("python3")
        .arg("-c")
        .arg(&upload)
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "upload to the S3 server");
    let mut ingest = ns.command(&["ingest", "--source", "s3://orders/baemin/2024/"]);
    s3.configure(&mut ingest);
    let stdout = run_ok(ingest, Duration::from_secs(120), "ingest from S3");
    let unreadable: u64 = summary.rejected();
    let readable: u64 = summary.records() - unreadable;
    assert!(
        stdout.contains(&format!(
            "sent {readable} records and {unreadable} dead letters from 6 files"
        )),
        "{stdout}"
    );
    // A missing bucket is a clear error, not a hang.
    let mut missing = ns.command(&["ingest", "--source", "s3://no-such-bucket/x/"]);
    s3.configure(&mut missing);
    let stderr = run_fails(
        missing,
        Duration::from_secs(120),
        "ingest from a missing bucket",
    );
    assert!(stderr.contains("s3://no-such-bucket"), "{stderr}");
}

/// Identifiers compare byte by byte (migration 0006): every text column of
/// baedal's tables named as an id or a topic is collated "C", so one added
/// later under the locale's collation fails here.
#[test]
fn every_identifier_column_compares_byte_by_byte() {
    let ns = Namespace::new();
    ns.run(&["migrate"]);
    let (checked, loose): (i64, Vec<String>) = runtime().block_on(async {
        let pool = ns.pool().await;
        // Every id or topic column, and those not collated "C".
        sqlx::query_as::<_, (i64, Vec<String>)>(
            "SELECT count(*),
                    COALESCE(array_agg(table_name || '.' || column_name
                                       ORDER BY table_name, column_name)
                             FILTER (WHERE collation_name IS DISTINCT FROM 'C'), '{}')
             FROM information_schema.columns
             WHERE table_schema = $1 AND data_type = 'text'
               AND (column_name LIKE '%\\_id' OR column_name LIKE '%topic')",
        )
        .bind(&ns.0)
        .fetch_one(&pool)
        .await
        .unwrap()
    });
    assert!(checked >= 20, "only {checked} id columns found");
    assert!(
        loose.is_empty(),
        "id columns under the locale's collation: {loose:?}"
    );
}

/// The `orders` table every migration leaves is the column table's: the
/// same columns in the same order, of the same types and nullability, then
/// the loader's own. A later migration that adds, drops or retypes a column
/// fails here (the unit test in `columns.rs` reads migration 0002 only).
#[test]
fn the_migrated_orders_table_is_the_column_table() {
    let ns = Namespace::new();
    ns.run(&["migrate"]);
    let migrated: Vec<(String, String, bool)> = runtime().block_on(async {
        let pool = ns.pool().await;
        common::select(
            &pool,
            &format!(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull
                 FROM pg_attribute a
                 WHERE a.attrelid = '{}.orders'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum",
                ns.0
            ),
        )
        .await
    });
    // Postgres spells timestamptz out.
    let ours: Vec<(String, String, bool)> = baedal::columns::stored_columns()
        .map(|(c, sql_type)| {
            let sql_type = sql_type.replace("timestamptz", "timestamp with time zone");
            (c.name.to_string(), sql_type, c.required)
        })
        .collect();
    assert_eq!(migrated[..ours.len()], ours[..]);
    let rest: Vec<&str> = migrated[ours.len()..].iter().map(|c| &*c.0).collect();
    assert_eq!(rest, baedal::columns::LOADER_COLUMNS);
}

/// Raw records and the stored next offset of each partition of `topic`.
async fn partition_positions(pool: &sqlx::PgPool, topic: &str) -> BTreeMap<i32, (i64, i64)> {
    let rows: Vec<(i32, i64, i64)> = sqlx::query_as(
        "SELECT o.partition, o.next_offset,
                (SELECT count(*) FROM raw_records r WHERE r.topic = o.topic AND r.partition = o.partition)
           FROM etl_offsets o WHERE o.topic = $1",
    )
    .bind(topic)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(p, next, raw)| (p, (next, raw)))
        .collect()
}

/// A namespace with the `orders.csv` of a small generated dataset ingested
/// and loaded; the file's path, for ingesting it again, and its directory.
fn orders_loaded(seed: u64) -> (Namespace, String, tempfile::TempDir) {
    let ns = Namespace::new();
    let (dir, _) = generated(seed, 0.01);
    let orders_csv = dir.path().join("orders.csv").display().to_string();
    ns.ingest(&orders_csv);
    ns.run(&["etl"]);
    (ns, orders_csv, dir)
}

#[test]
fn a_stored_position_past_the_end_of_its_partition_is_named_and_the_other_partitions_load() {
    // What a topic deleted and made again looks like to the ETL: a stored
    // position beyond the partition's end on the broker.
    let (ns, orders_csv, _dir) = orders_loaded(9);
    let topic = format!("{}.orders", ns.0);
    runtime().block_on(async {
        let pool = ns.pool().await;
        let before = partition_positions(&pool, &topic).await;
        assert_eq!(before.len(), 3, "{before:?}");
        sqlx::query("UPDATE etl_offsets SET next_offset = next_offset + 1000 WHERE topic = $1 AND partition = 0")
            .bind(&topic)
            .execute(&pool)
            .await
            .unwrap();

        // More orders on every partition; the batch run loads partitions 1
        // and 2, leaves 0 alone, and fails naming it.
        ns.ingest(&orders_csv);
        let stderr = ns.fails(&["etl"], common::RUN_DEADLINE);
        let named = format!("past the end of {topic} partition 0 (stored {}", before[&0].0 + 1000);
        assert!(stderr.contains(&named), "{stderr}");
        let after = partition_positions(&pool, &topic).await;
        assert_eq!(after[&0], (before[&0].0 + 1000, before[&0].1), "partition 0 untouched");
        for partition in [1, 2] {
            let ((next_before, raw_before), (next, raw)) = (before[&partition], after[&partition]);
            assert_eq!((next, raw), (2 * next_before, 2 * raw_before), "partition {partition} loads its new messages");
        }

        // A follower does not start on such a partition: it exits at once
        // with the same words.
        let stderr = ns.fails(&["etl", "--follow"], Duration::from_secs(60));
        assert!(stderr.contains(&named), "{stderr}");
    });
}

#[test]
fn an_etl_whose_topics_the_operator_has_not_provisioned_names_them_and_stops() {
    let ns = Namespace::new();
    let mut managed = ns.command(&["etl"]);
    managed.env("BAEDAL_KAFKA_CREATE_TOPICS", "false");
    let stderr = run_fails(managed, common::RUN_DEADLINE, "an ETL without its topics");
    assert!(stderr.contains(&format!("{}.orders", ns.0)), "{stderr}");
    assert!(stderr.contains("kafka.create_topics is false"), "{stderr}");
    // Run locally (the ingest makes the topics), it warns and reads nothing.
    let mut local = ns.command(&["etl"]);
    local.env("BAEDAL_LOG", "baedal=warn");
    let out = common::run_with_deadline(local, common::RUN_DEADLINE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("topics not on the broker yet"), "{stderr}");
}

#[test]
fn a_topic_deleted_and_made_again_is_named_and_not_read() {
    // The new topic is refilled to twice the old one's length: its ends lie
    // past the stored positions, which offsets alone take for new messages
    // to read from there (skipping the new topic's first half).
    let (ns, orders_csv, _dir) = orders_loaded(11);
    let topic = format!("{}.orders", ns.0);
    let client = baedal::kafka::client_config(&ns.config());
    let ids = |topic: &str| {
        baedal_contract::librdkafka::topic_ids(
            &client,
            &[topic.to_string()],
            Duration::from_secs(10),
        )
        .unwrap()
    };
    // The reviews topic exists (the ingest made every topic) but nothing
    // was read from it: made again, it is simply read.
    let unread = format!("{}.reviews", ns.0);
    let first_id = ids(&topic).remove(&topic).expect("the topic's ID");
    let unread_first_id = ids(&unread)
        .remove(&unread)
        .expect("the reviews topic's ID");
    runtime().block_on(async {
        let pool = ns.pool().await;
        let before = partition_positions(&pool, &topic).await;
        assert!(partition_positions(&pool, &unread).await.is_empty());
        let admin: rdkafka::admin::AdminClient<_> = client.create().unwrap();
        admin
            .delete_topics(&[&topic, &unread], &rdkafka::admin::AdminOptions::new())
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ids(&topic).is_empty() || !ids(&unread).is_empty() {
            assert!(
                Instant::now() < deadline,
                "{topic} or {unread} is still on the broker"
            );
            std::thread::sleep(Duration::from_millis(200));
        }

        ns.ingest(&orders_csv);
        ns.ingest(&orders_csv);
        let new_id = ids(&topic).remove(&topic).expect("the new topic's ID");
        assert_ne!(new_id, first_id);
        let stderr = ns.fails(&["etl"], common::RUN_DEADLINE);
        let named = format!(
            "{topic} (first read as ID {first_id}, now ID {new_id}) was deleted and made again"
        );
        assert!(stderr.contains(&named), "{stderr}");
        assert_ne!(ids(&unread).remove(&unread), Some(unread_first_id));
        assert!(
            !stderr.contains(&format!("{unread} (first read")),
            "{stderr}"
        );
        assert_eq!(
            partition_positions(&pool, &topic).await,
            before,
            "nothing of the new topic is read"
        );

        // A follower does not start either: it exits at once with the same words.
        let stderr = ns.fails(&["etl", "--follow"], Duration::from_secs(60));
        assert!(stderr.contains(&named), "{stderr}");
    });
}

#[test]
fn names_and_places_come_from_the_latest_order_the_lowest_id_winning_a_tie() {
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    let header = "order_id,order_time,updated_at,customer_id,customer_name,phone_number,\
                  restaurant_id,restaurant_name,category,menu_items,item_count,order_amount,\
                  discount_amount,delivery_fee,payment_method,platform,district,delivery_address,\
                  store_lat,store_lng,customer_lat,customer_lng,distance_km,\
                  estimated_delivery_min,actual_delivery_min,rider_id,weather,order_status,rating";
    // (order id, time, customer, name, district, restaurant name, category, lat, amount)
    let orders = [
        (
            "O1",
            "2024-01-01 10:00:00",
            "C1",
            "먼저",
            "강남구",
            "옛집",
            "한식",
            "37.1",
            "9000",
        ),
        // Two orders at the customer's and the restaurant's latest instant:
        // the lower order id (O2) names them.
        (
            "O3",
            "2024-01-02 12:00:00",
            "C1",
            "둘째",
            "송파구",
            "새집 A",
            "분식",
            "37.3",
            "9000",
        ),
        (
            "O2",
            "2024-01-02 12:00:00",
            "C1",
            "첫째",
            "서초구",
            "새집 B",
            "중식",
            "37.2",
            "9000",
        ),
        // The restaurant's latest order, invalid (a negative amount): it
        // names the restaurant, but not in the performance mart, which
        // counts valid orders only.
        (
            "O4",
            "2024-01-03 09:00:00",
            "C2",
            "셋째",
            "마포구",
            "무효",
            "치킨",
            "37.4",
            "-5000",
        ),
    ];
    let mut csv = format!("{header}\n");
    for (id, time, customer, name, district, restaurant, category, lat, amount) in orders {
        csv.push_str(&format!(
            "{id},{time},{time},{customer},{name},010-****-0000,R1,{restaurant},{category},\
             메뉴:1:{amount},1,{amount},0,3000,카드,배민1,{district},서울특별시 {district},\
             {lat},127.0,37.5,127.1,2.0,30,30,D1,맑음,DELIVERED,5\n"
        ));
    }
    let path = dir.path().join("orders.csv");
    std::fs::write(&path, csv).unwrap();
    ns.run(&["ingest", "--source", &path.display().to_string()]);
    ns.run(&["etl"]);
    runtime().block_on(async {
        let pool = ns.pool().await;
        let one = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_as::<_, (String, String, String)>(sql)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        let customer = one(
            "SELECT customer_name, district, last_order_at::text FROM customers WHERE customer_id = 'C1'",
        )
        .await;
        assert_eq!(customer.0, "첫째");
        assert_eq!(customer.1, "서초구");
        let restaurant = one(
            "SELECT restaurant_name, category, store_lat::text FROM restaurants WHERE restaurant_id = 'R1'",
        )
        .await;
        assert_eq!((restaurant.0.as_str(), restaurant.1.as_str(), restaurant.2.as_str()), ("무효", "치킨", "37.4"));
        let performance = one(
            "SELECT restaurant_name, category, orders::text FROM mart_restaurant_performance WHERE restaurant_id = 'R1'",
        )
        .await;
        assert_eq!(
            (performance.0.as_str(), performance.1.as_str(), performance.2.as_str()),
            ("새집 B", "중식", "3")
        );
    });
}

//! Nothing a user feeds the pipeline stops it.
//! - Records Postgres cannot store never stop a partition: a batch that fails
//!   on its data is split until the bad record is alone, that record goes to
//!   `dead_letters` with the reason and its Kafka position, and the rest loads.
//! - Two batch ETLs on one database: the second exits at once with a clear
//!   message, and the data and marts stay whole.
//! - A batch Postgres does not take within `etl.batch_timeout_secs` ends the
//!   run with a clear error instead of a hang; the next run loads it all.
//! - Processes that start at once on a new schema (two followers) all
//!   create and migrate it.
//! - An order another loader stores while a batch copies it as new (a
//!   rebalance) is upserted, not refused.

mod common;

use baedal::datagen::DefectSummary;
use common::{assert_loaded_exactly, count, generated, runtime, Namespace};

const HEADER: &str =
    "order_id,order_time,customer_id,restaurant_id,order_amount,order_status,menu_items\n";

fn csv_row(id: u32, customer: &str) -> String {
    format!("O{id:09},2024-03-01 12:00:00,{customer},R00001,12000,DELIVERED,치킨:1:12000\n")
}

/// Unstorable dead letters: (topic, reason, position).
fn unstorable(ns: &Namespace) -> Vec<(String, String, String)> {
    runtime().block_on(async {
        let pool = ns.pool().await;
        common::select(
            &pool,
            "SELECT topic, reason, position FROM dead_letters
             WHERE reason_class = 'unstorable' ORDER BY topic, partition, \"offset\"",
        )
        .await
    })
}

#[test]
fn a_nul_byte_in_a_csv_field_or_a_json_string_costs_only_its_record_on_any_topic() {
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    // Forty orders in CSV, one with a NUL byte in its customer id and one
    // with an id too long for the key's index; three in JSON, one with an
    // escaped NUL in the customer's name.
    let mut csv = HEADER.to_string();
    for id in 1..=40 {
        let customer = if id == 17 { "C00\u{0}0017" } else { "C000017" };
        csv.push_str(&csv_row(id, customer));
    }
    // 9,000 characters that do not compress: more than a B-tree entry holds.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let long_id: String = (0..9000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b"0123456789abcdefghijklmnopqrstuv"[(state >> 40) as usize % 32])
        })
        .collect();
    csv.push_str(&csv_row(41, "C000041").replacen("O000000041", &long_id, 1));
    std::fs::write(dir.path().join("orders.csv"), csv).unwrap();
    let json_order = |id: u32, name: &str| {
        format!(
            r#"{{"orderId":"O{id:09}","orderTime":"2024-03-02T12:00:00+09:00","status":"DELIVERED",
                "customer":{{"customerId":"C000099","name":"{name}"}},
                "restaurant":{{"restaurantId":"R00002"}},
                "payment":{{"amount":9000}},"items":[]}}"#
        )
    };
    let json = format!(
        "[{},{},{}]",
        json_order(101, "김*원"),
        json_order(102, "이\\u0000*수"),
        json_order(103, "박*민")
    );
    std::fs::write(dir.path().join("orders.json"), json).unwrap();
    // Two conversations, one with an escaped NUL in a message's text: the
    // messages topic goes through the same splitting.
    let conversation = |id: u32, text: &str| {
        format!(
            r#"{{"conversation_id":"M{id:09}","order_id":"O000000001","customer_id":"C000017",
                "restaurant_id":"R00001","rider_id":null,"started_at":"2024-03-02T12:00:00+09:00",
                "messages":[{{"sender":"customer","sent_at":"2024-03-02T12:01:00+09:00","text":"{text}"}}]}}"#
        )
    };
    let messages = format!(
        "[{},{}]",
        conversation(1, "언제 와요?"),
        conversation(2, "문\\u0000 앞에 두세요")
    );
    std::fs::write(dir.path().join("messages.json"), messages).unwrap();
    let source = dir.path().display().to_string();
    ns.ingest(&source);

    // The run ends well, every other order and conversation is stored, and
    // each bad record is a dead letter naming what Postgres refused and
    // where it sits.
    ns.run(&["etl"]);
    assert_eq!(count(&ns, "orders"), 41);
    assert_eq!(count(&ns, "conversations"), 1);
    assert_eq!(
        count(&ns, "raw_records"),
        46,
        "every message in the raw layer"
    );
    let letters = unstorable(&ns);
    assert_eq!(letters.len(), 4, "{letters:?}");
    for (topic, _, position) in &letters {
        assert!(position.contains("offset"), "{position}");
        assert!(
            topic.ends_with("orders") || topic.ends_with("messages"),
            "{topic}"
        );
    }
    let on = |suffix: &str| letters.iter().filter(|l| l.0.ends_with(suffix)).count();
    assert_eq!((on("orders"), on("messages")), (3, 1), "{letters:?}");
    let reasons = |needle: &str| letters.iter().filter(|l| l.1.contains(needle)).count();
    assert_eq!(reasons("0x00"), 3, "{letters:?}");
    assert_eq!(reasons("index row"), 1, "{letters:?}");

    // A rerun finds nothing new: the bad records' offsets were stored too.
    let again = ns.run(&["etl"]);
    assert!(again.contains("(0 new)"), "{again}");
    assert_eq!(unstorable(&ns).len(), 4);
}

#[test]
fn processes_starting_at_once_on_a_new_schema_all_migrate_it() {
    let ns = Namespace::new();
    let config = ns.config();
    runtime().block_on(async {
        let starts = (0..8).map(|_| baedal::db::migrate(&config.database));
        for result in futures::future::join_all(starts).await {
            let pool = result.expect("every start creates or finds the schema");
            // `rows` fails on a missing table: the schema is there, empty.
            assert_eq!(common::rows(&pool, "raw_records").await, 0);
            pool.close().await;
        }
    });
}

#[test]
fn a_schema_named_with_capitals_is_the_one_migrated_and_read() {
    use std::time::Duration;
    let ns = Namespace::new();
    let mut database = ns.config().database;
    database.schema = format!("{}_Capitals", ns.0);
    runtime().block_on(async {
        let pool = baedal::db::migrate(&database).await.expect("migrate");
        assert_eq!(common::rows(&pool, "raw_records").await, 0);
        let lazy =
            baedal::db::connect_lazy(&database, Duration::from_secs(5), Duration::from_secs(5))
                .expect("lazy pool");
        assert_eq!(common::rows(&lazy, "orders").await, 0);
        let made: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE lower(nspname) = lower($1)",
        )
        .bind(&database.schema)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            made,
            [database.schema.clone()],
            "one schema, named as configured"
        );
        sqlx::query(&format!("DROP SCHEMA \"{}\" CASCADE", database.schema))
            .execute(&pool)
            .await
            .unwrap();
    });
}

/// The migration that makes `etl_topic_ids`: the test holds it up by
/// making that table in a transaction it leaves open.
const TOPIC_IDS_MIGRATION: i64 = 7;

#[test]
fn a_migration_stuck_behind_a_lock_holds_up_no_other_schema_and_gives_up_in_time() {
    use std::time::{Duration, Instant};
    let (stuck, other) = (Namespace::new(), Namespace::new());
    let (stuck_db, other_db) = (stuck.config().database, other.config().database);
    runtime().block_on(async {
        // The schema is migrated but for one migration, which a session of
        // the test holds up: it has made that migration's table and not
        // committed.
        let pool = baedal::db::migrate(&stuck_db)
            .await
            .expect("first migration");
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
            .bind(TOPIC_IDS_MIGRATION)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("DROP TABLE etl_topic_ids")
            .execute(&pool)
            .await
            .unwrap();
        let mut blocker = pool.begin().await.unwrap();
        sqlx::query("CREATE TABLE etl_topic_ids (held int)")
            .execute(&mut *blocker)
            .await
            .unwrap();

        // A process migrating it takes the schema's migration lock, then
        // waits behind that session.
        let held_up = tokio::spawn({
            let db = stuck_db.clone();
            async move { baedal::db::migrate(&db).await.map(|_| ()) }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND query LIKE '%CREATE TABLE etl_topic_ids%'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the migration never reached the lock"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Meanwhile another schema migrates as if alone.
        let started = Instant::now();
        let elsewhere =
            tokio::time::timeout(Duration::from_secs(15), baedal::db::migrate(&other_db)).await;
        assert!(
            matches!(elsewhere, Ok(Ok(_))),
            "another schema waited for the stuck one ({:?}): {:?}",
            started.elapsed(),
            elsewhere.map(|r| r.map(|_| ()))
        );

        // A second process for the stuck schema gives up in time, saying why.
        let started = Instant::now();
        let error = baedal_contract::schema::migrate_waiting(&stuck_db, Duration::from_secs(2))
            .await
            .expect_err("a second migration of the stuck schema went ahead")
            .to_string();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(
            error.contains(&stuck.0) && error.contains("another process"),
            "{error}"
        );

        // Released, the held-up migration completes.
        blocker.rollback().await.unwrap();
        held_up
            .await
            .unwrap()
            .expect("the held-up migration completes");
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert!(applied.contains(&TOPIC_IDS_MIGRATION), "{applied:?}");

        // An up-to-date schema takes no lock: with its migration lock held
        // elsewhere, a start goes ahead at once.
        let mut holder = pool.acquire().await.unwrap();
        common::hold_lock(
            &mut holder,
            &baedal_contract::schema::migration_lock_name(&stuck.0),
        )
        .await;
        let again = baedal_contract::schema::migrate_waiting(&stuck_db, Duration::from_secs(2))
            .await
            .map(|_| ());
        assert!(again.is_ok(), "{again:?}");
        common::release_locks(&mut holder).await;
    });
}

/// A namespace with a small generated dataset on Kafka and its schema
/// migrated, nothing loaded: a session of the test can lock what a run
/// needs before the run starts.
fn ingested_not_loaded(seed: u64) -> (Namespace, tempfile::TempDir, DefectSummary) {
    let ns = Namespace::new();
    let (dir, summary) = generated(seed, 0.01);
    ns.ingest(dir.path());
    ns.run(&["etl", "--marts-only"]);
    (ns, dir, summary)
}

#[test]
fn a_batch_postgres_does_not_take_in_time_ends_the_run_and_the_next_run_loads_it() {
    let (ns, dir, summary) = ingested_not_loaded(11);

    runtime().block_on(async {
        let pool = ns.pool().await;
        let mut blocker = pool.begin().await.unwrap();
        sqlx::query("LOCK TABLE raw_records IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *blocker)
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let mut command = ns.command(&["etl"]);
        command.env("BAEDAL_ETL_BATCH_TIMEOUT_SECS", "2");
        let stalled = common::run_with_deadline(command, std::time::Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&stalled.stderr);
        assert!(!stalled.status.success(), "{stderr}");
        assert!(
            stderr.contains("a batch was not written to Postgres within 2s"),
            "{stderr}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        blocker.rollback().await.unwrap();
    });
    assert_eq!(
        count(&ns, "raw_records"),
        0,
        "the stalled run stored nothing"
    );

    ns.run(&["etl"]);
    assert_loaded_exactly(&ns, dir.path(), &summary);
}

#[test]
fn a_second_batch_etl_exits_with_a_clear_message_while_the_first_holds_the_lock() {
    let (ns, _dir, _) = ingested_not_loaded(5);

    // While another session holds the schema's batch lock, a run refuses.
    runtime().block_on(async {
        let pool = ns.pool().await;
        let mut holder = pool.acquire().await.unwrap();
        common::hold_lock(&mut holder, &baedal::etl::batch_lock_name(&ns.0)).await;
        let stderr = ns.fails(&["etl"], std::time::Duration::from_secs(30));
        assert!(
            stderr.contains("another batch ETL holds the lock"),
            "{stderr}"
        );
        let loaded: i64 = common::rows(&pool, "raw_records").await;
        assert_eq!(loaded, 0, "the refused run loaded nothing");
        common::release_locks(&mut holder).await;
    });

    // Two runs at once: each ends well or with that message, and whichever
    // loaded, every message is stored once and the marts are full.
    let children: Vec<_> = (0..2)
        .map(|_| {
            ns.command(&["etl"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut succeeded = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || stderr.contains("another batch ETL holds the lock"),
            "{stderr}"
        );
        succeeded += usize::from(out.status.success());
    }
    assert!(succeeded >= 1);
    let records = count(&ns, "raw_records");
    assert!(records > 0);
    runtime().block_on(async {
        let pool = ns.pool().await;
        let distinct: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT DISTINCT topic, partition, \"offset\" FROM raw_records) d",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(distinct, records);
    });
    assert!(count(&ns, "mart_customer_rfm") > 0);
    assert!(count(&ns, "mart_hourly_orders") > 0);
}

#[test]
fn json_lines_orders_are_read_and_a_file_of_no_format_is_named() {
    let ns = Namespace::new();
    let dir = tempfile::tempdir().unwrap();
    let nested = |id: u32| {
        format!(
            r#"{{"orderId":"O{id:09}","orderTime":"2024-03-02T12:00:00+09:00","status":"DELIVERED","customer":{{"customerId":"C1"}},"restaurant":{{"restaurantId":"R1"}},"payment":{{"amount":9000}}}}"#
        )
    };
    let flat = |id: u32| {
        format!(
            r#"{{"order_id":"O{id:09}","order_time":"2024-03-02 13:00:00","customer_id":"C2","restaurant_id":"R2","order_amount":12000,"order_status":"DELIVERED","rating":null}}"#
        )
    };
    std::fs::write(
        dir.path().join("a.jsonl"),
        format!("{}\n{}\n\n", nested(1), flat(2)),
    )
    .unwrap();
    std::fs::write(dir.path().join("b.ndjson"), format!("{}\n", flat(3))).unwrap();
    // `.json` holding one object per line, as pandas writes with lines=True.
    std::fs::write(
        dir.path().join("c.json"),
        format!("{}\n{}\n", flat(4), nested(5)),
    )
    .unwrap();
    std::fs::write(dir.path().join("empty.json"), "").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "shipping notes\n").unwrap();
    // The generator's account of a dataset it wrote, beside the files
    // (pretty-printed, as datagen writes it).
    std::fs::write(
        dir.path().join(baedal::datagen::SUMMARY_FILE),
        "{\n  \"seed\": 42,\n  \"scale\": 0.01\n}\n",
    )
    .unwrap();

    let mut ingest = ns.command(&["ingest", "--source", &dir.path().display().to_string()]);
    ingest.env("BAEDAL_LOG", "info");
    let out = common::run_with_deadline(ingest, std::time::Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("sent 5 records and 0 dead letters from 3 files"));
    for skipped in ["empty.json", "notes.txt"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(skipped) && l.contains("matches no dataset format")),
            "{skipped} not reported: {stderr}"
        );
    }
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(baedal::datagen::SUMMARY_FILE))
        .collect();
    assert!(
        matches!(summary[..], [line] if line.contains("INFO") && line.contains("the generator's defect summary")),
        "{stderr}"
    );
    ns.run(&["etl"]);
    assert_eq!(count(&ns, "orders"), 5);

    // Named on its own, a file of no format is an error, not an empty run.
    let alone = common::run_with_deadline(
        ns.command(&[
            "ingest",
            "--source",
            &dir.path().join("empty.json").display().to_string(),
        ]),
        std::time::Duration::from_secs(30),
    );
    assert!(!alone.status.success());
    assert!(String::from_utf8_lossy(&alone.stderr).contains("matches no dataset format"));
}

#[test]
fn an_order_another_loader_stores_while_a_batch_copies_it_is_upserted_not_refused() {
    let ns = Namespace::new();
    ns.run(&["etl", "--marts-only"]); // migrates the schema
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("orders.csv");
    std::fs::write(
        &csv,
        "order_id,order_time,updated_at,customer_id,restaurant_id,order_amount,order_status,menu_items\n\
         O000000001,2024-03-01 12:00:00,2024-03-02 09:00:00,C-BATCH,R00001,12000,DELIVERED,치킨:1:12000\n",
    )
    .unwrap();
    let record = baedal::readers::open(&csv, baedal::readers::SourceFormat::Csv)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let payload = serde_json::to_vec(&record).unwrap();

    runtime().block_on(async {
        let (pool, other_pool) = (ns.pool().await, ns.pool().await);
        // Another loader (a follower, during a rebalance) inserts an older
        // version of the order and has not committed yet.
        let mut other = other_pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO orders (order_id, order_time, updated_at, customer_id, restaurant_id, order_status, source_topic)
             VALUES ('O000000001', '2024-03-01 03:00:00Z', '2024-03-01 09:00:00Z', 'C-OTHER', 'R00001', 'DELIVERED', 'other')",
        )
        .execute(&mut *other)
        .await
        .unwrap();
        // The batch does not see it, copies its order as a new one, and
        // waits on the other loader's key.
        let mut batch = baedal::etl::Batch::new();
        batch.add("t.orders", 0, 0, Some("O000000001".into()), &payload);
        let writer = tokio::spawn(async move { batch.commit(&pool).await.map(|_| ()) });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'COPY orders %'",
            )
            .fetch_one(&other_pool)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the batch never reached its COPY");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        other.commit().await.unwrap();
        writer.await.unwrap().unwrap();

        let (customer, items): (String, i64) = sqlx::query_as(
            "SELECT customer_id, (SELECT count(*) FROM order_items WHERE order_id = o.order_id)
             FROM orders o WHERE order_id = 'O000000001'",
        )
        .fetch_one(&other_pool)
        .await
        .unwrap();
        assert_eq!(customer, "C-BATCH", "the later version wins");
        assert_eq!(items, 1, "with its items");
    });
    assert_eq!(count(&ns, "dead_letters"), 0, "nothing refused");
    assert_eq!(count(&ns, "raw_records"), 1);
}

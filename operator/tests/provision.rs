//! Topic and schema provisioning against the real servers `scripts/services.sh`
//! starts (BAEDAL_KAFKA_BOOTSTRAP, BAEDAL_DATABASE_URL; defaults: the standard
//! ports on 127.0.0.1). Each test uses its own topic prefix or schema and
//! removes it at the end.

use baedal_contract::config::Config;
use baedal_operator::dataplane::{latest_migration, DataPlane, Servers};
use baedal_operator::topics::{desired_topics, TopicAction, TopicProblem, TopicsOutcome};
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique(what: &str) -> String {
    format!(
        "op{what}{}n{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(prefix: &str, schema: &str) -> Config {
    let mut c = Config::default();
    if let Ok(b) = std::env::var("BAEDAL_KAFKA_BOOTSTRAP") {
        c.kafka.bootstrap = b;
    }
    if let Ok(u) = std::env::var("BAEDAL_DATABASE_URL") {
        c.database.url = u;
    }
    c.kafka.topic_prefix = prefix.into();
    c.database.schema = schema.into();
    c.database.max_connections = 2;
    c
}

fn spec(
    prefix: &str,
    partitions: i32,
    retention_hours: Option<i64>,
) -> baedal_operator::crd::DeliveryPipelineSpec {
    let mut p = baedal_operator::testing::pipeline("provision");
    p.spec.kafka.topic_prefix = prefix.into();
    p.spec.kafka.topics.partitions = partitions;
    p.spec.kafka.topics.retention_hours = retention_hours;
    p.spec
}

/// Ensures the topics of a pipeline with `partitions` and
/// `retention_hours` on the broker; `what` names the step if it fails.
async fn ensure(
    config: &Config,
    prefix: &str,
    partitions: i32,
    retention_hours: Option<i64>,
    what: &str,
) -> TopicsOutcome {
    Servers
        .ensure_topics(
            config,
            &desired_topics(&spec(prefix, partitions, retention_hours)),
        )
        .await
        .expect(what)
}

/// A topic config as the broker reports it (DescribeConfigs).
async fn topic_config(config: &Config, topic: &str, key: &str) -> Option<String> {
    let admin: AdminClient<DefaultClientContext> = baedal_contract::kafka::client_config(config)
        .create()
        .expect("admin");
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .expect("describe");
    let resource = results.into_iter().next()?.ok()?;
    resource.get(key).and_then(|e| e.value.clone())
}

/// Partition counts from the broker's metadata.
fn partition_count(config: &Config, topic: &str) -> usize {
    let consumer: BaseConsumer = baedal_contract::kafka::client_config(config)
        .create()
        .expect("client");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    metadata.topics()[0].partitions().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_kept_updated_grown_and_never_shrunk() {
    let prefix = format!("{}.", unique("t"));
    let config = config(&prefix, "unused");

    // Create.
    let first = ensure(&config, &prefix, 3, Some(24), "create").await;
    let created = first
        .applied
        .iter()
        .filter(|a| matches!(a, TopicAction::Create(_)))
        .count();
    assert_eq!(created, 5, "{:?}", first.applied);
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    assert!(first
        .topics
        .iter()
        .all(|t| t.partitions == 3 && t.name.starts_with(&prefix)));

    // Re-run: nothing to do.
    let again = ensure(&config, &prefix, 3, Some(24), "re-run").await;
    assert_eq!(again.applied, vec![], "a re-run changes nothing");
    assert!(again.problems.is_empty(), "{:?}", again.problems);
    assert_eq!(again.topics, first.topics);

    // Someone else sets a key the operator does not manage, on one topic
    // (the legacy call names every key it keeps: retention too).
    let orders = &first.topics[0].name;
    let admin: AdminClient<DefaultClientContext> = baedal_contract::kafka::client_config(&config)
        .create()
        .expect("admin");
    let theirs = AlterConfig::new(ResourceSpecifier::Topic(orders))
        .set("retention.ms", "86400000")
        .set("max.message.bytes", "2000000");
    let set = admin
        .alter_configs([&theirs], &AdminOptions::new())
        .await
        .expect("alter");
    assert!(set.iter().all(Result::is_ok), "{set:?}");

    // Config update: the new retention is set on every topic, and the other
    // key survives it.
    let updated = ensure(&config, &prefix, 3, Some(48), "update").await;
    let updates = updated
        .applied
        .iter()
        .filter(|a| matches!(a, TopicAction::UpdateConfigs { .. }))
        .count();
    assert_eq!(updates, 5, "{updated:?}");
    assert!(updated.problems.is_empty(), "{:?}", updated.problems);
    for topic in &updated.topics {
        assert_eq!(
            topic_config(&config, &topic.name, "retention.ms")
                .await
                .as_deref(),
            Some("172800000"),
            "{}",
            topic.name
        );
    }
    assert_eq!(
        topic_config(&config, orders, "max.message.bytes")
            .await
            .as_deref(),
        Some("2000000"),
        "a setting the operator does not manage survives its update"
    );

    // A decrease is refused and reported; the topics keep their partitions.
    let refused = ensure(&config, &prefix, 1, Some(48), "refuse").await;
    let refusals: Vec<&TopicProblem> = refused
        .problems
        .iter()
        .filter(|p| {
            matches!(
                p,
                TopicProblem::DecreaseRefused {
                    current: 3,
                    desired: 1,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(refusals.len(), 5, "{refused:?}");
    assert!(refused.topics.iter().all(|t| t.partitions == 3));

    // An increase grows every topic: 3 → 6 on the broker.
    let grown = ensure(&config, &prefix, 6, Some(48), "increase").await;
    let increases = grown
        .applied
        .iter()
        .filter(|a| matches!(a, TopicAction::IncreasePartitions { from: 3, to: 6, .. }))
        .count();
    assert_eq!(increases, 5, "{grown:?}");
    assert!(grown.problems.is_empty(), "{:?}", grown.problems);
    for topic in &grown.topics {
        assert_eq!(partition_count(&config, &topic.name), 6, "{}", topic.name);
    }

    let names: Vec<String> = grown.topics.iter().map(|t| t.name.clone()).collect();
    Servers
        .delete_topics(&config, &names)
        .await
        .expect("delete");
}

async fn schema_exists(url: &str, schema: &str) -> bool {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("postgres");
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1",
    )
    .bind(schema)
    .fetch_one(&mut conn)
    .await
    .expect("query");
    n == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_migrated_idempotently_and_dropped_on_request() {
    let schema = unique("s");
    let config = config("unused.", &schema);
    let servers = Servers;
    let version = servers.migrate(&config).await.expect("migrate");
    assert_eq!(version, latest_migration());
    assert!(version >= 3, "the workloads ship at least three migrations");
    assert_eq!(servers.migrate(&config).await.expect("re-run"), version);
    assert!(schema_exists(&config.database.url, &schema).await);
    servers.drop_schema(&config).await.expect("drop");
    assert!(!schema_exists(&config.database.url, &schema).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_an_error_not_a_hang() {
    let mut config = config("x.", "unused");
    config.kafka.bootstrap = "127.0.0.1:1".into();
    let desired = desired_topics(&spec("x.", 1, None));
    let started = std::time::Instant::now();
    let err = Servers
        .ensure_topics(&config, &desired)
        .await
        .expect_err("nothing listens there");
    assert!(
        err.contains("cannot connect to Kafka at 127.0.0.1:1"),
        "{err}"
    );
    assert!(started.elapsed().as_secs() < 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_one_version_behind_accept_a_newer_schema() {
    let schema = unique("skew");
    let config = config("unused.", &schema);
    let servers = Servers;
    servers.migrate(&config).await.expect("migrate");
    // A newer operator applied a migration this build does not have.
    let pool = baedal_contract::schema::connect(&config.database)
        .await
        .expect("pool");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99991231000000, 'from a newer operator', true, '\\x00'::bytea, 0)",
    )
    .execute(&pool)
    .await
    .expect("record a newer migration");
    pool.close().await;
    // The workloads' own migrate (what the ETL runs at start) still works.
    baedal_contract::schema::migrate(&config.database)
        .await
        .expect("an older image against a newer schema");
    servers.drop_schema(&config).await.expect("drop");
}

/// The operator's own clients over TLS, with the CA bundles held in memory
/// as the dereferenced Secrets give them: topics through SASL_SSL
/// (SCRAM-SHA-512), the schema through `sslmode=verify-full`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_schema_are_provisioned_over_tls_with_the_ca_in_memory() {
    let env = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/services.sh"))
    };
    let dir = std::path::PathBuf::from(env("BAEDAL_TEST_TLS_DIR"));
    let password = std::fs::read_to_string(dir.join("password")).expect("password");
    let password = password.trim();
    let ca = std::fs::read_to_string(dir.join("ca.pem")).expect("ca");
    let prefix = format!("{}.", unique("tls"));
    let schema = unique("tls");
    let mut config = config(&prefix, &schema);
    config.kafka.bootstrap = env("BAEDAL_TEST_KAFKA_SASL_SSL");
    config.kafka.security_protocol = Some("SASL_SSL".into());
    config.kafka.sasl_mechanism = Some("SCRAM-SHA-512".into());
    config.kafka.sasl_username = Some("baedal".into());
    config.kafka.sasl_password = Some(password.into());
    config.kafka.ssl_ca_pem = Some(ca.clone());
    config.database.url = format!(
        "postgres://baedal_tls:{password}@{}/baedal_tls?sslmode=verify-full",
        env("BAEDAL_TEST_POSTGRES_TLS")
    );
    config.database.ssl_root_cert_pem = Some(ca);
    let servers = Servers;

    let created = ensure(&config, &prefix, 2, Some(24), "topics over SASL_SSL").await;
    assert!(created.problems.is_empty(), "{:?}", created.problems);
    assert!(created.topics.iter().all(|t| t.partitions == 2));
    let updated = ensure(&config, &prefix, 2, Some(48), "configs over SASL_SSL").await;
    assert_eq!(updated.applied.len(), 5, "{:?}", updated.applied);
    let version = servers
        .migrate(&config)
        .await
        .expect("migrate over verify-full");
    assert_eq!(version, latest_migration());
    servers
        .drop_schema(&config)
        .await
        .expect("drop over verify-full");
    let names: Vec<String> = created.topics.iter().map(|t| t.name.clone()).collect();
    servers
        .delete_topics(&config, &names)
        .await
        .expect("delete over SASL_SSL");

    // The same with a CA that signed nothing here: a clear error, no hang.
    config.kafka.ssl_ca_pem = Some(std::fs::read_to_string(dir.join("other-ca.pem")).expect("ca"));
    let started = std::time::Instant::now();
    let error = servers
        .ensure_topics(&config, &desired_topics(&spec(&prefix, 2, Some(24))))
        .await
        .expect_err("a wrong CA");
    assert!(error.contains("certificate verify failed"), "{error}");
    assert!(!error.contains(password), "the error shows the password");
    assert!(started.elapsed().as_secs() < 30);
}

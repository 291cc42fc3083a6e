//! Everything baedal says to Kafka goes through here: client settings from
//! [`Config`], and the topics the workloads use.

pub use baedal_contract::kafka::client_config;
use baedal_contract::ConnectError;

use crate::config::{Config, TOPICS};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// An idempotent producer with acks=all: no record is lost or doubled by a retry.
pub fn producer_config(config: &Config) -> ClientConfig {
    let mut c = client_config(config);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "10")
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        // The producer's queue bounds the ingest's memory: when it is full,
        // sending waits for deliveries (ingest::send retries QueueFull).
        .set("queue.buffering.max.messages", "200000")
        .set("queue.buffering.max.kbytes", "65536")
        .set(
            "message.timeout.ms",
            MESSAGE_TIMEOUT.as_millis().to_string(),
        );
    c
}

/// How long the producer tries to deliver a record before it counts it
/// as failed (`message.timeout.ms`).
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes a new producer ready to send at once; call it after its first
/// metadata answer (the topic check).
///
/// A producer cannot send before it has a producer ID, and librdkafka asks
/// for one when a metadata answer arrives. The first answer comes from the
/// bootstrap connection, which is then closed in favour of the broker's
/// own; if that one is not up yet, the ID request waits for librdkafka's
/// 500 ms retry timer (about one run in three on a local broker). A second
/// metadata request can only be answered once a broker connection is up,
/// so its answer starts the ID request at once; the answer itself is not
/// needed.
pub fn warm_up<C: ProducerContext>(producer: &BaseProducer<C>, config: &Config) {
    let topic = config.topic(baedal_contract::topics::Topic::Orders.suffix());
    let _ = producer
        .client()
        .fetch_metadata(Some(&topic), Duration::from_secs(2));
}

/// A consumer that starts from the positions stored in Postgres (see
/// `etl::consume`), copies its offsets to Kafka itself after each loaded
/// batch, and holds a bounded prefetch queue.
pub fn consumer_config(config: &Config) -> ClientConfig {
    let mut c = client_config(config);
    c.set("group.id", &config.etl.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "20")
        .set("fetch.max.bytes", "4194304")
        .set("max.partition.fetch.bytes", "1048576")
        // A follower that dies without leaving (SIGKILL, a lost node) gives
        // up its partitions after 10 s rather than the default 45 s.
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "3000")
        // The prefetch queue, the largest buffer of a consumer: 2 MiB at most.
        .set("queued.max.messages.kbytes", "2048")
        .set("queued.min.messages", "10000")
        .set("fetch.queue.backoff.ms", "10")
        // Per-partition lag for /metrics comes from these statistics.
        .set("statistics.interval.ms", "5000");
    c
}

/// The record topics (and the dead-letter topic) the broker does not have.
/// Also the connection check: a broker that cannot be reached, a failed TLS
/// handshake or a refused login is an error naming the brokers and why.
pub fn missing_topics(config: &Config) -> Result<Vec<String>, ConnectError> {
    let metadata = baedal_contract::kafka::metadata(config, None, TOPIC_CHECK_WAIT)?;
    Ok(missing_in(&metadata, config))
}

/// Topics the operator was to provision, missing from the broker where
/// `kafka.create_topics` is false: the ingest and the ETL stop with it.
#[derive(Debug, thiserror::Error)]
#[error(
    "topics {} do not exist, and kafka.create_topics is false: the operator provisions \
     them (see the pipeline's Kafka condition)",
    .0.join(", ")
)]
pub struct TopicsMissing(pub Vec<String>);

/// How long the topic check waits for the broker.
pub const TOPIC_CHECK_WAIT: Duration = Duration::from_secs(10);

/// The record topics `metadata` does not list.
pub fn missing_in(metadata: &Metadata, config: &Config) -> Vec<String> {
    let have: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    TOPICS
        .iter()
        .map(|t| config.topic(t))
        .filter(|n| !have.contains(&n.as_str()))
        .collect()
}

/// Creates the record topics that do not exist yet (for local runs; on
/// Kubernetes the operator provisions them). Returns the topics it created.
pub async fn ensure_topics(config: &Config, partitions: i32) -> Result<Vec<String>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(config).create()?;
    let names: Vec<String> = TOPICS.iter().map(|t| config.topic(t)).collect();
    let new: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let mut created = Vec::new();
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::AdminOp(code))
                    .inspect_err(|_| tracing::error!(topic = %name, "topic creation failed"))
            }
        }
    }
    Ok(created)
}

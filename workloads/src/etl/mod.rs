//! `baedal etl`: Kafka → Postgres (raw, clean, marts) → Redis, exactly once.
//!
//! The consumer is assigned every partition of the record topics at the
//! positions stored in Postgres (`etl_offsets`), never at offsets committed to
//! Kafka. Messages are loaded in batches of `etl.batch_size`; each batch's
//! rows and the next offsets of its partitions are written in one transaction.
//! A crash (even SIGKILL) mid-batch rolls the batch back and the rerun starts
//! from the last committed positions: no row is lost or doubled.
//!
//! In CronJob mode the run ends when every partition has been read to its end
//! (librdkafka's partition-EOF, which follows the fetch high watermark); with
//! `--follow` it keeps consuming and loads whenever a batch fills or a second
//! passes. After loading, the marts are rebuilt and the Redis views refreshed.

mod load;
pub mod marts;
pub mod realtime;

use crate::config::{Config, TOPICS};
use crate::{db, kafka};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use load::Batch;

/// The step that failed: the variants double as metric and log labels.
#[derive(Debug, thiserror::Error)]
pub enum EtlError {
    #[error("connecting to Postgres or migrating: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrating the schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("loading a batch into Postgres: {0}")]
    Load(sqlx::Error),
    #[error("refreshing the marts: {0}")]
    Marts(sqlx::Error),
    #[error("updating Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("a batch commit task failed: {0}")]
    Task(String),
}

/// What one run did.
#[derive(Debug, Default, Serialize)]
pub struct EtlReport {
    /// Messages read (a resume re-reads a few before the stored position).
    pub messages: u64,
    /// Messages loaded for the first time.
    pub new_messages: u64,
    pub batches: u64,
    pub orders_changed: u64,
    pub dead_letters: u64,
    pub malformed: u64,
    pub seconds: f64,
}

/// Logs client errors, except reaching the end of a partition, which is how
/// a run knows it is done, not an error.
struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::error!(%error, reason, "kafka client error");
        }
    }
}

impl ConsumerContext for QuietEof {}

/// Where each assigned partition starts: the stored next offset, or the beginning.
async fn start_positions(
    pool: &PgPool,
    topics: &[String],
) -> Result<BTreeMap<(String, i32), i64>, sqlx::Error> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM etl_offsets WHERE topic = ANY($1)",
    )
    .bind(topics)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
}

/// Runs the ETL until every partition is drained (or forever with `follow`,
/// until `stop` is set).
pub async fn run(
    config: &Config,
    follow: bool,
    stop: &Arc<AtomicBool>,
) -> Result<EtlReport, EtlError> {
    let started = Instant::now();
    let pool = db::migrate(&config.database).await?;
    // Orders loaded since the last successful run started get (re)cached.
    let since: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT max(started_at) FROM etl_runs WHERE finished_at IS NOT NULL")
            .fetch_one(&pool)
            .await?;
    let run_id: i64 = sqlx::query_scalar("INSERT INTO etl_runs DEFAULT VALUES RETURNING run_id")
        .fetch_one(&pool)
        .await?;
    let topics: Vec<String> = TOPICS.iter().map(|t| config.topic(t)).collect();
    let mut report = EtlReport::default();
    if follow {
        let consumer: BaseConsumer<QuietEof> =
            kafka::consumer_config(config).create_with_context(QuietEof)?;
        consume(config, &pool, &consumer, &topics, true, stop, &mut report).await?;
    } else {
        // One consumer per topic, all at once. Each topic's batches still
        // commit in order, with its own offsets, and no two topics write the
        // same rows. (A consumer reads one topic: librdkafka's end-of-
        // partition event names the partition but not the topic.)
        let tasks: Vec<_> = topics
            .iter()
            .map(|topic| {
                let (config, pool, stop, topic) =
                    (config.clone(), pool.clone(), stop.clone(), topic.clone());
                tokio::spawn(async move {
                    let consumer: BaseConsumer<QuietEof> =
                        kafka::consumer_config(&config).create_with_context(QuietEof)?;
                    let mut report = EtlReport::default();
                    let topics = std::slice::from_ref(&topic);
                    consume(&config, &pool, &consumer, topics, false, &stop, &mut report).await?;
                    Ok::<_, EtlError>(report)
                })
            })
            .collect();
        for task in tasks {
            let done = task.await.map_err(|e| EtlError::Task(e.to_string()))??;
            report.merge(done);
        }
    }
    let loaded = started.elapsed();
    // The marts and the order cache read only the clean tables: side by side.
    let (marts, cached) = tokio::join!(
        marts::refresh(&pool),
        realtime::cache_loaded_orders(config, &pool, since)
    );
    marts.map_err(EtlError::Marts)?;
    cached?;
    let marts_done = started.elapsed();
    realtime::refresh_views(config, &pool).await?;
    tracing::debug!(
        load_ms = loaded.as_millis() as u64,
        marts_and_cache_ms = (marts_done - loaded).as_millis() as u64,
        views_ms = (started.elapsed() - marts_done).as_millis() as u64,
        "run phases"
    );
    sqlx::query("UPDATE etl_runs SET finished_at = now(), messages = $2, orders_changed = $3, dead_letters = $4 WHERE run_id = $1")
        .bind(run_id)
        .bind(report.messages as i64)
        .bind(report.orders_changed as i64)
        .bind(report.dead_letters as i64)
        .execute(&pool)
        .await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// How long a run waits without any message or end-of-partition event.
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// Consumes `topics` from their stored positions, loading batch by batch,
/// until every partition is at its end (or, with `follow`, until `stop`).
async fn consume(
    config: &Config,
    pool: &PgPool,
    consumer: &BaseConsumer<QuietEof>,
    topics: &[String],
    follow: bool,
    stop: &AtomicBool,
    report: &mut EtlReport,
) -> Result<(), EtlError> {
    let stored = start_positions(pool, topics)
        .await
        .map_err(EtlError::Load)?;
    let mut assignment = TopicPartitionList::new();
    let mut open: BTreeMap<(String, i32), bool> = BTreeMap::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        for t in metadata.topics() {
            for p in t.partitions() {
                // Resume a little before the stored position: a broker that
                // serves only whole record batches starting at or after the
                // fetch offset (tansu 0.6) would otherwise skip the rest of a
                // batch the last run stopped inside. What is re-read below the
                // stored position is skipped (and every load is idempotent anyway).
                let offset = match stored.get(&(topic.clone(), p.id())) {
                    Some(next) => Offset::Offset((next - config.etl.resume_rewind).max(0)),
                    None => Offset::Beginning,
                };
                assignment.add_partition_offset(topic, p.id(), offset)?;
                open.insert((topic.clone(), p.id()), true);
            }
        }
    }
    if open.is_empty() {
        return Ok(());
    }
    consumer.assign(&assignment)?;
    let single_topic = topics.len() == 1;
    let mut batch = Batch::new();
    let mut in_flight = None;
    let mut last_flush = Instant::now();
    let mut last_event = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // Polling blocks; keep it short and off the async executor's toes.
        let polled = tokio::task::block_in_place(|| consumer.poll(Duration::from_millis(50)));
        if polled.is_some() {
            last_event = Instant::now();
        }
        match polled {
            Some(Ok(message)) => {
                let partition = (message.topic().to_string(), message.partition());
                let loaded = stored
                    .get(&partition)
                    .is_some_and(|next| message.offset() < *next);
                open.insert(partition, true);
                if !loaded {
                    add_message(&mut batch, &message);
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) if single_topic => {
                open.insert((topics[0].clone(), partition), false);
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => return Err(e.into()),
        }
        // A broker that stops answering never signals the end: give up on
        // the rest after STALL_LIMIT of silence (what was read is loaded and
        // the next run resumes from there).
        let stalled = !follow && last_event.elapsed() > STALL_LIMIT;
        if stalled {
            tracing::warn!(
                ?topics,
                "no message or end-of-partition for {STALL_LIMIT:?}; ending the run here"
            );
        }
        let drained = !follow && (stalled || open.values().all(|o| !o));
        let full = batch.len() >= config.etl.batch_size;
        let idle = follow && !batch.is_empty() && last_flush.elapsed() > Duration::from_secs(1);
        if full || idle || drained {
            if !batch.is_empty() {
                // One commit in flight while the next batch is read; batches
                // still commit in order, each with its own offsets.
                settle(in_flight.take(), report).await?;
                let done = std::mem::take(&mut batch);
                let pool = pool.clone();
                in_flight = Some(tokio::spawn(async move { done.commit(&pool).await }));
            }
            last_flush = Instant::now();
            if drained {
                break;
            }
        }
    }
    // The loop ends drained (every batch committed) or stopped (what was read
    // since the last commit is left for the next run to load).
    settle(in_flight.take(), report).await?;
    Ok(())
}

/// Waits for a batch commit and counts what it loaded.
async fn settle(
    commit: Option<tokio::task::JoinHandle<Result<load::LoadStats, sqlx::Error>>>,
    report: &mut EtlReport,
) -> Result<(), EtlError> {
    let Some(handle) = commit else { return Ok(()) };
    let stats = handle
        .await
        .map_err(|e| EtlError::Task(e.to_string()))?
        .map_err(EtlError::Load)?;
    tracing::info!(messages = stats.messages, "batch loaded");
    report.add(stats);
    Ok(())
}

impl EtlReport {
    fn merge(&mut self, other: EtlReport) {
        self.messages += other.messages;
        self.new_messages += other.new_messages;
        self.batches += other.batches;
        self.orders_changed += other.orders_changed;
        self.dead_letters += other.dead_letters;
        self.malformed += other.malformed;
    }

    fn add(&mut self, stats: load::LoadStats) {
        self.messages += stats.messages;
        self.new_messages += stats.new_messages;
        self.orders_changed += stats.orders_changed;
        self.dead_letters += stats.dead_letters;
        self.malformed += stats.malformed;
        self.batches += 1;
    }
}

fn add_message(batch: &mut Batch, message: &BorrowedMessage<'_>) {
    let key = message
        .key()
        .map(|k| String::from_utf8_lossy(k).into_owned());
    batch.add(
        message.topic(),
        message.partition(),
        message.offset(),
        key,
        message.payload().unwrap_or_default(),
    );
}

//! `baedal etl`: Kafka → Postgres (raw, clean, marts) → Redis, exactly once.
//!
//! Messages are loaded in batches of `etl.batch_size`; each batch's rows and
//! the next offsets of its partitions are written in one transaction, and
//! those stored offsets are where reading resumes (see [`consume`]). A crash
//! (even SIGKILL) mid-batch rolls the batch back and the rerun starts from the
//! last committed positions: no row is lost or doubled.
//!
//! A batch run (the CronJob) ends at the high watermarks it saw when it
//! started; `--follow` joins the consumer group and keeps loading whenever a
//! batch fills or a second passes. After a batch run, the marts are rebuilt
//! and the Redis views refreshed.

mod clean;
mod commit;
mod consume;
mod live;
mod load;
pub mod marts;
pub mod models;
pub mod realtime;
mod topic_ids;

use crate::config::{Config, TOPICS};
use crate::db;
use rdkafka::error::KafkaError;
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

pub use consume::EtlMetrics;
pub use load::{Batch, LoadStats};
pub use topic_ids::{MadeAgain, TopicMadeAgain};

/// The step that failed: the variants double as metric and log labels.
#[derive(Debug, thiserror::Error)]
pub enum EtlError {
    #[error("connecting to Postgres or migrating: {0}")]
    Database(sqlx::Error),
    #[error("migrating the schema: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error("kafka: {0}")]
    Kafka(KafkaError),
    #[error("{0}")]
    Connect(baedal_contract::ConnectError),
    #[error("loading a batch into Postgres: {0}")]
    Load(sqlx::Error),
    #[error("refreshing the marts: {0}")]
    Marts(sqlx::Error),
    #[error("fitting the customer models or storing their answers: {0}")]
    Models(sqlx::Error),
    #[error("finding anomalous hours or raising alerts: {0}")]
    Alerts(crate::anomalies::AnomalyError),
    #[error("updating Redis: {0}")]
    Redis(redis::RedisError),
    #[error("a batch commit task failed: {0}")]
    Task(String),
    #[error(
        "a batch was not written to Postgres within {0:?}: the run stops here (nothing of \
         that batch is stored; the next run reads on from the last stored position)"
    )]
    BatchStalled(std::time::Duration),
    #[error("reading the stored positions of newly assigned partitions: {0}")]
    Positions(String),
    #[error(
        "another ETL stored messages this batch run read: run one batch ETL at a time, \
         and not beside followers of the same pipeline"
    )]
    Superseded,
    #[error(
        "another batch ETL holds the lock of schema {schema:?}: batch runs go one at a time; \
         this one exits without loading (the next run reads on from where that one ends)"
    )]
    Locked { schema: String },
    #[error(
        "the positions stored in Postgres are past the end of {0}: the topic was deleted and \
         made again, or lost messages, so its offsets no longer name the messages stored. \
         Nothing is read from those partitions (a run to the end loads the others first); \
         load the topic as it is now into a fresh schema"
    )]
    PositionsPastEnd(PastEnd),
    #[error("reading the topics' IDs from the broker: {0}")]
    TopicIds(String),
    #[error(
        "{0} was deleted and made again since the ETL first read it: its offsets name other \
         messages than the ones stored under them. Nothing is read from it (a run to the end \
         loads the other topics first); load the topic as it is now into a fresh schema"
    )]
    TopicsMadeAgain(MadeAgain),
    #[error("{0}")]
    TopicsMissing(crate::kafka::TopicsMissing),
}

/// Partitions whose stored position is past the broker's end of them.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PastEnd(pub Vec<consume::PositionPastEnd>);

impl std::fmt::Display for PastEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_comma_separated(f, &self.0)
    }
}

/// Writes `items` one after another, separated by ", ".
fn write_comma_separated<T: std::fmt::Display>(
    f: &mut std::fmt::Formatter<'_>,
    items: &[T],
) -> std::fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

// The causes are part of each variant's message, not its `source()`: an
// error chain (`{:#}`) then names each cause once.
impl From<sqlx::Error> for EtlError {
    fn from(e: sqlx::Error) -> Self {
        EtlError::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for EtlError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        EtlError::Migrate(e)
    }
}

impl From<KafkaError> for EtlError {
    fn from(e: KafkaError) -> Self {
        EtlError::Kafka(e)
    }
}

impl From<baedal_contract::ConnectError> for EtlError {
    fn from(e: baedal_contract::ConnectError) -> Self {
        EtlError::Connect(e)
    }
}

impl From<redis::RedisError> for EtlError {
    fn from(e: redis::RedisError) -> Self {
        EtlError::Redis(e)
    }
}

/// The name of the Postgres advisory lock a batch run (a run to the end, or
/// marts only) holds from start to end, one per schema: two batch runs on
/// one database would otherwise race on the same rows and marts.
pub fn batch_lock_name(schema: &str) -> String {
    format!("baedal etl {schema}")
}

/// Takes the batch lock on a connection of its own, held until it is
/// dropped (the session ends, and Postgres releases the lock).
async fn take_batch_lock(
    pool: &sqlx::PgPool,
    schema: &str,
) -> Result<sqlx::PgConnection, EtlError> {
    let mut connection = pool.acquire().await?.detach();
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(batch_lock_name(schema))
        .fetch_one(&mut connection)
        .await?;
    if !taken {
        return Err(EtlError::Locked {
            schema: schema.to_string(),
        });
    }
    Ok(connection)
}

/// What one run did.
#[derive(Debug, Default, Serialize)]
pub struct EtlReport {
    /// What the run's batches wrote, summed.
    #[serde(flatten)]
    pub loaded: LoadStats,
    pub batches: u64,
    pub seconds: f64,
    /// Partitions not read: their stored position is past the broker's end.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub positions_past_end: Vec<consume::PositionPastEnd>,
}

/// What a run reads before it rebuilds the marts and the Redis views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every partition up to the high watermarks seen at the start (the CronJob).
    ToEnd,
    /// As a member of the consumer group, until `stop` (a follower).
    Follow,
    /// Nothing: only the marts and the views (the CronJob beside followers).
    MartsOnly,
}

/// Runs the ETL in `mode`.
pub async fn run(
    config: &Config,
    mode: Mode,
    metrics: &EtlMetrics,
    stop: &Arc<AtomicBool>,
) -> Result<EtlReport, EtlError> {
    let started = Instant::now();
    // Both servers answer, or the run stops here with the reason. Where an
    // operator provisions the topics (`kafka.create_topics` false), a
    // missing one is a fault to report; a local run may start before the
    // first ingest has made them.
    if mode != Mode::MartsOnly {
        let missing = tokio::task::block_in_place(|| crate::kafka::missing_topics(config))?;
        if !missing.is_empty() {
            if !config.kafka.create_topics {
                return Err(EtlError::TopicsMissing(crate::kafka::TopicsMissing(
                    missing,
                )));
            }
            tracing::warn!(
                ?missing,
                "topics not on the broker yet: nothing to read from them"
            );
        }
    }
    let pool = db::migrate(&config.database).await?;
    let _batch_lock = match mode {
        Mode::ToEnd | Mode::MartsOnly => {
            Some(take_batch_lock(&pool, &config.database.schema).await?)
        }
        Mode::Follow => None,
    };
    // Orders loaded since the last successful run started get (re)cached.
    let since: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT max(started_at) FROM etl_runs WHERE finished_at IS NOT NULL")
            .fetch_one(&pool)
            .await?;
    let run_id: i64 = sqlx::query_scalar("INSERT INTO etl_runs DEFAULT VALUES RETURNING run_id")
        .fetch_one(&pool)
        .await?;
    let topics: Vec<String> = TOPICS.iter().map(|t| config.topic(t)).collect();
    // A topic made again since it was first read is not read at all.
    let made_again = match mode {
        Mode::MartsOnly => MadeAgain::default(),
        Mode::ToEnd | Mode::Follow => topic_ids::check(config, &pool, &topics).await?,
    };
    if mode == Mode::Follow && !made_again.0.is_empty() {
        return Err(EtlError::TopicsMadeAgain(made_again));
    }
    let topics: Vec<String> = topics
        .into_iter()
        .filter(|t| !made_again.holds(t))
        .collect();
    let mut report = EtlReport::default();
    if mode == Mode::Follow {
        consume::follow(config, &pool, &topics, metrics, stop, &mut report).await?;
    } else if mode == Mode::ToEnd {
        // Readers per topic, all at once: each takes a share of the topic's
        // partitions and commits its batches in order, with their offsets. A
        // key's records share a partition, so no two readers write one row.
        let readers = config.etl.readers_per_topic.max(1);
        // All of them read at once: each holds a share of the batch memory.
        let batch_bytes =
            consume::batch_bytes_limit(topics.len() * usize::try_from(readers).unwrap_or(1));
        let tasks: Vec<_> = topics
            .iter()
            .flat_map(|topic| {
                (0..readers).map(move |index| {
                    let share = consume::Share {
                        index,
                        of: readers,
                        batch_bytes,
                    };
                    (topic, share)
                })
            })
            .map(|(topic, share)| {
                let (config, pool, stop, topic, metrics) = (
                    config.clone(),
                    pool.clone(),
                    stop.clone(),
                    topic.clone(),
                    metrics.clone(),
                );
                tokio::spawn(async move {
                    let mut report = EtlReport::default();
                    let topics = std::slice::from_ref(&topic);
                    consume::read_to_end(
                        &config,
                        &pool,
                        topics,
                        share,
                        &metrics,
                        &stop,
                        &mut report,
                    )
                    .await?;
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
    // The marts, the customer models and the order cache read only the clean
    // tables: side by side. The anomalies and the forecast's backtest read
    // the hourly mart, and the Redis views the live marts: they follow the
    // live marts, without waiting for the other marts, the models or the
    // cache, one statement at a time (the pool keeps connections free for
    // them: the marts use at most half, the models and the cache one each).
    let marts_then_views = timed(
        "marts and views",
        marts::refresh_then(&pool, EtlError::Marts, async {
            timed(
                "anomalies",
                crate::anomalies::store(&pool, config.alerts.min_orders),
            )
            .await
            .map_err(EtlError::Alerts)?;
            timed("forecast backtest", models::refresh_backtest(&pool))
                .await
                .map_err(EtlError::Models)?;
            timed("views", realtime::refresh_views(config, &pool)).await
        }),
    );
    let (views, models, cached) = tokio::join!(
        marts_then_views,
        timed("models", models::refresh(&pool)),
        timed(
            "order cache",
            realtime::cache_loaded_orders(config, &pool, since)
        )
    );
    views?;
    models.map_err(EtlError::Models)?;
    cached?;
    tracing::debug!(
        load_ms = loaded.as_millis() as u64,
        after_load_ms = (started.elapsed() - loaded).as_millis() as u64,
        "run phases"
    );
    sqlx::query("UPDATE etl_runs SET finished_at = now(), messages = $2, orders_changed = $3, dead_letters = $4 WHERE run_id = $1")
        .bind(run_id)
        .bind(report.loaded.messages as i64)
        .bind(report.loaded.orders_changed as i64)
        .bind(report.loaded.dead_letters as i64)
        .execute(&pool)
        .await?;
    report.seconds = started.elapsed().as_secs_f64();
    if !made_again.0.is_empty() {
        return Err(EtlError::TopicsMadeAgain(made_again));
    }
    if !report.positions_past_end.is_empty() {
        return Err(EtlError::PositionsPastEnd(PastEnd(
            report.positions_past_end,
        )));
    }
    Ok(report)
}

/// Awaits `work`, logging (at debug) how long the step named `step` took.
async fn timed<T>(step: &str, work: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let done = work.await;
    tracing::debug!(step, ms = started.elapsed().as_millis() as u64, "step done");
    done
}

impl EtlReport {
    fn merge(&mut self, other: EtlReport) {
        self.loaded.add(&other.loaded);
        self.batches += other.batches;
        self.positions_past_end.extend(other.positions_past_end);
    }

    fn add(&mut self, stats: &LoadStats) {
        self.loaded.add(stats);
        self.batches += 1;
    }
}

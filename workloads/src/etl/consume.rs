//! Reading the record topics into batches.
//!
//! The positions stored with the rows (`etl_offsets`) are the source of
//! truth; offsets committed to Kafka after each loaded batch are only a copy
//! for lag tooling (the `/metrics` gauge, `kafka-consumer-groups`, KEDA).
//!
//! - A **batch run** (the CronJob) assigns itself every partition at its
//!   stored position and ends when each partition reaches the high watermark
//!   it had when the run started: data that keeps arriving never keeps a run
//!   going.
//! - A **follower** (`--follow`) joins the consumer group `etl.group_id`.
//!   When the group gives it partitions, it reads their stored positions from
//!   Postgres and starts there; when it loses them, it drops what it had not
//!   loaded. A commit that finds some of its messages already stored (another
//!   member loaded them during a rebalance) writes nothing, and the follower
//!   re-reads from the stored positions: no row is lost or doubled.

use super::live::LiveViews;
use super::load::{Batch, Committed, LoadStats};
use super::{EtlError, EtlReport};
use crate::config::Config;
use crate::kafka;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A partition: topic and number.
type Partition = (String, i32);

/// How long a batch run waits without any message before it gives up on the
/// partitions still open (what was read is loaded; the next run resumes).
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// A batch is loaded when it holds `etl.batch_size` messages or
/// [`batch_bytes_limit`] payload bytes, whichever comes first: memory stays
/// bounded whatever the message sizes (a batch in memory is about three
/// times its payloads). This many bytes at most.
pub const MAX_BATCH_BYTES: usize = 4 << 20;

/// The payload bytes the batches of all of a run's readers hold at once,
/// at most: each reader holds the batch it reads and the one it loads, so
/// more readers read smaller batches and the run's memory does not grow
/// with `etl.readers_per_topic`.
const BATCH_BYTES_BUDGET: usize = 48 << 20;

/// A reader's batch limit in payload bytes when `readers` read at once.
pub fn batch_bytes_limit(readers: usize) -> usize {
    (BATCH_BYTES_BUDGET / (2 * readers.max(1))).clamp(1 << 20, MAX_BATCH_BYTES)
}

fn batch_full(batch: &Batch, config: &Config, bytes_limit: usize) -> bool {
    batch.len() >= config.etl.batch_size || batch.payload_bytes() >= bytes_limit
}

/// How long a follower holds a partly filled batch before loading it.
const FOLLOW_FLUSH: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabel {
    topic: String,
    partition: i32,
}

/// The ETL's Prometheus metrics.
#[derive(Clone)]
pub struct EtlMetrics {
    /// Messages on the broker not yet loaded, per partition this process reads.
    lag: Family<PartitionLabel, Gauge>,
    /// A follower: seconds from an order's send to its live views' refresh.
    pub(super) visible: Histogram,
    /// The same, kept for the exit summary (at most [`MAX_SAMPLES`]).
    pub(super) samples: Arc<Mutex<Vec<f64>>>,
}

/// Latencies kept for the exit summary; the histogram has all of them.
const MAX_SAMPLES: usize = 1 << 20;

impl Default for EtlMetrics {
    fn default() -> Self {
        EtlMetrics {
            lag: Family::default(),
            visible: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
            samples: Arc::default(),
        }
    }
}

impl EtlMetrics {
    /// Registers every metric under `baedal_etl_`.
    pub fn register(&self, registry: &mut Registry) {
        baedal_contract::register_metrics!(registry, "baedal_etl", {
            "consumer_lag" => self.lag, "Messages on the broker not yet loaded into Postgres (high watermark minus the loaded position), per partition this process reads";
            "live_latency_seconds" => self.visible, "A follower: seconds from an order's send (its Kafka timestamp) to the refresh of the live views that show it";
        });
    }

    /// Records how long orders took to become visible.
    pub(super) fn observe_visible(&self, seconds: impl Iterator<Item = f64>) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        for s in seconds {
            self.visible.observe(s);
            if samples.len() < MAX_SAMPLES {
                samples.push(s);
            }
        }
    }

    /// Logs the latency percentiles of this process's life (a follower's).
    fn log_latency(&self) {
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if samples.is_empty() {
            return;
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        tracing::info!(
            orders = samples.len(),
            p50_ms = (at(0.5) * 1000.0).round(),
            p99_ms = (at(0.99) * 1000.0).round(),
            "send to live views"
        );
    }
}

/// What the follower's rebalance callback tells its loop.
#[derive(Default)]
struct GroupEvents {
    /// Partitions were taken away: drop the unloaded batch.
    revoked: AtomicBool,
    /// Reading the stored positions of new partitions failed.
    failed: Mutex<Option<String>>,
}

/// The consumers' client context: logs client errors through `tracing`,
/// publishes per-partition lag from librdkafka's statistics and, for a
/// follower, starts each assigned partition at its stored position.
pub struct EtlContext {
    pool: PgPool,
    runtime: tokio::runtime::Handle,
    metrics: EtlMetrics,
    events: Arc<GroupEvents>,
}

impl ClientContext for EtlContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::error!(%error, reason, "kafka client error");
    }

    fn stats(&self, statistics: Statistics) {
        for topic in statistics.topics.values() {
            for partition in topic.partitions.values() {
                let label = PartitionLabel {
                    topic: topic.topic.clone(),
                    partition: partition.partition,
                };
                // -1: not read by this process, or nothing loaded yet.
                if partition.partition >= 0 && partition.consumer_lag >= 0 {
                    self.metrics
                        .lag
                        .get_or_create(&label)
                        .set(partition.consumer_lag);
                } else {
                    self.metrics.lag.remove(&label);
                }
            }
        }
    }
}

impl ConsumerContext for EtlContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let partitions: Vec<Partition> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                let topics: Vec<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
                // Called from inside `poll`, which runs in `block_in_place`.
                match self.runtime.block_on(stored_positions(&self.pool, &topics)) {
                    Ok(stored) => {
                        for (topic, partition) in &partitions {
                            let offset = start_offset(&stored, topic, *partition);
                            if let Err(e) = tpl.set_partition_offset(topic, *partition, offset) {
                                tracing::error!(error = %e, topic, partition, "setting a start offset");
                            }
                        }
                        tracing::info!(partitions = partitions.len(), "partitions assigned");
                    }
                    Err(e) => {
                        let mut failed =
                            self.events.failed.lock().unwrap_or_else(|p| p.into_inner());
                        *failed = Some(e.to_string());
                    }
                }
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(error = %e, "assigning partitions");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = tpl.count(), "partitions revoked");
                self.events.revoked.store(true, Ordering::SeqCst);
                if let Err(e) = consumer.unassign() {
                    tracing::error!(error = %e, "unassigning partitions");
                }
            }
            other => tracing::error!(error = ?other, "consumer group rebalance failed"),
        }
    }
}

impl EtlContext {
    fn new(pool: &PgPool, metrics: &EtlMetrics) -> Self {
        EtlContext {
            pool: pool.clone(),
            runtime: tokio::runtime::Handle::current(),
            metrics: metrics.clone(),
            events: Arc::default(),
        }
    }
}

/// The stored next offset of every partition of `topics`.
async fn stored_positions(
    pool: &PgPool,
    topics: &[String],
) -> Result<BTreeMap<Partition, i64>, sqlx::Error> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM etl_offsets WHERE topic = ANY($1)",
    )
    .bind(topics)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
}

/// A partition whose stored position is past the broker's end of it: the
/// topic was deleted and made again (or lost messages), and its offsets no
/// longer name the messages stored under them. Reading it would skip the
/// new messages up to the stored position, or take them for ones stored, so
/// it is not read, and the run says so (the raw layer is keyed by position).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PositionPastEnd {
    pub topic: String,
    pub partition: i32,
    /// The next offset stored in Postgres.
    pub stored: i64,
    /// The partition's high watermark on the broker.
    pub end: i64,
}

impl std::fmt::Display for PositionPastEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} partition {} (stored {}, the broker's end {})",
            self.topic, self.partition, self.stored, self.end
        )
    }
}

impl PositionPastEnd {
    fn new(topic: &str, partition: i32, stored: i64, end: i64) -> Self {
        tracing::error!(
            topic,
            partition,
            stored,
            end,
            "the stored position is past the partition's end: the topic was made again or \
             lost messages; this partition is not read"
        );
        PositionPastEnd {
            topic: topic.to_string(),
            partition,
            stored,
            end,
        }
    }
}

/// The partitions of `topics` whose stored position is past the broker's
/// end of them (see [`PositionPastEnd`]).
fn positions_past_end<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    stored: &BTreeMap<Partition, i64>,
) -> Result<Vec<PositionPastEnd>, EtlError> {
    let mut past_end = Vec::new();
    for ((topic, partition), &next) in stored {
        let watermarks = tokio::task::block_in_place(|| {
            consumer.fetch_watermarks(topic, *partition, Duration::from_secs(10))
        });
        match watermarks {
            Ok((_, high)) if next > high => {
                past_end.push(PositionPastEnd::new(topic, *partition, next, high))
            }
            Ok(_) => {}
            // A topic not on the broker (deleted, not made again yet) has
            // no end to compare with; the follower waits for it as for
            // any missing topic.
            Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition))
            | Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownPartition))
            | Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopic)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(past_end)
}

fn start_offset(stored: &BTreeMap<Partition, i64>, topic: &str, partition: i32) -> Offset {
    match stored.get(&(topic.to_string(), partition)) {
        Some(next) => Offset::Offset(*next),
        None => Offset::Beginning,
    }
}

type CommitTask = JoinHandle<Result<(Committed, TopicPartitionList), EtlError>>;

/// Loads batches one at a time in the background (one commit in flight
/// while the next batch is read; batches still commit in order).
struct Loader<'a> {
    pool: &'a PgPool,
    in_flight: Option<CommitTask>,
    /// How long one batch may take to write (`etl.batch_timeout_secs`).
    limit: Duration,
}

impl<'a> Loader<'a> {
    fn new(pool: &'a PgPool, config: &Config) -> Self {
        Loader {
            pool,
            in_flight: None,
            limit: Duration::from_secs(config.etl.batch_timeout_secs.max(1)),
        }
    }

    /// Starts loading `batch` (the previous load has settled).
    fn start(&mut self, batch: Batch) -> Result<(), EtlError> {
        if batch.is_empty() {
            return Ok(());
        }
        let offsets = batch.next_offsets_list()?;
        let (pool, limit) = (self.pool.clone(), self.limit);
        self.in_flight = Some(tokio::spawn(async move {
            let committed = tokio::time::timeout(limit, batch.commit(&pool))
                .await
                .map_err(|_| EtlError::BatchStalled(limit))?
                .map_err(EtlError::Load)?;
            Ok((committed, offsets))
        }));
        Ok(())
    }

    /// Waits for the load in flight, counts it and copies its offsets to Kafka.
    async fn settle<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        report: &mut EtlReport,
    ) -> Result<Option<Committed>, EtlError> {
        let Some(handle) = self.in_flight.take() else {
            return Ok(None);
        };
        let (committed, offsets) = handle.await.map_err(|e| EtlError::Task(e.to_string()))??;
        if let Committed::Loaded(stats) = &committed {
            count(stats, report);
            // A copy for lag tooling; the stored positions stay the truth.
            if let Err(e) = consumer.commit(&offsets, CommitMode::Async) {
                tracing::debug!(error = %e, "copying offsets to Kafka");
            }
        }
        Ok(Some(committed))
    }

    fn finished(&self) -> bool {
        self.in_flight.as_ref().is_some_and(|h| h.is_finished())
    }
}

fn count(stats: &LoadStats, report: &mut EtlReport) {
    tracing::info!(messages = stats.messages, "batch loaded");
    report.add(stats);
}

/// Which of a topic's partitions one batch reader takes: those whose number
/// is `index` modulo `of`. Readers of one topic load at once; a key's
/// records share a partition, so no two readers write the same row.
#[derive(Debug, Clone, Copy)]
pub struct Share {
    pub index: i32,
    pub of: i32,
    /// The payload bytes at which the reader loads its batch
    /// ([`batch_bytes_limit`] of the run's readers).
    pub batch_bytes: usize,
}

impl Share {
    fn holds(self, partition: i32) -> bool {
        partition.rem_euclid(self.of.max(1)) == self.index
    }
}

/// A batch run over `topics`: from the stored positions to the high
/// watermarks seen now.
pub async fn read_to_end(
    config: &Config,
    pool: &PgPool,
    topics: &[String],
    share: Share,
    metrics: &EtlMetrics,
    stop: &AtomicBool,
    report: &mut EtlReport,
) -> Result<(), EtlError> {
    let consumer: BaseConsumer<EtlContext> =
        kafka::consumer_config(config).create_with_context(EtlContext::new(pool, metrics))?;
    let stored = stored_positions(pool, topics)
        .await
        .map_err(EtlError::Load)?;
    let mut assignment = TopicPartitionList::new();
    // Next offset to read and the offset to stop at, per partition.
    let mut open: BTreeMap<Partition, (i64, i64)> = BTreeMap::new();
    for topic in topics {
        let metadata = tokio::task::block_in_place(|| {
            consumer.fetch_metadata(Some(topic), Duration::from_secs(10))
        })?;
        for t in metadata.topics() {
            match t.error().map(RDKafkaErrorCode::from) {
                // Not created yet: nothing to read (the run's start said so).
                Some(RDKafkaErrorCode::UnknownTopicOrPartition) => continue,
                Some(code) => return Err(EtlError::Kafka(KafkaError::MetadataFetch(code))),
                None => {}
            }
            for p in t.partitions().iter().filter(|p| share.holds(p.id())) {
                let (low, high) = tokio::task::block_in_place(|| {
                    consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                })?;
                let next = stored.get(&(topic.clone(), p.id())).copied().unwrap_or(low);
                if next > high {
                    report
                        .positions_past_end
                        .push(PositionPastEnd::new(topic, p.id(), next, high));
                    continue;
                }
                if next < high {
                    tracing::debug!(
                        %topic,
                        partition = p.id(),
                        from = next,
                        to = high,
                        "reading to the high watermark seen at the start"
                    );
                    assignment.add_partition_offset(topic, p.id(), Offset::Offset(next))?;
                    open.insert((topic.clone(), p.id()), (next, high));
                }
            }
        }
    }
    if open.is_empty() {
        return Ok(());
    }
    consumer.assign(&assignment)?;
    let mut loader = Loader::new(pool, config);
    let mut batch = Batch::new();
    let mut last_message = Instant::now();
    while !open.is_empty() && !stop.load(Ordering::Relaxed) {
        // Without blocking a runtime thread: several readers share few
        // threads, and a blocked thread makes the runtime start another.
        let polled = consumer.poll(Duration::ZERO);
        if polled.is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match polled {
            Some(Ok(message)) => {
                last_message = Instant::now();
                let partition = (message.topic().to_string(), message.partition());
                if let Some((next, end)) = open.get_mut(&partition) {
                    if message.offset() < *end {
                        add_message(&mut batch, &message);
                    }
                    *next = message.offset() + 1;
                    if *next >= *end {
                        open.remove(&partition);
                    }
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => {
                // Offsets the broker skips (transaction markers) deliver no
                // message: the consumer's position says the partition is done.
                close_passed(&consumer, &mut open)?;
                if last_message.elapsed() > STALL_LIMIT {
                    tracing::warn!(
                        partitions = ?open.keys().collect::<Vec<_>>(),
                        "no message for {STALL_LIMIT:?}; ending the run here"
                    );
                    open.clear();
                }
            }
        }
        if batch_full(&batch, config, share.batch_bytes) || (open.is_empty() && !batch.is_empty()) {
            if let Some(Committed::Superseded) = loader.settle(&consumer, report).await? {
                return Err(EtlError::Superseded);
            }
            loader.start(std::mem::take(&mut batch))?;
        }
    }
    // Ends drained (everything committed) or stopped (what was read since the
    // last commit is left for the next run).
    if let Some(Committed::Superseded) = loader.settle(&consumer, report).await? {
        return Err(EtlError::Superseded);
    }
    Ok(())
}

/// Closes the partitions whose consumer position has reached their end.
fn close_passed<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    open: &mut BTreeMap<Partition, (i64, i64)>,
) -> Result<(), EtlError> {
    let position = consumer.position()?;
    for element in position.elements() {
        if let Offset::Offset(at) = element.offset() {
            let partition = (element.topic().to_string(), element.partition());
            if open.get(&partition).is_some_and(|(_, end)| at >= *end) {
                open.remove(&partition);
            }
        }
    }
    Ok(())
}

/// A follower: a member of the consumer group, loading what its partitions
/// receive until `stop`.
pub async fn follow(
    config: &Config,
    pool: &PgPool,
    topics: &[String],
    metrics: &EtlMetrics,
    stop: &AtomicBool,
    report: &mut EtlReport,
) -> Result<(), EtlError> {
    let context = EtlContext::new(pool, metrics);
    let events = context.events.clone();
    let consumer: BaseConsumer<EtlContext> =
        kafka::consumer_config(config).create_with_context(context)?;
    // A follower reads whatever partitions it is given: it starts only
    // when no stored position is past its partition's end.
    let stored = stored_positions(pool, topics)
        .await
        .map_err(EtlError::Load)?;
    let past_end = positions_past_end(&consumer, &stored)?;
    if !past_end.is_empty() {
        return Err(EtlError::PositionsPastEnd(super::PastEnd(past_end)));
    }
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names)?;
    let mut loader = Loader::new(pool, config);
    let mut batch = Batch::new();
    let mut last_load = Instant::now();
    let mut live = LiveViews::new(config, pool, metrics);
    // Send times (Kafka timestamps, ms) of the orders read and of those in
    // the load in flight: how long each took to reach the live views.
    let orders_topic = config.topic(baedal_contract::topics::Topic::Orders.suffix());
    let (mut reading, mut loading): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let polled = tokio::task::block_in_place(|| consumer.poll(Duration::from_millis(50)));
        if let Some(reason) = events
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(EtlError::Positions(reason));
        }
        if events.revoked.swap(false, Ordering::SeqCst) {
            // Partitions moved: what was not loaded is the new owner's now.
            batch = Batch::new();
            reading.clear();
            if let Some(Committed::Loaded(_)) = loader.settle(&consumer, report).await? {
                live.loaded(std::mem::take(&mut loading));
            }
            loading.clear();
        }
        match polled {
            Some(Ok(message)) => {
                if message.topic() == orders_topic {
                    reading.extend(message.timestamp().to_millis());
                }
                add_message(&mut batch, &message)
            }
            Some(Err(e)) => tracing::warn!(error = %e, "consumer"),
            None => {}
        }
        let full = batch_full(&batch, config, MAX_BATCH_BYTES);
        let idle = !batch.is_empty() && last_load.elapsed() > FOLLOW_FLUSH;
        if full || idle || loader.finished() {
            // A load that found its messages stored by another member first:
            // drop what was read since, and read again from the stored positions.
            match loader.settle(&consumer, report).await? {
                Some(Committed::Superseded) => {
                    batch = Batch::new();
                    reading.clear();
                    loading.clear();
                    rewind(&consumer, pool).await?;
                }
                Some(Committed::Loaded(_)) => live.loaded(std::mem::take(&mut loading)),
                None => {}
            }
        }
        live.refresh_when_due();
        if full || idle {
            last_load = Instant::now();
            loading = std::mem::take(&mut reading);
            loader.start(std::mem::take(&mut batch))?;
        }
    }
    if let Some(Committed::Superseded) = loader.settle(&consumer, report).await? {
        tracing::info!("the last batch was loaded by another member first");
    }
    metrics.log_latency();
    Ok(())
}

/// Seeks every assigned partition back to its stored position.
async fn rewind<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    pool: &PgPool,
) -> Result<(), EtlError> {
    let assignment = consumer.assignment()?;
    let topics: Vec<String> = assignment
        .elements()
        .iter()
        .map(|e| e.topic().to_string())
        .collect();
    let stored = stored_positions(pool, &topics)
        .await
        .map_err(EtlError::Load)?;
    for element in assignment.elements() {
        let offset = start_offset(&stored, element.topic(), element.partition());
        tokio::task::block_in_place(|| {
            consumer.seek(
                element.topic(),
                element.partition(),
                offset,
                Duration::from_secs(10),
            )
        })?;
    }
    tracing::info!(
        partitions = assignment.count(),
        "re-reading from the stored positions"
    );
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_readers_read_smaller_batches_within_one_budget() {
        let topics = crate::config::TOPICS.len();
        // One reader per topic: the largest batches.
        assert_eq!(batch_bytes_limit(topics), MAX_BATCH_BYTES);
        assert_eq!(batch_bytes_limit(1), MAX_BATCH_BYTES);
        // However many per topic, the run's two batches per reader stay
        // within the one budget.
        for per_topic in 1..=4 {
            let readers = per_topic * topics;
            let held = 2 * readers * batch_bytes_limit(readers);
            assert!(held <= BATCH_BYTES_BUDGET, "{per_topic} per topic: {held}");
        }
        assert!(batch_bytes_limit(3 * topics) < batch_bytes_limit(topics));
        // Never below a megabyte, however many readers.
        assert_eq!(batch_bytes_limit(10_000), 1 << 20);
    }
}

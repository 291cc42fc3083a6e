//! `baedal ingest`: every record of the six formats to Kafka, from any
//! [`Source`] (a directory, a file, `file://` or `s3://`).
//!
//! Each record goes, as canonical JSON (the [`Record`] serialisation), to the
//! topic of its kind (`orders`, `messages`, `logs`, `reviews`), keyed by its
//! `order_id` (a record without one by its own id), through an idempotent
//! producer with acks=all. A record that cannot be read goes to the
//! `dead-letter` topic with its file, position and reason, and the run goes on.
//!
//! Modes: `batch` reads every file once in file order; `replay` sends all
//! records in order-time order at a fixed rate, to simulate live traffic.
//! SIGTERM or SIGINT stops reading, flushes what was sent and exits cleanly.

use crate::config::Config;
use crate::kafka;
use crate::model::{DeadLetter, Record};
use crate::readers::{self, RecordError, SourceFormat};
use crate::source::Source;
use baedal_contract::kafka::LastError;
use baedal_contract::topics::Topic;
use baedal_contract::ConnectError;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Read every file once, in file order, as fast as the broker takes it.
    Batch,
    /// Send all records in order-time order at this many records per second.
    Replay { rate: f64 },
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("source {0}: {1}")]
    Source(String, String),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("{failed} records were not acknowledged by the broker")]
    Undelivered { failed: u64 },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabel {
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// The ingest job's Prometheus metrics.
#[derive(Default)]
pub struct IngestMetrics {
    produced: Family<TopicLabel, Counter>,
    dead_letters: Family<ReasonLabel, Counter>,
    delivered: Counter,
    failed: Counter,
}

impl IngestMetrics {
    /// Registers every metric under `baedal_ingest_`.
    pub fn register(&self, registry: &mut Registry) {
        baedal_contract::register_metrics!(registry, "baedal_ingest", {
            "records" => self.produced, "Records sent to Kafka, by topic";
            "dead_letters" => self.dead_letters, "Unreadable records sent to the dead-letter topic, by reason";
            "delivered" => self.delivered, "Records acknowledged by the broker";
            "delivery_failures" => self.failed, "Records the broker did not acknowledge";
        });
    }
}

/// Counts failed deliveries (librdkafka reports only those), and keeps the
/// reason of a failed connection.
struct Deliveries {
    metrics: Arc<IngestMetrics>,
    failed: AtomicU64,
    last_error: LastError,
}

/// Logs as every rdkafka client does, and keeps a failure's reason for the
/// topic check.
impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        DefaultClientContext.log(level, facility, message);
        self.last_error.note_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.last_error.note_error(&error, reason);
        DefaultClientContext.error(error, reason);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    /// Called for failed records only (`delivery.report.only.error`).
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.metrics.failed.inc();
            if self.failed.fetch_add(1, Ordering::Relaxed) < 10 {
                tracing::error!(error = %e, "record not delivered");
            }
        }
    }
}

/// The ingest's producer, connected before anything is read: the topic
/// check goes over its own connection (one connection, and on a TLS broker
/// one handshake, rather than a second client's).
pub struct Producer(BaseProducer<Deliveries>);

impl Producer {
    pub fn connect(config: &Config, metrics: Arc<IngestMetrics>) -> Result<Producer, IngestError> {
        let context = Deliveries {
            metrics,
            failed: AtomicU64::new(0),
            last_error: LastError::default(),
        };
        // Delivery reports for failed records only: librdkafka's flush
        // (see [`Sender::flush`]) can then return as soon as the last
        // record is acknowledged. The records in flight say how many were
        // acknowledged (see [`Sender::count_acknowledged`]).
        let producer = kafka::producer_config(config)
            .set("delivery.report.only.error", "true")
            .create_with_context(context)?;
        Ok(Producer(producer))
    }

    /// The record topics the broker does not have (see
    /// [`kafka::missing_topics`]); the connection check.
    pub fn missing_topics(&self, config: &Config) -> Result<Vec<String>, ConnectError> {
        let p = &self.0;
        let metadata = baedal_contract::kafka::metadata_through(
            p.client(),
            &p.context().last_error,
            config,
            None,
            kafka::TOPIC_CHECK_WAIT,
            || p.poll(Duration::from_millis(50)),
        )?;
        Ok(kafka::missing_in(&metadata, config))
    }
}

/// What one run sent.
#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    pub files: Vec<FileReport>,
    pub records: u64,
    pub dead_letters: u64,
    pub seconds: f64,
    /// True when SIGTERM/SIGINT cut the run short.
    pub interrupted: bool,
}

#[derive(Debug, Serialize)]
pub struct FileReport {
    pub file: String,
    pub format: SourceFormat,
    pub records: u64,
    pub dead_letters: u64,
}

/// The topic a kind of record goes to.
pub fn topic_of(record: &Record) -> Topic {
    match record {
        Record::Order(_) => Topic::Orders,
        Record::Conversation(_) => Topic::Messages,
        Record::LogEvent(_) => Topic::Logs,
        Record::Review(_) => Topic::Reviews,
    }
}

/// The Kafka key: the order id, or the record's own id when it has none.
pub fn key_of(record: &Record) -> String {
    match (record.order_id(), record) {
        (Some(id), _) => id.to_string(),
        (None, Record::Review(r)) => r.review_id.clone(),
        (None, Record::LogEvent(e)) => e.trace_id.clone().unwrap_or_else(|| e.event.clone()),
        (None, _) => String::new(),
    }
}

/// The time a record happened, for replay ordering.
fn event_time(record: &Record) -> i64 {
    match record {
        Record::Order(o) => o.order_time.at.timestamp_millis(),
        Record::Conversation(c) => c.started_at.at.timestamp_millis(),
        Record::LogEvent(e) => e.timestamp.at.timestamp_millis(),
        Record::Review(r) => r.created_at.at.timestamp_millis(),
    }
}

/// One record ready to send: its topic, key and canonical JSON.
struct Outgoing {
    topic: Topic,
    key: String,
    payload: Vec<u8>,
    /// When the record happened (replay order); 0 for dead letters.
    time: i64,
    /// For a dead letter, its reason class (the metric's label).
    dead_letter: Option<&'static str>,
}

/// What the reading thread hands to the sending thread.
enum Read {
    Batch(Vec<Outgoing>),
    File(FileReport),
    Failed(IngestError),
}

/// How long the sender sleeps between looks at its delivery reports when it
/// waits for the broker to make room in a full queue.
const DELIVERY_WAIT: Duration = Duration::from_millis(1);

/// How long one librdkafka flush waits before the failure reports that
/// hold records in the producer are served.
const FLUSH_SLICE: Duration = Duration::from_millis(100);

/// Records per hand-over between the reading and the sending thread; with
/// the channel's [`READ_AHEAD`] batches it bounds what is read ahead.
const BATCH: usize = 512;
const READ_AHEAD: usize = 8;

impl Outgoing {
    fn record(record: &Record, file: &Arc<str>) -> Result<Outgoing, IngestError> {
        Ok(Outgoing {
            topic: topic_of(record),
            key: key_of(record),
            payload: {
                // Most records fit in 1 KiB: one allocation, no regrowth.
                let mut payload = Vec::with_capacity(1024);
                record
                    .write_json(&mut payload)
                    .map_err(|e| IngestError::Source(file.to_string(), e.to_string()))?;
                payload
            },
            time: event_time(record),
            dead_letter: None,
        })
    }

    fn dead_letter(error: &RecordError, file: &Arc<str>) -> Result<Outgoing, IngestError> {
        let letter = DeadLetter {
            file: file.to_string(),
            position: error.position.to_string(),
            reason_class: error.kind.as_str().into(),
            reason: error.reason.clone(),
        };
        Ok(Outgoing {
            topic: Topic::DeadLetter,
            key: file.to_string(),
            payload: serde_json::to_vec(&letter)
                .map_err(|e| IngestError::Source(file.to_string(), e.to_string()))?,
            time: 0,
            dead_letter: Some(error.kind.as_str()),
        })
    }
}

/// Reads every file of `source` in order, serialises each record, and hands
/// them over in batches: parsing runs on its own thread while the caller
/// sends. Ends early when `stop` is set or the receiver is gone.
fn read_source(source: &Source, stop: &AtomicBool, out: &SyncSender<Read>) {
    let mut batch = Vec::with_capacity(BATCH);
    for source_file in &source.files {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let name: Arc<str> = Arc::from(source_file.name.as_str());
        let mut file = FileReport {
            file: name.to_string(),
            format: source_file.format,
            records: 0,
            dead_letters: 0,
        };
        let input = match source.reader(source_file) {
            Ok(input) => input,
            Err(e) => {
                let _ = out.send(Read::Failed(IngestError::Source(
                    name.to_string(),
                    e.to_string(),
                )));
                return;
            }
        };
        let records = readers::read(
            std::path::Path::new(&source_file.name),
            source_file.format,
            input,
        );
        for result in records {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let outgoing = match result {
                Ok(record) => {
                    file.records += 1;
                    Outgoing::record(&record, &name)
                }
                Err(e) => {
                    file.dead_letters += 1;
                    Outgoing::dead_letter(&e, &name)
                }
            };
            match outgoing {
                Ok(outgoing) => batch.push(outgoing),
                Err(e) => {
                    let _ = out.send(Read::Failed(e));
                    return;
                }
            }
            if batch.len() == BATCH
                && out
                    .send(Read::Batch(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(BATCH),
                    )))
                    .is_err()
            {
                return;
            }
        }
        // A file's report follows its last record.
        let done = out
            .send(Read::Batch(std::mem::take(&mut batch)))
            .and_then(|()| out.send(Read::File(file)));
        if done.is_err() {
            return;
        }
    }
}

/// Sends records through one idempotent producer, serving its delivery
/// reports on the sending thread (no polling thread to join at the end).
struct Sender<'a> {
    producer: BaseProducer<Deliveries>,
    /// Per topic: its full name and its sent-records counter, made once
    /// rather than per record.
    topics: std::collections::BTreeMap<Topic, (String, Counter)>,
    metrics: Arc<IngestMetrics>,
    stop: &'a AtomicBool,
    /// Records handed to the producer so far.
    sent: std::cell::Cell<u64>,
    /// Records counted as acknowledged so far (the `delivered` metric).
    acknowledged: std::cell::Cell<u64>,
}

impl Sender<'_> {
    fn send(&self, outgoing: &Outgoing) -> Result<(), IngestError> {
        let (topic, sent) = self
            .topics
            .get(&outgoing.topic)
            .ok_or_else(|| KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopic))?;
        let mut record = BaseRecord::to(topic)
            .key(&outgoing.key)
            .payload(&outgoing.payload);
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                // The queue bounds memory: wait for deliveries to free it.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.wait_for_deliveries();
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        // Serve delivery reports now and then, not per record.
        let sent_so_far = self.sent.get() + 1;
        self.sent.set(sent_so_far);
        if sent_so_far % 128 == 0 {
            self.producer.poll(Duration::ZERO);
        }
        if sent_so_far % 4096 == 0 {
            self.count_acknowledged();
        }
        match outgoing.dead_letter {
            Some(reason) => {
                self.metrics
                    .dead_letters
                    .get_or_create(&ReasonLabel {
                        reason: reason.into(),
                    })
                    .inc();
            }
            None => {
                sent.inc();
            }
        }
        Ok(())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Serves the delivery reports that have arrived, without waiting.
    ///
    /// rdkafka's `poll(timeout)` returns only when the timeout is over,
    /// and below a millisecond it asks librdkafka without waiting: short
    /// polls spin on a core the broker shares. A poll without a timeout
    /// serves at most one event (a delivery report covers a batch), so
    /// this polls until the records in flight stop falling.
    fn serve_deliveries(&self) {
        loop {
            let before = self.producer.in_flight_count();
            self.producer.poll(Duration::ZERO);
            if self.producer.in_flight_count() == before {
                break;
            }
        }
        self.count_acknowledged();
    }

    /// Brings the `delivered` metric up to date: a record that has left
    /// the producer without a failure report was acknowledged.
    fn count_acknowledged(&self) {
        let failed = self.producer.context().failed.load(Ordering::Relaxed);
        let in_flight = u64::try_from(self.producer.in_flight_count()).unwrap_or(0);
        let acknowledged = self.sent.get().saturating_sub(in_flight + failed);
        if let Some(new) = acknowledged.checked_sub(self.acknowledged.get()) {
            self.metrics.delivered.inc_by(new);
            self.acknowledged.set(acknowledged);
        }
    }

    /// Serves what has arrived, then sleeps [`DELIVERY_WAIT`]: the wait
    /// for acknowledgements costs no CPU.
    fn wait_for_deliveries(&self) {
        self.serve_deliveries();
        std::thread::sleep(DELIVERY_WAIT);
    }

    /// Waits until every record is acknowledged (or failed), in
    /// librdkafka's flush (the last batch goes without waiting out
    /// `linger.ms`), in slices of [`FLUSH_SLICE`] with the failure reports
    /// served between them.
    fn flush(&self, timeout: Duration) -> Result<(), IngestError> {
        let deadline = Instant::now() + timeout;
        loop {
            let slice = deadline.saturating_duration_since(Instant::now());
            baedal_contract::librdkafka::flush_now(&self.producer, slice.min(FLUSH_SLICE));
            self.serve_deliveries();
            if self.producer.in_flight_count() == 0 {
                // What was acknowledged since the count above.
                self.count_acknowledged();
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut).into());
            }
        }
    }
}

/// Runs an ingest. `stop` ends it early (set by SIGTERM in the CLI);
/// `progress` is given the records sent since its last call, for progress
/// display: once per hand-over batch in batch mode, per record in a replay
/// (not per record in batch mode: a progress bar takes the time and a lock
/// on each update, a few percent of the ingest's CPU).
pub fn run(
    config: &Config,
    Producer(producer): Producer,
    source: &Source,
    mode: Mode,
    stop: &AtomicBool,
    progress: &dyn Fn(u64),
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    kafka::warm_up(&producer, config);
    let metrics = producer.context().metrics.clone();
    let topics = Topic::ALL
        .into_iter()
        .map(|topic| {
            let counter = metrics
                .produced
                .get_or_create(&TopicLabel {
                    topic: topic.suffix().to_string(),
                })
                .clone();
            (topic, (config.topic(topic.suffix()), counter))
        })
        .collect();
    let sender = Sender {
        producer,
        topics,
        metrics,
        stop,
        sent: std::cell::Cell::new(0),
        acknowledged: std::cell::Cell::new(0),
    };
    let mut report = IngestReport::default();
    let mut replay: Vec<Outgoing> = Vec::new();

    std::thread::scope(|scope| -> Result<(), IngestError> {
        let (tx, rx) = sync_channel(READ_AHEAD);
        scope.spawn(move || read_source(source, stop, &tx));
        // Dropping the receiver on an error ends the reading thread.
        for read in rx {
            match read {
                Read::Batch(batch) => {
                    let mut sent = 0;
                    for outgoing in batch {
                        if sender.stopped() {
                            break;
                        }
                        // A replay sends records in time order once all are
                        // read; dead letters (and a batch run) go at once.
                        if matches!(mode, Mode::Replay { .. }) && outgoing.dead_letter.is_none() {
                            replay.push(outgoing);
                        } else {
                            sender.send(&outgoing)?;
                            sent += 1;
                        }
                    }
                    progress(sent);
                }
                Read::File(file) => {
                    report.records += file.records;
                    report.dead_letters += file.dead_letters;
                    report.files.push(file);
                }
                Read::Failed(e) => return Err(e),
            }
        }
        Ok(())
    })?;

    if let Mode::Replay { rate } = mode {
        // Stable sort: records of the same instant keep their file order.
        replay.sort_by_key(|o| o.time);
        let start = Instant::now();
        for (i, outgoing) in replay.iter().enumerate() {
            if sender.stopped() {
                break;
            }
            let due = start + Duration::from_secs_f64(i as f64 / rate.max(0.001));
            if due > Instant::now() {
                // Serve delivery reports while waiting, then sleep.
                sender.serve_deliveries();
                if let Some(left) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(left);
                }
            }
            sender.send(outgoing)?;
            progress(1);
        }
    }

    report.interrupted = sender.stopped();
    // A record the broker does not take fails when its message timeout is
    // over: the flush waits a little longer, so that it is counted as
    // undelivered rather than the flush timing out first.
    let flushed = sender.flush(kafka::MESSAGE_TIMEOUT + Duration::from_secs(5));
    let failed = sender.producer.context().failed.load(Ordering::Relaxed);
    if failed == 0 {
        flushed?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    if failed > 0 {
        return Err(IngestError::Undelivered { failed });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generated dataset, all six files, in a directory of its own.
    fn dataset(seed: u64, scale: f64) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        crate::datagen::generate(
            &crate::datagen::Options {
                seed,
                scale,
                out: dir.path().into(),
                names: crate::datagen::FileNames::Canonical,
            },
            &|| {},
        )
        .unwrap();
        dir
    }

    #[test]
    fn records_are_sent_as_the_bytes_serde_json_writes_and_read_back_alike() {
        let dir = dataset(7, 0.01);
        let source = Source::open(&dir.path().display().to_string()).unwrap();
        let mut kinds = std::collections::BTreeSet::new();
        for file in &source.files {
            let records = readers::read(
                std::path::Path::new(&file.name),
                file.format,
                source.reader(file).unwrap(),
            );
            for mut record in records.flatten() {
                if let Record::Order(order) = &mut record {
                    // Every class of character JSON escapes, beside text that it does not.
                    order.customer_name =
                        Some("김 \"q\" \\ \n\r\t \u{1}\u{1f} \u{7f} \u{2028} 끝".into());
                }
                let mut ours = Vec::new();
                record.write_json(&mut ours).unwrap();
                // The ETL reads them back as serde_json does, whatever
                // the keys' order (a Value's are sorted: the tag is not first).
                let read: Record = serde_json::from_slice(&ours).unwrap();
                assert_eq!(Record::from_json(&ours).unwrap(), read);
                let value: serde_json::Value = serde_json::from_slice(&ours).unwrap();
                let reordered = serde_json::to_vec(&value).unwrap();
                assert!(!reordered.starts_with(b"{\"kind\""), "{value}");
                assert_eq!(Record::from_json(&reordered).unwrap(), read);
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    serde_json::to_string(&record).unwrap()
                );
                kinds.insert(record.kind());
            }
        }
        // Every kind of record went through both.
        assert_eq!(kinds.len(), 4, "{kinds:?}");
    }

    #[test]
    fn sources_resolve_from_paths_and_file_uris_and_refuse_other_schemes() {
        let dir = dataset(1, 0.001);
        let local = Source::open(&dir.path().display().to_string()).unwrap();
        let uri = Source::open(&format!("file://{}", dir.path().display())).unwrap();
        assert_eq!(local.files.len(), 6);
        let names = |s: &Source| {
            s.files
                .iter()
                .map(|f| (f.name.clone(), f.format))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&local), names(&uri));
        // The same bytes through both paths.
        for (a, b) in local.files.iter().zip(&uri.files) {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            local.reader(a).unwrap().read_to_end(&mut x).unwrap();
            uri.reader(b).unwrap().read_to_end(&mut y).unwrap();
            assert!(x == y && !x.is_empty(), "{}", a.name);
        }
        let one = Source::open(&format!("file://{}/orders.xml", dir.path().display())).unwrap();
        assert_eq!(
            (one.files.len(), one.files[0].format),
            (1, SourceFormat::Xml)
        );
        assert!(Source::open("ftp://host/x")
            .err()
            .is_some_and(|e| e.to_string().contains("ftp://")));
        assert!(Source::open("/nonexistent/dir").is_err());
    }
}

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
use crate::model::Record;
use crate::readers::{self, RecordError, SourceFormat};
use crate::source::Source;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "baedal_ingest_records",
            "Records sent to Kafka, by topic",
            self.produced.clone(),
        );
        registry.register(
            "baedal_ingest_dead_letters",
            "Unreadable records sent to the dead-letter topic, by reason",
            self.dead_letters.clone(),
        );
        registry.register(
            "baedal_ingest_delivered",
            "Records acknowledged by the broker",
            self.delivered.clone(),
        );
        registry.register(
            "baedal_ingest_delivery_failures",
            "Records the broker did not acknowledge",
            self.failed.clone(),
        );
    }
}

/// Counts delivery reports.
struct Deliveries {
    metrics: Arc<IngestMetrics>,
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.metrics.delivered.inc();
            }
            Err((e, _)) => {
                self.metrics.failed.inc();
                if self.failed.fetch_add(1, Ordering::Relaxed) < 10 {
                    tracing::error!(error = %e, "record not delivered");
                }
            }
        }
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

/// The dead-letter record: where and why a source record could not be read.
#[derive(Serialize)]
struct DeadLetter<'a> {
    file: &'a str,
    position: String,
    reason_class: &'a str,
    reason: &'a str,
}

/// The topic (suffix) for a kind of record.
pub fn topic_of(record: &Record) -> &'static str {
    match record {
        Record::Order(_) => "orders",
        Record::Conversation(_) => "messages",
        Record::LogEvent(_) => "logs",
        Record::Review(_) => "reviews",
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

struct Sender<'a> {
    producer: ThreadedProducer<Deliveries>,
    /// Per record kind: its topic's full name and its sent-records counter,
    /// made once rather than per record.
    topics: std::collections::BTreeMap<&'static str, (String, Counter)>,
    metrics: Arc<IngestMetrics>,
    stop: &'a AtomicBool,
}

impl Sender<'_> {
    fn send(&self, topic: &str, key: &str, payload: &[u8], file: &str) -> Result<(), IngestError> {
        let topic = self
            .topics
            .get(topic)
            .map_or(topic, |(name, _)| name.as_str());
        let headers = OwnedHeaders::new().insert(Header {
            key: "source",
            value: Some(file),
        });
        let mut record = BaseRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    fn record(&self, record: &Record, file: &str) -> Result<(), IngestError> {
        let payload = serde_json::to_vec(record)
            .map_err(|e| IngestError::Source(file.into(), e.to_string()))?;
        let topic = topic_of(record);
        self.send(topic, &key_of(record), &payload, file)?;
        if let Some((_, sent)) = self.topics.get(topic) {
            sent.inc();
        }
        Ok(())
    }

    fn dead_letter(&self, error: &RecordError, file: &str) -> Result<(), IngestError> {
        let letter = DeadLetter {
            file,
            position: error.position.to_string(),
            reason_class: error.kind.as_str(),
            reason: &error.reason,
        };
        let payload = serde_json::to_vec(&letter)
            .map_err(|e| IngestError::Source(file.into(), e.to_string()))?;
        self.send("dead-letter", file, &payload, file)?;
        self.metrics
            .dead_letters
            .get_or_create(&ReasonLabel {
                reason: error.kind.as_str().into(),
            })
            .inc();
        Ok(())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Runs an ingest. `stop` ends it early (set by SIGTERM in the CLI); `tick`
/// is called per record for progress display.
pub fn run(
    config: &Config,
    source: &Source,
    mode: Mode,
    metrics: Arc<IngestMetrics>,
    stop: &AtomicBool,
    tick: &dyn Fn(),
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let context = Deliveries {
        metrics: metrics.clone(),
        failed: AtomicU64::new(0),
    };
    let producer: ThreadedProducer<Deliveries> =
        kafka::producer_config(config).create_with_context(context)?;
    // Learn every topic's partition leaders before the first record, so a
    // topic first written mid-run (dead letters) does not stall the queue.
    for topic in crate::config::TOPICS {
        producer
            .client()
            .fetch_metadata(Some(&config.topic(topic)), Duration::from_secs(10))?;
    }
    let topics = crate::config::TOPICS
        .iter()
        .map(|kind| {
            let counter = metrics
                .produced
                .get_or_create(&TopicLabel {
                    topic: (*kind).to_string(),
                })
                .clone();
            (*kind, (config.topic(kind), counter))
        })
        .collect();
    let sender = Sender {
        producer,
        topics,
        metrics,
        stop,
    };
    let mut report = IngestReport::default();
    let mut replay: Vec<(i64, Record, Arc<str>)> = Vec::new();

    for source_file in &source.files {
        if sender.stopped() {
            break;
        }
        let name: Arc<str> = Arc::from(source_file.name.as_str());
        let mut file = FileReport {
            file: name.to_string(),
            format: source_file.format,
            records: 0,
            dead_letters: 0,
        };
        let input = source
            .reader(source_file)
            .map_err(|e| IngestError::Source(name.to_string(), e.to_string()))?;
        let records = readers::read(
            std::path::Path::new(&source_file.name),
            source_file.format,
            input,
        );
        for result in records {
            if sender.stopped() {
                break;
            }
            match result {
                Ok(record) => {
                    file.records += 1;
                    match mode {
                        Mode::Batch => {
                            sender.record(&record, &name)?;
                            tick();
                        }
                        Mode::Replay { .. } => {
                            replay.push((event_time(&record), record, name.clone()))
                        }
                    }
                }
                Err(e) => {
                    file.dead_letters += 1;
                    sender.dead_letter(&e, &name)?;
                    tick();
                }
            }
        }
        report.records += file.records;
        report.dead_letters += file.dead_letters;
        report.files.push(file);
    }

    if let Mode::Replay { rate } = mode {
        // Stable sort: records of the same instant keep their file order.
        replay.sort_by_key(|(t, _, _)| *t);
        let start = Instant::now();
        for (i, (_, record, file)) in replay.iter().enumerate() {
            if sender.stopped() {
                break;
            }
            let due = start + Duration::from_secs_f64(i as f64 / rate.max(0.001));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            sender.record(record, file)?;
            tick();
        }
    }

    report.interrupted = sender.stopped();
    sender.producer.flush(Duration::from_secs(60))?;
    let failed = sender.producer.context().failed.load(Ordering::Relaxed);
    report.seconds = started.elapsed().as_secs_f64();
    if failed > 0 {
        return Err(IngestError::Undelivered { failed });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_resolve_from_paths_and_file_uris_and_refuse_other_schemes() {
        let dir = tempfile::tempdir().unwrap();
        crate::datagen::generate(
            &crate::datagen::Options {
                seed: 1,
                scale: 0.001,
                out: dir.path().into(),
                names: crate::datagen::FileNames::Canonical,
            },
            &|| {},
        )
        .unwrap();
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

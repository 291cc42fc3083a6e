//! The near-limit producer: what `kcat -P -K '\t' -l FILE` does, with the
//! librdkafka baedal links. Reads `key<TAB>value` lines (pre-serialised, not
//! timed), then produces them as fast as the broker takes them with the same
//! settings as `baedal ingest` (idempotent, acks=all, linger.ms=10), and
//! prints `records seconds`. scripts/bench-pipeline.sh uses it where the
//! system kcat cannot talk to the broker (Debian's kcat bundles librdkafka
//! 2.0.2, whose ApiVersions request tansu 0.6 does not answer).
//!
//! `cargo bench -p baedal-workloads --bench produce -- <bootstrap> <topic> <file>`

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [bootstrap, topic, file] = args.as_slice() else {
        return Err("usage: produce <bootstrap> <topic> <key\\tvalue file>".into());
    };
    let text = std::fs::read_to_string(file)?;
    let lines: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once('\t')).collect();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "10")
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "500000")
        .create()?;
    let start = Instant::now();
    for (key, value) in &lines {
        let mut record = BaseRecord::to(topic).key(*key).payload(*value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    producer.flush(Duration::from_secs(60))?;
    println!("{} {}", lines.len(), start.elapsed().as_secs_f64());
    Ok(())
}

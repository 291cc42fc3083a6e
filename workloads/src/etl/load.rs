//! One batch of consumed messages, loaded into Postgres in one transaction:
//! raw rows and most clean rows by COPY, the rest by array (`UNNEST`)
//! inserts, and the offsets.

use super::clean::{
    insert_conversations, insert_dead_letters, insert_log_events, insert_reviews, upsert_orders,
};
use crate::db::UnnestInsert;
use crate::model::{Conversation, DeadLetter, LogEvent, Order, Record, Review};
use baedal_contract::topics::Topic;
use sqlx::PgPool;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// Appends `value` in COPY's text format (backslash escapes). The runs
/// between escapes are copied whole: most values (every compact JSON
/// payload) have none.
fn copy_field(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    // Most values have nothing to escape: one pass that looks at every
    // byte (no early exit, so it vectorises), then one copy.
    let plain = !bytes.iter().fold(false, |found, b| {
        found | matches!(b, b'\\' | b'\n' | b'\r' | b'\t')
    });
    if plain {
        out.extend_from_slice(bytes);
        return;
    }
    let mut run_start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..i]);
        out.extend_from_slice(escaped);
        run_start = i + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
}

/// One row of COPY text, field by field.
pub(super) struct CopyRow<'a>(&'a mut Vec<u8>, bool);

impl<'a> CopyRow<'a> {
    pub(super) fn new(out: &'a mut Vec<u8>) -> Self {
        CopyRow(out, false)
    }

    fn separate(&mut self) {
        if self.1 {
            self.0.push(b'\t');
        }
        self.1 = true;
    }

    pub(super) fn text(&mut self, value: Option<&str>) {
        self.separate();
        match value {
            Some(v) => copy_field(self.0, v),
            None => self.0.extend_from_slice(b"\\N"),
        }
    }

    pub(super) fn value<T: std::fmt::Display>(&mut self, value: Option<T>) {
        self.separate();
        match value {
            // Writing to a vector cannot fail.
            Some(v) => {
                let _ = write!(self.0, "{v}");
            }
            None => self.0.extend_from_slice(b"\\N"),
        }
    }

    pub(super) fn end(&mut self) {
        self.0.push(b'\n');
    }
}

/// How one column's field is written from a row `R`.
pub(super) type WriteField<R> = fn(&R, &mut CopyRow<'_>);

/// The columns of a COPY into `table`, each named beside how its field is
/// written from a row: the statement's column list and the fields of each
/// row come from the same list, so they cannot disagree in order.
pub(super) struct CopyColumns<R, const N: usize> {
    pub(super) table: &'static str,
    pub(super) columns: [(&'static str, WriteField<R>); N],
}

impl<R, const N: usize> CopyColumns<R, N> {
    /// `COPY table (a, b, …) FROM STDIN`.
    pub(super) fn statement(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        format!("COPY {} ({}) FROM STDIN", self.table, names.join(", "))
    }

    /// Appends `row` as one line of COPY text.
    pub(super) fn write(&self, out: &mut Vec<u8>, row: &R) {
        let mut line = CopyRow::new(out);
        for (_, field) in &self.columns {
            field(row, &mut line);
        }
        line.end();
    }
}

/// A raw-layer row: the message at an index of a batch's [`Raw`].
type RawRow<'a> = (&'a Raw, usize);

fn raw_columns<'a>() -> CopyColumns<RawRow<'a>, 6> {
    CopyColumns {
        table: "raw_records",
        columns: [
            ("topic", |(raw, i), row| row.text(Some(&raw.topic[*i]))),
            ("partition", |(raw, i), row| {
                row.value(Some(raw.partition[*i]))
            }),
            ("\"offset\"", |(raw, i), row| {
                row.value(Some(raw.offset[*i]))
            }),
            ("kind", |(raw, i), row| row.text(Some(&raw.kind[*i]))),
            ("record_key", |(raw, i), row| {
                row.text(raw.key[*i].as_deref())
            }),
            ("payload", |(raw, i), row| {
                row.text(Some(&raw_payload(&raw.kind[*i], &raw.payload[*i])))
            }),
        ],
    }
}

#[derive(Default)]
struct Raw {
    topic: Vec<String>,
    partition: Vec<i32>,
    offset: Vec<i64>,
    kind: Vec<String>,
    key: Vec<Option<String>>,
    /// The message as it came (a batch is rebuilt from these when split).
    payload: Vec<Vec<u8>>,
}

impl Raw {
    /// The rows as COPY text: tab-separated fields, one line per message.
    fn copy_text(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.iter().map(|p| p.len() + 64).sum());
        let columns = raw_columns();
        for i in 0..self.offset.len() {
            columns.write(&mut out, &(self, i));
        }
        out
    }
}

/// A message's payload as the raw layer keeps it: a malformed one as a JSON
/// string, so nothing is lost; a valid one verbatim but for `\u0000`, the
/// one thing Postgres refuses in a `json` value.
fn raw_payload<'p>(kind: &str, payload: &'p [u8]) -> Cow<'p, str> {
    let text = match simdutf8::basic::from_utf8(payload) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(payload),
    };
    if kind == MALFORMED {
        Cow::Owned(serde_json::Value::String(text.replace('\0', "")).to_string())
    } else if memchr::memmem::find(payload, b"\\u0000").is_some() {
        Cow::Owned(text.replace("\\u0000", ""))
    } else {
        text
    }
}

/// The raw-layer kind of a payload that is not what its topic carries.
const MALFORMED: &str = "malformed";

/// Messages consumed since the last commit.
#[derive(Default)]
pub struct Batch {
    raw: Raw,
    /// Per order id, the version with the latest `updated_at` in this batch.
    orders: HashMap<String, (Order, String)>,
    conversations: HashMap<String, Conversation>,
    log_events: HashMap<i64, LogEvent>,
    reviews: HashMap<String, Review>,
    dead: Vec<(String, i32, i64, DeadLetter)>,
    payload_bytes: usize,
    /// Next offset per partition, written with the rows.
    offsets: BTreeMap<(String, i32), i64>,
    malformed: u64,
}

/// How a batch commit ended.
#[derive(Debug)]
pub enum Committed {
    /// The batch and its offsets are stored.
    Loaded(LoadStats),
    /// Another loader stored some of these messages first (a consumer-group
    /// rebalance moved a partition while this batch was in flight): nothing
    /// was written, and the loader re-reads from the stored positions.
    Superseded,
}

/// What a commit wrote.
#[derive(Debug, Default, serde::Serialize)]
pub struct LoadStats {
    /// Messages in the batch.
    pub messages: u64,
    /// Of those, messages not loaded before (a resume re-reads a few).
    pub new_messages: u64,
    pub orders_changed: u64,
    pub dead_letters: u64,
    pub malformed: u64,
    /// Messages Postgres refused, stored as dead letters instead.
    pub unstorable: u64,
}

impl LoadStats {
    /// Adds another commit's counts.
    pub fn add(&mut self, other: &LoadStats) {
        self.messages += other.messages;
        self.new_messages += other.new_messages;
        self.orders_changed += other.orders_changed;
        self.dead_letters += other.dead_letters;
        self.malformed += other.malformed;
        self.unstorable += other.unstorable;
    }
}

/// A stable 64-bit content hash (FNV-1a) of a log event's canonical JSON.
fn event_hash(payload: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in payload {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.raw.offset.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.offset.is_empty()
    }

    /// Payload bytes in the batch (what its memory grows with).
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// The next offset of each partition in the batch, as Kafka commits them.
    pub fn next_offsets_list(&self) -> rdkafka::error::KafkaResult<rdkafka::TopicPartitionList> {
        let mut list = rdkafka::TopicPartitionList::new();
        for ((topic, partition), next) in &self.offsets {
            list.add_partition_offset(topic, *partition, rdkafka::Offset::Offset(*next))?;
        }
        Ok(list)
    }

    /// Adds one message. A payload that is not what its topic carries is kept
    /// in the raw layer as `malformed` and counted; it never stops the load.
    pub fn add(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<String>,
        payload: &[u8],
    ) {
        let kind = if topic.ends_with(Topic::DeadLetter.suffix()) {
            match serde_json::from_slice::<DeadLetter>(payload) {
                Ok(letter) => {
                    self.dead
                        .push((topic.to_string(), partition, offset, letter));
                    "dead_letter"
                }
                Err(_) => MALFORMED,
            }
        } else {
            match Record::from_json(payload) {
                Ok(record) => {
                    let kind = record.kind();
                    self.add_record(topic, record, payload);
                    kind
                }
                Err(_) => MALFORMED,
            }
        };
        self.payload_bytes += payload.len();
        if kind == MALFORMED {
            self.malformed += 1;
        }
        self.raw.topic.push(topic.to_string());
        self.raw.partition.push(partition);
        self.raw.offset.push(offset);
        self.raw.kind.push(kind.to_string());
        self.raw.key.push(key);
        self.raw.payload.push(payload.to_vec());
        let next = self
            .offsets
            .entry((topic.to_string(), partition))
            .or_insert(0);
        *next = (*next).max(offset + 1);
    }

    fn add_record(&mut self, topic: &str, record: Record, payload: &[u8]) {
        match record {
            Record::Order(order) => match self.orders.get(order.order_id.as_str()) {
                Some((held, _)) if !order.supersedes(held) => {}
                _ => {
                    self.orders
                        .insert(order.order_id.to_string(), (order, topic.to_string()));
                }
            },
            Record::Conversation(c) => {
                self.conversations
                    .entry(c.conversation_id.clone())
                    .or_insert(c);
            }
            Record::LogEvent(e) => {
                self.log_events.entry(event_hash(payload)).or_insert(e);
            }
            Record::Review(r) => {
                self.reviews.entry(r.review_id.clone()).or_insert(r);
            }
        }
    }

    /// Writes the batch and its offsets in one transaction (see
    /// [`Batch::commit`] for what happens when that fails).
    pub(super) async fn write(&self, pool: &PgPool) -> Result<Committed, sqlx::Error> {
        let started = std::time::Instant::now();
        let mut tx = pool.begin().await?;
        let r = &self.raw;
        // COPY, not INSERT: the raw layer is most of the bytes. Messages below
        // a partition's stored position are skipped before they reach a
        // batch (etl::consume), so a key conflict here means another loader
        // stored some of them first (it waits for that loader's commit):
        // nothing of this batch is written, nothing is doubled.
        let mut copy = tx.copy_in_raw(&raw_columns().statement()).await?;
        copy.send(r.copy_text()).await?;
        let new_messages = match copy.finish().await {
            Ok(n) => n,
            Err(e) if is_raw_key_conflict(&e) => return Ok(Committed::Superseded),
            Err(e) => return Err(e),
        };
        let raw_done = started.elapsed();
        let orders_changed = upsert_orders(&mut tx, &self.orders).await?;
        let orders_done = started.elapsed();
        insert_conversations(&mut tx, &self.conversations).await?;
        insert_log_events(&mut tx, &self.log_events).await?;
        insert_reviews(&mut tx, &self.reviews).await?;
        let dead_letters = insert_dead_letters(&mut tx, &self.dead).await?;
        store_offsets(&mut tx, &self.offsets).await?;
        let rows_done = started.elapsed();
        tx.commit().await?;
        tracing::debug!(
            raw_ms = raw_done.as_millis() as u64,
            orders_ms = (orders_done - raw_done).as_millis() as u64,
            other_ms = (rows_done - orders_done).as_millis() as u64,
            commit_ms = (started.elapsed() - rows_done).as_millis() as u64,
            "batch written"
        );
        Ok(Committed::Loaded(LoadStats {
            messages: self.raw.offset.len() as u64,
            new_messages,
            orders_changed,
            dead_letters,
            malformed: self.malformed,
            unstorable: 0,
        }))
    }

    /// A batch of messages `range` of this one, read again from their payloads.
    pub(super) fn slice(&self, range: std::ops::Range<usize>) -> Batch {
        let r = &self.raw;
        let mut part = Batch::new();
        for i in range {
            part.add(
                &r.topic[i],
                r.partition[i],
                r.offset[i],
                r.key[i].clone(),
                &r.payload[i],
            );
        }
        part
    }

    /// Stores message `i` alone as unstorable: its raw row (the payload as a
    /// JSON string), a dead letter with Postgres's reason and the message's
    /// Kafka position, and its offset. Nothing of it reaches the clean tables.
    pub(super) async fn write_unstorable(
        &self,
        pool: &PgPool,
        i: usize,
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        let r = &self.raw;
        let (topic, partition, offset) = (&r.topic[i], r.partition[i], r.offset[i]);
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO raw_records (topic, partition, \"offset\", kind, record_key, payload)
             VALUES ($1, $2, $3, 'unstorable', $4, $5::json) ON CONFLICT DO NOTHING",
        )
        .bind(topic)
        .bind(partition)
        .bind(offset)
        .bind(r.key[i].as_deref().map(|k| k.replace('\0', "")))
        .bind(raw_payload(MALFORMED, &r.payload[i]))
        .execute(&mut *tx)
        .await?;
        let letter = DeadLetter {
            file: format!("kafka {topic}"),
            position: format!("partition {partition} offset {offset}"),
            reason_class: UNSTORABLE.into(),
            reason: format!("Postgres refused the record: {}", reason.replace('\0', "")),
        };
        insert_dead_letters(&mut tx, &[(topic.clone(), partition, offset, letter)]).await?;
        let next = BTreeMap::from([((topic.clone(), partition), offset + 1)]);
        store_offsets(&mut tx, &next).await?;
        tx.commit().await
    }
}

/// The dead-letter reason class of a record Postgres refused.
pub const UNSTORABLE: &str = "unstorable";

/// Stores the next offset of each partition (never moving one back).
async fn store_offsets(
    tx: &mut Tx<'_>,
    offsets: &BTreeMap<(String, i32), i64>,
) -> Result<(), sqlx::Error> {
    let offsets: Vec<(&(String, i32), &i64)> = offsets.iter().collect();
    UnnestInsert::new("etl_offsets", &offsets)
        .column("topic", |((topic, _), _)| topic.as_str())
        .column("partition", |((_, partition), _)| *partition)
        .column("next_offset", |(_, next)| **next)
        .execute(
            "ON CONFLICT (topic, partition) DO UPDATE
             SET next_offset = GREATEST(etl_offsets.next_offset, EXCLUDED.next_offset), updated_at = now()",
            &mut **tx,
        )
        .await?;
    Ok(())
}

/// The constraint a unique violation broke, when `error` is one.
pub(super) fn broken_unique_constraint(error: &sqlx::Error) -> Option<&str> {
    error
        .as_database_error()
        .filter(|e| e.is_unique_violation())
        .and_then(|e| e.constraint())
}

/// A unique violation of `raw_records`' key (topic, partition, offset).
fn is_raw_key_conflict(error: &sqlx::Error) -> bool {
    broken_unique_constraint(error).is_some_and(|c| c.starts_with("raw_records"))
}

pub(super) type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// Copies `rows` (COPY text) with `sql` (`COPY … FROM STDIN`), if there are
/// any: for plain inserts, a page of rows at a time where an `INSERT …
/// SELECT` inserts (and logs) row by row.
pub(super) async fn copy_rows(
    tx: &mut Tx<'_>,
    sql: &str,
    rows: Vec<u8>,
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut copy = tx.copy_in_raw(sql).await?;
    copy.send(rows).await?;
    copy.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_would_read_as_structure() {
        let mut out = Vec::new();
        copy_field(&mut out, "a\\b\tc\nd\re");
        assert_eq!(out, b"a\\\\b\\tc\\nd\\re");
        copy_field(&mut out, " 끝 {\"x\":1}");
        assert_eq!(out, "a\\\\b\\tc\\nd\\re 끝 {\"x\":1}".as_bytes());
        let raw = Raw {
            topic: vec!["t.orders".into()],
            partition: vec![2],
            offset: vec![41],
            kind: vec!["order".into()],
            key: vec![None],
            payload: vec![br#"{"memo":"line\nbreak"}"#.to_vec()],
        };
        assert_eq!(
            String::from_utf8(raw.copy_text()).unwrap(),
            "t.orders\t2\t41\torder\t\\N\t{\"memo\":\"line\\\\nbreak\"}\n"
        );
    }
}

//! Writers of the six dataset files, each injecting the defects of DATA.md and
//! counting them into the file's [`FileDefects`]: what they share (the
//! defect roll, the emitter of duplicates) here, the order files (CSV, JSON,
//! XML) in [`orders`], the event files (messages, log) in [`events`], and
//! the unified pickle in [`pickle`].

mod events;
mod orders;
mod pickle;

pub use events::{conversation, log_event, log_line, write_log, write_messages};
pub use orders::{order_doc, order_xml, write_csv, write_json, write_xml};
pub use pickle::write_pickle;

use super::rng::Rng;
use super::tables::{
    CUSTOMER_LINES, LOG_EVENTS, RESTAURANT_LINES, REVIEW_TEXTS, RIDER_LINES, SYSTEM_LINES,
};
use super::world::{stream, World};
use super::FileDefects;
use crate::columns::{Cell, ORDER_COLUMN_TABLE};
use crate::model::{
    ChatMessage, Conversation, ImpossibleValue, LogEvent, LogLevel, Order, OrderItem, OrderStatus,
    Sender, SourceTime, Text, TimeFormat, ORDER_COLUMNS,
};
use crate::readers::ErrorKind;
use chrono::Duration;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::io::{self, Write};

/// Source numbers: they key the order-time streams of each file.
pub const CSV: u64 = 0;
pub const JSON: u64 = 1;
pub const XML: u64 = 2;
pub const MESSAGES: u64 = 3;
pub const LOG: u64 = 4;

/// What happens to one record, rolled once per record so defects never overlap.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Defect {
    None,
    Malformed,
    Duplicate,
    Missing,
    Impossible,
    DateVariant,
}

fn roll(seed: u64, file: u64, k: u64) -> (Defect, Rng) {
    let mut rng = Rng::keyed(seed, stream::DEFECT + 100 * file, k);
    let defect = match rng.unit() {
        x if x < 0.001 => Defect::Malformed,
        x if x < 0.006 => Defect::Duplicate,
        x if x < 0.026 => Defect::Missing,
        x if x < 0.029 => Defect::Impossible,
        x if x < 0.034 => Defect::DateVariant,
        _ => Defect::None,
    };
    (defect, rng)
}

/// Blanks one non-key column group, as a real export loses values.
fn inject_missing(o: &mut Order, rng: &mut Rng, d: &mut FileDefects) {
    let choice = rng.below(3);
    if choice == 2 && o.rider_id.is_some() {
        o.rider_id = None;
        d.count_missing("rider_id");
    } else if choice == 1 && o.customer_lat.is_some() {
        o.customer_lat = None;
        o.customer_lng = None;
        d.count_missing("customer_lat");
        d.count_missing("customer_lng");
    } else {
        o.district = None;
        d.count_missing("district");
    }
}

fn inject_impossible(o: &mut Order, rng: &mut Rng, d: &mut FileDefects) {
    let kind = match rng.below(3) {
        0 => {
            o.order_amount = o.order_amount.map(|a| -a.abs().max(1000));
            ImpossibleValue::NegativeAmount
        }
        1 if o.actual_delivery_min.is_some() => {
            o.actual_delivery_min = Some(if rng.chance(0.5) {
                0
            } else {
                rng.range(301, 999)
            });
            ImpossibleValue::DeliveryMinutesOutOfRange
        }
        _ => {
            o.rating = Some(7);
            ImpossibleValue::RatingOutOfRange
        }
    };
    d.count_impossible(kind);
}

fn inject_date_variant(o: &mut Order, rng: &mut Rng, d: &mut FileDefects) {
    let format = if rng.chance(0.5) {
        TimeFormat::Slashed
    } else {
        TimeFormat::Dotted
    };
    o.order_time = o.order_time.with_format(format);
    d.count_date_variant(format);
}

/// Applies a readable defect (missing, impossible, date variant) to an order.
fn apply_readable(defect: Defect, o: &mut Order, rng: &mut Rng, d: &mut FileDefects) {
    match defect {
        Defect::Missing => inject_missing(o, rng, d),
        Defect::Impossible => inject_impossible(o, rng, d),
        Defect::DateVariant => inject_date_variant(o, rng, d),
        _ => {}
    }
}

fn fixed(v: Option<f64>, decimals: usize) -> String {
    v.map(|x| format!("{x:.decimals$}")).unwrap_or_default()
}

/// The decimals the generator writes a coordinate or distance with.
fn decimals(column: &str) -> usize {
    match column {
        "store_lat" | "store_lng" => 6,
        "customer_lat" | "customer_lng" => 3,
        _ => 2,
    }
}

/// The 29 CSV fields of an order, in [`ORDER_COLUMNS`] order, each as the
/// generator writes its column's value (empty when it has none).
pub fn csv_fields(o: &Order) -> Vec<String> {
    ORDER_COLUMN_TABLE
        .iter()
        .map(|column| match (column.value)(o) {
            Cell::Text(v) => v.unwrap_or_default().to_string(),
            Cell::Integer(v) => v.map(|v| v.to_string()).unwrap_or_default(),
            Cell::Number(v) => fixed(v, decimals(column.name)),
            Cell::Time(t) => t.map(SourceTime::render).unwrap_or_default(),
            Cell::Items(items) => OrderItem::format_list(items),
        })
        .collect()
}

/// A CSV field, quoted when it has to be (as Python's `csv.QUOTE_MINIMAL`).
fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

fn csv_line(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// Writes records in file order and the duplicate copies a few records
/// after their originals, as a re-sent batch would land.
struct Emitter<'a, W: Write> {
    out: &'a mut W,
    /// Written between two records.
    separator: &'static [u8],
    written: u64,
    /// Copies waiting for the record number they follow.
    held: VecDeque<(u64, Vec<u8>)>,
}

impl<'a, W: Write> Emitter<'a, W> {
    fn new(out: &'a mut W, separator: &'static [u8]) -> Self {
        Emitter {
            out,
            separator,
            written: 0,
            held: VecDeque::new(),
        }
    }

    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        if self.written > 0 {
            self.out.write_all(self.separator)?;
        }
        self.out.write_all(record)?;
        self.written += 1;
        Ok(())
    }

    /// Writes record `k`; with `copy_after`, an exact copy follows that many
    /// records later. Returns whether a held copy was written right after it.
    fn record(&mut self, k: u64, bytes: Vec<u8>, copy_after: Option<u64>) -> io::Result<bool> {
        self.write(&bytes)?;
        if let Some(after) = copy_after {
            self.held.push_back((k + after, bytes));
            return Ok(false);
        }
        if self.held.front().is_some_and(|(at, _)| *at <= k) {
            if let Some((_, copy)) = self.held.pop_front() {
                self.write(&copy)?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Writes the copies still held; returns the records written in all.
    fn finish(mut self) -> io::Result<u64> {
        while let Some((_, copy)) = self.held.pop_front() {
            self.write(&copy)?;
        }
        Ok(self.written)
    }
}

/// Where a duplicated record's copy goes: 0–20 records later.
fn copy_after(defect: Defect, rng: &mut Rng, d: &mut FileDefects) -> Option<u64> {
    (defect == Defect::Duplicate).then(|| {
        d.duplicates += 1;
        rng.range(0, 20) as u64
    })
}

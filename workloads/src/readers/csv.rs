//! Orders from CSV: UTF-8, UTF-8 with BOM or CP949 (detected), with English or
//! common Korean header names.
//!
//! Quoting follows RFC 4180 as Python's `csv` module reads it (a field that
//! starts with `"` is quoted, `""` is a literal quote). A quoted field may span
//! lines, but a quote left open at the end of a line is taken to be
//! *unterminated* when the following line is, on its own, a complete record
//! with the header's field count: that record is then read normally and only
//! the broken line is rejected, instead of the open quote swallowing the rest
//! of the file.

use super::encoding::{utf8_reader, TextEncoding};
use super::lines::{Line, LineReader};
use super::{ErrorKind, ErrorSink, Position, ReadResult, RecordError, MAX_RECORD_BYTES};
use crate::model::{
    column_index, parse_float, parse_int, Order, OrderItem, OrderStatus, Record, SourceTime, Text,
    ORDER_COLUMNS,
};
use std::io::{BufRead, Read};
use std::ops::Range;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

/// Maps a header cell (English or Korean, any case or spacing) to its index in
/// [`ORDER_COLUMNS`] (see [`crate::columns`]).
pub fn map_header(name: &str) -> Option<usize> {
    crate::columns::column_of_header(name)
}

/// Builds an [`Order`] from column values looked up by canonical column index.
/// Shared by the CSV reader and the pickle reader's flat order payloads.
pub(crate) fn order_from_columns<'a>(
    get: impl Fn(usize) -> Option<&'a str>,
) -> Result<Order, (ErrorKind, String)> {
    let col = |i: usize| get(i).map(str::trim_ascii).filter(|v| !v.is_empty());
    let name = |i: usize| ORDER_COLUMNS[i];
    let text = |i: usize| col(i).map(Text::from);
    let required = |i: usize| {
        text(i).ok_or_else(|| (ErrorKind::MissingField, format!("{} is empty", name(i))))
    };
    // An optional typed value: absent when empty, an error naming the
    // column (and what it should be) when it does not parse.
    fn typed<T>(
        value: Option<&str>,
        column: &str,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, (ErrorKind, String)> {
        match value {
            None => Ok(None),
            Some(v) => parse(v).map(Some).ok_or_else(|| {
                (
                    ErrorKind::InvalidValue,
                    format!("{column}: not {what}: {v:?}"),
                )
            }),
        }
    }
    let int = |i: usize| typed(col(i), name(i), "an integer", parse_int);
    let float = |i: usize| typed(col(i), name(i), "a number", parse_float);
    let time = |i: usize| typed(col(i), name(i), "a timestamp", SourceTime::parse);
    macro_rules! c {
        ($name:literal) => {
            const { column_index($name) }
        };
    }
    let order_id = required(c!("order_id"))?;
    let order_time = time(c!("order_time"))?
        .ok_or_else(|| (ErrorKind::MissingField, "order_time is empty".to_string()))?;
    let status_text = required(c!("order_status"))?;
    let order_status = OrderStatus::parse(&status_text).ok_or_else(|| {
        (
            ErrorKind::InvalidValue,
            format!("order_status: unknown status {status_text:?}"),
        )
    })?;
    let items = match col(c!("menu_items")) {
        Some(v) => OrderItem::parse_list(v)
            .map_err(|e| (ErrorKind::InvalidValue, format!("menu_items: {e}")))?,
        None => Vec::new(),
    };
    Ok(Order {
        order_time,
        updated_at: time(c!("updated_at"))?,
        customer_id: required(c!("customer_id"))?,
        customer_name: text(c!("customer_name")),
        phone_number: text(c!("phone_number")),
        restaurant_id: required(c!("restaurant_id"))?,
        restaurant_name: text(c!("restaurant_name")),
        category: text(c!("category")),
        items,
        item_count: int(c!("item_count"))?,
        order_amount: int(c!("order_amount"))?,
        discount_amount: int(c!("discount_amount"))?,
        delivery_fee: int(c!("delivery_fee"))?,
        payment_method: text(c!("payment_method")),
        platform: text(c!("platform")),
        district: text(c!("district")),
        delivery_address: text(c!("delivery_address")),
        store_lat: float(c!("store_lat"))?,
        store_lng: float(c!("store_lng"))?,
        customer_lat: float(c!("customer_lat"))?,
        customer_lng: float(c!("customer_lng"))?,
        distance_km: float(c!("distance_km"))?,
        estimated_delivery_min: int(c!("estimated_delivery_min"))?,
        actual_delivery_min: int(c!("actual_delivery_min"))?,
        rider_id: text(c!("rider_id")),
        weather: text(c!("weather")),
        order_status,
        rating: int(c!("rating"))?,
        order_id,
    })
}

/// Pushes `base +` the position of every comma of `line` to `ends`, eight
/// bytes at a time; false (pushing nothing) when the line holds a quote.
///
/// Word-at-a-time rather than a memchr per comma: a record has a comma every
/// few bytes, and a search call per field costs more than the search itself.
fn push_commas(line: &[u8], base: usize, ends: &mut Vec<usize>) -> bool {
    if memchr::memchr(b'"', line).is_some() {
        return false;
    }
    let mut words = line.chunks_exact(8);
    let mut at = base;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let word = u64::from_le_bytes(bytes);
        let mut commas = bytes_equal(word, b',');
        while commas != 0 {
            ends.push(at + (commas.trailing_zeros() / 8) as usize);
            commas &= commas - 1;
        }
        at += 8;
    }
    for (i, b) in words.remainder().iter().enumerate() {
        if *b == b',' {
            ends.push(at + i);
        }
    }
    true
}

/// The high bit of each byte of `word` that equals `byte`, exactly (no
/// borrow crosses bytes: each byte's sum stays below 0x100).
fn bytes_equal(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (0x0101_0101_0101_0101 * u64::from(byte));
    !(((x & LOW7) + LOW7) | x) & !LOW7
}

/// Splits CSV bytes into unescaped fields. Fed one physical line at a time; a
/// quoted field may continue on the next line. Records accumulate one after
/// another in the same buffers, which become a [`Batch`] as they are.
#[derive(Default)]
struct FieldSplitter {
    /// Unescaped bytes of the records so far.
    bytes: Vec<u8>,
    /// End offset in `bytes` of each completed field.
    ends: Vec<usize>,
    /// Where the current record starts in `bytes` and in `ends`.
    record_start: usize,
    ends_start: usize,
    in_quotes: bool,
    at_field_start: bool,
    /// The quote-free fast path keeps the separating commas in `bytes`.
    separators_kept: bool,
}

impl FieldSplitter {
    /// Starts a record after the ones already held.
    fn start(&mut self) {
        self.record_start = self.bytes.len();
        self.ends_start = self.ends.len();
        self.in_quotes = false;
        self.at_field_start = true;
        self.separators_kept = false;
    }

    /// Feeds one physical line. Returns true when the record is complete.
    fn feed(&mut self, line: &[u8]) -> bool {
        // Fast path: a line with no quote at all is split where it lies.
        if !self.in_quotes {
            let base = self.bytes.len();
            if push_commas(line, base, &mut self.ends) {
                self.bytes.extend_from_slice(line);
                // Commas are kept in `bytes` as separators; `ends` point at them.
                self.ends.push(self.bytes.len());
                self.separators_kept = true;
                return true;
            }
        }
        self.separators_kept = false;
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            if self.in_quotes {
                if b == b'"' {
                    if line.get(i + 1) == Some(&b'"') {
                        self.bytes.push(b'"');
                        i += 1;
                    } else {
                        self.in_quotes = false;
                    }
                } else {
                    self.bytes.push(b);
                }
            } else if b == b',' {
                self.ends.push(self.bytes.len());
                self.at_field_start = true;
            } else if b == b'"' && self.at_field_start {
                self.in_quotes = true;
                self.at_field_start = false;
            } else {
                self.bytes.push(b);
                self.at_field_start = false;
            }
            i += 1;
        }
        if self.in_quotes {
            self.bytes.push(b'\n');
            false
        } else {
            self.ends.push(self.bytes.len());
            true
        }
    }

    /// Drops the current (broken) record.
    fn discard(&mut self) {
        self.bytes.truncate(self.record_start);
        self.ends.truncate(self.ends_start);
    }

    /// The current record's bytes.
    fn record(&self) -> &[u8] {
        &self.bytes[self.record_start..]
    }

    /// The `i`-th field of the current record, given its text.
    fn field<'t>(&self, text: &'t str, i: usize) -> &'t str {
        let ends = &self.ends[self.ends_start..];
        let start = match i {
            0 => 0,
            _ if self.separators_kept => ends[i - 1] - self.record_start + 1,
            _ => ends[i - 1] - self.record_start,
        };
        &text[start..ends[i] - self.record_start]
    }

    fn field_count(&self) -> usize {
        self.ends.len() - self.ends_start
    }

    /// Hands over the records held so far and goes on in `next` (emptied).
    fn take(&mut self, mut next: (Vec<u8>, Vec<usize>)) -> (Vec<u8>, Vec<usize>) {
        self.record_start = 0;
        self.ends_start = 0;
        next.0.clear();
        next.1.clear();
        (
            std::mem::replace(&mut self.bytes, next.0),
            std::mem::replace(&mut self.ends, next.1),
        )
    }

    /// Is `line`, on its own, a complete record of `expected` fields?
    fn is_complete_record(line: &[u8], expected: usize) -> bool {
        let mut probe = FieldSplitter::default();
        probe.start();
        probe.feed(line) && probe.field_count() == expected
    }
}

/// Splits the text into records: the sequential half of the reader.
struct Framer {
    lines: LineReader<Box<dyn BufRead + Send>>,
    errors: ErrorSink,
    /// Canonical column index → position in the file's rows.
    columns: [Option<usize>; ORDER_COLUMNS.len()],
    expected_fields: usize,
    splitter: FieldSplitter,
    finished: bool,
    /// Buffers of batches the reader is done with, to be filled again
    /// (fresh megabyte buffers per batch cost page faults).
    recycled: Receiver<(Vec<u8>, Vec<usize>)>,
}

impl Framer {
    /// Reads one record's fields into the splitter. `Ok(None)` at the end.
    fn next_fields(&mut self) -> Option<Result<Position, RecordError>> {
        loop {
            let line = match self.lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(e) => {
                    self.finished = true;
                    return Some(Err(self.errors.error(
                        Position::Line(0),
                        ErrorKind::Io,
                        format!("read failed: {e}"),
                    )));
                }
            };
            let (bytes, number) = match line {
                Line::TooLong { number, length, .. } => {
                    return Some(Err(self.errors.error(
                        Position::Line(number),
                        ErrorKind::TooLong,
                        format!(
                        "line of {length} bytes exceeds the {MAX_RECORD_BYTES}-byte record limit"
                    ),
                    )))
                }
                Line::Text { bytes, number, .. } => (bytes, number),
            };
            if bytes.is_empty() || bytes.iter().all(|b| *b == b',' || b.is_ascii_whitespace()) {
                continue; // blank lines (and all-empty rows from spreadsheets) carry nothing
            }
            let position = Position::Line(number);
            self.splitter.start();
            if self.splitter.feed(bytes) {
                return Some(Ok(position));
            }
            // A quoted field runs past the end of the line: continue or resynchronise.
            loop {
                let next = match self.lines.next_line() {
                    Ok(next) => next,
                    Err(e) => {
                        self.finished = true;
                        return Some(Err(self.errors.error(
                            Position::Line(0),
                            ErrorKind::Io,
                            format!("read failed: {e}"),
                        )));
                    }
                };
                match next {
                    None => {
                        self.splitter.discard();
                        return Some(Err(self.errors.error(
                            position,
                            ErrorKind::UnterminatedQuote,
                            "quoted field is never closed before the end of the file",
                        )));
                    }
                    Some(Line::TooLong { .. }) => {
                        self.splitter.discard();
                        return Some(Err(self.errors.error(
                            position,
                            ErrorKind::UnterminatedQuote,
                            "quoted field runs into an over-long line",
                        )));
                    }
                    Some(Line::Text {
                        bytes,
                        number: next_no,
                        offset,
                    }) => {
                        if self.expected_fields > 0
                            && FieldSplitter::is_complete_record(bytes, self.expected_fields)
                        {
                            self.lines.push_back(next_no, offset);
                            self.splitter.discard();
                            return Some(Err(self.errors.error(
                                position,
                                ErrorKind::UnterminatedQuote,
                                "quote opened on this line is never closed (the next line is a record of its own)",
                            )));
                        }
                        if self.splitter.record().len() + bytes.len() > MAX_RECORD_BYTES {
                            self.splitter.discard();
                            return Some(Err(self.errors.error(
                                position,
                                ErrorKind::UnterminatedQuote,
                                format!("quoted field runs past the {MAX_RECORD_BYTES}-byte record limit"),
                            )));
                        }
                        if self.splitter.feed(bytes) {
                            return Some(Ok(position));
                        }
                    }
                }
            }
        }
    }

    fn read_header(&mut self) -> Option<RecordError> {
        match self.next_fields() {
            None => Some(self.errors.error(
                Position::Line(1),
                ErrorKind::Truncated,
                "empty file: no header row",
            )),
            Some(Err(e)) => Some(e),
            Some(Ok(position)) => {
                let text = match std::str::from_utf8(self.splitter.record()) {
                    Ok(t) => t,
                    Err(_) => {
                        return Some(self.errors.error(
                            position,
                            ErrorKind::InvalidEncoding,
                            "header row is not valid text",
                        ))
                    }
                };
                for i in 0..self.splitter.field_count() {
                    if let Some(col) = map_header(self.splitter.field(text, i)) {
                        self.columns[col].get_or_insert(i);
                    }
                }
                self.expected_fields = self.splitter.field_count();
                if self.columns[0].is_none() {
                    return Some(self.errors.error(
                        position,
                        ErrorKind::MissingField,
                        format!("header has no order id column (order_id / 주문번호): {text:?}"),
                    ));
                }
                None
            }
        }
    }
}

/// Records framed in one go, handed from the framing thread to conversion.
struct Batch {
    /// Unescaped bytes of every record of the batch.
    bytes: Vec<u8>,
    /// Field end offsets (into `bytes`) of every record.
    ends: Vec<usize>,
    items: Vec<Framed>,
}

enum Framed {
    Record {
        position: Position,
        bytes: Range<usize>,
        ends: Range<usize>,
        /// Fields are separated by a kept comma (the quote-free fast path).
        separators_kept: bool,
    },
    Error(RecordError),
}

/// What conversion needs to know of the file: learnt from its header.
struct Schema {
    columns: [Option<usize>; ORDER_COLUMNS.len()],
    expected_fields: usize,
    errors: ErrorSink,
}

/// Records per batch: large enough that handing a batch between threads
/// costs nothing measurable, small enough to keep memory at a few MiB.
const BATCH_RECORDS: usize = 4096;
/// Batches in flight between the framing thread and the reader.
const BATCHES_IN_FLIGHT: usize = 2;

impl Framer {
    /// Frames the whole input into batches until the end or until the reader
    /// is dropped.
    fn run(mut self, to_reader: SyncSender<Arc<Job>>, to_converter: SyncSender<Arc<Job>>) {
        let send = |job: Job| {
            let job = Arc::new(job);
            to_converter.send(job.clone()).is_ok() && to_reader.send(job).is_ok()
        };
        let header_error = self.read_header();
        let schema = Arc::new(Schema {
            columns: self.columns,
            expected_fields: self.expected_fields,
            errors: self.errors.clone(),
        });
        if let Some(e) = header_error {
            let batch = Batch {
                bytes: Vec::new(),
                ends: Vec::new(),
                items: vec![Framed::Error(e)],
            };
            send(Job { schema, batch });
            return;
        }
        let ends_capacity = BATCH_RECORDS * (self.expected_fields + 1);
        let buffers = |recycled: &Receiver<_>| {
            recycled.try_recv().unwrap_or_else(|_| {
                (
                    Vec::with_capacity(BATCH_RECORDS * 384),
                    Vec::with_capacity(ends_capacity),
                )
            })
        };
        self.splitter.take(buffers(&self.recycled)); // drop the header
        loop {
            let mut items = Vec::with_capacity(BATCH_RECORDS);
            while items.len() < BATCH_RECORDS && !self.finished {
                match self.next_fields() {
                    None => self.finished = true,
                    Some(Err(e)) => items.push(Framed::Error(e)),
                    Some(Ok(position)) => items.push(Framed::Record {
                        position,
                        bytes: self.splitter.record_start..self.splitter.bytes.len(),
                        ends: self.splitter.ends_start..self.splitter.ends.len(),
                        separators_kept: self.splitter.separators_kept,
                    }),
                }
            }
            let (bytes, ends) = self.splitter.take(buffers(&self.recycled));
            let batch = Batch { bytes, ends, items };
            if !batch.items.is_empty()
                && !send(Job {
                    schema: schema.clone(),
                    batch,
                })
            {
                return; // the reader was dropped
            }
            if self.finished {
                return;
            }
        }
    }
}

/// Turns one framed record into an order.
fn convert(schema: &Schema, batch: &Batch, item: &Framed) -> ReadResult {
    let (position, range, ends, separators_kept) = match item {
        Framed::Error(e) => return Err(e.clone()),
        Framed::Record {
            position,
            bytes,
            ends,
            separators_kept,
        } => (
            *position,
            bytes.clone(),
            &batch.ends[ends.clone()],
            *separators_kept,
        ),
    };
    if ends.len() != schema.expected_fields {
        return Err(schema.errors.error(
            position,
            ErrorKind::WrongFieldCount,
            format!(
                "{} fields, the header has {}",
                ends.len(),
                schema.expected_fields
            ),
        ));
    }
    let text = simdutf8::compat::from_utf8(&batch.bytes[range.clone()]).map_err(|e| {
        schema.errors.error(
            position,
            ErrorKind::InvalidEncoding,
            format!("invalid UTF-8 at byte {} of the record", e.valid_up_to()),
        )
    })?;
    let base = range.start;
    let field = |i: usize| -> &str {
        let start = match i {
            0 => 0,
            _ if separators_kept => ends[i - 1] - base + 1,
            _ => ends[i - 1] - base,
        };
        &text[start..ends[i] - base]
    };
    order_from_columns(|col| schema.columns[col].map(field))
        .map(Record::Order)
        .map_err(|(kind, reason)| schema.errors.error(position, kind, reason))
}

/// A framed batch and the schema to convert it with.
struct Job {
    schema: Arc<Schema>,
    batch: Batch,
}

impl Job {
    /// Where the converter thread's share ends and the reader's begins.
    fn split(&self) -> usize {
        self.batch.items.len() / 2
    }

    /// Converts `items` into `out`, last record first, so that the reader
    /// takes them in file order with `pop` and can hand the emptied vector
    /// back (a fresh one per batch is megabytes of zeroed pages).
    fn convert_last_first(&self, items: Range<usize>, out: &mut Vec<ReadResult>) {
        out.extend(
            self.batch.items[items]
                .iter()
                .rev()
                .map(|item| convert(&self.schema, &self.batch, item)),
        );
    }
}

/// Streaming CSV order reader.
///
/// Three stages run at once: a framing thread splits the text into records
/// (sequential: a quoted field may span lines) and hands them over in batches
/// of [`BATCH_RECORDS`]; a converter thread turns the first half of each batch
/// into orders while the calling thread converts the second half, one record
/// per `next` call. Records come out in file order.
pub struct CsvReader {
    batches: Option<Receiver<Arc<Job>>>,
    converted: Option<Receiver<Vec<ReadResult>>>,
    /// The converter's half of the current job, last record first.
    ready: Vec<ReadResult>,
    /// The current job's second half, converted one record at a time as
    /// it is read (after `ready`): no intermediate vector to fill and empty.
    mine: Option<(Arc<Job>, Range<usize>)>,
    encoding: Option<TextEncoding>,
    /// Where emptied `ready` vectors go back to the converter.
    spare: Option<SyncSender<Vec<ReadResult>>>,
    /// Where converted batches' buffers go back to the framer.
    recycle: Option<SyncSender<(Vec<u8>, Vec<usize>)>>,
}

impl CsvReader {
    pub fn new<R: Read + Send + 'static>(path: &Path, input: R) -> Self {
        let errors = ErrorSink::new(path);
        let mut ready = Vec::new();
        let (encoding, text): (_, Box<dyn BufRead + Send>) = match utf8_reader(input) {
            Ok((enc, r)) => (Some(enc), r),
            Err(e) => {
                let error = errors.error(
                    Position::Line(1),
                    ErrorKind::Io,
                    format!("read failed: {e}"),
                );
                ready.push(Err(error));
                return CsvReader {
                    batches: None,
                    converted: None,
                    ready,
                    mine: None,
                    spare: None,
                    encoding: None,
                    recycle: None,
                };
            }
        };
        let (recycle, recycled) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
        let framer = Framer {
            lines: LineReader::new(text, MAX_RECORD_BYTES),
            errors: errors.clone(),
            columns: [None; ORDER_COLUMNS.len()],
            expected_fields: 0,
            splitter: FieldSplitter::default(),
            finished: false,
            recycled,
        };
        let (to_reader, batches) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
        let (to_converter, jobs) = std::sync::mpsc::sync_channel::<Arc<Job>>(BATCHES_IN_FLIGHT);
        let (to_results, converted) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
        let (spare, spares) = std::sync::mpsc::sync_channel::<Vec<ReadResult>>(BATCHES_IN_FLIGHT);
        let started = std::thread::Builder::new()
            .name("csv-convert".into())
            .spawn(move || {
                for job in jobs {
                    let mut out = spares
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BATCH_RECORDS / 2));
                    job.convert_last_first(0..job.split(), &mut out);
                    // Let go of the batch before waiting to hand over: the
                    // reader recycles its buffers only if it holds the last reference.
                    drop(job);
                    if to_results.send(out).is_err() {
                        return;
                    }
                }
            })
            .and_then(|_| {
                std::thread::Builder::new()
                    .name("csv-framer".into())
                    .spawn(move || framer.run(to_reader, to_converter))
            });
        if let Err(e) = started {
            ready.push(Err(errors.error(
                Position::Line(1),
                ErrorKind::Io,
                format!("cannot start the reader threads: {e}"),
            )));
            return CsvReader {
                batches: None,
                converted: None,
                ready,
                mine: None,
                spare: None,
                encoding,
                recycle: None,
            };
        }
        CsvReader {
            batches: Some(batches),
            converted: Some(converted),
            ready,
            mine: None,
            spare: Some(spare),
            encoding,
            recycle: Some(recycle),
        }
    }

    /// The detected text encoding (`None` if the file could not be read).
    pub fn encoding(&self) -> Option<TextEncoding> {
        self.encoding
    }

    /// Ends the current job, once both halves are read: its buffers go back
    /// to the framer (if this was the last reference) and the emptied
    /// `ready` vector to the converter.
    fn finish_job(&mut self) {
        let Some((job, _)) = self.mine.take() else {
            return;
        };
        if let (Ok(done), Some(recycle)) = (Arc::try_unwrap(job), &self.recycle) {
            let _ = recycle.try_send((done.batch.bytes, done.batch.ends));
        }
        if let Some(spare) = &self.spare {
            let _ = spare.try_send(std::mem::take(&mut self.ready));
        }
    }
}

impl Iterator for CsvReader {
    type Item = ReadResult;

    fn next(&mut self) -> Option<ReadResult> {
        loop {
            if let Some(item) = self.ready.pop() {
                return Some(item);
            }
            if let Some((job, rest)) = &mut self.mine {
                if let Some(i) = rest.next() {
                    return Some(convert(&job.schema, &job.batch, &job.batch.items[i]));
                }
                self.finish_job();
                continue;
            }
            let job = self.batches.as_ref()?.recv().ok()?;
            match self.converted.as_ref().map(Receiver::recv) {
                Some(Ok(first_half)) => self.ready = first_half,
                // The converter is gone (it cannot fail; be total anyway).
                _ => job.convert_last_first(0..job.split(), &mut self.ready),
            }
            let rest = job.split()..job.batch.items.len();
            self.mine = Some((job, rest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const HEADER: &str =
        "order_id,order_time,customer_id,restaurant_id,order_amount,order_status,menu_items";

    #[test]
    fn commas_are_found_a_word_at_a_time_exactly_where_a_byte_scan_finds_them() {
        // Lines of every length around the word size, with multi-byte text
        // (bytes >= 0x80 next to commas), and a quote at every position.
        let base = "가,b,,\u{00e9}1,,,x,\u{ac00}\u{ac01},,z,,0123456789,,";
        for end in 0..base.len() {
            let Some(line) = base.get(..end) else {
                continue;
            };
            let line = line.as_bytes();
            let mut found = Vec::new();
            assert!(push_commas(line, 100, &mut found));
            let expected: Vec<usize> = (0..line.len())
                .filter(|&i| line[i] == b',')
                .map(|i| 100 + i)
                .collect();
            assert_eq!(found, expected, "{:?}", String::from_utf8_lossy(line));
            for quote in 0..line.len() {
                let mut quoted = line.to_vec();
                quoted[quote] = b'"';
                assert!(
                    !push_commas(&quoted, 0, &mut Vec::new()),
                    "quote at {quote} of {end}"
                );
            }
        }
    }

    fn read(text: &[u8]) -> Vec<Result<String, (ErrorKind, Position)>> {
        CsvReader::new(Path::new("t.csv"), Cursor::new(text.to_vec()))
            .map(|r| match r {
                Ok(Record::Order(o)) => Ok(o.order_id.to_string()),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => Err((e.kind, e.position)),
            })
            .collect()
    }

    fn row(id: u32) -> String {
        format!("O{id:09},2024-03-01 12:00:00,C000001,R00001,12000,DELIVERED,치킨:1:12000\n")
    }

    #[test]
    fn korean_headers_map_to_the_same_fields() {
        let text = "주문번호,주문시간,고객ID,가게ID,주문금액,배달료,주문상태\nO000000001,2024/03/01 12:34,C000001,R00001,\"12,000\",3000,배달완료\n";
        let orders: Vec<_> =
            CsvReader::new(Path::new("k.csv"), Cursor::new(text.as_bytes().to_vec())).collect();
        let Ok(Record::Order(o)) = &orders[0] else {
            panic!("{orders:?}")
        };
        assert_eq!(
            (o.order_amount, o.delivery_fee, o.order_status),
            (Some(12000), Some(3000), OrderStatus::Delivered)
        );
        assert_eq!(
            map_header("배달 거리 (km)"),
            ORDER_COLUMNS.iter().position(|c| *c == "distance_km")
        );
    }

    #[test]
    fn an_unterminated_quote_loses_only_its_own_line() {
        let mut text = format!("{HEADER}\n{}", row(1));
        text.push_str(
            "O000000002,2024-03-01 12:00:00,C000001,\"R00001,12000,DELIVERED,치킨:1:12000\n",
        );
        text.push_str(&row(3));
        text.push_str(&row(4));
        let got = read(text.as_bytes());
        assert_eq!(
            got,
            vec![
                Ok("O000000001".into()),
                Err((ErrorKind::UnterminatedQuote, Position::Line(3))),
                Ok("O000000003".into()),
                Ok("O000000004".into())
            ]
        );
    }

    #[test]
    fn quoted_fields_may_hold_commas_quotes_and_newlines() {
        let text = format!("{HEADER}\nO000000001,2024-03-01 12:00:00,C1,R1,12000,DELIVERED,\"치킨, \"\"순살\"\":1:12000\"\n{}", row(2));
        let orders: Vec<_> =
            CsvReader::new(Path::new("q.csv"), Cursor::new(text.into_bytes())).collect();
        let Ok(Record::Order(o)) = &orders[0] else {
            panic!("{orders:?}")
        };
        assert_eq!(o.items[0].name, "치킨, \"순살\"");
        let multi = format!(
            "{HEADER}\nO000000001,2024-03-01 12:00:00,C1,R1,12000,DELIVERED,\"치킨\n:1:12000\"\n{}",
            row(2)
        );
        assert_eq!(
            read(multi.as_bytes()),
            vec![Ok("O000000001".into()), Ok("O000000002".into())]
        );
    }

    #[test]
    fn wrong_field_counts_invalid_utf8_and_bad_values_are_rejected_with_their_line() {
        let mut text = format!("{HEADER}\n{}", row(1)).into_bytes();
        text.extend_from_slice(b"O000000002,2024-03-01 12:00:00,C1\n");
        text.extend_from_slice(b"O000000003,2024-03-01 12:00:00,C1,R1,12\xff000,DELIVERED,x:1:1\n");
        text.extend_from_slice(b"O000000004,2024-13-01 12:00:00,C1,R1,12000,DELIVERED,x:1:1\n");
        text.extend_from_slice(b",2024-03-01 12:00:00,C1,R1,12000,DELIVERED,x:1:1\n");
        text.extend_from_slice(row(6).as_bytes());
        let got = read(&text);
        assert_eq!(
            got,
            vec![
                Ok("O000000001".into()),
                Err((ErrorKind::WrongFieldCount, Position::Line(3))),
                Err((ErrorKind::InvalidEncoding, Position::Line(4))),
                Err((ErrorKind::InvalidValue, Position::Line(5))),
                Err((ErrorKind::MissingField, Position::Line(6))),
                Ok("O000000006".into()),
            ]
        );
    }

    #[test]
    fn an_empty_file_is_one_clear_error() {
        assert_eq!(
            read(b""),
            vec![Err((ErrorKind::Truncated, Position::Line(1)))]
        );
    }
}

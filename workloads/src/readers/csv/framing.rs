//! The sequential half of the CSV reader: splitting the text into records
//! and fields (RFC 4180 quoting, a quoted field across lines, an open quote
//! at the end of a line taken as unterminated when the next line is a
//! complete record), in batches that the conversion half turns into orders.

use super::super::lines::{Line, LineReader};
use super::super::{ErrorKind, ErrorSink, Position, RecordError, MAX_RECORD_BYTES};
use super::map_header;
use crate::columns::ORDER_COLUMNS;
use std::io::BufRead;
use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

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
pub(super) struct Framer {
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
    /// A framer of `text`, which takes the buffers of finished batches back
    /// from `recycled`.
    pub(super) fn new(
        text: Box<dyn BufRead + Send>,
        errors: ErrorSink,
        recycled: Receiver<(Vec<u8>, Vec<usize>)>,
    ) -> Framer {
        Framer {
            lines: LineReader::new(text, MAX_RECORD_BYTES),
            errors,
            columns: [None; ORDER_COLUMNS.len()],
            expected_fields: 0,
            splitter: FieldSplitter::default(),
            finished: false,
            recycled,
        }
    }

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
pub(super) struct Batch {
    /// Unescaped bytes of every record of the batch.
    pub(super) bytes: Vec<u8>,
    /// Field end offsets (into `bytes`) of every record.
    pub(super) ends: Vec<usize>,
    pub(super) items: Vec<Framed>,
}

pub(super) enum Framed {
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
pub(super) struct Schema {
    pub(super) columns: [Option<usize>; ORDER_COLUMNS.len()],
    pub(super) expected_fields: usize,
    pub(super) errors: ErrorSink,
}

/// Records per batch: large enough that handing a batch between threads
/// costs nothing measurable, small enough to keep memory at a few MiB.
pub(super) const BATCH_RECORDS: usize = 4096;
/// Batches in flight between the framing thread and the reader.
pub(super) const BATCHES_IN_FLIGHT: usize = 2;

impl Framer {
    /// Frames the whole input into batches until the end or until the reader
    /// is dropped.
    pub(super) fn run(
        mut self,
        to_reader: SyncSender<Arc<Job>>,
        to_converter: SyncSender<Arc<Job>>,
    ) {
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

/// A framed batch and the schema to convert it with.
pub(super) struct Job {
    pub(super) schema: Arc<Schema>,
    pub(super) batch: Batch,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! The sequential half of the CSV reader: splitting the text into records
//! (RFC 4180 quoting, a quoted field across lines, an open quote at the end
//! of a line taken as unterminated when the next line is a complete record)
//! and unescaping the records that hold quotes, in batches that the
//! conversion half turns into orders (splitting quote-free lines at their
//! commas on the way).

use super::super::lines::{Line, LineReader};
use super::super::{ErrorKind, ErrorSink, Position, RecordError, MAX_RECORD_BYTES};
use super::map_header;
use crate::columns::ORDER_COLUMNS;
use std::io::BufRead;
use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// Pushes the position of every comma of `line` to `ends`. For a quote-free
/// line, where every comma separates two fields.
///
/// A block at a time rather than a memchr per comma: a record has a comma
/// every few bytes, and a search call per field costs more than the search
/// itself. With AVX2, 32 bytes a step; otherwise eight (one machine word).
pub(super) fn push_commas(line: &[u8], ends: &mut Vec<usize>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { push_commas_avx2(line, ends) };
        return;
    }
    push_commas_by_word(line, 0, ends);
}

/// [`push_commas`] 32 bytes a step: one compare and one mask per block.
///
/// # Safety
/// The CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn push_commas_avx2(line: &[u8], ends: &mut Vec<usize>) {
    use std::arch::x86_64::{
        _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };
    let comma = _mm256_set1_epi8(b',' as i8);
    let mut blocks = line.chunks_exact(32);
    let mut at = 0;
    for block in &mut blocks {
        // SAFETY: `block` holds 32 readable bytes; the load is unaligned.
        let bytes = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
        let mut commas = _mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, comma)) as u32;
        while commas != 0 {
            ends.push(at + commas.trailing_zeros() as usize);
            commas &= commas - 1;
        }
        at += 32;
    }
    push_commas_by_word(blocks.remainder(), at, ends);
}

/// [`push_commas`] eight bytes a step, for `line` starting at offset `at`.
fn push_commas_by_word(line: &[u8], mut at: usize, ends: &mut Vec<usize>) {
    let mut words = line.chunks_exact(8);
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
}

/// The high bit of each byte of `word` that equals `byte`, exactly (no
/// borrow crosses bytes: each byte's sum stays below 0x100).
fn bytes_equal(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (0x0101_0101_0101_0101 * u64::from(byte));
    !(((x & LOW7) + LOW7) | x) & !LOW7
}

/// Splits CSV bytes into records. Fed one physical line at a time; a quoted
/// field may continue on the next line. Records accumulate one after
/// another in the same buffers, which become a [`Batch`] as they are.
///
/// A quote-free line (most of them) is kept as it is and marked
/// [`plain`](Self::plain): its fields lie between its commas, and splitting
/// it is left to conversion, which runs on two threads where this runs on
/// one. A record with quotes is unescaped here, field by field.
#[derive(Default)]
struct FieldSplitter {
    /// The records so far: plain lines as they are, quoted records unescaped.
    bytes: Vec<u8>,
    /// End offset of each completed field of an unescaped record, from the
    /// start of its record.
    ends: Vec<usize>,
    /// Where the current record starts in `bytes` and in `ends`.
    record_start: usize,
    ends_start: usize,
    in_quotes: bool,
    at_field_start: bool,
    /// The current record is one quote-free line, its fields not split.
    plain: bool,
}

impl FieldSplitter {
    /// Starts a record after the ones already held.
    fn start(&mut self) {
        self.record_start = self.bytes.len();
        self.ends_start = self.ends.len();
        self.in_quotes = false;
        self.at_field_start = true;
        self.plain = false;
    }

    /// Ends the current field.
    fn end_field(&mut self) {
        self.ends.push(self.bytes.len() - self.record_start);
        self.at_field_start = true;
    }

    /// Feeds one physical line. Returns true when the record is complete.
    fn feed(&mut self, line: &[u8]) -> bool {
        // A record's first line with no quote at all is the whole record.
        if !self.in_quotes && memchr::memchr(b'"', line).is_none() {
            self.bytes.extend_from_slice(line);
            self.plain = true;
            return true;
        }
        // Jump from one quote or comma to the next, copying what lies between.
        let mut rest = line;
        while !rest.is_empty() {
            if self.in_quotes {
                let Some(quote) = memchr::memchr(b'"', rest) else {
                    self.bytes.extend_from_slice(rest);
                    break;
                };
                self.bytes.extend_from_slice(&rest[..quote]);
                if rest.get(quote + 1) == Some(&b'"') {
                    // `""` inside quotes is one literal quote.
                    self.bytes.push(b'"');
                    rest = &rest[quote + 2..];
                } else {
                    self.in_quotes = false;
                    rest = &rest[quote + 1..];
                }
                continue;
            }
            let Some(special) = memchr::memchr2(b',', b'"', rest) else {
                self.bytes.extend_from_slice(rest);
                self.at_field_start = false;
                break;
            };
            if special > 0 {
                self.bytes.extend_from_slice(&rest[..special]);
                self.at_field_start = false;
            }
            if rest[special] == b',' {
                self.end_field();
            } else if self.at_field_start {
                self.in_quotes = true;
                self.at_field_start = false;
            } else {
                // A quote inside an unquoted field is a literal quote.
                self.bytes.push(b'"');
            }
            rest = &rest[special + 1..];
        }
        if self.in_quotes {
            self.bytes.push(b'\n');
            false
        } else {
            self.end_field();
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

    /// The fields of the current record, given its text.
    fn fields<'t>(&self, text: &'t str) -> Vec<&'t str> {
        if self.plain {
            return text.split(',').collect();
        }
        let mut start = 0;
        self.ends[self.ends_start..]
            .iter()
            .map(|&end| {
                let field = text.get(start..end).unwrap_or_default();
                start = end;
                field
            })
            .collect()
    }

    fn field_count(&self) -> usize {
        match self.plain {
            true => memchr::memchr_iter(b',', self.record()).count() + 1,
            false => self.ends.len() - self.ends_start,
        }
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

    /// Ends the framing on a read error: the error, as a record error.
    fn read_failed(&mut self, e: &std::io::Error) -> RecordError {
        self.finished = true;
        self.errors.error(
            Position::Line(0),
            ErrorKind::Io,
            format!("read failed: {e}"),
        )
    }

    /// Reads one record's fields into the splitter. `Ok(None)` at the end.
    fn next_fields(&mut self) -> Option<Result<Position, RecordError>> {
        loop {
            let line = match self.lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(e) => return Some(Err(self.read_failed(&e))),
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
                    Err(e) => return Some(Err(self.read_failed(&e))),
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
                for (i, field) in self.splitter.fields(text).into_iter().enumerate() {
                    if let Some(col) = map_header(field) {
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
    /// Unescaped bytes of every record of the batch, one after another.
    pub(super) text: BatchText,
    /// Field end offsets of every unescaped record, from its start.
    pub(super) ends: Vec<usize>,
    pub(super) items: Vec<Framed>,
}

/// The bytes of a batch's records, checked as UTF-8 once for the whole batch:
/// one pass over a megabyte costs far less than a check per record of a few
/// hundred bytes.
pub(super) enum BatchText {
    /// The whole batch is valid UTF-8. A record of it is then valid exactly
    /// when it starts and ends on character boundaries (records lie side by
    /// side with no separator, so a character may straddle two of them).
    Valid(String),
    /// Some record holds invalid UTF-8: each record is checked on its own.
    Unchecked(Vec<u8>),
}

impl BatchText {
    fn new(bytes: Vec<u8>) -> BatchText {
        match simdutf8::basic::from_utf8(&bytes) {
            // SAFETY: simdutf8 has just found these exact bytes valid UTF-8.
            Ok(_) => BatchText::Valid(unsafe { String::from_utf8_unchecked(bytes) }),
            Err(_) => BatchText::Unchecked(bytes),
        }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            BatchText::Valid(text) => text.as_bytes(),
            BatchText::Unchecked(bytes) => bytes,
        }
    }

    /// The record at `range` as text, when the batch check vouches for it
    /// (`None`: check the record's bytes on their own).
    pub(super) fn checked(&self, range: Range<usize>) -> Option<&str> {
        match self {
            BatchText::Valid(text) => text.get(range),
            BatchText::Unchecked(_) => None,
        }
    }

    /// The buffer, to be filled again.
    pub(super) fn into_bytes(self) -> Vec<u8> {
        match self {
            BatchText::Valid(text) => text.into_bytes(),
            BatchText::Unchecked(bytes) => bytes,
        }
    }
}

pub(super) enum Framed {
    Record {
        position: Position,
        bytes: Range<usize>,
        fields: Fields,
    },
    Error(RecordError),
}

/// Where a framed record's fields are.
pub(super) enum Fields {
    /// A quote-free line: between its commas.
    AtCommas,
    /// An unescaped record: its fields end at these offsets (into
    /// [`Batch::ends`]) from the record's start, one after another.
    Unescaped(Range<usize>),
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
                text: BatchText::Valid(String::new()),
                ends: Vec::new(),
                items: vec![Framed::Error(e)],
            };
            send(Job::new(schema, batch));
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
                        fields: match self.splitter.plain {
                            true => Fields::AtCommas,
                            false => Fields::Unescaped(
                                self.splitter.ends_start..self.splitter.ends.len(),
                            ),
                        },
                    }),
                }
            }
            let (bytes, ends) = self.splitter.take(buffers(&self.recycled));
            let batch = Batch {
                text: BatchText::new(bytes),
                ends,
                items,
            };
            if !batch.items.is_empty() && !send(Job::new(schema.clone(), batch)) {
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
    /// The records no one has started converting yet.
    pub(super) unclaimed: Mutex<Range<usize>>,
}

impl Job {
    fn new(schema: Arc<Schema>, batch: Batch) -> Job {
        Job {
            unclaimed: Mutex::new(0..batch.items.len()),
            schema,
            batch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_are_found_a_block_at_a_time_exactly_where_a_byte_scan_finds_them() {
        // Lines of every length around the word size, with multi-byte text
        // (bytes >= 0x80 next to commas).
        let base = "가,b,,\u{00e9}1,,,x,\u{ac00}\u{ac01},,z,,0123456789,,".repeat(3);
        for end in 0..base.len() {
            let Some(line) = base.get(..end) else {
                continue;
            };
            let line = line.as_bytes();
            let expected: Vec<usize> = (0..line.len()).filter(|&i| line[i] == b',').collect();
            let mut found = Vec::new();
            push_commas(line, &mut found);
            assert_eq!(found, expected, "{:?}", String::from_utf8_lossy(line));
            // The word-at-a-time path, which CPUs without AVX2 take.
            found.clear();
            push_commas_by_word(line, 0, &mut found);
            assert_eq!(found, expected, "{:?}", String::from_utf8_lossy(line));
        }
    }

    /// The fields of `lines` fed as one record (the last line completes it).
    fn unescaped(lines: &[&str]) -> Vec<String> {
        let mut splitter = FieldSplitter::default();
        splitter.start();
        let (last, first) = lines.split_last().unwrap();
        for line in first {
            assert!(!splitter.feed(line.as_bytes()), "{line:?} ends the record");
        }
        assert!(splitter.feed(last.as_bytes()));
        let text = std::str::from_utf8(splitter.record()).unwrap();
        splitter
            .fields(text)
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn quoted_records_split_as_pythons_csv_reader_splits_them() {
        // Each expectation is what `csv.reader` gives for the same text.
        assert_eq!(unescaped(&["a,\"b,c\",d"]), ["a", "b,c", "d"]);
        assert_eq!(unescaped(&["\"x\"\"y\",z"]), ["x\"y", "z"]);
        assert_eq!(unescaped(&["ab\"c,d"]), ["ab\"c", "d"]);
        assert_eq!(unescaped(&["\"ab\"c,d"]), ["abc", "d"]);
        assert_eq!(unescaped(&[",\"\","]), ["", "", ""]);
        assert_eq!(unescaped(&["\"치킨, 순살\",가"]), ["치킨, 순살", "가"]);
        assert_eq!(
            unescaped(&["a,\"multi", "line\",e"]),
            ["a", "multi\nline", "e"]
        );
        assert_eq!(unescaped(&["plain,line,"]), ["plain", "line", ""]);
    }
}

//! One streaming reader per source format.
//!
//! Every reader is an iterator of `Result<Record, RecordError>`: a record that
//! cannot be read becomes a [`RecordError`] naming the file, the position
//! (line for line-based formats, byte offset otherwise) and the reason, and the
//! reader goes on with the next record. Only an I/O failure of the file itself
//! ends a reader early, and that too is reported as a `RecordError`.
//!
//! Memory is bounded by the largest single record, which is capped at
//! [`MAX_RECORD_BYTES`]: a longer record is skipped and reported, never buffered.
//!
//! Files are recognised by extension and content ([`detect_format`]), never by
//! their name, so the guide's Korean file names read the same as the canonical ones.

mod csv;
mod encoding;
mod json;
mod json_lines;
mod lines;
mod log;
pub mod pickle;
mod xml;

pub use self::csv::{map_header, CsvReader};
pub use self::json::{JsonKind, JsonReader};
pub use self::log::LogReader;
pub use self::pickle::PickleReader;
pub use self::xml::XmlReader;

use crate::model::Record;
use serde::Serialize;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest single record a reader will buffer (1 MiB). Longer records are
/// reported as [`ErrorKind::TooLong`] and skipped without being held in memory.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Why a record could not be read. The snake_case names are stable: they are
/// the classes of the generator's defect summary, profile output and
/// dead-letter records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A CSV line with more or fewer fields than the header.
    WrongFieldCount,
    /// A CSV quote that is never closed on its line (the next line is a record).
    UnterminatedQuote,
    /// Bytes that are not valid text in the file's encoding.
    InvalidEncoding,
    /// A value that cannot be parsed (a date, number or enum).
    InvalidValue,
    /// A required field (an id, the order time) is absent or empty.
    MissingField,
    /// JSON or XML that is not well formed.
    Syntax,
    /// The record or file ends early (a cut-short log line, a truncated file).
    Truncated,
    /// A line that is neither a record nor a continuation (binary noise).
    Unreadable,
    /// A record longer than [`MAX_RECORD_BYTES`].
    TooLong,
    /// Content refused for safety: an XML DOCTYPE/entity, or pickle code.
    Refused,
    /// The file could not be read at all.
    Io,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::WrongFieldCount => "wrong_field_count",
            ErrorKind::UnterminatedQuote => "unterminated_quote",
            ErrorKind::InvalidEncoding => "invalid_encoding",
            ErrorKind::InvalidValue => "invalid_value",
            ErrorKind::MissingField => "missing_field",
            ErrorKind::Syntax => "syntax",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Unreadable => "unreadable",
            ErrorKind::TooLong => "too_long",
            ErrorKind::Refused => "refused",
            ErrorKind::Io => "io",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in its file a record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// 1-based line number (CSV, log).
    Line(u64),
    /// 0-based byte offset (JSON, XML, pickle).
    Byte(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Byte(n) => write!(f, "byte {n}"),
        }
    }
}

/// A record that could not be read: what, where and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}: {position}: {kind}: {reason}")]
pub struct RecordError {
    #[serde(serialize_with = "serialize_arc_path")]
    pub file: Arc<Path>,
    pub position: Position,
    pub kind: ErrorKind,
    pub reason: String,
}

fn serialize_arc_path<S: serde::Serializer>(p: &Arc<Path>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// What every reader yields.
pub type ReadResult = Result<Record, RecordError>;

/// Builds [`RecordError`]s for one file.
#[derive(Debug, Clone)]
pub(crate) struct ErrorSink {
    file: Arc<Path>,
}

impl ErrorSink {
    pub(crate) fn new(file: &Path) -> Self {
        ErrorSink {
            file: Arc::from(file),
        }
    }

    pub(crate) fn error(
        &self,
        position: Position,
        kind: ErrorKind,
        reason: impl Into<String>,
    ) -> RecordError {
        RecordError {
            file: self.file.clone(),
            position,
            kind,
            reason: reason.into(),
        }
    }
}

/// The source formats of DATA.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// Orders, one per CSV row.
    Csv,
    /// A JSON array of order documents.
    JsonOrders,
    /// A JSON array of conversations.
    JsonMessages,
    /// Orders as JSON Lines: one object per line (nested or flat).
    JsonLines,
    /// XML `<orders>` with one `<order>` per order.
    Xml,
    /// System log lines.
    Log,
    /// A Python pickle holding a list of `{kind, source, payload}` dicts.
    Pickle,
}

impl SourceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Csv => "csv",
            SourceFormat::JsonOrders => "json_orders",
            SourceFormat::JsonMessages => "json_messages",
            SourceFormat::JsonLines => "json_lines",
            SourceFormat::Xml => "xml",
            SourceFormat::Log => "log",
            SourceFormat::Pickle => "pickle",
        }
    }
}

/// Recognises a file's format from its extension and its first bytes.
///
/// Returns `Ok(None)` for a file that is not a dataset file (a README, the
/// defect summary, a JSON object rather than an array).
pub fn detect_format(path: &Path) -> std::io::Result<Option<SourceFormat>> {
    let mut head = Vec::with_capacity(4096);
    File::open(path)?.take(4096).read_to_end(&mut head)?;
    Ok(detect_from(path, &head))
}

/// [`detect_format`] for a name and the first (up to 4 KiB) bytes.
pub fn detect_from(path: &Path, head: &[u8]) -> Option<SourceFormat> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" | "tsv" => Some(SourceFormat::Csv),
        "xml" => Some(SourceFormat::Xml),
        "log" => Some(SourceFormat::Log),
        "pickle" | "pkl" | "p" => Some(SourceFormat::Pickle),
        "jsonl" | "ndjson" => Some(SourceFormat::JsonLines),
        "json" => sniff_json(head).or_else(|| sniff_json_lines(head)),
        _ => sniff(head),
    }
}

/// Content sniffing for files whose extension says nothing.
fn sniff(head: &[u8]) -> Option<SourceFormat> {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let first = text.iter().copied().find(|b| !b.is_ascii_whitespace())?;
    if head.first() == Some(&0x80) && head.get(1).is_some_and(|p| (2..=5).contains(p)) {
        return Some(SourceFormat::Pickle);
    }
    match first {
        b'<' => Some(SourceFormat::Xml),
        b'[' => sniff_json(head),
        b'{' => sniff_json_lines(head),
        _ if text.len() >= 20
            && text[..4].iter().all(u8::is_ascii_digit)
            && text[4] == b'-'
            && text[10] == b'T' =>
        {
            Some(SourceFormat::Log)
        }
        _ => {
            let line_end = memchr::memchr(b'\n', text).unwrap_or(text.len());
            (memchr::memchr(b',', &text[..line_end]).is_some()).then_some(SourceFormat::Csv)
        }
    }
}

/// A JSON array is orders or conversations, told by the keys of its first element.
fn sniff_json(head: &[u8]) -> Option<SourceFormat> {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    if text[start] != b'[' {
        return None;
    }
    let conversation_keys: [&[u8]; 3] = [
        b"\"conversation_id\"",
        b"\"conversationId\"",
        b"\"messages\"",
    ];
    if conversation_keys
        .iter()
        .any(|k| memchr::memmem::find(text, k).is_some())
    {
        Some(SourceFormat::JsonMessages)
    } else {
        Some(SourceFormat::JsonOrders)
    }
}

/// JSON Lines: the first line is a whole JSON object (a pretty-printed
/// object, such as a report, is not), or runs past the sniffed head.
fn sniff_json_lines(head: &[u8]) -> Option<SourceFormat> {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    let text = &text[start..];
    let line_end = memchr::memchr(b'\n', text);
    if line_end.is_none() && head.len() >= 4096 {
        // A first line longer than the head: an object, by its first byte.
        return (text.first() == Some(&b'{')).then_some(SourceFormat::JsonLines);
    }
    let first_line = &text[..line_end.unwrap_or(text.len())];
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(first_line)
        .ok()
        .map(|_| SourceFormat::JsonLines)
}

/// Opens a reader for `path` in the given format.
pub fn open(
    path: &Path,
    format: SourceFormat,
) -> std::io::Result<Box<dyn Iterator<Item = ReadResult> + Send>> {
    let file = BufReader::with_capacity(256 * 1024, File::open(path)?);
    Ok(read(path, format, file))
}

/// A reader over any byte source (a file, an object-store stream, a test buffer).
/// `path` only names the source in errors.
pub fn read<R: BufRead + Send + 'static>(
    path: &Path,
    format: SourceFormat,
    input: R,
) -> Box<dyn Iterator<Item = ReadResult> + Send> {
    match format {
        SourceFormat::Csv => Box::new(CsvReader::new(path, input)),
        SourceFormat::JsonOrders => Box::new(JsonReader::new(path, input, JsonKind::Orders)),
        SourceFormat::JsonMessages => {
            Box::new(JsonReader::new(path, input, JsonKind::Conversations))
        }
        SourceFormat::JsonLines => Box::new(json_lines::JsonLinesReader::new(path, input)),
        SourceFormat::Xml => Box::new(XmlReader::new(path, input)),
        SourceFormat::Log => Box::new(LogReader::new(path, input)),
        SourceFormat::Pickle => Box::new(PickleReader::new(path, input)),
    }
}

/// The files directly inside a directory: the dataset files with their
/// detected formats, and the files that match no format. Both sorted.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<(PathBuf, SourceFormat)>,
    pub unrecognised: Vec<PathBuf>,
}

impl Listing {
    /// Names each file that matches no format ([`report_unrecognised`]).
    pub fn report_unrecognised(&self) {
        for skipped in &self.unrecognised {
            report_unrecognised(skipped);
        }
    }
}

/// Names a file (a path or an object's location) that matches no format in
/// a warning: none is skipped in silence. The generator's own account of a
/// dataset ([`crate::datagen::SUMMARY_FILE`], written beside the files it
/// describes) is named at info level: it is expected there.
pub fn report_unrecognised(file: &Path) {
    if file.file_name() == Some(crate::datagen::SUMMARY_FILE.as_ref()) {
        tracing::info!(
            file = %file.display(),
            "skipped: the generator's defect summary, not a dataset file"
        );
    } else {
        tracing::warn!(file = %file.display(), "{}", NOT_A_DATASET_FILE);
    }
}

/// Every file directly inside `dir`, recognised or not.
pub fn dataset_files(dir: &Path) -> std::io::Result<Listing> {
    let mut listing = Listing::default();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() {
            match detect_format(&path)? {
                Some(format) => listing.files.push((path, format)),
                None => listing.unrecognised.push(path),
            }
        }
    }
    listing.files.sort();
    listing.unrecognised.sort();
    Ok(listing)
}

/// What a file that matches no format is told.
pub const NOT_A_DATASET_FILE: &str = "matches no dataset format (CSV, a JSON array, JSON Lines, \
     XML, a system log, a pickle): skipped";

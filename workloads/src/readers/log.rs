//! System log events, one per line:
//!
//! `2024-03-01T12:34:56.789+09:00 INFO  [order-service] trace=4f2a9c1e order_id=O000012345 event=RIDER_ASSIGNED latency_ms=184 msg="배차 완료"`
//!
//! Lines that do not start with a timestamp but are indented or start with
//! `at `, `Caused by` or `...` continue the previous event (a multi-line stack
//! trace) and are folded into its `stack_trace`. A line that starts with a
//! timestamp but is cut short (an unclosed `[service]` or quote, no `event=`)
//! is `truncated`; anything else (binary noise) is `unreadable`.

use super::lines::{Line, LineReader};
use super::{ErrorKind, ErrorSink, Position, ReadResult, RecordError, MAX_RECORD_BYTES};
use crate::model::{LogEvent, LogLevel, Record, SourceTime};
use std::io::BufRead;
use std::path::Path;

pub struct LogReader<R> {
    lines: LineReader<R>,
    errors: ErrorSink,
    /// An event waiting for possible continuation lines.
    pending: Option<LogEvent>,
    /// A result to hand out after the pending event.
    queued: Option<ReadResult>,
    /// Whether any non-blank line was seen (an empty file is reported).
    seen_any: bool,
    done: bool,
}

enum Parsed {
    Event(Box<LogEvent>),
    Continuation(String),
    Bad(ErrorKind, String),
}

impl<R: BufRead> LogReader<R> {
    pub fn new(path: &Path, input: R) -> Self {
        LogReader {
            lines: LineReader::new(input, MAX_RECORD_BYTES),
            errors: ErrorSink::new(path),
            pending: None,
            queued: None,
            seen_any: false,
            done: false,
        }
    }

    fn emit_pending_then(&mut self, next: Option<ReadResult>) -> Option<ReadResult> {
        match self.pending.take() {
            Some(event) => {
                self.queued = next;
                Some(Ok(Record::LogEvent(event)))
            }
            None => next,
        }
    }
}

impl<R: BufRead> Iterator for LogReader<R> {
    type Item = ReadResult;

    fn next(&mut self) -> Option<ReadResult> {
        if let Some(queued) = self.queued.take() {
            return Some(queued);
        }
        loop {
            if self.done {
                return self.pending.take().map(|e| Ok(Record::LogEvent(e)));
            }
            let (parsed, number) = match self.lines.next_line() {
                Ok(None) => {
                    self.done = true;
                    if !self.seen_any {
                        return Some(Err(self.errors.error(Position::Line(1), ErrorKind::Truncated, "empty file: no log lines")));
                    }
                    continue;
                }
                Err(e) => {
                    self.done = true;
                    let error: RecordError = self.errors.error(Position::Line(0), ErrorKind::Io, format!("read failed: {e}"));
                    return self.emit_pending_then(Some(Err(error)));
                }
                Ok(Some(Line::TooLong { number, length, .. })) => (
                    Parsed::Bad(ErrorKind::TooLong, format!("line of {length} bytes exceeds the {MAX_RECORD_BYTES}-byte record limit")),
                    number,
                ),
                Ok(Some(Line::Text { bytes, number, .. })) => {
                    if bytes.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    (parse_line(bytes), number)
                }
            };
            self.seen_any = true;
            match parsed {
                Parsed::Continuation(text) => match &mut self.pending {
                    Some(event) => {
                        let trace = event.stack_trace.get_or_insert_with(String::new);
                        if !trace.is_empty() {
                            trace.push('\n');
                        }
                        trace.push_str(&text);
                    }
                    None => {
                        let error = self.errors.error(
                            Position::Line(number),
                            ErrorKind::Unreadable,
                            "continuation line with no event before it",
                        );
                        return Some(Err(error));
                    }
                },
                Parsed::Event(event) => {
                    if let Some(previous) = self.pending.replace(*event) {
                        return Some(Ok(Record::LogEvent(previous)));
                    }
                }
                Parsed::Bad(kind, reason) => {
                    let error = self.errors.error(Position::Line(number), kind, reason);
                    return self.emit_pending_then(Some(Err(error)));
                }
            }
        }
    }
}

fn is_continuation(line: &str) -> bool {
    line.starts_with([' ', '\t'])
        || line.starts_with("at ")
        || line.starts_with("Caused by")
        || line.starts_with("...")
        || is_exception_header(line)
}

/// `java.lang.IllegalStateException: …`, `redis.exceptions.ConnectionError`:
/// the first line of a stack trace names a dotted exception or error type.
fn is_exception_header(line: &str) -> bool {
    let name = line.split([':', ' ']).next().unwrap_or("");
    name.contains('.')
        && (name.ends_with("Exception") || name.ends_with("Error"))
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '$'))
}

fn parse_line(bytes: &[u8]) -> Parsed {
    let line = match std::str::from_utf8(bytes) {
        Ok(l) => l,
        // A line cut inside a multi-byte character: cut short, if it began as an event.
        Err(e) if e.error_len().is_none() && starts_with_timestamp(&bytes[..e.valid_up_to()]) => {
            return Parsed::Bad(
                ErrorKind::Truncated,
                "line cut short inside a character".into(),
            );
        }
        Err(e) => {
            return Parsed::Bad(
                ErrorKind::Unreadable,
                format!(
                    "not valid UTF-8 text (byte {} of the line)",
                    e.valid_up_to()
                ),
            )
        }
    };
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Parsed::Bad(
            ErrorKind::Unreadable,
            "control characters in the line (binary noise)".into(),
        );
    }
    let (stamp, rest) = line.split_once(' ').unwrap_or((line, ""));
    let Some(timestamp) = SourceTime::parse(stamp).filter(|_| stamp.contains('T')) else {
        if is_continuation(line) {
            return Parsed::Continuation(line.trim_end().to_string());
        }
        return Parsed::Bad(
            ErrorKind::Unreadable,
            "neither an event (no leading timestamp) nor a continuation line".into(),
        );
    };
    let truncated = |why: &str| Parsed::Bad(ErrorKind::Truncated, format!("line cut short: {why}"));
    let rest = rest.trim_start();
    let (level_text, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let Some(level) = LogLevel::parse(level_text) else {
        return if rest.is_empty() {
            truncated("no level")
        } else {
            Parsed::Bad(
                ErrorKind::InvalidValue,
                format!("unknown level {level_text:?}"),
            )
        };
    };
    let rest = rest.trim_start();
    let Some(after_bracket) = rest.strip_prefix('[') else {
        return truncated("no [service]");
    };
    let Some((service, mut rest)) = after_bracket.split_once(']') else {
        return truncated("[service] is not closed");
    };
    let mut event = LogEvent {
        timestamp,
        level,
        service: service.to_string(),
        trace_id: None,
        order_id: None,
        event: String::new(),
        latency_ms: None,
        message: None,
        stack_trace: None,
    };
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let Some((key, after)) = rest.split_once('=') else {
            return truncated(&format!("token {rest:?} has no value"));
        };
        let value;
        if let Some(quoted) = after.strip_prefix('"') {
            let Some(end) = find_closing_quote(quoted) else {
                return truncated(&format!("{key}=\" is not closed"));
            };
            value = quoted[..end].replace("\\\"", "\"");
            rest = &quoted[end + 1..];
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            value = after[..end].to_string();
            rest = &after[end..];
        }
        match key {
            "trace" | "trace_id" => event.trace_id = Some(value),
            "order_id" => event.order_id = Some(value),
            "event" => event.event = value,
            "latency_ms" => match value.parse() {
                Ok(ms) => event.latency_ms = Some(ms),
                Err(_) if rest.is_empty() => return truncated("latency_ms is cut"),
                Err(_) => {
                    return Parsed::Bad(
                        ErrorKind::InvalidValue,
                        format!("latency_ms: not an integer: {value:?}"),
                    )
                }
            },
            "msg" | "message" => event.message = Some(value),
            _ => {}
        }
    }
    if event.event.is_empty() {
        return truncated("no event=");
    }
    Parsed::Event(Box::new(event))
}

fn starts_with_timestamp(bytes: &[u8]) -> bool {
    let stamp = bytes.split(|b| *b == b' ').next().unwrap_or(bytes);
    std::str::from_utf8(stamp)
        .ok()
        .and_then(SourceTime::parse)
        .is_some()
}

fn find_closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(j) = memchr::memchr(b'"', &bytes[i..]) {
        let at = i + j;
        if at > 0 && bytes[at - 1] == b'\\' {
            i = at + 1;
            continue;
        }
        return Some(at);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const LINE: &str = r#"2024-03-01T12:34:56.789+09:00 INFO  [order-service] trace=4f2a9c1e order_id=O000012345 event=RIDER_ASSIGNED latency_ms=184 msg="배차 완료""#;

    fn read(bytes: &[u8]) -> Vec<Result<LogEvent, (ErrorKind, Position)>> {
        LogReader::new(Path::new("s.log"), Cursor::new(bytes.to_vec()))
            .map(|r| match r {
                Ok(Record::LogEvent(e)) => Ok(e),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err((e.kind, e.position)),
            })
            .collect()
    }

    #[test]
    fn a_line_reads_into_its_fields() {
        let got = read(LINE.as_bytes());
        let e = got[0].as_ref().unwrap();
        assert_eq!(
            (e.level, e.service.as_str(), e.event.as_str()),
            (LogLevel::Info, "order-service", "RIDER_ASSIGNED")
        );
        assert_eq!(
            (e.order_id.as_deref(), e.latency_ms, e.message.as_deref()),
            (Some("O000012345"), Some(184), Some("배차 완료"))
        );
    }

    #[test]
    fn stack_traces_fold_broken_lines_are_classified_and_reading_goes_on() {
        let mut text = format!("{LINE}\n").into_bytes();
        text.extend_from_slice(LINE.replace("INFO ", "ERROR").as_bytes());
        text.extend_from_slice(b"\njava.lang.IllegalStateException: timeout\n\tat com.baemin.Dispatch.assign(Dispatch.java:42)\nCaused by: java.net.SocketTimeoutException\n");
        text.extend_from_slice(&LINE.as_bytes()[..LINE.len() - 12]);
        text.push(b'\n');
        text.extend_from_slice(b"\xff\xfe\x00\x13garbage\n");
        text.extend_from_slice(format!("{LINE}\n").as_bytes());
        text.extend_from_slice(b"\tat later.Trace(After.java:1)\n");
        let got = read(&text);
        assert!(got[0].is_ok());
        let trace = got[1].as_ref().unwrap().stack_trace.as_deref().unwrap();
        assert!(
            trace.starts_with("java.lang.IllegalStateException")
                && trace.ends_with("SocketTimeoutException"),
            "{trace}"
        );
        assert_eq!(got[2], Err((ErrorKind::Truncated, Position::Line(6))));
        assert_eq!(got[3], Err((ErrorKind::Unreadable, Position::Line(7))));
        assert_eq!(
            got[4].as_ref().unwrap().stack_trace.as_deref(),
            Some("\tat later.Trace(After.java:1)")
        );
        assert_eq!(got.len(), 5);
        assert_eq!(
            read(b"\tat orphan.Trace(A.java:1)\n"),
            vec![Err((ErrorKind::Unreadable, Position::Line(1)))]
        );
    }

    #[test]
    fn continuation_lines_attach_to_the_event_before_them() {
        let text = format!(
            "{}\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)\n{LINE}\n",
            LINE.replace("INFO ", "ERROR")
        );
        let got = read(text.as_bytes());
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].as_ref().unwrap().stack_trace.as_deref(),
            Some("\tat a.b(C.java:1)\n\tat d.e(F.java:2)")
        );
    }
}

//! Orders from JSON Lines (`.jsonl`, `.ndjson`, or `.json` with one object
//! per line), streamed line by line.
//!
//! A line holds either the app API's nested order document (`orderId`,
//! `customer`, …) or a flat record in the CSV's column names (any alias of
//! [`map_header`](super::csv::map_header)), which is what
//! `DataFrame.to_json(orient="records", lines=True)` writes. Blank lines are
//! skipped; a line that is not a JSON object, or not an order, costs only
//! itself and is reported at its line number.

use super::json::{order_from_object, parse_error_kind};
use super::lines::{Line, LineReader};
use super::{ErrorKind, ErrorSink, Position, ReadResult, MAX_RECORD_BYTES};
use crate::model::Record;
use serde_json::{Map, Value};
use std::io::BufRead;
use std::path::Path;

pub struct JsonLinesReader<R> {
    lines: LineReader<R>,
    errors: ErrorSink,
    done: bool,
}

impl<R: BufRead> JsonLinesReader<R> {
    pub fn new(path: &Path, input: R) -> Self {
        JsonLinesReader {
            lines: LineReader::new(input, MAX_RECORD_BYTES),
            errors: ErrorSink::new(path),
            done: false,
        }
    }
}

/// One line's order, or why it is not one.
fn parse_line(bytes: &[u8]) -> Result<Record, (ErrorKind, String)> {
    let fields: Map<String, Value> = serde_json::from_slice(bytes).map_err(|e| {
        (
            parse_error_kind(&e, bytes),
            format!("not a JSON object: {e}"),
        )
    })?;
    order_from_object(fields).map(Record::Order)
}

impl<R: BufRead> Iterator for JsonLinesReader<R> {
    type Item = ReadResult;

    fn next(&mut self) -> Option<ReadResult> {
        while !self.done {
            let line = match self.lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.errors.error(
                        Position::Line(0),
                        ErrorKind::Io,
                        format!("read failed: {e}"),
                    )));
                }
            };
            return Some(match line {
                Line::TooLong { number, length } => Err(self.errors.error(
                    Position::Line(number),
                    ErrorKind::TooLong,
                    format!(
                        "line of {length} bytes exceeds the {MAX_RECORD_BYTES}-byte record limit"
                    ),
                )),
                Line::Text { bytes, number, .. } => {
                    let bytes = if number == 1 {
                        bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
                    } else {
                        bytes
                    };
                    if bytes.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    parse_line(bytes).map_err(|(kind, reason)| {
                        self.errors.error(Position::Line(number), kind, reason)
                    })
                }
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read(text: &str) -> Vec<Result<String, (ErrorKind, u64)>> {
        JsonLinesReader::new(Path::new("o.jsonl"), Cursor::new(text.as_bytes().to_vec()))
            .map(|r| match r {
                Ok(Record::Order(o)) => Ok(format!("{}:{}", o.order_id, o.customer_id)),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => Err((
                    e.kind,
                    match e.position {
                        Position::Line(n) => n,
                        Position::Byte(b) => b,
                    },
                )),
            })
            .collect()
    }

    #[test]
    fn nested_documents_flat_records_blank_and_broken_lines() {
        let text = concat!(
            r#"{"orderId":"O1","orderTime":"2024-03-01T12:00:00+09:00","status":"DELIVERED","customer":{"customerId":"C1"},"restaurant":{"restaurantId":"R1"}}"#,
            "\n\n",
            r#"{"order_id":"O2","order_time":"2024-03-01 12:00:00","customer_id":"C2","restaurant_id":"R1","order_amount":12000,"order_status":"DELIVERED","rating":null}"#,
            "\n",
            r#"{"order_id":"O3","#,
            "\n",
            r#"[1, 2]"#,
            "\r\n",
            r#"{"주문번호":"O4","주문시간":"2024-03-01 12:00","고객ID":"C4","가게ID":"R2","주문금액":"9000","주문상태":"배달완료"}"#,
            "\n",
        );
        assert_eq!(
            read(text),
            vec![
                Ok("O1:C1".into()),
                Ok("O2:C2".into()),
                Err((ErrorKind::Truncated, 4)),
                Err((ErrorKind::InvalidValue, 5)),
                Ok("O4:C4".into()),
            ]
        );
    }
}

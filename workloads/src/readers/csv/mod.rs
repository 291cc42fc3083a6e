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

mod framing;

use super::encoding::{utf8_reader, TextEncoding};
use super::{ErrorKind, ErrorSink, Position, ReadResult};
use crate::model::{
    column_index, parse_float, parse_int, Order, OrderItem, OrderStatus, Record, SourceTime, Text,
    ORDER_COLUMNS,
};
use framing::{
    push_commas, Batch, Fields, Framed, Framer, Job, Schema, BATCHES_IN_FLIGHT, BATCH_RECORDS,
};
use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::ops::Range;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, PoisonError};

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

/// Turns one framed record into an order. `commas` is scratch space for the
/// field ends of a quote-free line.
fn convert(schema: &Schema, batch: &Batch, item: &Framed, commas: &mut Vec<usize>) -> ReadResult {
    let (position, range, fields) = match item {
        Framed::Error(e) => return Err(e.clone()),
        Framed::Record {
            position,
            bytes,
            fields,
        } => (*position, bytes.clone(), fields),
    };
    let record = &batch.text.bytes()[range.clone()];
    // Where each field ends, from the record's start, and the width of
    // what separates one field from the next.
    let (ends, separator) = match fields {
        Fields::AtCommas => {
            commas.clear();
            push_commas(record, commas);
            commas.push(record.len());
            (&commas[..], 1)
        }
        Fields::Unescaped(ends) => (&batch.ends[ends.clone()], 0),
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
    let text = match batch.text.checked(range) {
        Some(text) => text,
        None => simdutf8::compat::from_utf8(record).map_err(|e| {
            schema.errors.error(
                position,
                ErrorKind::InvalidEncoding,
                format!("invalid UTF-8 at byte {} of the record", e.valid_up_to()),
            )
        })?,
    };
    // An unescaped record's fields lie side by side, so bytes that are
    // invalid in each of two fields can make one character across their
    // boundary: the record is valid text, the fields are not. (Between
    // commas, a boundary is always a character's.)
    if matches!(fields, Fields::Unescaped(_)) {
        if let Some(end) = ends.iter().find(|&&end| !text.is_char_boundary(end)) {
            return Err(schema.errors.error(
                position,
                ErrorKind::InvalidEncoding,
                format!("invalid UTF-8: a character split across two fields at byte {end} of the unescaped record"),
            ));
        }
    }
    let field = |i: usize| -> &str {
        let start = match i {
            0 => 0,
            _ => ends[i - 1] + separator,
        };
        &text[start..ends[i]]
    };
    order_from_columns(|col| schema.columns[col].map(field))
        .map(Record::Order)
        .map_err(|(kind, reason)| schema.errors.error(position, kind, reason))
}

/// Records claimed at a time by the converter thread or the reader.
const CHUNK: usize = 128;

impl Job {
    /// Claims the next [`CHUNK`] records no one has claimed, from the front.
    fn claim_front(&self) -> Option<Range<usize>> {
        let mut unclaimed = self
            .unclaimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let end = unclaimed.end.min(unclaimed.start + CHUNK);
        let claimed = unclaimed.start..end;
        unclaimed.start = end;
        (!claimed.is_empty()).then_some(claimed)
    }

    /// Claims the last [`CHUNK`] records no one has claimed, from the back.
    fn claim_back(&self) -> Option<Range<usize>> {
        let mut unclaimed = self
            .unclaimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let start = unclaimed.start.max(unclaimed.end.saturating_sub(CHUNK));
        let claimed = start..unclaimed.end;
        unclaimed.end = start;
        (!claimed.is_empty()).then_some(claimed)
    }

    /// Where the front claims end (once every record is claimed).
    fn front_end(&self) -> usize {
        self.unclaimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .start
    }

    /// Converts the `i`-th record of the batch.
    fn convert(&self, i: usize, commas: &mut Vec<usize>) -> ReadResult {
        convert(&self.schema, &self.batch, &self.batch.items[i], commas)
    }
}

/// Streaming CSV order reader.
///
/// A framing thread splits the text into records (sequential: a quoted
/// field may span lines) and hands them over in batches of
/// [`BATCH_RECORDS`]. A converter thread turns each batch into orders from
/// its front while the calling thread converts it from its back, a
/// [`CHUNK`] at a time, until they meet: whoever has more time does more of
/// the work (a caller busy with each record leaves most of it to the
/// converter), and neither waits for the other. Records come out in file
/// order.
pub struct CsvReader {
    batches: Option<Receiver<Arc<Job>>>,
    converted: Option<Receiver<Vec<ReadResult>>>,
    /// The converter's share of the current batch, in file order.
    front: VecDeque<ReadResult>,
    /// The reader's share, which follows it: last record first.
    back: Vec<ReadResult>,
    /// The current batch, held until both shares are read.
    job: Option<Arc<Job>>,
    encoding: Option<TextEncoding>,
    /// Where emptied `front` vectors go back to the converter.
    spare: Option<SyncSender<Vec<ReadResult>>>,
    /// Where converted batches' buffers go back to the framer.
    recycle: Option<SyncSender<(Vec<u8>, Vec<usize>)>>,
    /// Field ends of the quote-free line being converted.
    commas: Vec<usize>,
}

impl CsvReader {
    pub fn new<R: Read + Send + 'static>(path: &Path, input: R) -> Self {
        let errors = ErrorSink::new(path);
        let mut reader = CsvReader {
            batches: None,
            converted: None,
            front: VecDeque::new(),
            back: Vec::new(),
            job: None,
            encoding: None,
            spare: None,
            recycle: None,
            commas: Vec::new(),
        };
        let text: Box<dyn BufRead + Send> = match utf8_reader(input) {
            Ok((encoding, text)) => {
                reader.encoding = Some(encoding);
                text
            }
            Err(e) => {
                reader.front.push_back(Err(errors.error(
                    Position::Line(1),
                    ErrorKind::Io,
                    format!("read failed: {e}"),
                )));
                return reader;
            }
        };
        let (recycle, recycled) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
        let framer = Framer::new(text, errors.clone(), recycled);
        let (to_reader, batches) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
        let (to_converter, jobs) = std::sync::mpsc::sync_channel::<Arc<Job>>(BATCHES_IN_FLIGHT);
        let (to_results, converted) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
        let (spare, spares) = std::sync::mpsc::sync_channel::<Vec<ReadResult>>(BATCHES_IN_FLIGHT);
        let started = std::thread::Builder::new()
            .name("csv-convert".into())
            .spawn(move || {
                let mut commas = Vec::new();
                for job in jobs {
                    let mut out = spares
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BATCH_RECORDS));
                    while let Some(claimed) = job.claim_front() {
                        out.extend(claimed.map(|i| job.convert(i, &mut commas)));
                    }
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
        match started {
            Ok(_) => {
                reader.batches = Some(batches);
                reader.converted = Some(converted);
                reader.spare = Some(spare);
                reader.recycle = Some(recycle);
            }
            Err(e) => reader.front.push_back(Err(errors.error(
                Position::Line(1),
                ErrorKind::Io,
                format!("cannot start the reader threads: {e}"),
            ))),
        }
        reader
    }

    /// The detected text encoding (`None` if the file could not be read).
    pub fn encoding(&self) -> Option<TextEncoding> {
        self.encoding
    }

    /// Ends the current batch, once both shares are read: its buffers go
    /// back to the framer (if this was the last reference) and the emptied
    /// `front` vector to the converter.
    fn finish_job(&mut self) {
        let Some(job) = self.job.take() else {
            return;
        };
        if let (Ok(done), Some(recycle)) = (Arc::try_unwrap(job), &self.recycle) {
            let _ = recycle.try_send((done.batch.text.into_bytes(), done.batch.ends));
        }
        if let Some(spare) = &self.spare {
            let _ = spare.try_send(Vec::from(std::mem::take(&mut self.front)));
        }
    }
}

impl Iterator for CsvReader {
    type Item = ReadResult;

    fn next(&mut self) -> Option<ReadResult> {
        loop {
            // `pop` straight into the return value: a record is a few
            // hundred bytes, and unwrapping and rewrapping it copies it twice.
            if !self.front.is_empty() {
                return self.front.pop_front();
            }
            if !self.back.is_empty() {
                return self.back.pop();
            }
            self.finish_job();
            let job = self.batches.as_ref()?.recv().ok()?;
            while let Some(claimed) = job.claim_back() {
                let commas = &mut self.commas;
                self.back
                    .extend(claimed.rev().map(|i| job.convert(i, commas)));
            }
            self.front = match self.converted.as_ref().map(Receiver::recv) {
                Some(Ok(front)) => VecDeque::from(front),
                // The converter is gone (it cannot fail; be total anyway).
                _ => {
                    let commas = &mut self.commas;
                    (0..job.front_end())
                        .map(|i| job.convert(i, commas))
                        .collect()
                }
            };
            self.job = Some(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const HEADER: &str =
        "order_id,order_time,customer_id,restaurant_id,order_amount,order_status,menu_items";

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
    fn records_of_many_batches_come_out_in_file_order() {
        // Batches that do not divide into chunks, an error in each, and a
        // caller that reads fast: the converter's and the caller's shares
        // of every batch meet somewhere, and the order holds.
        let rows = 3 * BATCH_RECORDS + CHUNK / 2 + 7;
        let mut text = format!("{HEADER}\n");
        for id in 1..=rows as u32 {
            match id % 1000 {
                0 => text.push_str("broken,line\n"),
                _ => text.push_str(&row(id)),
            }
        }
        let got = read(text.as_bytes());
        assert_eq!(got.len(), rows);
        for (i, record) in got.iter().enumerate() {
            let id = i as u32 + 1;
            match record {
                Ok(order_id) => assert_eq!(order_id, &format!("O{id:09}")),
                Err(e) => assert_eq!(
                    (id % 1000, e),
                    (
                        0,
                        &(
                            ErrorKind::WrongFieldCount,
                            Position::Line(u64::from(id) + 1)
                        )
                    )
                ),
            }
        }
    }

    #[test]
    fn a_character_split_across_two_records_is_invalid_in_both() {
        // "가" is EA B0 80: the first record ends with its first two bytes,
        // the next starts with its last, so the two together are valid UTF-8.
        let mut text = format!("{HEADER}\n{}", row(1)).into_bytes();
        text.extend_from_slice(
            b"O000000002,2024-03-01 12:00:00,C1,R1,12000,DELIVERED,x:1:1\xea\xb0\n",
        );
        text.extend_from_slice(b"\x80O000000003,2024-03-01 12:00:00,C1,R1,12000,DELIVERED,x:1:1\n");
        text.extend_from_slice(row(4).as_bytes());
        assert_eq!(
            read(&text),
            vec![
                Ok("O000000001".into()),
                Err((ErrorKind::InvalidEncoding, Position::Line(3))),
                Err((ErrorKind::InvalidEncoding, Position::Line(4))),
                Ok("O000000004".into()),
            ]
        );
    }

    #[test]
    fn a_character_split_across_two_fields_of_a_quoted_record_is_invalid_not_a_panic() {
        // Unescaped, `"C1\xEA\xB0"` and `\x80R1` lie side by side and their
        // bytes make "가" across the boundary of the two fields.
        let mut text = format!("{HEADER}\n{}", row(1)).into_bytes();
        text.extend_from_slice(
            b"O000000002,2024-03-01 12:00:00,\"C1\xea\xb0\",\x80R1,12000,DELIVERED,x:1:1\n",
        );
        text.extend_from_slice(row(3).as_bytes());
        assert_eq!(
            read(&text),
            vec![
                Ok("O000000001".into()),
                Err((ErrorKind::InvalidEncoding, Position::Line(3))),
                Ok("O000000003".into()),
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

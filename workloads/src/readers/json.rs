//! Orders and conversations from a JSON array, streamed element by element.
//!
//! A small scanner frames each top-level array element (tracking strings and
//! nesting, never building a tree), so only one element is in memory at a
//! time. Each element is then parsed strictly into its typed document; an
//! element that fails is reported at its byte offset and the next one is read.

use super::{ErrorKind, ErrorSink, Position, ReadResult, RecordError, MAX_RECORD_BYTES};
use crate::model::{
    Conversation, Order, OrderItem, OrderStatus, Record, SourceTime, Text, ORDER_COLUMNS,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::io::{self, BufRead};
use std::path::Path;

/// What the array holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Orders,
    Conversations,
}

enum Scan {
    Element { start: u64 },
    TooLong { start: u64, length: u64 },
    Truncated { start: u64, why: &'static str },
    NotAnArray { at: u64 },
    End,
}

#[derive(PartialEq)]
enum ScanState {
    BeforeArray,
    InArray,
    Done,
}

/// Frames the elements of one top-level JSON array.
struct ElementScanner<R> {
    input: R,
    offset: u64,
    state: ScanState,
}

impl<R: BufRead> ElementScanner<R> {
    /// Skips whitespace (and, inside the array, separators); returns the next byte without consuming it.
    fn skip_filler(&mut self, commas: bool) -> io::Result<Option<u8>> {
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            match chunk
                .iter()
                .position(|b| !(b.is_ascii_whitespace() || (commas && *b == b',')))
            {
                Some(i) => {
                    let b = chunk[i];
                    self.input.consume(i);
                    self.offset += i as u64;
                    return Ok(Some(b));
                }
                None => {
                    let n = chunk.len();
                    self.input.consume(n);
                    self.offset += n as u64;
                }
            }
        }
    }

    fn next_element(&mut self, buf: &mut Vec<u8>) -> io::Result<Scan> {
        buf.clear();
        if self.state == ScanState::BeforeArray {
            // A UTF-8 byte-order mark is allowed before the array.
            if self.input.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
                self.input.consume(3);
                self.offset += 3;
            }
            match self.skip_filler(false)? {
                Some(b'[') => {
                    self.input.consume(1);
                    self.offset += 1;
                    self.state = ScanState::InArray;
                }
                Some(_) => {
                    self.state = ScanState::Done;
                    return Ok(Scan::NotAnArray { at: self.offset });
                }
                None => {
                    self.state = ScanState::Done;
                    return Ok(Scan::Truncated {
                        start: self.offset,
                        why: "empty file: no JSON array",
                    });
                }
            }
        }
        if self.state == ScanState::Done {
            return Ok(Scan::End);
        }
        let start = match self.skip_filler(true)? {
            None => {
                self.state = ScanState::Done;
                return Ok(Scan::Truncated {
                    start: self.offset,
                    why: "file ends inside the array",
                });
            }
            Some(b']') => {
                self.state = ScanState::Done;
                return Ok(Scan::End);
            }
            Some(_) => self.offset,
        };
        let mut depth: u32 = 0;
        let mut in_string = false;
        let mut escaped = false;
        let mut length: u64 = 0;
        let mut overflow = false;
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                self.state = ScanState::Done;
                return Ok(Scan::Truncated {
                    start,
                    why: "file ends inside an element",
                });
            }
            let mut end = None;
            let mut i = 0;
            while i < chunk.len() {
                let b = chunk[i];
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    } else if let Some(j) = memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                        i += j;
                        continue;
                    } else {
                        i = chunk.len();
                        continue;
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' if depth > 0 => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(i + 1);
                                break;
                            }
                        }
                        // A bare scalar ends at a separator, the array's end or whitespace.
                        b',' | b']' | b' ' | b'\n' | b'\r' | b'\t' if depth == 0 => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
            let take = end.unwrap_or(chunk.len());
            length += take as u64;
            if !overflow {
                if buf.len() + take > MAX_RECORD_BYTES {
                    overflow = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.input.consume(take);
            self.offset += take as u64;
            if end.is_some() {
                return Ok(if overflow {
                    Scan::TooLong { start, length }
                } else {
                    Scan::Element { start }
                });
            }
        }
    }
}

/// Streaming reader of a JSON array of orders or conversations.
pub struct JsonReader<R> {
    scanner: ElementScanner<R>,
    kind: JsonKind,
    errors: ErrorSink,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonReader<R> {
    pub fn new(path: &Path, input: R, kind: JsonKind) -> Self {
        JsonReader {
            scanner: ElementScanner {
                input,
                offset: 0,
                state: ScanState::BeforeArray,
            },
            kind,
            errors: ErrorSink::new(path),
            buf: Vec::new(),
        }
    }

    fn parse(&self, start: u64) -> ReadResult {
        let position = Position::Byte(start);
        let classify = |e: serde_json::Error| {
            self.errors
                .error(position, parse_error_kind(&e, &self.buf), e.to_string())
        };
        match self.kind {
            JsonKind::Orders => {
                let doc: OrderDoc = serde_json::from_slice(&self.buf).map_err(classify)?;
                doc.into_order()
                    .map(Record::Order)
                    .map_err(|(kind, reason)| self.errors.error(position, kind, reason))
            }
            JsonKind::Conversations => {
                let c: Conversation = serde_json::from_slice(&self.buf).map_err(classify)?;
                if c.conversation_id.trim().is_empty() || c.order_id.trim().is_empty() {
                    return Err(self.errors.error(
                        position,
                        ErrorKind::MissingField,
                        "conversation_id or order_id is empty",
                    ));
                }
                Ok(Record::Conversation(c))
            }
        }
    }
}

impl<R: BufRead> Iterator for JsonReader<R> {
    type Item = ReadResult;

    fn next(&mut self) -> Option<ReadResult> {
        let scan = match self.scanner.next_element(&mut self.buf) {
            Ok(scan) => scan,
            Err(e) => {
                self.scanner.state = ScanState::Done;
                let at = Position::Byte(self.scanner.offset);
                return Some(Err(self.errors.error(
                    at,
                    ErrorKind::Io,
                    format!("read failed: {e}"),
                )));
            }
        };
        let error = |kind, at: u64, reason: String| -> Option<ReadResult> {
            Some(Err::<Record, RecordError>(self.errors.error(
                Position::Byte(at),
                kind,
                reason,
            )))
        };
        match scan {
            Scan::End => None,
            Scan::Element { start } => Some(self.parse(start)),
            Scan::TooLong { start, length } => error(
                ErrorKind::TooLong,
                start,
                format!(
                    "element of {length} bytes exceeds the {MAX_RECORD_BYTES}-byte record limit"
                ),
            ),
            Scan::Truncated { start, why } => error(ErrorKind::Truncated, start, why.into()),
            Scan::NotAnArray { at } => error(
                ErrorKind::Syntax,
                at,
                "expected a JSON array of documents".into(),
            ),
        }
    }
}

/// The class of a document that parsed as JSON but is not the type wanted.
pub(super) fn value_error_kind(e: &serde_json::Error) -> ErrorKind {
    if e.to_string().starts_with("missing field") {
        ErrorKind::MissingField
    } else {
        ErrorKind::InvalidValue
    }
}

/// The class of an error parsing `bytes` as a JSON document.
pub(super) fn parse_error_kind(e: &serde_json::Error, bytes: &[u8]) -> ErrorKind {
    match e.classify() {
        serde_json::error::Category::Data => value_error_kind(e),
        serde_json::error::Category::Eof => ErrorKind::Truncated,
        _ if std::str::from_utf8(bytes).is_err() => ErrorKind::InvalidEncoding,
        _ => ErrorKind::Syntax,
    }
}

/// An order from a JSON object: the app API's nested document when it has
/// `orderId`, otherwise a flat record in the CSV's column names (any alias),
/// values of any plain type (what pandas and most exports write).
pub(crate) fn order_from_object(fields: Map<String, Value>) -> Result<Order, (ErrorKind, String)> {
    if fields.contains_key("orderId") {
        let doc: OrderDoc = serde_json::from_value(Value::Object(fields))
            .map_err(|e| (value_error_kind(&e), e.to_string()))?;
        return doc.into_order();
    }
    let mut values: [Option<String>; ORDER_COLUMNS.len()] = Default::default();
    let mut known = 0;
    for (key, value) in &fields {
        if let Some(col) = super::csv::map_header(key) {
            known += 1;
            values[col] = match value {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                other => Some(other.to_string()),
            };
        }
    }
    if known == 0 {
        return Err((
            ErrorKind::MissingField,
            "an object with no order field (neither orderId nor a CSV column name)".into(),
        ));
    }
    super::csv::order_from_columns(|col| values[col].as_deref())
}

/// An order as the app API exports it (camelCase, nested).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderDoc {
    pub order_id: Text,
    pub order_time: SourceTime,
    pub updated_at: Option<SourceTime>,
    pub status: Text,
    pub customer: CustomerDoc,
    pub restaurant: RestaurantDoc,
    #[serde(default)]
    pub items: Vec<ItemDoc>,
    pub item_count: Option<i64>,
    pub payment: Option<PaymentDoc>,
    pub platform: Option<Text>,
    pub address: Option<AddressDoc>,
    pub delivery: Option<DeliveryDoc>,
    pub rating: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CustomerDoc {
    pub customer_id: Text,
    pub name: Option<Text>,
    pub phone: Option<Text>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestaurantDoc {
    pub restaurant_id: Text,
    pub name: Option<Text>,
    pub category: Option<Text>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemDoc {
    pub name: Text,
    pub quantity: i64,
    pub unit_price: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentDoc {
    pub method: Option<Text>,
    pub amount: Option<i64>,
    pub discount: Option<i64>,
    pub delivery_fee: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AddressDoc {
    pub district: Option<Text>,
    pub street: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryDoc {
    pub distance_km: Option<f64>,
    pub estimated_minutes: Option<i64>,
    pub actual_minutes: Option<i64>,
    pub rider_id: Option<Text>,
    pub weather: Option<Text>,
}

fn non_empty(v: Option<Text>) -> Option<Text> {
    v.filter(|s| !s.trim().is_empty())
}

impl OrderDoc {
    pub(crate) fn into_order(self) -> Result<Order, (ErrorKind, String)> {
        let required = |v: Text, name: &str| {
            if v.trim().is_empty() {
                Err((ErrorKind::MissingField, format!("{name} is empty")))
            } else {
                Ok(v)
            }
        };
        let order_status = OrderStatus::parse(&self.status).ok_or((
            ErrorKind::InvalidValue,
            format!("status: unknown status {:?}", self.status),
        ))?;
        let payment = self.payment.unwrap_or(PaymentDoc {
            method: None,
            amount: None,
            discount: None,
            delivery_fee: None,
        });
        let address = self.address.unwrap_or(AddressDoc {
            district: None,
            street: None,
        });
        let delivery = self.delivery.unwrap_or(DeliveryDoc {
            distance_km: None,
            estimated_minutes: None,
            actual_minutes: None,
            rider_id: None,
            weather: None,
        });
        Ok(Order {
            order_id: required(self.order_id, "orderId")?,
            order_time: self.order_time,
            updated_at: self.updated_at,
            customer_id: required(self.customer.customer_id, "customer.customerId")?,
            customer_name: non_empty(self.customer.name),
            phone_number: non_empty(self.customer.phone),
            restaurant_id: required(self.restaurant.restaurant_id, "restaurant.restaurantId")?,
            restaurant_name: non_empty(self.restaurant.name),
            category: non_empty(self.restaurant.category),
            items: self
                .items
                .into_iter()
                .map(|i| OrderItem {
                    name: i.name,
                    quantity: i.quantity,
                    unit_price: i.unit_price,
                })
                .collect(),
            item_count: self.item_count,
            order_amount: payment.amount,
            discount_amount: payment.discount,
            delivery_fee: payment.delivery_fee,
            payment_method: non_empty(payment.method),
            platform: non_empty(self.platform),
            district: non_empty(address.district),
            delivery_address: non_empty(address.street),
            store_lat: self.restaurant.lat,
            store_lng: self.restaurant.lng,
            customer_lat: self.customer.lat,
            customer_lng: self.customer.lng,
            distance_km: delivery.distance_km,
            estimated_delivery_min: delivery.estimated_minutes,
            actual_delivery_min: delivery.actual_minutes,
            rider_id: non_empty(delivery.rider_id),
            weather: non_empty(delivery.weather),
            order_status,
            rating: self.rating,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const DOC: &str = r#"{"orderId":"O000100001","orderTime":"2024-03-01T12:00:00+09:00","status":"DELIVERED",
        "customer":{"customerId":"C000001"},"restaurant":{"restaurantId":"R00001","name":"a \"]}\\ b"},
        "items":[{"name":"치킨","quantity":1,"unitPrice":20000}],"payment":{"amount":20000}}"#;

    fn read(text: &str) -> Vec<Result<String, (ErrorKind, u64)>> {
        JsonReader::new(
            Path::new("t.json"),
            Cursor::new(text.as_bytes().to_vec()),
            JsonKind::Orders,
        )
        .map(|r| match r {
            Ok(Record::Order(o)) => Ok(o.order_id.to_string()),
            Ok(other) => panic!("{other:?}"),
            Err(RecordError {
                kind,
                position: Position::Byte(b),
                ..
            }) => Err((kind, b)),
            Err(e) => panic!("{e}"),
        })
        .collect()
    }

    #[test]
    fn elements_are_framed_past_brackets_inside_strings() {
        let got = read(&format!("[{DOC},\n {DOC}]"));
        assert_eq!(got, vec![Ok("O000100001".into()), Ok("O000100001".into())]);
    }

    #[test]
    fn a_bad_element_is_reported_at_its_offset_and_the_rest_read() {
        let bad_value = DOC.replace("20000}}", "\"만이천원\"}}");
        let no_id = DOC.replace("\"orderId\":\"O000100001\",", "");
        let bad_syntax = r#"{"orderId": "O1", "x": 12,000}"#;
        let text = format!("[{DOC},{bad_value},{no_id},{bad_syntax},{DOC}]");
        let got = read(&text);
        let offset_of_second = DOC.len() as u64 + 2;
        assert_eq!(got[0], Ok("O000100001".into()));
        assert_eq!(got[1], Err((ErrorKind::InvalidValue, offset_of_second)));
        assert!(
            matches!(got[2], Err((ErrorKind::MissingField, _))),
            "{:?}",
            got[2]
        );
        assert!(
            matches!(got[3], Err((ErrorKind::Syntax, _))),
            "{:?}",
            got[3]
        );
        assert_eq!(got[4], Ok("O000100001".into()));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn a_truncated_file_keeps_the_complete_elements() {
        let text = format!("[{DOC},{DOC},{}", &DOC[..40]);
        let got = read(&text);
        assert_eq!(got.len(), 3);
        assert!(matches!(got[2], Err((ErrorKind::Truncated, _))));
    }

    #[test]
    fn an_object_or_empty_input_is_not_an_array() {
        assert!(matches!(
            read("{\"a\":1}")[..],
            [Err((ErrorKind::Syntax, 0))]
        ));
        assert!(matches!(read("")[..], [Err((ErrorKind::Truncated, 0))]));
        assert!(read("[]").is_empty());
    }
}

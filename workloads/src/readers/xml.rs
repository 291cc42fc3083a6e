//! Orders from XML (`<orders>` root, one `<order>` element each), streamed.
//!
//! The reader frames one `<order>…</order>` element at a time from the byte
//! stream and parses only that element with quick-xml, so memory holds one
//! order and a malformed order (an unclosed element, a bad value) costs only
//! itself: the next `<order` starts a fresh parse.
//!
//! Safety: a `<!DOCTYPE …>` (and any `<!ENTITY …>`) is refused and skipped,
//! never interpreted, and only the five predefined entities and character
//! references are decoded. A reference to any other entity makes its order
//! unreadable (`refused`), so entity-expansion attacks such as "billion laughs"
//! expand nothing.

use super::csv::order_from_columns;
use super::{ErrorKind, ErrorSink, Position, ReadResult, RecordError, MAX_RECORD_BYTES};
use crate::model::{parse_int, OrderItem, Record, ORDER_COLUMNS};
use quick_xml::events::{BytesStart, Event};
use std::io::{self, Read};
use std::path::Path;

/// Where each order field lives, relative to `<order>`: `a/b` is a child
/// element's text, `a@x` an attribute of `a` (`@x` an attribute of `<order>`).
const FIELD_PATHS: [(&str, &str); 28] = [
    ("@id", "order_id"),
    ("@status", "order_status"),
    ("orderTime", "order_time"),
    ("updatedAt", "updated_at"),
    ("customer@id", "customer_id"),
    ("customer/name", "customer_name"),
    ("customer/phone", "phone_number"),
    ("customer/lat", "customer_lat"),
    ("customer/lng", "customer_lng"),
    ("restaurant@id", "restaurant_id"),
    ("restaurant/name", "restaurant_name"),
    ("restaurant/category", "category"),
    ("restaurant/lat", "store_lat"),
    ("restaurant/lng", "store_lng"),
    ("itemCount", "item_count"),
    ("payment@method", "payment_method"),
    ("payment/amount", "order_amount"),
    ("payment/discount", "discount_amount"),
    ("payment/deliveryFee", "delivery_fee"),
    ("platform", "platform"),
    ("address@district", "district"),
    ("address", "delivery_address"),
    ("delivery@riderId", "rider_id"),
    ("delivery@weather", "weather"),
    ("delivery/distanceKm", "distance_km"),
    ("delivery/estimatedMinutes", "estimated_delivery_min"),
    ("delivery/actualMinutes", "actual_delivery_min"),
    ("rating", "rating"),
];

fn column_of(path: &str) -> Option<usize> {
    let (_, column) = FIELD_PATHS.iter().find(|(p, _)| *p == path)?;
    ORDER_COLUMNS.iter().position(|c| c == column)
}

const CHUNK: usize = 64 * 1024;

/// A growable window over the input stream.
struct Window<R> {
    input: R,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
}

impl<R: Read> Window<R> {
    /// Reads more input; returns false at the end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let len = self.buf.len();
        self.buf.resize(len + CHUNK, 0);
        let n = loop {
            match self.input.read(&mut self.buf[len..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(len + n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// Drops the first `n` bytes.
    fn discard(&mut self, n: usize) {
        self.buf.drain(..n);
        self.base += n as u64;
    }

    /// Finds `needle` at or after `from`, reading more as needed. With `keep`
    /// false, bytes before a possible match are discarded as they are passed
    /// (so skipping never grows the buffer); returned indexes are into the
    /// buffer as it is after the call.
    fn find(
        &mut self,
        needle: &[u8],
        mut from: usize,
        keep_limit: Option<usize>,
    ) -> io::Result<Option<usize>> {
        loop {
            if let Some(i) = memchr::memmem::find(&self.buf[from.min(self.buf.len())..], needle) {
                return Ok(Some(from + i));
            }
            from = self.buf.len().saturating_sub(needle.len() - 1);
            if keep_limit.is_some_and(|limit| self.buf.len() > limit) {
                return Ok(None);
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }
}

/// Streaming XML order reader.
pub struct XmlReader<R> {
    window: Window<R>,
    errors: ErrorSink,
    /// Whether any markup was seen (an empty file is reported).
    seen_markup: bool,
    done: bool,
}

impl<R: Read> XmlReader<R> {
    pub fn new(path: &Path, input: R) -> Self {
        XmlReader {
            window: Window {
                input,
                buf: Vec::with_capacity(2 * CHUNK),
                base: 0,
                eof: false,
            },
            errors: ErrorSink::new(path),
            seen_markup: false,
            done: false,
        }
    }

    fn err(&self, at: u64, kind: ErrorKind, reason: impl Into<String>) -> RecordError {
        self.errors.error(Position::Byte(at), kind, reason)
    }

    /// Skips past `end` (discarding as it goes); false if the input ends first.
    fn skip_past(&mut self, end: &[u8]) -> io::Result<bool> {
        loop {
            if let Some(i) = memchr::memmem::find(&self.window.buf, end) {
                self.window.discard(i + end.len());
                return Ok(true);
            }
            let keep = end.len() - 1;
            let drop = self.window.buf.len().saturating_sub(keep);
            self.window.discard(drop);
            if !self.window.fill()? {
                return Ok(false);
            }
        }
    }

    /// The next order or error, `None` at the end of the document.
    fn step(&mut self) -> io::Result<Option<ReadResult>> {
        loop {
            // Find the next markup.
            let lt = loop {
                if let Some(i) = memchr::memchr(b'<', &self.window.buf) {
                    break i;
                }
                let n = self.window.buf.len();
                self.window.discard(n);
                if !self.window.fill()? {
                    if !self.seen_markup {
                        self.seen_markup = true;
                        return Ok(Some(Err(self.err(
                            0,
                            ErrorKind::Truncated,
                            "empty file: no XML document",
                        ))));
                    }
                    return Ok(None);
                }
            };
            self.window.discard(lt);
            self.seen_markup = true;
            while self.window.buf.len() < 10 && self.window.fill()? {}
            let at = self.window.base;
            let head = &self.window.buf;
            if head.starts_with(b"<!DOCTYPE")
                || head.starts_with(b"<!doctype")
                || head.starts_with(b"<!ENTITY")
            {
                // Skip the declaration, including an internal subset `[ … ]`, unread.
                let subset = memchr::memchr2(b'[', b'>', head).map(|i| head[i] == b'[');
                let complete = if subset == Some(true) {
                    self.skip_past(b"]")? && self.skip_past(b">")?
                } else {
                    self.skip_past(b">")?
                };
                let reason = "DOCTYPE/ENTITY declaration refused: entities are never expanded";
                if !complete {
                    self.done = true;
                }
                return Ok(Some(Err(self.err(at, ErrorKind::Refused, reason))));
            }
            // Comments, declarations, the <orders> root and any other
            // top-level markup are skipped: what ends them, and what a file
            // that ends first is.
            let skipped: Option<(&[u8], &str)> = if head.starts_with(b"<!--") {
                Some((b"-->", "file ends inside a comment"))
            } else if head.starts_with(b"<?")
                || head.starts_with(b"<!")
                || head.starts_with(b"</")
                || !is_order_start(head)
            {
                Some((b">", "file ends inside a tag"))
            } else {
                None
            };
            if let Some((end, unfinished)) = skipped {
                if !self.skip_past(end)? {
                    return Ok(Some(Err(self.err(at, ErrorKind::Truncated, unfinished))));
                }
                continue;
            }
            return Ok(Some(self.frame_order(at)?));
        }
    }

    /// Frames the `<order>` element at the start of the window and parses it.
    fn frame_order(&mut self, at: u64) -> io::Result<ReadResult> {
        const CLOSE: &[u8] = b"</order>";
        let close = self.window.find(CLOSE, 1, Some(MAX_RECORD_BYTES))?;
        // An order whose end tag is missing runs into the next `<order`.
        let next_open =
            next_order_start(&self.window.buf, 1, close.unwrap_or(self.window.buf.len()));
        match (close, next_open) {
            (_, Some(next)) => {
                self.window.discard(next);
                Ok(Err(self.err(
                    at,
                    ErrorKind::Syntax,
                    "<order> element is not closed before the next <order>",
                )))
            }
            (Some(end), None) => {
                let end = end + CLOSE.len();
                let result = parse_order(&self.window.buf[..end])
                    .map(Record::Order)
                    .map_err(|(kind, reason)| self.err(at, kind, reason));
                self.window.discard(end);
                Ok(result)
            }
            (None, None) if self.window.buf.len() > MAX_RECORD_BYTES => {
                let skipped = self.skip_past(CLOSE)?;
                if !skipped {
                    self.done = true;
                }
                Ok(Err(self.err(
                    at,
                    ErrorKind::TooLong,
                    format!("<order> element exceeds the {MAX_RECORD_BYTES}-byte record limit"),
                )))
            }
            (None, None) => {
                self.done = true;
                Ok(Err(self.err(
                    at,
                    ErrorKind::Truncated,
                    "file ends inside an <order> element",
                )))
            }
        }
    }
}

fn is_order_start(b: &[u8]) -> bool {
    b.starts_with(b"<order") && matches!(b.get(6), Some(b' ' | b'>' | b'/' | b'\n' | b'\r' | b'\t'))
}

fn next_order_start(buf: &[u8], from: usize, to: usize) -> Option<usize> {
    let mut i = from;
    while let Some(j) = memchr::memmem::find(&buf[i..to], b"<order") {
        if is_order_start(&buf[i + j..]) {
            return Some(i + j);
        }
        i += j + 1;
    }
    None
}

impl<R: Read> Iterator for XmlReader<R> {
    type Item = ReadResult;

    fn next(&mut self) -> Option<ReadResult> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(item)) => Some(item),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(self.err(
                    self.window.base,
                    ErrorKind::Io,
                    format!("read failed: {e}"),
                )))
            }
        }
    }
}

fn xml_error(e: quick_xml::Error) -> (ErrorKind, String) {
    match &e {
        quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => (
            ErrorKind::Refused,
            format!(
                "entity reference &{name}; refused: only the predefined XML entities are decoded"
            ),
        ),
        quick_xml::Error::Encoding(_) => (ErrorKind::InvalidEncoding, e.to_string()),
        _ => (ErrorKind::Syntax, e.to_string()),
    }
}

/// Parses one framed `<order>…</order>` element.
fn parse_order(bytes: &[u8]) -> Result<crate::model::Order, (ErrorKind, String)> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    let mut values: [Option<String>; ORDER_COLUMNS.len()] = Default::default();
    let mut items = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let set_attrs = |e: &BytesStart,
                     path: &[String],
                     values: &mut [Option<String>]|
     -> Result<(), (ErrorKind, String)> {
        let prefix = path.get(1..).map(|p| p.join("/")).unwrap_or_default();
        for attr in e.attributes() {
            let attr = attr.map_err(|e| xml_error(e.into()))?;
            let key = format!("{prefix}@{}", String::from_utf8_lossy(attr.key.as_ref()));
            if let Some(col) = column_of(&key) {
                values[col] = Some(attr.unescape_value().map_err(xml_error)?.into_owned());
            }
        }
        Ok(())
    };
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) => {
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                set_attrs(&e, &path, &mut values)?;
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "item" {
                    items.push(parse_item(&e)?);
                } else {
                    path.push(name);
                    set_attrs(&e, &path, &mut values)?;
                    path.pop();
                }
            }
            Event::Text(t) => {
                let key = path.get(1..).map(|p| p.join("/")).unwrap_or_default();
                if let Some(col) = column_of(&key) {
                    values[col] = Some(t.unescape().map_err(xml_error)?.into_owned());
                }
            }
            Event::CData(t) => {
                let key = path.get(1..).map(|p| p.join("/")).unwrap_or_default();
                if let Some(col) = column_of(&key) {
                    values[col] = Some(String::from_utf8_lossy(&t).into_owned());
                }
            }
            Event::End(_) => {
                path.pop();
                if path.is_empty() {
                    break;
                }
            }
            Event::DocType(_) => {
                return Err((ErrorKind::Refused, "DOCTYPE inside an order refused".into()))
            }
            Event::Eof => return Err((ErrorKind::Syntax, "order element ends early".into())),
            _ => {}
        }
    }
    let mut order = order_from_columns(|col| values[col].as_deref())?;
    order.items = items;
    Ok(order)
}

fn parse_item(e: &BytesStart) -> Result<OrderItem, (ErrorKind, String)> {
    let (mut name, mut qty, mut price) = (None, None, None);
    for attr in e.attributes() {
        let attr = attr.map_err(|e| xml_error(e.into()))?;
        let value = attr.unescape_value().map_err(xml_error)?.into_owned();
        match attr.key.as_ref() {
            b"name" => name = Some(value),
            b"qty" | b"quantity" => qty = Some(value),
            b"price" | b"unitPrice" => price = Some(value),
            _ => {}
        }
    }
    let number = |v: Option<String>, what: &str| {
        let v = v.ok_or((ErrorKind::MissingField, format!("item has no {what}")))?;
        parse_int(&v).ok_or((
            ErrorKind::InvalidValue,
            format!("item {what}: not an integer: {v:?}"),
        ))
    };
    Ok(OrderItem {
        name: name
            .filter(|n| !n.is_empty())
            .ok_or((ErrorKind::MissingField, "item has no name".to_string()))?
            .into(),
        quantity: number(qty, "qty")?,
        unit_price: number(price, "price")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const ORDER: &str = r#"<order id="O000125001" status="DELIVERED"><orderTime>2024-03-01 12:34:56</orderTime>
<customer id="C000001"><name>김*수</name></customer><restaurant id="R00001"><name>치킨&amp;맥주</name></restaurant>
<items><item name="후라이드치킨" qty="1" price="20000"/></items><payment method="카드"><amount>20000</amount></payment>
<address district="강남구">서울특별시 강남구 역삼동</address><delivery riderId="D00001" weather="비"><actualMinutes>31</actualMinutes></delivery></order>"#;

    fn read(text: &str) -> Vec<Result<String, ErrorKind>> {
        XmlReader::new(Path::new("t.xml"), Cursor::new(text.as_bytes().to_vec()))
            .map(|r| match r {
                Ok(Record::Order(o)) => Ok(o.order_id.to_string()),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e.kind),
            })
            .collect()
    }

    #[test]
    fn orders_are_read_with_attributes_children_and_items() {
        let doc = format!("<?xml version=\"1.0\"?>\n<orders>\n{ORDER}\n</orders>\n");
        let orders: Vec<_> =
            XmlReader::new(Path::new("t.xml"), Cursor::new(doc.into_bytes())).collect();
        let Ok(Record::Order(o)) = &orders[0] else {
            panic!("{orders:?}")
        };
        assert_eq!(o.restaurant_name.as_deref(), Some("치킨&맥주"));
        assert_eq!(
            (
                o.district.as_deref(),
                o.weather.as_deref(),
                o.actual_delivery_min
            ),
            (Some("강남구"), Some("비"), Some(31))
        );
        assert_eq!(o.items.len(), 1);
        assert_eq!(o.order_amount, Some(20000));
        assert_eq!(orders.len(), 1);
    }

    #[test]
    fn an_unclosed_or_bad_order_costs_only_itself() {
        let unclosed = ORDER.replace("</order>", "");
        let mismatched = ORDER.replace("</orderTime>", "</orderTim>");
        let bad_value = ORDER.replace("<amount>20000</amount>", "<amount>만원</amount>");
        let doc = format!("<orders>{unclosed}{mismatched}{bad_value}{ORDER}</orders>");
        assert_eq!(
            read(&doc),
            vec![
                Err(ErrorKind::Syntax),
                Err(ErrorKind::Syntax),
                Err(ErrorKind::InvalidValue),
                Ok("O000125001".into())
            ]
        );
    }

    #[test]
    fn a_truncated_file_reports_the_cut_order() {
        let doc = format!("<orders>{ORDER}{}", &ORDER[..100]);
        assert_eq!(
            read(&doc),
            vec![Ok("O000125001".into()), Err(ErrorKind::Truncated)]
        );
    }
}

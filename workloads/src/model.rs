//! The domain model shared by every baedal workload.
//!
//! Each reader turns its file format into these types, the ingest side
//! serialises them as the canonical JSON records on Kafka, and the ETL loads
//! them into Postgres. Field names follow the CSV columns of DATA.md.
//!
//! Values that are impossible (a negative amount, a rating of 7) are still
//! representable: readers keep them so that the data-quality layer can flag
//! them; only values that cannot be parsed at all make a record unreadable.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Text of an order field. Most values (ids, names, categories) are short,
/// and a `CompactString` keeps up to 24 bytes inline, so reading an order
/// does not allocate for each of them.
pub type Text = compact_str::CompactString;

/// Korea Standard Time, the zone of every naive timestamp in the dataset.
pub fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset")
}

/// The textual layout a timestamp was written in. Kept next to the instant so
/// that data-quality profiling can report date-format variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// `2024-03-01 12:34:56` (the canonical CSV/XML form, KST)
    Standard,
    /// `2024-03-01T12:34:56+09:00` or with fractional seconds (JSON, logs)
    Rfc3339,
    /// `2024/03/01 12:34` or `2024/03/01 12:34:56`
    Slashed,
    /// `2024.03.01 12:34:56` or `2024.03.01 12:34`
    Dotted,
    /// `2024-03-01T12:34:56` (ISO 8601 without offset, read as KST)
    IsoLocal,
}

impl TimeFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeFormat::Standard => "YYYY-MM-DD HH:MM:SS",
            TimeFormat::Rfc3339 => "RFC 3339",
            TimeFormat::Slashed => "YYYY/MM/DD HH:MM[:SS]",
            TimeFormat::Dotted => "YYYY.MM.DD HH:MM[:SS]",
            TimeFormat::IsoLocal => "YYYY-MM-DDTHH:MM:SS",
        }
    }
}

/// An instant as found in a source file, with the layout it was written in.
/// Serialises as RFC 3339 (the canonical form on Kafka).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceTime {
    pub at: DateTime<FixedOffset>,
    pub format: TimeFormat,
}

impl SourceTime {
    /// Parses every layout the dataset uses; naive times are KST.
    pub fn parse(text: &str) -> Option<SourceTime> {
        let text = text.trim_ascii();
        let bytes = text.as_bytes();
        if bytes.len() < 16 {
            return None;
        }
        let format = match (bytes[4], bytes.get(10)) {
            (b'-', Some(b' ')) => TimeFormat::Standard,
            (b'-', Some(b'T')) => {
                if text.len() > 19 && (text.ends_with('Z') || has_offset_suffix(text)) {
                    let at = DateTime::parse_from_rfc3339(text).ok()?;
                    return Some(SourceTime {
                        at,
                        format: TimeFormat::Rfc3339,
                    });
                }
                TimeFormat::IsoLocal
            }
            (b'/', _) => TimeFormat::Slashed,
            (b'.', _) => TimeFormat::Dotted,
            _ => return None,
        };
        let naive = parse_naive(bytes)?;
        Some(SourceTime {
            at: naive_kst(naive),
            format,
        })
    }

    pub fn from_naive_kst(naive: NaiveDateTime) -> SourceTime {
        SourceTime {
            at: naive_kst(naive),
            format: TimeFormat::Standard,
        }
    }

    /// The same instant with another layout.
    pub fn with_format(self, format: TimeFormat) -> SourceTime {
        SourceTime {
            at: self.at,
            format,
        }
    }

    /// The text in this time's own layout (KST for the naive layouts).
    pub fn render(&self) -> String {
        let local = self.at.with_timezone(&kst());
        let pattern = match self.format {
            TimeFormat::Rfc3339 => return self.to_rfc3339(),
            TimeFormat::Standard => "%Y-%m-%d %H:%M:%S",
            TimeFormat::Slashed => "%Y/%m/%d %H:%M",
            TimeFormat::Dotted => "%Y.%m.%d %H:%M:%S",
            TimeFormat::IsoLocal => "%Y-%m-%dT%H:%M:%S",
        };
        local.format(pattern).to_string()
    }

    /// The canonical RFC 3339 text (seconds precision unless the source had more).
    pub fn to_rfc3339(&self) -> String {
        self.at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    }
}

/// A wall-clock time in KST as an instant (a fixed offset maps one to one).
fn naive_kst(naive: NaiveDateTime) -> DateTime<FixedOffset> {
    let utc = naive.checked_sub_offset(kst()).unwrap_or(naive);
    DateTime::from_naive_utc_and_offset(utc, kst())
}

fn has_offset_suffix(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() > 6 && (b[b.len() - 6] == b'+' || b[b.len() - 6] == b'-') && b[b.len() - 3] == b':'
}

/// `YYYY?MM?DD?HH:MM[:SS]` with any single separator in the date part.
fn parse_naive(b: &[u8]) -> Option<NaiveDateTime> {
    fn num(b: &[u8]) -> Option<u32> {
        if b.is_empty() {
            return None;
        }
        b.iter().try_fold(0u32, |v, d| {
            d.is_ascii_digit().then(|| v * 10 + u32::from(d - b'0'))
        })
    }
    if b.len() != 16 && b.len() != 19 {
        return None;
    }
    if b[7] != b[4] || b[13] != b':' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(&b[0..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    let second = if b.len() == 19 {
        if b[16] != b':' {
            return None;
        }
        num(&b[17..19])?
    } else {
        0
    };
    let time = NaiveTime::from_hms_opt(num(&b[11..13])?, num(&b[14..16])?, second)?;
    Some(NaiveDateTime::new(date, time))
}

impl Serialize for SourceTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for SourceTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        SourceTime::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not a timestamp: {text:?}")))
    }
}

impl fmt::Display for SourceTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Order lifecycle outcome as exported by the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Delivered,
    Cancelled,
    /// Delivered, but more than 20 minutes after the estimate (the platform's flag).
    Delayed,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 4] = [
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Delayed,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Delivered => "DELIVERED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Delayed => "DELAYED",
            OrderStatus::Refunded => "REFUNDED",
        }
    }

    /// English codes in any case, and the Korean labels used by POS exports.
    pub fn parse(text: &str) -> Option<OrderStatus> {
        let t = text.trim();
        let exact = match t {
            "DELIVERED" => Some(OrderStatus::Delivered),
            "CANCELLED" => Some(OrderStatus::Cancelled),
            "DELAYED" => Some(OrderStatus::Delayed),
            "REFUNDED" => Some(OrderStatus::Refunded),
            _ => None,
        };
        if exact.is_some() {
            return exact;
        }
        Some(match t.to_ascii_uppercase().as_str() {
            "DELIVERED" | "COMPLETED" => OrderStatus::Delivered,
            "CANCELLED" | "CANCELED" => OrderStatus::Cancelled,
            "DELAYED" | "LATE" => OrderStatus::Delayed,
            "REFUNDED" => OrderStatus::Refunded,
            _ => match t {
                "배달완료" | "완료" => OrderStatus::Delivered,
                "취소" | "주문취소" => OrderStatus::Cancelled,
                "지연" | "배달지연" => OrderStatus::Delayed,
                "환불" => OrderStatus::Refunded,
                _ => return None,
            },
        })
    }

    /// Whether the order counts towards revenue (GMV) per DATA.md.
    pub fn counts_as_revenue(self) -> bool {
        crate::rules::REVENUE_STATUSES.contains(&self)
    }
}

/// One line of an order: `name:qty:unit_price` in the CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub name: Text,
    pub quantity: i64,
    pub unit_price: i64,
}

impl OrderItem {
    /// Parses the CSV's `name:qty:unit_price|name:qty:unit_price` list. Names
    /// may themselves contain `:`, so the two numbers are taken from the right.
    pub fn parse_list(text: &str) -> Result<Vec<OrderItem>, String> {
        let text = text.trim_ascii();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let mut items = Vec::with_capacity(4);
        let mut rest = text;
        loop {
            let (part, next) = match memchr::memchr(b'|', rest.as_bytes()) {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            items.push(Self::parse_one(part)?);
            match next {
                Some(next) => rest = next,
                None => return Ok(items),
            }
        }
    }

    /// One `name:qty:unit_price`; the numbers are taken from the right.
    fn parse_one(part: &str) -> Result<OrderItem, String> {
        let b = part.as_bytes();
        let price_sep = memchr::memrchr(b':', b);
        let qty_sep = price_sep.and_then(|p| memchr::memrchr(b':', &b[..p]));
        let (Some(q), Some(p)) = (qty_sep, price_sep) else {
            return Err(format!("menu item {part:?} is not name:qty:unit_price"));
        };
        let name = part[..q].trim_ascii();
        if name.is_empty() {
            return Err(format!("menu item {part:?} has no name"));
        }
        Ok(OrderItem {
            name: name.into(),
            quantity: parse_int(&part[q + 1..p])
                .ok_or_else(|| format!("menu item {part:?}: bad quantity"))?,
            unit_price: parse_int(&part[p + 1..])
                .ok_or_else(|| format!("menu item {part:?}: bad unit price"))?,
        })
    }

    /// Writes items back in the CSV form.
    pub fn format_list(items: &[OrderItem]) -> String {
        let mut out = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            out.push_str(&item.name);
            out.push(':');
            out.push_str(&item.quantity.to_string());
            out.push(':');
            out.push_str(&item.unit_price.to_string());
        }
        out
    }
}

/// Lenient integer parse for exported numbers: `12000`, `12,000`, `12,000원`, ` 7 `.
pub fn parse_int(text: &str) -> Option<i64> {
    if let Some(v) = parse_plain_int(text.as_bytes()) {
        return Some(v);
    }
    let t = text.trim().trim_end_matches('원').trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(v) = t.parse::<i64>() {
        return Some(v);
    }
    let cleaned: String = t.chars().filter(|c| *c != ',').collect();
    if let Ok(v) = cleaned.parse::<i64>() {
        return Some(v);
    }
    // "3.0" from a float-typed export is still an integer.
    let f: f64 = cleaned.parse().ok()?;
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// The fast path of [`parse_int`]: `-?[0-9]{1,18}` and nothing else.
fn parse_plain_int(b: &[u8]) -> Option<i64> {
    let (negative, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    Some(if negative { -v } else { v })
}

/// Float parse that refuses NaN and infinities.
pub fn parse_float(text: &str) -> Option<f64> {
    if let Some(v) = parse_plain_decimal(text.as_bytes()) {
        return Some(v);
    }
    let v: f64 = text.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

/// The fast path of [`parse_float`] for `-?[0-9]+(\.[0-9]+)?` with at most
/// 15 digits: mantissa and power of ten are both exact in an `f64`, so one
/// division gives the correctly rounded value (Clinger's fast path).
fn parse_plain_decimal(b: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, rest) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let (mut mantissa, mut digits, mut scale, mut seen_point) = (0u64, 0usize, 0usize, false);
    for &c in rest {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
                scale += usize::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    if digits == 0 || digits > 15 || (seen_point && scale == 0) {
        return None;
    }
    let v = mantissa as f64 / POW10[scale];
    Some(if negative { -v } else { v })
}

/// One canonical order: the facts of a CSV row, whichever source it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: Text,
    pub order_time: SourceTime,
    pub updated_at: Option<SourceTime>,
    pub customer_id: Text,
    pub customer_name: Option<Text>,
    pub phone_number: Option<Text>,
    pub restaurant_id: Text,
    pub restaurant_name: Option<Text>,
    pub category: Option<Text>,
    pub items: Vec<OrderItem>,
    pub item_count: Option<i64>,
    pub order_amount: Option<i64>,
    pub discount_amount: Option<i64>,
    pub delivery_fee: Option<i64>,
    pub payment_method: Option<Text>,
    pub platform: Option<Text>,
    pub district: Option<Text>,
    pub delivery_address: Option<Text>,
    pub store_lat: Option<f64>,
    pub store_lng: Option<f64>,
    pub customer_lat: Option<f64>,
    pub customer_lng: Option<f64>,
    pub distance_km: Option<f64>,
    pub estimated_delivery_min: Option<i64>,
    pub actual_delivery_min: Option<i64>,
    pub rider_id: Option<Text>,
    pub weather: Option<Text>,
    pub order_status: OrderStatus,
    pub rating: Option<i64>,
}

pub use crate::columns::{column_index, ORDER_COLUMNS};

/// A value that no real order can have. Such orders are kept (raw layer) but
/// flagged and left out of the statistics they would distort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImpossibleValue {
    NegativeAmount,
    DeliveryMinutesOutOfRange,
    RatingOutOfRange,
}

impl ImpossibleValue {
    pub fn as_str(self) -> &'static str {
        match self {
            ImpossibleValue::NegativeAmount => "negative_amount",
            ImpossibleValue::DeliveryMinutesOutOfRange => "delivery_minutes_out_of_range",
            ImpossibleValue::RatingOutOfRange => "rating_out_of_range",
        }
    }
}

impl Order {
    /// Does this version of an order replace `other`, a version of the same
    /// order id? The later `updated_at` wins; an equal or missing one keeps
    /// what is held (the merge rule of DATA.md, also the upsert's `WHERE` in
    /// `etl/clean.rs`).
    pub fn supersedes(&self, other: &Order) -> bool {
        self.updated_at.map(|t| t.at) > other.updated_at.map(|t| t.at)
    }

    /// Is this a pickup (포장) order, with no rider, fee or delivery times?
    pub fn is_pickup(&self) -> bool {
        self.platform.as_deref() == Some("포장")
    }

    /// Every impossible value the order carries (empty for a plausible order).
    pub fn impossible_values(&self) -> Vec<ImpossibleValue> {
        let mut found = Vec::new();
        let amounts = [self.order_amount, self.discount_amount, self.delivery_fee];
        if amounts.iter().flatten().any(|v| *v < 0)
            || self
                .items
                .iter()
                .any(|i| i.unit_price < 0 || i.quantity < 0)
        {
            found.push(ImpossibleValue::NegativeAmount);
        }
        if matches!(self.actual_delivery_min, Some(m) if m <= 0 || m > 300) {
            found.push(ImpossibleValue::DeliveryMinutesOutOfRange);
        }
        if matches!(self.rating, Some(r) if !(1..=5).contains(&r)) {
            found.push(ImpossibleValue::RatingOutOfRange);
        }
        found
    }
}

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    Customer,
    Restaurant,
    Rider,
    System,
}

impl Sender {
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::Customer => "customer",
            Sender::Restaurant => "restaurant",
            Sender::Rider => "rider",
            Sender::System => "system",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub sender: Sender,
    pub sent_at: SourceTime,
    pub text: String,
}

/// A conversation between customer, restaurant, rider and the system about one order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub conversation_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub restaurant_id: String,
    pub rider_id: Option<String>,
    pub started_at: SourceTime,
    pub messages: Vec<ChatMessage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn parse(text: &str) -> Option<LogLevel> {
        Some(match text {
            "DEBUG" | "TRACE" => LogLevel::Debug,
            "INFO" => LogLevel::Info,
            "WARN" | "WARNING" => LogLevel::Warn,
            "ERROR" | "FATAL" => LogLevel::Error,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

/// One system log event (a line, plus any stack-trace lines that followed it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEvent {
    pub timestamp: SourceTime,
    pub level: LogLevel,
    pub service: String,
    pub trace_id: Option<String>,
    pub order_id: Option<String>,
    pub event: String,
    pub latency_ms: Option<i64>,
    pub message: Option<String>,
    /// Continuation lines (a multi-line stack trace), joined with `\n`.
    pub stack_trace: Option<String>,
}

/// A customer's text review of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub review_id: String,
    pub order_id: Option<String>,
    pub customer_id: Option<String>,
    pub restaurant_id: String,
    pub rating: i64,
    pub text: String,
    pub created_at: SourceTime,
}

/// A dead letter: a source record that could not be read (the ingest sends
/// it to the dead-letter topic) or stored (the ETL), with where and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The source file (or, for a record Postgres refused, its topic).
    pub file: String,
    /// Where in it: `line N`, `byte N`, or a Kafka partition and offset.
    pub position: String,
    /// The class of reason, e.g. `wrong_field_count` or `unstorable`.
    pub reason_class: String,
    pub reason: String,
}

/// Any record a reader can yield.
///
/// Orders are the large variant; records flow one at a time through the
/// readers, so boxing them would only add an allocation per order.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Order(Order),
    Conversation(Conversation),
    LogEvent(LogEvent),
    Review(Review),
}

impl Record {
    /// Appends the record's canonical JSON (what `ingest` sends to Kafka) to
    /// `out`. The same bytes as `serde_json` writes, made with SIMD string
    /// escaping: most of the ingest's serialising time is in escaping text.
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), sonic_rs::Error> {
        sonic_rs::to_writer(out, self)
    }

    /// Reads a record from its JSON, in any key order. The canonical JSON
    /// ([`write_json`](Self::write_json)) starts with the `kind` tag, so
    /// the variant is known before any field is read, and the fields are
    /// read once, straight into it. Any other JSON takes serde's
    /// tagged-enum path, which first copies every field into a buffer:
    /// about twice the ETL's parsing time.
    pub fn from_json(payload: &[u8]) -> serde_json::Result<Record> {
        let tag = payload
            .strip_prefix(b"{\"kind\":\"")
            .and_then(|rest| rest.split(|b| *b == b'"').next());
        match tag {
            Some(b"order") => serde_json::from_slice(payload).map(Record::Order),
            Some(b"conversation") => serde_json::from_slice(payload).map(Record::Conversation),
            Some(b"log_event") => serde_json::from_slice(payload).map(Record::LogEvent),
            Some(b"review") => serde_json::from_slice(payload).map(Record::Review),
            _ => serde_json::from_slice(payload),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Record::Order(_) => "order",
            Record::Conversation(_) => "conversation",
            Record::LogEvent(_) => "log_event",
            Record::Review(_) => "review",
        }
    }

    /// The order this record is about, if any (the Kafka key).
    pub fn order_id(&self) -> Option<&str> {
        match self {
            Record::Order(o) => Some(&o.order_id),
            Record::Conversation(c) => Some(&c.order_id),
            Record::LogEvent(e) => e.order_id.as_deref(),
            Record::Review(r) => r.order_id.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataset_timestamp_layout_parses_to_the_same_instant() {
        let forms = [
            ("2024-03-01 12:34:00", TimeFormat::Standard),
            ("2024-03-01T12:34:00+09:00", TimeFormat::Rfc3339),
            ("2024-03-01T03:34:00Z", TimeFormat::Rfc3339),
            ("2024/03/01 12:34", TimeFormat::Slashed),
            ("2024.03.01 12:34:00", TimeFormat::Dotted),
            ("2024-03-01T12:34:00", TimeFormat::IsoLocal),
        ];
        let expected = SourceTime::parse("2024-03-01 12:34:00").unwrap().at;
        for (text, format) in forms {
            let t = SourceTime::parse(text).unwrap_or_else(|| panic!("{text} should parse"));
            assert_eq!(t.format, format, "{text}");
            assert_eq!(t.at, expected, "{text}");
        }
    }

    #[test]
    fn records_of_no_known_kind_or_missing_fields_are_refused() {
        for json in [
            r#"{"kind":"refund","order_id":"O1"}"#,
            r#"{"kind":"order"}"#,
            r#"{"kind":"order","order_id":"O1""#,
            r#"{"kind":"ord\u0065r"}"#,
            r#"{"order_id":"O1"}"#,
        ] {
            assert!(Record::from_json(json.as_bytes()).is_err(), "{json}");
        }
    }

    #[test]
    fn impossible_dates_and_garbage_do_not_parse() {
        for text in [
            "2024-13-01 00:00:00",
            "2024-02-30 10:00:00",
            "어제 저녁",
            "",
            "2024-03-01",
            "2024-03-01 25:00:00",
        ] {
            assert!(SourceTime::parse(text).is_none(), "{text:?} must not parse");
        }
    }

    #[test]
    fn menu_items_round_trip_and_reject_garbage() {
        let items = OrderItem::parse_list("후라이드치킨:1:20000|콜라 1.25L:2:2500").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[1],
            OrderItem {
                name: "콜라 1.25L".into(),
                quantity: 2,
                unit_price: 2500
            }
        );
        assert_eq!(
            OrderItem::format_list(&items),
            "후라이드치킨:1:20000|콜라 1.25L:2:2500"
        );
        assert!(OrderItem::parse_list("치킨:하나:20000").is_err());
        assert!(OrderItem::parse_list("치킨").is_err());
    }

    #[test]
    fn lenient_integers_accept_exported_forms_only() {
        assert_eq!(parse_int("12,000원"), Some(12000));
        assert_eq!(parse_int(" -500 "), Some(-500));
        assert_eq!(parse_int("3.0"), Some(3));
        assert_eq!(parse_int("3.5"), None);
        assert_eq!(parse_int("만원"), None);
        assert_eq!(parse_float("NaN"), None);
        for text in [
            "37.564810",
            "126.982651",
            "-0.5",
            "7",
            "0.1",
            "12345.678901234",
            "1e3",
            "3.",
            ".5",
        ] {
            assert_eq!(parse_float(text), text.parse::<f64>().ok(), "{text}");
        }
    }
}

//! Writers of the six dataset files, each injecting the defects of DATA.md and
//! counting them into the file's [`FileDefects`].

use super::pickle_writer::PickleWriter;
use super::rng::Rng;
use super::tables::{
    CUSTOMER_LINES, LOG_EVENTS, RESTAURANT_LINES, REVIEW_TEXTS, RIDER_LINES, SYSTEM_LINES,
};
use super::world::{stream, World};
use super::FileDefects;
use crate::model::{
    ChatMessage, Conversation, ImpossibleValue, LogEvent, LogLevel, Order, OrderItem, OrderStatus,
    Sender, SourceTime, Text, TimeFormat, ORDER_COLUMNS,
};
use crate::readers::ErrorKind;
use chrono::Duration;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::io::{self, Write};

/// Source numbers: they key the order-time streams of each file.
pub const CSV: u64 = 0;
pub const JSON: u64 = 1;
pub const XML: u64 = 2;
pub const MESSAGES: u64 = 3;
pub const LOG: u64 = 4;

/// What happens to one record, rolled once per record so defects never overlap.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Defect {
    None,
    Malformed,
    Duplicate,
    Missing,
    Impossible,
    DateVariant,
}

fn roll(seed: u64, file: u64, k: u64) -> (Defect, Rng) {
    let mut rng = Rng::keyed(seed, stream::DEFECT + 100 * file, k);
    let defect = match rng.unit() {
        x if x < 0.001 => Defect::Malformed,
        x if x < 0.006 => Defect::Duplicate,
        x if x < 0.026 => Defect::Missing,
        x if x < 0.029 => Defect::Impossible,
        x if x < 0.034 => Defect::DateVariant,
        _ => Defect::None,
    };
    (defect, rng)
}

/// Blanks one non-key column group, as a real export loses values.
fn inject_missing(o: &mut Order, rng: &mut Rng, d: &mut FileDefects) {
    let choice = rng.below(3);
    if choice == 2 && o.rider_id.is_some() {
        o.rider_id = None;
        d.count_missing("rider_id");
    } else if choice == 1 && o.customer_lat.is_some() {
        o.customer_lat = None;
        o.customer_lng = None;
        d.count_missing("customer_lat");
        d.count_missing("customer_lng");
    } else {
        o.district = None;
        d.count_missing("district");
    }
}

fn inject_impossible(o: &mut Order, rng: &mut Rng, d: &mut FileDefects) {
    let kind = match rng.below(3) {
        0 => {
            o.order_amount = o.order_amount.map(|a| -a.abs().max(1000));
            ImpossibleValue::NegativeAmount
        }
        1 if o.actual_delivery_min.is_some() => {
            o.actual_delivery_min = Some(if rng.chance(0.5) {
                0
            } else {
                rng.range(301, 999)
            });
            ImpossibleValue::DeliveryMinutesOutOfRange
        }
        _ => {
            o.rating = Some(7);
            ImpossibleValue::RatingOutOfRange
        }
    };
    d.count_impossible(kind);
}

fn inject_date_variant(o: &mut Order, rng: &mut Rng, d: &mut FileDefects) {
    let format = if rng.chance(0.5) {
        TimeFormat::Slashed
    } else {
        TimeFormat::Dotted
    };
    o.order_time = o.order_time.with_format(format);
    d.count_date_variant(format);
}

/// Applies a readable defect (missing, impossible, date variant) to an order.
fn apply_readable(defect: Defect, o: &mut Order, rng: &mut Rng, d: &mut FileDefects) {
    match defect {
        Defect::Missing => inject_missing(o, rng, d),
        Defect::Impossible => inject_impossible(o, rng, d),
        Defect::DateVariant => inject_date_variant(o, rng, d),
        _ => {}
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

fn fixed(v: Option<f64>, decimals: usize) -> String {
    v.map(|x| format!("{x:.decimals$}")).unwrap_or_default()
}

/// The 29 CSV fields of an order, in [`ORDER_COLUMNS`] order.
pub fn csv_fields(o: &Order) -> Vec<String> {
    vec![
        o.order_id.to_string(),
        o.order_time.render(),
        o.updated_at.map(|t| t.render()).unwrap_or_default(),
        o.customer_id.to_string(),
        opt(&o.customer_name),
        opt(&o.phone_number),
        o.restaurant_id.to_string(),
        opt(&o.restaurant_name),
        opt(&o.category),
        OrderItem::format_list(&o.items),
        opt(&o.item_count),
        opt(&o.order_amount),
        opt(&o.discount_amount),
        opt(&o.delivery_fee),
        opt(&o.payment_method),
        opt(&o.platform),
        opt(&o.district),
        opt(&o.delivery_address),
        fixed(o.store_lat, 6),
        fixed(o.store_lng, 6),
        fixed(o.customer_lat, 3),
        fixed(o.customer_lng, 3),
        fixed(o.distance_km, 2),
        opt(&o.estimated_delivery_min),
        opt(&o.actual_delivery_min),
        opt(&o.rider_id),
        opt(&o.weather),
        o.order_status.as_str().to_string(),
        opt(&o.rating),
    ]
}

/// A CSV field, quoted when it has to be (as Python's `csv.QUOTE_MINIMAL`).
fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

fn csv_line(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// Writes records in file order and the duplicate copies a few records
/// after their originals, as a re-sent batch would land.
struct Emitter<'a, W: Write> {
    out: &'a mut W,
    /// Written between two records.
    separator: &'static [u8],
    written: u64,
    /// Copies waiting for the record number they follow.
    held: VecDeque<(u64, Vec<u8>)>,
}

impl<'a, W: Write> Emitter<'a, W> {
    fn new(out: &'a mut W, separator: &'static [u8]) -> Self {
        Emitter {
            out,
            separator,
            written: 0,
            held: VecDeque::new(),
        }
    }

    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        if self.written > 0 {
            self.out.write_all(self.separator)?;
        }
        self.out.write_all(record)?;
        self.written += 1;
        Ok(())
    }

    /// Writes record `k`; with `copy_after`, an exact copy follows that many
    /// records later. Returns whether a held copy was written right after it.
    fn record(&mut self, k: u64, bytes: Vec<u8>, copy_after: Option<u64>) -> io::Result<bool> {
        self.write(&bytes)?;
        if let Some(after) = copy_after {
            self.held.push_back((k + after, bytes));
            return Ok(false);
        }
        if self.held.front().is_some_and(|(at, _)| *at <= k) {
            if let Some((_, copy)) = self.held.pop_front() {
                self.write(&copy)?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Writes the copies still held; returns the records written in all.
    fn finish(mut self) -> io::Result<u64> {
        while let Some((_, copy)) = self.held.pop_front() {
            self.write(&copy)?;
        }
        Ok(self.written)
    }
}

/// Where a duplicated record's copy goes: 0–20 records later.
fn copy_after(defect: Defect, rng: &mut Rng, d: &mut FileDefects) -> Option<u64> {
    (defect == Defect::Duplicate).then(|| {
        d.duplicates += 1;
        rng.range(0, 20) as u64
    })
}

pub fn write_csv(world: &World, out: &mut impl Write, tick: &dyn Fn()) -> io::Result<FileDefects> {
    let mut d = FileDefects::new("csv");
    out.write_all(csv_line(&ORDER_COLUMNS.map(String::from)).as_bytes())?;
    let n = world.counts.csv_orders;
    let mut emitter = Emitter::new(out, b"");
    let mut previous_malformed = false;
    for k in 0..n {
        let mut order = world.order(CSV, k + 1, k, n);
        let (mut defect, mut rng) = roll(world.seed, CSV, k);
        // A broken line is never followed by another: each must stay detectable on its own.
        if defect == Defect::Malformed && previous_malformed {
            defect = Defect::None;
        }
        apply_readable(defect, &mut order, &mut rng, &mut d);
        let mut fields = csv_fields(&order);
        let line = if defect != Defect::Malformed {
            csv_line(&fields)
        } else if rng.chance(0.5) {
            fields.remove(15); // a lost column: 28 fields
            d.count_reject(ErrorKind::WrongFieldCount);
            csv_line(&fields)
        } else {
            // An opening quote never closed, in an otherwise well-quoted line.
            let mut quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            quoted[7] = format!("\"{}", fields[7]);
            d.count_reject(ErrorKind::UnterminatedQuote);
            quoted.join(",") + "\n"
        };
        let copy = copy_after(defect, &mut rng, &mut d);
        let copy_followed = emitter.record(k, line.into_bytes(), copy)?;
        previous_malformed = defect == Defect::Malformed && !copy_followed;
        tick();
    }
    d.records = emitter.finish()?;
    d.orders = n;
    Ok(d)
}

/// An order as the app API exports it (camelCase, nested).
pub fn order_doc(o: &Order) -> Value {
    let time = |t: &SourceTime| {
        let t = if t.format == TimeFormat::Standard {
            t.with_format(TimeFormat::Rfc3339)
        } else {
            *t
        };
        Value::String(t.render())
    };
    json!({
        "orderId": o.order_id,
        "orderTime": time(&o.order_time),
        "updatedAt": o.updated_at.as_ref().map(time),
        "status": o.order_status.as_str(),
        "customer": {
            "customerId": o.customer_id,
            "name": o.customer_name,
            "phone": o.phone_number,
            "lat": o.customer_lat,
            "lng": o.customer_lng,
        },
        "restaurant": {
            "restaurantId": o.restaurant_id,
            "name": o.restaurant_name,
            "category": o.category,
            "lat": o.store_lat,
            "lng": o.store_lng,
        },
        "items": o.items.iter().map(|i| json!({"name": i.name, "quantity": i.quantity, "unitPrice": i.unit_price})).collect::<Vec<_>>(),
        "itemCount": o.item_count,
        "payment": {
            "method": o.payment_method,
            "amount": o.order_amount,
            "discount": o.discount_amount,
            "deliveryFee": o.delivery_fee,
        },
        "platform": o.platform,
        "address": { "district": o.district, "street": o.delivery_address },
        "delivery": {
            "distanceKm": o.distance_km,
            "estimatedMinutes": o.estimated_delivery_min,
            "actualMinutes": o.actual_delivery_min,
            "riderId": o.rider_id,
            "weather": o.weather,
        },
        "rating": o.rating,
    })
}

/// A later re-export of a CSV order: a later `updated_at`, and perhaps a
/// refund or a rating given since.
fn reexport(world: &World, rng: &mut Rng) -> Order {
    let n = world.counts.csv_orders;
    let k = rng.below(n);
    let mut o = world.order(CSV, k + 1, k, n);
    let base = o.updated_at.unwrap_or(o.order_time);
    o.updated_at = Some(SourceTime::from_naive_kst(
        base.at.naive_local() + Duration::minutes(rng.range(60, 72 * 60)),
    ));
    if rng.chance(0.3) && o.order_status.counts_as_revenue() {
        o.order_status = OrderStatus::Refunded;
    } else if o.order_status != OrderStatus::Cancelled {
        o.rating = Some(rng.range(1, 5));
    }
    o
}

/// The orders of a JSON or XML export, in file order: new ones, numbered from
/// `first_id`, and about 2% re-exports of CSV orders.
fn export_orders<'a>(
    world: &'a World,
    file: u64,
    doc_stream: u64,
    n: u64,
    first_id: u64,
) -> impl Iterator<Item = (u64, Order, bool)> + 'a {
    let mut next_id = first_id;
    (0..n).map(move |j| {
        let mut rng = Rng::keyed(world.seed, doc_stream, j);
        if rng.chance(0.02) {
            (j, reexport(world, &mut rng), true)
        } else {
            let o = world.order(file, next_id, j, n);
            next_id += 1;
            (j, o, false)
        }
    })
}

pub fn write_json(world: &World, out: &mut impl Write, tick: &dyn Fn()) -> io::Result<FileDefects> {
    let mut d = FileDefects::new("json_orders");
    let c = world.counts;
    out.write_all(b"[\n")?;
    let mut emitter = Emitter::new(out, b",\n");
    for (j, mut order, reexported) in export_orders(
        world,
        JSON,
        stream::JSON_DOC,
        c.json_orders,
        c.csv_orders + 1,
    ) {
        let (defect, mut rng) = if reexported {
            (Defect::None, Rng::keyed(0, 0, 0))
        } else {
            roll(world.seed, JSON, j)
        };
        d.reexports += u64::from(reexported);
        apply_readable(defect, &mut order, &mut rng, &mut d);
        let mut doc = order_doc(&order);
        if defect == Defect::Malformed {
            // Well-formed JSON (Python's json reads it) with content no order can have.
            if rng.chance(0.5) {
                doc["payment"]["amount"] = json!("만이천원");
                d.count_reject(ErrorKind::InvalidValue);
            } else if let Some(map) = doc.as_object_mut() {
                map.remove("orderId");
                d.count_reject(ErrorKind::MissingField);
            }
        }
        let text = serde_json::to_vec(&doc).map_err(io::Error::other)?;
        let copy = copy_after(defect, &mut rng, &mut d);
        emitter.record(j, text, copy)?;
        tick();
    }
    d.records = emitter.finish()?;
    out.write_all(b"\n]\n")?;
    d.orders = c.json_orders;
    Ok(d)
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// One `<order>` element (the layout the XML reader maps back).
pub fn order_xml(o: &Order, with_id: bool, amount_text: Option<&str>) -> String {
    use std::fmt::Write as _;
    let mut x = String::with_capacity(1024);
    let e = |v: &Option<Text>| xml_escape(v.as_deref().unwrap_or(""));
    let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let _ = write!(x, "  <order");
    if with_id {
        let _ = write!(x, " id=\"{}\"", xml_escape(&o.order_id));
    }
    let _ = writeln!(x, " status=\"{}\">", o.order_status.as_str());
    let _ = writeln!(x, "    <orderTime>{}</orderTime>", o.order_time.render());
    if let Some(t) = o.updated_at {
        let _ = writeln!(x, "    <updatedAt>{}</updatedAt>", t.render());
    }
    let _ = writeln!(
        x,
        "    <customer id=\"{}\"><name>{}</name><phone>{}</phone><lat>{}</lat><lng>{}</lng></customer>",
        xml_escape(&o.customer_id),
        e(&o.customer_name),
        e(&o.phone_number),
        fixed(o.customer_lat, 3),
        fixed(o.customer_lng, 3)
    );
    let _ = writeln!(
        x,
        "    <restaurant id=\"{}\"><name>{}</name><category>{}</category><lat>{}</lat><lng>{}</lng></restaurant>",
        xml_escape(&o.restaurant_id),
        e(&o.restaurant_name),
        e(&o.category),
        fixed(o.store_lat, 6),
        fixed(o.store_lng, 6)
    );
    let _ = write!(x, "    <items>");
    for i in &o.items {
        let _ = write!(
            x,
            "<item name=\"{}\" qty=\"{}\" price=\"{}\"/>",
            xml_escape(&i.name),
            i.quantity,
            i.unit_price
        );
    }
    let _ = writeln!(x, "</items>");
    let _ = writeln!(x, "    <itemCount>{}</itemCount>", num(o.item_count));
    let amount = amount_text
        .map(str::to_string)
        .unwrap_or_else(|| num(o.order_amount));
    let _ = writeln!(
        x,
        "    <payment method=\"{}\"><amount>{}</amount><discount>{}</discount><deliveryFee>{}</deliveryFee></payment>",
        e(&o.payment_method),
        amount,
        num(o.discount_amount),
        num(o.delivery_fee)
    );
    let _ = writeln!(x, "    <platform>{}</platform>", e(&o.platform));
    match &o.district {
        Some(district) => {
            let _ = writeln!(
                x,
                "    <address district=\"{}\">{}</address>",
                xml_escape(district),
                e(&o.delivery_address)
            );
        }
        None => {
            let _ = writeln!(x, "    <address>{}</address>", e(&o.delivery_address));
        }
    }
    let _ = write!(x, "    <delivery");
    if let Some(r) = &o.rider_id {
        let _ = write!(x, " riderId=\"{}\"", xml_escape(r));
    }
    let _ = writeln!(
        x,
        " weather=\"{}\"><distanceKm>{}</distanceKm><estimatedMinutes>{}</estimatedMinutes><actualMinutes>{}</actualMinutes></delivery>",
        e(&o.weather),
        fixed(o.distance_km, 2),
        num(o.estimated_delivery_min),
        num(o.actual_delivery_min)
    );
    if let Some(r) = o.rating {
        let _ = writeln!(x, "    <rating>{r}</rating>");
    }
    x.push_str("  </order>\n");
    x
}

pub fn write_xml(world: &World, out: &mut impl Write, tick: &dyn Fn()) -> io::Result<FileDefects> {
    let mut d = FileDefects::new("xml");
    let c = world.counts;
    out.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<orders>\n")?;
    let first_id = c.csv_orders + c.json_orders + 1;
    let mut emitter = Emitter::new(out, b"");
    for (j, mut order, reexported) in
        export_orders(world, XML, stream::XML_DOC, c.xml_orders, first_id)
    {
        let (defect, mut rng) = if reexported {
            (Defect::None, Rng::keyed(0, 0, 0))
        } else {
            roll(world.seed, XML, j)
        };
        d.reexports += u64::from(reexported);
        apply_readable(defect, &mut order, &mut rng, &mut d);
        let text = if defect == Defect::Malformed {
            // Well-formed XML (ElementTree reads it) with content no order can have.
            if rng.chance(0.5) {
                d.count_reject(ErrorKind::InvalidValue);
                order_xml(&order, true, Some("만이천원"))
            } else {
                d.count_reject(ErrorKind::MissingField);
                order_xml(&order, false, None)
            }
        } else {
            order_xml(&order, true, None)
        };
        let copy = copy_after(defect, &mut rng, &mut d);
        emitter.record(j, text.into_bytes(), copy)?;
        tick();
    }
    d.records = emitter.finish()?;
    out.write_all(b"</orders>\n")?;
    d.orders = c.xml_orders;
    Ok(d)
}

/// The CSV order a time-ordered record at position `i` of `n` is about.
fn nearby_csv_order(world: &World, rng: &mut Rng, i: u64, n: u64) -> Order {
    let csv = world.counts.csv_orders;
    let k = (((i as f64 + rng.unit()) / n as f64) * csv as f64) as u64;
    let k = k.min(csv - 1);
    world.order(CSV, k + 1, k, csv)
}

pub fn conversation(world: &World, i: u64, n: u64) -> Conversation {
    let mut rng = Rng::keyed(world.seed, stream::CONVERSATION, i);
    let order = nearby_csv_order(world, &mut rng, i, n);
    let started = order.order_time.at.naive_local() + Duration::minutes(rng.range(1, 10));
    let count = rng.range(1, 8);
    let mut at = started;
    let messages = (0..count)
        .map(|_| {
            let senders = [
                (Sender::Customer, 45.0),
                (Sender::Restaurant, 25.0),
                (
                    Sender::Rider,
                    if order.rider_id.is_some() { 15.0 } else { 0.0 },
                ),
                (Sender::System, 15.0),
            ];
            let sender = senders[rng.weighted(&senders.map(|s| s.1))].0;
            let text = match sender {
                Sender::Customer => rng.pick(CUSTOMER_LINES),
                Sender::Restaurant => rng.pick(RESTAURANT_LINES),
                Sender::Rider => rng.pick(RIDER_LINES),
                Sender::System => rng.pick(SYSTEM_LINES),
            };
            let message = ChatMessage {
                sender,
                sent_at: SourceTime::from_naive_kst(at).with_format(TimeFormat::Rfc3339),
                text: text.to_string(),
            };
            at += Duration::seconds(rng.range(20, 360));
            message
        })
        .collect();
    Conversation {
        conversation_id: format!("M{:09}", i + 1),
        order_id: order.order_id.into(),
        customer_id: order.customer_id.into(),
        restaurant_id: order.restaurant_id.into(),
        rider_id: order.rider_id.map(Into::into),
        started_at: SourceTime::from_naive_kst(started).with_format(TimeFormat::Rfc3339),
        messages,
    }
}

pub fn write_messages(
    world: &World,
    out: &mut impl Write,
    tick: &dyn Fn(),
) -> io::Result<FileDefects> {
    let mut d = FileDefects::new("json_messages");
    let n = world.counts.conversations;
    out.write_all(b"[\n")?;
    for i in 0..n {
        let mut c = conversation(world, i, n);
        let (defect, mut rng) = roll(world.seed, MESSAGES, i);
        let mut doc = serde_json::to_value(&c).map_err(io::Error::other)?;
        match defect {
            Defect::Malformed => {
                if rng.chance(0.5) {
                    doc["conversation_id"] = json!("");
                    d.count_reject(ErrorKind::MissingField);
                } else {
                    doc["messages"][0]["sent_at"] = json!("방금 전");
                    d.count_reject(ErrorKind::InvalidValue);
                }
            }
            Defect::Missing if c.rider_id.is_some() => {
                c.rider_id = None;
                doc["rider_id"] = Value::Null;
                d.count_missing("rider_id");
            }
            _ => {}
        }
        if i > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut *out, &doc).map_err(io::Error::other)?;
        d.records += 1;
        tick();
    }
    out.write_all(b"\n]\n")?;
    Ok(d)
}

pub fn log_event(world: &World, i: u64, n: u64) -> LogEvent {
    let mut rng = Rng::keyed(world.seed, stream::LOG, i);
    let (event, service, level, _, msg) =
        LOG_EVENTS[rng.weighted(&LOG_EVENTS.iter().map(|e| e.3).collect::<Vec<_>>())];
    let time = world.time_at(LOG, i, n) + Duration::milliseconds(rng.below(1000) as i64);
    let system_event = matches!(event, "TIMEOUT" | "RETRY" | "CIRCUIT_OPEN");
    let order_id = if system_event && rng.chance(0.5) {
        None
    } else {
        Some(nearby_csv_order(world, &mut rng, i, n).order_id.into())
    };
    let latency = match event {
        "TIMEOUT" => rng.range(3000, 10_000),
        _ => (rng.normal(4.6, 0.6).exp()).round() as i64,
    };
    LogEvent {
        timestamp: SourceTime::from_naive_kst(time).with_format(TimeFormat::Rfc3339),
        level: LogLevel::parse(level).unwrap_or(LogLevel::Info),
        service: service.to_string(),
        trace_id: Some(format!("{:08x}", rng.next_u64() as u32)),
        order_id,
        event: event.to_string(),
        latency_ms: Some(latency),
        message: Some(msg.to_string()),
        stack_trace: None,
    }
}

/// One log line in the system's layout.
pub fn log_line(e: &LogEvent) -> String {
    let mut line = format!(
        "{} {:<5} [{}]",
        e.timestamp.at.format("%Y-%m-%dT%H:%M:%S%.3f%:z"),
        e.level.as_str(),
        e.service
    );
    if let Some(t) = &e.trace_id {
        line.push_str(&format!(" trace={t}"));
    }
    if let Some(o) = &e.order_id {
        line.push_str(&format!(" order_id={o}"));
    }
    line.push_str(&format!(" event={}", e.event));
    if let Some(ms) = e.latency_ms {
        line.push_str(&format!(" latency_ms={ms}"));
    }
    if let Some(m) = &e.message {
        line.push_str(&format!(" msg=\"{}\"", m.replace('"', "\\\"")));
    }
    line
}

const STACK_TRACE: &[&str] = &[
    "com.baedal.dispatch.DispatchTimeoutException: rider assignment timed out after 30000 ms",
    "\tat com.baedal.dispatch.RiderMatcher.assign(RiderMatcher.java:214)",
    "\tat com.baedal.dispatch.DispatchWorker.run(DispatchWorker.java:88)",
    "Caused by: java.net.SocketTimeoutException: Read timed out",
    "\t... 12 more",
];

pub fn write_log(world: &World, out: &mut impl Write, tick: &dyn Fn()) -> io::Result<FileDefects> {
    let mut d = FileDefects::new("log");
    let n = world.counts.log_events;
    for i in 0..n {
        let mut event = log_event(world, i, n);
        let mut rng = Rng::keyed(world.seed, stream::DEFECT + 100 * LOG, i);
        match rng.unit() {
            x if x < 0.004 => {
                // Cut short inside the message: a process died mid-write.
                let line = log_line(&event);
                let msg_start = line.find("msg=\"").map(|p| p + 5).unwrap_or(line.len() / 2);
                let cuts: Vec<usize> = line
                    .char_indices()
                    .map(|(p, _)| p)
                    .filter(|p| *p >= msg_start && *p < line.len() - 1)
                    .collect();
                let cut = if cuts.is_empty() {
                    line.len() - 1
                } else {
                    *rng.pick(&cuts)
                };
                out.write_all(&line.as_bytes()[..cut])?;
                out.write_all(b"\n")?;
                d.count_reject(ErrorKind::Truncated);
            }
            x if x < 0.007 => {
                // Binary noise: never a newline, always invalid UTF-8.
                let len = rng.range(20, 120) as usize;
                let mut noise = vec![0xffu8];
                noise.extend((1..len).map(|_| match rng.below(256) as u8 {
                    b'\n' | b'\r' => 0xfe,
                    b => b,
                }));
                noise.push(b'\n');
                out.write_all(&noise)?;
                d.count_reject(ErrorKind::Unreadable);
            }
            x if x < 0.010 => {
                event.level = LogLevel::Error;
                out.write_all(log_line(&event).as_bytes())?;
                out.write_all(b"\n")?;
                for line in STACK_TRACE {
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                }
                d.stack_traces += 1;
            }
            _ => {
                out.write_all(log_line(&event).as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        d.records += 1;
        tick();
    }
    Ok(d)
}

/// An order in the CSV's field names, as a plain dict.
fn flat_order(o: &Order) -> Value {
    let fields = csv_fields(o);
    let mut map = Map::new();
    for (name, value) in ORDER_COLUMNS.iter().zip(fields) {
        let v = match *name {
            _ if value.is_empty() => Value::Null,
            "item_count"
            | "order_amount"
            | "discount_amount"
            | "delivery_fee"
            | "estimated_delivery_min"
            | "actual_delivery_min"
            | "rating" => value
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::String(value)),
            "store_lat" | "store_lng" | "customer_lat" | "customer_lng" | "distance_km" => value
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or(Value::String(value)),
            _ => Value::String(value),
        };
        map.insert(name.to_string(), v);
    }
    Value::Object(map)
}

pub fn write_pickle(
    world: &World,
    out: &mut impl Write,
    tick: &dyn Fn(),
) -> io::Result<FileDefects> {
    let mut d = FileDefects::new("pickle");
    let n = world.counts.unified;
    let csv = world.counts.csv_orders;
    let mut writer = PickleWriter::new(out)?;
    for i in 0..n {
        let mut rng = Rng::keyed(world.seed, stream::UNIFIED, i);
        let k = rng.below(csv);
        let order = world.order(CSV, k + 1, k, csv);
        let (kind, source, mut payload) = match rng.unit() {
            x if x < 0.6 => {
                let rating = order
                    .rating
                    .filter(|r| (1..=5).contains(r))
                    .unwrap_or_else(|| rng.range(1, 5));
                let created = order
                    .updated_at
                    .unwrap_or(order.order_time)
                    .at
                    .naive_local()
                    + Duration::minutes(rng.range(10, 48 * 60));
                let review = crate::model::Review {
                    review_id: format!("V{:09}", i + 1),
                    order_id: Some(order.order_id.to_string()),
                    customer_id: Some(order.customer_id.to_string()),
                    restaurant_id: order.restaurant_id.to_string(),
                    rating,
                    text: rng.pick(REVIEW_TEXTS[(rating - 1) as usize]).to_string(),
                    created_at: SourceTime::from_naive_kst(created)
                        .with_format(TimeFormat::Rfc3339),
                };
                (
                    "review",
                    "app_review",
                    serde_json::to_value(review).map_err(io::Error::other)?,
                )
            }
            x if x < 0.7 => ("order", "csv_export", flat_order(&order)),
            x if x < 0.8 => ("order", "app_api", order_doc(&order)),
            x if x < 0.9 => {
                let c = conversation(
                    world,
                    rng.below(world.counts.conversations),
                    world.counts.conversations,
                );
                (
                    "message",
                    "chat",
                    serde_json::to_value(c).map_err(io::Error::other)?,
                )
            }
            _ => {
                let e = log_event(
                    world,
                    rng.below(world.counts.log_events),
                    world.counts.log_events,
                );
                (
                    "event",
                    "system_log",
                    serde_json::to_value(e).map_err(io::Error::other)?,
                )
            }
        };
        let mut defect_rng = Rng::keyed(world.seed, stream::DEFECT + 100 * 5, i);
        if defect_rng.chance(0.001) {
            // Loadable by Python, but a value no record can have.
            let field = match kind {
                "review" => "rating",
                "message" => "started_at",
                "event" => "timestamp",
                _ if payload.get("orderTime").is_some() => "orderTime",
                _ => "order_time",
            };
            payload[field] = json!("다섯");
            d.count_reject(ErrorKind::InvalidValue);
        }
        writer.push(&json!({"kind": kind, "source": source, "payload": payload}))?;
        d.records += 1;
        tick();
    }
    writer.finish()?;
    Ok(d)
}

//! The order files: CSV, the app API's JSON export and the XML export.

use super::*;

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
        let (defect, mut rng) = roll_exported(world, JSON, j, reexported, &mut order, &mut d);
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

/// The defect of the `j`th order of an export file (none for a re-export of
/// an order another file holds), applied to the order where it leaves it
/// readable; the generator to go on with.
fn roll_exported(
    world: &World,
    file: u64,
    j: u64,
    reexported: bool,
    order: &mut Order,
    d: &mut FileDefects,
) -> (Defect, Rng) {
    let (defect, mut rng) = if reexported {
        (Defect::None, Rng::keyed(0, 0, 0))
    } else {
        roll(world.seed, file, j)
    };
    d.reexports += u64::from(reexported);
    apply_readable(defect, order, &mut rng, d);
    (defect, rng)
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
    // A party of the order: its id, name, one more field, and where it is.
    let mut party = |tag: &str,
                     id: &str,
                     name: &Option<Text>,
                     (field, value): (&str, &Option<Text>),
                     (lat, lng): (String, String)| {
        let _ = writeln!(
            x,
            "    <{tag} id=\"{}\"><name>{}</name><{field}>{}</{field}><lat>{lat}</lat><lng>{lng}</lng></{tag}>",
            xml_escape(id),
            e(name),
            e(value),
        );
    };
    party(
        "customer",
        &o.customer_id,
        &o.customer_name,
        ("phone", &o.phone_number),
        (fixed(o.customer_lat, 3), fixed(o.customer_lng, 3)),
    );
    party(
        "restaurant",
        &o.restaurant_id,
        &o.restaurant_name,
        ("category", &o.category),
        (fixed(o.store_lat, 6), fixed(o.store_lng, 6)),
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
        let (defect, mut rng) = roll_exported(world, XML, j, reexported, &mut order, &mut d);
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

//! The unified pickle: every kind of record as `{kind, source, payload}`.

use super::super::pickle_writer::PickleWriter;
use super::*;

/// An order in the CSV's field names, as a plain dict: numbers as numbers
/// (by the column's type), the rest as text.
fn flat_order(o: &Order) -> Value {
    let fields = csv_fields(o);
    let mut map = Map::new();
    for (column, value) in ORDER_COLUMN_TABLE.iter().zip(fields) {
        let v = match column.sql_type {
            _ if value.is_empty() => Value::Null,
            Some("integer" | "bigint") => value
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::String(value)),
            Some("double precision") => value
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or(Value::String(value)),
            _ => Value::String(value),
        };
        map.insert(column.name.to_string(), v);
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
                ("review", "app_review", to_json(review)?)
            }
            x if x < 0.7 => ("order", "csv_export", flat_order(&order)),
            x if x < 0.8 => ("order", "app_api", order_doc(&order)),
            x if x < 0.9 => {
                let n = world.counts.conversations;
                let copy = conversation(world, rng.below(n), n);
                ("message", "chat", to_json(copy)?)
            }
            _ => {
                let n = world.counts.log_events;
                let copy = log_event(world, rng.below(n), n);
                ("event", "system_log", to_json(copy)?)
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

/// A record as the JSON value the pickle stores.
fn to_json(record: impl serde::Serialize) -> io::Result<serde_json::Value> {
    serde_json::to_value(record).map_err(io::Error::other)
}

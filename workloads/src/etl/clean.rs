//! The clean tables' writers: each takes a batch's records of one kind and
//! writes them in the batch's transaction ([`super::load::Batch::write`]).

use super::load::{broken_unique_constraint, copy_rows, CopyColumns, CopyRow, Tx};
use crate::columns::{stored_columns, Cell};
use crate::db::UnnestInsert;
use crate::model::{ChatMessage, Conversation, DeadLetter, LogEvent, Order, OrderItem, Review};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

fn utc(t: &crate::model::SourceTime) -> DateTime<Utc> {
    t.at.with_timezone(&Utc)
}

/// Writes an order's value of a stored column to a COPY row; false for
/// `menu_items`, which is not stored in `orders`.
fn write_cell(row: &mut CopyRow<'_>, cell: Cell<'_>) -> bool {
    match cell {
        Cell::Text(v) => row.text(v),
        Cell::Integer(v) => row.value(v),
        Cell::Number(v) => row.value(v),
        Cell::Time(t) => row.value(t.map(|t| utc(t).to_rfc3339())),
        Cell::Items(_) => {
            row.text(None);
            return false;
        }
    }
    true
}

/// The statements that store a batch's orders, built once per process from
/// the stored columns of [`crate::columns`] (by name).
struct OrderSql {
    /// Which of a batch's order ids are stored already.
    stored: &'static str,
    /// New orders, straight into `orders`.
    copy_fresh: String,
    /// The input table of orders that may replace stored ones.
    create_input: String,
    copy_input: &'static str,
    /// The upsert from it into `orders` (the latest `updated_at` wins;
    /// `xmax = 0` tells a fresh insert from an update: only updated orders
    /// can have items to replace).
    upsert: String,
}

fn order_sql() -> &'static OrderSql {
    static SQL: std::sync::LazyLock<OrderSql> = std::sync::LazyLock::new(build_order_sql);
    &SQL
}

fn build_order_sql() -> OrderSql {
    let columns: Vec<&str> = stored_columns().map(|(column, _)| column.name).collect();
    let typed: Vec<String> = stored_columns()
        .map(|(column, sql_type)| format!("{} {sql_type}", column.name))
        .collect();
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| **c != "order_id")
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect();
    let (list, typed, updates) = (columns.join(", "), typed.join(", "), updates.join(", "));
    OrderSql {
        stored: "SELECT order_id FROM orders WHERE order_id = ANY($1)",
        copy_fresh: format!("COPY orders ({list}, flags, source_topic) FROM STDIN"),
        create_input: format!(
            "CREATE TEMP TABLE IF NOT EXISTS orders_in ({typed}, flags text[], source_topic text) ON COMMIT DELETE ROWS"
        ),
        copy_input: "COPY orders_in FROM STDIN",
        upsert: format!(
            "INSERT INTO orders ({list}, flags, source_topic)
             SELECT {list}, flags, source_topic FROM orders_in
             ON CONFLICT (order_id) DO UPDATE SET {updates},
                 flags = EXCLUDED.flags, source_topic = EXCLUDED.source_topic, loaded_at = now()
             WHERE COALESCE(EXCLUDED.updated_at, '-infinity') > COALESCE(orders.updated_at, '-infinity')
             RETURNING order_id, xmax = 0"
        ),
    }
}

/// The COPY text of the orders `ids`: the stored columns, the flags (an
/// array literal) and the source topic.
fn order_rows(orders: &HashMap<String, (Order, String)>, ids: &[&String]) -> Vec<u8> {
    let mut rows = Vec::with_capacity(ids.len() * 512);
    for id in ids {
        let Some((order, topic)) = orders.get(*id) else {
            continue;
        };
        let mut row = CopyRow::new(&mut rows);
        for (column, _) in stored_columns() {
            write_cell(&mut row, (column.value)(order));
        }
        let flags: Vec<&str> = order
            .impossible_values()
            .iter()
            .map(|f| f.as_str())
            .collect();
        // Flag names are snake_case words: nothing in them needs quoting.
        row.text(Some(&format!("{{{}}}", flags.join(","))));
        row.text(Some(topic));
        row.end();
    }
    rows
}

/// Upserts orders (a later `updated_at` replaces an earlier one; an equal or
/// older one changes nothing) and rewrites the items of the orders that changed.
///
/// Orders no stored row has (every order of a first load) are copied
/// straight into `orders`; only the others go through the input table and
/// the upsert (a second copy of each row, and a speculative insert).
pub(super) async fn upsert_orders(
    tx: &mut Tx<'_>,
    orders: &HashMap<String, (Order, String)>,
) -> Result<u64, sqlx::Error> {
    if orders.is_empty() {
        return Ok(0);
    }
    let t0 = std::time::Instant::now();
    let sql = order_sql();
    let mut ids: Vec<&String> = orders.keys().collect();
    ids.sort(); // one lock order for every batch
    let stored: std::collections::HashSet<String> = sqlx::query_scalar(sql.stored)
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect();
    let (fresh, mut known): (Vec<&String>, Vec<&String>) = ids
        .into_iter()
        .partition(|id| !stored.contains(id.as_str()));
    let mut changed: Vec<&String> = Vec::with_capacity(orders.len());
    if !fresh.is_empty() {
        if copy_fresh(tx, &sql.copy_fresh, order_rows(orders, &fresh)).await? {
            changed.extend(&fresh);
        } else {
            // Another loader stored one of them meanwhile: upsert them all.
            known.extend(fresh);
            known.sort();
        }
    }
    let t1 = t0.elapsed();
    let mut updated: Vec<String> = Vec::new();
    if !known.is_empty() {
        sqlx::query(&sql.create_input).execute(&mut **tx).await?;
        copy_rows(tx, sql.copy_input, order_rows(orders, &known)).await?;
        let upserted: Vec<(String, bool)> =
            sqlx::query_as(&sql.upsert).fetch_all(&mut **tx).await?;
        for (id, inserted) in upserted {
            if let Some((key, _)) = orders.get_key_value(&id) {
                changed.push(key);
            }
            if !inserted {
                updated.push(id);
            }
        }
    }
    let t2 = t0.elapsed();
    if !updated.is_empty() {
        sqlx::query("DELETE FROM order_items WHERE order_id = ANY($1)")
            .bind(&updated)
            .execute(&mut **tx)
            .await?;
    }
    let t3 = t0.elapsed();
    // Plain inserts, as COPY (one multi-row insert a page): a changed
    // order's items are new, its old ones deleted above.
    let columns = item_columns();
    let mut items = Vec::with_capacity(changed.len() * 64);
    for id in &changed {
        if let Some((order, _)) = orders.get(*id) {
            for (line_no, item) in (1i32..).zip(&order.items) {
                columns.write(&mut items, &(id, line_no, item));
            }
        }
    }
    copy_rows(tx, &columns.statement(), items).await?;
    tracing::debug!(
        fresh_ms = t1.as_millis() as u64,
        upsert_ms = (t2 - t1).as_millis() as u64,
        delete_ms = (t3 - t2).as_millis() as u64,
        items_ms = (t0.elapsed() - t3).as_millis() as u64,
        "orders written"
    );
    Ok(changed.len() as u64)
}

/// Copies new orders straight into `orders`, in a savepoint. False (and
/// nothing copied) when one of them is stored already: another loader
/// stored it after the batch looked (a consumer-group rebalance).
async fn copy_fresh(tx: &mut Tx<'_>, copy_sql: &str, rows: Vec<u8>) -> Result<bool, sqlx::Error> {
    let mut savepoint = sqlx::Connection::begin(&mut **tx).await?;
    match copy_rows(&mut savepoint, copy_sql, rows).await {
        Ok(_) => {
            savepoint.commit().await?;
            Ok(true)
        }
        Err(e) if is_order_key_conflict(&e) => {
            savepoint.rollback().await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A unique violation of `orders`' primary key.
fn is_order_key_conflict(error: &sqlx::Error) -> bool {
    broken_unique_constraint(error) == Some("orders_pkey")
}

/// An order item row: its order, its line number (from 1), the item.
type ItemRow<'a> = (&'a str, i32, &'a OrderItem);

fn item_columns<'a>() -> CopyColumns<ItemRow<'a>, 5> {
    CopyColumns {
        table: "order_items",
        columns: [
            ("order_id", |(order, ..), row| row.text(Some(order))),
            ("line_no", |(_, line_no, _), row| row.value(Some(line_no))),
            ("name", |(.., item), row| row.text(Some(&item.name))),
            ("quantity", |(.., item), row| row.value(Some(item.quantity))),
            ("unit_price", |(.., item), row| {
                row.value(Some(item.unit_price))
            }),
        ],
    }
}

/// A message row: its conversation, its place in it (from 1), the message.
type MessageRow<'a> = (&'a str, i32, &'a ChatMessage);

fn message_columns<'a>() -> CopyColumns<MessageRow<'a>, 5> {
    CopyColumns {
        table: "messages",
        columns: [
            ("conversation_id", |(conversation, ..), row| {
                row.text(Some(conversation))
            }),
            ("seq", |(_, seq, _), row| row.value(Some(seq))),
            ("sender", |(.., m), row| row.text(Some(m.sender.as_str()))),
            ("sent_at", |(.., m), row| {
                row.value(Some(utc(&m.sent_at).to_rfc3339()))
            }),
            ("body", |(.., m), row| row.text(Some(&m.text))),
        ],
    }
}

pub(super) async fn insert_conversations(
    tx: &mut Tx<'_>,
    conversations: &HashMap<String, Conversation>,
) -> Result<(), sqlx::Error> {
    if conversations.is_empty() {
        return Ok(());
    }
    let all: Vec<&Conversation> = conversations.values().collect();
    let inserted: Vec<(String,)> = UnnestInsert::new("conversations", &all)
        .column("conversation_id", |c| c.conversation_id.as_str())
        .column("order_id", |c| c.order_id.as_str())
        .column("customer_id", |c| c.customer_id.as_str())
        .column("restaurant_id", |c| c.restaurant_id.as_str())
        .column("rider_id", |c| c.rider_id.as_deref())
        .column("started_at", |c| utc(&c.started_at))
        .fetch_all(
            "ON CONFLICT DO NOTHING RETURNING conversation_id",
            &mut **tx,
        )
        .await?;
    // The messages of the conversations stored just now (none of theirs
    // can be stored yet): plain inserts, as COPY.
    let columns = message_columns();
    let mut messages = Vec::new();
    for (conversation_id,) in &inserted {
        if let Some(c) = conversations.get(conversation_id) {
            for (seq, m) in (1i32..).zip(&c.messages) {
                columns.write(&mut messages, &(conversation_id, seq, m));
            }
        }
    }
    copy_rows(tx, &columns.statement(), messages).await?;
    Ok(())
}

pub(super) async fn insert_log_events(
    tx: &mut Tx<'_>,
    events: &HashMap<i64, LogEvent>,
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let all: Vec<(&i64, &LogEvent)> = events.iter().collect();
    UnnestInsert::new("log_events", &all)
        .column("event_hash", |(hash, _)| **hash)
        .column("ts", |(_, e)| utc(&e.timestamp))
        .column("level", |(_, e)| e.level.as_str())
        .column("service", |(_, e)| e.service.as_str())
        .column("trace_id", |(_, e)| e.trace_id.as_deref())
        .column("order_id", |(_, e)| e.order_id.as_deref())
        .column("event", |(_, e)| e.event.as_str())
        .column("latency_ms", |(_, e)| e.latency_ms)
        .column("message", |(_, e)| e.message.as_deref())
        .column("stack_trace", |(_, e)| e.stack_trace.as_deref())
        .execute("ON CONFLICT DO NOTHING", &mut **tx)
        .await?;
    Ok(())
}

pub(super) async fn insert_reviews(
    tx: &mut Tx<'_>,
    reviews: &HashMap<String, Review>,
) -> Result<(), sqlx::Error> {
    if reviews.is_empty() {
        return Ok(());
    }
    let all: Vec<&Review> = reviews.values().collect();
    UnnestInsert::new("reviews", &all)
        .column("review_id", |r| r.review_id.as_str())
        .column("order_id", |r| r.order_id.as_deref())
        .column("customer_id", |r| r.customer_id.as_deref())
        .column("restaurant_id", |r| r.restaurant_id.as_str())
        .column("rating", |r| r.rating)
        .column("body", |r| r.text.as_str())
        .column("created_at", |r| utc(&r.created_at))
        .execute("ON CONFLICT DO NOTHING", &mut **tx)
        .await?;
    Ok(())
}

/// Returns how many dead letters were new.
pub(super) async fn insert_dead_letters(
    tx: &mut Tx<'_>,
    dead: &[(String, i32, i64, DeadLetter)],
) -> Result<u64, sqlx::Error> {
    if dead.is_empty() {
        return Ok(0);
    }
    let result = UnnestInsert::new("dead_letters", dead)
        .column("topic", |(topic, ..)| topic.as_str())
        .column("partition", |(_, partition, ..)| *partition)
        .column("\"offset\"", |(_, _, offset, _)| *offset)
        .column("source_file", |(.., d)| d.file.as_str())
        .column("position", |(.., d)| d.position.as_str())
        .column("reason_class", |(.., d)| d.reason_class.as_str())
        .column("reason", |(.., d)| d.reason.as_str())
        .execute("ON CONFLICT DO NOTHING", &mut **tx)
        .await?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_order_column_has_a_value_in_the_copy_row() {
        let order = crate::columns::minimal_order();
        let mut out = Vec::new();
        let mut row = CopyRow::new(&mut out);
        for (column, _) in stored_columns() {
            assert!(
                write_cell(&mut row, (column.value)(&order)),
                "{}",
                column.name
            );
        }
        row.end();
        let fields = String::from_utf8(out).unwrap();
        assert_eq!(
            fields.trim_end().split('\t').count(),
            stored_columns().count()
        );
    }
}

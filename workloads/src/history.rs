//! The order history the models learn from, read straight from a dataset's
//! files (every order file, merged as the pipeline's `orders` table merges
//! them): what the model benchmarks and the reference-model test use, so
//! that both sides of a comparison see the same series and customers the
//! ETL's models see.

use crate::churn::Purchase;
use crate::model::{Order, Record};
use crate::readers;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Korea Standard Time's offset, in hours.
const KST_HOURS: i64 = 9;

/// Orders per KST hour, and each customer's revenue orders.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderHistory {
    /// Orders per hour, from the first KST day's midnight to the last whole
    /// day's 23:00 (the last day, whose hours may be partial, is left out).
    pub hourly: Vec<f64>,
    /// Revenue orders per customer.
    pub customers: BTreeMap<String, Vec<Purchase>>,
    /// The reference time: the latest order plus one day.
    pub reference: DateTime<Utc>,
}

impl OrderHistory {
    /// From orders, each order id once (the first seen wins); as in the
    /// marts, only valid orders (no impossible value) count.
    pub fn of<'a>(orders: impl IntoIterator<Item = &'a Order>) -> Option<OrderHistory> {
        let mut seen = HashSet::new();
        let mut hours: Vec<i64> = Vec::new();
        let mut latest: Option<DateTime<Utc>> = None;
        let mut customers: BTreeMap<String, Vec<Purchase>> = BTreeMap::new();
        for order in orders {
            if !seen.insert(order.order_id.as_str()) || !order.impossible_values().is_empty() {
                continue;
            }
            let at = order.order_time.at.to_utc();
            hours.push(at.timestamp().div_euclid(3600));
            latest = latest.max(Some(at));
            if order.order_status.counts_as_revenue() {
                customers
                    .entry(order.customer_id.to_string())
                    .or_default()
                    .push((at, order.order_amount.unwrap_or(0) as f64));
            }
        }
        let (first, last) = (*hours.iter().min()?, *hours.iter().max()?);
        let start = (first + KST_HOURS).div_euclid(24) * 24 - KST_HOURS;
        let end = (last + KST_HOURS).div_euclid(24) * 24 - KST_HOURS;
        let mut hourly = vec![0.0; usize::try_from(end - start).ok()?];
        for h in hours.into_iter().filter(|h| *h < end) {
            hourly[usize::try_from(h - start).ok()?] += 1.0;
        }
        Some(OrderHistory {
            hourly,
            customers,
            reference: latest? + Duration::days(crate::rules::REFERENCE_DAYS_AFTER_LATEST),
        })
    }

    /// From every order in a dataset directory, whichever file it is in
    /// (CSV, JSON, XML, JSON Lines, the pickle's orders): the orders the
    /// pipeline's `orders` table holds, merged the same way.
    pub fn read_dataset(dir: &Path) -> anyhow::Result<OrderHistory> {
        let orders = merged_orders(dir)?;
        OrderHistory::of(orders.values())
            .ok_or_else(|| anyhow::anyhow!("no orders in {}", dir.display()))
    }
}

/// The readable orders of a dataset directory, per order id the version
/// that supersedes the others ([`Order::supersedes`]), in order-id order.
pub fn merged_orders(dir: &Path) -> anyhow::Result<BTreeMap<String, Order>> {
    let mut orders: BTreeMap<String, Order> = BTreeMap::new();
    for (path, format) in readers::dataset_files(dir)?.files {
        for record in readers::open(&path, format)?.flatten() {
            if let Record::Order(order) = record {
                let held = orders.get(order.order_id.as_str());
                if held.is_none_or(|held| order.supersedes(held)) {
                    orders.insert(order.order_id.to_string(), order);
                }
            }
        }
    }
    Ok(orders)
}

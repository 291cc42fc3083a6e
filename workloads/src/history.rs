//! The order history the models learn from, read straight from a dataset's
//! files: what the model benchmarks and the reference-model test use, so
//! that both sides of a comparison see the same series and customers.

use crate::churn::Purchase;
use crate::model::{Order, Record};
use crate::readers::{self, SourceFormat};
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
            reference: latest? + Duration::days(1),
        })
    }

    /// From a CSV file of orders; rows that are not readable orders are
    /// left out.
    pub fn read_csv(path: &Path) -> anyhow::Result<OrderHistory> {
        let orders: Vec<Order> = readers::open(path, SourceFormat::Csv)?
            .filter_map(|r| match r {
                Ok(Record::Order(o)) => Some(o),
                _ => None,
            })
            .collect();
        OrderHistory::of(&orders).ok_or_else(|| anyhow::anyhow!("no orders in {}", path.display()))
    }
}

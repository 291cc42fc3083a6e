//! The business rules of DATA.md, each written once: the marts, the API's
//! queries and the rule tables it serves all come from here.
//!
//! - Revenue (GMV) counts the orders whose status is in [`REVENUE_STATUSES`].
//! - A delivery is "late" when it took more than 10 minutes over the estimate.
//! - The reference time ("now" for recency and churn) is the latest valid
//!   order time plus one day ([`REFERENCE_CTE`]).
//! - RFM segments: the first rule of [`RFM_SEGMENTS`] that matches.
//! - Churn statuses: the first rule of [`CHURN_RULES`] that matches.
//! - Distance bands: [`DISTANCE_BANDS`].

use crate::model::OrderStatus;

/// The statuses whose orders count toward revenue (GMV).
pub const REVENUE_STATUSES: [OrderStatus; 2] = [OrderStatus::Delivered, OrderStatus::Delayed];

/// [`REVENUE_STATUSES`] as an SQL condition on `orders` (checked against
/// the list by a test).
pub const REVENUE: &str = "order_status IN ('DELIVERED', 'DELAYED')";

/// Road distance over straight-line distance: the generator's `distance_km`
/// and the route suggestions' distances both use it.
pub const ROAD_FACTOR: f64 = 1.3;

/// Road distance estimate between two points (degrees): the haversine
/// distance × [`ROAD_FACTOR`], km.
pub fn road_km(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().asin() * ROAD_FACTOR
}

/// A month, in days, wherever the rules speak of months: the CLV horizon
/// and its monthly discount, `simple_clv`'s revenue per month and its
/// retention windows, the churn label's window and the churn rule's
/// `since > 30` (checked by a test).
pub const MONTH_DAYS: u32 = 30;

/// The monthly discount rate of every CLV figure (1% a month).
pub const MONTHLY_DISCOUNT: f64 = 0.01;

/// "Late": delivered more than 10 minutes after the estimate (1 or 0).
pub const LATE: &str = "(actual_delivery_min > estimated_delivery_min + 10)::int";

/// The delivered, non-pickup orders with a plausible delivery time: what
/// delivery statistics (times, late rates) are computed over.
pub const DELIVERY_OK: &str =
    "is_valid AND order_status IN ('DELIVERED', 'DELAYED') AND platform IS DISTINCT FROM '포장'
    AND actual_delivery_min BETWEEN 1 AND 180 AND estimated_delivery_min IS NOT NULL";

/// [`DELIVERY_OK`] for one order read from the files (tests/routes.rs
/// checks that both select the same orders).
pub fn delivery_ok(o: &crate::model::Order) -> bool {
    o.impossible_values().is_empty()
        && o.order_status.counts_as_revenue()
        && o.platform.as_deref() != Some("포장")
        && o.actual_delivery_min
            .is_some_and(|m| (1..=180).contains(&m))
        && o.estimated_delivery_min.is_some()
}

/// The reference time ("now" for recency, churn and CLV) is this many days
/// after the latest valid order ([`REFERENCE_CTE`] in SQL,
/// `history::OrderHistory` in Rust; a test checks the SQL).
pub const REFERENCE_DAYS_AFTER_LATEST: i64 = 1;

/// The reference time `reference.t`, as a CTE: the latest valid order time
/// plus [`REFERENCE_DAYS_AFTER_LATEST`].
pub const REFERENCE_CTE: &str =
    "reference AS (SELECT max(order_time) + interval '1 day' AS t FROM orders WHERE is_valid)";

/// A named rule: the condition (SQL over the query's columns, which read as
/// the rule is said), or `None` for "otherwise".
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub name: &'static str,
    pub condition: Option<&'static str>,
}

impl Rule {
    /// The condition as shown to people.
    pub fn shown(&self) -> &'static str {
        self.condition.unwrap_or("otherwise")
    }
}

/// An RFM score, 1–5, of the customers ordered by `order_by` (ascending:
/// the last ones score 5): `1 + ⌊5 × percent rank⌋`, capped at 5. Equal
/// values share a rank, so customers with equal values share a score (an
/// `ntile` would split a tie by whatever else orders the rows).
pub fn quintile_score(order_by: &str) -> String {
    format!("LEAST(5, 1 + floor(5 * percent_rank() OVER (ORDER BY {order_by})))::int")
}

/// The RFM segments, tried in order (R, F, M are the 1–5 scores).
pub const RFM_SEGMENTS: [Rule; 8] = [
    Rule {
        name: "Can't Lose",
        condition: Some("R <= 2 AND F >= 4 AND M >= 4"),
    },
    Rule {
        name: "Champions",
        condition: Some("R >= 4 AND F >= 4"),
    },
    Rule {
        name: "Loyal",
        condition: Some("R >= 3 AND F >= 3"),
    },
    Rule {
        name: "New",
        condition: Some("R >= 4 AND F = 1"),
    },
    Rule {
        name: "Potential Loyalist",
        condition: Some("R >= 3"),
    },
    Rule {
        name: "At Risk",
        condition: Some("F >= 3"),
    },
    Rule {
        name: "Hibernating",
        condition: Some("R = 2"),
    },
    Rule {
        name: "Lost",
        condition: None,
    },
];

/// The churn statuses, tried in order, over a customer's revenue orders:
/// `orders`, `since` (days from the last one to the reference time) and
/// `gap` (mean days between their orders; NULL for one order).
pub const CHURN_RULES: [Rule; 4] = [
    Rule {
        name: "churned",
        condition: Some("since > 30 AND (orders = 1 OR since > 3 * gap)"),
    },
    Rule {
        name: "at_risk",
        condition: Some("orders > 1 AND since > 2 * gap"),
    },
    Rule {
        name: "one_time",
        condition: Some("orders = 1"),
    },
    Rule {
        name: "active",
        condition: None,
    },
];

/// The distance bands: a label and the distance (km) it runs up to.
pub const DISTANCE_BANDS: [(&str, f64); 5] = [
    ("0-1km", 1.0),
    ("1-2km", 2.0),
    ("2-3km", 3.0),
    ("3-5km", 5.0),
    ("5km+", f64::INFINITY),
];

/// The bucket of an order without a value in a dimension (a distance, a
/// district, the weather).
pub const UNKNOWN: &str = "(unknown)";
/// The label of an order without a distance.
pub const UNKNOWN_DISTANCE: &str = UNKNOWN;

/// The SQL `CASE` naming the first rule that matches (names are quoted).
pub fn case_of(rules: &[Rule]) -> String {
    let mut sql = String::from("CASE");
    for rule in rules {
        let name = rule.name.replace('\'', "''");
        match rule.condition {
            Some(condition) => sql.push_str(&format!(" WHEN {condition} THEN '{name}'")),
            None => sql.push_str(&format!(" ELSE '{name}'")),
        }
    }
    sql.push_str(" END");
    sql
}

/// Market baskets: one row per (revenue order, item) with the item's
/// quantity and revenue, of the orders `o` that meet `condition` (menu
/// baskets count only revenue orders).
pub fn baskets_sql(condition: &str) -> String {
    format!(
        "SELECT i.order_id, i.name, sum(i.quantity)::bigint AS quantity,
                sum(i.quantity * i.unit_price)::bigint AS revenue
         FROM order_items i JOIN orders o ON o.order_id = i.order_id
         WHERE {condition} AND {REVENUE} GROUP BY i.order_id, i.name"
    )
}

/// The SQL `CASE` of an order's distance band (over `distance_km`).
pub fn distance_band_case() -> String {
    let mut sql = String::from("CASE");
    for (label, upper) in DISTANCE_BANDS {
        if upper.is_finite() {
            sql.push_str(&format!(" WHEN distance_km < {upper} THEN '{label}'"));
        } else {
            sql.push_str(&format!(" WHEN distance_km IS NOT NULL THEN '{label}'"));
        }
    }
    sql.push_str(&format!(" ELSE '{UNKNOWN_DISTANCE}' END"));
    sql
}

/// Delivery statistics per bucket of each dimension (distance band,
/// district, KST hour `00`–`23`, weather; a missing value is its own
/// `(unknown)` bucket), over the rows of `deliveries` (a query of orders
/// meeting [`DELIVERY_OK`]): `dimension, bucket, orders, avg_delivery_min,
/// late_rate, avg_fee, avg_distance_km`. One pass, one grouping set per
/// dimension.
pub fn delivery_buckets_sql(deliveries: &str) -> String {
    let band = distance_band_case();
    format!(
        "SELECT CASE WHEN GROUPING(band) = 0 THEN 'distance_band' WHEN GROUPING(district) = 0 THEN 'district'
                     WHEN GROUPING(hour) = 0 THEN 'hour' ELSE 'weather' END AS dimension,
                COALESCE(band, district, hour, weather) AS bucket,
                count(*) AS orders, avg(actual_delivery_min)::float8 AS avg_delivery_min,
                avg(late)::float8 AS late_rate, avg(delivery_fee)::float8 AS avg_fee,
                avg(distance_km)::float8 AS avg_distance_km
         FROM (SELECT {band} AS band, COALESCE(district, '{UNKNOWN}') AS district,
                      lpad(extract(hour FROM order_time AT TIME ZONE 'Asia/Seoul')::int::text, 2, '0') AS hour,
                      COALESCE(weather, '{UNKNOWN}') AS weather,
                      actual_delivery_min, {LATE} AS late, delivery_fee, distance_km
               FROM ({deliveries}) deliveries) d
         GROUP BY GROUPING SETS ((band), (district), (hour), (weather))"
    )
}

/// The distance band of a distance, as [`distance_band_case`] gives it.
pub fn distance_band(km: Option<f64>) -> &'static str {
    match km {
        None => UNKNOWN_DISTANCE,
        Some(km) => DISTANCE_BANDS
            .iter()
            .find(|(_, upper)| km < *upper || upper.is_infinite())
            .map_or(UNKNOWN_DISTANCE, |(label, _)| label),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revenue_and_delivery_conditions_name_the_revenue_statuses() {
        let quoted: Vec<String> = REVENUE_STATUSES
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        let list = format!("order_status IN ({})", quoted.join(", "));
        assert_eq!(REVENUE, list);
        assert!(DELIVERY_OK.contains(&list));
        for status in OrderStatus::ALL {
            assert_eq!(
                status.counts_as_revenue(),
                REVENUE_STATUSES.contains(&status),
                "{status:?}"
            );
        }
    }

    #[test]
    fn the_readme_rule_tables_are_these_rules() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("README.md");
        for rule in RFM_SEGMENTS.iter().chain(&CHURN_RULES) {
            let row = match rule.condition {
                Some(c) => format!("| {} | `{c}` |", rule.name),
                None => format!("| {} | otherwise |", rule.name),
            };
            assert!(readme.contains(&row), "README lacks {row}");
        }
        let bands: Vec<String> = DISTANCE_BANDS
            .iter()
            .map(|(l, _)| format!("`{l}`"))
            .collect();
        assert!(
            readme.contains(&bands[..4].join(", ")) && readme.contains(&bands[4]),
            "README lacks the distance bands {bands:?}"
        );
        let statuses: Vec<String> = REVENUE_STATUSES
            .iter()
            .map(|s| format!("`{}`", s.as_str()))
            .collect();
        let late = LATE
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(")::int"))
            .expect("LATE is (condition)::int");
        for row in [
            format!(
                "| revenue (GMV) | `order_amount` of valid orders with status {} |",
                statuses.join(" or ")
            ),
            format!("| late delivery | `{late}` |"),
            format!(
                "| reference time | the latest valid order time + {REFERENCE_DAYS_AFTER_LATEST} day |"
            ),
            format!("| a month | {MONTH_DAYS} days, everywhere |"),
        ] {
            assert!(readme.contains(&row), "README lacks {row}");
        }
    }

    #[test]
    fn every_month_and_the_reference_time_come_from_one_definition() {
        assert_eq!(crate::clv::MONTH_DAYS, f64::from(MONTH_DAYS));
        assert_eq!(crate::churn::WINDOW_DAYS, i64::from(MONTH_DAYS));
        assert_eq!(CHURN_RULES[0].name, "churned");
        assert!(CHURN_RULES[0]
            .shown()
            .starts_with(&format!("since > {MONTH_DAYS} AND")));
        assert!(REFERENCE_CTE.contains(&format!(
            "max(order_time) + interval '{REFERENCE_DAYS_AFTER_LATEST} day'"
        )));
    }

    #[test]
    fn cases_try_the_rules_in_order_and_end_with_otherwise() {
        assert_eq!(
            case_of(&CHURN_RULES[2..]),
            "CASE WHEN orders = 1 THEN 'one_time' ELSE 'active' END"
        );
        assert!(case_of(&RFM_SEGMENTS)
            .starts_with("CASE WHEN R <= 2 AND F >= 4 AND M >= 4 THEN 'Can''t Lose' WHEN"));
        assert_eq!(distance_band(Some(0.4)), "0-1km");
        assert_eq!(distance_band(Some(3.0)), "3-5km");
        assert_eq!(distance_band(Some(12.0)), "5km+");
        assert_eq!(distance_band(None), "(unknown)");
        assert!(distance_band_case().contains("WHEN distance_km < 5 THEN '3-5km'"));
    }
}

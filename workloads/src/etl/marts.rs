//! The analytic marts, rebuilt from the clean tables after each load. Each
//! table is replaced in its own transaction (a reader sees its old or its
//! new rows, never half of each), several at once.
//!
//! The rules they apply are in [`crate::rules`]. Only valid orders (no
//! impossible value) count anywhere below; hours and days are Korea
//! Standard Time. RFM: per customer, R = whole days from the last revenue
//! order to the reference time, F = revenue orders, M = their revenue; each
//! scored 1–5 by quintile of percent rank, equal values scoring the same
//! ([`quintile_score`]; 5 = most recent / most frequent / highest spend).
//! The same rows carry each customer's churn status ([`CHURN_RULES`]: days
//! since the last order against the mean gap between orders) and the
//! simple CLV's monthly revenue `m` (revenue over the months since
//! the first revenue order, at least one, a month being
//! [`MONTH_DAYS`](crate::rules::MONTH_DAYS)); `mart_retention` holds its `r`
//! (see `api::customers`).

use crate::rules::{
    baskets_sql, case_of, delivery_buckets_sql, quintile_score, CHURN_RULES, DELIVERY_OK, LATE,
    MONTH_DAYS, REFERENCE_CTE, REVENUE, RFM_SEGMENTS,
};
use sqlx::PgPool;

/// A CTE `latest`: for each `key` of the CTE `span`, the order (among
/// those meeting `condition`) placed at its `last_order_at`, the lowest
/// order id among orders placed at the same instant. A restaurant's or a
/// customer's name and place are those of their latest order.
///
/// Grouping for the latest time and joining back costs two hashed passes
/// over the orders; sorting them by key and time (`DISTINCT ON`, or an
/// ordered `array_agg`) cost three to four times as much.
fn latest_order_sql(key: &str, condition: &str) -> String {
    format!(
        "latest AS (SELECT DISTINCT ON (s.{key}) o.*
                    FROM span s JOIN orders o ON o.{key} = s.{key} AND o.order_time = s.last_order_at
                    WHERE {condition}
                    ORDER BY s.{key}, o.order_id)"
    )
}

/// The rebuild, as groups of statements: one transaction per group.
fn statements() -> Vec<Vec<String>> {
    let late = LATE;
    let segment_case = case_of(&RFM_SEGMENTS);
    let churn_case = case_of(&CHURN_RULES);
    let (r, f, m) = (
        quintile_score("recency_days DESC"),
        quintile_score("frequency"),
        quintile_score("monetary"),
    );
    let baskets = baskets_sql("o.is_valid");
    // Most tables are a DELETE followed by its INSERT: one pair per transaction.
    let pairs: Vec<String> = vec![
        "DELETE FROM restaurants".into(),
        format!(
            "WITH span AS (SELECT restaurant_id, max(order_time) AS last_order_at FROM orders GROUP BY restaurant_id),
                  {latest}
             INSERT INTO restaurants (restaurant_id, restaurant_name, category, store_lat, store_lng)
             SELECT restaurant_id, restaurant_name, category, store_lat, store_lng FROM latest",
            latest = latest_order_sql("restaurant_id", "TRUE")
        ),
        "DELETE FROM mart_dimensions".into(),
        // One pass over the orders for the three dimensions.
        "INSERT INTO mart_dimensions (dimension, value)
         SELECT CASE WHEN GROUPING(district) = 0 THEN 'district'
                     WHEN GROUPING(category) = 0 THEN 'category'
                     ELSE 'platform' END,
                COALESCE(district, category, platform)
         FROM orders WHERE is_valid
         GROUP BY GROUPING SETS ((district), (category), (platform))
         HAVING COALESCE(district, category, platform) IS NOT NULL"
            .into(),
        "DELETE FROM mart_hourly_orders".into(),
        format!(
            "INSERT INTO mart_hourly_orders (hour, orders, revenue, cancelled, avg_delivery_min, late_rate)
             SELECT date_trunc('hour', order_time AT TIME ZONE 'Asia/Seoul') AT TIME ZONE 'Asia/Seoul',
                    count(*),
                    COALESCE(sum(order_amount) FILTER (WHERE {REVENUE}), 0),
                    count(*) FILTER (WHERE order_status = 'CANCELLED'),
                    avg(actual_delivery_min) FILTER (WHERE {DELIVERY_OK}),
                    avg({late}) FILTER (WHERE {DELIVERY_OK})
             FROM orders WHERE is_valid
             -- Grouped by the local hour: each group's start, not each
             -- order's, is turned back into an instant.
             GROUP BY date_trunc('hour', order_time AT TIME ZONE 'Asia/Seoul')"
        ),
        "DELETE FROM mart_restaurant_performance".into(),
        format!(
            "WITH span AS (
                 SELECT restaurant_id, max(order_time) AS last_order_at, count(*) AS orders,
                        COALESCE(sum(order_amount) FILTER (WHERE {REVENUE}), 0) AS revenue,
                        avg(rating) AS avg_rating, count(rating) AS rated_orders,
                        avg(actual_delivery_min) FILTER (WHERE {DELIVERY_OK}) AS avg_delivery_min,
                        avg({late}) FILTER (WHERE {DELIVERY_OK}) AS late_rate
                 FROM orders WHERE is_valid GROUP BY restaurant_id),
                  {latest}
             INSERT INTO mart_restaurant_performance (restaurant_id, restaurant_name, category, orders, revenue, avg_rating,
                 rated_orders, avg_delivery_min, late_rate, revenue_rank)
             SELECT s.restaurant_id, l.restaurant_name, l.category, s.orders, s.revenue, s.avg_rating,
                    s.rated_orders, s.avg_delivery_min, s.late_rate, rank() OVER (ORDER BY s.revenue DESC)
             FROM span s JOIN latest l USING (restaurant_id)",
            latest = latest_order_sql("restaurant_id", "o.is_valid")
        ),
        "DELETE FROM mart_customer_rfm".into(),
        format!(
            "WITH {REFERENCE_CTE},
             agg AS (
                 SELECT customer_id,
                        count(*)::int AS orders,
                        sum(COALESCE(order_amount, 0))::bigint AS monetary,
                        extract(epoch FROM (SELECT t FROM reference) - max(order_time)) / 86400 AS since,
                        CASE WHEN count(*) > 1
                             THEN extract(epoch FROM max(order_time) - min(order_time)) / 86400 / (count(*) - 1) END AS gap,
                        extract(epoch FROM (SELECT t FROM reference) - min(order_time)) / ({MONTH_DAYS} * 86400) AS months
                 FROM orders WHERE is_valid AND {REVENUE} GROUP BY customer_id),
             scored AS (
                 SELECT *, floor(since)::int AS recency_days, orders AS frequency FROM agg),
             ranked AS (
                 SELECT *, {r} AS r, {f} AS f, {m} AS m FROM scored)
             INSERT INTO mart_customer_rfm (customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, segment,
                 monthly_revenue, days_since_last_order, mean_gap_days, churn_risk, churn_status)
             SELECT customer_id, recency_days, frequency, monetary, r, f, m, {segment_case},
                    monetary / greatest(1.0, months)::float8,
                    since::float8, COALESCE(gap, 0)::float8, (since / greatest(COALESCE(gap, {MONTH_DAYS}), 1))::float8,
                    {churn_case}
             FROM ranked"
        ),
        "DELETE FROM mart_retention".into(),
        format!(
            "WITH {REFERENCE_CTE},
                  -- Per customer with a revenue order in the last two months:
                  -- one in the month before the last, one in the last month.
                  active AS (SELECT bool_or(order_time < reference.t - interval '{MONTH_DAYS} days') AS before,
                                    bool_or(order_time >= reference.t - interval '{MONTH_DAYS} days') AS last
                             FROM orders, reference
                             WHERE is_valid AND {REVENUE} AND order_time >= reference.t - interval '{MONTH_DAYS} days' * 2
                             GROUP BY customer_id)
             INSERT INTO mart_retention (monthly_retention)
             SELECT COALESCE((count(*) FILTER (WHERE before AND last))::float8
                             / NULLIF(count(*) FILTER (WHERE before), 0), 0)
             FROM active"
        ),
        "DELETE FROM mart_delivery_stats".into(),
        format!(
            "INSERT INTO mart_delivery_stats (dimension, bucket, orders, avg_delivery_min, late_rate, avg_fee, avg_distance_km)
             {}",
            delivery_buckets_sql(&format!("SELECT * FROM orders WHERE {DELIVERY_OK}"))
        ),
        "DELETE FROM mart_delivery_overall".into(),
        format!(
            "INSERT INTO mart_delivery_overall
             SELECT count(*), avg(actual_delivery_min)::float8, avg({late})::float8,
                    corr(delivery_fee, distance_km), regr_slope(actual_delivery_min, distance_km)
             FROM orders WHERE {DELIVERY_OK}"
        ),
    ];
    let customers = vec![
        "DELETE FROM customers".into(),
        // Before the orders' first statistics (a first load), the planner
        // would look each customer's latest order up by index, tens of
        // thousands of lookups; one hashed pass over the orders is cheaper.
        "SET LOCAL enable_nestloop = off".into(),
        format!(
            "WITH span AS (SELECT customer_id, min(order_time) AS first_order_at, max(order_time) AS last_order_at
                           FROM orders GROUP BY customer_id),
                  {latest}
             INSERT INTO customers (customer_id, customer_name, phone_number, district, first_order_at, last_order_at)
             SELECT s.customer_id, l.customer_name, l.phone_number, l.district, s.first_order_at, s.last_order_at
             FROM span s JOIN latest l USING (customer_id)",
            latest = latest_order_sql("customer_id", "TRUE")
        ),
    ];
    // The three menu marts share one computation of the baskets.
    let menu = vec![
        "DELETE FROM mart_menu_items".into(),
        "DELETE FROM mart_menu_pairs".into(),
        "DELETE FROM mart_menu_baskets".into(),
        format!("CREATE TEMP TABLE menu_baskets ON COMMIT DROP AS {baskets}"),
        // A temporary table has no statistics until analysed; without them
        // the pairs' self-join is planned as two sorts on the order id.
        "ANALYZE menu_baskets".into(),
        "INSERT INTO mart_menu_items (name, orders, quantity, revenue)
         SELECT name, count(*), sum(quantity)::bigint, sum(revenue)::bigint FROM menu_baskets GROUP BY name"
            .into(),
        "INSERT INTO mart_menu_pairs (a, b, orders)
         SELECT x.name, y.name, count(*) FROM menu_baskets x JOIN menu_baskets y ON x.order_id = y.order_id AND x.name < y.name
         GROUP BY 1, 2"
            .into(),
        "INSERT INTO mart_menu_baskets SELECT count(DISTINCT order_id) FROM menu_baskets".into(),
    ];
    // After the live marts (started first, see [`refresh_then`]), the
    // longest rebuilds first (the menu marts take a third of the marts'
    // time, the customers a sixth), so that none of them starts last, when
    // the others are done, and sets how long the step takes.
    let mut groups = vec![menu, customers];
    groups.extend(pairs.chunks(2).map(<[String]>::to_vec));
    groups
}

/// The marts the live views read (alerts and leaderboards): what a
/// follower rebuilds while data flows.
pub const LIVE_MARTS: [&str; 3] = [
    "mart_hourly_orders",
    "mart_restaurant_performance",
    "mart_dimensions",
];

/// Whether a group rebuilds one of [`LIVE_MARTS`].
fn is_live(group: &[String]) -> bool {
    group
        .first()
        .and_then(|delete| delete.strip_prefix("DELETE FROM "))
        .is_some_and(|table| LIVE_MARTS.contains(&table))
}

/// Rebuilds the dimensions and every mart, each table in its own
/// transaction, several at once ([`rebuild`]); `after_live` starts as soon
/// as [`LIVE_MARTS`] are rebuilt, beside the other marts (what reads only
/// those need not wait for the slowest mart). The live marts are started
/// first.
/// A failed rebuild becomes an `E` through `failed`.
pub async fn refresh_then<T, E>(
    pool: &PgPool,
    failed: fn(sqlx::Error) -> E,
    after_live: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let (live, rest): (Vec<_>, Vec<_>) = statements().into_iter().partition(|g| is_live(g));
    let slots = rebuild_slots(pool);
    let live_then = async {
        rebuild(pool, live, &slots).await.map_err(failed)?;
        after_live.await
    };
    let rest = async { rebuild(pool, rest, &slots).await.map_err(failed) };
    // Both run to their end: a failure of one (Redis down for the views)
    // leaves the other's rebuilds committed, not cancelled.
    let (after, rest) = tokio::join!(live_then, rest);
    rest?;
    after
}

/// Rebuilds only [`LIVE_MARTS`].
pub async fn refresh_live(pool: &PgPool) -> Result<(), sqlx::Error> {
    let live = statements().into_iter().filter(|g| is_live(g)).collect();
    rebuild(pool, live, &rebuild_slots(pool)).await
}

/// At most half the pool's connections rebuild at once, and never more than
/// leave three free: one each for the models, the order cache and the
/// anomalies-and-views chain, which run beside the marts. A rebuild does
/// not wait on the pool, where on large data (scale 20, rebuilds of over
/// 30 s) it would give up after the pool's acquire timeout (a pool of four
/// or fewer connections has one slot, and may still wait).
fn rebuild_slots(pool: &PgPool) -> tokio::sync::Semaphore {
    let size = usize::try_from(pool.options().get_max_connections()).unwrap_or(1);
    tokio::sync::Semaphore::new((size / 2).min(size.saturating_sub(3)).max(1))
}

/// Rebuilds the tables of `groups`, each group in its own transaction, in
/// order as `slots` free up (first come, first served).
async fn rebuild(
    pool: &PgPool,
    groups: Vec<Vec<String>>,
    slots: &tokio::sync::Semaphore,
) -> Result<(), sqlx::Error> {
    let rebuilds = groups.into_iter().map(|group| async move {
        let _slot = slots
            .acquire()
            .await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let started = std::time::Instant::now();
        let mut tx = pool.begin().await?;
        // Two rebuilds of one table (a batch run and a follower, or two
        // followers) take turns: the second deletes what the first
        // inserted instead of colliding with it. Readers are not blocked.
        // The tables are locked in the order they are emptied, the same in
        // every run.
        for table in group.iter().filter_map(|d| d.strip_prefix("DELETE FROM ")) {
            sqlx::query(&format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
                .execute(&mut *tx)
                .await?;
        }
        for statement in &group {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        tracing::debug!(
            mart = group.first().map(String::as_str),
            ms = started.elapsed().as_millis() as u64,
            "mart rebuilt"
        );
        Ok::<_, sqlx::Error>(())
    });
    // Every group waits for a slot; the semaphore serves them in order.
    futures::future::try_join_all(rebuilds).await?;
    Ok(())
}

//! Order trends, restaurant performance, delivery and menu analysis: SQL
//! over the clean `orders` and `order_items` tables (valid orders only), the
//! definitions of DATA.md (revenue, late, plausible delivery times are the
//! ETL's own, from [`crate::etl::marts`]), each answer cached in Redis.

use super::params::{Filters, Params, FILTER_PARAMS, FILTER_SQL, MENU_SORTS, RESTAURANT_SORTS};
use super::{cache::CachedJson, ApiContext, ApiError};
use crate::rules::{baskets_sql, delivery_buckets_sql, DELIVERY_OK, LATE, REVENUE};
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde::Serialize;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/analytics/order-trends", get(order_trends))
        .route(
            "/analytics/restaurant-performance",
            get(restaurant_performance),
        )
        .route(
            "/analytics/delivery-optimization",
            get(delivery_optimization),
        )
        .route("/analytics/menu", get(menu))
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Bucket {
    /// Hour `00`–`23`, ISO weekday `1` (Mon)–`7` (Sun), `YYYY-MM-DD` or `YYYY-MM` (KST).
    pub key: String,
    /// Korean label for charts (`12시`, `월`, …).
    pub label: String,
    pub orders: i64,
    pub revenue: i64,
}

#[derive(Debug, Serialize)]
pub struct OrderTrends {
    pub filters: Filters,
    pub orders: i64,
    pub revenue: i64,
    pub by_hour: Vec<Bucket>,
    pub by_weekday: Vec<Bucket>,
    pub by_day: Vec<Bucket>,
    pub by_month: Vec<Bucket>,
}

pub(super) const WEEKDAYS: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];

/// `GET /analytics/order-trends`: orders and revenue (GMV) by hour of day,
/// weekday, day and month, in Korea Standard Time.
async fn order_trends(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<CachedJson, ApiError> {
    params.only(&FILTER_PARAMS)?;
    let filters = Filters::parse(&ctx, &params).await?;
    let key = format!("order-trends?{}", params.canonical());
    ctx.cached(&key, async {
        // Per order `f(t, orders, revenue)`, or per hour from the hourly mart
        // when only dates filter (the same sums, hours being whole in KST days).
        let by = |f: &str| {
            format!(
                "WITH f AS ({f})
                 SELECT 'hour', lpad(extract(hour FROM t)::int::text, 2, '0') AS k, sum(n)::bigint, sum(revenue)::bigint FROM f GROUP BY 2
                 UNION ALL SELECT 'weekday', extract(isodow FROM t)::int::text, sum(n)::bigint, sum(revenue)::bigint FROM f GROUP BY 2
                 UNION ALL SELECT 'day', to_char(t, 'YYYY-MM-DD'), sum(n)::bigint, sum(revenue)::bigint FROM f GROUP BY 2
                 UNION ALL SELECT 'month', to_char(t, 'YYYY-MM'), sum(n)::bigint, sum(revenue)::bigint FROM f GROUP BY 2
                 ORDER BY 1, 2"
            )
        };
        let rows: Vec<(String, String, i64, i64)> = if filters.dates_only() {
            let sql = by("SELECT hour AT TIME ZONE 'Asia/Seoul' AS t, orders AS n, revenue FROM mart_hourly_orders
                 WHERE ($1::date IS NULL OR hour >= ($1::date::timestamp AT TIME ZONE 'Asia/Seoul'))
                   AND ($2::date IS NULL OR hour < (($2::date + 1)::timestamp AT TIME ZONE 'Asia/Seoul'))");
            ctx.query(
                sqlx::query_as(&sql)
                    .bind(filters.from)
                    .bind(filters.to)
                    .fetch_all(&ctx.db),
            )
            .await?
        } else {
            let sql = by(&format!(
                "SELECT order_time AT TIME ZONE 'Asia/Seoul' AS t, 1 AS n,
                        CASE WHEN {REVENUE} THEN COALESCE(order_amount, 0) ELSE 0 END AS revenue
                 FROM orders WHERE {FILTER_SQL}"
            ));
            ctx.query(filters.bind(sqlx::query_as(&sql)).fetch_all(&ctx.db))
                .await?
        };
        let mut trends = OrderTrends {
            filters: filters.clone(),
            orders: 0,
            revenue: 0,
            by_hour: (0..24)
                .map(|h| Bucket {
                    key: format!("{h:02}"),
                    label: format!("{h}시"),
                    orders: 0,
                    revenue: 0,
                })
                .collect(),
            by_weekday: (1..=7)
                .map(|d| Bucket {
                    key: d.to_string(),
                    label: WEEKDAYS[d - 1].to_string(),
                    orders: 0,
                    revenue: 0,
                })
                .collect(),
            by_day: Vec::new(),
            by_month: Vec::new(),
        };
        for (dimension, key, orders, revenue) in rows {
            match dimension.as_str() {
                "hour" | "weekday" => {
                    let buckets = if dimension == "hour" {
                        &mut trends.by_hour
                    } else {
                        &mut trends.by_weekday
                    };
                    if let Some(b) = buckets.iter_mut().find(|b| b.key == key) {
                        b.orders = orders;
                        b.revenue = revenue;
                    }
                    if dimension == "hour" {
                        trends.orders += orders;
                        trends.revenue += revenue;
                    }
                }
                "day" => trends.by_day.push(Bucket {
                    label: key.get(5..).unwrap_or(&key).to_string(),
                    key,
                    orders,
                    revenue,
                }),
                _ => trends.by_month.push(Bucket {
                    label: key
                        .get(5..)
                        .and_then(|m| m.parse::<u32>().ok())
                        .map(|m| format!("{m}월"))
                        .unwrap_or_else(|| key.clone()),
                    key,
                    orders,
                    revenue,
                }),
            }
        }
        Ok(trends)
    })
    .await
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct RestaurantRow {
    /// Rank by revenue among the restaurants that match the filters (1 = best).
    pub rank: i64,
    pub restaurant_id: String,
    pub restaurant_name: Option<String>,
    pub category: Option<String>,
    pub orders: i64,
    pub revenue: i64,
    pub avg_rating: Option<f64>,
    pub rated_orders: i64,
    pub avg_delivery_min: Option<f64>,
    pub late_rate: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct RestaurantPerformance {
    pub filters: Filters,
    pub sort: String,
    /// Restaurants with at least one matching order.
    pub restaurants: i64,
    pub ranking: Vec<RestaurantRow>,
}

/// `GET /analytics/restaurant-performance`: revenue, orders, average rating,
/// delivery time and late rate per restaurant, ranked by revenue; `sort`
/// (revenue, orders, rating, late_rate) orders the list, `limit` cuts it.
async fn restaurant_performance(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<CachedJson, ApiError> {
    let mut allowed = FILTER_PARAMS.to_vec();
    allowed.extend(["limit", "sort"]);
    params.only(&allowed)?;
    let filters = Filters::parse(&ctx, &params).await?;
    let limit = params.limit(50)?;
    let (sort, order_by) = params.choice("sort", RESTAURANT_SORTS)?;
    let key = format!("restaurant-performance?{}", params.canonical());
    ctx.cached(&key, async {
        let sql = format!(
            "WITH r AS (
                 SELECT restaurant_id,
                        (array_agg(restaurant_name ORDER BY order_time DESC, order_id))[1] AS restaurant_name,
                        (array_agg(category ORDER BY order_time DESC, order_id))[1] AS category,
                        count(*) AS orders,
                        COALESCE(sum(order_amount) FILTER (WHERE {REVENUE}), 0)::bigint AS revenue,
                        avg(rating)::float8 AS avg_rating,
                        count(rating) AS rated_orders,
                        avg(actual_delivery_min) FILTER (WHERE {DELIVERY_OK})::float8 AS avg_delivery_min,
                        avg({LATE}) FILTER (WHERE {DELIVERY_OK})::float8 AS late_rate
                 FROM orders WHERE {FILTER_SQL} GROUP BY restaurant_id)
             SELECT rank() OVER (ORDER BY revenue DESC) AS rank, *, count(*) OVER () AS total
             FROM r ORDER BY {order_by} LIMIT $6"
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            row: RestaurantRow,
            total: i64,
        }
        // Unfiltered, the same figures come from the restaurant mart.
        let mart = format!(
            "SELECT revenue_rank::bigint AS rank, restaurant_id, restaurant_name, category, orders, revenue,
                    avg_rating, rated_orders, avg_delivery_min, late_rate, count(*) OVER () AS total
             FROM mart_restaurant_performance ORDER BY {order_by} LIMIT $1"
        );
        let rows: Vec<Row> = if filters.is_empty() {
            ctx.query(sqlx::query_as(&mart).bind(limit).fetch_all(&ctx.db))
                .await?
        } else {
            ctx.query(
                filters
                    .bind(sqlx::query_as(&sql))
                    .bind(limit)
                    .fetch_all(&ctx.db),
            )
            .await?
        };
        Ok(RestaurantPerformance {
            filters: filters.clone(),
            sort: sort.to_string(),
            restaurants: rows.first().map_or(0, |r| r.total),
            ranking: rows.into_iter().map(|r| r.row).collect(),
        })
    })
    .await
}

#[derive(Debug, Serialize, sqlx::FromRow, PartialEq)]
pub struct DeliveryRow {
    pub bucket: String,
    pub orders: i64,
    pub avg_delivery_min: f64,
    pub late_rate: f64,
    pub avg_fee: Option<f64>,
    pub avg_distance_km: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct DeliveryOptimization {
    pub filters: Filters,
    /// Delivered, non-pickup orders with a plausible time (1–180 min).
    pub orders: i64,
    pub avg_delivery_min: Option<f64>,
    /// Share delivered more than 10 minutes after the estimate.
    pub late_rate: Option<f64>,
    /// Pearson correlation of delivery fee with distance.
    pub fee_distance_correlation: Option<f64>,
    /// Extra minutes per extra kilometre (least squares).
    pub minutes_per_km: Option<f64>,
    pub by_distance_band: Vec<DeliveryRow>,
    pub by_district: Vec<DeliveryRow>,
    pub by_hour: Vec<DeliveryRow>,
    pub by_weather: Vec<DeliveryRow>,
}

/// `GET /analytics/delivery-optimization`: delivery time and late rate by
/// distance band, district, hour (KST) and weather; fee against distance.
async fn delivery_optimization(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<CachedJson, ApiError> {
    params.only(&FILTER_PARAMS)?;
    let filters = Filters::parse(&ctx, &params).await?;
    let key = format!("delivery-optimization?{}", params.canonical());
    ctx.cached(&key, async {
        let base = format!("SELECT * FROM orders WHERE {FILTER_SQL} AND {DELIVERY_OK}");
        let overall_sql = format!(
            "SELECT count(*), avg(actual_delivery_min)::float8, avg({LATE})::float8,
                    corr(delivery_fee, distance_km), regr_slope(actual_delivery_min, distance_km)
             FROM ({base}) d"
        );
        let (orders, avg_delivery_min, late_rate, fee_distance_correlation, minutes_per_km): (
            i64,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
        ) = if filters.is_empty() {
            ctx.query(
                sqlx::query_as("SELECT * FROM mart_delivery_overall").fetch_optional(&ctx.db),
            )
            .await?
            .unwrap_or((0, None, None, None, None))
        } else {
            ctx.query(filters.bind(sqlx::query_as(&overall_sql)).fetch_one(&ctx.db))
                .await?
        };
        let buckets_sql = format!(
            "{} ORDER BY dimension, bucket",
            delivery_buckets_sql(&base)
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            dimension: String,
            #[sqlx(flatten)]
            row: DeliveryRow,
        }
        let rows: Vec<Row> = if filters.is_empty() {
            ctx.query(
                sqlx::query_as(
                    "SELECT dimension, bucket, orders, avg_delivery_min, late_rate, avg_fee, avg_distance_km
                     FROM mart_delivery_stats ORDER BY dimension, bucket",
                )
                .fetch_all(&ctx.db),
            )
            .await?
        } else {
            ctx.query(filters.bind(sqlx::query_as(&buckets_sql)).fetch_all(&ctx.db))
                .await?
        };
        let mut answer = DeliveryOptimization {
            filters: filters.clone(),
            orders,
            avg_delivery_min,
            late_rate,
            fee_distance_correlation,
            minutes_per_km,
            by_distance_band: Vec::new(),
            by_district: Vec::new(),
            by_hour: Vec::new(),
            by_weather: Vec::new(),
        };
        for Row { dimension, row } in rows {
            match dimension.as_str() {
                "distance_band" => answer.by_distance_band.push(row),
                "district" => answer.by_district.push(row),
                "hour" => answer.by_hour.push(row),
                _ => answer.by_weather.push(row),
            }
        }
        Ok(answer)
    })
    .await
}

#[derive(Debug, Serialize, sqlx::FromRow, PartialEq)]
pub struct MenuItem {
    pub name: String,
    /// Revenue orders that contain the item.
    pub orders: i64,
    pub quantity: i64,
    pub revenue: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow, PartialEq)]
pub struct MenuPair {
    pub a: String,
    pub b: String,
    /// Orders with both.
    pub orders: i64,
    /// Share of all orders that have both.
    pub support: f64,
    /// Of the orders with `a`, the share that also have `b`.
    pub confidence_a_to_b: f64,
    /// Of the orders with `b`, the share that also have `a`.
    pub confidence_b_to_a: f64,
    /// How much more often the two go together than by chance.
    pub lift: f64,
}

#[derive(Debug, Serialize)]
pub struct Menu {
    pub filters: Filters,
    /// Revenue orders with at least one item (the baskets).
    pub orders: i64,
    pub min_support: f64,
    pub top_items: Vec<MenuItem>,
    pub pairs: Vec<MenuPair>,
}

/// `GET /analytics/menu`: the best-selling items, and the item pairs bought
/// together (market-basket analysis) with support, confidence and lift;
/// pairs below `min_support` (default 0.001) are left out; `sort` is
/// `support` (default) or `lift`.
async fn menu(State(ctx): State<ApiContext>, params: Params) -> Result<CachedJson, ApiError> {
    let mut allowed = FILTER_PARAMS.to_vec();
    allowed.extend(["limit", "min_support", "sort"]);
    params.only(&allowed)?;
    let filters = Filters::parse(&ctx, &params).await?;
    let limit = params.limit(20)?;
    let min_support = params.number("min_support", 0.0..=1.0, 0.001)?;
    let (_, order_by) = params.choice("sort", MENU_SORTS)?;
    let key = format!("menu?{}", params.canonical());
    ctx.cached(&key, async {
        if filters.is_empty() {
            return menu_of_marts(&ctx, limit, min_support, order_by).await;
        }
        let baskets = baskets_sql(FILTER_SQL);
        let items_sql = format!(
            "SELECT name, count(*) AS orders, sum(quantity)::bigint AS quantity, sum(revenue)::bigint AS revenue,
                    (SELECT count(DISTINCT order_id) FROM ({baskets}) x) AS baskets
             FROM ({baskets}) b GROUP BY name ORDER BY orders DESC, name LIMIT $6"
        );
        #[derive(sqlx::FromRow)]
        struct ItemRow {
            #[sqlx(flatten)]
            item: MenuItem,
            baskets: i64,
        }
        let items: Vec<ItemRow> = ctx
            .query(
                filters
                    .bind(sqlx::query_as(&items_sql))
                    .bind(limit)
                    .fetch_all(&ctx.db),
            )
            .await?;
        let pairs_sql = format!(
            "WITH b AS ({baskets}),
                  n AS (SELECT count(DISTINCT order_id)::float8 AS baskets FROM b),
                  item AS (SELECT name, count(*)::float8 AS orders FROM b GROUP BY name),
                  pair AS (SELECT x.name AS a, y.name AS b, count(*) AS orders
                           FROM b x JOIN b y ON x.order_id = y.order_id AND x.name < y.name
                           GROUP BY 1, 2)
             SELECT pair.a, pair.b, pair.orders,
                    pair.orders / n.baskets AS support,
                    pair.orders / ia.orders AS confidence_a_to_b,
                    pair.orders / ib.orders AS confidence_b_to_a,
                    pair.orders * n.baskets / (ia.orders * ib.orders) AS lift
             FROM pair JOIN item ia ON ia.name = pair.a JOIN item ib ON ib.name = pair.b, n
             WHERE pair.orders / n.baskets >= $6
             ORDER BY {order_by} LIMIT $7"
        );
        let pairs: Vec<MenuPair> = ctx
            .query(
                filters
                    .bind(sqlx::query_as(&pairs_sql))
                    .bind(min_support)
                    .bind(limit)
                    .fetch_all(&ctx.db),
            )
            .await?;
        Ok(Menu {
            filters: filters.clone(),
            orders: items.first().map_or(0, |i| i.baskets),
            min_support,
            top_items: items.into_iter().map(|i| i.item).collect(),
            pairs,
        })
    })
    .await
}

/// [`menu`] unfiltered, from the basket marts: the same counts, and the
/// same arithmetic for support, confidence and lift.
async fn menu_of_marts(
    ctx: &ApiContext,
    limit: i64,
    min_support: f64,
    order_by: &str,
) -> Result<Menu, ApiError> {
    let baskets: Option<i64> = ctx
        .query(sqlx::query_scalar("SELECT baskets FROM mart_menu_baskets").fetch_optional(&ctx.db))
        .await?;
    let top_items: Vec<MenuItem> = ctx
        .query(
            sqlx::query_as(
                "SELECT name, orders, quantity, revenue FROM mart_menu_items ORDER BY orders DESC, name LIMIT $1",
            )
            .bind(limit)
            .fetch_all(&ctx.db),
        )
        .await?;
    let pairs: Vec<MenuPair> = ctx
        .query(
            sqlx::query_as(&format!(
                "WITH n AS (SELECT baskets::float8 AS baskets FROM mart_menu_baskets),
                      pair AS (SELECT p.a, p.b, p.orders, ia.orders::float8 AS a_orders, ib.orders::float8 AS b_orders
                               FROM mart_menu_pairs p
                               JOIN mart_menu_items ia ON ia.name = p.a JOIN mart_menu_items ib ON ib.name = p.b)
                 SELECT pair.a, pair.b, pair.orders,
                        pair.orders / n.baskets AS support,
                        pair.orders / pair.a_orders AS confidence_a_to_b,
                        pair.orders / pair.b_orders AS confidence_b_to_a,
                        pair.orders * n.baskets / (pair.a_orders * pair.b_orders) AS lift
                 FROM pair, n
                 WHERE pair.orders / n.baskets >= $1
                 ORDER BY {order_by} LIMIT $2"
            ))
            .bind(min_support)
            .bind(limit)
            .fetch_all(&ctx.db),
        )
        .await?;
    Ok(Menu {
        filters: Filters::default(),
        orders: baskets.unwrap_or(0),
        min_support,
        top_items,
        pairs,
    })
}

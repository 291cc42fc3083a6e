//! `GET /analytics/delivery-routes`: batched rider routes for the delivered
//! orders of a restaurant or a district in a time window, and what they
//! save against one-by-one delivery ([`crate::routes`]).

use super::params::Params;
use super::{cache::CachedJson, ApiContext, ApiError};
use crate::routes::{self, Plan, Point, RouteOrder};
use crate::rules::DELIVERY_OK;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use chrono::NaiveDateTime;
use serde::Serialize;
use std::time::{Duration, Instant};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/analytics/delivery-routes", get(delivery_routes))
}

/// Orders one suggestion plans at most: the window's earliest.
pub const MAX_ORDERS: usize = 40;
/// How long a request aims to take, from its start: the solver stops at
/// the end of it (or [`MIN_SOLVER_TIME`] after it starts, if the lookups
/// before it took that long), for all of a window's groups together. It is
/// an aim, not a bound: a solver step under way finishes, and the answer is
/// serialised after. On the twelve busiest 30-minute windows of a
/// week (scale 1, 40 orders each), the groups solved on two CPUs save 238
/// of 3,532 km within 25 ms and 244–251 km within 28–30 ms, against 285 km
/// within 2 s (up to 45 ms a window).
pub const ANSWER_BUDGET: Duration = Duration::from_millis(30);
/// The solver's time when the lookups before it took (nearly) all of
/// [`ANSWER_BUDGET`].
pub const MIN_SOLVER_TIME: Duration = Duration::from_millis(5);
/// `start` as a KST minute (an RFC 3339 time is taken too).
const START_FORMAT: &str = "%Y-%m-%dT%H:%M";

#[derive(Debug, Serialize)]
pub struct DeliveryRoutes {
    pub restaurant_id: Option<String>,
    pub district: Option<String>,
    /// The window's start (KST, `YYYY-MM-DDTHH:MM`) and length.
    pub start: Option<String>,
    pub minutes: i64,
    /// Orders planned, and those of the window left out (beyond
    /// [`MAX_ORDERS`]).
    pub orders: usize,
    pub orders_left_out: usize,
    /// The rules the plan follows.
    pub model: Model,
    pub plan: Option<Plan>,
}

#[derive(Debug, Serialize)]
pub struct Model {
    pub solver: &'static str,
    pub max_batch: i32,
    pub prep_min: f64,
    pub pickup_wait_min: f64,
    pub delivery_window_min: f64,
    pub stop_min: f64,
    pub rider_kmh: f64,
    pub road_factor: f64,
    /// Orders are batched only within groups linked by rides of at most
    /// this many road km from a stop of one to the store of another.
    pub batch_radius_km: f64,
    /// The time a request aims to take; the solver gets what the lookups
    /// before it leave.
    pub answer_budget_s: f64,
    pub one_by_one: &'static str,
}

fn model() -> Model {
    Model {
        solver: "vrp-core (pickup and delivery with time windows), minimum distance",
        max_batch: routes::MAX_BATCH,
        prep_min: routes::PREP_MIN,
        pickup_wait_min: routes::PICKUP_WAIT_MIN,
        delivery_window_min: routes::DELIVERY_WINDOW_MIN,
        stop_min: routes::STOP_MIN,
        rider_kmh: routes::RIDER_KMH,
        road_factor: crate::rules::ROAD_FACTOR,
        batch_radius_km: routes::BATCH_RADIUS_KM,
        answer_budget_s: ANSWER_BUDGET.as_secs_f64(),
        one_by_one: "each order its own round trip: store, customer, store",
    }
}

/// The orders a window is planned from: delivered, with both places known.
fn scope_sql() -> String {
    format!(
        "{DELIVERY_OK} AND store_lat IS NOT NULL AND store_lng IS NOT NULL
         AND customer_lat IS NOT NULL AND customer_lng IS NOT NULL
         AND ($1::text IS NULL OR restaurant_id = $1) AND ($2::text IS NULL OR district = $2)"
    )
}

/// `GET /analytics/delivery-routes?restaurant_id=|district=&start=&minutes=30`:
/// without `start`, the window of the last 7 days of data with the most
/// such orders; without a restaurant or district, every order of the window
/// (with both, the restaurant's orders to that district).
async fn delivery_routes(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<CachedJson, ApiError> {
    let began = Instant::now();
    params.only(&["restaurant_id", "district", "start", "minutes"])?;
    let restaurant = params.id("restaurant_id", "restaurant id", "R00001")?;
    let district = params.text("district").map(str::to_string);
    if let Some(d) = &district {
        let known = super::dimensions::dimensions(&ctx).await?;
        if !known.districts.contains(d) {
            return Err(ApiError::NotFound(format!(
                "unknown district {d:?}; see /analytics/dimensions for the known ones"
            )));
        }
    }
    let minutes = params.integer("minutes", 10..=120, 30)?;
    let start = params
        .typed("start")?
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&crate::model::kst()).naive_local())
                .or_else(|_| NaiveDateTime::parse_from_str(v, START_FORMAT))
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "start={v:?} is not an RFC 3339 time or a KST YYYY-MM-DDTHH:MM"
                    ))
                })
        })
        .transpose()?;
    let key = format!("delivery-routes?{}", params.canonical());
    ctx.cached(&key, async {
        let scope = scope_sql();
        let start = match start {
            Some(start) => Some(start),
            None => {
                ctx.query(
                    sqlx::query_scalar(&format!(
                        "SELECT date_bin(make_interval(mins => $3::int), order_time, timestamptz 'epoch')
                                 AT TIME ZONE 'Asia/Seoul' AS window
                         FROM orders
                         WHERE {scope}
                           AND order_time > (SELECT max(order_time) FROM orders WHERE is_valid) - interval '7 days'
                         GROUP BY 1 ORDER BY count(*) DESC, 1 DESC LIMIT 1"
                    ))
                    .bind(&restaurant)
                    .bind(&district)
                    .bind(minutes)
                    .fetch_optional(&ctx.db),
                )
                .await?
            }
        };
        let mut answer = DeliveryRoutes {
            restaurant_id: restaurant.clone(),
            district: district.clone(),
            start: start.map(|s| s.format(START_FORMAT).to_string()),
            minutes,
            orders: 0,
            orders_left_out: 0,
            model: model(),
            plan: None,
        };
        let Some(start) = start else {
            return Ok(answer);
        };
        type Row = (String, f64, f64, f64, f64, f64);
        let rows: Vec<Row> = ctx
            .query(
                sqlx::query_as(&format!(
                    "SELECT order_id, store_lat, store_lng, customer_lat, customer_lng,
                            (extract(epoch FROM order_time - ($3::timestamp AT TIME ZONE 'Asia/Seoul')) / 60)::float8
                     FROM orders
                     WHERE {scope}
                       AND order_time >= $3::timestamp AT TIME ZONE 'Asia/Seoul'
                       AND order_time < ($3::timestamp + make_interval(mins => $4::int)) AT TIME ZONE 'Asia/Seoul'
                     ORDER BY order_time, order_id"
                ))
                .bind(&restaurant)
                .bind(&district)
                .bind(start)
                .bind(minutes)
                .fetch_all(&ctx.db),
            )
            .await?;
        answer.orders_left_out = rows.len().saturating_sub(MAX_ORDERS);
        let orders: Vec<RouteOrder> = rows
            .into_iter()
            .take(MAX_ORDERS)
            .map(|(order_id, slat, slng, clat, clng, ordered_min)| RouteOrder {
                order_id,
                store: Point { lat: slat, lng: slng },
                customer: Point { lat: clat, lng: clng },
                ordered_min,
            })
            .collect();
        answer.orders = orders.len();
        let deadline = (began + ANSWER_BUDGET).max(Instant::now() + MIN_SOLVER_TIME);
        // Solving is CPU work: off the request threads.
        let plan = tokio::task::spawn_blocking(move || routes::plan_until(&orders, deadline))
            .await
            .map_err(|e| ApiError::Model(e.to_string()))?
            .map_err(|e| ApiError::Model(e.to_string()))?;
        answer.plan = Some(plan);
        Ok(answer)
    })
    .await
}

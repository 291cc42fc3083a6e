//! `GET /openapi.json`: an OpenAPI 3.1 description of every JSON route.

use super::params::{describe_choices, Choices, MAX_LIMIT, MENU_SORTS, RESTAURANT_SORTS};
use super::ApiContext;
use crate::clv::HORIZON_MONTHS;
use crate::rules::{MONTHLY_DISCOUNT, MONTH_DAYS, REFERENCE_DAYS_AFTER_LATEST, REVENUE_STATUSES};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/openapi.json", get(|| async { Json(document()) }))
}

/// The statuses whose orders count as revenue, as people read them.
fn revenue_statuses() -> String {
    let names: Vec<&str> = REVENUE_STATUSES.iter().map(|s| s.as_str()).collect();
    names.join(" or ")
}

/// The rules every route shares ([`crate::rules`]), for the document's
/// description.
fn rules_stated() -> String {
    format!(
        "Read-only delivery analytics over Postgres with a Redis cache in front. \
         Times are Korea Standard Time. Only valid orders (no impossible value) count. \
         Revenue is the GMV (`order_amount`) of orders with status {statuses}. \
         The reference time (\"now\" for recency, churn and CLV) is the latest valid order \
         time + {REFERENCE_DAYS_AFTER_LATEST} day. A month is {MONTH_DAYS} days. \
         Orders from every source join one merge by order id, the pickle's `kind: order` \
         records included.",
        statuses = revenue_statuses()
    )
}

fn param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

/// `parameter`, made required.
fn required(mut parameter: Value) -> Value {
    parameter["required"] = json!(true);
    parameter
}

fn filters() -> Vec<Value> {
    vec![
        param(
            "from",
            "First day (KST), inclusive",
            json!({"type": "string", "format": "date"}),
        ),
        param(
            "to",
            "Last day (KST), inclusive (before `from`, no order is selected)",
            json!({"type": "string", "format": "date"}),
        ),
        param(
            "district",
            "A district that occurs in the data (see /analytics/dimensions; another is a 404)",
            json!({"type": "string"}),
        ),
        param(
            "category",
            "A restaurant category that occurs in the data (치킨, 피자, …; another is a 404)",
            json!({"type": "string"}),
        ),
        param(
            "platform",
            "A platform that occurs in the data (배민1, 배민배달, 가게배달, 포장; another is a 404)",
            json!({"type": "string"}),
        ),
    ]
}

/// The `sort` parameter with these choices.
fn sort(choices: &Choices) -> Value {
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    param(
        "sort",
        &describe_choices(choices),
        json!({"type": "string", "enum": names}),
    )
}

fn limit(default: i64) -> Value {
    param(
        "limit",
        "How many rows to return",
        json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": default}),
    )
}

fn errors() -> Value {
    let error = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let e = |d: &str| {
        let mut v = error.clone();
        v["description"] = json!(d);
        v
    };
    json!({
        "400": e("A malformed or unknown parameter"),
        "503": e("Postgres is unavailable (answered within api.db_timeout_ms)"),
    })
}

fn operation(summary: &str, parameters: Vec<Value>) -> Value {
    let mut responses = errors();
    responses["200"] = json!({"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}});
    json!({ "get": { "summary": summary, "parameters": parameters, "responses": responses } })
}

/// An operation that also answers 404: an order, customer, district,
/// category or platform the data does not have.
fn operation_with_404(summary: &str, parameters: Vec<Value>) -> Value {
    let mut op = operation(summary, parameters);
    op["get"]["responses"]["404"] = json!({"description": "No such order, customer, district, category or platform in the data",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    op
}

/// The whole document.
pub fn document() -> Value {
    let mut with_limit = filters();
    with_limit.push(limit(50));
    with_limit.push(sort(RESTAURANT_SORTS));
    let mut menu = filters();
    menu.push(limit(20));
    menu.push(param(
        "min_support",
        "Smallest support of a pair",
        json!({"type": "number", "minimum": 0, "maximum": 1, "default": 0.001}),
    ));
    menu.push(sort(MENU_SORTS));
    let customer = param(
        "customer_id",
        "One customer's figures (404 if unknown)",
        json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"}),
    );
    let order = operation_with_404(
        "One order as JSON, from the Redis cache or (on a miss) Postgres, refilling the cache; header x-cache says which",
        vec![json!({"name": "order_id", "in": "path", "required": true,
                    "schema": {"type": "string", "pattern": "^O[0-9]{9}$"}})],
    );
    let mut metrics = operation("Prometheus metrics, in the OpenMetrics text format", vec![]);
    metrics["get"]["responses"]["200"] = json!({"description": "OK",
        "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "baedal analytics API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": rules_stated()
        },
        "paths": {
            "/analytics/dimensions": operation("The districts, categories and platforms the filters accept", vec![]),
            "/analytics/order-trends": operation_with_404("Orders and revenue by hour, weekday, day and month", filters()),
            "/analytics/customer-segments": operation_with_404("RFM segments: rules, sizes, revenue, the R×F grid, one customer's scores. R = whole days since the last revenue order, F = revenue orders, M = their revenue, each scored 1 + ⌊5 × percent rank⌋ (capped at 5, 5 = most recent, most frequent, highest spend) over the customers with a revenue order, so equal values get equal scores; the first rule of the table that matches names the segment", vec![customer.clone()]),
            "/analytics/customer-lifetime-value": operation_with_404(&format!("CLV per customer and by segment. `clv`: BG/NBD (orders) and Gamma-Gamma (order value), fitted by maximum likelihood after each ETL batch run: the expected revenue of the next {HORIZON_MONTHS} months, discounted {discount}% a month; with each customer's probability of being alive and expected orders, and the fitted parameters. `simple_clv`: the simple retention model m × r / (1 + d − r), m = revenue per month since the first revenue order (at least one month), r = the share of the customers with a revenue order in the month before the last who ordered in the last month, d = {discount}%. A month is {MONTH_DAYS} days", discount = MONTHLY_DISCOUNT * 100.0), vec![customer, limit(20)]),
            "/analytics/restaurant-performance": operation_with_404("Revenue, orders, rating, delivery time and late rate per restaurant, ranked", with_limit),
            "/analytics/delivery-optimization": operation_with_404("Delivery time and late rate by distance band, district, hour and weather; fee against distance", filters()),
            "/analytics/menu": operation_with_404(&format!("Top items and item pairs with support, confidence and lift, over the baskets of revenue orders ({}) only", revenue_statuses()), menu),
            "/analytics/demand-forecast": operation("Expected orders per day and hour after the data ends, with 95% prediction intervals (MSTL with daily and weekly seasonality, exponential smoothing), and a 4-week rolling-origin backtest against seasonal naive",
                vec![param("days", "Days to forecast", json!({"type": "integer", "minimum": 1, "maximum": 28, "default": 7}))]),
            "/analytics/delivery-routes": operation_with_404("Batched rider routes (pickup, then drops; at most 3 orders a rider) for the delivered orders of a restaurant or a district in a time window, from a vehicle-routing solver (vrp-core, given what the lookups before it leave of the 30 ms a request aims to take, at least 5 ms; a plan can differ when the machine is busy), with the km and minutes saved against delivering each order on its own round trip (never negative). Without start, the window of the last 7 days with the most orders; at most 40 orders are planned",
                vec![
                    param("restaurant_id", "A restaurant id (with district: its orders to that district)", json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"})),
                    param("district", "A district that occurs in the data (another is a 404)", json!({"type": "string"})),
                    param("start", "The window's start: an RFC 3339 time, or a KST time as YYYY-MM-DDTHH:MM", json!({"type": "string", "format": "date-time"})),
                    param("minutes", "The window's length", json!({"type": "integer", "minimum": 10, "maximum": 120, "default": 30})),
                ]),
            "/analytics/anomalies": operation("Anomalous hours of the last days: hours whose orders, or whose late-delivery rate (hours with at least alerts.min_orders orders), fall outside the 99% interval of the forecast made at the start of their day from the hours before it; the hour of the latest order is not judged",
                vec![param("days", "Days to look back over", json!({"type": "integer", "minimum": 1, "maximum": 28, "default": 7}))]),
            "/analytics/restaurant-forecast": operation_with_404("One restaurant's expected orders and revenue per day after the data ends, with 95% prediction intervals (MSTL with weekly seasonality, exponential smoothing)",
                vec![required(param("restaurant_id", "The restaurant (404 if unknown)", json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"}))),
                     param("days", "Days to forecast", json!({"type": "integer", "minimum": 1, "maximum": 28, "default": 7}))]),
            "/analytics/churn": operation("Churn status per the documented rules, churn rate, the customers most overdue; and the logistic-regression classifier (trained on the 30-day windows before a time-split validation cutoff 30 days before the reference time) with its validation AUC and the customers most likely to order nothing in the next 30 days", vec![limit(20)]),
            "/cache/order/{order_id}": order,
            "/realtime/stats": operation("The latest day's orders, revenue, active orders, late rate, orders by category", vec![]),
            "/realtime/alerts": operation("The newest alerts, newest first: hours whose late-delivery rate passed the threshold (`late_delivery_rate`), and hours whose orders or late rate fell outside their forecast's interval (`orders_anomaly`, `late_rate_anomaly`)", vec![limit(50)]),
            "/realtime/leaderboard": operation("The restaurants with the most revenue or orders, highest first",
                vec![param("by", "revenue (default) or orders", json!({"type": "string", "enum": crate::redis_keys::LEADERBOARDS})), limit(10)]),
            "/healthz": operation("The process is up", vec![]),
            "/readyz": operation("ready, degraded (Redis down) or unavailable (503, Postgres down)", vec![]),
            "/metrics": metrics,
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string", "enum": ["bad_request", "not_found", "database_unavailable", "database_error"]},
                        "message": {"type": "string"}
                    }
                }
            }
        }
    })
}

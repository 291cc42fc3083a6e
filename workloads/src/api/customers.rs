//! Customer analytics: RFM segments (from the ETL's `mart_customer_rfm`),
//! customer lifetime value and churn.
//!
//! RFM scores and the segment rule table are defined in
//! [`crate::etl::marts`] ([`RFM_SEGMENTS`]) and returned with every answer.
//!
//! CLV comes in two figures:
//! - `clv`: BG/NBD for the orders and Gamma-Gamma for their value
//!   ([`crate::clv`]): the expected revenue of the next 12 months of 30
//!   days, discounted at 1% a month. The ETL fits the models after each
//!   batch run and stores every customer's answer in `mart_customer_value`
//!   ([`crate::etl::models`]); the fitted parameters come with the answer.
//! - `simple_clv`: the simple retention model (Gupta & Lehmann, "Customers
//!   as Assets", 2003), `m × r / (1 + d − r)`, the expected future revenue
//!   of a customer who brings `m` a month while each month a share `r` of
//!   customers stays, discounted at `d` a month, with two inputs anyone can
//!   check:
//!   - `m` = the customer's revenue divided by the months (30 days) since
//!     their first revenue order (at least one month), up to the reference
//!     time (latest order + 1 day, as for RFM);
//!   - `r` = of the customers with a revenue order 60 to 30 days before the
//!     reference time, the share with one in the last 30 days;
//!   - `d` = 1% a month ([`MONTHLY_DISCOUNT`]).

use super::params::Params;
use super::{cache::CachedJson, ApiContext, ApiError};
use crate::rules::{CHURN_RULES, MONTHLY_DISCOUNT, RFM_SEGMENTS};
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde::Serialize;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/analytics/customer-segments", get(customer_segments))
        .route(
            "/analytics/customer-lifetime-value",
            get(customer_lifetime_value),
        )
        .route("/analytics/churn", get(churn))
}

fn customer_id(params: &Params) -> Result<Option<String>, ApiError> {
    params.id("customer_id", "customer id", "C000123")
}

#[derive(Debug, Serialize)]
pub struct SegmentRule {
    pub segment: &'static str,
    pub rule: &'static str,
}

#[derive(Debug, Serialize, sqlx::FromRow, PartialEq)]
pub struct SegmentRow {
    pub segment: String,
    pub customers: i64,
    pub share: f64,
    pub revenue: i64,
    pub avg_recency_days: f64,
    pub avg_frequency: f64,
    pub avg_monetary: f64,
}

#[derive(Debug, Serialize, sqlx::FromRow, PartialEq)]
pub struct CustomerScores {
    pub customer_id: String,
    pub recency_days: i32,
    pub frequency: i32,
    pub monetary: i64,
    pub r_score: i32,
    pub f_score: i32,
    pub m_score: i32,
    pub segment: String,
}

#[derive(Debug, Serialize)]
pub struct CustomerSegments {
    /// The rules, tried in order; the first that matches names the segment.
    pub rules: Vec<SegmentRule>,
    pub customers: i64,
    pub segments: Vec<SegmentRow>,
    /// Customers per (R, F) score pair: `[r, f, customers]`.
    pub rf_grid: Vec<(i32, i32, i64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerScores>,
}

fn rules() -> Vec<SegmentRule> {
    RFM_SEGMENTS
        .iter()
        .map(|r| SegmentRule {
            segment: r.name,
            rule: r.shown(),
        })
        .collect()
}

/// `GET /analytics/customer-segments`: segment sizes and revenue, the R×F
/// grid, and with `customer_id` that customer's scores (404 if unknown).
async fn customer_segments(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<CachedJson, ApiError> {
    params.only(&["customer_id"])?;
    let id = customer_id(&params)?;
    let key = format!("customer-segments?{}", params.canonical());
    ctx.cached(&key, async {
        let customer = match &id {
            None => None,
            Some(id) => Some(
                ctx.query(
                    sqlx::query_as::<_, CustomerScores>(
                        "SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, segment
                         FROM mart_customer_rfm WHERE customer_id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&ctx.db),
                )
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no customer {id:?} with a revenue order")))?,
            ),
        };
        let segments: Vec<SegmentRow> = ctx
            .query(
                sqlx::query_as(
                    "SELECT segment, count(*) AS customers,
                            count(*)::float8 / sum(count(*)) OVER () AS share,
                            sum(monetary)::bigint AS revenue,
                            avg(recency_days)::float8 AS avg_recency_days,
                            avg(frequency)::float8 AS avg_frequency,
                            avg(monetary)::float8 AS avg_monetary
                     FROM mart_customer_rfm GROUP BY segment ORDER BY revenue DESC",
                )
                .fetch_all(&ctx.db),
            )
            .await?;
        let rf_grid: Vec<(i32, i32, i64)> = ctx
            .query(
                sqlx::query_as(
                    "SELECT r_score, f_score, count(*) FROM mart_customer_rfm GROUP BY 1, 2 ORDER BY 1, 2",
                )
                .fetch_all(&ctx.db),
            )
            .await?;
        Ok(CustomerSegments {
            rules: rules(),
            customers: segments.iter().map(|s| s.customers).sum(),
            segments,
            rf_grid,
            customer,
        })
    })
    .await
}

#[derive(Debug, Serialize, sqlx::FromRow, PartialEq)]
pub struct CustomerValue {
    pub customer_id: String,
    pub segment: String,
    pub orders: i32,
    /// Revenue so far (KRW).
    pub historical_revenue: i64,
    /// Average order value (KRW).
    pub avg_order_value: f64,
    /// BG/NBD and Gamma-Gamma: expected discounted revenue of the next 12
    /// months (KRW); absent when the models could not be fitted.
    pub clv: Option<f64>,
    /// BG/NBD: the probability that the customer still orders.
    pub probability_alive: Option<f64>,
    /// BG/NBD: the orders expected in the next 12 months.
    pub expected_orders: Option<f64>,
    /// Gamma-Gamma: the expected value of the customer's next order (KRW).
    pub expected_order_value: Option<f64>,
    /// `m`: revenue per month since the first revenue order.
    pub monthly_revenue: f64,
    /// The simple retention model's CLV (KRW).
    pub simple_clv: f64,
}

#[derive(Debug, Serialize, sqlx::FromRow, PartialEq)]
pub struct SegmentValue {
    pub segment: String,
    pub customers: i64,
    pub avg_clv: Option<f64>,
    pub total_clv: Option<f64>,
    pub avg_simple_clv: f64,
}

#[derive(Debug, Serialize)]
pub struct LifetimeValue {
    /// The model of `clv`.
    pub model: &'static str,
    /// Its fitted parameters (BG/NBD in days, Gamma-Gamma's `v` in
    /// thousands of KRW) and units; absent until the ETL has fitted it.
    pub fit: Option<serde_json::Value>,
    /// The model of `simple_clv`.
    pub simple_model: &'static str,
    /// `r`: monthly retention measured in the data.
    pub monthly_retention: f64,
    /// `d`: monthly discount rate.
    pub monthly_discount: f64,
    /// `r / (1 + d − r)`: what a month of revenue is worth over a lifetime.
    pub multiplier: f64,
    pub by_segment: Vec<SegmentValue>,
    /// The customers with the highest CLV.
    pub top: Vec<CustomerValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerValue>,
}

/// Every customer's value, for the CLV queries ($1 = r, $2 = d), from the
/// marts: `m` and the segment in `mart_customer_rfm`, the probabilistic
/// figures in `mart_customer_value`.
fn customer_value_sql() -> &'static str {
    "SELECT c.customer_id, c.segment, c.frequency AS orders, c.monetary AS historical_revenue,
            c.monetary::float8 / c.frequency AS avg_order_value,
            v.clv, v.probability_alive, v.expected_orders, v.expected_order_value,
            c.monthly_revenue, c.monthly_revenue * $1 / (1 + $2 - $1) AS simple_clv
     FROM mart_customer_rfm c LEFT JOIN mart_customer_value v USING (customer_id)"
}

/// `r`: the monthly retention rate (see the module docs), from
/// `mart_retention`.
async fn monthly_retention(ctx: &ApiContext) -> Result<f64, ApiError> {
    let r: Option<f64> = ctx
        .query(
            sqlx::query_scalar("SELECT monthly_retention FROM mart_retention")
                .fetch_optional(&ctx.db),
        )
        .await?;
    Ok(r.unwrap_or(0.0))
}

/// `GET /analytics/customer-lifetime-value`: CLV per customer (top `limit`,
/// and one by `customer_id`) and by RFM segment.
async fn customer_lifetime_value(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<CachedJson, ApiError> {
    params.only(&["customer_id", "limit"])?;
    let id = customer_id(&params)?;
    let limit = params.limit(20)?;
    let key = format!("customer-lifetime-value?{}", params.canonical());
    ctx.cached(&key, async {
        let r = monthly_retention(&ctx).await?;
        let values = customer_value_sql();
        let d = MONTHLY_DISCOUNT;
        // The one customer first: an unknown one is a 404 before any of the
        // whole-table queries starts.
        let customer = match &id {
            None => None,
            Some(id) => Some(
                ctx.query(
                    sqlx::query_as::<_, CustomerValue>(&format!(
                        "SELECT * FROM ({values}) v WHERE customer_id = $3"
                    ))
                    .bind(r)
                    .bind(d)
                    .bind(id)
                    .fetch_optional(&ctx.db),
                )
                .await?
                .ok_or_else(|| {
                    ApiError::NotFound(format!("no customer {id:?} with a revenue order"))
                })?,
            ),
        };
        // The segments, the top customers and the fit do not depend on each
        // other: asked at once, each on a connection of its own, the answer
        // takes as long as the longest of them.
        let segments_sql = format!(
            "SELECT segment, count(*) AS customers, avg(clv) AS avg_clv, sum(clv) AS total_clv,
                    avg(simple_clv) AS avg_simple_clv
             FROM ({values}) v GROUP BY segment
             ORDER BY avg_clv DESC NULLS LAST, avg_simple_clv DESC"
        );
        let segments = ctx.query(
            sqlx::query_as::<_, SegmentValue>(&segments_sql)
                .bind(r)
                .bind(d)
                .fetch_all(&ctx.db),
        );
        let top_sql = format!(
            "SELECT * FROM ({values}) v
             ORDER BY clv DESC NULLS LAST, simple_clv DESC, customer_id LIMIT $3"
        );
        let top_customers = ctx.query(
            sqlx::query_as::<_, CustomerValue>(&top_sql)
                .bind(r)
                .bind(d)
                .bind(limit)
                .fetch_all(&ctx.db),
        );
        let model_fit = ctx.query(
            sqlx::query_scalar::<_, serde_json::Value>(
                "SELECT summary FROM model_fits WHERE model = 'clv'",
            )
            .fetch_optional(&ctx.db),
        );
        let (by_segment, top, fit) = tokio::try_join!(segments, top_customers, model_fit)?;
        Ok(LifetimeValue {
            model: "BG/NBD (orders) and Gamma-Gamma (order value): expected revenue of the next 12 months of 30 days, discounted at d a month",
            fit,
            simple_model: "simple retention (Gupta & Lehmann): CLV = m * r / (1 + d - r)",
            monthly_retention: r,
            monthly_discount: d,
            multiplier: r / (1.0 + d - r),
            by_segment,
            top,
            customer,
        })
    })
    .await
}

#[derive(Debug, Serialize, sqlx::FromRow, PartialEq)]
pub struct ChurnStatus {
    pub status: String,
    pub customers: i64,
    pub revenue: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow, PartialEq)]
pub struct ChurnRisk {
    pub customer_id: String,
    pub orders: i64,
    pub revenue: i64,
    pub days_since_last_order: f64,
    /// Mean days between the customer's orders.
    pub mean_gap_days: f64,
    /// Days since the last order ÷ the mean gap.
    pub risk: f64,
}

#[derive(Debug, Serialize)]
pub struct Churn {
    pub rules: Vec<SegmentRule>,
    /// Churned customers ÷ all customers with a revenue order.
    pub churn_rate: f64,
    pub by_status: Vec<ChurnStatus>,
    /// Customers at risk, most overdue first.
    pub at_risk: Vec<ChurnRisk>,
    /// The trained classifier ([`crate::churn`]); absent when the data is
    /// too short to train and validate it.
    pub prediction: Option<ChurnPrediction>,
}

#[derive(Debug, Serialize)]
pub struct ChurnPrediction {
    /// The model, its validation AUC (at 30 days before the reference
    /// time) and its coefficients ([`crate::churn::ChurnSummary`]).
    #[serde(flatten)]
    pub summary: serde_json::Value,
    /// Customers who ordered in the last 30 days, most likely to order no
    /// more in the next 30 first.
    pub most_likely: Vec<ChurnProbability>,
}

#[derive(Debug, Serialize)]
pub struct ChurnProbability {
    pub customer_id: String,
    /// The probability of no order in the next 30 days.
    pub probability: f64,
}

/// `GET /analytics/churn?limit=`: who stopped ordering. A customer's next
/// order is expected about one mean gap (between their own orders) after the
/// last; [`CHURN_RULES`] name how overdue it is.
async fn churn(State(ctx): State<ApiContext>, params: Params) -> Result<CachedJson, ApiError> {
    params.only(&["limit"])?;
    let limit = params.limit(20)?;
    let key = format!("churn?{}", params.canonical());
    ctx.cached(&key, async {
        let by_status: Vec<ChurnStatus> = ctx
            .query(
                sqlx::query_as(
                    "SELECT churn_status AS status, count(*) AS customers, sum(monetary)::bigint AS revenue
                     FROM mart_customer_rfm GROUP BY churn_status ORDER BY churn_status",
                )
                .fetch_all(&ctx.db),
            )
            .await?;
        let at_risk: Vec<ChurnRisk> = ctx
            .query(
                sqlx::query_as(
                    "SELECT customer_id, frequency::bigint AS orders, monetary AS revenue,
                            days_since_last_order, mean_gap_days, churn_risk AS risk
                     FROM mart_customer_rfm WHERE churn_status = 'at_risk'
                     ORDER BY churn_risk DESC, customer_id LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&ctx.db),
            )
            .await?;
        let all: i64 = by_status.iter().map(|s| s.customers).sum();
        let churned: i64 = by_status
            .iter()
            .filter(|s| s.status == "churned")
            .map(|s| s.customers)
            .sum();
        let prediction = churn_prediction(&ctx, limit).await?;
        Ok(Churn {
            prediction,
            rules: CHURN_RULES
                .iter()
                .map(|r| SegmentRule {
                    segment: r.name,
                    rule: r.shown(),
                })
                .collect(),
            churn_rate: if all > 0 { churned as f64 / all as f64 } else { 0.0 },
            by_status,
            at_risk,
        })
    })
    .await
}

/// The churn classifier's answers, precomputed by the ETL
/// ([`crate::etl::models`]): its summary and the customers most likely to
/// churn among those who ordered in the last 30 days.
async fn churn_prediction(
    ctx: &ApiContext,
    limit: i64,
) -> Result<Option<ChurnPrediction>, ApiError> {
    let summary: Option<serde_json::Value> = ctx
        .query(
            sqlx::query_scalar("SELECT summary FROM model_fits WHERE model = 'churn'")
                .fetch_optional(&ctx.db),
        )
        .await?;
    let Some(summary) = summary else {
        return Ok(None);
    };
    let most_likely: Vec<(String, f64)> = ctx
        .query(
            sqlx::query_as(
                "SELECT customer_id, churn_probability FROM mart_customer_value
                 WHERE churn_probability IS NOT NULL AND age_days - recency_days < $1
                 ORDER BY churn_probability DESC, customer_id LIMIT $2",
            )
            .bind(crate::churn::WINDOW_DAYS as f64)
            .bind(limit)
            .fetch_all(&ctx.db),
        )
        .await?;
    Ok(Some(ChurnPrediction {
        summary,
        most_likely: most_likely
            .into_iter()
            .map(|(customer_id, probability)| ChurnProbability {
                customer_id,
                probability,
            })
            .collect(),
    }))
}

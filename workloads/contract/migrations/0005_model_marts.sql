-- The models' answers, precomputed by the ETL after each batch run: the API
-- reads them and fits nothing per request.
--
-- Per customer (etl::models): the CLV of BG/NBD and Gamma-Gamma, and the
-- churn classifier's probability.

CREATE TABLE mart_customer_value (
    customer_id           text PRIMARY KEY,
    -- The models' summary of the customer's revenue orders (crate::clv::Summary).
    repeat_orders         integer          NOT NULL,
    recency_days          double precision NOT NULL,
    age_days              double precision NOT NULL,
    mean_repeat_value     double precision NOT NULL,
    -- NULL below when the CLV models could not be fitted.
    -- BG/NBD: the probability the customer can still order, and the orders
    -- expected in the CLV horizon.
    probability_alive     double precision,
    expected_orders       double precision,
    -- Gamma-Gamma: the expected value of an order (KRW).
    expected_order_value  double precision,
    -- Expected discounted revenue of the horizon (KRW).
    clv                   double precision,
    -- The churn classifier: the probability of no order in the next 30 days
    -- (NULL when it could not be trained).
    churn_probability     double precision
);

-- The fitted models: their parameters and validation, as JSON, by name
-- ('clv', 'churn').
CREATE TABLE model_fits (
    model      text PRIMARY KEY,
    fitted_at  timestamptz NOT NULL DEFAULT now(),
    summary    jsonb       NOT NULL
);

-- Anomalous hours of the last 28 days of data (crate::anomalies), found by
-- the ETL after each batch run: hours whose orders or late rate fell outside
-- the interval of the forecast made at the start of their day.
CREATE TABLE mart_anomalies (
    hour       timestamptz      NOT NULL,
    metric     text             NOT NULL,   -- 'orders' or 'late_rate'
    actual     double precision NOT NULL,
    expected   double precision NOT NULL,
    lower      double precision NOT NULL,
    upper      double precision NOT NULL,
    orders     bigint           NOT NULL,
    late_rate  double precision,
    PRIMARY KEY (hour, metric)
);

-- Per-customer rule answers, in the RFM mart (etl::marts): the simple CLV's
-- monthly revenue and the churn rule's inputs and status.
ALTER TABLE mart_customer_rfm
    ADD COLUMN monthly_revenue       double precision NOT NULL DEFAULT 0,
    ADD COLUMN days_since_last_order double precision NOT NULL DEFAULT 0,
    ADD COLUMN mean_gap_days         double precision NOT NULL DEFAULT 0,
    ADD COLUMN churn_risk            double precision NOT NULL DEFAULT 0,
    ADD COLUMN churn_status          text             NOT NULL DEFAULT '';

-- The simple CLV's monthly retention r: of the customers with a revenue
-- order 60 to 30 days before the reference time, the share with one in the
-- last 30 days (one row).
CREATE TABLE mart_retention (
    monthly_retention double precision NOT NULL
);

-- The unfiltered answers of the analytics API, precomputed (etl::marts):
-- filtered requests still read the clean tables.
ALTER TABLE mart_delivery_stats ADD COLUMN avg_distance_km double precision;

-- Delivery over all delivered orders (one row).
CREATE TABLE mart_delivery_overall (
    orders                   bigint NOT NULL,
    avg_delivery_min         double precision,
    late_rate                double precision,
    fee_distance_correlation double precision,
    minutes_per_km           double precision
);

-- Market baskets of the revenue orders: per item, per item pair, and how
-- many baskets there are (one row).
CREATE TABLE mart_menu_items (
    name     text PRIMARY KEY,
    orders   bigint NOT NULL,
    quantity bigint NOT NULL,
    revenue  bigint NOT NULL
);
CREATE TABLE mart_menu_pairs (
    a      text   NOT NULL,
    b      text   NOT NULL,
    orders bigint NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE TABLE mart_menu_baskets (
    baskets bigint NOT NULL
);

-- The values the API's filters accept: the districts, categories and
-- platforms of the valid orders.
CREATE TABLE mart_dimensions (
    dimension text NOT NULL,   -- 'district', 'category' or 'platform'
    value     text NOT NULL,
    PRIMARY KEY (dimension, value)
);

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

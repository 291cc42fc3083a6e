-- Marts: analytic tables rebuilt by the ETL after each load (see etl::marts).

CREATE TABLE mart_hourly_orders (
    hour             timestamptz PRIMARY KEY,
    orders           bigint      NOT NULL,
    revenue          bigint      NOT NULL,
    cancelled        bigint      NOT NULL,
    avg_delivery_min double precision,
    late_rate        double precision
);

CREATE TABLE mart_restaurant_performance (
    restaurant_id    text PRIMARY KEY,
    restaurant_name  text,
    category         text,
    orders           bigint NOT NULL,
    revenue          bigint NOT NULL,
    avg_rating       double precision,
    rated_orders     bigint NOT NULL,
    avg_delivery_min double precision,
    late_rate        double precision,
    revenue_rank     integer NOT NULL
);

CREATE TABLE mart_customer_rfm (
    customer_id  text PRIMARY KEY,
    recency_days integer NOT NULL,
    frequency    integer NOT NULL,
    monetary     bigint  NOT NULL,
    r_score      integer NOT NULL,
    f_score      integer NOT NULL,
    m_score      integer NOT NULL,
    segment      text    NOT NULL
);

-- Delivery statistics by one dimension at a time: distance_band, district,
-- hour (KST) and weather.
CREATE TABLE mart_delivery_stats (
    dimension        text   NOT NULL,
    bucket           text   NOT NULL,
    orders           bigint NOT NULL,
    avg_delivery_min double precision NOT NULL,
    late_rate        double precision NOT NULL,
    avg_fee          double precision,
    PRIMARY KEY (dimension, bucket)
);

-- Clean layer: one row per canonical entity (DATA.md).

-- One row per order_id across all sources; the latest updated_at wins.
-- Impossible values are kept and named in `flags`; statistics use valid rows.
CREATE TABLE orders (
    order_id               text        PRIMARY KEY,
    order_time             timestamptz NOT NULL,
    updated_at             timestamptz,
    customer_id            text        NOT NULL,
    customer_name          text,
    phone_number           text,
    restaurant_id          text        NOT NULL,
    restaurant_name        text,
    category               text,
    item_count             integer,
    order_amount           bigint,
    discount_amount        bigint,
    delivery_fee           bigint,
    payment_method         text,
    platform               text,
    district               text,
    delivery_address       text,
    store_lat              double precision,
    store_lng              double precision,
    customer_lat           double precision,
    customer_lng           double precision,
    distance_km            double precision,
    estimated_delivery_min integer,
    actual_delivery_min    integer,
    rider_id               text,
    weather                text,
    order_status           text        NOT NULL,
    rating                 integer,
    flags                  text[]      NOT NULL DEFAULT '{}',
    is_valid               boolean     GENERATED ALWAYS AS (cardinality(flags) = 0) STORED,
    source_topic           text        NOT NULL,
    loaded_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_order_time ON orders (order_time);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_restaurant ON orders (restaurant_id);

CREATE TABLE order_items (
    order_id   text    NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_no    integer NOT NULL,
    name       text    NOT NULL,
    quantity   integer NOT NULL,
    unit_price bigint  NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- Dimensions, the latest values seen for each id.
CREATE TABLE customers (
    customer_id    text PRIMARY KEY,
    customer_name  text,
    phone_number   text,
    district       text,
    first_order_at timestamptz,
    last_order_at  timestamptz
);

CREATE TABLE restaurants (
    restaurant_id   text PRIMARY KEY,
    restaurant_name text,
    category        text,
    store_lat       double precision,
    store_lng       double precision
);

CREATE TABLE conversations (
    conversation_id text        PRIMARY KEY,
    order_id        text        NOT NULL,
    customer_id     text        NOT NULL,
    restaurant_id   text        NOT NULL,
    rider_id        text,
    started_at      timestamptz NOT NULL
);

CREATE TABLE messages (
    conversation_id text        NOT NULL REFERENCES conversations (conversation_id) ON DELETE CASCADE,
    seq             integer     NOT NULL,
    sender          text        NOT NULL,
    sent_at         timestamptz NOT NULL,
    body            text        NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

-- A log event has no id of its own: it is keyed by a hash of its content, so
-- the same event read twice is one row.
CREATE TABLE log_events (
    event_hash  bigint      PRIMARY KEY,
    ts          timestamptz NOT NULL,
    level       text        NOT NULL,
    service     text        NOT NULL,
    trace_id    text,
    order_id    text,
    event       text        NOT NULL,
    latency_ms  bigint,
    message     text,
    stack_trace text
);
CREATE INDEX log_events_ts ON log_events (ts);

CREATE TABLE reviews (
    review_id     text        PRIMARY KEY,
    order_id      text,
    customer_id   text,
    restaurant_id text        NOT NULL,
    rating        integer     NOT NULL,
    body          text        NOT NULL,
    created_at    timestamptz NOT NULL
);

-- Raw layer: every consumed message as it came, and every unreadable record.
-- Keyed by its Kafka position, so loading the same message twice is a no-op.
-- Payloads are `json` (checked, kept verbatim): an audit copy, not a query surface.

CREATE TABLE raw_records (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    kind        text        NOT NULL,
    record_key  text,
    payload     json        NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);

CREATE TABLE dead_letters (
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    source_file  text        NOT NULL,
    position     text        NOT NULL,
    reason_class text        NOT NULL,
    reason       text        NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);

-- The next offset to consume per topic partition, written in the same
-- transaction as the rows it covers: a crash or a rerun neither loses nor
-- doubles a row.
CREATE TABLE etl_offsets (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- One row per ETL run: what it loaded, and when it finished (the operator
-- reports the latest in the pipeline's status).
CREATE TABLE etl_runs (
    run_id         bigserial   PRIMARY KEY,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    messages       bigint      NOT NULL DEFAULT 0,
    orders_changed bigint      NOT NULL DEFAULT 0,
    dead_letters   bigint      NOT NULL DEFAULT 0
);

-- Sales Analyzer schema v1. Applied once by `sales-analyzer migrate` (and by each
-- process at start-up) under an advisory lock; recorded in schema_migrations.

-- Every upload we have heard of, whatever became of it.
CREATE TABLE uploads (
    upload_id          uuid PRIMARY KEY,
    status             text NOT NULL CHECK (status IN ('received', 'stored', 'rejected', 'duplicate')),
    sales_date         date,
    source             text NOT NULL CHECK (source IN ('http', 'kafka')),
    sender             text,
    size_bytes         integer NOT NULL,
    products_seen      integer NOT NULL DEFAULT 0,
    products_stored    integer NOT NULL DEFAULT 0,
    products_rejected  integer NOT NULL DEFAULT 0,
    errors             jsonb NOT NULL DEFAULT '[]'::jsonb,
    kafka_topic        text NOT NULL,
    kafka_partition    integer NOT NULL,
    kafka_offset       bigint NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_sales_date_idx ON uploads (sales_date);

-- One row per collected day: the unique key that makes a day impossible to store twice.
CREATE TABLE sales_days (
    sales_date      date PRIMARY KEY,
    upload_id       uuid NOT NULL UNIQUE REFERENCES uploads (upload_id),
    products        integer NOT NULL,
    total_units     bigint NOT NULL,
    total_revenue   numeric(20, 2) NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now()
);

-- The day's product lines. Money is numeric, never float.
CREATE TABLE sales_lines (
    sales_date  date NOT NULL REFERENCES sales_days (sales_date) ON DELETE CASCADE,
    product_id  bigint NOT NULL,
    name        text NOT NULL,
    category    text NOT NULL,
    quantity    integer NOT NULL CHECK (quantity > 0),
    price       numeric(12, 2) NOT NULL CHECK (price >= 0),
    PRIMARY KEY (sales_date, product_id)
);

-- Reports: one row per generation. report_id is derived from what asked for it
-- (the stored upload, or a regeneration request), so a redelivery finds its row.
CREATE TABLE reports (
    report_id           uuid PRIMARY KEY,
    sales_date          date NOT NULL REFERENCES sales_days (sales_date) ON DELETE CASCADE,
    upload_id           uuid NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending', 'ok', 'failed')),
    language            text NOT NULL,
    prompt_version      text NOT NULL,
    facts               jsonb,
    system_prompt       text,
    prompt              text,
    text                text,
    model               text,
    usage               jsonb NOT NULL DEFAULT '{}'::jsonb,
    verified            boolean NOT NULL DEFAULT false,
    unverified_numbers  jsonb NOT NULL DEFAULT '[]'::jsonb,
    attempts            integer NOT NULL DEFAULT 0,
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reports_date_created_idx ON reports (sales_date, created_at DESC);

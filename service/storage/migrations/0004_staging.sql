-- Staging of big days that travel as chunks (contracts/topics.md, "Big days").
--
-- Each chunk is validated when it comes and staged here; once the manifest is there
-- and every chunk is present, one transaction copies the staged lines into
-- sales_lines, writes the day and the upload, and drops the staging (a day is
-- visible whole or not at all). Everything here is UNLOGGED: staging is written
-- fast (no WAL) and, should PostgreSQL crash, emptied as a whole, registry and
-- lines together; an upload that lost its chunks that way is then refused as
-- incomplete_upload (the client sends it again), never stored with a hole.
CREATE SCHEMA IF NOT EXISTS staging;

-- One row per chunked upload being received; touched_at drives the incomplete sweep.
CREATE UNLOGGED TABLE staging.uploads (
    upload_id        uuid PRIMARY KEY,
    sales_date       date,
    source           text NOT NULL,
    sender           text,
    kafka_topic      text NOT NULL,
    kafka_partition  integer NOT NULL,
    kafka_offset     bigint NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    touched_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staging_uploads_touched_idx ON staging.uploads (touched_at);

-- One row per staged chunk: the key makes a redelivered chunk change nothing.
-- Its lines are rows first_seq..last_seq of the upload's staging."lines_<id>" table.
CREATE UNLOGGED TABLE staging.chunks (
    upload_id        uuid NOT NULL REFERENCES staging.uploads (upload_id) ON DELETE CASCADE,
    chunk_index      integer NOT NULL,
    is_last          boolean NOT NULL,
    size_bytes       integer NOT NULL,
    sha256           bytea NOT NULL,
    newlines         integer NOT NULL,
    products_seen    integer NOT NULL,
    products_rejected integer NOT NULL,
    fatal            jsonb NOT NULL,
    issues           jsonb NOT NULL,
    first_seq        bigint,
    last_seq         bigint,
    -- lines staged by the fast lane carry no position: the chunk's layout gives it
    fast_first_line  integer,
    fast_period      integer,
    PRIMARY KEY (upload_id, chunk_index)
);

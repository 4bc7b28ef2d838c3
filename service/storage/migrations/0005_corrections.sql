-- Corrections: a stored day replaced by a new upload (PUT /v1/sales/{date}, or an
-- x-replace: true record on sales.raw).
--
-- The replaced upload stays, with status 'superseded'; the corrections row is the
-- audit (who, when, what changed). Reports whose figures the correction made wrong
-- are marked stale (reports.stale_reason) by the reporter, which then writes new ones.

ALTER TABLE uploads DROP CONSTRAINT IF EXISTS uploads_status_check;
ALTER TABLE uploads ADD CONSTRAINT uploads_status_check
    CHECK (status IN ('received', 'stored', 'rejected', 'duplicate', 'superseded'));

CREATE TABLE corrections (
    upload_id             uuid PRIMARY KEY REFERENCES uploads (upload_id),  -- the correcting upload
    superseded_upload_id  uuid NOT NULL UNIQUE REFERENCES uploads (upload_id),
    sales_date            date NOT NULL,
    sender                text,
    corrected_at          timestamptz NOT NULL DEFAULT now(),
    revenue_before        numeric(20, 2) NOT NULL,
    revenue_after         numeric(20, 2) NOT NULL,
    diff                  jsonb NOT NULL  -- models.DayDiff
);
CREATE INDEX corrections_sales_date_idx ON corrections (sales_date, corrected_at);

ALTER TABLE reports ADD COLUMN stale_reason text;       -- NULL: the report's figures are current
ALTER TABLE reports ADD COLUMN stale_at timestamptz;

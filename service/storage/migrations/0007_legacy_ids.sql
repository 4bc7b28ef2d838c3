-- Integer ids for the original service's read routes (GET /api/report/..., /api/sales/...;
-- service/storage/legacy.py), whose clients know reports and sales lines by integer id.
--
-- Reports: an identity column (one row per generation; the table is small).
--
-- Sales lines get no column of their own: a 1,000,000-line day's COPY took 18-27% longer
-- with an identity column and its index (measured), for routes that are deprecated. A
-- line's id is derived instead: uploads.seq of the upload that stored its day times
-- 100,000,000, plus the line's 1-based rank in the day by product id. It stays the same
-- as long as the day does; a correction stores the day under a new upload, so the
-- replaced lines' ids answer 404 rather than another product.
ALTER TABLE reports ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX reports_id_idx ON reports (id);

ALTER TABLE uploads ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX uploads_seq_idx ON uploads (seq);

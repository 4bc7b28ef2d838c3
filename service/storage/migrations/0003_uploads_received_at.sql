-- The dashboard lists the newest uploads first (service/storage/dashboard.py:recent_uploads),
-- keyset-paginated by (received_at, upload_id): without this index every page sorted
-- the whole uploads table.
CREATE INDEX IF NOT EXISTS uploads_received_idx ON uploads (received_at DESC, upload_id DESC);

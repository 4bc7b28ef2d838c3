-- The provenance of a report's figures (issue 20): for every number in its text, where
-- it stands, the fact(s) and the rule that made it true, or why it is not (a list of
-- service.models.ReportClaim as JSON). Reports written before have an empty list.

ALTER TABLE reports ADD COLUMN IF NOT EXISTS claims jsonb NOT NULL DEFAULT '[]'::jsonb;

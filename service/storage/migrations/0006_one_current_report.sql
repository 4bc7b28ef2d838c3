-- One current report per day: of a day's finished reports at most one is not stale.
-- storage/reports.py save_report keeps it so under the day's lock; this index makes it
-- certain. Days that already have more than one keep their newest; the others turn stale.

UPDATE reports r SET stale_reason = 'a newer report of the day replaced it', stale_at = now()
FROM (SELECT report_id, row_number() OVER (PARTITION BY sales_date
                                           ORDER BY created_at DESC, report_id DESC) AS n
      FROM reports WHERE stale_reason IS NULL AND status <> 'pending') x
WHERE r.report_id = x.report_id AND x.n > 1;

CREATE UNIQUE INDEX reports_one_current_idx ON reports (sales_date)
    WHERE stale_reason IS NULL AND status <> 'pending';

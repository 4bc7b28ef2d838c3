"""After a correction, on real PostgreSQL: which reports turn stale, which days are asked for
again, and the superseded upload's late sales.stored writes no report of its own."""

from __future__ import annotations

import datetime as dt
import uuid

from service.cache import Redis
from service.events import ReportRequest, SalesCorrected
from service.ids import report_id_for_request
from service.reporter.corrections import StaleReports, request_id_for_correction
from service.reporter.handler import report_id_for_upload
from service.storage.corrections import mark_stale
from service.storage.db import Pool

from ..helpers import sales_xml
from .helpers import Collect, builtin, ingest


async def test_correction_marks_the_day_and_the_next_seven_stale_and_asks_again(
    pg_pool: Pool, redis_client: Redis, days: list[dt.date]
) -> None:
    """The corrected day's report and reports of days within 7 days after it turn stale with a reason;
    each later stored day in that window is asked for again, with ids derived from the correction."""
    published, requests = Collect(), Collect()
    reporter = builtin(pg_pool, published)
    stored = {}
    for i in (0, 1, 7, 8):  # day 8 is out of day 0's window
        [(_, _, ev)] = await ingest(pg_pool, redis_client, sales_xml(days[i], 5, seed=i))
        stored[i] = ev.upload_id
        await reporter.for_stored(ev.upload_id, days[i])
    out = await ingest(pg_pool, redis_client, sales_xml(days[0], 6, seed=42), replace=True)
    corrected = next(e for _, _, e in out if isinstance(e, SalesCorrected))

    again = await StaleReports(pool=pg_pool, request=requests, language="en").corrected(corrected)
    assert again == [days[1], days[7]]
    assert [r.sales_date for r in requests] == again and all(
        isinstance(r, ReportRequest) for r in requests
    )
    assert requests[0].request_id == request_id_for_correction(corrected.upload_id, days[1])
    pending = await pg_pool.fetch(
        "SELECT sales_date, status, upload_id FROM reports WHERE report_id = ANY($1)",
        [report_id_for_request(r.request_id) for r in requests],
    )
    assert {(r["sales_date"], r["status"], r["upload_id"]) for r in pending} == {
        (days[1], "pending", stored[1]),
        (days[7], "pending", stored[7]),
    }

    rows = {
        r["sales_date"]: r["stale_reason"]
        for r in await pg_pool.fetch(
            "SELECT sales_date, stale_reason FROM reports WHERE sales_date = ANY($1::date[]) AND status <> 'pending'",
            days[:9],
        )
    }
    assert "corrected" in rows[days[0]] and str(corrected.upload_id) in rows[days[0]]
    assert days[0].isoformat() in rows[days[1]] and days[0].isoformat() in rows[days[7]]
    assert rows[days[8]] is None

    # The same event again marks nothing more and asks for the very same reports.
    again_requests = Collect()
    await StaleReports(pool=pg_pool, request=again_requests, language="en").corrected(corrected)
    assert [r.request_id for r in again_requests] == [r.request_id for r in requests]

    # The new reports are not stale; the day's newest report is the correction's.
    await reporter.for_stored(corrected.upload_id, days[0])
    fresh = await pg_pool.fetchrow(
        "SELECT stale_reason FROM reports WHERE report_id = $1",
        report_id_for_upload(corrected.upload_id),
    )
    assert fresh is not None
    assert fresh["stale_reason"] is None


async def test_a_superseded_uploads_late_event_writes_no_report(
    pg_pool: Pool, redis_client: Redis, days: list[dt.date]
) -> None:
    """sales.stored of an upload a correction already replaced is skipped (the correction's report is the day's)."""
    published = Collect()
    [(_, _, first)] = await ingest(pg_pool, redis_client, sales_xml(days[0], 5))
    await ingest(pg_pool, redis_client, sales_xml(days[0], 4), replace=True)
    assert await builtin(pg_pool, published).for_stored(first.upload_id, days[0]) is None
    assert (
        published == []
        and await pg_pool.fetchval(
            "SELECT count(*) FROM reports WHERE report_id = $1",
            report_id_for_upload(first.upload_id),
        )
        == 0
    )


async def test_unknown_ids_are_not_corrections(pg_pool: Pool) -> None:
    """A correction id no row knows marks nothing."""
    assert (
        await mark_stale(
            pg_pool,
            correction=uuid.uuid4(),
            last_day=dt.date(2001, 1, 1),
            own_reason="x",
            later_reason="y",
        )
        == []
    )

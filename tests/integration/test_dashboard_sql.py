"""The dashboard's queries on real PostgreSQL: pages of days, history points, recent uploads."""

from __future__ import annotations

import datetime as dt

from service.figures.load import load_facts
from service.gateway.dashboard.views import history_rows
from service.storage import dashboard as q
from service.storage.db import Pool

from ..unit.reporter_factories import synthetic_products
from .helpers import store


async def test_days_page_is_keyset_paginated_within_the_range(
    pg_pool: Pool, days: list[dt.date]
) -> None:
    """Pages of stored days, newest first, stay inside the range and together list each day once."""
    stored = [days[i] for i in (0, 1, 2, 5, 6, 9)]
    for i, day in enumerate(stored):
        await store(pg_pool, day, synthetic_products(5, seed=i))
    seen, before = [], None
    while True:
        page = await q.days_page(
            pg_pool, date_from=days[1], date_to=days[6], before=before, limit=2
        )
        seen += [r.sales_date for r in page]
        if len(page) < 2:
            break
        before = page[-1].sales_date
    assert seen == [days[6], days[5], days[2], days[1]]
    assert all(r.report_status is None and not r.pending for r in page)
    count = await q.days_count(pg_pool, date_from=days[0], date_to=days[29])
    assert (count.days, count.first, count.last) == (6, days[0], days[9])


async def test_history_trailing_average_matches_the_facts(
    pg_pool: Pool, days: list[dt.date]
) -> None:
    """The day's trailing 7-day average in the history chart is the one its facts (and report) state."""
    for i in (0, 2, 3, 6, 8):
        await store(pg_pool, days[i], synthetic_products(20, seed=i))
    points = await q.day_history(pg_pool, days[8], days=28, trailing_days=7)
    assert [p.sales_date for p in points] == [days[i] for i in (0, 2, 3, 6, 8)]
    async with pg_pool.acquire() as conn:
        facts = await load_facts(conn, days[8])
    assert facts.history is not None
    last, average = history_rows(points)[-1]
    assert last.revenue == facts.total_revenue and average == facts.history.trailing_avg_revenue
    assert history_rows(points)[0][1] is None  # nothing stored in the week before the first day
    assert await q.day_history(pg_pool, days[8], days=2, trailing_days=7) == [points[-1]]


async def test_recent_uploads_newest_first_in_pages(pg_pool: Pool, days: list[dt.date]) -> None:
    """Recorded uploads come newest first; the cursor continues where the page ended."""
    for i in range(3):
        await store(pg_pool, days[i], synthetic_products(3, seed=i))
    first = await q.recent_uploads(pg_pool, before=None, limit=2)
    rest = await q.recent_uploads(
        pg_pool, before=(first[-1].received_at, first[-1].upload_id), limit=50
    )
    ids = [u.upload_id for u in first + rest]
    assert len(ids) == len(set(ids)) and first[0].received_at >= rest[0].received_at
    of_day = await q.uploads_of_day(pg_pool, days[1], limit=5)
    assert [u.sales_date for u in of_day] == [days[1]] and of_day[0].products_seen == 0
    assert (await q.upload_row(pg_pool, of_day[0].upload_id)) == of_day[0]
    assert of_day[0].size_bytes == 0 and isinstance(of_day[0].errors, list)

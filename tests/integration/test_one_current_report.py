"""One current report per day, on real PostgreSQL, under any interleaving of corrections,
report saves (from the day's owner or from an upload read before a correction),
regeneration requests and redeliveries.

Issue 19, finding 3: corrections retried together after a Kafka outage left reports of
the superseded upload, saved a few ms after the correction committed, never marked
stale, and a day with three non-stale reports of the same upload.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.cache import Redis
from service.events import SalesCorrected
from service.ingest.diff import by_product, diff_days
from service.models import SalesLine, UploadRecord
from service.reporter.corrections import StaleReports
from service.reporter.handler import report_id_for_upload
from service.storage.corrections import mark_stale, replace_day, stored_day
from service.storage.db import Pool
from service.storage.reports import ReportInput, ReportOutcome, request_report, save_report
from service.storage.uploads import record_batch

from .helpers import Collect, builtin, day_xml, ingest

pytestmark = pytest.mark.timeout(300)

# Dates of their own, far from every other test's.
_dates = (dt.date(1901, 1, 1) + dt.timedelta(days=i) for i in itertools.count())


def _record(day: dt.date, units: int) -> UploadRecord:
    lines = [SalesLine(1, "Tea", "drinks", units, Decimal("2.50"))]
    return UploadRecord(
        upload_id=uuid.uuid4(),
        status="stored",
        sales_date=day,
        source="http",
        sender="test",
        size_bytes=100,
        topic="test.reports",
        partition=0,
        offset=0,
        products_seen=1,
        lines=lines,
        total_units=units,
        total_revenue=Decimal("2.50") * units,
    )


class Day:
    """One stored day and what the test did to it."""

    def __init__(self, pool: Any, day: dt.date) -> None:
        self.pool = pool
        self.day = day
        self.uploads: list[uuid.UUID] = []  # every upload that owned the day, oldest first
        self.reports: dict[uuid.UUID, uuid.UUID] = {}  # report id → the upload it is of

    async def store(self) -> None:
        rec = _record(self.day, 1)
        async with record_batch(self.pool) as batch:
            await batch.write([rec])
        self.uploads.append(rec.upload_id)

    async def correct(self) -> None:
        """A correction, then what the reporter does on its sales.corrected."""
        old = await stored_day(self.pool, self.day)
        assert old is not None
        rec = _record(self.day, len(self.uploads) + 1)
        diff = diff_days(old.lines, by_product(rec.lines))
        await replace_day(self.pool, rec, superseded=old.upload_id, diff=diff)
        self.uploads.append(rec.upload_id)
        await mark_stale(
            self.pool,
            correction=rec.upload_id,
            last_day=self.day,
            own_reason="corrected",
            later_reason="a day before it was corrected",
        )

    def _report_of(self, upload: int, report: int | None) -> tuple[uuid.UUID, uuid.UUID]:
        if report is None or not self.reports:
            rid = uuid.uuid4()
            self.reports[rid] = self.uploads[upload % len(self.uploads)]
            return rid, self.reports[rid]
        rid = list(self.reports)[report % len(self.reports)]
        return rid, self.reports[rid]

    async def request(self, upload: int) -> None:
        """A regeneration asked for: the day shows it pending."""
        rid, of = self._report_of(upload, None)
        await request_report(
            self.pool, report_id=rid, sales_date=self.day, upload_id=of, language="en"
        )

    async def save(self, upload: int, report: int | None, status: str) -> None:
        """A report finished: new, a pending one, or one finished already (a redelivery); of
        the day's owner or of an upload read before a correction."""
        rid, of = self._report_of(upload, report)
        await save_report(
            self.pool,
            ReportInput(
                report_id=rid,
                sales_date=self.day,
                upload_id=of,
                language="en",
                prompt_version="test",
                facts={},
                system_prompt="s",
                prompt="p",
            ),
            ReportOutcome(
                status="ok" if status == "ok" else "failed",
                text="text" if status == "ok" else None,
                model="m",
                usage={},
                verified=True,
                unverified_numbers=[],
                attempts=1,
                error=None if status == "ok" else "no",
            ),
        )

    async def check(self) -> None:
        """At most one finished report of the day is current, and it is of the day's owner."""
        current = await self.pool.fetch(
            "SELECT report_id, upload_id FROM reports WHERE sales_date = $1 "
            "AND status <> 'pending' AND stale_reason IS NULL",
            self.day,
        )
        owner = await self.pool.fetchval(
            "SELECT upload_id FROM sales_days WHERE sales_date = $1", self.day
        )
        assert len(current) <= 1, f"{len(current)} current reports of {self.day}: {current}"
        assert all(r["upload_id"] == owner for r in current), (
            f"the current report is of {current[0]['upload_id']}, the day is {owner}'s"
        )


_steps = st.one_of(
    st.tuples(st.just("correct")),
    st.tuples(st.just("request"), st.integers(0, 5)),
    st.tuples(
        st.just("save"),
        st.integers(0, 5),
        st.none() | st.integers(0, 9),
        st.sampled_from(["ok", "failed"]),
    ),
)


@settings(
    max_examples=60,
    database=None,  # no .hypothesis folder in the checkout
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(_steps, min_size=1, max_size=12))
async def test_one_current_report_per_day_under_any_sequence(
    pg_pool: Pool, steps: list[tuple[Any, ...]]
) -> None:
    """Any sequence of corrections, regeneration requests and saves (new, pending, redelivered;
    of the owner or of a superseded upload) leaves at most one current report, the owner's."""
    day = Day(pg_pool, next(_dates))
    await day.store()
    for step in steps:
        await getattr(day, step[0])(*step[1:])
        await day.check()


async def test_one_current_report_when_saves_and_corrections_race(
    pg_pool: Pool, days: list[dt.date]
) -> None:
    """Reports of the owner read before a correction, saved at the same moment as the
    correction and as one another: one current report in the end, the new owner's or none."""
    for round_ in range(10):
        day = Day(pg_pool, days[round_])
        await day.store()
        await asyncio.gather(
            *(day.save(0, None, "ok") for _ in range(3)),
            day.correct(),
            *(day.save(0, None, "ok") for _ in range(3)),
        )
        await day.check()
        await asyncio.gather(*(day.save(1, None, "ok") for _ in range(4)))
        await day.check()
        current = await pg_pool.fetchval(
            "SELECT count(*) FROM reports WHERE sales_date = $1 "
            "AND status <> 'pending' AND stale_reason IS NULL",
            day.day,
        )
        assert current == 1


async def test_corrections_retried_together_leave_one_current_report_per_day(
    pg_pool: Pool, redis_client: Redis, days: list[dt.date]
) -> None:
    """The finding's replay through ingest and the reporter: three corrections of a day land
    together (sent during a Kafka outage, retried at once); each correction's own report is
    written as if its owner check had passed just before the next correction committed, and
    each asks again for the next day's report. Each day ends with one current report."""
    published = Collect()
    reporter = builtin(pg_pool, published)
    for day in days[:2]:
        [(_, _, ev)] = await ingest(pg_pool, redis_client, day_xml(day, 5))
        await reporter.for_stored(ev.upload_id, day)
    corrections = []
    for n in (6, 7, 8):
        out = await ingest(pg_pool, redis_client, day_xml(days[0], n), replace=True)
        corrections.append(next(e for _, _, e in out if isinstance(e, SalesCorrected)))
    requests = Collect()
    stale = StaleReports(pool=pg_pool, request=requests, language="en")
    await asyncio.gather(*(stale.corrected(c) for c in corrections))
    await asyncio.gather(
        *(
            reporter.produce(report_id_for_upload(c.upload_id), days[0], c.upload_id)
            for c in corrections
        ),
        *(reporter.for_request(r.request_id, r.sales_date) for r in requests),
    )
    for day in days[:2]:
        current = await pg_pool.fetch(
            "SELECT upload_id FROM reports WHERE sales_date = $1 AND status <> 'pending' "
            "AND stale_reason IS NULL",
            day,
        )
        owner = await pg_pool.fetchval(
            "SELECT upload_id FROM sales_days WHERE sales_date = $1", day
        )
        assert [r["upload_id"] for r in current] == [owner], (
            f"{day}: current reports of {[r['upload_id'] for r in current]}, the day is {owner}'s"
        )

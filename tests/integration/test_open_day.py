"""A big day stored while its chunks come (the open day), on real PostgreSQL and Redis.

Issue 19, finding 4: a big day whose sender went away mid-upload and came back 40 s
later was stored with ``stored_at`` = the first attempt's start: its transaction had
stayed open past the idle limit. Here the limit is lowered to one second.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from service.cache import DayCache, Redis
from service.ingest.handler import IngestService
from service.models import UploadRecord
from service.storage.db import Pool
from service.storage.staged_days import OpenDay
from service.storage.staging import ChunkToStage, StagedUpload, drop_staging, stage_chunk

from ..helpers import wait_until
from .helpers import Sink, day_xml, pieces

pytestmark = pytest.mark.timeout(60)

_IDLE = 1.0  # the open day's idle limit in these tests, in seconds


def service(pg_pool: Any, redis_client: Any, sink: Sink) -> IngestService:
    return IngestService(
        pool=pg_pool,
        cache=DayCache(redis_client, ttl_seconds=3600),
        publish=sink,
        policy="lenient",
        max_products=100_000,
        open_idle_seconds=_IDLE,
    )


async def open_days(pg_pool: Any) -> int:
    """Sessions idle in a transaction whose latest statement wrote lines (an open day)."""
    return int(
        await pg_pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%' AND query ILIKE 'COPY%sales_lines%'"
        )
    )


async def test_an_open_day_never_outlives_its_idle_limit(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A first chunk opens the day's transaction; with no further chunk it ends within the limit,
    even though nothing in ingest runs meanwhile (no sweep, no batch)."""
    chunks, _ = pieces(day_xml(days[0], 600), uuid.uuid4())
    svc = service(pg_pool, redis_client, sink)
    try:
        await svc.handle(chunks[:1])
        assert await open_days(pg_pool) == 1
        await wait_until(
            lambda: _none_open(pg_pool),
            timeout=_IDLE + 4,
            what=f"the open day's transaction outlived its {_IDLE:g} s idle limit",
        )
    finally:
        await svc.close()


async def _none_open(pg_pool: Any) -> bool:
    return await open_days(pg_pool) == 0


async def test_stored_at_is_the_commit_time_after_a_pause(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """The sender pauses past the idle limit after the first chunks, then sends the day again
    (same upload id): the day is stored whole, and stored_at is when it was stored, not when
    its first chunk came."""
    uid = uuid.uuid4()
    chunks, manifest = pieces(day_xml(days[1], 600), uid)
    assert len(chunks) > 2
    svc = service(pg_pool, redis_client, sink)
    try:
        await svc.handle(chunks[:2])
        first: dt.datetime = await pg_pool.fetchval("SELECT clock_timestamp()")

        async def paused() -> bool:
            now: dt.datetime = await pg_pool.fetchval("SELECT clock_timestamp()")
            return (now - first).total_seconds() > _IDLE + 1.5

        await wait_until(paused, timeout=_IDLE + 5, what="PostgreSQL's clock did not move")
        resumed: dt.datetime = await pg_pool.fetchval("SELECT clock_timestamp()")
        await svc.handle([*chunks, manifest])
        row = await pg_pool.fetchrow(
            "SELECT products, stored_at FROM sales_days WHERE sales_date = $1", days[1]
        )
        assert row is not None
        assert row["products"] == 600
        assert row["stored_at"] >= resumed, (
            f"stored_at {row['stored_at']} is before the retry began ({resumed}); "
            f"the first chunks came at {first}"
        )
        [(topic, _)] = sink.of(uid)
        assert topic == "sales.stored"
    finally:
        await svc.close()


async def test_an_open_day_as_a_context_manager_commits_or_rolls_back(
    pg_pool: Pool, days: list[dt.date]
) -> None:
    """``async with OpenDay``: lines added and committed are the day; leaving the block without
    a commit leaves nothing, and the connection goes back to the pool either way."""
    before = pg_pool.get_idle_size()
    for day, commit in ((days[2], True), (days[3], False)):
        rec = _record(day)
        rows = [(1, 4, 7, "Tea", 2, Decimal("1.50"), "drinks")]
        await stage_chunk(pg_pool, _chunk(rec, rows))  # the open day's totals are counted there
        async with OpenDay(pg_pool, rec.upload_id, day, idle_seconds=_IDLE * 5) as open_day:
            await open_day.add(0, rows)
            if commit:
                result = await open_day.commit(rec)
                assert (result.outcome, result.products, result.total_units) == ("stored", 1, 2)
        assert open_day.closed
        stored = await pg_pool.fetchval(
            "SELECT count(*) FROM sales_lines WHERE sales_date = $1", day
        )
        assert stored == (1 if commit else 0)
        async with pg_pool.acquire() as conn:  # no staging left for another test's sweep
            await drop_staging(conn, rec.upload_id)
    assert pg_pool.get_idle_size() >= before


def _chunk(rec: UploadRecord, rows: list[tuple[Any, ...]]) -> ChunkToStage:
    return ChunkToStage(
        upload=StagedUpload(
            upload_id=rec.upload_id,
            sales_date=rec.sales_date,
            source=rec.source,
            sender=rec.sender,
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
        ),
        index=0,
        is_last=True,
        size=100,
        sha256=b"0" * 32,
        newlines=5,
        products_seen=len(rows),
        products_rejected=0,
        fatal=[],
        issues=[],
        lines=rows,
        valid=len(rows),
    )


def _record(day: dt.date) -> UploadRecord:
    return UploadRecord(
        upload_id=uuid.uuid4(),
        status="stored",
        sales_date=day,
        source="http",
        sender="test",
        size_bytes=100,
        topic="test.open",
        partition=0,
        offset=0,
        products_seen=1,
    )

"""Corrections of big days (chunks and a manifest, all with x-replace: true) through ingest,
on real PostgreSQL and Redis (Kafka replaced by a list): the swap at manifest time, the audit,
redelivery, and invalid big corrections that change nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from service.cache import Redis
from service.ingest.decide import RawUpload
from service.names import STORED_DAYS_KEY, redis_day_key
from service.storage.db import Pool

from .helpers import Sink, day_xml, pieces, service, staged_rows, status_of

pytestmark = pytest.mark.timeout(60)


def correcting(data: bytes, upload_id: uuid.UUID) -> tuple[list[RawUpload], RawUpload]:
    """The day's pieces as the gateway publishes a correction: each one with x-replace: true."""
    chunks, manifest = pieces(data, upload_id)
    return [dataclasses.replace(c, replace=True) for c in chunks], dataclasses.replace(
        manifest, replace=True
    )


async def store_big(svc: Any, day: dt.date, n: int) -> uuid.UUID:
    uid = uuid.uuid4()
    chunks, manifest = pieces(day_xml(day, n), uid)
    await svc.handle([*chunks, manifest])
    assert await status_of(svc._pool, uid) == "stored"
    return uid


async def day_row(pg_pool: Any, day: dt.date) -> tuple[Any, ...]:
    row = await pg_pool.fetchrow(
        "SELECT upload_id, products, total_units, total_revenue FROM sales_days "
        "WHERE sales_date = $1",
        day,
    )
    lines = await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", day)
    return row["upload_id"], row["products"], row["total_units"], row["total_revenue"], lines


async def test_a_big_correction_swaps_the_day_with_its_audit(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A multi-chunk correction replaces a stored big day: lines and totals swapped, the old upload
    superseded with the diff, sales.stored (supersedes) and sales.corrected out, staging dropped."""
    svc = service(pg_pool, redis_client, sink)
    old = await store_big(svc, days[0], 900)
    fix = uuid.uuid4()
    chunks, manifest = correcting(day_xml(days[0], 950, bad={5: "12.00"}), fix)
    assert len(chunks) > 3
    await svc.handle(chunks[:2])
    assert (await day_row(pg_pool, days[0]))[0] == old  # nothing changes before the manifest
    await svc.handle([*chunks[2:], manifest])

    assert await day_row(pg_pool, days[0]) == (fix, 950, 95_000, Decimal("997650.00"), 950)
    assert await pg_pool.fetchval(
        "SELECT price FROM sales_lines WHERE sales_date = $1 AND product_id = 5", days[0]
    ) == Decimal("12.00")
    assert await status_of(pg_pool, old) == "superseded"
    assert await status_of(pg_pool, fix) == "stored"
    audit = await pg_pool.fetchrow("SELECT * FROM corrections WHERE upload_id = $1", fix)
    assert audit is not None
    assert audit["superseded_upload_id"] == old
    assert (audit["revenue_before"], audit["revenue_after"]) == (
        Decimal("945000.00"),
        Decimal("997650.00"),
    )
    assert audit["diff"]["added"]["count"] == 50 and audit["diff"]["changed"]["count"] == 1
    assert audit["diff"]["removed"]["count"] == 0
    events = sink.of(fix)
    assert [t for t, _ in events] == ["sales.stored", "sales.corrected"]
    assert events[0][1].supersedes == old and events[0][1].products == 950
    assert events[1][1].superseded_upload_id == old and events[1][1].diff.products_after == 950
    assert await staged_rows(pg_pool, fix) == 0
    assert await redis_client.sismember(STORED_DAYS_KEY, days[0].isoformat())
    assert await redis_client.get(redis_day_key(days[0].isoformat())) == str(fix)

    # Redelivered (a chunk and the manifest): one correction, the same events announced again.
    await svc.handle([chunks[1], manifest])
    assert await day_row(pg_pool, days[0]) == (fix, 950, 95_000, Decimal("997650.00"), 950)
    assert await pg_pool.fetchval("SELECT count(*) FROM corrections WHERE upload_id = $1", fix) == 1
    again = sink.of(fix)
    assert [t for t, _ in again] == ["sales.stored", "sales.corrected"] * 2
    assert [e.event_id for _, e in again[2:]] == [e.event_id for _, e in again[:2]]


async def test_an_invalid_big_correction_changes_nothing(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Strict: a bad product in the last chunk, or a product id twice, rejects the big correction;
    the stored day, its owner and its claim stay as they were, the staging is dropped."""
    strict = service(pg_pool, redis_client, sink, policy="strict")
    old = await store_big(strict, days[1], 900)
    before = await day_row(pg_pool, days[1])
    claim = await redis_client.get(redis_day_key(days[1].isoformat()))
    assert claim == str(old)
    for data in (day_xml(days[1], 950, bad={950: "-5"}), day_xml(days[1], 950, ids={900: 3})):
        fix = uuid.uuid4()
        chunks, manifest = correcting(data, fix)
        await strict.handle([*chunks, manifest])
        assert await status_of(pg_pool, fix) == "rejected"
        assert [t for t, _ in sink.of(fix)] == ["sales.rejected"]
        assert await day_row(pg_pool, days[1]) == before
        assert await status_of(pg_pool, old) == "stored"
        assert (
            await pg_pool.fetchval(
                "SELECT count(*) FROM corrections WHERE sales_date = $1", days[1]
            )
            == 0
        )
        assert await redis_client.get(redis_day_key(days[1].isoformat())) == claim
        assert await staged_rows(pg_pool, fix) == 0


async def test_a_big_correction_with_an_id_twice_lenient_leaves_it_out(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Lenient: a product id twice across chunks is left out of the swap and reported."""
    svc = service(pg_pool, redis_client, sink)
    old = await store_big(svc, days[2], 900)
    fix = uuid.uuid4()
    chunks, manifest = correcting(day_xml(days[2], 950, ids={900: 3}), fix)
    await svc.handle([*chunks, manifest])
    assert (await day_row(pg_pool, days[2]))[:2] == (fix, 949)
    [(_, stored), (_, corrected)] = sink.of(fix)
    assert stored.supersedes == old and [i.code for i in stored.issues] == ["duplicate_id"]
    assert corrected.diff.products_after == 949


async def test_a_big_correction_of_a_day_not_stored_stores_it(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Nothing to replace: the big correction is stored as a new day, no sales.corrected."""
    svc = service(pg_pool, redis_client, sink)
    fix = uuid.uuid4()
    chunks, manifest = correcting(day_xml(days[3], 800), fix)
    await svc.handle([*chunks, manifest])
    assert (await day_row(pg_pool, days[3]))[:2] == (fix, 800)
    assert [t for t, _ in sink.of(fix)] == ["sales.stored"]
    assert await staged_rows(pg_pool, fix) == 0

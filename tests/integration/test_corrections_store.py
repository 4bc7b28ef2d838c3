"""Corrections in ingest on real PostgreSQL and Redis (Kafka replaced by a list): the swap,
the audit, rejected corrections, redelivery, order within a batch, Redis state."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from service.cache import Redis
from service.ingest.decide import RawUpload, raw_upload
from service.ingest.diff import diff_streams
from service.models import UploadRecord
from service.names import STORED_DAYS_KEY, redis_day_key
from service.storage.corrections import staged_swap
from service.storage.db import Pool

from ..helpers import sales_xml
from .helpers import Sink, raw, service, status_of

_offsets = iter(range(10**9))


def correction(
    body: bytes, *, upload_id: uuid.UUID | None = None, sender: str = "fixer"
) -> RawUpload:
    headers = [("x-replace", b"true"), ("x-sender", sender.encode())]
    if upload_id:
        headers.append(("x-upload-id", str(upload_id).encode()))
    return raw_upload(
        value=body,
        headers=headers,
        topic="test.corrections",
        partition=0,
        offset=next(_offsets),
        timestamp=0,
    )


ORIGINAL = [(1, "A", 3, "10.00", "X"), (2, "B", 1, "5.00", "Y"), (3, "C", 2, "1.00", "Y")]
FIXED = [(1, "A", 3, "12.00", "X"), (2, "B", 1, "5.00", "Y"), (4, "D", 1, "7.50", "Z")]


async def lines(pg_pool: Any, day: Any) -> list[tuple[int, int, Decimal]]:
    rows = await pg_pool.fetch(
        "SELECT product_id, quantity, price FROM sales_lines WHERE sales_date = $1 "
        "ORDER BY product_id",
        day,
    )
    return [(r["product_id"], r["quantity"], r["price"]) for r in rows]


async def test_a_valid_correction_swaps_the_day_and_keeps_the_audit(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """The day's lines and totals become the correction's; the old upload is superseded with the diff."""
    svc = service(pg_pool, redis_client, sink)
    first = raw(sales_xml(days[0], ORIGINAL))
    await svc.handle([first])
    fix = correction(sales_xml(days[0], FIXED))
    await svc.handle([fix])

    assert await status_of(pg_pool, first.upload_id) == "superseded"
    assert await status_of(pg_pool, fix.upload_id) == "stored"
    day = await pg_pool.fetchrow("SELECT * FROM sales_days WHERE sales_date = $1", days[0])
    assert day is not None
    assert (day["upload_id"], day["products"], day["total_units"], day["total_revenue"]) == (
        fix.upload_id,
        3,
        5,
        Decimal("48.50"),
    )
    assert await lines(pg_pool, days[0]) == [
        (1, 3, Decimal("12.00")),
        (2, 1, Decimal("5.00")),
        (4, 1, Decimal("7.50")),
    ]
    audit = await pg_pool.fetchrow("SELECT * FROM corrections WHERE upload_id = $1", fix.upload_id)
    assert audit is not None
    assert audit["superseded_upload_id"] == first.upload_id and audit["sender"] == "fixer"
    assert (audit["revenue_before"], audit["revenue_after"]) == (Decimal("37.00"), Decimal("48.50"))
    diff = audit["diff"]
    assert [c["product_id"] for c in diff["added"]["items"]] == [4]
    assert [c["product_id"] for c in diff["removed"]["items"]] == [3]
    assert [(c["product_id"], c["fields"]) for c in diff["changed"]["items"]] == [(1, ["price"])]

    [(t1, stored), (t2, corrected)] = sink.of(fix.upload_id)
    assert (
        t1 == "sales.stored"
        and stored.supersedes == first.upload_id
        and stored.total_revenue == Decimal("48.50")
    )
    assert t2 == "sales.corrected" and corrected.superseded_upload_id == first.upload_id
    assert (
        corrected.diff.revenue_before == Decimal("37.00")
        and corrected.event_id == f"corrected:{fix.upload_id}"
    )
    # Redis: the day stays collected, and its claim names the new owner.
    assert await redis_client.sismember(STORED_DAYS_KEY, days[0].isoformat())
    assert await redis_client.get(redis_day_key(days[0].isoformat())) == str(fix.upload_id)


async def test_an_invalid_correction_changes_nothing(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A correction that fails validation is rejected; the stored day, its owner and Redis stay as they were."""
    svc = service(pg_pool, redis_client, sink, policy="strict")
    first = raw(sales_xml(days[0], ORIGINAL))
    await svc.handle([first])
    before = await lines(pg_pool, days[0])
    claim = await redis_client.get(redis_day_key(days[0].isoformat()))
    bad = correction(sales_xml(days[0], [(1, "A", 3, "12.001", "X")]))
    unreadable = correction(b"<sales_data date='" + days[0].isoformat().encode() + b"'><products>")
    await svc.handle([bad, unreadable])
    assert await status_of(pg_pool, bad.upload_id) == "rejected"
    assert await status_of(pg_pool, unreadable.upload_id) == "rejected"
    assert await status_of(pg_pool, first.upload_id) == "stored"
    assert await lines(pg_pool, days[0]) == before
    assert (
        await pg_pool.fetchval("SELECT upload_id FROM sales_days WHERE sales_date = $1", days[0])
        == first.upload_id
    )
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM corrections WHERE sales_date = $1", days[0])
        == 0
    )
    assert await redis_client.get(redis_day_key(days[0].isoformat())) == claim
    assert [t for t, _ in sink.of(bad.upload_id)] == ["sales.rejected"]


async def test_a_redelivered_correction_is_one_correction(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """The same correction record twice (in one batch and in a later one) corrects once, same events."""
    svc = service(pg_pool, redis_client, sink)
    first = raw(sales_xml(days[0], ORIGINAL))
    await svc.handle([first])
    fix_id = uuid.uuid4()
    await svc.handle(
        [
            correction(sales_xml(days[0], FIXED), upload_id=fix_id),
            correction(sales_xml(days[0], FIXED), upload_id=fix_id),
        ]
    )
    await svc.handle([correction(sales_xml(days[0], FIXED), upload_id=fix_id)])
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM corrections WHERE sales_date = $1", days[0])
        == 1
    )
    events = sink.of(fix_id)
    assert [t for t, _ in events] == ["sales.stored", "sales.corrected"] * 3
    assert len({e.event_id for _, e in events}) == 2
    assert len({e.model_dump_json() for t, e in events if t == "sales.corrected"}) == 1
    # The superseded upload, redelivered, announces what it announced the first time.
    sink.events.clear()
    await svc.handle([first])
    [(topic, replay)] = sink.of(first.upload_id)
    assert topic == "sales.stored" and replay.total_revenue == Decimal("37.00")


async def test_a_plain_upload_of_a_corrected_day_stays_a_duplicate(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """After a correction, a plain upload of the day is still a duplicate; the correction stays."""
    svc = service(pg_pool, redis_client, sink)
    await svc.handle([raw(sales_xml(days[0], ORIGINAL))])
    fix = correction(sales_xml(days[0], FIXED))
    again = raw(sales_xml(days[0], ORIGINAL))
    await svc.handle([fix, again])
    assert await status_of(pg_pool, again.upload_id) == "duplicate"
    assert (
        await pg_pool.fetchval("SELECT upload_id FROM sales_days WHERE sales_date = $1", days[0])
        == fix.upload_id
    )


async def test_uploads_and_corrections_of_a_day_take_effect_in_batch_order(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """upload, correction, correction in one batch: the day ends as the last correction, each replaced in turn."""
    svc = service(pg_pool, redis_client, sink)
    first = raw(sales_xml(days[0], ORIGINAL))
    fix1 = correction(sales_xml(days[0], FIXED))
    fix2 = correction(sales_xml(days[0], [(9, "Z", 1, "1.00", "Z")]))
    other = raw(sales_xml(days[1], ORIGINAL))
    await svc.handle([first, fix1, other, fix2])
    statuses = [await status_of(pg_pool, u.upload_id) for u in (first, fix1, fix2, other)]
    assert statuses == ["superseded", "superseded", "stored", "stored"]
    assert await lines(pg_pool, days[0]) == [(9, 1, Decimal("1.00"))]
    chain = await pg_pool.fetch(
        "SELECT superseded_upload_id FROM corrections WHERE sales_date = $1 ORDER BY corrected_at",
        days[0],
    )
    assert [r["superseded_upload_id"] for r in chain] == [first.upload_id, fix1.upload_id]


async def test_a_correction_of_a_day_not_stored_stores_it(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Nothing to replace: the correction is stored as a new day, and no sales.corrected goes out."""
    svc = service(pg_pool, redis_client, sink)
    fix = correction(sales_xml(days[0], FIXED))
    await svc.handle([fix])
    assert await status_of(pg_pool, fix.upload_id) == "stored"
    assert [t for t, _ in sink.of(fix.upload_id)] == ["sales.stored"]
    assert await redis_client.get(redis_day_key(days[0].isoformat())) == str(fix.upload_id)
    late = raw(sales_xml(days[0], ORIGINAL))
    await svc.handle([late])
    assert await status_of(pg_pool, late.upload_id) == "duplicate"


async def test_a_staged_day_replaces_a_stored_one_streamed(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A big day's staged lines (12,000, read as streams for the diff) replace the stored day in one
    transaction; excluded staged rows stay out; the audit is the streamed diff."""
    svc = service(pg_pool, redis_client, sink)
    first = raw(sales_xml(days[0], ORIGINAL))
    await svc.handle([first])
    table = f"test_staged_{uuid.uuid4().hex}"
    await pg_pool.execute(
        f"CREATE TABLE {table} (seq bigint GENERATED ALWAYS AS IDENTITY, product_id bigint, "
        "name text, category text, quantity integer, price numeric(12, 2))"
    )
    try:
        await pg_pool.copy_records_to_table(
            table,
            columns=["product_id", "name", "category", "quantity", "price"],
            records=[(i, f"P{i}", "C", 1 + i % 3, Decimal("2.00")) for i in range(12_000, 0, -1)]
            + [(5, "dup", "C", 9, 1)],
        )
        dup = await pg_pool.fetchval(f"SELECT seq FROM {table} WHERE name = 'dup'")
        rec = UploadRecord(
            upload_id=uuid.uuid4(),
            status="stored",
            sales_date=days[0],
            source="kafka",
            sender="bulk",
            size_bytes=1,
            topic="test",
            partition=0,
            offset=0,
            replace=True,
        )
        async with staged_swap(pg_pool, days[0], table=table, exclude=[dup]) as swap:
            assert swap.owner == first.upload_id
            diff = await diff_streams(swap.old_lines(), swap.new_lines())
            await swap.replace(rec, diff=diff)
    finally:
        await pg_pool.execute(f"DROP TABLE IF EXISTS {table}")
    assert (diff.products_before, diff.products_after) == (3, 12_000)
    assert diff.added.count == 11_997 and diff.changed.count == 3 and diff.removed.count == 0
    day = await pg_pool.fetchrow("SELECT * FROM sales_days WHERE sales_date = $1", days[0])
    assert day is not None
    expected = sum(Decimal("2.00") * (1 + i % 3) for i in range(1, 12_001))
    assert (day["upload_id"], day["products"], day["total_revenue"]) == (
        rec.upload_id,
        12_000,
        expected,
    )
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[0])
        == 12_000
    )
    assert (
        await pg_pool.fetchval(
            "SELECT name FROM sales_lines WHERE sales_date = $1 AND product_id = 5", days[0]
        )
        == "P5"
    )
    assert await status_of(pg_pool, first.upload_id) == "superseded"
    assert (
        await pg_pool.fetchval(
            "SELECT products_stored FROM uploads WHERE upload_id = $1", rec.upload_id
        )
        == 12_000
    )
    audit = await pg_pool.fetchrow("SELECT * FROM corrections WHERE upload_id = $1", rec.upload_id)
    assert audit is not None
    assert audit["superseded_upload_id"] == first.upload_id and audit["revenue_after"] == expected

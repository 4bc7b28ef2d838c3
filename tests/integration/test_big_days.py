"""Big days in chunks through ingest, on real PostgreSQL and Redis (Kafka replaced by a list).

The flow with Kafka and the real processes is in tests/e2e/test_big_days.py; here
each rule of staging and assembling is checked directly: stored whole and once,
redelivery, duplicates across chunks, the strict policy, lost chunks, the sweep.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from service.cache import Redis
from service.ingest.handler import IngestService
from service.storage.db import Pool

from ..helpers import wait_until
from .helpers import Sink, day_xml, pieces, service, staged_rows, status_of

pytestmark = pytest.mark.timeout(60)


async def test_big_day_is_stored_whole_once_with_exact_totals(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Chunks then manifest: every line stored in one go, totals exact, staging gone, one stored event."""
    uid = uuid.uuid4()
    chunks, manifest = pieces(day_xml(days[0], 900), uid)
    assert len(chunks) > 3
    svc = service(pg_pool, redis_client, sink)
    await svc.handle(chunks[:2])
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[0])
        == 0
    )
    await svc.handle([*chunks[2:], manifest])
    row = await pg_pool.fetchrow(
        "SELECT products, total_units, total_revenue FROM sales_days WHERE sales_date = $1", days[0]
    )
    assert row is not None
    assert (row["products"], row["total_units"], str(row["total_revenue"])) == (
        900,
        90000,
        "945000.00",
    )
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[0])
        == 900
    )
    assert await staged_rows(pg_pool, uid) == 0
    [(topic, event)] = sink.of(uid)
    assert topic == "sales.stored" and event.products == 900


async def test_redelivered_chunks_and_manifest_change_nothing(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A chunk delivered twice (also in one batch) and a manifest delivered again: stored once."""
    uid = uuid.uuid4()
    chunks, manifest = pieces(day_xml(days[1], 600), uid)
    svc = service(pg_pool, redis_client, sink)
    await svc.handle([chunks[0], chunks[1], chunks[1]])
    await svc.handle([*chunks[1:], manifest])
    await svc.handle([chunks[2], manifest])
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[1])
        == 600
    )
    assert [t for t, _ in sink.of(uid)] == ["sales.stored", "sales.stored"]
    assert await staged_rows(pg_pool, uid) == 0


async def test_duplicate_ids_across_chunks_lenient_and_strict(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """An id repeated far into the file: lenient stores the day without it, reporting line and index;
    strict rejects the whole day and stores nothing."""
    data = day_xml(days[2], 800, ids={700: 3})
    uid = uuid.uuid4()
    chunks, manifest = pieces(data, uid)
    await service(pg_pool, redis_client, sink).handle([*chunks, manifest])
    assert (
        await pg_pool.fetchval("SELECT products FROM sales_days WHERE sales_date = $1", days[2])
        == 799
    )
    [(_, event)] = sink.of(uid)
    [issue] = event.issues
    assert (issue.code, issue.line, issue.product_index, issue.product_id) == (
        "duplicate_id",
        703,
        700,
        "3",
    )
    assert "line 6" in issue.message

    uid2 = uuid.uuid4()
    chunks, manifest = pieces(day_xml(days[3], 800, ids={700: 3}), uid2)
    await service(pg_pool, redis_client, sink, policy="strict").handle([*chunks, manifest])
    assert await status_of(pg_pool, uid2) == "rejected"
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[3])
        == 0
    )
    assert await staged_rows(pg_pool, uid2) == 0


async def test_strict_policy_one_bad_product_in_the_last_chunk_rejects_the_day(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Strict: a bad price in the very last product refuses the whole day; nothing is visible."""
    uid = uuid.uuid4()
    chunks, manifest = pieces(day_xml(days[4], 800, bad={800: "-5"}), uid)
    svc = service(pg_pool, redis_client, sink, policy="strict")
    await svc.handle([*chunks, manifest])
    assert await status_of(pg_pool, uid) == "rejected"
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_days WHERE sales_date = $1", days[4])
        == 0
    )
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[4])
        == 0
    )
    [(topic, event)] = sink.of(uid)
    assert topic == "sales.rejected"
    assert [(e.code, e.line, e.product_index) for e in event.errors] == [("negative", 803, 800)]
    assert await staged_rows(pg_pool, uid) == 0


async def test_lost_chunk_is_incomplete_and_staging_is_dropped(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """The manifest arrives but a chunk never did: rejected incomplete_upload, staged rows gone."""
    uid = uuid.uuid4()
    chunks, manifest = pieces(day_xml(days[5], 900), uid)
    await service(pg_pool, redis_client, sink).handle(chunks[:2] + chunks[3:] + [manifest])
    [(topic, event)] = sink.of(uid)
    assert topic == "sales.rejected" and event.errors[0].code == "incomplete_upload"
    assert await staged_rows(pg_pool, uid) == 0
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_days WHERE sales_date = $1", days[5])
        == 0
    )


async def swept(svc: IngestService, sink: Sink, upload_id: uuid.UUID) -> bool:
    """Run the sweep once; whether it has refused the upload (it waits INCOMPLETE_UPLOAD_SECONDS)."""
    await svc.sweep()
    return bool(sink.of(upload_id))


async def test_manifest_that_never_comes_is_swept(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """No manifest within INCOMPLETE_UPLOAD_SECONDS: the sweep refuses the upload and drops its staging."""
    uid = uuid.uuid4()
    chunks, _ = pieces(day_xml(days[6], 900), uid)
    svc = service(pg_pool, redis_client, sink, incomplete_seconds=0.2)
    await svc.handle(chunks[:3])
    assert await staged_rows(pg_pool, uid) == 2
    await wait_until(lambda: swept(svc, sink, uid), what="the sweep refuses the upload")
    assert await status_of(pg_pool, uid) == "rejected"
    assert await staged_rows(pg_pool, uid) == 0
    [(topic, event)] = sink.of(uid)
    assert topic == "sales.rejected" and event.errors[0].code == "incomplete_upload"


async def test_incomplete_upload_sent_again_under_its_id_is_stored(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A retry with the same Idempotency-Key after the sweep refused the first attempt: stored once."""
    uid = uuid.uuid4()
    chunks, manifest = pieces(day_xml(days[8], 900), uid)
    svc = service(pg_pool, redis_client, sink, incomplete_seconds=0.2)
    await svc.handle(chunks[:2])
    await wait_until(lambda: swept(svc, sink, uid), what="the sweep refuses the upload")
    assert await status_of(pg_pool, uid) == "rejected"
    await svc.handle([*chunks, manifest])
    assert await status_of(pg_pool, uid) == "stored"
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[8])
        == 900
    )
    assert [t for t, _ in sink.of(uid)] == ["sales.rejected", "sales.stored"]


async def test_two_uploads_of_one_big_day_racing_store_it_once(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Two uploads of the same day, chunks interleaved: one is stored, the other is a duplicate."""
    a, b = uuid.uuid4(), uuid.uuid4()
    chunks_a, manifest_a = pieces(day_xml(days[7], 700), a)
    chunks_b, manifest_b = pieces(day_xml(days[7], 700), b)
    mixed = [x for pair in zip(chunks_a, chunks_b, strict=True) for x in pair]
    await service(pg_pool, redis_client, sink).handle([*mixed, manifest_b, manifest_a])
    statuses = sorted([str(await status_of(pg_pool, a)), str(await status_of(pg_pool, b))])
    assert statuses == ["duplicate", "stored"]
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[7])
        == 700
    )
    assert await staged_rows(pg_pool, a) + await staged_rows(pg_pool, b) == 0

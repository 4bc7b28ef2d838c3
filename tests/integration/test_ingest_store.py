"""Ingest's decisions and writes on real PostgreSQL and Redis (Kafka replaced by a list).

The Kafka flow itself is covered in tests/e2e; here each rule of the stage is
checked directly: policies, dedupe layers, redelivery, concurrency.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest

from service.cache import DayCache, Redis
from service.ingest.decide import RawUpload, raw_upload
from service.names import redis_day_key
from service.storage.db import Pool
from service.storage.uploads import stored_days

from ..helpers import sales_xml
from .helpers import Sink, raw, service, status_of


async def test_valid_day_is_stored_with_exact_totals(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A valid day is stored in one go: upload row, day row with exact totals, every line."""
    body = sales_xml(days[0], [(1, "A", 3, "10.10", "X"), (2, "B", 1, "0.20", "Y")])
    up = raw(body)
    await service(pg_pool, redis_client, sink).handle([up])
    assert await status_of(pg_pool, up.upload_id) == "stored"
    day = await pg_pool.fetchrow("SELECT * FROM sales_days WHERE sales_date = $1", days[0])
    assert day is not None
    assert (day["products"], day["total_units"], str(day["total_revenue"])) == (2, 4, "30.50")
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[0])
        == 2
    )
    [(topic, event)] = sink.of(up.upload_id)
    assert topic == "sales.stored" and str(event.total_revenue) == "30.50"


async def test_lenient_keeps_valid_products_and_records_the_rest(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Lenient policy stores the valid products and records each rejected one with its error."""
    body = sales_xml(days[0], [(1, "A", 3, "10.10", "X"), (2, "B", -1, "1.234", "Y")])
    up = raw(body)
    await service(pg_pool, redis_client, sink).handle([up])
    row = await pg_pool.fetchrow("SELECT * FROM uploads WHERE upload_id = $1", up.upload_id)
    assert row is not None
    assert (
        row["status"] == "stored" and row["products_stored"] == 1 and row["products_rejected"] == 1
    )
    codes = {e["code"] for e in row["errors"]}
    assert codes >= {"too_many_decimals"} and all(e.get("line") for e in row["errors"])


async def test_strict_rejects_the_whole_day(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Strict policy rejects a day with any bad product and frees the day for a corrected upload."""
    svc = service(pg_pool, redis_client, sink, policy="strict")
    bad = raw(sales_xml(days[0], [(1, "A", 3, "10.10", "X"), (2, "B", 1, "abc", "Y")]))
    await svc.handle([bad])
    assert await status_of(pg_pool, bad.upload_id) == "rejected"
    [(topic, event)] = sink.of(bad.upload_id)
    assert topic == "sales.rejected" and event.errors[0].code == "bad_decimal"
    assert await redis_client.get(redis_day_key(days[0].isoformat())) is None
    good = raw(sales_xml(days[0], [(1, "A", 3, "10.10", "X")]))
    await svc.handle([good])
    assert await status_of(pg_pool, good.upload_id) == "stored"


async def test_duplicate_day_is_refused_by_redis_fast_path(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A second upload of a stored day is a duplicate while the Redis claim lives."""
    svc = service(pg_pool, redis_client, sink)
    first, second = raw(sales_xml(days[0])), raw(sales_xml(days[0], seed=1))
    await svc.handle([first])
    await svc.handle([second])
    assert await status_of(pg_pool, second.upload_id) == "duplicate"
    [(topic, event)] = sink.of(second.upload_id)
    assert topic == "sales.rejected" and event.status == "duplicate"


async def test_duplicate_day_is_refused_by_postgres_after_redis_forgets(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """After the Redis key is gone (TTL or flush), PostgreSQL's unique day still refuses a duplicate."""
    svc = service(pg_pool, redis_client, sink)
    first = raw(sales_xml(days[0]))
    await svc.handle([first])
    await redis_client.delete(redis_day_key(days[0].isoformat()))
    second = raw(sales_xml(days[0], seed=2))
    await svc.handle([second])
    assert await status_of(pg_pool, second.upload_id) == "duplicate"
    owner = await pg_pool.fetchval(
        "SELECT upload_id FROM sales_days WHERE sales_date = $1", days[0]
    )
    assert owner == first.upload_id
    assert await redis_client.get(redis_day_key(days[0].isoformat())) is None  # claim released


async def test_same_day_twice_in_one_batch_stores_once(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Two uploads of one day in one batch: the first is stored, the second is a duplicate."""
    a, b = raw(sales_xml(days[0])), raw(sales_xml(days[0], seed=3))
    await service(pg_pool, redis_client, sink).handle([a, b])
    assert [await status_of(pg_pool, a.upload_id), await status_of(pg_pool, b.upload_id)] == [
        "stored",
        "duplicate",
    ]


async def test_concurrent_uploads_of_one_day_store_exactly_once(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Ten consumers racing on one day (a rebalance, say): exactly one stores it."""
    uploads = [raw(sales_xml(days[0], seed=i)) for i in range(10)]
    services = [service(pg_pool, redis_client, sink) for _ in uploads]
    await asyncio.gather(*(s.handle([u]) for s, u in zip(services, uploads, strict=False)))
    statuses = [await status_of(pg_pool, u.upload_id) for u in uploads]
    assert statuses.count("stored") == 1 and statuses.count("duplicate") == 9
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_days WHERE sales_date = $1", days[0])
        == 1
    )


async def test_concurrent_uploads_without_redis_claims_still_store_once(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Even if Redis forgets between claims, PostgreSQL's unique key lets exactly one day in."""
    uploads = [raw(sales_xml(days[0], seed=i)) for i in range(6)]
    svc = service(pg_pool, redis_client, sink)

    async def one(u: RawUpload) -> None:
        await redis_client.delete(redis_day_key(days[0].isoformat()))
        await svc.handle([u])

    await asyncio.gather(*(one(u) for u in uploads))
    statuses = [await status_of(pg_pool, u.upload_id) for u in uploads]
    assert statuses.count("stored") == 1
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[0])
        == 5
    )


async def stored_once_announced(
    pg_pool: Any, sink: Sink, up: RawUpload, day: dt.date, times: int
) -> None:
    """One upload row and the day's 5 lines; `times` sales.stored events, all the same event."""
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM uploads WHERE upload_id = $1", up.upload_id)
        == 1
    )
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", day) == 5
    )
    events = sink.of(up.upload_id)
    assert [t for t, _ in events] == ["sales.stored"] * times
    assert len({e.event_id for _, e in events}) == 1


async def test_redelivery_changes_nothing_and_replays_the_event(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """The same record delivered again adds no row and publishes the same event again."""
    svc = service(pg_pool, redis_client, sink)
    up = raw(sales_xml(days[0]))
    await svc.handle([up])
    await svc.handle([up])
    await redis_client.flushdb()
    await svc.handle([up])
    await stored_once_announced(pg_pool, sink, up, days[0], 3)


async def test_same_record_twice_in_one_batch_is_answered_twice(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """One upload delivered twice in a single batch: stored once, the same event announced for each delivery."""
    up = raw(sales_xml(days[0]))
    await service(pg_pool, redis_client, sink).handle([up, up])
    await stored_once_announced(pg_pool, sink, up, days[0], 2)


async def test_redelivery_after_crash_between_claim_and_commit(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A claim left by a crashed attempt belongs to the redelivered message, which stores the day."""
    up = raw(sales_xml(days[0]))
    await redis_client.set(redis_day_key(days[0].isoformat()), str(up.upload_id))
    await service(pg_pool, redis_client, sink).handle([up])
    assert await status_of(pg_pool, up.upload_id) == "stored"


async def test_record_without_headers_gets_a_stable_id(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A record produced by any client (no headers) gets an id from its position and timestamp."""

    def at(offset: int, ts: int) -> RawUpload:
        return raw_upload(
            value=sales_xml(days[0]),
            headers=[],
            topic="sales.raw",
            partition=3,
            offset=offset,
            timestamp=ts,
        )

    assert at(42, 1700000000000).upload_id == at(42, 1700000000000).upload_id  # a redelivery
    assert at(42, 1700000000000).upload_id != at(42, 1800000000000).upload_id  # a recreated topic
    assert at(42, 1).source == "kafka"


@pytest.mark.parametrize(
    "body, code",
    [
        (b"", "empty_body"),
        (b"hello", "not_xml"),
        (b'{"sales_data": 1}', "not_xml"),
        (b'<sales_data date="2024-02-30"><products/></sales_data>', "bad_date"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<sales_data date="2024-01-01"><products><product><id>1</id><name>&e;</name></product>'
            b"</products></sales_data>",
            "forbidden_dtd",
        ),
    ],
)
async def test_poison_bodies_are_rejected_and_recorded(
    pg_pool: Pool, redis_client: Redis, sink: Sink, body: bytes, code: str
) -> None:
    """A body that is not a sales day is recorded as rejected with a clear code; nothing is stored."""
    up = raw(body)
    await service(pg_pool, redis_client, sink).handle([up])
    row = await pg_pool.fetchrow(
        "SELECT status, errors FROM uploads WHERE upload_id = $1", up.upload_id
    )
    assert row is not None
    assert row["status"] == "rejected" and row["errors"][0]["code"] == code


async def test_a_bad_upload_does_not_hold_back_the_batch(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Good and bad uploads in one batch: each gets its own fate."""
    good, bad = raw(sales_xml(days[0])), raw(b"<nope/>")
    await service(pg_pool, redis_client, sink).handle([bad, good])
    assert await status_of(pg_pool, good.upload_id) == "stored"
    assert await status_of(pg_pool, bad.upload_id) == "rejected"


async def test_dates_are_exact_calendar_dates(
    pg_pool: Pool, redis_client: Redis, sink: Sink
) -> None:
    """Leap day is a valid date."""
    up = raw(sales_xml(dt.date(2096, 2, 29)))
    await service(pg_pool, redis_client, sink).handle([up])
    assert await status_of(pg_pool, up.upload_id) == "stored"


async def test_rejected_upload_does_not_block_a_good_one_in_the_same_batch(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A bad file and its corrected version in one batch: the correction is stored."""
    bad = raw(sales_xml(days[0], [(1, "A", 3, "oops", "X")]))  # no valid product: rejected
    good = raw(sales_xml(days[0], [(1, "A", 3, "10.10", "X")]))
    await service(pg_pool, redis_client, sink).handle([bad, good])
    assert await status_of(pg_pool, bad.upload_id) == "rejected"
    assert await status_of(pg_pool, good.upload_id) == "stored"


async def test_redelivery_after_a_crash_before_redis_was_updated(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """Committed but crashed before step 5: the redelivery frees the claim and records the day."""
    svc = service(pg_pool, redis_client, sink)
    bad = raw(sales_xml(days[0], [(1, "A", 3, "oops", "X")]))
    await svc.handle([bad])
    key = redis_day_key(days[0].isoformat())
    await redis_client.set(key, str(bad.upload_id))  # as if the release never happened
    await svc.handle([bad])  # redelivered
    assert await redis_client.get(key) is None
    good = raw(sales_xml(days[0]))
    await svc.handle([good])
    assert await status_of(pg_pool, good.upload_id) == "stored"
    assert await redis_client.sismember("sales:stored-days", days[0].isoformat())


async def test_day_claimed_by_an_upload_in_flight_is_not_a_duplicate(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """A claim held by an upload that is not stored (in flight, or its gateway died) does not
    refuse another valid upload of the day: PostgreSQL decides."""
    await redis_client.set(redis_day_key(days[0].isoformat()), str(uuid.uuid4()), ex=60)
    up = raw(sales_xml(days[0]))
    await service(pg_pool, redis_client, sink).handle([up])
    assert await status_of(pg_pool, up.upload_id) == "stored"


async def test_gateway_claim_is_the_uploads_own_and_released_on_rejection(
    pg_pool: Pool, redis_client: Redis, sink: Sink, days: list[dt.date]
) -> None:
    """The upload the gateway claimed the day for goes through; rejected, it gives the day back."""
    cache = DayCache(redis_client, ttl_seconds=3600)
    up = raw(
        b'<sales_data date="' + days[0].isoformat().encode() + b'"><products/></sales_data>',
        upload_id=uuid.uuid4(),
    )
    await cache.rebuild_stored(
        d.isoformat() for d in await stored_days(pg_pool)
    )  # as the gateway would
    holder, stored, _ = await cache.admit(str(up.upload_id), days[0].isoformat())
    assert stored is False and holder == str(up.upload_id)
    await service(pg_pool, redis_client, sink).handle([up])
    assert await status_of(pg_pool, up.upload_id) == "rejected"
    assert await redis_client.get(redis_day_key(days[0].isoformat())) is None

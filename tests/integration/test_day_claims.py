"""The gateway's claim of a day on real Redis: taken on admission, answered to the others, given back."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from service.cache import DayCache, Redis
from service.names import CLAIM_IN_FLIGHT_SECONDS, STORED_DAYS_KEY, redis_day_key, redis_upload_key


@pytest_asyncio.fixture(autouse=True)
async def _whole_stored_set_after(redis_client: Any) -> AsyncIterator[None]:
    """These tests replace the stored-days set; removing it afterwards makes the next user
    rebuild it from PostgreSQL."""
    yield
    await redis_client.delete(STORED_DAYS_KEY)


async def test_admission_claims_a_free_day_once(redis_client: Redis, days: list[dt.date]) -> None:
    """The first admitted upload of a day holds it; the next one is told who does."""
    cache = DayCache(redis_client, ttl_seconds=3600)
    await cache.rebuild_stored([])
    day = days[0].isoformat()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert await cache.admit(first, day) == (first, False, False)
    assert await cache.admit(second, day) == (first, False, False)
    assert await cache.admit(first, day) == (first, False, True)  # the same id again: seen
    assert 0 < await redis_client.ttl(redis_day_key(day)) <= CLAIM_IN_FLIGHT_SECONDS


async def test_stored_day_is_not_claimed(redis_client: Redis, days: list[dt.date]) -> None:
    """A stored day is answered as stored, and nobody claims it."""
    cache = DayCache(redis_client, ttl_seconds=3600)
    await cache.rebuild_stored([days[0].isoformat()])
    assert await cache.admit(str(uuid.uuid4()), days[0].isoformat()) == (None, True, False)
    assert await redis_client.get(redis_day_key(days[0].isoformat())) is None


async def test_lost_stored_set_claims_nothing_until_postgres_answered(
    redis_client: Redis, days: list[dt.date]
) -> None:
    """Without the stored-days set nothing is claimed; claim_in_flight() does it afterwards."""
    cache = DayCache(redis_client, ttl_seconds=3600)
    await redis_client.delete(STORED_DAYS_KEY)
    day, upload = days[0].isoformat(), str(uuid.uuid4())
    assert await cache.admit(upload, day) == (None, None, False)
    assert await cache.claim_in_flight(upload, day) == upload
    assert await cache.claim_in_flight(str(uuid.uuid4()), day) == upload


async def test_refused_upload_gives_back_its_claim_and_marker(
    redis_client: Redis, days: list[dt.date]
) -> None:
    """refused() deletes the upload's marker and its claim, never someone else's claim."""
    cache = DayCache(redis_client, ttl_seconds=3600)
    await cache.rebuild_stored([])
    day, mine, other = days[0].isoformat(), str(uuid.uuid4()), str(uuid.uuid4())
    await cache.admit(mine, day)
    await cache.refused(mine, day)
    assert await redis_client.get(redis_day_key(day)) is None
    assert await redis_client.get(redis_upload_key(mine)) is None
    await cache.admit(other, day)
    await cache.refused(mine, day)
    assert await redis_client.get(redis_day_key(day)) == other


async def test_stored_among(redis_client: Redis, days: list[dt.date]) -> None:
    """Which days the stored-days set holds; None when the set is gone."""
    cache = DayCache(redis_client, ttl_seconds=3600)
    await cache.rebuild_stored([days[0].isoformat()])
    assert await cache.stored_among([days[0].isoformat(), days[1].isoformat()]) == {
        days[0].isoformat()
    }
    await redis_client.delete(STORED_DAYS_KEY)
    assert await cache.stored_among([days[0].isoformat()]) is None

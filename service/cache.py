"""Redis: the fast path of the date dedupe and the gateway's "received" markers.

Only this module imports redis. A day is *claimed* with ``SET NX`` by the upload
that will store it: by the gateway when it admits an upload of a day that is
neither stored nor claimed (for CLAIM_IN_FLIGHT_SECONDS, released again when the
publish is refused), and by ingest for records produced straight to Kafka (for
CACHE_LIFE_PERIOD seconds). Ingest finds its own id in the claim and goes on,
releases the claim of an upload it rejects, and lets PostgreSQL decide when the
claim is held by an upload whose day is not stored yet.

Connections: a pool that waits for a free connection (a burst above the pool size
queues instead of failing), and a retry with backoff on connection errors, so
that connections a Redis restart left dead are replaced instead of answering
"unavailable" once each (every command here is idempotent, so a retry is safe).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import NamedTuple

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from .errors import CacheUnavailable
from .names import (
    CLAIM_IN_FLIGHT_SECONDS,
    STORED_DAYS_KEY,
    UPLOAD_MARKER_TTL_SECONDS,
    redis_day_key,
    redis_upload_key,
)

__all__ = ["Admission", "DayCache", "Redis", "create_redis", "translate_errors"]

Redis = aioredis.Redis

# The gateway's one round trip per upload: mark the upload received, read the
# day's claim, and ask the stored-days set about the day and about its sentinel
# (a set without the sentinel was lost, e.g. flushed, and must be rebuilt). A day
# that is known not stored and not claimed is claimed for this upload on the spot.
# The marker's old value tells whether an earlier attempt of the same upload id is
# still marked (it was accepted, or left unconfirmed: it may be in Kafka).
_ADMIT = """
local seen = redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'GET')
local holder = redis.call('GET', KEYS[2])
local found = redis.call('SMISMEMBER', KEYS[3], ARGV[1], ARGV[3])
if not holder and found[1] == 0 and found[2] == 1 then
  redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
  holder = ARGV[4]
end
return {holder or false, found[1], found[2], seen and 1 or 0}
"""
# Stands in the stored-days set from its (re)build on: its absence means the set is not whole.
_SENTINEL = "0000-00-00"

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# Connections per process. A request waits up to _POOL_WAIT seconds for one when all
# are busy (redis-py's default pool raises MaxConnectionsError at once instead).
_POOL_SIZE = 64
_POOL_WAIT = 5.0
# Up to 3 retries, 10 ms to 0.5 s apart: a dead pooled connection is replaced on
# the first retry; a Redis that is really down still fails within ~1 s.
_RETRIES = 3


def create_redis(url: str) -> Redis:
    # Connecting is lazy: nothing touches the network until the first command.
    # redis-py's from_url() gives a pool without retries (the client's default
    # Retry applies only to pools it builds itself), hence the explicit pool.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=_POOL_SIZE,
        timeout=_POOL_WAIT,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.5), _RETRIES),
    )
    return aioredis.Redis.from_pool(pool)


@asynccontextmanager
async def translate_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise CacheUnavailable(
            f"Redis unavailable during {what}: {type(exc).__name__}: {exc}"
        ) from exc


class Admission(NamedTuple):
    """What admit() found: the day's holder, whether the day is stored (None: the set is
    missing), and whether an earlier attempt of this upload id was still marked received."""

    holder: str | None
    stored: bool | None
    seen: bool


class DayCache:
    """Date claims and upload markers, over one Redis client."""

    def __init__(self, client: Redis, *, ttl_seconds: int) -> None:
        self._r = client
        self._ttl = ttl_seconds
        self._release = client.register_script(_RELEASE)
        self._admit = client.register_script(_ADMIT)

    async def claim(self, claims: Iterable[tuple[str, str]]) -> list[str]:
        """Claim each (date, upload_id); return the holder of each date after the call."""
        claims = list(claims)
        if not claims:
            return []
        async with translate_errors("claim"):
            # SET NX GET (Redis >= 7.0): sets when free, and answers the holder when taken.
            pipe = self._r.pipeline(transaction=False)
            for day, upload_id in claims:
                pipe.set(redis_day_key(day), upload_id, nx=True, get=True, ex=self._ttl)
            held = await pipe.execute()
        return [
            upload_id if old is None else str(old)
            for (_, upload_id), old in zip(claims, held, strict=True)
        ]

    async def take(self, day: str, upload_id: str) -> None:
        """Give the day's claim to a correction that now owns the day (whoever held it)."""
        async with translate_errors("take"):
            await self._r.set(redis_day_key(day), upload_id, ex=self._ttl)

    async def release(self, claims: Iterable[tuple[str, str]]) -> None:
        """Give back claims of uploads that were not stored after all."""
        claims = list(claims)
        if not claims:
            return
        async with translate_errors("release"):
            pipe = self._r.pipeline(transaction=False)
            for day, upload_id in claims:
                await self._release(keys=[redis_day_key(day)], args=[upload_id], client=pipe)
            await pipe.execute()

    async def admit(self, upload_id: str, day: str) -> Admission:
        """Mark an upload as received; say who holds the day and whether it is stored.

        One round trip. A day known not to be stored and held by nobody is claimed
        for this upload (the holder answered is then ``upload_id``). ``stored`` is
        None when the stored-days set is missing (Redis was flushed): nothing was
        claimed, the caller must ask PostgreSQL, rebuild the set and claim_in_flight().
        """
        async with translate_errors("admit"):
            holder, member, whole, seen = await self._admit(
                keys=[redis_upload_key(upload_id), redis_day_key(day), STORED_DAYS_KEY],
                args=[
                    day,
                    UPLOAD_MARKER_TTL_SECONDS,
                    _SENTINEL,
                    upload_id,
                    CLAIM_IN_FLIGHT_SECONDS,
                ],
            )
        stored = bool(member) if whole else None
        return Admission(None if not holder else str(holder), stored, bool(seen))

    async def claim_in_flight(self, upload_id: str, day: str) -> str:
        """Claim a day for an upload the gateway is about to publish; return the holder."""
        async with translate_errors("claim_in_flight"):
            old = await self._r.set(
                redis_day_key(day), upload_id, nx=True, get=True, ex=CLAIM_IN_FLIGHT_SECONDS
            )
        return upload_id if old is None else str(old)

    async def stored_among(self, days: Iterable[str]) -> set[str] | None:
        """Which of these days the stored-days set holds; None when the set is missing."""
        days = list(days)
        async with translate_errors("stored_among"):
            found = await self._r.smismember(STORED_DAYS_KEY, [*days, _SENTINEL])
        if not found[-1]:
            return None
        return {d for d, hit in zip(days, found, strict=False) if hit}

    async def add_stored(self, days: Iterable[str]) -> None:
        """Record stored days (ingest, after its commit)."""
        days = list(days)
        if days:
            async with translate_errors("add_stored"):
                await self._r.sadd(STORED_DAYS_KEY, *days)

    async def rebuild_stored(self, days: Iterable[str]) -> None:
        """Replace the stored-days set (from PostgreSQL) in one atomic step."""
        days = list(days)
        async with translate_errors("rebuild_stored"):
            pipe = self._r.pipeline(transaction=True)
            pipe.delete(STORED_DAYS_KEY)
            # An empty database still gets a set, so "missing" keeps meaning "flushed".
            pipe.sadd(STORED_DAYS_KEY, _SENTINEL, *days)
            await pipe.execute()

    async def forget_received(self, upload_id: str) -> None:
        async with translate_errors("forget_received"):
            await self._r.delete(redis_upload_key(upload_id))

    async def refused(self, upload_id: str, day: str) -> None:
        """Undo admit() for an upload that was certainly not published: its marker and its claim."""
        async with translate_errors("refused"):
            pipe = self._r.pipeline(transaction=False)
            pipe.delete(redis_upload_key(upload_id))
            await self._release(keys=[redis_day_key(day)], args=[upload_id], client=pipe)
            await pipe.execute()

    async def received_day(self, upload_id: str) -> str | None:
        async with translate_errors("received_day"):
            value = await self._r.get(redis_upload_key(upload_id))
        return None if value is None else str(value)

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError):
            return False

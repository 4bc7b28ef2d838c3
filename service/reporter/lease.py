"""Who is writing a report right now: a short Redis lease per report, so one report is
never paid twice by two live reporters.

A report's records can reach two reporters at once: a rebalance gives its partition to
another member while the old one still finishes its LLM call (it gets ``revoke_wait``
seconds, a call can take longer), or a correction's regeneration and a redelivery meet.
The lease says "reporter X is writing report R" for ``ttl`` seconds, renewed while the
work runs. A reporter that finds another's lease waits for that report instead of
calling the LLM again (it replays the stored report when it appears), and takes over
once the lease lapses (its holder died: at most ``ttl`` seconds).

A lease held by an earlier incarnation of this very process (the same INSTANCE_NAME, a
restart after kill -9) is taken over at once: only one live process may carry a name,
so that holder is dead and its call is lost either way.

Redis away: no lease, the report is written (paying twice is better than no report).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from ..cache import Redis
from ..logs import ctx

__all__ = ["ReportLeases"]

log = logging.getLogger("sales_analyzer.reporter")

_PREFIX = "sales:report-lease:"


class ReportLeases:
    """Leases of reports being written, held by ``instance`` (this process's name)."""

    def __init__(self, redis: Redis, *, instance: str, ttl: float = 15.0) -> None:
        self._redis = redis
        self._instance = instance
        self._me = f"{instance}|{uuid.uuid4()}"  # this incarnation
        self._ttl_ms = int(ttl * 1000)
        self.ttl = ttl

    async def holder(self, report_id: uuid.UUID) -> str | None:
        """Take the lease of ``report_id``; None when it is ours now, else who holds it.
        Redis away: None (write the report without a lease)."""
        key = _PREFIX + str(report_id)
        try:
            if await self._redis.set(key, self._me, nx=True, px=self._ttl_ms):
                return None
            held = await self._redis.get(key)
            if held is None:  # lapsed meanwhile: try once more
                ok = await self._redis.set(key, self._me, nx=True, px=self._ttl_ms)
                return None if ok else "another reporter"
            held = held.decode() if isinstance(held, bytes) else str(held)
            if held == self._me or held.split("|", 1)[0] == self._instance:
                # ours, or an earlier incarnation of this process (dead): take it over
                await self._redis.set(key, self._me, px=self._ttl_ms)
                return None
            return held
        except Exception as exc:  # Redis away or failing: never block a report on it
            log.debug("report lease not taken", extra=ctx(error=str(exc)))
            return None

    @contextlib.asynccontextmanager
    async def held(self, report_id: uuid.UUID) -> AsyncIterator[None]:
        """Keep the lease (taken with :meth:`holder`) renewed while the block runs; free it after."""
        key = _PREFIX + str(report_id)

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.ttl / 3)
                with contextlib.suppress(Exception):
                    await self._redis.set(key, self._me, xx=True, px=self._ttl_ms)

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                if await self._redis.get(key) in (self._me, self._me.encode()):
                    await self._redis.delete(key)

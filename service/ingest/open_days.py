"""The open-day shortcut: a big day stored while its chunks come, so that its manifest
only has to commit.

The final copy from staging into sales_lines (storage.staged_days.store_staged_day)
takes ~3 s for a 1M-product day once the manifest is there; done chunk by chunk while
the upload streams in, the manifest only commits. A day's state here:

    (none) --fresh first chunk--> open --next chunk--> open (its lines added)
    open --manifest, every staged chunk added--> committed (bigday.BigDays._store)
    open --anything unusual--> rolled back (then the manifest stores the day from staging)

Anything unusual: an id twice, a lock, a failure, a newer upload of the date, a whole
day of the date about to be written (make_way), no chunk within the idle limit
(expire; PostgreSQL ends the transaction then anyway), the process stopping (close).
At most two days are open at once (each holds a pooled connection), one per date.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from uuid import UUID

from ..logs import ctx
from ..storage.db import Pool
from ..storage.staged_days import OpenDay
from .chunks import ChunkResult
from .decide import RawUpload

__all__ = ["OpenDays"]

log = logging.getLogger("sales_analyzer.ingest")

_MAX_OPEN = 2  # open days at once (each holds a pooled connection)


class OpenDays:
    def __init__(self, *, pool: Pool, idle_seconds: float) -> None:
        self._pool = pool
        self._idle_seconds = idle_seconds  # an open day that got no chunk this long is rolled back
        self._open: dict[UUID, OpenDay] = {}
        self._touched: dict[UUID, float] = {}  # when each last got a chunk (monotonic)

    def get(self, upload_id: UUID) -> OpenDay | None:
        return self._open.get(upload_id)

    async def progress(self, raw: RawUpload, result: ChunkResult) -> None:
        """A fresh chunk of a day (not a correction's): its lines into the day's open
        transaction, opened by a fresh first chunk."""
        day = self._open.get(raw.upload_id)
        if day is None:
            day = await self._start(raw, result)
        if day is None or raw.chunk_index in day.chunks:
            return
        await self.add(raw, result, day)

    async def _start(self, raw: RawUpload, result: ChunkResult) -> OpenDay | None:
        if raw.chunk_index != 0 or result.sales_date is None or result.fatal:
            return None
        await self.clear_date(result.sales_date)  # a newer upload of the date replaces the older
        if len(self._open) >= _MAX_OPEN:
            return None
        day = OpenDay(self._pool, raw.upload_id, result.sales_date, idle_seconds=self._idle_seconds)
        try:
            await day.begin()
        except Exception:
            return None
        self._open[raw.upload_id] = day
        return day

    async def add(self, raw: RawUpload, result: ChunkResult, day: OpenDay) -> None:
        """One chunk's lines into the open day; a failure rolls the day back (never raises:
        the manifest then stores the day from staging)."""
        self._touched[raw.upload_id] = time.monotonic()
        fast = result.fast
        try:
            await day.add(
                raw.chunk_index,
                copy_text=fast.copy_text if fast is not None else None,
                rows=result.rows,
            )
        except Exception as exc:
            p = raw.position
            log.info(
                "open day rolled back",
                extra=ctx(
                    upload_id=raw.upload_id,
                    topic=p.topic,
                    partition=p.partition,
                    offset=p.offset,
                    reason=type(exc).__name__,
                ),
            )
            await self.abandon(day)

    def take(self, upload_id: UUID) -> None:
        """The day is about to be committed (or closed) by its caller: no longer tracked."""
        self._open.pop(upload_id, None)
        self._touched.pop(upload_id, None)

    async def abandon(self, day: OpenDay) -> None:
        self.take(day.upload_id)
        await day.close()

    async def clear_date(self, sales_date: dt.date | None, *, keep: OpenDay | None = None) -> None:
        """Roll back the open days of this date but ``keep`` (they would hold locks its lines need)."""
        for other in [
            d for d in self._open.values() if d is not keep and d.sales_date == sales_date
        ]:
            await self.abandon(other)

    async def make_way(self, keys: set[str]) -> None:
        """Whole days of these keys (dates) are about to be written: roll back open days of
        the same dates, whose uncommitted lines would make that write wait."""
        for day in [d for d in self._open.values() if d.sales_date.isoformat() in keys]:
            await self.abandon(day)

    async def expire(self, idle_seconds: float | None = None) -> None:
        """Roll back the open days that got no chunk within the idle limit (or ``idle_seconds``,
        if shorter); PostgreSQL has ended their transactions by then, or is about to."""
        limit = min(self._idle_seconds, idle_seconds or self._idle_seconds)
        quiet = time.monotonic() - limit
        for upload_id, touched in list(self._touched.items()):
            if touched < quiet and upload_id in self._open:
                await self.abandon(self._open[upload_id])

    async def close(self) -> None:
        """Roll back the open days (their connections go back to the pool before it closes)."""
        for day in list(self._open.values()):
            await self.abandon(day)

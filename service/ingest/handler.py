"""The ingest batch: the I/O around the pure decisions in decide.py.

Order of work for one batch (the offsets are committed by the caller only after
this returns, so a crash anywhere means the whole batch is redelivered):

1. uploads already recorded (a redelivery) are answered from PostgreSQL as before;
2. the cheap check finds each day's date; Redis SET NX claims the day (fast dedupe:
   a day held by another upload and already stored is a duplicate without parsing);
3. claimed uploads are parsed and validated off the event loop;
4. one PostgreSQL transaction records every upload and stores the winning days
   (the unique key on the day is the final word);
5. claims of uploads that were not stored are released;
6. one event per upload is published and confirmed by Kafka.

A correction (x-replace: true, ingest/correct.py) is handled on its own, in the
batch's order: the records before it are done first, then it, then the rest, so a
day's uploads and corrections take effect in the order they were produced.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from ..cache import DayCache
from ..logs import ctx
from ..metrics import INGEST_UPLOADS, STAGE_SECONDS
from ..models import ParsedDay, RowStatus, SalesCorrected, SalesRejected, SalesStored, UploadRecord
from ..storage.db import Pool
from ..storage.uploads import find_uploads, record_batch
from ..xmlhead import HeadRefused, precheck
from .bigday import BigDays
from .correct import Corrector, routed
from .decide import (
    Policy,
    RawUpload,
    duplicate,
    judge,
    lost_day,
    outcome_event,
    rejected_early,
    replay_event,
)
from .parse import parse_day

__all__ = ["Event", "IngestService", "Publish"]

log = logging.getLogger("sales_analyzer.ingest")

Event = SalesStored | SalesRejected | SalesCorrected
Publish = Callable[[Sequence[tuple[str, str, Event]]], Awaitable[None]]


class IngestService:
    def __init__(
        self,
        *,
        pool: Pool,
        cache: DayCache,
        publish: Publish,
        policy: Policy,
        max_products: int,
        incomplete_seconds: float = 900.0,
        open_idle_seconds: float = 30.0,
    ) -> None:
        self._pool = pool
        self._cache = cache
        self._publish = publish
        self._policy = policy
        self._max_products = max_products
        self._big = BigDays(
            pool=pool,
            cache=cache,
            policy=policy,
            max_products=max_products,
            incomplete_seconds=incomplete_seconds,
            open_idle_seconds=open_idle_seconds,
        )
        self._corrector = Corrector(pool=pool, cache=cache, policy=policy, parse=self._parse_one)

    async def handle(self, raws: Sequence[RawUpload]) -> None:
        run: list[RawUpload] = []
        for raw in raws:
            if not (raw.replace and raw.part == "day"):  # a big day's pieces: see _handle_uploads
                run.append(raw)
                continue
            if run:
                await self._handle_uploads(run)
                run = []
            await self._handle_correction(raw)
        if run:
            await self._handle_uploads(run)

    async def _handle_correction(self, raw: RawUpload) -> None:
        started = time.perf_counter()
        outcome, events = await self._corrector.handle(raw, now=dt.datetime.now(dt.UTC))
        await self._publish(events)
        if outcome != "replayed":
            INGEST_UPLOADS.labels(status="stored" if outcome == "corrected" else outcome).inc()
        _log(outcome, raw, correction=True)
        STAGE_SECONDS.labels(stage="ingest_batch").observe(time.perf_counter() - started)

    async def _handle_uploads(self, raws: Sequence[RawUpload]) -> None:
        started = time.perf_counter()
        # Pieces of big days (chunks, manifests) go their own way, after the whole days.
        pieces = [r for r in raws if r.part != "day"]
        if pieces:
            raws = [r for r in raws if r.part == "day"]
        if raws:
            await self._big.make_way({r.key for r in raws if r.key})
        events = await self._handle_days(raws) if raws else []
        if pieces:
            events.extend(routed(e) for e in await self._big.handle(pieces))
        await self._publish(events)
        STAGE_SECONDS.labels(stage="ingest_batch").observe(time.perf_counter() - started)

    async def close(self) -> None:
        await self._big.close()

    async def sweep(self, *, partitions: set[int] | None = None) -> None:
        """Refuse big days whose manifest never came (see bigday.BigDays.sweep)."""
        events = await self._big.sweep(partitions=partitions)
        if events:
            await self._publish([routed(e) for e in events])

    async def _handle_days(self, raws: Sequence[RawUpload]) -> list[tuple[str, str, Event]]:
        now = dt.datetime.now(dt.UTC)
        events: list[tuple[str, str, Event]] = []

        # 1. Redeliveries of uploads that were already recorded, and repeats in this batch.
        known = await find_uploads(self._pool, [r.upload_id for r in raws])
        fresh: dict[Any, RawUpload] = {}  # the first delivery of each upload new to PostgreSQL
        repeats: list[RawUpload] = []  # a further delivery of one of those, in this batch
        for raw in raws:
            if raw.upload_id in known:
                events.append(routed(replay_event(known[raw.upload_id])))
                _log("replayed", raw, status=known[raw.upload_id].status)
            elif raw.upload_id in fresh:
                repeats.append(raw)
            else:
                fresh[raw.upload_id] = raw
        # A crash after the commit but before step 5 left Redis behind: redo step 5
        # for the replayed uploads (both operations are idempotent), before step 2
        # claims days, so a stale claim of a rejected upload is not taken for a holder.
        await self._settle_redis([(u.upload_id, u.status, u.sales_date) for u in known.values()])

        # 2. The cheap check for the date, then the Redis claim of each day.
        records: dict[Any, UploadRecord] = {}
        dated: list[tuple[RawUpload, dt.date]] = []
        for raw in fresh.values():
            head = precheck(raw.data)
            if isinstance(head, HeadRefused):
                records[raw.upload_id] = rejected_early(raw, head.issue)
            else:
                dated.append((raw, head.sales_date))
        holders = await self._cache.claim((d.isoformat(), str(r.upload_id)) for r, d in dated)
        in_batch = {str(upload_id) for upload_id in fresh}
        # A day held by another upload is a duplicate only once it is stored: the holder
        # may be an upload still in flight (the gateway claims a day before publishing)
        # that may yet be rejected, or one whose gateway died before publishing.
        foreign = {
            d.isoformat()
            for (r, d), h in zip(dated, holders, strict=True)
            if h != str(r.upload_id) and h not in in_batch
        }
        settled = (await self._cache.stored_among(foreign) or set()) if foreign else set()
        claimed = []
        for (raw, day), _holder in zip(dated, holders, strict=True):
            # A day claimed by an upload of this very batch, or by one in flight, is not
            # settled yet: parse this one too and let PostgreSQL's unique day pick the
            # first valid upload.
            if day.isoformat() not in settled:
                claimed.append(raw)
            else:
                records[raw.upload_id] = duplicate(raw, day)

        # 3. Full parse and validation, off the event loop (lxml holds the GIL only in parts,
        #    but a 50k-product day must not starve the consumer's heartbeats).
        parsed = await anyio.to_thread.run_sync(self._parse_all, [r.data for r in claimed])
        for raw, parsed_day in zip(claimed, parsed, strict=True):
            records[raw.upload_id] = judge(raw, parsed_day, policy=self._policy)

        # 4. One transaction for the whole batch (candidates that lose their day to
        #    PostgreSQL become duplicates there).
        ordered = [records[upload_id] for upload_id in fresh]
        async with record_batch(self._pool) as batch:
            lost = await batch.write(ordered)
            if lost:
                for upload_id in lost:
                    records[upload_id] = lost_day(records[upload_id])
                ordered = [records[upload_id] for upload_id in fresh]
                await batch.mark_duplicates([records[upload_id] for upload_id in lost])

        # 5. Tell the gateway's stored-days set; give back the claims of uploads that
        #    did not store their day (release only deletes a claim the upload holds).
        await self._settle_redis([(r.upload_id, r.status, r.sales_date) for r in ordered])

        # 6. Events, confirmed by Kafka before the offsets are committed.
        for rec in ordered:
            events.append(routed(outcome_event(rec, now=now)))
            INGEST_UPLOADS.labels(status=rec.status).inc()
            _log(
                rec.status,
                fresh[rec.upload_id],
                sales_date=rec.sales_date,
                errors=len(rec.errors),
                products=len(rec.lines),
            )
        # Every delivery is answered, as a redelivery in a later batch would be: the
        # repeat announces the very same event (same event_id), stored nothing twice.
        for raw in repeats:
            events.append(routed(outcome_event(records[raw.upload_id], now=now)))
            _log("replayed", raw, status=records[raw.upload_id].status)
        return events

    async def _settle_redis(
        self, outcomes: Sequence[tuple[Any, RowStatus, dt.date | None]]
    ) -> None:
        await self._cache.add_stored(
            d.isoformat() for _, status, d in outcomes if status == "stored" and d
        )
        await self._cache.release(
            (d.isoformat(), str(i)) for i, status, d in outcomes if status != "stored" and d
        )

    def _parse_all(self, bodies: list[bytes]) -> list[ParsedDay]:
        return [parse_day(b, max_products=self._max_products) for b in bodies]

    async def _parse_one(self, body: bytes) -> ParsedDay:
        return (await anyio.to_thread.run_sync(self._parse_all, [body]))[0]


def _log(what: str, raw: RawUpload, **extra: Any) -> None:
    p = raw.position
    log.info(
        what,
        extra=ctx(
            upload_id=raw.upload_id, topic=p.topic, partition=p.partition, offset=p.offset, **extra
        ),
    )

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
from uuid import UUID

import anyio

from ..cache import DayCache
from ..logs import ctx
from ..metrics import INGEST_UPLOADS, STAGE_SECONDS
from ..models import ParsedDay, SalesCorrected, SalesRejected, SalesStored, UploadRecord
from ..storage.db import Pool
from ..storage.uploads import find_uploads, record_batch
from ..xmlhead import HeadRefused, precheck
from .bigday import BigDays
from .claims import DayClaims
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
        self._publish = publish
        self._policy = policy
        self._max_products = max_products
        self._claims = DayClaims(cache)  # the one claim of a day, for every way it is written
        self._big = BigDays(
            pool=pool,
            claims=self._claims,
            policy=policy,
            max_products=max_products,
            incomplete_seconds=incomplete_seconds,
            open_idle_seconds=open_idle_seconds,
        )
        self._corrector = Corrector(
            pool=pool, claims=self._claims, policy=policy, parse=self._parse_one
        )

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
        events, fresh, repeats = await self._redeliveries(raws)
        records, claimed = await self._claim(fresh)
        records.update(await self._judge(claimed))
        ordered = await self._write(fresh, records)
        # 5. Tell the gateway's stored-days set; give back the claims of uploads that
        #    did not store their day (release only deletes a claim the upload holds).
        await self._claims.settle((r.upload_id, r.status, r.sales_date) for r in ordered)
        return events + self._announce(ordered, fresh, repeats, records, now=now)

    async def _redeliveries(
        self, raws: Sequence[RawUpload]
    ) -> tuple[list[tuple[str, str, Event]], dict[UUID, RawUpload], list[RawUpload]]:
        """1. Redeliveries of uploads that were already recorded (answered as before), the
        first delivery of each upload new to PostgreSQL, and repeats of those in this batch."""
        events: list[tuple[str, str, Event]] = []
        known = await find_uploads(self._pool, [r.upload_id for r in raws])
        fresh: dict[UUID, RawUpload] = {}
        repeats: list[RawUpload] = []
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
        await self._claims.settle((u.upload_id, u.status, u.sales_date) for u in known.values())
        return events, fresh, repeats

    async def _claim(
        self, fresh: dict[UUID, RawUpload]
    ) -> tuple[dict[UUID, UploadRecord], list[RawUpload]]:
        """2. The cheap check for the date, then the Redis claim of each day: the records
        decided already (refused by the head, duplicates) and the uploads to parse."""
        records: dict[UUID, UploadRecord] = {}
        dated: list[tuple[RawUpload, dt.date]] = []
        for raw in fresh.values():
            head = precheck(raw.data)
            if isinstance(head, HeadRefused):
                records[raw.upload_id] = rejected_early(raw, head.issue)
            else:
                dated.append((raw, head.sales_date))
        # A day claimed by an upload of this very batch, or by one in flight, is not
        # settled yet: parse this one too and let PostgreSQL's unique day pick the
        # first valid upload.
        settled = await self._claims.claim(((d, r.upload_id) for r, d in dated), allies=fresh)
        claimed = []
        for raw, day in dated:
            if day in settled:
                records[raw.upload_id] = duplicate(raw, day)
            else:
                claimed.append(raw)
        return records, claimed

    async def _judge(self, claimed: list[RawUpload]) -> dict[UUID, UploadRecord]:
        """3. Full parse and validation, off the event loop (lxml holds the GIL only in parts,
        but a 50k-product day must not starve the consumer's heartbeats)."""
        parsed = await anyio.to_thread.run_sync(self._parse_all, [r.data for r in claimed])
        return {
            raw.upload_id: judge(raw, parsed_day, policy=self._policy)
            for raw, parsed_day in zip(claimed, parsed, strict=True)
        }

    async def _write(
        self, fresh: dict[UUID, RawUpload], records: dict[UUID, UploadRecord]
    ) -> list[UploadRecord]:
        """4. One transaction for the whole batch (candidates that lose their day to
        PostgreSQL become duplicates there); the records as written, in delivery order."""
        ordered = [records[upload_id] for upload_id in fresh]
        async with record_batch(self._pool) as batch:
            lost = await batch.write(ordered)
            if lost:
                for upload_id in lost:
                    records[upload_id] = lost_day(records[upload_id])
                await batch.mark_duplicates([records[upload_id] for upload_id in lost])
        return [records[upload_id] for upload_id in fresh]

    def _announce(
        self,
        ordered: list[UploadRecord],
        fresh: dict[UUID, RawUpload],
        repeats: list[RawUpload],
        records: dict[UUID, UploadRecord],
        *,
        now: dt.datetime,
    ) -> list[tuple[str, str, Event]]:
        """6. Events, confirmed by Kafka before the offsets are committed."""
        events = []
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

"""Big days: the chunk protocol, the I/O around chunks.py (one chunk) and assemble.py
(the whole day).

Two state machines drive a big day. The chunk protocol (here), per upload:

    (none) --chunk--> staged --more chunks--> staged --manifest--> stored | rejected
    staged --no manifest within INCOMPLETE_UPLOAD_SECONDS--> rejected (incomplete_upload)
    rejected (incomplete_upload) --chunk of the same upload again--> (none): started over

and the open-day shortcut (ingest/open_days.py): a day whose chunks come in order
is written into sales_lines as they come, in one transaction the manifest commits.

For each record of the chunk protocol, in partition order:

* a chunk is validated off the event loop and staged (storage/staging.py), once:
  a redelivered chunk finds its row and changes nothing;
* the manifest makes the day whole: assemble.judge_staged decides from what was
  staged; a candidate claims its day in Redis (like a day sent whole), then
  storage.staged_days stores it in one transaction (the open day's commit, or
  store_staged_day from staging; or it tells that two chunks share product ids:
  those are judged and the day is stored without them, or refused under the strict
  policy);
* a correction (x-replace on its pieces) is staged the same way, without the open day;
  its manifest, if the day is valid, swaps the stored day for the staged one
  (ingest/correct.py correct_staged) and announces sales.stored and sales.corrected;
* uploads whose manifest never came are refused as ``incomplete_upload`` by
  sweep(), which the ingest app runs periodically, and their staging is dropped.

Returns the events to publish; the handler publishes them with the batch's own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

import anyio
from pydantic import ValidationError

from ..logs import ctx
from ..metrics import INGEST_UPLOADS
from ..models import ChunkManifest, Issue, SalesCorrected, SalesRejected, SalesStored, UploadRecord
from ..names import MAX_ISSUES_STORED, PART_CHUNK, PART_MANIFEST
from ..storage.db import Pool
from ..storage.staged_days import OpenDay, refuse_staged, store_staged_day
from ..storage.staging import (
    ChunkToStage,
    FastShape,
    StagedUpload,
    drop_table,
    duplicate_rows,
    forget_incomplete,
    orphan_tables,
    stage_chunk,
    staged,
    stale_uploads,
)
from ..storage.uploads import find_uploads
from .assemble import Verdict, incomplete, judge_staged, with_duplicates
from .chunks import ChunkResult, read_chunk
from .claims import DayClaims
from .correct import correct_staged, replayed
from .decide import BadPiece, Policy, RawUpload, lost_day, replay_event
from .open_days import OpenDays

__all__ = ["BigDays"]

log = logging.getLogger("sales_analyzer.ingest")


Event = SalesStored | SalesRejected | SalesCorrected


class BigDays:
    def __init__(
        self,
        *,
        pool: Pool,
        claims: DayClaims,
        policy: Policy,
        max_products: int,
        incomplete_seconds: float,
        open_idle_seconds: float = 30.0,
    ) -> None:
        self._pool = pool
        self._claims = claims
        self._policy = policy
        self._max_products = max_products
        self._incomplete_seconds = incomplete_seconds
        # Days being stored while their chunks come: the manifest then only commits.
        self._days = OpenDays(pool=pool, idle_seconds=open_idle_seconds)

    async def handle(self, raws: Sequence[RawUpload]) -> list[Event]:
        events: list[Event] = []
        await self._days.expire()
        known = await find_uploads(self._pool, list({r.upload_id for r in raws}))
        # An upload refused as incomplete (its sender went away) is sent again under the same
        # id when the client retries with its Idempotency-Key: its chunks start it over.
        for raw in raws:
            row = known.get(raw.upload_id)
            if (
                row is not None
                and raw.part == PART_CHUNK
                and row.status == "rejected"
                and row.errors
                and row.errors[0].get("code") == "incomplete_upload"
                and await forget_incomplete(self._pool, raw.upload_id)
            ):
                del known[raw.upload_id]
                _log("incomplete upload sent again", raw)
        chunks = [
            i
            for i, r in enumerate(raws)
            if r.part == PART_CHUNK and r.chunk_index >= 0 and r.upload_id not in known
        ]
        reading: dict[int, asyncio.Task[ChunkResult]] = {}
        try:
            await self._each(raws, known, chunks, reading, events)
        finally:
            for task in reading.values():  # a failure left a read running: let it go
                task.cancel()
        return events

    async def _each(
        self,
        raws: Sequence[RawUpload],
        known: dict[Any, Any],
        chunks: list[int],
        reading: dict[int, asyncio.Task[ChunkResult]],
        events: list[Event],
    ) -> None:
        for i, raw in enumerate(raws):
            row = known.get(raw.upload_id)
            if (
                row is not None
            ):  # recorded already: a chunk changes nothing, a manifest is answered again
                if raw.part != PART_CHUNK:
                    events.extend(
                        await replayed(self._pool, self._claims, row)
                        if raw.replace
                        else [replay_event(row)]
                    )
                continue
            if raw.part == PART_CHUNK and raw.chunk_index >= 0:
                # The next chunk is read (in a thread) while this one is written: PostgreSQL
                # works on the other core meanwhile. Two chunks in memory at most.
                task = reading.pop(i, None) or self._read(raw)
                later = [j for j in chunks if j > i]
                if later:
                    reading[later[0]] = self._read(raws[later[0]])
                await self._stage(raw, await task)
            elif raw.part == PART_MANIFEST:
                events.extend(await self._finish(raw))
                known.update(await find_uploads(self._pool, [raw.upload_id]))
            else:
                events.append(await self._refuse(raw, "bad_chunk", _bad_part(raw)))
                known.update(await find_uploads(self._pool, [raw.upload_id]))

    def _read(self, raw: RawUpload) -> asyncio.Task[ChunkResult]:
        return asyncio.create_task(
            anyio.to_thread.run_sync(
                lambda: read_chunk(
                    raw.data,
                    index=raw.chunk_index,
                    last=raw.last,
                    max_products=self._max_products,
                    max_issues=MAX_ISSUES_STORED,
                )
            )
        )

    async def _stage(self, raw: RawUpload, result: ChunkResult) -> None:
        fast = result.fast
        upload = _staged_upload(raw, sales_date=result.sales_date)
        staging = stage_chunk(
            self._pool,
            ChunkToStage(
                upload=upload,
                index=raw.chunk_index,
                is_last=raw.last,
                size=result.size,
                sha256=result.sha256,
                newlines=result.newlines,
                products_seen=result.products_seen,
                products_rejected=result.rejected,
                fatal=result.fatal,
                issues=result.issues,
                rows=result.rows,
                copy_text=fast.copy_text if fast is not None else None,
                valid=result.valid,
                fast=FastShape(fast.first_line, fast.lines_per_product)
                if fast is not None
                else None,
            ),
        )
        day = self._days.get(raw.upload_id)
        if day is not None and raw.chunk_index not in day.chunks:
            # The day is open and lacks this chunk: its two COPYs (staging, and sales_lines in
            # the open transaction) run at once on their two connections, so PostgreSQL works
            # on both cores (a 1 MiB chunk: ~45 ms one after the other, ~30 ms together).
            # Whether the chunk was staged before does not matter to the open day: it needs
            # every chunk's lines once, and day.chunks says which it has.
            done = await asyncio.gather(
                staging, self._days.add(raw, result, day), return_exceptions=True
            )
            for outcome in done:
                if isinstance(outcome, BaseException):
                    raise outcome
            fresh = done[0] is True
        else:
            fresh = await staging
            if (
                fresh and not raw.replace
            ):  # a correction's lines go in at its manifest (ingest/correct.py)
                await self._days.progress(raw, result)
        _log(
            "staged" if fresh else "chunk again",
            raw,
            chunk=raw.chunk_index,
            products=result.products_seen,
            lane="fast" if fast is not None else "xml",
        )

    async def make_way(self, keys: set[str]) -> None:
        """Whole days of these keys (dates) are about to be written (see OpenDays.make_way)."""
        await self._days.make_way(keys)

    async def close(self) -> None:
        """Roll back the open days (their connections go back to the pool before it closes)."""
        await self._days.close()

    async def _finish(self, raw: RawUpload) -> list[Event]:
        try:
            manifest = ChunkManifest.model_validate_json(raw.data)
        except ValidationError as exc:
            return [
                await self._refuse(
                    raw,
                    "bad_manifest",
                    f"the manifest is not a ChunkManifest: "
                    f"{exc.errors()[0]['msg'] if exc.errors() else exc}",
                )
            ]
        if manifest.upload_id != raw.upload_id:
            return [
                await self._refuse(
                    raw,
                    "bad_manifest",
                    "the manifest's upload_id differs from its x-upload-id header",
                )
            ]
        upload, chunks = await staged(self._pool, raw.upload_id)
        if upload is None:
            verdict = incomplete(
                f"none of the {manifest.chunks} chunks arrived", sales_date=manifest.sales_date
            )
            upload = _staged_upload(raw, sales_date=manifest.sales_date)
        else:
            verdict = judge_staged(
                manifest,
                upload.sales_date,
                chunks,
                policy=self._policy,
                max_products=self._max_products,
            )
        rec = _record(upload, verdict)
        started = time.perf_counter()
        # This upload's open day, if it has one; any other open on its date would hold
        # locks this day's lines need: rolled back.
        day = self._days.get(raw.upload_id)
        await self._days.clear_date(rec.sales_date, keep=day)
        if rec.status == "stored" and raw.replace:  # a correction: see _correct
            if day is not None:
                await self._days.abandon(day)
            corrected = await self._correct(raw, rec, chunks)
            if corrected is not None:
                return corrected
            await self._store(rec, chunks, None)  # no day to replace: stored as a new one
        elif rec.status == "stored":
            if day is not None and (not day.alive or day.chunks != {c.index for c in chunks}):
                await self._days.abandon(day)
                day = None
            await self._store(rec, chunks, day)
        else:
            if day is not None:
                await self._days.abandon(day)
            await refuse_staged(self._pool, rec)
            await self._release(rec)
        _log(
            "day assembled",
            raw,
            chunks=len(chunks),
            seconds=round(time.perf_counter() - started, 3),
        )
        return [await self._announce(rec, raw)]

    # --- corrections of big days (x-replace: true on every piece): ingest/correct.py ---
    async def _correct(
        self, raw: RawUpload, rec: UploadRecord, chunks: Sequence[Any]
    ) -> list[Event] | None:
        """The staged day replaces the stored one (None: no day stored, store it as new)."""
        started = time.perf_counter()
        events = await correct_staged(self._pool, self._claims, rec, chunks, policy=self._policy)
        if events is not None:
            status = "stored" if isinstance(events[0], SalesStored) else "rejected"
            INGEST_UPLOADS.labels(status=status).inc()
            _log(
                "corrected" if len(events) > 1 else status,
                raw,
                correction=True,
                sales_date=rec.sales_date,
                seconds=round(time.perf_counter() - started, 3),
            )
        return events

    async def _store(
        self, rec: UploadRecord, chunks: Sequence[Any], opened: OpenDay | None
    ) -> None:
        assert rec.sales_date is not None
        # Held by another upload: a duplicate only once that day is stored (ingest/claims.py).
        if await self._claims.claim([(rec.sales_date, rec.upload_id)]):
            if opened is not None:
                await self._days.abandon(opened)
            await refuse_staged(self._pool, lost_day(rec))
            return
        lost = lost_day(rec).errors
        if opened is not None:
            self._days.take(rec.upload_id)
            result = await opened.commit(rec)
            if result.outcome == "duplicate":  # rolled back: record the loss (and drop the staging)
                rec = lost_day(rec)
                await refuse_staged(self._pool, rec)
        else:
            result = await store_staged_day(self._pool, rec, if_lost=lost)
        if result.outcome == "duplicate_ids":
            dups = await duplicate_rows(self._pool, rec.upload_id)
            rec = with_duplicates(rec, dups, chunks, policy=self._policy)
            if rec.status == "rejected":
                await refuse_staged(self._pool, rec)
            else:
                result = await store_staged_day(
                    self._pool, rec, if_lost=lost, exclude=[d.seq for d in dups]
                )
        stored = rec.status == "stored" and result.outcome == "stored"
        await self._claims.settle(
            [(rec.upload_id, "stored" if stored else "rejected", rec.sales_date)]
        )

    async def _release(self, rec: UploadRecord) -> None:
        """Give back the day's claim of an upload that was not stored (the gateway claimed
        it at admission); release only deletes a claim this upload holds."""
        await self._claims.settle([(rec.upload_id, "rejected", rec.sales_date)])

    async def _refuse(self, raw: RawUpload, code: str, message: str) -> Event:
        rec = _record(
            _staged_upload(raw, sales_date=None),
            Verdict("rejected", None, len(raw.data), errors=[Issue(code=code, message=message)]),
        )
        await refuse_staged(self._pool, rec)
        return await self._announce(rec, raw)

    async def _announce(self, rec: UploadRecord, raw: RawUpload | None) -> Event:
        """The event of what is now recorded (read back: a concurrent finisher may have won)."""
        row = (await find_uploads(self._pool, [rec.upload_id]))[rec.upload_id]
        INGEST_UPLOADS.labels(status=row.status).inc()
        if raw is not None:
            _log(
                row.status,
                raw,
                sales_date=row.sales_date,
                errors=len(row.errors),
                products=row.products_stored,
            )
        return replay_event(row)

    async def sweep(self, *, partitions: set[int] | None = None) -> list[Event]:
        """Refuse uploads whose manifest never came; drop staging nobody owns.

        ``partitions``: of sales.raw, those consumed to the end; an upload on another one
        may still have its manifest in Kafka and is left alone (None: no such limit).
        """
        events: list[Event] = []
        await self._days.expire(
            self._incomplete_seconds
        )  # its sender paused, or its partition moved
        for upload in await stale_uploads(self._pool, idle_seconds=self._incomplete_seconds):
            if partitions is not None and upload.partition not in partitions:
                continue
            verdict = incomplete(
                f"no manifest came within {self._incomplete_seconds:g} s of the latest chunk; "
                "the upload was not finished (send it again)",
                sales_date=upload.sales_date,
            )
            rec = _record(upload, verdict)
            if await refuse_staged(self._pool, rec):
                await self._release(rec)
                events.append(await self._announce(rec, None))
                log.info(
                    "incomplete upload refused",
                    extra=ctx(upload_id=upload.upload_id, sales_date=upload.sales_date),
                )
        for table in await orphan_tables(self._pool):
            await drop_table(self._pool, table)
        return events


def _staged_upload(raw: RawUpload, *, sales_date: dt.date | None) -> StagedUpload:
    p = raw.position
    return StagedUpload(
        upload_id=raw.upload_id,
        sales_date=sales_date,
        source=raw.source,
        sender=raw.sender,
        topic=p.topic,
        partition=p.partition,
        offset=p.offset,
    )


def _record(upload: StagedUpload, verdict: Verdict) -> UploadRecord:
    return UploadRecord(
        upload_id=upload.upload_id,
        status=verdict.status,
        sales_date=verdict.sales_date,
        source=upload.source,
        sender=upload.sender,
        size_bytes=verdict.size,
        topic=upload.topic,
        partition=upload.partition,
        offset=upload.offset,
        products_seen=verdict.products_seen,
        products_rejected=verdict.products_rejected,
        errors=verdict.errors,
    )


def _bad_part(raw: RawUpload) -> str:
    if isinstance(raw.part, BadPiece):
        return raw.part.reason
    return "a chunk record needs an x-chunk-index header (0, 1, 2, …)"


def _log(what: str, raw: RawUpload, **extra: Any) -> None:
    p = raw.position
    log.info(
        what,
        extra=ctx(
            upload_id=raw.upload_id, topic=p.topic, partition=p.partition, offset=p.offset, **extra
        ),
    )

"""A correction (a sales.raw record with x-replace: true): replace a stored day.

The record goes through the same cheap check, parse and validation as any
upload. Invalid: it is recorded as rejected and the stored day stays as it is.
Valid: the day's lines are swapped in one transaction (storage/corrections.py),
the replaced upload becomes ``superseded`` with the audit, the day's claim in
Redis passes to the correction, and two events go out: ``sales.stored`` (the
day's new content, with ``supersedes``) and ``sales.corrected`` (what changed).
A correction of a day that is not stored stores it like any upload.

Redelivery: a correction already recorded announces the same events again
(same event ids) and changes nothing.

A big day's correction (chunks and a manifest, all with x-replace: true) is staged
like any big day (ingest/bigday.py); when its manifest makes it a valid candidate,
``correct_staged`` swaps the stored day for the staged one in one transaction
(storage.corrections.staged_swap, both sides read as streams for the diff) and
announces the same two events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

from ..errors import DayChanged
from ..models import (
    DayDiff,
    ParsedDay,
    SalesCorrected,
    SalesRejected,
    SalesStored,
    StoredUpload,
    UploadRecord,
)
from ..names import TOPIC_CORRECTED, TOPIC_REJECTED, TOPIC_STORED
from ..storage.corrections import (
    CorrectionRow,
    corrections_of,
    replace_day,
    staged_swap,
    stored_day,
)
from ..storage.db import Pool
from ..storage.staged_days import refuse_staged
from ..storage.staging import StagedChunk, duplicate_rows, staged_table
from ..storage.uploads import find_uploads, record_batch
from ..xmlhead import HeadRefused, precheck
from .assemble import with_duplicates
from .claims import DayClaims
from .decide import (
    Policy,
    RawUpload,
    corrected_event,
    judge,
    outcome_event,
    rejected_early,
    replay_event,
)
from .diff import by_product, diff_days, diff_streams

__all__ = ["Corrector", "Routed", "correct_staged", "replayed", "routed"]

Event = SalesStored | SalesRejected | SalesCorrected
Routed = tuple[str, str, Event]


def routed(event: Event) -> Routed:
    """The topic and key an ingest event goes out with."""
    topic = (
        TOPIC_STORED
        if isinstance(event, SalesStored)
        else TOPIC_CORRECTED
        if isinstance(event, SalesCorrected)
        else TOPIC_REJECTED
    )
    key = event.sales_date.isoformat() if event.sales_date else "unknown"
    return topic, key, event


async def _record(pool: Pool, rec: UploadRecord) -> None:
    """Write a correction that replaces nothing: a rejection, or a day that was not stored."""
    async with record_batch(pool) as batch:
        if await batch.write([rec]):
            # The day was free when read and is taken now: another consumer stored it in
            # between (a rebalance). Abort the transaction; the redone batch replaces it.
            raise DayChanged(
                f"{rec.sales_date} was stored by someone else while it was being corrected"
            )


class Corrector:
    def __init__(
        self,
        *,
        pool: Pool,
        claims: DayClaims,
        policy: Policy,
        parse: Callable[[bytes], Awaitable[ParsedDay]],
    ) -> None:
        self._pool = pool
        self._claims = claims
        self._policy = policy
        self._parse = parse

    async def handle(self, raw: RawUpload, *, now: dt.datetime) -> tuple[str, list[Routed]]:
        """Record one correction; return its outcome (stored, rejected, replayed) and its events."""
        known = (await find_uploads(self._pool, [raw.upload_id])).get(raw.upload_id)
        if known is not None:
            return "replayed", await self._replay(known)
        head = precheck(raw.data)
        if isinstance(head, HeadRefused):
            rec = rejected_early(raw, head.issue)
        else:
            rec = judge(raw, await self._parse(raw.data), policy=self._policy)
        if rec.status != "stored" or rec.sales_date is None:
            await _record(self._pool, rec)  # the stored day is not touched
            # A claim this upload may hold (only its own is released).
            await self._claims.settle([(rec.upload_id, rec.status, rec.sales_date)])
            return rec.status, [routed(outcome_event(rec, now=now))]

        day = rec.sales_date
        old = await stored_day(self._pool, day)
        if old is None:  # nothing to replace: stored as a new day
            await _record(self._pool, rec)
            await self._claims.own(day, rec.upload_id)
            return rec.status, [routed(outcome_event(rec, now=now))]
        diff = diff_days(old.lines, by_product(rec.lines))
        at = await replace_day(self._pool, rec, superseded=old.upload_id, diff=diff)
        await self._claims.own(day, rec.upload_id)
        return "corrected", [
            routed(outcome_event(rec, now=now, supersedes=old.upload_id)),
            routed(
                corrected_event(
                    upload_id=rec.upload_id,
                    superseded=old.upload_id,
                    sales_date=day,
                    sender=rec.sender,
                    at=at,
                    diff=diff,
                )
            ),
        ]

    async def _replay(self, known: StoredUpload) -> list[Routed]:
        return [routed(e) for e in await replayed(self._pool, self._claims, known)]


async def replayed(pool: Pool, claims: DayClaims, known: StoredUpload) -> list[Event]:
    """The events of a correction recorded already (same event ids); Redis set right again."""
    made: dict[UUID, CorrectionRow] = {}
    if known.status in ("stored", "superseded"):
        made = {c.upload_id: c for c in await corrections_of(pool, [known.upload_id])}
    row = made.get(known.upload_id)
    events: list[Event] = [
        replay_event(known, supersedes=row.superseded_upload_id if row else None)
    ]
    if row is not None:
        events.append(
            corrected_event(
                upload_id=row.upload_id,
                superseded=row.superseded_upload_id,
                sales_date=row.sales_date,
                sender=row.sender,
                at=row.corrected_at,
                diff=DayDiff.model_validate(row.diff),
            )
        )
    if known.status == "stored" and known.sales_date is not None:
        await claims.own(known.sales_date, known.upload_id)  # a crash may have come before Redis
    return events


async def correct_staged(
    pool: Pool,
    claims: DayClaims,
    rec: UploadRecord,
    chunks: Sequence[StagedChunk],
    *,
    policy: Policy,
) -> list[Event] | None:
    """A big day's correction, its manifest come and the staged day a valid candidate (``rec``).

    The stored day is swapped for the staged lines in one transaction (the diff read from
    both as streams), the old upload superseded with the audit; returns sales.stored (with
    supersedes) and sales.corrected. Product ids staged twice are left out (issues), or, under
    the strict policy, refuse the correction: recorded as rejected, the stored day untouched,
    only this upload's claim released. None: no day is stored, the caller stores it as new.
    """
    assert rec.sales_date is not None and rec.status == "stored"
    day = rec.sales_date
    dups = await duplicate_rows(pool, rec.upload_id)
    if dups:
        rec = with_duplicates(rec, dups, chunks, policy=policy)
        if rec.status == "rejected":
            await refuse_staged(pool, rec)
            await claims.settle([(rec.upload_id, rec.status, day)])
            return await _recorded(pool, claims, rec.upload_id)
    table = staged_table(rec.upload_id)
    async with staged_swap(pool, day, table=table, exclude=[d.seq for d in dups]) as swap:
        if swap.owner is None:
            return None
        if swap.owner != rec.upload_id:  # (owned by this upload: a concurrent finisher won)
            diff = await diff_streams(swap.old_lines(), swap.new_lines())
            await swap.replace(rec, diff=diff)
    await refuse_staged(pool, rec)  # the row is written: this only drops the staging
    return await _recorded(pool, claims, rec.upload_id)


async def _recorded(pool: Pool, claims: DayClaims, upload_id: UUID) -> list[Event]:
    known = (await find_uploads(pool, [upload_id]))[upload_id]
    return await replayed(pool, claims, known)

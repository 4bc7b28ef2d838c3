"""Corrections: a stored day's content swapped for a new upload's, with its audit.

Ingest reads the day as stored (``stored_day``), computes the diff (a pure
function, ingest/diff.py) and hands both to ``replace_day``, which swaps the
lines in one transaction (storage/days.py replace_day_lines, the one replacer): readers see the old day or the new one, never a mix.
The transaction first locks the day's row and checks that its owner is still
the upload that was read; if another consumer replaced it in between it raises
DayChanged and the batch is redone. The reporter marks reports stale
(``mark_stale``) and reads which later days depend on a corrected one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from ..errors import DayChanged
from ..events import DayDiff
from ..models import SalesLine, UploadRecord
from .days import FromStaging, InMemory, lock_day, replace_day_lines
from .db import Connection, translate_errors

__all__ = [
    "CorrectionRow",
    "StagedSwap",
    "StoredDay",
    "corrections_of",
    "mark_stale",
    "replace_day",
    "staged_swap",
    "stored_day",
    "stored_days_between",
]
# Lines per round trip when a big day is read as a stream (~1 MB of rows).
_PREFETCH = 5000


@dataclass(frozen=True, slots=True)
class StoredDay:
    upload_id: UUID  # the upload that owns the day now
    lines: list[SalesLine]  # by product id


@dataclass(frozen=True, slots=True)
class CorrectionRow:
    upload_id: UUID  # the correcting upload
    superseded_upload_id: UUID
    sales_date: dt.date
    sender: str | None
    corrected_at: dt.datetime
    diff: dict[str, Any]  # models.DayDiff as JSON


async def stored_day(pool: asyncpg.Pool, sales_date: dt.date) -> StoredDay | None:
    """The day's owner and lines, read in one snapshot; None when the day is not stored."""
    async with (
        translate_errors("stored_day"),
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        owner = await conn.fetchval(
            "SELECT upload_id FROM sales_days WHERE sales_date = $1", sales_date
        )
        if owner is None:
            return None
        rows = await conn.fetch(
            "SELECT product_id, name, category, quantity, price FROM sales_lines "
            "WHERE sales_date = $1 ORDER BY product_id",
            sales_date,
        )
    return StoredDay(
        owner,
        [
            SalesLine(r["product_id"], r["name"], r["category"], r["quantity"], r["price"])
            for r in rows
        ],
    )


async def replace_day(
    pool: asyncpg.Pool, record: UploadRecord, *, superseded: UUID, diff: DayDiff
) -> dt.datetime:
    """Swap the day's lines for the record's, in one transaction; return when it happened
    (storage/days.py replace_day_lines). DayChanged if the day's owner is no longer
    ``superseded``."""
    assert record.sales_date is not None and record.status == "stored"
    day = record.sales_date
    async with translate_errors("replace_day"), pool.acquire() as conn, conn.transaction():
        owner = await lock_day(conn, day)
        if owner != superseded:
            raise DayChanged(
                f"{day} is now owned by {owner}, not {superseded}: the correction is redone"
            )
        return await replace_day_lines(
            conn, record, superseded=superseded, diff=diff, lines=InMemory(record.lines)
        )


async def _lines(conn: Connection, query: str, *args: Any) -> AsyncIterator[SalesLine]:
    # A cursor fetches in pieces: a day of a million lines never sits in memory whole.
    async for r in conn.cursor(query, *args, prefetch=_PREFETCH):
        yield SalesLine(r["product_id"], r["name"], r["category"], r["quantity"], r["price"])


class StagedSwap:
    """A staged big day replacing a stored day, inside one transaction (``staged_swap``): the
    caller reads both sides' lines as streams for the diff, then calls ``replace``."""

    def __init__(
        self,
        conn: Connection,
        day: dt.date,
        owner: UUID | None,
        table: str,
        exclude: Sequence[int],
    ) -> None:
        self._conn = conn
        self._day = day
        self.owner = owner  # the upload that owns the day now (its row is locked), None: not stored
        self._staged = FromStaging(table, list(exclude))
        self._from = f"FROM {table} WHERE seq <> ALL($1::bigint[])"
        self._exclude = list(exclude)

    def old_lines(self) -> AsyncIterator[SalesLine]:
        return _lines(
            self._conn,
            "SELECT product_id, name, category, quantity, price FROM sales_lines "
            "WHERE sales_date = $1 ORDER BY product_id",
            self._day,
        )

    def new_lines(self) -> AsyncIterator[SalesLine]:
        return _lines(
            self._conn,
            f"SELECT product_id, name, category, quantity, price {self._from} "
            "ORDER BY product_id, seq",
            self._exclude,
        )

    async def replace(self, record: UploadRecord, *, diff: DayDiff) -> dt.datetime:
        """Swap the lines for the staged ones and supersede the owner (see replace_day)."""
        assert self.owner is not None and record.sales_date == self._day
        return await replace_day_lines(
            self._conn, record, superseded=self.owner, diff=diff, lines=self._staged
        )


@asynccontextmanager
async def staged_swap(
    pool: asyncpg.Pool, day: dt.date, *, table: str, exclude: Sequence[int] = ()
) -> AsyncIterator[StagedSwap]:
    """One transaction around a staged day's replacement; ``table`` is the staging table
    (schema-qualified, quoted) with the columns seq, product_id, name, category, quantity, price."""
    async with translate_errors("staged_swap"), pool.acquire() as conn, conn.transaction():
        yield StagedSwap(conn, day, await lock_day(conn, day), table, exclude)


_SELECT = (
    "SELECT upload_id, superseded_upload_id, sales_date, sender, corrected_at, diff FROM corrections "
    "WHERE upload_id = ANY($1::uuid[]) OR superseded_upload_id = ANY($1::uuid[])"
)


async def corrections_of(pool: asyncpg.Pool, ids: list[UUID]) -> list[CorrectionRow]:
    """The corrections these uploads made or suffered."""
    async with translate_errors("corrections_of"):
        rows = await pool.fetch(_SELECT, ids)
    return [CorrectionRow(**dict(r)) for r in rows]


async def mark_stale(
    pool: asyncpg.Pool, *, correction: UUID, last_day: dt.date, own_reason: str, later_reason: str
) -> list[dt.date]:
    """Mark stale the reports written before this correction of the corrected day and of the
    days after it up to ``last_day``; return the days whose reports were marked."""
    async with translate_errors("mark_stale"):
        rows = await pool.fetch(
            "UPDATE reports r SET stale_reason = CASE WHEN r.sales_date = c.sales_date THEN $3 ELSE $4 END,"
            " stale_at = now() FROM corrections c "
            "WHERE c.upload_id = $1 AND r.sales_date BETWEEN c.sales_date AND $2 "
            " AND r.created_at < c.corrected_at AND r.upload_id <> c.upload_id AND r.stale_reason IS NULL"
            " AND r.status <> 'pending' "
            "RETURNING r.sales_date",
            correction,
            last_day,
            own_reason,
            later_reason,
        )
    return sorted({r["sales_date"] for r in rows})


async def stored_days_between(
    pool: asyncpg.Pool, first: dt.date, last: dt.date
) -> list[tuple[dt.date, UUID]]:
    """The stored days in [first, last] and their owners, by date."""
    async with translate_errors("stored_days_between"):
        rows = await pool.fetch(
            "SELECT sales_date, upload_id FROM sales_days WHERE sales_date BETWEEN $1 AND $2 "
            "ORDER BY sales_date",
            first,
            last,
        )
    return [(r["sales_date"], r["upload_id"]) for r in rows]

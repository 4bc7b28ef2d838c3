"""Corrections: a stored day's content swapped for a new upload's, with its audit.

Ingest reads the day as stored (``stored_day``), computes the diff (a pure
function, ingest/diff.py) and hands both to ``replace_day``, which swaps the
lines in one transaction: readers see the old day or the new one, never a mix.
The transaction first locks the day's row and checks that its owner is still
the upload that was read; if another consumer replaced it in between it raises
DayChanged and the batch is redone. The reporter marks reports stale
(``mark_stale``) and reads which later days depend on a corrected one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from ..errors import DayChanged
from ..models import DayDiff, SalesLine, UploadRecord
from .db import translate_errors
from .uploads import insert_uploads

__all__ = ["StoredDay", "CorrectionRow", "stored_day", "replace_day", "corrections_of", "mark_stale",
           "stored_days_between"]

_LINE_COLUMNS = ["sales_date", "product_id", "name", "category", "quantity", "price"]


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
    async with translate_errors("stored_day"), pool.acquire() as conn, \
            conn.transaction(isolation="repeatable_read", readonly=True):
        owner = await conn.fetchval("SELECT upload_id FROM sales_days WHERE sales_date = $1", sales_date)
        if owner is None:
            return None
        rows = await conn.fetch("SELECT product_id, name, category, quantity, price FROM sales_lines "
                                "WHERE sales_date = $1 ORDER BY product_id", sales_date)
    return StoredDay(owner, [SalesLine(r["product_id"], r["name"], r["category"], r["quantity"], r["price"])
                             for r in rows])


async def replace_day(pool: asyncpg.Pool, record: UploadRecord, *, superseded: UUID,
                      diff: DayDiff) -> dt.datetime:
    """Swap the day's lines for the record's, in one transaction; return when it happened.

    The record's upload row is written as stored, the superseded upload's row turns
    ``superseded`` and the audit row is written. DayChanged if the day's owner is no
    longer ``superseded``.
    """
    assert record.sales_date is not None and record.status == "stored"
    day = record.sales_date
    async with translate_errors("replace_day"), pool.acquire() as conn, conn.transaction():
        owner = await conn.fetchval("SELECT upload_id FROM sales_days WHERE sales_date = $1 FOR UPDATE", day)
        if owner != superseded:
            raise DayChanged(f"{day} is now owned by {owner}, not {superseded}: the correction is redone")
        await insert_uploads(conn, [record])
        await conn.execute("DELETE FROM sales_lines WHERE sales_date = $1", day)
        await conn.execute(
            "UPDATE sales_days SET upload_id = $2, products = $3, total_units = $4, total_revenue = $5,"
            " stored_at = now() WHERE sales_date = $1",
            day, record.upload_id, len(record.lines), record.total_units, record.total_revenue)
        await conn.copy_records_to_table(
            "sales_lines", columns=_LINE_COLUMNS,
            records=[(day, ln.product_id, ln.name, ln.category, ln.quantity, ln.price) for ln in record.lines])
        await conn.execute("UPDATE uploads SET status = 'superseded', updated_at = now() WHERE upload_id = $1",
                           superseded)
        at: dt.datetime = await conn.fetchval(
            "INSERT INTO corrections (upload_id, superseded_upload_id, sales_date, sender, revenue_before,"
            " revenue_after, diff) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING corrected_at",
            record.upload_id, superseded, day, record.sender, diff.revenue_before, diff.revenue_after,
            diff.model_dump(mode="json"))
    return at


_SELECT = ("SELECT upload_id, superseded_upload_id, sales_date, sender, corrected_at, diff FROM corrections "
           "WHERE upload_id = ANY($1::uuid[]) OR superseded_upload_id = ANY($1::uuid[])")


async def corrections_of(pool: asyncpg.Pool, ids: list[UUID]) -> list[CorrectionRow]:
    """The corrections these uploads made or suffered."""
    async with translate_errors("corrections_of"):
        rows = await pool.fetch(_SELECT, ids)
    return [CorrectionRow(**dict(r)) for r in rows]


async def mark_stale(pool: asyncpg.Pool, *, correction: UUID, last_day: dt.date, own_reason: str,
                     later_reason: str) -> list[dt.date]:
    """Mark stale the reports written before this correction of the corrected day and of the
    days after it up to ``last_day``; return the days whose reports were marked."""
    async with translate_errors("mark_stale"):
        rows = await pool.fetch(
            "UPDATE reports r SET stale_reason = CASE WHEN r.sales_date = c.sales_date THEN $3 ELSE $4 END,"
            " stale_at = now() FROM corrections c "
            "WHERE c.upload_id = $1 AND r.sales_date BETWEEN c.sales_date AND $2 "
            " AND r.created_at < c.corrected_at AND r.upload_id <> c.upload_id AND r.stale_reason IS NULL"
            " AND r.status <> 'pending' "
            "RETURNING r.sales_date", correction, last_day, own_reason, later_reason)
    return sorted({r["sales_date"] for r in rows})


async def stored_days_between(pool: asyncpg.Pool, first: dt.date, last: dt.date) -> list[dt.date]:
    """The stored days in [first, last], by date."""
    async with translate_errors("stored_days_between"):
        rows = await pool.fetch("SELECT sales_date FROM sales_days WHERE sales_date BETWEEN $1 AND $2 "
                                "ORDER BY sales_date", first, last)
    return [r["sales_date"] for r in rows]

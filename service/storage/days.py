"""A day's writes: the one place that stores a day, marks the uploads that lost theirs,
and replaces a stored day's lines.

A day's lines come from one of three places: rows in memory (a day sent whole,
``InMemory``), a staging table (a big day at its manifest, ``FromStaging``), or
sales_lines itself, written already in the very transaction (a big day stored while
its chunks came, ``Written``). Whatever they come from, ``store_days`` stores the day
(its sales_days row is the one claim PostgreSQL settles: the primary key on the date);
``mark_duplicates`` records the uploads that lost their day; ``replace_day_lines``
swaps a stored day's lines for a correction's. Every function runs inside the
caller's transaction, which decides what commits together.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from ..events import DayDiff
from ..models import SalesLine, UploadRecord
from .db import Connection, issues_json
from .staging import FAST_COLUMNS, ChunkLines, FastLines

__all__ = [
    "FromStaging",
    "InMemory",
    "Lines",
    "Totals",
    "Written",
    "append_lines",
    "insert_uploads",
    "lock_day",
    "mark_duplicates",
    "replace_day_lines",
    "store_days",
]

_LINE_COLUMNS = ["sales_date", "product_id", "name", "category", "quantity", "price"]


@dataclass(frozen=True, slots=True)
class InMemory:
    """The lines are rows in memory."""

    lines: Sequence[SalesLine]


@dataclass(frozen=True, slots=True)
class FromStaging:
    """The lines are in a staging table (schema-qualified, quoted; columns seq, product_id,
    name, category, quantity, price), but for the rows ``exclude`` (seq)."""

    table: str
    exclude: Sequence[int] = ()

    def source(self, first: int) -> tuple[str, list[Any]]:
        """The FROM clause and its arguments (from the parameter ``$first`` on)."""
        if not self.exclude:
            return f"FROM {self.table}", []
        return f"FROM {self.table} WHERE seq <> ALL(${first}::bigint[])", [list(self.exclude)]


@dataclass(frozen=True, slots=True)
class Written:
    """The lines are in sales_lines already, written in this transaction; ``table`` is the
    staging table that holds the same lines (their totals are counted there)."""

    table: str


Lines = InMemory | FromStaging | Written


@dataclass(frozen=True, slots=True)
class Totals:
    products: int
    units: int
    revenue: Decimal


_INSERT_UPLOADS = """
INSERT INTO uploads (upload_id, status, sales_date, source, sender, size_bytes, products_seen,
                     products_stored, products_rejected, errors, kafka_topic, kafka_partition,
                     kafka_offset)
SELECT u, s, d, src, snd, sz, seen, kept, dropped, err::jsonb, t, p, o
FROM unnest($1::uuid[], $2::text[], $3::date[], $4::text[], $5::text[], $6::int[], $7::int[],
            $8::int[], $9::int[], $10::text[], $11::text[], $12::int[], $13::bigint[])
     AS x(u, s, d, src, snd, sz, seen, kept, dropped, err, t, p, o)
ON CONFLICT (upload_id) DO NOTHING
RETURNING upload_id
"""


async def insert_uploads(conn: Connection, records: Sequence[UploadRecord]) -> set[UUID]:
    """The uploads rows of these records; rows that exist already stay as they are. Returns
    the ids whose row was written now."""
    rows = await conn.fetch(
        _INSERT_UPLOADS,
        [r.upload_id for r in records],
        [r.status for r in records],
        [r.sales_date for r in records],
        [r.source for r in records],
        [r.sender for r in records],
        # An integer column: a day over 2 GiB is capped there (MAX_UPLOAD_BYTES is 1 GiB).
        [min(r.size_bytes, 2**31 - 1) for r in records],
        [r.products_seen for r in records],
        [len(r.lines) if r.status == "stored" else 0 for r in records],
        [r.products_rejected for r in records],
        [issues_json(r.errors) for r in records],
        [r.topic for r in records],
        [r.partition for r in records],
        [r.offset for r in records],
    )
    return {r["upload_id"] for r in rows}


# The one statement that stores a day. stored_at is when this runs, close to the commit
# (not now(): the start of a transaction that may have been open a while).
_INSERT_DAYS = """
INSERT INTO sales_days (sales_date, upload_id, products, total_units, total_revenue, stored_at)
SELECT *, clock_timestamp()
FROM unnest($1::date[], $2::uuid[], $3::int[], $4::bigint[], $5::numeric[])
ON CONFLICT (sales_date) DO NOTHING
RETURNING upload_id
"""

_NONE = Totals(0, 0, Decimal(0))


async def store_days(conn: Connection, days: Sequence[tuple[UploadRecord, Lines]]) -> set[UUID]:
    """Store each candidate's day (its record has status "stored") and its lines, unless the
    day is stored already; return the uploads that won their day. The others lost it
    (nothing of theirs is written: see mark_duplicates). Their uploads rows are written
    already (insert_uploads). Two staged lines with one product id raise
    asyncpg.UniqueViolationError."""
    if not days:
        return set()
    totals = [await _known_totals(conn, rec, lines) for rec, lines in days]
    won_rows = await conn.fetch(
        _INSERT_DAYS,
        [rec.sales_date for rec, _ in days],
        [rec.upload_id for rec, _ in days],
        [t.products for t in totals],
        [t.units for t in totals],
        [t.revenue for t in totals],
    )
    won = {row["upload_id"] for row in won_rows}
    winners = [
        (rec, lines, t)
        for (rec, lines), t in zip(days, totals, strict=True)
        if rec.upload_id in won
    ]
    rows = [
        (rec.sales_date, ln.product_id, ln.name, ln.category, ln.quantity, ln.price)
        for rec, lines, _ in winners
        if isinstance(lines, InMemory)
        for ln in lines.lines
    ]
    if rows:
        await conn.copy_records_to_table("sales_lines", records=rows, columns=_LINE_COLUMNS)
    for rec, lines, t in winners:
        if isinstance(lines, FromStaging):
            await _copy_staged(conn, rec, lines)
        elif isinstance(lines, Written):
            await _set_stored(conn, rec.upload_id, t.products)
    return won


async def _known_totals(conn: Connection, rec: UploadRecord, lines: Lines) -> Totals:
    """The day's totals before its row is written (a staging copy counts them as it goes)."""
    if isinstance(lines, InMemory):
        return Totals(len(lines.lines), rec.total_units, rec.total_revenue)
    if isinstance(lines, Written):
        row = await conn.fetchrow(
            "SELECT count(*)::int AS products, coalesce(sum(quantity), 0)::bigint AS units, "
            f"coalesce(sum(quantity * price), 0)::numeric AS revenue FROM {lines.table}"
        )
        assert row is not None  # an aggregate without GROUP BY always has its row
        return Totals(row["products"], row["units"], row["revenue"])
    return _NONE


async def _copy_staged(conn: Connection, rec: UploadRecord, lines: FromStaging) -> None:
    """The staged lines into sales_lines, counted as they go; then the day's totals."""
    source, args = lines.source(2)
    totals = await conn.fetchrow(
        "WITH ins AS (INSERT INTO sales_lines (sales_date, product_id, name, category, quantity, price) "
        f"SELECT $1::date, product_id, name, category, quantity, price {source} "
        "RETURNING quantity, price) "
        "SELECT count(*)::int AS products, coalesce(sum(quantity), 0)::bigint AS units, "
        "coalesce(sum(quantity * price), 0)::numeric AS revenue FROM ins",
        rec.sales_date,
        *args,
    )
    assert totals is not None  # an aggregate without GROUP BY always has its row
    await conn.execute(
        "UPDATE sales_days SET products = $2, total_units = $3, total_revenue = $4, "
        "stored_at = clock_timestamp() WHERE sales_date = $1",
        rec.sales_date,
        totals["products"],
        totals["units"],
        totals["revenue"],
    )
    await _set_stored(conn, rec.upload_id, totals["products"])


async def _set_stored(conn: Connection, upload_id: UUID, products: int) -> None:
    await conn.execute(
        "UPDATE uploads SET products_stored = $2 WHERE upload_id = $1", upload_id, products
    )


_MARK_DUPLICATE = """
UPDATE uploads u SET status = 'duplicate', products_stored = 0, errors = x.err::jsonb,
                     updated_at = now()
FROM unnest($1::uuid[], $2::text[]) AS x(id, err)
WHERE u.upload_id = x.id
"""


async def mark_duplicates(conn: Connection, records: Sequence[UploadRecord]) -> None:
    """Rewrite the upload rows of candidates that lost their day (``records`` carry the
    errors the stage decided: decide.lost_day)."""
    if records:
        await conn.execute(
            _MARK_DUPLICATE,
            [r.upload_id for r in records],
            [issues_json(r.errors) for r in records],
        )


async def lock_day(conn: Connection, day: dt.date) -> UUID | None:
    """The day's owner, its row locked until the transaction ends (None: not stored)."""
    owner: UUID | None = await conn.fetchval(
        "SELECT upload_id FROM sales_days WHERE sales_date = $1 FOR UPDATE", day
    )
    return owner


async def replace_day_lines(
    conn: Connection,
    record: UploadRecord,
    *,
    superseded: UUID,
    diff: DayDiff,
    lines: InMemory | FromStaging,
) -> dt.datetime:
    """Swap a stored day's lines for a correction's and supersede the day's owner; return
    when it happened. The day's row is locked by the caller (lock_day), its owner checked.

    The record's upload row is written as stored, the superseded upload's row turns
    ``superseded``, the day's row goes to the record with the diff's "after" totals and the
    audit row is written.
    """
    day = record.sales_date
    assert day is not None and record.status == "stored"
    await insert_uploads(conn, [record])
    await conn.execute("DELETE FROM sales_lines WHERE sales_date = $1", day)
    if isinstance(lines, InMemory):
        await conn.copy_records_to_table(
            "sales_lines",
            columns=_LINE_COLUMNS,
            records=[
                (day, ln.product_id, ln.name, ln.category, ln.quantity, ln.price)
                for ln in lines.lines
            ],
        )
    else:
        await _set_stored(conn, record.upload_id, diff.products_after)
        source, args = lines.source(2)
        await conn.execute(
            "INSERT INTO sales_lines (sales_date, product_id, name, category, quantity, price) "
            f"SELECT $1::date, product_id, name, category, quantity, price {source}",
            day,
            *args,
        )
    await conn.execute(
        "UPDATE sales_days SET upload_id = $2, products = $3, total_units = $4, total_revenue = $5,"
        " stored_at = clock_timestamp() WHERE sales_date = $1",
        day,
        record.upload_id,
        diff.products_after,
        diff.units_after,
        diff.revenue_after,
    )
    await conn.execute(
        "UPDATE uploads SET status = 'superseded', updated_at = now() WHERE upload_id = $1",
        superseded,
    )
    at: dt.datetime = await conn.fetchval(
        "INSERT INTO corrections (upload_id, superseded_upload_id, sales_date, sender, revenue_before,"
        " revenue_after, diff) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING corrected_at",
        record.upload_id,
        superseded,
        day,
        record.sender,
        diff.revenue_before,
        diff.revenue_after,
        diff.model_dump(mode="json"),
    )
    return at


async def append_lines(conn: Connection, sales_date: dt.date, lines: ChunkLines) -> None:
    """A chunk's lines into sales_lines, ahead of the day's row (an open day: store_days with
    ``Written`` stores the row in the same transaction)."""
    if isinstance(lines, FastLines):
        date = sales_date.isoformat().encode() + b"\t"
        text = date + lines.copy_text[:-1].replace(b"\n", b"\n" + date) + b"\n"
        await conn.copy_to_table(
            "sales_lines",
            source=io.BytesIO(text),
            format="text",
            columns=["sales_date", *FAST_COLUMNS],
        )
    elif lines:
        await conn.copy_records_to_table(
            "sales_lines",
            columns=["sales_date", "product_id", "name", "quantity", "price", "category"],
            records=[(sales_date, *r[2:]) for r in lines],
        )

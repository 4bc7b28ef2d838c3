"""Uploads and stored days: the ingest stage's writes and the gateway's reads.

One ingest batch is one transaction: every upload of the batch gets its row,
every winning day its sales_days row and its lines (COPY). The primary key on
sales_days.sales_date is the final word on duplicates: whatever Redis said, a
day that loses here is recorded as a duplicate. Storage only reports which
candidates lost; the stage (ingest/decide.py) says what they become.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

from ..models import StoredUpload, UploadRecord
from .db import translate_errors

__all__ = [
    "BatchWriter",
    "day_owner",
    "find_uploads",
    "insert_uploads",
    "record_batch",
    "stored_days",
    "upload_status",
]


# A superseded upload's day now belongs to its correction: its own totals are the
# correction's "before" figures.
_SELECT_UPLOADS = """
SELECT u.upload_id, u.status, u.sales_date, u.source, u.sender, u.products_stored,
       u.products_rejected, u.errors, u.kafka_topic, u.kafka_partition, u.kafka_offset,
       u.updated_at, coalesce(d.total_units, (c.diff->>'units_before')::bigint) AS total_units,
       coalesce(d.total_revenue, c.revenue_before) AS total_revenue
FROM uploads u LEFT JOIN sales_days d ON d.upload_id = u.upload_id
     LEFT JOIN corrections c ON c.superseded_upload_id = u.upload_id
WHERE u.upload_id = ANY($1::uuid[])
"""


def _stored(row: asyncpg.Record) -> StoredUpload:
    return StoredUpload(
        upload_id=row["upload_id"],
        status=row["status"],
        sales_date=row["sales_date"],
        source=row["source"],
        sender=row["sender"],
        products_stored=row["products_stored"],
        products_rejected=row["products_rejected"],
        errors=row["errors"],
        topic=row["kafka_topic"],
        partition=row["kafka_partition"],
        offset=row["kafka_offset"],
        updated_at=row["updated_at"],
        total_units=row["total_units"],
        total_revenue=row["total_revenue"],
    )


async def find_uploads(pool: asyncpg.Pool, ids: list[UUID]) -> dict[UUID, StoredUpload]:
    """Uploads of this list that were already recorded (a redelivery)."""
    async with translate_errors("find_uploads"):
        rows = await pool.fetch(_SELECT_UPLOADS, ids)
    return {r["upload_id"]: _stored(r) for r in rows}


_INSERT_UPLOADS = """
INSERT INTO uploads (upload_id, status, sales_date, source, sender, size_bytes, products_seen,
                     products_stored, products_rejected, errors, kafka_topic, kafka_partition,
                     kafka_offset)
SELECT u, s, d, src, snd, sz, seen, kept, dropped, err::jsonb, t, p, o
FROM unnest($1::uuid[], $2::text[], $3::date[], $4::text[], $5::text[], $6::int[], $7::int[],
            $8::int[], $9::int[], $10::text[], $11::text[], $12::int[], $13::bigint[])
     AS x(u, s, d, src, snd, sz, seen, kept, dropped, err, t, p, o)
ON CONFLICT (upload_id) DO NOTHING
"""

_INSERT_DAYS = """
INSERT INTO sales_days (sales_date, upload_id, products, total_units, total_revenue, stored_at)
SELECT *, clock_timestamp()
FROM unnest($1::date[], $2::uuid[], $3::int[], $4::bigint[], $5::numeric[])
ON CONFLICT (sales_date) DO NOTHING
RETURNING upload_id
"""

_MARK_DUPLICATE = """
UPDATE uploads u SET status = 'duplicate', products_stored = 0, errors = x.err::jsonb, updated_at = now()
FROM unnest($1::uuid[], $2::text[]) AS x(id, err)
WHERE u.upload_id = x.id
"""


class BatchWriter:
    """The writes of one ingest batch, inside its transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def write(self, records: Sequence[UploadRecord]) -> set[UUID]:
        """Write every upload row, and the days and lines of the candidates (status
        "stored") that win their day; return the ids of the candidates that lost it to a
        day already stored (still written as "stored": mark them with ``rewrite``).
        Records whose upload row already exists are left alone."""
        if not records:
            return set()
        conn = self._conn
        await insert_uploads(conn, records)
        candidates = [r for r in records if r.status == "stored"]
        if not candidates:
            return set()
        won_rows = await conn.fetch(
            _INSERT_DAYS,
            [r.sales_date for r in candidates],
            [r.upload_id for r in candidates],
            [len(r.lines) for r in candidates],
            [r.total_units for r in candidates],
            [r.total_revenue for r in candidates],
        )
        won = {row["upload_id"] for row in won_rows}
        lines = [
            (r.sales_date, ln.product_id, ln.name, ln.category, ln.quantity, ln.price)
            for r in candidates
            if r.upload_id in won
            for ln in r.lines
        ]
        if lines:
            await conn.copy_records_to_table(
                "sales_lines",
                records=lines,
                columns=["sales_date", "product_id", "name", "category", "quantity", "price"],
            )
        return {r.upload_id for r in candidates if r.upload_id not in won}

    async def mark_duplicates(self, records: Sequence[UploadRecord]) -> None:
        """Rewrite the upload rows of candidates that lost their day, as the stage decided."""
        if records:
            await self._conn.execute(
                _MARK_DUPLICATE,
                [r.upload_id for r in records],
                [json.dumps(r.errors) for r in records],
            )


@asynccontextmanager
async def record_batch(pool: asyncpg.Pool) -> AsyncIterator[BatchWriter]:
    """One transaction for a whole ingest batch: committed when the block ends."""
    async with translate_errors("record_batch"), pool.acquire() as conn, conn.transaction():
        yield BatchWriter(conn)


async def insert_uploads(conn: asyncpg.Connection, records: Sequence[UploadRecord]) -> None:
    """The uploads rows of these records (inside the caller's transaction); existing rows stay."""
    await conn.execute(
        _INSERT_UPLOADS,
        [r.upload_id for r in records],
        [r.status for r in records],
        [r.sales_date for r in records],
        [r.source for r in records],
        [r.sender for r in records],
        [r.size_bytes for r in records],
        [r.products_seen for r in records],
        [len(r.lines) if r.status == "stored" else 0 for r in records],
        [r.products_rejected for r in records],
        [json.dumps(r.errors) for r in records],
        [r.topic for r in records],
        [r.partition for r in records],
        [r.offset for r in records],
    )


async def upload_status(pool: asyncpg.Pool, upload_id: UUID) -> StoredUpload | None:
    found = await find_uploads(pool, [upload_id])
    return found.get(upload_id)


async def stored_days(pool: asyncpg.Pool) -> list[dt.date]:
    """Every stored date (a few hundred a year: cheap to read whole)."""
    async with translate_errors("stored_days"):
        rows = await pool.fetch("SELECT sales_date FROM sales_days")
    return [r["sales_date"] for r in rows]


async def day_owner(pool: asyncpg.Pool, sales_date: dt.date) -> UUID | None:
    """The upload that stored this day, if the day is stored."""
    async with translate_errors("day_owner"):
        value = await pool.fetchval(
            "SELECT upload_id FROM sales_days WHERE sales_date = $1", sales_date
        )
    return value  # type: ignore[no-any-return]

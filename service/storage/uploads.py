"""Uploads and stored days: the ingest stage's writes and the gateway's reads.

One ingest batch is one transaction: every upload of the batch gets its row,
every winning day its sales_days row and its lines (COPY). The primary key on
sales_days.sales_date is the final word on duplicates: whatever Redis said, a
day that loses here is recorded as a duplicate. Storage only reports which
candidates lost; the stage (ingest/decide.py) says what they become.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

from ..models import StoredUpload, UploadRecord
from .days import InMemory, insert_uploads, mark_duplicates, store_days
from .db import Connection, translate_errors

__all__ = [
    "BatchWriter",
    "day_owner",
    "find_uploads",
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


class BatchWriter:
    """The writes of one ingest batch, inside its transaction (storage/days.py does them)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def write(self, records: Sequence[UploadRecord]) -> set[UUID]:
        """Write every upload row, and the days and lines of the candidates (status
        "stored") that win their day; return the ids of the candidates that lost it to a
        day already stored (still written as "stored": mark them with ``mark_duplicates``).
        Records whose upload row already exists are left alone."""
        if not records:
            return set()
        await insert_uploads(self._conn, records)
        candidates = [r for r in records if r.status == "stored"]
        won = await store_days(self._conn, [(r, InMemory(r.lines)) for r in candidates])
        return {r.upload_id for r in candidates if r.upload_id not in won}

    async def mark_duplicates(self, records: Sequence[UploadRecord]) -> None:
        """Rewrite the upload rows of candidates that lost their day, as the stage decided."""
        await mark_duplicates(self._conn, records)


@asynccontextmanager
async def record_batch(pool: asyncpg.Pool) -> AsyncIterator[BatchWriter]:
    """One transaction for a whole ingest batch: committed when the block ends."""
    async with translate_errors("record_batch"), pool.acquire() as conn, conn.transaction():
        yield BatchWriter(conn)


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

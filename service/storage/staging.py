"""Staging of chunked uploads (big days) and the one transaction that stores one.

Ingest stages each chunk as it comes (stage_chunk: idempotent on the upload id
and chunk index), reads back what it staged when the manifest is there (staged),
then either stores the day (store_staged_day: upload row, day row and every line
in one transaction, the staging dropped in the same one) or refuses it
(refuse_staged). Which of those happens is ingest's decision; this module only
writes. The schema and why it is UNLOGGED: migrations/0004_staging.sql.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import asyncpg

from ..models import Origin, UploadRecord
from ..names import STAGING_SCHEMA, staging_table
from .days import FromStaging, Written, insert_uploads, mark_duplicates, store_days
from .db import translate_errors

__all__ = [
    "ChunkToStage",
    "DuplicateRow",
    "OpenDay",
    "StagedChunk",
    "StagedUpload",
    "StoreResult",
    "abandon_day",
    "add_lines",
    "commit_day",
    "drop_table",
    "duplicate_rows",
    "forget_incomplete",
    "open_day",
    "orphan_tables",
    "refuse_staged",
    "stage_chunk",
    "staged",
    "staged_table",
    "stale_uploads",
    "store_staged_day",
]

_LINE_COLUMNS = ["pos", "line", "product_id", "name", "quantity", "price", "category"]
_FAST_COLUMNS = ["product_id", "name", "quantity", "price", "category"]


@dataclass(frozen=True, slots=True)
class StagedUpload:
    upload_id: UUID
    sales_date: dt.date | None
    source: Origin
    sender: str | None
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class ChunkToStage:
    """One validated chunk, as ingest hands it over."""

    upload: StagedUpload
    index: int
    is_last: bool
    size: int
    sha256: bytes
    newlines: int
    products_seen: int
    products_rejected: int
    fatal: list[dict[str, Any]]
    issues: list[dict[str, Any]]
    rows: Sequence[tuple[Any, ...]]  # (pos, line, id, name, quantity, price, category)
    copy_text: bytes | None  # or "id\tname\tquantity\tprice\tcategory\n" lines (fast lane)
    valid: int  # lines staged (len(rows), or the lines of copy_text)
    fast_first_line: int | None
    fast_period: int | None


@dataclass(frozen=True, slots=True)
class StagedChunk:
    index: int
    is_last: bool
    size: int
    sha256: bytes
    newlines: int
    products_seen: int
    products_rejected: int
    fatal: list[dict[str, Any]]
    issues: list[dict[str, Any]]
    first_seq: int | None
    last_seq: int | None
    fast_first_line: int | None
    fast_period: int | None

    @property
    def valid(self) -> int:
        return (
            0
            if self.first_seq is None or self.last_seq is None
            else self.last_seq - self.first_seq + 1
        )


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    """A staged line whose product id an earlier staged line already has."""

    seq: int
    pos: int | None
    line: int | None
    product_id: int
    first_seq: int
    first_pos: int | None
    first_line: int | None


@dataclass(frozen=True, slots=True)
class StoreResult:
    outcome: Literal["stored", "duplicate", "known", "duplicate_ids"]
    products: int = 0
    total_units: int = 0
    total_revenue: Decimal = Decimal(0)


def _qualified(name: str) -> str:
    return f'{STAGING_SCHEMA}."{name}"'


def staged_table(upload_id: UUID) -> str:
    """The qualified name of an upload's staging table."""
    return _qualified(staging_table(str(upload_id)))


def _create_table(table: str) -> str:
    return (
        f"CREATE UNLOGGED TABLE IF NOT EXISTS {table} ("
        "seq bigint GENERATED ALWAYS AS IDENTITY, pos integer, line integer, product_id bigint NOT NULL, "
        "name text NOT NULL, quantity integer NOT NULL, price numeric(12, 2) NOT NULL, "
        "category text NOT NULL)"
    )


async def stage_chunk(pool: asyncpg.Pool, chunk: ChunkToStage) -> bool:
    """Stage one chunk; False when it was staged already (a redelivery: nothing changes)."""
    up = chunk.upload
    name = staging_table(str(up.upload_id))
    table = _qualified(name)
    async with translate_errors("stage_chunk"), pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO staging.uploads (upload_id, sales_date, source, sender, kafka_topic, kafka_partition, "
            "kafka_offset) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (upload_id) DO UPDATE "
            "SET touched_at = now(), sales_date = coalesce(EXCLUDED.sales_date, staging.uploads.sales_date)",
            up.upload_id,
            up.sales_date,
            up.source,
            up.sender,
            up.topic,
            up.partition,
            up.offset,
        )
        if await conn.fetchval(
            "SELECT 1 FROM staging.chunks WHERE upload_id = $1 AND chunk_index = $2",
            up.upload_id,
            chunk.index,
        ):
            return False
        await conn.execute(_create_table(table))
        first = last = None
        if chunk.copy_text is not None:
            await conn.copy_to_table(
                name,
                schema_name=STAGING_SCHEMA,
                source=io.BytesIO(chunk.copy_text),
                columns=_FAST_COLUMNS,
                format="text",
            )
        elif chunk.rows:
            await conn.copy_records_to_table(
                name, schema_name=STAGING_SCHEMA, records=chunk.rows, columns=_LINE_COLUMNS
            )
        if chunk.valid:
            last = await conn.fetchval("SELECT currval(pg_get_serial_sequence($1, 'seq'))", table)
            first = last - chunk.valid + 1
        await conn.execute(
            "INSERT INTO staging.chunks (upload_id, chunk_index, is_last, size_bytes, sha256, newlines, "
            "products_seen, products_rejected, fatal, issues, first_seq, last_seq, fast_first_line, fast_period) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb, $10::text::jsonb, $11, $12, $13, $14)",
            up.upload_id,
            chunk.index,
            chunk.is_last,
            chunk.size,
            chunk.sha256,
            chunk.newlines,
            chunk.products_seen,
            chunk.products_rejected,
            json.dumps(chunk.fatal),
            json.dumps(chunk.issues),
            first,
            last,
            chunk.fast_first_line,
            chunk.fast_period,
        )
    return True


async def staged(
    pool: asyncpg.Pool, upload_id: UUID
) -> tuple[StagedUpload | None, list[StagedChunk]]:
    """What is staged of an upload, chunks in index order."""
    async with translate_errors("staged"):
        row = await pool.fetchrow("SELECT * FROM staging.uploads WHERE upload_id = $1", upload_id)
        rows = await pool.fetch(
            "SELECT * FROM staging.chunks WHERE upload_id = $1 ORDER BY chunk_index", upload_id
        )
    chunks = [
        StagedChunk(
            index=r["chunk_index"],
            is_last=r["is_last"],
            size=r["size_bytes"],
            sha256=r["sha256"],
            newlines=r["newlines"],
            products_seen=r["products_seen"],
            products_rejected=r["products_rejected"],
            fatal=r["fatal"],
            issues=r["issues"],
            first_seq=r["first_seq"],
            last_seq=r["last_seq"],
            fast_first_line=r["fast_first_line"],
            fast_period=r["fast_period"],
        )
        for r in rows
    ]
    return (_upload(row) if row is not None else None), chunks


def _upload(row: asyncpg.Record) -> StagedUpload:
    return StagedUpload(
        upload_id=row["upload_id"],
        sales_date=row["sales_date"],
        source=row["source"],
        sender=row["sender"],
        topic=row["kafka_topic"],
        partition=row["kafka_partition"],
        offset=row["kafka_offset"],
    )


async def _drop(conn: asyncpg.Connection, upload_id: UUID) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS {_qualified(staging_table(str(upload_id)))}")
    await conn.execute("DELETE FROM staging.uploads WHERE upload_id = $1", upload_id)


async def store_staged_day(
    pool: asyncpg.Pool,
    rec: UploadRecord,
    *,
    if_lost: list[dict[str, Any]],
    exclude: Sequence[int] = (),
) -> StoreResult:
    """Store a staged day whole, in one transaction, and drop its staging.

    ``rec`` is the candidate (status "stored"; its errors are the day's issues);
    ``exclude`` the staged rows (seq) that must not be stored (duplicate ids).
    Outcomes: "stored"; "duplicate" (the day belongs to another upload: recorded
    as such, with the errors ``if_lost``); "known" (this upload was recorded meanwhile: nothing written);
    "duplicate_ids" (two staged lines share a product id: nothing written, call
    duplicate_rows and decide).
    """
    assert rec.sales_date is not None
    lines = FromStaging(staged_table(rec.upload_id), exclude)
    async with translate_errors("store_staged_day"), pool.acquire() as conn:
        try:
            async with conn.transaction():
                if not await insert_uploads(conn, [rec]):
                    return StoreResult("known")
                if not await store_days(conn, [(rec, lines)]):
                    await mark_duplicates(conn, [replace(rec, status="duplicate", errors=if_lost)])
                    await _drop(conn, rec.upload_id)
                    return StoreResult("duplicate")
                await _drop(conn, rec.upload_id)
                return await _result(conn, rec)
        except asyncpg.UniqueViolationError:
            return StoreResult("duplicate_ids")


async def _result(conn: asyncpg.Connection, rec: UploadRecord) -> StoreResult:
    row = await conn.fetchrow(
        "SELECT products, total_units, total_revenue FROM sales_days WHERE sales_date = $1",
        rec.sales_date,
    )
    return StoreResult(
        "stored",
        products=row["products"],
        total_units=row["total_units"],
        total_revenue=row["total_revenue"],
    )


_DUPLICATES = """
SELECT seq, pos, line, product_id, first_seq, first_pos, first_line FROM (
    SELECT seq, pos, line, product_id,
           first_value(seq) OVER w AS first_seq, first_value(pos) OVER w AS first_pos,
           first_value(line) OVER w AS first_line, row_number() OVER w AS n
    FROM {table}
    WHERE product_id IN (SELECT product_id FROM {table} GROUP BY product_id HAVING count(*) > 1)
    WINDOW w AS (PARTITION BY product_id ORDER BY seq)
) d WHERE n > 1 ORDER BY seq
"""


async def duplicate_rows(pool: asyncpg.Pool, upload_id: UUID) -> list[DuplicateRow]:
    """Every staged line but the first of each product id staged more than once, in staging order."""
    table = _qualified(staging_table(str(upload_id)))
    async with translate_errors("duplicate_rows"):
        rows = await pool.fetch(_DUPLICATES.format(table=table))
    return [
        DuplicateRow(
            seq=r["seq"],
            pos=r["pos"],
            line=r["line"],
            product_id=r["product_id"],
            first_seq=r["first_seq"],
            first_pos=r["first_pos"],
            first_line=r["first_line"],
        )
        for r in rows
    ]


async def refuse_staged(pool: asyncpg.Pool, rec: UploadRecord) -> bool:
    """Record a refused chunked upload and drop its staging; False if it was recorded already."""
    async with translate_errors("refuse_staged"), pool.acquire() as conn, conn.transaction():
        fresh = bool(await insert_uploads(conn, [rec]))
        await _drop(conn, rec.upload_id)
    return fresh


async def stale_uploads(pool: asyncpg.Pool, *, idle_seconds: float) -> list[StagedUpload]:
    """Staged uploads that have not heard from their producer for ``idle_seconds``."""
    async with translate_errors("stale_uploads"):
        rows = await pool.fetch(
            "SELECT * FROM staging.uploads WHERE touched_at < now() - make_interval(secs => $1)"
            " ORDER BY touched_at LIMIT 100",
            idle_seconds,
        )
    return [_upload(r) for r in rows]


async def orphan_tables(pool: asyncpg.Pool) -> list[str]:
    """Staging tables without a registry row (PostgreSQL crashed: unlogged tables came back empty)."""
    async with translate_errors("orphan_tables"):
        rows = await pool.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname LIKE 'lines\\_%' "
            "AND NOT EXISTS (SELECT 1 FROM staging.uploads u "
            "                WHERE 'lines_' || replace(u.upload_id::text, '-', '') = c.relname)",
            STAGING_SCHEMA,
        )
    return [r["relname"] for r in rows]


async def drop_table(pool: asyncpg.Pool, relname: str) -> None:
    async with translate_errors("drop_table"):
        await pool.execute(f"DROP TABLE IF EXISTS {_qualified(relname)}")


async def forget_incomplete(pool: asyncpg.Pool, upload_id: UUID) -> bool:
    """Forget an upload refused as incomplete_upload, so that it can be sent again under its id."""
    async with translate_errors("forget_incomplete"):
        done = await pool.execute(
            "DELETE FROM uploads WHERE upload_id = $1 AND status = 'rejected' "
            "AND errors -> 0 ->> 'code' = 'incomplete_upload'",
            upload_id,
        )
    return bool(done.endswith(" 1"))


class OpenDay:
    """A big day being stored while its chunks come: one transaction, kept open until the
    manifest. Its lines are invisible to everyone else until commit_day; abandon rolls
    everything back (then store_staged_day does the work from staging at the manifest).
    The transaction waits for no lock longer than 2 s: a conflicting writer makes it fail,
    never hang."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        conn: asyncpg.Connection,
        tx: Any,
        upload_id: UUID,
        sales_date: dt.date,
    ) -> None:
        self._pool = pool
        self.conn = conn
        self.tx = tx
        self.upload_id = upload_id
        self.sales_date = sales_date
        self.chunks: set[int] = set()
        self.closed = False

    @property
    def alive(self) -> bool:
        """Open, and its session not ended by PostgreSQL (the idle limit)."""
        return not self.closed and self.conn is not None and not self.conn.is_closed()


async def open_day(
    pool: asyncpg.Pool, upload_id: UUID, sales_date: dt.date, *, idle_seconds: float
) -> OpenDay:
    """Open the day's transaction; PostgreSQL ends it (and its session) once it has been idle
    ``idle_seconds``, whatever becomes of this process."""
    async with translate_errors("open_day"):
        conn = await pool.acquire()
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute("SET LOCAL lock_timeout = '2s'")
            await conn.execute(
                "SELECT set_config('idle_in_transaction_session_timeout', $1, true)",
                str(max(1, round(idle_seconds * 1000))),
            )
        except BaseException:
            await pool.release(conn)
            raise
    return OpenDay(pool, conn, tx, upload_id, sales_date)


async def add_lines(
    day: OpenDay, index: int, *, copy_text: bytes | None, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Write one chunk's lines into sales_lines, inside the day's open transaction."""
    async with translate_errors("add_lines"):
        if copy_text is not None:
            date = day.sales_date.isoformat().encode() + b"\t"
            text = date + copy_text[:-1].replace(b"\n", b"\n" + date) + b"\n"
            await day.conn.copy_to_table(
                "sales_lines",
                source=io.BytesIO(text),
                format="text",
                columns=["sales_date", *_FAST_COLUMNS],
            )
        elif rows:
            await day.conn.copy_records_to_table(
                "sales_lines",
                columns=["sales_date", "product_id", "name", "quantity", "price", "category"],
                records=[(day.sales_date, *r[2:]) for r in rows],
            )
    day.chunks.add(index)


async def commit_day(
    day: OpenDay, rec: UploadRecord, *, if_lost: list[dict[str, Any]]
) -> StoreResult:
    """Record the upload and the day in the open transaction, drop the staging, commit."""
    assert rec.sales_date is not None
    conn = day.conn
    try:
        async with translate_errors("commit_day"):
            if not await insert_uploads(conn, [rec]):
                await _abandon(day)
                return StoreResult("known")
            if not await store_days(conn, [(rec, Written(staged_table(rec.upload_id)))]):
                await _abandon(day)  # its lines go with it; the day is another upload's
                return StoreResult("duplicate")
            await _drop(conn, rec.upload_id)
            result = await _result(conn, rec)
            await day.tx.commit()
    except BaseException:
        await _abandon(day)
        raise
    finally:
        await _release(day)
    return result


async def abandon_day(day: OpenDay) -> None:
    """Roll the open day back (a problem, or the fallback will do it from staging)."""
    try:
        await _abandon(day)
    finally:
        await _release(day)


async def _abandon(day: OpenDay) -> None:
    if day.closed:
        return
    day.closed = True
    with contextlib.suppress(Exception):
        await day.tx.rollback()


async def _release(day: OpenDay) -> None:
    day.closed = True
    conn, day.conn = day.conn, None
    if conn is not None:
        with contextlib.suppress(Exception):
            await day._pool.release(conn)

"""The staging registry of chunked uploads (big days): what is staged, and its leftovers.

Ingest stages each chunk as it comes (stage_chunk: idempotent on the upload id
and chunk index) and reads back what it staged when the manifest is there
(staged, duplicate_rows). Storing or refusing the staged day is
storage/staged_days.py's; uploads whose manifest never came (stale_uploads) and
tables nobody owns (orphan_tables) are swept. The schema and why it is UNLOGGED:
migrations/0004_staging.sql.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from ..models import Issue, Origin
from ..names import STAGING_SCHEMA, staging_table
from .db import Connection, issues_json, translate_errors

__all__ = [
    "FAST_COLUMNS",
    "ChunkLines",
    "ChunkToStage",
    "DuplicateRow",
    "FastLines",
    "FastShape",
    "Row",
    "StagedChunk",
    "StagedUpload",
    "drop_staging",
    "drop_table",
    "duplicate_rows",
    "forget_incomplete",
    "orphan_tables",
    "stage_chunk",
    "staged",
    "staged_table",
    "stale_uploads",
]

_LINE_COLUMNS = ["pos", "line", "product_id", "name", "quantity", "price", "category"]
# The columns of a fast-lane chunk's COPY text, in order.
FAST_COLUMNS = ["product_id", "name", "quantity", "price", "category"]


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
class FastShape:
    """Where a fast-lane chunk's products stand: every product of the chunk is a staged line,
    in order, the first on line ``first_line`` and one every ``period`` lines."""

    first_line: int
    period: int


@dataclass(frozen=True, slots=True)
class FastLines:
    """A fast-lane chunk's lines: COPY text lines of FAST_COLUMNS
    ("id\tname\tquantity\tprice\tcategory\n"), and where its products stand."""

    copy_text: bytes
    shape: FastShape


Row = tuple[Any, ...]  # a line as staged: (pos, line, id, name, quantity, price, category)
ChunkLines = Sequence[Row] | FastLines


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
    fatal: list[Issue]
    issues: list[Issue]
    lines: ChunkLines
    valid: int  # lines staged (len(rows), or the lines of copy_text)


@dataclass(frozen=True, slots=True)
class StagedChunk:
    index: int
    is_last: bool
    size: int
    sha256: bytes
    newlines: int
    products_seen: int
    products_rejected: int
    fatal: list[Issue]
    issues: list[Issue]
    seqs: tuple[int, int] | None  # the first and last staged row (seq) of its lines, if any
    fast: FastShape | None  # the fast lane's shape (its positions were not staged), None: rows

    @property
    def valid(self) -> int:
        return 0 if self.seqs is None else self.seqs[1] - self.seqs[0] + 1


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


def _qualified(name: str) -> str:
    return f'{STAGING_SCHEMA}."{name}"'


async def drop_staging(conn: Connection, upload_id: UUID) -> None:
    """Forget an upload's staging (its table and registry row), in the caller's transaction."""
    await conn.execute(f"DROP TABLE IF EXISTS {_qualified(staging_table(str(upload_id)))}")
    await conn.execute("DELETE FROM staging.uploads WHERE upload_id = $1", upload_id)


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
        lines = chunk.lines
        if isinstance(lines, FastLines):
            await conn.copy_to_table(
                name,
                schema_name=STAGING_SCHEMA,
                source=io.BytesIO(lines.copy_text),
                columns=FAST_COLUMNS,
                format="text",
            )
        elif lines:
            await conn.copy_records_to_table(
                name, schema_name=STAGING_SCHEMA, records=lines, columns=_LINE_COLUMNS
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
            issues_json(chunk.fatal),
            issues_json(chunk.issues),
            first,
            last,
            lines.shape.first_line if isinstance(lines, FastLines) else None,
            lines.shape.period if isinstance(lines, FastLines) else None,
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
            fatal=[Issue.model_validate(i) for i in r["fatal"]],
            issues=[Issue.model_validate(i) for i in r["issues"]],
            seqs=None if r["first_seq"] is None else (r["first_seq"], r["last_seq"]),
            fast=(
                None
                if r["fast_first_line"] is None
                else FastShape(r["fast_first_line"], r["fast_period"])
            ),
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

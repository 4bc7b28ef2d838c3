"""A big day stored: from its staging at the manifest, or while its chunks come (OpenDay).

At the manifest ingest either stores the staged day (store_staged_day: upload row,
day row and every line in one transaction, the staging dropped in the same one) or
refuses it (refuse_staged). A day whose chunks came in order may have been stored
along the way instead: an OpenDay holds one transaction open, takes each chunk's
lines as it is staged, and only commits at the manifest. Which of those happens is
ingest's decision (ingest/open_days.py, ingest/bigday.py); the writes themselves are
storage/days.py's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from types import TracebackType
from typing import Literal
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from ..models import Issue, UploadRecord
from .days import FromStaging, Written, append_lines, insert_uploads, mark_duplicates, store_days
from .db import Connection, translate_errors
from .staging import ChunkLines, drop_staging, staged_table

__all__ = ["OpenDay", "StoreResult", "refuse_staged", "store_staged_day"]


@dataclass(frozen=True, slots=True)
class StoreResult:
    outcome: Literal["stored", "duplicate", "known", "duplicate_ids"]
    products: int = 0
    total_units: int = 0
    total_revenue: Decimal = Decimal(0)


async def store_staged_day(
    pool: asyncpg.Pool,
    rec: UploadRecord,
    *,
    if_lost: list[Issue],
    exclude: Sequence[int] = (),
) -> StoreResult:
    """Store a staged day whole, in one transaction, and drop its staging.

    ``rec`` is the candidate (status "stored"; its errors are the day's issues);
    ``exclude`` the staged rows (seq) that must not be stored (duplicate ids).
    Outcomes: "stored"; "duplicate" (the day belongs to another upload: recorded
    as such, with the errors ``if_lost``); "known" (this upload was recorded meanwhile:
    nothing written); "duplicate_ids" (two staged lines share a product id: nothing
    written, call duplicate_rows and decide).
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
                    await drop_staging(conn, rec.upload_id)
                    return StoreResult("duplicate")
                await drop_staging(conn, rec.upload_id)
                return await _result(conn, rec)
        except asyncpg.UniqueViolationError:
            return StoreResult("duplicate_ids")


async def _result(conn: Connection, rec: UploadRecord) -> StoreResult:
    row = await conn.fetchrow(
        "SELECT products, total_units, total_revenue FROM sales_days WHERE sales_date = $1",
        rec.sales_date,
    )
    assert row is not None  # read in the transaction that has just stored the day
    return StoreResult(
        "stored",
        products=row["products"],
        total_units=row["total_units"],
        total_revenue=row["total_revenue"],
    )


async def refuse_staged(pool: asyncpg.Pool, rec: UploadRecord) -> bool:
    """Record a refused chunked upload and drop its staging; False if it was recorded already."""
    async with translate_errors("refuse_staged"), pool.acquire() as conn, conn.transaction():
        fresh = bool(await insert_uploads(conn, [rec]))
        await drop_staging(conn, rec.upload_id)
    return fresh


class OpenDay:
    """A big day being stored while its chunks come: one transaction, kept open until the
    manifest (``async with``, or ``begin`` and ``close`` when it spans batches). Its lines
    are invisible to everyone else until ``commit``; ``close`` rolls back whatever was not
    committed (then store_staged_day does the work from staging at the manifest).

    The transaction waits for no lock longer than 2 s (a conflicting writer makes it fail,
    never hang), and PostgreSQL ends it, session and all, once it has been idle
    ``idle_seconds``, whatever becomes of this process.
    """

    def __init__(
        self, pool: asyncpg.Pool, upload_id: UUID, sales_date: dt.date, *, idle_seconds: float
    ) -> None:
        self._pool = pool
        self._idle_ms = str(max(1, round(idle_seconds * 1000)))
        self._conn: PoolConnectionProxy | None = None  # lent by the pool, given back in close()
        self._tx: Transaction | None = None
        self.upload_id = upload_id
        self.sales_date = sales_date
        self.chunks: set[int] = set()  # the chunks whose lines it has
        self.closed = False

    async def __aenter__(self) -> OpenDay:
        await self.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def alive(self) -> bool:
        """Open, and its session not ended by PostgreSQL (the idle limit)."""
        return not self.closed and self._conn is not None and not self._conn.is_closed()

    async def begin(self) -> None:
        async with translate_errors("open_day"):
            conn = await self._pool.acquire()
            try:
                tx = conn.transaction()
                await tx.start()
                await conn.execute("SET LOCAL lock_timeout = '2s'")
                await conn.execute(
                    "SELECT set_config('idle_in_transaction_session_timeout', $1, true)",
                    self._idle_ms,
                )
            except BaseException:
                await self._pool.release(conn)
                raise
        self._conn, self._tx = conn, tx

    def _open(self) -> tuple[Connection, Transaction]:
        if self.closed or self._conn is None or self._tx is None:
            raise RuntimeError(f"the open day of {self.upload_id} is closed")
        return self._conn, self._tx

    async def add(self, index: int, lines: ChunkLines) -> None:
        """Write one chunk's lines into sales_lines, inside the day's open transaction."""
        conn, _ = self._open()
        async with translate_errors("add_lines"):
            await append_lines(conn, self.sales_date, lines)
        self.chunks.add(index)

    async def commit(self, rec: UploadRecord) -> StoreResult:
        """Record the upload and the day in the open transaction, drop the staging, commit;
        closed whatever happens ("duplicate" and "known" roll back: nothing written)."""
        assert rec.sales_date is not None
        conn, tx = self._open()
        try:
            async with translate_errors("commit_day"):
                if not await insert_uploads(conn, [rec]):
                    return StoreResult("known")
                if not await store_days(conn, [(rec, Written(staged_table(rec.upload_id)))]):
                    return StoreResult("duplicate")  # its lines go: the day is another upload's
                await drop_staging(conn, rec.upload_id)
                result = await _result(conn, rec)
                await tx.commit()
                self.closed = True
                return result
        finally:
            await self.close()

    async def close(self) -> None:
        """Roll back what was not committed and give the connection back (idempotent)."""
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if not self.closed and tx is not None:
            with contextlib.suppress(Exception):
                await tx.rollback()
        self.closed = True
        if conn is not None:
            with contextlib.suppress(Exception):
                await self._pool.release(conn)

"""Queries behind the original service's read routes (gateway/legacy.py).

Its clients know reports and sales lines by integer id and page nothing; here
every list is paged by limit/offset. A report's id is its ``reports.id`` column
(migration 0006). A line's id is derived, so writing a day costs nothing more:
``uploads.seq`` of the upload that stored the day × LINE_ID_BASE + the line's
1-based rank in the day by product id. It holds as long as the day does; after a
correction the day has a new upload, and the replaced lines' ids are unknown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import asyncpg

from .db import translate_errors

__all__ = [
    "LINE_ID_BASE",
    "LegacyLine",
    "LegacyReport",
    "line_by_id",
    "lines_page",
    "report_by_id",
    "reports_page",
]

# Above any day's line count (MAX_PRODUCTS_PER_DAY is 5,000,000 by default), and small
# enough that ids stay below 2**53 (exact in JavaScript) for 90 million uploads.
LINE_ID_BASE: Final = 100_000_000


@dataclass(frozen=True, slots=True)
class LegacyReport:
    id: int
    sales_date: dt.date
    start_prompt: str | None
    report: str | None
    create_date: dt.datetime
    update_date: dt.datetime


@dataclass(frozen=True, slots=True)
class LegacyLine:
    id: int
    sales_date: dt.date
    product_id: int
    name: str
    quantity: int
    price: Decimal
    category: str
    stored_at: dt.datetime


# Written reports only (a pending or failed one has no text), every generation.
_REPORTS = (
    "SELECT id, sales_date, prompt AS start_prompt, text AS report, created_at AS create_date, "
    "updated_at AS update_date FROM reports WHERE status = 'ok'"
)


async def reports_page(pool: asyncpg.Pool, *, limit: int, offset: int) -> list[LegacyReport]:
    async with translate_errors("legacy_reports"):
        rows = await pool.fetch(f"{_REPORTS} ORDER BY id LIMIT $1 OFFSET $2", limit, offset)
    return [LegacyReport(**dict(r)) for r in rows]


async def report_by_id(pool: asyncpg.Pool, report_id: int) -> LegacyReport | None:
    async with translate_errors("legacy_report"):
        r = await pool.fetchrow(f"{_REPORTS} AND id = $1", report_id)
    return None if r is None else LegacyReport(**dict(r))


# The stored days in date order, each with the lines of the days before it.
_DAYS = """
SELECT * FROM (
    SELECT d.sales_date, d.stored_at, u.seq, d.products,
           sum(d.products) OVER (ORDER BY d.sales_date) - d.products AS before
    FROM sales_days d JOIN uploads u ON u.upload_id = d.upload_id) days
WHERE before + products > $1 ORDER BY sales_date
"""
# A day's lines from a rank on: the product id at that rank is found in the primary
# key's index alone, so skipped lines are never read from the table.
_LINES = """
SELECT product_id, name, quantity, price, category FROM sales_lines
WHERE sales_date = $1 AND product_id >= (
    SELECT product_id FROM sales_lines WHERE sales_date = $1
    ORDER BY product_id OFFSET $2 LIMIT 1)
ORDER BY product_id LIMIT $3
"""


async def lines_page(pool: asyncpg.Pool, *, limit: int, offset: int) -> list[LegacyLine]:
    """Lines of every stored day, by date then product id, from ``offset`` on."""
    page: list[LegacyLine] = []
    async with (
        translate_errors("legacy_lines"),
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        for day in await conn.fetch(_DAYS, offset):
            skip = max(0, offset - day["before"])
            rows = await conn.fetch(_LINES, day["sales_date"], skip, limit - len(page))
            base = day["seq"] * LINE_ID_BASE + skip + 1
            page.extend(
                LegacyLine(
                    id=base + i,
                    sales_date=day["sales_date"],
                    stored_at=day["stored_at"],
                    **dict(r),
                )
                for i, r in enumerate(rows)
            )
            if len(page) >= limit:
                break
    return page


async def line_by_id(pool: asyncpg.Pool, line_id: int) -> LegacyLine | None:
    seq, rank = divmod(line_id, LINE_ID_BASE)
    if rank < 1:
        return None
    async with (
        translate_errors("legacy_line"),
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        day = await conn.fetchrow(
            "SELECT d.sales_date, d.stored_at, d.products FROM uploads u "
            "JOIN sales_days d ON d.upload_id = u.upload_id WHERE u.seq = $1",
            seq,
        )
        if day is None or rank > day["products"]:
            return None
        r = await conn.fetchrow(_LINES, day["sales_date"], rank - 1, 1)
    if r is None:
        return None
    return LegacyLine(
        id=line_id, sales_date=day["sales_date"], stored_at=day["stored_at"], **dict(r)
    )

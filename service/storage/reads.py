"""Read-only queries behind the gateway's read API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from .db import translate_errors

__all__ = ["day_lines", "day_summary"]


async def day_summary(pool: asyncpg.Pool, sales_date: dt.date) -> dict[str, Any] | None:
    async with translate_errors("day_summary"):
        r = await pool.fetchrow(
            "SELECT sales_date, upload_id, products, total_units, total_revenue, stored_at "
            "FROM sales_days WHERE sales_date = $1",
            sales_date,
        )
    return None if r is None else dict(r)


async def day_lines(
    pool: asyncpg.Pool, sales_date: dt.date, *, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """A day's lines by product id, keyset-paginated (index-backed by the primary key)."""
    async with translate_errors("day_lines"):
        rows = await pool.fetch(
            "SELECT product_id, name, category, quantity, price, quantity * price AS revenue "
            "FROM sales_lines WHERE sales_date = $1 AND ($2::bigint IS NULL OR product_id > $2) "
            "ORDER BY product_id LIMIT $3",
            sales_date,
            after,
            limit,
        )
    return [dict(r) for r in rows]

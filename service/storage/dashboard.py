"""Read-only queries behind the dashboard's pages (service/gateway/dashboard).

Every query is bounded: a page of days or uploads, a fixed number of history
points, the uploads of one date. Nothing here reads a day's lines; a day's
figures come from its report's facts or from ``facts_sql.load_facts``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from .db import translate_errors

__all__ = [
    "DayRow",
    "DaysCount",
    "HistoryPoint",
    "UploadRow",
    "day_history",
    "days_count",
    "days_page",
    "recent_uploads",
    "upload_row",
    "uploads_of_day",
]


@dataclass(frozen=True, slots=True)
class DayRow:
    sales_date: dt.date
    products: int
    total_units: int
    total_revenue: Decimal
    report_status: str | None  # the newest finished report's: "ok", "failed"; None: none yet
    verified: bool | None
    pending: bool  # a report (or a regeneration) is being written


@dataclass(frozen=True, slots=True)
class DaysCount:
    days: int
    first: dt.date | None
    last: dt.date | None


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    sales_date: dt.date
    revenue: Decimal
    units: int
    trailing_days: int  # stored days in the 7 calendar days before sales_date
    trailing_revenue: Decimal  # their revenue, summed


@dataclass(frozen=True, slots=True)
class UploadRow:
    upload_id: UUID
    status: str
    sales_date: dt.date | None
    source: str
    sender: str | None
    size_bytes: int
    products_seen: int
    products_stored: int
    products_rejected: int
    errors: list[dict[str, Any]]
    received_at: dt.datetime


# The newest finished report per day and whether one is pending come from
# reports_date_created_idx, one index probe per listed day.
_DAYS = """
SELECT d.sales_date, d.products, d.total_units, d.total_revenue, r.status AS report_status, r.verified,
       EXISTS (SELECT 1 FROM reports p WHERE p.sales_date = d.sales_date AND p.status = 'pending') AS pending
FROM sales_days d
LEFT JOIN LATERAL (
    SELECT status, verified FROM reports
    WHERE sales_date = d.sales_date AND status <> 'pending' ORDER BY created_at DESC LIMIT 1
) r ON true
WHERE ($1::date IS NULL OR d.sales_date >= $1) AND ($2::date IS NULL OR d.sales_date <= $2)
  AND ($3::date IS NULL OR d.sales_date < $3)
ORDER BY d.sales_date DESC
LIMIT $4
"""


async def days_page(
    pool: asyncpg.Pool,
    *,
    date_from: dt.date | None,
    date_to: dt.date | None,
    before: dt.date | None,
    limit: int,
) -> list[DayRow]:
    """Stored days in [date_from, date_to] before ``before``, newest first."""
    async with translate_errors("days_page"):
        rows = await pool.fetch(_DAYS, date_from, date_to, before, limit)
    return [DayRow(**dict(r)) for r in rows]


async def days_count(
    pool: asyncpg.Pool, *, date_from: dt.date | None, date_to: dt.date | None
) -> DaysCount:
    async with translate_errors("days_count"):
        r = await pool.fetchrow(
            "SELECT count(*) AS days, min(sales_date) AS first, max(sales_date) AS last FROM sales_days "
            "WHERE ($1::date IS NULL OR sales_date >= $1) AND ($2::date IS NULL OR sales_date <= $2)",
            date_from,
            date_to,
        )
    assert r is not None  # an aggregate without GROUP BY always has its row
    return DaysCount(days=r["days"], first=r["first"], last=r["last"])


# The trailing window of each point is the 7 calendar days before it, as in
# reporter.facts.trailing_window (and so as in the day's report).
_HISTORY = """
SELECT s.sales_date, s.total_revenue AS revenue, s.total_units AS units, t.days AS trailing_days,
       t.revenue AS trailing_revenue
FROM (SELECT sales_date, total_revenue, total_units FROM sales_days
      WHERE sales_date <= $1 AND sales_date > $1 - $2::int) s
CROSS JOIN LATERAL (
    SELECT count(*) AS days, coalesce(sum(total_revenue), 0) AS revenue FROM sales_days
    WHERE sales_date >= s.sales_date - $3::int AND sales_date < s.sales_date
) t
ORDER BY s.sales_date
"""


async def day_history(
    pool: asyncpg.Pool, sales_date: dt.date, *, days: int, trailing_days: int
) -> list[HistoryPoint]:
    """The stored days among the ``days`` calendar days that end with sales_date, oldest first,
    each with its trailing window."""
    async with translate_errors("day_history"):
        rows = await pool.fetch(_HISTORY, sales_date, days, trailing_days)
    return [HistoryPoint(**dict(r)) for r in rows]


_UPLOAD_COLUMNS = (
    "upload_id, status, sales_date, source, sender, size_bytes, products_seen, products_stored, "
    "products_rejected, errors, received_at"
)


async def recent_uploads(
    pool: asyncpg.Pool, *, before: tuple[dt.datetime, UUID] | None, limit: int
) -> list[UploadRow]:
    """Recorded uploads, newest first, keyset-paginated by (received_at, upload_id)."""
    at, last_id = before if before is not None else (None, None)
    async with translate_errors("recent_uploads"):
        rows = await pool.fetch(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads "
            "WHERE $1::timestamptz IS NULL OR (received_at, upload_id) < ($1, $2::uuid) "
            "ORDER BY received_at DESC, upload_id DESC LIMIT $3",
            at,
            last_id,
            limit,
        )
    return [UploadRow(**dict(r)) for r in rows]


async def uploads_of_day(pool: asyncpg.Pool, sales_date: dt.date, *, limit: int) -> list[UploadRow]:
    """Every recorded upload of a date (the one stored, and the rejected and duplicate ones), newest first."""
    async with translate_errors("uploads_of_day"):
        rows = await pool.fetch(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE sales_date = $1 "
            "ORDER BY received_at DESC, upload_id DESC LIMIT $2",
            sales_date,
            limit,
        )
    return [UploadRow(**dict(r)) for r in rows]


async def upload_row(pool: asyncpg.Pool, upload_id: UUID) -> UploadRow | None:
    async with translate_errors("upload_row"):
        r = await pool.fetchrow(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE upload_id = $1", upload_id
        )
    return None if r is None else UploadRow(**dict(r))

"""Reports table: the reporter's writes and the read API's queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import asyncpg

from ..models import ReportStatus
from .db import translate_errors

__all__ = [
    "DAY_STATUSES",
    "DayReport",
    "ReportInput",
    "ReportOutcome",
    "ReportRow",
    "get_report",
    "latest_report",
    "record_failure",
    "report_days",
    "report_progress",
    "request_report",
    "save_report",
]

# A stored day's report status, from its newest report row: "ok" or "failed" (written),
# "pending" (requested and not written yet, or retrying after a failed LLM round),
# "missing" (no report row yet: the first report of a freshly stored day is on its way).
DAY_STATUSES = ("ok", "failed", "pending", "missing")


@dataclass(frozen=True, slots=True)
class ReportRow:
    report_id: UUID
    sales_date: dt.date
    upload_id: UUID
    status: ReportStatus
    language: str
    prompt_version: str
    facts: dict[str, Any] | None
    system_prompt: str | None
    prompt: str | None
    text: str | None
    model: str | None
    usage: dict[str, Any]
    verified: bool
    unverified_numbers: list[str]
    attempts: int
    error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    # Set when a correction changed figures this report used (its day's, or an earlier
    # day's in its comparisons); a newer report of the day is on its way.
    stale_reason: str | None = None
    stale_at: dt.datetime | None = None
    # For every number of the text: where it came from (models.ReportClaim as JSON).
    claims: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReportInput:
    """What a report is of and was written from: shared by its success and its failure."""

    report_id: UUID
    sales_date: dt.date
    upload_id: UUID
    language: str
    prompt_version: str
    facts: dict[str, Any] | None
    system_prompt: str | None
    prompt: str | None


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """How the writing ended: the text (ok), or why there is none (failed)."""

    status: Literal["ok", "failed"]
    text: str | None
    model: str | None
    usage: dict[str, Any]
    verified: bool
    unverified_numbers: list[str]
    attempts: int
    error: str | None
    claims: list[dict[str, Any]] = field(default_factory=list)


_COLUMNS = ", ".join(ReportRow.__slots__)


def _row(r: asyncpg.Record) -> ReportRow:
    return ReportRow(**dict(r))


@dataclass(frozen=True, slots=True)
class DayReport:
    """A stored day with where its report stands, and its newest written report if any."""

    sales_date: dt.date
    status: str  # one of DAY_STATUSES
    attempts: int
    error: str | None
    updated_at: dt.datetime | None
    report: ReportRow | None


async def get_report(pool: asyncpg.Pool, report_id: UUID) -> ReportRow | None:
    async with translate_errors("get_report"):
        r = await pool.fetchrow(f"SELECT {_COLUMNS} FROM reports WHERE report_id = $1", report_id)
    return None if r is None else _row(r)


async def latest_report(pool: asyncpg.Pool, sales_date: dt.date) -> ReportRow | None:
    """The newest finished report of a day (a pending regeneration does not hide the last one)."""
    async with translate_errors("latest_report"):
        r = await pool.fetchrow(
            f"SELECT {_COLUMNS} FROM reports WHERE sales_date = $1 AND status <> 'pending' "
            "ORDER BY created_at DESC LIMIT 1",
            sales_date,
        )
    return None if r is None else _row(r)


_RANGE = "($1::date IS NULL OR d.sales_date >= $1) AND ($2::date IS NULL OR d.sales_date <= $2)"
# The newest row of a day (pending included): what the day's status is.
_NEWEST = (
    "LEFT JOIN LATERAL (SELECT status, attempts, error, updated_at FROM reports r "
    "WHERE r.sales_date = d.sales_date ORDER BY created_at DESC LIMIT 1) n ON true"
)


async def report_days(
    pool: asyncpg.Pool,
    *,
    date_from: dt.date | None,
    date_to: dt.date | None,
    after: dt.date | None,
    limit: int,
) -> list[DayReport]:
    """Stored days ascending (keyset-paginated by date), each with its status and newest written report."""
    cols = ", ".join(f"w.{c} AS w_{c}" for c in ReportRow.__slots__)
    async with translate_errors("report_days"):
        rows = await pool.fetch(
            f"SELECT d.sales_date, n.status, n.attempts, n.error, n.updated_at, {cols} "
            f"FROM (SELECT sales_date FROM sales_days d WHERE {_RANGE} AND ($3::date IS NULL OR sales_date > $3) "
            "      ORDER BY sales_date LIMIT $4) d "
            f"{_NEWEST} "
            "LEFT JOIN LATERAL (SELECT * FROM reports r WHERE r.sales_date = d.sales_date AND status <> 'pending' "
            "                   ORDER BY created_at DESC LIMIT 1) w ON true "
            "ORDER BY d.sales_date",
            date_from,
            date_to,
            after,
            limit,
        )
    out = []
    for r in rows:
        written = (
            ReportRow(**{c: r[f"w_{c}"] for c in ReportRow.__slots__}) if r["w_report_id"] else None
        )
        out.append(
            DayReport(
                sales_date=r["sales_date"],
                status=r["status"] or "missing",
                attempts=r["attempts"] or 0,
                error=r["error"],
                updated_at=r["updated_at"],
                report=written,
            )
        )
    return out


async def report_progress(
    pool: asyncpg.Pool, *, date_from: dt.date | None, date_to: dt.date | None
) -> dict[str, int]:
    """Stored days of a range counted by report status, plus ok reports that are not verified."""
    async with translate_errors("report_progress"):
        rows = await pool.fetch(
            "SELECT coalesce(n.status, 'missing') AS status, count(*) AS days,"
            " count(*) FILTER (WHERE n.status = 'ok' AND NOT n.verified) AS unverified "
            "FROM sales_days d LEFT JOIN LATERAL (SELECT status, verified FROM reports r "
            "  WHERE r.sales_date = d.sales_date ORDER BY created_at DESC LIMIT 1) n ON true "
            f"WHERE {_RANGE} GROUP BY 1",
            date_from,
            date_to,
        )
    counts = dict.fromkeys(DAY_STATUSES, 0)
    for r in rows:
        counts[r["status"]] = r["days"]
    counts["days"] = sum(counts[s] for s in DAY_STATUSES)
    counts["unverified"] = sum(r["unverified"] for r in rows)
    return counts


async def request_report(
    pool: asyncpg.Pool, *, report_id: UUID, sales_date: dt.date, upload_id: UUID, language: str
) -> None:
    """Show a requested report as pending until the reporter writes it (which may already have happened)."""
    async with translate_errors("request_report"):
        await pool.execute(
            "INSERT INTO reports (report_id, sales_date, upload_id, status, language, prompt_version) "
            "VALUES ($1, $2, $3, 'pending', $4, '') ON CONFLICT (report_id) DO NOTHING",
            report_id,
            sales_date,
            upload_id,
            language,
        )


async def record_failure(
    pool: asyncpg.Pool,
    *,
    report_id: UUID,
    sales_date: dt.date,
    upload_id: UUID,
    language: str,
    prompt_version: str,
    error: str,
    calls: int,
) -> int:
    """Add a failed round's LLM calls to a (still pending) report; return its attempts (calls) so far."""
    async with translate_errors("record_failure"):
        attempts: int = await pool.fetchval(
            "INSERT INTO reports (report_id, sales_date, upload_id, status, language, prompt_version,"
            " attempts, error) VALUES ($1, $2, $3, 'pending', $4, $5, $7, $6) "
            "ON CONFLICT (report_id) DO UPDATE SET attempts = reports.attempts + EXCLUDED.attempts,"
            " error = EXCLUDED.error, updated_at = now() WHERE reports.status = 'pending' RETURNING attempts",
            report_id,
            sales_date,
            upload_id,
            language,
            prompt_version,
            error,
            calls,
        )
    return attempts or 0


_UPSERT = (
    "INSERT INTO reports (report_id, sales_date, upload_id, status, language, prompt_version, facts,"
    " system_prompt, prompt, text, model, usage, verified, unverified_numbers, attempts, error,"
    " stale_reason, stale_at, claims) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,"
    " CASE WHEN $17::text IS NULL THEN NULL ELSE clock_timestamp() END, $18) "
    "ON CONFLICT (report_id) DO UPDATE SET status = EXCLUDED.status, language = EXCLUDED.language,"
    " prompt_version = EXCLUDED.prompt_version, facts = EXCLUDED.facts,"
    " system_prompt = EXCLUDED.system_prompt, prompt = EXCLUDED.prompt, text = EXCLUDED.text,"
    " model = EXCLUDED.model, usage = EXCLUDED.usage, verified = EXCLUDED.verified,"
    " unverified_numbers = EXCLUDED.unverified_numbers, claims = EXCLUDED.claims,"
    " attempts = GREATEST(reports.attempts, EXCLUDED.attempts), error = EXCLUDED.error,"
    " stale_reason = coalesce(reports.stale_reason, EXCLUDED.stale_reason),"
    " stale_at = coalesce(reports.stale_at, EXCLUDED.stale_at),"
    " updated_at = now() WHERE reports.status = 'pending' "
    f"RETURNING {_COLUMNS}"
)

# The day's current report, if any: finished, not stale (at most one: the partial unique
# index reports_one_current_idx, migrations/0006_one_current_report.sql).
_CURRENT = (
    "SELECT report_id, created_at FROM reports WHERE sales_date = $1 AND status <> 'pending'"
    " AND stale_reason IS NULL AND report_id <> $2"
)


async def save_report(pool: asyncpg.Pool, report: ReportInput, outcome: ReportOutcome) -> ReportRow:
    """Store a finished report (idempotent on report_id: a finished row is never rewritten).

    A day has at most one current (not stale) report, under any interleaving of
    corrections, regenerations and redeliveries. Under the day's lock (the sales_days row,
    which a correction locks too) the report is stored stale at once when its upload no
    longer owns the day, or when the day's current report is newer than it; otherwise it
    becomes the current one and the older current report turns stale.
    """
    async with translate_errors("save_report"), pool.acquire() as conn, conn.transaction():
        owner = await conn.fetchval(
            "SELECT upload_id FROM sales_days WHERE sales_date = $1 FOR NO KEY UPDATE",
            report.sales_date,
        )
        done = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM reports WHERE report_id = $1", report.report_id
        )
        if done is not None and done["status"] != "pending":
            return _row(done)  # finished by an earlier delivery: keep that one
        mine = done["created_at"] if done is not None else await conn.fetchval("SELECT now()")
        current = await conn.fetchrow(_CURRENT, report.sales_date, report.report_id)
        stale = _stale_at_once(report, owner=owner, current=current, created_at=mine)
        if stale is None and current is not None:
            await conn.execute(
                "UPDATE reports SET stale_reason = $2, stale_at = clock_timestamp()"
                " WHERE report_id = $1",
                current["report_id"],
                f"report {report.report_id}, newer, replaced it",
            )
        r = await conn.fetchrow(
            _UPSERT,
            report.report_id,
            report.sales_date,
            report.upload_id,
            outcome.status,
            report.language,
            report.prompt_version,
            report.facts,
            report.system_prompt,
            report.prompt,
            outcome.text,
            outcome.model,
            outcome.usage,
            outcome.verified,
            outcome.unverified_numbers,
            outcome.attempts,
            outcome.error,
            stale,
            outcome.claims,
        )
    if r is None:  # the day is gone (its row cascades to its reports): nothing to keep
        raise LookupError(f"report {report.report_id} vanished while being saved")
    return _row(r)


def _stale_at_once(
    report: ReportInput,
    *,
    owner: UUID | None,
    current: asyncpg.Record | None,
    created_at: dt.datetime,
) -> str | None:
    """Why a report being saved is stale already (None: it is the day's current report)."""
    if owner is not None and owner != report.upload_id:
        return (
            f"written from upload {report.upload_id}, which a correction replaced by {owner} "
            "before the report was stored; the day's new report comes from the correction"
        )
    if current is not None and (current["created_at"], str(current["report_id"])) > (
        created_at,
        str(report.report_id),
    ):
        return f"report {current['report_id']}, newer, was stored first and is the day's report"
    return None

"""Reports table: the reporter's writes and the read API's queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg

from ..models import ReportStatus
from .db import translate_errors

__all__ = ["ReportRow", "ReportInput", "ReportOutcome", "get_report", "latest_report", "list_reports",
           "record_failure", "save_report"]


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


_COLUMNS = ", ".join(ReportRow.__slots__)


def _row(r: asyncpg.Record) -> ReportRow:
    return ReportRow(**dict(r))


async def get_report(pool: asyncpg.Pool, report_id: UUID) -> ReportRow | None:
    async with translate_errors("get_report"):
        r = await pool.fetchrow(f"SELECT {_COLUMNS} FROM reports WHERE report_id = $1", report_id)
    return None if r is None else _row(r)


async def latest_report(pool: asyncpg.Pool, sales_date: dt.date) -> ReportRow | None:
    """The newest finished report of a day (a pending regeneration does not hide the last one)."""
    async with translate_errors("latest_report"):
        r = await pool.fetchrow(
            f"SELECT {_COLUMNS} FROM reports WHERE sales_date = $1 AND status <> 'pending' "
            "ORDER BY created_at DESC LIMIT 1", sales_date)
    return None if r is None else _row(r)


async def list_reports(pool: asyncpg.Pool, *, date_from: dt.date | None, date_to: dt.date | None,
                       after: dt.date | None, limit: int) -> list[ReportRow]:
    """Newest finished report per day, days ascending, keyset-paginated by date."""
    async with translate_errors("list_reports"):
        rows = await pool.fetch(
            f"SELECT DISTINCT ON (sales_date) {_COLUMNS} FROM reports "
            "WHERE status <> 'pending' AND ($1::date IS NULL OR sales_date >= $1) "
            "AND ($2::date IS NULL OR sales_date <= $2) AND ($3::date IS NULL OR sales_date > $3) "
            "ORDER BY sales_date, created_at DESC LIMIT $4", date_from, date_to, after, limit)
    return [_row(r) for r in rows]


async def record_failure(pool: asyncpg.Pool, *, report_id: UUID, sales_date: dt.date, upload_id: UUID,
                         language: str, prompt_version: str, error: str, calls: int) -> int:
    """Add a failed round's LLM calls to a (still pending) report; return its attempts (calls) so far."""
    async with translate_errors("record_failure"):
        attempts: int = await pool.fetchval(
            "INSERT INTO reports (report_id, sales_date, upload_id, status, language, prompt_version,"
            " attempts, error) VALUES ($1, $2, $3, 'pending', $4, $5, $7, $6) "
            "ON CONFLICT (report_id) DO UPDATE SET attempts = reports.attempts + EXCLUDED.attempts,"
            " error = EXCLUDED.error, updated_at = now() WHERE reports.status = 'pending' RETURNING attempts",
            report_id, sales_date, upload_id, language, prompt_version, error, calls)
    return attempts or 0


async def save_report(pool: asyncpg.Pool, report: ReportInput, outcome: ReportOutcome) -> ReportRow:
    """Store a finished report (idempotent on report_id: a finished row is never rewritten)."""
    async with translate_errors("save_report"):
        r = await pool.fetchrow(
            "INSERT INTO reports (report_id, sales_date, upload_id, status, language, prompt_version, facts,"
            " system_prompt, prompt, text, model, usage, verified, unverified_numbers, attempts, error) "
            "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) "
            "ON CONFLICT (report_id) DO UPDATE SET status = EXCLUDED.status, facts = EXCLUDED.facts,"
            " system_prompt = EXCLUDED.system_prompt, prompt = EXCLUDED.prompt, text = EXCLUDED.text,"
            " model = EXCLUDED.model, usage = EXCLUDED.usage, verified = EXCLUDED.verified,"
            " unverified_numbers = EXCLUDED.unverified_numbers,"
            " attempts = GREATEST(reports.attempts, EXCLUDED.attempts), error = EXCLUDED.error,"
            " updated_at = now() WHERE reports.status = 'pending' "
            f"RETURNING {_COLUMNS}",
            report.report_id, report.sales_date, report.upload_id, outcome.status, report.language,
            report.prompt_version, report.facts, report.system_prompt, report.prompt, outcome.text,
            outcome.model, outcome.usage, outcome.verified, outcome.unverified_numbers, outcome.attempts,
            outcome.error)
    if r is None:  # already finished by an earlier delivery: keep that one
        done = await get_report(pool, report.report_id)
        if done is None:  # the row that stopped the update was deleted in between
            raise LookupError(f"report {report.report_id} vanished while being saved")
        return done
    return _row(r)

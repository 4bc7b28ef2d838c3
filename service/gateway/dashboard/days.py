"""The Days page, a day's page, its report as JSON or Markdown, and its regeneration.

A day's figures come from its report's stored facts (the numbers its text was
checked against) or, while no report exists yet, from the reporter's facts SQL;
nothing here reads a day's lines.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from ...figures.facts import PARAMETERS, Facts
from ...figures.load import load_facts
from ...storage import dashboard as q
from ...storage import reads as day_reads
from ...storage.db import translate_errors
from ...storage.reports import latest_report
from .. import read_routes
from ..errors import ApiError
from ..state import Gateway, gateway
from .access import Reader, Uploader, check_csrf
from .render import context
from .state import dashboard
from .views import calendar_months, calendar_rows, day_charts, history_rows

__all__ = ["DAYS_PER_PAGE", "ERRORS_SHOWN", "HISTORY_DAYS", "router"]

router = APIRouter(prefix="/ui", include_in_schema=False)

DAYS_PER_PAGE = 31
HISTORY_DAYS = 28  # the day against the stored days of the four weeks that end with it
ERRORS_SHOWN = 200  # of the (at most MAX_ISSUES_STORED) errors an upload keeps


def _date_param(value: str | None) -> tuple[dt.date | None, str | None]:
    if not value:
        return None, None
    try:
        return dt.date.fromisoformat(value), None
    except ValueError:
        return None, f"'{value}' is not a date (YYYY-MM-DD)"


@router.get("/days")
async def days(
    request: Request, user: Reader, to: str | None = None, before: str | None = None
) -> Response:
    dash, gw = dashboard(request), gateway(request)
    lower, e1 = _date_param(request.query_params.get("from"))  # "from" is a keyword in Python
    upper, e2 = _date_param(to)
    cursor, e3 = _date_param(before)
    problems = [e for e in (e1, e2, e3) if e]
    if lower and upper and lower > upper:
        problems.append("'from' is after 'to'")
        lower = upper = None
    rows = await q.days_page(
        gw.pool, date_from=lower, date_to=upper, before=cursor, limit=DAYS_PER_PAGE + 1
    )
    more = len(rows) > DAYS_PER_PAGE
    shown = rows[:DAYS_PER_PAGE]
    top = cursor - dt.timedelta(days=1) if cursor else upper
    bottom = rows[DAYS_PER_PAGE].sales_date + dt.timedelta(days=1) if more else lower
    count = await q.days_count(gw.pool, date_from=lower, date_to=upper)
    span = (
        ((upper or count.last) - (lower or count.first)).days + 1
        if count.first and count.last
        else 0
    )
    query = {k: v for k, v in (("from", lower), ("to", upper)) if v}
    next_query = (
        {**{k: v.isoformat() for k, v in query.items()}, "before": shown[-1].sales_date.isoformat()}
        if more
        else None
    )
    grid_last = top or (shown[0].sales_date if shown else None)
    grid_first = bottom or (shown[-1].sales_date if shown else None)
    months = (
        calendar_months(shown, first=grid_first, last=grid_last) if grid_first and grid_last else []
    )
    return dash.renderer.page(
        "days.html",
        context(
            user,
            "days",
            rows=calendar_rows(shown, upper=top, lower=bottom),
            months=months,
            count=count,
            span=span,
            date_from=lower,
            date_to=upper,
            paged=cursor is not None,
            next_query=next_query,
            problems=problems,
        ),
    )


async def _facts(gw: Gateway, sales_date: dt.date, stored: dict[str, Any] | None) -> Facts:
    if stored:
        return Facts.model_validate(stored)
    async with translate_errors("load_facts"), gw.pool.acquire() as conn:
        return await load_facts(conn, sales_date)


@router.get("/days/{sales_date}")
async def day(
    request: Request, sales_date: str, user: Reader, regenerated: str | None = None
) -> Response:
    dash, gw = dashboard(request), gateway(request)
    parsed, problem = _date_param(sales_date)
    summary = await day_reads.day_summary(gw.pool, parsed) if parsed else None
    if parsed is None or summary is None:
        return dash.renderer.page(
            "missing.html",
            context(user, "days", what=f"No sales are stored for {sales_date}.", problem=problem),
            status=404,
        )
    status_rows = await q.days_page(gw.pool, date_from=parsed, date_to=parsed, before=None, limit=1)
    report = await latest_report(gw.pool, parsed)
    facts = await _facts(gw, parsed, report.facts if report else None)
    history = await q.day_history(
        gw.pool, parsed, days=HISTORY_DAYS, trailing_days=PARAMETERS.trailing_days
    )
    uploads = await q.uploads_of_day(gw.pool, parsed, limit=20)
    own = next((u for u in uploads if u.upload_id == summary["upload_id"]), None)
    charts = day_charts(facts, history, language=gw.settings.report_language)
    return dash.renderer.page(
        "day.html",
        context(
            user,
            "days",
            day=summary,
            status=status_rows[0] if status_rows else None,
            report=report,
            facts=facts,
            charts=charts,
            history=history_rows(history),
            own=own,
            errors=(own.errors[:ERRORS_SHOWN] if own else []),
            others=[u for u in uploads if u.upload_id != summary["upload_id"]],
            regenerated=regenerated == "1",
        ),
    )


async def _report_or_404(gw: Gateway, sales_date: dt.date) -> Any:
    row = await latest_report(gw.pool, sales_date)
    if row is None:
        raise ApiError(404, "unknown_report", f"no report for {sales_date} yet")
    return row


@router.get("/days/{sales_date}/report.json")
async def report_json(request: Request, sales_date: dt.date, user: Reader) -> Response:
    row = await _report_or_404(gateway(request), sales_date)
    return JSONResponse(read_routes.report_json(row), headers={"Cache-Control": "no-store"})


@router.get("/days/{sales_date}/report.md")
async def report_md(request: Request, sales_date: dt.date, user: Reader) -> Response:
    row = await _report_or_404(gateway(request), sales_date)
    return PlainTextResponse(
        read_routes.report_markdown(row),
        media_type="text/markdown; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/days/{sales_date}/regenerate")
async def regenerate(
    request: Request,
    sales_date: dt.date,
    user: Uploader,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, user, csrf)
    await read_routes.regenerate(sales_date, gateway(request), user.principal)
    return RedirectResponse(f"/ui/days/{sales_date.isoformat()}?regenerated=1", status_code=303)

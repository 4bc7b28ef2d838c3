"""Read API: upload status, stored days and their lines, reports; regeneration requests."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..errors import StorageUnavailable
from ..events import ReportRequest
from ..ids import report_id_for_request
from ..logs import ctx
from ..names import HEADER_CONTENT_TYPE, HEADER_EVENT_ID, TOPIC_REPORT_REQUESTS
from ..storage import reads as q
from ..storage.reports import (
    DayReport,
    ReportRow,
    latest_report,
    report_days,
    report_progress,
    request_report,
)
from .auth import Principal
from .errors import ApiError
from .guard import require
from .receipts import receipt
from .state import Gateway, gateway

__all__ = ["get_upload", "regenerate", "report_json", "report_markdown", "router"]

T = TypeVar("T")

router = APIRouter(prefix="/v1")
log = logging.getLogger("sales_analyzer.gateway")


def _cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _uncursor(cursor: str | None, parse: Callable[[str], T]) -> T | None:
    """The position a cursor of ours holds, read by ``parse``; 400 for anything else."""
    if not cursor:
        return None
    try:
        return parse(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except ValueError as exc:
        raise ApiError(400, "bad_cursor", "the cursor is not one this API returned") from exc


@router.get("/uploads/{upload_id}", summary="Status of an upload")
async def get_upload(
    upload_id: uuid.UUID,
    gw: Annotated[Gateway, Depends(gateway)],
    _: Annotated[Principal, require("read")],
) -> dict[str, Any]:
    body = await receipt(gw, upload_id)
    if body is not None:
        return body
    day = await gw.days.received_day(str(upload_id))
    if day is not None:
        return {"upload_id": str(upload_id), "status": "received", "sales_date": day}
    raise ApiError(404, "unknown_upload", "no upload with this id")


@router.get(
    "/sales/{sales_date}", summary="A stored day's totals (and whether its report is stale)"
)
async def get_day(
    sales_date: dt.date,
    gw: Annotated[Gateway, Depends(gateway)],
    _: Annotated[Principal, require("read")],
) -> dict[str, Any]:
    row = await q.day_summary(gw.pool, sales_date)
    if row is None:
        raise ApiError(404, "unknown_day", f"no sales stored for {sales_date}")
    report = await latest_report(gw.pool, sales_date)
    return {
        **row,
        "total_revenue": str(row["total_revenue"]),
        "upload_id": str(row["upload_id"]),
        "report": None
        if report is None
        else {
            "report_id": str(report.report_id),
            "status": report.status,
            "stale": report.stale_reason is not None,
            "stale_reason": report.stale_reason,
        },
    }


@router.get("/sales/{sales_date}/lines", summary="A stored day's product lines, paginated")
async def get_lines(
    sales_date: dt.date,
    gw: Annotated[Gateway, Depends(gateway)],
    _: Annotated[Principal, require("read")],
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    after_id = _uncursor(cursor, int)
    rows = await q.day_lines(gw.pool, sales_date, after=after_id, limit=limit)
    if not rows and after_id is None and await q.day_summary(gw.pool, sales_date) is None:
        raise ApiError(404, "unknown_day", f"no sales stored for {sales_date}")
    items = [{**r, "price": str(r["price"]), "revenue": str(r["revenue"])} for r in rows]
    nxt = _cursor(str(rows[-1]["product_id"])) if len(rows) == limit else None
    return {"sales_date": sales_date.isoformat(), "items": items, "next_cursor": nxt}


def report_json(row: ReportRow) -> dict[str, Any]:
    """A report as the API serves it; the original service's field names are kept as aliases."""
    return {
        "report_id": str(row.report_id),
        "sales_date": row.sales_date.isoformat(),
        "upload_id": str(row.upload_id),
        "status": row.status,
        "verified": row.verified,
        "unverified_numbers": row.unverified_numbers,
        "claims": row.claims,
        "text": row.text,
        "language": row.language,
        "model": row.model,
        "prompt_version": row.prompt_version,
        "system_prompt": row.system_prompt,
        "prompt": row.prompt,
        "facts": row.facts,
        "usage": row.usage,
        "attempts": row.attempts,
        "error": row.error,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "stale": row.stale_reason is not None,
        "stale_reason": row.stale_reason,
        # the original service's names
        "id": str(row.report_id),
        "date": row.sales_date.isoformat(),
        "start_prompt": row.prompt,
        "report": row.text,
        "create_date": row.created_at.isoformat(),
        "update_date": row.updated_at.isoformat(),
    }


def report_markdown(row: ReportRow) -> str:
    state = (
        "verified"
        if row.verified
        else f"NOT verified: {', '.join(row.unverified_numbers) or row.error}"
    )
    if row.stale_reason:
        state += f" · STALE: {row.stale_reason}"
    return (
        f"# Sales report {row.sales_date.isoformat()}\n\n{row.text or ''}\n\n---\n"
        f"model: {row.model} · prompt {row.prompt_version} · {state} · {row.created_at.isoformat()}\n"
    )


def _day_json(day: DayReport) -> dict[str, Any]:
    return {
        "sales_date": day.sales_date.isoformat(),
        "status": day.status,
        "attempts": day.attempts,
        "error": day.error,
        "updated_at": day.updated_at.isoformat() if day.updated_at else None,
        "report_id": str(day.report.report_id) if day.report else None,
        "verified": day.report.verified if day.report else None,
        "stale": day.report.stale_reason is not None if day.report else None,
    }


@router.get(
    "/reports",
    summary="Stored days of a date range with their report status and newest report, "
    "paginated; progress counts for the whole range",
)
async def get_reports(
    gw: Annotated[Gateway, Depends(gateway)],
    _: Annotated[Principal, require("read")],
    date_from: Annotated[dt.date | None, Query(alias="from")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """A page of stored days (by date): ``days`` says where each day's report stands
    (ok, failed, pending, missing), ``items`` holds the newest written report of those
    days that have one; ``progress`` counts the statuses over the whole range (the
    number to watch during a backfill)."""
    after = _uncursor(cursor, lambda s: dt.date.fromisoformat(s) if s else None)
    page = await report_days(
        gw.pool, date_from=date_from, date_to=date_to, after=after, limit=limit
    )
    progress = await report_progress(gw.pool, date_from=date_from, date_to=date_to)
    nxt = _cursor(page[-1].sales_date.isoformat()) if len(page) == limit else None
    return {
        "items": [report_json(d.report) for d in page if d.report is not None],
        "days": [_day_json(d) for d in page],
        "progress": progress,
        "next_cursor": nxt,
    }


@router.get(
    "/reports/{sales_date}",
    summary="The newest report of a day (JSON, or Markdown with ?format=md)",
    response_model=None,
)
async def get_report(
    sales_date: dt.date,
    gw: Annotated[Gateway, Depends(gateway)],
    _: Annotated[Principal, require("read")],
    format: Literal["json", "md"] = "json",
) -> Response | dict[str, Any]:
    row = await latest_report(gw.pool, sales_date)
    if row is None:
        raise ApiError(404, "unknown_report", f"no report for {sales_date} yet")
    if format == "md":
        return PlainTextResponse(report_markdown(row), media_type="text/markdown; charset=utf-8")
    return report_json(row)


@router.post(
    "/reports/{sales_date}/regenerate",
    status_code=202,
    summary="Ask for a new report of a stored day (answered on sales.reports)",
)
async def regenerate(
    sales_date: dt.date,
    gw: Annotated[Gateway, Depends(gateway)],
    principal: Annotated[Principal, require("upload")],
) -> JSONResponse:
    day = await q.day_summary(gw.pool, sales_date)
    if day is None:
        raise ApiError(404, "unknown_day", f"no sales stored for {sales_date}")
    req = ReportRequest(
        request_id=uuid.uuid4(),
        sales_date=sales_date,
        requested_by=principal.name,
        requested_at=dt.datetime.now(dt.UTC),
    )
    await gw.publisher.publish(
        req.model_dump_json().encode(),
        topic=TOPIC_REPORT_REQUESTS,
        key=sales_date.isoformat(),
        headers={HEADER_EVENT_ID: req.event_id, HEADER_CONTENT_TYPE: "application/json"},
    )
    # After the publish: a pending row never exists for a request that was not sent.
    # (The reporter may have written the report already; then this changes nothing.)
    try:
        await request_report(
            gw.pool,
            report_id=report_id_for_request(req.request_id),
            sales_date=sales_date,
            upload_id=day["upload_id"],
            language=gw.settings.report_language,
        )
    except StorageUnavailable as exc:
        # The request is out and will be answered; only its "pending" mark is missing.
        # A 503 would make the client ask (and pay) twice.
        log.warning(
            "regeneration requested, not marked pending",
            extra=ctx(sales_date=sales_date, error=str(exc)),
        )
    return JSONResponse(
        {
            "request_id": str(req.request_id),
            "sales_date": sales_date.isoformat(),
            "status": "requested",
        },
        status_code=202,
    )

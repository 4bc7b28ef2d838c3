"""The Uploads page, an upload's page and status, and the Upload page with its own upload route.

The upload route takes the session cookie and its CSRF token instead of a bearer
token, then runs exactly the API's steps (gateway.body.read_body and gateway.submission.submit).
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ...names import DUPLICATE_DAY_MESSAGE
from ...storage import dashboard as q
from ...storage.uploads import find_uploads
from .. import read_routes
from ..body import read_body
from ..errors import ApiError
from ..state import gateway
from ..submission import submit
from .access import Reader, Uploader, check_csrf
from .days import ERRORS_SHOWN
from .recent import Accepted
from .render import context
from .state import dashboard

__all__ = ["UPLOADS_PER_PAGE", "router"]

router = APIRouter(prefix="/ui", include_in_schema=False)

UPLOADS_PER_PAGE = 50


def _upload_cursor(value: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    if not value:
        return None
    at, _, upload_id = value.partition("_")
    try:
        return dt.datetime.fromisoformat(at), uuid.UUID(upload_id)
    except ValueError:
        return None


@router.get("/uploads")
async def uploads(request: Request, user: Reader, before: str | None = None) -> Response:
    dash, gw = dashboard(request), gateway(request)
    cursor = _upload_cursor(before)
    rows = await q.recent_uploads(gw.pool, before=cursor, limit=UPLOADS_PER_PAGE + 1)
    more = len(rows) > UPLOADS_PER_PAGE
    rows = rows[:UPLOADS_PER_PAGE]
    received: list[Accepted] = []
    if cursor is None:  # uploads still on their way to ingest: only on the first page
        recent = await dash.recent.newest()
        recorded = {str(r.upload_id) for r in rows}
        unknown = [a for a in recent if a.upload_id not in recorded]
        stored = (
            await find_uploads(gw.pool, [uuid.UUID(a.upload_id) for a in unknown])
            if unknown
            else {}
        )
        for a in unknown:
            if (
                uuid.UUID(a.upload_id) not in stored
                and await gw.days.received_day(a.upload_id) is not None
            ):
                received.append(a)
    next_cursor = f"{rows[-1].received_at.isoformat()}_{rows[-1].upload_id}" if more else None
    return dash.renderer.page(
        "uploads.html",
        context(
            user,
            "uploads",
            rows=rows,
            received=received,
            next_cursor=next_cursor,
            paged=cursor is not None,
        ),
    )


@router.get("/uploads/{upload_id}")
async def upload_page(request: Request, upload_id: str, user: Reader) -> Response:
    dash, gw = dashboard(request), gateway(request)
    try:
        parsed = uuid.UUID(upload_id)
    except ValueError:
        parsed = None
    row = await q.upload_row(gw.pool, parsed) if parsed else None
    received = await gw.days.received_day(str(parsed)) if parsed and row is None else None
    if row is None and received is None:
        return dash.renderer.page(
            "missing.html",
            context(user, "uploads", what="No upload with this id.", problem=None),
            status=404,
        )
    return dash.renderer.page(
        "upload_detail.html",
        context(
            user,
            "uploads",
            row=row,
            upload_id=str(parsed),
            received_day=received,
            errors=(row.errors[:ERRORS_SHOWN] if row else []),
        ),
    )


@router.get("/uploads/{upload_id}/status")
async def upload_status(request: Request, upload_id: uuid.UUID, user: Reader) -> Response:
    body = await read_routes.get_upload(upload_id, gateway(request), user.principal)
    if "errors" in body:
        body["errors_total"] = len(body["errors"])
        body["errors"] = body["errors"][:ERRORS_SHOWN]
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/upload")
async def upload_form(request: Request, user: Reader) -> Response:
    gw = gateway(request)
    return dashboard(request).renderer.page(
        "upload.html", context(user, "upload", max_bytes=gw.settings.max_upload_bytes)
    )


@router.post("/upload")
async def upload(request: Request, user: Uploader) -> Response:
    """The dashboard's own upload path: the session cookie and its CSRF token (header)
    instead of a bearer token; then exactly the API's steps (submission.submit)."""
    check_csrf(request, user, request.headers.get("x-csrf-token"))
    gw = gateway(request)
    # A big day streams on to Kafka in chunks, as through the API.
    body, rest = await read_body(
        request, gw.settings.max_upload_bytes, whole=gw.settings.upload_chunk_bytes
    )
    result = await submit(gw, body, user.principal, None, rest)
    if result.outcome == "in_progress":
        raise ApiError(
            409,
            "day_in_progress",
            "another upload of this sales date is being processed; it may "
            "still be rejected, so try again in a little while",
            sales_date=result.sales_date,
        )
    if result.outcome == "duplicate":
        raise ApiError(409, "duplicate_day", DUPLICATE_DAY_MESSAGE, sales_date=result.sales_date)
    await dashboard(request).recent.add(
        Accepted(
            upload_id=str(result.upload_id),
            sales_date=result.sales_date,
            sender=user.principal.name,
            size_bytes=result.size_bytes,
            received_at=dt.datetime.now(dt.UTC),
        )
    )
    return JSONResponse(
        {
            "upload_id": str(result.upload_id),
            "status": "received",
            "sales_date": result.sales_date,
            "status_url": f"/ui/uploads/{result.upload_id}/status",
            "page_url": f"/ui/uploads/{result.upload_id}",
        },
        status_code=202,
    )

"""The dashboard's routes under /ui: sign-in, days, a day, uploads, an upload, upload a file.

Pages are rendered on the server (templates/); the only scripts are the
dashboard's own static files (charts, upload progress, live refresh). Reads
reuse the API's code (gateway/reads.py) and storage queries; the day's figures
come from its report's stored facts (the numbers its text was checked against)
or, while no report exists yet, from the reporter's facts SQL.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from ..gateway import reads
from ..gateway.errors import ApiError
from ..gateway.state import Gateway, gateway
from ..gateway.uploads import read_body, submit
from ..names import DUPLICATE_DAY_MESSAGE, SESSION_COOKIE
from ..reporter.facts import PARAMETERS, Facts
from ..storage import dashboard as q
from ..storage import reads as day_reads
from ..storage.db import translate_errors
from ..storage.facts_sql import load_facts
from ..storage.reports import latest_report
from ..storage.uploads import find_uploads
from .access import SignedIn, check_csrf, safe_next, signed_in
from .recent import Accepted
from .state import Dashboard, dashboard
from .views import calendar_rows, day_charts, history_rows

__all__ = ["router", "DAYS_PER_PAGE", "UPLOADS_PER_PAGE"]

router = APIRouter(prefix="/ui", include_in_schema=False)

DAYS_PER_PAGE = 31
UPLOADS_PER_PAGE = 50
HISTORY_DAYS = 28  # the day against the stored days of the four weeks that end with it
ERRORS_SHOWN = 200  # of the (at most MAX_ISSUES_STORED) errors an upload keeps
_SIGNIN_COOKIE = "sa_signin"  # the sign-in form's own CSRF value (before any session exists)

Reader = Annotated[SignedIn, signed_in("read")]
Uploader = Annotated[SignedIn, signed_in("upload")]


def _ctx(user: SignedIn | None, nav: str, **extra: Any) -> dict[str, Any]:
    return {"user": user, "nav": nav, **extra}


def _cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


# --- sign in / out --------------------------------------------------------------------

@router.get("/signin")
async def signin_form(request: Request, next: str | None = None) -> Response:
    dash = dashboard(request)
    return _signin_page(request, dash, next=safe_next(next), error=None, status=200)


def _signin_page(request: Request, dash: Dashboard, *, next: str, error: str | None, status: int) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = dash.renderer.page("signin.html", _ctx(None, "signin", next=next, error=error, nonce=nonce),
                                  status=status)
    response.set_cookie(_SIGNIN_COOKIE, nonce, max_age=3600, path="/ui/signin", httponly=True,
                        samesite="strict", secure=_cookie_secure(request))
    return response


@router.post("/signin")
async def signin(request: Request, token: Annotated[str, Form(max_length=4096)],
                 nonce: Annotated[str, Form(max_length=200)], next: Annotated[str, Form(max_length=2000)] = "",
                 ) -> Response:
    dash, gw = dashboard(request), gateway(request)
    target = safe_next(next)
    expected = request.cookies.get(_SIGNIN_COOKIE)
    if not expected or not secrets.compare_digest(expected.encode(), nonce.encode()):
        return _signin_page(request, dash, next=target, error="The form had expired; please sign in again.",
                            status=403)
    # brute force is pointless against long random tokens, but keep it bounded anyway
    client = request.client.host if request.client else "unknown"
    if await gw.limiter.check(f"ui-signin:{client}") is not None:
        return _signin_page(request, dash, next=target, error="Too many attempts; wait a minute.", status=429)
    found = gw.tokens.identify(token)
    if found is None:
        return _signin_page(request, dash, next=target, error="This token is not valid.", status=401)
    await dash.sessions.delete(request.cookies.get(SESSION_COOKIE))  # a new sign-in never reuses a session
    session_id, _ = await dash.sessions.create(found[0])
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, max_age=dash.sessions.ttl_seconds, path="/",
                        httponly=True, samesite="strict", secure=_cookie_secure(request))
    response.delete_cookie(_SIGNIN_COOKIE, path="/ui/signin")
    return response


@router.post("/signout")
async def signout(request: Request, user: Reader, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(request, user, csrf)
    await dashboard(request).sessions.delete(user.session_id)
    response = RedirectResponse("/ui/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("")
@router.get("/")
async def home() -> Response:
    return RedirectResponse("/ui/days", status_code=303)


# --- days -------------------------------------------------------------------------------

def _date_param(value: str | None) -> tuple[dt.date | None, str | None]:
    if not value:
        return None, None
    try:
        return dt.date.fromisoformat(value), None
    except ValueError:
        return None, f"'{value}' is not a date (YYYY-MM-DD)"


@router.get("/days")
async def days(request: Request, user: Reader, to: str | None = None, before: str | None = None) -> Response:
    dash, gw = dashboard(request), gateway(request)
    lower, e1 = _date_param(request.query_params.get("from"))  # "from" is a keyword in Python
    upper, e2 = _date_param(to)
    cursor, e3 = _date_param(before)
    problems = [e for e in (e1, e2, e3) if e]
    if lower and upper and lower > upper:
        problems.append("'from' is after 'to'")
        lower = upper = None
    rows = await q.days_page(gw.pool, date_from=lower, date_to=upper, before=cursor, limit=DAYS_PER_PAGE + 1)
    more = len(rows) > DAYS_PER_PAGE
    shown = rows[:DAYS_PER_PAGE]
    top = cursor - dt.timedelta(days=1) if cursor else upper
    bottom = rows[DAYS_PER_PAGE].sales_date + dt.timedelta(days=1) if more else lower
    count = await q.days_count(gw.pool, date_from=lower, date_to=upper)
    span = ((upper or count.last) - (lower or count.first)).days + 1 if count.first and count.last else 0
    query = {k: v for k, v in (("from", lower), ("to", upper)) if v}
    next_query = {**{k: v.isoformat() for k, v in query.items()}, "before": shown[-1].sales_date.isoformat()} \
        if more else None
    return dash.renderer.page("days.html", _ctx(
        user, "days", rows=calendar_rows(shown, upper=top, lower=bottom), count=count, span=span,
        date_from=lower, date_to=upper, paged=cursor is not None, next_query=next_query, problems=problems))


# --- a day ------------------------------------------------------------------------------

async def _facts(gw: Gateway, sales_date: dt.date, stored: dict[str, Any] | None) -> Facts:
    if stored:
        return Facts.model_validate(stored)
    async with translate_errors("load_facts"), gw.pool.acquire() as conn:
        return await load_facts(conn, sales_date)


@router.get("/days/{sales_date}")
async def day(request: Request, sales_date: str, user: Reader, regenerated: str | None = None) -> Response:
    dash, gw = dashboard(request), gateway(request)
    parsed, problem = _date_param(sales_date)
    summary = await day_reads.day_summary(gw.pool, parsed) if parsed else None
    if parsed is None or summary is None:
        return dash.renderer.page("missing.html", _ctx(
            user, "days", what=f"No sales are stored for {sales_date}.", problem=problem), status=404)
    status_rows = await q.days_page(gw.pool, date_from=parsed, date_to=parsed, before=None, limit=1)
    report = await latest_report(gw.pool, parsed)
    facts = await _facts(gw, parsed, report.facts if report else None)
    history = await q.day_history(gw.pool, parsed, days=HISTORY_DAYS, trailing_days=PARAMETERS.trailing_days)
    uploads = await q.uploads_of_day(gw.pool, parsed, limit=20)
    own = next((u for u in uploads if u.upload_id == summary["upload_id"]), None)
    charts = day_charts(facts, history, language=gw.settings.report_language)
    return dash.renderer.page("day.html", _ctx(
        user, "days", day=summary, status=status_rows[0] if status_rows else None, report=report, facts=facts,
        charts=charts, history=history_rows(history), own=own, errors=(own.errors[:ERRORS_SHOWN] if own else []),
        others=[u for u in uploads if u.upload_id != summary["upload_id"]], regenerated=regenerated == "1"))


async def _report_or_404(gw: Gateway, sales_date: dt.date) -> Any:
    row = await latest_report(gw.pool, sales_date)
    if row is None:
        raise ApiError(404, "unknown_report", f"no report for {sales_date} yet")
    return row


@router.get("/days/{sales_date}/report.json")
async def report_json(request: Request, sales_date: dt.date, user: Reader) -> Response:
    row = await _report_or_404(gateway(request), sales_date)
    return JSONResponse(reads.report_json(row), headers={"Cache-Control": "no-store"})


@router.get("/days/{sales_date}/report.md")
async def report_md(request: Request, sales_date: dt.date, user: Reader) -> Response:
    row = await _report_or_404(gateway(request), sales_date)
    return PlainTextResponse(reads.report_markdown(row), media_type="text/markdown; charset=utf-8",
                             headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.post("/days/{sales_date}/regenerate")
async def regenerate(request: Request, sales_date: dt.date, user: Uploader,
                     csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(request, user, csrf)
    await reads.regenerate(sales_date, gateway(request), user.principal)
    return RedirectResponse(f"/ui/days/{sales_date.isoformat()}?regenerated=1", status_code=303)


# --- uploads ------------------------------------------------------------------------------

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
        stored = await find_uploads(gw.pool, [uuid.UUID(a.upload_id) for a in unknown]) if unknown else {}
        for a in unknown:
            if uuid.UUID(a.upload_id) not in stored and await gw.days.received_day(a.upload_id) is not None:
                received.append(a)
    next_cursor = f"{rows[-1].received_at.isoformat()}_{rows[-1].upload_id}" if more else None
    return dash.renderer.page("uploads.html", _ctx(user, "uploads", rows=rows, received=received,
                                                   next_cursor=next_cursor, paged=cursor is not None))


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
        return dash.renderer.page("missing.html", _ctx(user, "uploads", what="No upload with this id.",
                                                       problem=None), status=404)
    return dash.renderer.page("upload_detail.html", _ctx(
        user, "uploads", row=row, upload_id=str(parsed), received_day=received,
        errors=(row.errors[:ERRORS_SHOWN] if row else [])))


@router.get("/uploads/{upload_id}/status")
async def upload_status(request: Request, upload_id: uuid.UUID, user: Reader) -> Response:
    body = await reads.get_upload(upload_id, gateway(request), user.principal)
    if "errors" in body:
        body["errors_total"] = len(body["errors"])
        body["errors"] = body["errors"][:ERRORS_SHOWN]
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


# --- upload a file ------------------------------------------------------------------------

@router.get("/upload")
async def upload_form(request: Request, user: Reader) -> Response:
    gw = gateway(request)
    return dashboard(request).renderer.page("upload.html", _ctx(
        user, "upload", max_bytes=gw.settings.max_upload_bytes))


@router.post("/upload")
async def upload(request: Request, user: Uploader) -> Response:
    """The dashboard's own upload path: the session cookie and its CSRF token (header)
    instead of a bearer token; then exactly the API's steps (uploads.submit)."""
    check_csrf(request, user, request.headers.get("x-csrf-token"))
    gw = gateway(request)
    body = await read_body(request, gw.settings.max_upload_bytes)
    result = await submit(gw, body, user.principal, None)
    if result.duplicate:
        raise ApiError(409, "duplicate_day", DUPLICATE_DAY_MESSAGE, sales_date=result.sales_date)
    await dashboard(request).recent.add(Accepted(
        upload_id=str(result.upload_id), sales_date=result.sales_date, sender=user.principal.name,
        size_bytes=len(body), received_at=dt.datetime.now(dt.UTC)))
    return JSONResponse({"upload_id": str(result.upload_id), "status": "received", "sales_date": result.sales_date,
                         "status_url": f"/ui/uploads/{result.upload_id}/status",
                         "page_url": f"/ui/uploads/{result.upload_id}"}, status_code=202)

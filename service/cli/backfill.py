"""`sales-analyzer reports backfill --from D --to D`: (re)request the reports of a date range.

Lists the stored days of the range (GET /v1/reports), asks for a new report of
each (POST /v1/reports/{date}/regenerate, which publishes on
sales.report-requests and marks the day pending), then follows the range's
progress until no day is pending. The reporter writes the reports
LLM_MAX_CONCURRENCY at a time per process; each report uses the history stored
when it is written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["backfill", "progress_line"]

_PAGE = 200  # the read API's largest page
_REQUESTS_AT_ONCE = 8
_POLL_SECONDS = 1.0


class _Refused(Exception):
    """The gateway said no (bad token, bad range, a dependency down)."""


async def _get(client: httpx.AsyncClient, params: dict[str, Any]) -> dict[str, Any]:
    r = await client.get("/v1/reports", params=params)
    if r.status_code != 200:
        raise _Refused(f"GET /v1/reports: HTTP {r.status_code}: {r.text[:300]}")
    body: dict[str, Any] = r.json()
    return body


async def _stored_days(
    client: httpx.AsyncClient, date_from: dt.date, date_to: dt.date
) -> list[dict[str, Any]]:
    days: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "limit": _PAGE,
        }
        if cursor:
            params["cursor"] = cursor
        body = await _get(client, params)
        days += body["days"]
        cursor = body.get("next_cursor")
        if not cursor:
            return days


async def _request(client: httpx.AsyncClient, day: str) -> str | None:
    """Ask for the day's report; None when asked, else what went wrong."""
    for _ in range(10):
        r = await client.post(f"/v1/reports/{day}/regenerate")
        if r.status_code == 202:
            return None
        if r.status_code in (429, 503):  # rate limited or a dependency down: wait as told
            await asyncio.sleep(min(float(r.headers.get("retry-after") or 1), 30.0))
            continue
        return f"HTTP {r.status_code}: {r.text[:200]}"
    return "gave up after 10 tries (rate limited or unavailable)"


def progress_line(progress: dict[str, int], requested: int, seconds: float) -> str:
    written = progress["ok"] + progress["failed"]
    return (
        f"{written}/{progress['days']} days written ({progress['ok']} ok, {progress['failed']} failed, "
        f"{progress['unverified']} unverified), {progress['pending']} pending, {progress['missing']} missing; "
        f"{requested} requested, {seconds:.0f} s"
    )


async def backfill(
    client: httpx.AsyncClient,
    *,
    date_from: dt.date,
    date_to: dt.date,
    only_missing: bool,
    wait: bool,
    timeout: float,
    out: Callable[[str], None],
) -> int:
    if date_to < date_from:
        out(f"--to {date_to} is before --from {date_from}")
        return 2
    try:
        days = await _stored_days(client, date_from, date_to)
    except _Refused as exc:
        out(str(exc))
        return 1
    wanted = [
        d["sales_date"] for d in days if not only_missing or d["status"] in ("missing", "failed")
    ]
    span = (date_to - date_from).days + 1
    out(
        f"{len(days)} of the {span} days from {date_from} to {date_to} are stored; "
        f"requesting {len(wanted)} report(s)"
        + (" (missing or failed only)" if only_missing else "")
    )
    started = time.monotonic()
    problems = await _request_days(client, wanted, out=out)
    requested = len(wanted) - len(problems)
    if not wait or not requested:
        return 1 if problems else 0
    progress = await _follow(
        client,
        date_from=date_from,
        date_to=date_to,
        requested=requested,
        started=started,
        timeout=timeout,
        out=out,
    )
    if progress is None:
        return 1
    out("done: " + progress_line(progress, requested, time.monotonic() - started))
    return 1 if problems or progress["failed"] else 0


async def _request_days(
    client: httpx.AsyncClient, wanted: list[str], *, out: Callable[[str], None]
) -> list[tuple[str, str]]:
    """Ask for each day's report, a few at once; the days not requested, each with why."""
    gate = asyncio.Semaphore(_REQUESTS_AT_ONCE)

    async def one(day: str) -> tuple[str, str | None]:
        async with gate:
            return day, await _request(client, day)

    problems = [(d, p) for d, p in await asyncio.gather(*(one(d) for d in wanted)) if p is not None]
    for day, problem in problems:
        out(f"{day}: not requested: {problem}")
    return problems


async def _follow(
    client: httpx.AsyncClient,
    *,
    date_from: dt.date,
    date_to: dt.date,
    requested: int,
    started: float,
    timeout: float,
    out: Callable[[str], None],
) -> dict[str, int] | None:
    """Poll the range's progress until nothing is pending or missing; None on timeout."""
    deadline = started + timeout
    shown = ""
    while True:
        if time.monotonic() > deadline:
            out(
                f"timeout after {timeout:.0f} s: the reporter goes on; follow it with GET /v1/reports"
            )
            return None
        try:
            progress: dict[str, int] = (
                await _get(
                    client, {"from": date_from.isoformat(), "to": date_to.isoformat(), "limit": 1}
                )
            )["progress"]
        except _Refused as exc:  # e.g. the database restarting: keep following
            out(f"{exc}; trying again")
            await asyncio.sleep(_POLL_SECONDS * 5)
            continue
        line = progress_line(progress, requested, time.monotonic() - started)
        if line.split(";")[0] != shown.split(";")[0]:
            out(line)
            shown = line
        if progress["pending"] == 0 and progress["missing"] == 0:
            return progress
        await asyncio.sleep(_POLL_SECONDS)

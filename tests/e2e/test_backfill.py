"""`sales-analyzer reports backfill` and the range read that shows its progress."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from service.storage.db import Pool

from ..helpers import sales_xml
from ..kafka_tools import Events
from ..procs import Pipeline
from .helpers import cli

pytestmark = pytest.mark.timeout(180)


async def test_backfill_rewrites_every_stored_day_of_a_range(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """Backfill over a range with gaps: every stored day gets a new report, progress reaches done, exit 0."""
    stored = [days[0], days[1], days[3]]  # days[2] and days[4] are not stored
    uploads = []
    for i, d in enumerate(stored):
        r = await api.post("/v1/uploads", content=sales_xml(d, 12, seed=i))
        uploads.append(r.json()["upload_id"])
    first = await events.collect_where(
        "sales.reports", 3, lambda e: e.get("upload_id") in uploads, timeout=60
    )
    first_ids = {e["report_id"] for e in first}

    code, out, err = await cli(
        pipeline,
        "reports",
        "backfill",
        "--from",
        days[0].isoformat(),
        "--to",
        days[4].isoformat(),
        timeout=120,
    )
    assert code == 0, out + err
    assert "3 of the 5 days" in out and "requesting 3 report(s)" in out, out
    assert "done: 3/3 days written (3 ok, 0 failed, 0 unverified), 0 pending, 0 missing" in out, out

    rows = await pg_pool.fetch(
        "SELECT sales_date, count(*) AS n FROM reports WHERE sales_date = ANY($1::date[]) "
        "AND status = 'ok' GROUP BY sales_date",
        stored,
    )
    assert sorted((r["sales_date"], r["n"]) for r in rows) == [(d, 2) for d in stored]
    body = (
        await api.get(
            "/v1/reports",
            params={"from": days[0].isoformat(), "to": days[4].isoformat(), "limit": 2},
        )
    ).json()
    assert [d["sales_date"] for d in body["days"]] == [days[0].isoformat(), days[1].isoformat()]
    assert all(d["status"] == "ok" and d["report_id"] not in first_ids for d in body["days"])
    assert body["progress"]["days"] == 3 and body["progress"]["ok"] == 3 and body["next_cursor"]


async def test_backfill_missing_only_requests_nothing_when_all_are_written(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """--missing-only leaves days with a written report alone."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0], 5))
    await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=60)
    code, out, err = await cli(
        pipeline,
        "reports",
        "backfill",
        "--from",
        days[0].isoformat(),
        "--to",
        days[0].isoformat(),
        "--missing-only",
    )
    assert code == 0, out + err
    assert "requesting 0 report(s) (missing or failed only)" in out, out


async def test_backfill_refuses_a_reversed_range(pipeline: Pipeline) -> None:
    """--to before --from is a usage error."""
    code, out, _ = await cli(
        pipeline, "reports", "backfill", "--from", "2024-02-01", "--to", "2024-01-01"
    )
    assert code == 2 and "before" in out

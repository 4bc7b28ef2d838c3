"""Concurrent report writing on the real stack: a crash with 8 reports in flight, and an LLM
that rate-limits every third call."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from service.names import GROUP_INGEST, GROUP_REPORTS
from service.storage.db import Pool

from ..fake_llm import FakeLLM
from ..helpers import sales_xml, wait_until
from ..kafka_tools import Events
from ..procs import Pipeline

pytestmark = pytest.mark.timeout(240)


async def _upload(api: httpx.AsyncClient, day: dt.date, seed: int = 0) -> str:
    r = await api.post("/v1/uploads", content=sales_xml(day, 20, seed=seed))
    assert r.status_code == 202, r.text
    return str(r.json()["upload_id"])


async def _every_day_reported(
    events: Events, uploads: list[str], timeout: float
) -> dict[str, set[str]]:
    """Read sales.reports until each upload's day has a report (a day may come twice: a
    redelivery re-publishes it), then a little longer; the report ids seen per day."""
    end = time.monotonic() + timeout
    while True:
        ids = _ids(events, uploads)
        if len(ids) == len(uploads):
            # a redelivered day would be published again before its offset is committed
            await events.caught_up(GROUP_INGEST, GROUP_REPORTS, timeout=timeout)
            return _ids(events, uploads)
        if time.monotonic() > end:
            raise AssertionError(f"only {len(ids)}/{len(uploads)} days reported")
        await events.settle(0.3)


def _ids(events: Events, uploads: list[str]) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = defaultdict(set)
    for topic, e in events.seen:
        if topic == "sales.reports" and e.get("upload_id") in uploads:
            ids[e["sales_date"]].add(e["report_id"])
    return ids


async def test_reporter_killed_with_8_reports_in_flight(
    pipeline: Pipeline,
    pipeline_llm: FakeLLM,
    api: httpx.AsyncClient,
    events: Events,
    pg_pool: Pool,
    days: list[dt.date],
) -> None:
    """kill -9 with 8 reports in flight: after a restart every day has exactly one ok report,
    and no day's report was published under two ids."""
    days = days[:12]
    before = len(pipeline_llm.requests)
    pipeline_llm.latency = (
        4.0  # long enough to catch 8 calls in flight (the client gives up at 2 s and retries)
    )
    try:
        uploads = [await _upload(api, d, i) for i, d in enumerate(days)]
        # None of them can be answered yet (4 s each): 8 reports in flight at once.
        await wait_until(
            lambda: len(pipeline_llm.requests) - before >= 8,
            timeout=3,
            what="8 LLM calls in flight",
        )
        pipeline.stop("reporter", kill=True)
    finally:
        pipeline_llm.latency = 0.0

    # While the reporter is down the range shows where each day stands.
    body = (
        await api.get(
            "/v1/reports", params={"from": days[0].isoformat(), "to": days[-1].isoformat()}
        )
    ).json()
    assert body["progress"]["days"] == 12
    assert body["progress"]["ok"] + body["progress"]["missing"] == 12
    assert {d["status"] for d in body["days"]} <= {"ok", "missing"}

    pipeline.start("reporter")
    ids = await _every_day_reported(events, uploads, timeout=150)
    assert len(ids) == 12 and all(len(v) == 1 for v in ids.values()), dict(ids)
    rows = await pg_pool.fetch(
        "SELECT sales_date, count(*) AS n, bool_and(status = 'ok') AS ok FROM reports "
        "WHERE sales_date = ANY($1::date[]) GROUP BY sales_date",
        days,
    )
    assert len(rows) == 12 and all(r["n"] == 1 and r["ok"] for r in rows)
    body = (
        await api.get(
            "/v1/reports", params={"from": days[0].isoformat(), "to": days[-1].isoformat()}
        )
    ).json()
    assert {k: body["progress"][k] for k in ("ok", "missing", "pending", "failed")} == {
        "ok": 12,
        "missing": 0,
        "pending": 0,
        "failed": 0,
    }


async def test_llm_429_every_third_call_is_honoured_by_every_call(
    pipeline_llm: FakeLLM, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """The LLM answers 429 with Retry-After: 2 to every third call: all reports arrive, and
    after each 429 no call of any report reaches the LLM before its Retry-After has passed."""
    days = days[:10]
    pipeline_llm.reset()
    pipeline_llm.cycle("ok", "ok", "429:2")
    try:
        uploads = [await _upload(api, d, i) for i, d in enumerate(days)]
        await _every_day_reported(events, uploads, timeout=150)
        calls = sorted(pipeline_llm.calls, key=lambda c: c.at)
    finally:
        pipeline_llm.reset()
    reports = [e for t, e in events.seen if t == "sales.reports" and e.get("upload_id") in uploads]
    assert all(r["status"] == "ok" for r in reports)
    limited = [c.at for c in calls if c.action.startswith("429")]
    assert limited, "the LLM never said 429"
    # A call already on its way when the 429 was answered may still arrive a moment
    # later (loopback: well under 0.2 s); every later one must wait the full 2 s.
    early = [
        (t429, c.at) for t429 in limited for c in calls if t429 + 0.2 < c.at < t429 + 2.0 - 0.05
    ]
    assert not early, f"calls earlier than Retry-After allowed: {early[:5]}"


async def test_a_second_reporter_joining_mid_flight_doubles_nothing(
    pipeline: Pipeline,
    pipeline_llm: FakeLLM,
    api: httpx.AsyncClient,
    events: Events,
    pg_pool: Pool,
    days: list[dt.date],
    tmp_path: Path,
) -> None:
    """A second reporter joins the group while reports are in flight (a rebalance): the revoked
    partitions' work finishes and is committed first, and every day ends with exactly one report."""
    from ..procs import Pipeline

    days = days[:16]
    before = len(pipeline_llm.requests)
    pipeline_llm.latency = 1.5  # below the pipeline's LLM_TIMEOUT_SECONDS (2): the calls succeed
    second = Pipeline.create({k: v for k, v in pipeline.env.items()}, tmp_path)
    try:
        uploads = [await _upload(api, d, i) for i, d in enumerate(days)]
        await wait_until(
            lambda: len(pipeline_llm.requests) - before >= 8,
            timeout=60,
            what="8 LLM calls in flight",
        )
        second.start("reporter")
        ids = await _every_day_reported(events, uploads, timeout=150)
    finally:
        pipeline_llm.latency = 0.0
        second.stop_all()
    assert len(ids) == 16 and all(len(v) == 1 for v in ids.values()), dict(ids)
    rows = await pg_pool.fetch(
        "SELECT sales_date, count(*) AS n, bool_and(status = 'ok') AS ok FROM reports "
        "WHERE sales_date = ANY($1::date[]) GROUP BY sales_date",
        days,
    )
    assert len(rows) == 16 and all(r["n"] == 1 and r["ok"] for r in rows)

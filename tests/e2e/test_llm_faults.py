"""The running reporter against an LLM that fails every few calls and plants lies:
every failed call counted, Retry-After honoured, every lie caught or corrected."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ..fake_llm import FakeLLM
from ..helpers import sales_xml
from ..kafka_tools import Events
from ..procs import Pipeline
from .helpers import sample, scrape

_OUTCOME = {"ok": "ok", "500": "server_error", "429": "rate_limited"}


async def quiet(llm: FakeLLM, *, seconds: float = 1.0, timeout: float = 30.0) -> None:
    """Wait until the LLM has had no call for `seconds` (no report of an earlier test still in flight)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        n = len(llm.calls)
        await asyncio.sleep(seconds)
        if len(llm.calls) == n:
            return
    raise AssertionError("the LLM never went quiet")


@pytest.fixture
def llm(pipeline_llm: FakeLLM) -> Iterator[FakeLLM]:
    """The pipeline's LLM, answering "ok" again after the test."""
    yield pipeline_llm
    pipeline_llm.reset()


async def test_failed_llm_calls_are_counted_and_retry_after_honoured(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, llm: FakeLLM, days: list[dt.date]
) -> None:
    """500 and 429 every few calls: the metric counts each answer by outcome, each report's attempts
    count its calls, and no call follows a 429 sooner than its Retry-After."""
    await quiet(llm)
    start = len(llm.calls)
    before = await scrape(pipeline.metrics_url("reporter"))
    llm.cycle("500", "500", "ok", "429:1", "ok", "ok", "500", "ok")
    # One day at a time: the reporter writes reports concurrently, and interleaved
    # calls could give one report more failures in a row than LLM_MAX_ATTEMPTS allows.
    reports = []
    for day in days[:5]:
        r = await api.post("/v1/uploads", content=sales_xml(day, 8))
        reports.append(
            await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=90)
        )
    llm.cycle()
    await quiet(llm)
    after = await scrape(pipeline.metrics_url("reporter"))

    calls = llm.calls[start:]
    answered = Counter(_OUTCOME[c.action.partition(":")[0]] for c in calls)
    assert answered["server_error"] >= 3 and answered["rate_limited"] >= 1
    for outcome in ("ok", "server_error", "rate_limited"):
        grew = sample(after, "sales_llm_calls_total", outcome=outcome) - sample(
            before, "sales_llm_calls_total", outcome=outcome
        )
        assert grew == answered[outcome], (outcome, grew, answered)
    per_day = Counter(c.date for c in calls)
    for report in reports:
        assert report["status"] == "ok" and report["verified"]
        assert report["attempts"] == per_day[report["sales_date"]] >= 1, report["sales_date"]
    assert sum(r["attempts"] for r in reports) == len(calls) > len(reports)
    for i, c in enumerate(calls[:-1]):
        if c.action.startswith("429"):
            assert calls[i + 1].at - c.at >= float(c.action.partition(":")[2])


# Revenue 1 200,00 → 699,60 (−41,7 %), units 90 → 52 (−38); the best seller earns 420,00.
FALL_BEFORE = [
    (1, "Чайник Bosch", 40, "15.00", "Кухня"),
    (2, "Фен Philips", 50, "12.00", "Красота"),
]
FALL_NOW = [(1, "Чайник Bosch", 28, "15.00", "Кухня"), (2, "Фен Philips", 24, "11.65", "Красота")]
# What each planted lie misuses, as the Russian report writes it (tests/fake_llm.py: planted_lie).
LIE_NUMBERS = {
    "sign": "41,7\u00a0%",
    "direction": "41,7\u00a0%",
    "percent_as_amount": "41,7",
    "amount_as_percent": "38 %",
    "product": "420,00",
    "made_up": "987 654,32",
}


async def falling_day(api: Any, events: Any, days: list[Any]) -> dict[str, Any]:
    """Uploads days[0] and waits for its report; returns what to upload for days[1] (revenue −41,7 %)."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0], FALL_BEFORE))
    await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=60)
    return {"content": sales_xml(days[1], FALL_NOW)}


@pytest.mark.parametrize("kind", sorted(LIE_NUMBERS))
async def test_a_planted_lie_ends_unverified_with_its_number(
    pipeline: Pipeline,
    api: httpx.AsyncClient,
    events: Events,
    llm: FakeLLM,
    days: list[dt.date],
    kind: str,
) -> None:
    """The LLM plants the lie in both drafts: the published report is verified=false and lists the number."""
    second = await falling_day(api, events, days)
    await quiet(llm, seconds=0.5)
    llm.script(f"lie:{kind}", f"lie:{kind}")
    r = await api.post("/v1/uploads", **second)
    report = await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=60)
    assert report["status"] == "ok" and not report["verified"]
    assert report["unverified_numbers"] == [LIE_NUMBERS[kind]]
    stored = (await api.get(f"/v1/reports/{days[1].isoformat()}")).json()
    assert stored["verified"] is False and stored["unverified_numbers"] == [LIE_NUMBERS[kind]]


async def test_a_planted_lie_is_corrected(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, llm: FakeLLM, days: list[dt.date]
) -> None:
    """A lie in the first draft only: the correction round's report is published verified."""
    second = await falling_day(api, events, days)
    await quiet(llm, seconds=0.5)
    llm.script("lie:sign", "ok")
    r = await api.post("/v1/uploads", **second)
    report = await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=60)
    assert report["verified"] and report["attempts"] == 2 and "плюс" not in report["text"]

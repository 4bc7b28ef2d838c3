"""Reports written as models write them (issue 20), through the running pipeline: honest
ones in rounded, scaled, multiple and rank forms are verified with one LLM call; a lie
in those forms ends verified=false with that figure, and only it, listed."""

from __future__ import annotations

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
from .test_llm_faults import quiet

# Revenue 2 845 025,00 → 4 819 022,50; Чайник Bosch 10 → 66 units (6,6×); Кухня 70,1 % of
# revenue; Блендер Braun leads with 3 280 000,00, Фен Philips is second.
BEFORE = [
    (1, "Чайник Bosch", 10, "1500.00", "Кухня"),
    (2, "Фен Philips", 50, "32000.50", "Красота"),
    (3, "Блендер Braun", 30, "41000.00", "Кухня"),
]
NOW = [
    (1, "Чайник Bosch", 66, "1500.00", "Кухня"),
    (2, "Фен Philips", 45, "32000.50", "Красота"),
    (3, "Блендер Braun", 80, "41000.00", "Кухня"),
]
# The lying figure of each planted lie as the Russian report writes it (tests/fake_llm.py).
HUMAN_LIES = {
    "rounding": "3,38\u00a0млн",
    "scale": "3,28\u00a0тыс.",
    "multiple": "7,6 раза",
    "share": "85\u00a0%",
}


@pytest.fixture
def llm(pipeline_llm: FakeLLM) -> Iterator[FakeLLM]:
    """The pipeline's LLM, answering "ok" again after the test."""
    yield pipeline_llm
    pipeline_llm.reset()


async def _second_day(
    api: httpx.AsyncClient, events: Events, llm: FakeLLM, days: list[dt.date], i: int
) -> bytes:
    """Stores days[i] (the day before) with its report; returns the upload for days[i + 1]."""
    r = await api.post("/v1/uploads", content=sales_xml(days[i], BEFORE))
    await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=60)
    await quiet(llm, seconds=0.5)
    return sales_xml(days[i + 1], NOW)


async def test_honest_reports_in_human_forms_are_verified_with_one_call_each(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, llm: FakeLLM, days: list[dt.date]
) -> None:
    """Three honest reports with rounded, scaled, multiple and rank figures: each published
    verified=true after exactly one LLM call, with every figure's source in `claims`."""
    reports: list[dict[str, Any]] = []
    for i in (0, 3, 6):
        content = await _second_day(api, events, llm, days, i)
        start = len(llm.calls)
        llm.script("human")
        r = await api.post("/v1/uploads", content=content)
        report = await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=60)
        await quiet(llm, seconds=0.5)
        calls = Counter(c.date for c in llm.calls[start:])
        assert calls[days[i + 1].isoformat()] == 1 and report["attempts"] == 1, calls
        reports.append(report)
    for report in reports:
        assert report["status"] == "ok" and report["verified"], report["unverified_numbers"]
        assert "около" in report["text"] and report["unverified_numbers"] == []
        forms = {c["form"] for c in report["claims"]}
        assert {"approximate", "multiple", "rank"} <= forms and all(
            c["verified"] for c in report["claims"]
        )
        ratio = next(c for c in report["claims"] if c["form"] == "multiple")
        assert ratio["text"] == "6,6 раза" and "Чайник Bosch" in ratio["rule"]
        stored = (await api.get(f"/v1/reports/{report['sales_date']}")).json()
        assert stored["verified"] is True and stored["claims"] == report["claims"]


@pytest.mark.parametrize("kind", sorted(HUMAN_LIES))
async def test_a_lie_in_human_forms_is_the_only_number_listed(
    pipeline: Pipeline,
    api: httpx.AsyncClient,
    events: Events,
    llm: FakeLLM,
    days: list[dt.date],
    kind: str,
) -> None:
    """The same report with one lie (wrong rounding, wrong scale word, wrong multiple, wrong
    share) in both drafts: verified=false, that figure and only it listed, with its claim."""
    content = await _second_day(api, events, llm, days, 0)
    llm.script(f"human-lie:{kind}", f"human-lie:{kind}")
    r = await api.post("/v1/uploads", content=content)
    report = await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=60)
    assert report["status"] == "ok" and not report["verified"]
    assert report["unverified_numbers"] == [HUMAN_LIES[kind]]
    bad = [c for c in report["claims"] if not c["verified"]]
    assert [c["text"] for c in bad] == [HUMAN_LIES[kind]] and bad[0]["problem"]
    correction = llm.requests[-1]["messages"][-1]["content"]
    assert HUMAN_LIES[kind] in correction and "→" in correction

"""The day's report in a real browser shows where each figure comes from (issue 20): a
rounded figure and a ratio figure show their sources on hover and on tap (focus)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from ..e2e.test_llm_faults import quiet
from ..e2e.test_report_forms import BEFORE, NOW
from ..fake_llm import FakeLLM
from ..helpers import TOKEN, sales_xml
from ..kafka_tools import Events
from .helpers import Watched

_AFTER = "el => getComputedStyle(el, '::after').content"


@pytest.fixture
def llm(pipeline_llm: FakeLLM) -> Iterator[FakeLLM]:
    yield pipeline_llm
    pipeline_llm.reset()


async def test_rounded_and_ratio_figures_show_their_source(
    ui: Watched, api: httpx.AsyncClient, events: Events, llm: FakeLLM, days: list[dt.date]
) -> None:
    """ "около 4,82 млн" shows total_revenue, "в 6,6 раза" the ratio of Чайник Bosch's units,
    on hover and on focus; no figure is marked unverified; nothing ran."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0], BEFORE))
    await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=60)
    await quiet(llm, seconds=0.5)
    llm.script("human")
    r = await api.post("/v1/uploads", content=sales_xml(days[1], NOW))
    report = await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=60)
    assert report["verified"]

    await ui.sign_in(TOKEN)
    await ui.goto(f"/ui/days/{days[1].isoformat()}")
    rounded = ui.page.locator("article.markdown span.fig", has_text="4,82\u00a0млн")
    ratio = ui.page.locator("article.markdown span.fig", has_text="6,6 раза")
    assert await rounded.count() == 1 and await ratio.count() == 1
    assert await ui.page.locator("article.markdown span.fig.bad").count() == 0

    await rounded.hover()
    shown = await rounded.evaluate(_AFTER)
    assert "total_revenue" in shown and "4819022.50" in shown, shown
    assert "total_revenue" in (await rounded.get_attribute("title") or "")

    await ratio.focus()  # a tap focuses it (tabindex=0): the source shows the same way
    shown = await ratio.evaluate(_AFTER)
    assert "ratio of" in shown and "Чайник Bosch" in shown and "6.6" in shown, shown
    assert await ratio.get_attribute("data-form") == "multiple"
    assert ui.dialogs == [] and ui.errors == []

"""The dashboard in a real browser: sign in, upload, the stored day with its charts, rejections,
regeneration, hostile names shown as text, and nothing without a token."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import BrowserContext

from ..helpers import READ_TOKEN, TOKEN, sales_xml
from ..kafka_tools import Events
from ..procs import Pipeline
from .helpers import Watched

SCRIPT_NAME = "<script>alert(1)</script>"
# (id, name as written in the XML, quantity, price, category)
PRODUCTS = [
    (1, "Alpha", 10, "100.00", "Electronics"),
    (2, "&lt;script&gt;alert(1)&lt;/script&gt;", 50, "30.00", "Books"),
    (3, "Gamma", 5, "20.00", "Books"),
    (4, "Delta", 1, "999.99", "Garden"),
    (5, "Broken", -3, "1.00", "Books"),  # rejected: quantity not positive
]
CHART_DATA = """() => Object.fromEntries([...document.querySelectorAll('canvas[data-chart]')].map(c => {
    const chart = Chart.getChart(c);
    return [c.dataset.chart, {labels: chart.data.labels, series: chart.data.datasets.map(d => d.data)}];
}))"""


async def _chart_data(ui: Watched) -> dict[str, Any]:
    data: dict[str, Any] = await ui.page.evaluate(CHART_DATA)
    return data


async def _wait_for_report(
    ui: Watched, path: str, *, not_id: str | None = None, timeout: float = 30
) -> str:
    """Reload the day page until it shows a report (another than ``not_id``); its id."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        await ui.goto(path)
        meta = ui.page.locator("[data-report-id]")
        if await meta.count():
            report_id = await meta.get_attribute("data-report-id")
            if report_id and report_id != not_id:
                return report_id
        if loop.time() > end:
            raise AssertionError(f"no (new) report on {path}")
        await asyncio.sleep(0.5)


async def test_sign_in_upload_and_see_the_day_with_its_charts(
    ui: Watched, api: httpx.AsyncClient, events: Events, days: list[dt.date], tmp_path: Path
) -> None:
    """Signed in, a file uploaded from the page is stored; its day shows the right chart series,
    the rejected product's reason, and a <script> product name as plain text."""
    before = await api.post(
        "/v1/uploads", content=sales_xml(days[0], [(1, "Alpha", 4, "100.00", "Electronics")])
    )
    await events.wait("sales.stored", upload_id=before.json()["upload_id"])

    await ui.sign_in(TOKEN)
    cookies = {c["name"]: c for c in await ui.page.context.cookies()}
    session = cookies["sa_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and TOKEN not in session["value"]

    path = tmp_path / "day.xml"
    path.write_bytes(sales_xml(days[1], PRODUCTS))
    await ui.goto("/ui/upload")
    await ui.page.set_input_files("#file", str(path))
    await ui.page.get_by_role("button", name="Upload").click()
    status = ui.page.locator("#outcome-status[data-status]")
    await status.wait_for()
    assert await status.get_attribute("data-status") == "stored"
    assert "Stored: 4 products" in await status.inner_text()
    assert await ui.page.locator("#progress").get_attribute("value") == "100"
    assert "not_positive" in await ui.page.locator("#outcome-errors").inner_text()

    await ui.page.get_by_role("link", name="Open the day").click()
    await ui.page.wait_for_url(f"**/ui/days/{days[1].isoformat()}")
    await _wait_for_report(ui, f"/ui/days/{days[1].isoformat()}")
    charts = await _chart_data(ui)
    assert charts["categories"] == {
        "labels": ["Books", "Electronics", "Garden"],
        "series": [[1600.0, 1000.0, 999.99]],
    }
    assert charts["top_revenue"] == {
        "labels": [SCRIPT_NAME, "Alpha", "Delta", "Gamma"],
        "series": [[1500.0, 1000.0, 999.99, 100.0]],
    }
    assert charts["top_units"] == {
        "labels": [SCRIPT_NAME, "Alpha", "Gamma", "Delta"],
        "series": [[50.0, 10.0, 5.0, 1.0]],
    }
    assert charts["history"] == {
        "labels": [days[0].isoformat(), days[1].isoformat()],
        "series": [[400.0, 3599.99], [None, 400.0]],
    }
    assert await ui.page.locator("canvas[data-chart]").count() == 4

    # the hostile name is text in the page (chart tables, report), and nothing ran
    await ui.page.locator("#chart-top_revenue summary").click()
    cell = ui.page.locator("#chart-top_revenue tbody th").first
    assert await cell.inner_text() == SCRIPT_NAME
    assert (
        await ui.page.evaluate("() => document.querySelectorAll('main script:not([type])').length")
        == 0
    )
    rejected = ui.page.locator("table.errors tbody tr")
    assert await rejected.count() == 1
    row = await rejected.inner_text()
    assert "quantity" in row and "not_positive" in row
    assert ui.dialogs == [] and ui.errors == []


async def test_a_rejected_upload_shows_its_reasons(
    ui: Watched, days: list[dt.date], tmp_path: Path
) -> None:
    """A file whose every product is invalid is rejected; the page and the upload's page list each reason."""
    await ui.sign_in(TOKEN)
    path = tmp_path / "bad.xml"
    path.write_bytes(sales_xml(days[0], [(1, "A", 0, "1.00", "X"), (2, "B", 1, "1.001", "X")]))
    await ui.goto("/ui/upload")
    await ui.page.set_input_files("#file", str(path))
    await ui.page.get_by_role("button", name="Upload").click()
    status = ui.page.locator("#outcome-status[data-status]")
    await status.wait_for()
    assert await status.get_attribute("data-status") == "rejected"
    await ui.page.get_by_role("link", name="Upload details").click()
    table = await ui.page.locator("table.errors").inner_text()
    assert "quantity" in table and "price" in table and "not_positive" in table
    await ui.goto("/ui/uploads")
    assert await ui.page.locator("tr[data-status=rejected]").count() >= 1


async def test_a_file_refused_at_the_gateway_says_why(ui: Watched, tmp_path: Path) -> None:
    """Something that is not a sales day is refused at once, with the gateway's reason."""
    await ui.sign_in(TOKEN)
    path = tmp_path / "not.xml"
    path.write_bytes(b"<other/>")
    await ui.goto("/ui/upload")
    await ui.page.set_input_files("#file", str(path))
    await ui.page.get_by_role("button", name="Upload").click()
    status = ui.page.locator("#outcome-status[data-status=refused]")
    await status.wait_for()
    assert "bad_root" in await status.inner_text()


async def test_regenerate_writes_a_new_report(
    ui: Watched, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """The regenerate button asks for a new report, and the day page then shows it."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0]))
    await events.wait("sales.reports", upload_id=r.json()["upload_id"])
    await ui.sign_in(TOKEN)
    path = f"/ui/days/{days[0].isoformat()}"
    first = await _wait_for_report(ui, path)
    await ui.page.get_by_role("button", name="Regenerate report").click()
    await ui.page.wait_for_url(f"**{path}?regenerated=1")
    assert "A new report was requested" in await ui.page.locator("p.notice").inner_text()
    second = await _wait_for_report(ui, path, not_id=first)
    assert second != first
    md = await ui.page.request.get(ui.url(f"{path}/report.md"))
    assert md.ok and days[0].isoformat() in await md.text()
    js = await ui.page.request.get(ui.url(f"{path}/report.json"))
    assert (await js.json())["report_id"] == second


async def test_read_token_views_but_cannot_upload_or_regenerate(
    ui: Watched, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """A read-only token sees the day but no regenerate button, and the upload routes refuse it."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0]))
    await events.wait("sales.stored", upload_id=r.json()["upload_id"])
    await ui.sign_in(READ_TOKEN)
    await ui.goto(f"/ui/days/{days[0].isoformat()}")
    assert await ui.page.get_by_role("heading", name=f"Sales on {days[0].isoformat()}").count() == 1
    assert await ui.page.get_by_role("button", name="Regenerate report").count() == 0
    await ui.goto("/ui/upload")
    assert "may only read" in await ui.page.locator("main").inner_text()
    refused = await ui.page.request.post(ui.url("/ui/upload"), data=sales_xml(days[1]))
    assert refused.status == 403


async def test_forms_need_the_sessions_csrf_token(
    ui: Watched, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """A regenerate or upload with the session cookie but without its CSRF token is refused."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0]))
    await events.wait("sales.stored", upload_id=r.json()["upload_id"])
    await ui.sign_in(TOKEN)
    req = ui.page.request
    forged = await req.post(
        ui.url(f"/ui/days/{days[0].isoformat()}/regenerate"), form={"csrf": "guess"}
    )
    assert forged.status == 403 and (await forged.json())["code"] == "bad_csrf_token"
    upload = await req.post(
        ui.url("/ui/upload"), data=sales_xml(days[1]), headers={"X-CSRF-Token": "guess"}
    )
    assert upload.status == 403
    other_site = await req.post(
        ui.url("/ui/upload"), data=sales_xml(days[1]), headers={"Origin": "http://evil.example"}
    )
    assert other_site.status == 403 and (await other_site.json())["code"] == "bad_origin"


PAGES = [
    "/ui/days",
    "/ui/days/2001-01-01",
    "/ui/uploads",
    "/ui/upload",
    "/ui/uploads/00000000-0000-0000-0000-000000000000",
    "/ui/days/2001-01-01/report.json",
    "/ui/days/2001-01-01/report.md",
    "/ui/uploads/00000000-0000-0000-0000-000000000000/status",
]


async def test_no_page_works_without_a_token(ui: Watched, pipeline: Pipeline) -> None:
    """Without signing in every page leads to the sign-in form; a bearer token or a wrong token is not a session."""
    for path in PAGES:
        await ui.goto(path)
        assert "/ui/signin" in ui.page.url, path
        assert await ui.page.get_by_role("heading", name="Sign in").count() == 1
    await ui.page.get_by_label("Access token").fill("not-the-token")
    await ui.page.get_by_role("button", name="Sign in").click()
    assert "This token is not valid" in await ui.page.locator("[role=alert]").inner_text()
    async with httpx.AsyncClient(base_url=pipeline.gateway_url, timeout=10) as client:
        for path in PAGES:
            r = await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/signin"), path
        r = await client.post(
            "/ui/upload", content=b"<x/>", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert r.status_code == 401
        r = await client.post("/ui/days/2001-01-01/regenerate")
        assert r.status_code == 401
        browser_root = await client.get("/", headers={"Accept": "text/html"})
        assert browser_root.status_code == 303 and browser_root.headers["location"] == "/ui/days"
        api_root = await client.get("/", headers={"Accept": "application/json"})
        assert api_root.status_code == 405


async def test_sign_out_ends_the_session(ui: Watched, context: BrowserContext) -> None:
    """After signing out, the old session cookie opens nothing."""
    await ui.sign_in(TOKEN)
    old = {c["name"]: c["value"] for c in await context.cookies()}["sa_session"]
    await ui.page.get_by_role("button", name="Sign out").click()
    await ui.page.wait_for_url("**/ui/signin")
    async with httpx.AsyncClient(
        base_url=ui.base, timeout=10, cookies={"sa_session": old}
    ) as client:
        r = await client.get("/ui/days")
        assert r.status_code == 303


async def test_uploads_page_refreshes_itself_while_an_upload_is_received(
    ui: Watched, pipeline: Pipeline, days: list[dt.date], tmp_path: Path
) -> None:
    """With ingest stopped an upload stays "received" on the Uploads page; once ingest runs again the
    page turns it "stored" by itself, without a reload."""
    await ui.sign_in(TOKEN)
    path = tmp_path / "day.xml"
    path.write_bytes(sales_xml(days[0]))
    pipeline.stop("ingest")
    try:
        await ui.goto("/ui/upload")
        await ui.page.set_input_files("#file", str(path))
        await ui.page.get_by_role("button", name="Upload").click()
        await ui.page.locator("#outcome-status.wait").wait_for()
        await ui.goto("/ui/uploads")
        row = ui.page.locator("tr[data-status=received]")
        assert await row.count() == 1
        assert days[0].isoformat() in await row.inner_text()
        upload_id = await row.get_attribute("data-upload")
    finally:
        pipeline.start("ingest")
    stored = ui.page.locator(f"tr[data-upload='{upload_id}'][data-status=stored]")
    await stored.wait_for(timeout=60_000)
    assert await ui.page.locator("#uploads-live[data-refresh]").count() == 0


async def test_days_page_shows_missing_days(
    ui: Watched, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """Within a range, the missing days show as gap rows and as "no data" in the calendar."""
    for i in (0, 2):
        r = await api.post("/v1/uploads", content=sales_xml(days[i]))
        await events.wait("sales.stored", upload_id=r.json()["upload_id"])
    await ui.sign_in(READ_TOKEN)
    await ui.page.get_by_label("From").fill(days[0].isoformat())
    await ui.page.get_by_label("To").fill(days[3].isoformat())
    await ui.page.get_by_role("button", name="Show").click()
    await ui.page.wait_for_url("**/ui/days?from=*")
    gaps = await ui.page.locator("tr.gap").evaluate_all("rows => rows.map(r => r.dataset.gap)")
    assert gaps == [
        f"{days[3].isoformat()}/{days[3].isoformat()}",
        f"{days[1].isoformat()}/{days[1].isoformat()}",
    ]
    stored = await ui.page.locator("tr[data-date]").evaluate_all(
        "rows => rows.map(r => r.dataset.date)"
    )
    assert stored == [days[2].isoformat(), days[0].isoformat()]
    assert "2 days collected of 4 calendar days" in await ui.page.locator("p.summary").inner_text()
    missing = ui.page.locator("table.month td.missing span")
    titles = await missing.evaluate_all("spans => spans.map(s => s.title)")
    assert sorted(titles) == [f"{days[1].isoformat()}: no data", f"{days[3].isoformat()}: no data"]


async def test_tokens_typed_into_the_dashboard_are_in_no_log(
    ui: Watched, pipeline: Pipeline
) -> None:
    """Signing in (with a good token and a wrong one) leaves no token in the gateway's log."""
    await ui.sign_in(READ_TOKEN)
    await ui.goto("/ui/signin")
    await ui.page.get_by_label("Access token").fill("wrong-token-typed-by-mistake")
    await ui.page.get_by_role("button", name="Sign in").click()
    await ui.page.locator("[role=alert]").wait_for()
    log = (pipeline.log_dir / "gateway.log").read_text(errors="replace")
    assert "/ui/signin" in log  # the failed sign-in (401) was logged, by route only
    for secret in (TOKEN, READ_TOKEN, "wrong-token-typed-by-mistake"):
        assert secret not in log

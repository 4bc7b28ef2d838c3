"""The dashboard's pure parts: gaps between days, chart series, safe Markdown, escaping in templates."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from decimal import Decimal

import pytest

from service.gateway.auth import Principal, TokenTable
from service.gateway.dashboard.access import SignedIn, safe_next
from service.gateway.dashboard.render import Renderer, markdown_html
from service.gateway.dashboard.session import Session, csrf_matches
from service.gateway.dashboard.views import Cell, Gap, calendar_months, calendar_rows, day_charts
from service.settings import TokenSpec
from service.storage.dashboard import DayRow, HistoryPoint, UploadRow
from service.storage.reports import ReportRow

from .reporter_factories import Product, make_facts

D = dt.date(2024, 3, 10)
HOSTILE = "<script>alert(1)</script>"


def _day(d: dt.date) -> DayRow:
    return DayRow(
        sales_date=d,
        products=1,
        total_units=1,
        total_revenue=Decimal("1.00"),
        report_status="ok",
        verified=True,
        pending=False,
    )


def test_gaps_between_days_and_at_the_range_edges() -> None:
    """Missing days between stored ones, and up to the range's ends, become gap rows."""
    rows = [_day(D), _day(D - dt.timedelta(days=1)), _day(D - dt.timedelta(days=4))]
    out = calendar_rows(rows, upper=D + dt.timedelta(days=2), lower=D - dt.timedelta(days=6))
    assert out == [
        Gap(D + dt.timedelta(days=1), D + dt.timedelta(days=2)),
        rows[0],
        rows[1],
        Gap(D - dt.timedelta(days=3), D - dt.timedelta(days=2)),
        rows[2],
        Gap(D - dt.timedelta(days=6), D - dt.timedelta(days=5)),
    ]
    assert [g.days for g in out if isinstance(g, Gap)] == [2, 2, 2]


def test_no_gaps_without_bounds_and_a_whole_gap_for_an_empty_range() -> None:
    """Open ranges show no edge gaps; a range with nothing stored is one gap."""
    rows = [_day(D), _day(D - dt.timedelta(days=1))]
    assert calendar_rows(rows, upper=None, lower=None) == rows
    assert calendar_rows([], upper=D, lower=D - dt.timedelta(days=2)) == [
        Gap(D - dt.timedelta(days=2), D)
    ]


def test_chart_series_are_the_facts_values_and_labels_are_formatted_like_reports() -> None:
    """Chart values come from the facts; what people read is formatted as the reports format money."""
    facts = make_facts(
        D,
        [
            Product(1, HOSTILE, "Books", 50, Decimal("30.00")),
            Product(2, "Alpha", "Electronics", 10, Decimal("100.00")),
        ],
    )
    history = [
        HistoryPoint(D - dt.timedelta(days=1), Decimal("400.00"), 4, 0, Decimal(0)),
        HistoryPoint(D, Decimal("2500.00"), 60, 1, Decimal("400.00")),
    ]
    charts = day_charts(facts, history, language="ru")
    assert charts["categories"]["labels"] == ["Books", "Electronics"]
    assert charts["categories"]["datasets"][0]["data"] == [1500.0, 1000.0]
    assert charts["categories"]["datasets"][0]["shown"][0] == "1\u00a0500,00 (60,0\u00a0%)"
    assert charts["top_units"]["labels"] == [HOSTILE, "Alpha"]
    assert charts["top_units"]["datasets"][0]["data"] == [50.0, 10.0]
    assert charts["history"]["datasets"][0]["data"] == [400.0, 2500.0]
    assert charts["history"]["datasets"][1]["data"] == [None, 400.0]


def test_markdown_escapes_html_and_renders_no_images_or_links() -> None:
    """Raw HTML in a report is shown as text; images and links are not rendered."""
    html = str(
        markdown_html(
            f"## Title\n\n{HOSTILE} **bold** ![x](http://evil/x.png) [y](javascript:alert(1))"
        )
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>bold</strong>" in html and "<img" not in html and "<a " not in html


def test_safe_next_refuses_other_sites() -> None:
    """After sign-in only the dashboard's own paths are followed."""
    assert safe_next("/ui/days/2024-01-01") == "/ui/days/2024-01-01"
    for bad in ("https://evil.example/", "//evil.example/ui/", "/v1/reports", "/ui\\..", None, ""):
        assert safe_next(bad) == "/ui/days"


def test_token_digest_identifies_only_configured_tokens() -> None:
    """A session's token digest maps back to its principal while the token is configured."""
    table = TokenTable([TokenSpec("shop", "s3cret-token-value", frozenset({"read"}))])
    found = table.identify("s3cret-token-value")
    assert found is not None and found[1].name == "shop"
    assert table.by_digest(found[0]) == found
    assert (
        table.identify("wrong") is None
        and table.identify("") is None
        and table.by_digest("zz") is None
    )
    assert (
        csrf_matches("abc", "abc")
        and not csrf_matches("abc", "abd")
        and not csrf_matches("abc", None)
    )


def test_day_page_escapes_hostile_names_everywhere() -> None:
    """A <script> product name, category and error message appear only escaped, and the chart JSON
    block cannot be closed early."""
    facts = make_facts(
        D, [Product(1, HOSTILE, "</script><script>alert(2)</script>", 50, Decimal("30.00"))]
    )
    history = [HistoryPoint(D, facts.total_revenue, facts.total_units, 0, Decimal(0))]
    now = dt.datetime(2024, 3, 11, tzinfo=dt.UTC)
    upload_id = uuid.uuid4()
    report = ReportRow(
        report_id=uuid.uuid4(),
        sales_date=D,
        upload_id=upload_id,
        status="ok",
        language="ru",
        prompt_version="v1",
        facts=None,
        system_prompt=None,
        prompt=None,
        text=f"Top: {HOSTILE}",
        model="m",
        usage={},
        verified=True,
        unverified_numbers=[],
        attempts=1,
        error=None,
        created_at=now,
        updated_at=now,
    )
    errors = [
        {
            "code": "bad_integer",
            "message": f"quantity {HOSTILE!r} is not a number",
            "line": 3,
            "field": "quantity",
            "product_index": 2,
            "product_id": HOSTILE,
        }
    ]
    own = UploadRow(
        upload_id=upload_id,
        status="stored",
        sales_date=D,
        source="http",
        sender="shop",
        size_bytes=10,
        products_seen=2,
        products_stored=1,
        products_rejected=1,
        errors=errors,
        received_at=now,
    )
    user = SignedIn(
        principal=Principal("shop", frozenset({"read", "upload"})),
        session=Session(token_digest="00", csrf="tok"),
        session_id="sid",
    )
    page = Renderer(language="ru").page(
        "day.html",
        {
            "user": user,
            "nav": "days",
            "day": {"sales_date": D, "upload_id": upload_id},
            "status": _day(D),
            "report": report,
            "facts": facts,
            "charts": day_charts(facts, history, language="ru"),
            "history": [],
            "own": own,
            "errors": errors,
            "others": [],
            "regenerated": False,
        },
    )
    html = bytes(page.body).decode()
    assert HOSTILE not in html and "alert(2)</script>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3
    block = re.search(
        r'<script type="application/json" id="chart-data"[^>]*>(.*?)</script>', html, re.S
    )
    assert block is not None and "<" not in block.group(1)
    assert json.loads(block.group(1))["top_units"]["labels"] == [HOSTILE]
    assert "script-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.parametrize("template", ["signin.html", "missing.html"])
def test_pages_without_a_session_show_no_navigation(template: str) -> None:
    """Signed-out pages carry no links into the data."""
    page = Renderer(language="en").page(
        template,
        {
            "user": None,
            "nav": "",
            "next": "/ui/days",
            "error": None,
            "nonce": "n",
            "what": "x",
            "problem": None,
        },
    )
    html = bytes(page.body).decode()
    assert "/ui/uploads" not in html and "Sign out" not in html


def test_calendar_months_mark_each_day() -> None:
    """Month grids start on Monday; stored days carry their report's state, range days without data are missing."""
    failed = DayRow(
        sales_date=D - dt.timedelta(days=2),
        products=1,
        total_units=1,
        total_revenue=Decimal(1),
        report_status="failed",
        verified=False,
        pending=False,
    )
    waiting = DayRow(
        sales_date=D - dt.timedelta(days=40),
        products=1,
        total_units=1,
        total_revenue=Decimal(1),
        report_status=None,
        verified=None,
        pending=True,
    )
    months = calendar_months(
        [_day(D), failed, waiting], first=D - dt.timedelta(days=45), last=D + dt.timedelta(days=400)
    )
    assert [m.first for m in months] == [
        dt.date(2024, 3, 1),
        dt.date(2024, 2, 1),
        dt.date(2024, 1, 1),
    ]
    cells = {c.day: c.state for m in months for w in m.weeks for c in w if c.day}
    assert (
        cells[D] == "ok"
        and cells[failed.sales_date] == "warn"
        and cells[waiting.sales_date] == "wait"
    )
    assert cells[D - dt.timedelta(days=1)] == "missing" and cells[dt.date(2024, 1, 1)] == "out"
    assert months[0].weeks[0][4] == Cell(dt.date(2024, 3, 1), "missing")  # a Friday
    assert all(len(w) == 7 for m in months for w in m.weeks)


def test_report_figures_are_marked_with_their_source_and_stay_escaped() -> None:
    """Each claim becomes a span with its source; unverified ones are marked bad; the text's
    HTML stays escaped and placeholder characters in the text cannot forge a mark."""
    from service.gateway.dashboard.render import markdown_claims

    text = "Revenue **4,75 млн** <b>x</b> \ue0000\ue001 and 999."
    claims = [
        {
            "start": 10,
            "end": 18,
            "text": "4,75 млн",
            "verified": True,
            "form": "scaled",
            "rule": "4752113.20 (total_revenue) rounded",
            "sources": ["total_revenue"],
        },
        {
            "start": 38,
            "end": 41,
            "text": "999",
            "verified": False,
            "form": "number",
            "rule": "no fact",
            "sources": [],
            "expected": "100.00 (x)",
        },
        {"start": 0, "end": 3, "text": "XYZ", "verified": True},  # no longer fits the text
    ]
    html = str(markdown_claims(text, claims))
    assert (
        '<strong><span class="fig ok"' in html
        and 'title="4752113.20 (total_revenue) rounded"' in html
    )
    assert '<span class="fig bad"' in html and ">999</span>" in html and "100.00 (x)" in html
    assert "&lt;b&gt;" in html and "<b>" not in html and html.count('class="fig') == 2

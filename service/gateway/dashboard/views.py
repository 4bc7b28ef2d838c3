"""What the pages show, computed from stored rows: pure functions, no I/O.

Chart values travel to the browser as JSON numbers (Chart.js draws floats); every
figure a person reads (labels, tooltips, tables) is formatted here with
``figures.display``, so the dashboard shows money exactly as the reports do.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ...figures.display import Language, clean_name, integer, money, percent, round_money
from ...figures.facts import Facts, ratio
from ...storage.dashboard import DayRow, HistoryPoint

__all__ = ["Cell", "Gap", "Month", "calendar_months", "calendar_rows", "day_charts", "history_rows"]


@dataclass(frozen=True, slots=True)
class Gap:
    """Calendar days between two listed days with nothing stored."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def calendar_rows(
    rows: list[DayRow], *, upper: dt.date | None, lower: dt.date | None
) -> list[DayRow | Gap]:
    """Stored days (newest first) with the missing days between them as gaps.

    ``upper`` and ``lower`` bound the range shown on this page: a gap is also shown
    between ``upper`` and the first row, and between the last row and ``lower``.
    """
    out: list[DayRow | Gap] = []
    above = upper + dt.timedelta(days=1) if upper is not None else None
    for row in rows:
        if above is not None and (above - row.sales_date).days > 1:
            out.append(
                Gap(first=row.sales_date + dt.timedelta(days=1), last=above - dt.timedelta(days=1))
            )
        out.append(row)
        above = row.sales_date
    if lower is not None and above is not None and above > lower:
        out.append(Gap(first=lower, last=above - dt.timedelta(days=1)))
    elif lower is not None and above is None and upper is not None and upper >= lower:
        out.append(Gap(first=lower, last=upper))
    return out


@dataclass(frozen=True, slots=True)
class Cell:
    """One day of a month grid; ``day`` None for the padding before and after the month."""

    day: dt.date | None
    state: str  # "ok" (verified report), "warn" (failed or not verified), "wait" (no report yet),
    #             "missing" (in the range, nothing stored), "out" (outside the range)


@dataclass(frozen=True, slots=True)
class Month:
    first: dt.date
    weeks: list[list[Cell]]


_WEEKS = calendar.Calendar(firstweekday=calendar.MONDAY)


def _state(row: DayRow | None, day: dt.date, first: dt.date, last: dt.date) -> str:
    if row is None:
        return "missing" if first <= day <= last else "out"
    if row.report_status == "failed" or row.verified is False:
        return "warn"
    return "ok" if row.report_status == "ok" else "wait"


def calendar_months(
    rows: list[DayRow], *, first: dt.date, last: dt.date, max_months: int = 6
) -> list[Month]:
    """Month grids, newest first, of the months that hold the listed days (or, with none, of
    the range), at most ``max_months``; days from first to last with nothing stored are "missing"."""
    by_day = {r.sales_date: r for r in rows}
    newest = max(by_day) if by_day else last
    oldest = min(by_day) if by_day else first
    months: list[Month] = []
    year, month = newest.year, newest.month
    while (year, month) >= (oldest.year, oldest.month) and len(months) < max_months:
        weeks = [
            [
                Cell(d, _state(by_day.get(d), d, first, last))
                if d.month == month
                else Cell(None, "")
                for d in week
            ]
            for week in _WEEKS.monthdatescalendar(year, month)
        ]
        months.append(Month(first=dt.date(year, month, 1), weeks=weeks))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def _number(value: Decimal) -> float:
    """A money value as the chart draws it (cents exact enough for a bar)."""
    return float(round_money(value))


def _bars(
    title: str, axis: str, labels: list[str], values: list[float], shown: list[str], *, label: str
) -> dict[str, Any]:
    return {
        "type": "bar",
        "title": title,
        "axis": axis,
        "labels": labels,
        "datasets": [{"label": label, "data": values, "shown": shown}],
    }


def day_charts(facts: Facts, history: list[HistoryPoint], *, language: Language) -> dict[str, Any]:
    """The four charts of a day page, as the page's JSON data block holds them."""
    cats = facts.categories
    cat_labels = [_category_label(c.name, c.is_other, c.categories, language) for c in cats]
    charts: dict[str, Any] = {
        "categories": _bars(
            "Revenue by category",
            "Revenue",
            cat_labels,
            [_number(c.revenue) for c in cats],
            [
                f"{money(c.revenue, language=language)} ({percent(c.share_of_revenue, language=language)})"
                for c in cats
            ],
            label="Revenue",
        ),
        "top_revenue": _bars(
            "Top products by revenue",
            "Revenue",
            [clean_name(p.name) for p in facts.top_by_revenue],
            [_number(p.revenue) for p in facts.top_by_revenue],
            [money(p.revenue, language=language) for p in facts.top_by_revenue],
            label="Revenue",
        ),
        "top_units": _bars(
            "Top products by units",
            "Units sold",
            [clean_name(p.name) for p in facts.top_by_units],
            [float(p.units) for p in facts.top_by_units],
            [integer(p.units, language=language) for p in facts.top_by_units],
            label="Units",
        ),
    }
    rows = history_rows(history)
    charts["history"] = {
        "type": "history",
        "title": "Revenue by day (4 weeks), with the trailing 7-day average",
        "axis": "Revenue",
        "labels": [p.sales_date.isoformat() for p, _ in rows],
        "highlight": facts.sales_date.isoformat(),
        "datasets": [
            {
                "label": "Revenue",
                "data": [_number(p.revenue) for p, _ in rows],
                "shown": [money(p.revenue, language=language) for p, _ in rows],
            },
            {
                "label": "Trailing 7-day average",
                "data": [None if a is None else _number(a) for _, a in rows],
                "shown": [money(a, language=language) for _, a in rows],
            },
        ],
    }
    return charts


def _category_label(name: str, is_other: bool, count: int, language: Language) -> str:
    if is_other:
        return f"Other ({integer(count, language=language)} categories)"
    return clean_name(name)


def history_rows(history: list[HistoryPoint]) -> list[tuple[HistoryPoint, Decimal | None]]:
    """Each point with its trailing average revenue (None when no day is stored in its window)."""
    return [
        (p, ratio(p.trailing_revenue, p.trailing_days) if p.trailing_days else None)
        for p in history
    ]

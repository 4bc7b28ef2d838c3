"""The day's facts: every figure a report may state, computed before any text is written.

Money, averages and percents are Decimals, never floats, and are *not* rounded
here: rounding for display happens in one place, ``display.py``. Ratios whose
denominator is zero are ``None``. Every list is bounded (``Parameters``), so the
facts, and the prompt built from them, do not grow with the number of products.

The SQL that computes the figures is ``service/storage/facts_sql.py``;
``figures/load.py`` makes them into these models with the pure helpers below
(which the tests' Python factory uses too).
"""

from __future__ import annotations

import datetime as dt
from decimal import Context, Decimal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PARAMETERS",
    "CategoryFact",
    "Facts",
    "History",
    "Mover",
    "NameSample",
    "Parameters",
    "ProductFact",
    "days_depending_on",
    "percent_change",
    "percent_of",
    "ratio",
    "trailing_window",
]

# 28 significant digits (Python's default, set explicitly so a caller's context
# cannot change the facts): far beyond anything displayed.
_CTX = Context(prec=28)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Parameters(_Frozen):
    """The bounds the facts were computed with; they may appear in a report's text."""

    top_n: int = Field(
        default=5, description="length of each top list and of the new/missing name samples"
    )
    trailing_days: int = Field(
        default=7, description="calendar days before the date that form the trailing window"
    )
    movers_n: int = Field(default=3, description="products listed as biggest rises and falls")
    categories_n: int = Field(
        default=10, description="categories listed by name; the rest form one 'other' bucket"
    )


PARAMETERS = Parameters()


class ProductFact(_Frozen):
    product_id: int
    name: str
    category: str
    units: int
    revenue: Decimal


class CategoryFact(_Frozen):
    name: str = Field(description="the category, or '' for the bucket of the remaining categories")
    is_other: bool = Field(
        default=False, description="true for the bucket that aggregates the smaller categories"
    )
    categories: int = Field(default=1, description="how many categories this entry aggregates")
    units: int
    revenue: Decimal
    share_of_revenue: Decimal | None = Field(
        description="percent of the day's revenue; None when it is zero"
    )


class Mover(_Frozen):
    product_id: int
    name: str
    units_before: int
    units_now: int
    change: int


class NameSample(_Frozen):
    count: int
    names: list[str] = Field(description="at most Parameters.top_n names, largest units first")


class History(_Frozen):
    """The day against the previous stored day and the trailing window."""

    previous_date: dt.date
    previous_revenue: Decimal
    previous_units: int
    revenue_change: Decimal
    revenue_change_pct: Decimal | None
    units_change: int
    units_change_pct: Decimal | None
    trailing_from: dt.date = Field(description="first calendar day of the trailing window")
    trailing_to: dt.date = Field(
        description="last calendar day of the trailing window (the day before)"
    )
    trailing_days: int = Field(description="stored days inside the trailing window")
    trailing_avg_revenue: Decimal | None
    trailing_avg_units: Decimal | None
    revenue_vs_trailing_pct: Decimal | None
    units_vs_trailing_pct: Decimal | None
    movers_up: list[Mover]
    movers_down: list[Mover]
    new_products: NameSample = Field(description="sold today, not on the previous stored day")
    missing_products: NameSample = Field(description="sold on the previous stored day, not today")


class Facts(_Frozen):
    sales_date: dt.date
    total_revenue: Decimal
    total_units: int
    distinct_products: int
    distinct_categories: int
    average_price: Decimal | None = Field(
        description="revenue / units, unrounded; None without units"
    )
    top_by_units: list[ProductFact]
    top_by_revenue: list[ProductFact]
    categories: list[CategoryFact]
    history: History | None = Field(description="None when no earlier day is stored")
    parameters: Parameters = PARAMETERS


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    """numerator / denominator, or None when the denominator is zero."""
    if denominator == 0:
        return None
    return _CTX.divide(Decimal(numerator), Decimal(denominator))


def percent_of(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part as a percent of whole."""
    r = ratio(part, whole)
    return None if r is None else _CTX.multiply(r, Decimal(100))


def percent_change(now: Decimal | int, before: Decimal | int | None) -> Decimal | None:
    """(now - before) / before in percent; None when before is missing or zero."""
    if before is None:
        return None
    return percent_of(Decimal(now) - Decimal(before), before)


def trailing_window(
    sales_date: dt.date, *, days: int = PARAMETERS.trailing_days
) -> tuple[dt.date, dt.date]:
    """The calendar days before sales_date that form the trailing window, both ends included."""
    return sales_date - dt.timedelta(days=days), sales_date - dt.timedelta(days=1)


def days_depending_on(
    sales_date: dt.date, *, days: int = PARAMETERS.trailing_days
) -> tuple[dt.date, dt.date]:
    """The later days whose facts read sales_date (it is in their trailing window, which also
    bounds their "previous stored day"), both ends included: the inverse of trailing_window."""
    return sales_date + dt.timedelta(days=1), sales_date + dt.timedelta(days=days)

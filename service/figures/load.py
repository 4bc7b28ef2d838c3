"""The day's facts, read: the figures of storage/facts_sql.py made into Facts.

The SQL aggregates and cuts every list to its bound; the exact divisions (shares,
averages, changes) are done here with the pure helpers of facts.py.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ..storage.db import Connection
from ..storage.facts_sql import day_figures
from .facts import (
    PARAMETERS,
    CategoryFact,
    Facts,
    History,
    Mover,
    NameSample,
    ProductFact,
    percent_change,
    percent_of,
    ratio,
    trailing_window,
)

__all__ = ["facts_from_figures", "load_facts"]


async def load_facts(conn: Connection, sales_date: dt.date, *, tuned: bool = False) -> Facts:
    """The facts of a stored day; LookupError when the day is not stored. ``tuned``: the
    connection carries FACTS_SERVER_SETTINGS (storage/facts_sql.py)."""
    window_from, _ = trailing_window(sales_date)
    p = PARAMETERS
    raw = await day_figures(
        conn,
        sales_date,
        window_from=window_from,
        categories_n=p.categories_n,
        top_n=p.top_n,
        movers_n=p.movers_n,
        tuned=tuned,
    )
    if raw is None:
        raise LookupError(f"no sales stored for {sales_date.isoformat()}")
    return facts_from_figures(sales_date, raw)


def facts_from_figures(sales_date: dt.date, raw: dict[str, Any]) -> Facts:
    """FACTS_SQL's figures of a stored day as Facts (the exact divisions are done here)."""
    revenue = Decimal(raw["revenue"])
    units = int(raw["units"])
    categories = [
        CategoryFact(
            name=c["name"],
            units=c["units"],
            revenue=Decimal(c["revenue"]),
            share_of_revenue=percent_of(Decimal(c["revenue"]), revenue),
        )
        for c in raw["categories"]
    ]
    other = raw["other"]
    if other["count"]:
        categories.append(
            CategoryFact(
                name="",
                is_other=True,
                categories=other["count"],
                units=other["units"],
                revenue=Decimal(other["revenue"]),
                share_of_revenue=percent_of(Decimal(other["revenue"]), revenue),
            )
        )
    return Facts(
        sales_date=sales_date,
        total_revenue=revenue,
        total_units=units,
        distinct_products=raw["products"],
        distinct_categories=raw["categories_count"],
        average_price=ratio(revenue, units),
        top_by_units=[_product(r) for r in raw["top_by_units"]],
        top_by_revenue=[_product(r) for r in raw["top_by_revenue"]],
        categories=categories,
        history=_history(sales_date, revenue, units, raw) if raw["prev"] else None,
    )


def _product(r: dict[str, Any]) -> ProductFact:
    return ProductFact(
        product_id=r["product_id"],
        name=r["name"],
        category=r["category"],
        units=r["units"],
        revenue=Decimal(r["revenue"]),
    )


def _history(sales_date: dt.date, revenue: Decimal, units: int, raw: dict[str, Any]) -> History:
    prev, trailing = raw["prev"], raw["trailing"]
    prev_revenue, prev_units = Decimal(prev["total_revenue"]), int(prev["total_units"])
    days = int(trailing["days"])
    avg_revenue = ratio(Decimal(trailing["revenue"]), days) if days else None
    avg_units = ratio(Decimal(trailing["units"]), days) if days else None
    window_from, window_to = trailing_window(sales_date)
    return History(
        previous_date=dt.date.fromisoformat(prev["sales_date"]),
        previous_revenue=prev_revenue,
        previous_units=prev_units,
        revenue_change=revenue - prev_revenue,
        revenue_change_pct=percent_change(revenue, prev_revenue),
        units_change=units - prev_units,
        units_change_pct=percent_change(units, prev_units),
        trailing_from=window_from,
        trailing_to=window_to,
        trailing_days=days,
        trailing_avg_revenue=avg_revenue,
        trailing_avg_units=avg_units,
        revenue_vs_trailing_pct=percent_change(revenue, avg_revenue),
        units_vs_trailing_pct=percent_change(units, avg_units),
        movers_up=[Mover(**m) for m in raw["movers_up"]],
        movers_down=[Mover(**m) for m in raw["movers_down"]],
        new_products=NameSample(count=raw["new_count"], names=raw["new_names"]),
        missing_products=NameSample(count=raw["missing_count"], names=raw["missing_names"]),
    )

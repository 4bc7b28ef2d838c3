"""The day's facts from PostgreSQL, in one statement (one round trip, one snapshot).

Everything that scales with the number of products is aggregated or cut to the
top N in SQL; Python only receives bounded lists and does the exact divisions
(``service.reporter.facts``). The day's lines and the previous day's lines are
each read once through the primary key (sales_date, product_id). The day's own
totals are summed from its lines; the previous day and the trailing window use
the totals stored in sales_days.

Numbers travel as JSON text parsed with ``Decimal``, so numeric stays exact.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import asyncpg

from ..reporter.facts import (
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
from .db import translate_errors

__all__ = ["load_facts", "FACTS_SQL"]

# CTE row estimates are guesses, so the planner may think this statement costly
# enough for JIT, whose compilation alone took ~750 ms against ~150 ms for the
# whole query on a 50,000-product day. A day's lines (two days for the
# comparison) fit in memory; the default 4 MB work_mem spills them to disk, and
# 32 MB still spilled a 1,000,000-product day (~70 MB of lines): 0.97 s against
# 0.83 s with 128 MB (measured).
_SETTINGS = "SET LOCAL jit = off; SET LOCAL work_mem = '128MB'"

# The "previous day" is the latest stored day inside the trailing window: a
# comparison with a day months ago would mislead, so a day with no stored day in
# the 7 days before it has no history block.
# $1 the date, $2 first day of the trailing window, $3 categories listed by name,
# $4 top N (top lists, name samples), $5 movers per direction.
FACTS_SQL = """
WITH
prev AS (
    SELECT sales_date, total_revenue, total_units FROM sales_days
    WHERE sales_date < $1 AND sales_date >= $2 ORDER BY sales_date DESC LIMIT 1
),
trail AS (
    SELECT count(*) AS days, sum(total_revenue) AS revenue, sum(total_units) AS units
    FROM sales_days WHERE sales_date >= $2 AND sales_date < $1
),
lines AS MATERIALIZED (
    SELECT product_id, name, category, quantity AS units, quantity * price AS revenue
    FROM sales_lines WHERE sales_date = $1
),
-- The day's totals are the sum of its categories': one pass over the lines for both.
cats AS MATERIALIZED (
    SELECT category AS name, sum(units) AS units, sum(revenue) AS revenue, count(*) AS products,
           row_number() OVER (ORDER BY sum(revenue) DESC, category COLLATE "C") AS rank
    FROM lines GROUP BY category
),
totals AS (
    SELECT coalesce(sum(revenue), 0) AS revenue, coalesce(sum(units), 0) AS units,
           coalesce(sum(products), 0) AS products
    FROM cats
),
-- One pass over both days: rows that changed, appeared (no units_before) or vanished (no units_now).
diff AS MATERIALIZED (
    SELECT product_id, coalesce(l.name, p.name) AS name, p.quantity AS units_before, l.units AS units_now,
           l.units - p.quantity AS change
    FROM lines l
    FULL JOIN (SELECT product_id, name, quantity FROM sales_lines
               WHERE sales_date = (SELECT sales_date FROM prev)) p USING (product_id)
    WHERE l.units IS DISTINCT FROM p.quantity
      AND EXISTS (SELECT 1 FROM prev)  -- a first day: skip the join, nothing to compare with
)
SELECT json_build_object(
    'stored', EXISTS (SELECT 1 FROM sales_days WHERE sales_date = $1),
    'revenue', (SELECT revenue FROM totals),
    'units', (SELECT units FROM totals),
    'products', (SELECT products FROM totals),
    'categories_count', (SELECT count(*) FROM cats),
    'top_by_units', (SELECT coalesce(json_agg(t), '[]') FROM (
        SELECT * FROM lines ORDER BY units DESC, product_id LIMIT $4) t),
    'top_by_revenue', (SELECT coalesce(json_agg(t), '[]') FROM (
        SELECT * FROM lines ORDER BY revenue DESC, product_id LIMIT $4) t),
    'categories', (SELECT coalesce(json_agg(t ORDER BY t.rank), '[]') FROM (
        SELECT name, units, revenue, rank FROM cats WHERE rank <= $3) t),
    'other', (SELECT json_build_object('count', count(*), 'units', coalesce(sum(units), 0),
                                       'revenue', coalesce(sum(revenue), 0))
              FROM cats WHERE rank > $3),
    'prev', (SELECT row_to_json(prev) FROM prev),
    'trailing', (SELECT row_to_json(trail) FROM trail),
    'movers_up', (SELECT coalesce(json_agg(t), '[]') FROM (
        SELECT * FROM diff WHERE change > 0 ORDER BY change DESC, product_id LIMIT $5) t),
    'movers_down', (SELECT coalesce(json_agg(t), '[]') FROM (
        SELECT * FROM diff WHERE change < 0 ORDER BY change, product_id LIMIT $5) t),
    'new_count', (SELECT count(*) FROM diff WHERE units_before IS NULL),
    'new_names', (SELECT coalesce(json_agg(t.name), '[]') FROM (
        SELECT name FROM diff WHERE units_before IS NULL ORDER BY units_now DESC, product_id LIMIT $4) t),
    'missing_count', (SELECT count(*) FROM diff WHERE units_now IS NULL),
    'missing_names', (SELECT coalesce(json_agg(t.name), '[]') FROM (
        SELECT name FROM diff WHERE units_now IS NULL ORDER BY units_before DESC, product_id LIMIT $4) t)
)::text
"""


async def load_facts(conn: asyncpg.Connection, sales_date: dt.date) -> Facts:
    """The facts of a stored day; LookupError when the day is not stored."""
    window_from, _ = trailing_window(sales_date)
    p = PARAMETERS
    async with translate_errors("load_facts"), conn.transaction(readonly=True):
        await conn.execute(_SETTINGS)
        text = await conn.fetchval(FACTS_SQL, sales_date, window_from, p.categories_n, p.top_n, p.movers_n)
    raw = json.loads(text, parse_float=Decimal)
    if not raw["stored"]:
        raise LookupError(f"no sales stored for {sales_date.isoformat()}")
    return _facts(sales_date, raw)


def _facts(sales_date: dt.date, raw: dict[str, Any]) -> Facts:
    revenue = Decimal(raw["revenue"])
    units = int(raw["units"])
    categories = [CategoryFact(name=c["name"], units=c["units"], revenue=Decimal(c["revenue"]),
                               share_of_revenue=percent_of(Decimal(c["revenue"]), revenue))
                  for c in raw["categories"]]
    other = raw["other"]
    if other["count"]:
        categories.append(CategoryFact(
            name="", is_other=True, categories=other["count"], units=other["units"],
            revenue=Decimal(other["revenue"]), share_of_revenue=percent_of(Decimal(other["revenue"]), revenue)))
    return Facts(
        sales_date=sales_date, total_revenue=revenue, total_units=units,
        distinct_products=raw["products"], distinct_categories=raw["categories_count"],
        average_price=ratio(revenue, units),
        top_by_units=[_product(r) for r in raw["top_by_units"]],
        top_by_revenue=[_product(r) for r in raw["top_by_revenue"]],
        categories=categories,
        history=_history(sales_date, revenue, units, raw) if raw["prev"] else None,
    )


def _product(r: dict[str, Any]) -> ProductFact:
    return ProductFact(product_id=r["product_id"], name=r["name"], category=r["category"],
                       units=r["units"], revenue=Decimal(r["revenue"]))


def _history(sales_date: dt.date, revenue: Decimal, units: int, raw: dict[str, Any]) -> History:
    prev, trailing = raw["prev"], raw["trailing"]
    prev_revenue, prev_units = Decimal(prev["total_revenue"]), int(prev["total_units"])
    days = int(trailing["days"])
    avg_revenue = ratio(Decimal(trailing["revenue"]), days) if days else None
    avg_units = ratio(Decimal(trailing["units"]), days) if days else None
    window_from, window_to = trailing_window(sales_date)
    return History(
        previous_date=dt.date.fromisoformat(prev["sales_date"]),
        previous_revenue=prev_revenue, previous_units=prev_units,
        revenue_change=revenue - prev_revenue, revenue_change_pct=percent_change(revenue, prev_revenue),
        units_change=units - prev_units, units_change_pct=percent_change(units, prev_units),
        trailing_from=window_from, trailing_to=window_to, trailing_days=days,
        trailing_avg_revenue=avg_revenue, trailing_avg_units=avg_units,
        revenue_vs_trailing_pct=percent_change(revenue, avg_revenue),
        units_vs_trailing_pct=percent_change(units, avg_units),
        movers_up=[Mover(**m) for m in raw["movers_up"]],
        movers_down=[Mover(**m) for m in raw["movers_down"]],
        new_products=NameSample(count=raw["new_count"], names=raw["new_names"]),
        missing_products=NameSample(count=raw["missing_count"], names=raw["missing_names"]),
    )

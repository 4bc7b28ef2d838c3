"""The day's facts from PostgreSQL, in one statement (one round trip, one snapshot).

Everything that scales with the number of products is aggregated or cut to the
top N in SQL; Python only receives bounded lists and does the exact divisions
(``service.figures.load`` and ``service.figures.facts``). The day's lines and the previous day's lines are
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

from .db import Connection, translate_errors

__all__ = ["FACTS_SERVER_SETTINGS", "FACTS_SQL", "day_figures"]

# CTE row estimates are guesses, so the planner may think this statement costly
# enough for JIT, whose compilation alone took ~750 ms against ~150 ms for the
# whole query on a 50,000-product day. A day's lines (two days for the
# comparison) fit in memory; the default 4 MB work_mem spills them to disk, and
# 32 MB still spilled a 1,000,000-product day (~70 MB of lines): 0.97 s against
# 0.83 s with 128 MB (measured).
_SETTINGS = "SET LOCAL jit = off; SET LOCAL work_mem = '128MB'"
# The same for a whole connection: a pool made with these (the reporter's) lets
# day_figures(..., tuned=True) run the statement alone, one round trip instead of
# four (BEGIN, SET, the statement, COMMIT).
FACTS_SERVER_SETTINGS = {"jit": "off", "work_mem": "128MB"}

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


async def day_figures(
    conn: Connection,
    sales_date: dt.date,
    *,
    window_from: dt.date,
    categories_n: int,
    top_n: int,
    movers_n: int,
    tuned: bool = False,
) -> dict[str, Any] | None:
    """The day's figures as FACTS_SQL builds them (numbers as Decimal), or None when the
    day is not stored. Turning them into Facts is service/figures/load.py's.

    ``tuned``: the connection was opened with FACTS_SERVER_SETTINGS. The statement is
    one snapshot either way."""
    args = (sales_date, window_from, categories_n, top_n, movers_n)
    async with translate_errors("load_facts"):
        if tuned:
            text = await conn.fetchval(FACTS_SQL, *args)
        else:
            async with conn.transaction(readonly=True):
                await conn.execute(_SETTINGS)
                text = await conn.fetchval(FACTS_SQL, *args)
    raw: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return raw if raw["stored"] else None

"""Every figure a report about a day may state, with what the verifier needs to
know about it: is it a percentage, is it a change (so its sign is part of the
claim), and whose figure is it (a product's, a category's, or the day's).

Figures are keyed by their magnitude at the precision shown (``display.py``) and at
the roundings a writer commonly uses (money to 0 and 2 decimals, percents and
averages to 0 and 1); the sign is kept beside it, as a claim to check.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from ..figures.display import clean_name, fact_dates, round_money, round_one
from ..figures.facts import Facts

__all__ = ["Figure", "FigureTable", "fact_numbers", "figure_table"]

_WHOLE = Decimal("1")


@dataclass(frozen=True, slots=True)
class Figure:
    percent: bool
    change: bool  # a change against earlier days: its sign (or direction word) is a claim too
    sign: int  # -1, 0 or +1, of the value at this rounding
    # Whose figure: "p:<id>" a product's (and "c:<name>" its category's, which is
    # named beside it), "c:<name>" a category's; empty: the day's.
    owners: frozenset[str]
    # For a level that a change led to (the day's revenue and units, a mover's units
    # now): the sign of that change, so "rose to" it can be checked; else None.
    trend: int | None = None


@dataclass(slots=True)
class FigureTable:
    by_size: dict[Decimal, list[Figure]] = field(default_factory=lambda: defaultdict(list))
    owners: dict[str, set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )  # casefolded name → owners

    def add(
        self,
        values: Iterable[Decimal],
        *,
        percent: bool = False,
        change: bool = False,
        owners: Iterable[str] = (),
        trend: Decimal | int | None = None,
    ) -> None:
        keys = frozenset(owners)
        towards = None if trend is None else (trend > 0) - (trend < 0)
        for v in values:
            sign = (v > 0) - (v < 0)
            self.by_size[abs(v)].append(
                Figure(percent=percent, change=change, sign=sign, owners=keys, trend=towards)
            )

    def name(self, name: str, owner: str) -> None:
        for n in {name, clean_name(name)}:
            if n.strip():
                self.owners[n.casefold()].add(owner)

    def lookup(self, sizes: Iterable[Decimal]) -> list[Figure]:
        return [f for s in sizes for f in self.by_size.get(s, ())]


def _money(value: Decimal | None) -> set[Decimal]:
    if value is None:
        return set()
    return {value, round_money(value), value.quantize(_WHOLE, rounding=ROUND_HALF_UP)}


def _tenths(value: Decimal | None) -> set[Decimal]:
    if value is None:
        return set()
    return {round_one(value), value.quantize(_WHOLE, rounding=ROUND_HALF_UP)}


def _counts(*values: int) -> set[Decimal]:
    return {Decimal(v) for v in values}


def figure_table(facts: Facts) -> FigureTable:
    """The day's figures; those of a named product or category carry its owner key."""
    t = FigureTable()
    # The day's own figures.
    h = facts.history
    t.add(_money(facts.total_revenue), trend=None if h is None else h.revenue_change)
    t.add(_counts(facts.total_units), trend=None if h is None else h.units_change)
    t.add(_money(facts.average_price))
    t.add(
        _counts(
            facts.distinct_products,
            facts.distinct_categories,
            len(facts.top_by_units),
            len(facts.top_by_revenue),
            len(facts.categories),
            *facts.parameters.model_dump().values(),
        )
    )
    # Ranks ("#1 by revenue", "2nd place") up to the longest list.
    longest = max(len(facts.top_by_units), len(facts.top_by_revenue), len(facts.categories))
    t.add(_counts(*range(1, longest + 1)))
    t.add(_dates(fact_dates(facts)))
    for p in (*facts.top_by_units, *facts.top_by_revenue):
        t.name(p.name, f"p:{p.product_id}")
        t.add(
            _money(p.revenue) | _counts(p.units, p.product_id),
            owners=(f"p:{p.product_id}", f"c:{p.category.casefold()}"),
        )
    for c in facts.categories:
        bucket = (
            () if c.is_other else (f"c:{c.name.casefold()}",)
        )  # "other categories" are the day's
        for key in bucket:
            t.name(c.name, key)
        t.add(_money(c.revenue) | _counts(c.units, c.categories), owners=bucket)
        t.add(_tenths(c.share_of_revenue), percent=True, owners=bucket)
    for p in (*facts.top_by_units, *facts.top_by_revenue):
        t.name(p.category, f"c:{p.category.casefold()}")
    if h is not None:
        t.add(
            _money(h.previous_revenue)
            | _money(h.trailing_avg_revenue)
            | _tenths(h.trailing_avg_units)
        )
        t.add(
            _counts(
                h.previous_units,
                h.trailing_days,
                h.new_products.count,
                h.missing_products.count,
                len(h.movers_up),
                len(h.movers_down),
                len(h.new_products.names),
                len(h.missing_products.names),
            )
        )
        t.add(_money(h.revenue_change) | _counts(h.units_change), change=True)
        t.add(
            _tenths(h.revenue_change_pct)
            | _tenths(h.units_change_pct)
            | _tenths(h.revenue_vs_trailing_pct)
            | _tenths(h.units_vs_trailing_pct),
            percent=True,
            change=True,
        )
        for m in (*h.movers_up, *h.movers_down):
            owner = f"p:{m.product_id}"
            t.name(m.name, owner)
            t.add(_counts(m.product_id, m.units_before), owners=(owner,))
            t.add(_counts(m.units_now), owners=(owner,), trend=m.change)
            t.add(_counts(m.change), change=True, owners=(owner,))
        for n in (*h.new_products.names, *h.missing_products.names):
            t.name(n, f"n:{n.casefold()}")  # named, without figures of its own
    return t


def _dates(dates: set[dt.date]) -> set[Decimal]:
    return {Decimal(x) for d in dates for x in (d.day, d.month, d.year)}


def fact_numbers(facts: Facts) -> set[Decimal]:
    """Every number a report about these facts may contain, with either sign."""
    return {v for size in figure_table(facts).by_size for v in (size, -size)}

"""Every figure a report about a day may state, with what the verifier needs to
know about it: its exact value and where it comes from (``source``, shown as the
figure's provenance), is it a percentage, is it a change (so its sign is part of
the claim), and whose figure is it (a product's, a category's, or the day's).

Three tables: the facts themselves (``base``), figures that follow from two facts
of the same subject or from parts of a whole (``derived``: a product's share of
the revenue, two products' difference, a mover's percent change, a product's
average price), and multiples (``ratios``: the larger of two such facts over the
smaller, with the direction from the earlier to the later when they are a change).
Each table is sorted by magnitude, so the verifier finds every figure that rounds
to a number as written (at its precision) with two bisections; the sign is kept
beside it, as a claim to check.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property, lru_cache
from itertools import combinations

from ..figures.display import clean_name as _clean_name
from ..figures.display import fact_dates, round_money, round_one
from ..figures.facts import Facts, percent_change, percent_of, ratio

_WHOLE = Decimal(1)
# Names recur in every report of a day and day after day: each is cleaned once.
clean_name = lru_cache(maxsize=8192)(_clean_name)

__all__ = ["Figure", "FigureTable", "Figures", "fact_numbers", "figure_table"]


@dataclass(frozen=True, slots=True)
class Figure:
    percent: bool
    change: bool  # a change against earlier days: its sign (or direction word) is a claim too
    sign: int  # -1, 0 or +1
    # Whose figure: "p:<id>" a product's (and "c:<name>" its category's, which is
    # named beside it), "c:<name>" a category's; empty: the day's.
    owners: frozenset[str]
    # For a level that a change led to (the day's revenue and units, a mover's units
    # now): the sign of that change, so "rose to" it can be checked; else None.
    trend: int | None = None
    value: Decimal = Decimal(0)  # exact, unrounded, signed
    source: str = ""  # where it comes from: "total_revenue", "ratio of A and B", …
    count: bool = False  # a whole count (products, units, days): what "три товара" may state
    pair: bool = False  # of two products or categories: both must be named in its sentence
    past: bool = False  # an earlier day's or the average's: its sentence must say so


@dataclass(slots=True)
class FigureTable:
    """Figures sorted by magnitude; ``between`` finds those in a half-open interval."""

    keys: list[Decimal] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    _pending: list[tuple[Decimal, Figure]] = field(default_factory=list)
    owners: dict[str, set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )  # casefolded name → owners

    def add(
        self,
        values: Iterable[tuple[str, Decimal | int | None]],
        *,
        percent: bool = False,
        change: bool = False,
        owners: Iterable[str] = (),
        trend: Decimal | int | None = None,
        count: bool = False,
        pair: bool = False,
        past: bool = False,
    ) -> None:
        keys = frozenset(owners)
        towards = None if trend is None else (trend > 0) - (trend < 0)
        for source, raw in values:
            if raw is None:
                continue
            v = Decimal(raw)
            whole = count or isinstance(raw, int)
            fig = Figure(
                percent=percent,
                change=change,
                sign=(v > 0) - (v < 0),
                owners=keys,
                trend=towards,
                value=v,
                source=source,
                count=whole,
                pair=pair,
                past=past,
            )
            self._pending.append((abs(v), fig))

    def seal(self) -> FigureTable:
        pairs = sorted(self._pending, key=lambda kv: kv[0])
        self.keys = [k for k, _ in pairs]
        self.figures = [f for _, f in pairs]
        return self

    def name(self, name: str, owner: str) -> None:
        for n in {name, clean_name(name)}:
            if n.strip():
                self.owners[n.casefold()].add(owner)

    def between(self, lo: Decimal, hi: Decimal, *, closed: bool = False) -> list[Figure]:
        """Figures whose magnitude is in [lo, hi) ([lo, hi] when closed)."""
        i = bisect.bisect_left(self.keys, lo)
        j = (bisect.bisect_right if closed else bisect.bisect_left)(self.keys, hi)
        return self.figures[i:j]

    def lookup(self, sizes: Iterable[Decimal]) -> list[Figure]:
        """Figures of exactly these magnitudes."""
        return [f for s in sizes for f in self.between(s, s, closed=True)]


class Figures:
    """The three tables of a day; the derived ones are built when first asked for (most
    numbers are facts as they stand)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.base = _base(facts)

    @cached_property
    def derived(self) -> FigureTable:
        return _derived(self.facts)

    @cached_property
    def ratios(self) -> FigureTable:
        return _ratios(self.facts)

    @property
    def owners(self) -> dict[str, set[str]]:
        return self.base.owners


def _product_key(pid: int, category: str) -> tuple[str, str]:
    return (f"p:{pid}", f"c:{category.casefold()}")


def _base(facts: Facts) -> FigureTable:
    t = FigureTable()
    h = facts.history
    t.add([("total_revenue", facts.total_revenue)], trend=h.revenue_change if h else None)
    t.add([("total_units", facts.total_units)], trend=h.units_change if h else None, count=True)
    t.add([("average_price", facts.average_price)])
    t.add(
        [
            ("distinct_products", facts.distinct_products),
            ("distinct_categories", facts.distinct_categories),
            ("top_by_units (count)", len(facts.top_by_units)),
            ("top_by_revenue (count)", len(facts.top_by_revenue)),
            ("categories (count)", len(facts.categories)),
            *((f"parameters.{k}", v) for k, v in facts.parameters.model_dump().items()),
        ],
        count=True,
    )
    # Ranks ("#1 by revenue", "2nd place", "топ-3") up to the longest list.
    longest = max(len(facts.top_by_units), len(facts.top_by_revenue), len(facts.categories))
    t.add([(f"rank {r}", r) for r in range(1, longest + 1)], count=True)
    t.add([(f"date {d.isoformat()}", x) for d in fact_dates(facts) for x in _date_parts(d)])
    for list_name, products in (
        ("top_by_units", facts.top_by_units),
        ("top_by_revenue", facts.top_by_revenue),
    ):
        for p in products:
            t.name(p.name, f"p:{p.product_id}")
            t.name(p.category, f"c:{p.category.casefold()}")
            where = f"{list_name}[{clean_name(p.name)}]"
            keys = _product_key(p.product_id, p.category)
            t.add([(f"{where}.revenue", p.revenue)], owners=keys)
            t.add([(f"{where}.units", p.units), (f"{where}.id", p.product_id)], owners=keys)
    for c in facts.categories:
        bucket = () if c.is_other else (f"c:{c.name.casefold()}",)  # "other" are the day's
        for key in bucket:
            t.name(c.name, key)
        where = "categories[other]" if c.is_other else f"categories[{clean_name(c.name)}]"
        t.add([(f"{where}.revenue", c.revenue)], owners=bucket)
        t.add([(f"{where}.units", c.units), (f"{where}.categories", c.categories)], owners=bucket)
        t.add([(f"{where}.share_of_revenue", c.share_of_revenue)], percent=True, owners=bucket)
    if h is not None:
        _history(t, facts)
    return t.seal()


def _history(t: FigureTable, facts: Facts) -> None:
    h = facts.history
    assert h is not None
    t.add(
        [
            ("history.previous_revenue", h.previous_revenue),
            ("history.trailing_window.average_revenue", h.trailing_avg_revenue),
        ],
        past=True,
    )
    t.add([("history.trailing_window.average_units", h.trailing_avg_units)], past=True, count=True)
    t.add([("history.previous_units", h.previous_units)], count=True, past=True)
    t.add(
        [
            ("history.trailing_window.stored_days", h.trailing_days),
            ("history.new_products.count", h.new_products.count),
            ("history.missing_products.count", h.missing_products.count),
            ("history.biggest_rises (count)", len(h.movers_up)),
            ("history.biggest_falls (count)", len(h.movers_down)),
            ("history.new_products.names (count)", len(h.new_products.names)),
            ("history.missing_products.names (count)", len(h.missing_products.names)),
        ],
        count=True,
    )
    t.add(
        [("history.revenue_change", h.revenue_change), ("history.units_change", h.units_change)],
        change=True,
    )
    t.add(
        [
            ("history.revenue_change_percent", h.revenue_change_pct),
            ("history.units_change_percent", h.units_change_pct),
            ("history.trailing_window.revenue_vs_average_percent", h.revenue_vs_trailing_pct),
            ("history.trailing_window.units_vs_average_percent", h.units_vs_trailing_pct),
        ],
        percent=True,
        change=True,
    )
    for m in (*h.movers_up, *h.movers_down):
        owner = (f"p:{m.product_id}",)
        where = f"history.movers[{clean_name(m.name)}]"
        t.name(m.name, owner[0])
        t.add([(f"{where}.id", m.product_id)], owners=owner)
        t.add([(f"{where}.units_before", m.units_before)], owners=owner, past=True)
        t.add([(f"{where}.units_now", m.units_now)], owners=owner, trend=m.change)
        t.add([(f"{where}.change", m.change)], change=True, owners=owner)
    for n in (*h.new_products.names, *h.missing_products.names):
        t.name(n, f"n:{n.casefold()}")  # named, without figures of its own


def _derived(facts: Facts) -> FigureTable:
    """Shares from their parts, differences of two facts of one kind, percent changes, prices."""
    t = FigureTable()
    products = {p.product_id: p for p in (*facts.top_by_revenue, *facts.top_by_units)}
    for p in products.values():
        keys = _product_key(p.product_id, p.category)
        name = clean_name(p.name)
        t.add(
            [
                (
                    f"share of {name}'s revenue in total_revenue",
                    percent_of(p.revenue, facts.total_revenue),
                ),
                (f"share of {name}'s units in total_units", percent_of(p.units, facts.total_units)),
            ],
            percent=True,
            owners=keys,
        )
        t.add([(f"{name}'s revenue / units", ratio(p.revenue, p.units))], owners=keys)
    for c in facts.categories:
        bucket = () if c.is_other else (f"c:{c.name.casefold()}",)
        name = "other categories" if c.is_other else clean_name(c.name)
        t.add(
            [(f"share of {name}'s units in total_units", percent_of(c.units, facts.total_units))],
            percent=True,
            owners=bucket,
        )
    # The top k by revenue together ("the top 3 made 62 % of revenue").
    running = Decimal(0)
    for k, p in enumerate(facts.top_by_revenue, start=1):
        running += p.revenue
        if k > 1:
            t.add(
                [
                    (
                        f"share of the top {k} by revenue in total_revenue",
                        percent_of(running, facts.total_revenue),
                    )
                ],
                percent=True,
            )
    for a, b in combinations(products.values(), 2):
        both = (*_product_key(a.product_id, a.category), *_product_key(b.product_id, b.category))
        pair = f"{clean_name(a.name)} and {clean_name(b.name)}"
        t.add(
            [
                (f"difference of the revenue of {pair}", abs(a.revenue - b.revenue)),
                (f"difference of the units of {pair}", abs(a.units - b.units)),
            ],
            change=True,
            owners=both,
            pair=True,
        )
    named = [c for c in facts.categories if not c.is_other]
    for ca, cb in combinations(named, 2):
        ckeys = (f"c:{ca.name.casefold()}", f"c:{cb.name.casefold()}")
        pair = f"{clean_name(ca.name)} and {clean_name(cb.name)}"
        t.add(
            [(f"difference of the revenue of {pair}", abs(ca.revenue - cb.revenue))],
            change=True,
            owners=ckeys,
            pair=True,
        )
        if ca.share_of_revenue is not None and cb.share_of_revenue is not None:
            t.add(
                [
                    (
                        f"difference of the shares of {pair}",
                        abs(ca.share_of_revenue - cb.share_of_revenue),
                    )
                ],
                percent=True,
                change=True,
                owners=ckeys,
                pair=True,
            )
    if (h := facts.history) is not None:
        for m in (*h.movers_up, *h.movers_down):
            t.add(
                [
                    (
                        f"percent change of {clean_name(m.name)}'s units",
                        percent_change(m.units_now, m.units_before),
                    )
                ],
                percent=True,
                change=True,
                owners=(f"p:{m.product_id}",),
            )
    return t.seal()


def _ratios(facts: Facts) -> FigureTable:
    """The larger over the smaller of two facts of one subject; a change's carries its direction."""
    t = FigureTable()

    def pair(
        label: str,
        now: Decimal | int | None,
        before: Decimal | int | None,
        *,
        owners: Iterable[str] = (),
        directed: bool = True,
    ) -> None:
        if now is None or before is None or now <= 0 or before <= 0:
            return
        big, small = max(now, before), min(now, before)
        r = ratio(big, small)
        way = ((now > before) - (now < before)) if directed else 0
        t.add(
            [(f"ratio of {label}", r)],
            change=directed,
            owners=owners,
            trend=way if directed else None,
            pair=not directed,
        )

    if (h := facts.history) is not None:
        pair(
            f"total_revenue ({facts.total_revenue}) and history.previous_revenue ({h.previous_revenue})",
            facts.total_revenue,
            h.previous_revenue,
        )
        pair(
            f"total_units ({facts.total_units}) and history.previous_units ({h.previous_units})",
            facts.total_units,
            h.previous_units,
        )
        pair(
            f"total_revenue ({facts.total_revenue}) and the trailing average ({h.trailing_avg_revenue})",
            facts.total_revenue,
            h.trailing_avg_revenue,
        )
        pair(
            f"total_units ({facts.total_units}) and the trailing average ({h.trailing_avg_units})",
            facts.total_units,
            h.trailing_avg_units,
        )
        for m in (*h.movers_up, *h.movers_down):
            pair(
                f"{clean_name(m.name)}'s units now ({m.units_now}) and before ({m.units_before})",
                m.units_now,
                m.units_before,
                owners=(f"p:{m.product_id}",),
            )
    products = {p.product_id: p for p in (*facts.top_by_revenue, *facts.top_by_units)}
    for a, b in combinations(products.values(), 2):
        keys = (*_product_key(a.product_id, a.category), *_product_key(b.product_id, b.category))
        names = f"{clean_name(a.name)} and {clean_name(b.name)}"
        pair(
            f"the revenue of {names} ({a.revenue}, {b.revenue})",
            a.revenue,
            b.revenue,
            owners=keys,
            directed=False,
        )
        pair(
            f"the units of {names} ({a.units}, {b.units})",
            a.units,
            b.units,
            owners=keys,
            directed=False,
        )
    named = [c for c in facts.categories if not c.is_other]
    for ca, cb in combinations(named, 2):
        ckeys = (f"c:{ca.name.casefold()}", f"c:{cb.name.casefold()}")
        pair(
            f"the revenue of {clean_name(ca.name)} and {clean_name(cb.name)} ({ca.revenue}, {cb.revenue})",
            ca.revenue,
            cb.revenue,
            owners=ckeys,
            directed=False,
        )
    return t.seal()


def figure_table(facts: Facts) -> Figures:
    """The day's figures; those of a named product or category carry its owner key."""
    return Figures(facts)


def _date_parts(d: dt.date) -> tuple[int, int, int]:
    return d.day, d.month, d.year


def fact_numbers(facts: Facts) -> set[Decimal]:
    """Every fact's value with either sign, at the precision shown and at the roundings a
    writer commonly uses (money to 0 and 2 decimals, percents to 0 and 1); the verifier
    takes any rounding of them at the precision written."""
    out: set[Decimal] = set()
    for f in figure_table(facts).base.figures:
        v = abs(f.value)
        sizes = {v, v.quantize(_WHOLE, rounding=ROUND_HALF_UP)}
        sizes.add(round_one(v) if f.percent else round_money(v))
        out |= {s for size in sizes for s in (size, -size)}
    return out

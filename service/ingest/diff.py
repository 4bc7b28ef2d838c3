"""What a correction changes in a stored day: a pure merge of two line lists.

Both inputs come sorted by product id (the day's primary key order), so one
pass compares them and memory holds only the listed samples, whatever the size
of the day. The totals are summed from the lines, exactly (Decimal). The merge
(_Differ.step) is written once; diff_days drives it over lists, diff_streams over
asynchronous streams (a big day read from PostgreSQL in pieces).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from ..events import ChangeSet, DayDiff, ProductChange, ProductState
from ..models import SalesLine
from ..names import MAX_CHANGES_LISTED

__all__ = ["by_product", "diff_days", "diff_streams"]

Field = Literal["name", "category", "quantity", "price"]
_FIELDS: tuple[Field, ...] = ("name", "category", "quantity", "price")


def by_product(lines: Iterable[SalesLine]) -> list[SalesLine]:
    """Lines in product id order, as diff_days wants them."""
    return sorted(lines, key=lambda ln: ln.product_id)


@dataclass(slots=True)
class _Tally:
    limit: int
    count: int = 0
    items: list[ProductChange] = field(default_factory=list)

    def add(
        self, old: SalesLine | None, new: SalesLine | None, fields: list[Field] | None = None
    ) -> None:
        # The change is built only while it will be listed: a day where every one of
        # a million products changed must not build a million models.
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append(
                ProductChange(
                    product_id=(new or old).product_id,  # type: ignore[union-attr]  # one is always given
                    fields=fields or [],
                    before=_state(old) if old else None,
                    after=_state(new) if new else None,
                )
            )

    def done(self) -> ChangeSet:
        return ChangeSet(count=self.count, items=self.items)


@dataclass(slots=True)
class _Totals:
    products: int = 0
    units: int = 0
    revenue: Decimal = Decimal(0)

    def add(self, line: SalesLine) -> None:
        self.products += 1
        self.units += line.quantity
        self.revenue += line.quantity * line.price


def _state(line: SalesLine) -> ProductState:
    return ProductState(
        name=line.name,
        category=line.category,
        quantity=line.quantity,
        price=line.price,
        revenue=line.quantity * line.price,
    )


class _Order:
    """Refuses a side whose lines do not come by strictly rising product id."""

    __slots__ = ("_last", "_which")

    def __init__(self, which: str) -> None:
        self._which = which
        self._last: int | None = None

    def __call__(self, line: SalesLine | None) -> SalesLine | None:
        if line is not None:
            if self._last is not None and line.product_id <= self._last:
                raise ValueError(
                    f"{self._which} lines are not sorted by unique product id "
                    f"({line.product_id} after {self._last})"
                )
            self._last = line.product_id
        return line


class _Differ:
    """The merge's state: both sides' totals and the three change tallies."""

    def __init__(self, limit: int) -> None:
        self.old, self.new = _Totals(), _Totals()
        self.added, self.removed, self.changed = _Tally(limit), _Tally(limit), _Tally(limit)

    def step(self, old: SalesLine | None, new: SalesLine | None) -> tuple[bool, bool]:
        """Account for the head line of each side (None: that side is done); say which sides move on."""
        if new is None or (old is not None and old.product_id < new.product_id):
            assert old is not None
            self.old.add(old)
            self.removed.add(old, None)
            return True, False
        if old is None or new.product_id < old.product_id:
            self.new.add(new)
            self.added.add(None, new)
            return False, True
        self.old.add(old)
        self.new.add(new)
        fields = [f for f in _FIELDS if getattr(old, f) != getattr(new, f)]
        if fields:
            self.changed.add(old, new, fields)
        return True, True

    def result(self) -> DayDiff:
        return DayDiff(
            products_before=self.old.products,
            products_after=self.new.products,
            units_before=self.old.units,
            units_after=self.new.units,
            revenue_before=self.old.revenue,
            revenue_after=self.new.revenue,
            added=self.added.done(),
            removed=self.removed.done(),
            changed=self.changed.done(),
        )


def diff_days(
    before: Iterable[SalesLine], after: Iterable[SalesLine], *, limit: int = MAX_CHANGES_LISTED
) -> DayDiff:
    """Compare a day's stored lines with its correction's; both sorted by product id."""
    differ, old_order, new_order = _Differ(limit), _Order("old"), _Order("new")
    olds, news = iter(before), iter(after)
    old, new = old_order(next(olds, None)), new_order(next(news, None))
    while old is not None or new is not None:
        move_old, move_new = differ.step(old, new)
        if move_old:
            old = old_order(next(olds, None))
        if move_new:
            new = new_order(next(news, None))
    return differ.result()


async def diff_streams(
    before: AsyncIterator[SalesLine],
    after: AsyncIterator[SalesLine],
    *,
    limit: int = MAX_CHANGES_LISTED,
) -> DayDiff:
    """diff_days over two streams (a big day read in pieces): memory holds only the listed changes."""
    differ, old_order, new_order = _Differ(limit), _Order("old"), _Order("new")
    old, new = old_order(await anext(before, None)), new_order(await anext(after, None))
    while old is not None or new is not None:
        move_old, move_new = differ.step(old, new)
        if move_old:
            old = old_order(await anext(before, None))
        if move_new:
            new = new_order(await anext(after, None))
    return differ.result()

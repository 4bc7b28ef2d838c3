"""What a correction changes in a stored day: a pure merge of two line lists.

Both inputs come sorted by product id (the day's primary key order), so one
pass compares them and memory holds only the listed samples, whatever the size
of the day. The totals are summed from the lines, exactly (Decimal).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from ..models import ChangeSet, DayDiff, ProductChange, ProductState, SalesLine
from ..names import MAX_CHANGES_LISTED

__all__ = ["diff_days", "by_product"]

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

    def add(self, old: SalesLine | None, new: SalesLine | None, fields: list[Field] | None = None) -> None:
        # The change is built only while it will be listed: a day where every one of
        # a million products changed must not build a million models.
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append(ProductChange(
                product_id=(new or old).product_id,  # type: ignore[union-attr]  # one is always given
                fields=fields or [], before=_state(old) if old else None, after=_state(new) if new else None))

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
    return ProductState(name=line.name, category=line.category, quantity=line.quantity, price=line.price,
                        revenue=line.quantity * line.price)


def _sorted(lines: Iterable[SalesLine], which: str) -> Iterator[SalesLine]:
    last: int | None = None
    for line in lines:
        if last is not None and line.product_id <= last:
            raise ValueError(f"{which} lines are not sorted by unique product id ({line.product_id} after {last})")
        last = line.product_id
        yield line


def diff_days(before: Iterable[SalesLine], after: Iterable[SalesLine], *,
              limit: int = MAX_CHANGES_LISTED) -> DayDiff:
    """Compare a day's stored lines with its correction's; both sorted by product id."""
    old_totals, new_totals = _Totals(), _Totals()
    added, removed, changed = _Tally(limit), _Tally(limit), _Tally(limit)
    olds, news = _sorted(before, "old"), _sorted(after, "new")
    old, new = next(olds, None), next(news, None)
    while old is not None or new is not None:
        if new is None or (old is not None and old.product_id < new.product_id):
            assert old is not None
            old_totals.add(old)
            removed.add(old, None)
            old = next(olds, None)
        elif old is None or new.product_id < old.product_id:
            new_totals.add(new)
            added.add(None, new)
            new = next(news, None)
        else:
            old_totals.add(old)
            new_totals.add(new)
            fields = [f for f in _FIELDS if getattr(old, f) != getattr(new, f)]
            if fields:
                changed.add(old, new, fields)
            old, new = next(olds, None), next(news, None)
    return DayDiff(
        products_before=old_totals.products, products_after=new_totals.products,
        units_before=old_totals.units, units_after=new_totals.units,
        revenue_before=old_totals.revenue, revenue_after=new_totals.revenue,
        added=added.done(), removed=removed.done(), changed=changed.done())

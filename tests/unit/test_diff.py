"""The audit of a correction: the pure diff of a day's stored lines and its replacement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from service.events import DayDiff
from service.ingest.diff import by_product, diff_days, diff_streams
from service.models import SalesLine


def line(
    pid: int,
    quantity: int = 1,
    price: str = "10.00",
    *,
    name: str | None = None,
    category: str = "Cat",
) -> SalesLine:
    return SalesLine(pid, name or f"P{pid}", category, quantity, Decimal(price))


def test_identical_days_have_an_empty_diff_with_equal_totals() -> None:
    """The same lines before and after: nothing added, removed or changed; totals equal."""
    lines = [line(1, 2, "1.50"), line(2, 3, "2.25")]
    d = diff_days(lines, lines)
    assert (d.added.count, d.removed.count, d.changed.count) == (0, 0, 0)
    assert d.revenue_before == d.revenue_after == Decimal("9.75")
    assert (d.units_before, d.products_before) == (d.units_after, d.products_after) == (5, 2)


def test_changed_price_lists_the_fields_and_both_states() -> None:
    """A new price is a changed product, with before and after states and revenue of each."""
    d = diff_days([line(1, 4, "10.00"), line(2)], [line(1, 4, "12.50"), line(2)])
    assert d.changed.count == 1
    change = d.changed.items[0]
    assert change.product_id == 1 and change.fields == ["price"]
    assert change.before is not None and change.after is not None
    assert (change.before.revenue, change.after.revenue) == (Decimal("40.00"), Decimal("50.00"))
    assert (d.revenue_before, d.revenue_after) == (Decimal("50.00"), Decimal("60.00"))


def test_added_removed_and_changed_are_told_apart() -> None:
    """Products only in the new file are added, only in the old removed, in both and different changed."""
    before = [line(1), line(2, 5), line(4, name="Old name")]
    after = [line(2, 6), line(3), line(4, name="New name", category="Other")]
    d = diff_days(before, after)
    assert [c.product_id for c in d.added.items] == [3] and d.added.items[0].before is None
    assert [c.product_id for c in d.removed.items] == [1] and d.removed.items[0].after is None
    assert {c.product_id: c.fields for c in d.changed.items} == {
        2: ["quantity"],
        4: ["name", "category"],
    }
    assert (d.products_before, d.products_after, d.units_before, d.units_after) == (3, 3, 7, 8)


def test_listing_is_capped_but_counts_are_whole() -> None:
    """More changes than the limit: the first ones by product id are listed, all are counted."""
    before = [line(i) for i in range(1, 1001)]
    after = [line(i, 2) for i in range(1, 1001)] + [line(i) for i in range(2001, 2301)]
    d = diff_days(before, after, limit=10)
    assert d.changed.count == 1000 and [c.product_id for c in d.changed.items] == list(range(1, 11))
    assert d.added.count == 300 and len(d.added.items) == 10 and d.removed.count == 0
    assert d.revenue_after - d.revenue_before == Decimal("13000.00")


def test_an_empty_side_makes_everything_added_or_removed() -> None:
    """A day compared with nothing: every product is added (or removed the other way round)."""
    lines = [line(1), line(2)]
    assert diff_days([], lines).added.count == 2
    assert diff_days(lines, []).removed.count == 2


def test_unsorted_input_is_refused_and_by_product_sorts_it() -> None:
    """Lines must come by product id; by_product puts a file's lines in that order."""
    shuffled = [line(3), line(1), line(2)]
    with pytest.raises(ValueError):
        diff_days([], shuffled)
    assert diff_days([], by_product(shuffled)).added.count == 3


def test_the_diff_round_trips_through_json_exactly() -> None:
    """The stored audit (JSON) reads back to the same diff, money exact."""
    d = diff_days([line(1, 3, "0.10")], [line(1, 3, "0.20"), line(2, 1, "99999999.99")])
    assert DayDiff.model_validate_json(d.model_dump_json()) == d


async def _stream(lines: list[SalesLine]) -> AsyncIterator[SalesLine]:
    for ln in lines:
        yield ln


async def test_the_streaming_diff_equals_the_list_diff() -> None:
    """diff_streams over two asynchronous streams gives exactly what diff_days gives over the lists."""
    before = [line(i, i % 7 + 1, f"{i % 13}.50") for i in range(1, 400, 2)]
    after = [
        line(i, i % 5 + 1, f"{i % 13}.50", name="N" if i % 11 == 0 else None)
        for i in range(1, 500, 3)
    ]
    assert await diff_streams(_stream(before), _stream(after), limit=7) == diff_days(
        before, after, limit=7
    )
    with pytest.raises(ValueError):
        await diff_streams(_stream([line(2), line(1)]), _stream([]))

"""Big sales days for tests and benchmarks: generated straight to a file, never held whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

_CATEGORIES = ("Electronics", "Books", "Garden", "Toys", "Food", "Home &amp; Kitchen", "Sports")


def product(i: int, *, name: str | None = None, price: str | None = None) -> str:
    """One product line as the generator writes it (~139 bytes: 1,000,000 of them are ~139 MB)."""
    return (
        f"    <product><id>{i}</id><name>{name or f'Product #{i}'}</name><quantity>{i % 97 + 1}</quantity>"
        f"<price>{price or f'{(i * 37) % 100000 / 100:.2f}'}</price>"
        f"<category>{_CATEGORIES[i % 7]}</category></product>\n"
    )


def write_day(
    path: Path,
    day: dt.date,
    products: int,
    *,
    bad: dict[int, str] | None = None,
    first_id: int = 1,
    encoding: str = "UTF-8",
    name: str = "Product #",
) -> int:
    """Write a day of ``products`` products (ids from ``first_id``); ``bad`` maps a 1-based product
    position to a price that breaks a rule; names are ``name`` and the id, the file in
    ``encoding`` (declared). Returns the file's size."""
    bad = bad or {}
    with path.open("wb") as f:
        f.write(
            f'<?xml version="1.0" encoding="{encoding}"?>\n<sales_data date="{day.isoformat()}">\n'
            "  <products>\n".encode(encoding)
        )
        batch: list[str] = []
        for n in range(1, products + 1):
            i = first_id + n - 1
            batch.append(product(i, price=bad.get(n), name=f"{name}{i}"))
            if len(batch) == 10_000:
                f.write("".join(batch).encode(encoding))
                batch.clear()
        f.write("".join(batch).encode(encoding))
        f.write("  </products>\n</sales_data>\n".encode(encoding))
    return path.stat().st_size


def expected_totals(products: int, *, first_id: int = 1) -> tuple[int, str]:
    """Units and revenue of a clean generated day (what sales_days must say)."""
    from decimal import Decimal

    units, revenue = 0, Decimal(0)
    for i in range(first_id, first_id + products):
        q = i % 97 + 1
        units += q
        revenue += Decimal(f"{(i * 37) % 100000 / 100:.2f}") * q
    return units, f"{revenue:.2f}"

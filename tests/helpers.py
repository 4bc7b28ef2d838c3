"""What tests of every folder share: the access tokens, a sales day as XML, waiting on a condition.

Fixtures live in conftest.py (pytest finds them); everything a test module imports lives here
or in the helper module of its own folder (tests/<folder>/helpers.py), never in conftest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["READ_TOKEN", "TOKEN", "sales_xml", "wait_until"]

TOKEN = "test-token-" + secrets.token_hex(8)
READ_TOKEN = "read-token-" + secrets.token_hex(8)

T = TypeVar("T")


@overload
async def wait_until(
    check: Callable[[], Awaitable[T]], *, timeout: float = ..., every: float = ..., what: str = ...
) -> T: ...
@overload
async def wait_until(
    check: Callable[[], T], *, timeout: float = ..., every: float = ..., what: str = ...
) -> T: ...
async def wait_until(
    check: Callable[[], Any],
    *,
    timeout: float = 30.0,
    every: float = 0.02,
    what: str = "",
) -> Any:
    """Call ``check`` (plain or async) until it returns something truthy, and return that.

    Raises AssertionError after ``timeout`` seconds: a test waits on a condition, never on
    the clock, so a slow machine only makes it slower, not wrong.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > end:
            raise AssertionError(f"not true within {timeout:g} s: {what or check!r}")
        await asyncio.sleep(every)


def sales_xml(
    day: dt.date, products: list[tuple[int, str, int, str, str]] | int = 5, *, seed: int = 0
) -> bytes:
    """A sales day; products as (id, name, quantity, price, category), or a count to generate."""
    if isinstance(products, int):
        cats = ["Electronics", "Books", "Garden", "Toys", "Food"]
        products = [
            (
                i,
                f"Product {i}",
                (i * 7 + seed) % 50 + 1,
                f"{(i * 13 + seed) % 900 + 10}.{i % 100:02d}",
                cats[i % len(cats)],
            )
            for i in range(1, products + 1)
        ]
    rows = "".join(
        f"<product><id>{i}</id><name>{n}</name><quantity>{q}</quantity><price>{p}</price>"
        f"<category>{c}</category></product>"
        for i, n, q, p, c in products
    )
    return f'<sales_data date="{day.isoformat()}"><products>{rows}</products></sales_data>'.encode()

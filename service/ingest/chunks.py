"""One chunk of a big day, read on its own: pure, no I/O.

A big day travels as chunks cut at product boundaries (contracts/topics.md): the
first chunk holds the document's head and the first products, the middle ones
only whole ``<product>`` elements, the last one the last products and the end of
the document. Each is made a document of its own by wrapping it (the first gets
the closing tags, the last the opening ones, a middle chunk both), so the same
parse_day judges it, or the fast lane (fastlane.py) for a regular middle chunk.
Lines and product positions are the chunk's own; assemble.py turns them into
positions in the original file once every chunk is there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from ..chunking import CLOSE, OPEN, wrap
from ..models import Issue
from .fastlane import FastChunk, fast_lane
from .parse import parse_day

__all__ = ["CLOSE", "OPEN", "ChunkResult", "read_chunk", "wrap"]

# An empty <products> is the day's problem, not a chunk's (a chunk may hold only the tail).
_NOT_A_CHUNK_PROBLEM: Final = frozenset({"empty_day"})

# A staged line of the normal way: position (1-based product index in the chunk),
# line in the chunk, id, name, quantity, price, category (the staging table's order).
Row = tuple[int, int | None, int, str, int, Decimal, str]


@dataclass(slots=True)
class ChunkResult:
    """What ingest stages for one chunk."""

    size: int
    sha256: bytes
    newlines: int
    sales_date: dt.date | None = None  # the first chunk's (its head names the day)
    products_seen: int = 0
    fatal: list[Issue] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)  # product problems, chunk positions
    rejected: int = 0
    rows: list[Row] = field(default_factory=list)  # the normal way
    fast: FastChunk | None = None  # or the fast lane

    @property
    def valid(self) -> int:
        return self.fast.products if self.fast is not None else len(self.rows)


def read_chunk(
    data: bytes, *, index: int, last: bool, max_products: int, max_issues: int
) -> ChunkResult:
    """Validate one chunk; never raises for any input."""
    result = ChunkResult(
        size=len(data), sha256=hashlib.sha256(data).digest(), newlines=data.count(b"\n")
    )
    if index == 0:
        fast = None if last else _first_fast(data, result, max_products=max_products)
    else:
        fast = _last_fast(data, max_products=max_products) if last else fast_lane(data)
    if fast is not None:
        result.fast = fast
        result.products_seen = fast.products
        return result
    parsed = parse_day(
        wrap(data, first=index == 0, last=last), max_products=max_products, max_issues=max_issues
    )
    result.products_seen = parsed.products_seen
    if index == 0:
        result.sales_date = parsed.sales_date
    result.fatal = [i for i in parsed.fatal if i.code not in _NOT_A_CHUNK_PROBLEM]
    result.issues = parsed.product_issues[:max_issues]
    refused = {i.product_index for i in parsed.product_issues if i.product_index is not None}
    result.rejected = len(refused)
    if result.fatal:
        return result
    # Every product is either a line or has problems (parse.py), so the lines are the
    # products whose positions have no problem, in document order.
    positions = (p for p in range(1, parsed.products_seen + 1) if p not in refused)
    line_of = parsed.id_lines.get
    result.rows = [
        (pos, line_of(ln.product_id), ln.product_id, ln.name, ln.quantity, ln.price, ln.category)
        for pos, ln in zip(positions, parsed.lines, strict=False)
    ]
    return result


def _first_fast(data: bytes, result: ChunkResult, *, max_products: int) -> FastChunk | None:
    """The first chunk by the fast lane: its head (up to the last tag before the first
    ``<product>``) through parse_day, its products through fast_lane; None (and nothing
    set) unless the head is clean and names the day and the products are all regular.

    The first chunk is on every big day's critical path (ingest opens the day on it), and
    parse_day takes ~0.1 s for its ~7,000 products. The split is exact (head + rest is the
    chunk) and each part is judged by what judges it elsewhere, so this says only "clean".
    """
    start = data.find(b"<product>")
    cut = data.rfind(b">", 0, start) + 1 if start > 0 else 0
    if cut <= 0:
        return None
    head = parse_day(
        wrap(data[:cut], first=True, last=False), max_products=max_products, max_issues=1
    )
    if (
        head.sales_date is None
        or head.products_seen
        or head.product_issues
        or head.lines
        or any(i.code not in _NOT_A_CHUNK_PROBLEM for i in head.fatal)
    ):
        return None
    fast = fast_lane(data[cut:])
    if fast is None:
        return None
    result.sales_date = head.sales_date
    # A line of the products is a line of the chunk, after the head's newlines.
    return FastChunk(
        copy_text=fast.copy_text,
        products=fast.products,
        first_line=data.count(b"\n", 0, cut) + fast.first_line,
        lines_per_product=fast.lines_per_product,
    )


def _last_fast(data: bytes, *, max_products: int) -> FastChunk | None:
    """The last chunk by the fast lane: its products through fast_lane, its tail (from the
    last ``</product>`` on) through parse_day; None unless both are clean (as _first_fast)."""
    end = data.rfind(b"</product>")
    if end < 0:
        return None
    cut = end + len(b"</product>")
    tail = parse_day(
        wrap(data[cut:], first=False, last=True), max_products=max_products, max_issues=1
    )
    if (
        tail.products_seen
        or tail.product_issues
        or tail.lines
        or any(i.code not in _NOT_A_CHUNK_PROBLEM for i in tail.fatal)
    ):
        return None
    return fast_lane(data[:cut])

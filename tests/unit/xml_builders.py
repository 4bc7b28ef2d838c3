"""Sales-day XML builders and helpers shared by the parser and precheck tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from service.ingest.parse import parse_day
from service.models import ParsedDay

FIELDS = ("id", "name", "quantity", "price", "category")
SAMPLE = b"""<sales_data date="2024-01-01">
  <products>
    <product><id>1</id><name>Product A</name><quantity>100</quantity><price>1500.00</price><category>Electronics</category></product>
  </products>
</sales_data>"""


def product(
    id: str | None = "1",
    name: str | None = "Product A",
    quantity: str | None = "100",
    price: str | None = "1500.00",
    category: str | None = "Electronics",
    *,
    extra: str = "",
) -> str:
    """One <product> on one line; a field given as None is left out."""
    values = dict(zip(FIELDS, (id, name, quantity, price, category), strict=True))
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in values.items() if v is not None)
    return f"<product>{inner}{extra}</product>"


def day(*products: str, date: str = "2024-01-01", prolog: str = "") -> bytes:
    """A document with one product per line: product N is on line N + 2 (N + 3 with a prolog)."""
    lines = [prolog] if prolog else []
    lines += [
        f'<sales_data date="{date}">',
        "<products>",
        *products,
        "</products>",
        "</sales_data>",
    ]
    return "\n".join(lines).encode()


def many(n: int) -> bytes:
    """A pretty-printed day of ``n`` distinct valid products."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<sales_data date="2024-01-01">\n  <products>\n'
    ]
    for i in range(1, n + 1):
        parts.append(
            f"    <product>\n      <id>{i}</id>\n      <name>Product {i}</name>\n"
            f"      <quantity>{i % 500 + 1}</quantity>\n      <price>{i % 9000 + 1}.{i % 100:02d}</price>\n"
            f"      <category>Category {i % 7}</category>\n    </product>\n"
        )
    parts.append("  </products>\n</sales_data>\n")
    return "".join(parts).encode()


class Listener:
    """A TCP server on a free local port that counts the connections it accepts."""

    def __init__(self) -> None:
        self.connections = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:  # includes the accept timeout
                continue
            self.connections += 1
            conn.close()


@contextmanager
def listener() -> Iterator[Listener]:
    """Run a Listener for the duration of the block, then stop it and close its socket."""
    server = Listener()
    server._thread.start()
    try:
        yield server
        time.sleep(0.2)  # room for a late connection attempt to arrive
    finally:
        server._stop.set()
        server._thread.join(timeout=2)
        server._sock.close()


def fatal_code(data: bytes, **kw: int) -> str:
    parsed = parse_day(data, **kw)
    assert parsed.fatal, parsed
    assert parsed.lines == []
    return parsed.fatal[0].code


def issue_codes(parsed: ParsedDay) -> list[str]:
    return [i.code for i in parsed.product_issues]

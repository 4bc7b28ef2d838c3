"""The fast lane for a middle chunk of a big day: regular products → COPY text, no tree.

Why hand-written: lxml builds a tree for every product (about 5.7 µs each on this
hardware), so a 1,000,000-product day costs ~6 s of CPU in parse_day alone, more
than the whole budget of the day. Most big files are machine-written: every
product has the five fields in the canonical order, plain text, and the same
whitespace between its tags. For such a chunk one regular expression (C speed)
proves that every product passes every rule of service/ingest/fields.py, and a
handful of ``bytes.replace`` turn the chunk into PostgreSQL COPY text.

Anything else (another field order, unknown elements, comments, CDATA, character
references, blanks to normalize, a name with a character that would need a
closer look, a product that breaks a rule) returns None and the chunk takes the
normal way through parse_day, which finds every problem. So this lane may only
say "clean", never "wrong": a test runs every case of both through each other.

What the pattern accepts, field by field (a subset of the rules in fields.py):
``id`` 1–18 ASCII digits, > 0; ``quantity`` 1–9 digits, > 0; ``price`` 1–10
digits, optionally ``.`` and 1–2 digits; ``name``/``category`` 1–200 bytes of
printable text with single inner spaces and no leading or trailing blank, no
``<``, ``>``, ``\\``, no character reference, and only the five predefined
entities; non-ASCII only from UTF-8 lead bytes that can start neither a blank
nor a control or invisible character (see _TEXT), and the chunk must decode as UTF-8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["FastChunk", "fast_lane"]

# One text byte: printable ASCII but space " < > \\ (and &, handled below), UTF-8
# continuation bytes, and lead bytes other than C2 (U+0080–U+00BF: C1 controls, NBSP),
# E1 (U+1680, U+180E), E2 (U+2000–U+2FFF: spaces, zero-width and bidi marks), E3
# (U+3000 ideographic space) and EF (U+FEFF, U+FFFE, U+FFFF).
_CHAR: Final = rb"[!#-%'-;=?-\[\]-~\x80-\xbf\xc3-\xe0\xe4-\xee\xf0-\xf4]"
_ENTITY: Final = rb"&(?:amp|lt|gt|quot|apos);"
_TEXT: Final = (
    rb"(?=[^<]{1,200}+<)(?! )(?:" + _CHAR + rb"++|\xc2[\xa1-\xbf]|" + _ENTITY + rb"| (?=[^ <]))++"
)
_POSITIVE = rb"(?=[0-9]{1,%d}+<)0*+[1-9][0-9]*+"
_ID: Final = _POSITIVE % 18
_QUANTITY: Final = _POSITIVE % 9
_PRICE: Final = rb"[0-9]{1,10}+(?:\.[0-9]{1,2}+)?+"
_BLANK: Final = rb"[ \t\r\n]*+"
_FIELDS: Final = (
    rb"<id>" + _ID + rb"</id>",
    rb"<name>" + _TEXT + rb"</name>",
    rb"<quantity>" + _QUANTITY + rb"</quantity>",
    rb"<price>" + _PRICE + rb"</price>",
    rb"<category>" + _TEXT + rb"</category>",
)
# The blanks of the first product, captured: every other product must repeat them.
_FIRST: Final = re.compile(
    b"".join(
        [rb"(" + _BLANK + rb")<product>"]
        + [rb"(" + _BLANK + rb")" + f for f in _FIELDS]
        + [rb"(" + _BLANK + rb")</product>"]
    )
)
_TAGS: Final = (
    b"<product>",
    b"<id>",
    b"<name>",
    b"<quantity>",
    b"<price>",
    b"<category>",
    b"</product>",
)


def _every(blanks: tuple[bytes, ...]) -> re.Pattern[bytes]:
    parts = [re.escape(blanks[0]) + rb"<product>"]
    parts += [re.escape(b) + f for b, f in zip(blanks[1:6], _FIELDS, strict=True)]
    parts.append(re.escape(blanks[6]) + rb"</product>")
    return re.compile(rb"(?:" + b"".join(parts) + rb")++" + _BLANK)


_PATTERNS: dict[tuple[bytes, ...], re.Pattern[bytes]] = {}  # one per layout (there are few)
_UNESCAPE: Final = (
    (b"&lt;", b"<"),
    (b"&gt;", b">"),
    (b"&quot;", b'"'),
    (b"&apos;", b"'"),
    (b"&amp;", b"&"),
)


@dataclass(frozen=True, slots=True)
class FastChunk:
    """A clean chunk: its products as COPY text rows, and where they stand in the chunk."""

    copy_text: bytes  # "id\\tname\\tquantity\\tprice\\tcategory\\n" per product, in document order
    products: int
    first_line: int  # 1-based line of the first <product> tag, within the chunk
    lines_per_product: int  # every product (with the blanks before it) spans this many newlines


def fast_lane(chunk: bytes) -> FastChunk | None:
    """The chunk's products if every one is regular and clean; None to take parse_day."""
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return None
    first = _FIRST.match(chunk)
    if first is None:
        return None
    blanks: tuple[bytes, ...] = first.groups()
    pattern = _PATTERNS.get(blanks)
    if pattern is None:
        if len(_PATTERNS) > 64:
            _PATTERNS.clear()
        pattern = _PATTERNS[blanks] = _every(blanks)
    if pattern.fullmatch(chunk) is None:
        return None
    # Every tag and the blanks between them are now known: replacing the runs between
    # two values leaves exactly the values, tab-separated, one product per line.
    b0, b1, b2, b3, b4, b5, b6 = blanks
    body = chunk.rstrip(b" \t\r\n")
    head = b0 + b"<product>" + b1 + b"<id>"
    tail = b"</category>" + b6 + b"</product>"
    rows = (
        body[len(head) : -len(tail)]
        .replace(tail + head, b"\n")
        .replace(b"</id>" + b2 + b"<name>", b"\t")
        .replace(b"</name>" + b3 + b"<quantity>", b"\t")
        .replace(b"</quantity>" + b4 + b"<price>", b"\t")
        .replace(b"</price>" + b5 + b"<category>", b"\t")
    )
    products = rows.count(b"\n") + 1
    if b"<" in rows or rows.count(b"\t") != 4 * products:
        return None  # cannot happen after the full match; a guard, not a branch
    if b"&" in rows:
        for entity, char in _UNESCAPE:
            rows = rows.replace(entity, char)
    period = (b"".join(blanks) + b"".join(_TAGS)).count(b"\n")
    return FastChunk(
        copy_text=rows + b"\n",
        products=products,
        first_line=b0.count(b"\n") + 1,
        lines_per_product=period,
    )

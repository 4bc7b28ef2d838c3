"""The XML head rules: the document-level checks shared by the gateway and ingest.

The gateway runs :func:`precheck` before publishing to sales.raw; ingest runs it to
find a day's date before claiming the day, and ``service.ingest.parse.parse_day``
starts with :func:`read_head`, so an upload the gateway accepts is judged by the
very same code when ingest parses it in full. Only the beginning of the document
is read (the prolog and the root's start tag); products are ingest's business.
Pure: no I/O. The order of the checks:

1. raw bytes, before any parser sees them (:func:`check_bytes`):
   a body still in another encoding than UTF-8 (service/encoding.py decodes at the
   edge; what is left could not be decoded, or is a big day's chunk) or with NUL
   bytes → ``bad_encoding``; empty body → ``empty_body``; a first
   non-blank byte other than ``<`` → ``not_xml``; a ``<!DOCTYPE`` or ``<!ENTITY``
   in the prolog → ``forbidden_dtd`` (so no entity, internal or external, and no
   DTD is ever seen by libxml2: nothing can be fetched or expanded);
2. bytes fed to libxml2 must be valid UTF-8 (:class:`Utf8Check`) → ``bad_encoding``;
3. the root start tag: exactly ``sales_data`` without a namespace → else
   ``bad_root``; a ``date`` attribute → else ``missing_date``; ``YYYY-MM-DD`` in
   ASCII digits and a real calendar day → else ``bad_date``.

The lxml toolkit (the hardened parser, event reading, :func:`syntax_issue`) is in
xmltools.py. libxml2's own errors are translated by :func:`syntax_issue` (``malformed_xml``,
``too_deep``, ``too_large``, ``bad_encoding``). Every code is listed in
contracts/errors.md.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from lxml import etree

from .encoding import undecoded
from .models import Issue
from .xmltools import (
    CHUNK_SIZE,
    Utf8Check,
    element_events,
    element_line,
    fatal,
    hardened_parser,
    line_of,
    quote,
    syntax_issue,
)

# The toolkit's names stay importable from here for modules not moved over yet.
__all__ = [
    "CHUNK_SIZE",
    "PRODUCTS_TAG",
    "PRODUCT_TAG",
    "ROOT_TAG",
    "Head",
    "HeadOk",
    "HeadRefused",
    "Utf8Check",
    "check_bytes",
    "check_date",
    "check_root",
    "element_events",
    "element_line",
    "hardened_parser",
    "precheck",
    "quote",
    "read_head",
    "syntax_issue",
]

ROOT_TAG: Final = "sales_data"
PRODUCTS_TAG: Final = "products"
PRODUCT_TAG: Final = "product"

# The root start tag nearly always fits in this many bytes after its "<". Feeding
# more costs time (libxml2 would parse the products too), so grow only as needed.
_HEAD_FIRST_FEED: Final = 256
# Characters of a non-XML body shown in the not_xml message.
_SHOWN_CHARS: Final = 40

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_NOT_BLANK = re.compile(rb"[^ \t\r\n]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_bytes(data: bytes) -> tuple[int, Issue | None]:
    """Checks on the raw bytes; returns the offset of the root's ``<`` (or of what follows the prolog)."""
    # The edge (chunking/transcode.py, ingest/decide.py) decoded the day to UTF-8; what is
    # still in another encoding could not be decoded, or is a chunk (those must be UTF-8).
    issue = undecoded(data)
    if issue is not None:
        return 0, issue
    start = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    first = _NOT_BLANK.search(data, start)
    if first is None:
        return 0, fatal("empty_body", "the body is empty or only whitespace")
    pos = first.start()
    if b"\x00" in data[pos : pos + 4]:
        return pos, fatal(
            "bad_encoding",
            "the body contains NUL bytes: it looks like UTF-16 or UTF-32 without a byte order "
            "mark; start it with one (or send UTF-8)",
        )
    lead = data[pos : pos + 1]
    if lead != b"<":
        hint = " (it looks like JSON)" if lead in (b"{", b"[") else ""
        shown = quote(data[pos : pos + _SHOWN_CHARS].decode("utf-8", "replace"))
        return pos, fatal(
            "not_xml",
            f"the body is not XML{hint}: it starts with {shown}",
            line=line_of(data, pos),
        )
    return _check_prolog(data, pos)


def _check_prolog(data: bytes, pos: int) -> tuple[int, Issue | None]:
    """Walk the prolog (declaration, PIs, comments, blanks) up to the first element.

    A document type declaration can only stand here, before the root. Anything
    this walk does not understand is left for libxml2 to report as malformed.
    """
    end = len(data)
    while pos < end:
        if data.startswith(b"<?", pos):
            close = data.find(b"?>", pos + 2)
            if close < 0:
                return pos, None
            pos = close + 2
        elif data.startswith(b"<!--", pos):
            close = data.find(b"-->", pos + 4)
            if close < 0:
                return pos, None
            pos = close + 3
        elif data.startswith(b"<!", pos):
            word = data[pos + 2 : pos + 9].upper()
            if word.startswith((b"DOCTYPE", b"ENTITY")):
                return pos, fatal(
                    "forbidden_dtd",
                    "document type declarations (<!DOCTYPE>, <!ENTITY>) are not accepted",
                    line=line_of(data, pos),
                )
            return pos, None
        else:
            return pos, None  # the root's "<" or stray text: libxml2 decides
        blank = _NOT_BLANK.search(data, pos)
        if blank is None:
            return end, None
        pos = blank.start()
    return pos, None


def check_date(value: str | None, *, line: int | None) -> tuple[dt.date | None, Issue | None]:
    """The ``date`` attribute: ASCII ``YYYY-MM-DD`` that names a real day."""
    if value is None:
        return None, fatal(
            "missing_date",
            '<sales_data> has no date attribute; expected date="YYYY-MM-DD"',
            line=line,
            field="date",
        )
    if _DATE.fullmatch(value) is None:
        return None, fatal(
            "bad_date",
            f"date {quote(value)} is not in the form YYYY-MM-DD",
            line=line,
            field="date",
        )
    try:
        return dt.date(int(value[0:4]), int(value[5:7]), int(value[8:10])), None
    except ValueError:
        return None, fatal(
            "bad_date", f"date {quote(value)} is not a real calendar date", line=line, field="date"
        )


def check_root(root: etree._Element) -> tuple[dt.date | None, Issue | None]:
    """The root element: exactly <sales_data>, no namespace, with a valid date."""
    tag = root.tag
    line = element_line(root)
    if tag != ROOT_TAG:
        if isinstance(tag, str) and tag.startswith("{"):
            namespace, _, local = tag[1:].partition("}")
            message = (
                f"the root element <{quote(local)[1:-1]}> is in namespace {quote(namespace)}; "
                "expected <sales_data> without a namespace"
            )
        else:
            message = f"the root element is <{quote(str(tag))[1:-1]}>; expected <sales_data>"
        return None, fatal("bad_root", message, line=line)
    return check_date(root.get("date"), line=line)


@dataclass(frozen=True, slots=True)
class HeadOk:
    """The beginning of the document passed every rule: the day it is for."""

    sales_date: dt.date


@dataclass(frozen=True, slots=True)
class HeadRefused:
    """The one reason the document is refused."""

    issue: Issue


Head = HeadOk | HeadRefused


def _head(found: tuple[dt.date | None, Issue | None]) -> Head:
    sales_date, issue = found
    if issue is not None:
        return HeadRefused(issue)
    if sales_date is None:  # check_date gives one or the other; never both missing
        return HeadRefused(
            fatal("internal_error", "internal error in the check: no date and no issue")
        )
    return HeadOk(sales_date)


def read_head(data: bytes) -> Head:
    """Run every document-level rule, reading only up to the root's start tag."""
    start, issue = check_bytes(data)
    if issue is not None:
        return HeadRefused(issue)
    parser = hardened_parser(events=("start",))
    read_events = element_events(parser)
    utf8 = Utf8Check(data)
    size = len(data)
    step = _HEAD_FIRST_FEED
    pos, end = 0, min(size, start + step)
    try:
        while True:
            chunk = data[pos:end]
            bad = utf8.feed(chunk, final=end == size)
            if bad is not None:
                return HeadRefused(bad)
            parser.feed(chunk)
            for _event, root in read_events():
                return _head(check_root(root))
            if end == size:
                parser.close()  # raises: the body ended before any start tag
                return HeadRefused(fatal("malformed_xml", "malformed XML: no root element"))
            step = min(step * 2, CHUNK_SIZE)
            pos, end = end, min(size, end + step)
    except etree.LxmlError as exc:
        return HeadRefused(syntax_issue(exc))


def precheck(data: bytes) -> Head:
    """The cheap check of an upload: :func:`read_head`, but never raises for any input."""
    try:
        return read_head(data)
    except Exception as exc:  # a bug of ours: refuse the upload rather than fail the request
        return HeadRefused(
            Issue(
                code="internal_error", message=f"internal error in the check: {type(exc).__name__}"
            )
        )

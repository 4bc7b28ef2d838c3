"""The XML head rules: the document-level checks shared by the gateway and ingest.

The gateway runs :func:`precheck` before publishing to sales.raw; ingest runs it to
find a day's date before claiming the day, and ``service.ingest.parse.parse_day``
starts with :func:`read_head`, so an upload the gateway accepts is judged by the
very same code when ingest parses it in full. Only the beginning of the document
is read (the prolog and the root's start tag); products are ingest's business.
Pure: no I/O. The order of the checks:

1. raw bytes, before any parser sees them (:func:`check_bytes`):
   empty body → ``empty_body``; UTF-16/UTF-32 (byte order mark or NUL bytes) or an
   XML declaration naming any encoding but UTF-8 → ``bad_encoding``; a first
   non-blank byte other than ``<`` → ``not_xml``; a ``<!DOCTYPE`` or ``<!ENTITY``
   in the prolog → ``forbidden_dtd`` (so no entity, internal or external, and no
   DTD is ever seen by libxml2: nothing can be fetched or expanded);
2. bytes fed to libxml2 must be valid UTF-8 (:class:`Utf8Check`) → ``bad_encoding``;
3. the root start tag: exactly ``sales_data`` without a namespace → else
   ``bad_root``; a ``date`` attribute → else ``missing_date``; ``YYYY-MM-DD`` in
   ASCII digits and a real calendar day → else ``bad_date``.

libxml2's own errors are translated by :func:`syntax_issue` (``malformed_xml``,
``too_deep``, ``too_large``, ``bad_encoding``). Every code is listed in
contracts/errors.md.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Literal, cast

from lxml import etree

from .models import Issue

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

# Bytes handed to libxml2 per feed(): big enough that the per-call overhead is
# negligible, small enough that nothing but the parser's own state grows.
CHUNK_SIZE: Final = 64 * 1024
# The root start tag nearly always fits in this many bytes after its "<". Feeding
# more costs time (libxml2 would parse the products too), so grow only as needed.
_HEAD_FIRST_FEED: Final = 256
# Values quoted in messages are cut to this many characters.
_SHOWN_CHARS: Final = 40

_UTF8_BOM: Final = b"\xef\xbb\xbf"
# UTF-32 LE starts with FF FE too, so these four cover UTF-16 and UTF-32 both ways.
_WIDE_BOMS: Final = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_NOT_BLANK = re.compile(rb"[^ \t\r\n]")
_ENCODING_DECL = re.compile(
    rb"<\?xml[ \t\r\n][^?>]*?encoding[ \t\r\n]*=[ \t\r\n]*(?:\"([^\"]*)\"|'([^']*)')"
)
# The XML declaration is short; never look further than this for its encoding.
_DECL_WINDOW: Final = 512
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

_ERR_RESOURCE_LIMIT: Final = int(getattr(etree.ErrorTypes, "ERR_RESOURCE_LIMIT", 114))
_ERR_INVALID_ENCODING: Final = int(getattr(etree.ErrorTypes, "ERR_INVALID_ENCODING", 81))


def quote(value: str) -> str:
    """A value for a message: double-quoted, control characters escaped, at most 40 characters."""
    shown = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…"
    return json.dumps(shown, ensure_ascii=False)


def _fatal(code: str, message: str, *, line: int | None = None, field: str | None = None) -> Issue:
    return Issue(code=code, message=message, line=line, field=field)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def check_bytes(data: bytes) -> tuple[int, Issue | None]:
    """Checks on the raw bytes; returns the offset of the root's ``<`` (or of what follows the prolog)."""
    if data.startswith(_WIDE_BOMS):
        return 0, _fatal(
            "bad_encoding", "the body starts with a UTF-16/UTF-32 byte order mark; send UTF-8"
        )
    start = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    first = _NOT_BLANK.search(data, start)
    if first is None:
        return 0, _fatal("empty_body", "the body is empty or only whitespace")
    pos = first.start()
    if b"\x00" in data[pos : pos + 4]:
        return pos, _fatal(
            "bad_encoding",
            "the body contains NUL bytes: it looks like UTF-16 or UTF-32; send UTF-8",
        )
    lead = data[pos : pos + 1]
    if lead != b"<":
        hint = " (it looks like JSON)" if lead in (b"{", b"[") else ""
        shown = quote(data[pos : pos + _SHOWN_CHARS].decode("utf-8", "replace"))
        return pos, _fatal(
            "not_xml",
            f"the body is not XML{hint}: it starts with {shown}",
            line=_line_of(data, pos),
        )
    decl = _ENCODING_DECL.match(data, start, start + _DECL_WINDOW)
    if decl is not None:
        declared = (decl[1] if decl[1] is not None else decl[2]) or b""
        if declared.lower() != b"utf-8":
            name = quote(declared.decode("ascii", "replace"))
            return pos, _fatal(
                "bad_encoding",
                f"the XML declaration names encoding {name}; only UTF-8 is accepted",
                line=1,
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
                return pos, _fatal(
                    "forbidden_dtd",
                    "document type declarations (<!DOCTYPE>, <!ENTITY>) are not accepted",
                    line=_line_of(data, pos),
                )
            return pos, None
        else:
            return pos, None  # the root's "<" or stray text: libxml2 decides
        blank = _NOT_BLANK.search(data, pos)
        if blank is None:
            return end, None
        pos = blank.start()
    return pos, None


class Utf8Check:
    """Incremental UTF-8 validation of the chunks fed to the parser (memory stays flat)."""

    __slots__ = ("_data", "_decode", "_fed")

    def __init__(self, data: bytes) -> None:
        self._decode = codecs.getincrementaldecoder("utf-8")("strict").decode
        self._data = data
        self._fed = 0

    def feed(self, chunk: bytes, *, final: bool) -> Issue | None:
        try:
            self._decode(chunk, final)
        except UnicodeDecodeError as exc:
            at = self._fed + exc.start
            byte = self._data[at : at + 1].hex().upper() or "end of body"
            return _fatal(
                "bad_encoding",
                f"the body is not valid UTF-8 (byte 0x{byte} at offset {at})",
                line=_line_of(self._data, at),
            )
        self._fed += len(chunk)
        return None


def hardened_parser(
    *, events: tuple[Literal["start", "end"], ...], tag: str | None = None
) -> etree.XMLPullParser:
    """The one parser configuration we use: no network, no DTD, libxml2's size and depth limits."""
    # lxml-stubs 0.5.1 predates lxml 5's resolve_entities="internal" and lxml 6's decompress.
    return etree.XMLPullParser(  # type: ignore[call-arg]  # decompress: lxml >= 6, not in the stubs
        events=events,
        tag=tag,
        # the safe default; False would leave entity nodes (see safety notes)
        resolve_entities="internal",  # type: ignore[arg-type]  # lxml >= 5 accepts "internal"
        no_network=True,
        huge_tree=False,  # keeps libxml2's limits: depth 256, text node 10 MB, name 50 kB
        load_dtd=False,
        dtd_validation=False,
        remove_pis=True,  # a PI inside <name> would otherwise cut .text short
        remove_comments=True,
        decompress=False,
    )


def element_events(
    parser: etree.XMLPullParser,
) -> Callable[[], Iterator[tuple[str, etree._Element]]]:
    """``parser.read_events``, typed for a parser made with only "start"/"end" events.

    The stubs allow for the (prefix, uri) tuples of "start-ns" events; hardened_parser
    never asks for those, so every event carries an element.
    """
    return cast("Callable[[], Iterator[tuple[str, etree._Element]]]", parser.read_events)


def element_line(element: etree._Element) -> int | None:
    """``element.sourceline`` (lxml-stubs 0.5.1 declare it as ``...``; it is int | None)."""
    return element.sourceline  # type: ignore[return-value]  # see the docstring


def syntax_issue(exc: etree.LxmlError) -> Issue:
    """Translate one of lxml's parse errors into an Issue."""
    code = getattr(exc, "code", None)
    raw = str(getattr(exc, "msg", None) or exc).strip()
    lineno = getattr(exc, "lineno", None)
    line = lineno if isinstance(lineno, int) and lineno > 0 else None
    where = f" (line {line})" if line else ""
    if code == _ERR_RESOURCE_LIMIT:
        if "depth" in raw.lower():
            return _fatal(
                "too_deep", f"elements are nested more than 256 levels deep{where}", line=line
            )
        return _fatal(
            "too_large",
            "a text, attribute or name is larger than the parser accepts "
            f"(text nodes up to 10 MB, names up to 50 kB){where}",
            line=line,
        )
    if code == _ERR_INVALID_ENCODING:
        return _fatal("bad_encoding", f"the body is not valid UTF-8{where}", line=line)
    if not raw:
        raw = type(exc).__name__
    return _fatal("malformed_xml", f"malformed XML: {raw}", line=line)


def check_date(value: str | None, *, line: int | None) -> tuple[dt.date | None, Issue | None]:
    """The ``date`` attribute: ASCII ``YYYY-MM-DD`` that names a real day."""
    if value is None:
        return None, _fatal(
            "missing_date",
            '<sales_data> has no date attribute; expected date="YYYY-MM-DD"',
            line=line,
            field="date",
        )
    if _DATE.fullmatch(value) is None:
        return None, _fatal(
            "bad_date",
            f"date {quote(value)} is not in the form YYYY-MM-DD",
            line=line,
            field="date",
        )
    try:
        return dt.date(int(value[0:4]), int(value[5:7]), int(value[8:10])), None
    except ValueError:
        return None, _fatal(
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
        return None, _fatal("bad_root", message, line=line)
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
            _fatal("internal_error", "internal error in the check: no date and no issue")
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
                return HeadRefused(_fatal("malformed_xml", "malformed XML: no root element"))
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

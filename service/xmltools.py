"""The lxml toolkit: the one hardened parser configuration, typed event reading, the
translation of libxml2's errors into Issues, and the incremental UTF-8 check of what
is fed to the parser. Pure: no I/O. The rules a document must pass are in xmlhead.py.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from typing import Final, Literal, cast

from lxml import etree

from .models import Issue

__all__ = [
    "CHUNK_SIZE",
    "Utf8Check",
    "element_events",
    "element_line",
    "fatal",
    "hardened_parser",
    "line_of",
    "quote",
    "syntax_issue",
]

# Bytes handed to libxml2 per feed(): big enough that the per-call overhead is
# negligible, small enough that nothing but the parser's own state grows.
CHUNK_SIZE: Final = 64 * 1024
# Values quoted in messages are cut to this many characters.
_SHOWN_CHARS: Final = 40

_ERR_RESOURCE_LIMIT: Final = int(getattr(etree.ErrorTypes, "ERR_RESOURCE_LIMIT", 114))
_ERR_INVALID_ENCODING: Final = int(getattr(etree.ErrorTypes, "ERR_INVALID_ENCODING", 81))


def quote(value: str) -> str:
    """A value for a message: double-quoted, control characters escaped, at most 40 characters."""
    shown = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…"
    return json.dumps(shown, ensure_ascii=False)


def fatal(code: str, message: str, *, line: int | None = None, field: str | None = None) -> Issue:
    """A fatal problem of the document."""
    return Issue(code=code, message=message, line=line, field=field)


def line_of(data: bytes, offset: int) -> int:
    """The 1-based line of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


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
            return fatal(
                "bad_encoding",
                f"the body is not valid UTF-8 (byte 0x{byte} at offset {at})",
                line=line_of(self._data, at),
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
            return fatal(
                "too_deep", f"elements are nested more than 256 levels deep{where}", line=line
            )
        return fatal(
            "too_large",
            "a text, attribute or name is larger than the parser accepts "
            f"(text nodes up to 10 MB, names up to 50 kB){where}",
            line=line,
        )
    if code == _ERR_INVALID_ENCODING:
        return fatal("bad_encoding", f"the body is not valid UTF-8{where}", line=line)
    if not raw:
        raw = type(exc).__name__
    return fatal("malformed_xml", f"malformed XML: {raw}", line=line)

"""A day in any encoding XML allows, decoded once at the edge to UTF-8: pure, no I/O.

Everything after the edge (the head rules, the cutter, ingest's parser, the
database) sees UTF-8 only. The gateway runs a :class:`Transcoder` over the body
while it streams in (chunking/transcode.py); ingest runs :func:`to_utf8` on a
whole-day record that a producer sent straight to sales.raw (ingest/decide.py).

Which encoding (:func:`sniff`, in the order of XML 1.0 appendix F):

1. a byte order mark: UTF-8, UTF-16LE/BE, UTF-32LE/BE;
2. without one, UTF-16/UTF-32 recognised by ``<?`` in that form (then the
   declaration must name that family);
3. the ``encoding`` of the XML declaration;
4. for HTTP, with no declaration and no mark: the ``charset`` of Content-Type;
5. else UTF-8.

The declaration wins over Content-Type (a tool's default ``charset=utf-8`` must not
turn a windows-1251 file into mojibake); a declaration that contradicts the byte
order mark is refused. Only the encodings of :data:`ALLOWED` are decoded: those
whose bytes below 0x40 are always the ASCII characters (so no markup character
``<>&'"/=?!`` can hide inside a multi-byte character), plus UTF-16/UTF-32 with a
mark. Refused on purpose: UTF-7, ISO-2022-*, HZ (stateful: ``+ADw-`` is ``<``),
EBCDIC (not ASCII-compatible), Python's escape and bytes-to-bytes codecs
(``unicode_escape``, ``zip``, ``base64``, …: not text encodings, some decompress).

Refusals are :class:`EncodingRefused` with an Issue ``bad_encoding`` naming the
encoding, the byte offset and the line (counted in the original file). A body that
declares another encoding yet is valid UTF-8 with non-ASCII text is refused too:
decoding it as declared would store mojibake ("РЎРјР°" for "Сма").
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass
from typing import Final, Literal

from .models import Issue

__all__ = [
    "ALLOWED",
    "EncodingRefused",
    "Source",
    "Transcoder",
    "charset_of",
    "sniff",
    "to_utf8",
    "undecoded",
]

# Python codec name (codecs.lookup(...).name) → the name messages use.
ALLOWED: Final[dict[str, str]] = {
    "utf-8": "UTF-8",
    "ascii": "US-ASCII",
    **{
        f"iso8859-{n}": f"ISO-8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16)
    },
    **{f"cp{n}": f"windows-{n}" for n in range(1250, 1259)},
    "koi8-r": "KOI8-R",
    "koi8-u": "KOI8-U",
    "cp866": "IBM866",
    "tis-620": "TIS-620",
    # multi-byte, every trail byte >= 0x40: markup characters stay single bytes
    "shift_jis": "Shift_JIS",
    "cp932": "windows-31j",
    "euc_jp": "EUC-JP",
    "euc_kr": "EUC-KR",
    "gb2312": "GB2312",
    "gbk": "GBK",
    "gb18030": "GB18030",
    "big5": "Big5",
    # only with a byte order mark, or recognised by "<?" in that form
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16LE",
    "utf-16-be": "UTF-16BE",
    "utf-32": "UTF-32",
    "utf-32-le": "UTF-32LE",
    "utf-32-be": "UTF-32BE",
}
_WIDE: Final = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
# Names Python does not know but XML tools write (libxml2/iconv spellings).
_ALIASES: Final = {
    "ucs-2": "utf-16",
    "iso-10646-ucs-2": "utf-16",
    "ucs-4": "utf-32",
    "iso-10646-ucs-4": "utf-32",
    "x-sjis": "shift_jis",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
}
_WHY_NOT: Final = {
    "utf-7": 'a stateful encoding in which markup hides ("+ADw-" is "<")',
    "iso2022_jp": "a stateful encoding (escape sequences switch the character set)",
    "hz": "a stateful encoding (escape sequences switch the character set)",
}

# (mark, codec): UTF-32LE's mark starts with UTF-16LE's, so it is tried first.
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# "<?" (or "<" for UTF-32) without a mark, XML 1.0 appendix F.1.
_PATTERNS: Final = (
    (b"\x3c\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00\x3c", "utf-32-be"),
    (b"\x3c\x00\x3f\x00", "utf-16-le"),
    (b"\x00\x3c\x00\x3f", "utf-16-be"),
)
_DECL = re.compile(r"<\?xml[ \t\r\n][^?>]*?encoding[ \t\r\n]*=[ \t\r\n]*(?:\"([^\"]*)\"|'([^']*)')")
_DECL_BYTES = re.compile(_DECL.pattern.encode("ascii"))
# The declaration is short; never look further than this many characters for it.
_DECL_WINDOW: Final = 512
_SHOWN: Final = 40
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\";\s]*)", re.IGNORECASE)

Via = Literal["bom", "pattern", "declaration", "charset", "default"]


class EncodingRefused(Exception):
    """The body cannot be decoded as it says (or is not in an encoding we accept)."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


@dataclass(frozen=True, slots=True)
class Source:
    """How the body is encoded, and what told us."""

    codec: str  # a key of ALLOWED, endianness resolved for UTF-16/32
    via: Via
    skip: int = 0  # bytes of the byte order mark
    declared: str | None = None  # the declaration's (or charset's) name as written

    @property
    def label(self) -> str:
        return self.declared or ALLOWED[self.codec]

    @property
    def passthrough(self) -> bool:
        """UTF-8 already: the body goes on as it is (a UTF-8 mark included)."""
        return self.codec == "utf-8"


def _shown(name: str) -> str:
    cut = name if len(name) <= _SHOWN else name[:_SHOWN] + "…"
    return '"' + cut.encode("ascii", "backslashreplace").decode().replace('"', '\\"') + '"'


def _refuse(message: str, *, line: int | None = 1) -> EncodingRefused:
    return EncodingRefused(Issue(code="bad_encoding", message=message, line=line))


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if any."""
    if not content_type:
        return None
    found = _CHARSET.search(content_type)
    return found[1] if found and found[1] else None


@functools.lru_cache(maxsize=256)
def _resolve(name: str) -> str | None:
    """Python's codec name for an encoding name, or None when unknown."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return codecs.lookup(key).name
    except LookupError:
        return None


def _allowed(name: str, *, what: str) -> str:
    """The codec for a name the client gave; refused unless it is on the allow-list."""
    codec = _resolve(name)
    if codec is None:
        raise _refuse(f"{what} names encoding {_shown(name)}, which is not a known encoding")
    if codec not in ALLOWED:
        why = _WHY_NOT.get(codec, "not one of the encodings accepted (see docs/input.md)")
        raise _refuse(f"{what} names encoding {_shown(name)}: refused, {why}")
    return codec


def _declared(head: bytes, codec: str) -> tuple[str, int] | None:
    """The declaration's encoding name and the offset of its value, read as ``codec``."""
    if codec in _WIDE:
        unit = 4 if codec.startswith("utf-32") else 2
        text = head[: _DECL_WINDOW * unit].decode(codec, "replace")
        found = _DECL.match(text)
        if found is None:
            return None
        group = 1 if found[1] is not None else 2
        return found[group], found.start(group) * unit
    raw = _DECL_BYTES.match(head, 0, _DECL_WINDOW)  # the declaration itself is ASCII
    if raw is None:
        return None
    group = 1 if raw[1] is not None else 2
    return raw[group].decode("latin-1"), raw.start(group)


def _same_family(bom_codec: str, declared: str) -> bool:
    """A declared codec the byte order mark agrees with (UTF-16 names either endianness)."""
    if declared == bom_codec:
        return True
    return declared in ("utf-16", "utf-32") and bom_codec.startswith(declared + "-")


def sniff(head: bytes, *, charset: str | None = None) -> Source:
    """The body's encoding, from its first bytes (at least the declaration) and the
    Content-Type charset; raises EncodingRefused."""
    for mark, codec in _BOMS:
        if head.startswith(mark):
            return _with_mark(head, codec, skip=len(mark), via="bom")
    for pattern, codec in _PATTERNS:
        if head.startswith(pattern):
            return _with_mark(head, codec, skip=0, via="pattern")
    found = _declared(head, "utf-8")
    if found is not None:
        name, at = found
        codec = _allowed(name, what="the XML declaration")
        if codec in _WIDE:
            raise _refuse(
                f"the XML declaration names encoding {_shown(name)} but the body is not "
                f"{ALLOWED[codec]}: it has no byte order mark and its declaration is "
                f"single bytes (offset {at})"
            )
        return Source(codec, "declaration", declared=name)
    if charset:
        codec = _allowed(charset, what="the Content-Type charset")
        if codec in _WIDE:
            raise _refuse(
                f"the Content-Type charset names encoding {_shown(charset)} but the body has "
                "no byte order mark; UTF-16/UTF-32 bodies must start with one"
            )
        return Source(codec, "charset", declared=charset)
    return Source("utf-8", "default")


def _with_mark(head: bytes, codec: str, *, skip: int, via: Via) -> Source:
    found = _declared(head[skip:], codec)
    if found is None:
        return Source(codec, via, skip=skip)
    name, at = found
    declared = _resolve(name)
    what = "byte order mark" if via == "bom" else "form of its first characters"
    if declared is None or not _same_family(codec, declared):
        raise _refuse(
            f"the XML declaration names encoding {_shown(name)} but the body's {what} "
            f"says {ALLOWED[codec]} (offset {skip + at})"
        )
    return Source(codec, via, skip=skip, declared=name)


class Transcoder:
    """Bytes in the source encoding in, UTF-8 out, piece by piece (memory stays flat).

    The declaration is rewritten to name UTF-8 (its lines unchanged), the byte order
    mark dropped. A decoding error raises EncodingRefused with the offset in the
    original bytes and the line there.
    """

    __slots__ = (
        "_decode",
        "_done_head",
        "_fed",
        "_head",
        "_lines",
        "_mislabel",
        "_non_ascii",
        "_skip",
        "source",
    )

    def __init__(self, source: Source) -> None:
        self.source = source
        self._decode = codecs.getincrementaldecoder(source.codec)("strict").decode
        self._skip = source.skip
        self._fed = 0  # original bytes fed, the mark included
        self._lines = 0  # newlines decoded so far
        self._head = ""  # decoded text held until the declaration is whole
        self._done_head = source.declared is None or source.via == "charset"
        # Valid UTF-8 with non-ASCII text, declared otherwise: mojibake if decoded as declared.
        # (US-ASCII refuses any non-ASCII byte by itself.)
        self._mislabel = (
            None
            if source.codec in _WIDE or source.codec in ("utf-8", "ascii")
            else codecs.getincrementaldecoder("utf-8")("strict").decode
        )
        self._non_ascii = False

    def feed(self, data: bytes, *, final: bool = False) -> bytes:
        if self._skip:
            cut = min(self._skip, len(data))
            self._skip -= cut
            self._fed += cut
            data = data[cut:]
        self._fed += len(data)
        if self._mislabel is not None:
            self._check_label(data, final=final)
        try:
            text = self._decode(data, final)
        except UnicodeDecodeError as exc:
            raise self._invalid(exc) from None
        if not self._done_head:
            self._head += text
            if not final and "?>" not in self._head and len(self._head) < _DECL_WINDOW:
                return b""
            text, self._head, self._done_head = _utf8_declaration(self._head), "", True
        self._lines += text.count("\n")
        return text.encode("utf-8")

    def _check_label(self, data: bytes, *, final: bool) -> None:
        assert self._mislabel is not None
        if not self._non_ascii and not data.isascii():
            self._non_ascii = True
        try:
            self._mislabel(data, final)
        except UnicodeDecodeError:
            self._mislabel = None  # not UTF-8: decoding as declared is right
            return
        if final and self._non_ascii:
            raise _refuse(
                f"the body declares encoding {_shown(self.source.label)} but is valid UTF-8 "
                "with non-ASCII text: decoding it as declared would store mojibake; "
                'declare encoding="UTF-8" (or send it in the declared encoding)',
                line=None,
            )

    def _invalid(self, exc: UnicodeDecodeError) -> EncodingRefused:
        # exc.object is what the decoder held (bytes pending from earlier pieces) plus this
        # piece, so its end is the end of what was fed.
        at = self._fed - len(exc.object) + exc.start
        before = exc.object[: exc.start].decode(self.source.codec, "replace")
        line = self._lines + self._head.count("\n") + before.count("\n") + 1
        if exc.end >= len(exc.object) and self._fed == at + (exc.end - exc.start):
            truncated = any(w in exc.reason for w in ("end of data", "truncated", "incomplete"))
        else:
            truncated = False
        if truncated:
            where = f"the body ends inside a character at offset {at}"
        else:
            bad = exc.object[exc.start : exc.end].hex(" ").upper()
            where = f"{'byte' if exc.end - exc.start == 1 else 'bytes'} {bad} at offset {at}"
        return _refuse(
            f"the body is not valid {_shown(self.source.label)}: {where} (line {line})",
            line=line,
        )


def _utf8_declaration(text: str) -> str:
    """The text with its declaration's encoding value replaced by UTF-8."""
    found = _DECL.match(text)
    if found is None:
        return text
    group = 1 if found[1] is not None else 2
    return text[: found.start(group)] + "UTF-8" + text[found.end(group) :]


def to_utf8(data: bytes, *, charset: str | None = None) -> bytes:
    """A whole body as UTF-8 (the same bytes when it is UTF-8 already); raises EncodingRefused."""
    source = sniff(data, charset=charset)
    if source.passthrough:
        return data
    return Transcoder(source).feed(data, final=True)


def undecoded(data: bytes) -> Issue | None:
    """Why a body the edge should have decoded is not UTF-8; None when it is UTF-8.

    A whole day that could not be decoded gets the decoding's own refusal. One that
    can be decoded but was not is a big day's chunk on sales.raw: chunks must be UTF-8.
    """
    try:
        source = sniff(data)
        if source.passthrough:
            return None
        to_utf8(data)
    except EncodingRefused as exc:
        return exc.issue
    return Issue(
        code="bad_encoding",
        message=f"the body is in {source.label}: a big day's chunks on sales.raw must be "
        "UTF-8 (send the day as one record, or through the gateway, which decodes it)",
        line=1,
    )

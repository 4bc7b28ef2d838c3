"""Days in any encoding XML allows are decoded once to UTF-8; what cannot be decoded is
refused with the encoding, the offset and the line; nothing else loosens."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.chunking import BadEncoding, Cutter, utf8_body
from service.encoding import EncodingRefused, Transcoder, charset_of, sniff, to_utf8, undecoded
from service.ingest.decide import raw_upload
from service.ingest.parse import parse_day
from service.xmlhead import HeadOk, HeadRefused, precheck

from ..encoded_days import CATEGORY, ENCODINGS, NAMES, PLAIN, day_text, encoded_day, names_for

pytestmark = pytest.mark.timeout(60)

BODIES = {name: encoded_day(name) for name in ENCODINGS}


def names_of(data: bytes) -> list[str]:
    parsed = parse_day(data)
    assert parsed.fatal == [] and parsed.product_issues == [], (parsed.fatal, parsed.product_issues)
    return [line.name for line in parsed.lines]


def refusal(data: bytes, *, charset: str | None = None) -> str:
    with pytest.raises(EncodingRefused) as caught:
        to_utf8(data, charset=charset)
    assert caught.value.issue.code == "bad_encoding"
    return caught.value.issue.message


@pytest.mark.parametrize("name", list(BODIES))
def test_every_accepted_encoding_decodes_to_the_same_utf8_names(name: str) -> None:
    """Each encoding gives UTF-8 that parses to exactly the original names and category."""
    data = to_utf8(BODIES[name])
    assert not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    assert names_of(data) == names_for(name)
    assert parse_day(data).lines[0].category == CATEGORY
    assert isinstance(precheck(data), HeadOk)


@pytest.mark.parametrize("name", ["windows-1251", "utf-16le-bom", "utf-32be-bom"])
def test_declaration_is_rewritten_to_utf8_with_lines_unchanged(name: str) -> None:
    """The output declares UTF-8, has no byte order mark, and keeps every line where it was."""
    data = to_utf8(BODIES[name])
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert data.decode("utf-8") == day_text("UTF-8")


def test_utf8_passes_through_untouched() -> None:
    """A UTF-8 body (with or without a mark) is the very same bytes: no copy, no rewrite."""
    for name in ("utf-8", "utf-8-bom", "utf-8-no-declaration"):
        assert to_utf8(BODIES[name]) is BODIES[name]
        assert sniff(BODIES[name]).passthrough


@pytest.mark.parametrize("name", list(BODIES))
@pytest.mark.parametrize("piece", [1, 3, 7, 4096])
def test_piece_by_piece_equals_whole(name: str, piece: int) -> None:
    """The incremental transcoder gives the same bytes whatever the pieces (a character split
    across pieces included)."""
    data = BODIES[name]
    source = sniff(data[:1024])
    if source.passthrough:
        return
    transcoder = Transcoder(source)
    out = b"".join(transcoder.feed(data[i : i + piece]) for i in range(0, len(data), piece))
    out += transcoder.feed(b"", final=True)
    assert out == to_utf8(data)


def test_charset_is_used_only_without_declaration() -> None:
    """No declaration: the Content-Type charset decides; a declaration wins over it."""
    plain = day_text(None).encode("cp1251")
    assert names_of(to_utf8(plain, charset="windows-1251")) == NAMES
    assert names_of(to_utf8(BODIES["windows-1251"], charset="utf-8")) == NAMES
    assert charset_of('application/xml; charset="windows-1251"') == "windows-1251"
    assert charset_of("application/xml") is None


# --- refusals, each with its message


def test_unknown_encoding_name_is_refused() -> None:
    """An encoding name nobody knows: refused, naming it."""
    message = refusal(day_text("x-klingon").encode())
    assert (
        message == 'the XML declaration names encoding "x-klingon", which is not a known encoding'
    )


@pytest.mark.parametrize(
    ("declared", "why"),
    [
        ("UTF-7", 'a stateful encoding in which markup hides ("+ADw-" is "<")'),
        ("ISO-2022-JP", "a stateful encoding (escape sequences switch the character set)"),
        ("zip", "not one of the encodings accepted (see docs/input.md)"),
        ("unicode_escape", "not one of the encodings accepted (see docs/input.md)"),
        ("cp500", "not one of the encodings accepted (see docs/input.md)"),
    ],
)
def test_unsafe_encodings_are_refused(declared: str, why: str) -> None:
    """UTF-7, stateful, EBCDIC and Python's non-text codecs are refused though Python knows them."""
    message = refusal(day_text(declared).encode())
    assert message == f'the XML declaration names encoding "{declared}": refused, {why}'


def test_utf7_markup_never_reaches_the_parser() -> None:
    """A UTF-7 body hiding a DOCTYPE as +ADw- is refused before any decoding."""
    body = (
        b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE x+AD4-<sales_data date="2024-01-01"/>'
    )
    assert "UTF-7" in refusal(body)
    head = precheck(body)
    assert isinstance(head, HeadRefused) and head.issue.code == "bad_encoding"


def test_bytes_invalid_in_the_declared_encoding_give_offset_and_line() -> None:
    """windows-1251 has no character 0x98: refused with its offset and line in the original."""
    data = BODIES["windows-1251"].replace("Чайник".encode("cp1251"), b"\xd7\x98")
    at = data.index(b"\x98")
    message = refusal(data)
    assert message == f'the body is not valid "windows-1251": byte 98 at offset {at} (line 5)'


def test_invalid_bytes_offset_is_the_same_in_pieces() -> None:
    """The offset names the byte in the original body whatever pieces the stream came in."""
    data = BODIES["utf-16le-bom"]
    bad = data.index("Чайник".encode("utf-16-le"))
    data = data[:bad] + b"\x00\xdc" + data[bad + 2 :]  # a lone low surrogate
    expected = refusal(data)
    assert f"bytes 00 DC at offset {bad} (line 5)" in expected
    for piece in (1, 5, 64):
        transcoder = Transcoder(sniff(data))
        with pytest.raises(EncodingRefused) as caught:
            for i in range(0, len(data), piece):
                transcoder.feed(data[i : i + piece])
            transcoder.feed(b"", final=True)
        assert caught.value.issue.message == expected


def test_body_ending_inside_a_character_is_refused() -> None:
    """A UTF-16 body cut in the middle of a code unit: refused at the end, with its offset."""
    data = BODIES["utf-16be-bom"][:-1]
    message = refusal(data)
    assert message == (
        f'the body is not valid "UTF-16": the body ends inside a character at offset '
        f"{len(data) - 1} (line 8)"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            codecs.BOM_UTF16_LE + day_text("windows-1251").encode("utf-16-le"),
            'the XML declaration names encoding "windows-1251" but the body\'s byte order mark '
            "says UTF-16LE (offset 62)",
        ),
        (
            codecs.BOM_UTF16_BE + day_text("UTF-16LE").encode("utf-16-be"),
            'the XML declaration names encoding "UTF-16LE" but the body\'s byte order mark '
            "says UTF-16BE (offset 62)",
        ),
        (
            codecs.BOM_UTF8 + day_text("KOI8-R", names=PLAIN).encode("koi8-r"),
            'the XML declaration names encoding "KOI8-R" but the body\'s byte order mark '
            "says UTF-8 (offset 33)",
        ),
        (
            day_text("UTF-16").encode(),
            'the XML declaration names encoding "UTF-16" but the body is not UTF-16: it has no '
            "byte order mark and its declaration is single bytes (offset 30)",
        ),
    ],
    ids=["utf16-bom-vs-1251", "be-bom-vs-le", "utf8-bom-vs-koi8", "utf16-declared-on-bytes"],
)
def test_declaration_contradicting_the_byte_order_mark_is_refused(
    data: bytes, message: str
) -> None:
    """The byte order mark and the declaration must agree."""
    assert refusal(data) == message


def test_charset_refusals() -> None:
    """An unknown charset, and UTF-16 named by a charset without a byte order mark."""
    plain = day_text(None).encode("cp1251")
    assert refusal(plain, charset="nope") == (
        'the Content-Type charset names encoding "nope", which is not a known encoding'
    )
    assert refusal(plain, charset="utf-16") == (
        'the Content-Type charset names encoding "utf-16" but the body has no byte order '
        "mark; UTF-16/UTF-32 bodies must start with one"
    )


def test_utf8_declared_as_windows_1251_is_refused_not_stored_as_mojibake() -> None:
    """Valid UTF-8 Cyrillic labelled windows-1251 would decode to «РЎРјР°…»: refused instead."""
    message = refusal(day_text("windows-1251").encode("utf-8"))
    assert message == (
        'the body declares encoding "windows-1251" but is valid UTF-8 with non-ASCII text: '
        'decoding it as declared would store mojibake; declare encoding="UTF-8" '
        "(or send it in the declared encoding)"
    )
    ascii_day = day_text("windows-1251", names=["Plain"]).replace(CATEGORY, "Home")
    assert names_of(to_utf8(ascii_day.encode())) == ["Plain"]


def test_chunk_in_another_encoding_is_refused_by_the_head_rules() -> None:
    """What reaches the head rules undecoded (a big day's chunk) is refused, saying why."""
    issue = undecoded(BODIES["windows-1251"])
    assert issue is not None and issue.message == (
        "the body is in windows-1251: a big day's chunks on sales.raw must be UTF-8 (send "
        "the day as one record, or through the gateway, which decodes it)"
    )
    assert undecoded(to_utf8(BODIES["windows-1251"])) is None


# --- nothing else loosens


@pytest.mark.parametrize("encoding", ["cp1251", "utf-16-le", "koi8-r"])
def test_dtd_and_entities_stay_refused_in_any_encoding(encoding: str) -> None:
    """A DOCTYPE with an entity is forbidden_dtd after decoding, whatever the encoding."""
    text = day_text("UTF-16" if encoding.startswith("utf-16") else encoding, names=PLAIN).replace(
        "<sales_data", '<!DOCTYPE x [<!ENTITY e "Смартфон">]>\n<sales_data', 1
    )
    mark = codecs.BOM_UTF16_LE if encoding.startswith("utf-16") else b""
    head = precheck(to_utf8(mark + text.encode(encoding)))
    assert isinstance(head, HeadRefused) and head.issue.code == "forbidden_dtd"


def test_deep_nesting_and_huge_text_stay_refused_in_utf16() -> None:
    """libxml2's depth and text limits hold for decoded UTF-16 as for UTF-8."""
    deep = day_text("UTF-16").replace("<name>", "<name>" + "<x>" * 300, 1)
    parsed = parse_day(to_utf8(codecs.BOM_UTF16_LE + deep.encode("utf-16-le")))
    assert [i.code for i in parsed.fatal] == ["too_deep"]
    huge = day_text("UTF-16").replace("Смартфон", "Ж" * 11_000_000, 1)
    parsed = parse_day(to_utf8(codecs.BOM_UTF16_BE + huge.encode("utf-16-be")))
    assert [i.code for i in parsed.fatal] == ["too_large"]


def test_utf16_bytes_that_spell_end_tags_cannot_split_a_product() -> None:
    """Names whose UTF-16LE bytes read «</product>» (and «<product>») are cut only at real
    end tags: the cutter works on the UTF-8 output."""
    trick_end = b"</product>".decode("utf-16-le")  # 5 CJK characters
    trick_start = b"<product><id>9".decode("utf-16-le")
    names = [f"x{trick_end}{trick_start}y{i}" for i in range(400)]
    raw = codecs.BOM_UTF16_LE + day_text("UTF-16", names=names).encode("utf-16-le")
    assert raw.count(b"</product>") == len(names)  # only the tricks: real tags are 2 bytes a char
    transcoder = Transcoder(sniff(raw))
    cutter = Cutter(2048)
    chunks: list[bytes] = []
    for i in range(0, len(raw), 1000):
        chunks += cutter.feed(transcoder.feed(raw[i : i + 1000]))
    chunks += cutter.feed(transcoder.feed(b"", final=True))
    chunks.append(cutter.finish())
    assert len(chunks) > 5 and cutter.products == len(names)
    assert names_of(b"".join(chunks)) == names


def test_direct_record_is_decoded_where_ingest_takes_its_bytes() -> None:
    """A whole-day record in windows-1251 is UTF-8 in RawUpload; a chunk record is left as it came."""
    common: dict[str, Any] = {"topic": "sales.raw", "partition": 0, "offset": 1, "timestamp": 1}
    raw = raw_upload(value=BODIES["windows-1251"], headers=[], **common)
    assert raw.data == to_utf8(BODIES["windows-1251"])
    chunk = raw_upload(
        value=BODIES["windows-1251"],
        headers=[("x-upload-id", b"6f1d7f3e-8a63-4d55-9a55-5a1e5a1e0009"), ("x-part", b"chunk")],
        **common,
    )
    assert chunk.data == BODIES["windows-1251"]
    broken = BODIES["koi8-r"].replace(b"KOI8-R", b"nonsense")
    kept = raw_upload(value=broken, headers=[], **common)
    head = precheck(kept.data)
    assert isinstance(head, HeadRefused) and "nonsense" in head.issue.message


# --- the gateway's wrapper


async def _stream(data: bytes, piece: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


async def _drain(head: bytes, rest: AsyncIterator[bytes] | None) -> bytes:
    out = head
    if rest is not None:
        async for piece in rest:
            out += piece
    return out


async def test_gateway_wrapper_streams_utf8() -> None:
    """The head and the rest of a streamed body come out as the UTF-8 of the whole."""
    data = BODIES["windows-1251"]
    head, rest = await utf8_body(
        data[:100], _stream(data[100:], 7), content_type=None, limit=10**6, whole=50
    )
    assert await _drain(head, rest) == to_utf8(data)


async def test_gateway_wrapper_turns_a_grown_body_into_a_stream() -> None:
    """A body under UPLOAD_CHUNK_BYTES whose UTF-8 is over it goes on in chunks."""
    data = BODIES["windows-1251"]
    head, rest = await utf8_body(data, None, content_type=None, limit=10**6, whole=len(data))
    assert rest is not None and await _drain(head, rest) == to_utf8(data)


async def test_gateway_wrapper_refuses_mid_stream() -> None:
    """A bad byte far into the stream is bad_encoding (the gateway's 400, the day aborted) with
    its offset in the original."""
    data = BODIES["windows-1251"] + b"<!-- \x98 -->"
    head, rest = await utf8_body(
        data[:100], _stream(data[100:], 16), content_type=None, limit=10**6, whole=50
    )
    with pytest.raises(BadEncoding) as caught:
        await _drain(head, rest)
    assert caught.value.issue.code == "bad_encoding" and caught.value.abort == "bad_encoding"
    assert f"byte 98 at offset {len(data) - 5} (line 9)" in caught.value.issue.message


async def test_gateway_wrapper_refuses_unknown_charset_at_once() -> None:
    """The head decides: an unknown charset is refused before anything is published."""
    with pytest.raises(BadEncoding) as caught:
        await utf8_body(
            day_text(None).encode("cp1251"),
            None,
            content_type="application/xml; charset=martian",
            limit=10**6,
            whole=None,
        )
    assert '"martian"' in caught.value.issue.message

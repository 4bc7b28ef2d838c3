"""Big days in pieces: the fast lane agrees with parse_day, the cutter cuts where a chunk stands alone,
and a day's chunks are judged as the one file they are."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from service.chunking import (
    MAX_PRODUCT_BYTES,
    Cutter,
    ProductTooLarge,
    Unsplittable,
    oversized_product,
)
from service.ingest.assemble import duplicate_issues, judge_staged, manifest_digest
from service.ingest.chunks import read_chunk, wrap
from service.ingest.fastlane import fast_lane
from service.ingest.parse import parse_day
from service.models import ChunkManifest
from service.storage.staging import DuplicateRow, FastShape, StagedChunk

from .xml_builders import product

pytestmark = pytest.mark.timeout(30)

# Products the fast lane must get exactly right: it may take them or leave them to parse_day,
# but whatever it takes must be what parse_day makes of them (and nothing parse_day refuses).
CASES = [
    product(),
    product(name="Кофе в зёрнах", category="Еда"),
    product(name="Home &amp; Garden &lt;3&gt; &quot;x&quot; &apos;y&apos;"),
    product(id="007", quantity="0010", price="0"),
    product(price="12.5"),
    product(name="  padded  "),
    product(name="two  spaces"),
    product(name="tab\there"),
    product(name="nbsp\u00a0inside"),
    product(name="zero\u200bwidth"),
    product(name="euro €"),
    product(name="«quoted»"),
    product(name="x" * 200),
    product(name="x" * 201),
    product(name="я" * 101),
    product(name=""),
    product(id="0"),
    product(id="1234567890123456789"),
    product(quantity="0"),
    product(quantity="1234567890"),
    product(price="-1"),
    product(price="1.234"),
    product(price="12345678901"),
    product(name="a<!-- c -->b"),
    product(name="<![CDATA[x]]>"),
    product(name="&#65;"),
    product(name="back\\slash"),
    product(name="gt > sign"),
    product(extra="<note>x</note>"),
    product(category=None),
]


def _chunk(body: str, n: int = 3, sep: str = "\n    ") -> bytes:
    """A middle chunk: n products with distinct ids, the case in the middle."""
    base = product(id="900001"), body, product(id="900003")
    return "".join(sep + p for p in base[:n]).encode()


@pytest.mark.parametrize("case", CASES)
def test_fast_lane_never_disagrees_with_parse_day(case: str) -> None:
    """What the fast lane takes, parse_day accepts with the very same values; the rest it leaves alone."""
    chunk = _chunk(case)
    fast = fast_lane(chunk)
    parsed = parse_day(wrap(chunk, first=False, last=False))
    if fast is None:
        return
    assert not parsed.fatal and not parsed.product_issues, (case, parsed.product_issues)
    rows = [r.split("\t") for r in fast.copy_text.decode().splitlines()]
    expected = [
        [str(ln.product_id), ln.name, str(ln.quantity), str(ln.price), ln.category]
        for ln in parsed.lines
    ]
    got = [[str(int(i)), n, str(int(q)), str(Decimal(p)), c] for i, n, q, p, c in rows]
    assert got == [[i, n, q, str(Decimal(p)), c] for i, n, q, p, c in expected]
    assert fast.products == parsed.products_seen == 3


def test_fast_lane_takes_regular_chunks_and_knows_their_lines() -> None:
    """A machine-written chunk (same blanks everywhere) goes the fast way, with each product's line."""
    chunk = "".join(
        f"\n  <product>\n    <id>{i}</id>\n    <name>P {i}</name>\n    <quantity>{i}</quantity>\n"
        f"    <price>{i}.50</price>\n    <category>C</category>\n  </product>"
        for i in range(1, 5)
    )
    fast = fast_lane(chunk.encode() + b"\n")
    assert fast is not None and fast.products == 4
    assert fast.first_line == 2 and fast.lines_per_product == 7
    parsed = parse_day(wrap(chunk.encode(), first=False, last=False))
    assert [parsed.id_lines[i] for i in range(1, 5)] == [2 + 7 * k for k in range(4)]


def test_fast_lane_leaves_irregular_layouts_to_parse_day() -> None:
    """Products laid out differently (another blank run in one of them) are not taken."""
    chunk = (f"\n  {product(id='1')}\n  {product(id='2')}\n\n  {product(id='3')}").encode()
    assert fast_lane(chunk) is None
    assert fast_lane(b"\n" + product(id="1").encode() + b"<!-- note -->") is None


def _day(n: int, *, comment_every: int = 0) -> bytes:
    rows = []
    for i in range(1, n + 1):
        rows.append(f"    {product(id=str(i), name=f'Product {i}')}\n")
        if comment_every and i % comment_every == 0:
            rows.append("    <!-- </product> in a comment -->\n")
    return (
        '<?xml version="1.0"?>\n<sales_data date="2024-02-03">\n  <products>\n'
        + "".join(rows)
        + "  </products>\n</sales_data>\n"
    ).encode()


def _cut(data: bytes, target: int, step: int) -> list[bytes]:
    cutter = Cutter(target)
    out: list[bytes] = []
    for pos in range(0, len(data), step):
        out += cutter.feed(data[pos : pos + step])
    return [*out, cutter.finish()]


@pytest.mark.parametrize("comment_every", [0, 7])
def test_cutter_cuts_at_product_boundaries_whatever_the_reads(comment_every: int) -> None:
    """Chunks join back into the file, are the same for any read size, and each reads on its own."""
    data = _day(3000, comment_every=comment_every)
    chunks = _cut(data, 20_000, 65_536)
    assert b"".join(chunks) == data and len(chunks) > 5
    assert _cut(data, 20_000, 1_000) == chunks
    seen = 0
    for i, chunk in enumerate(chunks):
        result = read_chunk(
            chunk, index=i, last=i == len(chunks) - 1, max_products=10**6, max_issues=100
        )
        assert not result.fatal and not result.issues, (i, result.fatal)
        seen += result.products_seen
    assert seen == 3000


def test_cutter_refuses_a_body_it_cannot_cut() -> None:
    """No product boundary where the piece stands alone: the parser's complaint, with its line."""
    bad = b'<sales_data date="2024-02-03"><products>' + b"<product><id>1</id><x></product>" * 5000
    with pytest.raises(Unsplittable) as caught:
        _cut(bad, 10_000, 65_536)
    assert caught.value.issue.code == "malformed_xml"


def _huge_product(name_bytes: int) -> bytes:
    return (
        b'<sales_data date="2024-02-03"><products>\n'
        + product().encode() * 3
        + b"<product><id>9</id><name>"
        + b"N" * name_bytes
        + b"</name><quantity>1</quantity><price>1</price><category>c</category></product>\n"
        + product().encode() * 3
        + b"</products></sales_data>"
    )


@pytest.mark.parametrize("step", [65_536, 3_000_000])
def test_cutter_refuses_a_product_larger_than_the_parser_accepts_before_its_end(step: int) -> None:
    """A product past MAX_PRODUCT_BYTES: too_large (ingest's code), raised before its end tag came,
    so the cutter never holds more than about a chunk and one product."""
    data = _huge_product(MAX_PRODUCT_BYTES + 1_000_000)
    cutter, fed = Cutter(20_000), 0
    with pytest.raises(ProductTooLarge) as caught:
        for pos in range(0, len(data), step):
            fed = pos + step
            cutter.feed(data[pos:fed])
    assert caught.value.issue.code == "too_large" and caught.value.issue.line == 2
    assert fed <= MAX_PRODUCT_BYTES + 2 * step < len(data) or step > len(data) // 4
    assert oversized_product(data) == caught.value.issue


def test_products_up_to_the_limit_are_cut_as_usual() -> None:
    """A product just under MAX_PRODUCT_BYTES passes the cutter (ingest judges its fields)."""
    data = _huge_product(MAX_PRODUCT_BYTES - 1_000)
    assert oversized_product(data) is None
    assert b"".join(_cut(data, 20_000, 65_536)) == data


def _staged(chunks: list[bytes], *, policy_max: int = 10**6) -> list[StagedChunk]:
    out, seq = [], 0
    for i, chunk in enumerate(chunks):
        r = read_chunk(
            chunk, index=i, last=i == len(chunks) - 1, max_products=policy_max, max_issues=1000
        )
        first = seq + 1 if r.valid else None
        seq += r.valid
        out.append(
            StagedChunk(
                index=i,
                is_last=i == len(chunks) - 1,
                size=r.size,
                sha256=r.sha256,
                newlines=r.newlines,
                products_seen=r.products_seen,
                products_rejected=r.rejected,
                fatal=r.fatal,
                issues=r.issues,
                seqs=(first, seq) if first is not None else None,
                fast=FastShape(r.fast.first_line, r.fast.lines_per_product) if r.fast else None,
            )
        )
    return out


def _manifest(chunks: list[bytes], **kw: object) -> ChunkManifest:
    values: dict[str, object] = {
        "upload_id": "00000000-0000-0000-0000-000000000001",
        "chunks": len(chunks),
        "bytes": sum(map(len, chunks)),
        "sha256": manifest_digest([hashlib.sha256(c).digest() for c in chunks]),
    }
    return ChunkManifest.model_validate({**values, **kw})


def test_judge_translates_lines_and_positions_to_the_original_file() -> None:
    """A bad product in a late chunk is reported with its line and product index in the whole file."""
    data = _day(3000)
    lines = data.split(b"\n")
    lines[2900] = lines[2900].replace(b"1500.00", b"-1")  # product 2898 is on line 2901
    data = b"\n".join(lines)
    chunks = _cut(data, 20_000, 65_536)
    day = dt.date(2024, 2, 3)
    verdict = judge_staged(
        _manifest(chunks), day, _staged(chunks), policy="lenient", max_products=10**6
    )
    assert (
        verdict.status == "stored"
        and verdict.products_seen == 3000
        and verdict.products_rejected == 1
    )
    assert [(e.code, e.line, e.product_index) for e in verdict.errors] == [("negative", 2901, 2898)]
    strict = judge_staged(
        _manifest(chunks), day, _staged(chunks), policy="strict", max_products=10**6
    )
    assert strict.status == "rejected" and strict.errors[0].line == 2901


def test_judge_refuses_missing_chunks_and_wrong_checksums() -> None:
    """A lost chunk is incomplete_upload; bytes that are not the manifest's file are checksum_mismatch."""
    chunks = _cut(_day(2000), 20_000, 65_536)
    day = dt.date(2024, 2, 3)
    staged = _staged(chunks)
    lost = judge_staged(
        _manifest(chunks), day, staged[:2] + staged[3:], policy="lenient", max_products=10**6
    )
    assert lost.status == "rejected" and lost.errors[0].code == "incomplete_upload"
    assert "chunk 2" in lost.errors[0].message
    wrong = judge_staged(
        _manifest(chunks, sha256="0" * 64), day, staged, policy="lenient", max_products=10**6
    )
    assert wrong.errors[0].code == "checksum_mismatch"
    many = judge_staged(_manifest(chunks), day, staged, policy="lenient", max_products=1999)
    assert many.errors[0].code == "too_many_products"


def test_duplicate_ids_across_chunks_keep_their_place_in_the_file() -> None:
    """A product id repeated in a later chunk is reported at its own line and index, naming the first line."""
    chunks = _cut(_day(2000), 20_000, 65_536)
    staged = _staged(chunks)
    later = staged[3]
    assert later.seqs is not None
    dup = DuplicateRow(
        seq=later.seqs[0] + 4,
        pos=None,
        line=None,
        product_id=5,
        first_seq=5,
        first_pos=5,
        first_line=8,
    )
    if later.fast is None:  # the chunk went the normal way: positions were staged
        pytest.skip("chunk 3 did not take the fast lane")
    [issue] = duplicate_issues([dup], staged)
    index = sum(c.products_seen for c in staged[:3]) + 5
    assert issue.product_index == index and issue.line == index + 3
    assert issue.message.endswith("at line 8")


def _first(head: str, n: int = 4) -> bytes:
    body = "".join(
        f"\n    <product><id>{i}</id><name>P {i}</name><quantity>{i}</quantity><price>{i}.5</price>"
        f"<category>C</category></product>"
        for i in range(1, n + 1)
    )
    return (head + body + "\n    ").encode()


def test_first_chunk_takes_the_fast_lane_with_the_lines_of_parse_day() -> None:
    """A clean first chunk: its head through parse_day, its products the fast way, same values and lines."""
    data = _first(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!-- a note -->\n'
        '<sales_data date="2024-03-01">\n  <products>'
    )
    result = read_chunk(data, index=0, last=False, max_products=100, max_issues=10)
    parsed = parse_day(wrap(data, first=True, last=False))
    assert result.fast is not None and result.sales_date == parsed.sales_date == dt.date(2024, 3, 1)
    assert (
        result.products_seen == parsed.products_seen == 4 and not result.fatal and not result.issues
    )
    rows = [r.split("\t") for r in result.fast.copy_text.decode().splitlines()]
    assert [int(r[0]) for r in rows] == [ln.product_id for ln in parsed.lines]
    lines = [result.fast.first_line + k * result.fast.lines_per_product for k in range(4)]
    assert lines == [parsed.id_lines[ln.product_id] for ln in parsed.lines] == [5, 6, 7, 8]


@pytest.mark.parametrize(
    "head",
    [
        '<sales_data date="2024-02-30"><products>',  # a bad date: parse_day's finding
        '<?xml version="1.0" encoding="ISO-8859-1"?><sales_data date="2024-03-01"><products>',
        '<sales_data date="2024-03-01"><products><note>x</note>',
        '<sales_data date="2024-03-01"><products><!-- <product> -->',
        '<sales_data date="2024-03-01" note="a>',
    ],
)
def test_first_chunk_with_an_unusual_head_takes_parse_day(head: str) -> None:
    """Whatever the head holds besides a clean day element, the first chunk is read whole by parse_day."""
    data = _first(head)
    result = read_chunk(data, index=0, last=False, max_products=100, max_issues=10)
    parsed = parse_day(wrap(data, first=True, last=False))
    assert result.fast is None
    assert result.sales_date == parsed.sales_date
    assert len(result.fatal) == len([i for i in parsed.fatal if i.code != "empty_day"])


@pytest.mark.parametrize(
    ("tail", "fast"),
    [
        ("\n  </products>\n</sales_data>\n", True),
        (
            "\n  </products>\n</sales_data>\n<extra/>",
            False,
        ),  # content after the document: parse_day's finding
        ("\n  <!-- c --></products></sales_data>", True),
        ("\n  <note/></products></sales_data>", False),
        ("\n  </products>", False),  # unclosed
    ],
)
def test_last_chunk_takes_the_fast_lane_only_with_a_clean_tail(tail: str, fast: bool) -> None:
    """The last chunk's products go the fast way when its tail is clean; else parse_day reads it whole."""
    data = _first("") + tail.encode()  # blanks, four products, blanks, the tail
    result = read_chunk(data, index=3, last=True, max_products=100, max_issues=10)
    parsed = parse_day(wrap(data, first=False, last=True))
    assert (result.fast is not None) is fast
    if fast:
        assert result.fast is not None and result.products_seen == parsed.products_seen == 4
        assert [result.fast.first_line + k * result.fast.lines_per_product for k in range(4)] == [
            parsed.id_lines[ln.product_id] for ln in parsed.lines
        ]
    else:
        assert len(result.fatal) == len([i for i in parsed.fatal if i.code != "empty_day"])

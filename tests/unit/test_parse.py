"""parse_day: valid documents and document-level (fatal) errors (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest

from service.ingest.parse import parse_day
from service.models import SalesLine

from .xml_builders import SAMPLE, day, fatal_code, issue_codes, listener, many, product

# --- valid documents -------------------------------------------------------------------


def test_valid_sample() -> None:
    """The format's own sample parses into one line with exact values and no issues."""
    parsed = parse_day(SAMPLE)
    assert parsed.fatal == [] and parsed.product_issues == []
    assert parsed.sales_date == dt.date(2024, 1, 1)
    assert parsed.products_seen == 1
    assert parsed.lines == [SalesLine(1, "Product A", "Electronics", 100, Decimal("1500.00"))]


def test_fast_path_lines_equal_dataclass_lines() -> None:
    """Lines built by the fast path are equal to, hash like and are as frozen as SalesLine(...)."""
    line = parse_day(SAMPLE).lines[0]
    expected = SalesLine(1, "Product A", "Electronics", 100, Decimal("1500.00"))
    assert type(line) is SalesLine and line == expected and hash(line) == hash(expected)
    with pytest.raises(AttributeError):
        line.name = "x"  # type: ignore[misc]


def test_bom_declaration_and_pretty_printing() -> None:
    """A UTF-8 BOM, an XML declaration and blanks around the values are accepted."""
    data = b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>\n' + SAMPLE.replace(
        b"<quantity>100</quantity>", b"<quantity>\n   100\n  </quantity>"
    ).replace(b"<id>1</id>", b"<id> 1 </id>")
    parsed = parse_day(data)
    assert parsed.fatal == [] and parsed.product_issues == []
    assert parsed.lines[0].quantity == 100 and parsed.lines[0].product_id == 1


def test_fields_in_any_order_and_unknown_children_ignored() -> None:
    """Field order does not matter and unknown child elements of <product> are ignored."""
    data = day(
        "<product><category>Toys</category><price>0</price><sku>X-1</sku><name>Ball</name>"
        "<quantity>2</quantity><id>7</id></product>"
    )
    parsed = parse_day(data)
    assert parsed.product_issues == [] and parsed.fatal == []
    assert parsed.lines == [SalesLine(7, "Ball", "Toys", 2, Decimal("0"))]


def test_names_are_whitespace_normalized() -> None:
    """Runs of whitespace in names and categories become one space; the ends are trimmed."""
    parsed = parse_day(day(product(name="  Big \t\n  Box  ", category="Home\u00a0 Garden")))
    assert parsed.lines[0].name == "Big Box"
    assert parsed.lines[0].category == "Home Garden"


def test_cdata_name_is_allowed() -> None:
    """A name in CDATA is plain text, markup characters included."""
    parsed = parse_day(day(product(name="<![CDATA[A & B <special>]]>")))
    assert parsed.lines[0].name == "A & B <special>"


def test_processing_instruction_inside_name_does_not_cut_it() -> None:
    """A processing instruction inside <name> is removed and the text around it is kept whole."""
    parsed = parse_day(day(product(name="Prod<?evil x?>uct A")))
    assert parsed.product_issues == []
    assert parsed.lines[0].name == "Product A"


def test_comment_inside_price_is_removed() -> None:
    """A comment inside <price> is removed and the digits around it are joined."""
    parsed = parse_day(day(product(price="15<!-- hidden -->00.00")))
    assert parsed.product_issues == []
    assert parsed.lines[0].price == Decimal("1500.00")


def test_escaped_characters_in_names() -> None:
    """Predefined entities and character references in names are decoded."""
    parsed = parse_day(day(product(name="Tom &amp; Jerry &#8212; &#x41;")))
    assert parsed.lines[0].name == "Tom & Jerry \u2014 A"


def test_limits_that_are_still_valid() -> None:
    """18-digit ids, 9-digit quantities, 10-digit prices, price 0 and 200-character names pass."""
    parsed = parse_day(
        day(
            product(id="9" * 18, quantity="9" * 9, price="9" * 10 + ".99", name="n" * 200),
            product(id="2", price="0"),
            product(id="3", price="0.5"),
        )
    )
    assert parsed.product_issues == []
    assert [ln.product_id for ln in parsed.lines] == [int("9" * 18), 2, 3]
    assert parsed.lines[0].price == Decimal("9999999999.99")


def test_twenty_thousand_products_stream() -> None:
    """A 20,000-product day parses completely, every line in document order."""
    parsed = parse_day(many(20_000))
    assert parsed.fatal == [] and parsed.product_issues == []
    assert parsed.products_seen == 20_000 and len(parsed.lines) == 20_000
    assert [ln.product_id for ln in parsed.lines[:3]] == [1, 2, 3]
    assert parsed.lines[-1] == SalesLine(
        20_000, "Product 20000", "Category 1", 1, Decimal("2001.00")
    )


def test_valid_products_kept_invalid_dropped() -> None:
    """Valid products go to lines, products with an issue only to product_issues; all are counted."""
    parsed = parse_day(day(product(id="1"), product(id="2", quantity="x"), product(id="3")))
    assert [ln.product_id for ln in parsed.lines] == [1, 3]
    assert parsed.products_seen == 3 and parsed.rejected_products == 1


# --- document-level (fatal) errors ---------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n\t ", b"\xef\xbb\xbf  \n"])
def test_empty_body(data: bytes) -> None:
    """An empty or whitespace-only body is empty_body."""
    assert fatal_code(data) == "empty_body"


@pytest.mark.parametrize(
    "data", [b"hello", b'{"date": "2024-01-01", "products": []}', b"[1, 2]", b"  sales_data"]
)
def test_not_xml(data: bytes) -> None:
    """A body that does not start with markup is not_xml."""
    parsed = parse_day(data)
    assert parsed.fatal[0].code == "not_xml"
    if data.startswith(b"{"):
        assert "JSON" in parsed.fatal[0].message


def test_malformed_xml_reports_the_line() -> None:
    """Broken markup is malformed_xml with libxml2's line number."""
    data = day(product(), "<product><id>2</id><name>Oops</product>")
    parsed = parse_day(data)
    assert parsed.fatal[0].code == "malformed_xml"
    assert parsed.fatal[0].line == 4
    assert parsed.lines == []


@pytest.mark.parametrize(
    "data",
    [
        SAMPLE.replace(b"</sales_data>", b""),
        SAMPLE + b"<extra/>",
        SAMPLE.replace(b"Product A", b"A &undefined; B"),
        SAMPLE.replace(b"Product A", b"A \x01 B"),
        b"<sales_data date='2024-01-01'",
        b"<sales_data date='2024-01-01'><products>" + b"<!-- never closed",
    ],
)
def test_malformed_variants(data: bytes) -> None:
    """Truncated bodies, trailing content, undefined entities and control bytes are malformed_xml."""
    assert fatal_code(data) == "malformed_xml"


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe" + SAMPLE.decode().encode("utf-16-le"),
        b"\xfe\xff" + SAMPLE.decode().encode("utf-16-be"),
        SAMPLE.decode().encode("utf-16-le"),
        SAMPLE.decode().encode("utf-16-be"),
        b'<?xml version="1.0" encoding="UTF-16"?>\n' + SAMPLE,
        b'<?xml version="1.0" encoding="ISO-8859-1"?>\n' + SAMPLE.replace(b"Product A", b"Caf\xe9"),
        b"<?xml version='1.0' encoding='windows-1251'?>\n" + SAMPLE,
    ],
)
def test_bad_encoding(data: bytes) -> None:
    """UTF-16/32 (with or without BOM) and any declared encoding but UTF-8 are bad_encoding."""
    assert fatal_code(data) == "bad_encoding"


def test_invalid_utf8_bytes_report_the_line() -> None:
    """Bytes that are not UTF-8 are bad_encoding with the line they are on."""
    data = day(product(id="1"), product(id="2", name="Cafe!")).replace(b"Cafe!", b"Caf\xe9")
    parsed = parse_day(data)
    assert parsed.fatal[0].code == "bad_encoding"
    assert parsed.fatal[0].line == 4


def test_invalid_utf8_far_into_a_large_body() -> None:
    """An invalid byte deep in a large body is found while streaming."""
    data = many(3000)
    cut = len(data) - 500
    data = data[:cut] + b"\xc3\x28" + data[cut + 2 :]
    assert fatal_code(data) == "bad_encoding"


def test_forbidden_dtd_external_file_entity() -> None:
    """An external entity to a local file is refused before parsing; nothing of the file leaks."""
    data = day(product(name="&e;"), prolog='<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>')
    parsed = parse_day(data)
    assert [i.code for i in parsed.fatal] == ["forbidden_dtd"]
    assert parsed.lines == [] and parsed.product_issues == []
    assert "root:" not in repr(parsed)


def test_forbidden_dtd_url_entity_makes_no_connection() -> None:
    """An external entity to a URL is refused and no connection is attempted."""
    with listener() as server:
        data = day(
            product(name="&e;"),
            prolog=f'<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:{server.port}/x">]>',
        )
        assert fatal_code(data) == "forbidden_dtd"
    assert server.connections == 0


def test_forbidden_external_dtd_makes_no_connection() -> None:
    """An external DTD is refused and not fetched."""
    with listener() as server:
        data = day(
            product(), prolog=f'<!DOCTYPE sales_data SYSTEM "http://127.0.0.1:{server.port}/s.dtd">'
        )
        assert fatal_code(data) == "forbidden_dtd"
    assert server.connections == 0


def test_forbidden_parameter_entities() -> None:
    """Parameter entities (local and remote) are refused without any fetch."""
    with listener() as server:
        data = day(
            product(),
            prolog=(
                f'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:{server.port}/p">'
                "<!ENTITY % q \"<!ENTITY r 'x'>\"> %p; %q;]>"
            ),
        )
        assert fatal_code(data) == "forbidden_dtd"
    assert server.connections == 0


def test_billion_laughs_is_refused_quickly() -> None:
    """The billion laughs entity bomb is refused at once."""
    ents = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)
    )
    data = day(product(name="&a9;"), prolog=f"<!DOCTYPE x [{ents}]>")
    started = time.perf_counter()
    assert fatal_code(data) == "forbidden_dtd"
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    "prolog",
    [
        '<?xml version="1.0"?>\n<!-- a comment --><?pi x?>\n<!doctype sales_data>',
        "<!ENTITY e 'x'>",
        "<!-- <!DOCTYPE in a comment is fine --><!DOCTYPE sales_data []>",
    ],
)
def test_forbidden_dtd_anywhere_in_the_prolog(prolog: str) -> None:
    """A DOCTYPE or ENTITY after the declaration, comments or PIs of the prolog is still refused."""
    assert fatal_code(day(product(), prolog=prolog)) == "forbidden_dtd"


def test_dtd_inside_a_comment_is_not_a_dtd() -> None:
    """The text <!DOCTYPE inside a prolog comment is only a comment."""
    parsed = parse_day(day(product(), prolog="<!-- <!DOCTYPE x> -->"))
    assert parsed.fatal == [] and len(parsed.lines) == 1


def test_hardened_parser_itself_fetches_nothing() -> None:
    """Even without the prolog check, the parser configuration resolves no external entity or DTD."""
    from lxml import etree

    from service.xmltools import hardened_parser

    with listener() as server:
        docs = [
            f'<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:{server.port}/x">]><x>&e;</x>',
            f'<!DOCTYPE x SYSTEM "http://127.0.0.1:{server.port}/x.dtd"><x>a</x>',
            '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        ]
        for doc in docs:
            parser = hardened_parser(events=("end",))
            try:
                parser.feed(doc.encode())
                root = parser.close()
            except etree.XMLSyntaxError:
                continue
            assert "root:" not in (root.text or "")
    assert server.connections == 0


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b'<sales date="2024-01-01"><products/></sales>', "<sales>"),
        (b'<sales_data xmlns="urn:x" date="2024-01-01"><products/></sales_data>', '"urn:x"'),
        (b'<s:sales_data xmlns:s="urn:s" date="2024-01-01"><products/></s:sales_data>', '"urn:s"'),
        (b'<Sales_Data date="2024-01-01"/>', "<Sales_Data>"),
        (b'<x:sales_data date="2024-01-01"/>', "<x:sales_data>"),
    ],
)
def test_bad_root(data: bytes, found: str) -> None:
    """A root other than <sales_data> without namespace is bad_root, naming what was found."""
    parsed = parse_day(data)
    assert parsed.fatal[0].code == "bad_root"
    assert found in parsed.fatal[0].message


def test_missing_date() -> None:
    """A root without a date attribute is missing_date."""
    parsed = parse_day(SAMPLE.replace(b' date="2024-01-01"', b""))
    assert parsed.fatal[0].code == "missing_date" and parsed.fatal[0].field == "date"
    assert parsed.sales_date is None and parsed.lines == []


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "0000-01-01",
        "20240101",
        "2024-1-01",
        " 2024-01-01",
        "2024-01-01T00:00",
        "٢٠٢٤-٠١-٠١",
        "２０２４-０１-０１",
        "",
    ],
)
def test_bad_date(value: str) -> None:
    """A date that is not ASCII YYYY-MM-DD or not a real day is bad_date, quoting the value."""
    parsed = parse_day(day(product(), date=value))
    assert parsed.fatal[0].code == "bad_date"
    assert value[:40] in parsed.fatal[0].message


def test_bad_date_message_is_truncated() -> None:
    """A long bad date is cut to 40 characters in the message."""
    parsed = parse_day(day(product(), date="9" * 500))
    message = parsed.fatal[0].message
    assert parsed.fatal[0].code == "bad_date"
    assert "9" * 40 in message and "9" * 41 not in message


def test_bad_date_still_reports_product_issues() -> None:
    """After a bad date the products are still checked, so every problem is reported at once."""
    parsed = parse_day(day(product(id="1"), product(id="x"), date="2024-02-30"))
    assert [i.code for i in parsed.fatal] == ["bad_date"]
    assert issue_codes(parsed) == ["bad_integer"]
    assert parsed.lines == [] and parsed.products_seen == 2


@pytest.mark.parametrize(
    "data",
    [
        b'<sales_data date="2024-01-01"/>',
        b'<sales_data date="2024-01-01"><product/></sales_data>',
        b'<sales_data date="2024-01-01"><x><products/></x></sales_data>',
    ],
)
def test_missing_products(data: bytes) -> None:
    """A root without a <products> child is missing_products."""
    assert fatal_code(data) == "missing_products"


def test_empty_day() -> None:
    """<products> without any <product> is empty_day."""
    assert fatal_code(day()) == "empty_day"
    assert (
        fatal_code(b'<sales_data date="2024-01-01"><products>\n</products></sales_data>')
        == "empty_day"
    )


def test_second_products_element() -> None:
    """A second <products> element is refused as unexpected_element."""
    data = (
        b'<sales_data date="2024-01-01"><products>' + product().encode() + b"</products>"
        b"<products>" + product(id="2").encode() + b"</products></sales_data>"
    )
    assert fatal_code(data) == "unexpected_element"


def test_too_many_products() -> None:
    """More products than max_products is too_many_products, without reading on."""
    parsed = parse_day(day(*(product(id=str(i)) for i in range(1, 6))), max_products=3)
    assert parsed.fatal[0].code == "too_many_products"
    assert parsed.lines == []


def test_ten_thousand_levels_return_quickly() -> None:
    """10,000 nested elements are refused as too_deep at once (libxml2 stops at 256)."""
    data = (
        b'<sales_data date="2024-01-01"><products><product><name>'
        + b"<a>" * 10_000
        + b"</a>" * 10_000
    )
    data += b"</name></product></products></sales_data>"
    started = time.perf_counter()
    assert fatal_code(data) == "too_deep"
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("where", ["name", "products", "root"])
def test_too_deep_beyond_max_depth(where: str) -> None:
    """Nesting past max_depth (but under libxml2's 256) is too_deep, wherever it is."""
    deep = "<a>" * 20 + "</a>" * 20
    if where == "name":
        data = day(product(name=f"x{deep}"))
    elif where == "products":
        data = day(product(), deep)
    else:
        data = day(product()).replace(b"</sales_data>", deep.encode() + b"</sales_data>")
    parsed = parse_day(data, max_depth=16)
    assert [i.code for i in parsed.fatal] == ["too_deep"]
    assert "16" in parsed.fatal[0].message


def test_nesting_within_max_depth_is_allowed_outside_products() -> None:
    """Unknown elements nested within max_depth are ignored."""
    data = day(product(extra="<meta><a><b>c</b></a></meta>"))
    parsed = parse_day(data)
    assert parsed.fatal == [] and len(parsed.lines) == 1


def test_twenty_megabyte_text_node_is_too_large() -> None:
    """A 20 MB text node exceeds libxml2's limit and is too_large."""
    data = day(product(name="x" * 20_000_000))
    started = time.perf_counter()
    assert fatal_code(data) == "too_large"
    assert time.perf_counter() - started < 5


def test_too_many_issues() -> None:
    """More product problems than max_issues make the whole day fatal."""
    parsed = parse_day(day(*(product(id=str(i), price="x") for i in range(1, 20))), max_issues=10)
    assert parsed.fatal[0].code == "too_many_issues"
    assert len(parsed.product_issues) == 11

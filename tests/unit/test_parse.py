"""parse_day: the full parse and validation of one sales day (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest

from service.ingest import parse as parse_module
from service.ingest.parse import parse_day
from service.models import ParsedDay, SalesLine

FIELDS = ("id", "name", "quantity", "price", "category")
SAMPLE = b"""<sales_data date="2024-01-01">
  <products>
    <product><id>1</id><name>Product A</name><quantity>100</quantity><price>1500.00</price><category>Electronics</category></product>
  </products>
</sales_data>"""


# --- builders shared with test_precheck.py ------------------------------------------

def product(id: str | None = "1", name: str | None = "Product A", quantity: str | None = "100",
            price: str | None = "1500.00", category: str | None = "Electronics", *, extra: str = "") -> str:
    """One <product> on one line; a field given as None is left out."""
    values = dict(zip(FIELDS, (id, name, quantity, price, category), strict=True))
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in values.items() if v is not None)
    return f"<product>{inner}{extra}</product>"


def day(*products: str, date: str = "2024-01-01", prolog: str = "") -> bytes:
    """A document with one product per line: product N is on line N + 2 (N + 3 with a prolog)."""
    lines = [prolog] if prolog else []
    lines += [f'<sales_data date="{date}">', "<products>", *products, "</products>", "</sales_data>"]
    return "\n".join(lines).encode()


def many(n: int) -> bytes:
    """A pretty-printed day of ``n`` distinct valid products."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<sales_data date="2024-01-01">\n  <products>\n']
    for i in range(1, n + 1):
        parts.append(f"    <product>\n      <id>{i}</id>\n      <name>Product {i}</name>\n"
                     f"      <quantity>{i % 500 + 1}</quantity>\n      <price>{i % 9000 + 1}.{i % 100:02d}</price>\n"
                     f"      <category>Category {i % 7}</category>\n    </product>\n")
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
        b"<quantity>100</quantity>", b"<quantity>\n   100\n  </quantity>").replace(b"<id>1</id>", b"<id> 1 </id>")
    parsed = parse_day(data)
    assert parsed.fatal == [] and parsed.product_issues == []
    assert parsed.lines[0].quantity == 100 and parsed.lines[0].product_id == 1


def test_fields_in_any_order_and_unknown_children_ignored() -> None:
    """Field order does not matter and unknown child elements of <product> are ignored."""
    data = day("<product><category>Toys</category><price>0</price><sku>X-1</sku><name>Ball</name>"
               "<quantity>2</quantity><id>7</id></product>")
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
    parsed = parse_day(day(product(id="9" * 18, quantity="9" * 9, price="9" * 10 + ".99", name="n" * 200),
                           product(id="2", price="0"), product(id="3", price="0.5")))
    assert parsed.product_issues == []
    assert [ln.product_id for ln in parsed.lines] == [int("9" * 18), 2, 3]
    assert parsed.lines[0].price == Decimal("9999999999.99")


def test_twenty_thousand_products_stream() -> None:
    """A 20,000-product day parses completely, every line in document order."""
    parsed = parse_day(many(20_000))
    assert parsed.fatal == [] and parsed.product_issues == []
    assert parsed.products_seen == 20_000 and len(parsed.lines) == 20_000
    assert [ln.product_id for ln in parsed.lines[:3]] == [1, 2, 3]
    assert parsed.lines[-1] == SalesLine(20_000, "Product 20000", "Category 1", 1, Decimal("2001.00"))


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


@pytest.mark.parametrize("data", [b"hello", b'{"date": "2024-01-01", "products": []}', b"[1, 2]", b"  sales_data"])
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


@pytest.mark.parametrize("data", [
    SAMPLE.replace(b"</sales_data>", b""),
    SAMPLE + b"<extra/>",
    SAMPLE.replace(b"Product A", b"A &undefined; B"),
    SAMPLE.replace(b"Product A", b"A \x01 B"),
    b"<sales_data date='2024-01-01'",
    b"<sales_data date='2024-01-01'><products>" + b"<!-- never closed",
])
def test_malformed_variants(data: bytes) -> None:
    """Truncated bodies, trailing content, undefined entities and control bytes are malformed_xml."""
    assert fatal_code(data) == "malformed_xml"


@pytest.mark.parametrize("data", [
    b"\xff\xfe" + SAMPLE.decode().encode("utf-16-le"),
    b"\xfe\xff" + SAMPLE.decode().encode("utf-16-be"),
    SAMPLE.decode().encode("utf-16-le"),
    SAMPLE.decode().encode("utf-16-be"),
    '<?xml version="1.0" encoding="UTF-16"?>\n'.encode() + SAMPLE,
    b'<?xml version="1.0" encoding="ISO-8859-1"?>\n' + SAMPLE.replace(b"Product A", b"Caf\xe9"),
    b"<?xml version='1.0' encoding='windows-1251'?>\n" + SAMPLE,
])
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
    data = data[:cut] + b"\xc3\x28" + data[cut + 2:]
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
        data = day(product(name="&e;"),
                   prolog=f'<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:{server.port}/x">]>')
        assert fatal_code(data) == "forbidden_dtd"
    assert server.connections == 0


def test_forbidden_external_dtd_makes_no_connection() -> None:
    """An external DTD is refused and not fetched."""
    with listener() as server:
        data = day(product(), prolog=f'<!DOCTYPE sales_data SYSTEM "http://127.0.0.1:{server.port}/s.dtd">')
        assert fatal_code(data) == "forbidden_dtd"
    assert server.connections == 0


def test_forbidden_parameter_entities() -> None:
    """Parameter entities (local and remote) are refused without any fetch."""
    with listener() as server:
        data = day(product(), prolog=(f'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:{server.port}/p">'
                                      '<!ENTITY % q "<!ENTITY r \'x\'>"> %p; %q;]>'))
        assert fatal_code(data) == "forbidden_dtd"
    assert server.connections == 0


def test_billion_laughs_is_refused_quickly() -> None:
    """The billion laughs entity bomb is refused at once."""
    ents = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    data = day(product(name="&a9;"), prolog=f"<!DOCTYPE x [{ents}]>")
    started = time.perf_counter()
    assert fatal_code(data) == "forbidden_dtd"
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("prolog", [
    '<?xml version="1.0"?>\n<!-- a comment --><?pi x?>\n<!doctype sales_data>',
    "<!ENTITY e 'x'>",
    "<!-- <!DOCTYPE in a comment is fine --><!DOCTYPE sales_data []>",
])
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

    from service.ingest.rules import hardened_parser

    with listener() as server:
        docs = [f'<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:{server.port}/x">]><x>&e;</x>',
                f'<!DOCTYPE x SYSTEM "http://127.0.0.1:{server.port}/x.dtd"><x>a</x>',
                '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>']
        for doc in docs:
            parser = hardened_parser(events=("end",))
            try:
                parser.feed(doc.encode())
                root = parser.close()
            except etree.XMLSyntaxError:
                continue
            assert "root:" not in (root.text or "")
    assert server.connections == 0


@pytest.mark.parametrize(("data", "found"), [
    (b'<sales date="2024-01-01"><products/></sales>', "<sales>"),
    (b'<sales_data xmlns="urn:x" date="2024-01-01"><products/></sales_data>', '"urn:x"'),
    (b'<s:sales_data xmlns:s="urn:s" date="2024-01-01"><products/></s:sales_data>', '"urn:s"'),
    (b'<Sales_Data date="2024-01-01"/>', "<Sales_Data>"),
    (b'<x:sales_data date="2024-01-01"/>', "<x:sales_data>"),
])
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


@pytest.mark.parametrize("value", ["2024-02-30", "2023-02-29", "2024-13-01", "0000-01-01", "20240101",
                                   "2024-1-01", " 2024-01-01", "2024-01-01T00:00", "٢٠٢٤-٠١-٠١",
                                   "２０２４-０１-０１", ""])
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


@pytest.mark.parametrize("data", [b'<sales_data date="2024-01-01"/>',
                                  b'<sales_data date="2024-01-01"><product/></sales_data>',
                                  b'<sales_data date="2024-01-01"><x><products/></x></sales_data>'])
def test_missing_products(data: bytes) -> None:
    """A root without a <products> child is missing_products."""
    assert fatal_code(data) == "missing_products"


def test_empty_day() -> None:
    """<products> without any <product> is empty_day."""
    assert fatal_code(day()) == "empty_day"
    assert fatal_code(b'<sales_data date="2024-01-01"><products>\n</products></sales_data>') == "empty_day"


def test_second_products_element() -> None:
    """A second <products> element is refused as unexpected_element."""
    data = (b'<sales_data date="2024-01-01"><products>' + product().encode() + b"</products>"
            b"<products>" + product(id="2").encode() + b"</products></sales_data>")
    assert fatal_code(data) == "unexpected_element"


def test_too_many_products() -> None:
    """More products than max_products is too_many_products, without reading on."""
    parsed = parse_day(day(*(product(id=str(i)) for i in range(1, 6))), max_products=3)
    assert parsed.fatal[0].code == "too_many_products"
    assert parsed.lines == []


def test_ten_thousand_levels_return_quickly() -> None:
    """10,000 nested elements are refused as too_deep at once (libxml2 stops at 256)."""
    data = b'<sales_data date="2024-01-01"><products><product><name>' + b"<a>" * 10_000 + b"</a>" * 10_000
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


def test_internal_error_instead_of_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug of ours becomes an internal_error issue rather than an exception."""
    def broken(data: bytes) -> None:
        raise RuntimeError("boom")
    monkeypatch.setattr(parse_module, "read_head", broken)
    parsed = parse_day(SAMPLE)
    assert [i.code for i in parsed.fatal] == ["internal_error"]


def test_random_garbage_never_raises() -> None:
    """Randomly damaged documents always give a ParsedDay, never an exception."""
    rng = random.Random(20240101)
    base = day(product(), product(id="2", name="Ünïcödé"), prolog='<?xml version="1.0"?>')
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        parsed = parse_day(bytes(data))
        assert isinstance(parsed, ParsedDay)
        assert not (parsed.fatal and parsed.lines)


# --- product-level errors --------------------------------------------------------------------

@pytest.mark.parametrize("field", FIELDS)
def test_missing_field(field: str) -> None:
    """A product without one of its five fields is missing_field, on the product's line."""
    parsed = parse_day(day(product(**{field: None})))  # type: ignore[arg-type]
    [issue] = parsed.product_issues
    assert (issue.code, issue.field, issue.line, issue.product_index) == ("missing_field", field, 3, 1)
    assert parsed.lines == []


@pytest.mark.parametrize("field", FIELDS)
def test_empty_field(field: str) -> None:
    """A field that is empty or blank is empty_field."""
    parsed = parse_day(day(product(**{field: "  \n "})))  # type: ignore[arg-type]
    assert [(i.code, i.field) for i in parsed.product_issues] == [("empty_field", field)]


def test_empty_self_closing_field() -> None:
    """A self-closing field element is empty_field."""
    parsed = parse_day(day("<product><id>1</id><name/><quantity>1</quantity><price>1</price>"
                           "<category>C</category></product>"))
    assert [(i.code, i.field) for i in parsed.product_issues] == [("empty_field", "name")]


@pytest.mark.parametrize("field", ["name", "category"])
def test_too_long(field: str) -> None:
    """A name or category over 200 characters (after normalization) is too_long."""
    parsed = parse_day(day(product(**{field: "x" * 201})))  # type: ignore[arg-type]
    [issue] = parsed.product_issues
    assert (issue.code, issue.field) == ("too_long", field)
    assert "201" in issue.message


@pytest.mark.parametrize("char", ["\x7f", "\x85", "\x9b", "\u200b", "\u202e", "\u2066", "\u2028", "\ufeff"])
def test_bad_characters(char: str) -> None:
    """Control and invisible formatting characters in names are bad_characters."""
    parsed = parse_day(day(product(name=f"Evil{char}Name")))
    [issue] = parsed.product_issues
    assert (issue.code, issue.field) == ("bad_characters", "name")
    assert f"U+{ord(char):04X}" in issue.message


@pytest.mark.parametrize("value", ["abc", "1_000", "1 00", "+5", "1.0", "1e3", "٣", "１２", "0x10", "١٠٠",
                                   "9" * 19, "−5"])
def test_bad_integer_id(value: str) -> None:
    """An id that is not 1-18 ASCII digits is bad_integer (no int() on raw text)."""
    parsed = parse_day(day(product(id=value)))
    [issue] = parsed.product_issues
    assert (issue.code, issue.field) == ("bad_integer", "id")
    assert issue.product_id == value


@pytest.mark.parametrize("value", ["1_000", " 1 00 ", "+5", "٣", "１２", "100.0", "9" * 10, "ten"])
def test_bad_integer_quantity(value: str) -> None:
    """A quantity that is not 1-9 ASCII digits is bad_integer."""
    parsed = parse_day(day(product(quantity=value)))
    assert [(i.code, i.field) for i in parsed.product_issues] == [("bad_integer", "quantity")]


@pytest.mark.parametrize(("field", "value"), [("id", "0"), ("id", "000"), ("quantity", "0"), ("quantity", "-5"),
                                              ("id", "-1")])
def test_not_positive(field: str, value: str) -> None:
    """Zero or negative ids and quantities are not_positive."""
    parsed = parse_day(day(product(**{field: value})))  # type: ignore[arg-type]
    assert [(i.code, i.field) for i in parsed.product_issues] == [("not_positive", field)]


@pytest.mark.parametrize("value", ["-5", "-0.01", "-1500.00"])
def test_negative_price(value: str) -> None:
    """A price with a minus sign is negative."""
    parsed = parse_day(day(product(price=value)))
    assert [(i.code, i.field) for i in parsed.product_issues] == [("negative", "price")]


def test_too_many_decimals() -> None:
    """A price with more than two decimals is too_many_decimals, with a clear message."""
    parsed = parse_day(day(product(price="1.234")))
    [issue] = parsed.product_issues
    assert issue.code == "too_many_decimals"
    assert issue.message == 'price "1.234" has more than 2 decimal places'


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e3", "1_500", "1,5", "1500.", ".5", "+1", "12345678901",
                                   "１５", "1 500", "0x10", "1.2.3"])
def test_bad_decimal(value: str) -> None:
    """A price that is not digits with an optional point and 1-2 decimals is bad_decimal."""
    parsed = parse_day(day(product(price=value)))
    assert [(i.code, i.field) for i in parsed.product_issues] == [("bad_decimal", "price")]


def test_duplicate_field() -> None:
    """A field given twice in one product is duplicate_field on the second one."""
    data = day("<product><id>1</id><name>A</name><quantity>1</quantity>\n<price>1</price>\n<price>2</price>"
               "<category>C</category></product>")
    [issue] = parse_day(data).product_issues
    assert (issue.code, issue.field, issue.line) == ("duplicate_field", "price", 5)
    assert "line 4" in issue.message


def test_duplicate_id_reports_the_later_product() -> None:
    """A repeated id is duplicate_id on the later product, naming the first one's line."""
    parsed = parse_day(day(product(id="5"), product(id="6"), product(id="5", name="Other")))
    [issue] = parsed.product_issues
    assert (issue.code, issue.line, issue.product_index, issue.product_id) == ("duplicate_id", 5, 3, "5")
    assert "line 3" in issue.message
    assert [ln.product_id for ln in parsed.lines] == [5, 6]


def test_duplicate_id_on_one_line() -> None:
    """Duplicate ids are found in a document written on a single line."""
    data = day(product(id="5"), product(id="05")).replace(b"\n", b"")
    assert issue_codes(parse_day(data)) == ["duplicate_id"]


def test_unexpected_element_in_products() -> None:
    """An element other than <product> inside <products> is a product-level unexpected_element."""
    parsed = parse_day(day(product(id="1"), "<item><id>2</id></item>", product(id="3")))
    [issue] = parsed.product_issues
    assert (issue.code, issue.line, issue.product_index) == ("unexpected_element", 4, None)
    assert "<item>" in issue.message
    assert [ln.product_id for ln in parsed.lines] == [1, 3]
    assert parsed.products_seen == 2


def test_unexpected_element_after_last_product() -> None:
    """A stray element after the last product is reported too."""
    parsed = parse_day(day(product(id="1"), "<note>hi</note>"))
    assert issue_codes(parsed) == ["unexpected_element"]


def test_element_inside_a_field() -> None:
    """A field holding an element instead of text is unexpected_element, not a silently cut value."""
    parsed = parse_day(day(product(name="Prod<b>uct</b> A")))
    [issue] = parsed.product_issues
    assert (issue.code, issue.field) == ("unexpected_element", "name")


def test_every_problem_of_a_product_with_its_line() -> None:
    """All problems of one product are reported, each with the line of its field."""
    data = day("<product>\n<id>x1</id>\n<name></name>\n<quantity>0</quantity>\n<price>1.234</price>\n"
               "<category>A\x7fB</category>\n</product>", product(id="2"))
    parsed = parse_day(data)
    got = [(i.code, i.field, i.line, i.product_index, i.product_id) for i in parsed.product_issues]
    assert got == [
        ("bad_integer", "id", 4, 1, "x1"),
        ("empty_field", "name", 5, 1, "x1"),
        ("not_positive", "quantity", 6, 1, "x1"),
        ("too_many_decimals", "price", 7, 1, "x1"),
        ("bad_characters", "category", 8, 1, "x1"),
    ]
    assert [ln.product_id for ln in parsed.lines] == [2]
    assert parsed.rejected_products == 1


def test_missing_and_bad_fields_together() -> None:
    """Missing fields and bad values of one product are all reported."""
    parsed = parse_day(day(product(id="-3", name=None, price="NaN", category=None)))
    assert issue_codes(parsed) == ["not_positive", "missing_field", "bad_decimal", "missing_field"]


def test_messages_quote_values_truncated() -> None:
    """Values quoted in messages are cut to 40 characters."""
    parsed = parse_day(day(product(price="x" * 300)))
    [issue] = parsed.product_issues
    assert "x" * 40 in issue.message and "x" * 41 not in issue.message

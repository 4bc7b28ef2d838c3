"""parse_day: product-level errors, each reported with line, field and position."""

from __future__ import annotations

import pytest

from service.ingest.parse import parse_day

from .xml_builders import FIELDS, day, issue_codes, product

# --- product-level errors --------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
def test_missing_field(field: str) -> None:
    """A product without one of its five fields is missing_field, on the product's line."""
    parsed = parse_day(day(product(**{field: None})))  # type: ignore[arg-type]
    [issue] = parsed.product_issues
    assert (issue.code, issue.field, issue.line, issue.product_index) == (
        "missing_field",
        field,
        3,
        1,
    )
    assert parsed.lines == []


@pytest.mark.parametrize("field", FIELDS)
def test_empty_field(field: str) -> None:
    """A field that is empty or blank is empty_field."""
    parsed = parse_day(day(product(**{field: "  \n "})))
    assert [(i.code, i.field) for i in parsed.product_issues] == [("empty_field", field)]


def test_empty_self_closing_field() -> None:
    """A self-closing field element is empty_field."""
    parsed = parse_day(
        day(
            "<product><id>1</id><name/><quantity>1</quantity><price>1</price>"
            "<category>C</category></product>"
        )
    )
    assert [(i.code, i.field) for i in parsed.product_issues] == [("empty_field", "name")]


@pytest.mark.parametrize("field", ["name", "category"])
def test_too_long(field: str) -> None:
    """A name or category over 200 characters (after normalization) is too_long."""
    parsed = parse_day(day(product(**{field: "x" * 201})))
    [issue] = parsed.product_issues
    assert (issue.code, issue.field) == ("too_long", field)
    assert "201" in issue.message


@pytest.mark.parametrize(
    "char", ["\x7f", "\x85", "\x9b", "\u200b", "\u202e", "\u2066", "\u2028", "\ufeff"]
)
def test_bad_characters(char: str) -> None:
    """Control and invisible formatting characters in names are bad_characters."""
    parsed = parse_day(day(product(name=f"Evil{char}Name")))
    [issue] = parsed.product_issues
    assert (issue.code, issue.field) == ("bad_characters", "name")
    assert f"U+{ord(char):04X}" in issue.message


@pytest.mark.parametrize(
    "value",
    ["abc", "1_000", "1 00", "+5", "1.0", "1e3", "٣", "１２", "0x10", "١٠٠", "9" * 19, "−5"],
)
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


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "0"), ("id", "000"), ("quantity", "0"), ("quantity", "-5"), ("id", "-1")],
)
def test_not_positive(field: str, value: str) -> None:
    """Zero or negative ids and quantities are not_positive."""
    parsed = parse_day(day(product(**{field: value})))
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


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "Infinity",
        "1e3",
        "1_500",
        "1,5",
        "1500.",
        ".5",
        "+1",
        "12345678901",
        "１５",
        "1 500",
        "0x10",
        "1.2.3",
    ],
)
def test_bad_decimal(value: str) -> None:
    """A price that is not digits with an optional point and 1-2 decimals is bad_decimal."""
    parsed = parse_day(day(product(price=value)))
    assert [(i.code, i.field) for i in parsed.product_issues] == [("bad_decimal", "price")]


def test_duplicate_field() -> None:
    """A field given twice in one product is duplicate_field on the second one."""
    data = day(
        "<product><id>1</id><name>A</name><quantity>1</quantity>\n<price>1</price>\n<price>2</price>"
        "<category>C</category></product>"
    )
    [issue] = parse_day(data).product_issues
    assert (issue.code, issue.field, issue.line) == ("duplicate_field", "price", 5)
    assert "line 4" in issue.message


def test_duplicate_id_reports_the_later_product() -> None:
    """A repeated id is duplicate_id on the later product, naming the first one's line."""
    parsed = parse_day(day(product(id="5"), product(id="6"), product(id="5", name="Other")))
    [issue] = parsed.product_issues
    assert (issue.code, issue.line, issue.product_index, issue.product_id) == (
        "duplicate_id",
        5,
        3,
        "5",
    )
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
    data = day(
        "<product>\n<id>x1</id>\n<name></name>\n<quantity>0</quantity>\n<price>1.234</price>\n"
        "<category>A\x7fB</category>\n</product>",
        product(id="2"),
    )
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

"""precheck: the gateway's cheap check, reading only the beginning of a document."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pytest

from service.ingest.parse import parse_day
from service.xmlhead import HeadOk, HeadRefused, precheck

from .xml_builders import SAMPLE, day, listener, many, product

# Documents refused by the document-level rules, with the code both checks must give.
REFUSED = {
    "empty": (b"", "empty_body"),
    "blank": (b" \r\n\t", "empty_body"),
    "hello": (b"hello", "not_xml"),
    "json": (b'{"date": "2024-01-01"}', "not_xml"),
    "utf16": (b"\xff\xfe" + SAMPLE.decode().encode("utf-16-le"), "bad_encoding"),
    "utf16-no-bom": (SAMPLE.decode().encode("utf-16-be"), "bad_encoding"),
    "latin1": (b'<?xml version="1.0" encoding="ISO-8859-1"?>' + SAMPLE, "bad_encoding"),
    "invalid-utf8-in-root": (SAMPLE.replace(b"2024-01-01", b"2024-01-01\xff"), "bad_encoding"),
    "doctype": (
        day(product(), prolog='<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'),
        "forbidden_dtd",
    ),
    "entity": (day(product(), prolog="<!ENTITY e 'x'>"), "forbidden_dtd"),
    "root": (b'<sales date="2024-01-01"/>', "bad_root"),
    "namespace": (b'<sales_data xmlns="urn:x" date="2024-01-01"/>', "bad_root"),
    "no-date": (b"<sales_data><products/></sales_data>", "missing_date"),
    "bad-date": (day(product(), date="2024-02-30"), "bad_date"),
    "arabic-date": (day(product(), date="٢٠٢٤-٠١-٠١"), "bad_date"),
    "truncated": (b'<sales_data date="2024', "malformed_xml"),
    "deep-prolog": (b"<?xml version='1.0'?><<<", "malformed_xml"),
}


def test_valid_sample() -> None:
    """The sample gives its date and no issue."""
    assert precheck(SAMPLE) == HeadOk(sales_date=dt.date(2024, 1, 1))


def test_result_is_frozen() -> None:
    """The check's result cannot be changed after it is made."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        precheck(SAMPLE).sales_date = None  # type: ignore[misc,union-attr]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_like_the_full_parse(name: str) -> None:
    """Every document-level refusal gives the same code in precheck as in parse_day."""
    data, code = REFUSED[name]
    result = precheck(data)
    assert isinstance(result, HeadRefused)
    assert result.issue.code == code
    assert parse_day(data).fatal[0].code == code


def test_reads_only_the_beginning() -> None:
    """Garbage after the root's start tag is not looked at: it is ingest's job."""
    data = (
        b'<sales_data date="2024-03-05"><products>'
        + product().encode() * 100
        + b"<<<not xml at all"
        + b"\xff" * 100
    )
    assert precheck(data) == HeadOk(dt.date(2024, 3, 5))
    assert parse_day(data).fatal[0].code in {"malformed_xml", "bad_encoding"}


def test_root_after_a_long_prolog() -> None:
    """A root start tag far into the body (after long comments) is still found."""
    data = b"<!--" + b"x" * 300_000 + b"-->\n" + SAMPLE
    assert precheck(data) == HeadOk(dt.date(2024, 1, 1))


def test_huge_root_attribute_is_refused() -> None:
    """A root start tag with a 20 MB attribute is too_large, not a hang."""
    data = (
        b'<sales_data date="2024-01-01" pad="' + b"x" * 20_000_000 + b'"><products/></sales_data>'
    )
    result = precheck(data)
    assert isinstance(result, HeadRefused) and result.issue.code == "too_large"


def test_url_entity_makes_no_connection() -> None:
    """A DOCTYPE naming a URL is refused and no connection is attempted."""
    with listener() as server:
        data = day(product(), prolog=f'<!DOCTYPE x SYSTEM "http://127.0.0.1:{server.port}/x.dtd">')
        result = precheck(data)
        assert isinstance(result, HeadRefused) and result.issue.code == "forbidden_dtd"
    assert server.connections == 0


def test_bad_date_message_names_the_value() -> None:
    """A bad date's message quotes the value, cut to 40 characters."""
    result = precheck(day(product(), date="2024-99-99" + "9" * 100))
    assert isinstance(result, HeadRefused)
    issue = result.issue
    assert issue.code == "bad_date" and issue.field == "date"
    assert '"2024-99-99' in issue.message and "9" * 41 not in issue.message


def test_fast_enough() -> None:
    """A 17 KB body is checked thousands of times a second (the bench measures the real figure)."""
    data = many(100)[:17_000]
    started = time.perf_counter()
    for _ in range(1000):
        precheck(data)
    assert time.perf_counter() - started < 1.0


def test_internal_error_instead_of_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug of ours is an internal_error issue, never an exception in the request."""
    import service.xmlhead as module

    def broken(data: bytes) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "read_head", broken)
    result = precheck(SAMPLE)
    assert isinstance(result, HeadRefused) and result.issue.code == "internal_error"

"""contracts/: the XSD and the example files agree with parse_day."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from service.encoding import EncodingRefused, to_utf8
from service.ingest.parse import parse_day

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
VALID = sorted((CONTRACTS / "examples" / "valid").glob("*.xml"))
INVALID = sorted((CONTRACTS / "examples" / "invalid").glob("*.xml"))


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(CONTRACTS / "sales.xsd"), parser))


def test_examples_exist() -> None:
    """There are valid examples and one invalid example per main error code."""
    assert VALID
    assert len(INVALID) >= 20


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_example_parses_cleanly(path: Path) -> None:
    """Every valid example parses with no issue at all (decoded to UTF-8 as the edge does)."""
    parsed = parse_day(to_utf8(path.read_bytes()))
    assert parsed.fatal == [] and parsed.product_issues == []
    assert parsed.lines and len(parsed.lines) == parsed.products_seen


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_example_matches_the_xsd(path: Path, schema: etree.XMLSchema) -> None:
    """Every valid example validates against contracts/sales.xsd."""
    document = etree.fromstring(path.read_bytes(), etree.XMLParser(no_network=True))
    assert schema.validate(document), schema.error_log


def test_sample_day_has_five_products_in_three_categories() -> None:
    """The main example holds 5 products in 3 categories."""
    parsed = parse_day((CONTRACTS / "examples" / "valid" / "day-2024-01-01.xml").read_bytes())
    assert len(parsed.lines) == 5
    assert len({ln.category for ln in parsed.lines}) == 3


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_gives_its_code(path: Path) -> None:
    """Every invalid example yields an issue whose code is its file name (at the edge's
    decoding, or in the parser)."""
    try:
        data = to_utf8(path.read_bytes())
    except EncodingRefused as exc:
        assert exc.issue.code == path.stem
        return
    parsed = parse_day(data)
    codes = {i.code for i in parsed.fatal} | {i.code for i in parsed.product_issues}
    assert path.stem in codes, (path.stem, parsed.fatal, parsed.product_issues)


def test_every_documented_code_has_a_row() -> None:
    """contracts/errors.md has a row for every invalid example's code."""
    table = (CONTRACTS / "errors.md").read_text(encoding="utf-8")
    missing = [p.stem for p in INVALID if f"`{p.stem}`" not in table]
    assert missing == []

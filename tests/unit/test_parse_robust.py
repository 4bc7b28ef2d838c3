"""parse_day never raises: any input becomes a ParsedDay with issues."""

from __future__ import annotations

import random

import pytest

from service.ingest import parse as parse_module
from service.ingest.parse import parse_day
from service.models import ParsedDay

from .xml_builders import SAMPLE, day, product


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

"""The outage filter: a dependency away is a few log lines, whatever its retries."""

from __future__ import annotations

import logging

import pytest

from service.logs import Outages


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, level: int = logging.ERROR, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, "Unable connect to node", None, None)
    rec.__dict__.update(extra)
    return rec


def test_a_thousand_kafka_errors_in_15_s_are_three_lines() -> None:
    """aiokafka errors for 15 s: the first passes, one summary per 10 s, the rest are counted."""
    clock = Clock()
    outages = Outages(summary_seconds=10.0, clock=clock)
    passed: list[logging.LogRecord] = []
    for i in range(1500):
        clock.now = i * 0.01
        rec = record("aiokafka.conn")
        if outages.filter(rec):
            passed.append(rec)
    assert [getattr(r, "outage", None) for r in passed] == ["began", "continues"]
    assert passed[1].__dict__["suppressed"] == 999 and passed[1].__dict__["outage_seconds"] == 10.0
    assert outages.away() == ["kafka"]


def test_recovered_closes_the_outage_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    """recovered() writes one line with how long and how many lines were suppressed, then nothing is away."""
    clock = Clock()
    outages = Outages(summary_seconds=10.0, clock=clock)
    for _ in range(5):
        outages.filter(record("sales_analyzer.consumer", logging.WARNING, dependency="postgresql"))
    clock.now = 4.0
    with caplog.at_level(logging.INFO, logger="sales_analyzer.outage"):
        outages.recovered()
        outages.recovered()  # nothing open: no second line
    ended = [r for r in caplog.records if getattr(r, "outage", None) == "ended"]
    assert len(ended) == 1 and ended[0].__dict__["dependency"] == "postgresql"
    assert ended[0].__dict__["suppressed"] == 4 and ended[0].__dict__["outage_seconds"] == 4.0
    assert outages.away() == []


def test_other_records_and_aiokafka_info_are_untouched_or_dropped() -> None:
    """A record about no dependency passes; aiokafka's INFO lines are dropped unless the root logs DEBUG."""
    outages = Outages(clock=Clock())
    assert outages.filter(record("sales_analyzer.ingest", logging.INFO))
    assert not outages.filter(record("aiokafka.consumer.group_coordinator", logging.INFO))
    assert outages.away() == []

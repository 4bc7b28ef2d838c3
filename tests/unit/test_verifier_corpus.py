"""The verifier over its corpus (tests/unit/verifier_corpus: reports written as models write
them, honest ones in many forms and lies of every kind in each form): every lie caught,
>= 98 % of honest reports verified, >= 99 % of honest figures accepted."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from service.figures.facts import Facts
from service.reporter.verify import Verdict, verify

from .verifier_corpus.build import load

CORPUS = Path(__file__).with_name("verifier_corpus") / "corpus.json"
_NBSP = "\u00a0"


@cache
def corpus() -> list[dict[str, Any]]:
    return load(CORPUS.read_text())


@cache
def _facts(key: str) -> Facts:
    return Facts.model_validate(json.loads(key))


def judge(entry: dict[str, Any]) -> Verdict:
    return verify(entry["text"], _facts(json.dumps(entry["facts"], sort_keys=True)))


def _same(listed: str, lie: str) -> bool:
    """The listed number is the lie as written (with its scale or multiple word, if any)."""
    a, b = listed.replace(_NBSP, " ").strip(), lie.replace(_NBSP, " ").strip()
    return a == b or a.startswith(b + " ") or (a.startswith(b) and not a[len(b)].isdigit())


@dataclass
class Tally:
    reports: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)
    figures: int = 0
    accepted: int = 0
    missed: list[str] = field(default_factory=list)  # lies not caught
    rejected: list[str] = field(default_factory=list)  # honest figures flagged
    collateral: int = 0  # honest figures flagged in lying reports


def tally() -> Tally:
    t = Tally()
    for e in corpus():
        v = judge(e)
        if e["honest"]:
            for form in set(e["forms"]):
                t.reports[form] += 1
                t.passed[form] += v.ok
            t.reports["(all honest reports)"] += 1
            t.passed["(all honest reports)"] += v.ok
            t.figures += len(v.claims)
            t.accepted += sum(c.ok for c in v.claims)
            t.rejected += [
                f"{c.written!r} {c.problem}: {e['text'][:80]!r}" for c in v.claims if not c.ok
            ]
            continue
        lie = e["lie"]
        key = f"lie:{lie['form']}/{lie['kind']}"
        caught = not v.ok and any(_same(n, lie["written"]) for n in v.numbers)
        t.reports[key] += 1
        t.passed[key] += caught
        if not caught:
            t.missed.append(f"{key} {lie['written']!r}: {v.numbers} in {e['text']!r}")
        t.collateral += sum(1 for n in v.numbers if not _same(n, lie["written"]))
    return t


def test_corpus_is_large_and_in_both_languages() -> None:
    """At least 200 reports, in Russian and English, honest and lying."""
    entries = corpus()
    assert len(entries) >= 200
    assert {e["language"] for e in entries} == {"ru", "en"}
    assert {e["honest"] for e in entries} == {True, False}


def test_every_lie_is_caught_and_honest_reports_are_verified() -> None:
    """0 false "verified" (each lie listed with its figure), >= 98 % of honest reports
    verified, >= 99 % of honest figures accepted; counts by form are printed."""
    t = tally()
    for key in sorted(t.reports):
        print(f"{key:45} {t.passed[key]:4}/{t.reports[key]:<4}")
    print(f"honest figures accepted: {t.accepted}/{t.figures}")
    print(f"honest figures flagged in lying reports: {t.collateral}")
    assert not t.missed, "\n".join(t.missed[:20])
    honest = t.reports["(all honest reports)"]
    assert t.passed["(all honest reports)"] >= 0.98 * honest, "\n".join(t.rejected[:20])
    assert t.accepted >= 0.99 * t.figures, "\n".join(t.rejected[:20])

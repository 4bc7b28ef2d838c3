"""The one place that rounds and formats figures for people (and for the LLM).

Money has 2 decimals, percents and average units 1, counts none. Rounding is
half-up (commercial), not Python's default half-even. Russian groups thousands
with a no-break space and uses a decimal comma ("1 500,00", "12,5 %"); English
uses "1,500.00" and "12.5%".

``figures.py`` is the other half of the contract: every number a report may
contain, at the precision shown here and at the roundings a writer commonly
uses (money to 0 and 2 decimals, percents to 0 and 1), so the verifier accepts
exactly what was given.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from .facts import Facts

__all__ = [
    "MONEY",
    "NAME_MAX",
    "NBSP",
    "ONE_DECIMAL",
    "Language",
    "average",
    "clean_name",
    "fact_dates",
    "integer",
    "known_names",
    "money",
    "percent",
    "round_money",
    "round_one",
]

Language = Literal["ru", "en"]

NBSP = "\u00a0"  # keeps "1 500,00" on one line
MONEY = Decimal("0.01")
ONE_DECIMAL = Decimal("0.1")

# Names are data from uploads: capped so a prompt cannot grow with them.
NAME_MAX = 60


def round_money(value: Decimal) -> Decimal:
    return value.quantize(MONEY, rounding=ROUND_HALF_UP)


def round_one(value: Decimal) -> Decimal:
    return value.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def _group(digits: str, sep: str) -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return sep.join(parts)


def _format(value: Decimal, places: int, language: Language, *, signed: bool) -> str:
    if value == 0:
        value = abs(value)  # no "-0,0"
    text = f"{abs(value):.{places}f}"
    whole, _, frac = text.partition(".")
    thousands, point = (NBSP, ",") if language == "ru" else (",", ".")
    out = _group(whole, thousands) + (point + frac if frac else "")
    if value < 0:
        return "-" + out
    return ("+" + out) if signed and value > 0 else out


def money(value: Decimal | None, *, language: Language, signed: bool = False) -> str:
    """1 500,00 / 1,500.00; signed adds "+" to positive changes."""
    if value is None:
        return _missing(language)
    return _format(round_money(value), 2, language, signed=signed)


def percent(value: Decimal | None, *, language: Language, signed: bool = False) -> str:
    """12,5 % / 12.5%."""
    if value is None:
        return _missing(language)
    number = _format(round_one(value), 1, language, signed=signed)
    return f"{number}{NBSP}%" if language == "ru" else f"{number}%"


def integer(value: int, *, language: Language, signed: bool = False) -> str:
    """50 000 / 50,000."""
    return _format(Decimal(value), 0, language, signed=signed)


def average(value: Decimal | None, *, language: Language) -> str:
    """An average count (units per day) with one decimal."""
    if value is None:
        return _missing(language)
    return _format(round_one(value), 1, language, signed=False)


def _missing(language: Language) -> str:
    return "н/д" if language == "ru" else "n/a"


_SPACES = re.compile(r"\s+")


def clean_name(name: str) -> str:
    """A product or category name made safe to show: no control characters or
    line breaks, whitespace collapsed, markdown image/link syntax broken, capped."""
    kept = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in name)
    # An image in a name would be fetched if a report quoting it were rendered.
    kept = kept.replace("![", "[").replace("](", "] (")
    kept = _SPACES.sub(" ", kept).strip()
    if len(kept) > NAME_MAX:
        kept = kept[: NAME_MAX - 1].rstrip() + "…"
    return kept or "-"


def known_names(facts: Facts) -> set[str]:
    """Every product and category name in the facts, as stored and as shown."""
    raw: set[str] = set()
    for p in (*facts.top_by_units, *facts.top_by_revenue):
        raw |= {p.name, p.category}
    raw |= {c.name for c in facts.categories if not c.is_other}
    if facts.history is not None:
        h = facts.history
        raw |= {m.name for m in (*h.movers_up, *h.movers_down)}
        raw |= set(h.new_products.names) | set(h.missing_products.names)
    return {n for name in raw for n in (name, clean_name(name)) if n.strip()}


def fact_dates(facts: Facts) -> set[dt.date]:
    dates = {facts.sales_date}
    if facts.history is not None:
        dates |= {
            facts.history.previous_date,
            facts.history.trailing_from,
            facts.history.trailing_to,
        }
    return dates

"""Check every number in a report against the facts.

A number passes when it equals (as a Decimal) a member of ``fact_numbers``.
Before extracting numbers, the text loses what is not a claim: known product and
category names (which may contain digits: "iPhone 15"), dates that are facts
dates, and Markdown list or heading numbering. Ambiguous separators are read
every plausible way ("1,500" is 1500 or 1.5; "3 500" is 3500 or 3 and 500); any
reading that is a fact is accepted. Everything else is reported.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from .display import fact_dates, fact_numbers, known_names, money
from .facts import Facts

__all__ = ["verify", "missing_essentials", "MISSING_PREFIX"]

# How missing_essentials marks its entries (prompt.build_correction tells them apart by it).
MISSING_PREFIX = "missing total revenue "

_SPACE = " \u00a0\u202f\u2009"  # space, no-break, narrow no-break, thin
_MINUS = "\u2212\u2013-"  # minus sign, en dash, hyphen-minus (last: literal in a class) (only when glued to the digits)

# Digits glued to letters ("x2", "A2" of an unknown name) are still checked;
# a sign counts only when it does not follow a word ("10-15" is 10 and 15).
_NUMBER = re.compile(
    rf"(?:(?<![\w.,])(?P<sign>[+{_MINUS}]))?"
    rf"(?<![\d.,])(?P<body>"
    rf"\d{{1,3}}(?:[{_SPACE}]\d{{3}})+(?:[.,]\d+)?"  # 1 500 / 1 500,00
    rf"|\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?"  # 1,500 / 1,500.00
    rf"|\d{{1,3}}(?:\.\d{{3}})+(?:,\d+)?"  # 1.500 / 1.500,00
    rf"|\d+(?:[.,]\d+)?"  # 1500 / 12,5 / 12.5
    rf")(?!\d)(?P<pct>[{_SPACE}]?%)?"
)

# Ordered-list markers and numbered headings: "1. ", "2) ", "## 3.", "### 1.2 ".
_HEADING_NUMBER = re.compile(r"^(?P<lead>[ \t]*#{1,6}[ \t]*)\d{1,3}(?:\.\d{1,3})*[.)]?(?=[ \t])", re.M)
_LIST_ONLY = re.compile(r"^(?P<lead>[ \t>]*)\d{1,3}[.)](?=[ \t])", re.M)

_MONTHS_RU = ("январ", "феврал", "март", "апрел", "ма", "июн", "июл", "август", "сентябр", "октябр",
              "ноябр", "декабр")
_MONTHS_EN = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_WORD = r"[A-Za-zА-Яа-яЁё]+\.?"

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_DOTTED = re.compile(r"(?<![\d.])(\d{1,2})[./](\d{1,2})[./](\d{4})(?!\d)")
_DAY_MONTH = re.compile(
    rf"(?<![\d.,])(\d{{1,2}})(?:-?(?:го|е|st|nd|rd|th))?\s+({_MONTH_WORD})(?:,?\s+(\d{{4}}))?(?!\d)")
_MONTH_DAY = re.compile(rf"\b({_MONTH_WORD})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?(?!\d)")


def _month(word: str) -> int | None:
    w = word.lower().rstrip(".")
    if w.startswith("ма") and not w.startswith("март"):
        return 5 if w in ("мая", "май") else None
    for i, stem in enumerate(_MONTHS_RU):
        if stem != "ма" and w.startswith(stem):
            return i + 1
    if len(w) >= 3:
        for i, stem in enumerate(_MONTHS_EN):
            if w.startswith(stem):
                return i + 1
    return None


def _is_fact_date(day: int, month: int, year: int | None, dates: set[dt.date]) -> bool:
    return any(d.day == day and d.month == month and (year is None or d.year == year) for d in dates)


def _strip_dates(text: str, dates: set[dt.date], wrong: list[str]) -> str:
    def iso(m: re.Match[str]) -> str:
        y, mo, d = (int(g) for g in m.groups())
        if not _is_fact_date(d, mo, y, dates):
            wrong.append(m.group(0))
        return " "

    def dotted(m: re.Match[str]) -> str:
        a, b, y = (int(g) for g in m.groups())
        # dd.mm.yyyy, or mm/dd/yyyy in American text
        if not (_is_fact_date(a, b, y, dates) or _is_fact_date(b, a, y, dates)):
            wrong.append(m.group(0))
        return " "

    def named(day: str, word: str, year: str | None, whole: str) -> str:
        month = _month(word)
        if month is None:
            return whole  # not a date ("5 units"): the number is checked like any other
        if _is_fact_date(int(day), month, int(year) if year else None, dates):
            return " "
        return whole

    text = _ISO.sub(iso, text)
    text = _DOTTED.sub(dotted, text)
    text = _DAY_MONTH.sub(lambda m: named(m.group(1), m.group(2), m.group(3), m.group(0)), text)
    return _MONTH_DAY.sub(lambda m: named(m.group(2), m.group(1), m.group(3), m.group(0)), text)


def _strip_names(text: str, names: set[str]) -> str:
    for name in sorted(names, key=len, reverse=True):
        if not any(ch.isdigit() for ch in name):
            continue
        # Not inside a longer word, number or date: a category "2024" must not eat
        # "2024-03-10", nor a product "-3" the start of "-3 567 205".
        before = r"(?<![\w.,-])"
        if name[0].isdigit():
            before += rf"(?<!\d[{_SPACE}])"
        after = r"(?![\w]|[-.,/:]\d)"
        if name[-1].isdigit():
            after += rf"(?![{_SPACE}]\d{{3}}(?!\d)|[{_SPACE[1:]}]\d)"
        text = re.sub(before + re.escape(name) + after, " ", text, flags=re.IGNORECASE)
    return text


def _readings(body: str) -> list[Decimal]:
    """Every plausible value of a number as written, without its sign."""
    plain = re.sub(f"[{_SPACE}]", "", body)
    out: list[str] = []
    if "," in plain and "." in plain:
        point = "," if plain.rfind(",") > plain.rfind(".") else "."
        other = "." if point == "," else ","
        out.append(plain.replace(other, "").replace(point, "."))
    elif "," in plain or "." in plain:
        sep = "," if "," in plain else "."
        parts = plain.split(sep)
        if len(parts) == 2:
            out.append(parts[0] + "." + parts[1])
        if all(len(p) == 3 for p in parts[1:]) and len(parts[0]) <= 3:
            out.append("".join(parts))  # thousands separators
    else:
        out.append(plain)
    values = []
    for s in out:
        try:
            values.append(Decimal(s))
        except InvalidOperation:
            continue
    return values


def _accepted(sign: str, body: str, allowed: set[Decimal]) -> bool:
    factor = -1 if sign and sign != "+" else 1
    if any(factor * v in allowed for v in _readings(body)):
        return True
    pieces = re.split(f"[{_SPACE}]", body)
    # "3 500" may be two numbers ("top 3 500 units") rather than 3500.
    return len(pieces) > 1 and all(
        any(v in allowed for v in _readings(p)) for p in pieces[1:]
    ) and any(factor * v in allowed for v in _readings(pieces[0]))


def verify(text: str, facts: Facts) -> list[str]:
    """The number strings in `text` that are not facts; empty when the text is verified."""
    allowed = fact_numbers(facts)
    wrong: list[str] = []
    text = _strip_names(text, known_names(facts))
    text = _strip_dates(text, fact_dates(facts), wrong)
    text = _HEADING_NUMBER.sub(lambda m: m.group("lead"), text)
    text = _LIST_ONLY.sub(lambda m: m.group("lead"), text)
    for m in _NUMBER.finditer(text):
        if not _accepted(m.group("sign") or "", m.group("body"), allowed):
            wrong.append(m.group(0).strip())
    return list(dict.fromkeys(wrong))


_SPACES = re.compile(r"\s+")  # \s takes the no-break and thin spaces too


def missing_essentials(text: str, facts: Facts) -> list[str]:
    """What every report must state: the day's total revenue (in either display style).

    A reply with no false number can still be useless ("HACKED", an obeyed
    injection, a refusal); requiring the headline figure catches those.
    """
    plain = _SPACES.sub(" ", text)
    wanted = {_SPACES.sub(" ", money(facts.total_revenue, language=lang)) for lang in ("ru", "en")}
    wanted.add(str(facts.total_revenue))
    if any(w in plain for w in wanted):
        return []
    return [f"{MISSING_PREFIX}{money(facts.total_revenue, language='en')}"]

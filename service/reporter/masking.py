"""Blank out what in a report is not a claim, keeping every other character where it was.

Known product and category names go first (they may contain digits, "iPhone 15",
or look like dates, "10 марта"), and where each stood is kept, with whose name it
is, for the verifier's whose-figure rule. Then the facts' dates in any common
notation (a date that is not a facts date is reported), then Markdown list and
heading numbering. Keeping positions lets the verifier read clauses, sentences and
the words around each number on the masked text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..figures.display import fact_dates, known_names
from ..figures.facts import Facts
from .figures import FigureTable

__all__ = ["SPACE", "Entity", "Masked", "mask"]

SPACE = " \u00a0\u202f\u2009"  # space, no-break, narrow no-break, thin

# Ordered-list markers and numbered headings: "1. ", "2) ", "## 3.", "### 1.2 ".
_HEADING_NUMBER = re.compile(
    r"^(?P<lead>[ \t]*#{1,6}[ \t]*)\d{1,3}(?:\.\d{1,3})*[.)]?(?=[ \t])", re.M
)
_LIST_ONLY = re.compile(r"^(?P<lead>[ \t>*_-]*)\d{1,3}[.)](?=[ \t*_])", re.M)
# Numbers that name a part of the text: "Рекомендация 2", "пункт 3", "Section 1", "(2)".
_SECTION_NUMBER = re.compile(
    r"\b(?:рекомендаци[яиюей]|пункт[аеу]?|раздел[аеу]?|шаг|section|step|recommendation|item)"
    r"[ \t]*(?:№|#)?[ \t]*(?P<n>\d{1,2})(?![\d%]|[.,]\d)"
    r"|(?<![\w)])\((?P<p>\d{1,2})\)(?=\s)",
    re.I,
)


def _blank_digits(m: re.Match[str]) -> str:
    g = "n" if m.group("n") else "p"
    return (
        m.group(0)[: m.start(g) - m.start()]
        + " " * len(m.group(g))
        + m.group(0)[m.end(g) - m.start() :]
    )


_MONTHS_RU = (
    "январ",
    "феврал",
    "март",
    "апрел",
    "ма",
    "июн",
    "июл",
    "август",
    "сентябр",
    "октябр",
    "ноябр",
    "декабр",
)
_MONTHS_EN = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_WORD = r"[A-Za-zА-Яа-яЁё]+\.?"

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_DOTTED = re.compile(r"(?<![\d.])(\d{1,2})[./](\d{1,2})[./](\d{4})(?!\d)")
_DAY_MONTH = re.compile(
    rf"(?<![\d.,])(\d{{1,2}})(?:-?(?:го|е|st|nd|rd|th))?\s+({_MONTH_WORD})(?:,?\s+(\d{{4}}))?(?!\d)"
)
_MONTH_DAY = re.compile(
    rf"\b({_MONTH_WORD})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?(?!\d)"
)


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group(0))


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
    return any(
        d.day == day and d.month == month and (year is None or d.year == year) for d in dates
    )


def _strip_dates(text: str, dates: set[dt.date], out: Masked) -> str:
    """The text with its dates blanked; where each stood goes to `out` (position, as
    written): to ``dates`` when it is a date of the facts, else to ``wrong_dates``."""

    def record(m: re.Match[str], good: bool) -> str:
        (out.dates if good else out.wrong_dates).append((m.start(), m.group(0)))
        return _blank(m)

    def iso(m: re.Match[str]) -> str:
        y, mo, d = (int(g) for g in m.groups())
        return record(m, _is_fact_date(d, mo, y, dates))

    def dotted(m: re.Match[str]) -> str:
        a, b, y = (int(g) for g in m.groups())
        # dd.mm.yyyy, or mm/dd/yyyy in American text
        return record(m, _is_fact_date(a, b, y, dates) or _is_fact_date(b, a, y, dates))

    def named(m: re.Match[str], day: str, word: str, year: str | None) -> str:
        month = _month(word)
        if month is None:
            return m.group(0)  # not a date ("5 units"): the number is checked like any other
        if _is_fact_date(int(day), month, int(year) if year else None, dates):
            return record(m, True)
        return m.group(0)

    text = _ISO.sub(iso, text)
    text = _DOTTED.sub(dotted, text)
    text = _DAY_MONTH.sub(lambda m: named(m, m.group(1), m.group(2), m.group(3)), text)
    return _MONTH_DAY.sub(lambda m: named(m, m.group(2), m.group(1), m.group(3)), text)


def _name_pattern(name: str) -> str:
    # Not inside a longer word, number or date: a category "2024" must not eat
    # "2024-03-10", nor a product "-3" the start of "-3 567 205".
    before = r"(?<![\w.,-])"
    if name[0].isdigit():
        before += rf"(?<!\d[{SPACE}])"
    after = r"(?![\w]|[-.,/:]\d)"
    if name[-1].isdigit():
        after += rf"(?![{SPACE}]\d{{3}}(?!\d)|[{SPACE[1:]}]\d)"
    return before + re.escape(name) + after


@dataclass(frozen=True, slots=True)
class Entity:
    start: int
    owners: frozenset[str]


@lru_cache(maxsize=4096)
def _compiled(name: str) -> re.Pattern[str]:
    # Product and category names recur day after day: each is compiled once. (A single
    # alternation of a text's names was compiled per report: 3-7 ms, most of the
    # reporter's own CPU, measured with tests/bench/bench_reports.py --profile.)
    return re.compile(_name_pattern(name), re.IGNORECASE)


def _entity(m: re.Match[str], table: FigureTable) -> Entity | None:
    """Whose name a match is, None when it is no one's to go by."""
    owners = table.owners.get(m.group(0).casefold())
    # "A" would be every English article; a name without letters ("1,5", "2024") may
    # as well be a number of the text: masked, but no one's name.
    if owners and len(m.group(0).strip()) >= 2 and any(ch.isalpha() for ch in m.group(0)):
        return Entity(m.start(), frozenset(owners))
    return None


def _spans(
    text: str, folded: str, usable: list[str], table: FigureTable, found: list[Entity]
) -> list[tuple[int, int]]:
    """Where the names stand. Each name's occurrences by str.find (C speed); its pattern
    judges the boundaries there, on the original text. A span taken by a longer name is
    not matched again."""
    taken = bytearray(len(text))
    spans: list[tuple[int, int]] = []
    for name in usable:
        key, pattern = name.casefold(), _compiled(name)
        at = folded.find(key)
        while at != -1:
            m = None if taken[at] else pattern.match(text, at)
            if m is not None and m.end() > at and taken.find(1, at, m.end()) == -1:
                taken[at : m.end()] = b"\x01" * (m.end() - at)
                spans.append((at, m.end()))
                if (e := _entity(m, table)) is not None:
                    found.append(e)
            at = folded.find(key, at + 1)
    return sorted(spans)


def _blank_spans(text: str, spans: list[tuple[int, int]]) -> str:
    pieces, last = [], 0
    for start, end in spans:
        pieces += [text[last:start], " " * (end - start)]
        last = end
    return "".join(pieces) + text[last:]


def _strip_names(text: str, names: set[str], table: FigureTable) -> tuple[str, list[Entity]]:
    """The text with every known name blanked, and where the names of products and categories stood.

    Longest names first, so a name inside a longer one ("Tea" in "Green Tea") is not
    taken for itself; blanking keeps every other character where it was."""
    folded = text.casefold()  # only names the text holds are looked for
    usable = sorted(
        (n for n in names if any(ch.isalnum() for ch in n) and n.casefold() in folded),
        key=lambda n: (-len(n), n),
    )
    found: list[Entity] = []

    def blank(m: re.Match[str]) -> str:
        if (e := _entity(m, table)) is not None:
            found.append(e)
        return _blank(m)

    if len(folded) != len(text):  # a character whose folding is longer ("ß"): positions differ
        for name in usable:
            text = _compiled(name).sub(blank, text)
    else:
        text = _blank_spans(text, _spans(text, folded, usable, table, found))
    found.sort(key=lambda e: e.start)
    return text, found


@dataclass(slots=True)
class Masked:
    text: str  # the report with names, facts dates and list numbering blanked
    entities: list[Entity] = field(
        default_factory=list
    )  # where names of products and categories stood
    wrong_dates: list[tuple[int, str]] = field(default_factory=list)  # (position, as written)
    dates: list[tuple[int, str]] = field(default_factory=list)  # the facts' dates, likewise


def mask(text: str, facts: Facts, table: FigureTable) -> Masked:
    """The report with what is not a claim blanked (same length), and what was found on the way."""
    out = Masked(text)
    out.text, out.entities = _strip_names(text, known_names(facts), table)
    out.text = _strip_dates(out.text, fact_dates(facts), out)
    out.text = _SECTION_NUMBER.sub(_blank_digits, out.text)
    out.text = _HEADING_NUMBER.sub(
        lambda m: m.group("lead") + " " * (m.end() - m.end("lead")), out.text
    )
    out.text = _LIST_ONLY.sub(lambda m: m.group("lead") + " " * (m.end() - m.end("lead")), out.text)
    return out

"""Check a report against the facts; the result is a typed ``Verdict``.

Every number in the text must be a figure of the facts (``figures.py``), and more:
- **made up** (``not_a_fact``): no figure has that value at any displayed rounding;
- **percent vs amount** (``percent_mismatch``): a number written as a percentage
  ("%", "процентов", "percent") must be a percentage figure, and one written
  without must be an amount: 41.7 given as "41,70 руб." when only −41.7 % is a fact,
  or 12 units given as "12 %", is a lie;
- **sign** (``wrong_sign``): an explicit sign ("+", "−", "плюс", "минус") must be
  that of the change figure it states; a level (revenue, units) may carry "+",
  never "−";
- **direction** (``wrong_direction``): a direction word that governs the number
  (``claims.py``: "выросла на", "fell by", "на 12 % меньше", "a drop of") makes it
  a change: it must be a change figure (against the previous day or the trailing
  average, or a product's units change) of that direction; a level reached
  ("выросла до 699,60", "fell to 52 units") must have come by a change of that
  direction (the day's revenue and units, a mover's units now);
- **whose figure** (``wrong_product``): a number in a clause that names products or
  categories must be a figure of one of them, or one of the day's. The names are
  those of its clause since the previous number ("A sold 28 units and B 24": 28 is
  A's, 24 is B's), else those after it up to the next number ("24 went to B"), else
  those of its sentence since the previous number ("A — 28 шт., B — 24 шт."), else
  those of its sentence.
  So "Product B sold 45 units" fails when 45 is only Product A's figure; a list
  ("A and B sold 45 and 30 units") passes either way round;
- **dates** (``wrong_date``) must be dates of the facts;
- the day's total revenue must be stated (``missing_revenue``): a reply with no
  false number can still be useless ("HACKED", an obeyed injection, a refusal).

Before numbers are read, the text loses what is not a claim (``masking.py``: known
names, the facts' dates, list numbering), keeping every other character where it
was; the words around a number are read by ``claims.py``. Ambiguous separators are read every plausible way ("1,500" is 1500 or 1.5; "3 500"
is 3500 or 3 and 500); any reading that passes is accepted.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from ..figures.display import money
from ..figures.facts import Facts
from .claims import Claim, direction, sign_word
from .figures import Figure, FigureTable, figure_table
from .masking import SPACE, Entity, mask

__all__ = ["Finding", "Problem", "Verdict", "verify"]

Problem = Literal[
    "not_a_fact",
    "percent_mismatch",
    "wrong_sign",
    "wrong_direction",
    "wrong_product",
    "wrong_date",
    "missing_revenue",
]

# How much worse one finding of a kind makes a draft: a text that does not state
# the revenue (an injection obeyed, a refusal) is no report at all.
_WEIGHT: dict[Problem, int] = {"missing_revenue": 10}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Problem
    number: str  # as written in the text; for missing_revenue the figure that must be stated
    text: str = ""  # the sentence it stands in

    @property
    def label(self) -> str:
        """How the finding is listed in a report's unverified_numbers."""
        return (
            f"missing total revenue {self.number}"
            if self.kind == "missing_revenue"
            else self.number
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def numbers(self) -> list[str]:
        """The report's unverified_numbers: each finding's label, once, in text order."""
        return list(dict.fromkeys(f.label for f in self.findings))

    @property
    def severity(self) -> int:
        """Lower is better; 0 when verified."""
        return sum(_WEIGHT.get(f.kind, 1) for f in self.findings)


_MINUS = "\u2212\u2013-"  # minus sign, en dash, hyphen-minus (last: literal in a class) (only when glued to the digits)

# Digits glued to letters ("x2", "A2" of an unknown name) are still checked;
# a sign counts only when it does not follow a word ("10-15" is 10 and 15).
_NUMBER = re.compile(
    rf"(?:(?<![\w.,])(?P<sign>[+{_MINUS}]))?"
    rf"(?<![\d.,])(?P<body>"
    rf"\d{{1,3}}(?:[{SPACE}]\d{{3}})+(?:[.,]\d+)?"  # 1 500 / 1 500,00
    rf"|\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?"  # 1,500 / 1,500.00
    rf"|\d{{1,3}}(?:\.\d{{3}})+(?:,\d+)?"  # 1.500 / 1.500,00
    rf"|\d+(?:[.,]\d+)?"  # 1500 / 12,5 / 12.5
    rf")(?!\d)(?P<pct>[{SPACE}]?%)?"
)
_PERCENT_WORD = re.compile(
    r"\s*(?:процент|percent|per\s+cent|pct\b|п\.\s?п\.|percentage\s+point)", re.I
)

# Sentences end at . ! ? … before a space, at ; and at line ends; clauses also at
# a comma or colon before a space, brackets, and a dash between spaces.
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|[;\n]")
_CLAUSE_END = re.compile(r"[.!?…,:](?=\s)|[;\n()\[\]]|\s[—–-]\s")

_SPACES = re.compile(r"\s+")  # \s takes the no-break and thin spaces too


def _readings(body: str) -> list[Decimal]:
    """Every plausible value of a number as written, without its sign."""
    plain = re.sub(f"[{SPACE}]", "", body)
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


class _Segments:
    """Start offsets of the sentences or clauses of a text."""

    def __init__(self, text: str, ends: re.Pattern[str]) -> None:
        self.starts = [0] + [m.end() for m in ends.finditer(text)]
        self.length = len(text)

    def around(self, pos: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, pos) - 1
        return self.starts[i], self.starts[i + 1] if i + 1 < len(self.starts) else self.length


def _owners(entities: list[Entity], starts: list[int], start: int, end: int) -> frozenset[str]:
    """Whose names stand in text[start:end] (`starts`: the entities' positions, ascending)."""
    lo, hi = bisect.bisect_left(starts, start), bisect.bisect_left(starts, end)
    return frozenset(o for e in entities[lo:hi] for o in e.owners)


def _agrees(f: Figure, sign: int) -> bool:
    """An explicit sign fits a change of that sign (or zero); a level only takes "+"."""
    if f.change:
        return f.sign in (sign, 0)
    return sign > 0 or f.sign == 0


def _judge(
    figs: list[Figure], *, percent: bool, owners: frozenset[str], sign: int, claim: Claim
) -> Problem | None:
    if not figs:
        return "not_a_fact"
    figs = [f for f in figs if f.percent == percent]
    if not figs:
        return "percent_mismatch"
    if owners:
        figs = [f for f in figs if not f.owners or f.owners & owners]
        if not figs:
            return "wrong_product"
    if sign and not any(_agrees(f, sign) for f in figs):
        return "wrong_sign"
    if claim.way and not _direction_fits(figs, claim):
        return "wrong_direction"
    return None


def _direction_fits(figs: list[Figure], claim: Claim) -> bool:
    changes = [f for f in figs if f.change]
    if claim.level:
        trends = [f.trend for f in figs if f.trend is not None]
        if trends:  # "выросла до 699,60": the change that led to the level
            return any(t in (claim.way, 0) for t in trends)
        if len(changes) < len(figs):
            return True  # a level whose direction the facts do not record
    return any(f.sign in (claim.way, 0) for f in changes)


def _two_numbers(body: str, table: FigureTable) -> bool:
    """ "3 500" may be two numbers ("top 3 500 units") rather than 3500."""
    pieces = re.split(f"[{SPACE}]", body)
    return len(pieces) > 1 and all(table.lookup(_readings(p)) for p in pieces)


def _sentence(text: str, bounds: tuple[int, int]) -> str:
    return _SPACES.sub(" ", text[bounds[0] : bounds[1]]).strip()[:300]


def _numbers(text: str, facts: Facts) -> list[tuple[int, Finding]]:
    table = figure_table(facts)
    masked_report = mask(text, facts, table)
    masked, entities, wrong_dates = (
        masked_report.text,
        masked_report.entities,
        masked_report.wrong_dates,
    )
    sentences, clauses = _Segments(masked, _SENTENCE_END), _Segments(masked, _CLAUSE_END)

    out = [
        (pos, Finding("wrong_date", date, _sentence(text, sentences.around(pos))))
        for pos, date in wrong_dates
    ]
    starts = [e.start for e in entities]
    found = list(_NUMBER.finditer(masked))
    for i, m in enumerate(found):
        body = m.group("body")
        figs = table.lookup(_readings(body))
        if not figs and _two_numbers(body, table):
            continue
        c_start, c_end = clauses.around(m.start())
        s_start, s_end = sentences.around(m.start())
        before, after = masked[c_start : m.start()], masked[m.end() : c_end]
        sign = {"": 0, "+": 1}.get(m.group("sign") or "", -1) or sign_word(before)
        # Whose figure: the names in its clause since the previous number ("A sold 28 and
        # B 24"), else after it up to the next ("24 went to B"), else in its sentence since
        # the previous number ("A — 28 шт., B — 24 шт."), else in its sentence.
        last_end = found[i - 1].end() if i else 0
        next_start = found[i + 1].start() if i + 1 < len(found) else len(masked)
        owners = (
            _owners(entities, starts, max(c_start, last_end), m.start())
            or _owners(entities, starts, m.end(), min(c_end, next_start))
            or _owners(entities, starts, max(s_start, last_end), m.start())
            or _owners(entities, starts, s_start, s_end)
        )
        percent = bool(m.group("pct")) or bool(_PERCENT_WORD.match(after))
        problem = _judge(
            figs, percent=percent, owners=owners, sign=sign, claim=direction(before, after)
        )
        if problem is not None:
            out.append(
                (
                    m.start(),
                    Finding(
                        problem, m.group(0).strip(), _sentence(text, sentences.around(m.start()))
                    ),
                )
            )
    return out


def _missing_revenue(text: str, facts: Facts) -> list[Finding]:
    """What every report must state: the day's total revenue (in either display style)."""
    plain = _SPACES.sub(" ", text)
    wanted = {_SPACES.sub(" ", money(facts.total_revenue, language=lang)) for lang in ("ru", "en")}
    wanted.add(str(facts.total_revenue))
    if any(w in plain for w in wanted):
        return []
    return [Finding("missing_revenue", money(facts.total_revenue, language="en"))]


def verify(text: str, facts: Facts) -> Verdict:
    """Everything wrong with a report about `facts`, in text order (a missing revenue last)."""
    found = sorted(_numbers(text, facts), key=lambda pf: pf[0])
    return Verdict(tuple(f for _, f in found) + tuple(_missing_revenue(text, facts)))

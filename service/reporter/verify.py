"""Check a report against the facts; the result is a typed ``Verdict`` that holds, for
every number in the text, the fact(s) and the rule that made it true, or why not (a
``Check``: the report's provenance, shown on the dashboard).

Numbers are read as people write them (``claims.py``): "4,75 млн", "225k", "около 13 %",
"почти 5 млн", "более 40 товаров", "в 6,6 раза", "вдвое", "третий по выручке",
"три товара". A number is true when a fact rounds to it at the precision written
(4,75 млн ← 4 752 113,20; "около 13 %" ← 13,2 %; trailing zeros count as precision
only after a hedge: "около 1 200" ← 1 234), "почти N" when a fact is below N and within
min(one unit written, N/10), "более N" ("свыше", "over", "more than") when a fact is
above N and within max(one unit, N/10), "менее N" likewise below. A multiple ("в N раз",
"N×", "N-fold", "вдвое", "twice", "halved") must be the ratio of two facts of one
subject (the day against the previous day or the trailing average, a mover now and
before, two listed products or categories) at the precision written (a word: 0.1);
a figure that is no fact may still follow from facts (``figures.py``'s derived table:
a share from its parts, the difference of two products' or categories' figures, a
mover's percent change, a product's revenue per unit).

The rules that catch lies apply to every form:
- **made up** (``not_a_fact``): no fact rounds to it as written, and nothing derived does
  (a wrong rounding, a wrong scale word, a multiple of the wrong pair);
- **percent vs amount** (``percent_mismatch``): a number written as a percentage
  ("%", "процентов", "п.п.", "pp") must be a percentage figure, one written without an amount;
- **sign** (``wrong_sign``): an explicit sign ("+", "−", "плюс", "минус") must be
  that of the change figure it states; a level (revenue, units) may carry "+",
  never "−";
- **direction** (``wrong_direction``): a direction word that governs the number
  (``claims.py``) makes it a change of that direction; a level reached
  ("выросла до 699,60") must have come by a change of that direction; a multiple
  with a direction ("в 2 раза меньше", "halved") must be a change that way;
- **whose figure** (``wrong_product``): a number in a clause that names products or
  categories must be a figure of one of them, or one of the day's. The names are
  those of its clause since the previous number, else those after it up to the next
  number, else those of its sentence since the previous number, else those of its sentence;
- **rank** (``wrong_rank``): "третий по выручке" must be said of the third product of
  that list (or of none named, within the list's length);
- **dates** (``wrong_date``) must be dates of the facts;
- the day's total revenue must be stated (``missing_revenue``), copied or rounded.

Before numbers are read, the text loses what is not a claim (``masking.py``: known
names, the facts' dates, list and section numbering), keeping every other character
where it was. Ambiguous separators are read every plausible way ("1,500" is 1500 or
1.5; "3 500" is 3500 or 3 and 500); any reading that passes is accepted.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..figures.display import money, round_money, round_one
from ..figures.facts import Facts
from .claims import Claim, Hedge, WordNumber, direction, hedge, is_multiple, rank_list, scale
from .claims import sign_word as _sign_word
from .claims import word_numbers as _word_numbers
from .figures import Figure, Figures, FigureTable, figure_table
from .masking import SPACE, Entity, mask

__all__ = ["Check", "Finding", "Problem", "Verdict", "verify"]

Problem = Literal[
    "not_a_fact",
    "percent_mismatch",
    "wrong_sign",
    "wrong_direction",
    "wrong_product",
    "wrong_rank",
    "wrong_unit",
    "wrong_day",
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
    expected: str = ""  # the fact it most likely meant, as the facts give it ("" when none)

    @property
    def label(self) -> str:
        """How the finding is listed in a report's unverified_numbers."""
        return (
            f"missing total revenue {self.number}"
            if self.kind == "missing_revenue"
            else self.number
        )


@dataclass(frozen=True, slots=True)
class Check:
    """One number of the text and where it came from: the provenance of a figure."""

    start: int  # where it stands in the text (sign and scale word included)
    end: int
    written: str
    ok: bool
    form: str  # copied, rounded, scaled, approximate, almost, bound, multiple, share, …
    rule: str  # how the facts make it true, or why they do not
    sources: tuple[str, ...] = ()  # the facts it rests on
    problem: Problem | None = None
    expected: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.written,
            "verified": self.ok,
            "form": self.form,
            "rule": self.rule,
            "sources": list(self.sources),
            "problem": self.problem,
            "expected": self.expected or None,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    findings: tuple[Finding, ...] = ()
    claims: tuple[Check, ...] = ()

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

    def claims_json(self) -> list[dict[str, Any]]:
        return [c.as_json() for c in self.claims]


_MINUS = "\u2212\u2013-"  # minus sign, en dash, hyphen-minus (last: literal in a class)

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
    r"\s*(?:процент|percent|per\s+cent|pct\b|п\.\s?п\.|пп\b|pp\b|percentage\s+point)", re.I
)

# Sentences end at . ! ? … before a space, at ; and at line ends; clauses also at
# a comma or colon before a space, brackets, and a dash between spaces. The point of
# an abbreviation ("шт.", "руб.", "тыс.") ends one only before a capital letter.
_ABBR = r"(?<!шт)(?<!руб)(?<!тыс)(?<!млн)(?<!млрд)(?<!\bед)(?<!\bп)"
_SENTENCE_END = re.compile(rf"{_ABBR}[.!?…](?=\s)|\.(?=\s+[A-ZА-ЯЁ#*\d])|[;\n]")
_CLAUSE_END = re.compile(
    rf"{_ABBR}[.!?…,:](?=\s)|\.(?=\s+[A-ZА-ЯЁ#*\d])|[,:;\n()\[\]](?=\s)|[;\n()\[\]]|\s[—–-]\s"
)

_PAST = re.compile(
    r"вчера|накануне|прошл|предыдущ|предшеств|ранее|средн|недел|\bдо\b|previous|yesterday|"
    r"before|earlier|prior|average|trailing|week|\bto\b|compared|сравнени|against",
    re.I,
)
_FROM = re.compile(r"(?:\bс|\bсо|\bот|\bfrom)\s*$", re.I)
_COUNT_UNIT = re.compile(r"\s*(?:шт\b|штук|единиц|ед\.|units?\b|pcs\b|items?\b)", re.I)
_MONEY_UNIT = re.compile(r"\s*(?:руб|₽|rub\b|rubles?\b|roubles?\b)", re.I)


def _unit_of(after: str) -> str:
    if _COUNT_UNIT.match(after):
        return "count"
    return "money" if _MONEY_UNIT.match(after) else ""


_BY_ONLY = re.compile(r"^[\s\-—–:*]*(?:на|by)\s*$", re.I)
_SPACES = re.compile(r"\s+")  # \s takes the no-break and thin spaces too
_ONE = Decimal(1)
_TENTH = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class _Reading:
    value: Decimal  # magnitude as written, scale applied
    unit: Decimal  # one unit of the last digit written, scale applied
    decimals: int


def _parse(s: str, *, decimals: int, loose: bool, factor: Decimal) -> _Reading | None:
    try:
        v = Decimal(s)
    except InvalidOperation:
        return None
    if decimals or not loose or v == 0:
        exp = -decimals
    else:  # "около 1 200": trailing zeros are the precision
        digits = s.lstrip("0")
        exp = len(digits) - len(digits.rstrip("0"))
    return _Reading(v * factor, _ONE.scaleb(exp) * factor, decimals)


def _readings(body: str, *, loose: bool = False, factor: Decimal = _ONE) -> list[_Reading]:
    """Every plausible value of a number as written, without its sign."""
    plain = re.sub(f"[{SPACE}]", "", body)
    out: list[tuple[str, int]] = []
    if "," in plain and "." in plain:
        point = "," if plain.rfind(",") > plain.rfind(".") else "."
        other = "." if point == "," else ","
        whole, _, frac = plain.replace(other, "").partition(point)
        out.append((f"{whole}.{frac}", len(frac)))
    elif "," in plain or "." in plain:
        sep = "," if "," in plain else "."
        parts = plain.split(sep)
        if len(parts) == 2:
            out.append((parts[0] + "." + parts[1], len(parts[1])))
        if all(len(p) == 3 for p in parts[1:]) and len(parts[0]) <= 3:
            out.append(("".join(parts), 0))  # thousands separators
    else:
        out.append((plain, 0))
    found = (_parse(s, decimals=d, loose=loose, factor=factor) for s, d in out)
    return [r for r in found if r is not None]


def _near(table: FigureTable, r: _Reading, h: Hedge) -> list[Figure]:
    """The figures that make the reading true under its hedge."""
    v, u = r.value, r.unit
    if h.almost:
        c = min(u, v / 20)
        return [f for f in table.between(v - c, v) if abs(f.value) < v]
    if h.bound:
        lo, hi = (v, v + u) if h.bound > 0 else (v - u, v)
        return [f for f in table.between(lo, hi, closed=True) if h.inclusive or abs(f.value) != v]
    return table.between(v - u / 2, v + u / 2)


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


def _owned(f: Figure, owners: frozenset[str], sentence: frozenset[str] = frozenset()) -> bool:
    """A figure fits the names of its clause: the day's always; a product's only when that
    product is named (or, no product named, its category); a category's when it is named;
    one of two products or categories (a difference, a multiple) when both are named in
    its sentence."""
    if not f.owners:
        return True
    if f.pair:
        keys = {o for o in f.owners if o.startswith("p:")} or f.owners
        return keys <= sentence
    if not owners:
        return True  # no name around it: anyone's
    products = {o for o in f.owners if o.startswith("p:")}
    named = {o for o in owners if o.startswith("p:")}
    if products and named:
        return bool(products & named)
    return bool(f.owners & owners)


def _named(f: Figure, sentence: frozenset[str]) -> bool:
    return not f.owners or bool(f.owners & sentence)


def _agrees(f: Figure, sign: int) -> bool:
    """An explicit sign fits a change of that sign (or zero); a level only takes "+"."""
    if f.change:
        return f.sign in (sign, 0)
    return sign > 0 or f.sign == 0


@dataclass(frozen=True, slots=True)
class _Context:
    """What the words around one number say: the claim the figure must bear out."""

    percent: bool
    owners: frozenset[str]
    sign: int
    claim: Claim
    sentence: frozenset[str]  # every name in its sentence
    past: bool  # its sentence speaks of an earlier day or the average (or it is exact)
    unit: str = ""  # "count" after "шт."/"units", "money" after "руб."/"RUB", else ""


def _judge(figs: list[Figure], c: _Context) -> tuple[Problem | None, list[Figure]]:
    """The first rule the candidates all break, or None and those that pass every rule."""
    if not figs:
        return "not_a_fact", []
    steps: list[tuple[Problem, Callable[[Figure], bool]]] = [
        ("percent_mismatch", lambda f: f.percent == c.percent),
        ("wrong_unit", lambda f: not c.unit or f.count == (c.unit == "count")),
        ("wrong_day", lambda f: c.past or not f.past),
        ("wrong_product", lambda f: _owned(f, c.owners, c.sentence)),
        ("wrong_sign", lambda f: not c.sign or _agrees(f, c.sign)),
    ]
    for problem, keep in steps:
        figs = [f for f in figs if keep(f)]
        if not figs:
            return problem, []
    if c.claim.way:
        figs = _direction_fits(figs, c.claim)
        if not figs:
            return "wrong_direction", []
    return None, figs


def _direction_fits(figs: list[Figure], claim: Claim) -> list[Figure]:
    changes = [f for f in figs if f.change]
    if claim.level:
        trended = [f for f in figs if f.trend is not None]
        if trended:  # "выросла до 699,60": the change that led to the level
            return [f for f in trended if f.trend in (claim.way, 0)]
        if len(changes) < len(figs):
            return [f for f in figs if not f.change]  # a level the facts record no direction of
    return [f for f in changes if f.sign in (claim.way, 0)]


def _judge_multiple(
    figs: list[Figure], c: _Context, way: int
) -> tuple[Problem | None, list[Figure]]:
    """A multiple: a ratio of facts of the named subject, of the claimed direction."""
    if not figs:
        return "not_a_fact", []
    # A product's multiple needs its name in the sentence.
    figs = [f for f in figs if _owned(f, c.owners, c.sentence) and _named(f, c.sentence)]
    if not figs:
        return "wrong_product", []
    if way:
        figs = [f for f in figs if f.trend in (way, 0, None)]
        if not figs:
            return "wrong_direction", []
    return None, figs


def _two_numbers(body: str, table: FigureTable) -> bool:
    """ "3 500" may be two numbers ("top 3 500 units") rather than 3500."""
    pieces = re.split(f"[{SPACE}]", body)
    if len(pieces) != 2 or pieces[1].startswith("0"):
        return False  # "3 000 000" is one number
    return all(table.lookup(r.value for r in _readings(p)) for p in pieces)


def _sentence(text: str, bounds: tuple[int, int]) -> str:
    return _SPACES.sub(" ", text[bounds[0] : bounds[1]]).strip()[:300]


def _trim(x: Decimal) -> str:
    text = f"{x:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def show(f: Figure) -> str:
    """A figure as the facts give it (English notation)."""
    v = f.value
    if f.source.startswith("ratio of"):
        return _trim(v.quantize(Decimal("0.01")))
    if f.percent:
        return f"{round_one(v)}%"
    if f.count or (v == v.to_integral_value() and f.source.endswith((".units", "units_now"))):
        return str(int(v))
    return str(round_money(v))


def _copied(f: Figure, r: _Reading) -> bool:
    """The number is the figure as the facts block shows it."""
    v = abs(f.value)
    if f.percent:
        return r.decimals == 1 and round_one(v) == r.value
    if v == v.to_integral_value() and r.decimals == 0:
        return v == r.value
    return r.decimals == 2 and round_money(v) == r.value


_DERIVED_FORMS = (
    ("share of", "share"),
    ("difference of", "difference"),
    ("percent change", "percent_change"),
    ("ratio of", "multiple"),
)


def _form(f: Figure, r: _Reading, h: Hedge, factor: Decimal) -> str:
    for prefix, form in _DERIVED_FORMS:
        if f.source.startswith(prefix):
            return form
    if "revenue / units" in f.source:
        return "price"
    if f.source.startswith("date "):
        return "date"
    if h.almost or h.bound:
        return "almost" if h.almost else "bound"
    if h.approx:
        return "approximate"
    if factor != _ONE:
        return "scaled"
    return "copied" if _copied(f, r) else "rounded"


_RULES = {
    "copied": "copied from {src}",
    "rounded": "{fig} ({src}) rounded as written",
    "scaled": "{fig} ({src}) with a scale word, rounded as written",
    "approximate": "about {fig} ({src})",
    "almost": "{fig} ({src}) is just below it",
    "bound": "{fig} ({src}) is within the bound",
    "multiple": "{src} = {fig}",
    "date": "a number of the facts' {src}",
}


def _passed(f: Figure, r: _Reading, h: Hedge, factor: Decimal) -> tuple[str, str]:
    form = _form(f, r, h, factor)
    template = _RULES.get(form, "{src} = {fig}")
    return form, template.format(fig=show(f), src=f.source)


def _best(pairs: list[tuple[_Reading, Figure]], owners: frozenset[str]) -> tuple[_Reading, Figure]:
    """The likeliest source: a copy before a rounding, the named subject's before another's,
    then the nearest."""

    def score(rf: tuple[_Reading, Figure]) -> tuple[bool, bool, Decimal]:
        r, f = rf
        gap = abs(abs(f.value) - r.value) / r.value if r.value else abs(f.value)
        foreign = not (f.owners & owners) if owners else bool(f.owners)
        return (not _copied(f, r), foreign, gap)

    return min(pairs, key=score)


def _expected(table: FigureTable, value: Decimal, c: _Context) -> str:
    """The fact a wrong number most likely meant: the nearest of its kind and subject."""
    pool = [
        f
        for f in table.figures
        if f.percent == c.percent
        and not f.source.startswith(("date ", "rank ", "parameters."))
        and _owned(f, c.owners, c.sentence)
    ]
    if not pool or value <= 0:
        return ""
    f = min(pool, key=lambda f: abs(abs(f.value) / value - 1) if value else abs(f.value))
    return f"{show(f)} ({f.source})"


@dataclass(slots=True)
class _Token:
    start: int
    end: int
    sign: str = ""
    body: str = ""
    pct: bool = False
    word: WordNumber | None = None


def _tokens(masked: str) -> list[_Token]:
    found = [
        _Token(m.start(), m.end(), m.group("sign") or "", m.group("body"), bool(m.group("pct")))
        for m in _NUMBER.finditer(masked)
    ]
    taken = [(t.start, t.end) for t in found]
    for w in _word_numbers(masked):
        if not any(s < w.end and w.start < e for s, e in taken):
            found.append(_Token(w.start, w.end, word=w))
    found.sort(key=lambda t: t.start)
    return found


class _Reader:
    """One report's numbers read against one day's figures."""

    def __init__(self, text: str, facts: Facts) -> None:
        self.text = text
        self.figures: Figures = figure_table(facts)
        report = mask(text, facts, self.figures.base)
        self.masked, self.entities = report.text, report.entities
        self.starts = [e.start for e in self.entities]
        self.sentences = _Segments(self.masked, _SENTENCE_END)
        self.clauses = _Segments(self.masked, _CLAUSE_END)
        self.checks: list[Check] = [
            Check(p, p + len(d), d, True, "date", "a date of the facts", ("date",))
            for p, d in report.dates
        ]
        self.checks += [
            Check(p, p + len(d), d, False, "date", "not a date of the facts", (), "wrong_date")
            for p, d in report.wrong_dates
        ]
        self.facts = facts

    def owners_at(self, tokens: list[_Token], i: int) -> frozenset[str]:
        # Whose figure: the names in its clause since the previous number ("A sold 28 and
        # B 24"), else after it up to the next ("24 went to B"), else in its sentence since
        # the previous number ("A — 28 шт., B — 24 шт."), else in its sentence.
        t = tokens[i]
        c_start, c_end = self.clauses.around(t.start)
        s_start, s_end = self.sentences.around(t.start)
        last_end = tokens[i - 1].end if i else 0
        next_start = tokens[i + 1].start if i + 1 < len(tokens) else len(self.masked)
        e, s = self.entities, self.starts
        return (
            _owners(e, s, max(c_start, last_end), t.start)
            or _owners(e, s, t.end, min(c_end, next_start))
            or _owners(e, s, max(s_start, last_end), t.start)
            or _owners(e, s, s_start, s_end)
        )

    def past(self, pos: int, before: str) -> bool:
        """Does the number's sentence speak of an earlier day or the average ("накануне",
        "с 1 200 до", "previous", "average")?"""
        s_start, s_end = self.sentences.around(pos)
        return bool(_PAST.search(self.masked, s_start, s_end) or _FROM.search(before))

    def sentence_owners(self, pos: int) -> frozenset[str]:
        s_start, s_end = self.sentences.around(pos)
        return _owners(self.entities, self.starts, s_start, s_end)

    def read(self) -> list[Check]:
        tokens = _tokens(self.masked)
        for i in range(len(tokens)):
            check = self.check(tokens, i)
            if check is not None:
                self.checks.append(check)
        self.checks.sort(key=lambda c: c.start)
        return self.checks

    def check(self, tokens: list[_Token], i: int) -> Check | None:
        t = tokens[i]
        c_start, c_end = self.clauses.around(t.start)
        before, after = self.masked[c_start : t.start], self.masked[t.end : c_end]
        if t.word is not None:
            return self.check_word(t, t.word, before, after, self.owners_at(tokens, i))
        factor, used = (_ONE, 0) if t.pct else scale(after)
        rest = after[used:]
        h = hedge(before)
        mult = is_multiple(before, rest)
        end = t.end + used + max(mult, 0)
        claim = direction(before, rest)
        if not claim.way and _BY_ONLY.match(before):
            # "Сильнее всего упали продажи X: на 523 шт.": the clause is only "на"; its
            # sentence says which way.
            s_start = self.sentences.around(t.start)[0]
            claim = direction(self.masked[s_start : t.start], rest)
        if h.bound and not re.search(r"(?:\bна|\bby)\s*$", before, re.I):
            claim = Claim(0)  # "превысила 4,7 млн": a bound on a level, not a change
        ctx = _Context(
            percent=t.pct or bool(_PERCENT_WORD.match(rest)),
            owners=self.owners_at(tokens, i),
            sign={"": 0, "+": 1}.get(t.sign, -1) or _sign_word(before),
            claim=claim,
            sentence=self.sentence_owners(t.start),
            unit=_unit_of(rest),
            # Loose forms ("около", "более", a scale word) could fit an earlier day's
            # figure as well: that one must be said to be of an earlier day.
            past=not (h.loose or factor != _ONE) or self.past(t.start, before),
        )
        readings = _readings(t.body, loose=h.loose, factor=factor)
        written = self.text[t.start : end].strip()
        if mult:
            return self.judged_multiple(t.start, end, written, readings, h, ctx, 0)
        rank = rank_list(rest)
        if rank is not None and not t.sign and not ctx.percent:
            return self.judged_rank(t.start, end, written, readings, rank, ctx)
        return self.judged(t, end, written, readings, h, ctx, factor)

    def judged(
        self,
        t: _Token,
        end: int,
        written: str,
        readings: list[_Reading],
        h: Hedge,
        ctx: _Context,
        factor: Decimal,
    ) -> Check | None:
        base, derived = self.figures.base, self.figures.derived
        pairs = [(r, f) for r in readings for f in _near(base, r, h)]
        problem, passed = _judge([f for _, f in pairs], ctx)
        if problem is not None:
            more = [(r, f) for r in readings for f in _near(derived, r, h)]
            second, passed_derived = _judge([f for _, f in more], ctx)
            if second is None:
                problem, passed, pairs = None, passed_derived, more
            elif problem == "not_a_fact" and second != "not_a_fact":
                problem, pairs = second, more  # a derived figure, said of the wrong subject
            elif not pairs and not more and t.body and _two_numbers(t.body, base):
                return None  # "top 3 500 units": two numbers, each a fact
        if problem is None:
            r, f = _best([(r, f) for r, f in pairs if f in passed], ctx.owners)
            form, rule = _passed(f, r, h, factor)
            return Check(t.start, end, written, True, form, rule, (f.source,))
        value = readings[0].value if readings else Decimal(0)
        expected = self.expected_for(problem, [f for _, f in pairs], value, ctx)
        return Check(t.start, end, written, False, "number", _WHY[problem], (), problem, expected)

    def expected_for(
        self, problem: Problem, figs: list[Figure], value: Decimal, ctx: _Context
    ) -> str:
        if problem in ("wrong_sign", "wrong_direction") and figs:
            f = figs[0]
            if not f.change and f.trend is not None:
                way = "a rise" if f.trend > 0 else "a fall" if f.trend < 0 else "no change"
                return f"{show(f)} ({f.source}, reached by {way})"
            way = "a rise" if f.sign > 0 else "a fall" if f.sign < 0 else "no change"
            return f"{show(f)} ({f.source}, {way if f.change else 'a level'})"
        if problem == "wrong_product" and figs:
            return f"{show(figs[0])} is {figs[0].source}"
        return _expected(self.figures.base, value, ctx)

    def judged_multiple(
        self,
        start: int,
        end: int,
        written: str,
        readings: list[_Reading],
        h: Hedge,
        ctx: _Context,
        way: int,
    ) -> Check:
        table = self.figures.ratios
        pairs = [(r, f) for r in readings for f in _near(table, r, h)]
        problem, passed = _judge_multiple([f for _, f in pairs], ctx, way or ctx.claim.way)
        if problem is None:
            _r, f = _best([(r, f) for r, f in pairs if f in passed], ctx.owners)
            return Check(
                start, end, written, True, "multiple", f"{f.source} = {show(f)}", (f.source,)
            )
        value = readings[0].value if readings else Decimal(0)
        pool = [f for f in table.figures if _owned(f, ctx.owners, ctx.sentence)]
        best = min(pool, key=lambda f: abs(f.value - value), default=None)
        expected = f"{show(best)} ({best.source})" if best is not None else ""
        return Check(start, end, written, False, "multiple", _WHY[problem], (), problem, expected)

    def judged_rank(
        self,
        start: int,
        end: int,
        written: str,
        readings: list[_Reading],
        list_name: str,
        ctx: _Context,
    ) -> Check:
        ranked = getattr(self.facts, list_name)
        for r in readings:
            n = int(r.value) if r.value == r.value.to_integral_value() else 0
            if not 1 <= n <= len(ranked):
                continue
            p = ranked[n - 1]
            named = {o for o in ctx.owners if o.startswith("p:")}
            if not named or f"p:{p.product_id}" in named:
                rule = f"{p.name} is #{n} in {list_name}"
                return Check(start, end, written, True, "rank", rule, (f"{list_name}[{n}]",))
            return Check(
                start,
                end,
                written,
                False,
                "rank",
                _WHY["wrong_rank"],
                (),
                "wrong_rank",
                f"#{n} in {list_name} is {p.name}",
            )
        return Check(
            start,
            end,
            written,
            False,
            "rank",
            _WHY["wrong_rank"],
            (),
            "wrong_rank",
            f"{list_name} has {len(ranked)} products",
        )

    def check_word(
        self, t: _Token, w: WordNumber, before: str, after: str, owners: frozenset[str]
    ) -> Check:
        written = self.text[t.start : t.end]
        h = hedge(before)
        ctx = _Context(
            percent=False,
            owners=owners,
            sign=0,
            claim=direction(before, after),
            sentence=self.sentence_owners(t.start),
            # a number in words is a rounded one: an earlier day's must be said to be
            past=self.past(t.start, before),
        )
        if w.kind == "multiple":
            r = _Reading(w.value, _TENTH, 1)
            return self.judged_multiple(t.start, t.end, written, [r], h, ctx, w.way)
        if w.kind == "rank":
            rank = rank_list(after) or "top_by_revenue"
            return self.judged_rank(
                t.start, t.end, written, [_Reading(w.value, _ONE, 0)], rank, ctx
            )
        if w.kind == "count":
            return self.judged_count(t, written, w.value, ctx)
        factor, used = scale(after)
        r = _Reading(w.value * factor, _TENTH * factor if factor != _ONE else _ONE, 1)
        token = _Token(t.start, t.end + used)
        check = self.judged(
            token, t.end + used, self.text[t.start : t.end + used], [r], h, ctx, factor
        )
        assert check is not None
        return check

    def judged_count(self, t: _Token, written: str, value: Decimal, ctx: _Context) -> Check:
        """ "три товара": a count of the facts (not a rank, an id or a part of a date)."""
        figs = [
            f
            for f in self.figures.base.lookup([value])
            if f.count
            and not f.source.startswith(("rank ", "date "))
            and not f.source.endswith(".id")
        ]
        problem, passed = _judge(figs, ctx)
        if problem is None:
            f = passed[0]
            return Check(
                t.start, t.end, written, True, "count", f"the count {f.source}", (f.source,)
            )
        return Check(t.start, t.end, written, False, "count", _WHY[problem], (), problem, "")


_WHY: dict[Problem, str] = {
    "not_a_fact": "no fact rounds to it as written, and none follows from the facts",
    "percent_mismatch": "a percentage given as an amount, or an amount as a percentage",
    "wrong_sign": "the sign differs from the fact's",
    "wrong_direction": "the direction differs from the fact's",
    "wrong_product": "it is not a figure of the product or category it is given to",
    "wrong_rank": "the product named does not hold that rank",
    "wrong_unit": "units given as money, or money as units",
    "wrong_day": "a figure of an earlier day or of the average, given as this day's",
    "wrong_date": "not a date of the facts",
    "missing_revenue": "the day's total revenue is not stated",
}


def _missing_revenue(text: str, facts: Facts, checks: list[Check]) -> list[Finding]:
    """What every report must state: the day's total revenue (copied or rounded)."""
    if any(c.ok and "total_revenue" in c.sources for c in checks):
        return []
    plain = _SPACES.sub(" ", text)
    wanted = {_SPACES.sub(" ", money(facts.total_revenue, language=lang)) for lang in ("ru", "en")}
    wanted.add(str(facts.total_revenue))
    if any(w in plain for w in wanted):
        return []
    return [Finding("missing_revenue", money(facts.total_revenue, language="en"))]


def verify(text: str, facts: Facts) -> Verdict:
    """Everything wrong with a report about `facts`, in text order (a missing revenue last),
    and the provenance of every number in it."""
    reader = _Reader(text, facts)
    checks = reader.read()
    findings = [
        Finding(c.problem, c.written, _sentence(text, reader.sentences.around(c.start)), c.expected)
        for c in checks
        if c.problem is not None
    ]
    return Verdict(tuple(findings) + tuple(_missing_revenue(text, facts, checks)), tuple(checks))

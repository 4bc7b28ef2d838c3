"""What the words around a number claim about its direction: up (+1), down (-1) or nothing.

A direction word claims the direction of a number it governs, and only then:
- right before it, or with one adverb between ("выросла 12 %", "fell sharply 12%", "down 4%");
- through "на"/"by" up to six words back, with no other number between
  ("снизилась по сравнению с прошлым днём на 41,7 %", "revenue is down by 3%");
- through "of" up to three words back ("a drop of 12%", "an increase in revenue of 5");
- through a copula after a noun ("рост выручки составил 41,7 %", "the decline was 12%",
  "growth stood at 3%");
- right after it, past a unit ("на 12 % меньше", "12% lower", "41,7 % падения").
"до"/"to" make the number a level, not a change: "выросла до 1 500,00" and "fell
from 1,200.00 to 699.60" claim the direction of the change that led to that level
(a ``Claim`` with ``level``; the verifier treats it as a change when the number is
only a change figure: "the increase came to 41.7%"); "с"/"from" make a level with
no claim. "плюс"/"минус"
("plus"/"minus") are explicit signs, read by the verifier like "+" and "−".

The caller passes only the clause around the number (commas, colons, brackets,
dashes and line ends separate clauses), so a word from another clause never counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "Claim",
    "Hedge",
    "WordNumber",
    "direction",
    "hedge",
    "is_multiple",
    "rank_list",
    "scale",
    "sign_word",
    "word_numbers",
]

_UP_STEMS = (
    "вырос",
    "рост",
    "прирост",
    "увелич",
    "подня",
    "подрос",
    "повыс",
    "повыш",
    "прибав",
    "скакн",
    "взлет",
    "взлёт",
    "превыс",
    "превыш",
)
_DOWN_STEMS = (
    "упал",
    "упад",
    "паден",
    "сниж",
    "сниз",
    "сокращ",
    "сократ",
    "уменьш",
    "спад",
    "просел",
    "просад",
    "опусти",
    "потерял",
    "убыл",
    "обвал",
)
_UP_EN = frozenset(
    [
        "rose",
        "rise",
        "rises",
        "risen",
        "rising",
        "grew",
        "grow",
        "grows",
        "growing",
        "grown",
        "growth",
        "increase",
        "increased",
        "increases",
        "increasing",
        "up",
        "gain",
        "gained",
        "gains",
        "jump",
        "jumped",
        "jumps",
        "climb",
        "climbed",
        "climbs",
        "surge",
        "surged",
        "surges",
        "rebound",
        "rebounded",
        "exceed",
        "exceeded",
        "exceeds",
        "exceeding",
        "surpassed",
        "outperformed",
    ]
)
_DOWN_EN = frozenset(
    [
        "fell",
        "fall",
        "falls",
        "falling",
        "fallen",
        "drop",
        "dropped",
        "drops",
        "dropping",
        "decline",
        "declined",
        "declines",
        "declining",
        "decrease",
        "decreased",
        "decreases",
        "decreasing",
        "down",
        "loss",
        "lost",
        "lose",
        "loses",
        "shrank",
        "shrink",
        "shrinks",
        "shrunk",
        "dip",
        "dipped",
        "dips",
        "slump",
        "slumped",
        "plunge",
        "plunged",
        "slid",
        "slide",
        "slides",
        "sank",
        "sink",
        "sinks",
    ]
)
# Comparatives claim a direction only after the number or before "на"/"by"
# ("на 12 % меньше", "выше на 3 %"): "больше 40 товаров" is no change.
_UP_CMP = frozenset(["больше", "выше", "more", "higher", "above"])
_DOWN_CMP = frozenset(["меньше", "ниже", "less", "fewer", "lower", "below"])
# Nouns that a copula links to the number ("рост составил 12 %", "the drop was 5%").
_NOUN_STEMS = (
    "рост",
    "прирост",
    "снижени",
    "падени",
    "спад",
    "сокращени",
    "уменьшени",
    "увеличени",
    "повышени",
    "понижени",
)
_NOUNS_EN = frozenset(
    [
        "growth",
        "increase",
        "decrease",
        "decline",
        "drop",
        "rise",
        "fall",
        "gain",
        "loss",
        "jump",
        "dip",
        "slump",
        "downturn",
        "uptick",
    ]
)
_COPULA = frozenset(
    [
        "составил",
        "составила",
        "составило",
        "составили",
        "составит",
        "составляет",
        "достиг",
        "достигла",
        "достигло",
        "was",
        "were",
        "is",
        "are",
        "amounted",
        "stood",
        "at",
    ]
)
# "makes up 35 %", "broken down": not a direction.
_PHRASAL = frozenset(
    [
        "make",
        "makes",
        "made",
        "making",
        "add",
        "adds",
        "added",
        "sum",
        "sums",
        "summed",
        "end",
        "ends",
        "ended",
        "break",
        "breaks",
        "broke",
        "broken",
        "narrow",
        "narrowed",
    ]
)
_BY = frozenset(("на", "by"))
_TO = frozenset(("до", "to"))
_LEVEL = frozenset(["с", "со", "от", "from"])
# Words that may stand between a direction word and its number without changing the claim.
_SOFT = frozenset(
    [
        "почти",
        "около",
        "примерно",
        "приблизительно",
        "всего",
        "лишь",
        "только",
        "ровно",
        "целых",
        "сразу",
        "ещё",
        "еще",
        "резко",
        "заметно",
        "значительно",
        "существенно",
        "about",
        "around",
        "almost",
        "nearly",
        "roughly",
        "approximately",
        "just",
        "only",
        "some",
        "a",
        "an",
        "sharply",
        "slightly",
        "strongly",
        "steeply",
        "в",
        # bounds and hedges ("выросла более чем на 40 %", "up more than 40%")
        "более",
        "менее",
        "свыше",
        "порядка",
        "чем",
        "over",
        "under",
        "than",
        "more",
        "less",
        "fewer",
        "~",
    ]
)
_UNITS = frozenset(
    [
        "шт",
        "штук",
        "штуки",
        "единиц",
        "единицы",
        "ед",
        "руб",
        "рубля",
        "рублей",
        "rub",
        "rubles",
        "units",
        "unit",
        "pcs",
        "items",
        "percent",
        "процент",
        "процента",
        "процентов",
        "п",
        "пп",
        "pp",
        "points",
        # multiples and scale words ("в 2 раза меньше", "на 1,2 млн меньше")
        "раз",
        "раза",
        "times",
        "fold",
        "тыс",
        "тысяч",
        "тысячи",
        "млн",
        "млрд",
        "миллиона",
        "миллионов",
        "k",
        "m",
        "bn",
        "thousand",
        "million",
        "billion",
    ]
)
_SIGN_WORDS = {"плюс": 1, "минус": -1, "plus": 1, "minus": -1}

_WORD = re.compile(r"[^\W\d_]+|\d+")
_LOOK_BACK = 6  # words between a direction word and "на"/"by"
_LOOK_BACK_OF = 3  # between a noun and "of"
_LOOK_BACK_COPULA = 4  # between a noun and its copula


@dataclass(frozen=True, slots=True)
class Claim:
    way: int  # +1 up, -1 down, 0 no claim
    level: bool = False  # the number is the level reached ("выросла до"), not the change


_NONE = Claim(0)


def _word_direction(word: str, *, comparatives: bool) -> int:
    if word in _UP_EN or word.startswith(_UP_STEMS):
        return 1
    if word in _DOWN_EN or word.startswith(_DOWN_STEMS):
        return -1
    if not comparatives:
        return 0
    return 1 if word in _UP_CMP else -1 if word in _DOWN_CMP else 0


def _direction_before(words: list[str], i: int, *, comparatives: bool) -> int:
    """The direction of words[i], 0 when it is none (or a phrasal "make up")."""
    if i < 0 or words[i].isdigit():
        return 0
    if words[i] in ("up", "down") and i > 0 and words[i - 1] in _PHRASAL:
        return 0
    return _word_direction(words[i], comparatives=comparatives)


def sign_word(before: str) -> int:
    """+1/-1 when the number is preceded by плюс/минус/plus/minus, else 0."""
    words = _WORD.findall(before.lower())
    return _SIGN_WORDS.get(words[-1], 0) if words else 0


def _words_before(before: str) -> list[str]:
    """The words before the number, without a sign word and the soft words next to it."""
    words = _WORD.findall(before.lower())
    if words and words[-1] in _SIGN_WORDS:
        words.pop()  # "выросла на плюс 12 %": the sign word is read on its own
    while words and words[-1] in _SOFT:
        words.pop()
    return words


def _claim_before(words: list[str]) -> Claim | None:
    """The claim of the word right before the number; None when it leaves the number free."""
    last = words[-1]
    if last in _LEVEL:
        return _NONE
    if last in _TO:
        # "fell from 1,200.00 to 699.60", "fell 41.7% to 699.60": the numbers between
        # are the old level or the change; the word still says where this level came from.
        between = [w for w in words[:-1] if not w.isdigit() and w not in _LEVEL]
        return Claim(_look_back(between, len(between) - 1), level=True)
    if last in _BY:
        d = _look_back(words, len(words) - 2)
    elif last == "of":
        d = _look_back(words, len(words) - 2, span=_LOOK_BACK_OF, comparatives=False)
    elif last in _COPULA:
        d = _noun_back(words, len(words) - 2)
    else:
        d = _direction_before(words, len(words) - 1, comparatives=False)
    return Claim(d) if d else None


def direction(before: str, after: str) -> Claim:
    """What the clause's words claim about the direction of the number between `before` and `after`."""
    words = _words_before(before)
    if words and (claim := _claim_before(words)) is not None:
        return claim
    following = [w for w in _WORD.findall(after.lower())[:3] if w not in _UNITS]
    if following and not following[0].isdigit():
        return Claim(_word_direction(following[0], comparatives=True))
    return _NONE


def _look_back(
    words: list[str], last: int, *, span: int = _LOOK_BACK, comparatives: bool = True
) -> int:
    """The nearest direction word at or before words[last], within `span` words and no number."""
    for i in range(last, max(-1, last - span), -1):
        if words[i].isdigit():
            break
        if d := _direction_before(words, i, comparatives=comparatives):
            return d
    return 0


def _noun_back(words: list[str], last: int) -> int:
    """The direction of a noun at or before words[last] that a copula links to the number."""
    for i in range(last, max(-1, last - _LOOK_BACK_COPULA), -1):
        w = words[i]
        if w.isdigit():
            break
        if w in _NOUNS_EN or w.startswith(_NOUN_STEMS):
            return _word_direction(w, comparatives=False)
    return 0


# Forms of a number as people write it (issue 20): scale words, hedges and bounds,
# multiples, ranks, and numbers written as words.

_SCALE = re.compile(
    r"[ \u00a0\u202f\u2009]?(?:"
    r"(?P<k>тыс(?:яч[аи]?)?\.?|k\b|K\b|thousand\b)"
    r"|(?P<m>млн\.?|миллион(?:а|ов)?\b|M\b|mn\b|m\b|million\b)"
    r"|(?P<b>млрд\.?|миллиард(?:а|ов)?\b|bn\b|billion\b))"
)
_SCALES = {"k": Decimal(1000), "m": Decimal(10**6), "b": Decimal(10**9)}


def scale(after: str) -> tuple[Decimal, int]:
    """The scale word right after a number ("4,75 млн", "225k") and how many characters it takes."""
    m = _SCALE.match(after)
    if m is None or m.lastgroup is None:
        return Decimal(1), 0
    return _SCALES[m.lastgroup], m.end()


@dataclass(frozen=True, slots=True)
class Hedge:
    """How exactly a number is meant: as written (rounded at its precision), about it,
    almost it (below and close), or a bound (+1 "over": above it, -1 "under": below)."""

    approx: bool = False
    almost: bool = False
    bound: int = 0
    inclusive: bool = False  # "не более", "at most": the bound itself is allowed

    @property
    def loose(self) -> bool:
        """Trailing zeros ("около 1 200") give the precision only when the number is hedged."""
        return self.approx or self.almost or bool(self.bound)


_APPROX = frozenset(
    [
        "около",
        "примерно",
        "приблизительно",
        "порядка",
        "about",
        "around",
        "approximately",
        "roughly",
        "approx",
        "some",
        "circa",
        "~",
        "≈",
    ]
)
_ALMOST = frozenset(["почти", "almost", "nearly", "практически"])
_OVER = frozenset(
    [
        "более",
        "больше",
        "свыше",
        "over",
        "above",
        "exceeding",
        "превысила",
        "превысил",
        "превысили",
        "превысило",
        "exceeded",
        "surpassed",
    ]
)
_UNDER = frozenset(["менее", "меньше", "under", "below", "fewer"])
_HEDGE_WORD = re.compile(r"[^\W\d_]+|[~≈]")


_PAIRS = {
    ("at", "most"): Hedge(bound=-1, inclusive=True),
    ("up", "to"): Hedge(bound=-1, inclusive=True),
    ("at", "least"): Hedge(bound=1, inclusive=True),
}


def _hedge_words(before: str) -> list[str]:
    words = _HEDGE_WORD.findall(before.lower())[-4:]
    if words and words[-1] in ("на", "by"):
        words.pop()  # "выросла более чем на 40 %": the bound is on the change
    if words and words[-1] in ("чем", "than"):
        words.pop()
    return words


def _bound(last: str, *, negated: bool) -> Hedge | None:
    if last in _OVER:
        return Hedge(bound=-1, inclusive=True) if negated else Hedge(bound=1)
    if last in _UNDER:
        return Hedge(bound=1, inclusive=True) if negated else Hedge(bound=-1)
    return None


def hedge(before: str) -> Hedge:
    """The hedge or bound word right before a number ("около", "более чем", "less than", "не более")."""
    words = _hedge_words(before)
    if not words:
        return Hedge()
    last = words[-1]
    if last in _APPROX:
        return Hedge(approx=True)
    if last in _ALMOST:
        return Hedge(almost=True)
    if last in ("more", "less"):  # only "more than", "less than"
        if "than" not in before.lower()[-12:]:
            return Hedge()
        last = "over" if last == "more" else "under"
    negated = len(words) > 1 and words[-2] in ("не", "not")
    found = _bound(last, negated=negated)
    if found is not None:
        return found
    return _PAIRS.get((words[-2], last), Hedge()) if len(words) > 1 else Hedge()


_MULTIPLE_AFTER = re.compile(r"[ \u00a0]?(?:раз[а]?\b|times\b|[×xх](?!\w)|-?fold\b)", re.I)


def is_multiple(before: str, after: str) -> int:
    """Characters of the multiple marker after the number ("в 6,6 раза", "3×", "2-fold"),
    -1 when it stands before it ("×3"), 0 when the number is no multiple."""
    m = _MULTIPLE_AFTER.match(after)
    if m is not None:
        return m.end()
    return -1 if before.endswith(("×", "x")) else 0


_RANK_PHRASE = re.compile(
    r"^[\s\-]*(?:й|я|е|ое|ий|ая|ой|ом|м|ым|st|nd|rd|th)?\b[\s,]*(?:место\s+|place\s+|product\s+|товар\s+)?"
    r"(?:(?P<rev>по\s+выручке|by\s+revenue|in\s+revenue)|"
    r"(?P<units>по\s+(?:продажам|количеству|штукам|объ[её]му)|by\s+(?:units|volume|quantity)(?:\s+sold)?|in\s+units))",
    re.I,
)


def rank_list(after: str) -> str | None:
    """ "top_by_revenue" or "top_by_units" when the number is a rank in that list ("-й по выручке")."""
    m = _RANK_PHRASE.match(after)
    if m is None:
        return None
    return "top_by_revenue" if m.group("rev") else "top_by_units"


@dataclass(frozen=True, slots=True)
class WordNumber:
    start: int
    end: int
    value: Decimal
    kind: str  # "multiple", "rank", "count" or "number" (a scale follows: "полтора млн")
    way: int = 0  # "halved": the multiple is a fall


_MULTIPLE_WORDS: dict[str, int] = {
    "вдвое": 2,
    "втрое": 3,
    "вчетверо": 4,
    "впятеро": 5,
    "twice": 2,
    "double": 2,
    "doubled": 2,
    "triple": 3,
    "tripled": 3,
    "quadrupled": 4,
    "halved": 2,
}
_CARDINALS: dict[str, int | Decimal] = {
    "два": 2,
    "две": 2,
    "три": 3,
    "четыре": 4,
    "пять": 5,
    "шесть": 6,
    "семь": 7,
    "восемь": 8,
    "девять": 9,
    "десять": 10,
    "двух": 2,
    "трёх": 3,
    "трех": 3,
    "четырёх": 4,
    "четырех": 4,
    "пяти": 5,
    "шести": 6,
    "семи": 7,
    "восьми": 8,
    "девяти": 9,
    "десяти": 10,
    "полтора": Decimal("1.5"),
    "полторы": Decimal("1.5"),
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_ORDINALS = {
    "перв": 1,
    "втор": 2,
    "трет": 3,
    "четв": 4,
    "пят": 5,
    "шест": 6,
    "седьм": 7,
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
}
_WORD_NUMBER = re.compile(
    r"(?<![\w-])(?:(?P<mul>вдвое|втрое|вчетверо|впятеро|twice|double[d]?|triple[d]?|quadrupled|halved)"
    r"|(?:в\s+)?(?P<card>два|две|три|четыре|пять|шесть|семь|восемь|девять|десять|полтора|полторы"
    r"|двух|тр[её]х|четыр[её]х|пяти|шести|семи|восьми|девяти|десяти"
    r"|two|three|four|five|six|seven|eight|nine|ten)"
    r"(?P<times>\s+(?:раза?|times)\b)?"
    r"|(?P<ord>(?:перв|втор|трет|четв[её]рт|пят|шест|седьм)(?:ый|ая|ое|ой|ым|ом|ую|ий|ья|ье|ьей|ьим|ьем|ью|ого|ому)"
    r"|first|second|third|fourth|fifth|sixth|seventh)"
    r"|(?P<half>by\s+half|in\s+half))(?![\w-])",
    re.I,
)
_COUNTED = re.compile(
    r"\s+(?:\w+\s+)?(?:товар|категори|позици|продукт|наименован|дн|дня|product|categor|item|sku|day)",
    re.I,
)


def _ordinal(word: str) -> int:
    w = word.lower()
    return next(v for stem, v in _ORDINALS.items() if w.startswith(stem))


def _word_number(m: re.Match[str], text: str) -> WordNumber | None:
    """What a number word claims, None when it claims nothing ("два слова" is not a figure)."""
    if m.group("mul"):
        word = m.group("mul").lower()
        return WordNumber(
            m.start(),
            m.end(),
            Decimal(_MULTIPLE_WORDS[word]),
            "multiple",
            -1 if word == "halved" else 0,
        )
    if m.group("half"):
        return WordNumber(m.start(), m.end(), Decimal(2), "multiple", -1)
    if m.group("ord"):
        if rank_list(text[m.end() : m.end() + 40]) is None:
            return None
        return WordNumber(m.start(), m.end(), Decimal(_ordinal(m.group("ord"))), "rank")
    value = Decimal(_CARDINALS[m.group("card").lower()])
    if m.group("times"):
        return WordNumber(m.start(), m.end(), value, "multiple")
    rest = text[m.end() : m.end() + 30]
    if scale(rest)[1]:
        return WordNumber(m.start(), m.end(), value, "number")
    if _COUNTED.match(rest) and value == value.to_integral_value():
        return WordNumber(m.start("card"), m.end(), value, "count")
    return None


def word_numbers(text: str) -> list[WordNumber]:
    """The numbers of a text written as words that claim a figure: multiples ("вдвое",
    "в два раза", "twice"), ranks ("третий по выручке"), counts ("три товара") and
    amounts with a scale word ("полтора млн")."""
    out = []
    for m in _WORD_NUMBER.finditer(text):
        w = _word_number(m, text)
        if w is not None:
            out.append(w)
    return out

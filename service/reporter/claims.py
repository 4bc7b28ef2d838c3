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

__all__ = ["Claim", "direction", "sign_word"]

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
    if comparatives:
        if word in _UP_CMP:
            return 1
        if word in _DOWN_CMP:
            return -1
    return 0


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


def direction(before: str, after: str) -> Claim:
    """What the clause's words claim about the direction of the number between `before` and `after`."""
    words = _WORD.findall(before.lower())
    if words and words[-1] in _SIGN_WORDS:
        words.pop()  # "выросла на плюс 12 %": the sign word is read on its own
    while words and words[-1] in _SOFT:
        words.pop()
    if words:
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
        if d:
            return Claim(d)
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

"""Build the verifier's corpus: report texts written the way models write them, with the
facts they are about and the expected verdict on every figure that matters.

    .venv/bin/python -m tests.unit.verifier_corpus.build      # rewrites corpus.json

How: 48 days of facts (seeded: realistic Russian and English product and category names,
prices from 90 to 90 000, quantities from 1 to 1 200, a previous day for most) are computed
with the tests' plain-Python factory (``reporter_factories.make_facts``). For each day,
honest reports are assembled from sentence templates, each stating one or a few figures in
one *form* (copied, rounded, a scale word, a hedge, "почти", a bound, a multiple in digits
or words, a difference, a share or percentage points from parts, a rank, a count in words,
a range, dates, numbered lists and sections), in Russian and English. Each lying report is an
honest one with one sentence replaced by the same form told wrong (a wrong rounding, the
wrong scale word, "почти" above the fact, a bound on the wrong side, the multiple or
difference of nothing, a share of the wrong product, a rise for a fall, a wrong sign, a
percentage as an amount, the wrong rank, the wrong count, a date of no fact). A lie is kept
only when an independent check (``_clear``: no value of the facts, and no ratio, difference
or share of two of them, within two units of the last digit written) says no reading of it is
true, so the corpus does not depend on the verifier it tests. A few hand-written reports
(``HAND``) are added as they are.

Stored (``dump``/``load``): each day's facts once, then one report a line. Every report:
``facts`` (Facts as JSON), ``language``, ``text``, ``honest``, ``forms`` (the
forms of its figures), and for a lie ``lie`` = {"written": the lying figure as written,
"form": its form, "kind": how it lies}.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from itertools import combinations
from pathlib import Path
from typing import Any

from service.figures.facts import Facts

from ..reporter_factories import Product, make_facts

OUT = Path(__file__).with_name("corpus.json")
NB = "\u00a0"

_RU_PRODUCTS = [
    ("Чайник Bosch TWK", "Кухня"),
    ("Фен Philips BHD", "Красота"),
    ("Блендер Braun", "Кухня"),
    ("Утюг Tefal", "Дом"),
    ("Пылесос Dyson V8", "Дом"),
    ("Наушники Sony", "Электроника"),
    ("Смартфон Xiaomi", "Электроника"),
    ("Кофемашина DeLonghi", "Кухня"),
    ("Плойка Rowenta", "Красота"),
    ("Электробритва Braun", "Красота"),
    ("Роутер TP-Link", "Электроника"),
    ("Мультиварка Redmond", "Кухня"),
]
_EN_PRODUCTS = [
    ("Acme Kettle", "Kitchen"),
    ("Nova Hair Dryer", "Beauty"),
    ("Vortex Blender", "Kitchen"),
    ("Steam Iron Pro", "Home"),
    ("Cyclone Vacuum", "Home"),
    ("Echo Headphones", "Electronics"),
    ("Pixel Phone", "Electronics"),
    ("Barista Coffee Maker", "Kitchen"),
    ("Curl Wand", "Beauty"),
    ("Smooth Shaver", "Beauty"),
    ("Mesh Router", "Electronics"),
    ("Slow Cooker", "Kitchen"),
]

_ORD_RU = {1: "первый", 2: "второй", 3: "третий", 4: "четвёртый", 5: "пятый"}
_ORD_EN = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
_CARD_RU = {2: "два", 3: "три", 4: "четыре", 5: "пять", 6: "шесть", 7: "семь", 8: "восемь"}
_CARD_EN = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


# --- formatting as a writer does -------------------------------------------------------


def num(x: Decimal, places: int, lang: str, *, group: bool = True) -> str:
    q = Decimal(1).scaleb(-places)
    text = f"{abs(x.quantize(q, rounding=ROUND_HALF_UP)):,.{places}f}"
    if not group:
        text = text.replace(",", "")
    if lang == "ru":
        text = text.replace(",", NB).replace(".", ",")
    return ("-" if x < 0 else "") + text


def pct(x: Decimal, places: int, lang: str) -> str:
    return num(x, places, lang) + (f"{NB}%" if lang == "ru" else "%")


def rub(lang: str) -> str:
    return "руб." if lang == "ru" else "RUB"


def scaled(x: Decimal, lang: str, places: int = 2) -> tuple[str, Decimal]:
    """x with a scale word: "4,75 млн" / "4.75M"; and the unit of its last digit."""
    if x >= 10**6:
        word, factor = ("млн", Decimal(10**6)) if lang == "ru" else ("M", Decimal(10**6))
    else:
        word, factor = ("тыс.", Decimal(1000)) if lang == "ru" else ("k", Decimal(1000))
    sep = NB if lang == "ru" else ""
    return num(x / factor, places, lang) + sep + word, factor * Decimal(1).scaleb(-places)


def sig_unit(x: Decimal, digits: int = 2) -> Decimal:
    """One unit of the `digits`-th significant digit of x."""
    return Decimal(1).scaleb(math.floor(math.log10(abs(float(x)))) - digits + 1)


def step(x: Decimal, unit: Decimal, rounding: str) -> Decimal:
    return (x / unit).quantize(Decimal(1), rounding=rounding) * unit


def plain(x: Decimal, lang: str) -> str:
    """A whole number as written (grouped), trailing zeros kept."""
    return num(x, 0, lang)


# --- an independent check that a lie is no reading of the facts -----------------------


@dataclass
class Truths:
    values: list[Decimal] = field(default_factory=list)
    ratios: list[Decimal] = field(default_factory=list)


def _leaves(o: Any, into: list[Decimal]) -> None:
    """Every number in a JSON value (numbers and numeric strings), as magnitudes."""
    if isinstance(o, dict):
        o = list(o.values())
    if isinstance(o, list):
        for v in o:
            _leaves(v, into)
    elif isinstance(o, (int, float, str)) and not isinstance(o, bool):
        with contextlib.suppress(ArithmeticError, ValueError):
            into.append(abs(Decimal(str(o))))


def _pairs(facts: Facts, t: Truths) -> None:
    """Differences of two products' (or categories') figures of one kind; shares of totals."""
    prods = list({p.product_id: p for p in (*facts.top_by_units, *facts.top_by_revenue)}.values())
    cats = [c for c in facts.categories if not c.is_other]
    kinds: list[list[Decimal]] = [
        [p.revenue for p in prods],
        [Decimal(p.units) for p in prods],
        [c.revenue for c in cats],
        [Decimal(c.units) for c in cats],
        [c.share_of_revenue for c in cats if c.share_of_revenue is not None],
    ]
    t.values += [abs(a - b) for group in kinds for a, b in combinations(group, 2)]
    t.values += [p.revenue / facts.total_revenue * 100 for p in prods]
    t.values += [Decimal(p.units) / facts.total_units * 100 for p in prods]
    t.values += [p.revenue / p.units for p in prods if p.units]
    t.values += [Decimal(c.units) / facts.total_units * 100 for c in facts.categories]
    running = Decimal(0)
    for p in facts.top_by_revenue:
        running += p.revenue
        t.values.append(running / facts.total_revenue * 100)


def _history(facts: Facts, t: Truths) -> None:
    """A mover's percent change; the day against the previous day and the average."""
    h = facts.history
    if h is None:
        return
    t.values += [
        abs(Decimal(m.change)) / m.units_before * 100
        for m in (*h.movers_up, *h.movers_down)
        if m.units_before
    ]
    for now, before in (
        (facts.total_revenue, h.previous_revenue),
        (Decimal(facts.total_units), Decimal(h.previous_units)),
        (facts.total_revenue, h.trailing_avg_revenue),
        (Decimal(facts.total_units), h.trailing_avg_units),
    ):
        if now and before:
            t.ratios.append(max(now, before) / min(now, before))


def truths(facts: Facts) -> Truths:
    """Every value in the facts, and what follows from two of them: shares of the totals,
    differences of two products' (or categories') figures of one kind, a mover's percent
    change, the day's multiples against the previous day and the average."""
    vals: list[Decimal] = []
    _leaves(facts.model_dump(mode="json"), vals)
    t = Truths(sorted({v for v in vals if v > 0}))
    _pairs(facts, t)
    _history(facts, t)
    return t


def clear(value: Decimal, unit: Decimal, pool: list[Decimal]) -> bool:
    """No true value within two units of the lie's last digit (or 3 % of it)."""
    margin = 2 * unit
    return all(abs(v - value) > margin for v in pool)


# --- sentences --------------------------------------------------------------------------


@dataclass
class Sentence:
    text: str
    form: str
    lie: dict[str, str] | None = None


Maker = Callable[[Facts, str, random.Random, Truths], "tuple[Sentence, Sentence | None]"]


def _prod(f: Facts, i: int) -> Any:
    return f.top_by_revenue[i]


def s_copied(
    f: Facts, lang: str, rng: random.Random, t: Truths
) -> tuple[Sentence, Sentence | None]:
    r = num(f.total_revenue, 2, lang)
    text = (
        f"Выручка за день составила {r} {rub(lang)}, продано {plain(Decimal(f.total_units), lang)} шт."
        if lang == "ru"
        else f"Revenue for the day was {r} {rub(lang)} with {plain(Decimal(f.total_units), lang)} units sold."
    )
    fake = f.total_revenue * Decimal(rng.choice(["1.07", "0.91", "1.13"]))
    w = num(fake, 2, lang)
    if not clear(fake, Decimal("0.01"), t.values):
        return Sentence(text, "copied"), None
    lie = text.replace(r, w, 1)
    return Sentence(text, "copied"), Sentence(lie, "copied", {"written": w, "kind": "made_up"})


def s_rounded(
    f: Facts, lang: str, rng: random.Random, t: Truths
) -> tuple[Sentence, Sentence | None]:
    p = _prod(f, 0)
    r = num(p.revenue, 0, lang)
    text = (
        f"Лидер по выручке — {p.name}: {r} {rub(lang)}"
        if lang == "ru"
        else f"The revenue leader is {p.name} with {r} {rub(lang)}."
    )
    fake = p.revenue + Decimal(rng.choice([-1, 1])) * max(Decimal(40), p.revenue * Decimal("0.06"))
    w = num(fake, 0, lang)
    if fake <= 0 or not clear(fake, Decimal(1), t.values):
        return Sentence(text, "rounded"), None
    return Sentence(text, "rounded"), Sentence(
        text.replace(r, w, 1), "rounded", {"written": w, "kind": "wrong_rounding"}
    )


def s_scaled(
    f: Facts, lang: str, rng: random.Random, t: Truths
) -> tuple[Sentence, Sentence | None]:
    w, unit = scaled(f.total_revenue, lang)
    hedge = rng.choice(["около ", "примерно ", ""] if lang == "ru" else ["about ", "roughly ", ""])
    form = "approximate" if hedge else "scaled"
    text = (
        f"Итого выручка — {hedge}{w} {rub(lang)}"
        if lang == "ru"
        else f"Total revenue came to {hedge}{w} {rub(lang)}."
    )
    kind = rng.choice(["wrong_rounding", "wrong_scale"])
    if kind == "wrong_scale":
        factor = Decimal(1000) if f.total_revenue < 10**6 else Decimal(10**6)
        other = (
            ("млн" if factor == 1000 else "тыс.")
            if lang == "ru"
            else ("M" if factor == 1000 else "k")
        )
        word = w.split(NB)[-1] if lang == "ru" else w[-1]
        lw = w[: -len(word)] + other
        lie_value = f.total_revenue * (Decimal(1000) if factor == 1000 else Decimal("0.001"))
        lu = unit * 1000 if factor == 1000 else unit / 1000
    else:
        lie_value = f.total_revenue + unit * rng.choice([-7, -5, 5, 8])
        lw, lu = scaled(lie_value, lang)
    if not clear(lie_value, lu, t.values):
        return Sentence(text, form), None
    return Sentence(text, form), Sentence(
        text.replace(w, lw, 1), form, {"written": lw, "kind": kind}
    )


def s_almost(
    f: Facts, lang: str, rng: random.Random, t: Truths
) -> tuple[Sentence, Sentence | None]:
    x = f.total_revenue
    unit = sig_unit(x, 2)
    n = step(x, unit, ROUND_CEILING)
    if n - x > n / 20:  # "almost" is close: a digit more
        unit = sig_unit(x, 3)
        n = step(x, unit, ROUND_CEILING)
    if n == x:
        n += unit
    w = plain(n, lang)
    text = (
        f"За день получено почти {w} {rub(lang)} выручки."
        if lang == "ru"
        else f"Revenue was almost {w} {rub(lang)}."
    )
    low = step(x, unit, ROUND_FLOOR)
    if low == x:
        return Sentence(text, "almost"), None
    lw = plain(low, lang)  # "почти N" with the fact above N
    if not clear(low, unit, [v for v in t.values if v != x]):
        return Sentence(text, "almost"), None
    return Sentence(text, "almost"), Sentence(
        text.replace(w, lw, 1), "almost", {"written": lw, "kind": "almost_above"}
    )


def s_bound(f: Facts, lang: str, rng: random.Random, t: Truths) -> tuple[Sentence, Sentence | None]:
    x = Decimal(f.total_units)
    if x < 20:
        return s_copied(f, lang, rng, t)
    unit = sig_unit(x, 2)
    low = step(x, unit, ROUND_FLOOR)
    if low == x:
        low -= unit
    w = plain(low, lang)
    text = f"Продано более {w} шт. товаров." if lang == "ru" else f"More than {w} units were sold."
    high = step(x, unit, ROUND_CEILING)
    if high == x:
        high += unit
    lw = plain(high, lang)  # "более N" with the fact below N
    if not clear(high, unit, [v for v in t.values if v != x]):
        return Sentence(text, "bound"), None  # another figure is above N: no clear lie
    return Sentence(text, "bound"), Sentence(
        text.replace(w, lw, 1), "bound", {"written": lw, "kind": "bound_wrong_side"}
    )


def s_multiple(
    f: Facts, lang: str, rng: random.Random, t: Truths
) -> tuple[Sentence, Sentence | None]:
    h = f.history
    if h is None:
        return s_share(f, lang, rng, t)
    movers = [m for m in h.movers_up if m.units_before > 0 and m.units_now / m.units_before >= 1.3]
    if movers:
        m = movers[0]
        r = Decimal(m.units_now) / Decimal(m.units_before)
        w = num(r, 1, lang)
        text = (
            f"Продажи {m.name} выросли с {m.units_before} до {m.units_now} шт., то есть примерно в {w} раза."
            if lang == "ru"
            else f"Sales of {m.name} grew from {m.units_before} to {m.units_now} units, roughly {w}x."
        )
    else:
        a, b = f.top_by_units[0], f.top_by_units[-1]
        if b.units == 0 or a.units == b.units:
            return s_share(f, lang, rng, t)
        r = Decimal(a.units) / Decimal(b.units)
        w = num(r, 1, lang)
        text = (
            f"{a.name} продан в {w} раза большем количестве, чем {b.name}."
            if lang == "ru"
            else f"{a.name} sold {w} times as many units as {b.name}."
        )
    fake = (
        r + Decimal(rng.choice(["0.8", "1.3", "-0.6"]))
        if r > Decimal("1.9")
        else r + Decimal("0.9")
    )
    lw = num(fake, 1, lang)
    # Multiples of the day (unnamed) and of the subject named: what the sentence may state.
    if not clear(fake, Decimal("0.1"), [*t.ratios, r]):
        return Sentence(text, "multiple"), None
    return Sentence(text, "multiple"), Sentence(
        text.replace(f" {w} ", f" {lw} ", 1).replace(f" {w}x", f" {lw}x", 1),
        "multiple",
        {"written": lw, "kind": "wrong_multiple"},
    )


def s_word_multiple(
    f: Facts, lang: str, rng: random.Random, t: Truths
) -> tuple[Sentence, Sentence | None]:
    h = f.history
    if h is None or h.previous_revenue <= 0:
        return s_rank(f, lang, rng, t)
    r = f.total_revenue / h.previous_revenue
    if r < 1:
        r = 1 / r
    words = {2: ("вдвое", "twice"), 3: ("втрое", "three times")}
    near = int(r.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if near in words and abs(r - near) < Decimal("0.05"):
        ru, en = words[near]
        up = f.total_revenue > h.previous_revenue
        text = (
            f"Выручка {'выросла' if up else 'снизилась'} {ru} к прошлому дню."
            if lang == "ru"
            else f"Revenue {'rose' if up else 'fell'} {en} as much as the day before."
        )
        return Sentence(text, "multiple_word"), None
    # No word fits: a word multiple here is a lie.
    w = num(r, 1, lang)
    up = f.total_revenue > h.previous_revenue
    text = (
        f"Выручка {'выше' if up else 'ниже'} вчерашней в {w} раза."
        if lang == "ru"
        else f"Revenue was {w} times {'higher' if up else 'lower'} than the day before."
    )
    fake_word = next(
        (
            (ru, en)
            for k, (ru, en) in words.items()
            if abs(r - k) > Decimal("0.3") and clear(Decimal(k), Decimal("0.1"), [*t.ratios, r])
        ),
        None,
    )
    if fake_word is None:
        return Sentence(text, "multiple"), None
    ru, en = fake_word
    lie = (
        f"Выручка {'выросла' if up else 'снизилась'} {ru} к прошлому дню."
        if lang == "ru"
        else f"Revenue {'rose' if up else 'fell'} {en} as much as the day before."
    )
    lie = lie if lang == "ru" else lie.replace(" as much as the day before", "")
    return Sentence(text, "multiple"), Sentence(
        lie, "multiple_word", {"written": ru if lang == "ru" else en, "kind": "wrong_multiple"}
    )


def s_difference(
    f: Facts, lang: str, rng: random.Random, t: Truths
) -> tuple[Sentence, Sentence | None]:
    a, b = f.top_by_units[0], f.top_by_units[1] if len(f.top_by_units) > 1 else None
    if b is None or a.units == b.units:
        return s_rounded(f, lang, rng, t)
    d = Decimal(a.units - b.units)
    w = plain(d, lang)
    text = (
        f"{a.name} продан на {w} шт. больше, чем {b.name}."
        if lang == "ru"
        else f"{a.name} sold {w} more units than {b.name}."
    )
    fake = d + max(Decimal(5), d * Decimal("0.3"))
    lw = plain(fake, lang)
    if not clear(fake, Decimal(1), t.values):
        return Sentence(text, "difference"), None
    return Sentence(text, "difference"), Sentence(
        text.replace(f" {w} ", f" {lw} ", 1),
        "difference",
        {"written": lw, "kind": "wrong_difference"},
    )


def s_share(f: Facts, lang: str, rng: random.Random, t: Truths) -> tuple[Sentence, Sentence | None]:
    p = _prod(f, 0)
    share = p.revenue / f.total_revenue * 100
    places = rng.choice([0, 1])
    hedge = ("около " if lang == "ru" else "about ") if places == 0 else ""
    w = pct(share, places, lang)
    text = (
        f"На {p.name} пришлось {hedge}{w} выручки."
        if lang == "ru"
        else f"{p.name} accounted for {hedge}{w} of revenue."
    )
    if len(f.top_by_revenue) > 1 and rng.random() < 0.4:
        q = _prod(f, 1)
        qs = q.revenue / f.total_revenue * 100
        if abs(qs - share) > 3:
            # the other product's share given to this one
            lw = pct(share, places, lang)
            lie = (
                f"На {q.name} пришлось {hedge}{lw} выручки."
                if lang == "ru"
                else f"{q.name} accounted for {hedge}{lw} of revenue."
            )
            return Sentence(text, "share"), Sentence(
                lie, "share", {"written": lw, "kind": "wrong_owner"}
            )
    fake = share + Decimal(rng.choice([-6, 5, 9]))
    lw = pct(fake, places, lang)
    if fake <= 0 or not clear(fake, Decimal(1).scaleb(-places), t.values):
        return Sentence(text, "share"), None
    return Sentence(text, "share"), Sentence(
        text.replace(w, lw, 1), "share", {"written": lw, "kind": "wrong_share"}
    )


def s_pp(f: Facts, lang: str, rng: random.Random, t: Truths) -> tuple[Sentence, Sentence | None]:
    cats = [c for c in f.categories if not c.is_other and c.share_of_revenue is not None]
    if len(cats) < 2:
        return s_share(f, lang, rng, t)
    a, b = cats[0], cats[1]
    assert a.share_of_revenue is not None and b.share_of_revenue is not None
    d = a.share_of_revenue - b.share_of_revenue
    w = num(d, 1, lang)
    text = (
        f"Доля категории {a.name} на {w} п.п. больше, чем у категории {b.name}."
        if lang == "ru"
        else f"The {a.name} category's share is {w} pp above that of {b.name}."
    )
    fake = d + Decimal(rng.choice([4, 7]))
    lw = num(fake, 1, lang)
    if not clear(fake, Decimal("0.1"), t.values):
        return Sentence(text, "percentage_points"), None
    return Sentence(text, "percentage_points"), Sentence(
        text.replace(f" {w} ", f" {lw} ", 1),
        "percentage_points",
        {"written": lw, "kind": "wrong_share"},
    )


def s_change(
    f: Facts, lang: str, rng: random.Random, t: Truths
) -> tuple[Sentence, Sentence | None]:
    h = f.history
    if h is None or h.revenue_change_pct is None or h.revenue_change == 0:
        return s_scaled(f, lang, rng, t)
    up = h.revenue_change > 0
    w = pct(abs(h.revenue_change_pct), 1, lang)
    verb_ru, verb_en = ("выросла", "rose") if up else ("снизилась", "fell")
    anti_ru, anti_en = ("снизилась", "fell") if up else ("выросла", "rose")
    text = (
        f"По сравнению с прошлым днём выручка {verb_ru} на {w}."
        if lang == "ru"
        else f"Compared with the previous day, revenue {verb_en} by {w}."
    )
    kind = rng.choice(["wrong_direction", "wrong_sign", "percent_as_amount"])
    size = abs(h.revenue_change_pct)
    if kind != "percent_as_amount" and not clear(
        size, Decimal("0.1"), [v for v in t.values if v != size]
    ):
        return Sentence(text, "percent_change"), None  # another percent of that size
    if kind == "wrong_direction":
        lie = text.replace(
            verb_ru if lang == "ru" else verb_en, anti_ru if lang == "ru" else anti_en
        )
        lw = w
    elif kind == "wrong_sign":
        lw = ("-" if up else "+") + w
        lie = (
            f"Изменение выручки к прошлому дню: {lw}."
            if lang == "ru"
            else f"Revenue change against the previous day: {lw}."
        )
    else:  # the percentage given as an amount (no amount of the facts has one decimal like it)
        lw = num(abs(h.revenue_change_pct), 1, lang)
        lie = (
            f"По сравнению с прошлым днём выручка {verb_ru} на {lw} {rub(lang)}"
            if lang == "ru"
            else f"Compared with the previous day, revenue {verb_en} by {lw} {rub(lang)}."
        )
    return Sentence(text, "percent_change"), Sentence(
        lie, "percent_change", {"written": lw, "kind": kind}
    )


def s_rank(f: Facts, lang: str, rng: random.Random, t: Truths) -> tuple[Sentence, Sentence | None]:
    n = len(f.top_by_revenue)
    if n < 3:
        return s_rounded(f, lang, rng, t)
    k = rng.randint(2, n)
    p = f.top_by_revenue[k - 1]
    word = _ORD_RU[k] if lang == "ru" else _ORD_EN[k]
    text = f"{p.name} — {word} по выручке." if lang == "ru" else f"{p.name} is {word} by revenue."
    wrong = rng.choice([j for j in range(1, n + 1) if j != k])
    lw = _ORD_RU[wrong] if lang == "ru" else _ORD_EN[wrong]
    return Sentence(text, "rank"), Sentence(
        text.replace(word, lw, 1), "rank", {"written": lw, "kind": "wrong_rank"}
    )


def s_count(f: Facts, lang: str, rng: random.Random, t: Truths) -> tuple[Sentence, Sentence | None]:
    n = f.distinct_categories
    if n not in _CARD_RU:
        return s_rank(f, lang, rng, t)
    w = _CARD_RU[n] if lang == "ru" else _CARD_EN[n]
    text = (
        f"Продажи шли в {w} категориях товаров."
        if lang == "ru"
        else f"Sales came from {w} categories of products."
    )
    counts = {
        f.distinct_products,
        f.distinct_categories,
        f.total_units,
        len(f.top_by_units),
        len(f.top_by_revenue),
        len(f.categories),
        *f.parameters.model_dump().values(),
        *(p.units for p in (*f.top_by_units, *f.top_by_revenue)),
        *(c.units for c in f.categories),
    }
    if f.history is not None:
        h = f.history
        counts |= {
            h.previous_units,
            h.trailing_days,
            h.new_products.count,
            h.missing_products.count,
            len(h.movers_up),
            len(h.movers_down),
            len(h.new_products.names),
            len(h.missing_products.names),
            *(m.units_now for m in (*h.movers_up, *h.movers_down)),
            *(m.units_before for m in (*h.movers_up, *h.movers_down)),
            *(abs(m.change) for m in (*h.movers_up, *h.movers_down)),
        }
    wrong = [k for k in _CARD_RU if k not in counts]
    if not wrong:
        return Sentence(text, "count_word"), None
    k = rng.choice(wrong)
    lw = _CARD_RU[k] if lang == "ru" else _CARD_EN[k]
    return Sentence(text, "count_word"), Sentence(
        text.replace(f" {w} ", f" {lw} ", 1), "count_word", {"written": lw, "kind": "wrong_count"}
    )


def s_range(f: Facts, lang: str, rng: random.Random, t: Truths) -> tuple[Sentence, Sentence | None]:
    units = [p.units for p in f.top_by_units]
    lo, hi = min(units), max(units)
    if lo == hi:
        return s_copied(f, lang, rng, t)
    text = (
        f"Лидеры продаж продали от {lo} до {hi} шт. каждый."
        if lang == "ru"
        else f"The top sellers sold between {lo} and {hi} units each."
    )
    fake = Decimal(hi) + max(Decimal(7), Decimal(hi) * Decimal("0.2"))
    lw = plain(fake, lang)
    if not clear(fake, Decimal(1), t.values):
        return Sentence(text, "range"), None
    return Sentence(text, "range"), Sentence(
        text.replace(f" {hi} ", f" {lw} ", 1), "range", {"written": lw, "kind": "made_up"}
    )


def s_date(f: Facts, lang: str, rng: random.Random, t: Truths) -> tuple[Sentence, Sentence | None]:
    d = f.sales_date
    w = d.strftime("%d.%m.%Y")
    text = f"Отчёт за {w}." if lang == "ru" else f"Report for {d.isoformat()}."
    wrong = d + dt.timedelta(days=rng.choice([20, 40, 400]))
    lw = wrong.strftime("%d.%m.%Y") if lang == "ru" else wrong.isoformat()
    return Sentence(text, "date"), Sentence(
        text.replace(w if lang == "ru" else d.isoformat(), lw),
        "date",
        {"written": lw, "kind": "wrong_date"},
    )


def s_mover_change(
    f: Facts, lang: str, rng: random.Random, t: Truths
) -> tuple[Sentence, Sentence | None]:
    h = f.history
    if h is None or not h.movers_down:
        return s_difference(f, lang, rng, t)
    m = h.movers_down[0]
    w = plain(Decimal(-m.change), lang)
    text = (
        f"Сильнее всего упали продажи {m.name}: на {w} шт."
        if lang == "ru"
        else f"The biggest fall was {m.name}, down {w} units."
    )
    lie = (
        text.replace("упали", "выросли")
        if lang == "ru"
        else text.replace("fall", "rise").replace("down", "up")
    )
    return Sentence(text, "copied"), Sentence(
        lie, "copied", {"written": w, "kind": "wrong_direction"}
    )


MAKERS: list[Maker] = [
    s_copied,
    s_rounded,
    s_scaled,
    s_almost,
    s_bound,
    s_multiple,
    s_word_multiple,
    s_difference,
    s_share,
    s_pp,
    s_change,
    s_rank,
    s_count,
    s_range,
    s_date,
    s_mover_change,
]


def _heading(lang: str, n: int) -> str:
    ru = [
        "Итоги дня",
        "Лидеры продаж",
        "Категории",
        "Сравнение с предыдущими днями",
        "Рекомендации",
    ]
    en = [
        "Summary",
        "Top products",
        "Categories",
        "Comparison with previous days",
        "Recommendations",
    ]
    return f"## {n}. {(ru if lang == 'ru' else en)[n - 1]}"


def _recommendations(lang: str) -> str:
    if lang == "ru":
        return (
            "1. Пополнить запасы лидеров продаж.\n2. Проверить цены в слабых категориях.\n"
            "Рекомендация 3: повторить акцию (см. пункт 2)."
        )
    return (
        "1. Restock the best sellers.\n2) Review prices in the weak categories.\n"
        "Recommendation 3: repeat the promotion (see step 2)."
    )


def report(parts: list[Sentence], lang: str, rng: random.Random) -> str:
    heads = [_heading(lang, i) for i in range(1, 6)]
    body = [heads[0]]
    for i, s in enumerate(parts):
        if i == len(parts) // 2:
            body.append(heads[1])
        body.append(("- " if rng.random() < 0.3 else "") + s.text)
    body += [heads[4], _recommendations(lang)]
    return "\n".join(body)


def _products(rng: random.Random, lang: str) -> list[Product]:
    names = _RU_PRODUCTS if lang == "ru" else _EN_PRODUCTS
    picked = rng.sample(names, rng.randint(4, len(names)))
    scale = rng.choice([1, 10, 100])
    return [
        Product(
            i + 1,
            name,
            cat,
            rng.randint(1, 1200),
            Decimal(rng.randint(90 * scale, 900 * scale)) + Decimal(rng.randint(0, 99)) / 100,
        )
        for i, (name, cat) in enumerate(picked)
    ]


def _facts(seed: int, lang: str) -> Facts:
    rng = random.Random(seed)
    day = dt.date(2025, rng.randint(1, 12), rng.randint(1, 28))
    now = _products(rng, lang)
    earlier = None
    if rng.random() < 0.85:
        before = [
            Product(
                p.product_id,
                p.name,
                p.category,
                max(1, int(p.quantity * rng.uniform(0.2, 2.5))),
                p.price,
            )
            for p in now
            if rng.random() < 0.9
        ]
        earlier = {day - dt.timedelta(days=1): before}
    return make_facts(day, now, earlier=earlier)


def _hand_facts() -> Facts:
    """The issue's day: revenue 4 752 113,20; Чайник Bosch 224 999,94 and 10 → 66 units;
    Красота 13,2 % of revenue; revenue +13,7 %, units +81 against the day before."""
    day = dt.date(2025, 6, 10)
    now = [
        Product(1, "Чайник Bosch", "Кухня", 66, Decimal("3409.09")),
        Product(2, "Фен Philips", "Красота", 200, Decimal("3136.39")),
        Product(3, "Ноутбук Lenovo", "Электроника", 49, Decimal("79588.47")),
        Product(4, "Кабель USB", "Электроника", 1, Decimal("0.23")),
    ]
    before = [
        Product(1, "Чайник Bosch", "Кухня", 10, Decimal("3409.09")),
        Product(2, "Фен Philips", "Красота", 180, Decimal("3136.39")),
        Product(3, "Ноутбук Lenovo", "Электроника", 45, Decimal("79588.47")),
    ]
    return make_facts(day, now, earlier={day - dt.timedelta(days=1): before})


_ISSUE_RU = (
    "## 1. Итоги дня\n"
    "Выручка за 10.06.2025 составила около 4,75 млн руб., что на 13,7 % больше, чем накануне; "
    "продано 316 шт. (на 81 шт. больше).\n"
    "## 2. Лидеры продаж\n"
    "1. Ноутбук Lenovo — первый по выручке: примерно 3,9 млн руб.\n"
    "2. Фен Philips — второй по выручке, около 627 тыс. руб.\n"
    "3. Чайник Bosch — третий по выручке, примерно 225 тыс. руб.\n"
    "## 3. Категории\n"
    "Электроника дала более 80 % выручки, Красота — около 13 %.\n"
    "## 4. Сравнение с предыдущими днями\n"
    "Продажи Чайник Bosch выросли с 10 до 66 шт., то есть примерно в 6,6 раза.\n"
    "## 5. Рекомендации\n"
    "1. Пополнить запасы Чайник Bosch.\n"
    "2. Рекомендация 2: продвигать категорию Красота."
)
_ISSUE_EN = (
    "## Summary\n"
    "Revenue on 2025-06-10 was about 4.75M RUB, up 13.7% on the previous day, with 316 units sold "
    "(81 more).\n"
    "## Top products\n"
    "Ноутбук Lenovo led with roughly 3.9M RUB; Фен Philips is second by revenue (about 627k RUB) "
    "and Чайник Bosch third by revenue (around 225k).\n"
    "## Categories\n"
    "Электроника brought more than 80% of revenue, Красота about 13%.\n"
    "## Comparison with previous days\n"
    "Sales of Чайник Bosch rose from 10 to 66 units, about 6.6 times as many; the top three "
    "products made almost 100% of revenue.\n"
    "## Recommendations\n"
    "1. Restock Чайник Bosch.\n"
    "2) Promote Красота (see step 1)."
)
# Hand-written lies in the issue's forms: (language, replace this, with this, lie as written, form, kind)
_HAND_LIES = [
    ("ru", "около 4,75 млн", "около 4,57 млн", "4,57 млн", "approximate", "wrong_rounding"),
    ("ru", "около 4,75 млн", "около 47,5 млн", "47,5 млн", "approximate", "ten_times"),
    ("ru", "около 4,75 млн", "около 4,75 тыс.", "4,75 тыс.", "approximate", "wrong_scale"),
    ("ru", "примерно в 6,6 раза", "примерно в 5,6 раза", "5,6 раза", "multiple", "wrong_multiple"),
    ("ru", "Красота — около 13 %", "Красота — около 18 %", "18 %", "share", "wrong_share"),
    ("ru", "на 13,7 % больше", "на 13,7 % меньше", "13,7 %", "percent_change", "wrong_direction"),
    ("ru", "Фен Philips — второй", "Фен Philips — третий", "третий", "rank", "wrong_rank"),
    ("ru", "примерно 225 тыс.", "примерно 252 тыс.", "252 тыс.", "scaled", "wrong_rounding"),
    ("en", "about 4.75M", "about 4.85M", "4.85M", "approximate", "wrong_rounding"),
    ("en", "about 6.6 times", "about 6.6 times fewer", "6.6 times", "multiple", "wrong_direction"),
    ("en", "Красота about 13%", "Красота about 31%", "31%", "share", "wrong_share"),
    ("en", "(81 more)", "(81 fewer)", "81", "difference", "wrong_direction"),
    ("en", "almost 100%", "almost 90%", "90%", "almost", "almost_above"),
]
_HAND_FORMS = ["approximate", "scaled", "multiple", "share", "rank", "bound", "percent_change"]


def hand() -> list[dict[str, Any]]:
    """The issue's report, written by hand in Russian and English, and lies in its forms."""
    js = _hand_facts().model_dump(mode="json")
    texts = {"ru": _ISSUE_RU, "en": _ISSUE_EN}
    out: list[dict[str, Any]] = [
        {"facts": js, "language": lang, "honest": True, "forms": _HAND_FORMS, "text": text}
        for lang, text in texts.items()
    ]
    for lang, old, new, written, form, kind in _HAND_LIES:
        assert old in texts[lang], old
        out.append(
            {
                "facts": js,
                "language": lang,
                "honest": False,
                "forms": _HAND_FORMS,
                "lie": {
                    "written": written.replace(" ", NB)
                    if lang == "ru" and "%" in written
                    else written,
                    "form": form,
                    "kind": kind,
                },
                "text": texts[lang].replace(old, new, 1),
            }
        )
    return out


def build(days: int = 48, seed: int = 20) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for d in range(days):
        lang = "ru" if d % 2 == 0 else "en"
        facts = _facts(seed * 1000 + d, lang)
        t = truths(facts)
        js = facts.model_dump(mode="json")
        for variant in range(3):
            makers = rng.sample(MAKERS, 7)
            if variant == 0:
                makers = [s_copied, *makers[:6]]
            made = [m(facts, lang, rng, t) for m in makers]
            honest = [h for h, _ in made]
            head = s_copied(facts, lang, rng, t)[0]
            if all(h.text != head.text for h in honest):
                honest.insert(0, head)
            out.append(
                {
                    "facts": js,
                    "language": lang,
                    "honest": True,
                    "forms": [h.form for h in honest],
                    "text": report(honest, lang, rng),
                }
            )
            lies = [(i, lie) for i, (_, lie) in enumerate(made) if lie is not None]
            for i, lie in rng.sample(lies, min(len(lies), 3)):
                parts = list(honest)
                j = parts.index(made[i][0])
                parts[j] = lie
                assert lie.lie is not None
                out.append(
                    {
                        "facts": js,
                        "language": lang,
                        "honest": False,
                        "forms": [p.form for p in parts],
                        "lie": {**lie.lie, "form": lie.form},
                        "text": report(parts, lang, rng),
                    }
                )
    return out


def dump(corpus: list[dict[str, Any]]) -> str:
    """The corpus as stored: each day's facts once, each report on a line referring to them."""
    days: list[str] = []
    lines = []
    for e in corpus:
        key = json.dumps(e["facts"], ensure_ascii=False, sort_keys=True)
        if key not in days:
            days.append(key)
        lines.append(json.dumps({**e, "facts": days.index(key)}, ensure_ascii=False))
    return (
        '{"facts": [\n' + ",\n".join(days) + '\n],\n"reports": [\n' + ",\n".join(lines) + "\n]}\n"
    )


def load(text: str) -> list[dict[str, Any]]:
    """The reports of a stored corpus, each with its facts."""
    data = json.loads(text)
    return [{**e, "facts": data["facts"][e["facts"]]} for e in data["reports"]]


def main() -> None:
    corpus = build() + hand()
    OUT.write_text(dump(corpus))
    assert load(OUT.read_text()) == corpus
    honest = sum(e["honest"] for e in corpus)
    print(f"{len(corpus)} reports: {honest} honest, {len(corpus) - honest} lying -> {OUT}")


if __name__ == "__main__":
    main()

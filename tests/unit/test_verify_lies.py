"""The verifier against planted lies: wrong sign or direction, percentages given as amounts and
back, a product's figure given to another, made-up numbers; and the true sentences it must let pass."""

from __future__ import annotations

from decimal import Decimal

import pytest

from service.figures.display import Language, money, percent
from service.figures.facts import Facts
from service.reporter.verify import Finding, Verdict, verify

from .reporter_factories import FALL, RISE


def test_the_fixture_facts_are_what_the_lies_assume() -> None:
    """The two days give the figures the planted lies below are written around."""
    h = FALL.history
    assert h is not None and FALL.total_revenue == Decimal("699.60")
    assert (h.revenue_change, percent(h.revenue_change_pct, language="en")) == (
        Decimal("-500.40"),
        "-41.7%",
    )
    assert (h.units_change, percent(h.units_change_pct, language="en")) == (-38, "-42.2%")
    assert [(m.name, m.change) for m in h.movers_down] == [
        ("Philips Dryer", -26),
        ("Bosch Kettle", -12),
    ]
    assert (
        RISE.history is not None
        and percent(RISE.history.revenue_change_pct, language="ru") == "71,5\u00a0%"
    )


def check(sentence: str, facts: Facts, language: str) -> Verdict:
    """The verdict on a sentence placed after a true statement of the day's revenue."""
    revenue = money(facts.total_revenue, language=language)  # type: ignore[arg-type]
    head = (
        f"Выручка за день: {revenue} руб."
        if language == "ru"
        else f"Revenue for the day: {revenue}."
    )
    return verify(f"{head}\n{sentence}", facts)


LIES = [
    # (facts, language, sentence, kind, number as listed)
    (FALL, "ru", "Выручка выросла (плюс 41,7 %).", "wrong_sign", "41,7 %"),
    (FALL, "ru", "Выручка выросла на 41,7 %.", "wrong_direction", "41,7 %"),
    (FALL, "ru", "Изменение выручки: +41,7 %.", "wrong_sign", "+41,7 %"),
    (FALL, "ru", "Рост выручки составил 41,7 %.", "wrong_direction", "41,7 %"),
    (FALL, "ru", "Выручка увеличилась на 500,40 руб.", "wrong_direction", "500,40"),
    (FALL, "ru", "Выручка показала рост в 41,7 %.", "wrong_direction", "41,7 %"),
    (FALL, "ru", "Выручка превысила вчерашнюю на 41,7 %.", "wrong_direction", "41,7 %"),
    (FALL, "ru", "Продажи увеличились на 38 шт.", "wrong_direction", "38"),
    (FALL, "ru", "Продажи Philips Dryer выросли на 26 шт.", "wrong_direction", "26"),
    (FALL, "ru", "Philips Dryer: +26 шт. к прошлому дню.", "wrong_sign", "+26"),
    (FALL, "ru", "Выручка выросла до 699,60 руб.", "wrong_direction", "699,60"),
    (FALL, "ru", "Выручка на 41,7 % выше, чем накануне.", "wrong_direction", "41,7 %"),
    (FALL, "ru", "Выручка снизилась на 41,7 руб.", "percent_mismatch", "41,7"),
    (FALL, "ru", "Продажи снизились на 38 %.", "percent_mismatch", "38 %"),
    (FALL, "ru", "Выручка снизилась на 500,40 %.", "percent_mismatch", "500,40 %"),
    (FALL, "ru", "Доля категории Кухня — 60 руб.", "percent_mismatch", "60"),
    (FALL, "ru", "Philips Dryer принёс 420,00 руб. выручки.", "wrong_product", "420,00"),
    (FALL, "ru", "Bosch Kettle: продано 24 шт.", "wrong_product", "24"),
    (
        FALL,
        "ru",
        "Лидеры: Bosch Kettle — 420,00 руб., Philips Dryer — 420,00 руб.",
        "wrong_product",
        "420,00",
    ),
    (FALL, "ru", "Категория Красота дала 60,0 % выручки.", "wrong_product", "60,0 %"),
    (FALL, "ru", "Выручка за неделю составила 987 654,32 руб.", "not_a_fact", "987 654,32"),
    (FALL, "ru", "Выручка снизилась на 37,5 %.", "not_a_fact", "37,5 %"),
    (RISE, "ru", "Выручка упала на 71,5 %.", "wrong_direction", "71,5 %"),
    (RISE, "ru", "Выручка изменилась (минус 71,5 %).", "wrong_sign", "71,5 %"),
    (RISE, "ru", "Изменение выручки: −71,5 %.", "wrong_sign", "−71,5 %"),
    (FALL, "en", "Revenue grew (plus 41.7%).", "wrong_sign", "41.7%"),
    (FALL, "en", "Revenue rose by 41.7% on the previous day.", "wrong_direction", "41.7%"),
    (FALL, "en", "Revenue is up 41.7%.", "wrong_direction", "41.7%"),
    (FALL, "en", "Revenue change: +41.7%.", "wrong_sign", "+41.7%"),
    (FALL, "en", "Units sold increased by 38.", "wrong_direction", "38"),
    (FALL, "en", "Revenue climbed to 699.60.", "wrong_direction", "699.60"),
    (FALL, "en", "Sales of Philips Dryer jumped 26 units.", "wrong_direction", "26"),
    (FALL, "en", "Revenue was 41.7% higher than the day before.", "wrong_direction", "41.7%"),
    (FALL, "en", "Revenue growth was 41.7%.", "wrong_direction", "41.7%"),
    (FALL, "en", "The increase in revenue came to 41.7%.", "wrong_direction", "41.7%"),
    (FALL, "en", "Units were 42.2% above the 7-day average.", "wrong_direction", "42.2%"),
    (FALL, "en", "An increase in revenue of 500.40.", "wrong_direction", "500.40"),
    (FALL, "en", "Units sold rose to 52.", "wrong_direction", "52"),
    (FALL, "en", "Sales of Philips Dryer rose from 50 to 24 units.", "wrong_direction", "24"),
    (FALL, "en", "Revenue changed by 41.7 rubles.", "percent_mismatch", "41.7"),
    (FALL, "en", "Units sold dropped 38%.", "percent_mismatch", "38%"),
    (FALL, "en", "Philips Dryer brought in 420.00 of revenue.", "wrong_product", "420.00"),
    (FALL, "en", "Bosch Kettle sold 24 units.", "wrong_product", "24"),
    (FALL, "en", "Philips Dryer sold 28 units and Bosch Kettle 52.", "wrong_product", "28"),
    (FALL, "en", "Kitchen: the Красота category earned 420.00.", "wrong_product", "420.00"),
    (FALL, "en", "Weekly revenue was 987,654.32.", "not_a_fact", "987,654.32"),
    (RISE, "en", "Revenue fell by 71.5%.", "wrong_direction", "71.5%"),
    (RISE, "en", "Revenue: a decrease of 71.5%.", "wrong_direction", "71.5%"),
    (RISE, "en", "Revenue changed by -71.5%.", "wrong_sign", "-71.5%"),
]


@pytest.mark.parametrize(
    ("facts", "language", "sentence", "kind", "number"),
    LIES,
    ids=[f"{lie[1]}-{lie[3]}-{i}" for i, lie in enumerate(LIES)],
)
def test_a_planted_lie_is_caught_with_its_number(
    facts: Facts, language: Language, sentence: str, kind: str, number: str
) -> None:
    """Each lie yields exactly one finding: its kind, the number as written and the sentence."""
    verdict = check(sentence, facts, language)
    number = number.replace(" %", "\u00a0%") if language == "ru" else number
    found = [(f.kind, f.number.replace(" %", "\u00a0%")) for f in verdict.findings]
    assert found == [(kind, number)] or found == [(kind, number.replace("\u00a0%", " %"))], verdict
    assert not verdict.ok and verdict.findings[0].text.rstrip(".") in sentence


TRUTHS = [
    (FALL, "ru", "Выручка снизилась на 41,7 % (минус 500,40 руб.) и составила 699,60 руб."),
    (FALL, "ru", "Выручка упала с 1 200,00 до 699,60 руб., продажи — с 90 до 52 шт. (−42,2 %)."),
    (FALL, "ru", "Продажи Philips Dryer упали на 26 шт., Bosch Kettle — на 12 шт."),
    (FALL, "ru", "Продано 52 шт., на 38 шт. меньше, чем накануне."),
    (FALL, "ru", "Категория Кухня даёт 60,0 % выручки, Красота — 40,0 %."),
    (FALL, "ru", "Лидер по выручке — Bosch Kettle (Кухня): 420,00 руб., 28 шт."),
    (FALL, "ru", "Bosch Kettle и Philips Dryer продали 24 и 28 шт."),
    (FALL, "ru", "Выручка на 41,7 % ниже, чем накануне, и на 41,7 % ниже среднего за 7 дней."),
    (FALL, "ru", "Снижение выручки: -500,40 руб.; рост не наблюдался, 2 товара в продаже."),
    (FALL, "en", "Revenue fell 41.7% to 699.60, down from 1,200.00."),
    (FALL, "en", "Revenue dropped by 500.40 (-41.7%); units fell from 90 to 52."),
    (FALL, "en", "Kitchen makes up 60.0% of revenue; Philips Dryer sold 24 units (-26)."),
    (FALL, "en", "Bosch Kettle (Кухня): 28 units, revenue 420.00, a decrease of 12 units."),
    (FALL, "en", "Revenue was 41.7% lower than on the previous day."),
    (RISE, "en", "Revenue rose 71.5% to 1,200.00, up by 500.40."),
    (RISE, "ru", "Выручка выросла на 71,5 % (плюс 500,40 руб.) до 1 200,00 руб."),
    (FALL, "ru", "Снижение выручки составило 41,7 %, падение продаж — 42,2 %."),
    (FALL, "en", "The decline in revenue was 41.7%; units were 42.2% below the 7-day average."),
    (
        FALL,
        "en",
        "Bosch Kettle sold 28 units and Philips Dryer 24; Bosch Kettle and Philips Dryer sold 28 and 24.",
    ),
    (FALL, "en", "Revenue stood at 699.60, which is 41.7% less than on the previous day."),
    (FALL, "en", "Units sold fell to 52, and Philips Dryer dropped from 50 to 24 units."),
    (FALL, "en", "Bosch Kettle leads, but 24 units went to Philips Dryer."),
    (FALL, "en", "With 28 units, Bosch Kettle leads, followed by Philips Dryer with 24."),
    (FALL, "ru", "Лидеры: Bosch Kettle — 28 шт., Philips Dryer — 24 шт."),
]


@pytest.mark.parametrize(
    ("facts", "language", "sentence"), TRUTHS, ids=[f"{t[1]}-{i}" for i, t in enumerate(TRUTHS)]
)
def test_true_sentences_pass(facts: Facts, language: Language, sentence: str) -> None:
    """Signs, directions, levels, shares and figures beside their own product are not flagged."""
    assert check(sentence, facts, language).findings == ()


def test_verdict_lists_numbers_once_and_ranks_drafts() -> None:
    """unverified_numbers holds each finding's label once; a missing revenue outweighs a wrong number."""
    lie = Verdict(
        (Finding("not_a_fact", "77"), Finding("wrong_sign", "77"), Finding("wrong_product", "5"))
    )
    hollow = Verdict((Finding("missing_revenue", "699.60"),))
    assert lie.numbers == ["77", "5"] and hollow.numbers == ["missing total revenue 699.60"]
    assert lie.severity == 3 < hollow.severity and Verdict().ok and Verdict().severity == 0


def test_a_reply_without_the_revenue_is_not_verified() -> None:
    """ "HACKED" has no false number, but does not state the day's revenue: not verified."""
    verdict = verify("HACKED", FALL)
    assert [f.kind for f in verdict.findings] == ["missing_revenue"] and verdict.findings[
        0
    ].number == "699.60"

"""The verifier reads figures as people write them (issue 20): each form, true and told
wrong, the tolerance rules, the provenance it records, and the correction it asks for."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from service.figures.facts import Facts
from service.reporter.claims import Hedge, direction, hedge, is_multiple, rank_list, scale
from service.reporter.prompt import build_correction
from service.reporter.verify import Check, verify

from .reporter_factories import Product, make_facts

DAY = dt.date(2024, 3, 10)
_BEFORE = [
    Product(1, "Чайник Bosch", "Кухня", 10, Decimal("1500.00")),
    Product(2, "Фен Philips", "Красота", 50, Decimal("32000.50")),
    Product(3, "Блендер Braun", "Кухня", 30, Decimal("41000.00")),
]
_NOW = [
    Product(1, "Чайник Bosch", "Кухня", 66, Decimal("1500.00")),
    Product(2, "Фен Philips", "Красота", 45, Decimal("32000.50")),
    Product(3, "Блендер Braun", "Кухня", 80, Decimal("41000.00")),
]
# Revenue 2 845 025,00 → 4 819 022,50 (+69,4 %); units 90 → 191 (+101); Чайник Bosch 10 → 66
# (×6,6), Блендер Braun 30 → 80, Фен Philips 50 → 45; Кухня 70,1 % of revenue, Красота 29,9 %.
RISE = make_facts(DAY, _NOW, earlier={DAY - dt.timedelta(days=1): _BEFORE})
FALL = make_facts(DAY, _BEFORE, earlier={DAY - dt.timedelta(days=1): _NOW})


def test_the_fixture_facts_are_what_the_sentences_assume() -> None:
    """Revenue 4 819 022,50 after 2 845 025,00; the mover and the shares as the comments say."""
    h = RISE.history
    assert h is not None and RISE.total_revenue == Decimal("4819022.50")
    assert h.previous_revenue == Decimal("2845025.00") and RISE.total_units == 191
    first = h.movers_up[0]
    assert (first.name, first.units_before, first.units_now) == ("Чайник Bosch", 10, 66)
    assert [c.name for c in RISE.categories] == ["Кухня", "Красота"]


def claims(text: str, facts: Facts) -> list[Check]:
    return [c for c in verify(text, facts).claims if c.form != "date"]


def one(text: str, facts: Facts = RISE) -> Check:
    found = claims(text, facts)
    assert len(found) == 1, found
    return found[0]


TRUE = [
    # (sentence, form, a source it must name)
    ("Выручка — около 4,82 млн руб.", "approximate", "total_revenue"),
    ("Выручка — 4,82 млн руб.", "scaled", "total_revenue"),
    ("Revenue was about 4.8M.", "approximate", "total_revenue"),
    ("Revenue: 4,819k.", "scaled", "total_revenue"),
    ("Выручка — 4 819 022,50 руб.", "copied", "total_revenue"),
    ("Выручка — 4 819 023 руб.", "rounded", "total_revenue"),
    ("Выручка составила почти 4,9 млн руб.", "almost", "total_revenue"),
    ("Выручка превысила 4,8 млн руб.", "bound", "total_revenue"),
    ("Продано более 190 шт.", "bound", "total_units"),
    ("Продано не более 191 шт.", "bound", "total_units"),
    ("Sold more than 190 units.", "bound", "total_units"),
    ("Продано менее 200 шт.", "bound", "total_units"),
    ("Кухня дала около 70 % выручки.", "approximate", "categories[Кухня].share_of_revenue"),
    ("Продажи Чайник Bosch выросли в 6,6 раза.", "multiple", "Чайник Bosch"),
    ("Sales of Чайник Bosch grew 6.6x.", "multiple", "Чайник Bosch"),
    ("Sales of Чайник Bosch grew ×6.6.", "multiple", "Чайник Bosch"),
    ("Выручка выросла примерно в 1,7 раза.", "multiple", "previous_revenue"),
    ("Продажи в штуках выросли в 2,1 раза.", "multiple", "total_units"),
    ("Фен Philips и Блендер Braun: выручка различается в 2,3 раза.", "multiple", "revenue of"),
    ("Фен Philips — второй по выручке.", "rank", "top_by_revenue"),
    ("Фен Philips is 3rd by units.", "rank", "top_by_units"),
    ("Продажи шли в двух категориях.", "count", "distinct_categories"),
    ("В продаже три товара.", "count", "distinct_products"),
    ("Блендер Braun продан на 14 шт. больше, чем Чайник Bosch.", "difference", "units of"),
    ("На Блендер Braun пришлось около 68 % выручки.", "share", "share of Блендер Braun"),
    ("Доля Кухня на 40,2 п.п. выше, чем у Красота.", "difference", "shares of"),
    ("Чайник Bosch: рост продаж на 560 %.", "percent_change", "percent change"),
]


@pytest.mark.parametrize(("sentence", "form", "source"), TRUE, ids=[t[1] for t in TRUE])
def test_a_true_figure_in_each_form_is_verified_with_its_source(
    sentence: str, form: str, source: str
) -> None:
    """Each form people write is accepted, and its provenance names the fact(s) and the form."""
    c = one(sentence)
    assert c.ok and c.form == form and any(source in s for s in c.sources), c
    assert c.rule and c.problem is None and sentence[c.start : c.end] == c.written


LIES = [
    # (sentence, facts, the number as listed, problem)
    ("Выручка — около 4,72 млн руб.", RISE, "4,72 млн", "not_a_fact"),  # wrong rounding
    ("Выручка — около 4,82 тыс. руб.", RISE, "4,82 тыс.", "not_a_fact"),  # wrong scale
    ("Выручка — около 48,2 млн руб.", RISE, "48,2 млн", "not_a_fact"),  # ten times too big
    ("Выручка составила почти 4,8 млн руб.", RISE, "4,8 млн", "not_a_fact"),  # "почти" above
    ("Выручка превысила 4,9 млн руб.", RISE, "4,9 млн", "not_a_fact"),  # bound wrong side
    ("Продано более 200 шт.", RISE, "200", "not_a_fact"),
    ("Продано менее 190 шт.", RISE, "190", "not_a_fact"),
    ("Продажи Чайник Bosch выросли в 7,6 раза.", RISE, "7,6 раза", "not_a_fact"),
    ("Продажи Фен Philips выросли в 6,6 раза.", RISE, "6,6 раза", "wrong_product"),
    ("Продажи Чайник Bosch упали в 6,6 раза.", RISE, "6,6 раза", "wrong_direction"),
    ("Выручка выросла втрое.", RISE, "втрое", "not_a_fact"),
    ("Выручка снизилась вдвое.", RISE, "вдвое", "not_a_fact"),
    ("Фен Philips — первый по выручке.", RISE, "первый", "wrong_rank"),
    ("Фен Philips — шестой по выручке.", RISE, "шестой", "wrong_rank"),
    ("Их было восемь категорий.", RISE, "восемь", "not_a_fact"),
    ("Блендер Braun продан на 24 шт. больше, чем Чайник Bosch.", RISE, "24", "percent_mismatch"),
    ("Блендер Braun продан на 17 шт. больше, чем Чайник Bosch.", RISE, "17", "not_a_fact"),
    ("На Фен Philips пришлось около 68 % выручки.", RISE, "68 %", "wrong_product"),
    ("Выручка выросла на 69,4 руб.", RISE, "69,4", "percent_mismatch"),
    ("Выручка упала на 69,4 %.", RISE, "69,4 %", "wrong_direction"),
    ("Выручка: −4 819 022,50 руб.", RISE, "−4 819 022,50", "wrong_sign"),
    ("Revenue: -4,819,022.50.", RISE, "-4,819,022.50", "wrong_sign"),
    ("Продано 191 руб.", RISE, "191", "wrong_unit"),
    ("Выручка — примерно 2,85 млн руб.", RISE, "2,85 млн", "wrong_day"),
    ("Продажи Фен Philips выросли на 5 шт.", RISE, "5", "wrong_direction"),
]


@pytest.mark.parametrize(
    ("sentence", "facts", "number", "problem"),
    LIES,
    ids=[f"{i}-{t[3]}" for i, t in enumerate(LIES)],
)
def test_a_figure_told_wrong_in_each_form_is_caught(
    sentence: str, facts: Facts, number: str, problem: str
) -> None:
    """A wrong rounding, scale word, bound, multiple, rank, count, difference, share, sign,
    unit or day is listed with its problem and the fact it most likely meant."""
    found = [c for c in claims(sentence, facts) if not c.ok]
    assert [(c.written.replace("\u00a0", " "), c.problem) for c in found] == [(number, problem)], (
        claims(sentence, facts)
    )


def test_a_minus_before_a_level_is_a_lie_and_a_plus_is_not() -> None:
    """A level (revenue, units) takes "+" but never "−"; a change takes its own sign only."""
    assert one("Выручка: +4 819 022,50 руб.").ok
    assert one("Продано +191 шт.").ok
    assert one("Продано −191 шт.").problem == "wrong_sign"
    assert one("Изменение продаж: +101 шт.").ok
    assert one("Изменение продаж: −101 шт.").problem == "wrong_sign"
    assert one("Изменение продаж: −101 шт.", FALL).ok
    assert one("Изменение продаж: +101 шт.", FALL).problem == "wrong_sign"


def test_comparatives_after_a_number_claim_a_direction_before_it_they_bound_it() -> None:
    """ "на 101 шт. больше" claims a rise; "больше 190 шт." is a bound, not a change."""
    assert one("Продано на 101 шт. больше, чем накануне.").ok
    assert one("Продано на 101 шт. меньше, чем накануне.").problem == "wrong_direction"
    assert one("Продано на 101 шт. меньше, чем накануне.", FALL).ok
    assert one("Продано больше 190 шт.").ok and one("Продано больше 190 шт.").form == "bound"
    assert direction("Продано на", " шт. больше").way == 1
    assert direction("Продано больше", " шт.").way == 0


def test_a_level_reached_claims_the_direction_of_its_change() -> None:
    """ "выросла до 4 819 022,50" is true on a rise, false on a fall; "с … до" pairs too."""
    assert one("Выручка выросла до 4 819 022,50 руб.").ok
    fall = one("Выручка упала до 4 819 022,50 руб.")
    assert fall.problem == "wrong_direction" and "reached by a rise" in fall.expected
    text = "Выручка выросла с 2 845 025,00 до 4 819 022,50 руб."
    assert all(c.ok for c in claims(text, RISE))
    assert [c.ok for c in claims(text.replace("выросла", "упала"), RISE)] == [True, False]


def test_hedges_scale_words_multiples_and_ranks_are_read() -> None:
    """The readers of the words around a number, one by one."""
    assert hedge("около") == Hedge(approx=True) and hedge("почти") == Hedge(almost=True)
    assert hedge("более чем") == Hedge(bound=1) and hedge("не более") == Hedge(
        bound=-1, inclusive=True
    )
    assert hedge("at least") == Hedge(bound=1, inclusive=True)
    assert hedge("up to") == Hedge(bound=-1, inclusive=True)
    assert hedge("less than") == Hedge(bound=-1) and hedge("more") == Hedge()
    assert hedge("выросла более чем на") == Hedge(bound=1) and hedge("не менее") == Hedge(
        bound=1, inclusive=True
    )
    assert not Hedge().loose and Hedge(bound=-1).loose
    assert scale(" млн руб.") == (Decimal(10**6), 4) and scale("k") == (Decimal(1000), 1)
    assert scale(" млрд") == (Decimal(10**9), 5) and scale(" шт.") == (Decimal(1), 0)
    assert is_multiple("в", " раза") == 5 and is_multiple("", "x") == 1
    assert is_multiple("×", "") == -1 and is_multiple("", " шт.") == 0
    assert rank_list("-й по выручке") == "top_by_revenue"
    assert rank_list("rd by units") == "top_by_units" and rank_list(" шт.") is None


def test_trailing_zeros_are_precision_only_after_a_hedge() -> None:
    """ "около 4 800 000" takes 4 819 022,50; a bare "4 800 000" does not."""
    assert one("Выручка — около 4 800 000 руб.").ok
    assert one("Выручка — 4 800 000 руб.").problem == "not_a_fact"
    assert one("Выручка — около 4 820 000 руб.").ok


def test_list_and_section_numbers_and_dates_are_not_claims() -> None:
    """Numbered lists and headings, "Рекомендация 2", "пункт 3", "(1)" and the facts' dates."""
    text = (
        "## 1. Итоги\n1. Первое.\n2) Второе.\n- **3.** Третье.\nРекомендация 4: см. пункт 5 и шаг 6.\n"
        "Recommendation 7 (see section 8). (9) Done. Report for 2024-03-10, 10.03.2024."
    )
    assert claims(text, RISE) == []
    assert [c.form for c in verify(text, RISE).claims] == ["date", "date"]


def test_a_product_pair_needs_both_named_and_a_mover_its_own_name() -> None:
    """A difference or multiple of two products holds only when its sentence names both."""
    assert one("Блендер Braun продан на 14 шт. больше.").problem == "wrong_product"
    assert one("Продажи выросли в 6,6 раза.").problem == "wrong_product"
    assert one("Блендер Braun sold 1.8 times as many units as Фен Philips.").ok


def test_every_number_has_provenance_and_the_revenue_may_be_rounded() -> None:
    """verify() records a check per number, in text order; a rounded revenue states it."""
    text = "Выручка — около 4,82 млн руб., продано 191 шт., Фен Philips — второй по выручке."
    verdict = verify(text, RISE)
    assert verdict.ok and [c.written for c in verdict.claims] == ["4,82 млн", "191", "второй"]
    js = verdict.claims_json()[0]
    assert js["verified"] and js["sources"] == ["total_revenue"] and js["problem"] is None
    assert js["start"] == text.index("4,82") and js["form"] == "approximate"
    assert [f.kind for f in verify("Продано 191 шт.", RISE).findings] == ["missing_revenue"]


def test_the_correction_names_each_wrong_figure_and_its_true_value() -> None:
    """The correction prompt lists the wrong figure with the fact it most likely meant."""
    verdict = verify("Выручка — около 4,72 млн руб. Продано 191 шт.", RISE)
    finding = verdict.findings[0]
    assert finding.number == "4,72 млн" and "4819022.50 (total_revenue)" in finding.expected
    ru = build_correction(verdict.findings, language="ru")
    assert "4,72 млн → 4819022.50 (total_revenue)" in ru and "В фактах" in ru
    en = build_correction(verdict.findings, language="en")
    assert "In the facts" in en and "total_revenue" in en


def test_copied_and_rounded_are_told_apart() -> None:
    """A figure as the facts block shows it is "copied"; at another precision "rounded"."""
    assert [one(t).form for t in ("Продано 191 шт.", "Продано 191,0 шт.")] == ["copied", "rounded"]
    assert one("Выручка выросла на 69,4 %.").form == "copied"
    assert one("Выручка выросла на 69 %.").form == "rounded"
    assert one("Выручка — 4 819 022,5 руб.").form == "rounded"
    assert one("Выручка — 4 819 022 руб.").problem == "not_a_fact"  # 4 819 022,50 rounds up


def test_a_category_named_takes_its_products_figures_and_a_product_named_only_its_own() -> None:
    """Beside a category's name a product of it may be meant; beside a product's, only it."""
    assert one("Категория Кухня: лидер принёс 3 280 000,00 руб.").ok
    assert one("Категория Красота: лидер принёс 3 280 000,00 руб.").problem == "wrong_product"
    wrong = one("Фен Philips принёс 3 280 000,00 руб.")
    assert wrong.problem == "wrong_product"
    assert wrong.expected == "3280000.00 is top_by_units[Блендер Braun].revenue"


def test_a_change_figure_said_to_be_reached_is_a_change() -> None:
    """ "came to 69.4%" of an increase: a change figure read as the change, with its sign."""
    assert one("The increase in revenue came to 69.4%.").ok
    assert one("The decrease in revenue came to 69.4%.").problem == "wrong_direction"


def test_a_direction_in_an_earlier_clause_does_not_reach_a_level() -> None:
    """ "Продажи выросли: 191 шт." — the clause of 191 claims nothing; only a bare "на" reaches back."""
    assert one("Продажи выросли: 191 шт.").ok
    assert one("Продажи упали: на 101 шт.").problem == "wrong_direction"


def test_what_a_wrong_figure_most_likely_meant_is_shown_as_the_facts_give_it() -> None:
    """The expected value: counts whole, money with cents, percents with one decimal, ratios short."""
    assert one("Продано 199 шт.").expected == "191 (total_units)"
    assert one("Выручка выросла на 66,4 %.").expected == "69.4% (history.revenue_change_percent)"
    assert one("Выручка — 4 900 000,00 руб.").expected == "4819022.50 (total_revenue)"
    sign = one("Изменение продаж: −101 шт.")
    assert sign.expected == "101 (history.units_change, a rise)"
    ratio = one("Продажи Чайник Bosch выросли в 7,6 раза.")
    assert ratio.expected.startswith("6.6 (ratio of Чайник Bosch")
    assert one("Продажи Чайник Bosch выросли в 6,6 раза.").rule.endswith("= 6.6")
    assert one("Продажи в штуках выросли в 2,1 раза.").rule.endswith("= 2.12")


def test_a_number_word_with_a_scale_and_ambiguous_separators() -> None:
    """ "почти полтора млн" is a scaled number; "19,1" is not 191; "2 191" may be two numbers."""
    c = one("Фен Philips принёс почти полтора млн руб.")
    assert c.ok and c.written == "полтора млн" and "Фен Philips" in c.sources[0]
    assert one("Продано 19,1 шт.").problem == "not_a_fact"
    assert claims("Лидеры 2 191 шт.", RISE) == []  # "2" and "191", each a fact
    assert one("Продано 1 910 шт.").problem == "not_a_fact"


def test_the_provenance_json_of_a_wrong_figure_says_what_was_meant() -> None:
    """claims_json: a wrong figure carries its problem and the fact it most likely meant."""
    js = verify("Выручка — 4 819 022,50 руб. Продано 199 шт.", RISE).claims_json()
    assert [c["verified"] for c in js] == [True, False]
    assert js[0]["expected"] is None and js[1]["expected"] == "191 (total_units)"
    assert js[1]["problem"] == "not_a_fact" and js[1]["text"] == "199"


def test_direction_words_reach_only_so_far() -> None:
    """Six words between a direction word and "на"; three before "of"; four before a copula."""
    reach = "выросла по итогам очень долгого трудного на"  # five words between
    assert direction(reach, " %").way == 1
    assert direction(reach.replace("очень", "очень уж"), " %").way == 0  # six between
    assert direction("a drop in revenue of", "%").way == -1
    assert direction("a drop in the revenue of", "%").way == 0
    assert direction("рост выручки за день составил", " %").way == 1
    assert direction("рост выручки за этот день составил", " %").way == 0


def test_direction_readers_keep_their_switches() -> None:
    """Comparatives count before "на" but not before "of"; a number or a phrasal "make up"
    claims nothing; a sign word is read apart; only three words after are looked at."""
    assert direction("выше на", " %").way == 1 and direction("more of", "%").way == 0
    assert direction("итого 12", " шт.").way == 0
    assert direction("makes up", "% of revenue").way == 0
    assert direction("выросла на плюс", " %").way == 1
    assert direction("", " шт. руб. ед. больше").way == 0
    assert direction("", " шт. больше").way == 1
    assert one("Выручка изменилась минус 69,4 %.").problem == "wrong_sign"
    assert one("Продажи Фен Philips упали на 5 шт.").ok


def test_a_word_count_needs_a_counted_noun() -> None:
    """ "восемь слов" is no figure; "восемь товаров" is a count to check."""
    assert claims("Скажу восемь слов.", RISE) == []
    assert one("Было восемь товаров.").problem == "not_a_fact"


_HALF_BEFORE = [Product(1, "Чайник Bosch", "Кухня", 10, Decimal("100.00"))]
_HALF_NOW = [Product(1, "Чайник Bosch", "Кухня", 5, Decimal("100.00"))]
HALF = make_facts(DAY, _HALF_NOW, earlier={DAY - dt.timedelta(days=1): _HALF_BEFORE})
DOUBLE = make_facts(DAY, _HALF_BEFORE, earlier={DAY - dt.timedelta(days=1): _HALF_NOW})


def test_halved_and_doubled_have_their_direction() -> None:
    """Revenue 1 000,00 → 500,00: "вдвое меньше", "halved", "by half" are true, "вдвое" up is not."""
    assert one("Выручка снизилась вдвое.", HALF).ok
    assert one("Revenue halved.", HALF).ok and one("Revenue fell by half.", HALF).ok
    assert one("Выручка выросла вдвое.", HALF).problem == "wrong_direction"
    assert one("Revenue halved.", DOUBLE).problem == "wrong_direction"
    assert one("Выручка выросла вдвое.", DOUBLE).ok and one("Revenue doubled.", DOUBLE).ok
    assert one("Выручка выросла втрое.", DOUBLE).problem == "not_a_fact"


def test_a_day_without_revenue_is_checked_without_shares() -> None:
    """Every price zero: no shares or ratios to compute, and the zero revenue is stated."""
    free = [Product(1, "A", "X", 5, Decimal(0)), Product(2, "B", "Y", 3, Decimal(0))]
    facts = make_facts(DAY, free, earlier={DAY - dt.timedelta(days=1): free})
    assert verify("Выручка — 0,00 руб., продано 8 шт.", facts).ok


SAME = make_facts(DAY, _HALF_BEFORE, earlier={DAY - dt.timedelta(days=1): _HALF_BEFORE})
_FROM_ONE = make_facts(
    DAY,
    [Product(1, "Чайник Bosch", "Кухня", 5, Decimal("100.00"))],
    earlier={
        DAY - dt.timedelta(days=1): [Product(1, "Чайник Bosch", "Кухня", 1, Decimal("100.00"))]
    },
)


def test_an_unchanged_day_has_no_direction_and_zero_takes_any_sign() -> None:
    """A level reached with no change fits any direction word; a zero change any sign."""
    assert one("Выручка выросла до 1 000,00 руб.", SAME).ok
    assert one("Изменение выручки: −0,00 руб.", SAME).ok
    assert one("Изменение выручки: +0,00 руб.", SAME).ok


def test_derived_figures_of_categories_and_products_keep_their_rules() -> None:
    """Category differences are changes of two named categories; a product pair's multiple
    has no direction; the top two's share; a trailing average of units is a count; a mover
    from one unit has its multiple."""
    assert one("Кухня принесла на 1 938 977,50 руб. больше, чем Красота.").ok
    assert one("Кухня принесла на 1 938 977,50 руб. больше.").problem == "wrong_product"
    assert one("Доля Кухня на 40,2 п.п. выше.").problem == "wrong_product"
    assert one("Фен Philips продал в 1,8 раза меньше штук, чем Блендер Braun.").ok
    assert one("Два лидера по выручке дали около 98 % выручки.").ok
    assert one("В среднем за прошлую неделю продавали 90 шт.").ok
    assert one("Продажи Чайник Bosch выросли в 5 раз.", _FROM_ONE).ok
    assert one("Топ-4 товара не набралось.").problem == "not_a_fact"


def test_mutation_pins_more_of_the_rules() -> None:
    """Thousands separators, the 5 % of "почти", a level with no recorded direction, the reach
    of names after a number, "с" before a past figure, exact copies of earlier days, a
    category pair's multiple, and where dates stand."""
    assert one("Выручка: 1,000 руб.", SAME).ok
    near = make_facts(DAY, [Product(1, "A", "X", 1, Decimal("4755000.00"))])
    assert one("Выручка — почти 5 млн руб.", near).ok  # 4,9 % below: within 5 %
    assert one("Средняя цена выросла до 25 230,48 руб.").ok
    assert all(c.ok for c in claims("45 units went to Фен Philips, 80 to Блендер Braun.", RISE))
    assert one("Выручка выросла с 2,85 млн руб.").ok
    assert one("Выручка — 2 845 025,00 руб.").ok  # an exact copy is not asked whose day it is
    assert one("Кухня принесла в 2,3 раза больше, чем Красота.").ok
    assert one("Красота принесла в 2,3 раза меньше, чем Кухня.").ok
    assert one("Кухня принесла в 2,3 раза больше.").problem == "wrong_product"
    text = "Отчёт за 2024-03-10, сравнение с 2023-01-01."
    dates = verify(text, RISE).claims
    assert [(c.ok, c.end - c.start, c.problem) for c in dates] == [
        (True, 10, None),
        (False, 10, "wrong_date"),
    ]
    long = "Выручка " + "очень " * 60 + "выросла на 66,4 %."
    assert len(verify(long, RISE).findings[0].text) == 300


def _day(now: list[tuple[int, int, str]], before: list[tuple[int, int, str]]) -> Facts:
    """Facts of products (id, units, price) against a day before."""
    names = {1: ("Чайник Bosch", "Кухня"), 2: ("Фен Philips", "Красота")}

    def products(rows: list[tuple[int, int, str]]) -> list[Product]:
        return [Product(i, *names[i][:1], names[i][1], u, Decimal(p)) for i, u, p in rows]

    return make_facts(DAY, products(now), earlier={DAY - dt.timedelta(days=1): products(before)})


def test_mutation_pins_the_last_rules() -> None:
    """Readings, the likeliest source, expected values, ranks, words with signs and scales,
    halves, zero trends, small changes and multiples from or to one unit, and the tables."""
    from service.reporter.figures import figure_table

    million = make_facts(DAY, [Product(1, "A", "X", 1, Decimal("1000000.00"))])
    assert one("Выручка: 1000,000 руб.", million).problem == "not_a_fact"
    twelve = make_facts(
        DAY, [Product(1, "A", "X", 12, Decimal("1.50")), Product(2, "B", "Y", 1, Decimal("12.40"))]
    )
    assert one("Лидер по штукам — 12.", twelve).sources[0].endswith(".units")
    assert one("Выручка выросла на 1 %.").expected != ""
    assert one("Выручка выросла на 0 %.").expected == ""
    text = "45 units went to Фен Philips, 80 to Блендер Braun, 66 to Чайник Bosch."
    assert all(c.ok for c in claims(text, RISE))
    assert " is " not in one("Выручка выросла на 69,4 руб.").expected
    assert one("Фен Philips — 2,5-й по выручке.").expected == "top_by_revenue has 3 products"
    assert one("Чайник Bosch — 0-й по выручке.").problem == "wrong_rank"
    assert one("Блендер Braun — первый по выручке.").ok
    assert one("Фен Philips is third by units.").ok
    assert one("Выручка снизилась примерно на два млн руб.", FALL).ok
    c = one("Фен Philips принёс почти полтора млн руб.")
    assert c.end - c.start == len("полтора млн")
    assert one("Revenue was cut in half.", HALF).ok
    assert one("Revenue was cut in half.", DOUBLE).problem == "wrong_direction"
    assert one("Выручка упала до 1 000,00 руб.", SAME).ok
    plus_one = _day([(1, 6, "10.00"), (2, 10, "5.00")], [(1, 5, "10.00"), (2, 10, "5.00")])
    assert one("Изменение продаж: −1 шт.", plus_one).problem == "wrong_sign"
    up = _day([(1, 5, "10.00"), (2, 10, "5.00")], [(1, 1, "10.00"), (2, 10, "5.00")])
    down = _day([(1, 1, "10.00"), (2, 10, "5.00")], [(1, 5, "10.00"), (2, 10, "5.00")])
    assert one("Продажи Чайник Bosch выросли в 5 раз.", up).ok
    assert one("Продажи Чайник Bosch упали в 5 раз.", down).ok
    table = figure_table(RISE).base.figures
    assert {f.source for f in table if f.source.startswith("rank ")} == {
        "rank 1",
        "rank 2",
        "rank 3",
    }
    average = next(f for f in table if f.source.endswith("average_units"))
    before = [f for f in table if f.source.endswith("units_before")]
    assert average.count and average.past and before and all(f.past for f in before)

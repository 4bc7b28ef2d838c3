"""A plain report written from the facts alone, used when no LLM is configured.

It states only formatted facts (``display.py``) and names, so it always passes
``verify``; the sections are those the LLM is asked for.
"""

from __future__ import annotations

from ..figures.display import Language, average, clean_name, integer, money, percent
from ..figures.facts import CategoryFact, Facts, History, Mover, ProductFact
from .prompt import SECTIONS

__all__ = ["write_builtin"]

_TEXT = {
    "ru": {
        "title": "Отчёт о продажах за {date}",
        "revenue": "Выручка",
        "units": "Продано единиц",
        "products": "Товаров в продаже",
        "categories": "Категорий",
        "avg_price": "Средняя цена единицы",
        "by_units": "По количеству:",
        "by_revenue": "По выручке:",
        "product": "{name} ({category}): {units} шт., выручка {revenue}",
        "category": "{name}: выручка {revenue} ({share} выручки), {units} шт.",
        "other": "Прочие категории ({count})",
        "none": "Продаж нет.",
        "previous": "Предыдущий день с данными: {date}, выручка {revenue}, продано {units} шт.",
        "change": "Изменение выручки: {revenue} ({revenue_pct}); изменение продаж: {units} шт. ({units_pct}).",
        "trailing": (
            "За {window} календарных дней до даты ({start} — {end}) дней с данными: {days}; "
            "средняя выручка {revenue} ({revenue_pct} к среднему), "
            "в среднем {units} шт. в день ({units_pct})."
        ),
        "no_trailing": "За {window} календарных дней до даты ({start} — {end}) данных нет.",
        "up": "Рост продаж:",
        "down": "Снижение продаж:",
        "mover": "{name}: {before} → {now} шт. ({change})",
        "new": "Новые товары: {count}",
        "missing": "Пропали из продаж: {count}",
        "rec_leaders": "Обеспечьте запас лидеров продаж: {names}.",
        "rec_category": "Главная категория по выручке — {name} ({share} выручки): держите её ассортимент в фокусе.",
        "rec_down": "Разберитесь с причинами снижения продаж: {names}.",
        "rec_missing": "Проверьте наличие товаров, пропавших из продаж: {names}.",
        "rec_none": "Данных для рекомендаций недостаточно.",
    },
    "en": {
        "title": "Sales report for {date}",
        "revenue": "Revenue",
        "units": "Units sold",
        "products": "Products sold",
        "categories": "Categories",
        "avg_price": "Average price per unit",
        "by_units": "By units:",
        "by_revenue": "By revenue:",
        "product": "{name} ({category}): {units} units, revenue {revenue}",
        "category": "{name}: revenue {revenue} ({share} of revenue), {units} units",
        "other": "Other categories ({count})",
        "none": "No sales.",
        "previous": "Previous stored day: {date}, revenue {revenue}, {units} units sold.",
        "change": "Revenue change: {revenue} ({revenue_pct}); units change: {units} ({units_pct}).",
        "trailing": (
            "In the {window} calendar days before the date ({start} to {end}), stored days: {days}; "
            "average revenue {revenue} ({revenue_pct} against the average), "
            "average {units} units a day ({units_pct})."
        ),
        "no_trailing": "No days stored in the {window} calendar days before the date ({start} to {end}).",
        "up": "Biggest rises:",
        "down": "Biggest falls:",
        "mover": "{name}: {before} → {now} units ({change})",
        "new": "New products: {count}",
        "missing": "No longer sold: {count}",
        "rec_leaders": "Keep the best sellers in stock: {names}.",
        "rec_category": "The top category by revenue is {name} ({share} of revenue): keep its range in focus.",
        "rec_down": "Look into the falling products: {names}.",
        "rec_missing": "Check the availability of products no longer sold: {names}.",
        "rec_none": "Not enough data for recommendations.",
    },
}


def _product_line(p: ProductFact, lang: Language) -> str:
    return "- " + _TEXT[lang]["product"].format(
        name=clean_name(p.name),
        category=clean_name(p.category),
        units=integer(p.units, language=lang),
        revenue=money(p.revenue, language=lang),
    )


def _category_line(c: CategoryFact, lang: Language) -> str:
    t = _TEXT[lang]
    name = (
        t["other"].format(count=integer(c.categories, language=lang))
        if c.is_other
        else clean_name(c.name)
    )
    return "- " + t["category"].format(
        name=name,
        revenue=money(c.revenue, language=lang),
        share=percent(c.share_of_revenue, language=lang),
        units=integer(c.units, language=lang),
    )


def _mover_line(m: Mover, lang: Language) -> str:
    return "- " + _TEXT[lang]["mover"].format(
        name=clean_name(m.name),
        before=integer(m.units_before, language=lang),
        now=integer(m.units_now, language=lang),
        change=integer(m.change, language=lang, signed=True),
    )


def _names(names: list[str]) -> str:
    return ", ".join(clean_name(n) for n in names)


def _history(h: History, window: int, lang: Language) -> list[str]:
    t = _TEXT[lang]
    lines = [
        "- "
        + t["previous"].format(
            date=h.previous_date.isoformat(),
            revenue=money(h.previous_revenue, language=lang),
            units=integer(h.previous_units, language=lang),
        ),
        "- "
        + t["change"].format(
            revenue=money(h.revenue_change, language=lang, signed=True),
            revenue_pct=percent(h.revenue_change_pct, language=lang, signed=True),
            units=integer(h.units_change, language=lang, signed=True),
            units_pct=percent(h.units_change_pct, language=lang, signed=True),
        ),
    ]
    span = dict(
        window=integer(window, language=lang),
        start=h.trailing_from.isoformat(),
        end=h.trailing_to.isoformat(),
    )
    if h.trailing_days:
        lines.append(
            "- "
            + t["trailing"].format(
                **span,
                days=integer(h.trailing_days, language=lang),
                revenue=money(h.trailing_avg_revenue, language=lang),
                revenue_pct=percent(h.revenue_vs_trailing_pct, language=lang, signed=True),
                units=average(h.trailing_avg_units, language=lang),
                units_pct=percent(h.units_vs_trailing_pct, language=lang, signed=True),
            )
        )
    else:
        lines.append("- " + t["no_trailing"].format(**span))
    for key, movers in (("up", h.movers_up), ("down", h.movers_down)):
        if movers:
            lines += ["", t[key], *(_mover_line(m, lang) for m in movers)]
    lines.append("")
    for key, sample in (("new", h.new_products), ("missing", h.missing_products)):
        line = "- " + t[key].format(count=integer(sample.count, language=lang))
        lines.append(line + (f" ({_names(sample.names)})" if sample.names else ""))
    return lines


def _recommendations(facts: Facts, lang: Language) -> list[str]:
    t = _TEXT[lang]
    out = []
    if facts.top_by_units:
        out.append(t["rec_leaders"].format(names=_names([p.name for p in facts.top_by_units])))
    named = [c for c in facts.categories if not c.is_other]
    if named:
        out.append(
            t["rec_category"].format(
                name=clean_name(named[0].name),
                share=percent(named[0].share_of_revenue, language=lang),
            )
        )
    if facts.history is not None:
        if facts.history.movers_down:
            out.append(
                t["rec_down"].format(names=_names([m.name for m in facts.history.movers_down]))
            )
        if facts.history.missing_products.names:
            out.append(t["rec_missing"].format(names=_names(facts.history.missing_products.names)))
    return ["- " + line for line in out] or ["- " + t["rec_none"]]


def write_builtin(facts: Facts, *, language: Language) -> str:
    """A correct Markdown report in `language` from the facts alone."""
    lang, t = language, _TEXT[language]
    summary, top, categories, comparison, recommendations = SECTIONS[lang]
    lines = [
        "# " + t["title"].format(date=facts.sales_date.isoformat()),
        "",
        f"## {summary}",
        "",
        f"- {t['revenue']}: {money(facts.total_revenue, language=lang)}",
        f"- {t['units']}: {integer(facts.total_units, language=lang)}",
        f"- {t['products']}: {integer(facts.distinct_products, language=lang)}",
        f"- {t['categories']}: {integer(facts.distinct_categories, language=lang)}",
        f"- {t['avg_price']}: {money(facts.average_price, language=lang)}",
        "",
        f"## {top}",
        "",
    ]
    if facts.top_by_units:
        lines += [
            t["by_units"],
            *(_product_line(p, lang) for p in facts.top_by_units),
            "",
            t["by_revenue"],
            *(_product_line(p, lang) for p in facts.top_by_revenue),
        ]
    else:
        lines.append(t["none"])
    lines += ["", f"## {categories}", ""]
    lines += [_category_line(c, lang) for c in facts.categories] or [t["none"]]
    if facts.history is not None:
        lines += [
            "",
            f"## {comparison}",
            "",
            *_history(facts.history, facts.parameters.trailing_days, lang),
        ]
    lines += ["", f"## {recommendations}", "", *_recommendations(facts, lang)]
    return "\n".join(lines) + "\n"

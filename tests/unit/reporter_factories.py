"""Facts computed in plain Python from lists of products: the reporter's unit tests
build Facts with it, and the SQL test uses it as an independent check of load_facts."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from service.figures.facts import (
    PARAMETERS,
    CategoryFact,
    Facts,
    History,
    Mover,
    NameSample,
    ProductFact,
    percent_change,
    percent_of,
    ratio,
    trailing_window,
)


@dataclass(frozen=True, slots=True)
class Product:
    product_id: int
    name: str
    category: str
    quantity: int
    price: Decimal

    @property
    def revenue(self) -> Decimal:
        return self.quantity * self.price


def synthetic_products(n: int, *, seed: int = 0, categories: int = 14) -> list[Product]:
    """n deterministic products over `categories` categories (more than the 10 listed by name)."""
    return [
        Product(
            i,
            f"Product {i}",
            f"Category {(i * 5 + seed) % categories:02d}",
            (i * 37 + seed * 11) % 50 + 1,
            Decimal(f"{(i * 13 + seed) % 900 + 10}.{(i * 7) % 100:02d}"),
        )
        for i in range(1, n + 1)
    ]


# Name parts that look like numbers, dates, list markers or instructions.
_AWKWARD = [
    "Product",
    "iPhone 15",
    "A2",
    "1,5",
    "2024",
    "12.5%",
    "Чай",
    "-3",
    "x",
    "Ignore 99 instructions",
    "03.01.2024",
    "10 марта",
    "№7",
    "  ",
    "\n",
    "ёлка 1 500,00",
    "5)",
    "1.",
    "</data>",
    "![i](http://e/1)",
]


def random_products(rng: random.Random, n: int) -> list[Product]:
    """Up to n products with awkward names, zero and huge prices and quantities, sparse ids."""
    products = {}
    for _ in range(n):
        name = " ".join(rng.choice(_AWKWARD) for _ in range(rng.randint(1, 3)))
        price = Decimal(rng.choice([0, rng.randint(0, 10**8)])) / 100
        pid = rng.randint(1, 10 ** rng.randint(1, 12))
        products[pid] = Product(
            pid,
            name,
            rng.choice(["Books", "Cat 1", "2023", "Ж 10,5", "Food"]),
            rng.randint(1, 10 ** rng.randint(1, 6)),
            price,
        )
    return list(products.values())


def random_facts(seed: int) -> Facts:
    """The facts of a random day with up to three random earlier days within 15 days."""
    rng = random.Random(seed)
    day = dt.date(rng.randint(2000, 2030), rng.randint(1, 12), rng.randint(1, 28))
    earlier = {
        day - dt.timedelta(days=rng.randint(1, 15)): random_products(rng, rng.randint(1, 30))
        for _ in range(rng.randint(0, 3))
    }
    return make_facts(day, random_products(rng, rng.randint(1, 30)), earlier=earlier)


def _product(p: Product) -> ProductFact:
    return ProductFact(
        product_id=p.product_id,
        name=p.name,
        category=p.category,
        units=p.quantity,
        revenue=p.revenue,
    )


def _categories(products: list[Product], revenue: Decimal) -> list[CategoryFact]:
    units: dict[str, int] = defaultdict(int)
    money: dict[str, Decimal] = defaultdict(Decimal)
    for p in products:
        units[p.category] += p.quantity
        money[p.category] += p.revenue
    ranked = sorted(money, key=lambda c: (-money[c], c))
    n = PARAMETERS.categories_n
    out = [
        CategoryFact(
            name=c, units=units[c], revenue=money[c], share_of_revenue=percent_of(money[c], revenue)
        )
        for c in ranked[:n]
    ]
    if rest := ranked[n:]:
        rest_money = sum((money[c] for c in rest), Decimal(0))
        out.append(
            CategoryFact(
                name="",
                is_other=True,
                categories=len(rest),
                units=sum(units[c] for c in rest),
                revenue=rest_money,
                share_of_revenue=percent_of(rest_money, revenue),
            )
        )
    return out


def make_facts(
    sales_date: dt.date,
    products: list[Product],
    *,
    earlier: dict[dt.date, list[Product]] | None = None,
) -> Facts:
    """The facts of `sales_date` given its products and those of earlier stored days."""
    top = PARAMETERS.top_n
    revenue = sum((p.revenue for p in products), Decimal(0))
    units = sum(p.quantity for p in products)
    by_units = sorted(products, key=lambda p: (-p.quantity, p.product_id))
    by_revenue = sorted(products, key=lambda p: (-p.revenue, p.product_id))
    return Facts(
        sales_date=sales_date,
        total_revenue=revenue,
        total_units=units,
        distinct_products=len(products),
        distinct_categories=len({p.category for p in products}),
        average_price=ratio(revenue, units),
        top_by_units=[_product(p) for p in by_units[:top]],
        top_by_revenue=[_product(p) for p in by_revenue[:top]],
        categories=_categories(products, revenue),
        history=_history(sales_date, products, revenue, units, earlier or {}),
    )


def _history(
    sales_date: dt.date,
    products: list[Product],
    revenue: Decimal,
    units: int,
    earlier: dict[dt.date, list[Product]],
) -> History | None:
    window_from, _ = trailing_window(sales_date)
    before = [d for d in earlier if window_from <= d < sales_date]
    if not before:
        return None
    prev_date = max(before)
    prev = {p.product_id: p for p in earlier[prev_date]}
    prev_revenue = sum((p.revenue for p in prev.values()), Decimal(0))
    prev_units = sum(p.quantity for p in prev.values())
    lo, hi = trailing_window(sales_date)
    window = [d for d in before if lo <= d <= hi]
    avg_revenue = avg_units = None
    if window:
        avg_revenue = ratio(
            sum((p.revenue for d in window for p in earlier[d]), Decimal(0)), len(window)
        )
        avg_units = ratio(sum(p.quantity for d in window for p in earlier[d]), len(window))
    now = {p.product_id: p for p in products}
    changes = [
        Mover(
            product_id=i,
            name=p.name,
            units_before=prev[i].quantity,
            units_now=p.quantity,
            change=p.quantity - prev[i].quantity,
        )
        for i, p in now.items()
        if i in prev
    ]
    n = PARAMETERS.movers_n
    up = sorted((m for m in changes if m.change > 0), key=lambda m: (-m.change, m.product_id))[:n]
    down = sorted((m for m in changes if m.change < 0), key=lambda m: (m.change, m.product_id))[:n]
    new = sorted(
        (p for i, p in now.items() if i not in prev), key=lambda p: (-p.quantity, p.product_id)
    )
    gone = sorted(
        (p for i, p in prev.items() if i not in now), key=lambda p: (-p.quantity, p.product_id)
    )
    top = PARAMETERS.top_n
    return History(
        previous_date=prev_date,
        previous_revenue=prev_revenue,
        previous_units=prev_units,
        revenue_change=revenue - prev_revenue,
        revenue_change_pct=percent_change(revenue, prev_revenue),
        units_change=units - prev_units,
        units_change_pct=percent_change(units, prev_units),
        trailing_from=lo,
        trailing_to=hi,
        trailing_days=len(window),
        trailing_avg_revenue=avg_revenue,
        trailing_avg_units=avg_units,
        revenue_vs_trailing_pct=percent_change(revenue, avg_revenue),
        units_vs_trailing_pct=percent_change(units, avg_units),
        movers_up=up,
        movers_down=down,
        new_products=NameSample(count=len(new), names=[p.name for p in new[:top]]),
        missing_products=NameSample(count=len(gone), names=[p.name for p in gone[:top]]),
    )


# Two days the verifier tests (and the LLM policy tests) plant their lies around.
DAY = dt.date(2024, 3, 10)
_BEFORE = [
    Product(1, "Bosch Kettle", "Кухня", 40, Decimal("15.00")),
    Product(2, "Philips Dryer", "Красота", 50, Decimal("12.00")),
]
_NOW = [
    Product(1, "Bosch Kettle", "Кухня", 28, Decimal("15.00")),
    Product(2, "Philips Dryer", "Красота", 24, Decimal("11.65")),
]

# Revenue 1,200.00 → 699.60 (−500.40, −41.7 %); units 90 → 52 (−38, −42.2 %); Bosch Kettle
# 420.00 and 28 units (−12), Philips Dryer 279.60 and 24 units (−26); shares 60.0 % and 40.0 %.
FALL = make_facts(DAY, _NOW, earlier={DAY - dt.timedelta(days=1): _BEFORE})
# The same two days the other way round: revenue +71.5 %.
RISE = make_facts(DAY, _BEFORE, earlier={DAY - dt.timedelta(days=1): _NOW})

"""The fields of one ``<product>``: their rules, their messages, and the SalesLine they make.

Used by service/ingest/parse.py. Its fast path takes a clean product with
:data:`PRICE_MATCH`, :func:`clean_text` and :func:`sales_line`, inline; any
other product goes through :func:`check_integer`, :func:`check_price` and
:func:`check_text`, which append every problem they find to a :data:`Problems`
list and return the value, or None when it is refused.

Field rules:

* Numbers use ASCII digits only, checked with explicit patterns before any
  conversion; surrounding blanks (space, tab, CR, LF) are stripped first, blanks
  inside a value are refused. ``id``: 1–18 digits, > 0 (its uniqueness in the
  day is parse.py's to check). ``quantity``: 1–9 digits, > 0. ``price``: 1–10
  digits, optionally ``.`` and 1–2 digits; 0 is allowed.
* ``name`` and ``category``: runs of whitespace become one space, ends are
  trimmed; must not be empty, at most 200 characters, and contain no control
  or invisible formatting characters (C0/C1 controls, DEL, bidi overrides,
  zero-width characters, line/paragraph separators).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from lxml import etree

from ..models import SalesLine
from ..xmltools import element_line, quote

__all__ = [
    "BLANKS",
    "FIELDS",
    "FIELD_SET",
    "ID",
    "MAX_TEXT",
    "PRICE_MATCH",
    "QUANTITY",
    "Problem",
    "Problems",
    "check_integer",
    "check_price",
    "check_text",
    "clean_text",
    "sales_line",
]

MAX_TEXT: Final = 200
FIELDS: Final = ("id", "name", "quantity", "price", "category")
FIELD_SET: Final = frozenset(FIELDS)
BLANKS: Final = " \t\r\n"  # the XML whitespace characters

ID = re.compile(r"[0-9]{1,18}")
QUANTITY = re.compile(r"[0-9]{1,9}")
_UNSIGNED = re.compile(r"-[0-9]+")
_PRICE = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,2})?")
PRICE_MATCH = _PRICE.fullmatch
_PRICE_LONG_FRACTION = re.compile(r"-?[0-9]+\.[0-9]{3,}")
_PRICE_LONG_WHOLE = re.compile(r"[0-9]{11,}(?:\.[0-9]+)?")
_NEGATIVE_PRICE = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
# XML 1.0 already excludes most C0 controls; these are the ones it lets through plus
# invisible formatting characters that could disguise a name (in reports, in prompts).
_BAD_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)

# One problem of a product before it becomes an Issue: code, message, field, line.
Problem = tuple[str, str, str | None, int | None]
Problems = list[Problem]


def check_integer(
    text: str,
    field: str,
    pattern: re.Pattern[str],
    digits: int,
    element: etree._Element,
    problems: Problems,
) -> int | None:
    """``text`` (already stripped of blanks) as a whole number > 0 of at most ``digits`` digits."""
    if pattern.fullmatch(text) is not None:
        value = int(text)
        if value > 0:
            return value
        problems.append(
            (
                "not_positive",
                f"{field} {quote(text)} must be greater than 0",
                field,
                element_line(element),
            )
        )
        return None
    line = element_line(element)
    if not text:
        problems.append(("empty_field", f"<{field}> is empty", field, line))
    elif _UNSIGNED.fullmatch(text) is not None:
        problems.append(
            ("not_positive", f"{field} {quote(text)} must be greater than 0", field, line)
        )
    elif text.isascii() and text.isdigit():
        problems.append(
            ("bad_integer", f"{field} {quote(text)} has more than {digits} digits", field, line)
        )
    else:
        problems.append(
            (
                "bad_integer",
                f"{field} {quote(text)} is not a whole number written with the digits 0-9 only",
                field,
                line,
            )
        )
    return None


def check_price(element: etree._Element, problems: Problems) -> Decimal | None:
    """The text of ``<price>`` as a Decimal: 1–10 digits, optionally . and 1–2 digits."""
    text = (element.text or "").strip(BLANKS)
    if _PRICE.fullmatch(text) is not None:
        return Decimal(text)
    line = element_line(element)
    if not text:
        problems.append(("empty_field", "<price> is empty", "price", line))
    elif _NEGATIVE_PRICE.fullmatch(text) is not None:
        problems.append(("negative", f"price {quote(text)} is negative", "price", line))
    elif _PRICE_LONG_FRACTION.fullmatch(text) is not None:
        problems.append(
            (
                "too_many_decimals",
                f"price {quote(text)} has more than 2 decimal places",
                "price",
                line,
            )
        )
    elif _PRICE_LONG_WHOLE.fullmatch(text) is not None:
        problems.append(
            (
                "bad_decimal",
                f"price {quote(text)} has more than 10 digits before the decimal point",
                "price",
                line,
            )
        )
    else:
        problems.append(
            (
                "bad_decimal",
                f"price {quote(text)} is not a decimal number such as 1500 or 1500.00",
                "price",
                line,
            )
        )
    return None


def check_text(element: etree._Element, field: str, problems: Problems) -> str | None:
    """The normalized text of ``<name>`` or ``<category>``."""
    raw = element.text
    if raw is None:
        problems.append(("empty_field", f"<{field}> is empty", field, element_line(element)))
        return None
    bad = _BAD_CHARS.search(raw)
    if bad is not None:
        problems.append(
            (
                "bad_characters",
                f"{field} contains the control or invisible character U+{ord(bad[0]):04X}",
                field,
                element_line(element),
            )
        )
        return None
    value = " ".join(raw.split())
    if not value:
        problems.append(("empty_field", f"<{field}> is empty", field, element_line(element)))
        return None
    if len(value) > MAX_TEXT:
        problems.append(
            (
                "too_long",
                f"{field} is {len(value)} characters long; at most {MAX_TEXT} are allowed",
                field,
                element_line(element),
            )
        )
        return None
    return value


def clean_text(raw: str) -> str | None:
    """The fast path's name/category check: the normalized text, or None to take the long way."""
    if _BAD_CHARS.search(raw) is not None:
        return None
    return " ".join(raw.split())


# SalesLine is a frozen dataclass: its generated __init__ sets each field through
# object.__setattr__, which costs more than the rest of a product's validation.
# Filling the slots directly builds an identical object (a test pins this).
_new_line = object.__new__
if TYPE_CHECKING:  # the slot descriptors' __set__, as the type checker cannot see them
    _set_id: Callable[[SalesLine, int], None]
    _set_name: Callable[[SalesLine, str], None]
    _set_category: Callable[[SalesLine, str], None]
    _set_quantity: Callable[[SalesLine, int], None]
    _set_price: Callable[[SalesLine, Decimal], None]
else:
    _set_id, _set_name, _set_category, _set_quantity, _set_price = (
        SalesLine.product_id.__set__,
        SalesLine.name.__set__,
        SalesLine.category.__set__,
        SalesLine.quantity.__set__,
        SalesLine.price.__set__,
    )


def sales_line(
    product_id: int, name: str, category: str, quantity: int, price: Decimal
) -> SalesLine:
    line: SalesLine = _new_line(SalesLine)
    _set_id(line, product_id)
    _set_name(line, name)
    _set_category(line, category)
    _set_quantity(line, quantity)
    _set_price(line, price)
    return line

"""Parse and validate one sales day: XML bytes → ParsedDay. Pure, never raises.

The document-level rules (empty body, DOCTYPE/ENTITY, UTF-8, root, date) are
those of service/ingest/rules.py, the same the gateway's precheck applies. Then
the body is streamed through libxml2 in 64 KiB chunks; each ``<product>`` is
validated when its end tag is read and then removed from the tree, so memory
stays flat whatever the number of products.

Structure rules:

* ``<sales_data date="YYYY-MM-DD">`` holds exactly one ``<products>``; other
  children of ``<sales_data>`` are ignored (but still count for depth).
* ``<products>`` holds only ``<product>`` elements; any other element there is a
  product-level ``unexpected_element``. Text between elements is ignored.
* A ``<product>`` needs ``id``, ``name``, ``quantity``, ``price``, ``category``
  once each. Unknown child elements of ``<product>`` are ignored, so senders may
  add fields; a field that holds elements instead of text is ``unexpected_element``.
* Numbers use ASCII digits only, checked with explicit patterns before any
  conversion; surrounding blanks (space, tab, CR, LF) are stripped first, blanks
  inside a value are refused. ``id``: 1–18 digits, > 0, unique in the day (the
  later product is reported). ``quantity``: 1–9 digits, > 0. ``price``: 1–10
  digits, optionally ``.`` and 1–2 digits; 0 is allowed.
* ``name`` and ``category``: runs of whitespace become one space, ends are
  trimmed; must not be empty, at most 200 characters, and contain no control
  or invisible formatting characters (C0/C1 controls, DEL, bidi overrides,
  zero-width characters, line/paragraph separators).

Every problem of a product is reported (one Issue per problem, with line, field,
1-based product index and the id as sent). A product with any problem is left
out of ``lines``. Document-level problems go to ``fatal``; when there is one,
``lines`` is emptied (a fatal day stores nothing) and parsing stops, except
after a missing or bad date, where products are still checked so the sender
gets every problem at once. More than ``max_issues`` product problems make the
whole day fatal (``too_many_issues``), which bounds memory on garbage input.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from lxml import etree

from ..models import Issue, ParsedDay, SalesLine
from .rules import (
    CHUNK_SIZE,
    PRODUCT_TAG,
    PRODUCTS_TAG,
    Utf8Check,
    hardened_parser,
    quote,
    read_head,
    syntax_issue,
)

__all__ = ["parse_day"]

_MAX_TEXT: Final = 200
# A document whose date is wrong is still read to the end so every problem is reported.
_DATE_CODES: Final = frozenset({"missing_date", "bad_date"})
_FIELDS: Final = ("id", "name", "quantity", "price", "category")
_FIELD_SET: Final = frozenset(_FIELDS)
_BLANKS: Final = " \t\r\n"  # the XML whitespace characters

_ID = re.compile(r"[0-9]{1,18}")
_QUANTITY = re.compile(r"[0-9]{1,9}")
_UNSIGNED = re.compile(r"-[0-9]+")
_PRICE = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,2})?")
_PRICE_MATCH = _PRICE.fullmatch
_PRICE_LONG_FRACTION = re.compile(r"-?[0-9]+\.[0-9]{3,}")
_PRICE_LONG_WHOLE = re.compile(r"[0-9]{11,}(?:\.[0-9]+)?")
_NEGATIVE_PRICE = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
# XML 1.0 already excludes most C0 controls; these are the ones it lets through plus
# invisible formatting characters that could disguise a name (in reports, in prompts).
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


# One problem of a product before it becomes an Issue: code, message, field, line.
_Problems = list[tuple[str, str, str | None, int | None]]


def parse_day(data: bytes, *, max_products: int = 1_000_000, max_depth: int = 16,
              max_issues: int = 100_000) -> ParsedDay:
    """Parse and validate one day's XML. Never raises: every problem becomes an Issue."""
    try:
        return _DayParser(data, max_products=max_products, max_depth=max_depth,
                          max_issues=max_issues).run()
    except Exception as exc:  # a bug of ours, never a property of the input
        issue = Issue(code="internal_error", message=f"internal error while parsing: {type(exc).__name__}")
        return ParsedDay(sales_date=None, fatal=[issue])


class _Stop(Exception):
    """A fatal issue was recorded; stop reading the document."""


class _DayParser:
    def __init__(self, data: bytes, *, max_products: int, max_depth: int, max_issues: int) -> None:
        self.data = data
        self.max_products = max_products
        self.max_depth = max_depth
        self.max_issues = max_issues
        self.day = ParsedDay(sales_date=None)
        self.products: etree._Element | None = None
        self.seen_ids: dict[int, int] = {}  # id → line of the first product with it
        self.lines_append = self.day.lines.append
        self.last: etree._Element | None = None  # the latest <product> still in the tree
        self.batch = 0  # products read since the last _flush
        self.unordered = False  # stray elements were reported out of document order

    def run(self) -> ParsedDay:
        day = self.day
        head = read_head(self.data)
        day.sales_date = head.sales_date
        if head.issue is not None:
            day.fatal.append(head.issue)
            if head.issue.code not in _DATE_CODES:
                return day
        try:
            self._stream()
        except _Stop:
            pass
        if self.unordered:
            day.product_issues.sort(key=_line_key)
        if day.fatal:
            day.lines = []
        return day

    def fail(self, code: str, message: str, *, line: int | None = None) -> _Stop:
        self.day.fatal.append(Issue(code=code, message=message, line=line))
        return _Stop()

    def _stream(self) -> None:
        data, size = self.data, len(self.data)
        parser = hardened_parser(events=("end",), tag=PRODUCT_TAG)
        utf8 = Utf8Check(data)
        handle = self._product
        try:
            for pos in range(0, size, CHUNK_SIZE):
                chunk = data[pos:pos + CHUNK_SIZE]
                bad = utf8.feed(chunk, final=pos + CHUNK_SIZE >= size)
                if bad is not None:
                    self.day.fatal.append(bad)
                    raise _Stop
                parser.feed(chunk)
                for _event, element in parser.read_events():
                    handle(element)
                self._flush()
            root = parser.close()
            for _event, element in parser.read_events():
                handle(element)
        except etree.LxmlError as exc:
            self.day.fatal.append(syntax_issue(exc))
            raise _Stop from None
        self._flush()
        self._finish(root)

    # --- structure -----------------------------------------------------------------

    def _product(self, element: etree._Element) -> None:
        parent = element.getparent()
        products = self.products
        if parent is not products or products is None:
            if parent is None or parent.tag != PRODUCTS_TAG or not _is_root(parent.getparent()):
                return  # inside some unknown element: judged with it
            if products is not None:
                raise self.fail("unexpected_element", "a second <products> element; a day has exactly one",
                                line=parent.sourceline)
            self.products = parent
        day = self.day
        day.products_seen += 1
        if day.products_seen > self.max_products:
            raise self.fail("too_many_products", f"more than {self.max_products} products in one day",
                            line=element.sourceline)
        self.last = element
        self.batch += 1
        # The fast path for a clean product, inline because it runs a million times a
        # file; anything unusual (or wrong) goes to _diagnose, which finds every problem.
        try:
            id_el, name_el, qty_el, price_el, cat_el = element
        except ValueError:
            return self._diagnose(element, day.products_seen)
        if self.max_depth < 4:  # even the fields would be too deep; let _diagnose say so
            return self._diagnose(element, day.products_seen)
        if (id_el.tag == "id" and name_el.tag == "name" and qty_el.tag == "quantity" and price_el.tag == "price"
                and cat_el.tag == "category"
                and not (len(id_el) or len(name_el) or len(qty_el) or len(price_el) or len(cat_el))):
            raw_id, raw_qty, raw_price = id_el.text or "", qty_el.text or "", price_el.text or ""
            name, category = name_el.text or "", cat_el.text or ""
            # Plain printable ASCII with nothing to normalize is the common case (strip()
            # returns the very same object when there is nothing to strip).
            if not (name.isascii() and name.isprintable() and "  " not in name and name.strip(" ") is name):
                name = _clean_text(name)  # type: ignore[assignment]
            if not (category.isascii() and category.isprintable() and "  " not in category
                    and category.strip(" ") is category):
                category = _clean_text(category)  # type: ignore[assignment]
            if (name and category and len(name) <= _MAX_TEXT and len(category) <= _MAX_TEXT
                    and raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18
                    and raw_qty.isascii() and raw_qty.isdigit() and len(raw_qty) <= 9
                    and _PRICE_MATCH(raw_price) is not None):
                product_id, quantity = int(raw_id), int(raw_qty)
                seen = self.seen_ids
                if product_id > 0 and quantity > 0 and product_id not in seen:
                    seen[product_id] = element.sourceline
                    line = _new_line(SalesLine)
                    _set_id(line, product_id)
                    _set_name(line, name)
                    _set_category(line, category)
                    _set_quantity(line, quantity)
                    _set_price(line, Decimal(raw_price))
                    self.lines_append(line)
                    return None
        return self._diagnose(element, day.products_seen)

    def _flush(self) -> None:
        """Drop the products read so far from the tree (one call per chunk, not per product)."""
        last, products = self.last, self.products
        if last is None or products is None:
            return
        upto = products.index(last) + 1
        if upto != self.batch:  # something other than <product> stands among them
            self._strays(products, until=last)
            upto = products.index(last) + 1
        del products[:upto]
        self.last = None
        self.batch = 0

    def _strays(self, products: etree._Element, *, until: etree._Element | None) -> None:
        """Report and drop the elements of <products> that are not <product>."""
        self.unordered = True
        for child in list(products):
            if child is until:
                break
            if child.tag == PRODUCT_TAG:
                continue
            self._depth(child, 3)
            name = quote(str(child.tag))[1:-1]
            self._product_issue(Issue(code="unexpected_element", line=child.sourceline,
                                      message=f"<{name}> is not allowed in <products>; only <product> is"))
            products.remove(child)

    def _finish(self, root: etree._Element) -> None:
        day = self.day
        lists = [child for child in root if child.tag == PRODUCTS_TAG]
        if len(lists) > 1:
            raise self.fail("unexpected_element", "a second <products> element; a day has exactly one",
                            line=lists[1].sourceline)
        for child in root:
            if child is not self.products:
                self._depth(child, 2)
        if not lists:
            raise self.fail("missing_products", "<sales_data> has no <products> element",
                            line=root.sourceline)
        self._strays(lists[0], until=None)
        if day.products_seen == 0:
            raise self.fail("empty_day", "<products> holds no <product>", line=lists[0].sourceline)

    def _depth(self, element: etree._Element, level: int) -> None:
        """Fatal when ``element`` (at ``level``, the root being 1) holds anything deeper than max_depth."""
        stack = [(element, level)]
        while stack:
            node, depth = stack.pop()
            if depth > self.max_depth:
                raise self.fail("too_deep", f"elements are nested {depth} levels deep; "
                                            f"at most {self.max_depth} are allowed", line=node.sourceline)
            stack.extend((child, depth + 1) for child in node)

    def _product_issue(self, issue: Issue) -> None:
        issues = self.day.product_issues
        issues.append(issue)
        if len(issues) > self.max_issues:
            raise self.fail("too_many_issues", f"more than {self.max_issues} problems with products; "
                                               "the file is refused as a whole")

    # --- one product ---------------------------------------------------------------

    def _diagnose(self, element: etree._Element, index: int) -> None:
        """Find every problem of a product (or accept it: the fast path is only a shortcut)."""
        found: dict[object, etree._Element] = {}
        extra: list[etree._Element] | None = None
        nested = False
        for child in element:
            tag = child.tag
            if tag in found:
                if extra is None:
                    extra = []
                extra.append(child)
            else:
                found[tag] = child
            if len(child):
                nested = True
        if nested or self.max_depth < 4:
            self._depth(element, 3)

        problems: _Problems = []
        if extra is not None:
            for child in extra:
                if child.tag in _FIELD_SET:
                    first = found[child.tag].sourceline
                    problems.append(("duplicate_field", f"<{child.tag}> appears more than once in this product "
                                                        f"(first at line {first})", child.tag, child.sourceline))
        get = found.get
        id_el, name_el, qty_el = get("id"), get("name"), get("quantity")
        price_el, cat_el = get("price"), get("category")
        if nested:  # a field holding elements is refused, and not read any further
            for field, child in (("id", id_el), ("name", name_el), ("quantity", qty_el),
                                 ("price", price_el), ("category", cat_el)):
                if child is not None and len(child):
                    inner = quote(str(child[0].tag))[1:-1]
                    problems.append(("unexpected_element", f"<{field}> must hold text only; found <{inner}> "
                                                           "inside it", field, child.sourceline))
        raw_id: str | None = None
        product_id = quantity = None
        price: Decimal | None = None
        name = category = None

        if id_el is None:
            problems.append(("missing_field", "<id> is missing", "id", None))
        elif not (nested and len(id_el)):
            raw_id = (id_el.text or "").strip(_BLANKS)
            product_id = _integer(raw_id, "id", _ID, 18, id_el, problems)
        if name_el is None:
            problems.append(("missing_field", "<name> is missing", "name", None))
        elif not (nested and len(name_el)):
            name = _text(name_el, "name", problems)
        if qty_el is None:
            problems.append(("missing_field", "<quantity> is missing", "quantity", None))
        elif not (nested and len(qty_el)):
            quantity = _integer((qty_el.text or "").strip(_BLANKS), "quantity", _QUANTITY, 9, qty_el, problems)
        if price_el is None:
            problems.append(("missing_field", "<price> is missing", "price", None))
        elif not (nested and len(price_el)):
            price = _price(price_el, problems)
        if cat_el is None:
            problems.append(("missing_field", "<category> is missing", "category", None))
        elif not (nested and len(cat_el)):
            category = _text(cat_el, "category", problems)

        if product_id is not None:
            first_line = self.seen_ids.get(product_id)
            if first_line is None:
                self.seen_ids[product_id] = element.sourceline or 0
            else:
                assert id_el is not None
                problems.append(("duplicate_id", f"product id {product_id} was already used by the product "
                                                 f"at line {first_line}", "id", id_el.sourceline))

        if not problems:
            assert product_id is not None and quantity is not None and price is not None
            assert name is not None and category is not None
            self.lines_append(_sales_line(product_id, name, category, quantity, price))
            return
        line = element.sourceline
        shown_id = quote(raw_id)[1:-1] if raw_id else None
        for code, message, field, at in problems:
            self._product_issue(Issue(code=code, message=message, field=field, line=at or line,
                                      product_index=index, product_id=shown_id))


def _line_key(issue: Issue) -> int:
    return issue.line or 0


def _is_root(element: etree._Element | None) -> bool:
    return element is not None and element.getparent() is None




def _integer(text: str, field: str, pattern: re.Pattern[str], digits: int,
             element: etree._Element, problems: _Problems) -> int | None:
    if pattern.fullmatch(text) is not None:
        value = int(text)
        if value > 0:
            return value
        problems.append(("not_positive", f"{field} {quote(text)} must be greater than 0", field, element.sourceline))
        return None
    if not text:
        problems.append(("empty_field", f"<{field}> is empty", field, element.sourceline))
    elif _UNSIGNED.fullmatch(text) is not None:
        problems.append(("not_positive", f"{field} {quote(text)} must be greater than 0", field, element.sourceline))
    elif text.isascii() and text.isdigit():
        problems.append(("bad_integer", f"{field} {quote(text)} has more than {digits} digits", field,
                         element.sourceline))
    else:
        problems.append(("bad_integer", f"{field} {quote(text)} is not a whole number written with the "
                                        "digits 0-9 only", field, element.sourceline))
    return None


def _price(element: etree._Element, problems: _Problems) -> Decimal | None:
    text = (element.text or "").strip(_BLANKS)
    if _PRICE.fullmatch(text) is not None:
        return Decimal(text)
    line = element.sourceline
    if not text:
        problems.append(("empty_field", "<price> is empty", "price", line))
    elif _NEGATIVE_PRICE.fullmatch(text) is not None:
        problems.append(("negative", f"price {quote(text)} is negative", "price", line))
    elif _PRICE_LONG_FRACTION.fullmatch(text) is not None:
        problems.append(("too_many_decimals", f"price {quote(text)} has more than 2 decimal places", "price", line))
    elif _PRICE_LONG_WHOLE.fullmatch(text) is not None:
        problems.append(("bad_decimal", f"price {quote(text)} has more than 10 digits before the decimal point",
                         "price", line))
    else:
        problems.append(("bad_decimal", f"price {quote(text)} is not a decimal number such as 1500 or 1500.00",
                         "price", line))
    return None


def _clean_text(raw: str) -> str | None:
    """The fast path's name/category check: the normalized text, or None to take the long way."""
    if _BAD_CHARS.search(raw) is not None:
        return None
    return " ".join(raw.split())


# SalesLine is a frozen dataclass: its generated __init__ sets each field through
# object.__setattr__, which costs more than the rest of a product's validation.
# Filling the slots directly builds an identical object (a test pins this).
_new_line = object.__new__
_set_id, _set_name, _set_category, _set_quantity, _set_price = (
    SalesLine.product_id.__set__, SalesLine.name.__set__, SalesLine.category.__set__,  # type: ignore[attr-defined]
    SalesLine.quantity.__set__, SalesLine.price.__set__)  # type: ignore[attr-defined]


def _sales_line(product_id: int, name: str, category: str, quantity: int, price: Decimal) -> SalesLine:
    line: SalesLine = _new_line(SalesLine)
    _set_id(line, product_id)
    _set_name(line, name)
    _set_category(line, category)
    _set_quantity(line, quantity)
    _set_price(line, price)
    return line


def _text(element: etree._Element, field: str, problems: _Problems) -> str | None:
    raw = element.text
    if raw is None:
        problems.append(("empty_field", f"<{field}> is empty", field, element.sourceline))
        return None
    bad = _BAD_CHARS.search(raw)
    if bad is not None:
        problems.append(("bad_characters", f"{field} contains the control or invisible character "
                                           f"U+{ord(bad[0]):04X}", field, element.sourceline))
        return None
    value = " ".join(raw.split())
    if not value:
        problems.append(("empty_field", f"<{field}> is empty", field, element.sourceline))
        return None
    if len(value) > _MAX_TEXT:
        problems.append(("too_long", f"{field} is {len(value)} characters long; at most {_MAX_TEXT} are allowed",
                         field, element.sourceline))
        return None
    return value

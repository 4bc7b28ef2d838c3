"""Parse and validate one sales day: XML bytes → ParsedDay. Pure, never raises.

The document-level rules (empty body, DOCTYPE/ENTITY, UTF-8, root, date) are
those of service/xmlhead.py, the same the gateway's precheck applies. Then
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
* Each field's own rules (digits, lengths, characters) are in
  service/ingest/fields.py. ``id`` must also be unique in the day (the later
  product is reported).

Every problem of a product is reported (one Issue per problem, with line, field,
1-based product index and the id as sent). A product with any problem is left
out of ``lines``. Document-level problems go to ``fatal``; when there is one,
``lines`` is emptied (a fatal day stores nothing) and parsing stops, except
after a missing or bad date, where products are still checked so the sender
gets every problem at once. More than ``max_issues`` product problems make the
whole day fatal (``too_many_issues``), which bounds memory on garbage input.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Final, TypeGuard

from lxml import etree

from ..models import Issue, ParsedDay
from ..xmlhead import (
    CHUNK_SIZE,
    PRODUCT_TAG,
    PRODUCTS_TAG,
    HeadRefused,
    Utf8Check,
    element_events,
    element_line,
    hardened_parser,
    quote,
    read_head,
    syntax_issue,
)
from .fields import (
    BLANKS,
    FIELD_SET,
    ID,
    MAX_TEXT,
    PRICE_MATCH,
    QUANTITY,
    Problems,
    check_integer,
    check_price,
    check_text,
    clean_text,
    sales_line,
)

__all__ = ["parse_day"]

# A document whose date is wrong is still read to the end so every problem is reported.
_DATE_CODES: Final = frozenset({"missing_date", "bad_date"})
_SECOND_PRODUCTS: Final = "a second <products> element; a day has exactly one"


def parse_day(
    data: bytes, *, max_products: int = 1_000_000, max_depth: int = 16, max_issues: int = 100_000
) -> ParsedDay:
    """Parse and validate one day's XML. Never raises: every problem becomes an Issue."""
    try:
        return _DayParser(
            data, max_products=max_products, max_depth=max_depth, max_issues=max_issues
        ).run()
    except Exception as exc:  # a bug of ours, never a property of the input
        issue = Issue(
            code="internal_error", message=f"internal error while parsing: {type(exc).__name__}"
        )
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
        self.seen_ids: dict[int, int | None] = {}  # id → line of the first product with it
        self.lines_append = self.day.lines.append
        self.last: etree._Element | None = None  # the latest <product> still in the tree
        self.batch = 0  # products read since the last _flush
        self.unordered = False  # stray elements were reported out of document order

    def run(self) -> ParsedDay:
        day = self.day
        head = read_head(self.data)
        if isinstance(head, HeadRefused):
            day.fatal.append(head.issue)
            if head.issue.code not in _DATE_CODES:
                return day
        else:
            day.sales_date = head.sales_date
        with contextlib.suppress(_Stop):
            self._stream()
        day.id_lines = self.seen_ids
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
        read_events = element_events(parser)
        utf8 = Utf8Check(data)
        handle = self._product
        try:
            for pos in range(0, size, CHUNK_SIZE):
                chunk = data[pos : pos + CHUNK_SIZE]
                bad = utf8.feed(chunk, final=pos + CHUNK_SIZE >= size)
                if bad is not None:
                    self.day.fatal.append(bad)
                    raise _Stop
                parser.feed(chunk)
                for _event, element in read_events():
                    handle(element)
                self._flush()
            root = parser.close()
            for _event, element in read_events():
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
        if (parent is not products or products is None) and not self._adopt(parent):
            return  # inside some unknown element: judged with it
        day = self.day
        day.products_seen += 1
        if day.products_seen > self.max_products:
            raise self.fail(
                "too_many_products",
                f"more than {self.max_products} products in one day",
                line=element_line(element),
            )
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
        if (
            id_el.tag == "id"
            and name_el.tag == "name"
            and qty_el.tag == "quantity"
            and price_el.tag == "price"
            and cat_el.tag == "category"
            and not (len(id_el) or len(name_el) or len(qty_el) or len(price_el) or len(cat_el))
        ):
            raw_id, raw_qty, raw_price = id_el.text or "", qty_el.text or "", price_el.text or ""
            name: str | None
            category: str | None
            name, category = name_el.text or "", cat_el.text or ""
            # Plain printable ASCII with nothing to normalize is the common case (strip()
            # returns the very same object when there is nothing to strip).
            if not (
                name.isascii()
                and name.isprintable()
                and "  " not in name
                and name.strip(" ") is name
            ):
                name = clean_text(name)
            if not (
                category.isascii()
                and category.isprintable()
                and "  " not in category
                and category.strip(" ") is category
            ):
                category = clean_text(category)
            if (
                name
                and category
                and len(name) <= MAX_TEXT
                and len(category) <= MAX_TEXT
                and raw_id.isascii()
                and raw_id.isdigit()
                and len(raw_id) <= 18
                and raw_qty.isascii()
                and raw_qty.isdigit()
                and len(raw_qty) <= 9
                and PRICE_MATCH(raw_price) is not None
            ):
                product_id, quantity = int(raw_id), int(raw_qty)
                seen = self.seen_ids
                if product_id > 0 and quantity > 0 and product_id not in seen:
                    # lxml-stubs 0.5.1 declare sourceline as `...`; it is int | None.
                    seen[product_id] = element.sourceline  # type: ignore[assignment]  # no call in the hot loop
                    self.lines_append(
                        sales_line(product_id, name, category, quantity, Decimal(raw_price))
                    )
                    return None
        return self._diagnose(element, day.products_seen)

    def _adopt(self, parent: etree._Element | None) -> bool:
        """A product outside the <products> known so far: False when its parent is not the
        root's <products> (judged with that element); the first <products> is adopted; a
        second one refuses the file."""
        if parent is None or parent.tag != PRODUCTS_TAG or not _is_root(parent.getparent()):
            return False
        if self.products is not None:
            raise self.fail("unexpected_element", _SECOND_PRODUCTS, line=element_line(parent))
        self.products = parent
        return True

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
            self._product_issue(
                Issue(
                    code="unexpected_element",
                    line=child.sourceline,
                    message=f"<{name}> is not allowed in <products>; only <product> is",
                )
            )
            products.remove(child)

    def _finish(self, root: etree._Element) -> None:
        day = self.day
        lists = [child for child in root if child.tag == PRODUCTS_TAG]
        if len(lists) > 1:
            raise self.fail("unexpected_element", _SECOND_PRODUCTS, line=element_line(lists[1]))
        for child in root:
            if child is not self.products:
                self._depth(child, 2)
        if not lists:
            raise self.fail(
                "missing_products",
                "<sales_data> has no <products> element",
                line=element_line(root),
            )
        self._strays(lists[0], until=None)
        if day.products_seen == 0:
            raise self.fail(
                "empty_day", "<products> holds no <product>", line=element_line(lists[0])
            )

    def _depth(self, element: etree._Element, level: int) -> None:
        """Fatal when ``element`` (at ``level``, the root being 1) holds anything deeper than max_depth."""
        stack = [(element, level)]
        while stack:
            node, depth = stack.pop()
            if depth > self.max_depth:
                raise self.fail(
                    "too_deep",
                    f"elements are nested {depth} levels deep; "
                    f"at most {self.max_depth} are allowed",
                    line=element_line(node),
                )
            stack.extend((child, depth + 1) for child in node)

    def _product_issue(self, issue: Issue) -> None:
        issues = self.day.product_issues
        issues.append(issue)
        if len(issues) > self.max_issues:
            raise self.fail(
                "too_many_issues",
                f"more than {self.max_issues} problems with products; "
                "the file is refused as a whole",
            )

    # --- one product ---------------------------------------------------------------

    def _diagnose(self, element: etree._Element, index: int) -> None:
        """Find every problem of a product (or accept it: the fast path is only a shortcut)."""
        found, extra, nested = _children(element)
        if nested or self.max_depth < 4:
            self._depth(element, 3)
        problems: Problems = _duplicate_fields(found, extra)
        if nested:  # a field holding elements is refused, and not read any further
            problems.extend(_nested_fields(found))
        get = found.get
        id_el, name_el, qty_el = get("id"), get("name"), get("quantity")
        price_el, cat_el = get("price"), get("category")
        raw_id: str | None = None
        product_id = quantity = None
        price: Decimal | None = None
        name = category = None
        if _readable(id_el, "id", nested, problems):
            raw_id = (id_el.text or "").strip(BLANKS)
            product_id = check_integer(raw_id, "id", ID, 18, id_el, problems)
        if _readable(name_el, "name", nested, problems):
            name = check_text(name_el, "name", problems)
        if _readable(qty_el, "quantity", nested, problems):
            quantity = check_integer(
                (qty_el.text or "").strip(BLANKS), "quantity", QUANTITY, 9, qty_el, problems
            )
        if _readable(price_el, "price", nested, problems):
            price = check_price(price_el, problems)
        if _readable(cat_el, "category", nested, problems):
            category = check_text(cat_el, "category", problems)
        if product_id is not None:
            assert id_el is not None
            self._first_use(element, id_el, product_id, problems)
        if not problems:
            assert product_id is not None and quantity is not None and price is not None
            assert name is not None and category is not None
            self.lines_append(sales_line(product_id, name, category, quantity, price))
            return
        self._report(element, index, raw_id, problems)

    def _first_use(
        self,
        element: etree._Element,
        id_el: etree._Element,
        product_id: int,
        problems: Problems,
    ) -> None:
        """Remember where a product id was first used; a second use is a problem."""
        first_line = self.seen_ids.get(product_id)
        if first_line is None:
            self.seen_ids[product_id] = element_line(element) or 0
            return
        problems.append(
            (
                "duplicate_id",
                f"product id {product_id} was already used by the product at line {first_line}",
                "id",
                element_line(id_el),
            )
        )

    def _report(
        self, element: etree._Element, index: int, raw_id: str | None, problems: Problems
    ) -> None:
        line = element_line(element)
        shown_id = quote(raw_id)[1:-1] if raw_id else None
        for code, message, field, at in problems:
            self._product_issue(
                Issue(
                    code=code,
                    message=message,
                    field=field,
                    line=at or line,
                    product_index=index,
                    product_id=shown_id,
                )
            )


def _children(
    element: etree._Element,
) -> tuple[dict[object, etree._Element], list[etree._Element], bool]:
    """A product's fields by tag (the first of each), the repeats, and whether any field
    holds elements."""
    found: dict[object, etree._Element] = {}
    extra: list[etree._Element] = []
    nested = False
    for child in element:
        if child.tag in found:
            extra.append(child)
        else:
            found[child.tag] = child
        if len(child):
            nested = True
    return found, extra, nested


def _duplicate_fields(found: dict[object, etree._Element], extra: list[etree._Element]) -> Problems:
    return [
        (
            "duplicate_field",
            f"<{child.tag}> appears more than once in this product "
            f"(first at line {element_line(found[child.tag])})",
            child.tag,
            element_line(child),
        )
        for child in extra
        if child.tag in FIELD_SET
    ]


def _nested_fields(found: dict[object, etree._Element]) -> Problems:
    problems: Problems = []
    for tag in ("id", "name", "quantity", "price", "category"):
        field_el = found.get(tag)
        if field_el is not None and len(field_el):
            inner = quote(str(field_el[0].tag))[1:-1]
            problems.append(
                (
                    "unexpected_element",
                    f"<{tag}> must hold text only; found <{inner}> inside it",
                    tag,
                    element_line(field_el),
                )
            )
    return problems


def _readable(
    field_el: etree._Element | None, tag: str, nested: bool, problems: Problems
) -> TypeGuard[etree._Element]:
    """The field is there and holds text only (a missing one is a problem)."""
    if field_el is None:
        problems.append(("missing_field", f"<{tag}> is missing", tag, None))
        return False
    return not (nested and len(field_el))


def _line_key(issue: Issue) -> int:
    return issue.line or 0


def _is_root(element: etree._Element | None) -> bool:
    return element is not None and element.getparent() is None

"""The chunk cutter: bytes in, chunks out, each cut right after a ``</product>``. Pure.

The cutter keeps a buffer of about one chunk (UPLOAD_CHUNK_BYTES) and cuts it right
after a ``</product>`` end tag, found with bytes searches (C speed). A cut is taken
only where the piece before it can stand alone, which is what ingest needs to read
each chunk on its own (``wrap`` makes it a document, here and in ingest):

* the first chunk (the document's head and first products) is checked once with
  the hardened XML parser, closed by CLOSE;
* a later piece is accepted at once when it is plain markup (no ``<!`` comment
  or CDATA, no ``<?``, no ``</products``) whose tags balance; otherwise the
  parser decides, again with the piece wrapped, and a few earlier or later
  end tags are tried. Where no cut works near the target, the body cannot be
  sent in chunks: Unsplittable, with the parser's own message.

One product is never longer than MAX_PRODUCT_BYTES: ingest's parser refuses a text
node over 10 MB (``too_large``), so a longer product is refused as soon as its bytes
pass the limit (ProductTooLarge), and the buffer never holds more than about one
chunk and one product.

Cuts depend only on the bytes, never on how they were delivered, so a retry of the
same file is cut the same way (ingest then recognises chunks it already staged under
the same upload id).
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from ..models import Issue
from ..names import MAX_RECORD_BYTES
from ..xmlhead import hardened_parser, syntax_issue
from .errors import ProductTooLarge, Unsplittable

__all__ = ["CLOSE", "MAX_PRODUCT_BYTES", "OPEN", "Cutter", "oversized_product", "wrap"]

# What a chunk after the first lacks in front, and a chunk before the last behind. The
# opening has no newline, so a line of the wrapped chunk is a line of the chunk.
OPEN: Final = b'<sales_data date="2000-01-01"><products>'
CLOSE: Final = b"</products></sales_data>"
# libxml2's limit on one text node (xmlhead.hardened_parser keeps it: huge_tree=False),
# which ingest answers too_large: no product longer than this can be stored.
MAX_PRODUCT_BYTES: Final = 10_000_000

_END: Final = b"</product>"
_TRIES: Final = 8  # end tags tried on each side of the target before giving up


def wrap(data: bytes, *, first: bool, last: bool) -> bytes:
    """The chunk as a document of its own."""
    return (b"" if first else OPEN) + data + (b"" if last else CLOSE)


def oversized_product(data: bytes, *, limit: int = MAX_PRODUCT_BYTES) -> Issue | None:
    """The too_large Issue when one product of a whole document is longer than ``limit``."""
    if len(data) <= limit:
        return None
    try:
        Cutter(len(data) + 1, product_limit=limit).feed(data)
    except ProductTooLarge as exc:
        return exc.issue
    return None


class Cutter:
    """Bytes in, chunks out: every chunk but the last ends right after a </product>."""

    def __init__(
        self, target: int, *, limit: int = MAX_RECORD_BYTES, product_limit: int = MAX_PRODUCT_BYTES
    ) -> None:
        self._buf = bytearray()
        self._target = target
        self._limit = limit
        self._product_limit = product_limit
        self._open = 0  # where in the buffer the product being read began
        self.chunks = 0  # cut so far
        self.offset = 0  # bytes in the chunks cut so far
        self.products = 0  # </product> tags in the chunks cut so far
        self.lines = 0  # newlines in the chunks cut so far

    def feed(self, data: bytes) -> list[bytes]:
        start = len(self._buf)
        self._buf += data
        self._bound_products(start)
        out = []
        while len(self._buf) > self._target:
            cut = self._cut()
            if cut is None:
                if len(self._buf) > self._limit:
                    raise Unsplittable(self._no_boundary())
                break
            out.append(self._take(cut))
        return out

    def finish(self) -> bytes:
        """The last chunk: whatever is left."""
        return self._take(len(self._buf))

    def _bound_products(self, start: int) -> None:
        """ProductTooLarge once the bytes between two </product> tags pass the limit."""
        buf, limit = self._buf, self._product_limit
        end = buf.find(_END, max(0, start - len(_END) + 1))
        if end < 0:
            if len(buf) - self._open > limit:
                raise ProductTooLarge(self._too_large())
            return
        last = buf.rfind(_END, end)
        # Every gap between the tags in the new bytes, one by one only when they could hold
        # one over the limit (a piece of the stream is much smaller than the limit).
        while True:
            if end + len(_END) - self._open > limit:
                raise ProductTooLarge(self._too_large())
            self._open = end + len(_END)
            if end == last or last - end <= limit:
                break
            end = buf.find(_END, self._open)
        self._open = last + len(_END)
        if len(buf) - self._open > limit:
            raise ProductTooLarge(self._too_large())

    def _too_large(self) -> Issue:
        line = self.lines + self._buf.count(b"\n", 0, self._open) + 1
        return Issue(
            code="too_large",
            message=f"a product is larger than {self._product_limit} bytes, more than the parser "
            f"accepts (text nodes up to 10 MB, names up to 50 kB) (line {line})",
            line=line,
        )

    def _take(self, cut: int) -> bytes:
        piece = bytes(self._buf[:cut])
        del self._buf[:cut]
        self._open = max(0, self._open - cut)
        self.chunks += 1
        self.offset += cut
        self.products += piece.count(_END)
        self.lines += piece.count(b"\n")
        return piece

    def _cut(self) -> int | None:
        buf = self._buf
        end = buf.rfind(_END, 0, self._target)
        error: Issue | None = None
        for _ in range(_TRIES):
            if end < 0:
                break
            cut = end + len(_END)
            error = self._refusal(cut)
            if error is None:
                return cut
            end = buf.rfind(_END, 0, end)
        start = self._target
        for _ in range(_TRIES):
            end = buf.find(_END, start)
            if end < 0:
                return None  # more bytes needed
            cut = end + len(_END)
            if cut > self._limit:
                break
            error = self._refusal(cut)
            if error is None:
                return cut
            start = cut
        raise Unsplittable(error or self._no_boundary())

    def _no_boundary(self) -> Issue:
        return Issue(
            code="malformed_xml",
            message=f"no product boundary within {self._limit} bytes after byte "
            f"{self.offset}; the day cannot be sent in chunks",
        )

    def _refusal(self, cut: int) -> Issue | None:
        """None when the piece before ``cut`` stands alone; else the parser's complaint."""
        buf = self._buf
        if (
            self.chunks > 0
            and buf.find(b"<!", 0, cut) < 0
            and buf.find(b"<?", 0, cut) < 0
            and buf.find(b"</products", 0, cut) < 0
            and buf.count(b"<", 0, cut) == 2 * buf.count(b"</", 0, cut) + buf.count(b"/>", 0, cut)
        ):
            return None
        parser = hardened_parser(events=("end",))
        try:
            parser.feed(wrap(bytes(buf[:cut]), first=self.chunks == 0, last=False))
            parser.close()
        except etree.LxmlError as exc:
            issue = syntax_issue(exc)
            if issue.line is not None:
                issue = issue.model_copy(update={"line": issue.line + self.lines})
            return issue
        return None

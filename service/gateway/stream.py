"""A big day through the gateway: cut the body into chunks as it streams in, publish them.

The body is never held whole and never parsed whole. The cutter keeps a buffer
of about one chunk (UPLOAD_CHUNK_BYTES) and cuts it right after a ``</product>``
end tag, found with bytes searches (C speed). A cut is taken only where the
piece before it can stand alone, which is what ingest needs to read each chunk
on its own (service/ingest/chunks.py wraps it the same way):

* the first chunk (the document's head and first products) is checked once with
  the hardened XML parser, closed by chunks.CLOSE;
* a later piece is accepted at once when it is plain markup (no ``<!`` comment
  or CDATA, no ``<?``, no ``</products``) whose tags balance; otherwise the
  parser decides, again with the piece wrapped, and a few earlier or later
  end tags are tried. Where no cut works near the target, the body cannot be
  sent in chunks: 400 with the parser's own message (it is malformed there).

Cuts depend only on the bytes, never on how the network delivered them, so a
retry of the same file is cut the same way (ingest then recognises chunks it
already staged under the same upload id).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from lxml import etree

from ..ingest.chunks import wrap
from ..models import ChunkManifest, Issue
from ..names import (
    HEADER_CHUNK_INDEX,
    HEADER_CHUNK_LAST,
    HEADER_CONTENT_TYPE,
    HEADER_PART,
    MAX_RECORD_BYTES,
    PART_CHUNK,
    PART_MANIFEST,
)
from ..xmlhead import hardened_parser, syntax_issue
from .errors import ApiError

__all__ = ["ChunkSender", "Cutter", "Unsplittable", "stream_day"]

_END: Final = b"</product>"
_TRIES: Final = 8  # end tags tried on each side of the target before giving up
_IN_FLIGHT: Final = 4  # chunks sent and not yet acknowledged (memory: this many chunks)

# RawPublisher.publish: value, key=, headers=; returns once Kafka acknowledged.
Publish = Callable[..., Coroutine[Any, Any, None]]


class Unsplittable(Exception):
    """No product boundary near the target where the day can be cut."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


class Cutter:
    """Bytes in, chunks out: every chunk but the last ends right after a </product>."""

    def __init__(self, target: int, *, limit: int = MAX_RECORD_BYTES) -> None:
        self._buf = bytearray()
        self._target = target
        self._limit = limit
        self.chunks = 0  # cut so far
        self.offset = 0  # bytes in the chunks cut so far
        self.products = 0  # </product> tags in the chunks cut so far
        self.lines = 0  # newlines in the chunks cut so far

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
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

    def _take(self, cut: int) -> bytes:
        piece = bytes(self._buf[:cut])
        del self._buf[:cut]
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


@dataclass(slots=True)
class ChunkSender:
    """Publishes a day's chunks as they are cut (a few in flight), then its manifest."""

    publish: Publish
    key: str
    headers: dict[str, str]
    upload_id: str
    sales_date: str
    size: int = 0
    digests: list[bytes] = field(default_factory=list)
    # The manifest was handed to publish: from here on the upload may be stored.
    manifest_sent: bool = False
    _pending: set[asyncio.Task[None]] = field(default_factory=set)
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(_IN_FLIGHT))

    async def send(self, chunk: bytes, *, last: bool = False) -> None:
        index = len(self.digests)
        self.digests.append(hashlib.sha256(chunk).digest())
        self.size += len(chunk)
        headers = {
            **self.headers,
            HEADER_CONTENT_TYPE: "application/xml",
            HEADER_PART: PART_CHUNK,
            HEADER_CHUNK_INDEX: str(index),
        }
        if last:
            headers[HEADER_CHUNK_LAST] = "1"
        if index == 0:
            # The first chunk alone, acknowledged before any other is sent: concurrent sends
            # may reach the partition in any order, and ingest opens the day's transaction on
            # chunk 0, so a chunk before it would leave the whole day to the slow copy from
            # staging at the manifest (~3 s on a 1M-product day).
            await self.publish(chunk, key=self.key, headers=headers)
            return
        await self._slots.acquire()
        self._raise_failed()
        task = asyncio.create_task(self.publish(chunk, key=self.key, headers=headers))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._slots.release()
        if not task.cancelled() and task.exception() is None:
            self._pending.discard(task)

    def _raise_failed(self) -> None:
        for task in self._pending:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def close(self, *, products: int, abort: str | None = None) -> None:
        """Wait for every chunk's acknowledgement, then publish the manifest."""
        if self._pending:
            await asyncio.gather(*self._pending)
        self._pending.clear()
        digest = hashlib.sha256(b"".join(self.digests)).hexdigest()
        manifest = ChunkManifest.model_validate(
            {
                "upload_id": self.upload_id,
                "sales_date": self.sales_date,
                "chunks": max(1, len(self.digests)),
                "products": products,
                "bytes": self.size,
                "sha256": digest,
                "abort": abort,
            }
        )
        self.manifest_sent = abort is None
        await self.publish(
            manifest.model_dump_json().encode(),
            key=self.key,
            headers={
                **self.headers,
                HEADER_CONTENT_TYPE: "application/json",
                HEADER_PART: PART_MANIFEST,
            },
        )

    async def cancel(self) -> None:
        for task in self._pending:
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        self._pending.clear()


async def stream_day(
    head: bytes,
    rest: AsyncIterator[bytes],
    sender: ChunkSender,
    *,
    target: int,
    max_bytes: int,
    max_products: int,
) -> None:
    """Cut ``head`` then ``rest`` into chunks and send them; raises ApiError on a limit crossed."""
    cutter = Cutter(target)
    received = len(head)
    try:
        for chunk in cutter.feed(head):
            await sender.send(chunk)
        async for piece in rest:
            received += len(piece)
            if received > max_bytes:
                raise ApiError(
                    413,
                    "too_large",
                    f"the body is larger than {max_bytes} bytes (MAX_UPLOAD_BYTES)",
                )
            for chunk in cutter.feed(piece):
                await sender.send(chunk)
            if cutter.products > max_products:
                raise ApiError(
                    413,
                    "too_many_products",
                    f"more than {max_products} products in one day (MAX_PRODUCTS_PER_DAY)",
                )
        await sender.send(cutter.finish(), last=True)
        if cutter.products > max_products:
            raise ApiError(
                413,
                "too_many_products",
                f"more than {max_products} products in one day (MAX_PRODUCTS_PER_DAY)",
            )
        await sender.close(products=cutter.products)
    except Unsplittable as exc:
        await _abort(sender, "malformed_xml")
        raise ApiError(
            400, exc.issue.code, exc.issue.message, errors=[exc.issue.model_dump(exclude_none=True)]
        ) from None
    except ApiError as exc:
        await _abort(sender, exc.code)
        raise
    except BaseException:
        # Kafka failed, or the client went away. No abort manifest: a retry with the same
        # Idempotency-Key must find the staged chunks still usable (the sweep removes them
        # if it never comes).
        await sender.cancel()
        raise


async def _abort(sender: ChunkSender, code: str) -> None:
    """Tell ingest to drop what was staged (best effort: the sweep does it otherwise)."""
    await sender.cancel()
    if sender.digests:
        with contextlib.suppress(Exception):
            await sender.close(products=0, abort=code)

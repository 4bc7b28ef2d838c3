"""Send a day's chunks as they are cut (a few in flight), then its manifest.

``SendRecord`` is whatever puts one record on sales.raw and returns once Kafka
acknowledged it (the gateway's RawPublisher.publish, the CLI's producer); its
errors (BusUnavailable, BusUnconfirmed, ...) pass through unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from ..models import ChunkManifest, Issue
from ..names import (
    HEADER_CHUNK_INDEX,
    HEADER_CHUNK_LAST,
    HEADER_CONTENT_TYPE,
    HEADER_PART,
    PART_CHUNK,
    PART_MANIFEST,
)
from .cut import Cutter
from .errors import LimitCrossed, StreamRefused

__all__ = ["ChunkSender", "SendRecord", "stream_day"]

_IN_FLIGHT: Final = 4  # chunks sent and not yet acknowledged (memory: this many chunks)

# SendRecord(value, key=, headers=): returns once Kafka acknowledged the record.
SendRecord = Callable[..., Coroutine[Any, Any, None]]


@dataclass(slots=True)
class ChunkSender:
    """Publishes a day's chunks as they are cut (a few in flight), then its manifest.

    A chunk over ``alone_over`` bytes (one holding a product near MAX_PRODUCT_BYTES) is
    sent alone, once every earlier chunk is acknowledged: the chunks in flight hold at
    most _IN_FLIGHT chunks of about the target size, or one large one.
    """

    publish: SendRecord
    key: str
    headers: dict[str, str]
    upload_id: str
    sales_date: str
    alone_over: int | None = None
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
        if self.alone_over is not None and len(chunk) > self.alone_over:
            await self._drain()
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

    async def _drain(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending)
        self._pending.clear()

    async def close(self, *, products: int, abort: str | None = None) -> None:
        """Wait for every chunk's acknowledgement, then publish the manifest."""
        await self._drain()
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


def _too_many(max_products: int) -> LimitCrossed:
    return LimitCrossed(
        Issue(
            code="too_many_products",
            message=f"more than {max_products} products in one day (MAX_PRODUCTS_PER_DAY)",
        )
    )


async def stream_day(
    head: bytes,
    rest: AsyncIterator[bytes],
    sender: ChunkSender,
    *,
    target: int,
    max_bytes: int,
    max_products: int,
) -> None:
    """Cut ``head`` then ``rest`` (a plain byte stream) into chunks and send them.

    Raises a StreamRefused (LimitCrossed, Unsplittable, ProductTooLarge) when the day is
    refused half-way, after telling ingest to drop what was staged.
    """
    cutter = Cutter(target)
    received = len(head)
    try:
        for chunk in cutter.feed(head):
            await sender.send(chunk)
        async for piece in rest:
            received += len(piece)
            if received > max_bytes:
                raise LimitCrossed(
                    Issue(
                        code="too_large",
                        message=f"the body is larger than {max_bytes} bytes (MAX_UPLOAD_BYTES)",
                    )
                )
            for chunk in cutter.feed(piece):
                await sender.send(chunk)
            if cutter.products > max_products:
                raise _too_many(max_products)
        await sender.send(cutter.finish(), last=True)
        if cutter.products > max_products:
            raise _too_many(max_products)
        await sender.close(products=cutter.products)
    except StreamRefused as exc:
        await _abort(sender, exc.abort)
        raise
    except BaseException:
        # Kafka failed, or the sender went away. No abort manifest: a retry with the same
        # upload id must find the staged chunks still usable (the sweep removes them if it
        # never comes).
        await sender.cancel()
        raise


async def _abort(sender: ChunkSender, code: str) -> None:
    """Tell ingest to drop what was staged (best effort: the sweep does it otherwise)."""
    await sender.cancel()
    if sender.digests:
        with contextlib.suppress(Exception):
            await sender.close(products=0, abort=code)

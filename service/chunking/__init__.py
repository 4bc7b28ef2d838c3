"""A big day as chunk records: cut at product boundaries as it streams in, then sent.

Used by the gateway (an HTTP body) and by ``sales-analyzer produce`` (a file). No HTTP
here: a limit crossed or a body that cannot be cut is one of this package's errors
(errors.py), which the gateway answers with its status codes and the CLI prints.
"""

from __future__ import annotations

from .cut import CLOSE, MAX_PRODUCT_BYTES, OPEN, Cutter, oversized_product, wrap
from .errors import LimitCrossed, ProductTooLarge, StreamRefused, Unsplittable
from .send import ChunkSender, SendRecord, stream_day

__all__ = [
    "CLOSE",
    "MAX_PRODUCT_BYTES",
    "OPEN",
    "ChunkSender",
    "Cutter",
    "LimitCrossed",
    "ProductTooLarge",
    "SendRecord",
    "StreamRefused",
    "Unsplittable",
    "oversized_product",
    "stream_day",
    "wrap",
]

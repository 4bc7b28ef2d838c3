"""Why a day could not be sent in chunks: each carries the Issue its sender is told."""

from __future__ import annotations

from ..models import Issue

__all__ = ["LimitCrossed", "ProductTooLarge", "StreamRefused", "Unsplittable"]


class StreamRefused(Exception):
    """The day is refused half-way; ``abort`` is the code its abort manifest carries."""

    abort = "malformed_xml"

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


class Unsplittable(StreamRefused):
    """No product boundary near the target where the day can be cut (malformed there)."""


class ProductTooLarge(StreamRefused):
    """One product is larger than ingest's parser accepts (``too_large``)."""

    abort = "too_large"


class LimitCrossed(StreamRefused):
    """The body crossed MAX_UPLOAD_BYTES (``too_large``) or MAX_PRODUCTS_PER_DAY
    (``too_many_products``)."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue)
        self.abort = issue.code

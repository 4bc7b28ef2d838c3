"""The fate of a failed message, the same for every consumer and both delivery modes.

A ``PermanentError`` is logged and the message acked (retrying cannot help); anything
else (a ``TransientError``, or a bug of ours) is counted, logged, backed off and tried
again. ``reason`` = the exception's class name for a transient failure, ``unexpected``
for a bug.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from faststream.kafka.annotations import KafkaMessage

from ..errors import PermanentError, TransientError
from ..logs import ctx
from ..metrics import RETRIES
from .membership import dependency_of

__all__ = ["Fates", "where"]

log = logging.getLogger("sales_analyzer.consumer")


class Fates:
    """One stage's logging and counting of skipped and retried work."""

    def __init__(self, stage: str) -> None:
        self.stage = stage

    def skipped(self, exc: PermanentError, where: dict[str, Any]) -> None:
        """Retrying cannot help (e.g. the day was deleted): say so and move on."""
        log.error("event skipped", extra=ctx(error=str(exc), **where))

    def retrying(self, exc: Exception, delay: float, where: dict[str, Any]) -> None:
        """Count and log a retry: reason = the class of a transient error, "unexpected" for a bug."""
        transient = isinstance(exc, TransientError)
        RETRIES.labels(
            stage=self.stage, reason=type(exc).__name__ if transient else "unexpected"
        ).inc()
        log.log(
            logging.WARNING if transient else logging.ERROR,
            "will be retried",
            exc_info=not transient,
            extra=ctx(
                error=str(exc), retry_in=round(delay, 2), dependency=dependency_of(exc), **where
            ),
        )


def where(msg: KafkaMessage) -> dict[str, Any]:
    """Where a message (or a batch: its first record, and how many) came from, for the logs."""
    raw = msg.raw_message
    records: Sequence[Any] = raw if isinstance(raw, (list, tuple)) else (raw,)
    first = records[0]
    found: dict[str, Any] = dict(topic=first.topic, partition=first.partition, offset=first.offset)
    if len(records) > 1:
        found["records"] = len(records)
    return found

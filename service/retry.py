"""Backoff for transient failures (database, cache, bus or LLM down).

The handler sleeps, then raises so the message is not acked: FastStream's
NACK_ON_ERROR seeks back and the same records come again. Sleeping before the
raise is what keeps a poison-free outage from becoming a hot loop.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    def __init__(self, *, base: float = 0.5, maximum: float = 30.0) -> None:
        self._base = base
        self._max = maximum
        self.failures = 0

    def next(self, hint: float | None = None) -> float:
        """Seconds to wait before the next try; honours a server's Retry-After hint."""
        self.failures += 1
        # typeshed types int ** int as Any (a negative exponent gives a float)
        # The exponent is capped: 2**1024 does not fit a float (an outage of hours).
        delay: float = min(self._max, self._base * 2 ** min(self.failures - 1, 16))
        delay *= random.uniform(0.8, 1.2)  # de-synchronise replicas
        if hint is not None:
            delay = max(delay, min(hint, self._max))
        return delay

    def reset(self) -> None:
        self.failures = 0

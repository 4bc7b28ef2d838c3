"""Per-token rate limit: a fixed one-minute window counted in Redis, so every
gateway worker and replica shares one budget per token."""

from __future__ import annotations

import time

from ..cache import Redis, translate_errors
from ..names import RATE_WINDOW_SECONDS, redis_rate_key

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, client: Redis, *, per_minute: int) -> None:
        self._r = client
        self._limit = per_minute

    async def check(self, name: str) -> float | None:
        """None when allowed, else seconds until the window resets (for Retry-After)."""
        if self._limit <= 0:
            return None
        now = time.time()
        window = int(now // RATE_WINDOW_SECONDS)
        key = redis_rate_key(name, window)
        async with translate_errors("rate limit"):
            pipe = self._r.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, 2 * RATE_WINDOW_SECONDS)
            count, _ = await pipe.execute()
        if int(count) > self._limit:
            return max(1.0, (window + 1) * RATE_WINDOW_SECONDS - now)
        return None

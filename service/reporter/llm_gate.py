"""The process-wide Retry-After gate of LLM calls, and the count of a report's calls.

When any call is answered 429 or 503 with Retry-After, no call in the process may
start before that time: every report's calls (issue 10 runs several at once) wait
on one ``RetryGate``. It holds a single deadline on the monotonic clock, so it is
bound to no event loop and any number of coroutines can wait on it; a waiter
re-reads the deadline after each sleep, so a later, longer Retry-After that
arrives while it sleeps holds it back too.

Hand-written because it is a dozen lines: the rate-limit libraries (aiolimiter
and the like) pace calls at a rate, they do not pause on a server's word.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import LLMUnavailable

__all__ = ["PROCESS_GATE", "CallTally", "RetryGate"]

# A Retry-After longer than this is taken as this: a server's typo must not stop
# the process for a day; a consumer retries later anyway.
_LONGEST_HOLD = 3600.0


class RetryGate:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        # clock and sleep are the real ones but for tests, which run the gate in virtual time
        self._clock = clock
        self._sleep = sleep
        self._open_at = 0.0  # clock() before which no call may start

    def hold(self, seconds: float) -> None:
        """No call may start in the next `seconds` (never shortens an earlier hold)."""
        until = self._clock() + min(max(seconds, 0.0), _LONGEST_HOLD)
        self._open_at = max(self._open_at, until)

    def remaining(self) -> float:
        return max(0.0, self._open_at - self._clock())

    async def wait(self, *, at_most: float) -> None:
        """Sleep until the gate is open; a hold longer than `at_most` raises LLMUnavailable
        at once (with the hold as retry_after) so the caller's consumer backs off instead
        of sleeping inside a handler past Kafka's poll interval."""
        while (left := self.remaining()) > 0:
            if left > at_most:
                raise LLMUnavailable(
                    f"LLM asked to wait {left:.1f}s (Retry-After)", retry_after=left
                )
            await self._sleep(left)


# One gate for the whole process: every LLMClient waits on it unless given another.
PROCESS_GATE = RetryGate()


@dataclass(slots=True)
class CallTally:
    """The LLM calls one report made in this round (failed ones included), and how many it may make."""

    limit: int
    calls: int = 0

    @property
    def spent(self) -> bool:
        return self.calls >= self.limit

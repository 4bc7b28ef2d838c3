"""The gateway's circuit breaker for Kafka: refuse at once while the broker is known down.

Closed: uploads are published. A publish that waits longer than ``suspect_after``
seconds makes the breaker ask the cluster (one metadata request, at most
``probe_timeout`` seconds; one probe at a time). No answer opens the breaker: every
upload is then refused before its record reaches the producer, so the refusal is
certain and immediate. While open, a background task probes every ``interval``
seconds and closes the breaker as soon as the cluster answers.

Opening also ends the wait of the publishes in flight (:meth:`Breaker.opened`): their
records were handed to the producer, so they are answered "unconfirmed" (504) at once
rather than after the publisher's whole confirmation wait. With Kafka gone, an upload
is answered within about ``suspect_after`` + ``probe_timeout`` seconds, whichever way.

Hand-written rather than a library's: the decisions (what opens it, that a refusal
must happen before the record is handed to the producer) are the point, and the
breaker libraries on PyPI count failures of calls, while a publish to a dead
broker does not fail, it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable

from ..logs import recovered

__all__ = ["Breaker"]

log = logging.getLogger("sales_analyzer.gateway")

Probe = Callable[[], Awaitable[None]]  # returns when the cluster answered, raises otherwise


class Breaker:
    def __init__(
        self,
        probe: Probe,
        *,
        suspect_after: float = 0.5,
        probe_timeout: float = 1.0,
        interval: float = 1.0,
    ) -> None:
        self._probe = probe
        self.suspect_after = suspect_after
        self._probe_timeout = probe_timeout
        self._interval = interval
        self.cause: str | None = None  # why it is open; None while closed
        self._check: asyncio.Task[None] | None = None
        self._recover: asyncio.Task[None] | None = None
        self._opened: asyncio.Future[None] | None = None

    @property
    def is_open(self) -> bool:
        return self.cause is not None

    @property
    def retry_after(self) -> int:
        """Seconds a refused client should wait: the next probe, rounded up."""
        return max(1, math.ceil(self._interval))

    def opened(self) -> asyncio.Future[None]:
        """A future that is done when the breaker opens next (a publish waits on it beside
        its record's acknowledgement)."""
        if self._opened is None or self._opened.done():
            self._opened = asyncio.get_running_loop().create_future()
            if self.is_open:  # opened already: nothing to wait for
                self._opened.set_result(None)
        return self._opened

    def suspect(self) -> None:
        """A publish is slow: ask the cluster once (unless a probe runs or the breaker is open)."""
        if self.is_open or (self._check is not None and not self._check.done()):
            return
        self._check = asyncio.create_task(self._suspect())

    def trip(self, cause: str) -> None:
        """Open the breaker (Kafka is known down) and probe until it answers."""
        if self.cause is None:
            log.warning(
                "kafka circuit open: refusing uploads until the cluster answers",
                extra={"cause": cause},
            )
        self.cause = cause
        if self._opened is not None and not self._opened.done():
            self._opened.set_result(None)
        if self._recover is None or self._recover.done():
            self._recover = asyncio.create_task(self._until_answered())

    async def _ask(self) -> str | None:
        """None when the cluster answered, else why not."""
        try:
            async with asyncio.timeout(self._probe_timeout):
                await self._probe()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return None

    async def _suspect(self) -> None:
        cause = await self._ask()
        if cause is not None:
            self.trip(
                f"a publish waited over {self.suspect_after} s and the cluster did not answer ({cause})"
            )

    async def _until_answered(self) -> None:
        while self.cause is not None:
            await asyncio.sleep(self._interval)
            if await self._ask() is None:
                log.warning(
                    "kafka circuit closed: the cluster answers again", extra={"cause": self.cause}
                )
                self.cause = None
                recovered("kafka")

    async def close(self) -> None:
        for task in (self._check, self._recover):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

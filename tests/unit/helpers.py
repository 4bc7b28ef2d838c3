"""What the unit tests share beyond their builders (xml_builders.py, reporter_factories.py):
time that moves only when the test lets it."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["FakeClock", "turns"]

T = TypeVar("T")


async def turns(n: int = 20) -> None:
    """Let every task that is ready run until it waits (n passes of the event loop, no clock)."""
    for _ in range(n):
        await asyncio.sleep(0)


class FakeClock:
    """Virtual time for code that takes a clock and a sleep (``clock=fake.time, sleep=fake.sleep``).

    The clock stands still while any task can run; ``run`` moves it to the next sleeper's
    wake-up only when every task waits, so seconds of waiting take no time and the order of
    wake-ups is exact.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), wake))
        await wake

    async def run(self, work: Awaitable[T]) -> T:
        """Run ``work`` to its end, waking sleepers in time order whenever nothing else runs."""
        task = asyncio.ensure_future(work)
        while True:
            await turns()
            if task.done():
                return task.result()
            if not self._sleepers:
                raise AssertionError(
                    "nothing runs and nothing sleeps: the work waits on something else"
                )
            at, _, wake = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            wake.set_result(None)

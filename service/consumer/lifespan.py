"""A consumer's lifespan: topics, PostgreSQL pool and migrations, then the stage service,
the lag monitor and the periodic work; all closed again in reverse order at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from ..bus import ensure_topics
from ..lag import LagMonitor
from ..logs import ctx, recovered
from ..runtime import Progress, wait_for
from ..settings import Settings
from ..storage.db import create_pool
from ..storage.migrate import migrate
from .membership import dependency_of
from .resources import Resources

__all__ = ["Periodic", "repeat", "stage_lifespan"]

log = logging.getLogger("sales_analyzer.consumer")

S = TypeVar("S")

# (seconds, what, work): work run every so many seconds while the process runs.
Periodic = tuple[float, str, Callable[[], Awaitable[object]]]


@asynccontextmanager
async def stage_lifespan(
    settings: Settings,
    *,
    start: Callable[[Resources], Awaitable[S]],
    started: Callable[[S], None],
    pool_size: tuple[int, int],
    pool_options: dict[str, Any],
    lag: LagMonitor,
    periodic: Sequence[Periodic],
    progress: Progress,
) -> AsyncIterator[None]:
    """Open what the stage service needs, build it (``started`` is told), run until shutdown."""
    await wait_for("kafka topics", lambda: ensure_topics(settings))
    low, high = pool_size
    async with AsyncExitStack() as stack:
        pool = await wait_for(
            "postgresql",
            lambda: create_pool(
                settings.database_url.get_secret_value(),
                min_size=low,
                max_size=high,
                **pool_options,
            ),
        )
        stack.push_async_callback(pool.close)
        await migrate(pool)
        started(await start(Resources(settings, pool, stack)))
        lag.start(on_answer=lambda: recovered("kafka"))
        stack.push_async_callback(lag.stop)
        for seconds, what, work in periodic:
            stack.push_async_callback(_cancel, asyncio.create_task(repeat(seconds, what, work)))
        progress.mark()
        yield


async def repeat(seconds: float, what: str, work: Callable[[], Awaitable[object]]) -> None:
    """Run ``work`` every ``seconds``; a failure is logged and tried again next round."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception as exc:  # a dependency down or a bug: try again next round, never die
            log.warning(
                "%s failed",
                what,
                extra=ctx(error=f"{type(exc).__name__}: {exc}", dependency=dependency_of(exc)),
            )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

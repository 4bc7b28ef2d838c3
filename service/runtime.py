"""Process plumbing shared by the consumers: waiting for dependencies and serving
/healthz and /metrics beside a FastStream app."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import uvicorn
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from prometheus_client import CONTENT_TYPE_LATEST

from .errors import TransientError
from .lag import LagMonitor
from .metrics import LAST_PROGRESS, exposition

__all__ = ["Progress", "health_routes", "serve_asgi", "wait_for"]

log = logging.getLogger("sales_analyzer.runtime")
T = TypeVar("T")


async def wait_for(what: str, attempt: Callable[[], Awaitable[T]], *, timeout: float = 90.0) -> T:
    """Retry a start-up step while its dependency is not there yet."""
    deadline = time.monotonic() + timeout
    delay = 0.5
    while True:
        try:
            return await attempt()
        except TransientError as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("waiting for %s: %s", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class Progress:
    """When a consumer last finished work: kept here for /healthz, exported as a gauge."""

    __slots__ = ("_gauge", "last")

    def __init__(self, stage: str) -> None:
        self._gauge = LAST_PROGRESS.labels(stage=stage)
        self.last: float | None = None

    def mark(self) -> None:
        self.last = time.time()
        self._gauge.set(self.last)


def health_routes(
    stage: str, *, lag: LagMonitor, progress: Progress, stale_after: float
) -> list[tuple[str, Any]]:
    """/healthz: healthy when nothing waits (lag 0) or the consumer progressed recently.

    A consumer with a backlog and no progress for ``stale_after`` seconds is stuck
    (or its dependencies are down) and answers 503.
    """

    @get
    async def healthz(scope: Any) -> AsgiResponse:
        last = progress.last
        age = round(time.time() - last, 3) if last else None
        ok = lag.total == 0 or (age is not None and age < stale_after)
        body = json.dumps(
            {
                "status": "ok" if ok else "stuck",
                "stage": stage,
                "lag": lag.total,
                "seconds_since_progress": age,
            }
        )
        return AsgiResponse(
            body.encode(),
            status_code=200 if ok else 503,
            headers={"content-type": "application/json"},
        )

    @get
    async def metrics(scope: Any) -> AsgiResponse:
        return AsgiResponse(
            exposition(), status_code=200, headers={"content-type": CONTENT_TYPE_LATEST}
        )

    return [("/healthz", healthz), ("/metrics", metrics)]


async def serve_asgi(app: AsgiFastStream | Any, *, host: str, port: int) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
    )
    await uvicorn.Server(config).serve()

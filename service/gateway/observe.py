"""Per-request metrics, logs and the request timeout, as a plain ASGI middleware
(Starlette's BaseHTTPMiddleware costs a task and memory streams per request)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import ctx
from ..metrics import GATEWAY_REQUESTS, STAGE_SECONDS

__all__ = ["Observe"]

log = logging.getLogger("sales_analyzer.gateway")

_SECONDS = STAGE_SECONDS.labels(stage="gateway")
_TIMEOUT_BODY = json.dumps({"code": "timeout", "message": "the request took too long"}).encode()


class Observe:
    def __init__(self, app: ASGIApp, *, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "sent": False}

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["sent"] = True
            await send(message)

        try:
            async with asyncio.timeout(self.timeout):
                await self.app(scope, receive, observed_send)
        except TimeoutError:
            if not state["sent"]:
                state["status"] = 504
                await send(
                    {
                        "type": "http.response.start",
                        "status": 504,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": _TIMEOUT_BODY})
        finally:
            # also when the app raised: uvicorn answers 500, which is counted and logged here
            self._record(scope, state["status"], time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, elapsed: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        GATEWAY_REQUESTS.labels(route=route, status=str(status)).inc()
        _SECONDS.observe(elapsed)
        if status >= 400 or scope["method"] != "GET":
            principal = scope.get("state", {}).get("principal")  # set by the auth dependency
            log.info(
                "request",
                extra=ctx(
                    method=scope["method"],
                    route=route,
                    status=status,
                    ms=round(elapsed * 1000, 2),
                    token=principal,
                ),
            )

"""The upload routes, served without FastAPI's routing layers.

POST / and POST /v1/uploads are the gateway's hot path. Their handlers take only
the Request (no parameters to validate, no dependencies), so FastAPI's router,
dependency solving and its exception and exit-stack middlewares add nothing to
them but CPU. This dispatcher hands those two requests straight to their
handlers and answers errors with the app's own exception handlers, so the
answers are byte for byte the ones FastAPI would give; every other request (and
the lifespan) goes to FastAPI. The routes stay declared in FastAPI too, for the
OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["UploadFastPath"]

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class _Route:
    path: str  # what the request metrics label the route with (Observe reads scope["route"].path)


class UploadFastPath:
    def __init__(self, app: FastAPI, routes: Mapping[str, Endpoint]) -> None:
        self.app = app
        self._routes = {path: (endpoint, _Route(path)) for path, endpoint in routes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = (
            self._routes.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if hit is None:
            await self.app(scope, receive, send)
            return
        endpoint, route = hit
        scope["app"] = self.app
        scope["route"] = route
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Callable[[Request, Any], Awaitable[Response]] | None:
        handlers = self.app.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                found: Callable[[Request, Any], Awaitable[Response]] = handlers[cls]  # type: ignore[assignment]
                return found
        return None

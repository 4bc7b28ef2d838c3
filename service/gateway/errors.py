"""HTTP errors of the gateway: every refusal is JSON with a code and a reason.

{"code": "invalid_xml", "message": "...", "errors": [{line, field, code, message}, ...]}
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    BusUnavailable,
    BusUnconfirmed,
    CacheUnavailable,
    StorageUnavailable,
    TransientError,
)
from ..logs import ctx
from ..metrics import GATEWAY_UNAVAILABLE
from .auth import AuthError

__all__ = ["ApiError", "install_error_handlers"]

log = logging.getLogger("sales_analyzer.gateway")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def _json(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, **extra}, status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status, exc.code, exc.message, exc.headers, **exc.extra)

    @app.exception_handler(AuthError)
    async def _auth(request: Request, exc: AuthError) -> JSONResponse:
        headers = (
            {"WWW-Authenticate": 'Bearer realm="sales-analyzer"'} if exc.status == 401 else None
        )
        return _json(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(BusUnavailable)
    async def _bus(request: Request, exc: BusUnavailable) -> JSONResponse:
        _unavailable(request, "kafka_unavailable", exc, exc.reason)
        return _json(
            503,
            "kafka_unavailable",
            "the message bus is not reachable; nothing was accepted, retry later",
            {"Retry-After": str(exc.retry_after or 5)},
        )

    @app.exception_handler(BusUnconfirmed)
    async def _unconfirmed(request: Request, exc: BusUnconfirmed) -> JSONResponse:
        # Uploads answer this with their upload id (gateway/submission.py); this is the rest
        # (a report request): handed to Kafka, not confirmed, may still be processed.
        log.warning("not confirmed by Kafka", extra=ctx(path=request.url.path, error=str(exc)))
        return _json(
            504,
            "kafka_unconfirmed",
            "Kafka has not confirmed the request yet; it may still be processed",
            {"Retry-After": "5"},
        )

    @app.exception_handler(StorageUnavailable)
    async def _db(request: Request, exc: StorageUnavailable) -> JSONResponse:
        _unavailable(request, "database_unavailable", exc)
        return _json(
            503,
            "database_unavailable",
            "PostgreSQL is not reachable; retry later",
            {"Retry-After": "5"},
        )

    @app.exception_handler(CacheUnavailable)
    async def _cache(request: Request, exc: CacheUnavailable) -> JSONResponse:
        _unavailable(request, "cache_unavailable", exc)
        return _json(
            503, "cache_unavailable", "Redis is not reachable; retry later", {"Retry-After": "5"}
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return _json(422, "bad_request", "the request's parameters are not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))


def _unavailable(
    request: Request, reason: str, exc: TransientError, cause: str | None = None
) -> None:
    """Every 503 is logged with its cause and counted by reason and cause."""
    root = exc.__cause__ or exc
    cause = cause or type(root).__name__
    GATEWAY_UNAVAILABLE.labels(reason=reason, cause=cause).inc()
    log.warning(
        "unavailable",
        extra=ctx(
            reason=reason,
            cause=cause,
            path=request.url.path,
            error=f"{type(exc).__name__}: {exc}",
            origin=f"{type(root).__name__}: {root}" if root is not exc else None,
        ),
    )

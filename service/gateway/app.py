"""The gateway process: FastAPI app factory, lifespan, health and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp

from ..cache import DayCache, create_redis
from ..kafka_access import require_access
from ..metrics import exposition
from ..names import TOPIC_RAW, TOPIC_REPORT_REQUESTS
from ..runtime import wait_for
from ..settings import Settings, get_settings
from ..storage.db import create_pool
from ..storage.migrate import migrate
from . import dashboard, legacy, read_routes, upload_routes
from .auth import TokenTable
from .errors import install_error_handlers
from .fastpath import UploadFastPath
from .observe import Observe
from .publisher import RawPublisher
from .ratelimit import RateLimiter
from .state import Gateway

__all__ = ["create_app", "create_fastapi"]

log = logging.getLogger("sales_analyzer.gateway")


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The gateway as uvicorn serves it: request metrics and timeout around the
    upload fast path, around the FastAPI app.

    Wrap middleware here, around the fast path: middleware added to the FastAPI app
    (``app.add_middleware``) would not see the two upload routes.
    """
    settings = settings or get_settings()
    app = create_fastapi(settings)
    fast = UploadFastPath(
        app, {"/": upload_routes.legacy_upload, "/v1/uploads": upload_routes.upload}
    )
    return Observe(fast, timeout=settings.request_timeout_seconds)


def create_fastapi(settings: Settings) -> FastAPI:

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Kafka refusing the gateway ends it here; Kafka away does not (reads go on).
        await require_access(
            settings,
            process="gateway",
            topics=(TOPIC_RAW, TOPIC_REPORT_REQUESTS),
            wait=False,
            check_timeout=5.0,
        )
        pool = await wait_for(
            "postgresql",
            lambda: create_pool(settings.database_url.get_secret_value(), min_size=2, max_size=16),
        )
        await migrate(pool)
        redis = create_redis(settings.redis_url.get_secret_value())
        publisher = RawPublisher(settings)
        if not await publisher.connect():
            publisher.keep_trying()  # serve reads meanwhile; uploads answer 503
        tokens = settings.tokens()
        app.state.gateway = Gateway(
            settings=settings,
            tokens=TokenTable(tokens),
            pool=pool,
            days=DayCache(redis, ttl_seconds=settings.cache_life_period),
            limiter=RateLimiter(redis, per_minute=settings.rate_limit_per_minute),
            publisher=publisher,
        )
        dashboard.start(app, settings, redis)
        if not tokens:
            log.warning("no ACCESS_TOKEN configured: every authenticated endpoint answers 401")
        try:
            yield
        finally:
            await publisher.close()
            await pool.close()
            await redis.aclose()

    # FastAPI's built-in OpenTelemetry hook is off: we export Prometheus metrics
    # ourselves, and its per-request "enabled?" check cost ~90 µs (profiled).
    app = FastAPI(
        title=settings.app_title,
        version="1.0",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        description="Upload daily sales XML; read stored days and their LLM-written reports.",
    )
    install_error_handlers(app)
    app.include_router(upload_routes.router)
    app.include_router(read_routes.router)
    app.include_router(legacy.router)  # the original service's read routes (deprecated)
    dashboard.install(app)  # the web pages under /ui, and GET / for browsers

    @app.get("/healthz", summary="Liveness: the process answers", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: Kafka, PostgreSQL and Redis reachable", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        gw: Gateway = request.app.state.gateway
        checks: dict[str, Any] = {}
        checks["kafka"] = await gw.publisher.ping()
        try:
            async with asyncio.timeout(2):
                checks["postgresql"] = await gw.pool.fetchval("SELECT 1") == 1
        except Exception:
            checks["postgresql"] = False
        checks["redis"] = await gw.days.ping()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", summary="Prometheus metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return app

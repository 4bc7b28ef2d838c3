"""`sales-analyzer serve …`: one process of the service."""

from __future__ import annotations

import asyncio

import uvicorn

from ..logs import setup_logging
from ..settings import Settings, get_settings

__all__ = ["serve", "gateway_factory"]


def gateway_factory() -> object:
    """uvicorn factory: each worker process sets up its own logging and app."""
    from ..gateway.app import create_app

    settings = get_settings()
    setup_logging(level=settings.log_level, fmt=settings.log_format, process="gateway")
    return create_app(settings)


def serve(process: str, settings: Settings) -> int:
    setup_logging(level=settings.log_level, fmt=settings.log_format, process=process)
    if process == "gateway":
        uvicorn.run("service.cli.serve:gateway_factory", factory=True, host=settings.gateway_host,
                    port=settings.gateway_port, workers=settings.gateway_workers, log_config=None,
                    access_log=False, timeout_graceful_shutdown=30)
        return 0
    from ..runtime import serve_asgi

    if process == "ingest":
        from ..ingest.app import build_ingest

        asyncio.run(serve_asgi(build_ingest(settings), host=settings.gateway_host,
                               port=settings.ingest_metrics_port))
    else:
        from ..reporter.app import build_reporter

        asyncio.run(serve_asgi(build_reporter(settings), host=settings.gateway_host,
                               port=settings.reporter_metrics_port))
    return 0

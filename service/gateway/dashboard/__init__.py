"""The web dashboard: server-rendered pages under /ui, served by the gateway."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from ...cache import Redis
from ...settings import Settings
from .access import SignInRequired
from .days import router as days_router
from .shared import Dashboard
from .signin import router as signin_router
from .upload_pages import router as uploads_router

__all__ = ["install", "start", "wants_html"]


def wants_html(request: Request) -> bool:
    """A browser navigating (Accept names text/html), not an API client."""
    return "text/html" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    """Mount the pages, their static files and GET / for browsers on the gateway's app."""
    for router in (signin_router, days_router, uploads_router):
        app.include_router(router)
    app.mount(
        "/ui/static",
        StaticFiles(directory=str(resources.files(__package__).joinpath("static"))),
        name="ui-static",
    )

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/ui/signin?next={exc.next_path}", status_code=303)

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> Response:
        if wants_html(request):
            return RedirectResponse("/ui/days", status_code=303)
        raise StarletteHTTPException(405, "Method Not Allowed", headers={"Allow": "POST"})


def start(app: FastAPI, settings: Settings, redis: Redis) -> None:
    """Called from the gateway's lifespan, once its Redis client exists."""
    app.state.dashboard = Dashboard.create(settings, redis)

"""What the dashboard's handlers share: created once in the gateway's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from ...cache import Redis
from ...settings import Settings
from .recent import RecentUploads
from .render import Renderer
from .session import SessionStore

__all__ = ["Dashboard", "dashboard"]


@dataclass(slots=True)
class Dashboard:
    sessions: SessionStore
    recent: RecentUploads
    renderer: Renderer

    @classmethod
    def create(cls, settings: Settings, redis: Redis) -> Dashboard:
        return cls(
            sessions=SessionStore(redis),
            recent=RecentUploads(redis),
            renderer=Renderer(language=settings.report_language),
        )


def dashboard(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash

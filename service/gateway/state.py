"""What the gateway's handlers share: created once in the lifespan, closed on shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from ..cache import DayCache
from ..settings import Settings
from ..storage.db import Pool
from .auth import TokenTable
from .publisher import RawPublisher
from .ratelimit import RateLimiter

__all__ = ["Gateway", "gateway"]


@dataclass(slots=True)
class Gateway:
    settings: Settings
    tokens: TokenTable
    pool: Pool
    days: DayCache
    limiter: RateLimiter
    publisher: RawPublisher


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw

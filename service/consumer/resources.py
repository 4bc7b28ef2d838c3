"""What the lifespan opens for a stage service."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from ..cache import Redis, create_redis
from ..settings import Settings
from ..storage.db import Pool

__all__ = ["Resources"]


@dataclass(frozen=True, slots=True)
class Resources:
    """What the lifespan opened for the stage service; everything pushed on ``exit``
    is closed on shutdown, in reverse order."""

    settings: Settings
    pool: Pool
    exit: AsyncExitStack

    def redis(self) -> Redis:
        """A Redis client, closed with the process (connecting is lazy)."""
        client = create_redis(self.settings.redis_url.get_secret_value())
        self.exit.push_async_callback(client.aclose)
        return client

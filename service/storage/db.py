"""Connection pool and the translation of asyncpg's errors into ours."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ..errors import StorageUnavailable
from ..models import Issue

__all__ = [
    "TRANSIENT",
    "Connection",
    "Pool",
    "create_pool",
    "issues_json",
    "keep_session",
    "translate_errors",
]

Pool = asyncpg.Pool
# A connection: one of its own, or one lent by the pool (pool.acquire() hands out a proxy);
# storage functions take either.
Connection = asyncpg.Connection | PoolConnectionProxy

# Errors that mean "the database is not there right now", not "our SQL is wrong".
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionError and TimeoutError too
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.QueryCanceledError,
)


def issues_json(issues: Sequence[Issue]) -> str:
    """Issues as stored in a jsonb column (what the read side gets back as dicts)."""
    return json.dumps([i.model_dump(exclude_none=True) for i in issues])


@asynccontextmanager
async def translate_errors(what: str) -> AsyncIterator[None]:
    """Turn connectivity failures into StorageUnavailable; let real bugs surface."""
    try:
        yield
    except TRANSIENT as exc:
        raise StorageUnavailable(
            f"PostgreSQL unavailable during {what}: {type(exc).__name__}"
        ) from exc


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def keep_session(conn: asyncpg.Connection) -> None:
    """A pool ``reset`` that sends nothing when a connection goes back to the pool.

    asyncpg's default costs a round trip per release (advisory unlock, CLOSE ALL,
    UNLISTEN, RESET ALL). This service keeps no session state: no LISTEN, no cursors
    or session-level SETs, and its one advisory lock (migrate) is released explicitly.
    asyncpg still rolls back a transaction left open before calling this.
    """
    return None


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any
) -> asyncpg.Pool:
    """Create the process's pool; raises StorageUnavailable when PostgreSQL is unreachable."""
    # asyncpg does not understand SQLAlchemy's "+asyncpg" driver suffix that the
    # original service's DATABASE_URL carried; accept it for compatibility.
    dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
    async with translate_errors("connect"):
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            command_timeout=60,
            **kwargs,
        )
    assert pool is not None
    return pool

"""Versioned schema migrations, applied once, in order, under an advisory lock.

Each file in migrations/ named NNNN_title.sql is one version. Every process runs
``migrate`` at start-up; the lock makes concurrent starts safe and the
schema_migrations table makes a second run a no-op.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

from .db import translate_errors

__all__ = ["available_migrations", "migrate"]

# Any constant shared by every process of this service; names the advisory lock.
_LOCK_ID = 0x5A1E5A1E


def available_migrations() -> list[tuple[str, str]]:
    """(version, sql) for every migration file, sorted by version."""
    folder = resources.files(__package__).joinpath("migrations")
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply what is missing; return the versions applied now."""
    applied: list[str] = []
    async with translate_errors("migrate"), pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in available_migrations():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version
                    )
                applied.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied

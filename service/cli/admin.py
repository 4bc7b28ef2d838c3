"""`sales-analyzer migrate | topics | contracts`."""

from __future__ import annotations

import argparse

from ..bus import ensure_topics
from ..runtime import wait_for
from ..settings import Settings
from ..storage.db import create_pool
from ..storage.migrate import migrate

__all__ = ["run"]


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        pool = await wait_for(
            "postgresql", lambda: create_pool(settings.database_url.get_secret_value())
        )
        try:
            applied = await migrate(pool)
        finally:
            await pool.close()
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
        return 0
    if args.command == "topics":
        created = await wait_for("kafka", lambda: ensure_topics(settings))
        print("created: " + (", ".join(created) if created else "nothing (all exist)"))
        return 0
    from .contracts_gen import write_contracts

    return write_contracts(args.dir, check=args.check)

"""Uploads the dashboard accepted, kept in a short Redis list so the Uploads page can
show them while they are "received": ingest records an upload in PostgreSQL only
once it has processed it. Uploads through the API appear once ingest recorded them
(the API's hot path is left without this extra write)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from ...cache import Redis, translate_errors
from ...names import UI_RECENT_UPLOADS_KEEP_SECONDS, UI_RECENT_UPLOADS_KEPT, UI_RECENT_UPLOADS_KEY

__all__ = ["Accepted", "RecentUploads"]


@dataclass(frozen=True, slots=True)
class Accepted:
    upload_id: str
    sales_date: str
    sender: str
    size_bytes: int
    received_at: dt.datetime


class RecentUploads:
    def __init__(self, client: Redis) -> None:
        self._r = client

    async def add(self, item: Accepted) -> None:
        value = json.dumps(
            {
                "id": item.upload_id,
                "day": item.sales_date,
                "sender": item.sender,
                "size": item.size_bytes,
                "at": item.received_at.isoformat(),
            }
        )
        async with translate_errors("recent uploads"):
            pipe = self._r.pipeline(transaction=True)
            pipe.lpush(UI_RECENT_UPLOADS_KEY, value)
            pipe.ltrim(UI_RECENT_UPLOADS_KEY, 0, UI_RECENT_UPLOADS_KEPT - 1)
            pipe.expire(UI_RECENT_UPLOADS_KEY, UI_RECENT_UPLOADS_KEEP_SECONDS)
            await pipe.execute()

    async def newest(self) -> list[Accepted]:
        async with translate_errors("recent uploads"):
            raw = await self._r.lrange(UI_RECENT_UPLOADS_KEY, 0, UI_RECENT_UPLOADS_KEPT - 1)
        out = []
        for value in raw:
            d = json.loads(value)
            out.append(
                Accepted(
                    upload_id=str(d["id"]),
                    sales_date=str(d["day"]),
                    sender=str(d["sender"]),
                    size_bytes=int(d["size"]),
                    received_at=dt.datetime.fromisoformat(d["at"]),
                )
            )
        return out

"""A day's claim in Redis, for every way a day is written: whole days (handler.py), big
days (bigday.py) and corrections (correct.py).

Claim, then check stored: each upload claims its day (SET NX, service.cache.DayCache);
a day held by another upload is settled (its upload a duplicate, without parsing)
only once the day is stored. The holder may be an upload still in flight (the
gateway claims a day at admission) that may yet be rejected, or one whose gateway
died before publishing: then the day is written anyway and PostgreSQL's unique day
decides. Once the outcome is known the claim is settled in one place (``settle``):
a stored day joins the gateway's stored-days set, any other outcome gives the claim
back (only a claim the upload holds); a correction that replaced a day takes its
claim over (``own``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from uuid import UUID

from ..cache import DayCache
from ..models import RowStatus

__all__ = ["DayClaims"]


class DayClaims:
    def __init__(self, cache: DayCache) -> None:
        self._cache = cache

    async def claim(
        self, wants: Iterable[tuple[dt.date, UUID]], *, allies: Iterable[UUID] = ()
    ) -> set[dt.date]:
        """Claim each day for its upload; return the days settled for someone else (held by
        an upload other than the claimant and ``allies``, e.g. the rest of its batch, and
        stored): their claimants are duplicates. The other days are theirs to try."""
        wants = list(wants)
        holders = await self._cache.claim((d.isoformat(), str(u)) for d, u in wants)
        friends = {str(u) for u in allies}
        foreign = {
            d.isoformat()
            for (d, u), h in zip(wants, holders, strict=True)
            if h != str(u) and h not in friends
        }
        if not foreign:
            return set()
        stored = await self._cache.stored_among(foreign) or set()
        return {d for d, _ in wants if d.isoformat() in stored}

    async def settle(self, outcomes: Iterable[tuple[UUID, RowStatus, dt.date | None]]) -> None:
        """The claims of uploads whose outcome is known: a stored day joins the stored-days
        set; any other outcome gives back the claim the upload holds (if it holds it)."""
        outcomes = list(outcomes)
        await self._cache.add_stored(
            d.isoformat() for _, status, d in outcomes if status == "stored" and d
        )
        await self._cache.release(
            (d.isoformat(), str(i)) for i, status, d in outcomes if status != "stored" and d
        )

    async def own(self, day: dt.date, upload_id: UUID) -> None:
        """A correction owns the day now: stored, and its claim names the correction, so a
        plain upload of the day still on its way finds it taken."""
        await self._cache.add_stored([day.isoformat()])
        await self._cache.take(day.isoformat(), str(upload_id))

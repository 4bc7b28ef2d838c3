"""After a correction: mark the reports it made wrong stale, and have them written again.

Consumes ``sales.corrected``. The corrected day's own reports and those of the
days whose comparisons read it (its trailing window's inverse,
``facts.days_depending_on``) written before the correction get a ``stale_reason``
at once. The corrected day's new report comes from the correction's own
``sales.stored`` event; for each later stored day in the window a regeneration
request goes to ``sales.report-requests`` with an id derived from the correction
and the day, so a redelivered event asks for the very same reports (and the
reporter replays them instead of writing them twice).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable

from ..figures.facts import days_depending_on
from ..ids import report_id_for_request
from ..logs import ctx
from ..models import ReportRequest, SalesCorrected
from ..storage.corrections import mark_stale, stored_days_between
from ..storage.db import Pool
from ..storage.reports import request_report

__all__ = ["StaleReports", "request_id_for_correction", "stale_reasons"]

log = logging.getLogger("sales_analyzer.reporter")

_CORRECTION_NS = uuid.UUID("6f1d7f3e-8a63-4d55-9a55-5a1e5a1e0004")


def request_id_for_correction(correction: uuid.UUID, sales_date: dt.date) -> uuid.UUID:
    return uuid.uuid5(_CORRECTION_NS, f"{correction}/{sales_date.isoformat()}")


def stale_reasons(ev: SalesCorrected) -> tuple[str, str]:
    """Why the corrected day's own reports are stale, and why the later days' are."""
    d, when = ev.diff, ev.corrected_at.isoformat(timespec="seconds")
    figures = (
        f"revenue {d.revenue_before} → {d.revenue_after}, units {d.units_before} → {d.units_after}"
    )
    own = (
        f"the day was corrected at {when} (upload {ev.superseded_upload_id} replaced by {ev.upload_id}; "
        f"{figures}); a new report is on its way"
    )
    later = (
        f"its comparisons use {ev.sales_date.isoformat()}, which was corrected at {when} ({figures}); "
        "a new report is on its way"
    )
    return own, later


class StaleReports:
    def __init__(
        self, *, pool: Pool, request: Callable[[ReportRequest], Awaitable[None]], language: str
    ) -> None:
        self._pool = pool
        self._request = request
        self._language = language

    async def corrected(self, ev: SalesCorrected) -> list[dt.date]:
        """Mark and re-request; return the later days whose reports were asked for again."""
        first, last = days_depending_on(ev.sales_date)
        own, later = stale_reasons(ev)
        marked = await mark_stale(
            self._pool, correction=ev.upload_id, last_day=last, own_reason=own, later_reason=later
        )
        # Every stored later day, not only those with a report yet: one may be being written
        # right now from the old figures.
        again = await stored_days_between(self._pool, first, last)
        for day, owner in again:
            req = ReportRequest(
                request_id=request_id_for_correction(ev.upload_id, day),
                sales_date=day,
                requested_by=ev.sender,
                requested_at=ev.corrected_at,
            )
            await self._request(req)
            # As for POST /v1/reports/{date}/regenerate: the day shows pending until it is written.
            await request_report(
                self._pool,
                report_id=report_id_for_request(req.request_id),
                sales_date=day,
                upload_id=owner,
                language=self._language,
            )
        log.info(
            "correction: reports marked stale",
            extra=ctx(
                sales_date=ev.sales_date,
                upload_id=ev.upload_id,
                stale_days=[d.isoformat() for d in marked],
                regenerate=[d.isoformat() for d, _ in again],
            ),
        )
        return [d for d, _ in again]

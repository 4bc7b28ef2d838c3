"""The reporter's work for one day, around the pure core (facts → prompt → verify).

report_id is derived from what asked for the report (the stored upload, or a
regeneration request), so a redelivered message finds its finished row and only
re-publishes it: no second LLM bill, no second report.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal

from ..errors import LLMRejected, LLMUnavailable, UnknownDay
from ..events import ReportEvent
from ..figures.load import load_facts
from ..ids import report_id_for_request, report_id_for_upload
from ..logs import ctx
from ..metrics import REPORTS, STAGE_SECONDS
from ..models import ReportClaim
from ..storage.db import Pool, translate_errors
from ..storage.reports import (
    ReportInput,
    ReportOutcome,
    ReportRow,
    get_report,
    record_failure,
    save_report,
)
from ..storage.uploads import day_owner
from .lease import ReportLeases
from .llm import LLMClient
from .llm_gate import CallTally
from .prompt import PROMPT_VERSION, build_messages
from .writer import write_report

__all__ = ["ReporterService", "event_of", "report_id_for_request", "report_id_for_upload"]

log = logging.getLogger("sales_analyzer.reporter")


def event_of(row: ReportRow) -> ReportEvent:
    return ReportEvent(
        event_id=f"report:{row.report_id}",
        upload_id=row.upload_id,
        sales_date=row.sales_date,
        report_id=row.report_id,
        status=row.status,
        verified=row.verified,
        unverified_numbers=row.unverified_numbers,
        text=row.text or "",
        language=row.language,
        model=row.model or "",
        prompt_version=row.prompt_version,
        attempts=row.attempts,
        facts=row.facts or {},
        error=row.error,
        created_at=row.updated_at,
        claims=[ReportClaim.model_validate(c) for c in row.claims],
    )


class ReporterService:
    def __init__(
        self,
        *,
        pool: Pool,
        llm: LLMClient | None,
        publish: Callable[[ReportEvent], Awaitable[None]],
        language: Literal["ru", "en"],
        max_attempts: int,
        tuned: bool = False,
        leases: ReportLeases | None = None,
    ) -> None:
        """``tuned``: the pool's connections carry FACTS_SERVER_SETTINGS. ``leases``: who is
        writing which report (None: no coordination between reporters)."""
        self._leases = leases
        self._pool = pool
        self._tuned = tuned
        self._llm = llm
        self._publish = publish
        self._language = language
        self._max_attempts = max_attempts

    async def for_stored(self, upload_id: uuid.UUID, sales_date: dt.date) -> ReportEvent | None:
        """The report of a stored upload, unless a correction has replaced the upload since:
        the correction's own sales.stored brings the day's report then."""
        owner = await day_owner(self._pool, sales_date)
        if owner is not None and owner != upload_id:
            log.info(
                "upload superseded by a correction: no report of its own",
                extra=ctx(upload_id=upload_id, sales_date=sales_date, owner=owner),
            )
            return None
        return await self.produce(report_id_for_upload(upload_id), sales_date, upload_id)

    async def for_request(self, request_id: uuid.UUID, sales_date: dt.date) -> ReportEvent | None:
        upload_id = await day_owner(self._pool, sales_date)
        if upload_id is None:
            log.warning(
                "regeneration asked for a day that is not stored", extra=ctx(sales_date=sales_date)
            )
            return None
        return await self.produce(report_id_for_request(request_id), sales_date, upload_id)

    async def produce(
        self, report_id: uuid.UUID, sales_date: dt.date, upload_id: uuid.UUID
    ) -> ReportEvent:
        """The report, written once: replayed when stored already; while another live
        reporter holds its lease (lease.py), waited for rather than paid for again."""
        started = time.perf_counter()
        leases = self._leases
        if leases is None:
            return await self._produce(report_id, sales_date, upload_id, started)
        waiting = False
        while (holder := await leases.holder(report_id)) is not None:
            if not waiting:
                waiting = True
                log.info(
                    "report being written by another reporter: waiting for it",
                    extra=ctx(report_id=report_id, sales_date=sales_date, holder=holder),
                )
            await asyncio.sleep(1.0)
        async with leases.held(report_id):
            return await self._produce(report_id, sales_date, upload_id, started)

    async def _produce(
        self, report_id: uuid.UUID, sales_date: dt.date, upload_id: uuid.UUID, started: float
    ) -> ReportEvent:
        done = await get_report(self._pool, report_id)
        if done is not None and done.status != "pending":
            event = event_of(done)
            await self._publish(event)
            log.info("report replayed", extra=ctx(report_id=report_id, sales_date=sales_date))
            return event

        try:
            async with translate_errors("load_facts"), self._pool.acquire() as conn:
                facts = await load_facts(conn, sales_date, tuned=self._tuned)
        except LookupError as exc:
            raise UnknownDay(f"no sales stored for {sales_date}") from exc
        system, user = build_messages(facts, language=self._language)
        common = ReportInput(
            report_id=report_id,
            sales_date=sales_date,
            upload_id=upload_id,
            language=self._language,
            prompt_version=PROMPT_VERSION,
            facts=facts.model_dump(mode="json"),
            system_prompt=system,
            prompt=user,
        )
        # attempts: the report's LLM calls so far, failed ones included, over every delivery.
        prior = done.attempts if done is not None else 0
        tally = CallTally(limit=max(self._max_attempts - prior, 0))
        try:
            draft = await write_report(
                facts, system, user, llm=self._llm, language=self._language, tally=tally
            )
        except LLMUnavailable as exc:
            attempts = await record_failure(
                self._pool,
                report_id=report_id,
                sales_date=sales_date,
                upload_id=upload_id,
                language=self._language,
                prompt_version=PROMPT_VERSION,
                error=str(exc),
                calls=tally.calls,
            )
            if attempts < self._max_attempts:
                raise
            row = await self._give_up(
                common, attempts, f"gave up after {attempts} LLM calls: {exc}"
            )
        except LLMRejected as exc:
            row = await self._give_up(common, prior + tally.calls, str(exc))
        else:
            row = await save_report(
                self._pool,
                common,
                ReportOutcome(
                    status="ok",
                    text=draft.text,
                    model=draft.model,
                    usage=draft.usage,
                    verified=draft.verified,
                    unverified_numbers=draft.unverified_numbers,
                    attempts=prior + tally.calls,
                    error=None,
                    claims=draft.verdict.claims_json(),
                ),
            )
        event = event_of(row)
        await self._publish(event)
        REPORTS.labels(status=row.status, verified=str(row.verified).lower()).inc()
        STAGE_SECONDS.labels(stage="report").observe(time.perf_counter() - started)
        log.info(
            "report stored",
            extra=ctx(
                report_id=report_id,
                sales_date=sales_date,
                status=row.status,
                verified=row.verified,
                model=row.model,
            ),
        )
        return event

    async def _give_up(self, common: ReportInput, attempts: int, error: str) -> ReportRow:
        return await save_report(
            self._pool,
            common,
            ReportOutcome(
                status="failed",
                text=None,
                model=self._llm.model if self._llm else None,
                usage={},
                verified=False,
                unverified_numbers=[],
                attempts=attempts,
                error=error,
            ),
        )

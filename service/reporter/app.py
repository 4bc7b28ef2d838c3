"""The reporter process: FastStream consumer of sales.stored and sales.report-requests
in group sales-reports, writing up to LLM_MAX_CONCURRENCY reports at once (the
consumer scaffold's concurrent mode)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from faststream.asgi import AsgiFastStream
from faststream.kafka.annotations import KafkaMessage

from ..consumer import ConcurrentConsumer, Resources, instance_name
from ..events import ReportEvent, ReportRequest, SalesCorrected, SalesStored
from ..metrics import REPORTS_IN_FLIGHT
from ..names import (
    GROUP_REPORTS,
    TOPIC_CORRECTED,
    TOPIC_REPORT_REQUESTS,
    TOPIC_REPORTS,
    TOPIC_STORED,
)
from ..settings import Settings
from ..storage.db import keep_session
from ..storage.facts_sql import FACTS_SERVER_SETTINGS
from .corrections import StaleReports
from .handler import ReporterService
from .lease import ReportLeases
from .llm import LLMClient

__all__ = ["build_reporter"]

log = logging.getLogger("sales_analyzer.reporter")

# A report can take the LLM's timeout times its retries, twice (one correction
# round): keep the poll interval well above that so the group never evicts us.
_MAX_POLL_INTERVAL_MS = 900_000


@dataclass(frozen=True, slots=True)
class Reporter:
    """The reporter's services: reports, and what a correction makes of them."""

    reports: ReporterService
    stale: StaleReports


def build_reporter(settings: Settings) -> AsgiFastStream:
    async def start(res: Resources) -> Reporter:
        llm = LLMClient(settings) if settings.llm_enabled else None
        if llm is None:
            log.warning("OPENAI_API_KEY is not set: reports come from the built-in writer")
        else:
            res.exit.push_async_callback(llm.close)
        return Reporter(
            reports=ReporterService(
                pool=res.pool,
                llm=llm,
                publish=publish,
                language=settings.report_language,
                max_attempts=settings.llm_max_attempts,
                tuned=True,
                leases=ReportLeases(res.redis(), instance=f"{instance_name(settings)}:reporter"),
            ),
            stale=StaleReports(pool=res.pool, request=request, language=settings.report_language),
        )

    # A report may legitimately take minutes (LLM retries): stale only after 15 minutes.
    # The pool's connections carry the facts statement's settings (one round trip for
    # the facts) and skip asyncpg's per-release reset (one round trip per query).
    app = ConcurrentConsumer(
        settings,
        name="sales-reporter",
        stage="reporter",
        group=GROUP_REPORTS,
        topics=(TOPIC_STORED, TOPIC_REPORT_REQUESTS, TOPIC_CORRECTED),
        stale_after=900.0,
        start=start,
        concurrency=settings.llm_max_concurrency,
        pool_size=(1, settings.llm_max_concurrency + 2),
        pool_options=dict(server_settings=FACTS_SERVER_SETTINGS, reset=keep_session),
    )
    REPORTS_IN_FLIGHT.set_function(lambda: app.in_flight)
    reports = app.publisher(
        TOPIC_REPORTS, ReportEvent, description="a day's report (or its failure); key = sales date"
    )
    # Its own channel title: the subscriber of this topic already holds "sales.report-requests".
    requests = app.publisher(
        TOPIC_REPORT_REQUESTS,
        ReportRequest,
        title="sales.report-requests:after-correction",
        description="reports to write again after a correction; key = sales date",
    )

    async def publish(event: ReportEvent) -> None:
        await reports.publish(event, key=event.sales_date.isoformat())

    async def request(req: ReportRequest) -> None:
        await requests.publish(req, key=req.sales_date.isoformat())

    @app.subscriber(
        TOPIC_STORED,
        title="sales.stored",
        description="stored days to report on",
        max_poll_interval_ms=_MAX_POLL_INTERVAL_MS,
    )
    async def on_stored(msg: KafkaMessage) -> None:
        ev = app.decode(msg, SalesStored)
        await app.submit(
            msg,
            None
            if ev is None
            else lambda: app.service.reports.for_stored(ev.upload_id, ev.sales_date),
        )

    @app.subscriber(
        TOPIC_REPORT_REQUESTS,
        title="sales.report-requests",
        description="ReportRequest: write a stored day's report again",
        max_poll_interval_ms=_MAX_POLL_INTERVAL_MS,
    )
    async def on_request(msg: KafkaMessage) -> None:
        req = app.decode(msg, ReportRequest)
        await app.submit(
            msg,
            None
            if req is None
            else lambda: app.service.reports.for_request(req.request_id, req.sales_date),
        )

    @app.subscriber(
        TOPIC_CORRECTED,
        title="sales.corrected",
        description="corrected days: mark the reports they made wrong stale, request new ones",
    )
    async def on_corrected(msg: KafkaMessage) -> None:
        ev = app.decode(msg, SalesCorrected)
        await app.submit(msg, None if ev is None else lambda: app.service.stale.corrected(ev))

    return app.asgi()

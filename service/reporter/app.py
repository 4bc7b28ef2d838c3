"""The reporter process: FastStream consumer of sales.stored and sales.report-requests
in group sales-reports."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from aiokafka.errors import KafkaError
from faststream import AckPolicy, ContextRepo
from faststream.asgi import AsgiFastStream
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY
from pydantic import ValidationError

from ..bus import ensure_topics, make_broker
from ..errors import BusUnavailable, LLMUnavailable, PermanentError, TransientError
from ..lag import LagMonitor
from ..logs import ctx
from ..metrics import LAST_PROGRESS, RETRIES
from ..models import ReportEvent, ReportRequest, SalesCorrected, SalesStored
from ..names import (
    GROUP_REPORTS,
    HEADER_EVENT_ID,
    TOPIC_CORRECTED,
    TOPIC_REPORT_REQUESTS,
    TOPIC_REPORTS,
    TOPIC_STORED,
)
from ..retry import Backoff
from ..runtime import health_routes, wait_for
from ..settings import Settings
from ..storage.db import create_pool
from ..storage.migrate import migrate
from .corrections import StaleReports
from .handler import ReporterService
from .llm import LLMClient

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

__all__ = ["build_reporter"]

log = logging.getLogger("sales_analyzer.reporter")

# A report can take the LLM's timeout times its retries, twice (one correction
# round): keep the poll interval well above that so the group never evicts us.
_MAX_POLL_INTERVAL_MS = 900_000


def build_reporter(settings: Settings) -> AsgiFastStream:
    broker = make_broker(settings, client_id="sales-reporter", middlewares=[
        KafkaPrometheusMiddleware(registry=REGISTRY, app_name="sales-reporter")])
    state: dict[str, Any] = {}
    backoff = Backoff(maximum=settings.retry_backoff_max_seconds)
    lag = LagMonitor(settings.kafka_bootstrap_servers, group=GROUP_REPORTS,
                     topics=(TOPIC_STORED, TOPIC_REPORT_REQUESTS, TOPIC_CORRECTED))

    reports_pub = broker.publisher(TOPIC_REPORTS, schema=ReportEvent, title="sales.reports",
                                   description="a day's report (or its failure); key = sales date")

    # Its own channel title: the subscriber of this topic already holds "sales.report-requests".
    requests_pub = broker.publisher(TOPIC_REPORT_REQUESTS, schema=ReportRequest,
                                    title="sales.report-requests:after-correction",
                                    description="reports to write again after a correction; key = sales date")

    async def publish(event: ReportEvent) -> None:
        try:
            await reports_pub.publish(event, key=event.sales_date.isoformat().encode(),
                                      headers={HEADER_EVENT_ID: event.event_id})
        except KafkaError as exc:
            raise BusUnavailable(f"report publish failed: {exc}") from exc

    async def request(req: ReportRequest) -> None:
        try:
            await requests_pub.publish(req, key=req.sales_date.isoformat().encode(),
                                       headers={HEADER_EVENT_ID: f"regenerate:{req.request_id}"})
        except KafkaError as exc:
            raise BusUnavailable(f"report request publish failed: {exc}") from exc

    async def guarded(msg: KafkaMessage, work: Any) -> None:
        """Run one message's work; transient failures back off and put the message back."""
        raw = cast("ConsumerRecord", msg.raw_message)  # one record: these subscribers are not batch
        where = dict(topic=raw.topic, partition=raw.partition, offset=raw.offset)
        try:
            await work
        except PermanentError as exc:
            # Retrying cannot help (e.g. the day was deleted): say so and move on.
            log.error("event skipped", extra=ctx(error=str(exc), **where))
        except Exception as exc:
            # A dependency down (TransientError) or a bug of ours: keep the message,
            # back off (honouring an LLM's Retry-After), and let NACK_ON_ERROR seek back.
            transient = isinstance(exc, TransientError)
            delay = backoff.next(exc.retry_after if isinstance(exc, LLMUnavailable) else None)
            RETRIES.labels(stage="reporter", reason=type(exc).__name__).inc()
            log.log(logging.WARNING if transient else logging.ERROR, "message will be retried",
                    exc_info=not transient, extra=ctx(error=str(exc), retry_in=round(delay, 2), **where))
            await asyncio.sleep(delay)
            raise
        backoff.reset()
        LAST_PROGRESS.labels(stage="reporter").set(time.time())

    def poison(msg: KafkaMessage, exc: Exception) -> None:
        raw = cast("ConsumerRecord", msg.raw_message)  # one record: these subscribers are not batch
        log.error("unreadable event skipped", extra=ctx(error=str(exc)[:500], topic=raw.topic,
                                                         partition=raw.partition, offset=raw.offset))

    subscriber_options: dict[str, Any] = dict(
        group_id=GROUP_REPORTS, ack_policy=AckPolicy.NACK_ON_ERROR, auto_offset_reset="earliest",
        session_timeout_ms=30_000, heartbeat_interval_ms=3_000, max_poll_interval_ms=_MAX_POLL_INTERVAL_MS)

    @broker.subscriber(TOPIC_STORED, title="sales.stored", description="stored days to report on",
                       **subscriber_options)
    async def on_stored(msg: KafkaMessage) -> None:
        try:
            ev = SalesStored.model_validate_json(msg.body)
        except ValidationError as exc:
            poison(msg, exc)
            return
        svc: ReporterService = state["service"]
        await guarded(msg, svc.for_stored(ev.upload_id, ev.sales_date))

    @broker.subscriber(TOPIC_REPORT_REQUESTS, title="sales.report-requests",
                       description="ReportRequest: write a stored day's report again", **subscriber_options)
    async def on_request(msg: KafkaMessage) -> None:
        try:
            req = ReportRequest.model_validate_json(msg.body)
        except ValidationError as exc:
            poison(msg, exc)
            return
        svc: ReporterService = state["service"]
        await guarded(msg, svc.for_request(req.request_id, req.sales_date))

    @broker.subscriber(TOPIC_CORRECTED, title="sales.corrected",
                       description="corrected days: mark the reports they made wrong stale, request new ones",
                       **subscriber_options)
    async def on_corrected(msg: KafkaMessage) -> None:
        try:
            ev = SalesCorrected.model_validate_json(msg.body)
        except ValidationError as exc:
            poison(msg, exc)
            return
        stale: StaleReports = state["stale"]
        await guarded(msg, stale.corrected(ev))

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        await wait_for("kafka topics", lambda: ensure_topics(settings))
        pool = await wait_for("postgresql", lambda: create_pool(
            settings.database_url.get_secret_value(), min_size=1, max_size=8))
        await migrate(pool)
        llm = LLMClient(settings) if settings.llm_enabled else None
        if llm is None:
            log.warning("OPENAI_API_KEY is not set: reports come from the built-in writer")
        state["service"] = ReporterService(pool=pool, llm=llm, publish=publish,
                                           language=settings.report_language,
                                           max_attempts=settings.llm_max_attempts)
        state["stale"] = StaleReports(pool=pool, request=request)
        lag.start()
        LAST_PROGRESS.labels(stage="reporter").set(time.time())
        try:
            yield
        finally:
            await lag.stop()
            if llm is not None:
                await llm.close()
            await pool.close()

    # A report may legitimately take minutes (LLM retries): stale only after 15 minutes.
    return AsgiFastStream(broker, lifespan=lifespan, logger=logging.getLogger("sales_analyzer.app"),
                          asgi_routes=health_routes("reporter", lag=lag, stale_after=900.0))

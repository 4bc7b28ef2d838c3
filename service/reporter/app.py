"""The reporter process: FastStream consumer of sales.stored and sales.report-requests
in group sales-reports."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from aiokafka.errors import KafkaError
from faststream import AckPolicy, ContextRepo
from faststream.asgi import AsgiFastStream
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY
from pydantic import ValidationError

from ..bus import ensure_topics, make_broker
from ..concurrent import ConcurrentRunner
from ..errors import BusUnavailable, PermanentError, TransientError
from ..lag import LagMonitor
from ..logs import ctx
from ..metrics import LAST_PROGRESS, REPORTS_IN_FLIGHT, RETRIES
from ..models import ReportEvent, ReportRequest, SalesStored
from ..names import GROUP_REPORTS, HEADER_EVENT_ID, TOPIC_REPORT_REQUESTS, TOPIC_REPORTS, TOPIC_STORED
from ..runtime import health_routes, wait_for
from ..settings import Settings
from ..storage.db import create_pool, keep_session
from ..storage.facts_sql import FACTS_SERVER_SETTINGS
from ..storage.migrate import migrate
from .handler import ReporterService, report_id_for_upload
from .llm import LLMClient

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

__all__ = ["build_reporter"]

log = logging.getLogger("sales_analyzer.reporter")

# A report can take the LLM's timeout times its retries, twice (one correction
# round): keep the poll interval well above that so the group never evicts us.
_MAX_POLL_INTERVAL_MS = 900_000
# How long a stopping reporter lets the reports in flight finish (below the
# broker's graceful timeout); the rest are cancelled and redone after a restart.
_DRAIN_SECONDS = 20.0


def build_reporter(settings: Settings) -> AsgiFastStream:
    broker = make_broker(settings, client_id="sales-reporter", middlewares=[
        KafkaPrometheusMiddleware(registry=REGISTRY, app_name="sales-reporter")])
    state: dict[str, Any] = {}
    lag = LagMonitor(settings.kafka_bootstrap_servers, group=GROUP_REPORTS,
                     topics=(TOPIC_STORED, TOPIC_REPORT_REQUESTS))

    reports_pub = broker.publisher(TOPIC_REPORTS, schema=ReportEvent, title="sales.reports",
                                   description="a day's report (or its failure); key = sales date")

    async def publish(event: ReportEvent) -> None:
        try:
            await reports_pub.publish(event, key=event.sales_date.isoformat().encode(),
                                      headers={HEADER_EVENT_ID: event.event_id})
        except KafkaError as exc:
            raise BusUnavailable(f"report publish failed: {exc}") from exc

    runner = ConcurrentRunner(limit=settings.llm_max_concurrency, on_retry=_log_retry,
                              backoff_max=settings.retry_backoff_max_seconds)
    REPORTS_IN_FLIGHT.set_function(lambda: runner.in_flight)

    async def guarded(work: Awaitable[object], where: dict[str, Any]) -> None:
        """One message's work. Input nobody can fix is logged and skipped; anything else
        raises, and the runner retries it in place with backoff (honouring an LLM's
        Retry-After), keeping the message's offset uncommitted until it is done."""
        try:
            await work
        except PermanentError as exc:
            log.error("event skipped", extra=ctx(error=str(exc), **where))
        LAST_PROGRESS.labels(stage="reporter").set(time.time())

    async def skip(msg: KafkaMessage, exc: Exception) -> None:
        log.error("unreadable event skipped", extra=ctx(error=str(exc)[:500], **_where(msg)))

    async def admit(msg: KafkaMessage, work: Callable[[], Awaitable[None]]) -> None:
        # Waits while LLM_MAX_CONCURRENCY reports are in flight: the subscriber's
        # loop stops fetching meanwhile (backpressure).
        await runner.submit(msg.raw_message, msg.consumer, work)  # type: ignore[arg-type]

    subscriber_options: dict[str, Any] = dict(
        group_id=GROUP_REPORTS,
        ack_policy=AckPolicy.MANUAL,  # the runner commits, only what is stored and published
        auto_offset_reset="earliest", session_timeout_ms=30_000, heartbeat_interval_ms=3_000,
        max_poll_interval_ms=_MAX_POLL_INTERVAL_MS)

    @broker.subscriber(TOPIC_STORED, title="sales.stored", description="stored days to report on",
                       listener=runner.listener(), **subscriber_options)
    async def on_stored(msg: KafkaMessage) -> None:
        try:
            ev = SalesStored.model_validate_json(msg.body)
        except ValidationError as exc:
            await admit(msg, partial(skip, msg, exc))  # exc is unbound after the except block
            return
        svc: ReporterService = state["service"]
        await admit(msg, lambda: guarded(
            svc.produce(report_id_for_upload(ev.upload_id), ev.sales_date, ev.upload_id), _where(msg)))

    @broker.subscriber(TOPIC_REPORT_REQUESTS, title="sales.report-requests",
                       description="ReportRequest: write a stored day's report again",
                       listener=runner.listener(), **subscriber_options)
    async def on_request(msg: KafkaMessage) -> None:
        try:
            req = ReportRequest.model_validate_json(msg.body)
        except ValidationError as exc:
            await admit(msg, partial(skip, msg, exc))  # exc is unbound after the except block
            return
        svc: ReporterService = state["service"]
        await admit(msg, lambda: guarded(svc.for_request(req.request_id, req.sales_date), _where(msg)))

    async def drain() -> None:
        # Before the broker stops its consumers: finish (or give up) what is in flight
        # and commit it, within FastStream's graceful timeout.
        await runner.close(timeout=_DRAIN_SECONDS)

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        await wait_for("kafka topics", lambda: ensure_topics(settings))
        pool = await wait_for("postgresql", lambda: create_pool(
            settings.database_url.get_secret_value(), min_size=1, max_size=settings.llm_max_concurrency + 2,
            server_settings=FACTS_SERVER_SETTINGS, reset=keep_session))
        await migrate(pool)
        llm = LLMClient(settings) if settings.llm_enabled else None
        if llm is None:
            log.warning("OPENAI_API_KEY is not set: reports come from the built-in writer")
        state["service"] = ReporterService(pool=pool, llm=llm, publish=publish,
                                           language=settings.report_language,
                                           max_attempts=settings.llm_max_attempts, tuned=True)
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
    return AsgiFastStream(broker, lifespan=lifespan, on_shutdown=[drain],
                          logger=logging.getLogger("sales_analyzer.app"),
                          asgi_routes=health_routes("reporter", lag=lag, stale_after=900.0))


def _where(msg: KafkaMessage) -> dict[str, Any]:
    raw = cast("ConsumerRecord", msg.raw_message)  # one record: these subscribers are not batch
    return dict(topic=raw.topic, partition=raw.partition, offset=raw.offset)


def _log_retry(exc: Exception, record: Any, delay: float) -> None:
    transient = isinstance(exc, TransientError)
    RETRIES.labels(stage="reporter", reason=type(exc).__name__).inc()
    log.log(logging.WARNING if transient else logging.ERROR, "message will be retried",
            exc_info=not transient, extra=ctx(error=str(exc), retry_in=round(delay, 2), topic=record.topic,
                                              partition=record.partition, offset=record.offset))

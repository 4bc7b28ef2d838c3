"""The ingest process: FastStream consumer of sales.raw in group sales-ingest."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.errors import KafkaError
from faststream import AckPolicy, ContextRepo
from faststream.asgi import AsgiFastStream
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY

from ..bus import ensure_topics, make_broker
from ..cache import DayCache, create_redis
from ..errors import BusUnavailable, TransientError
from ..lag import LagMonitor
from ..logs import ctx
from ..metrics import LAST_PROGRESS, RETRIES
from ..models import SalesRejected, SalesStored
from ..names import GROUP_INGEST, HEADER_EVENT_ID, TOPIC_RAW, TOPIC_REJECTED, TOPIC_STORED
from ..retry import Backoff
from ..runtime import health_routes, wait_for
from ..settings import Settings
from ..storage.db import create_pool
from ..storage.migrate import migrate
from .decide import raw_upload
from .handler import Event, IngestService

__all__ = ["build_ingest"]

log = logging.getLogger("sales_analyzer.ingest")


def build_ingest(settings: Settings) -> AsgiFastStream:
    broker = make_broker(settings, client_id="sales-ingest", middlewares=[
        KafkaPrometheusMiddleware(registry=REGISTRY, app_name="sales-ingest")])
    state: dict[str, Any] = {}
    backoff = Backoff(maximum=settings.retry_backoff_max_seconds)
    lag = LagMonitor(settings.kafka_bootstrap_servers, group=GROUP_INGEST, topics=(TOPIC_RAW,))

    publishers = {
        TOPIC_STORED: broker.publisher(TOPIC_STORED, schema=SalesStored, title="sales.stored",
                                       description="a day was stored; key = sales date"),
        TOPIC_REJECTED: broker.publisher(TOPIC_REJECTED, schema=SalesRejected, title="sales.rejected",
                                         description="an upload was refused (invalid or duplicate day)"),
    }

    async def publish(events: Sequence[tuple[str, str, Event]]) -> None:
        # Concurrent publishes share producer batches; each one waits for acks=all.
        try:
            await asyncio.gather(*(publishers[topic].publish(ev, key=key.encode(),
                                                             headers={HEADER_EVENT_ID: ev.event_id})
                                   for topic, key, ev in events))
        except KafkaError as exc:
            raise BusUnavailable(f"event publish failed: {exc}") from exc

    @broker.subscriber(
        TOPIC_RAW, group_id=GROUP_INGEST, batch=True, max_records=settings.ingest_batch_size,
        ack_policy=AckPolicy.NACK_ON_ERROR,  # commit after the batch is durable; seek back on error
        auto_offset_reset="earliest",  # a new group must not skip the backlog
        # Memory stays bounded by the fetch, not by a day: a batch holds what one fetch
        # brought, at most 512 KiB of a partition and 1 MiB in all, as fetched. That is
        # compressed: machine-written XML shrinks 10-25x under zstd, so a big day's chunks
        # (all in one partition) come ~5-12 at a time (measured: ingest peaked at 192 MB
        # on a 1M-product day with 1 MiB / 4 MiB, 111 MB with these). Kafka always hands
        # over at least one record batch, so a whole-day record of MAX_RECORD_BYTES still
        # comes; a burst of small days takes a fetch or two more (no slower in bench_ingest).
        max_partition_fetch_bytes=512 * 1024,
        fetch_max_bytes=1024 * 1024, session_timeout_ms=30_000, heartbeat_interval_ms=3_000,
        max_poll_interval_ms=300_000, batch_timeout_ms=100,
        title="sales.raw", description="raw sales-day XML (bytes), key = sales date; "
        "headers x-upload-id, x-sender, x-source are optional; a big day comes as chunk records "
        "(x-part: chunk) and a ChunkManifest (x-part: manifest), see contracts/topics.md",
    )
    async def on_raw(msg: KafkaMessage) -> None:
        records = msg.raw_message
        raws = [raw_upload(value=r.value, headers=r.headers, topic=r.topic, partition=r.partition,
                           offset=r.offset, timestamp=r.timestamp, key=r.key) for r in records]
        try:
            await state["service"].handle(raws)
        except Exception as exc:
            # A dependency down (TransientError) or a bug of ours (bad input never
            # raises): keep the batch, back off, and let NACK_ON_ERROR seek back.
            transient = isinstance(exc, TransientError)
            delay = backoff.next()
            first = raws[0].position
            RETRIES.labels(stage="ingest", reason=type(exc).__name__ if transient else "unexpected").inc()
            log.log(logging.WARNING if transient else logging.ERROR, "batch will be retried",
                    exc_info=not transient,
                    extra=ctx(error=str(exc), retry_in=round(delay, 2), records=len(raws),
                              topic=first.topic, partition=first.partition, offset=first.offset))
            await asyncio.sleep(delay)
            raise
        backoff.reset()
        LAST_PROGRESS.labels(stage="ingest").set(time.time())

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        await wait_for("kafka topics", lambda: ensure_topics(settings))
        pool = await wait_for("postgresql", lambda: create_pool(
            settings.database_url.get_secret_value(), min_size=2, max_size=8))
        await migrate(pool)
        redis = create_redis(settings.redis_url.get_secret_value())
        state["service"] = IngestService(
            pool=pool, cache=DayCache(redis, ttl_seconds=settings.cache_life_period), publish=publish,
            policy=settings.validation_policy, max_products=settings.max_products_per_day,
            incomplete_seconds=settings.incomplete_upload_seconds)
        sweeper = asyncio.create_task(_sweep_forever(state["service"], lag, settings.incomplete_upload_seconds))
        lag.start()
        LAST_PROGRESS.labels(stage="ingest").set(time.time())
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await lag.stop()
            await state["service"].close()
            await pool.close()
            await redis.aclose()

    return AsgiFastStream(broker, lifespan=lifespan, logger=logging.getLogger("sales_analyzer.app"),
                          asgi_routes=health_routes("ingest", lag=lag, stale_after=120.0))



async def _sweep_forever(service: IngestService, lag: LagMonitor, incomplete_seconds: float) -> None:
    """Refuse big days whose manifest never came, a few times per INCOMPLETE_UPLOAD_SECONDS.

    Only on partitions ingest has consumed to the end (lag measured now, after the upload
    went quiet): a manifest still waiting in Kafka behind a backlog (ingest was down,
    or slow) is never taken for one that never came.
    """
    interval = min(30.0, max(0.5, incomplete_seconds / 4))
    while True:
        await asyncio.sleep(interval)
        try:
            await lag.measure()
            done = {p for (topic, p), behind in lag.partitions.items() if topic == TOPIC_RAW and behind == 0}
            await service.sweep(partitions=done)
        except Exception as exc:  # a dependency down or a bug: try again next round, never die
            log.warning("incomplete-upload sweep failed", extra=ctx(error=f"{type(exc).__name__}: {exc}"))

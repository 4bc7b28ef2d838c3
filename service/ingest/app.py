"""The ingest process: FastStream consumer of sales.raw in group sales-ingest."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from faststream.asgi import AsgiFastStream
from faststream.kafka.annotations import KafkaMessage

from ..cache import DayCache
from ..consumer import ConsumerApp, Resources
from ..lag import LagMonitor
from ..models import SalesCorrected, SalesRejected, SalesStored
from ..names import GROUP_INGEST, TOPIC_CORRECTED, TOPIC_RAW, TOPIC_REJECTED, TOPIC_STORED
from ..settings import Settings
from .decide import raw_upload
from .handler import Event, IngestService

__all__ = ["build_ingest"]


def build_ingest(settings: Settings) -> AsgiFastStream:
    async def start(res: Resources) -> IngestService:
        service = IngestService(
            pool=res.pool,
            cache=DayCache(res.redis(), ttl_seconds=settings.cache_life_period),
            publish=publish,
            policy=settings.validation_policy,
            max_products=settings.max_products_per_day,
            incomplete_seconds=settings.incomplete_upload_seconds,
            open_idle_seconds=settings.open_day_idle_seconds,
        )
        # Big days still open (a transaction held until their manifest) are rolled back
        # before the pool closes; their chunks are redelivered to the next ingest.
        res.exit.push_async_callback(service.close)
        return service

    app = ConsumerApp(
        settings,
        name="sales-ingest",
        stage="ingest",
        group=GROUP_INGEST,
        topics=(TOPIC_RAW,),
        stale_after=120.0,
        start=start,
        pool_size=(2, 8),
    )
    publishers = {
        TOPIC_STORED: app.publisher(
            TOPIC_STORED, SalesStored, description="a day was stored; key = sales date"
        ),
        TOPIC_REJECTED: app.publisher(
            TOPIC_REJECTED,
            SalesRejected,
            description="an upload was refused (invalid or duplicate day)",
        ),
        TOPIC_CORRECTED: app.publisher(
            TOPIC_CORRECTED,
            SalesCorrected,
            description="a stored day was replaced by a correction; key = sales date",
        ),
    }

    async def publish(events: Sequence[tuple[str, str, Event]]) -> None:
        # Concurrent publishes share producer batches; each one waits for acks=all.
        await asyncio.gather(*(publishers[topic].publish(ev, key=key) for topic, key, ev in events))

    @app.subscriber(
        TOPIC_RAW,
        batch=True,
        max_records=settings.ingest_batch_size,
        # Memory stays bounded by the fetch, not by a day: a batch holds what one fetch
        # brought, at most 512 KiB of a partition and 1 MiB in all, as fetched. That is
        # compressed: machine-written XML shrinks 10-25x under zstd, so a big day's chunks
        # (all in one partition) come ~5-12 at a time (measured: ingest peaked at 192 MB
        # on a 1M-product day with 1 MiB / 4 MiB, 111 MB with these). Kafka always hands
        # over at least one record batch, so a whole-day record of MAX_RECORD_BYTES still
        # comes; a burst of small days takes a fetch or two more (no slower in bench_ingest).
        max_partition_fetch_bytes=512 * 1024,
        fetch_max_bytes=1024 * 1024,
        max_poll_interval_ms=300_000,
        batch_timeout_ms=100,
        # While a batch is handled (longer than aiokafka's 100 ms prefetch backoff), the
        # fetcher asks the broker for the node's other, idle partitions; the broker holds
        # that fetch up to fetch_max_wait_ms, and the busy partition's next fetch waits
        # behind it. At the default 500 ms a 100,000-product day lost ~0.4 s to one such
        # stall (measured); 20 ms bounds it, for ~50 empty fetches a second when idle.
        fetch_max_wait_ms=20,
        title="sales.raw",
        description="raw sales-day XML (bytes), key = sales date; "
        "headers x-upload-id, x-sender, x-source are optional; x-replace: true corrects a stored day; a big "
        "day comes as chunk records (x-part: chunk) and a ChunkManifest (x-part: manifest), see contracts/topics.md",
    )
    async def on_raw(msg: KafkaMessage) -> None:
        raws = [
            raw_upload(
                value=r.value,
                headers=r.headers,
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                timestamp=r.timestamp,
                key=r.key,
            )
            for r in msg.raw_message
        ]
        await app.run(msg, app.service.handle(raws))

    # A few times per INCOMPLETE_UPLOAD_SECONDS: refuse big days whose manifest never came.
    interval = min(30.0, max(0.5, settings.incomplete_upload_seconds / 4))
    app.every(interval, "incomplete-upload sweep", lambda: _sweep(app.service, app.lag))

    return app.asgi()


async def _sweep(service: IngestService, lag: LagMonitor) -> None:
    """Refuse big days whose manifest never came, on partitions consumed to the end.

    Lag is measured now, after the upload went quiet: a manifest still waiting in Kafka
    behind a backlog (ingest was down, or slow) is never taken for one that never came.
    """
    await lag.measure()
    done = {
        p for (topic, p), behind in lag.partitions.items() if topic == TOPIC_RAW and behind == 0
    }
    await service.sweep(partitions=done)

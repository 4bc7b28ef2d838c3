"""The ingest process: FastStream consumer of sales.raw in group sales-ingest."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from faststream.asgi import AsgiFastStream
from faststream.kafka.annotations import KafkaMessage

from ..cache import DayCache
from ..consumer import ConsumerApp, Resources
from ..models import SalesRejected, SalesStored
from ..names import GROUP_INGEST, TOPIC_RAW, TOPIC_REJECTED, TOPIC_STORED
from ..settings import Settings
from .decide import raw_upload
from .handler import Event, IngestService

__all__ = ["build_ingest"]


def build_ingest(settings: Settings) -> AsgiFastStream:
    async def start(res: Resources) -> IngestService:
        return IngestService(pool=res.pool, cache=DayCache(res.redis(), ttl_seconds=settings.cache_life_period),
                             publish=publish, policy=settings.validation_policy,
                             max_products=settings.max_products_per_day)

    app = ConsumerApp(settings, name="sales-ingest", stage="ingest", group=GROUP_INGEST, topics=(TOPIC_RAW,),
                      stale_after=120.0, start=start, pool_size=(2, 8))
    publishers = {
        TOPIC_STORED: app.publisher(TOPIC_STORED, SalesStored, description="a day was stored; key = sales date"),
        TOPIC_REJECTED: app.publisher(TOPIC_REJECTED, SalesRejected,
                                      description="an upload was refused (invalid or duplicate day)"),
    }

    async def publish(events: Sequence[tuple[str, str, Event]]) -> None:
        # Concurrent publishes share producer batches; each one waits for acks=all.
        await asyncio.gather(*(publishers[topic].publish(ev, key=key) for topic, key, ev in events))

    @app.subscriber(
        TOPIC_RAW, batch=True, max_records=settings.ingest_batch_size,
        max_partition_fetch_bytes=settings.max_upload_bytes + 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024, max_poll_interval_ms=300_000, batch_timeout_ms=100,
        title="sales.raw", description="raw sales-day XML (bytes), key = sales date; "
        "headers x-upload-id, x-sender, x-source are optional",
    )
    async def on_raw(msg: KafkaMessage) -> None:
        raws = [raw_upload(value=r.value, headers=r.headers, topic=r.topic, partition=r.partition,
                           offset=r.offset, timestamp=r.timestamp) for r in msg.raw_message]
        await app.run(msg, app.service.handle(raws))

    return app.asgi()

"""Consumer lag, measured from outside the consumer (aiokafka#1154: a consumer can
be stuck with no signal of its own). Feeds the lag gauge and /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from .metrics import CONSUMER_LAG

__all__ = ["LagMonitor"]

log = logging.getLogger("sales_analyzer.lag")


class LagMonitor:
    def __init__(self, bootstrap: str, *, group: str, topics: tuple[str, ...], every: float = 10.0) -> None:
        self._bootstrap = bootstrap
        self._group = group
        self._topics = topics
        self._every = every
        self._task: asyncio.Task[None] | None = None
        self.total: int | None = None

    async def measure(self) -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id=f"{self._group}-lag")
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets(self._group)
            parts = [TopicPartition(t, p) for t in self._topics
                     for p in (consumer.partitions_for_topic(t) or await _partitions(consumer, t))]
            ends = await consumer.end_offsets(parts)
            total = 0
            for tp in parts:
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                lag = max(0, ends[tp] - done)
                CONSUMER_LAG.labels(group=self._group, topic=tp.topic, partition=str(tp.partition)).set(lag)
                total += lag
            self.total = total
            return total
        finally:
            await consumer.stop()
            await admin.close()

    async def _loop(self) -> None:
        while True:
            try:
                await self.measure()
            except (KafkaError, OSError) as exc:
                self.total = None
                log.warning("lag not measured: %s", exc)
            await asyncio.sleep(self._every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # the public API offers no other refresh
    return consumer.partitions_for_topic(topic) or set()

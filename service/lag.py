"""Consumer lag, measured from outside the consumer (aiokafka#1154: a consumer can
be stuck with no signal of its own). Feeds the lag gauge and /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from .metrics import CONSUMER_LAG

__all__ = ["LagMonitor"]

log = logging.getLogger("sales_analyzer.lag")


class LagMonitor:
    def __init__(
        self,
        bootstrap: str,
        *,
        group: str,
        topics: tuple[str, ...],
        every: float = 10.0,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """``options``: the clients' security options (kafka_security.client_options)."""
        self._bootstrap = bootstrap
        self._options = dict(options or {})
        self._group = group
        self._topics = topics
        self._every = every
        self._task: asyncio.Task[None] | None = None
        self._on_answer: Callable[[], None] | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.total: int | None = None  # None: not measured (yet, or Kafka unreachable)
        self.partitions: dict[
            tuple[str, int], int
        ] = {}  # (topic, partition) → lag, as last measured

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        """Created once and kept; dropped and made again after a failure."""
        if self._admin is None or self._consumer is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._bootstrap, client_id=f"{self._group}-lag", **self._options
            )
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap, enable_auto_commit=False, **self._options
            )
            try:
                await admin.start()
                await consumer.start()
            except BaseException:
                await self._close(admin, consumer)
                raise
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def measure(self) -> int:
        admin, consumer = await self._clients()
        committed = await admin.list_consumer_group_offsets(self._group)
        parts = [
            TopicPartition(t["topic"], p["partition"])
            for t in await admin.describe_topics(list(self._topics))
            if t["error_code"] == 0
            for p in t["partitions"]
        ]
        ends = await consumer.end_offsets(parts)
        total = 0
        partitions = {}
        for tp in parts:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag = max(0, ends[tp] - done)
            CONSUMER_LAG.labels(group=self._group, topic=tp.topic, partition=str(tp.partition)).set(
                lag
            )
            total += lag
            partitions[tp.topic, tp.partition] = lag
        self.total = total
        self.partitions = partitions
        return total

    async def _loop(self) -> None:
        while True:
            try:
                await self.measure()
                if self._on_answer is not None:
                    self._on_answer()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.total = None  # unknown: /healthz then judges by progress alone
                log.warning("lag not measured: %s", exc, extra={"dependency": "kafka"})
                await self._close(self._admin, self._consumer)
                self._admin = self._consumer = None
            await asyncio.sleep(self._every)

    def start(self, *, on_answer: Callable[[], None] | None = None) -> None:
        """Measure every few seconds; ``on_answer`` is called after each measure Kafka answered."""
        self._on_answer = on_answer
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close(self._admin, self._consumer)
        self._admin = self._consumer = None

    @staticmethod
    async def _close(admin: AIOKafkaAdminClient | None, consumer: AIOKafkaConsumer | None) -> None:
        with contextlib.suppress(Exception):
            if consumer is not None:
                await consumer.stop()
        with contextlib.suppress(Exception):
            if admin is not None:
                await admin.close()

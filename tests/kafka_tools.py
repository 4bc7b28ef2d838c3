"""Kafka chores the tests and the benchmarks share (never used by the service)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from service.bus import ensure_topics
from service.names import (
    GROUP_INGEST,
    GROUP_REPORTS,
    TOPIC_CORRECTED,
    TOPIC_RAW,
    TOPIC_REPORT_REQUESTS,
    TOPIC_STORED,
)
from service.settings import Settings

# What each of the service's consumer groups reads.
GROUP_TOPICS = {
    GROUP_INGEST: (TOPIC_RAW,),
    GROUP_REPORTS: (TOPIC_STORED, TOPIC_REPORT_REQUESTS, TOPIC_CORRECTED),
}


async def skip_backlog(kafka: str, group: str) -> int | None:
    """Move a group's committed offsets to the end of its topics (created when missing).

    Returns the records skipped, or None when the group has live members (another
    session's processes) and was left alone. For the tests' own, throwaway stack,
    before the group's processes start: work left by earlier runs must be neither
    processed nor waited for.
    """
    await ensure_topics(Settings(_env_file=None, kafka_bootstrap_servers=kafka))
    producer = AIOKafkaProducer(bootstrap_servers=kafka)  # only for its public partitions_for()
    await producer.start()
    try:
        tps = [
            TopicPartition(t, p)
            for t in GROUP_TOPICS[group]
            for p in sorted(await producer.partitions_for(t))
        ]
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        skipped = 0
        for tp in tps:
            skipped += max(0, ends[tp] - (await consumer.committed(tp) or 0))
        try:
            await consumer.commit({tp: ends[tp] for tp in tps})
        except KafkaError:
            return None
    finally:
        await consumer.stop()
    return skipped


async def wait_consumed(
    kafka: str, group: str, topics: tuple[str, ...], *, timeout: float = 60.0
) -> None:
    """Wait until ``group`` has committed every record on ``topics`` as they end now.

    The service commits an offset only after the record's work returned, so this proves
    every record published so far has been handled: what it left undone, it never will.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await admin.start()
    try:
        await consumer.start()
        await consumer.topics()  # fetches the cluster's metadata: partitions_for_topic knows them
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        ends = await consumer.end_offsets(tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(group)
            behind = {
                tp: ends[tp] - (committed[tp].offset if tp in committed else 0)
                for tp in tps
                if ends[tp] > (committed[tp].offset if tp in committed else 0)
            }
            if not behind:
                return
            if loop.time() > deadline:
                raise AssertionError(f"{group} still behind on {behind} after {timeout:g} s")
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
        await admin.close()


class Events:
    """Reads sales.stored / sales.rejected / sales.reports / sales.corrected from where they are now."""

    def __init__(self, consumer: AIOKafkaConsumer, *, kafka: str) -> None:
        self._consumer = consumer
        self._kafka = kafka
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def wait(self, topic: str, *, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        found = await self.collect(topic, 1, timeout=timeout, **match)
        return found[0]

    async def collect(
        self, topic: str, n: int, *, timeout: float = 30.0, **match: Any
    ) -> list[dict[str, Any]]:
        return await self.collect_where(
            topic,
            n,
            lambda e: all(str(e.get(k)) == str(v) for k, v in match.items()),
            timeout=timeout,
            what=str(match),
        )

    async def collect_where(
        self,
        topic: str,
        n: int,
        test: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 30.0,
        what: str = "the test",
    ) -> list[dict[str, Any]]:
        def hits() -> list[dict[str, Any]]:
            return [e for t, e in self.seen if t == topic and test(e)]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(hits()) < n:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"only {len(hits())}/{n} events on {topic} matching {what}")
            batch = await self._consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            self._keep(batch)
        return hits()

    def _keep(self, batch: dict[Any, list[Any]]) -> None:
        for records in batch.values():
            for r in records:
                with contextlib.suppress(ValueError):  # junk some tests produce on purpose
                    self.seen.append((r.topic, json.loads(r.value)))

    async def caught_up(self, *groups: str, timeout: float = 60.0) -> None:
        """Wait until each of the service's ``groups`` (in turn) has handled every record now on
        its topics, then read every event published so far.

        The service publishes a record's events before it commits the record's offset, so
        an event not in ``seen`` afterwards was never published and never will be: the
        positive signal a test waits for before it asserts that something did not happen.
        """
        for group in groups:
            await wait_consumed(self._kafka, group, GROUP_TOPICS[group], timeout=timeout)
        tps = sorted(self._consumer.assignment())
        ends = await self._consumer.end_offsets(tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while [tp for tp in tps if await self._consumer.position(tp) < ends[tp]]:
            if loop.time() > deadline:
                raise AssertionError(f"events not read to the end in {timeout:g} s")
            self._keep(await self._consumer.getmany(timeout_ms=200))

    async def settle(self, seconds: float = 1.0) -> None:
        """Read whatever arrives within `seconds` (a step of a loop that waits for an event)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            self._keep(await self._consumer.getmany(timeout_ms=200))

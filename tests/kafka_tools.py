"""Kafka chores the tests and the benchmarks share (never used by the service)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
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
    await ensure_topics(Settings(_env_file=None, kafka_bootstrap_servers=kafka))  # type: ignore[call-arg]
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

"""Kafka plumbing shared by every process: the broker factory and topic provisioning.

The producer settings and topic configs live here, shared by the FastStream apps,
the gateway's producer (gateway/publisher.py), the lag monitor and the CLI.
Topics are created by the service itself with explicit partitions and configs;
the broker's auto-create is off (deploy/kafka/server.properties) and so is
FastStream's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from .errors import BusUnavailable
from .names import ALL_TOPICS, MAX_RECORD_BYTES, TOPIC_RAW
from .settings import Settings

__all__ = ["make_broker", "producer_options", "ensure_topics", "topic_configs", "producer_max_request_size",
           "start_at_latest"]

log = logging.getLogger("sales_analyzer.bus")

# Headroom over the largest record's value for its key, headers and framing.
_RECORD_OVERHEAD = 64 * 1024


def producer_max_request_size(settings: Settings) -> int:
    # aiokafka checks this before compression, so it must exceed the largest record's value
    # (a whole small day, or one chunk of a big one: never MAX_UPLOAD_BYTES).
    return MAX_RECORD_BYTES + _RECORD_OVERHEAD


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Per-topic configs. sales.raw holds whole files; the rest hold small JSON events."""
    raw_limit = str(producer_max_request_size(settings))
    common = {"compression.type": "producer", "min.insync.replicas": "1"}
    configs = {t: dict(common) for t in ALL_TOPICS}
    # The broker checks max.message.bytes against the compressed batch; allowing the
    # uncompressed size means even an incompressible maximal upload fits.
    configs[TOPIC_RAW] |= {"max.message.bytes": raw_limit, "retention.ms": str(14 * 24 * 3600 * 1000)}
    return configs


def producer_options(settings: Settings) -> dict[str, Any]:
    """Producer settings shared by the FastStream brokers and the gateway's producer."""
    return dict(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,  # acks=all, and the producer's own retries never duplicate
        compression_type="zstd",
        max_request_size=producer_max_request_size(settings),
        linger_ms=settings.kafka_linger_ms,
        # An upload of 100 products is ~10 KB: with aiokafka's 16 KB default every upload
        # is a batch of its own and a partition's sends queue up one round trip each.
        # 1 MiB lets concurrent uploads to a partition travel together (4.5x measured).
        max_batch_size=1024 * 1024,
        request_timeout_ms=15_000,
    )


def make_broker(settings: Settings, *, client_id: str, **kwargs: object) -> KafkaBroker:
    options = producer_options(settings)
    return KafkaBroker(
        options.pop("bootstrap_servers"),
        client_id=client_id,
        allow_auto_create_topics=False,
        graceful_timeout=30.0,
        **options,
        # FastStream's own messages go through our handlers (JSON, redaction).
        logger=logging.getLogger("sales_analyzer.kafka"),
        **kwargs,  # type: ignore[arg-type]
    )


async def ensure_topics(settings: Settings, *, timeout: float = 60.0) -> list[str]:
    """Create missing topics with our partitions and configs; return the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers,
                                client_id="sales-analyzer-admin", request_timeout_ms=15_000)
    try:
        await asyncio.wait_for(admin.start(), timeout)
        existing = set(await admin.list_topics())
        configs = topic_configs(settings)
        missing = [t for t in ALL_TOPICS if t not in existing]
        if missing:
            new = [NewTopic(t, num_partitions=settings.kafka_partitions,
                            replication_factor=settings.kafka_replication_factor,
                            topic_configs=configs[t]) for t in missing]
            try:
                await admin.create_topics(new, validate_only=False)
            except TopicAlreadyExistsError:
                pass  # another process won the race; fine
            log.info("created topics", extra={"topics": missing})
        return missing
    except (KafkaError, OSError, asyncio.TimeoutError) as exc:
        raise BusUnavailable(f"cannot provision topics: {type(exc).__name__}: {exc}") from exc
    finally:
        await admin.close()


async def start_at_latest(consumer: AIOKafkaConsumer, *, timeout: float = 10.0) -> None:
    """Start a subscribed consumer and fix its starting positions before returning, so
    nothing produced afterwards is missed (`reports tail`, the tests' event readers).
    Gives up waiting for partitions after `timeout` seconds."""
    await consumer.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not consumer.assignment() and loop.time() < deadline:
        await asyncio.sleep(0.1)
    for tp in consumer.assignment():
        await consumer.position(tp)

"""Kafka plumbing shared by every process: the broker factory, topic provisioning and
the one translation of Kafka's failures into BusUnavailable (:class:`translate_errors`).

The producer settings and topic configs live here, shared by the FastStream apps,
the gateway's producer (gateway/publisher.py), the lag monitor and the CLI.
Topics are created by the service itself with explicit partitions and configs;
the broker's auto-create is off (deploy/kafka/server.properties) and so is
FastStream's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
)
from faststream.kafka import KafkaBroker

from .errors import BusUnavailable
from .kafka_security import broker_security, client_options
from .names import ALL_TOPICS, MAX_RECORD_BYTES, TOPIC_RAW
from .settings import Settings

__all__ = [
    "KAFKA_ERRORS",
    "PRODUCER_MAX_REQUEST_SIZE",
    "commit_offsets",
    "ensure_topics",
    "make_broker",
    "min_insync_replicas",
    "producer_options",
    "start_pinned",
    "topic_configs",
    "translate_errors",
]

log = logging.getLogger("sales_analyzer.bus")

# What Kafka being away looks like: aiokafka's own errors, the socket's, and a timeout
# (ours around a call, or aiokafka's request timeout).
KAFKA_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, asyncio.TimeoutError)


class translate_errors:
    """``with translate_errors("what"):`` turns Kafka's failures into BusUnavailable, chained.

    The one place Kafka errors are mapped (publishes of every process, topic
    provisioning, the CLI). A plain class rather than @contextmanager: it wraps the
    gateway's publish of every upload, where a generator per call costs measurable CPU.
    """

    __slots__ = ("_what",)

    def __init__(self, what: str) -> None:
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if (
            exc is not None
            and isinstance(exc, KAFKA_ERRORS)
            and not isinstance(exc, BusUnavailable)
        ):
            raise BusUnavailable(
                f"Kafka unavailable during {self._what}: {type(exc).__name__}"
            ) from exc


async def commit_offsets(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> bool:
    """Commit explicit offsets (the next record to read, per partition). False when the
    group has moved on (a rebalance gave the partitions to someone else, who will redo
    what was not committed); BusUnavailable when Kafka failed (try again later)."""
    with translate_errors("commit"):
        try:
            await consumer.commit(offsets)
        except (
            CommitFailedError,
            IllegalStateError,
        ):  # Kafka errors too: caught before the translator
            return False
    return True


# Headroom over the largest record's value for its key, headers and framing.
_RECORD_OVERHEAD = 64 * 1024


# aiokafka checks this before compression, so it must exceed the largest record's value
# (a whole small day, or one chunk of a big one: never MAX_UPLOAD_BYTES).
PRODUCER_MAX_REQUEST_SIZE = MAX_RECORD_BYTES + _RECORD_OVERHEAD


def min_insync_replicas(settings: Settings) -> int:
    """How many replicas an acks=all write needs: 2 of 3 (1 with fewer replicas)."""
    return max(1, min(2, settings.kafka_replication_factor - 1))


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Per-topic configs. sales.raw holds whole files; the rest hold small JSON events."""
    raw_limit = str(PRODUCER_MAX_REQUEST_SIZE)
    # acks=all waits for min.insync.replicas copies: 2 of 3 replicas lets one broker die
    # without losing an acknowledged record or refusing writes (1 with fewer replicas).
    min_isr = min_insync_replicas(settings)
    common = {"compression.type": "producer", "min.insync.replicas": str(min_isr)}
    configs = {t: dict(common) for t in ALL_TOPICS}
    # The broker checks max.message.bytes against the compressed batch; allowing the
    # uncompressed size means even an incompressible maximal upload fits.
    configs[TOPIC_RAW] |= {
        "max.message.bytes": raw_limit,
        "retention.ms": str(14 * 24 * 3600 * 1000),
    }
    return configs


def producer_options(settings: Settings) -> dict[str, Any]:
    """Producer settings shared by the FastStream brokers and the gateway's producer."""
    return dict(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,  # acks=all, and the producer's own retries never duplicate
        compression_type="zstd",
        max_request_size=PRODUCER_MAX_REQUEST_SIZE,
        linger_ms=settings.kafka_linger_ms,
        # An upload of 100 products is ~10 KB: with aiokafka's 16 KB default every upload
        # is a batch of its own and a partition's sends queue up one round trip each.
        # 1 MiB lets concurrent uploads to a partition travel together (4.5x measured).
        max_batch_size=1024 * 1024,
        request_timeout_ms=15_000,
    )


def make_broker(settings: Settings, *, client_id: str, **kwargs: object) -> KafkaBroker:
    options = producer_options(settings)
    # FastStream takes a string as one address: a cluster's "a:9092,b:9092" must be a list.
    servers = [s.strip() for s in options.pop("bootstrap_servers").split(",") if s.strip()]
    return KafkaBroker(
        servers,
        client_id=client_id,
        allow_auto_create_topics=False,
        graceful_timeout=30.0,
        **options,
        # FastStream's own messages go through our handlers (JSON, redaction); its line per
        # message ("Received", "Processed") is DEBUG: each stage logs one line of its own
        # per upload or report, with what matters.
        logger=logging.getLogger("sales_analyzer.kafka"),
        security=broker_security(settings),
        log_level=logging.DEBUG,
        **kwargs,  # type: ignore[arg-type]
    )


async def ensure_topics(settings: Settings, *, timeout: float = 60.0) -> list[str]:
    """Create missing topics with our partitions and configs; return the ones created.
    Nothing when KAFKA_CREATE_TOPICS is off (an admin creates them: a secured cluster)."""
    if not settings.kafka_create_topics:
        return []
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="sales-analyzer-admin",
        request_timeout_ms=15_000,
        **client_options(settings),
    )
    try:
        with translate_errors("topic provisioning"):
            await asyncio.wait_for(admin.start(), timeout)
            existing = set(await admin.list_topics())
            configs = topic_configs(settings)
            missing = [t for t in ALL_TOPICS if t not in existing]
            if missing:
                new = [
                    NewTopic(
                        t,
                        num_partitions=settings.kafka_partitions,
                        replication_factor=settings.kafka_replication_factor,
                        topic_configs=configs[t],
                    )
                    for t in missing
                ]
                # another process may win the race; fine
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(new, validate_only=False)
                log.info("created topics", extra={"topics": missing})
            return missing
    finally:
        await admin.close()


async def start_pinned(consumer: AIOKafkaConsumer, *, timeout: float = 10.0) -> None:
    """Start a subscribed consumer and fix its starting positions (latest or earliest, as
    its ``auto_offset_reset`` says) before returning, so nothing produced afterwards is
    missed (`reports tail`, the tests' event readers).
    Gives up waiting for partitions after `timeout` seconds."""
    await consumer.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not consumer.assignment() and loop.time() < deadline:
        await asyncio.sleep(0.1)
    for tp in consumer.assignment():
        await consumer.position(tp)

"""The gateway's Kafka producer: connects lazily, answers "unavailable" honestly.

The gateway must start and serve reads while Kafka is down, and must never
accept an upload it could not hand to Kafka: publish() either gets the broker's
acknowledgement (acks=all, idempotent producer) or raises BusUnavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from ..bus import ensure_topics, make_broker
from ..errors import BusUnavailable
from ..names import TOPIC_RAW
from ..settings import Settings

__all__ = ["RawPublisher"]

log = logging.getLogger("sales_analyzer.gateway")

_CONNECT_TIMEOUT = 5.0
_PUBLISH_TIMEOUT = 10.0


class RawPublisher:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._broker: KafkaBroker | None = None
        self._lock = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._broker is not None

    async def connect(self) -> bool:
        async with self._lock:
            if self._broker is not None:
                return True
            broker = make_broker(self._settings, client_id="sales-gateway")
            try:
                await ensure_topics(self._settings, timeout=_CONNECT_TIMEOUT)
                await asyncio.wait_for(broker.start(), _CONNECT_TIMEOUT)
            except (KafkaError, OSError, asyncio.TimeoutError, BusUnavailable) as exc:
                log.warning("kafka not reachable: %s", type(exc).__name__)
                with contextlib.suppress(Exception):
                    await broker.stop()
                return False
            self._broker = broker
            return True

    def keep_trying(self) -> None:
        """Reconnect in the background while Kafka is away."""
        async def loop() -> None:
            while not await self.connect():
                await asyncio.sleep(2.0)
        if self._retry is None or self._retry.done():
            self._retry = asyncio.create_task(loop())

    async def publish(self, payload: bytes | object, *, topic: str = TOPIC_RAW, key: str,
                      headers: dict[str, str]) -> None:
        """Publish and wait for the broker's acknowledgement, or raise BusUnavailable."""
        if self._broker is None and not await self.connect():
            self.keep_trying()
            raise BusUnavailable("Kafka is not reachable")
        assert self._broker is not None
        try:
            await asyncio.wait_for(
                self._broker.publish(payload, topic, key=key.encode(), headers=headers), _PUBLISH_TIMEOUT)
        except (KafkaError, OSError, asyncio.TimeoutError) as exc:
            raise BusUnavailable(f"Kafka did not confirm the publish: {type(exc).__name__}") from exc

    async def ping(self) -> bool:
        return self._broker is not None and bool(await self._broker.ping(timeout=2.0))

    async def close(self) -> None:
        if self._retry:
            self._retry.cancel()
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None

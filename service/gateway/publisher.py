"""The gateway's Kafka producer: connects lazily, and every answer it gives is true.

The gateway must start and serve reads while Kafka is down, and its answer to an
upload must be the record's fate:

* confirmed: the broker acknowledged the record (acks=all, idempotent producer);
* refused (BusUnavailable → 503): the record certainly never reached a broker:
  the producer is not connected, the circuit breaker is open (gateway/breaker.py),
  or the producer refused to take the record;
* unconfirmed (BusUnconfirmed): the record was handed to the producer but no
  acknowledgement came within ``confirm_within`` seconds. Its fate is unknown: a
  produce request may have reached the broker (which may have written it) before
  the connection broke, and the producer keeps retrying it (an idempotent
  producer never expires a batch) until the broker confirms it. Dropping the
  producer's queue would not make a refusal true either: aiokafka's stop()
  flushes pending batches rather than dropping them, and a request already sent
  cannot be called back. So this case is never answered 503. It is answered as
  soon as the circuit breaker opens (the cluster stopped answering, or fewer brokers
  answer than a write needs), else after ``confirm_within`` seconds.

The breaker's probe asks for the cluster's metadata, then counts the brokers that
accept a connection: fewer than ``min.insync.replicas`` means no acks=all write can
succeed (two of three brokers lost), so uploads are refused at once (503) instead of
each being held until it is answered 504.

It uses aiokafka's producer directly rather than a FastStream broker: the
gateway only produces, and on the upload hot path FastStream's publish layer
cost ~80 µs of CPU per upload (198 µs against 120 µs, measured), a sixth of the
whole request on this hardware.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient

from ..bus import KAFKA_ERRORS, ensure_topics, min_insync_replicas, producer_options
from ..errors import BusUnavailable, BusUnconfirmed
from ..kafka_security import client_options
from ..names import TOPIC_RAW
from ..settings import Settings
from .breaker import Breaker

__all__ = ["RawPublisher"]

# What a connect or a probe may fail with: Kafka's own errors, or ours from ensure_topics.
_NOT_REACHABLE: tuple[type[BaseException], ...] = (*KAFKA_ERRORS, BusUnavailable)

log = logging.getLogger("sales_analyzer.gateway")

_CONNECT_TIMEOUT = 5.0
# How long an upload waits for Kafka's acknowledgement before it is answered
# "unconfirmed": long enough to ride out a partition leader's failover in a
# three-broker cluster (~10 s), and below the request timeout.
_CONFIRM_WITHIN = 20.0


_FIRST = asyncio.FIRST_COMPLETED
# How long send() may wait to take a record (a full partition buffer, metadata): past
# it the record was never taken, and the upload is refused (503) rather than held.
_TAKE_WITHIN = 1.5


async def _accepts(host: str, port: int) -> bool:
    """Whether a TCP connection to host:port opens (within the breaker's probe timeout)."""
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class RawPublisher:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        # The breaker's probe has connections of its own: a broker answers the requests
        # of one connection in order, so a metadata request behind a produce request
        # that waits for a dead replica would wait as long as the produce request.
        self._probe_client: AIOKafkaClient | None = None
        self._lock = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None
        self.breaker = Breaker(self._probe)
        self._needed = min_insync_replicas(settings)
        self.confirm_within = max(1.0, min(_CONFIRM_WITHIN, settings.request_timeout_seconds - 2.0))

    async def connect(self) -> bool:
        async with self._lock:
            if self._producer is not None:
                return True
            security = client_options(self._settings)
            producer = AIOKafkaProducer(
                client_id="sales-gateway", **producer_options(self._settings), **security
            )
            probe = AIOKafkaClient(
                bootstrap_servers=self._settings.kafka_bootstrap_servers,
                client_id="sales-gateway-probe",
                request_timeout_ms=5_000,
                **security,
            )
            try:
                await ensure_topics(self._settings, timeout=_CONNECT_TIMEOUT)
                await asyncio.wait_for(producer.start(), _CONNECT_TIMEOUT)
                await asyncio.wait_for(probe.bootstrap(), _CONNECT_TIMEOUT)
            except _NOT_REACHABLE as exc:
                log.warning("kafka not reachable", extra={"cause": f"{type(exc).__name__}: {exc}"})
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), _CONNECT_TIMEOUT)
                with contextlib.suppress(Exception):
                    await probe.close()
                return False
            self._producer, self._probe_client = producer, probe
            return True

    def keep_trying(self) -> None:
        """Reconnect in the background while Kafka is away."""

        async def loop() -> None:
            while not await self.connect():
                await asyncio.sleep(2.0)

        if self._retry is None or self._retry.done():
            self._retry = asyncio.create_task(loop())

    async def publish(
        self, value: bytes, *, topic: str = TOPIC_RAW, key: str, headers: dict[str, str]
    ) -> None:
        """Publish and wait for the broker's acknowledgement.

        Raises BusUnavailable when the record was certainly not sent, BusUnconfirmed
        when it was handed over but not confirmed within ``confirm_within`` seconds.
        """
        producer = self._producer
        if producer is None:
            # Never reconnect inline: concurrent uploads would queue behind the lock for
            # seconds each. The background task reconnects; until then answer at once.
            self.keep_trying()
            raise BusUnavailable(
                "Kafka is not reachable (the producer is not connected)",
                reason="not_connected",
                retry_after=2,
            )
        breaker = self.breaker
        if breaker.is_open:
            raise BusUnavailable(
                f"Kafka is known down: {breaker.cause}",
                reason="circuit_open",
                retry_after=breaker.retry_after,
            )
        sent: asyncio.Future[object] | None = None
        slow = asyncio.get_running_loop().call_later(breaker.suspect_after, breaker.suspect)
        try:
            async with asyncio.timeout(
                self.confirm_within
            ):  # no extra task per upload, unlike wait_for
                # send() only queues the record (it waits only when the partition's buffer is
                # full, or for metadata); a failure or timeout before it returns means nothing
                # was handed over: aiokafka appends the record with no await after it, so
                # cancelling send() in a wait never leaves the record half taken.
                async with asyncio.timeout(_TAKE_WITHIN):
                    sent = await producer.send(
                        topic,
                        value,
                        key=key.encode(),
                        headers=[(k, v.encode()) for k, v in headers.items()],
                    )
                if not sent.done():
                    # the acknowledgement, or the breaker opening: whichever comes first
                    await asyncio.wait((sent, breaker.opened()), return_when=_FIRST)
                if not sent.done():
                    raise BusUnconfirmed(
                        "Kafka did not confirm the record: the cluster stopped answering "
                        f"({breaker.cause}); the producer keeps retrying it"
                    )
                sent.result()
        except KAFKA_ERRORS as exc:
            cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if sent is None:
                raise BusUnavailable(
                    f"the Kafka producer did not take the record ({cause})",
                    reason="not_taken",
                    retry_after=breaker.retry_after,
                ) from exc
            raise BusUnconfirmed(
                f"Kafka did not confirm the record within {self.confirm_within:g} s "
                f"({cause}); the producer keeps retrying it"
            ) from exc
        finally:
            slow.cancel()

    async def _probe(self) -> None:
        """Returns when the cluster can take an acks=all write: it answers a metadata
        request and at least min.insync.replicas of its brokers accept a connection."""
        if self._probe_client is None:
            raise BusUnavailable("the producer is not connected")
        metadata = await self._probe_client.fetch_all_metadata()
        brokers = list(metadata.brokers())
        if self._needed <= 1:
            return  # the broker that answered is enough
        up = sum(await asyncio.gather(*(_accepts(b.host, b.port) for b in brokers)))
        if up < self._needed:
            raise BusUnavailable(
                f"{up} of {len(brokers)} Kafka brokers reachable; a write needs "
                f"{self._needed} (min.insync.replicas)"
            )

    async def ping(self) -> bool:
        try:
            await asyncio.wait_for(self._probe(), 2.0)
        except _NOT_REACHABLE:
            return False
        return True

    async def close(self) -> None:
        await self.breaker.close()
        if self._retry:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
        if self._producer is not None:
            # stop() flushes what is queued; with Kafka down that never ends
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), _CONNECT_TIMEOUT)
            self._producer = None
        if self._probe_client is not None:
            await self._probe_client.close()
            self._probe_client = None

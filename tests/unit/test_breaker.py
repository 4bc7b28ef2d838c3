"""The gateway's Kafka circuit breaker and the publisher's three answers (confirmed, refused, unconfirmed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from service.errors import BusUnavailable, BusUnconfirmed
from service.gateway.breaker import Breaker
from service.gateway.publisher import RawPublisher
from service.settings import Settings

from ..helpers import wait_until
from .helpers import turns


class Probe:
    def __init__(self) -> None:
        self.up = True
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if not self.up:
            raise KafkaConnectionError("connection refused")


async def test_slow_publish_with_a_silent_cluster_opens_the_breaker() -> None:
    """A suspicion the probe cannot clear opens the breaker, with the probe's error as the cause."""
    probe = Probe()
    probe.up = False
    breaker = Breaker(probe, interval=0.05)
    breaker.suspect()
    await wait_until(lambda: breaker.is_open)
    assert breaker.is_open and "KafkaConnectionError" in (breaker.cause or "")
    await breaker.close()


async def test_suspicion_cleared_by_an_answer_keeps_it_closed() -> None:
    """A slow publish while the cluster answers (a leader failover, say) does not open the breaker."""
    probe = Probe()
    breaker = Breaker(probe)
    breaker.suspect()
    breaker.suspect()  # one probe at a time
    await wait_until(lambda: probe.calls)  # the cluster answered the probe
    await turns()
    assert not breaker.is_open and probe.calls == 1
    await breaker.close()


async def test_open_breaker_closes_when_the_cluster_answers_again() -> None:
    """While open it probes in the background and closes on the first answer."""
    probe = Probe()
    probe.up = False
    breaker = Breaker(probe, interval=0.01)
    breaker.trip("test")
    await wait_until(lambda: probe.calls >= 2)  # two probes unanswered
    assert breaker.is_open
    probe.up = True
    await wait_until(lambda: not breaker.is_open)
    await breaker.close()


async def test_a_probe_that_hangs_counts_as_no_answer() -> None:
    """A probe is bounded by its timeout."""

    async def hang() -> None:
        await asyncio.sleep(10)

    breaker = Breaker(hang, probe_timeout=0.05)
    breaker.suspect()
    await wait_until(lambda: breaker.is_open)
    assert breaker.is_open and "TimeoutError" in (breaker.cause or "")
    await breaker.close()


class FakeProducer:
    """send() queues and hands back the delivery future, as aiokafka's does."""

    def __init__(self, *, refuse: Exception | None = None) -> None:
        self.refuse = refuse
        self.sent: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, value: bytes, **kw: Any) -> asyncio.Future[Any]:
        if self.refuse is not None:
            raise self.refuse
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append(fut)
        return fut


def publisher(producer: FakeProducer, *, confirm_within: float = 0.2) -> RawPublisher:
    pub = RawPublisher(Settings(_env_file=None))
    pub._producer = producer
    pub.confirm_within = confirm_within
    pub.breaker = Breaker(Probe())
    return pub


async def test_confirmed_publish_returns() -> None:
    """The broker's acknowledgement is the only way to a normal return."""
    producer = FakeProducer()
    pub = publisher(producer)
    task = asyncio.create_task(pub.publish(b"x", key="2024-01-01", headers={}))
    await wait_until(lambda: producer.sent)
    producer.sent[0].set_result(object())
    await task


async def test_record_handed_over_but_not_confirmed_is_never_a_refusal() -> None:
    """No acknowledgement in time: BusUnconfirmed (the producer still holds the record), not BusUnavailable."""
    pub = publisher(FakeProducer(), confirm_within=0.1)
    with pytest.raises(BusUnconfirmed):
        await pub.publish(b"x", key="2024-01-01", headers={})


async def test_delivery_error_after_hand_over_is_unconfirmed_too() -> None:
    """An error on the delivery future (the request may have reached the broker) is not a refusal either."""
    producer = FakeProducer()
    pub = publisher(producer)
    task = asyncio.create_task(pub.publish(b"x", key="2024-01-01", headers={}))
    await wait_until(lambda: producer.sent)
    producer.sent[0].set_exception(KafkaConnectionError("reset"))
    with pytest.raises(BusUnconfirmed):
        await task


async def test_record_the_producer_did_not_take_is_refused() -> None:
    """send() failing before it queued the record: a certain refusal."""
    pub = publisher(FakeProducer(refuse=KafkaTimeoutError()))
    with pytest.raises(BusUnavailable) as caught:
        await pub.publish(b"x", key="2024-01-01", headers={})
    assert caught.value.reason == "not_taken"


async def test_open_breaker_refuses_before_the_producer_sees_the_record() -> None:
    """While the breaker is open nothing is handed to the producer."""
    producer = FakeProducer()
    pub = publisher(producer)
    pub.breaker.cause = "test"
    with pytest.raises(BusUnavailable) as caught:
        await pub.publish(b"x", key="2024-01-01", headers={})
    assert caught.value.reason == "circuit_open" and caught.value.retry_after and not producer.sent


async def test_not_connected_refuses_at_once() -> None:
    """No producer yet (Kafka down at start-up): refused, reconnecting in the background."""
    pub = RawPublisher(Settings(_env_file=None, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1"))
    with pytest.raises(BusUnavailable) as caught:
        await pub.publish(b"x", key="2024-01-01", headers={})
    assert caught.value.reason == "not_connected"
    await pub.close()


async def test_breaker_opening_answers_the_publishes_in_flight_at_once() -> None:
    """A publish waiting for its acknowledgement is answered unconfirmed as soon as the breaker opens."""
    producer = FakeProducer()
    pub = publisher(producer, confirm_within=30.0)
    task = asyncio.create_task(pub.publish(b"x", key="2024-01-01", headers={}))
    await asyncio.sleep(0.01)
    started = asyncio.get_running_loop().time()
    pub.breaker.trip("test: the cluster stopped answering")
    with pytest.raises(BusUnconfirmed, match="stopped answering"):
        await task
    assert asyncio.get_running_loop().time() - started < 1.0
    await pub.breaker.close()


async def test_a_send_that_cannot_take_the_record_is_refused_within_its_bound() -> None:
    """send() stuck before it took the record (a full buffer, metadata): refused (503) in about 1.5 s, never held."""

    class Stuck(FakeProducer):
        async def send(self, topic: str, value: bytes, **kw: Any) -> asyncio.Future[Any]:
            await asyncio.sleep(60)
            raise AssertionError("unreachable")

    pub = publisher(Stuck(), confirm_within=30.0)
    started = asyncio.get_running_loop().time()
    with pytest.raises(BusUnavailable) as caught:
        await pub.publish(b"x", key="2024-01-01", headers={})
    assert caught.value.reason == "not_taken"
    assert asyncio.get_running_loop().time() - started < 3.0
    await pub.breaker.close()

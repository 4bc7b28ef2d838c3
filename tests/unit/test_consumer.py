"""The consumer scaffold's fate of a failure, the same for every consumer (no broker connects)."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY

from service.consumer import ConcurrentConsumer, Resources, SerialConsumer
from service.consumer.lifespan import repeat
from service.errors import CacheUnavailable, TransientError, UnknownDay
from service.events import ReportRequest
from service.settings import Settings


async def _start(res: Resources) -> object:
    return object()


def _app(stage: str, *, maximum: float = 0.01) -> SerialConsumer[object]:
    settings = Settings(_env_file=None, retry_backoff_max_seconds=maximum)
    return SerialConsumer(
        settings,
        name=f"test-{stage}",
        stage=stage,
        group="test",
        topics=("t",),
        stale_after=60.0,
        start=_start,
    )


def _msg(body: bytes = b"{}") -> Any:
    return SimpleNamespace(raw_message=SimpleNamespace(topic="t", partition=0, offset=7), body=body)


def _retries(stage: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "sales_transient_retries_total", {"stage": stage, "reason": reason}
        )
        or 0.0
    )


async def _fail(exc: Exception) -> None:
    raise exc


@pytest.mark.timeout(10)
async def test_transient_failure_backs_off_and_is_raised_again() -> None:
    """A TransientError is counted under its class name and re-raised, so the records come again."""
    app = _app("t1")
    with pytest.raises(CacheUnavailable):
        await app.run(_msg(), _fail(CacheUnavailable("down")))
    assert _retries("t1", "CacheUnavailable") == 1


@pytest.mark.timeout(10)
async def test_bug_is_retried_as_unexpected() -> None:
    """A failure that is no TransientError (a bug) is retried too, labelled unexpected."""
    app = _app("t2")
    with pytest.raises(KeyError):
        await app.run(_msg(), _fail(KeyError("x")))
    assert _retries("t2", "unexpected") == 1 and _retries("t2", "KeyError") == 0


@pytest.mark.timeout(10)
async def test_permanent_failure_is_skipped() -> None:
    """A PermanentError is logged and the message acked: no exception, no retry counted."""
    app = _app("t3")
    await app.run(_msg(), _fail(UnknownDay("gone")))
    assert _retries("t3", "UnknownDay") == 0 and _retries("t3", "unexpected") == 0


@pytest.mark.timeout(10)
@pytest.mark.parametrize("retry_after, waited", [(5.0, 5.0), (100.0, 30.0)])
async def test_retry_after_is_honoured_up_to_the_maximum(
    monkeypatch: pytest.MonkeyPatch, retry_after: float, waited: float
) -> None:
    """A transient error's retry_after stretches the backoff, never past RETRY_BACKOFF_MAX_SECONDS."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("service.consumer.delivery.asyncio.sleep", sleep)
    exc = TransientError("slow down")
    exc.retry_after = retry_after
    with pytest.raises(TransientError):
        await _app("t4", maximum=30.0).run(_msg(), _fail(exc))
    assert slept == [waited]


@pytest.mark.timeout(10)
async def test_unreadable_event_is_skipped() -> None:
    """decode gives None for a body that is not the model (logged, never retried)."""
    app = _app("t5")
    assert app.decode(_msg(b"not json"), ReportRequest) is None
    req = ReportRequest(
        request_id=uuid.uuid4(), sales_date="2024-01-01", requested_at="2024-01-01T00:00:00Z"
    )
    assert app.decode(_msg(req.model_dump_json().encode()), ReportRequest) == req


@pytest.mark.timeout(10)
async def test_service_before_start_is_an_error() -> None:
    """The stage service is there only once the lifespan built it."""
    with pytest.raises(RuntimeError):
        _ = _app("t6").service


class _Consumer:
    """What the concurrent mode needs of aiokafka's consumer: commits, assignment, pause."""

    def __init__(self) -> None:
        self.commits: list[dict[Any, int]] = []

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.commits.append(dict(offsets))

    def assignment(self) -> set[Any]:
        from aiokafka import TopicPartition

        return {TopicPartition("t", 0)}

    def pause(self, *partitions: Any) -> None:
        return None


def _record(offset: int, consumer: _Consumer) -> Any:
    return SimpleNamespace(
        raw_message=SimpleNamespace(topic="t", partition=0, offset=offset, key=b"2024-01-01"),
        consumer=consumer,
        body=b"{}",
    )


@pytest.mark.timeout(10)
async def test_concurrent_mode_gives_every_failure_its_fate_and_commits_in_order() -> None:
    """submit(): a transient failure is retried in place, a permanent one skipped, an unreadable
    record (work None) tracked; each partition is committed up to its last finished record."""
    settings = Settings(_env_file=None, retry_backoff_max_seconds=0.01)
    app = ConcurrentConsumer(
        settings,
        name="test-c1",
        stage="c1",
        group="test",
        topics=("t",),
        stale_after=60.0,
        start=_start,
        concurrency=4,
    )
    consumer = _Consumer()
    tries = 0

    async def flaky() -> None:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise CacheUnavailable("down")

    await app.submit(_record(0, consumer), flaky)
    await app.submit(_record(1, consumer), lambda: _fail(UnknownDay("gone")))
    await app.submit(_record(2, consumer), None)
    await app.drain()
    assert (
        tries == 2 and _retries("c1", "CacheUnavailable") == 1 and _retries("c1", "UnknownDay") == 0
    )
    assert consumer.commits and list(consumer.commits[-1].values()) == [3]


@pytest.mark.timeout(10)
async def test_periodic_work_outlives_its_failures() -> None:
    """Work given to every() runs round after round; a failing round is logged, not fatal."""
    app = _app("t9")
    calls: list[int] = []

    async def work() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise CacheUnavailable("down")

    app.every(0.01, "test work", work)
    ((seconds, what, registered),) = app._periodic
    task = asyncio.create_task(repeat(seconds, what, registered))
    while len(calls) < 3:
        await asyncio.sleep(0.01)
    assert not task.done()  # the failed round did not end it
    task.cancel()

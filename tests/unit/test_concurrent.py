"""The concurrent runner: limit, per-key order, retries, commits, rebalances and shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from service.concurrent import ConcurrentRunner

from ..helpers import wait_until
from .helpers import turns

T0 = TopicPartition("t", 0)
T1 = TopicPartition("t", 1)


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None


class FakeConsumer:
    def __init__(self, *tps: TopicPartition) -> None:
        self.owned = set(tps) or {T0, T1}
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail_with: Exception | None = None
        self.attempts = 0

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.attempts += 1
        if self.fail_with is not None:
            raise self.fail_with
        self.commits.append(dict(offsets))

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    def pause(self, *tps: TopicPartition) -> None:
        self.paused = set(tps)

    def last(self) -> dict[TopicPartition, int]:
        merged: dict[TopicPartition, int] = {}
        for c in self.commits:
            merged |= c
        return merged


def runner(**kw: Any) -> ConcurrentRunner:
    retries: list[tuple[Exception, float]] = []
    r = ConcurrentRunner(
        limit=kw.pop("limit", 3),
        on_retry=lambda e, rec, d: retries.append((e, d)),
        backoff_max=0.05,
        commit_linger=0.0,
        **kw,
    )
    r.retries = retries  # type: ignore[attr-defined]
    return r


def rec(offset: int, key: str | None = None, partition: int = 0) -> Rec:
    return Rec("t", partition, offset, key.encode() if key else None)


async def test_at_most_limit_run_at_once_and_submit_waits() -> None:
    """The fourth record waits in submit() while three are in flight (backpressure)."""
    r = runner(limit=3)
    c = FakeConsumer()
    gates = [asyncio.Event() for _ in range(4)]
    running: list[int] = []

    def work(i: int) -> Callable[[], Awaitable[None]]:
        async def go() -> None:
            running.append(i)
            await gates[i].wait()

        return go

    for i in range(3):
        assert await r.submit(rec(i, f"k{i}"), c, work(i))
    fourth = asyncio.create_task(r.submit(rec(3, "k3"), c, work(3)))
    await wait_until(lambda: sorted(running) == [0, 1, 2])
    await turns()  # the fourth submit has run as far as it can
    assert not fourth.done() and r.in_flight == 3 and sorted(running) == [0, 1, 2]
    gates[1].set()
    assert await asyncio.wait_for(fourth, 1)
    for g in gates:
        g.set()
    await r.close(1)
    assert c.last() == {T0: 4}


async def test_same_key_runs_in_order_other_keys_overlap() -> None:
    """Records of one key run one after another in fetch order; another key does not wait."""
    r = runner(limit=4)
    c = FakeConsumer()
    log: list[str] = []

    def work(name: str, delay: float) -> Callable[[], Awaitable[None]]:
        async def go() -> None:
            log.append(f"start {name}")
            await asyncio.sleep(delay)
            log.append(f"end {name}")

        return go

    await r.submit(rec(0, "day"), c, work("a", 0.02))
    await r.submit(rec(1, "day"), c, work("b", 0.0))
    await r.submit(rec(2, "other"), c, work("x", 0.0))
    await r.close(2)
    assert log.index("end a") < log.index("start b")
    assert log.index("end x") < log.index("end a")
    assert c.last() == {T0: 3}


async def test_commit_waits_for_the_unfinished_earlier_record() -> None:
    """A later record finishing first is not committed until the earlier one finishes."""
    r = runner(limit=4)
    c = FakeConsumer()
    slow = asyncio.Event()

    async def wait_slow() -> None:
        await slow.wait()

    async def quick() -> None:
        return None

    await r.submit(rec(0, "a"), c, wait_slow)
    await r.submit(rec(1, "b"), c, quick)
    await wait_until(lambda: r.in_flight == 1)  # the later record has finished
    assert await r.commit()
    assert c.last() == {}
    slow.set()
    await wait_until(lambda: c.last() == {T0: 2})
    await r.close(1)


async def test_failures_are_retried_in_place_with_the_hint() -> None:
    """Work that fails is retried (a retry_after hint raises the delay) until it succeeds, then committed."""
    r = runner()
    c = FakeConsumer()
    calls = 0

    class Busy(Exception):
        retry_after = 0.02

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Busy()

    await r.submit(rec(0, "a"), c, flaky)
    await r.close(2)
    assert calls == 3
    assert [type(e) for e, _ in r.retries] == [Busy, Busy]  # type: ignore[attr-defined]
    assert all(d >= 0.02 for _, d in r.retries)  # type: ignore[attr-defined]
    assert c.last() == {T0: 1}


async def test_revocation_waits_then_cancels_and_commits_what_finished() -> None:
    """On revocation, finished work is committed, stuck work is cancelled after revoke_wait and not committed."""
    r = runner(limit=4, revoke_wait=0.1)
    c = FakeConsumer()
    cancelled = asyncio.Event()

    async def quick() -> None:
        return None

    async def stuck() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await r.submit(rec(0, "a"), c, quick)
    await r.submit(rec(1, "b"), c, stuck)
    await r.submit(rec(0, "c", partition=1), c, quick)
    await wait_until(lambda: r.in_flight == 1)  # only the stuck one is left
    await r.revoke({T0})
    assert cancelled.is_set()
    assert c.last()[T0] == 1  # offset 1 was never finished
    # records of a partition being revoked are not started
    c.owned = {T1}
    assert not await r.submit(rec(2, "d"), c, quick)
    await r.close(1)
    assert c.last() == {T0: 1, T1: 1}


async def test_a_reassigned_partition_starts_fresh() -> None:
    """After revoke and a new assignment, records of the partition are accepted again."""
    r = runner()
    c = FakeConsumer()

    async def quick() -> None:
        return None

    await r.revoke({T0})
    assert not await r.submit(rec(0, "a"), c, quick)
    r.assigned({T0})
    assert await r.submit(rec(0, "a"), c, quick)
    await r.close(1)
    assert c.last() == {T0: 1}


async def test_close_stops_admitting_and_cancels_what_is_left() -> None:
    """close() releases a submitter waiting for room, cancels late work and commits the finished prefix."""
    r = runner(limit=1)
    c = FakeConsumer()

    async def stuck() -> None:
        await asyncio.sleep(30)

    async def quick() -> None:
        return None

    await r.submit(rec(0, "a"), c, quick)
    await wait_until(lambda: c.last() == {T0: 1})
    await r.submit(rec(1, "b"), c, stuck)
    waiting = asyncio.create_task(r.submit(rec(2, "c"), c, quick))
    await turns()  # it waits for room
    assert not waiting.done()
    await r.close(0.1)
    assert await waiting is False
    assert c.paused == {T0, T1}
    assert c.last() == {T0: 1}


async def test_a_refused_commit_forgets_the_partition() -> None:
    """A commit the group refuses (rebalanced) drops the partition's state instead of retrying forever."""
    r = runner()
    c = FakeConsumer()
    c.fail_with = CommitFailedError("rebalanced")

    async def quick() -> None:
        return None

    await r.submit(rec(0, "a"), c, quick)
    await wait_until(lambda: c.attempts)  # the group refused the commit
    await turns()
    c.fail_with = None
    await r.close(1)
    assert c.commits == []


@pytest.mark.parametrize("n", [50])
async def test_many_records_many_keys_all_committed(n: int) -> None:
    """Many records across keys and partitions: every one runs once, per-key order holds, all committed."""
    r = runner(limit=8)
    c = FakeConsumer()
    seen: dict[str, list[int]] = {}

    def work(key: str, offset: int) -> Callable[[], Awaitable[None]]:
        async def go() -> None:
            await asyncio.sleep(0.001 * (offset % 5))
            seen.setdefault(key, []).append(offset)

        return go

    for i in range(n):
        key = f"k{i % 7}"
        await r.submit(rec(i, key, partition=i % 2), c, work(key, i))
    await r.close(5)
    assert all(v == sorted(v) for v in seen.values())
    assert sum(len(v) for v in seen.values()) == n
    assert c.last() == {T0: n - 2 + 1, T1: n - 1 + 1}

"""Work on several Kafka records at once, still at least once (the reporter's concurrency).

FastStream 0.7's own concurrent subscribers do not fit: ``max_workers`` with
``ACK_FIRST`` auto-commits records as they are fetched (at most once), and with
any other policy it runs one consumer per worker, each processing one record at
a time, so concurrency is capped by the partitions a process holds and one slow
partition idles the rest. This layer sits behind an ordinary FastStream
subscriber with ``AckPolicy.MANUAL``:

* ``submit`` is called by the handler for every record in fetch order; it waits
  while ``limit`` records are in flight (backpressure: the subscriber's loop is
  blocked, so nothing more is fetched) and starts the work in a task;
* records with the same key (the sales date) run one after another, in order;
  other keys run side by side;
* a failed piece of work is retried in place with backoff (honouring a
  ``retry_after`` hint), so nothing is skipped and the order per key holds;
* offsets are committed per partition only up to the end of the unbroken run of
  finished records (``offsets.OffsetTracker``): a crash redoes at most what was in
  flight, and the work is idempotent, so redoing it publishes the same ids again;
* on a rebalance, the revoked partitions' work gets ``revoke_wait`` seconds to
  finish, is cancelled after that, and what is finished is committed before the
  partitions go; records of a partition being revoked are not started;
* ``close`` (before the broker stops) stops admitting, waits up to ``timeout``
  for the work in flight, cancels the rest and commits what finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition

from .bus import commit_offsets
from .errors import BusUnavailable
from .logs import ctx
from .offsets import OffsetTracker, Ticket
from .retry import Backoff

__all__ = ["Committer", "ConcurrentRunner", "RetryHook"]

log = logging.getLogger("sales_analyzer.concurrent")


class Committer(Protocol):
    """What the runner needs of an aiokafka consumer."""

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...

    def assignment(self) -> Iterable[TopicPartition]: ...

    def pause(self, *partitions: TopicPartition) -> None: ...


# Called before each retry: (the error, the record, seconds until the retry).
RetryHook = Callable[[Exception, Any, float], None]


class ConcurrentRunner:
    def __init__(
        self,
        *,
        limit: int,
        on_retry: RetryHook,
        backoff_max: float = 30.0,
        probe_every: float = 1.0,
        is_outage: Callable[[Exception], bool] = lambda exc: False,
        on_success: Callable[[], None] = lambda: None,
        revoke_wait: float = 10.0,
        commit_linger: float = 0.05,
    ) -> None:
        """``is_outage``: the failure says a dependency is away; its retries then wait at
        most ``probe_every`` seconds (no longer backoff), so work resumes soon after the
        dependency returns. ``on_success`` is called after each piece of work that succeeded."""
        self.limit = limit
        self._on_retry = on_retry
        self._backoff_max = backoff_max
        self._probe_every = probe_every
        self._is_outage = is_outage
        self._on_success = on_success
        self._revoke_wait = revoke_wait
        self._linger = commit_linger
        self._tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._consumers: dict[TopicPartition, Committer] = {}
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._tails: dict[
            Any, asyncio.Future[None]
        ] = {}  # key → the last admitted work of that key
        self._revoking: set[TopicPartition] = set()
        self._running = 0
        self._room = asyncio.Condition()
        self._closing = False
        self._commit_lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        return self._running

    async def submit(
        self, record: Any, consumer: Committer, work: Callable[[], Awaitable[None]]
    ) -> bool:
        """Start ``work`` for ``record`` once there is room. False when it was not started
        (closing, or its partition is going away): its offset is then never committed."""
        tp = TopicPartition(record.topic, record.partition)
        async with self._room:
            await self._room.wait_for(lambda: self._running < self.limit or self._closing)
            if self._closing:
                consumer.pause(*consumer.assignment())  # fetch nothing more only to drop it
                return False
            if tp in self._revoking or tp not in set(consumer.assignment()):
                return False
            self._running += 1
        ticket = self._tracker.start(tp, record.offset)
        self._consumers[tp] = consumer
        key = record.key if record.key is not None else (tp, record.offset)
        before = self._tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = mine
        task = asyncio.create_task(self._run(record, ticket, work, before, key, mine))
        self._tasks.setdefault(tp, set()).add(task)
        task.add_done_callback(lambda t: self._tasks.get(tp, set()).discard(t))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop())
        return True

    async def _run(
        self,
        record: Any,
        ticket: Ticket[TopicPartition],
        work: Callable[[], Awaitable[None]],
        before: asyncio.Future[None] | None,
        key: Any,
        mine: asyncio.Future[None],
    ) -> None:
        try:
            if before is not None:
                await asyncio.shield(before)  # the same day's earlier record first
            backoff = Backoff(maximum=self._backoff_max)
            while True:
                try:
                    await work()
                    break
                except Exception as exc:
                    delay = backoff.next(getattr(exc, "retry_after", None))
                    if self._is_outage(exc):  # a dependency away: try again soon after its return
                        delay = min(delay, self._probe_every)
                    self._on_retry(exc, record, delay)
                    await asyncio.sleep(delay)
            self._on_success()
            if self._tracker.finish(ticket):
                self._dirty.set()
        finally:
            mine.set_result(None)
            if self._tails.get(key) is mine:
                del self._tails[key]
            async with self._room:
                self._running -= 1
                self._room.notify_all()

    # --- commits ----------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self._linger)  # let a few finish and commit them together
            self._dirty.clear()
            try:
                ok = await self.commit()
            except Exception:
                log.exception("commit failed unexpectedly, will retry")
                ok = False
            if not ok:
                await asyncio.sleep(1.0)
                self._dirty.set()

    async def commit(self, only: set[TopicPartition] | None = None) -> bool:
        """Commit every partition's finished prefix; False when Kafka failed (try again)."""
        async with self._commit_lock:
            offsets = {
                tp: o for tp, o in self._tracker.to_commit().items() if only is None or tp in only
            }
            by_consumer: dict[int, tuple[Committer, dict[TopicPartition, int]]] = {}
            for tp, offset in offsets.items():
                consumer = self._consumers[
                    tp
                ]  # set with the partition's first record, dropped with it
                by_consumer.setdefault(id(consumer), (consumer, {}))[1][tp] = offset
            ok = True
            for consumer, part in by_consumer.values():
                owned = set(consumer.assignment())
                part = {tp: o for tp, o in part.items() if tp in owned}
                if not part:
                    continue
                try:
                    committed = await commit_offsets(consumer, part)
                except BusUnavailable as exc:
                    log.warning("commit failed, will retry", extra=ctx(error=str(exc)))
                    ok = False
                    continue
                if not committed:
                    # The group moved on: these partitions are someone else's now and
                    # they will redo what we could not commit (idempotent work).
                    log.warning("commit refused after a rebalance", extra=ctx(partitions=len(part)))
                    self._tracker.forget(set(part))
                    continue
                self._tracker.committed(part)
            return ok

    # --- rebalances and shutdown ------------------------------------------------------------

    async def revoke(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions are being taken away: let their work finish (briefly), commit, forget."""
        revoked = set(partitions)
        self._revoking |= revoked
        await self._settle(
            [t for tp in revoked for t in self._tasks.get(tp, ())], self._revoke_wait
        )
        await self.commit(only=revoked)
        self._tracker.forget(revoked)
        for tp in revoked:
            self._tasks.pop(tp, None)
            self._consumers.pop(tp, None)

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        self._revoking -= set(partitions)

    async def close(self, timeout: float) -> None:
        """Stop starting work, give what runs ``timeout`` seconds, cancel the rest, commit."""
        async with self._room:
            self._closing = True
            self._room.notify_all()
        await self._settle([t for ts in self._tasks.values() for t in ts], timeout)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.commit()

    @staticmethod
    async def _settle(tasks: list[asyncio.Task[None]], timeout: float) -> None:
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for t in late:
            t.cancel()
        if late:
            log.warning("work cancelled; it will be redone", extra=ctx(records=len(late)))
            await asyncio.wait(late)

    def listener(self) -> ConsumerRebalanceListener:
        """A rebalance listener for the subscriber(s) that feed this runner."""
        return _Listener(self)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types
    def __init__(self, runner: ConcurrentRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._runner.revoke(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._runner.assigned(assigned)

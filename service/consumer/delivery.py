"""The two delivery modes of a consumer, each its own type (see the package docstring)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage

from ..concurrent import ConcurrentRunner
from ..errors import PermanentError, TransientError
from ..logs import recovered
from ..retry import Backoff
from ..settings import Settings
from .app import ConsumerApp
from .fates import where
from .membership import dependency_of
from .resources import Resources

__all__ = ["ConcurrentConsumer", "SerialConsumer"]

S = TypeVar("S")

# How long a stopping concurrent consumer lets the work in flight finish (below the
# broker's graceful timeout); the rest is cancelled and redone later.
_DRAIN_SECONDS = 20.0


class SerialConsumer(ConsumerApp[S]):
    """One message (or batch) at a time: the subscriber awaits the work, and offsets are
    committed only after it returned (NACK_ON_ERROR seeks back on an error)."""

    @cached_property
    def _backoff(self) -> Backoff:
        return Backoff(maximum=self.settings.retry_backoff_max_seconds)

    def _delivery_options(self) -> dict[str, Any]:
        return dict(ack_policy=AckPolicy.NACK_ON_ERROR)

    async def run(self, msg: KafkaMessage, work: Awaitable[object]) -> None:
        """Run a message's (or batch's) work and give its failure its fate (fates.py)."""
        try:
            await work
        except PermanentError as exc:
            self._fates.skipped(exc, where(msg))
        except Exception as exc:
            # A dependency down (TransientError) or a bug of ours: keep the records,
            # back off, and let NACK_ON_ERROR seek back.
            delay = self._backoff.next(exc.retry_after if isinstance(exc, TransientError) else None)
            if dependency_of(exc) is not None:  # probe a dependency every RETRY_PROBE_SECONDS
                delay = min(delay, self.settings.retry_probe_seconds)
            self._fates.retrying(exc, delay, where(msg))
            await asyncio.sleep(delay)
            raise
        self._backoff.reset()
        self._progress.mark()
        recovered()


class ConcurrentConsumer(ConsumerApp[S]):
    """Up to ``concurrency`` records worked on at once, one key at a time; a failure retried
    in place; offsets committed (AckPolicy.MANUAL) up to each partition's finished run."""

    def __init__(
        self,
        settings: Settings,
        *,
        name: str,
        stage: str,
        group: str,
        topics: tuple[str, ...],
        stale_after: float,
        start: Callable[[Resources], Awaitable[S]],
        concurrency: int,
        pool_size: tuple[int, int] = (1, 8),
        pool_options: dict[str, Any] | None = None,
    ) -> None:
        """``concurrency``: the records worked on at once."""
        super().__init__(
            settings,
            name=name,
            stage=stage,
            group=group,
            topics=topics,
            stale_after=stale_after,
            start=start,
            pool_size=pool_size,
            pool_options=pool_options,
        )
        self._runner = ConcurrentRunner(
            limit=concurrency,
            on_retry=self._retrying,
            backoff_max=settings.retry_backoff_max_seconds,
            probe_every=settings.retry_probe_seconds,
            is_outage=lambda exc: dependency_of(exc) is not None,
            on_success=recovered,
        )

    def _delivery_options(self) -> dict[str, Any]:
        # the runner commits, and hears of rebalances
        return dict(ack_policy=AckPolicy.MANUAL, listener=self._runner.listener())

    @property
    def in_flight(self) -> int:
        """Records being worked on now."""
        return self._runner.in_flight

    async def submit(self, msg: KafkaMessage, work: Callable[[], Awaitable[object]] | None) -> None:
        """Start a record's work once there is room (waiting here is the backpressure: the
        subscriber fetches nothing meanwhile). ``work`` builds the awaitable afresh for
        every try; None for a record to skip (it is still tracked, so its offset is
        committed in turn)."""

        async def attempt() -> None:
            if work is not None:
                try:
                    await work()
                except PermanentError as exc:
                    self._fates.skipped(exc, where(msg))
            self._progress.mark()

        await self._runner.submit(msg.raw_message, msg.consumer, attempt)  # type: ignore[arg-type]

    def _retrying(self, exc: Exception, record: Any, delay: float) -> None:
        """A record's work failed and is tried again in ``delay`` seconds."""
        self._fates.retrying(
            exc, delay, dict(topic=record.topic, partition=record.partition, offset=record.offset)
        )

    async def drain(self) -> None:
        """At shutdown, before the broker stops its consumers: let the work in flight finish
        (within FastStream's graceful timeout), cancel the rest, commit."""
        await self._runner.close(timeout=_DRAIN_SECONDS)

"""The scaffold of a consumer process (ingest, the reporter, and any consumer to come).

A consumer is a FastStream app around one stage service. What every consumer
shares lives here, once:

* the broker, with FastStream's Prometheus middleware and our producer settings;
* subscribers with the delivery rules (group, ``NACK_ON_ERROR``: offsets are
  committed only after the work returned; earliest for a new group);
* publishers that stamp the event id header and translate Kafka's failures;
* :meth:`ConsumerApp.run`, the fate of a failure: a ``PermanentError`` is logged
  and the message acked; anything else (a ``TransientError``, or a bug of ours)
  backs off, honouring the error's ``retry_after``, and re-raises so the same
  records come again. Retries are counted with one label set:
  ``reason`` = the exception's class name for a transient failure, ``unexpected``
  for a bug;
* :meth:`ConsumerApp.decode`: an unreadable event is logged and skipped;
* the lifespan (topics, PostgreSQL pool and migrations, then the stage service
  built by the consumer's own ``start``; what it pushes on ``Resources.exit`` is
  closed at shutdown), the lag monitor, and /healthz, /metrics;
* :meth:`ConsumerApp.every`: a stage's periodic background work (ingest's sweep of
  incomplete big days), started with the service and cancelled first at shutdown;
  a failure is logged and the work tried again next round.

**Concurrent mode** (``concurrency=N``, the reporter): each subscriber hands its
records to a :class:`~service.concurrent.ConcurrentRunner` with :meth:`ConsumerApp.submit`
instead of awaiting the work: up to N records are worked on at once, one key (the
sales date) at a time, a failure is retried in place with the same fate as above,
and offsets are committed (``AckPolicy.MANUAL``) only up to the end of each
partition's run of finished records. Rebalances and shutdown let the work in flight
finish briefly and commit it (see concurrent.py).

A new consumer is its stage service, a ``start`` that builds it, and a subscriber::

    app = ConsumerApp(settings, name="sales-x", stage="x", group=GROUP_X, topics=(TOPIC_A,),
                      stale_after=300.0, start=start)

    @app.subscriber(TOPIC_A, title="a", description="...")
    async def on_a(msg: KafkaMessage) -> None:
        if (ev := app.decode(msg, EventA)) is not None:
            await app.run(msg, app.service.handle(ev))

    return app.asgi()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from faststream import AckPolicy, ContextRepo
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY
from pydantic import BaseModel, ValidationError

from .bus import ensure_topics, make_broker, translate_errors
from .cache import Redis, create_redis
from .concurrent import ConcurrentRunner
from .errors import (
    BusUnavailable,
    BusUnconfirmed,
    CacheUnavailable,
    PermanentError,
    StorageUnavailable,
    TransientError,
)
from .lag import LagMonitor
from .logs import ctx, recovered
from .metrics import RETRIES
from .names import HEADER_EVENT_ID
from .retry import Backoff
from .runtime import Progress, health_routes, wait_for
from .settings import Settings
from .storage.db import Pool, create_pool
from .storage.migrate import migrate

__all__ = [
    "ConsumerApp",
    "Event",
    "EventPublisher",
    "Resources",
    "dependency_of",
    "group_instance_id",
    "instance_name",
]

log = logging.getLogger("sales_analyzer.consumer")

# How long a stopping consumer in concurrent mode lets the work in flight finish
# (below the broker's graceful timeout); the rest is cancelled and redone later.
_DRAIN_SECONDS = 20.0

# The dependency a transient failure says is away: its retries are one outage in the logs
# (service/logs.py), and it is tried again every RETRY_PROBE_SECONDS, not after a backoff
# of up to RETRY_BACKOFF_MAX_SECONDS, so the work resumes within a second of its return.
_DEPENDENCIES: tuple[tuple[type[TransientError], str], ...] = (
    (StorageUnavailable, "postgresql"),
    (CacheUnavailable, "redis"),
    (BusUnavailable, "kafka"),
    (BusUnconfirmed, "kafka"),
)


# A library's own error that reached us untranslated (periodic work, say): whose it is.
_LIBRARIES = (("aiokafka", "kafka"), ("asyncpg", "postgresql"), ("redis", "redis"))


def dependency_of(exc: BaseException) -> str | None:
    """The dependency a failure says is away (None: not a dependency outage)."""
    for kind, name in _DEPENDENCIES:
        if isinstance(exc, kind):
            return name
    module = type(exc).__module__
    for prefix, name in _LIBRARIES:
        if module.startswith(prefix):
            return name
    return None


def instance_name(settings: Settings) -> str:
    """This process's name among the service's processes: INSTANCE_NAME, else the host's."""
    return settings.instance_name or socket.gethostname()


def group_instance_id(settings: Settings, *, stage: str, topic: str) -> str | None:
    """The consumer's static group membership id (KIP-345), or None when it is off.

    Stable across restarts of the same process (INSTANCE_NAME, default the host's name),
    distinct between the processes of a group and between one process's subscribers:
    a consumer restarted after a kill -9 takes its partitions back at once instead of
    waiting out its old member's session.
    """
    if not settings.kafka_static_membership:
        return None
    return f"{instance_name(settings)}:{stage}:{topic}"


S = TypeVar("S")
E = TypeVar("E", bound=BaseModel)


class Event(Protocol):
    """What a consumer publishes: a payload model with a deterministic ``event_id``."""

    @property
    def event_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Resources:
    """What the lifespan opened for the stage service; everything pushed on ``exit``
    is closed on shutdown, in reverse order."""

    settings: Settings
    pool: Pool
    exit: AsyncExitStack

    def redis(self) -> Redis:
        """A Redis client, closed with the process (connecting is lazy)."""
        client = create_redis(self.settings.redis_url.get_secret_value())
        self.exit.push_async_callback(client.aclose)
        return client


class EventPublisher:
    """One topic's publisher: keyed, with the event id header, Kafka failures as BusUnavailable."""

    __slots__ = ("_publisher", "_topic")

    def __init__(self, publisher: Any, topic: str) -> None:
        self._publisher = publisher
        self._topic = topic

    async def publish(self, event: Event, *, key: str) -> None:
        """Publish and wait for Kafka's acknowledgement (acks=all)."""
        with translate_errors(f"publish to {self._topic}"):
            await self._publisher.publish(
                event, key=key.encode(), headers={HEADER_EVENT_ID: event.event_id}
            )


class ConsumerApp(Generic[S]):
    """One consumer process: broker, stage service, failure handling, lifespan, health."""

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
        pool_size: tuple[int, int] = (1, 8),
        pool_options: dict[str, Any] | None = None,
        concurrency: int = 0,
    ) -> None:
        """``concurrency``: 0 for one message (or batch) at a time, else the records worked
        on at once (concurrent mode, see the module docstring). ``pool_options``: more
        asyncpg pool arguments (server_settings, reset)."""
        self.settings = settings
        self.stage = stage
        self.group = group
        self.broker: KafkaBroker = make_broker(
            settings,
            client_id=name,
            middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name=name)],
        )
        self._start = start
        self._pool_size = pool_size
        self._pool_options = pool_options or {}
        self._runner = (
            ConcurrentRunner(
                limit=concurrency,
                on_retry=self._retrying,
                backoff_max=settings.retry_backoff_max_seconds,
                probe_every=settings.retry_probe_seconds,
                is_outage=lambda exc: dependency_of(exc) is not None,
                on_success=recovered,
            )
            if concurrency
            else None
        )
        self._stale_after = stale_after
        self._service: S | None = None
        self._backoff = Backoff(maximum=settings.retry_backoff_max_seconds)
        self._progress = Progress(stage)
        self._lag = LagMonitor(settings.kafka_bootstrap_servers, group=group, topics=topics)
        self._periodic: list[tuple[float, str, Callable[[], Awaitable[object]]]] = []

    @property
    def service(self) -> S:
        """The stage service the lifespan built (a message never arrives before it)."""
        if self._service is None:
            raise RuntimeError(f"the {self.stage} service is not started")
        return self._service

    @property
    def lag(self) -> LagMonitor:
        """The group's lag monitor (measured every few seconds; ``measure()`` for a fresh figure)."""
        return self._lag

    def every(self, seconds: float, what: str, work: Callable[[], Awaitable[object]]) -> None:
        """Run ``work`` every ``seconds`` while the process runs, from after the service
        started until shutdown (cancelled before anything the lifespan opened is closed).
        A failure is logged and ``work`` tried again next round: it never ends the process."""
        self._periodic.append((seconds, what, work))

    async def _repeat(
        self, seconds: float, what: str, work: Callable[[], Awaitable[object]]
    ) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception as exc:  # a dependency down or a bug: try again next round, never die
                log.warning(
                    "%s failed",
                    what,
                    extra=ctx(error=f"{type(exc).__name__}: {exc}", dependency=dependency_of(exc)),
                )

    def subscriber(self, topic: str, *, title: str, description: str, **options: Any) -> Any:
        """A subscriber of the group, committing only after the work returned (NACK_ON_ERROR
        seeks back on an error; in concurrent mode the runner commits); a new group starts
        at the beginning, never skipping a backlog."""
        defaults: dict[str, Any] = dict(
            group_id=self.group,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=3_000,
            group_instance_id=group_instance_id(self.settings, stage=self.stage, topic=topic),
        )
        if self._runner is not None:  # the runner commits, and hears of rebalances
            defaults |= dict(ack_policy=AckPolicy.MANUAL, listener=self._runner.listener())
        return self.broker.subscriber(
            topic, title=title, description=description, **(defaults | options)
        )

    def publisher(
        self, topic: str, schema: type[BaseModel], *, description: str, title: str | None = None
    ) -> EventPublisher:
        """``title`` names the AsyncAPI channel (default: the topic; a topic the app also
        consumes needs another one, as the subscriber holds that name)."""
        return EventPublisher(
            self.broker.publisher(
                topic, schema=schema, title=title or topic, description=description
            ),
            topic,
        )

    def decode(self, msg: KafkaMessage, model: type[E]) -> E | None:
        """The message's payload, or None (logged) when it is not one: skipped, never retried."""
        try:
            return model.model_validate_json(msg.body)
        except ValidationError as exc:
            log.error("unreadable event skipped", extra=ctx(error=str(exc)[:500], **_where(msg)))
            return None

    async def run(self, msg: KafkaMessage, work: Awaitable[object]) -> None:
        """Run a message's (or batch's) work and give its failure its fate (module docstring)."""
        try:
            await work
        except PermanentError as exc:
            # Retrying cannot help (e.g. the day was deleted): say so and move on.
            log.error("event skipped", extra=ctx(error=str(exc), **_where(msg)))
        except Exception as exc:
            # A dependency down (TransientError) or a bug of ours: keep the records,
            # back off, and let NACK_ON_ERROR seek back.
            delay = self._backoff.next(exc.retry_after if isinstance(exc, TransientError) else None)
            if dependency_of(exc) is not None:
                delay = min(delay, self.settings.retry_probe_seconds)
            self._note_retry(exc, delay, _where(msg))
            await asyncio.sleep(delay)
            raise
        self._backoff.reset()
        self._progress.mark()
        recovered()

    @property
    def in_flight(self) -> int:
        """Records being worked on now (concurrent mode; 0 otherwise)."""
        return self._runner.in_flight if self._runner is not None else 0

    async def submit(self, msg: KafkaMessage, work: Callable[[], Awaitable[object]] | None) -> None:
        """Concurrent mode: start a record's work once there is room (waiting here is the
        backpressure: the subscriber fetches nothing meanwhile). ``work`` builds the
        awaitable afresh for every try; None for a record to skip (it is still tracked,
        so its offset is committed in turn)."""
        if self._runner is None:
            raise RuntimeError("submit() needs a ConsumerApp made with concurrency")

        async def attempt() -> None:
            if work is not None:
                try:
                    await work()
                except PermanentError as exc:
                    log.error("event skipped", extra=ctx(error=str(exc), **_where(msg)))
            self._progress.mark()

        await self._runner.submit(msg.raw_message, msg.consumer, attempt)  # type: ignore[arg-type]

    def _retrying(self, exc: Exception, record: Any, delay: float) -> None:
        """Concurrent mode: a record's work failed and is tried again in ``delay`` seconds."""
        self._note_retry(
            exc, delay, dict(topic=record.topic, partition=record.partition, offset=record.offset)
        )

    def _note_retry(self, exc: Exception, delay: float, where: dict[str, Any]) -> None:
        """Count and log a retry: reason = the class of a transient error, "unexpected" for a bug."""
        transient = isinstance(exc, TransientError)
        RETRIES.labels(
            stage=self.stage, reason=type(exc).__name__ if transient else "unexpected"
        ).inc()
        log.log(
            logging.WARNING if transient else logging.ERROR,
            "will be retried",
            exc_info=not transient,
            extra=ctx(
                error=str(exc), retry_in=round(delay, 2), dependency=dependency_of(exc), **where
            ),
        )

    async def drain(self) -> None:
        """Concurrent mode, at shutdown before the broker stops its consumers: let the work
        in flight finish (within FastStream's graceful timeout), cancel the rest, commit."""
        if self._runner is not None:
            await self._runner.close(timeout=_DRAIN_SECONDS)

    @asynccontextmanager
    async def _lifespan(self, context: ContextRepo) -> AsyncIterator[None]:
        settings = self.settings
        await wait_for("kafka topics", lambda: ensure_topics(settings))
        low, high = self._pool_size
        async with AsyncExitStack() as stack:
            pool = await wait_for(
                "postgresql",
                lambda: create_pool(
                    settings.database_url.get_secret_value(),
                    min_size=low,
                    max_size=high,
                    **self._pool_options,
                ),
            )
            stack.push_async_callback(pool.close)
            await migrate(pool)
            self._service = await self._start(Resources(settings, pool, stack))
            self._lag.start(on_answer=lambda: recovered("kafka"))
            stack.push_async_callback(self._lag.stop)
            for seconds, what, work in self._periodic:
                stack.push_async_callback(
                    _cancel, asyncio.create_task(self._repeat(seconds, what, work))
                )
            self._progress.mark()
            yield

    def asgi(self) -> AsgiFastStream:
        """The process: the FastStream app with /healthz and /metrics beside it."""
        return AsgiFastStream(
            self.broker,
            lifespan=self._lifespan,
            on_shutdown=[self.drain],
            logger=logging.getLogger("sales_analyzer.app"),
            asgi_routes=health_routes(
                self.stage, lag=self._lag, progress=self._progress, stale_after=self._stale_after
            ),
        )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _where(msg: KafkaMessage) -> dict[str, Any]:
    """Where a message (or a batch: its first record, and how many) came from, for the logs."""
    raw = msg.raw_message
    records: Sequence[Any] = raw if isinstance(raw, (list, tuple)) else (raw,)
    first = records[0]
    where: dict[str, Any] = dict(topic=first.topic, partition=first.partition, offset=first.offset)
    if len(records) > 1:
        where["records"] = len(records)
    return where

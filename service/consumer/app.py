"""The consumer process: broker, stage service, subscribers, publishers, health.

Its delivery mode is its type (delivery.py): SerialConsumer or ConcurrentConsumer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from faststream import ContextRepo
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY
from pydantic import BaseModel, ValidationError

from ..bus import make_broker
from ..kafka_access import require_access
from ..kafka_security import client_options
from ..lag import LagMonitor
from ..logs import ctx
from ..runtime import Progress, health_routes
from ..settings import Settings
from .fates import Fates, where
from .lifespan import Periodic, stage_lifespan
from .membership import group_instance_id
from .publishing import EventPublisher
from .resources import Resources

__all__ = ["ConsumerApp"]

log = logging.getLogger("sales_analyzer.consumer")

S = TypeVar("S")
E = TypeVar("E", bound=BaseModel)


class ConsumerApp(Generic[S]):
    """One consumer process: broker, stage service, lifespan, health; a subclass delivers."""

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
    ) -> None:
        """``pool_options``: more asyncpg pool arguments (server_settings, reset)."""
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
        self._stale_after = stale_after
        self._service: S | None = None
        self._fates = Fates(stage)
        self._progress = Progress(stage)
        self._lag = LagMonitor(
            settings.kafka_bootstrap_servers,
            group=group,
            topics=topics,
            options=client_options(settings),
        )
        self._topics = set(topics)  # read, and (with publisher()) written: the access check
        self._periodic: list[Periodic] = []

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

    def _delivery_options(self) -> dict[str, Any]:
        """The subscriber options of the delivery mode (its subclass says)."""
        raise NotImplementedError

    def subscriber(self, topic: str, *, title: str, description: str, **options: Any) -> Any:
        """A subscriber of the group, committing as the delivery mode says; a new group
        starts at the beginning, never skipping a backlog."""
        defaults: dict[str, Any] = dict(
            group_id=self.group,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=3_000,
            group_instance_id=group_instance_id(self.settings, stage=self.stage, topic=topic),
        )
        defaults |= self._delivery_options()
        return self.broker.subscriber(
            topic, title=title, description=description, **(defaults | options)
        )

    def publisher(
        self, topic: str, schema: type[BaseModel], *, description: str, title: str | None = None
    ) -> EventPublisher:
        """``title`` names the AsyncAPI channel (default: the topic; a topic the app also
        consumes needs another one, as the subscriber holds that name)."""
        self._topics.add(topic)
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
            log.error("unreadable event skipped", extra=ctx(error=str(exc)[:500], **where(msg)))
            return None

    async def drain(self) -> None:
        """At shutdown, before the broker stops its consumers (nothing to do by default)."""

    def _started(self, service: S) -> None:
        self._service = service

    @asynccontextmanager
    async def _lifespan(self, context: ContextRepo) -> AsyncIterator[None]:
        await require_access(
            self.settings, process=self.stage, topics=self._topics, groups=(self.group,)
        )
        async with stage_lifespan(
            self.settings,
            start=self._start,
            started=self._started,
            pool_size=self._pool_size,
            pool_options=self._pool_options,
            lag=self._lag,
            periodic=self._periodic,
            progress=self._progress,
        ):
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

"""The scaffold of a consumer process (ingest, the reporter, and any consumer to come).

A consumer is a FastStream app around one stage service. What every consumer shares
lives here, one job per module:

* app.py: the broker, with FastStream's Prometheus middleware and our producer
  settings; subscribers with the delivery rules (group; earliest for a new group);
  ``decode`` (an unreadable event is logged and skipped); ``every`` (a stage's
  periodic background work, started with the service and cancelled first at
  shutdown; a failure is logged and the work tried again next round); the process
  with /healthz and /metrics beside it;
* publishing.py: publishers that stamp the event id header and translate Kafka's
  failures;
* fates.py: the fate of a failure: a ``PermanentError`` is logged and the message
  acked; anything else (a ``TransientError``, or a bug of ours) backs off,
  honouring the error's ``retry_after``, and is tried again. Retries are counted
  with one label set: ``reason`` = the exception's class name for a transient
  failure, ``unexpected`` for a bug;
* lifespan.py: topics, PostgreSQL pool and migrations, then the stage service built
  by the consumer's own ``start`` (what it pushes on ``Resources.exit`` is closed at
  shutdown), the lag monitor and the periodic work;
* delivery.py: the two delivery modes, each its own type:

  - :class:`SerialConsumer` (ingest): the subscriber awaits a message's (or batch's)
    work with :meth:`~SerialConsumer.run`; offsets are committed only after it
    returned (``NACK_ON_ERROR`` seeks back on an error, so the same records come
    again);
  - :class:`ConcurrentConsumer` (the reporter): each subscriber hands its records to
    a :class:`~service.concurrent.ConcurrentRunner` with
    :meth:`~ConcurrentConsumer.submit` instead of awaiting the work: up to N records
    are worked on at once, one key (the sales date) at a time, a failure is retried
    in place with the same fate, and offsets are committed (``AckPolicy.MANUAL``)
    only up to the end of each partition's run of finished records. Rebalances and
    shutdown let the work in flight finish briefly and commit it (see concurrent.py).

A new consumer is its stage service, a ``start`` that builds it, and a subscriber::

    app = SerialConsumer(settings, name="sales-x", stage="x", group=GROUP_X, topics=(TOPIC_A,),
                         stale_after=300.0, start=start)

    @app.subscriber(TOPIC_A, title="a", description="...")
    async def on_a(msg: KafkaMessage) -> None:
        if (ev := app.decode(msg, EventA)) is not None:
            await app.run(msg, app.service.handle(ev))

    return app.asgi()
"""

from __future__ import annotations

from .app import ConsumerApp
from .delivery import ConcurrentConsumer, SerialConsumer
from .membership import dependency_of, group_instance_id, instance_name
from .publishing import Event, EventPublisher
from .resources import Resources

__all__ = [
    "ConcurrentConsumer",
    "ConsumerApp",
    "Event",
    "EventPublisher",
    "Resources",
    "SerialConsumer",
    "dependency_of",
    "group_instance_id",
    "instance_name",
]

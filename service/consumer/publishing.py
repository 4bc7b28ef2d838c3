"""A consumer's publishers: keyed, with the event id header, Kafka failures as BusUnavailable."""

from __future__ import annotations

from typing import Any, Protocol

from ..bus import translate_errors
from ..names import HEADER_EVENT_ID

__all__ = ["Event", "EventPublisher"]


class Event(Protocol):
    """What a consumer publishes: a payload model with a deterministic ``event_id``."""

    @property
    def event_id(self) -> str: ...


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

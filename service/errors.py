"""The service's exceptions.

    SalesAnalyzerError
    ├── ConfigError            settings that must not start a process
    │   └── KafkaRefused           Kafka refused this process: TLS, credentials or ACLs
    ├── TransientError         worth retrying later: the message is not acked
    │   ├── StorageUnavailable     PostgreSQL unreachable or failing (from asyncpg)
    │   ├── CacheUnavailable       Redis unreachable (from redis-py)
    │   ├── BusUnavailable         Kafka unreachable or refusing a publish (the record was not sent)
    │   ├── BusUnconfirmed         a record was handed to Kafka but not confirmed in time: fate unknown
    │   ├── LLMUnavailable         LLM server down, rate limited, timed out, bad reply
    │   └── DayChanged             a day changed under a correction (another consumer): redo it
    └── PermanentError         retrying cannot help: record, reject, ack
        ├── LLMRejected            the LLM server refused the request itself (4xx)
        └── UnknownDay             an event names a sales day that is not stored

Libraries' own exceptions are translated at the module that talks to them and
chained with ``raise ... from exc``; nothing else imports asyncpg's, redis's,
aiokafka's or openai's exception types.
"""

from __future__ import annotations

__all__ = [
    "BusUnavailable",
    "BusUnconfirmed",
    "CacheUnavailable",
    "ConfigError",
    "DayChanged",
    "KafkaRefused",
    "LLMRejected",
    "LLMUnavailable",
    "PermanentError",
    "SalesAnalyzerError",
    "StorageUnavailable",
    "TransientError",
    "UnknownDay",
]


class SalesAnalyzerError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SalesAnalyzerError):
    """A setting is missing or unsafe."""


class KafkaRefused(ConfigError):
    """Kafka refused this process (TLS, SASL credentials or ACLs): retrying cannot help.
    The message is one line: what failed, which broker, which principal."""


class TransientError(SalesAnalyzerError):
    """Retrying later may succeed; the message stays unacknowledged."""

    # Seconds the failing side asked us to wait (an LLM's Retry-After); None: our own backoff.
    retry_after: float | None = None


class StorageUnavailable(TransientError):
    """PostgreSQL could not be reached or failed the statement for a transient reason."""


class CacheUnavailable(TransientError):
    """Redis could not be reached."""


class BusUnavailable(TransientError):
    """Kafka could not be reached or refused a publish.

    Raised by the gateway's publisher only when the record certainly never reached
    a broker; ``reason`` says which refusal it was (metrics), ``retry_after`` when to
    try again.
    """

    def __init__(
        self, message: str, *, reason: str = "unreachable", retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


class BusUnconfirmed(TransientError):
    """A record was handed to Kafka's producer but not confirmed in time: it may still be stored."""


class LLMUnavailable(TransientError):
    """The LLM server is down, rate limited, timed out or answered nonsense."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DayChanged(TransientError):
    """The day a correction read was replaced by someone else before the swap; redo the batch."""


class PermanentError(SalesAnalyzerError):
    """Retrying cannot help."""


class LLMRejected(PermanentError):
    """The LLM server refused the request (bad key, unknown model, bad request)."""


class UnknownDay(PermanentError):
    """An event names a sales day that is not (or no longer) stored."""

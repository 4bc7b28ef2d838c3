"""Who a consumer is in its group, and which dependency a failure says is away.

Static group membership (KIP-345): a consumer restarted after a kill -9 takes its
partitions back at once instead of waiting out its old member's session. A transient
failure's dependency makes its retries one outage in the logs (service/logs.py), tried
again every RETRY_PROBE_SECONDS instead of after a backoff of up to
RETRY_BACKOFF_MAX_SECONDS, so the work resumes within a second of the dependency's return.
"""

from __future__ import annotations

import socket

from ..errors import (
    BusUnavailable,
    BusUnconfirmed,
    CacheUnavailable,
    StorageUnavailable,
    TransientError,
)
from ..settings import Settings

__all__ = ["dependency_of", "group_instance_id", "instance_name"]

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
    """The consumer's static group membership id, or None when it is off.

    Stable across restarts of the same process (INSTANCE_NAME, default the host's name),
    distinct between the processes of a group and between one process's subscribers.
    """
    if not settings.kafka_static_membership:
        return None
    return f"{instance_name(settings)}:{stage}:{topic}"

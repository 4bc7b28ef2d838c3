"""The admin step of a secured Kafka cluster: the topics, then each process's ACLs.

Run as the cluster's admin (a super user), once per cluster; both steps are
idempotent::

    KAFKA_SASL_USERNAME=admin ... python -m service.kafka_admin

The processes never create topics there (KAFKA_CREATE_TOPICS=false) and may do only
what :data:`GRANTS` allows, derived from the names in service/names.py. Reading or
writing a topic lets a principal describe it too (Kafka's implied Describe): its
metadata, the gateway's breaker probe and the lag monitor need no more.

ACLs are created with Kafka's CreateAcls request (v1) over aiokafka's connection:
aiokafka's admin client has no ACL calls, and the Java tool costs a JVM per principal.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Literal

from aiokafka.conn import create_conn
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Int8, Int16, Int32, Schema, String

from .bus import ensure_topics
from .errors import BusUnavailable, ConfigError
from .kafka_security import client_options, principal
from .names import (
    GROUP_INGEST,
    GROUP_REPORTS,
    TOPIC_CORRECTED,
    TOPIC_RAW,
    TOPIC_REJECTED,
    TOPIC_REPORT_REQUESTS,
    TOPIC_REPORTS,
    TOPIC_STORED,
)
from .settings import Settings

__all__ = ["GRANTS", "Grant", "create_acls", "main"]

Operation = Literal["read", "write"]


@dataclass(frozen=True, slots=True)
class Grant:
    """One ACL: ``operation`` on the topic or consumer group ``name``."""

    kind: Literal["topic", "group"]
    name: str
    operation: Operation


def _topics(operation: Operation, *names: str) -> tuple[Grant, ...]:
    return tuple(Grant("topic", n, operation) for n in names)


# What each Kafka user may do. A process that needs more fails at start-up (the access
# check) or at its first publish: widen it here, never with a wildcard.
GRANTS: dict[str, tuple[Grant, ...]] = {
    # uploads, and report regeneration requests from the read API
    "gateway": _topics("write", TOPIC_RAW, TOPIC_REPORT_REQUESTS),
    "ingest": (
        *_topics("read", TOPIC_RAW),
        Grant("group", GROUP_INGEST, "read"),
        *_topics("write", TOPIC_STORED, TOPIC_REJECTED, TOPIC_CORRECTED),
    ),
    "reporter": (
        *_topics("read", TOPIC_STORED, TOPIC_REPORT_REQUESTS, TOPIC_CORRECTED),
        Grant("group", GROUP_REPORTS, "read"),
        # reports, and new requests after a correction
        *_topics("write", TOPIC_REPORTS, TOPIC_REPORT_REQUESTS),
    ),
    # `sales-analyzer produce` and `reports tail` (no consumer group)
    "cli": (*_topics("write", TOPIC_RAW), *_topics("read", TOPIC_REPORTS)),
}

# Kafka's codes (org.apache.kafka.common.acl / resource)
_RESOURCE = {"topic": 2, "group": 3}
_OPERATION = {"read": 3, "write": 4}
_LITERAL = 3
_ALLOW = 3


class _CreateAclsResponse_v1(Response):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 30
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", Array(("error_code", Int16), ("error_message", String("utf-8")))),
    )


class _CreateAclsRequest_v1(RequestStruct):  # type: ignore[misc]
    API_KEY = 30
    API_VERSION = 1
    RESPONSE_TYPE = _CreateAclsResponse_v1
    SCHEMA = Schema(
        (
            "creations",
            Array(
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
                ("pattern_type", Int8),
                ("principal", String("utf-8")),
                ("host", String("utf-8")),
                ("operation", Int8),
                ("permission_type", Int8),
            ),
        ),
    )


class _CreateAcls(Request[_CreateAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 30

    def __init__(self, creations: list[tuple[int, str, int, str, str, int, int]]) -> None:
        self._creations = creations

    def build(self, request_struct_class: type[_CreateAclsRequest_v1]) -> _CreateAclsRequest_v1:
        return request_struct_class(self._creations)


def _creations(
    grants: dict[str, tuple[Grant, ...]],
) -> list[tuple[int, str, int, str, str, int, int]]:
    return [
        (_RESOURCE[g.kind], g.name, _LITERAL, f"User:{user}", "*", _OPERATION[g.operation], _ALLOW)
        for user, granted in grants.items()
        for g in granted
    ]


async def create_acls(
    settings: Settings, grants: dict[str, tuple[Grant, ...]] = GRANTS, *, timeout: float = 30.0
) -> int:
    """Create the ACLs (an existing one is left as it is); returns how many were asked for.
    Raises ConfigError with Kafka's message when one is refused."""
    broker = settings.kafka_bootstrap_servers.split(",")[0].strip()
    host, _, port = broker.rpartition(":")
    creations = _creations(grants)
    conn = await asyncio.wait_for(
        create_conn(host, int(port), client_id="sales-analyzer-admin", **client_options(settings)),
        timeout,
    )
    try:
        answer = await asyncio.wait_for(conn.send(_CreateAcls(creations)), timeout)
    finally:
        conn.close()
    for (_, name, _, user, _, _, _), (code, message) in zip(creations, answer.results, strict=True):
        if code != 0:
            raise ConfigError(
                f"Kafka broker {broker} refused an ACL for {user} on {name} as "
                f"{principal(settings)}: error {code} {message or ''}".rstrip()
            )
    return len(creations)


async def _admin_step(settings: Settings) -> None:
    created = await ensure_topics(settings.model_copy(update={"kafka_create_topics": True}))
    print(f"topics created: {', '.join(created) or 'none (all exist)'}")
    count = await create_acls(settings)
    print(f"ACLs in place: {count} for {', '.join(GRANTS)}")


def main() -> int:
    try:
        asyncio.run(_admin_step(Settings()))
    except (ConfigError, BusUnavailable) as exc:
        print(f"kafka admin step failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The start-up check of a process's Kafka access: connect once, as the process will,
and stop with one clear line when Kafka refuses it, instead of a retry loop.

What it finds (each a :class:`~service.errors.KafkaRefused` naming the broker and the
principal): a broker certificate the CA does not vouch for (or a host name it does
not carry), a TLS handshake the broker refuses (e.g. a client certificate from another
CA), a SASL user or password the broker does not accept, a mechanism it does not
offer, and missing ACLs: a topic the principal may not even describe (no Read or Write
on it) or a consumer group it may not use. Read against Write is not told apart
here (Kafka answers that only to the request itself): a principal that may read a
topic it must write is refused at its first publish.

When no broker answers at all, that is not a refusal: BusUnavailable, which the
processes wait out as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

from aiokafka.conn import create_conn
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.protocol.metadata import MetadataRequest

from .errors import BusUnavailable, KafkaRefused
from .kafka_security import client_options, principal, summary
from .settings import Settings

__all__ = ["EXIT_REFUSED", "check_access", "refusal", "require_access"]

log = logging.getLogger("sales_analyzer.kafka")

# The exit status of a process Kafka refused (sysexits' EX_CONFIG): a supervisor that
# restarts a crashed process should not restart this one until its settings change.
EXIT_REFUSED = 78

_TOPIC_DENIED = TopicAuthorizationFailedError.errno
_GROUP_DENIED = GroupAuthorizationFailedError.errno


def refusal(exc: BaseException, *, broker: str, settings: Settings) -> str | None:
    """The one line for a failure to connect that retrying cannot mend; None when the
    broker was just not there (refused TCP connection, timeout, closed socket)."""
    who = principal(settings)
    ca = settings.kafka_ssl_cafile or "the system's CAs"
    if not isinstance(exc, ssl.SSLError) and isinstance(exc.__cause__, ssl.SSLError):
        # the broker's alert (e.g. our client certificate refused) arrives as a closed
        # connection at the first request, caused by the TLS error
        exc = exc.__cause__
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"Kafka broker {broker} failed TLS verification: {exc.verify_message} "
            f"(checked against KAFKA_SSL_CAFILE={ca}); not connecting as {who}"
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        hint = (
            "the broker wants a client certificate its CA signed"
            if "ALERT" in reason and "CERTIFICATE" in reason
            else "is the listener TLS?"
        )
        return (
            f"Kafka broker {broker} refused the TLS handshake of {who}: {reason}; {hint} "
            f"(KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}, "
            f"KAFKA_SSL_CERTFILE={settings.kafka_ssl_certfile or 'none'})"
        )
    if isinstance(exc, SaslAuthenticationFailed):
        return (
            f"Kafka broker {broker} refused {who}: authentication failed "
            "(check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)"
        )
    if isinstance(exc, (UnsupportedSaslMechanismError, IllegalSaslStateError)):
        return f"Kafka broker {broker} refused {who}: {exc}"
    return None


async def check_access(
    settings: Settings,
    *,
    topics: Iterable[str],
    groups: Iterable[str] = (),
    timeout: float = 10.0,
) -> None:
    """Connect to the first bootstrap broker that answers, as this process, and ask for
    the metadata of ``topics`` and the coordinator of each of ``groups``.

    Raises KafkaRefused (one line) when Kafka refuses the process, BusUnavailable when
    no broker answered.
    """
    options = client_options(settings)
    brokers = [b.strip() for b in settings.kafka_bootstrap_servers.split(",") if b.strip()]
    unreachable: list[str] = []
    for broker in brokers:
        host, _, port = broker.rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(
                    host.strip("[]"),
                    int(port),
                    client_id="sales-analyzer-access-check",
                    request_timeout_ms=int(timeout * 1000),
                    **options,
                ),
                timeout,
            )
        except (TimeoutError, KafkaError, OSError) as exc:
            line = refusal(exc, broker=broker, settings=settings)
            if line is not None:
                raise KafkaRefused(line) from exc
            unreachable.append(f"{broker}: {type(exc).__name__}")
            continue
        try:
            await asyncio.wait_for(_authorized(conn, broker, settings, topics, groups), timeout)
        except (TimeoutError, KafkaError, OSError) as exc:
            unreachable.append(f"{broker}: {type(exc).__name__}")
            continue
        finally:
            conn.close()
        return
    raise BusUnavailable(f"no Kafka broker answered the access check ({'; '.join(unreachable)})")


async def _authorized(
    conn: Any, broker: str, settings: Settings, topics: Iterable[str], groups: Iterable[str]
) -> None:
    who = principal(settings)
    wanted = sorted(set(topics))
    meta = await conn.send(MetadataRequest(wanted, allow_auto_topic_creation=False))
    denied = sorted(t[1] for t in meta.topics if t[0] == _TOPIC_DENIED)
    if denied:
        raise KafkaRefused(
            f"Kafka broker {broker} denies {who} access to topic(s) {', '.join(denied)} "
            "(TopicAuthorizationFailed: no ACL lets it describe them)"
        )
    for group in sorted(set(groups)):
        found = await conn.send(FindCoordinatorRequest(group, 0))
        if found.error_code == _GROUP_DENIED:
            raise KafkaRefused(
                f"Kafka broker {broker} denies {who} the consumer group {group} "
                "(GroupAuthorizationFailed: no ACL lets it use the group)"
            )


async def require_access(
    settings: Settings,
    *,
    process: str,
    topics: Iterable[str],
    groups: Iterable[str] = (),
    wait: bool = True,
    timeout: float = 90.0,
    check_timeout: float = 10.0,
) -> None:
    """A process's start-up check: KafkaRefused logs its one line and ends the process
    (EXIT_REFUSED) before anything else starts, so nothing retries in a loop.

    ``wait``: while no broker answers, check again until ``timeout`` (the consumers, who
    cannot work without Kafka); else go on unchecked (the gateway, which serves reads
    meanwhile and connects in the background).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.5
    while True:
        try:
            await check_access(settings, topics=topics, groups=groups, timeout=check_timeout)
        except KafkaRefused as exc:
            _stop(process, str(exc))
        except BusUnavailable as exc:
            if not wait or loop.time() > deadline:
                log.warning("kafka access not checked: %s", exc)
                return
            log.warning("waiting for kafka: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        log.info("kafka access checked", extra={"kafka": summary(settings)})
        return


def _stop(process: str, line: str) -> NoReturn:
    """Log the one line and end the process at once: raising would add the server's
    traceback and "startup failed" lines around it."""
    log.critical("%s cannot start: %s", process, line)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_REFUSED)

"""Kafka client security from the settings: the options aiokafka's clients take and the
security object FastStream's broker takes, made in one place so every client (the
consumers' brokers, the gateway's producer and probe, the lag monitor, topic
provisioning, the CLI) connects the same way.

PLAINTEXT, the default, adds nothing: every client is then exactly what it was.
The only I/O is reading the CA, certificate and key files into an SSL context.
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from .errors import ConfigError
from .settings import Settings

__all__ = ["broker_security", "client_options", "principal", "ssl_context", "summary"]

_SASL_CLASSES: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


def _uses_tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def _uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol.startswith("SASL_")


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context (verifying the brokers' certificates and host names against
    KAFKA_SSL_CAFILE, or the system's CAs), with the client certificate when one is
    set; None without TLS. A file that cannot be read is a ConfigError naming it."""
    if not _uses_tls(settings):
        return None
    cafile = settings.kafka_ssl_cafile or None
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"KAFKA_SSL_CAFILE={cafile}: not a readable PEM CA file ({exc})"
        ) from None
    if settings.kafka_ssl_certfile:
        try:
            context.load_cert_chain(
                settings.kafka_ssl_certfile,
                settings.kafka_ssl_keyfile or None,
                password=settings.kafka_ssl_key_password.get_secret_value() or None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"KAFKA_SSL_CERTFILE={settings.kafka_ssl_certfile} / KAFKA_SSL_KEYFILE="
                f"{settings.kafka_ssl_keyfile or '(in the certificate file)'}: cannot load the "
                f"client certificate ({type(exc).__name__}: {exc.strerror or exc.args[-1]})"
            ) from None
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient and
    AIOKafkaClient; empty for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if _uses_tls(settings):
        options["ssl_context"] = ssl_context(settings)
    if _uses_sasl(settings):
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
        }
    return options


def broker_security(settings: Settings) -> BaseSecurity | None:
    """FastStream's security object for KafkaBroker(security=...); None for PLAINTEXT.
    FastStream turns it into the same client options as :func:`client_options`."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings)
    if not _uses_sasl(settings):
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return _SASL_CLASSES[settings.kafka_sasl_mechanism](
        settings.kafka_sasl_username,
        settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=context is not None,
    )


def principal(settings: Settings) -> str:
    """Who this process is to Kafka, for error messages (never a secret)."""
    if _uses_sasl(settings):
        return f"user {settings.kafka_sasl_username!r} ({settings.kafka_sasl_mechanism})"
    if _uses_tls(settings) and settings.kafka_ssl_certfile:
        return f"the client certificate {settings.kafka_ssl_certfile}"
    return "anonymous"


def summary(settings: Settings) -> str:
    """One line for the logs: protocol, principal, CA (never a secret)."""
    parts: list[str] = [settings.kafka_security_protocol]
    if settings.kafka_security_protocol != "PLAINTEXT":
        parts.append(f"as {principal(settings)}")
    if _uses_tls(settings):
        parts.append(f"CA {settings.kafka_ssl_cafile or '(system)'}")
    return ", ".join(parts)

"""A secured single-broker Kafka of its own, for tests/e2e/test_secure_kafka.py.

`SALES_SECURE=1 deploy/native/services up kafka` in .state/test-secure on free ports:
SASL_SSL only (SCRAM-SHA-512 and a client certificate from its CA), StandardAuthorizer,
the topics and each process's ACLs made by the admin step.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.kafka_security import client_options
from service.settings import Settings

from .stack import REPO

SECURE_STATE = REPO / ".state" / "test-secure"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _native(ports: dict[str, int], *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SALES_STATE_DIR": str(SECURE_STATE),
        "SALES_KAFKA_BROKERS": "1",
        "SALES_SECURE": "1",
        **{k: str(v) for k, v in ports.items()},
    }
    return subprocess.run(
        [str(REPO / "deploy/native" / args[0]), *args[1:]], env=env, text=True, **kwargs
    )


@dataclass(frozen=True)
class SecureKafka:
    ports: dict[str, int]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['SALES_KAFKA_PORT']}"

    @property
    def secrets(self) -> Path:
        return SECURE_STATE / "secure"

    def password(self, user: str) -> str:
        return (self.secrets / "passwords" / user).read_text().strip()

    def env(self, user: str) -> dict[str, str]:
        """User's Kafka settings as `deploy/native/env USER` prints them."""
        out = _native(self.ports, "env", user, capture_output=True, check=True).stdout
        pairs = (line.removeprefix("export ").split("=", 1) for line in out.splitlines())
        return {k: v.strip("'\"") for k, v in pairs if k.startswith("KAFKA_")}

    def settings(self, user: str, **changes: Any) -> Settings:
        """In-process settings of ``user`` (``changes``: field names, e.g. another CA)."""
        values: dict[str, Any] = dict(
            kafka_bootstrap_servers=self.bootstrap,
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=user,
            kafka_sasl_password=self.password(user),
            kafka_ssl_cafile=str(self.secrets / "ca.pem"),
            kafka_ssl_certfile=str(self.secrets / f"{user}.pem"),
            kafka_ssl_keyfile=str(self.secrets / f"{user}.key"),
            kafka_create_topics=False,
        )
        return Settings(_env_file=None, **(values | changes))

    def options(self, user: str, **changes: Any) -> dict[str, Any]:
        """aiokafka client options of ``user``, bootstrap servers included."""
        settings = self.settings(user, **changes)
        return {"bootstrap_servers": self.bootstrap, **client_options(settings)}

    def purge(self) -> None:
        _native(self.ports, "services", "purge", capture_output=True, timeout=180)


def start_secure_kafka() -> SecureKafka:
    """A fresh secured broker on free ports (data of an interrupted run deleted first)."""
    rng = random.Random()
    while True:
        port, controller = rng.randrange(20000, 29990), rng.randrange(20000, 29990)
        if port != controller and _free(port) and _free(controller):
            break
    kafka = SecureKafka({"SALES_KAFKA_PORT": port, "SALES_KAFKA_CONTROLLER_PORT": controller})
    kafka.purge()
    done = _native(kafka.ports, "services", "up", "kafka", capture_output=True, timeout=600)
    if done.returncode != 0:
        kafka.purge()
        raise RuntimeError(f"the secured Kafka did not start:\n{done.stdout}{done.stderr}")
    return kafka

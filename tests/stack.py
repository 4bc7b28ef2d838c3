"""Where the tests' Kafka, PostgreSQL and Redis come from.

1. SALES_TEST_USE_ENV=1: the KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL / REDIS_URL in
   the environment (a stack someone else runs).
2. A Docker engine answers: testcontainers (Kafka, PostgreSQL 17, Redis 7).
3. Otherwise: the native stack of deploy/native (installed and started if missing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Stack:
    kind: str  # "env", "docker", "native"
    kafka: str
    database_url: str
    redis_url: str

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.kafka, "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url}

    def restart_postgres(self) -> None:
        if self.kind != "native":
            raise RuntimeError("restarting PostgreSQL is only scripted for the native stack")
        subprocess.run([str(REPO / "deploy/native/services"), "restart", "postgres"], check=True,
                       capture_output=True, timeout=120)


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def provide_stack() -> Iterator[Stack]:
    if os.environ.get("SALES_TEST_USE_ENV") == "1":
        yield Stack("env", os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"],
                    os.environ["REDIS_URL"])
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer
        from testcontainers.redis import RedisContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka, \
                PostgresContainer("postgres:17", driver=None) as pg, RedisContainer("redis:7") as redis:
            yield Stack("docker", kafka.get_bootstrap_server(), pg.get_connection_url(),
                        f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0")
        return
    subprocess.run([str(REPO / "deploy/native/services"), "up"], check=True, timeout=900)
    out = subprocess.run([str(REPO / "deploy/native/env")], check=True, capture_output=True, text=True).stdout
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line)
    env = {k: v.strip("'\"") for k, v in env.items()}
    yield Stack("native", env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], env["REDIS_URL"])

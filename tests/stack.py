"""Where the tests' Kafka, PostgreSQL and Redis come from.

1. SALES_TEST_USE_ENV=1: the KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL / REDIS_URL in
   the environment (a stack someone else runs).
2. A Docker engine answers: testcontainers (Kafka, PostgreSQL 17, Redis 7).
3. Otherwise: a native stack of deploy/native (installed and started if missing)
   of its own: state in .state/test, ports 19092/15432/16379. The tests truncate
   their database and start their own consumers in the service's groups, so they
   must never share a stack with a service someone runs (deploy/native/up).
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

# The test stack: apart from the one `deploy/native/up` runs (9092/5432/6379, .state).
TEST_STACK_ENV = {
    "SALES_STATE_DIR": str(REPO / ".state" / "test"),
    "SALES_KAFKA_PORT": "19092",
    "SALES_KAFKA_CONTROLLER_PORT": "19093",
    "SALES_PG_PORT": "15432",
    "SALES_REDIS_PORT": "16379",
}


def _native(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / "deploy/native" / args[0]), *args[1:]],  # type: ignore[call-overload]
                          env={**os.environ, **TEST_STACK_ENV}, check=True, text=True, **kwargs)


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
        _native("services", "restart", "postgres", capture_output=True, timeout=120)


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
    _native("services", "up", timeout=900)
    out = _native("env", capture_output=True).stdout
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line)
    env = {k: v.strip("'\"") for k, v in env.items()}
    yield Stack("native", env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], env["REDIS_URL"])

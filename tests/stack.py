"""Where the tests' Kafka, PostgreSQL and Redis come from.

1. SALES_TEST_USE_ENV=1: the KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL / REDIS_URL in
   the environment (a stack someone else runs).
2. A Docker engine answers: testcontainers (Kafka, PostgreSQL 17, Redis 7).
3. Otherwise: a native stack of deploy/native (installed and started if missing)
   of its own: state in .state/test, ports 19092/15432/16379. The tests truncate
   their database and start their own consumers in the service's groups, so they
   must never share a stack with a service someone runs (deploy/native/up).
   When one of those ports is held by something else (another checkout's test
   stack, say), free ports in 20000-29999 are picked instead; the ports in use
   are kept in .state/test/ports.json so the next run finds its stack again.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The test stack: apart from the one `deploy/native/up` runs (9092/5432/6379, .state).
TEST_STATE = REPO / ".state" / "test"
DEFAULT_PORTS = {
    "SALES_KAFKA_PORT": 19092,
    "SALES_KAFKA_CONTROLLER_PORT": 19093,
    "SALES_PG_PORT": 15432,
    "SALES_REDIS_PORT": 16379,
}
_PORTS_FILE = TEST_STATE / "ports.json"
# what deploy/native/services says when a port is held by someone else, and when our
# own stack runs on other ports than asked
_PORT_TAKEN = "already in use by another process"
_OTHER_PORTS = "already running from"


def _native(
    ports: dict[str, int], *args: str, state: Path = TEST_STATE, brokers: int = 1, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SALES_STATE_DIR": str(state),
        "SALES_KAFKA_BROKERS": str(brokers),
        **{k: str(v) for k, v in ports.items()},
    }
    done: subprocess.CompletedProcess[str] = subprocess.run(
        [str(REPO / "deploy/native" / args[0]), *args[1:]],  # type: ignore[call-overload]
        env=env,
        text=True,
        **kwargs,
    )
    return done


def _saved_ports() -> dict[str, int] | None:
    try:
        saved = json.loads(_PORTS_FILE.read_text())
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) and set(saved) == set(DEFAULT_PORTS) else None


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _fresh_ports() -> dict[str, int]:
    """Free ports below the kernel's ephemeral range, so no client socket takes them later."""
    rng = random.Random()
    picked: list[int] = []
    while len(picked) < len(DEFAULT_PORTS):
        port = rng.randrange(20000, 30000)
        if port not in picked and _free(port):
            picked.append(port)
    return dict(zip(DEFAULT_PORTS, picked, strict=True))


def _start_native() -> dict[str, int]:
    """Start (or find running) the tests' native stack; returns the ports it listens on."""
    candidates = [c for c in (_saved_ports(), DEFAULT_PORTS) if c is not None]
    for ports in [*candidates, _fresh_ports(), _fresh_ports()]:
        done = _native(ports, "services", "up", capture_output=True, timeout=900)
        if done.returncode != 0 and _OTHER_PORTS in done.stderr:
            # ports.json was lost while our stack ran elsewhere: restart it on these ports
            _native(ports, "services", "down", capture_output=True, timeout=120)
            done = _native(ports, "services", "up", capture_output=True, timeout=900)
        if done.returncode == 0:
            _PORTS_FILE.parent.mkdir(parents=True, exist_ok=True)
            _PORTS_FILE.write_text(json.dumps(ports))
            return ports
        if _PORT_TAKEN not in done.stderr:
            raise RuntimeError(f"deploy/native/services up failed:\n{done.stdout}{done.stderr}")
        # Someone else holds a port: stop what this attempt started, try other ports.
        _native(ports, "services", "down", capture_output=True, timeout=120)
    raise RuntimeError("no free ports for the tests' native stack")


def _ports_in_use() -> dict[str, int]:
    return _saved_ports() or DEFAULT_PORTS


def stop_native(*, purge: bool = False) -> None:
    """Stop the tests' native stack; with purge, delete its data too (what .ci/run does at the end).
    A three-broker cluster or a secured broker an interrupted run left behind is always deleted."""
    _native(_ports_in_use(), "services", "purge" if purge else "down", check=True, timeout=120)
    if CLUSTER_STATE.exists():
        _native({}, "services", "purge", state=CLUSTER_STATE, brokers=3, check=True, timeout=180)
    from .secure_stack import SECURE_STATE  # the secured broker an interrupted run left

    if SECURE_STATE.exists():
        _native({}, "services", "purge", state=SECURE_STATE, check=True, timeout=180)


@dataclass(frozen=True)
class Stack:
    kind: str  # "env", "docker", "native"
    kafka: str
    database_url: str
    redis_url: str

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
        }

    def _service(self, action: str, name: str, *, what: str) -> None:
        """``deploy/native/services ACTION NAME`` on this stack (native only)."""
        if self.kind != "native":
            raise RuntimeError(f"{what} is only scripted for the native stack")
        _native(
            _ports_in_use(), "services", action, name, capture_output=True, check=True, timeout=120
        )

    def restart_postgres(self) -> None:
        self._service("restart", "postgres", what="restarting PostgreSQL")

    def stop_postgres(self) -> None:
        self._service("down", "postgres", what="stopping PostgreSQL")

    def start_postgres(self) -> None:
        """Start PostgreSQL again (after stop_postgres); returns once it answers."""
        self._service("up", "postgres", what="starting PostgreSQL")

    def restart_redis(self) -> None:
        self._service("restart", "redis", what="restarting Redis")

    def kill_kafka(self) -> None:
        """kill -9 of the (single) broker."""
        if self.kind != "native":
            raise RuntimeError("killing Kafka is only scripted for the native stack")
        os.kill(int((TEST_STATE / "run" / "kafka.pid").read_text().split()[0]), signal.SIGKILL)

    def start_kafka(self) -> None:
        """Start the broker again (after kill_kafka); returns once it listens."""
        _native(
            _ports_in_use(), "services", "up", "kafka", capture_output=True, check=True, timeout=300
        )


# --- a three-broker Kafka cluster of its own (tests/e2e/test_kafka_cluster.py) -------------------
CLUSTER_STATE = REPO / ".state" / "test-cluster"


@dataclass(frozen=True)
class Cluster:
    """Three KRaft brokers (deploy/native/services with SALES_KAFKA_BROKERS=3), loopback only."""

    ports: dict[str, int]

    @property
    def bootstrap(self) -> str:
        base = self.ports["SALES_KAFKA_PORT"]
        return ",".join(f"127.0.0.1:{base + 2 * n}" for n in range(3))

    def kill(self, node: int) -> None:
        """kill -9 of broker `node` (1-based)."""
        os.kill(
            int((CLUSTER_STATE / "run" / f"kafka-{node}.pid").read_text().split()[0]),
            signal.SIGKILL,
        )

    def revive(self) -> None:
        """Start every broker that is not running (after kill); returns once they listen."""
        _native(
            self.ports,
            "services",
            "up",
            "kafka",
            state=CLUSTER_STATE,
            brokers=3,
            capture_output=True,
            check=True,
            timeout=600,
        )

    def purge(self) -> None:
        _native(
            self.ports,
            "services",
            "purge",
            state=CLUSTER_STATE,
            brokers=3,
            capture_output=True,
            timeout=180,
        )


def start_cluster() -> Cluster:
    """Start a fresh three-broker cluster on free ports (node N: base+2(N-1), controller likewise)."""
    rng = random.Random()
    while True:
        base, controller = rng.randrange(20000, 29990), rng.randrange(20000, 29990)
        wanted = {base + d for d in (0, 2, 4)} | {controller + d for d in (0, 2, 4)}
        if len(wanted) == 6 and all(_free(p) for p in wanted):
            break
    ports = {"SALES_KAFKA_PORT": base, "SALES_KAFKA_CONTROLLER_PORT": controller}
    cluster = Cluster(ports)
    cluster.purge()  # leftovers of an interrupted run
    done = _native(
        ports,
        "services",
        "up",
        "kafka",
        state=CLUSTER_STATE,
        brokers=3,
        capture_output=True,
        timeout=600,
    )
    if done.returncode != 0:
        cluster.purge()
        raise RuntimeError(f"the three-broker cluster did not start:\n{done.stdout}{done.stderr}")
    return cluster


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
        yield Stack(
            "env",
            os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            os.environ["DATABASE_URL"],
            os.environ["REDIS_URL"],
        )
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer
        from testcontainers.redis import RedisContainer

        with (
            KafkaContainer("apache/kafka:4.4.0").with_kraft() as kafka,
            PostgresContainer("postgres:17", driver=None) as pg,
            RedisContainer("redis:7") as redis,
        ):
            yield Stack(
                "docker",
                kafka.get_bootstrap_server(),
                pg.get_connection_url(),
                f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
            )
        return
    ports = _start_native()
    out = _native(ports, "env", capture_output=True, check=True).stdout
    env = dict(
        line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line
    )
    env = {k: v.strip("'\"") for k, v in env.items()}
    yield Stack("native", env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], env["REDIS_URL"])


if __name__ == "__main__":
    if sys.argv[1:] not in (["down"], ["purge"]):
        sys.exit("usage: python -m tests.stack {down|purge}")
    stop_native(purge=sys.argv[1] == "purge")

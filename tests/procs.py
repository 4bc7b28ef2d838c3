"""Run the service's processes as the user would (`sales-analyzer serve …`), for tests."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

from .fake_llm import free_port
from .stack import REPO

# A benchmark's or a before/after comparison's other checkout: whose `service` the processes run.
_SERVICE_REPO = Path(os.environ.get("SALES_SERVICE_REPO") or REPO)
_pipelines = itertools.count(1)


@dataclass
class Pipeline:
    env: dict[str, str]
    log_dir: Path
    gateway_url: str = ""
    repo: Path = (
        _SERVICE_REPO  # whose `service` package runs (SALES_SERVICE_REPO: another checkout)
    )
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, BinaryIO] = field(default_factory=dict)

    @classmethod
    def create(cls, base_env: dict[str, str], log_dir: Path) -> Pipeline:
        port = free_port()
        env = {
            **os.environ,
            **base_env,
            "GATEWAY_PORT": str(port),
            "INGEST_METRICS_PORT": str(free_port()),
            "REPORTER_METRICS_PORT": str(free_port()),
            # each pipeline's consumers are other members of their groups than another
            # pipeline's (static membership ids), and the same ones across its restarts
            "INSTANCE_NAME": f"test-{os.getpid()}-{next(_pipelines)}",
        }
        return cls(env=env, log_dir=log_dir, gateway_url=f"http://127.0.0.1:{port}")

    def health_url(self, name: str) -> str:
        if name == "gateway":
            return f"{self.gateway_url}/healthz"
        port = self.env["INGEST_METRICS_PORT" if name == "ingest" else "REPORTER_METRICS_PORT"]
        return f"http://127.0.0.1:{port}/healthz"

    def metrics_url(self, name: str) -> str:
        return self.health_url(name).replace("/healthz", "/metrics")

    def start(self, name: str, *, timeout: float = 60.0) -> None:
        log = self.logs[name] = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "service.cli.main", "serve", name],
            cwd=self.repo,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                self.stop(name)
                raise RuntimeError(f"{name} exited: see {self.log_dir / (name + '.log')}")
            try:
                if httpx.get(self.health_url(name), timeout=1).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not become healthy in {timeout}s")

    def log_lines(self, name: str) -> list[str]:
        """The lines process ``name`` has written to its log so far (every run of it)."""
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def stop(self, name: str, *, kill: bool = False) -> None:
        proc = self.procs.pop(name, None)
        log = self.logs.pop(name, None)
        if log is not None:
            log.close()
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

"""Shared pieces of the benchmarks: the stack, the processes, a lean HTTP load client."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from service.bus import start_pinned

from ..fake_llm import FakeLLM
from ..kafka_tools import GROUP_TOPICS
from ..procs import Pipeline
from ..stack import Stack

TOKEN = "bench-token-0123456789abcdef"


def start_pipeline(
    stack: Stack,
    llm: FakeLLM | None,
    log_dir: Path,
    *,
    processes: tuple[str, ...] = ("ingest", "reporter", "gateway"),
    **env: str,
) -> Pipeline:
    base = {
        **stack.env(),
        "ACCESS_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_PER_MINUTE": "0",
        "APP_ENV": "test",
        **env,
    }
    if llm is not None:
        base |= {
            "OPENAI_API_KEY": "sk-bench-not-a-key",
            "OPENAI_BASE_URL": llm.url,
            "NAME_OF_API_MODEL": "bench-stub",
        }
    pipe = Pipeline.create(base, log_dir)
    for name in processes:
        pipe.start(name)
    return pipe


async def fresh_base(database_url: str, span_days: int) -> dt.date:
    """A first date far from anything real, with no upload stored or refused around it
    (a clash would turn the measured uploads into quick duplicates)."""
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            base = dt.date(random.randint(3000, 9000), 1, 1)
            lo, hi = base - dt.timedelta(days=400), base + dt.timedelta(days=span_days + 400)
            if not await conn.fetchval(
                "SELECT count(*) FROM uploads WHERE sales_date BETWEEN $1 AND $2", lo, hi
            ):
                return base
    finally:
        await conn.close()


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its children (uvicorn workers)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class EventWatch:
    """Collects events from topics, with Kafka's record timestamps (ms), and notes when
    and from which partition each one reached this consumer."""

    def __init__(self, kafka: str, *topics: str) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=kafka,
            auto_offset_reset="latest",
            group_id=f"bench-{random.random()}",
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
        )
        self.events: list[tuple[str, int, dict[str, Any]]] = []
        self.arrived: list[tuple[float, int]] = []  # (wall-clock time, partition), one per event

    async def start(self) -> None:
        await start_pinned(self._consumer, timeout=60)

    async def until(self, done: Any, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not done(self.events):
            if time.monotonic() > end:
                raise TimeoutError(f"only {len(self.events)} events")
            batch = await self._consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                for r in records:
                    self.events.append((r.topic, r.timestamp, json.loads(r.value)))
                    self.arrived.append((now, r.partition))

    def clear(self) -> None:
        self.events.clear()
        self.arrived.clear()

    async def stop(self) -> None:
        await self._consumer.stop()


async def post_many(
    host: str, port: int, path: str, bodies: list[bytes], *, concurrency: int
) -> tuple[list[int], list[float], float, list[bytes]]:
    """POST every body over `concurrency` keep-alive connections.

    Returns (statuses, latencies, seconds, response bodies).

    Written on raw asyncio streams on purpose: on a 2-core machine a full HTTP client
    would eat the CPU the server under test needs.
    """
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)
    statuses = [0] * len(bodies)
    latencies = [0.0] * len(bodies)
    answers = [b""] * len(bodies)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                body = bodies[i]
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                    f"Content-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
                t0 = time.perf_counter()
                writer.write(head + body)
                await writer.drain()
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                answers[i] = await reader.readexactly(length)
                latencies[i] = time.perf_counter() - t0
                statuses[i] = int(status_line.split()[1])
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses, latencies, time.perf_counter() - started, answers


def _post_many_sync(
    host: str, port: int, path: str, bodies: list[bytes], concurrency: int
) -> tuple[list[int], list[float], float, list[bytes]]:
    return asyncio.run(post_many(host, port, path, bodies, concurrency=concurrency))


def _ready() -> None:
    return None


class LoadClient:
    """post_many in a process of its own.

    The benchmarks watch events with a Kafka consumer whose fetcher keeps decoding
    records in the background. Sharing the HTTP client's event loop, it could slow
    the client as soon as events flow, and the accept rate would then measure the
    client. In its own process the client only competes for CPU like any client.
    (An A/B showed differences within this VM's minute-to-minute noise.)
    """

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        )

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(
            self._pool, _ready
        )  # pay the spawn up front

    async def post_many(
        self, host: str, port: int, path: str, bodies: list[bytes], *, concurrency: int
    ) -> tuple[list[int], list[float], float, list[bytes]]:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, _post_many_sync, host, port, path, bodies, concurrency
        )

    def close(self) -> None:
        self._pool.shutdown()


async def drain(kafka: str, *groups: str, timeout: float = 300.0) -> None:
    """Wait until the service's consumer groups have no backlog (earlier runs' leftovers)."""
    from service.lag import LagMonitor

    end = time.monotonic() + timeout
    for group in groups:
        monitor = LagMonitor(kafka, group=group, topics=GROUP_TOPICS[group])
        try:
            while await monitor.measure() > 0:
                if time.monotonic() > end:
                    raise TimeoutError(f"{group} still has a backlog")
                await asyncio.sleep(1.0)
        finally:
            await monitor.stop()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

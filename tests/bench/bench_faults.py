"""Open-loop fault driver (issue 19): uploads on a schedule while a fault comes and goes.

    .venv/bin/python -m tests.bench.bench_faults [--only consumer,one-broker,...]

20 uploads/s, open loop (each request is sent at its time, never waiting for earlier
answers), for 25 s; the fault at 5 s, restored at 15 s. Scenarios:

* ``consumer``: kill -9 of ingest and the reporter at 5 s, restarted at once: seconds
  until each works again (first sales.stored / sales.reports after the kill), and
  LLM calls beyond one per report (in-flight reports paid twice);
* ``one-broker``: one broker of a three-broker cluster killed: upload p99 during the loss;
* ``two-brokers``: two of three killed (below min.insync.replicas): answer times and codes;
* ``single-kill``: the single broker killed: the first answers' time;
* ``logs``: Kafka killed 15 s, the service idle: log lines each process wrote.

Every upload scenario ends with the check: every 202 and 504 stored exactly once, every
503 never (0 lost, 0 doubled, 0 ghosts). The cluster scenarios start a cluster of their
own (tests/stack.py start_cluster, minutes). Print `uptime` beside the figures: the
machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from ..fake_llm import FakeLLM
from ..helpers import sales_xml
from ..stack import Cluster, Stack, provide_stack, start_cluster
from ._harness import TOKEN, EventWatch, drain, fresh_base, pct, start_pipeline

RATE = 20.0
DURATION = 25.0
FAULT_AT, RESTORE_AT = 5.0, 15.0
SCENARIOS = ("consumer", "single-kill", "logs", "one-broker", "two-brokers")


@dataclass
class Answer:
    day: dt.date
    sent: float  # seconds since the run began
    status: int = 0
    seconds: float = 0.0
    code: str = ""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


async def open_loop(
    gateway: str,
    base: dt.date,
    *,
    fault: Callable[[], None],
    restore: Callable[[], None] | None,
) -> tuple[list[Answer], float]:
    """Send RATE uploads/s for DURATION s; run fault at FAULT_AT and restore at RESTORE_AT
    (in threads: the schedule never waits on them). Returns the answers and the start time."""
    answers = [Answer(base + dt.timedelta(days=i), i / RATE) for i in range(int(RATE * DURATION))]
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=gateway,
        timeout=60,
        limits=limits,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        start = time.monotonic()

        async def one(a: Answer) -> None:
            await asyncio.sleep(max(0.0, start + a.sent - time.monotonic()))
            t0 = time.monotonic()
            try:
                r = await client.post("/v1/uploads", content=sales_xml(a.day, 20))
                a.status = r.status_code
                a.code = r.json().get("code", "") if r.status_code >= 400 else ""
            except httpx.HTTPError as exc:
                a.status, a.code = -1, type(exc).__name__
            a.seconds = time.monotonic() - t0

        async def at(when: float, what: Callable[[], None]) -> None:
            await asyncio.sleep(max(0.0, start + when - time.monotonic()))
            await asyncio.to_thread(what)

        jobs = [one(a) for a in answers] + [at(FAULT_AT, fault)]
        if restore is not None:
            jobs.append(at(RESTORE_AT, restore))
        await asyncio.gather(*jobs)
    return answers, start


async def check_stored(database_url: str, answers: list[Answer], *, timeout: float = 180.0) -> str:
    """Wait until every 202/504 day is stored, then count: lost, doubled, ghosts."""
    kept = [a.day for a in answers if a.status in (202, 504)]
    refused = [a.day for a in answers if a.status == 503]
    conn = await asyncpg.connect(database_url)
    try:
        end = time.monotonic() + timeout
        while True:
            rows = await conn.fetch(
                "SELECT sales_date, count(*) AS n FROM uploads WHERE status = 'stored' "
                "AND sales_date = ANY($1::date[]) GROUP BY sales_date",
                [a.day for a in answers],
            )
            counts = {r["sales_date"]: r["n"] for r in rows}
            lost = [d for d in kept if counts.get(d, 0) == 0]
            if not lost or time.monotonic() > end:
                break
            await asyncio.sleep(1.0)
    finally:
        await conn.close()
    doubled = [d for d in kept if counts.get(d, 0) > 1]
    ghosts = [d for d in refused if counts.get(d, 0) > 0]
    return f"lost {len(lost)}, doubled {len(doubled)}, ghosts {len(ghosts)}"


def summary(answers: list[Answer], lo: float, hi: float) -> str:
    window = [a for a in answers if lo <= a.sent < hi]
    codes: dict[str, int] = {}
    for a in window:
        key = f"{a.status}{'/' + a.code if a.code else ''}"
        codes[key] = codes.get(key, 0) + 1
    secs = [a.seconds for a in window] or [0.0]
    return (
        f"sent {lo:g}-{hi:g} s: {len(window)} uploads, p50 {pct(secs, 0.5):.2f} s, "
        f"p99 {pct(secs, 0.99):.2f} s, max {max(secs):.2f} s, over 1 s: "
        f"{sum(s > 1 for s in secs)}; {codes}"
    )


def report(name: str, answers: list[Answer]) -> None:
    print(f"  {summary(answers, 0, FAULT_AT)}")
    print(f"  {summary(answers, FAULT_AT, RESTORE_AT)}")
    print(f"  {summary(answers, FAULT_AT, FAULT_AT + 1)}  (the first answers)")
    print(f"  {summary(answers, RESTORE_AT, DURATION)}")


# --- scenarios on the single-broker test stack ---------------------------------------------


async def consumer_restart(stack: Stack, logs: Path) -> None:
    llm = FakeLLM(latency=0.5).start()  # reports in flight when the reporter dies
    pipe = start_pipeline(stack, llm, logs / "consumer", LOG_LEVEL="INFO")
    try:
        await drain(stack.kafka, "sales-ingest", "sales-reports")
        base = await fresh_base(stack.database_url, 600)
        watch = EventWatch(stack.kafka, "sales.stored", "sales.reports")
        await watch.start()
        killed: dict[str, float] = {}
        restarted: dict[str, float] = {}

        def restart(name: str) -> None:
            restarted[name] = time.time()  # its process starts now
            pipe.start(name)

        def fault() -> None:
            for name in ("ingest", "reporter"):
                killed[name] = time.time()
                pipe.stop(name, kill=True)
            # each restarted by its own supervisor (systemd, compose): at once, side by side
            both = [threading.Thread(target=restart, args=(n,)) for n in ("ingest", "reporter")]
            for t in both:
                t.start()
            for t in both:
                t.join()

        collect = asyncio.create_task(watch.until(lambda ev: False, 1e9))
        answers, _ = await open_loop(pipe.gateway_url, base, fault=fault, restore=None)
        result = await check_stored(stack.database_url, answers)
        kept = {a.day.isoformat() for a in answers if a.status in (202, 504)}
        end = time.monotonic() + 180
        while time.monotonic() < end:
            reported = {e["sales_date"] for t, _, e in watch.events if t == "sales.reports"}
            if kept <= reported:
                break
            await asyncio.sleep(1.0)
        collect.cancel()
        print(f"consumer kill -9 + restart at {FAULT_AT:g} s   [{uptime()}]")
        report("consumer", answers)
        for name, topic in (("ingest", "sales.stored"), ("reporter", "sales.reports")):
            after = [
                ts / 1000
                for t, ts, _ in watch.events
                if t == topic and ts / 1000 > killed.get(name, 1e18) + 0.05
            ]
            if after:
                print(
                    f"  {name}: worked again {min(after) - killed[name]:.1f} s after the kill, "
                    f"{min(after) - restarted[name]:.1f} s after its new process started"
                )
            else:
                print(f"  {name}: no work seen after its restart")
        reports = {e["event_id"] for t, _, e in watch.events if t == "sales.reports"}
        days = {e["sales_date"] for t, _, e in watch.events if t == "sales.reports"}
        print(
            f"  reports: {len(reports)} events for {len(days)} days; LLM calls {len(llm.calls)} "
            f"(beyond one per day: {len(llm.calls) - len(days)})"
        )
        print(f"  {result}")
        await watch.stop()
    finally:
        pipe.stop_all()
        llm.stop()


async def single_kill(stack: Stack, logs: Path) -> None:
    pipe = start_pipeline(stack, None, logs / "single", processes=("ingest", "gateway"))
    try:
        await drain(stack.kafka, "sales-ingest")
        base = await fresh_base(stack.database_url, 600)
        answers, _ = await open_loop(
            pipe.gateway_url, base, fault=stack.kill_kafka, restore=stack.start_kafka
        )
        result = await check_stored(stack.database_url, answers)
        print(f"single broker kill -9 at {FAULT_AT:g} s, back at {RESTORE_AT:g} s   [{uptime()}]")
        report("single", answers)
        print(f"  {result}")
    finally:
        pipe.stop_all()


async def log_lines(stack: Stack, logs: Path) -> None:
    llm = FakeLLM().start()
    pipe = start_pipeline(stack, llm, logs / "logs", LOG_LEVEL="INFO")
    try:
        await drain(stack.kafka, "sales-ingest", "sales-reports")  # idle: no backlog
        await asyncio.sleep(3)
        before = {n: len(pipe.log_lines(n)) for n in pipe.procs}
        t0 = time.monotonic()
        await asyncio.to_thread(stack.kill_kafka)
        await asyncio.sleep(15)
        await asyncio.to_thread(stack.start_kafka)
        # until the consumers say Kafka is back (their lag monitor: every 10 s), at most 60 s
        end = time.monotonic() + 60
        while time.monotonic() < end:
            back = [
                n
                for n in ("ingest", "reporter")
                if any('"outage": "ended"' in line for line in pipe.log_lines(n)[before[n] :])
            ]
            if len(back) == 2:
                break
            await asyncio.sleep(0.5)
        print(
            f"log lines during a 15 s Kafka outage, idle (until back: "
            f"{time.monotonic() - t0:.0f} s)   [{uptime()}]"
        )
        for name in pipe.procs:
            new = pipe.log_lines(name)[before[name] :]
            levels: dict[str, int] = {}
            for line in new:
                try:
                    level = json.loads(line).get("level", "?")
                except ValueError:
                    level = "text"
                levels[level] = levels.get(level, 0) + 1
            print(f"  {name}: {len(new)} lines {levels}")
    finally:
        pipe.stop_all()
        llm.stop()


# --- scenarios on a three-broker cluster of their own ---------------------------------------


def kill_all(cluster: Cluster, nodes: tuple[int, ...]) -> None:
    """kill -9 of each broker in ``nodes``."""
    for n in nodes:
        cluster.kill(n)


async def cluster_loss(
    stack: Stack, logs: Path, cluster: Cluster, *, lost: tuple[int, ...]
) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap,
        "KAFKA_REPLICATION_FACTOR": "3",
    }
    pipe = start_pipeline(
        stack, None, logs / f"cluster-{len(lost)}", processes=("ingest", "gateway"), **env
    )
    try:
        base = await fresh_base(stack.database_url, 600)
        answers, _ = await open_loop(
            pipe.gateway_url,
            base,
            fault=lambda: kill_all(cluster, lost),
            restore=cluster.revive,
        )
        result = await check_stored(stack.database_url, answers)
        print(
            f"{len(lost)} of 3 brokers kill -9 at {FAULT_AT:g} s, back at {RESTORE_AT:g} s   "
            f"[{uptime()}]"
        )
        report("cluster", answers)
        print(f"  {result}")
    finally:
        pipe.stop_all()


async def run(only: tuple[str, ...], keep_logs: str | None) -> None:
    with provide_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        logs = Path(keep_logs or tmp)
        for sub in ("consumer", "single", "logs"):
            (logs / sub).mkdir(parents=True, exist_ok=True)
        print(
            f"# open loop {RATE:g} uploads/s for {DURATION:g} s; fault {FAULT_AT:g}-{RESTORE_AT:g} s"
        )
        if "consumer" in only:
            await consumer_restart(stack, logs)
        if "single-kill" in only:
            await single_kill(stack, logs)
        if "logs" in only:
            await log_lines(stack, logs)
        wanted = [s for s in ("one-broker", "two-brokers") if s in only]
        if wanted:
            cluster = start_cluster()
            try:
                for name in wanted:
                    (logs / f"cluster-{1 if name == 'one-broker' else 2}").mkdir(exist_ok=True)
                    await cluster_loss(
                        stack, logs, cluster, lost=(2,) if name == "one-broker" else (2, 3)
                    )
                    await asyncio.to_thread(cluster.revive)
            finally:
                cluster.purge()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(SCENARIOS), help=f"of {','.join(SCENARIOS)}")
    ap.add_argument("--keep-logs", help="a directory for the processes' logs (default: deleted)")
    args = ap.parse_args()
    asyncio.run(run(tuple(args.only.split(",")), args.keep_logs))


if __name__ == "__main__":
    main()

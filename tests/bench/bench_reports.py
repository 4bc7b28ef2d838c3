"""Reports at the speed of the LLM (issue 10): a backlog of stored days through one reporter.

    .venv/bin/python -m tests.bench.bench_reports
    .venv/bin/python -m tests.bench.bench_reports --service-from /tmp/wt-repbase   # A/B: another checkout

Two phases, each on fresh consecutive dates (so every day has history), with
gateway, ingest and one reporter running as real processes and the tests'
OpenAI-compatible server (tests/fake_llm.py) as the LLM:

1. latency: the LLM answers every call after a fixed delay (2 s). The reporter is
   stopped, ``--days`` (120) days of ``--products`` (100) products are uploaded and
   stored, then the reporter is started; printed: the time from starting it until
   every day's report is on sales.reports (target <= 40 s for 120 days at 2 s),
   and the most LLM calls that were in flight at once.
2. throughput: the LLM answers at once. Same procedure with ``--fast-days`` (300)
   days; printed: reports per second of the one reporter process between its
   first and its last report (target >= 50/s), and its CPU time per report over
   the same span (utime + stime from /proc/<pid>/stat), so start-up is not counted.

Each phase also checks what it measured: one report per day, every one ``ok``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from service.names import GROUP_REPORTS

from ..fake_llm import Call, FakeLLM
from ..helpers import sales_xml
from ..kafka_tools import skip_backlog
from ..procs import Pipeline
from ..stack import REPO, Stack, provide_stack
from ._harness import EventWatch, drain, fresh_base, post_many, start_pipeline

MODEL = "bench-stub"
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def most_in_flight(calls: list[Call], latency: float) -> int:
    """The most calls that overlapped, each taken to last `latency` seconds."""
    starts = sorted(c.at for c in calls)
    best, j = 0, 0
    for i, t in enumerate(starts):
        while starts[j] <= t - latency:
            j += 1
        best = max(best, i - j + 1)
    return best


class ReportCount:
    """Reads sales.reports and keeps, per day of the watched range, the reports seen."""

    def __init__(self, watch: EventWatch, days: list[dt.date]) -> None:
        self.watch = watch
        self.wanted = {d.isoformat() for d in days}
        self.by_day: dict[str, list[dict[str, Any]]] = {}
        self.first: float | None = None
        self.cpu_first: float | None = None

    def _collect(self, events: list[Any], pid: int) -> int:
        for (_, _, ev), (arrived, _) in zip(events, self.watch.arrived, strict=True):
            if ev.get("sales_date") in self.wanted and self.first is None:
                self.first, self.cpu_first = arrived, cpu_seconds(pid)
        return len({e["sales_date"] for _, _, e in events if e.get("sales_date") in self.wanted})

    async def until_all(self, pid: int, timeout: float) -> tuple[float, float]:
        """Wait for a report of every wanted day; (wall time of the last one, reporter CPU then)."""
        last_cpu = 0.0

        def done(events: list[Any]) -> bool:
            nonlocal last_cpu
            n = self._collect(events, pid)
            last_cpu = cpu_seconds(pid)
            return n == len(self.wanted)

        await self.watch.until(done, timeout)
        for _, _, ev in self.watch.events:
            if ev.get("sales_date") in self.wanted:
                self.by_day.setdefault(ev["sales_date"], []).append(ev)
        last = max(
            arrived
            for (_, _, ev), (arrived, _) in zip(self.watch.events, self.watch.arrived, strict=True)
            if ev.get("sales_date") in self.wanted
        )
        return last, last_cpu

    def check(self) -> str:
        ids = {d: {e["report_id"] for e in evs} for d, evs in self.by_day.items()}
        doubled = sum(1 for v in ids.values() if len(v) > 1)
        not_ok = sum(1 for evs in self.by_day.values() for e in evs if e["status"] != "ok")
        return (
            f"{len(ids)} days reported, {doubled} with more than one report id, "
            f"{not_ok} not ok, model {sorted({e['model'] for v in self.by_day.values() for e in v})}"
        )


async def store_days(
    pipe: Pipeline, database_url: str, days: list[dt.date], products: int
) -> float:
    host, port = "127.0.0.1", int(pipe.gateway_url.rsplit(":", 1)[1])
    bodies = [sales_xml(d, products, seed=i) for i, d in enumerate(days)]
    t0 = time.perf_counter()
    statuses, _, _, _ = await post_many(host, port, "/v1/uploads", bodies, concurrency=4)
    if any(s != 202 for s in statuses):
        raise RuntimeError(f"uploads refused: {sorted(set(statuses))}")
    conn = await asyncpg.connect(database_url)
    try:
        while await conn.fetchval(
            "SELECT count(*) FROM sales_days WHERE sales_date = ANY($1::date[])", days
        ) < len(days):
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    return time.perf_counter() - t0


async def phase(
    stack: Stack,
    pipe: Pipeline,
    llm: FakeLLM,
    *,
    latency: float,
    days: list[dt.date],
    products: int,
    timeout: float,
    profile: str | None = None,
) -> dict[str, float]:
    llm.latency = latency
    took = await store_days(pipe, stack.database_url, days, products)
    print(
        f"  {len(days)} days of {products} products uploaded and stored in {took:.1f} s (reporter stopped)"
    )
    watch = EventWatch(stack.kafka, "sales.reports")
    await watch.start()
    count = ReportCount(watch, days)
    llm.reset()
    started = time.time()
    pipe.start("reporter")
    pid = pipe.procs["reporter"].pid
    spy = None
    if profile:  # py-spy (pip install py-spy) samples the reporter while it works
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "-o",
                profile,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        last, cpu_last = await count.until_all(pid, timeout)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
        await watch.stop()
        pipe.stop("reporter")
    assert count.first is not None and count.cpu_first is not None
    span = last - count.first
    n = len(days)
    out = {
        "total_s": last - started,
        "span_s": span,
        "rate": (n - 1) / span if span > 0 else float("inf"),
        "cpu_ms": (cpu_last - count.cpu_first) * 1000 / max(1, n - 1),
        "llm_calls": len(llm.calls),
        "in_flight": most_in_flight(llm.calls, latency) if latency else 0,
    }
    print(
        f"  reporter start -> all {n} reports on sales.reports: {out['total_s']:.1f} s "
        f"(first -> last report {span:.1f} s)"
    )
    print(
        f"  reports per second (first -> last): {out['rate']:.1f}; reporter CPU per report: "
        f"{out['cpu_ms']:.1f} ms; LLM calls {out['llm_calls']}"
        + (f", most in flight at once {out['in_flight']}" if latency else "")
    )
    print(f"  check: {count.check()}")
    return out


async def run(args: argparse.Namespace) -> None:
    with provide_stack() as stack, tempfile.TemporaryDirectory() as logs:
        if await skip_backlog(stack.kafka, GROUP_REPORTS) is None:
            raise SystemExit(f"{GROUP_REPORTS} has live members on this Kafka: stop them first")
        llm = FakeLLM().start()
        # The reporter's capacity is measured, so it does not yield the CPU to the other
        # processes of this (shared, 2-core) machine.
        env = {"NAME_OF_API_MODEL": MODEL, "BACKGROUND_NICE": "0"}
        if args.concurrency:
            env["LLM_MAX_CONCURRENCY"] = str(args.concurrency)
        pipe = start_pipeline(stack, llm, Path(logs), processes=("ingest", "gateway"), **env)
        pipe.repo = Path(args.service_from).resolve()
        try:
            await drain(stack.kafka, "sales-ingest")
            base = await fresh_base(stack.database_url, args.days + args.fast_days + 30)
            print(
                f"service code from {pipe.repo}; LLM_MAX_CONCURRENCY "
                f"{args.concurrency or 'default'}; load average {Path('/proc/loadavg').read_text().strip()}"
            )
            print(
                f"\n# 1. LLM latency {args.latency:.1f} s per call: {args.days} stored days -> reports "
                f"(target <= 40 s for 120 days at 2 s)"
            )
            slow = [base + dt.timedelta(days=i) for i in range(args.days)]
            r1 = await phase(
                stack,
                pipe,
                llm,
                latency=args.latency,
                days=slow,
                products=args.products,
                timeout=args.timeout,
            )
            if (args.days, args.latency) == (120, 2.0):
                print(f"  -> {'MEETS' if r1['total_s'] <= 40 else 'MISSES'} the target")
            print(
                f"\n# 2. no LLM latency: {args.fast_days} stored days of {args.products} products -> reports "
                f"(target >= 50 reports/s)"
            )
            fast_base = base + dt.timedelta(days=args.days + 15)
            fast = [fast_base + dt.timedelta(days=i) for i in range(args.fast_days)]
            r2 = await phase(
                stack,
                pipe,
                llm,
                latency=0.0,
                days=fast,
                products=args.products,
                timeout=args.timeout,
                profile=args.profile,
            )
            print(f"  -> {'MEETS' if r2['rate'] >= 50 else 'MISSES'} the target")
        finally:
            pipe.stop_all()
            llm.stop()
    print(f"\nload average: {Path('/proc/loadavg').read_text().strip()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=120, help="days of the latency phase")
    ap.add_argument("--fast-days", type=int, default=300, help="days of the throughput phase")
    ap.add_argument("--products", type=int, default=100)
    ap.add_argument("--latency", type=float, default=2.0, help="seconds per LLM call in phase 1")
    ap.add_argument(
        "--concurrency", type=int, default=0, help="LLM_MAX_CONCURRENCY (0: the service's default)"
    )
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds a phase may take")
    ap.add_argument(
        "--profile", help="write py-spy's collapsed stacks of the reporter in phase 2 to this file"
    )
    ap.add_argument("--service-from", default=str(REPO), help="checkout whose service package runs")
    args = ap.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

"""Report latency benchmark (issue: report generation overhead).

    .venv/bin/python -m tests.bench.bench_report_latency

For a 1,000-product day and a 50,000-product day, several uploads each (one at a
time, on fresh dates), the time from the upload's sales.stored record to its
sales.reports record:

* Kafka: the two records' CreateTime timestamps (both set by producers on this machine);
* wall: when this benchmark's consumer received each record (time.time()).

The LLM is the FakeLLM (answers at once); its own request handling time is
recorded on the server side and shown as "LLM share". The last run of each size
is "with history": the 3 days before it are uploaded (and reported) first, so the
facts SQL has a previous day to compare with (the expensive part: the diff join).

Other sessions may run a reporter in the same consumer group on the same Kafka;
the benchmark then measures only days keyed to the partitions our reporter holds
(recognised by the model name in the report) and says so.

Targets: <= 50 ms (1,000 products) and <= 500 ms (50,000 products) of our own overhead.

Finally the facts SQL alone (service.figures.load.load_facts over storage.facts_sql) is timed on
the 50,000-product days, with and without history, straight on a connection.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from starlette.requests import Request
from starlette.responses import Response

from service.names import GROUP_REPORTS

from ..fake_llm import FakeLLM
from ..helpers import sales_xml
from ..kafka_tools import skip_backlog
from ..stack import provide_stack
from ._harness import EventWatch, drain, fresh_base, post_many, start_pipeline

TARGETS_MS = {1_000: 50.0, 50_000: 500.0}


class TimedLLM(FakeLLM):
    """The FakeLLM, recording how long each request took to handle (server side)."""

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[tuple[float, float]] = []  # (wall time at start, seconds)
        self._timing_lock = threading.Lock()

    async def _complete(self, request: Request) -> Response:
        wall, t0 = time.time(), time.perf_counter()
        try:
            return await super()._complete(request)
        finally:
            with self._timing_lock:
                self.handled.append((wall, time.perf_counter() - t0))

    def seconds_between(self, start: float, end: float) -> tuple[int, float]:
        """(requests, seconds handling them) for requests started within [start, end] (wall clock)."""
        with self._timing_lock:
            hits = [s for w, s in self.handled if start <= w <= end]
        return len(hits), sum(hits)


class ArrivalWatch(EventWatch):
    """EventWatch with the lookups this benchmark needs."""

    def partitions(self, topic: str) -> int:
        return len(self._consumer.partitions_for_topic(topic) or ())

    def find(self, topic: str, upload_id: str) -> tuple[int, float, int, dict[str, Any]]:
        for (t, ts, ev), (arrived, partition) in zip(self.events, self.arrived, strict=True):
            if t == topic and ev.get("upload_id") == upload_id:
                return ts, arrived, partition, ev
        raise KeyError((topic, upload_id))


MODEL = "bench-stub"  # what start_pipeline tells our reporter; the FakeLLM echoes it back


@dataclass
class Sample:
    kafka_ms: float
    wall_ms: float
    llm_ms: float
    llm_calls: int
    history: bool
    status: str
    verified: bool
    model: str
    partition: int


class Bench:
    """Uploads one day at a time and pairs its sales.stored with its sales.reports.

    Other sessions may run their own reporter in the same consumer group (sales-reports)
    against the same Kafka: then some partitions are theirs and their reporter (with their
    LLM) answers for days keyed there. The benchmark learns which partitions our reporter
    holds (by the model name in the report) and measures only days keyed to those.
    """

    def __init__(self, host: str, port: int, watch: ArrivalWatch, llm: TimedLLM) -> None:
        self.host, self.port, self.watch, self.llm = host, port, watch, llm
        self.ours: set[int] = set()
        self.foreign: set[int] = set()
        self.discarded = 0
        self._partitioner = DefaultPartitioner()

    def partition_of(self, day: dt.date) -> int:
        n = list(range(self.watch.partitions("sales.stored")))
        return int(self._partitioner(day.isoformat().encode(), n, n))

    async def one(self, body: bytes, *, history: bool = False, timeout: float = 180.0) -> Sample:
        watch = self.watch
        watch.clear()
        statuses, _, _, answers = await post_many(
            self.host, self.port, "/v1/uploads", [body], concurrency=1
        )
        if statuses[0] != 202:
            raise RuntimeError(f"upload refused: HTTP {statuses[0]} {answers[0][:200]!r}")
        upload_id = json.loads(answers[0])["upload_id"]

        def reported(events: list[Any]) -> bool:
            return any(
                t == "sales.reports" and e.get("upload_id") == upload_id for t, _, e in events
            )

        await watch.until(reported, timeout)
        s_ts, s_arr, partition, _ = watch.find("sales.stored", upload_id)
        r_ts, r_arr, _, rep = watch.find("sales.reports", upload_id)
        # The LLM is asked after sales.stored is out and before sales.reports is (CreateTime is in ms).
        calls, llm_s = self.llm.seconds_between(s_ts / 1000, (r_ts + 1) / 1000)
        (self.ours if rep["model"] == MODEL else self.foreign).add(partition)
        return Sample(
            kafka_ms=r_ts - s_ts,
            wall_ms=(r_arr - s_arr) * 1000,
            llm_ms=llm_s * 1000,
            llm_calls=calls,
            history=history,
            status=rep["status"],
            verified=rep["verified"],
            model=rep["model"],
            partition=partition,
        )

    async def learn(self, start: dt.date, tries: int = 30) -> dt.date:
        """Warm-up (connections, prepared statements) that also finds our reporter's partitions."""
        n = self.watch.partitions("sales.stored")
        day = start
        for _ in range(tries):
            if len(self.ours | self.foreign) >= n:
                break
            if self.partition_of(day) not in self.ours | self.foreign:
                await self.one(sales_xml(day, 100), timeout=60)
            day += dt.timedelta(days=1)
        if not self.ours:
            raise RuntimeError(
                "no report came from our reporter: another reporter holds every partition"
            )
        return day

    def next_day(self, after: dt.date) -> dt.date:
        """The first day after `after` + 10 (outside any earlier day's 7-day window) keyed to our reporter."""
        day = after + dt.timedelta(days=11)
        while self.partition_of(day) not in self.ours:
            day += dt.timedelta(days=1)
        return day

    async def measured(
        self, after: dt.date, products: int, seed: int, *, history: bool
    ) -> tuple[Sample, dt.date]:
        for _ in range(4):
            day = self.next_day(after)
            if history:  # the 3 days before: stored and reported, not measured
                for back in (3, 2, 1):
                    await self.one(sales_xml(day - dt.timedelta(days=back), products, seed=back))
            sample = await self.one(sales_xml(day, products, seed=seed), history=history)
            if sample.model == MODEL:
                return sample, day
            self.discarded += 1  # a rebalance gave the partition to another session's reporter
            after = day
        raise RuntimeError("our reporter kept losing the partitions")


def _stats(values: list[float]) -> str:
    return f"min {min(values):7.1f}  median {statistics.median(values):7.1f}  max {max(values):7.1f} ms"


def report(products: int, samples: list[Sample]) -> None:
    target = TARGETS_MS.get(products)
    print(
        f"\n# {products:,} products per day: {len(samples)} runs "
        f"({sum(s.history for s in samples)} with 3 days of history); target <= {target:.0f} ms"
    )
    for i, s in enumerate(samples, 1):
        own_ms = s.kafka_ms - s.llm_ms
        print(
            f"  run {i}{' (history)' if s.history else '          '}: kafka {s.kafka_ms:7.1f} ms  "
            f"wall {s.wall_ms:7.1f} ms  LLM {s.llm_ms:5.1f} ms ({s.llm_calls} call(s))  "
            f"own {own_ms:7.1f} ms  {s.status}/{'verified' if s.verified else 'UNVERIFIED'}  p{s.partition}"
        )
    kafka = [s.kafka_ms for s in samples]
    wall = [s.wall_ms for s in samples]
    llm = [s.llm_ms for s in samples]
    own = [s.kafka_ms - s.llm_ms for s in samples]
    print(f"  stored -> report (Kafka CreateTime): {_stats(kafka)}")
    print(f"  stored -> report (consumer wall)   : {_stats(wall)}")
    print(
        f"  LLM share (FakeLLM handling)       : {_stats(llm)}  "
        f"({statistics.median(llm) / statistics.median(kafka) * 100:.0f}% of the median)"
    )
    print(
        f"  own overhead (Kafka minus LLM)     : {_stats(own)}  -> "
        f"{'MEETS' if target is not None and statistics.median(own) <= target else 'MISSES'} target "
        f"(median), worst run {'meets' if target is not None and max(own) <= target else 'misses'}"
    )


async def time_facts_sql(database_url: str, days: list[tuple[str, dt.date]], repeats: int) -> None:
    from service.figures.load import load_facts
    from service.storage.db import create_pool

    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            print(
                "\n# facts SQL alone (load_facts on one connection, JSON parse + Facts model included)"
            )
            for label, day in days:
                await load_facts(conn, day)  # warm: statement prepared, pages cached
                took = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    await load_facts(conn, day)
                    took.append((time.perf_counter() - t0) * 1000)
                print(f"  {label} ({day}): {_stats(took)}  ({repeats} runs)")
    finally:
        await pool.close()


async def run(sizes: list[tuple[int, int]], sql_repeats: int) -> None:
    with provide_stack() as stack, tempfile.TemporaryDirectory() as logs:
        skipped = await skip_backlog(stack.kafka, GROUP_REPORTS)
        if skipped is None:
            print(
                f"could not skip the {GROUP_REPORTS} backlog (the group has live members): they work it off"
            )
        elif skipped:
            print(
                f"skipped {skipped} sales.stored/report-request records earlier runs left unreported"
            )
        llm = TimedLLM().start()
        pipe = start_pipeline(stack, llm, Path(logs), NAME_OF_API_MODEL=MODEL)
        host, port = "127.0.0.1", int(pipe.gateway_url.rsplit(":", 1)[1])
        sql_days: list[tuple[str, dt.date]] = []
        try:
            await drain(stack.kafka, "sales-ingest", "sales-reports")
            watch = ArrivalWatch(stack.kafka, "sales.stored", "sales.reports")
            await watch.start()
            bench = Bench(host, port, watch, llm)
            cursor = await bench.learn(await fresh_base(stack.database_url, 3000))
            n = watch.partitions("sales.stored")
            print(
                f"\nour reporter holds {len(bench.ours)}/{n} partitions of sales.stored"
                + (
                    f"; another session's reporter holds {sorted(bench.foreign)}: only days keyed to ours "
                    "are measured"
                    if bench.foreign
                    else ""
                )
            )
            for products, runs in sizes:
                samples = []
                for i in range(runs):
                    history = i == runs - 1
                    sample, cursor = await bench.measured(
                        cursor, products, seed=100 + i, history=history
                    )
                    samples.append(sample)
                    if products == max(p for p, _ in sizes):
                        sql_days.append(
                            (
                                f"{products:,} products, {'with' if history else 'no'} history",
                                cursor,
                            )
                        )
                report(products, samples)
            if bench.discarded:
                print(
                    f"\n({bench.discarded} run(s) discarded: reported by another session's reporter)"
                )
            await watch.stop()
        finally:
            pipe.stop_all()
            llm.stop()
        if sql_days:
            await time_facts_sql(stack.database_url, [sql_days[0], sql_days[-1]], sql_repeats)
    print(f"\nload average: {Path('/proc/loadavg').read_text().strip()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=1_000, help="products of the small day")
    ap.add_argument("--small-runs", type=int, default=5)
    ap.add_argument("--big", type=int, default=50_000, help="products of the big day")
    ap.add_argument("--big-runs", type=int, default=3)
    ap.add_argument("--sql-repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()}")
    asyncio.run(run([(args.small, args.small_runs), (args.big, args.big_runs)], args.sql_repeats))


if __name__ == "__main__":
    main()

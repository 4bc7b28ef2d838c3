"""Ingestion benchmark (issue: ingestion pipeline).

    .venv/bin/python -m tests.bench.bench_ingest

1. 300 uploads of 100 products, distinct dates, 16 concurrent clients, POST /v1/uploads:
   uploads/s accepted, and the time until all 300 sales.stored events are out
   (→ products/s end to end). Three such bursts (--rounds), each of new days; each
   is printed and the median is the figure (a 0.2 s burst on a shared VM is noisy).
2. One 50,000-product day: time from POST to sales.stored; peak memory per process.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ..fake_llm import FakeLLM
from ..helpers import sales_xml
from ..stack import provide_stack
from ._harness import EventWatch, LoadClient, drain, fresh_base, pct, peak_rss_mb, start_pipeline


def _accepted_ids(answers: list[bytes]) -> set[str]:
    """The upload ids of the 202 answers (a refusal's body has no upload_id first)."""
    return {json.loads(a)["upload_id"] for a in answers if a.startswith(b'{"upload_id"')}


async def run(
    uploads: int,
    products: int,
    concurrency: int,
    workers: int,
    with_reporter: bool,
    warmup: int,
    rounds: int,
) -> None:
    with provide_stack() as stack, tempfile.TemporaryDirectory() as logs:
        llm = FakeLLM().start() if with_reporter else None
        processes = ("ingest", "reporter", "gateway") if with_reporter else ("ingest", "gateway")
        pipe = start_pipeline(
            stack, llm, Path(logs), processes=processes, GATEWAY_WORKERS=str(workers)
        )
        host, port = "127.0.0.1", int(pipe.gateway_url.rsplit(":", 1)[1])
        client = LoadClient()
        try:
            await drain(stack.kafka, "sales-ingest")
            base = await fresh_base(stack.database_url, rounds * (uploads + 20))
            await client.start()
            watch = EventWatch(stack.kafka, "sales.stored", "sales.rejected")
            await watch.start()
            # Warm-up: a burst like the measured one, so both gateway workers have their
            # Redis/PostgreSQL connections open and ingest its statements prepared.
            warm = [sales_xml(base - dt.timedelta(days=i + 1), products) for i in range(warmup)]
            if warm:
                _, _, _, answers = await client.post_many(
                    host, port, "/v1/uploads", warm, concurrency=concurrency
                )
                warm_ids = _accepted_ids(answers)
                await watch.until(lambda ev: warm_ids <= {e["upload_id"] for _, _, e in ev}, 60)
            print(
                f"# {uploads} uploads x {products} products, {concurrency} clients, "
                f"gateway workers={workers}, processes: {', '.join(processes)}, warm-up uploads: {warmup}"
            )
            accepts, e2es = [], []
            for r in range(rounds):
                first = base + dt.timedelta(days=r * (uploads + 20))
                bodies = [
                    sales_xml(first + dt.timedelta(days=i), products, seed=i)
                    for i in range(uploads)
                ]
                await asyncio.sleep(1.0)  # the previous round's tail (events, commits) is over
                watch.clear()
                t0 = time.perf_counter()
                statuses, lat, seconds, answers = await client.post_many(
                    host, port, "/v1/uploads", bodies, concurrency=concurrency
                )
                ids = _accepted_ids(answers)

                def all_out(events: list[Any], ids: set[str] = ids) -> bool:
                    return len(ids & {e["upload_id"] for _, _, e in events}) == len(ids)

                await watch.until(all_out, 120)
                e2e = time.perf_counter() - t0
                stored = sum(
                    1 for t, _, e in watch.events if t == "sales.stored" and e["upload_id"] in ids
                )
                if stored != uploads:
                    print(
                        f"WARNING: only {stored}/{uploads} uploads were stored; this round is not comparable"
                    )
                accepts.append(uploads / seconds)
                e2es.append(e2e)
                print(
                    f"round {r + 1}: accepted (202) {statuses.count(202)}/{uploads}, "
                    f"{uploads / seconds:,.0f} uploads/s (latency p50 {pct(lat, 0.5) * 1000:.1f} ms, "
                    f"p99 {pct(lat, 0.99) * 1000:.1f} ms); all sales.stored out after {e2e:.2f} s "
                    f"-> {uploads * products / e2e:,.0f} products/s end to end"
                )
            mid_accept, mid_e2e = statistics.median(accepts), statistics.median(e2es)
            print(f"accept rate (median of {rounds}): {mid_accept:,.0f} uploads/s")
            print(
                f"all sales.stored out after (median): {mid_e2e:.2f} s -> "
                f"{uploads * products / mid_e2e:,.0f} products/s end to end, {uploads / mid_e2e:,.0f} uploads/s"
            )

            big_day = base + dt.timedelta(days=rounds * (uploads + 20) - 5)
            big = sales_xml(big_day, 50_000)
            watch.clear()
            t1 = time.perf_counter()
            statuses, _, _, _ = await client.post_many(
                host, port, "/v1/uploads", [big], concurrency=1
            )
            await watch.until(
                lambda ev: any(e.get("sales_date") == big_day.isoformat() for _, _, e in ev), 120
            )
            print(
                f"# one day of 50,000 products ({len(big) / 1e6:.1f} MB XML): HTTP {statuses[0]}, "
                f"stored after {time.perf_counter() - t1:.2f} s"
            )
            for name, proc in pipe.procs.items():
                print(f"peak RSS {name}: {peak_rss_mb(proc.pid):.0f} MB")
            await watch.stop()
        finally:
            client.close()
            pipe.stop_all()
            if llm is not None:
                llm.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uploads", type=int, default=300)
    ap.add_argument("--products", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="gateway worker processes")
    ap.add_argument(
        "--with-reporter", action="store_true", help="run the reporter too (competes for CPU)"
    )
    ap.add_argument(
        "--warmup", type=int, default=64, help="uploads sent (and stored) before measuring"
    )
    ap.add_argument(
        "--rounds", type=int, default=3, help="measured bursts, each of --uploads new days"
    )
    args = ap.parse_args()
    asyncio.run(
        run(
            args.uploads,
            args.products,
            args.concurrency,
            args.workers,
            args.with_reporter,
            args.warmup,
            args.rounds,
        )
    )


if __name__ == "__main__":
    main()

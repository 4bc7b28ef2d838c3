"""Big-day benchmark (issue 8): a 1,000,000-product day (~139 MB) through the whole service.

    .venv/bin/python -m tests.bench.bench_big_day [--rounds 3] [--products 1000000]

With gateway, ingest and reporter running (the reporter with the tests' fake LLM):

1. the generated day POSTed to /v1/uploads, streamed from disk: seconds from the
   request's first byte to its sales.stored event (target ≤ 8 s), per round and median;
2. the same through POST / (the original contract);
3. a 100,000-product day through /v1/uploads (target ≤ 1 s);
4. the reporter's facts SQL on the big day (target ≤ 1 s), median of 3;
5. peak RSS (VmHWM) of gateway, ingest and reporter (target ≤ 150 MB each);
6. the big day produced straight to Kafka with `sales-analyzer produce` (stored, and how fast).

With ``--encoding windows-1251`` (issue 18) it runs only this instead: per round, the
same day (Cyrillic names) as UTF-8 and in that encoding through POST /v1/uploads,
alternately, in the same minutes: seconds to sales.stored and the peak RSS (VmHWM,
reset before each upload) of gateway and ingest, per encoding.

Each round uses a new date; the days are deleted again at the end. Files are
generated to a temporary directory, streaming (never held in memory).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

from service.figures.load import load_facts

from ..bigdays import write_day
from ..fake_llm import FakeLLM
from ..stack import REPO, provide_stack
from ._harness import TOKEN, EventWatch, drain, fresh_base, peak_rss_mb, start_pipeline


async def post_file(host: str, port: int, path: str, file: Path) -> tuple[int, dict[str, object]]:
    """POST a file, streamed from disk in 1 MiB pieces; (status, JSON answer)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        size = file.stat().st_size
        writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/xml\r\nContent-Length: {size}\r\n\r\n"
            ).encode()
        )
        with file.open("rb") as f:
            while piece := f.read(1 << 20):
                writer.write(piece)
                await writer.drain()
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return status, json.loads(await reader.readexactly(length))
    finally:
        writer.close()


async def timed_upload(
    watch: EventWatch, host: str, port: int, path: str, file: Path, day: dt.date
) -> float:
    watch.clear()
    started = time.perf_counter()
    status, answer = await post_file(host, port, path, file)
    if status not in (200, 202):
        raise RuntimeError(f"{path}: HTTP {status} {answer}")
    upload_id = answer["upload_id"]
    await watch.until(lambda ev: any(e["upload_id"] == upload_id for _, _, e in ev), 180)
    took = time.perf_counter() - started
    event = next(e for t, _, e in watch.events if e["upload_id"] == upload_id)
    if event.get("event") != "sales.stored":
        raise RuntimeError(f"{path}: not stored: {event}")
    return took


async def wait_report(watch: EventWatch, day: dt.date) -> None:
    """Let the reporter finish the day's report before the next round (it competes for CPU)."""
    await watch.until(
        lambda ev: any(
            t == "sales.reports" and e.get("sales_date") == day.isoformat() for t, _, e in ev
        ),
        180,
    )


async def facts_seconds(database_url: str, day: dt.date, rounds: int) -> list[float]:
    conn = await asyncpg.connect(database_url)
    try:
        out = []
        for _ in range(rounds):
            started = time.perf_counter()
            await load_facts(conn, day)
            out.append(time.perf_counter() - started)
        return out
    finally:
        await conn.close()


async def forget_days(database_url: str, days: list[dt.date]) -> None:
    """Delete what the benchmark stored (a few GB of lines otherwise stay in the tests' database)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM reports WHERE sales_date = ANY($1::date[])", days)
        await conn.execute("DELETE FROM sales_lines WHERE sales_date = ANY($1::date[])", days)
        await conn.execute("DELETE FROM sales_days WHERE sales_date = ANY($1::date[])", days)
        await conn.execute("DELETE FROM uploads WHERE sales_date = ANY($1::date[])", days)
    finally:
        await conn.close()


def line(label: str, values: list[float], target: float | None = None) -> str:
    mid = statistics.median(values)
    verdict = (
        ""
        if target is None
        else (" (target ≤ {:g} s: {})".format(target, "met" if mid <= target else "MISSED"))
    )
    return f"{label}: " + ", ".join(f"{v:.2f}" for v in values) + f" s; median {mid:.2f} s{verdict}"


async def run(products: int, small: int, rounds: int) -> None:
    with provide_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        llm = FakeLLM().start()
        pipe = start_pipeline(stack, llm, tmp_path, GATEWAY_WORKERS="1")
        host, port = "127.0.0.1", int(pipe.gateway_url.rsplit(":", 1)[1])
        stored: list[dt.date] = []
        try:
            await drain(stack.kafka, "sales-ingest", "sales-reports")
            base = await fresh_base(stack.database_url, 40)
            watch = EventWatch(stack.kafka, "sales.stored", "sales.rejected", "sales.reports")
            await watch.start()
            big, little = tmp_path / "big.xml", tmp_path / "small.xml"
            results: dict[str, list[float]] = {"/v1/uploads": [], "/": [], "small": []}
            n = 0
            for r in range(rounds):
                for path in ("/v1/uploads", "/"):
                    day = base + dt.timedelta(days=n)
                    n += 1
                    size = write_day(big, day, products)
                    took = await timed_upload(watch, host, port, path, big, day)
                    stored.append(day)
                    results[path].append(took)
                    print(
                        f"round {r + 1} POST {path}: {products:,} products ({size / 1e6:.1f} MB) stored "
                        f"{took:.2f} s after the request started",
                        flush=True,
                    )
                    await wait_report(watch, day)
            for _ in range(rounds):
                day = base + dt.timedelta(days=n)
                n += 1
                write_day(little, day, small)
                results["small"].append(
                    await timed_upload(watch, host, port, "/v1/uploads", little, day)
                )
                stored.append(day)
                await wait_report(watch, day)
            rss = {name: peak_rss_mb(proc.pid) for name, proc in pipe.procs.items()}
            facts = await facts_seconds(stack.database_url, stored[0], 3)

            # Straight to Kafka with the CLI (its own process, as a user runs it).
            day = base + dt.timedelta(days=n)
            n += 1
            write_day(big, day, products)
            watch.clear()
            started = time.perf_counter()
            env = {**os.environ, **stack.env()}
            subprocess.run(
                [sys.executable, "-m", "service.cli.main", "produce", str(big), "--quiet"],
                cwd=REPO,
                env=env,
                check=True,
                timeout=300,
            )
            await watch.until(
                lambda ev: any(
                    t == "sales.stored" and e.get("sales_date") == day.isoformat() for t, _, e in ev
                ),
                180,
            )
            produced = time.perf_counter() - started
            stored.append(day)
            await wait_report(watch, day)
            await watch.stop()

            print(
                f"# {products:,}-product day, {rounds} rounds per route; 2-core machine, gateway + ingest + "
                "reporter running"
            )
            print(
                line(
                    f"POST /v1/uploads, {products:,} products → sales.stored",
                    results["/v1/uploads"],
                    8.0,
                )
            )
            print(line(f"POST /, {products:,} products → sales.stored", results["/"], 8.0))
            print(
                line(f"POST /v1/uploads, {small:,} products → sales.stored", results["small"], 1.0)
            )
            print(line(f"facts SQL on the {products:,}-product day", facts, 1.0))
            for name in ("gateway", "ingest", "reporter"):
                print(
                    f"peak RSS {name}: {rss[name]:.0f} MB (target ≤ 150 MB: "
                    f"{'met' if rss[name] <= 150 else 'MISSED'})"
                )
            print(f"sales-analyzer produce, {products:,} products → sales.stored: {produced:.2f} s")
        finally:
            pipe.stop_all()
            llm.stop()
            if stored:
                await forget_days(stack.database_url, stored)


def _reset_peak(pid: int) -> None:
    """Start VmHWM afresh (Linux: "5" to clear_refs), for the process and its children."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{p}/clear_refs").write_text("5")


async def run_encoding(products: int, rounds: int, encoding: str) -> None:
    """The same day as UTF-8 and in ``encoding``, alternately: time to stored, peak RSS."""
    with provide_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        llm = FakeLLM().start()
        pipe = start_pipeline(stack, llm, tmp_path, GATEWAY_WORKERS="1")
        host, port = "127.0.0.1", int(pipe.gateway_url.rsplit(":", 1)[1])
        stored: list[dt.date] = []
        try:
            await drain(stack.kafka, "sales-ingest", "sales-reports")
            base = await fresh_base(stack.database_url, 40)
            watch = EventWatch(stack.kafka, "sales.stored", "sales.rejected", "sales.reports")
            await watch.start()
            big = tmp_path / "big.xml"
            times: dict[str, list[float]] = {"UTF-8": [], encoding: []}
            peaks: dict[str, dict[str, float]] = {"UTF-8": {}, encoding: {}}
            for r in range(rounds):
                for enc in ("UTF-8", encoding):
                    day = base + dt.timedelta(days=len(stored))
                    size = write_day(big, day, products, encoding=enc, name="Товар №")
                    for name in ("gateway", "ingest"):
                        _reset_peak(pipe.procs[name].pid)
                    took = await timed_upload(watch, host, port, "/v1/uploads", big, day)
                    stored.append(day)
                    times[enc].append(took)
                    for name in ("gateway", "ingest"):
                        rss = peak_rss_mb(pipe.procs[name].pid)
                        peaks[enc][name] = max(peaks[enc].get(name, 0.0), rss)
                    print(
                        f"round {r + 1} {enc}: {products:,} products ({size / 1e6:.1f} MB) stored "
                        f"{took:.2f} s after the request started; load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
                    await wait_report(watch, day)
            await watch.stop()
            print(f"# {products:,}-product day, Cyrillic names, POST /v1/uploads, alternating")
            for enc in ("UTF-8", encoding):
                print(line(f"{enc} → sales.stored", times[enc]))
                print(
                    f"peak RSS {enc}: "
                    + ", ".join(f"{n} {v:.0f} MB" for n, v in peaks[enc].items())
                )
        finally:
            pipe.stop_all()
            llm.stop()
            if stored:
                await forget_days(stack.database_url, stored)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--products", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--encoding",
        help="compare this encoding (e.g. windows-1251) with UTF-8, alternately (issue 18)",
    )
    args = ap.parse_args()
    if args.encoding:
        asyncio.run(run_encoding(args.products, args.rounds, args.encoding))
    else:
        asyncio.run(run(args.products, args.small, args.rounds))


if __name__ == "__main__":
    main()

"""What the end-to-end tests share: uploads over raw HTTP, the CLI as a user runs it, and checks of
what the running service stored, reported and counted."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from service.storage.db import Pool

from ..bigdays import expected_totals
from ..helpers import TOKEN
from ..procs import Pipeline
from ..stack import REPO


async def post_file(
    url: str,
    path: str,
    file: Path,
    *,
    key: str | None = None,
    chunked: bool = False,
    sent: Callable[[int], None] | None = None,
    refused_early: bool = False,
) -> tuple[int, dict[str, Any]]:
    """POST a file streamed from disk (raw HTTP/1.1: Content-Length, or chunked transfer)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        size = file.stat().st_size
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/xml\r\n"
        )
        head += f"Idempotency-Key: {key}\r\n" if key else ""
        head += (
            "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n"
        )
        writer.write(head.encode())
        done = 0
        with file.open("rb") as f:
            while piece := f.read(256 * 1024):
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                try:
                    await writer.drain()
                except ConnectionResetError:
                    if not refused_early:
                        raise
                    break  # the gateway answered before the body's end (read below)
                done += len(piece)
                if sent is not None:
                    sent(done)
        if chunked and not writer.is_closing():
            writer.write(b"0\r\n\r\n")
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return status, json.loads(await reader.readexactly(length))
    finally:
        writer.close()


async def lines_of(pg_pool: Any, day: dt.date) -> int:
    return int(
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", day)
    )


async def staged(pg_pool: Any, upload_id: str) -> int:
    return int(
        await pg_pool.fetchval(
            "SELECT count(*) FROM staging.uploads WHERE upload_id = $1::uuid", upload_id
        )
        + await pg_pool.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'staging' AND tablename = $1",
            "lines_" + upload_id.replace("-", ""),
        )
    )


async def stored_once(pg_pool: Any, day: dt.date, products: int) -> None:
    """The day is stored by one upload, with every line and the exact totals; nothing else claims it."""
    units, revenue = expected_totals(products)
    row = await pg_pool.fetchrow(
        "SELECT products, total_units, total_revenue FROM sales_days WHERE sales_date = $1", day
    )
    assert row is not None and (row["products"], row["total_units"], str(row["total_revenue"])) == (
        products,
        units,
        revenue,
    )
    assert await lines_of(pg_pool, day) == products
    statuses = [
        r["status"]
        for r in await pg_pool.fetch("SELECT status FROM uploads WHERE sales_date = $1", day)
    ]
    assert statuses.count("stored") == 1


async def wait_status(
    api: httpx.AsyncClient, upload_id: str, *, timeout: float = 30.0
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        body: dict[str, Any] = (await api.get(f"/v1/uploads/{upload_id}")).json()
        if body.get("status") not in (None, "received") or loop.time() > end:
            return body
        await asyncio.sleep(0.1)


async def stored_count(pg_pool: Pool, days: list[dt.date]) -> dict[dt.date, int]:
    rows = await pg_pool.fetch(
        "SELECT sales_date, count(*) AS n FROM uploads WHERE status = 'stored' "
        "AND sales_date = ANY($1::date[]) GROUP BY sales_date",
        days,
    )
    return {r["sales_date"]: r["n"] for r in rows}


async def wait_stored(pg_pool: Pool, days: list[dt.date], *, timeout: float = 90.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        try:
            n = await pg_pool.fetchval(
                "SELECT count(*) FROM sales_days WHERE sales_date = ANY($1::date[])", days
            )
        except Exception:
            n = -1
        if n == len(days):
            return
        if loop.time() > end:
            raise AssertionError(f"only {n}/{len(days)} days stored")
        await asyncio.sleep(0.3)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def scrape(url: str) -> str:
    async with httpx.AsyncClient() as c:
        return (await c.get(url)).text


async def spawn(pipeline: Pipeline, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli.main",
        *args,
        cwd=REPO,
        env=pipeline.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, timeout: float) -> tuple[int, str, str]:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(
            f"CLI did not finish in {timeout}s: {out.decode()!r} {err.decode()!r}"
        ) from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def cli(pipeline: Pipeline, *args: str, timeout: float = 60.0) -> tuple[int, str, str]:
    """Run the CLI as a user would; (exit code, stdout, stderr)."""
    return await finish(await spawn(pipeline, *args), timeout)

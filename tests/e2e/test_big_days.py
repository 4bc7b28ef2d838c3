"""Big days on the real stack: streamed through the gateway in chunks, stored whole, once,
whatever dies on the way (gateway, ingest), whatever Kafka delivers twice or never."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from service.chunking import Cutter
from service.ingest.assemble import manifest_digest
from service.names import GROUP_INGEST
from service.storage.db import Pool

from ..bigdays import product, write_day
from ..kafka_tools import Events
from ..procs import Pipeline
from ..stack import REPO, Stack
from .helpers import lines_of, post_file, staged, stored_once

pytestmark = pytest.mark.timeout(180)


async def test_big_day_through_both_routes_is_stored_whole(
    pipeline: Pipeline, events: Events, pg_pool: Pool, days: list[dt.date], tmp_path: Path
) -> None:
    """A 20,000-product day (~2.8 MB, 3 chunks) via /v1/uploads and via POST /: stored, exact totals."""
    for path, day in (("/v1/uploads", days[0]), ("/", days[1])):
        file = tmp_path / "day.xml"
        write_day(file, day, 20_000)
        status, answer = await post_file(pipeline.gateway_url, path, file)
        assert status == (202 if path == "/v1/uploads" else 200), answer
        event = await events.wait("sales.stored", upload_id=answer["upload_id"], timeout=60)
        assert event["products"] == 20_000 and event["source"] == "http"
        await stored_once(pg_pool, day, 20_000)
        assert await staged(pg_pool, answer["upload_id"]) == 0


async def test_gateway_killed_mid_upload_nothing_visible_and_a_retry_stores_once(
    pipeline: Pipeline, events: Events, pg_pool: Pool, days: list[dt.date], tmp_path: Path
) -> None:
    """kill -9 of the gateway half-way through a 100 MB upload: nothing is visible; the same upload
    again (same Idempotency-Key) is stored exactly once."""
    file, day, key = tmp_path / "big.xml", days[2], f"retry-{uuid.uuid4()}"
    size = write_day(file, day, 720_000)
    assert size > 100_000_000

    def kill_half_way(done: int) -> None:
        if done > size // 2 and "gateway" in pipeline.procs:
            pipeline.stop("gateway", kill=True)

    with pytest.raises((ConnectionError, IndexError, ValueError, OSError)):
        await post_file(pipeline.gateway_url, "/v1/uploads", file, key=key, sent=kill_half_way)
    await events.caught_up(GROUP_INGEST)  # ingest has handled every chunk that made it to Kafka
    assert await pg_pool.fetchval("SELECT count(*) FROM sales_days WHERE sales_date = $1", day) == 0
    assert await lines_of(pg_pool, day) == 0
    pipeline.start("gateway")
    status, answer = await post_file(pipeline.gateway_url, "/v1/uploads", file, key=key)
    assert status == 202, answer
    event = await events.wait("sales.stored", upload_id=answer["upload_id"], timeout=120)
    assert event["products"] == 720_000
    await stored_once(pg_pool, day, 720_000)
    assert await staged(pg_pool, answer["upload_id"]) == 0


async def test_ingest_killed_mid_day_stores_it_once(
    pipeline: Pipeline, events: Events, pg_pool: Pool, days: list[dt.date], tmp_path: Path
) -> None:
    """kill -9 of ingest while it stages a big day: after a restart the day is stored exactly once."""
    file, day = tmp_path / "big.xml", days[3]
    write_day(file, day, 300_000)
    status, answer = await post_file(pipeline.gateway_url, "/v1/uploads", file)
    assert status == 202, answer
    upload_id = answer["upload_id"]
    for _ in range(300):
        if (
            await pg_pool.fetchval(
                "SELECT count(*) FROM staging.chunks WHERE upload_id = $1::uuid", upload_id
            )
            >= 5
        ):
            break
        await asyncio.sleep(0.05)
    pipeline.stop("ingest", kill=True)
    assert await lines_of(pg_pool, day) == 0
    pipeline.start("ingest")
    await events.wait("sales.stored", upload_id=upload_id, timeout=120)
    await stored_once(pg_pool, day, 300_000)
    assert await staged(pg_pool, upload_id) == 0


async def produce_pieces(
    kafka: str,
    file: Path,
    upload_id: str,
    *,
    repeat: int | None = None,
    drop: int | None = None,
    manifest: bool = True,
) -> int:
    """Publish a day as chunks straight to sales.raw, one chunk twice or left out; returns the chunk count."""
    data = file.read_bytes()
    cutter = Cutter(256 * 1024)
    chunks = [*cutter.feed(data), cutter.finish()]
    key = data[data.index(b'date="') + 6 :][:10]
    producer = AIOKafkaProducer(bootstrap_servers=kafka, max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        for i, chunk in enumerate(chunks):
            headers = [
                ("x-upload-id", upload_id.encode()),
                ("x-part", b"chunk"),
                ("x-chunk-index", str(i).encode()),
            ]
            headers += [("x-chunk-last", b"1")] if i == len(chunks) - 1 else []
            for _ in range(0 if i == drop else 2 if i == repeat else 1):
                await producer.send_and_wait("sales.raw", chunk, key=key, headers=headers)
        if manifest:
            digest = manifest_digest([hashlib.sha256(c).digest() for c in chunks])
            value = json.dumps(
                {
                    "upload_id": upload_id,
                    "chunks": len(chunks),
                    "bytes": len(data),
                    "sha256": digest,
                }
            )
            await producer.send_and_wait(
                "sales.raw",
                value.encode(),
                key=key,
                headers=[("x-upload-id", upload_id.encode()), ("x-part", b"manifest")],
            )
    finally:
        await producer.stop()
    return len(chunks)


async def test_chunk_delivered_twice_is_stored_once(
    stack: Stack,
    pipeline: Pipeline,
    events: Events,
    pg_pool: Pool,
    days: list[dt.date],
    tmp_path: Path,
) -> None:
    """A producer that sends one chunk twice: the day is stored once, with every line once."""
    file, day, upload_id = tmp_path / "day.xml", days[4], str(uuid.uuid4())
    write_day(file, day, 10_000)
    assert await produce_pieces(stack.kafka, file, upload_id, repeat=2) > 3
    await events.wait("sales.stored", upload_id=upload_id, timeout=60)
    await stored_once(pg_pool, day, 10_000)


async def test_lost_chunk_is_rejected_incomplete_after_the_timeout(
    stack: Stack,
    pipeline: Pipeline,
    events: Events,
    pg_pool: Pool,
    days: list[dt.date],
    tmp_path: Path,
) -> None:
    """A chunk lost and no manifest: after INCOMPLETE_UPLOAD_SECONDS the upload is rejected
    incomplete_upload and its staged rows are gone; nothing of the day is visible."""
    file, day, upload_id = tmp_path / "day.xml", days[5], str(uuid.uuid4())
    write_day(file, day, 10_000)
    await produce_pieces(stack.kafka, file, upload_id, drop=1, manifest=False)
    event = await events.wait("sales.rejected", upload_id=upload_id, timeout=60)
    assert event["errors"][0]["code"] == "incomplete_upload"
    assert await staged(pg_pool, upload_id) == 0
    assert await lines_of(pg_pool, day) == 0


async def outcome(events: Any, upload_id: str, timeout: float = 60.0) -> str:
    """The topic of the first event about an upload, stored or rejected."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        for topic, event in events.seen:
            if topic in ("sales.stored", "sales.rejected") and event.get("upload_id") == upload_id:
                return str(topic)
        await events.settle(0.3)
    raise AssertionError(f"no outcome for {upload_id}")


async def test_two_uploads_of_one_big_day_racing_store_it_once(
    pipeline: Pipeline, events: Events, pg_pool: Pool, days: list[dt.date], tmp_path: Path
) -> None:
    """Two uploads of the same big day at once: exactly one is stored, the other is a duplicate."""
    file, day = tmp_path / "day.xml", days[6]
    write_day(file, day, 50_000)
    answers = await asyncio.gather(
        *(post_file(pipeline.gateway_url, "/v1/uploads", file) for _ in range(2))
    )
    ids = [a["upload_id"] for s, a in answers if s == 202]
    assert len(ids) == 2 or {s for s, _ in answers} == {202, 409}
    for upload_id in ids:
        await outcome(events, upload_id)
    await stored_once(pg_pool, day, 50_000)
    rows = await pg_pool.fetch("SELECT status FROM uploads WHERE upload_id = ANY($1::uuid[])", ids)
    assert sorted(r["status"] for r in rows) == (
        ["duplicate", "stored"] if len(ids) == 2 else ["stored"]
    )


async def test_limits_crossed_mid_stream_are_clear_json_errors(
    side_gateway: Callable[..., Pipeline], days: list[dt.date], tmp_path: Path
) -> None:
    """A body without Content-Length that outgrows MAX_UPLOAD_BYTES, or MAX_PRODUCTS_PER_DAY, mid-stream: 413."""
    file = tmp_path / "day.xml"
    write_day(file, days[7], 30_000)
    gw = side_gateway(MAX_PRODUCTS_PER_DAY="20000")
    status, answer = await post_file(gw.gateway_url, "/v1/uploads", file, chunked=True)
    assert (status, answer["code"]) == (413, "too_many_products"), answer
    gw = side_gateway(MAX_UPLOAD_BYTES="3000000")
    status, answer = await post_file(gw.gateway_url, "/v1/uploads", file, chunked=True)
    assert (status, answer["code"]) == (413, "too_large"), answer
    assert "MAX_UPLOAD_BYTES" in answer["message"]


async def test_produce_command_sends_a_big_day_straight_to_kafka(
    stack: Stack,
    pipeline: Pipeline,
    events: Events,
    pg_pool: Pool,
    days: list[dt.date],
    tmp_path: Path,
) -> None:
    """`sales-analyzer produce FILE` writes a big day to sales.raw in chunks; ingest stores it."""
    file, day = tmp_path / "day.xml", days[8]
    write_day(file, day, 20_000)
    env = {**os.environ, **stack.env(), "UPLOAD_CHUNK_BYTES": "262144"}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "service.cli.main", "produce", str(file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    upload_id = done.stdout.split()[1]
    assert "100%" in done.stderr
    event = await events.wait("sales.stored", upload_id=upload_id, timeout=60)
    assert event["source"] == "kafka" and event["sender"] == "cli"
    await stored_once(pg_pool, day, 20_000)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def write_huge_product(path: Path, day: dt.date, name_bytes: int, *, huge: int = 1) -> None:
    """A day with ``huge`` products whose names are ``name_bytes`` bytes long, between
    ordinary ones."""
    with path.open("wb") as f:
        f.write(f'<sales_data date="{day.isoformat()}"><products>'.encode())
        f.write(product(1).encode())
        for i in range(huge):
            f.write(f"<product><id>{i + 2}</id><name>".encode())
            left = name_bytes
            while left > 0:
                f.write(b"N" * min(left, 1024 * 1024))
                left -= 1024 * 1024
            f.write(b"</name><quantity>1</quantity><price>1.00</price><category>Toys</category>")
            f.write(b"</product>\n")
        f.write(product(huge + 2).encode())
        f.write(b"</products></sales_data>")


async def test_a_product_larger_than_ingest_accepts_is_refused_at_once(
    side_gateway: Callable[..., Pipeline], days: list[dt.date], tmp_path: Path
) -> None:
    """A day whose product has a 20 MB or 31 MB name: 400 too_large from the gateway itself (the
    code and 10 MB limit of ingest's parser), and the gateway's peak RSS stays under 150 MB."""
    # days of its own on every run: a day the near-limit upload leaves stored stays stored
    start = dt.date(2400, 1, 1) + dt.timedelta(days=3 * (uuid.uuid4().int % 30_000))
    days = [start + dt.timedelta(days=i) for i in range(3)]
    gw = side_gateway()
    pid = gw.procs["gateway"].pid
    seen = [f"start {peak_rss_mb(pid):.0f} MB"]
    for day, mb in ((days[0], 20), (days[1], 31)):
        file = tmp_path / f"huge-{mb}.xml"
        write_huge_product(file, day, mb * 1024 * 1024)
        status, answer = await post_file(gw.gateway_url, "/v1/uploads", file, refused_early=True)
        seen.append(f"{mb} MB name: {status} {answer.get('code')}, peak {peak_rss_mb(pid):.0f} MB")
        assert (status, answer.get("code")) == (400, "too_large"), seen
        assert "10 MB" in answer["message"], answer
    # Products just under the limit are carried (ingest judges their names): one at a time.
    file = tmp_path / "near-limit.xml"
    write_huge_product(file, days[2], 9_900_000, huge=4)
    status, answer = await post_file(gw.gateway_url, "/v1/uploads", file)
    seen.append(f"4 x 9.9 MB names: {status}, peak {peak_rss_mb(pid):.0f} MB")
    assert status == 202, seen
    assert peak_rss_mb(pid) <= 150, seen
    print("; ".join(seen))

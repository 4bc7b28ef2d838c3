"""Nothing lost, nothing doubled: PostgreSQL restarted and ingest killed mid-stream."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from service.storage.db import Pool

from ..helpers import sales_xml
from ..kafka_tools import Events
from ..procs import Pipeline
from ..stack import Stack
from .helpers import wait_stored


async def produce_days(kafka: str, days: list[dt.date], *, products: int = 50) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=5)
    await producer.start()
    try:
        for day in days:
            await producer.send("sales.raw", sales_xml(day, products), key=day.isoformat().encode())
            await asyncio.sleep(0.02)
        await producer.flush()
    finally:
        await producer.stop()


async def stored_once(pg_pool: Pool, days: list[dt.date]) -> None:
    rows = await pg_pool.fetch(
        "SELECT d.sales_date, count(l.*) AS lines FROM sales_days d JOIN sales_lines l USING (sales_date) "
        "WHERE d.sales_date = ANY($1::date[]) GROUP BY d.sales_date",
        days,
    )
    assert len(rows) == len(days) and all(r["lines"] == 50 for r in rows)


async def test_postgres_restart_mid_stream_loses_and_doubles_nothing(
    stack: Stack, pipeline: Pipeline, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """PostgreSQL restarts while days stream in; afterwards every day is stored exactly once."""
    if stack.kind != "native":
        pytest.skip("restarting PostgreSQL is scripted for the native stack only")
    feed = asyncio.create_task(produce_days(stack.kafka, days[:20]))
    await asyncio.sleep(0.15)
    await asyncio.to_thread(stack.restart_postgres)
    await feed
    await wait_stored(pg_pool, days[:20])
    await stored_once(pg_pool, days[:20])


async def test_ingest_killed_mid_stream_loses_and_doubles_nothing(
    stack: Stack, pipeline: Pipeline, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """kill -9 of ingest mid-stream: after a restart every day is stored exactly once."""
    feed = asyncio.create_task(produce_days(stack.kafka, days[:20]))
    await asyncio.sleep(0.2)
    pipeline.stop("ingest", kill=True)
    await feed
    pipeline.start("ingest")
    await wait_stored(pg_pool, days[:20])
    await stored_once(pg_pool, days[:20])
    n = await pg_pool.fetchval(
        "SELECT count(*) FROM uploads WHERE sales_date = ANY($1::date[])", days[:20]
    )
    assert n == 20


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("process", "topic"), [("ingest", "sales.stored"), ("reporter", "sales.reports")]
)
async def test_consumer_restarted_after_kill_takes_its_partitions_back_within_10_s(
    pipeline: Pipeline,
    api: httpx.AsyncClient,
    events: Events,
    days: list[dt.date],
    process: str,
    topic: str,
) -> None:
    """kill -9 of ingest or the reporter, restarted at once: an upload sent then is worked on within 10 s of the restart."""
    day = days[0] if process == "ingest" else days[1]
    # the process works (its group settled) before it is killed
    r = await api.post("/v1/uploads", content=sales_xml(days[9]))
    assert r.status_code == 202, r.text
    await events.wait(topic, timeout=60, sales_date=days[9].isoformat())
    pipeline.stop(process, kill=True)
    started = time.monotonic()
    pipeline.start(process)
    r = await api.post("/v1/uploads", content=sales_xml(day))
    assert r.status_code == 202, r.text
    await events.wait(topic, timeout=60, sales_date=day.isoformat())
    elapsed = time.monotonic() - started
    print(f"{process} worked again {elapsed:.1f} s after its restart")
    assert elapsed <= 10.0, f"{process} worked again {elapsed:.1f} s after its restart"


@pytest.mark.timeout(240)
async def test_ingest_resumes_within_2_s_after_postgres_returns(
    stack: Stack, pipeline: Pipeline, pg_pool: Pool, days: list[dt.date], tmp_path: Path
) -> None:
    """PostgreSQL stopped 12 s under a waiting backlog (default backoff settings): ingest stores it within 2 s of its return."""
    if stack.kind != "native":
        pytest.skip("stopping PostgreSQL is scripted for the native stack only")
    # an ingest with the default backoff (the session's pipeline caps it at 1 s)
    env = {k: v for k, v in pipeline.env.items() if k != "RETRY_BACKOFF_MAX_SECONDS"}
    own = Pipeline.create(env, tmp_path)
    # the session's ingest's name: a static member stopped for good would hold its partitions
    own.env["INSTANCE_NAME"] = pipeline.env["INSTANCE_NAME"]
    pipeline.stop("ingest")
    own.start("ingest")
    try:
        await asyncio.to_thread(stack.stop_postgres)
        try:
            await produce_days(stack.kafka, days[2:7])
            await asyncio.sleep(12)  # the outage; ingest retries meanwhile
        finally:
            await asyncio.to_thread(stack.start_postgres)
        back = time.monotonic()
        await wait_stored(pg_pool, days[2:7], timeout=60)
        elapsed = time.monotonic() - back
        print(f"ingest stored the backlog {elapsed:.1f} s after PostgreSQL returned")
        assert elapsed <= 2.0, (
            f"ingest stored the backlog {elapsed:.1f} s after PostgreSQL returned"
        )
        await stored_once(pg_pool, days[2:7])
    finally:
        own.stop("ingest")
        pipeline.start("ingest")

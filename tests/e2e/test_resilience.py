"""Nothing lost, nothing doubled: PostgreSQL restarted and ingest killed mid-stream."""

from __future__ import annotations

import asyncio
import datetime as dt

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

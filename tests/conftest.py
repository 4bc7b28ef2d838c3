"""Fixtures: the real stack (Kafka, PostgreSQL, Redis), the fake LLM, the running service."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer

from service.bus import start_pinned
from service.cache import create_redis
from service.storage.db import create_pool
from service.storage.migrate import migrate

from .fake_llm import FakeLLM
from .helpers import READ_TOKEN, TOKEN
from .kafka_tools import GROUP_TOPICS, Events, skip_backlog
from .procs import Pipeline
from .stack import Stack, provide_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with provide_stack() as s:
        yield s


@pytest_asyncio.fixture(scope="session")
async def pg_pool(stack: Stack) -> AsyncIterator[Any]:
    pool = await create_pool(stack.database_url, min_size=1, max_size=10)
    await migrate(pool)
    # A clean slate per test session: tests allocate their own dates below.
    await pool.execute("TRUNCATE reports, corrections, sales_lines, sales_days, uploads")
    await _skip_old_backlog(stack.kafka)
    yield pool
    await pool.close()


async def _skip_old_backlog(kafka: str) -> None:
    """Move the service's groups to the end of their topics, before the processes start.

    The session starts from an empty database, so events of earlier runs still in
    Kafka would name days that no longer exist (the reporter would skip them one
    by one, slowly) or store days the tests do not expect.
    """
    for group in GROUP_TOPICS:
        await skip_backlog(
            kafka, group
        )  # a group with live members (another session) stays as it is


@pytest_asyncio.fixture(scope="session")
async def redis_client(stack: Stack) -> AsyncIterator[Any]:
    client = create_redis(stack.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


_blocks = itertools.count()


@pytest.fixture
def days() -> list[dt.date]:
    """30 consecutive dates no other test uses, with 30 empty days around them (no shared history)."""
    start = dt.date(2001, 1, 1) + dt.timedelta(days=60 * next(_blocks))
    return [start + dt.timedelta(days=i) for i in range(30)]


def _llm_server() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    """The LLM server of tests that drive the reporter in-process (scripts, request counts)."""
    yield from _llm_server()


@pytest.fixture(scope="session")
def pipeline_llm() -> Iterator[FakeLLM]:
    """The LLM server of the pipeline's reporter process: its own, so a report the process
    is still writing can never take a reply another test scripted, or add to its count."""
    yield from _llm_server()


@pytest.fixture(scope="session")
def pipeline(
    stack: Stack,
    pg_pool: Any,
    redis_client: Any,
    pipeline_llm: FakeLLM,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    """gateway + ingest + reporter as real processes against the real stack."""
    env = {
        **stack.env(),
        "ACCESS_TOKEN": TOKEN,
        "ACCESS_TOKENS": f"reader:{READ_TOKEN}:read",
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "OPENAI_BASE_URL": pipeline_llm.url,
        "NAME_OF_API_MODEL": "fake-model",
        "LLM_TIMEOUT_SECONDS": "2",
        "LLM_MAX_RETRIES": "1",
        "LLM_MAX_ATTEMPTS": "4",
        "RETRY_BACKOFF_MAX_SECONDS": "1",
        # processes of this session are replaced by others (a second reporter, an ingest
        # with other settings): a static member gone for good holds its partitions this long
        "KAFKA_SESSION_TIMEOUT_MS": "10000",
        "LOG_FORMAT": "json",
        "RATE_LIMIT_PER_MINUTE": "100000",
        "CACHE_LIFE_PERIOD": "3600",
        "APP_ENV": "test",
        # on a busy CI host a niced ingest would crawl and time tests out (tests/unit/test_serve.py
        # checks the priority itself)
        "BACKGROUND_NICE": "0",
        # a big day whose manifest never comes is refused after this (tests/e2e/test_big_days.py)
        "INCOMPLETE_UPLOAD_SECONDS": "6",
    }
    pipe = Pipeline.create(env, tmp_path_factory.mktemp("logs"))
    try:
        for name in ("ingest", "reporter", "gateway"):
            pipe.start(name)
        yield pipe
    finally:
        pipe.stop_all()


@pytest_asyncio.fixture
async def api(pipeline: Pipeline) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=pipeline.gateway_url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


@pytest_asyncio.fixture
async def events(stack: Stack, pipeline: Pipeline) -> AsyncIterator[Events]:
    consumer = AIOKafkaConsumer(
        "sales.stored",
        "sales.rejected",
        "sales.reports",
        "sales.corrected",
        bootstrap_servers=stack.kafka,
        group_id=f"test-{uuid.uuid4()}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await start_pinned(consumer, timeout=60)
    try:
        yield Events(consumer, kafka=stack.kafka)
    finally:
        await consumer.stop()


@pytest.fixture
def side_gateway(stack: Stack, tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    """A gateway of its own with extra settings, started per test (stopped afterwards)."""
    started: list[Pipeline] = []

    def start(**env: str) -> Pipeline:
        pipe = Pipeline.create({**stack.env(), "ACCESS_TOKEN": TOKEN, **env}, tmp_path)
        pipe.start("gateway")
        started.append(pipe)
        return pipe

    yield start
    for p in started:
        p.stop_all()

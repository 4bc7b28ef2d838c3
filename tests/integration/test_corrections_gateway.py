"""The correction routes in-process (httpx ASGI transport, real PostgreSQL, Redis, Kafka):
scope, date check, the replace flag on sales.raw, and no duplicate answer for a correction."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from aiokafka import AIOKafkaConsumer

from service.bus import start_pinned
from service.cache import Redis
from service.gateway.app import create_app
from service.settings import Settings
from service.storage.db import Pool

from ..helpers import READ_TOKEN, TOKEN, sales_xml
from ..stack import Stack
from .helpers import ingest

NAMED = "named-" + uuid.uuid4().hex


@pytest_asyncio.fixture(scope="module")
async def gateway(
    stack: Stack, pg_pool: Any, redis_client: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        _env_file=None,
        kafka_bootstrap_servers=stack.kafka,
        database_url=stack.database_url,
        redis_url=stack.redis_url,
        access_token=TOKEN,
        access_tokens=f"reader:{READ_TOKEN}:read,shop:{NAMED}",
        environment="test",
        rate_limit_per_minute=0,
    )
    app = create_app(settings)
    # Observe → UploadFastPath → FastAPI: its lifespan holds the clients
    api = app.app.app  # type: ignore[attr-defined]
    async with (
        api.router.lifespan_context(api),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway",
            timeout=30,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client,
    ):
        yield client


@pytest_asyncio.fixture
async def raw_topic(stack: Stack) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        "sales.raw",
        bootstrap_servers=stack.kafka,
        group_id=f"test-{uuid.uuid4()}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await start_pinned(consumer, timeout=60)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def headers_of(consumer: AIOKafkaConsumer, upload_id: str) -> dict[str, bytes]:
    for _ in range(100):
        for records in (await consumer.getmany(timeout_ms=200)).values():
            for r in records:
                hdr = dict(r.headers)
                if hdr.get("x-upload-id") == upload_id.encode():
                    return hdr
    raise AssertionError(f"record of {upload_id} not on sales.raw")


async def store(pg_pool: Any, redis_client: Any, body: bytes) -> None:
    """A day through ingest (tests/integration/helpers.py)."""
    await ingest(pg_pool, redis_client, body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_put_publishes_with_the_replace_header_even_for_a_collected_day(
    gateway: httpx.AsyncClient,
    raw_topic: AIOKafkaConsumer,
    pg_pool: Pool,
    redis_client: Redis,
    days: list[dt.date],
) -> None:
    """PUT of a collected day is accepted (no duplicate answer) and goes out with x-replace: true;
    POST of the same day still gets 409, and POST ?replace=true goes out as a correction too."""
    await store(pg_pool, redis_client, sales_xml(days[0]))
    put = await gateway.put(f"/v1/sales/{days[0].isoformat()}", content=sales_xml(days[0]))
    assert (
        put.status_code == 202
        and put.json()["replace"] is True
        and put.json()["status"] == "received"
    )
    hdr = await headers_of(raw_topic, put.json()["upload_id"])
    assert hdr["x-replace"] == b"true" and hdr["x-sender"] == b"default"
    assert (await gateway.post("/v1/uploads", content=sales_xml(days[0]))).status_code == 409
    post = await gateway.post("/v1/uploads", params={"replace": "true"}, content=sales_xml(days[0]))
    assert post.status_code == 202 and post.json()["replace"] is True
    assert (await headers_of(raw_topic, post.json()["upload_id"]))["x-replace"] == b"true"
    plain = await gateway.post(
        "/v1/uploads", params={"replace": "false"}, content=sales_xml(days[1])
    )
    assert plain.status_code == 202 and "replace" not in plain.json()
    assert "x-replace" not in await headers_of(raw_topic, plain.json()["upload_id"])


async def test_only_a_token_with_correct_may_replace(
    gateway: httpx.AsyncClient, days: list[dt.date]
) -> None:
    """ACCESS_TOKEN may correct; a read token and a named token without 'correct' get 403."""
    for token in (READ_TOKEN, NAMED):
        for call in (
            gateway.put(
                f"/v1/sales/{days[0].isoformat()}",
                content=sales_xml(days[0]),
                headers=bearer(token),
            ),
            gateway.post(
                "/v1/uploads?replace=true", content=sales_xml(days[0]), headers=bearer(token)
            ),
        ):
            r = await call
            assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", r.text
    named_plain = await gateway.post(
        "/v1/uploads", content=sales_xml(days[2]), headers=bearer(NAMED)
    )
    assert named_plain.status_code == 202


async def test_put_refuses_a_file_of_another_date_and_bad_input(
    gateway: httpx.AsyncClient, days: list[dt.date]
) -> None:
    """The URL's date must be the file's (400 date_mismatch); a bad head is 400 as for any upload; a bad
    date in the URL or a replace value that is not a boolean is 422."""
    r = await gateway.put(f"/v1/sales/{days[1].isoformat()}", content=sales_xml(days[0]))
    assert r.status_code == 400 and r.json()["code"] == "date_mismatch"
    assert r.json()["errors"][0]["field"] == "date"
    bad = await gateway.put(f"/v1/sales/{days[0].isoformat()}", content=b"not xml")
    assert bad.status_code == 400 and bad.json()["code"] == "not_xml"
    assert (
        await gateway.put("/v1/sales/2024-02-30", content=sales_xml(days[0]))
    ).status_code == 422
    maybe = await gateway.post(
        "/v1/uploads", params={"replace": "maybe"}, content=sales_xml(days[0])
    )
    assert maybe.status_code == 422 and maybe.json()["code"] == "bad_request"


async def test_an_idempotency_key_of_an_upload_is_not_a_corrections_key(
    gateway: httpx.AsyncClient, days: list[dt.date]
) -> None:
    """The same Idempotency-Key on an upload and on a correction gives two upload ids."""
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await gateway.post("/v1/uploads", content=sales_xml(days[3]), headers=key)
    fix = await gateway.put(
        f"/v1/sales/{days[3].isoformat()}", content=sales_xml(days[3]), headers=key
    )
    again = await gateway.put(
        f"/v1/sales/{days[3].isoformat()}", content=sales_xml(days[3]), headers=key
    )
    assert first.json()["upload_id"] != fix.json()["upload_id"] == again.json()["upload_id"]
    assert dt.date.fromisoformat(fix.json()["sales_date"]) == days[3]


async def test_a_correction_too_big_for_one_record_streams_in_chunks(
    gateway: httpx.AsyncClient, raw_topic: AIOKafkaConsumer, days: list[dt.date]
) -> None:
    """A correction over UPLOAD_CHUNK_BYTES is accepted and goes to sales.raw in chunks, each with x-replace."""
    big = sales_xml(days[4], 12_000)
    assert len(big) > 1024 * 1024
    r = await gateway.put(f"/v1/sales/{days[4].isoformat()}", content=big)
    assert r.status_code == 202 and r.json()["replace"] is True, r.text
    hdr = await headers_of(raw_topic, r.json()["upload_id"])
    assert hdr["x-part"] == b"chunk" and hdr["x-replace"] == b"true"

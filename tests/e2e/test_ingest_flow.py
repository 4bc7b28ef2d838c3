"""Upload → sales.raw → ingest → PostgreSQL → sales.stored, on real Kafka, PostgreSQL, Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import uuid
from collections.abc import Callable

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from service.cache import Redis
from service.names import DUPLICATE_DAY_MESSAGE
from service.storage.db import Pool

from ..fake_llm import free_port
from ..helpers import READ_TOKEN, TOKEN, sales_xml
from ..kafka_tools import Events
from ..procs import Pipeline
from ..stack import Stack
from .helpers import wait_status


async def test_upload_is_stored_and_announced(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """POST /v1/uploads answers 202 at once; the day is stored and sales.stored says so."""
    r = await api.post(
        "/v1/uploads", content=sales_xml(days[0]), headers={"Content-Type": "application/xml"}
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "received" and r.headers["Location"] == body["status_url"]
    event = await events.wait("sales.stored", upload_id=body["upload_id"])
    assert (
        event["sales_date"] == days[0].isoformat()
        and event["products"] == 5
        and event["source"] == "http"
    )
    status = await wait_status(api, body["upload_id"])
    assert status["status"] == "stored" and status["products_stored"] == 5
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[0])
        == 5
    )


async def test_legacy_endpoint_keeps_the_original_contract(
    api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """POST / answers {"task_id"}; the same day again answers the original duplicate message."""
    r = await api.post("/", content=sales_xml(days[0]))
    assert r.status_code == 200 and "task_id" in r.json()
    await events.wait("sales.stored", upload_id=r.json()["task_id"])
    again = await api.post("/", content=sales_xml(days[0], seed=9))
    assert again.status_code == 200 and again.json() == {"message": DUPLICATE_DAY_MESSAGE}
    conflict = await api.post("/v1/uploads", content=sales_xml(days[0], seed=9))
    assert conflict.status_code == 409 and conflict.json()["code"] == "duplicate_day"


async def test_duplicate_after_redis_forgets_is_still_refused(
    api: httpx.AsyncClient, events: Events, redis_client: Redis, days: list[dt.date]
) -> None:
    """With the Redis key gone, the gateway asks PostgreSQL and still refuses the day."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0]))
    await events.wait("sales.stored", upload_id=r.json()["upload_id"])
    await redis_client.delete(f"sales:day:{days[0].isoformat()}")
    again = await api.post("/v1/uploads", content=sales_xml(days[0], seed=4))
    assert again.status_code == 409


async def test_duplicate_after_redis_is_flushed_is_still_refused(
    api: httpx.AsyncClient, events: Events, redis_client: Redis, days: list[dt.date]
) -> None:
    """With Redis emptied, the gateway asks PostgreSQL, refuses the day and rebuilds its cache."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0]))
    await events.wait("sales.stored", upload_id=r.json()["upload_id"])
    await redis_client.flushdb()
    assert (await api.post("/v1/uploads", content=sales_xml(days[0], seed=5))).status_code == 409
    assert await redis_client.sismember("sales:stored-days", days[0].isoformat())


async def test_idempotency_key_retry_returns_the_same_upload(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """A retried POST with the same Idempotency-Key gets the same upload id and stores once;
    once stored, the retry is answered 200 with the upload's receipt."""
    headers = {"Idempotency-Key": f"retry-{days[0]}"}
    first = await api.post("/v1/uploads", content=sales_xml(days[0]), headers=headers)
    await events.wait("sales.stored", upload_id=first.json()["upload_id"])
    again = await api.post("/v1/uploads", content=sales_xml(days[0]), headers=headers)
    assert again.status_code == 200 and again.json()["upload_id"] == first.json()["upload_id"]
    assert again.json()["status"] == "stored"
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_days WHERE sales_date = $1", days[0])
        == 1
    )


async def test_concurrent_uploads_of_one_day_store_exactly_once(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """Eight simultaneous uploads of one day: one stored, the others refused or marked duplicate."""
    rs = await asyncio.gather(
        *(api.post("/v1/uploads", content=sales_xml(days[0], seed=i)) for i in range(8))
    )
    accepted = [r.json()["upload_id"] for r in rs if r.status_code == 202]
    assert accepted and all(r.status_code in (202, 409) for r in rs)
    statuses = [(await wait_status(api, u))["status"] for u in accepted]
    assert statuses.count("stored") == 1 and set(statuses) <= {"stored", "duplicate"}
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_days WHERE sales_date = $1", days[0])
        == 1
    )


async def test_file_produced_straight_to_kafka_is_stored(
    stack: Stack, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """Any Kafka client may produce the XML to sales.raw without headers; it is stored."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await producer.start()
    try:
        await producer.send_and_wait(
            "sales.raw", sales_xml(days[0]), key=days[0].isoformat().encode()
        )
    finally:
        await producer.stop()
    event = await events.wait("sales.stored", sales_date=days[0].isoformat())
    assert event["source"] == "kafka"
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[0])
        == 5
    )


async def test_same_record_twice_is_stored_once(
    stack: Stack, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """A record delivered twice (same x-upload-id) stores nothing twice and announces the same event."""
    upload_id = str(uuid.uuid4())
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(
                "sales.raw",
                sales_xml(days[0]),
                key=days[0].isoformat().encode(),
                headers=[("x-upload-id", upload_id.encode())],
            )
    finally:
        await producer.stop()
    found = await events.collect("sales.stored", 2, upload_id=upload_id)
    assert len({e["event_id"] for e in found}) == 1
    assert (
        await pg_pool.fetchval(
            "SELECT count(*) FROM uploads WHERE upload_id = $1", uuid.UUID(upload_id)
        )
        == 1
    )


@pytest.mark.parametrize(
    "headers, status, code",
    [
        ({}, 401, "missing_token"),
        ({"Authorization": "Bearer wrong"}, 401, "invalid_token"),
        ({"Authorization": "Basic abc"}, 401, "bad_auth_scheme"),
        ({"Authorization": f"Bearer {READ_TOKEN}"}, 403, "insufficient_scope"),
    ],
)
async def test_uploads_need_an_upload_token(
    pipeline: Pipeline, headers: dict[str, str], status: int, code: str, days: list[dt.date]
) -> None:
    """Uploads without a valid upload-scoped bearer token are refused with a reason."""
    async with httpx.AsyncClient(base_url=pipeline.gateway_url) as client:
        r = await client.post("/v1/uploads", content=sales_xml(days[0]), headers=headers)
    assert r.status_code == status and r.json()["code"] == code
    if status == 401:
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


async def test_read_token_reads_and_health_needs_none(pipeline: Pipeline) -> None:
    """A read token can read statuses; /healthz needs no token."""
    async with httpx.AsyncClient(base_url=pipeline.gateway_url) as client:
        assert (await client.get("/healthz")).status_code == 200
        r = await client.get(
            f"/v1/uploads/{uuid.uuid4()}", headers={"Authorization": f"Bearer {READ_TOKEN}"}
        )
        assert r.status_code == 404 and r.json()["code"] == "unknown_upload"
        assert (await client.get(f"/v1/uploads/{uuid.uuid4()}")).status_code == 401


@pytest.mark.parametrize(
    "body, code",
    [
        (b"", "empty_body"),
        (b"hello", "not_xml"),
        (b"<sales_data><products/></sales_data>", "missing_date"),
        (b'<sales_data date="2024-13-01"><products/></sales_data>', "bad_date"),
        (b'<other date="2024-01-01"/>', "bad_root"),
        (
            b'<!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><sales_data date="2024-01-01"/>',
            "forbidden_dtd",
        ),
        (
            b'<?xml version="1.0" encoding="UTF-7"?><sales_data date="2024-01-01"/>',
            "bad_encoding",
        ),
    ],
)
async def test_gateway_refuses_what_is_clearly_not_a_sales_day(
    api: httpx.AsyncClient, body: bytes, code: str
) -> None:
    """The gateway's cheap check answers 400 with the reason; nothing is published."""
    r = await api.post("/v1/uploads", content=body)
    assert r.status_code == 400 and r.json()["code"] == code and r.json()["message"]


async def test_hostile_xml_straight_to_kafka_is_rejected_without_any_fetch(
    stack: Stack, events: Events, days: list[dt.date]
) -> None:
    """External entities to a URL and a file are refused at ingest; no connection is ever made."""
    port = free_port()
    hits: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                hits.append(conn.recv(100))
                conn.close()
            except OSError:
                pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    day = days[0].isoformat()
    bodies = [
        f'<!DOCTYPE s [<!ENTITY e SYSTEM "http://127.0.0.1:{port}/x">]><sales_data date="{day}"><products>'
        f"<product><id>1</id><name>&e;</name><quantity>1</quantity><price>1</price><category>c</category>"
        f"</product></products></sales_data>",
        f'<!DOCTYPE s SYSTEM "http://127.0.0.1:{port}/d.dtd"><sales_data date="{day}"/>',
        f'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p">%p;]>'
        f'<sales_data date="{day}"/>',
        '<!DOCTYPE s [<!ENTITY e SYSTEM "file:///etc/passwd">]><sales_data date="' + day + '"/>',
    ]
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait("sales.raw", body.encode(), key=day.encode())
            for body in bodies
        ]
        sent.append(await producer.send_and_wait("sales.raw", b"<a>" * 10_000, key=b"deep"))
    finally:
        await producer.stop()
    ours = {(m.partition, m.offset) for m in sent}
    rejected = await events.collect_where(
        "sales.rejected",
        5,
        lambda e: (
            e["kafka"]["topic"] == "sales.raw"
            and (e["kafka"]["partition"], e["kafka"]["offset"]) in ours
        ),
    )
    codes = sorted(e["errors"][0]["code"] for e in rejected)  # two partitions: no fixed order
    assert codes.count("forbidden_dtd") == 4
    assert set(codes) - {"forbidden_dtd"} <= {"too_deep", "malformed_xml", "bad_root"}
    stop.set()
    watcher.join()
    listener.close()
    assert hits == []


async def test_big_day_of_50k_products_is_stored(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """A day of 50,000 products (~9 MB of XML) goes through the gateway and is stored whole."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0], 50_000))
    assert r.status_code == 202, r.text
    event = await events.wait("sales.stored", upload_id=r.json()["upload_id"], timeout=60)
    assert event["products"] == 50_000
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_lines WHERE sales_date = $1", days[0])
        == 50_000
    )


async def test_body_over_the_limit_is_refused_with_413(
    side_gateway: Callable[..., Pipeline], days: list[dt.date]
) -> None:
    """A body larger than MAX_UPLOAD_BYTES is answered 413."""
    gw = side_gateway(MAX_UPLOAD_BYTES="20000")
    async with httpx.AsyncClient(
        base_url=gw.gateway_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as c:
        r = await c.post("/v1/uploads", content=sales_xml(days[0], 500))
    assert r.status_code == 413 and r.json()["code"] == "too_large"


async def test_kafka_down_means_503_never_a_fake_accept(
    side_gateway: Callable[..., Pipeline], days: list[dt.date]
) -> None:
    """With Kafka unreachable the gateway still starts, and uploads get 503 (reads still work)."""
    gw = side_gateway(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}")
    async with httpx.AsyncClient(
        base_url=gw.gateway_url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as c:
        r = await c.post("/v1/uploads", content=sales_xml(days[0]))
        assert r.status_code == 503 and r.json()["code"] == "kafka_unavailable"
        assert "Retry-After" in r.headers
        assert (await c.get(f"/v1/uploads/{uuid.uuid4()}")).status_code == 404
        ready = await c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["kafka"] is False


async def test_rate_limit_answers_429_with_retry_after(
    side_gateway: Callable[..., Pipeline], days: list[dt.date]
) -> None:
    """Past the per-token limit the gateway answers 429 with Retry-After."""
    name = f"rl{uuid.uuid4().hex[:8]}"  # its own budget, not shared with other tests' tokens
    gw = side_gateway(RATE_LIMIT_PER_MINUTE="3", ACCESS_TOKENS=f"{name}:rate-{TOKEN}:upload")
    async with httpx.AsyncClient(
        base_url=gw.gateway_url, headers={"Authorization": f"Bearer rate-{TOKEN}"}
    ) as c:
        codes = [(await c.post("/v1/uploads", content=b"x")).status_code for _ in range(5)]
        last = await c.post("/v1/uploads", content=b"x")
    assert codes[:3] == [400, 400, 400] and last.status_code == 429
    assert int(last.headers["Retry-After"]) >= 1

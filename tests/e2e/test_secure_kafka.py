"""The service on a secured Kafka: SASL_SSL (SCRAM-SHA-512 and a client certificate),
per-process users and ACLs; what each user is refused, and how a refused process stops.

The module starts a secured broker of its own (tests/secure_stack.py: state in
.state/test-secure, free ports) and the three processes, each as its own Kafka user,
with the test stack's PostgreSQL and Redis; everything is stopped and the broker's
data deleted after.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import random
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from service.errors import KafkaRefused
from service.kafka_access import EXIT_REFUSED, check_access

from ..procs import Pipeline
from ..secure_stack import SecureKafka, start_secure_kafka
from ..stack import REPO, Stack

pytestmark = [pytest.mark.secure, pytest.mark.timeout(180)]

TOKEN = "secure-token-" + secrets.token_hex(8)
EXAMPLE = REPO / "contracts" / "examples" / "valid" / "day-2024-01-01.xml"
# a day no other test uses
DAY = dt.date(2450, 1, 1) + dt.timedelta(days=random.randrange(3000))


@pytest.fixture(scope="module")
def secure_kafka(stack: Stack) -> Iterator[SecureKafka]:
    if stack.kind != "native":
        pytest.skip("the secured broker is scripted for the native stack only")
    kafka = start_secure_kafka()
    try:
        yield kafka
    finally:
        kafka.purge()


def _base_env(stack: Stack, kafka: SecureKafka) -> dict[str, str]:
    return {
        **stack.env(),
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "ACCESS_TOKEN": TOKEN,
        "APP_ENV": "test",
        "LOG_FORMAT": "json",
        "RATE_LIMIT_PER_MINUTE": "100000",
        "RETRY_BACKOFF_MAX_SECONDS": "1",
        "BACKGROUND_NICE": "0",
        "OPENAI_API_KEY": "",  # the built-in writer: no LLM needed here
    }


@pytest.fixture(scope="module")
def secure_pipeline(
    stack: Stack,
    secure_kafka: SecureKafka,
    pg_pool: Any,
    redis_client: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    """gateway, ingest and reporter, each as its own Kafka user, started side by side
    (one Pipeline per process: their environments differ in the Kafka user)."""
    base = Pipeline.create(_base_env(stack, secure_kafka), tmp_path_factory.mktemp("secure-logs"))
    pipes = {
        name: dataclasses.replace(
            base, env={**base.env, **secure_kafka.env(name)}, procs={}, logs={}
        )
        for name in ("ingest", "reporter", "gateway")
    }
    try:
        with ThreadPoolExecutor(len(pipes)) as pool:
            for started in [pool.submit(p.start, n, timeout=150) for n, p in pipes.items()]:
                started.result()
        yield pipes["gateway"]
    finally:
        for pipe in pipes.values():
            pipe.stop_all()


@pytest_asyncio.fixture
async def reports(secure_kafka: SecureKafka) -> AsyncIterator[AIOKafkaConsumer]:
    """sales.reports, read as the CLI's user (as `reports tail` does)."""
    consumer = AIOKafkaConsumer(
        "sales.reports",
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **secure_kafka.options("cli"),
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def _report_of(consumer: AIOKafkaConsumer, day: dt.date, *, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=1000)
        for records in batch.values():
            for record in records:
                event = json.loads(record.value or b"{}")
                if event.get("sales_date") == day.isoformat():
                    return dict(event)
    raise AssertionError(f"no report of {day} on sales.reports within {timeout} s")


async def test_core_flow_secured(secure_pipeline: Pipeline, reports: AIOKafkaConsumer) -> None:
    """Upload → stored → report on sales.reports, every process as its own user over SASL_SSL."""
    body = EXAMPLE.read_bytes().replace(b"2024-01-01", DAY.isoformat().encode())
    async with httpx.AsyncClient(
        base_url=secure_pipeline.gateway_url,
        timeout=30,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as api:
        answer = await api.post("/v1/uploads", content=body)
        assert answer.status_code == 202, answer.text
        upload_id = answer.json()["upload_id"]
        deadline = time.monotonic() + 60
        status = ""
        while status != "stored" and time.monotonic() < deadline:
            status = (await api.get(f"/v1/uploads/{upload_id}")).json()["status"]
            await asyncio.sleep(0.3)
        assert status == "stored"
    report = await _report_of(reports, DAY, timeout=60)
    assert report["status"] == "ok"


async def test_plaintext_client_is_refused(secure_kafka: SecureKafka) -> None:
    """A client without TLS and SASL gets nothing from the broker."""
    producer = AIOKafkaProducer(bootstrap_servers=secure_kafka.bootstrap, request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


async def test_gateway_cannot_read_reports(secure_kafka: SecureKafka) -> None:
    """The gateway's user may not read sales.reports."""
    consumer = AIOKafkaConsumer(
        "sales.reports", auto_offset_reset="earliest", **secure_kafka.options("gateway")
    )
    try:
        with pytest.raises(TopicAuthorizationFailedError):  # at start, or at the first fetch
            await consumer.start()
            await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()


async def test_gateway_cannot_join_ingest_group(secure_kafka: SecureKafka) -> None:
    """The gateway's user may not join the sales-ingest group (nor read sales.raw in it)."""
    consumer = AIOKafkaConsumer(
        "sales.raw", group_id="sales-ingest", **secure_kafka.options("gateway")
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):  # at start, or at the first fetch
            await consumer.start()
            await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    with pytest.raises(KafkaRefused, match=r"denies user 'gateway'.*consumer group sales-ingest"):
        await check_access(
            secure_kafka.settings("gateway"), topics=["sales.raw"], groups=["sales-ingest"]
        )


async def test_reporter_cannot_write_raw(secure_kafka: SecureKafka) -> None:
    """The reporter's user may not write sales.raw."""
    producer = AIOKafkaProducer(**secure_kafka.options("reporter"))
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.start()
            await producer.send_and_wait("sales.raw", b"<sales/>", key=b"2024-01-01")
    finally:
        await producer.stop()


async def test_certificate_from_another_ca_is_refused(secure_kafka: SecureKafka) -> None:
    """A client certificate the broker's CA did not sign fails the handshake, in one clear line."""
    other = dict(
        kafka_ssl_certfile=str(secure_kafka.secrets / "other-client.pem"),
        kafka_ssl_keyfile=str(secure_kafka.secrets / "other-client.key"),
    )
    producer = AIOKafkaProducer(request_timeout_ms=5000, **secure_kafka.options("gateway", **other))
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
    with pytest.raises(KafkaRefused, match="refused the TLS handshake of user 'gateway'"):
        await check_access(secure_kafka.settings("gateway", **other), topics=["sales.raw"])


def test_bad_password_stops_ingest_with_one_line(
    stack: Stack, secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    """Ingest with a wrong password exits at start (status 78) with one line saying what, where, who."""
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password-" + secrets.token_hex(4) + "\n")
    env = {
        **Pipeline.create(_base_env(stack, secure_kafka), tmp_path).env,
        **secure_kafka.env("ingest"),
        "KAFKA_SASL_PASSWORD_FILE": str(wrong),
    }
    log = tmp_path / "ingest.log"
    with log.open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-m", "service.cli.main", "serve", "ingest"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=90,
        )
    assert done.returncode == EXIT_REFUSED
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    bad = [entry["message"] for entry in lines if entry["level"] in ("ERROR", "CRITICAL")]
    assert len(bad) == 1, bad
    assert "authentication failed" in bad[0]
    assert "user 'ingest'" in bad[0] and secure_kafka.bootstrap in bad[0]
    assert wrong.read_text().strip() not in log.read_text()


def test_no_password_in_the_logs(secure_pipeline: Pipeline, secure_kafka: SecureKafka) -> None:
    """No Kafka user's password appears in any process's log."""
    passwords = [secure_kafka.password(u) for u in ("admin", "gateway", "ingest", "reporter")]
    for name in ("gateway", "ingest", "reporter"):
        text = (secure_pipeline.log_dir / f"{name}.log").read_text()  # one log dir for all
        assert "kafka access checked" in text
        assert not any(p in text for p in passwords), name

"""Every answer of the gateway true under faults: Kafka killed, Redis restarted, racing uploads.

202 = the record is in Kafka (and is stored once); 503 = it never reached Kafka (never
stored, and its retry is); 409 day_in_progress = another upload of the day is in flight.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import time
import uuid

import httpx
import pytest

from service.cache import Redis
from service.names import DAY_IN_PROGRESS_MESSAGE, GROUP_INGEST, redis_day_key
from service.storage.db import Pool

from ..helpers import sales_xml, wait_until
from ..kafka_tools import GROUP_TOPICS, wait_consumed
from ..procs import Pipeline
from ..stack import Stack
from .helpers import stored_count, wait_stored

# Dates of their own, far from the `days` fixture's blocks (2001 onwards, 60 days each).
_blocks = itertools.count()


def fresh_days(n: int) -> list[dt.date]:
    start = dt.date(2200, 1, 1) + dt.timedelta(days=400 * next(_blocks))
    return [start + dt.timedelta(days=i) for i in range(n)]


async def post(api: httpx.AsyncClient, day: dt.date, **kw: object) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    r = await api.post("/v1/uploads", content=sales_xml(day), **kw)  # type: ignore[arg-type]
    return r, time.perf_counter() - started


@pytest.mark.timeout(300)
async def test_broker_killed_mid_stream_every_answer_is_true(
    stack: Stack, pipeline: Pipeline, api: httpx.AsyncClient, pg_pool: Pool
) -> None:
    """kill -9 of Kafka mid-stream: 202 days stored once, 503 days never (their retry is), 503s within 1 s."""
    if stack.kind != "native":
        pytest.skip("killing Kafka is scripted for the native stack only")
    days = fresh_days(60)
    answers: dict[dt.date, tuple[httpx.Response, float]] = {}

    pending: list[asyncio.Task[None]] = []

    async def one(day: dt.date) -> None:
        answers[day] = await post(api, day)

    for i, day in enumerate(days):
        if i == 10:
            await asyncio.to_thread(stack.kill_kafka)
        if i == 45:
            await asyncio.to_thread(stack.start_kafka)
        pending.append(asyncio.create_task(one(day)))
        await asyncio.sleep(0.1)
    await asyncio.gather(*pending)

    by_status: dict[int, list[dt.date]] = {}
    for day, (r, _) in answers.items():
        by_status.setdefault(r.status_code, []).append(day)
    assert set(by_status) <= {202, 503, 504}, {s: len(d) for s, d in by_status.items()}
    refused = by_status.get(503, [])
    assert refused, "no upload was refused while the broker was down"
    slow = [round(answers[d][1], 2) for d in refused if answers[d][1] > 1.0]
    assert not slow, f"refusals slower than 1 s: {slow}"
    # the first uploads after the kill were handed to the producer: answered 504 once the
    # breaker opens, not after the whole confirmation wait
    late = sorted(round(t, 2) for _, t in answers.values() if t > 5.0)
    assert not late, f"answers slower than 5 s: {late}"
    assert all(
        answers[d][0].json()["code"] == "kafka_unavailable"
        and answers[d][0].headers.get("Retry-After")
        for d in refused
    )
    metrics = (await api.get("/metrics")).text.splitlines()
    assert any(
        m.startswith("sales_gateway_unavailable_total{")
        and 'cause="circuit_open"' in m
        and 'reason="kafka_unavailable"' in m
        for m in metrics
    )

    accepted = by_status.get(202, [])
    await wait_stored(pg_pool, accepted)
    # ingest has handled every record on sales.raw: anything 503'd that reached Kafka is stored now
    await wait_consumed(stack.kafka, GROUP_INGEST, GROUP_TOPICS[GROUP_INGEST])
    counts = await stored_count(pg_pool, days)
    assert all(counts.get(d) == 1 for d in accepted)
    assert not [d for d in refused if d in counts], "a day answered 503 was stored"
    assert all(counts.get(d, 0) <= 1 for d in by_status.get(504, []))

    retries = await asyncio.gather(*(post(api, d) for d in refused))
    assert [r.status_code for r, _ in retries] == [202] * len(refused), [
        r.text for r, _ in retries
    ][:3]
    await wait_stored(pg_pool, refused)
    counts = await stored_count(pg_pool, refused)
    assert all(counts[d] == 1 for d in refused)


@pytest.mark.timeout(180)
async def test_redis_restart_then_burst_of_200_has_no_503(
    stack: Stack, pipeline: Pipeline, api: httpx.AsyncClient, pg_pool: Pool, redis_client: Redis
) -> None:
    """After a Redis restart, once Redis answers, a 200-upload burst gets no 503 (no stale pooled connection)."""
    if stack.kind != "native":
        pytest.skip("restarting Redis is scripted for the native stack only")
    warm = fresh_days(250)
    # every pooled connection of the gateway in use once, so all of them die with the restart
    rs = await asyncio.gather(*(post(api, d) for d in warm[:50]))
    assert [r.status_code for r, _ in rs] == [202] * 50
    await asyncio.to_thread(stack.restart_redis)
    assert await redis_client.ping()
    burst = warm[50:]
    rs = await asyncio.gather(*(post(api, d) for d in burst))
    codes = [r.status_code for r, _ in rs]
    assert codes.count(202) == len(burst), {c: codes.count(c) for c in set(codes)}
    await wait_stored(pg_pool, warm, timeout=120)


@pytest.mark.timeout(120)
async def test_fifty_concurrent_uploads_of_one_day_exactly_one_202(
    pipeline: Pipeline, api: httpx.AsyncClient, pg_pool: Pool
) -> None:
    """50 simultaneous uploads of one new day: exactly one 202, the others 409; the day stored once."""
    day = fresh_days(1)[0]
    rs = await asyncio.gather(
        *(api.post("/v1/uploads", content=sales_xml(day, seed=i)) for i in range(50))
    )
    codes = [r.status_code for r in rs]
    assert codes.count(202) == 1, {c: codes.count(c) for c in set(codes)}
    assert all(
        r.status_code == 409 and r.json()["code"] in ("day_in_progress", "duplicate_day")
        for r in rs
        if r.status_code != 202
    )
    in_progress = [r for r in rs if r.status_code == 409 and r.json()["code"] == "day_in_progress"]
    assert all(r.headers.get("Retry-After") for r in in_progress)
    await wait_stored(pg_pool, [day])
    assert (await stored_count(pg_pool, [day]))[day] == 1


@pytest.mark.timeout(120)
async def test_claim_released_when_the_upload_is_rejected(
    pipeline: Pipeline, api: httpx.AsyncClient, pg_pool: Pool
) -> None:
    """An upload of a day that ingest rejects gives the day back: the next upload of it is accepted."""
    day = fresh_days(1)[0]
    bad = f'<sales_data date="{day.isoformat()}"><products><product><id>x</id></product></products></sales_data>'
    first = await api.post("/v1/uploads", content=bad.encode())
    assert first.status_code == 202
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while (await api.get(first.json()["status_url"])).json()["status"] != "rejected":
        assert loop.time() < end
        await asyncio.sleep(0.1)
    second = await api.post("/v1/uploads", content=sales_xml(day))
    assert second.status_code == 202, second.text
    await wait_stored(pg_pool, [day])


async def test_legacy_route_says_in_progress_in_russian(
    pipeline: Pipeline, api: httpx.AsyncClient, redis_client: Redis
) -> None:
    """POST / of a day another upload holds answers 409 day_in_progress with the Russian message."""
    day = fresh_days(1)[0]
    await redis_client.set(redis_day_key(day.isoformat()), str(uuid.uuid4()), ex=60)
    r = await api.post("/", content=sales_xml(day))
    assert r.status_code == 409 and r.headers["Retry-After"]
    assert r.json() == {
        "code": "day_in_progress",
        "message": DAY_IN_PROGRESS_MESSAGE,
        "sales_date": day.isoformat(),
    }
    await redis_client.delete(redis_day_key(day.isoformat()))


@pytest.mark.timeout(300)
async def test_same_key_retry_during_an_outage_is_never_told_nothing_was_accepted(
    stack: Stack, pipeline: Pipeline, api: httpx.AsyncClient, pg_pool: Pool
) -> None:
    """Kafka killed: a same-key retry of an upload answered 504 is answered 504 again (never 503
    "nothing was accepted"), and the day is stored under that key's upload id once Kafka is back."""
    if stack.kind != "native":
        pytest.skip("killing Kafka is scripted for the native stack only")
    # The first upload after the kill is either handed to the producer (504: it may be stored)
    # or not taken at all (503: truthfully nothing accepted), as the producer's connection
    # state has it; the finding is about the retry of a 504, so try (a new day) until one.
    for _ in range(3):
        day, key = fresh_days(1)[0], f"outage-{uuid.uuid4()}"
        headers = {"Idempotency-Key": key}
        await asyncio.to_thread(stack.kill_kafka)
        try:
            first, _ = await post(api, day, headers=headers)
            if first.status_code == 503:
                continue
            assert (first.status_code, first.json()["code"]) == (504, "kafka_unconfirmed"), (
                first.text
            )
            retry, _ = await post(api, day, headers=headers)
            assert retry.status_code != 503, retry.text
            assert (retry.status_code, retry.json()["code"]) == (504, "kafka_unconfirmed"), (
                retry.text
            )
            assert retry.json()["upload_id"] == first.json()["upload_id"]
            break
        finally:
            await asyncio.to_thread(stack.start_kafka)
    else:
        # Since the producer's send() is bounded (1.5 s) and the breaker answers in flight
        # publishes at once, a kill -9 usually leaves nothing handed over: every answer is a
        # true 503. The retry rule itself is pinned in tests/unit/test_upload_outcomes.py.
        pytest.skip("no upload was handed to Kafka before it went away in three tries")
    await wait_stored(pg_pool, [day], timeout=120)
    owner = await pg_pool.fetchval("SELECT upload_id FROM sales_days WHERE sales_date = $1", day)
    assert str(owner) == first.json()["upload_id"]


async def test_same_key_retry_of_a_stored_upload_answers_200_stored(
    pipeline: Pipeline, api: httpx.AsyncClient, pg_pool: Pool
) -> None:
    """A same-key retry of a stored upload answers 200 with its receipt saying stored."""
    day, key = fresh_days(1)[0], f"stored-{uuid.uuid4()}"
    # An earlier test's Kafka outage may still hold the gateway's breaker open: a 503 is
    # "nothing accepted", so the same key is simply tried again until Kafka takes it.
    first = await wait_until(
        lambda: _accepted(api, day, key),
        timeout=60,
        every=0.5,
        what="the gateway accepting an upload",
    )
    assert first is not None
    await wait_stored(pg_pool, [day])
    retry, _ = await post(api, day, headers={"Idempotency-Key": key})
    assert retry.status_code == 200, retry.text
    body = retry.json()
    assert (body["upload_id"], body["status"]) == (first.json()["upload_id"], "stored")
    assert body == (await api.get(first.json()["status_url"])).json()


async def _accepted(api: httpx.AsyncClient, day: dt.date, key: str) -> httpx.Response | None:
    """The upload's 202, or None while the gateway answers 503 (nothing was accepted)."""
    r, _ = await post(api, day, headers={"Idempotency-Key": key})
    if r.status_code == 503:
        return None
    assert r.status_code == 202, r.text
    return r


def _outage_lines(lines: list[str]) -> tuple[bool, bool]:
    """(a line said Kafka went away, a line said it is back) among JSON log lines."""
    went = back = False
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("dependency") == "kafka":
            went |= rec.get("outage") == "began"
            back |= rec.get("outage") == "ended"
    return went, back


@pytest.mark.timeout(300)
async def test_kafka_outage_of_15_s_with_the_service_idle_is_a_few_log_lines(
    stack: Stack, pipeline: Pipeline, api: httpx.AsyncClient
) -> None:
    """Kafka killed 15 s, the service idle: each process writes ≤ 20 log lines, one saying Kafka went and one that it is back."""
    if stack.kind != "native":
        pytest.skip("killing Kafka is scripted for the native stack only")
    names = ("gateway", "ingest", "reporter")
    await _caught_up(pipeline)  # idle, and Kafka answered each consumer's lag monitor
    before = {n: len(pipeline.log_lines(n)) for n in names}
    await asyncio.to_thread(stack.kill_kafka)
    try:
        await asyncio.sleep(15)  # the outage
        # the gateway notices only when asked: one upload during the outage
        r, _ = await post(api, fresh_days(1)[0])
        assert r.status_code in (503, 504), r.text
    finally:
        await asyncio.to_thread(stack.start_kafka)
    # the consumers say Kafka is back once their lag monitor (every 10 s) reaches it
    loop = asyncio.get_running_loop()
    end = loop.time() + 60
    while loop.time() < end:
        new = {n: pipeline.log_lines(n)[before[n] :] for n in names}
        if all(_outage_lines(new[n])[1] for n in ("ingest", "reporter")):
            break
        await asyncio.sleep(0.5)
    # the outage's lines: up to the one saying Kafka is back (work done after it is not the outage's)
    written = {n: _until_back(lines) for n, lines in new.items()}
    try:
        assert all(count <= 20 for count in written.values()), written
        for n in ("ingest", "reporter"):
            assert _outage_lines(new[n]) == (True, True), (n, new[n][:5])
    finally:
        await _caught_up(pipeline)  # the next tests start from no backlog


def _until_back(lines: list[str]) -> int:
    """How many lines up to and including the first saying Kafka is back (all without one)."""
    for i, line in enumerate(lines):
        if '"outage": "ended"' in line and '"dependency": "kafka"' in line:
            return i + 1
    return len(lines)


async def _caught_up(pipeline: Pipeline, *, timeout: float = 180.0) -> None:
    """Until ingest and the reporter report no lag (their lag monitors measure every 10 s)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        for name in ("ingest", "reporter"):
            while True:
                try:
                    if (await client.get(pipeline.health_url(name))).json().get("lag") == 0:
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                if loop.time() > end:
                    raise AssertionError(f"{name} still has a backlog")
                await asyncio.sleep(1.0)

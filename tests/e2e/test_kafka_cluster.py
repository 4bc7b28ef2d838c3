"""Three Kafka brokers (replication factor 3, min.insync.replicas 2): one killed mid-stream loses nothing.

The module starts a cluster of its own (deploy/native/services with SALES_KAFKA_BROKERS=3,
state in .state/test-cluster) and a gateway and an ingest pointed at it, with the test
stack's PostgreSQL and Redis; everything is stopped and the cluster's data deleted after.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from service.storage.db import Pool

from ..helpers import sales_xml
from ..procs import Pipeline
from ..stack import Cluster, Stack, start_cluster
from .helpers import stored_count, wait_stored

TOKEN = "cluster-token-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def cluster(stack: Stack) -> Iterator[Cluster]:
    if stack.kind != "native":
        pytest.skip("the three-broker cluster is scripted for the native stack only")
    c = start_cluster()
    try:
        yield c
    finally:
        c.purge()


@pytest.fixture(scope="module")
def cluster_pipeline(
    stack: Stack,
    cluster: Cluster,
    pg_pool: Any,
    redis_client: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    env = {
        **stack.env(),
        "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap,
        "KAFKA_REPLICATION_FACTOR": "3",
        "ACCESS_TOKEN": TOKEN,
        "APP_ENV": "test",
        "LOG_FORMAT": "json",
        "RATE_LIMIT_PER_MINUTE": "100000",
        "CACHE_LIFE_PERIOD": "3600",
        "RETRY_BACKOFF_MAX_SECONDS": "1",
        "BACKGROUND_NICE": "0",
    }
    pipe = Pipeline.create(env, tmp_path_factory.mktemp("cluster-logs"))
    try:
        for name in ("ingest", "gateway"):
            pipe.start(name, timeout=120)
        yield pipe
    finally:
        pipe.stop_all()


@pytest_asyncio.fixture
async def cluster_api(cluster_pipeline: Pipeline) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=cluster_pipeline.gateway_url,
        timeout=60,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        yield client


@pytest.mark.timeout(300)
async def test_topics_are_replicated_three_times(
    cluster: Cluster, cluster_pipeline: Pipeline
) -> None:
    """The service creates its topics with 3 replicas and min.insync.replicas=2."""
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(["sales.raw"])
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "sales.raw")]
        )
    finally:
        await admin.close()
    partitions = described[0]["partitions"]
    assert partitions and all(len(p["replicas"]) == 3 for p in partitions)
    entries = {e[0]: e[1] for e in configs[0].resources[0][4]}
    assert entries["min.insync.replicas"] == "2"


@pytest.mark.timeout(300)
async def test_one_broker_killed_mid_stream_loses_nothing(
    cluster: Cluster, cluster_api: httpx.AsyncClient, pg_pool: Pool
) -> None:
    """kill -9 of one of three brokers mid-stream: every upload accepted (at most a few refused 503
    at the kill, never stored), every accepted day stored once."""
    days = [dt.date(2300, 1, 1) + dt.timedelta(days=i) for i in range(60)]
    answers: dict[dt.date, httpx.Response] = {}
    seconds: dict[dt.date, float] = {}

    async def one(day: dt.date) -> None:
        started = time.monotonic()
        answers[day] = await cluster_api.post("/v1/uploads", content=sales_xml(day))
        seconds[day] = time.monotonic() - started

    pending = []
    try:
        for i, day in enumerate(days):
            if i == 15:
                cluster.kill(2)
            pending.append(asyncio.create_task(one(day)))
            await asyncio.sleep(0.1)
        await asyncio.gather(*pending)
    finally:
        await asyncio.to_thread(cluster.revive)
    # Every upload is accepted, except one sent while its partition's leader was the dead
    # broker and no new leader was known within the gateway's 1.5 s bound on send(): that
    # one is refused 503 (true: never handed over, never stored), so the client retries.
    refused = [d for d in days if answers[d].status_code == 503]
    codes = [answers[d].status_code for d in days if d not in refused]
    assert codes == [202] * len(codes), {c: codes.count(c) for c in set(codes)}
    assert len(refused) <= 3, f"{len(refused)} of {len(days)} uploads refused"
    accepted = [d for d in days if d not in refused]
    await wait_stored(pg_pool, accepted, timeout=180)
    counts = await stored_count(pg_pool, days)
    assert all(counts[d] == 1 for d in accepted)
    assert all(counts.get(d, 0) == 0 for d in refused), "a refused (503) upload was stored"
    # The loss costs the uploads of its first seconds the time the cluster takes to fence
    # the dead broker (1.5 s session) and move its leaders and ISRs: 2.9-3.3 s p99 measured
    # at load ~10 on 2 cores (issue 19's target is 2 s; Kafka's 9 s default gave 8.6 s).
    during = sorted(seconds[d] for d in days[15:])
    p99 = during[min(len(during) - 1, int(0.99 * len(during)))]
    assert p99 <= 3.5, f"upload p99 {p99:.2f} s with one broker lost; slowest {during[-5:]}"


@pytest.mark.timeout(400)
async def test_two_brokers_lost_every_upload_answered_within_2_5_s_and_truthfully(
    cluster: Cluster, cluster_api: httpx.AsyncClient, pg_pool: Pool
) -> None:
    """Two of three brokers killed (below min.insync.replicas): every answer within 2.5 s; 202/504 stored once, 503 never."""
    days = [dt.date(2310, 1, 1) + dt.timedelta(days=i) for i in range(60)]
    answers: dict[dt.date, httpx.Response] = {}
    seconds: dict[dt.date, float] = {}

    async def one(day: dt.date) -> None:
        started = time.monotonic()
        answers[day] = await cluster_api.post("/v1/uploads", content=sales_xml(day))
        seconds[day] = time.monotonic() - started

    pending = []
    try:
        for i, day in enumerate(days):
            if i == 10:
                cluster.kill(2)
                cluster.kill(3)
            pending.append(asyncio.create_task(one(day)))
            await asyncio.sleep(0.1)
        await asyncio.gather(*pending)
    finally:
        await asyncio.to_thread(cluster.revive)
    by_status: dict[int, list[dt.date]] = {}
    for day, r in answers.items():
        by_status.setdefault(r.status_code, []).append(day)
    assert set(by_status) <= {202, 503, 504}, {s: len(d) for s, d in by_status.items()}
    assert by_status.get(503), "no upload was refused below min.insync.replicas"
    assert all(answers[d].json()["code"] == "kafka_unavailable" for d in by_status[503])
    # the first uploads: 504 once the breaker opens (~0.5 s suspect + ≤ 1 s probe), or 503
    # when send() could not take the record within 1.5 s; later ones 503 at once
    late = sorted(round(seconds[d], 2) for d in days if seconds[d] > 2.5)
    assert not late, f"answers slower than 2.5 s: {late}"
    kept = by_status.get(202, []) + by_status.get(504, [])
    await wait_stored(pg_pool, kept, timeout=240)
    await asyncio.sleep(3)  # ingest caught up with sales.raw; a 503'd day would be here by now
    counts = await stored_count(pg_pool, days)
    assert all(counts.get(d) == 1 for d in kept), {d: counts.get(d) for d in kept}
    assert not [d for d in by_status[503] if d in counts], "a day answered 503 was stored"

"""Three Kafka brokers (replication factor 3, min.insync.replicas 2): one killed mid-stream loses nothing.

The module starts a cluster of its own (deploy/native/services with SALES_KAFKA_BROKERS=3,
state in .state/test-cluster) and a gateway and an ingest pointed at it, with the test
stack's PostgreSQL and Redis; everything is stopped and the cluster's data deleted after.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
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
    """kill -9 of one of three brokers mid-stream: every upload accepted, every accepted day stored once."""
    days = [dt.date(2300, 1, 1) + dt.timedelta(days=i) for i in range(60)]
    answers: dict[dt.date, httpx.Response] = {}

    async def one(day: dt.date) -> None:
        answers[day] = await cluster_api.post("/v1/uploads", content=sales_xml(day))

    pending = []
    for i, day in enumerate(days):
        if i == 15:
            cluster.kill(2)
        pending.append(asyncio.create_task(one(day)))
        await asyncio.sleep(0.1)
    await asyncio.gather(*pending)
    codes = [r.status_code for r in answers.values()]
    assert codes == [202] * len(days), {c: codes.count(c) for c in set(codes)}
    await wait_stored(pg_pool, days, timeout=180)
    counts = await stored_count(pg_pool, days)
    assert all(counts[d] == 1 for d in days)

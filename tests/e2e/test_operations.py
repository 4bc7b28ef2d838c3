"""Operating the service: health, readiness, metrics that move, logs without secrets."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import httpx

from ..helpers import READ_TOKEN, TOKEN, sales_xml
from ..kafka_tools import Events
from ..procs import Pipeline
from .helpers import sample, scrape


async def test_every_process_is_healthy_and_the_gateway_ready(pipeline: Pipeline) -> None:
    """/healthz answers on all three processes; /readyz sees Kafka, PostgreSQL and Redis."""
    async with httpx.AsyncClient() as c:
        for name in ("gateway", "ingest", "reporter"):
            r = await c.get(pipeline.health_url(name))
            assert r.status_code == 200, (name, r.text)
        ready = await c.get(f"{pipeline.gateway_url}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "kafka": True,
        "postgresql": True,
        "redis": True,
    }


async def test_metrics_move_on_every_process(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """An upload moves the gateway's, ingest's and reporter's counters; lag is exported."""
    before = {n: await scrape(pipeline.metrics_url(n)) for n in ("gateway", "ingest", "reporter")}
    r = await api.post("/v1/uploads", content=sales_xml(days[0]))
    await api.post("/v1/uploads", content=b"nope")
    await events.wait("sales.reports", upload_id=r.json()["upload_id"])
    after = {n: await scrape(pipeline.metrics_url(n)) for n in ("gateway", "ingest", "reporter")}

    def grew(proc: str, name: str, **labels: str) -> bool:
        return sample(after[proc], name, **labels) > sample(before[proc], name, **labels)

    assert grew("gateway", "sales_gateway_uploads_total", outcome="accepted")
    assert grew("gateway", "sales_gateway_uploads_total", outcome="invalid")
    # the upload fast path labels its requests with the route, as FastAPI's routing does
    assert grew("gateway", "sales_gateway_requests_total", route="/v1/uploads", status="202")
    assert grew("gateway", "sales_gateway_requests_total", route="/v1/uploads", status="400")
    assert grew("ingest", "sales_ingest_uploads_total", status="stored")
    assert grew("ingest", "sales_stage_seconds_count", stage="ingest_batch")
    assert grew("reporter", "sales_reports_total", status="ok", verified="true")
    assert grew("reporter", "sales_llm_calls_total", outcome="ok")
    assert grew("reporter", "sales_llm_tokens_total", kind="total_tokens")
    assert "faststream_received_messages_total" in after["ingest"]
    assert "sales_consumer_lag_messages" in after["ingest"]


async def test_logs_are_json_with_context_and_never_hold_a_token(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """Log lines are JSON with the upload's context; no bearer token or API key appears."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0]))
    await events.wait("sales.reports", upload_id=r.json()["upload_id"])
    async with httpx.AsyncClient(base_url=pipeline.gateway_url) as c:
        await c.post(
            "/v1/uploads",
            content=b"x",
            headers={"Authorization": "Bearer sk-not-a-valid-secret-123"},
        )
        await c.get("/v1/reports", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    logs = {
        n: (pipeline.log_dir / f"{n}.log").read_text() for n in ("gateway", "ingest", "reporter")
    }
    for text in logs.values():
        assert TOKEN not in text and READ_TOKEN not in text
        assert "sk-not-a-valid-secret-123" not in text and "sk-test-not-a-real-key" not in text
    upload_id = r.json()["upload_id"]
    line = next(ln for ln in logs["ingest"].splitlines() if upload_id in ln)
    assert (
        re.search(r'"partition": \d+', line)
        and '"offset"' in line
        and '"topic": "sales.raw"' in line
    )


async def test_metrics_of_a_gateway_with_two_workers_count_every_worker(
    side_gateway: Callable[..., Pipeline],
) -> None:
    """With GATEWAY_WORKERS=2, whichever worker answers /metrics reports the whole gateway."""
    pipe = side_gateway(GATEWAY_WORKERS="2", RATE_LIMIT_PER_MINUTE="0")
    n = 40
    for _ in range(n):  # a connection each: the kernel spreads them over both workers
        async with httpx.AsyncClient(
            base_url=pipe.gateway_url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as c:
            assert (await c.post("/v1/uploads", content=b"x")).status_code == 400
    seen = {
        sample(
            await scrape(pipe.metrics_url("gateway")),
            "sales_gateway_uploads_total",
            outcome="invalid",
        )
        for _ in range(8)
    }
    assert seen == {float(n)}

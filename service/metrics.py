"""Prometheus metrics of every process, declared once.

Each process serves the default registry on /metrics (the gateway on its own
port, the consumers on INGEST_METRICS_PORT / REPORTER_METRICS_PORT). FastStream's
Prometheus middleware adds faststream_* series (messages received, processed,
published and their durations, per topic). A gateway of several workers runs in
prometheus_client's multiprocess mode (cli/serve.py sets PROMETHEUS_MULTIPROC_DIR):
exposition() then sums every worker's files.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "CONSUMER_LAG",
    "GATEWAY_REQUESTS",
    "GATEWAY_UNAVAILABLE",
    "GATEWAY_UPLOADS",
    "INGEST_UPLOADS",
    "LAST_PROGRESS",
    "LLM_CALLS",
    "LLM_SECONDS",
    "LLM_TOKENS",
    "REPORTS",
    "REPORTS_IN_FLIGHT",
    "RETRIES",
    "STAGE_SECONDS",
    "exposition",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

GATEWAY_REQUESTS = Counter(
    "sales_gateway_requests_total", "HTTP requests answered by the gateway", ["route", "status"]
)
GATEWAY_UPLOADS = Counter(
    "sales_gateway_uploads_total",
    "Uploads at the gateway by outcome: accepted, duplicate, in_progress, invalid, too_large, "
    "unauthorized, forbidden, rate_limited, unavailable, unconfirmed",
    ["outcome"],
)
GATEWAY_UNAVAILABLE = Counter(
    "sales_gateway_unavailable_total",
    "503 answers of the gateway by reason (kafka_unavailable, database_unavailable, cache_unavailable) "
    "and cause (circuit_open, not_connected, not_taken, or the library's exception class)",
    ["reason", "cause"],
)
INGEST_UPLOADS = Counter(
    "sales_ingest_uploads_total", "Uploads recorded by ingest, by final status", ["status"]
)
STAGE_SECONDS = Histogram(
    "sales_stage_seconds", "Processing latency per stage", ["stage"], buckets=_LATENCY_BUCKETS
)
RETRIES = Counter(
    "sales_transient_retries_total",
    "Batches/messages put back for a later retry",
    ["stage", "reason"],
)
LLM_CALLS = Counter("sales_llm_calls_total", "LLM calls by outcome", ["outcome"])
LLM_SECONDS = Histogram("sales_llm_seconds", "LLM call latency", buckets=_LATENCY_BUCKETS)
LLM_TOKENS = Counter("sales_llm_tokens_total", "Tokens used by the LLM", ["kind"])
REPORTS = Counter("sales_reports_total", "Reports stored", ["status", "verified"])
REPORTS_IN_FLIGHT = Gauge(
    "sales_reports_in_flight",
    "Reports this reporter is working on now (at most LLM_MAX_CONCURRENCY)",
)
CONSUMER_LAG = Gauge(
    "sales_consumer_lag_messages",
    "Messages not yet consumed, per partition",
    ["group", "topic", "partition"],
)
LAST_PROGRESS = Gauge(
    "sales_last_progress_timestamp_seconds",
    "Unix time a consumer last finished a batch or message (set at start-up too)",
    ["stage"],
)


def exposition() -> bytes:
    """This process's metrics, or all the gateway workers' in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()

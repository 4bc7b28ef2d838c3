"""Generate what contracts/ publishes from the code: JSON Schemas of the events
and the AsyncAPI document of the topics. ``--check`` fails on drift (a test runs it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from ..bus import make_broker
from ..models import (
    ChunkManifest,
    ReportEvent,
    ReportRequest,
    SalesCorrected,
    SalesRejected,
    SalesStored,
)
from ..names import (
    TOPIC_CORRECTED,
    TOPIC_RAW,
    TOPIC_REJECTED,
    TOPIC_REPORT_REQUESTS,
    TOPIC_REPORTS,
    TOPIC_STORED,
)
from ..settings import Settings

__all__ = ["render_contracts", "write_contracts"]

EVENT_SCHEMAS: dict[str, type[BaseModel]] = {
    TOPIC_STORED: SalesStored,
    TOPIC_REJECTED: SalesRejected,
    TOPIC_REPORTS: ReportEvent,
    TOPIC_REPORT_REQUESTS: ReportRequest,
    TOPIC_CORRECTED: SalesCorrected,
    f"{TOPIC_RAW}.manifest": ChunkManifest,  # the closing record of a big day on sales.raw
}


def render_contracts() -> dict[str, str]:
    """Relative path → content of every generated contract file."""
    files: dict[str, str] = {}
    for topic, model in EVENT_SCHEMAS.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://sales-analyzer.local/contracts/schemas/{topic}.schema.json"
        files[f"schemas/{topic}.schema.json"] = (
            json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        )

    # One AsyncAPI document per process (what it consumes and publishes): a single
    # document would merge a topic's producer and consumer into one operation.
    # Apps are built, not started; settings are pinned so the output does not
    # depend on the environment it is generated in.
    from ..ingest.app import build_ingest
    from ..reporter.app import build_reporter

    settings = Settings(_env_file=None, kafka_bootstrap_servers="127.0.0.1:9092")
    gateway = make_broker(settings, client_id="sales-gateway")
    gateway.publisher(
        TOPIC_RAW,
        title="sales.raw",
        schema=bytes,
        description="raw sales-day XML, key = sales date; headers x-upload-id, x-sender, "
        "x-source (any other producer may omit them); x-replace: true for a "
        "correction (PUT /v1/sales/{date}, POST /v1/uploads?replace=true). A big day: "
        "chunk records (x-part: chunk, x-chunk-index, x-chunk-last) and a ChunkManifest "
        "record (x-part: manifest), see contracts/topics.md",
    )
    gateway.publisher(
        TOPIC_REPORT_REQUESTS,
        title="sales.report-requests",
        schema=ReportRequest,
        description="regeneration requests from POST /v1/reports/{date}/regenerate",
    )
    processes = {
        "gateway": gateway,
        "ingest": build_ingest(settings).broker,
        "reporter": build_reporter(settings).broker,
    }
    for name, broker in processes.items():
        spec = AsyncAPI(
            broker,  # type: ignore[arg-type]
            title=f"Sales Analyzer: {name}",
            version="1.0",
            description=f"Kafka topics the {name} process consumes and publishes.",
        )
        # FastStream's channel order is not stable between runs; sort mapping keys so
        # the drift check compares content, not order.
        document = yaml.safe_load(spec.to_specification().to_yaml())
        files[f"asyncapi/{name}.yaml"] = yaml.safe_dump(
            document, sort_keys=True, allow_unicode=True
        )
    return files


def write_contracts(directory: str, *, check: bool) -> int:
    root = Path(directory)
    stale = []
    for rel, content in render_contracts().items():
        path = root / rel
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(rel)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if check and stale:
        print("out of date (run `sales-analyzer contracts`): " + ", ".join(stale), file=sys.stderr)
        return 1
    print(("stale: " if check else "written: ") + (", ".join(stale) or "nothing (up to date)"))
    return 0

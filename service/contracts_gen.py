"""Generate what contracts/ publishes from the code: JSON Schemas of the events
and the AsyncAPI document of the topics. ``--check`` fails on drift (a test runs it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from faststream.specification import AsyncAPI
from pydantic import BaseModel

from .bus import make_broker
from .models import ReportEvent, ReportRequest, SalesRejected, SalesStored
from .names import TOPIC_RAW, TOPIC_REJECTED, TOPIC_REPORT_REQUESTS, TOPIC_REPORTS, TOPIC_STORED
from .settings import Settings

__all__ = ["render_contracts", "write_contracts"]

EVENT_SCHEMAS: dict[str, type[BaseModel]] = {
    TOPIC_STORED: SalesStored,
    TOPIC_REJECTED: SalesRejected,
    TOPIC_REPORTS: ReportEvent,
    TOPIC_REPORT_REQUESTS: ReportRequest,
}


def render_contracts() -> dict[str, str]:
    """Relative path → content of every generated contract file."""
    files: dict[str, str] = {}
    for topic, model in EVENT_SCHEMAS.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://sales-analyzer.local/contracts/schemas/{topic}.schema.json"
        files[f"schemas/{topic}.schema.json"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"

    # Build the apps without starting them: their brokers carry the declared
    # subscribers and publishers. Settings are defaults, so the document does not
    # depend on the environment it is generated in.
    from .ingest.app import build_ingest
    from .reporter.app import build_reporter

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    gateway = make_broker(settings, client_id="sales-gateway")
    gateway.publisher(TOPIC_RAW, title="sales.raw", schema=bytes,
                      description="raw sales-day XML, key = sales date (gateway or any producer)")
    gateway.publisher(TOPIC_REPORT_REQUESTS, title="sales.report-requests", schema=ReportRequest,
                      description="regeneration requests from POST /v1/reports/{date}/regenerate")
    brokers = [gateway, build_ingest(settings).broker, build_reporter(settings).broker]
    spec = AsyncAPI(*brokers, title="Sales Analyzer", version="1.0",  # type: ignore[arg-type]
                    description="Topics of the Sales Analyzer pipeline: gateway → ingest → reporter.")
    files["asyncapi.yaml"] = spec.to_specification().to_yaml()
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

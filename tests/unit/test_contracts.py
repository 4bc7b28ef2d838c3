"""contracts/ matches the code: generated files, event schemas, topic table, public names."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path

import jsonschema

import service.errors
import service.names
from service.cli.contracts_gen import render_contracts
from service.events import ReportEvent, ReportRequest, SalesCorrected, SalesRejected, SalesStored
from service.ingest.diff import diff_days
from service.models import Issue, KafkaPosition, ReportClaim, SalesLine

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
NOW = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
UPLOAD = uuid.UUID("00000000-0000-4000-8000-000000000001")


def test_generated_contracts_are_up_to_date() -> None:
    """JSON Schemas and AsyncAPI documents in contracts/ equal what the code generates."""
    for rel, content in render_contracts().items():
        path = CONTRACTS / rel
        assert path.exists(), f"{rel} missing: run `sales-analyzer contracts`"
        assert path.read_text(encoding="utf-8") == content, (
            f"{rel} drifted: run `sales-analyzer contracts`"
        )


def _events() -> dict[str, object]:
    return {
        "sales.stored": SalesStored(
            event_id=f"stored:{UPLOAD}",
            upload_id=UPLOAD,
            sales_date=dt.date(2024, 1, 1),
            products=5,
            rejected_products=1,
            total_units=10,
            total_revenue=Decimal("1500.50"),
            source="http",
            sender="default",
            issues=[Issue(code="bad_decimal", message="m", line=3, field="price")],
            stored_at=NOW,
        ),
        "sales.rejected": SalesRejected(
            event_id=f"rejected:{UPLOAD}",
            upload_id=UPLOAD,
            sales_date=None,
            status="rejected",
            reason="bad_date",
            source="kafka",
            kafka=KafkaPosition(topic="sales.raw", partition=1, offset=2),
            rejected_at=NOW,
        ),
        "sales.reports": ReportEvent(
            event_id="report:x",
            upload_id=UPLOAD,
            sales_date=dt.date(2024, 1, 1),
            report_id=UPLOAD,
            status="ok",
            verified=True,
            text="t",
            language="ru",
            model="builtin",
            prompt_version="v1",
            attempts=1,
            facts={"a": "1"},
            created_at=NOW,
            claims=[
                ReportClaim(
                    start=0,
                    end=8,
                    text="4,75 млн",
                    verified=True,
                    form="scaled",
                    rule="4752113.20 (total_revenue) with a scale word, rounded as written",
                    sources=["total_revenue"],
                )
            ],
        ),
        "sales.report-requests": ReportRequest(
            request_id=UPLOAD, sales_date=dt.date(2024, 1, 1), requested_at=NOW
        ),
        "sales.corrected": SalesCorrected(
            event_id=f"corrected:{UPLOAD}",
            upload_id=UPLOAD,
            superseded_upload_id=uuid.uuid4(),
            sales_date=dt.date(2024, 1, 1),
            sender="default",
            corrected_at=NOW,
            diff=diff_days(
                [
                    SalesLine(1, "A", "C", 2, Decimal("1.50")),
                    SalesLine(2, "B", "C", 1, Decimal("3")),
                ],
                [
                    SalesLine(1, "A", "C", 2, Decimal("1.75")),
                    SalesLine(3, "N", "C", 1, Decimal("9")),
                ],
            ),
        ),
    }


def test_events_on_the_wire_validate_against_their_schemas() -> None:
    """Each event as published (JSON) is valid against contracts/schemas/<topic>.schema.json."""
    for topic, event in _events().items():
        schema = json.loads((CONTRACTS / "schemas" / f"{topic}.schema.json").read_text())
        payload = json.loads(event.model_dump_json())  # type: ignore[attr-defined]
        jsonschema.validate(payload, schema)
        assert "upload_id" in payload or topic == "sales.report-requests"


def test_money_travels_as_an_exact_string() -> None:
    """total_revenue is serialised as a decimal string, never a float."""
    payload = json.loads(_events()["sales.stored"].model_dump_json())  # type: ignore[attr-defined]
    assert payload["total_revenue"] == "1500.50"


def test_topic_table_lists_every_topic_and_group() -> None:
    """contracts/topics.md and docs/architecture.md name every topic and consumer group of names.py."""
    table = (CONTRACTS / "topics.md").read_text(encoding="utf-8")
    overview = (CONTRACTS.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in (
        *service.names.ALL_TOPICS,
        service.names.GROUP_INGEST,
        service.names.GROUP_REPORTS,
    ):
        assert f"`{name}`" in table and f"`{name}`" in overview, name


def test_contract_names_are_stable() -> None:
    """The names others script against keep their values (contracts/topics.md)."""
    n = service.names
    assert (n.TOPIC_RAW, n.TOPIC_STORED, n.TOPIC_REJECTED, n.TOPIC_REPORTS) == (
        "sales.raw",
        "sales.stored",
        "sales.rejected",
        "sales.reports",
    )
    assert (n.GROUP_INGEST, n.GROUP_REPORTS) == ("sales-ingest", "sales-reports")
    assert n.DUPLICATE_DAY_MESSAGE == "Статистика за эту дату уже собрана."


def test_error_module_exports_the_documented_tree() -> None:
    """service.errors exports exactly the tree drawn in its docstring."""
    assert set(service.errors.__all__) == {
        "SalesAnalyzerError",
        "ConfigError",
        "KafkaRefused",
        "TransientError",
        "StorageUnavailable",
        "CacheUnavailable",
        "BusUnavailable",
        "BusUnconfirmed",
        "LLMUnavailable",
        "DayChanged",
        "PermanentError",
        "LLMRejected",
        "UnknownDay",
    }
    for name in service.errors.__all__:
        assert name in (service.errors.__doc__ or "")

"""Typed payloads: what the pure core produces and what travels on the topics.

The event models are the source of the JSON Schemas in contracts/schemas/
(``sales-analyzer contracts`` writes them; a test fails when they drift).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChangeSet",
    "ChunkManifest",
    "DayDiff",
    "Issue",
    "KafkaPosition",
    "Origin",
    "ParsedDay",
    "ProductChange",
    "ProductState",
    "ReportClaim",
    "ReportEvent",
    "ReportRequest",
    "ReportStatus",
    "RowStatus",
    "SalesCorrected",
    "SalesLine",
    "SalesRejected",
    "SalesStored",
    "StoredUpload",
    "UploadRecord",
    "UploadStatus",
]


class Issue(BaseModel):
    """One problem found in an upload: where (line, product, field), what (code), why."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="machine-readable error code, see contracts/errors.md")
    message: str = Field(description="human-readable explanation")
    line: int | None = Field(None, description="1-based line in the XML where the problem is")
    field: str | None = Field(None, description="element or attribute name, e.g. 'price' or 'date'")
    product_index: int | None = Field(
        None, description="1-based position of the <product> in the file"
    )
    product_id: str | None = Field(None, description="the product's <id> text as sent, if any")


@dataclass(frozen=True, slots=True)
class SalesLine:
    """One validated product line of a day (plain dataclass: built 100k+ times a second)."""

    product_id: int
    name: str
    category: str
    quantity: int
    price: Decimal


@dataclass(slots=True)
class ParsedDay:
    """Result of parsing and validating one upload. Never raises for bad input."""

    sales_date: dt.date | None
    lines: list[SalesLine] = field(default_factory=list)
    # Problems that make the whole document unusable (bad XML, bad date, ...).
    fatal: list[Issue] = field(default_factory=list)
    # Problems with single products (dropped in lenient mode, fatal in strict mode).
    product_issues: list[Issue] = field(default_factory=list)
    products_seen: int = 0
    # Product id → line of the first <product> with that id (for positions of stored lines).
    id_lines: dict[int, int | None] = field(default_factory=dict)

    @property
    def rejected_products(self) -> int:
        return len({i.product_index for i in self.product_issues if i.product_index is not None})


class KafkaPosition(BaseModel):
    topic: str
    partition: int
    offset: int


Origin = Literal["http", "kafka"]
# "stored" in an UploadRecord is a candidate: it may still lose its day to one PostgreSQL has.
UploadStatus = Literal["stored", "rejected", "duplicate"]
# A row's status: also "superseded" once a correction replaced the day it had stored.
RowStatus = Literal["stored", "rejected", "duplicate", "superseded"]
# "pending" while LLM rounds fail and are counted; "ok" or "failed" once finished.
ReportStatus = Literal["pending", "ok", "failed"]


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """What ingest decided for one upload, ready to be written (storage/uploads.py)."""

    upload_id: UUID
    status: UploadStatus
    sales_date: dt.date | None
    source: Origin
    sender: str | None
    size_bytes: int
    topic: str
    partition: int
    offset: int
    products_seen: int = 0
    products_rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    lines: list[SalesLine] = field(default_factory=list)
    total_units: int = 0
    total_revenue: Decimal = Decimal(0)
    replace: bool = (
        False  # a correction (x-replace: true): stored by storage/corrections.py:replace_day
    )


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """An upload row as stored (used to replay a redelivered message's outcome)."""

    upload_id: UUID
    status: RowStatus
    sales_date: dt.date | None
    source: Origin
    sender: str | None
    products_stored: int
    products_rejected: int
    errors: list[dict[str, Any]]
    topic: str
    partition: int
    offset: int
    updated_at: dt.datetime
    total_units: int | None
    total_revenue: Decimal | None


class _Event(BaseModel):
    event_id: str = Field(description="deterministic id; consumers dedupe on it")
    upload_id: UUID
    sales_date: dt.date | None


class SalesStored(_Event):
    """A day was stored (or was already stored by this very upload: a redelivery)."""

    event: Literal["sales.stored"] = "sales.stored"
    sales_date: dt.date
    products: int = Field(description="product lines stored")
    rejected_products: int = Field(description="products dropped by lenient validation")
    total_units: int
    total_revenue: Decimal = Field(description="sum of quantity*price, exact, as a string")
    issues: list[Issue] = Field(default_factory=list, description="why products were dropped")
    source: Origin
    sender: str | None = None
    stored_at: dt.datetime
    supersedes: UUID | None = Field(
        None,
        description="a correction: the upload whose content this replaced "
        "(details on sales.corrected)",
    )


class SalesRejected(_Event):
    """An upload was refused: invalid (status rejected) or a day already stored (duplicate)."""

    event: Literal["sales.rejected"] = "sales.rejected"
    status: Literal["rejected", "duplicate"]
    reason: str = Field(description="one-line summary")
    errors: list[Issue] = Field(default_factory=list)
    source: Origin
    sender: str | None = None
    kafka: KafkaPosition = Field(description="where the raw upload is, for replay")
    rejected_at: dt.datetime


class ReportClaim(BaseModel):
    """One number of a report's text and where it came from (the verifier's provenance)."""

    start: int = Field(description="offset of the number in text (characters), sign included")
    end: int = Field(description="offset just past it (a scale or multiple word included)")
    text: str = Field(description="the number as written: '4,75 млн', 'в 6,6 раза', 'третий'")
    verified: bool = Field(description="true when the facts make it true in a recognised form")
    form: str = Field(
        description="how it is written: copied, rounded, scaled, approximate, almost, bound, "
        "multiple, difference, share, percent_change, price, rank, count, date, number"
    )
    rule: str = Field(description="how the facts make it true, or why they do not")
    sources: list[str] = Field(
        default_factory=list, description="the facts it rests on, e.g. 'total_revenue'"
    )
    problem: str | None = Field(
        None, description="why it is not verified (not_a_fact, wrong_sign, …); null when it is"
    )
    expected: str | None = Field(
        None, description="for a wrong number, the fact it most likely meant"
    )


class ReportEvent(_Event):
    """A day's report, stored; status failed when the LLM kept failing."""

    event: Literal["sales.reports"] = "sales.reports"
    sales_date: dt.date
    report_id: UUID
    status: Literal["ok", "failed"]
    verified: bool = Field(
        description="every number in text is a computed fact, with its own sign, direction, "
        "percent or amount form and product, and the day's revenue is stated"
    )
    unverified_numbers: list[str] = Field(
        default_factory=list,
        description="the numbers (as written) that failed the check; "
        "'missing total revenue X' when the revenue is not stated",
    )
    text: str = Field(description="the report, Markdown")
    language: Literal["ru", "en"]
    model: str = Field(description="LLM model, or 'builtin' for the built-in writer")
    prompt_version: str
    attempts: int = Field(
        description="LLM calls made for this report, failed ones included, over every "
        "delivery (0 for the built-in writer)"
    )
    facts: dict[str, Any] = Field(description="the computed figures the text is checked against")
    error: str | None = Field(None, description="why the report failed, when status is failed")
    created_at: dt.datetime
    claims: list[ReportClaim] = Field(
        default_factory=list,
        description="every number in text with its provenance (empty for reports stored before "
        "provenance was recorded, and for failed reports)",
    )


class ReportRequest(BaseModel):
    """Ask the reporter to write a day's report again (published by the read API)."""

    event: Literal["sales.report-requests"] = "sales.report-requests"
    request_id: UUID
    sales_date: dt.date
    requested_by: str | None = None
    requested_at: dt.datetime

    @property
    def event_id(self) -> str:
        """The x-event-id header it travels with (not part of the payload)."""
        return f"regenerate:{self.request_id}"


class ProductState(BaseModel):
    """One product line as a day held it (before or after a correction)."""

    name: str
    category: str
    quantity: int
    price: Decimal
    revenue: Decimal = Field(description="quantity * price")


class ProductChange(BaseModel):
    """A product a correction added (before is null), removed (after is null) or changed."""

    product_id: int
    fields: list[Literal["name", "category", "quantity", "price"]] = Field(
        default_factory=list, description="what changed, for a changed product"
    )
    before: ProductState | None = None
    after: ProductState | None = None


class ChangeSet(BaseModel):
    """How many products a correction touched in one way, and the first of them by product id."""

    count: int
    items: list[ProductChange] = Field(
        default_factory=list, description="the first MAX_CHANGES_LISTED (100) by product id"
    )


class DayDiff(BaseModel):
    """What a correction changed in a day: totals before and after, products added, removed, changed."""

    products_before: int
    products_after: int
    units_before: int
    units_after: int
    revenue_before: Decimal
    revenue_after: Decimal
    added: ChangeSet
    removed: ChangeSet
    changed: ChangeSet


class SalesCorrected(_Event):
    """A stored day was replaced by a correction; the superseded upload is kept for the audit."""

    event: Literal["sales.corrected"] = "sales.corrected"
    sales_date: dt.date
    upload_id: UUID = Field(description="the correcting upload, now the day's owner")
    superseded_upload_id: UUID = Field(
        description="the upload whose content was replaced (status superseded)"
    )
    sender: str | None = Field(None, description="who sent the correction (token name)")
    corrected_at: dt.datetime
    diff: DayDiff


class ChunkManifest(BaseModel):
    """The closing record of a big day sent in chunks (sales.raw, header x-part: manifest)."""

    event: Literal["sales.raw.manifest"] = "sales.raw.manifest"
    upload_id: UUID = Field(description="the same id as the x-upload-id header of every chunk")
    sales_date: dt.date | None = Field(
        None, description="the day, as the sender read it (informative)"
    )
    chunks: int = Field(
        ge=1, description="how many chunk records were sent (x-chunk-index 0..chunks-1)"
    )
    products: int = Field(0, ge=0, description="products the sender counted (informative)")
    bytes: int = Field(ge=0, description="the size of the whole file: the sum of the chunks' sizes")
    sha256: str = Field(
        pattern="^[0-9a-f]{64}$",
        description=(
            "hex SHA-256 over the chunks' own SHA-256 digests (32 bytes each), concatenated in index order"
        ),
    )
    abort: str | None = Field(
        None,
        description=(
            "set when the sender gave up half-way (e.g. too_large): the upload is refused with this code"
        ),
    )

"""The events: the payload models of the topics (contracts/topics.md), one module.

They are the source of the JSON Schemas in contracts/schemas/ (``sales-analyzer
contracts`` writes them; a test fails when they drift).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from .models import Issue, KafkaPosition, Origin, ReportClaim

__all__ = [
    "ChangeSet",
    "ChunkManifest",
    "DayDiff",
    "ProductChange",
    "ProductState",
    "ReportEvent",
    "ReportRequest",
    "SalesCorrected",
    "SalesRejected",
    "SalesStored",
]


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
    claims: list[ReportClaim] = Field(
        default_factory=list,
        description="every number in text with its provenance (empty for reports stored before "
        "provenance was recorded, and for failed reports)",
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

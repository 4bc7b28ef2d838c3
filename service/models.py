"""Typed values of the pure core: issues, parsed days, upload records and their statuses.

What travels on the topics is in events.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Issue",
    "KafkaPosition",
    "Origin",
    "ParsedDay",
    "ReportClaim",
    "ReportStatus",
    "RowStatus",
    "SalesLine",
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
    errors: list[Issue] = field(default_factory=list)
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

"""Pure decisions of the ingest stage: what an upload is, and what became of it.

No Kafka, Redis or PostgreSQL here: the handler (ingest/handler.py) feeds these
functions what it read and writes what they return.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from ..models import (
    DayDiff,
    Issue,
    KafkaPosition,
    Origin,
    ParsedDay,
    RowStatus,
    SalesCorrected,
    SalesRejected,
    SalesStored,
    StoredUpload,
    UploadRecord,
    UploadStatus,
)
from ..names import (
    HEADER_CHUNK_INDEX,
    HEADER_CHUNK_LAST,
    HEADER_PART,
    HEADER_REPLACE,
    HEADER_SENDER,
    HEADER_SOURCE,
    HEADER_UPLOAD_ID,
    MAX_ISSUES_IN_EVENT,
    MAX_ISSUES_STORED,
    replace_requested,
)

__all__ = [
    "BadPiece",
    "DayJudgement",
    "Part",
    "Policy",
    "RawUpload",
    "corrected_event",
    "duplicate",
    "judge",
    "judge_day",
    "lost_day",
    "outcome_event",
    "raw_upload",
    "rejected_early",
    "replay_event",
]

IssueT = TypeVar("IssueT")

# Namespace for upload ids of records produced straight to Kafka (no x-upload-id
# header): the id is derived from the record's position and timestamp, so a
# redelivery of the same record gets the same id and changes nothing, while a
# record at a reused offset (a topic deleted and created again) gets a new one.
_POSITION_NS = uuid.UUID("6f1d7f3e-8a63-4d55-9a55-5a1e5a1e0001")

Policy = Literal["lenient", "strict"]
# The chunk protocol (contracts/topics.md): a whole day, as always, or a big day's piece.
Part = Literal["day", "chunk", "manifest"]
_PARTS: tuple[Part, ...] = ("day", "chunk", "manifest")


@dataclass(frozen=True, slots=True)
class BadPiece:
    """A record marked as a big day's piece that cannot be placed, and why (refused as
    bad_chunk)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RawUpload:
    upload_id: uuid.UUID
    source: Origin
    sender: str | None
    data: bytes
    position: KafkaPosition
    # What the record is (Part), or a piece that cannot be placed; a chunk's index (-1: the
    # header is missing or wrong) and whether it is the last one.
    part: Part | BadPiece = "day"
    chunk_index: int = 0
    last: bool = False
    key: str | None = None
    replace: bool = False  # x-replace: true, a correction of a stored day (whole, or every piece)


def _part(header: bytes, *, identified: bool) -> Part | BadPiece:
    if not identified:  # a piece of a big day needs the id that ties it to the others
        return BadPiece("a chunk or manifest record needs an x-upload-id header with a UUID")
    text = header.decode("ascii", "replace")[:20]
    for part in _PARTS:
        if text == part:
            return part
    return BadPiece(f"x-part {json.dumps(text)} is not one of chunk, manifest")


def raw_upload(
    *,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes],
    topic: str,
    partition: int,
    offset: int,
    timestamp: int,
    key: bytes | None = None,
) -> RawUpload:
    """Read one sales.raw record; any client may have produced it, with or without headers."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    hdr = {k.lower(): v for k, v in items}
    position = KafkaPosition(topic=topic, partition=partition, offset=offset)
    upload_id: uuid.UUID | None = None
    if HEADER_UPLOAD_ID in hdr:
        try:
            upload_id = uuid.UUID(hdr[HEADER_UPLOAD_ID].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            upload_id = None  # a foreign producer's odd header: fall back to the position
    identified = upload_id is not None
    if upload_id is None:
        upload_id = uuid.uuid5(_POSITION_NS, f"{topic}/{partition}/{offset}/{timestamp}")
    source: Origin = "http" if hdr.get(HEADER_SOURCE) == b"http" else "kafka"
    sender = hdr[HEADER_SENDER].decode("utf-8", "replace")[:100] if HEADER_SENDER in hdr else None
    replace = replace_requested(hdr.get(HEADER_REPLACE))
    part = hdr.get(HEADER_PART)
    if part is None:
        return RawUpload(
            upload_id,
            source,
            sender,
            value or b"",
            position,
            key=key.decode("utf-8", "replace")[:40] if key else None,
            replace=replace,
        )
    index = hdr.get(HEADER_CHUNK_INDEX, b"")
    return RawUpload(
        upload_id,
        source,
        sender,
        value or b"",
        position,
        part=_part(part, identified=identified),
        chunk_index=int(index) if index.isdigit() and len(index) < 10 else -1,
        last=hdr.get(HEADER_CHUNK_LAST) in (b"1", b"true"),
        key=key.decode("utf-8", "replace")[:40] if key else None,
        replace=replace,
    )


def _issues(issues: Sequence[Issue]) -> list[Issue]:
    return list(issues[:MAX_ISSUES_STORED])


def _record(
    raw: RawUpload, status: UploadStatus, sales_date: dt.date | None, **kw: Any
) -> UploadRecord:
    return UploadRecord(
        upload_id=raw.upload_id,
        status=status,
        sales_date=sales_date,
        source=raw.source,
        sender=raw.sender,
        size_bytes=len(raw.data),
        topic=raw.position.topic,
        partition=raw.position.partition,
        offset=raw.position.offset,
        replace=raw.replace,
        **kw,
    )


def _duplicate_errors(sales_date: dt.date | None) -> list[Issue]:
    """The one description of a refused duplicate day (fast path and PostgreSQL alike)."""
    shown = sales_date.isoformat() if sales_date else "?"
    return [
        Issue(code="duplicate_day", field="date", message=f"sales date {shown} is already stored")
    ]


def duplicate(raw: RawUpload, sales_date: dt.date) -> UploadRecord:
    """The fast path said the day is taken by another upload."""
    return _record(raw, "duplicate", sales_date, errors=_duplicate_errors(sales_date))


def lost_day(rec: UploadRecord) -> UploadRecord:
    """A candidate lost its day to an upload PostgreSQL already has: a duplicate."""
    return dataclasses.replace(
        rec, status="duplicate", lines=[], errors=_duplicate_errors(rec.sales_date)
    )


def rejected_early(raw: RawUpload, issue: Issue) -> UploadRecord:
    """The document failed the cheap check (no usable date): nothing was claimed."""
    return _record(raw, "rejected", None, errors=_issues([issue]))


@dataclass(frozen=True, slots=True)
class DayJudgement(Generic[IssueT]):
    status: Literal["stored", "rejected"]  # "stored": a candidate
    errors: list[IssueT]
    counted: bool  # False: refused whole before its dropped products were counted


def judge_day(
    *,
    sales_date: dt.date | None,
    fatal: Sequence[IssueT],
    issues: Sequence[IssueT],
    valid: int,
    policy: Policy,
    no_valid: IssueT,
    missing_date: IssueT | None = None,
) -> DayJudgement[IssueT]:
    """The rules every day is judged by, sent whole (judge) or in chunks
    (assemble.judge_staged): a fatal problem or no date refuses it; the strict policy
    refuses a day with any product issue; a day with no valid line is refused; else it
    is a candidate, its product issues its errors. ``valid``: the lines that passed."""
    if fatal or sales_date is None:
        fallback = [missing_date] if missing_date is not None else []
        return DayJudgement(
            "rejected", list(fatal or issues or fallback)[:MAX_ISSUES_STORED], False
        )
    if issues and policy == "strict":
        return DayJudgement("rejected", list(issues)[:MAX_ISSUES_STORED], True)
    if valid == 0:
        return DayJudgement("rejected", [no_valid, *issues][:MAX_ISSUES_STORED], True)
    return DayJudgement("stored", list(issues)[:MAX_ISSUES_STORED], True)


def judge(raw: RawUpload, parsed: ParsedDay, *, policy: Policy) -> UploadRecord:
    """Decide from a full parse: a candidate to store, or a rejection (judge_day's rules)."""
    verdict = judge_day(
        sales_date=parsed.sales_date,
        fatal=parsed.fatal,
        issues=parsed.product_issues,
        valid=len(parsed.lines),
        policy=policy,
        no_valid=Issue(code="no_valid_products", message="no product passed validation"),
    )
    common: dict[str, Any] = {
        "products_seen": parsed.products_seen,
        "products_rejected": parsed.rejected_products if verdict.counted else 0,
        "errors": _issues(verdict.errors),
    }
    if verdict.status == "rejected":
        return _record(raw, "rejected", parsed.sales_date, **common)
    return _record(
        raw,
        "stored",
        parsed.sales_date,
        lines=parsed.lines,
        total_units=sum(ln.quantity for ln in parsed.lines),
        total_revenue=sum((ln.price * ln.quantity for ln in parsed.lines), Decimal(0)),
        **common,
    )


def _reason(status: Literal["rejected", "duplicate"], errors: Sequence[Issue]) -> str:
    if status == "duplicate":
        return "the sales date is already stored"
    if not errors:
        return "rejected"
    first = errors[0]
    where = f" (line {first.line})" if first.line else ""
    more = len(errors) - 1
    tail = f"; and {more} more problem(s)" if more > 0 else ""
    return f"{first.code}: {first.message}{where}{tail}"


def _event(
    *,
    upload_id: uuid.UUID,
    status: RowStatus,
    sales_date: dt.date | None,
    source: Origin,
    sender: str | None,
    errors: Sequence[Issue],
    products: int,
    rejected: int,
    units: int,
    revenue: Decimal,
    position: KafkaPosition,
    at: dt.datetime,
    supersedes: uuid.UUID | None = None,
) -> SalesStored | SalesRejected:
    issues = list(errors[:MAX_ISSUES_IN_EVENT])
    # A superseded upload was stored: a redelivery announces what it announced then.
    if (
        status in ("stored", "superseded") and sales_date is not None
    ):  # a stored upload always has its day
        return SalesStored(
            event_id=f"stored:{upload_id}",
            upload_id=upload_id,
            sales_date=sales_date,
            products=products,
            rejected_products=rejected,
            total_units=units,
            total_revenue=revenue,
            issues=issues,
            source=source,
            sender=sender,
            stored_at=at,
            supersedes=supersedes,
        )
    refused: Literal["rejected", "duplicate"] = "duplicate" if status == "duplicate" else "rejected"
    return SalesRejected(
        event_id=f"rejected:{upload_id}",
        upload_id=upload_id,
        sales_date=sales_date,
        status=refused,
        reason=_reason(refused, errors),
        errors=issues,
        source=source,
        sender=sender,
        kafka=position,
        rejected_at=at,
    )


def outcome_event(
    rec: UploadRecord, *, now: dt.datetime, supersedes: uuid.UUID | None = None
) -> SalesStored | SalesRejected:
    """The event announcing what became of an upload just recorded."""
    return _event(
        upload_id=rec.upload_id,
        status=rec.status,
        sales_date=rec.sales_date,
        source=rec.source,
        sender=rec.sender,
        errors=rec.errors,
        products=len(rec.lines),
        rejected=rec.products_rejected,
        units=rec.total_units,
        revenue=rec.total_revenue,
        position=KafkaPosition(topic=rec.topic, partition=rec.partition, offset=rec.offset),
        at=now,
        supersedes=supersedes,
    )


def replay_event(
    row: StoredUpload, *, supersedes: uuid.UUID | None = None
) -> SalesStored | SalesRejected:
    """The event a redelivered, already recorded upload produced the first time."""
    return _event(
        upload_id=row.upload_id,
        status=row.status,
        sales_date=row.sales_date,
        source=row.source,
        sender=row.sender,
        errors=[Issue(**e) for e in row.errors],
        products=row.products_stored,
        rejected=row.products_rejected,
        units=row.total_units or 0,
        revenue=row.total_revenue or Decimal(0),
        position=KafkaPosition(topic=row.topic, partition=row.partition, offset=row.offset),
        at=row.updated_at,
        supersedes=supersedes,
    )


def corrected_event(
    *,
    upload_id: uuid.UUID,
    superseded: uuid.UUID,
    sales_date: dt.date,
    sender: str | None,
    at: dt.datetime,
    diff: DayDiff,
) -> SalesCorrected:
    """The event announcing a correction (the same for its first delivery and every replay)."""
    return SalesCorrected(
        event_id=f"corrected:{upload_id}",
        upload_id=upload_id,
        superseded_upload_id=superseded,
        sales_date=sales_date,
        sender=sender,
        corrected_at=at,
        diff=diff,
    )

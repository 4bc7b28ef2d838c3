"""Pure decisions about a big day once its manifest is there: complete? valid? where is what?

Chunks were validated one by one (chunks.py) with their own lines and product
positions; here they are judged as the one file they are: every chunk present,
sizes and checksum as the manifest says, then the same verdicts as a day sent
whole (decide.judge): a fatal problem anywhere, or any product problem under the
strict policy, refuses the whole day; lenient stores the valid products. Every
issue gets its line in the original file and its product index in the day.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..models import ChunkManifest, Issue, UploadRecord
from ..names import MAX_ISSUES_STORED
from ..storage.staging import DuplicateRow, StagedChunk
from .decide import Policy, judge_day

__all__ = [
    "Verdict",
    "duplicate_issues",
    "incomplete",
    "judge_staged",
    "manifest_digest",
    "with_duplicates",
]


@dataclass(slots=True)
class Verdict:
    status: Literal["stored", "rejected"]  # "stored": a candidate
    sales_date: dt.date | None
    size: int
    products_seen: int = 0
    products_rejected: int = 0
    errors: list[Issue] = field(default_factory=list)


def manifest_digest(digests: Sequence[bytes]) -> str:
    """The manifest's checksum: SHA-256 over the chunks' SHA-256 digests, in index order."""
    return hashlib.sha256(b"".join(digests)).hexdigest()


def incomplete(message: str, *, sales_date: dt.date | None = None, size: int = 0) -> Verdict:
    return Verdict(
        "rejected", sales_date, size, errors=[Issue(code="incomplete_upload", message=message)]
    )


class _Offsets:
    """Where each chunk starts in the original file: lines and products before it."""

    def __init__(self, chunks: Sequence[StagedChunk]) -> None:
        self.lines: dict[int, int] = {}
        self.products: dict[int, int] = {}
        lines = products = 0
        for c in chunks:
            self.lines[c.index], self.products[c.index] = lines, products
            lines += c.newlines
            products += c.products_seen

    def issue(self, chunk: int, issue: Issue) -> Issue:
        moved: dict[str, int] = {}
        if issue.line:
            moved["line"] = issue.line + self.lines[chunk]
        if issue.product_index:
            moved["product_index"] = issue.product_index + self.products[chunk]
        return issue.model_copy(update=moved) if moved else issue


def _issues(chunks: Sequence[StagedChunk], offsets: _Offsets, attr: str) -> list[Issue]:
    out: list[Issue] = []
    for c in chunks:
        for issue in getattr(c, attr):
            if len(out) >= MAX_ISSUES_STORED:
                return out
            out.append(offsets.issue(c.index, issue))
    return out


def judge_staged(
    manifest: ChunkManifest,
    sales_date: dt.date | None,
    chunks: Sequence[StagedChunk],
    *,
    policy: Policy,
    max_products: int,
) -> Verdict:
    """The day as a whole, before any line is stored (duplicate ids across chunks come later)."""
    size = sum(c.size for c in chunks)
    if manifest.abort:
        return Verdict(
            "rejected",
            sales_date,
            size,
            errors=[
                Issue(
                    code=manifest.abort,
                    message=f"the sender gave up before the end of the file ({manifest.abort})",
                )
            ],
        )
    present = {c.index for c in chunks}
    missing = [i for i in range(manifest.chunks) if i not in present]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        return incomplete(
            f"{len(missing)} of {manifest.chunks} chunks never arrived (chunk {shown})",
            sales_date=sales_date,
            size=size,
        )
    if (
        len(chunks) != manifest.chunks
        or not chunks[-1].is_last
        or any(c.is_last for c in chunks[:-1])
    ):
        return Verdict(
            "rejected",
            sales_date,
            size,
            errors=[
                Issue(
                    code="bad_manifest",
                    message=f"the manifest says {manifest.chunks} chunks, but chunks "
                    f"{sorted(present)[:10]} came, the last one marked {[c.index for c in chunks if c.is_last]}",
                )
            ],
        )
    if size != manifest.bytes or manifest_digest([c.sha256 for c in chunks]) != manifest.sha256:
        return Verdict(
            "rejected",
            sales_date,
            size,
            errors=[
                Issue(
                    code="checksum_mismatch",
                    message=f"the chunks ({size} bytes) are not the file the manifest "
                    f"describes ({manifest.bytes} bytes, sha256 {manifest.sha256[:12]}…)",
                )
            ],
        )
    offsets = _Offsets(chunks)
    seen = sum(c.products_seen for c in chunks)
    rejected = sum(c.products_rejected for c in chunks)
    fatal = _issues(chunks, offsets, "fatal")
    issues = _issues(chunks, offsets, "issues")
    if not fatal and sales_date is not None:
        refused = _too_big_or_empty(seen, max_products=max_products)
        if refused is not None:
            return Verdict("rejected", sales_date, size, seen, errors=[refused])
    verdict = judge_day(
        sales_date=sales_date,
        fatal=fatal,
        issues=issues,
        valid=sum(c.valid for c in chunks),
        policy=policy,
        no_valid=Issue(code="no_valid_products", message="no product passed validation"),
        missing_date=Issue(
            code="missing_date", field="date", message="the first chunk names no sales date"
        ),
    )
    return Verdict(
        verdict.status,
        sales_date,
        size,
        seen,
        rejected if verdict.counted else 0,
        errors=verdict.errors,
    )


def _too_big_or_empty(seen: int, *, max_products: int) -> Issue | None:
    """What refuses a day of ``seen`` products before its lines are judged (a day sent whole
    meets these in the parser)."""
    if seen > max_products:
        return Issue(
            code="too_many_products", message=f"more than {max_products} products in one day"
        )
    if seen == 0:
        return Issue(code="empty_day", message="<products> holds no <product>")
    return None


def duplicate_issues(dups: Sequence[DuplicateRow], chunks: Sequence[StagedChunk]) -> list[Issue]:
    """An issue per staged line whose product id came earlier in the day (in another chunk)."""
    offsets = _Offsets(chunks)
    staged = sorted(
        ((c.seqs[0], c) for c in chunks if c.seqs is not None), key=lambda pair: pair[0]
    )
    starts = [first for first, _ in staged]

    def where(seq: int, pos: int | None, line: int | None) -> tuple[int | None, int]:
        first, chunk = staged[bisect.bisect_right(starts, seq) - 1]
        if pos is None:  # the fast lane: every product of the chunk is a staged line, in order
            pos = seq - first + 1
            shape = chunk.fast
            line = (shape.first_line if shape else 1) + (pos - 1) * (shape.period if shape else 0)
        return (line + offsets.lines[chunk.index] if line else None), pos + offsets.products[
            chunk.index
        ]

    out = []
    for d in dups[:MAX_ISSUES_STORED]:
        line, index = where(d.seq, d.pos, d.line)
        first_line, _ = where(d.first_seq, d.first_pos, d.first_line)
        out.append(
            Issue(
                code="duplicate_id",
                field="id",
                line=line,
                product_index=index,
                product_id=str(d.product_id),
                message=f"product id {d.product_id} was already used by the product at line {first_line}",
            )
        )
    return out


def with_duplicates(
    rec: UploadRecord,
    dups: Sequence[DuplicateRow],
    chunks: Sequence[StagedChunk],
    *,
    policy: Policy,
) -> UploadRecord:
    """A day whose staged chunks repeat product ids: the repeats join its errors (by line) and
    its rejected count; under the strict policy the whole day is rejected."""
    issues = sorted([*rec.errors, *duplicate_issues(dups, chunks)], key=lambda i: i.line or 0)
    rec = dataclasses.replace(
        rec, errors=issues[:MAX_ISSUES_STORED], products_rejected=rec.products_rejected + len(dups)
    )
    return dataclasses.replace(rec, status="rejected") if policy == "strict" else rec

"""An upload's receipt: what GET /v1/uploads/{id} answers once ingest recorded its outcome."""

from __future__ import annotations

import uuid
from typing import Any

from ..storage.corrections import CorrectionRow, corrections_of
from ..storage.uploads import upload_status
from .state import Gateway

__all__ = ["receipt"]


async def receipt(gw: Gateway, upload_id: uuid.UUID) -> dict[str, Any] | None:
    """The upload's recorded outcome; None while ingest has not recorded one."""
    row = await upload_status(gw.pool, upload_id)
    if row is None:
        return None
    body: dict[str, Any] = {
        "upload_id": str(row.upload_id),
        "status": row.status,
        "sales_date": row.sales_date.isoformat() if row.sales_date else None,
        "source": row.source,
        "sender": row.sender,
        "products_stored": row.products_stored,
        "products_rejected": row.products_rejected,
        "updated_at": row.updated_at.isoformat(),
        "kafka": {"topic": row.topic, "partition": row.partition, "offset": row.offset},
    }
    if row.errors:
        body["errors"] = row.errors
    if row.status in ("stored", "superseded"):
        body |= await _correction(gw, row.upload_id)
    return body


def _audit(row: CorrectionRow) -> dict[str, Any]:
    return {
        "upload_id": str(row.upload_id),
        "superseded_upload_id": str(row.superseded_upload_id),
        "sales_date": row.sales_date.isoformat(),
        "sender": row.sender,
        "corrected_at": row.corrected_at.isoformat(),
        "diff": row.diff,
    }


async def _correction(gw: Gateway, upload_id: uuid.UUID) -> dict[str, Any]:
    """What a correction did to or with this upload: superseded_by / replaces, and the audit."""
    extra: dict[str, Any] = {}
    for c in await corrections_of(gw.pool, [upload_id]):
        if c.superseded_upload_id == upload_id:
            extra |= {"superseded_by": str(c.upload_id), "correction": _audit(c)}
        else:
            extra |= {"replaces": str(c.superseded_upload_id), "replaced": _audit(c)}
    return extra

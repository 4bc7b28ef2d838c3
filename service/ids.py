"""Deterministic ids that more than one process derives (the gateway and the reporter).

A report's id comes from what asked for it: the stored upload, or a regeneration
request. A redelivered message therefore finds its finished row and only
re-publishes it, and the gateway can show a requested report as pending before
the reporter has even read the request.
"""

from __future__ import annotations

import uuid

__all__ = ["report_id_for_request", "report_id_for_upload"]

_REPORT_NS = uuid.UUID("6f1d7f3e-8a63-4d55-9a55-5a1e5a1e0003")


def report_id_for_upload(upload_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_REPORT_NS, f"stored:{upload_id}")


def report_id_for_request(request_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_REPORT_NS, f"request:{request_id}")

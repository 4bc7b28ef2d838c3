"""The cheap check of an upload: the gateway runs it before publishing to
sales.raw, ingest runs it to find a day's date before claiming the day.

It reads only the beginning of the document (the prolog and the root's start
tag) and applies exactly the document-level rules of the full parse, from
rules.py: empty body, DOCTYPE/ENTITY refused, UTF-8 only, XML at
all, root ``<sales_data>`` without namespace, a real ``date``. Products are not
looked at: ingest validates them. Pure: no I/O.
"""

from __future__ import annotations

from ..models import Issue
from .rules import Head, read_head

__all__ = ["PrecheckResult", "precheck"]

# The day an upload is for, or the one reason it is refused (exactly one of the two is set).
PrecheckResult = Head


def precheck(data: bytes) -> PrecheckResult:
    """Check the beginning of ``data``; never raises for any input."""
    try:
        head = read_head(data)
    except Exception as exc:  # a bug of ours: refuse the upload rather than fail the request
        return PrecheckResult(None, Issue(code="internal_error",
                                          message=f"internal error in the check: {type(exc).__name__}"))
    return head

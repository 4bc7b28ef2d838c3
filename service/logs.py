"""Structured logging for every process: one JSON object per line on stderr.

Context (upload_id, sales_date, topic, partition, offset) is passed with
``extra=``; secrets are never passed at all, and as a last guard any value that
looks like a bearer token or an API key is masked.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

__all__ = ["ctx", "setup_logging"]

_SECRETISH = re.compile(r"(Bearer\s+)\S+|\bsk-[A-Za-z0-9_-]{8,}", re.IGNORECASE)


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()  # the arguments too, not only the format string
        if _SECRETISH.search(message):
            record.msg = _SECRETISH.sub(lambda m: (m.group(1) or "") + "***", message)
            record.args = None
        return True


def setup_logging(*, level: str = "INFO", fmt: str = "json", process: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
                static_fields={"process": process},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Redact())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log would print request lines; our own middleware logs requests.
    for name in ("uvicorn", "uvicorn.error", "faststream", "aiokafka"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpx").setLevel(logging.WARNING)


def ctx(**fields: Any) -> dict[str, Any]:
    """Helper for ``extra=``: drop Nones, stringify the rest."""
    return {
        k: (v if isinstance(v, (int, float, bool)) else str(v))
        for k, v in fields.items()
        if v is not None
    }

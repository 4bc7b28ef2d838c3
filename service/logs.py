"""Structured logging for every process: one JSON object per line on stderr.

Context (upload_id, sales_date, topic, partition, offset) is passed with
``extra=``; secrets are never passed at all, and as a last guard any value that
looks like a bearer token or an API key is masked.

**A dependency going away is a few lines, not one per retry** (:class:`Outages`).
A record is about a dependency when it carries ``extra={"dependency": "postgresql"}``
(our retries, see consumer.py), comes from aiokafka's loggers at WARNING or above, or
carries an aiokafka exception (FastStream's "Kafka error occurred"): then "kafka";
aiokafka logs a line per failed request, thousands a minute while a broker is down. The first such record of a dependency passes and opens its outage;
later ones are counted, not written, and every ``summary_seconds`` one of them
passes as a summary (``outage_seconds``, ``suppressed``). :func:`recovered` closes
the outage with one INFO line ("kafka is back after 14.2 s, 312 lines suppressed"):
the consumers call it when work succeeds or the lag monitor reaches Kafka, the
gateway when its circuit breaker closes. aiokafka's INFO lines (joins, metadata) are
DEBUG for us: they are kept only under ``LOG_LEVEL=DEBUG``.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter

__all__ = ["Outages", "ctx", "outages", "recovered", "setup_logging"]

_SECRETISH = re.compile(r"(Bearer\s+)\S+|\bsk-[A-Za-z0-9_-]{8,}", re.IGNORECASE)

log = logging.getLogger("sales_analyzer.outage")


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()  # the arguments too, not only the format string
        if _SECRETISH.search(message):
            record.msg = _SECRETISH.sub(lambda m: (m.group(1) or "") + "***", message)
            record.args = None
        return True


class Outages(logging.Filter):
    """Collapses the log records of a dependency that is away (module docstring)."""

    def __init__(self, *, summary_seconds: float = 10.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.summary_seconds = summary_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # dependency -> [started, last line written, suppressed since then, suppressed in all]
        self._open: dict[str, list[float]] = {}

    @staticmethod
    def dependency(record: logging.LogRecord) -> str | None:
        named = getattr(record, "dependency", None)
        if isinstance(named, str):
            return named
        if record.levelno >= logging.WARNING:
            if record.name.startswith("aiokafka"):
                # a group rebalancing is the group's normal work, not Kafka away
                return None if "rebalanc" in str(record.msg) else "kafka"
            if record.name.startswith("asyncpg"):  # the pool's "failed to restore the floor"
                return "postgresql"
        if record.exc_info and record.levelno >= logging.WARNING:
            # FastStream's "Kafka error occurred" (every 5 s per subscriber), and any line
            # carrying an aiokafka error
            exc = record.exc_info[1]
            if exc is not None and type(exc).__module__.startswith("aiokafka"):
                return "kafka"
        return None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == log.name:  # our own summary and recovery lines
            return True
        if record.name.startswith("aiokafka") and record.levelno < logging.WARNING:
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        dep = self.dependency(record)
        if dep is None:
            return True
        now = self._clock()
        with self._lock:
            state = self._open.get(dep)
            if state is None:
                self._open[dep] = [now, now, 0, 0]
                record.dependency = dep
                record.outage = "began"
                return True
            started, last, since, total = state
            if now - last < self.summary_seconds:
                state[2], state[3] = since + 1, total + 1
                return False
            state[1], state[2] = now, 0
        record.dependency = dep
        record.outage = "continues"
        record.outage_seconds = round(now - started, 1)
        record.suppressed = int(since)
        return True

    def recovered(self, dependency: str | None = None) -> None:
        """Close the outage of ``dependency`` (of every dependency: None) with one line each."""
        if not self._open:  # the hot path: nothing is away
            return
        now = self._clock()
        with self._lock:
            names = [dependency] if dependency is not None else list(self._open)
            closed = [(d, self._open.pop(d)) for d in names if d in self._open]
        for dep, (started, _, _, total) in closed:
            log.info(
                "%s is back after %.1f s",
                dep,
                now - started,
                extra={
                    "dependency": dep,
                    "outage": "ended",
                    "outage_seconds": round(now - started, 1),
                    "suppressed": int(total),
                },
            )

    def away(self) -> list[str]:
        """The dependencies with an open outage."""
        return sorted(self._open)


# The process's one filter: installed on the root handler by setup_logging.
outages = Outages()


def recovered(dependency: str | None = None) -> None:
    """A dependency answered again (None: every one the caller just used)."""
    outages.recovered(dependency)


def setup_logging(
    *, level: str = "INFO", fmt: str = "json", process: str, outage_summary_seconds: float = 10.0
) -> None:
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
    outages.summary_seconds = outage_summary_seconds
    handler.addFilter(outages)
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
    # aiokafka's INFO lines reach the filter only to be dropped (kept under DEBUG); its
    # warnings and errors are what the filter counts.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    # the HTTP client's line per request (the openai client's is "httpx2"): a report's own
    # INFO line says what matters
    for name in ("httpx", "httpx2", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)


def ctx(**fields: Any) -> dict[str, Any]:
    """Helper for ``extra=``: drop Nones, stringify the rest."""
    return {
        k: (v if isinstance(v, (int, float, bool)) else str(v))
        for k, v in fields.items()
        if v is not None
    }

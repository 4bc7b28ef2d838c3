"""Every name and number other parts of the system agree on, in one place.

Topics, consumer groups, headers, Redis keys and TTL-like constants live here so a
reader (and a test) can see the whole contract at once. docs/architecture.md and
contracts/topics.md are the public side of this module: change them together.
"""

from __future__ import annotations

__all__ = [
    "ALL_TOPICS",
    "CLAIM_IN_FLIGHT_SECONDS",
    "DAY_IN_PROGRESS_MESSAGE",
    "DUPLICATE_DAY_MESSAGE",
    "GROUP_INGEST",
    "GROUP_REPORTS",
    "HEADER_CHUNK_INDEX",
    "HEADER_CHUNK_LAST",
    "HEADER_CONTENT_TYPE",
    "HEADER_EVENT_ID",
    "HEADER_PART",
    "HEADER_REPLACE",
    "HEADER_SENDER",
    "HEADER_SOURCE",
    "HEADER_UPLOAD_ID",
    "MAX_CHANGES_LISTED",
    "MAX_ISSUES_IN_EVENT",
    "MAX_ISSUES_STORED",
    "MAX_RECORD_BYTES",
    "PART_CHUNK",
    "PART_MANIFEST",
    "RATE_WINDOW_SECONDS",
    "SESSION_COOKIE",
    "SESSION_TTL_SECONDS",
    "STAGING_SCHEMA",
    "STORED_DAYS_KEY",
    "TOPIC_CORRECTED",
    "TOPIC_RAW",
    "TOPIC_REJECTED",
    "TOPIC_REPORTS",
    "TOPIC_REPORT_REQUESTS",
    "TOPIC_STORED",
    "UI_RECENT_UPLOADS_KEEP_SECONDS",
    "UI_RECENT_UPLOADS_KEPT",
    "UI_RECENT_UPLOADS_KEY",
    "UPLOAD_MARKER_TTL_SECONDS",
    "redis_day_key",
    "redis_rate_key",
    "redis_session_key",
    "redis_upload_key",
    "replace_requested",
    "staging_table",
]

# --- Kafka topics -----------------------------------------------------------------
TOPIC_RAW = "sales.raw"  # raw XML bytes, key = sales date (ISO), one upload per record
TOPIC_STORED = "sales.stored"  # JSON SalesStored, key = sales date
TOPIC_REJECTED = "sales.rejected"  # JSON SalesRejected (incl. duplicates), key = date or "unknown"
TOPIC_REPORTS = "sales.reports"  # JSON ReportEvent, key = sales date
# Regeneration requests from the read API; our own addition, documented in contracts/.
TOPIC_REPORT_REQUESTS = "sales.report-requests"
TOPIC_CORRECTED = (
    "sales.corrected"  # JSON SalesCorrected: a stored day was replaced, key = sales date
)

ALL_TOPICS = (
    TOPIC_RAW,
    TOPIC_STORED,
    TOPIC_REJECTED,
    TOPIC_REPORTS,
    TOPIC_REPORT_REQUESTS,
    TOPIC_CORRECTED,
)

# --- consumer groups ----------------------------------------------------------------
GROUP_INGEST = "sales-ingest"
GROUP_REPORTS = "sales-reports"

# --- record headers -----------------------------------------------------------------
HEADER_UPLOAD_ID = "x-upload-id"  # set by the gateway; absent when a client produces directly
HEADER_SENDER = "x-sender"  # the token's name, never the token itself
HEADER_SOURCE = "x-source"  # "http" (gateway) or absent (direct produce)
HEADER_EVENT_ID = "x-event-id"  # deterministic id of an event, for consumers that dedupe
HEADER_CONTENT_TYPE = "content-type"
# "x-replace: true" makes a sales.raw record a correction: it replaces the stored day
# (PUT /v1/sales/{date}, POST /v1/uploads?replace=true; any producer may set it).
HEADER_REPLACE = "x-replace"
_REPLACE_VALUES = (b"true", b"1", b"yes")


def replace_requested(value: bytes | None) -> bool:
    """Whether an x-replace header's value asks for a correction (true, 1, yes; any case)."""
    return value is not None and value.strip().lower() in _REPLACE_VALUES


# --- the chunk protocol of big days (contracts/topics.md) -------------------------------
# A record without x-part is a whole day, as it always was. A big day is chunk records
# (x-part: chunk, x-chunk-index 0..n-1, x-chunk-last: 1 on the last one), all with the
# same x-upload-id and key, then one manifest record (x-part: manifest, JSON ChunkManifest).
HEADER_PART = "x-part"
HEADER_CHUNK_INDEX = "x-chunk-index"
HEADER_CHUNK_LAST = "x-chunk-last"
PART_CHUNK = "chunk"
PART_MANIFEST = "manifest"
# The largest sales.raw record: a whole day in one record, or one chunk. The topic's
# max.message.bytes and every producer's max_request_size follow it (plus framing);
# anything larger must be chunked, so no consumer ever fetches more than this at once.
MAX_RECORD_BYTES = 32 * 1024 * 1024

# --- PostgreSQL staging of chunked uploads ---------------------------------------------
# Staged lines live in one UNLOGGED table per upload in this schema (dropped, not
# deleted from, once the day is stored or refused).
STAGING_SCHEMA = "staging"


def staging_table(upload_id: str) -> str:
    """The name (in STAGING_SCHEMA) of an upload's staged lines; the id is a UUID, so it is safe in SQL."""
    return f"lines_{upload_id.replace('-', '')}"


# --- Redis keys -----------------------------------------------------------------------
# "sales:day:<date>" holds the upload id that owns a day. Ingest claims it with
# SET NX before storing (the fast path of the date dedupe); the TTL is
# CACHE_LIFE_PERIOD, after which PostgreSQL's unique key on the day is the answer.
_DAY_PREFIX = "sales:day:"
# "sales:upload:<id>" marks an upload the gateway accepted but ingest has not
# recorded yet, so GET /v1/uploads/<id> can answer "received" at once.
_UPLOAD_PREFIX = "sales:upload:"
# How long the "received" marker lives: far longer than any healthy ingest lag.
UPLOAD_MARKER_TTL_SECONDS = 7 * 24 * 3600
# How long the gateway's claim of a day lives (the gateway claims the day key above
# for the upload it publishes, so a concurrent upload of the day gets 409
# day_in_progress instead of a second 202): long enough to cover the publish and a
# healthy ingest lag; short, because a gateway that dies mid-publish leaves it behind.
# Ingest releases it when it rejects the upload; a stored day is then answered from
# the stored-days set. Should ingest lag behind longer, a second upload may be
# accepted, and PostgreSQL's unique day decides as before.
CLAIM_IN_FLIGHT_SECONDS = 600


# "sales:stored-days" is the set of every stored date, kept by ingest after each
# commit (no TTL; rebuilt from PostgreSQL when missing). The gateway answers "day
# already collected" from it without a database round trip; PostgreSQL's unique
# key at ingest remains the final word.
STORED_DAYS_KEY = "sales:stored-days"


def redis_day_key(sales_date: str) -> str:
    return f"{_DAY_PREFIX}{sales_date}"


def redis_upload_key(upload_id: str) -> str:
    return f"{_UPLOAD_PREFIX}{upload_id}"


# Rate limiting counts requests per token name in fixed windows of this length;
# each window's counter lives two windows, so a late request never recreates it.
RATE_WINDOW_SECONDS = 60


def redis_rate_key(token_name: str, window: int) -> str:
    return f"sales:rate:{token_name}:{window}"


# --- the dashboard (service/gateway/dashboard) -------------------------------------------
# A signed-in browser holds a random session id in this cookie (HttpOnly,
# SameSite=Strict); Redis keeps the session under the id's SHA-256, so a copy of
# Redis holds no cookie that would work. A session lives 12 hours from sign-in.
SESSION_COOKIE = "sa_session"
SESSION_TTL_SECONDS = 12 * 3600


def redis_session_key(session_digest: str) -> str:
    return f"sales:session:{session_digest}"


# Uploads the dashboard accepted, newest first, so its Uploads page can list them
# while they are "received" (before ingest records them in PostgreSQL); capped.
UI_RECENT_UPLOADS_KEY = "sales:ui:recent-uploads"
UI_RECENT_UPLOADS_KEPT = 100
UI_RECENT_UPLOADS_KEEP_SECONDS = 7 * 24 * 3600  # as long as the gateway's "received" markers


# The original service's answer for a day it already has (kept verbatim).
DUPLICATE_DAY_MESSAGE = "Статистика за эту дату уже собрана."
# POST /'s answer (409 day_in_progress) while another upload of the day is in flight:
# the day is not collected yet, and that upload may still be rejected.
DAY_IN_PROGRESS_MESSAGE = "Статистика за эту дату уже обрабатывается; повторите запрос позже."

# --- limits on what errors we keep --------------------------------------------------
# A broken 1M-product file could yield a million issues; keep the first ones in
# PostgreSQL and fewer in the event, and say how many there were in `reason`.
MAX_ISSUES_STORED = 1000
MAX_ISSUES_IN_EVENT = 100
# A correction's audit lists this many added, removed and changed products each (by
# product id) and counts them all: a 1M-product day's diff stays a few KB.
MAX_CHANGES_LISTED = 100

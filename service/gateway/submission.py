"""Admission and submission of one upload: the service behind POST /, POST /v1/uploads,
PUT /v1/sales/{date} and the dashboard's upload.

The steps: the cheap check of the document → "is the day already collected, or being
collected?" and the day's claim for this upload (one Redis round trip; PostgreSQL when
Redis lost the stored days) → publish to sales.raw and wait for Kafka's
acknowledgement. The gateway never parses the whole file and never waits for ingest.
A day larger than UPLOAD_CHUNK_BYTES is published in chunks while it streams in,
then its manifest (service/chunking/), never held whole.

What the outcomes mean (docs/guarantees.md, contracts/errors.md): ``accepted`` = the record (a big day's
manifest) is in Kafka; ``duplicate`` = the day is stored; ``in_progress`` = another
upload of the day is in flight (it may still be rejected: retry later); ``finished`` =
an Idempotency-Key retry of an upload whose outcome ingest has recorded (stored,
superseded or rejected: the receipt says which). Raised instead: BusUnavailable = the
record (a big day's manifest) certainly never reached Kafka, so nothing of the upload
is stored (claim and marker are given back); 504 kafka_unconfirmed = handed to Kafka
but not confirmed, or a same-key retry of such an attempt while Kafka is away: it may
still be stored.

A correction (``replace``) is asked neither question (replacing the day is its point)
and travels with the header x-replace: true; ingest swaps the day if the file is
valid, in order with the day's other uploads.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ..cache import Admission
from ..chunking import (
    ChunkSender,
    LimitCrossed,
    StreamRefused,
    oversized_product,
    stream_day,
)
from ..errors import BusUnavailable, BusUnconfirmed, CacheUnavailable
from ..logs import ctx
from ..metrics import GATEWAY_UPLOADS
from ..models import Issue
from ..names import (
    HEADER_CONTENT_TYPE,
    HEADER_REPLACE,
    HEADER_SENDER,
    HEADER_SOURCE,
    HEADER_UPLOAD_ID,
)
from ..storage.uploads import stored_days
from ..xmlhead import HeadRefused, precheck
from .auth import Principal
from .errors import ApiError
from .receipts import receipt
from .state import Gateway

__all__ = ["Outcome", "Submitted", "count_upload", "submit", "upload_id_for"]

log = logging.getLogger("sales_analyzer.gateway")

Outcome = Literal["accepted", "duplicate", "in_progress", "finished"]

# Client retries with the same Idempotency-Key map to the same upload id, which
# ingest recognises, so a retried POST never stores or reports a day twice.
_IDEMPOTENCY_NS = uuid.UUID("6f1d7f3e-8a63-4d55-9a55-5a1e5a1e0002")

# Upload outcomes, each counter child bound once (a labels() lookup per upload is not free).
_UPLOADS = {
    outcome: GATEWAY_UPLOADS.labels(outcome=outcome)
    for outcome in (
        "accepted",
        "duplicate",
        "in_progress",
        "invalid",
        "too_large",
        "unauthorized",
        "forbidden",
        "rate_limited",
        "unavailable",
        "unconfirmed",
    )
}
# A receipt that answers a same-key retry: ingest's outcome is final.
_FINISHED = frozenset({"stored", "superseded", "rejected"})


def count_upload(outcome: str) -> None:
    """One more upload with this outcome in sales_gateway_uploads_total."""
    _UPLOADS[outcome].inc()


@dataclass(frozen=True, slots=True)
class Submitted:
    upload_id: uuid.UUID
    sales_date: str
    outcome: Outcome
    size_bytes: int = 0  # of the accepted body
    receipt: dict[str, Any] | None = field(default=None)  # a finished upload's


@dataclass(frozen=True, slots=True)
class _Attempt:
    upload_id: str
    day: str
    retry: bool  # an earlier attempt of this upload id is still marked: it may be in Kafka


def upload_id_for(sender: str, idempotency_key: str | None, *, replace: bool) -> uuid.UUID:
    """Same sender and key, same upload id; a fresh one without a key."""
    if not idempotency_key:
        return uuid.uuid4()
    # a correction's key is its own: reusing an upload's key must not replay that upload
    kind = "replace\x00" if replace else ""
    return uuid.uuid5(_IDEMPOTENCY_NS, f"{sender}\x00{kind}{idempotency_key[:200]}")


async def submit(
    gw: Gateway,
    body: bytes,
    principal: Principal,
    idempotency_key: str | None,
    rest: AsyncIterator[bytes] | None = None,
    *,
    replace: bool = False,
    url_date: dt.date | None = None,
) -> Submitted:
    """Check the head, admit the upload, publish it: as one record, or (``rest``) in chunks."""
    day = _checked_day(body, url_date, whole=rest is None)
    upload_id = upload_id_for(principal.name, idempotency_key, replace=replace)
    admission = await gw.days.admit(str(upload_id), day)
    # A correction is not asked whether the day is collected or being collected: replacing
    # it is the point (ingest applies it in order with the day's other uploads).
    if not replace:
        known = await _known(gw, upload_id, day, admission, keyed=bool(idempotency_key))
        if known is not None:
            return known
    attempt = _Attempt(str(upload_id), day, retry=admission.seen)
    size = await _publish(gw, attempt, body, rest, principal=principal, replace=replace)
    count_upload("accepted")
    return Submitted(upload_id, day, "accepted", size_bytes=size)


def _checked_day(body: bytes, url_date: dt.date | None, *, whole: bool) -> str:
    """The document's day, or 400: its head refused, its date not the URL's, or (a whole
    body) a product larger than ingest's parser accepts."""
    checked = precheck(body)
    if isinstance(checked, HeadRefused):
        raise _invalid(checked.issue)
    if url_date is not None and checked.sales_date != url_date:
        count_upload("invalid")
        raise ApiError(
            400,
            "date_mismatch",
            f"the document is dated {checked.sales_date.isoformat()}, "
            f"the URL names {url_date.isoformat()}",
            errors=[
                {"code": "date_mismatch", "field": "date", "message": "must equal the URL's date"}
            ],
        )
    oversized = oversized_product(body) if whole else None
    if oversized is not None:
        raise _invalid(oversized)
    return checked.sales_date.isoformat()


def _invalid(issue: Issue) -> ApiError:
    count_upload("invalid")
    return ApiError(400, issue.code, issue.message, errors=[issue.model_dump(exclude_none=True)])


async def _known(
    gw: Gateway, upload_id: uuid.UUID, day: str, admission: Admission, *, keyed: bool
) -> Submitted | None:
    """The answer when the day is stored or held by another upload, or this upload finished;
    None when it is to be published."""
    uid = str(upload_id)
    holder, stored = admission.holder, admission.stored
    if stored is None:  # Redis lost the stored-days set: PostgreSQL answers, the set is rebuilt
        stored, holder = await _ask_postgres(gw, uid, day, holder)
    if keyed and (stored or admission.seen):
        # A same-key retry: answered from what ingest recorded of this upload, if anything.
        found = await receipt(gw, upload_id)
        if found is not None and found["status"] in _FINISHED:
            return Submitted(upload_id, day, "finished", receipt=found)
    if holder == uid or not (stored or holder is not None):
        # Free, or held by this upload (an Idempotency-Key retry of the holder goes
        # through: ingest recognises it and replays its outcome).
        return None
    await gw.days.forget_received(uid)
    if stored:
        count_upload("duplicate")
        return Submitted(upload_id, day, "duplicate")
    count_upload("in_progress")
    return Submitted(upload_id, day, "in_progress")


async def _ask_postgres(
    gw: Gateway, uid: str, day: str, holder: str | None
) -> tuple[bool, str | None]:
    """Whether the day is stored, from PostgreSQL (the set rebuilt), and its holder."""
    days = await stored_days(gw.pool)
    stored = dt.date.fromisoformat(day) in days
    await gw.days.rebuild_stored(d.isoformat() for d in days)
    if not stored and holder is None:
        holder = await gw.days.claim_in_flight(uid, day)
    return stored, holder


def _headers(upload_id: str, sender: str, *, replace: bool) -> dict[str, str]:
    headers = {
        HEADER_CONTENT_TYPE: "application/xml",
        HEADER_UPLOAD_ID: upload_id,
        HEADER_SENDER: sender,
        HEADER_SOURCE: "http",
    }
    if replace:
        headers[HEADER_REPLACE] = "true"
    return headers


async def _publish(
    gw: Gateway,
    attempt: _Attempt,
    body: bytes,
    rest: AsyncIterator[bytes] | None,
    *,
    principal: Principal,
    replace: bool,
) -> int:
    """Publish the upload (one record, or chunks and a manifest); the bytes published."""
    headers = _headers(attempt.upload_id, principal.name, replace=replace)
    sender: ChunkSender | None = None
    try:
        if rest is None:
            await gw.publisher.publish(body, key=attempt.day, headers=headers)
            return len(body)
        settings = gw.settings
        sender = ChunkSender(
            gw.publisher.publish,
            key=attempt.day,
            headers=headers,
            upload_id=attempt.upload_id,
            sales_date=attempt.day,
            alone_over=2 * settings.upload_chunk_bytes,
        )
        await stream_day(
            body,
            rest,
            sender,
            target=settings.upload_chunk_bytes,
            max_bytes=settings.max_upload_bytes,
            max_products=settings.max_products_per_day,
        )
        return sender.size
    except BusUnavailable as exc:
        # Certainly not in Kafka (for a big day: its manifest, without which nothing is stored).
        await _refused(gw, attempt, exc)
        raise
    except BusUnconfirmed as exc:
        if sender is not None and not sender.manifest_sent:
            # A chunk's fate is unknown, but the manifest was never sent: ingest stores
            # nothing of this upload (its chunks are swept as incomplete_upload, or reused
            # by a retry with the same Idempotency-Key). So this is a refusal, not a maybe.
            refusal = BusUnavailable(
                f"a chunk of the day was not confirmed by Kafka ({exc}); the day's manifest "
                "was not sent, so nothing of this upload will be stored",
                reason="chunk_unconfirmed",
                retry_after=5,
            )
            await _refused(gw, attempt, refusal)
            raise refusal from exc
        # The record (a big day's manifest) may still be stored: keep the claim and the
        # "received" marker.
        raise _unconfirmed(attempt, cause=str(exc)) from exc
    except StreamRefused as exc:
        # A big day crossed a limit or could not be cut mid-stream (its manifest aborts it).
        await _give_back(gw, attempt)
        raise _stream_refused(exc) from None
    except Exception:
        # The client went away: before the manifest, nothing is stored.
        if sender is not None and not sender.manifest_sent:
            await _give_back(gw, attempt)
        raise


def _stream_refused(exc: StreamRefused) -> ApiError:
    issue = exc.issue
    if isinstance(exc, LimitCrossed):
        count_upload("too_large")
        return ApiError(413, issue.code, issue.message)
    return _invalid(issue)


async def _refused(gw: Gateway, attempt: _Attempt, exc: BusUnavailable) -> None:
    """Before a publish Kafka refused is answered 503 (nothing accepted): the day given back
    at once, so the client's retry is not answered day_in_progress. Raises 504
    kafka_unconfirmed instead (claim and marker kept) when an earlier attempt of this
    upload may be in Kafka."""
    if attempt.retry:
        raise _unconfirmed(
            attempt,
            cause=str(exc),
            message="an earlier attempt with this Idempotency-Key reached the gateway and "
            "may be in Kafka, so it may still be stored; Kafka is not reachable now. Poll "
            "status_url, or retry with the same Idempotency-Key later",
        ) from exc
    count_upload("unavailable")
    await _give_back(gw, attempt)


def _unconfirmed(
    attempt: _Attempt,
    *,
    cause: str,
    message: str = "Kafka has not confirmed the upload yet; it may still be stored. Poll "
    "status_url, or retry with the same Idempotency-Key",
) -> ApiError:
    count_upload("unconfirmed")
    log.warning(
        "upload not confirmed by Kafka",
        extra=ctx(upload_id=attempt.upload_id, sales_date=attempt.day, cause=cause),
    )
    return ApiError(
        504,
        "kafka_unconfirmed",
        message,
        upload_id=attempt.upload_id,
        sales_date=attempt.day,
        status_url=f"/v1/uploads/{attempt.upload_id}",
        headers={"Retry-After": "5"},
    )


async def _give_back(gw: Gateway, attempt: _Attempt) -> None:
    """Release the day's claim and the "received" marker of an upload that will not be
    stored; never when an earlier attempt of the same upload id may be in Kafka."""
    if attempt.retry:
        return
    try:
        await gw.days.refused(attempt.upload_id, attempt.day)
    except CacheUnavailable as exc:
        log.warning(
            "could not release the claim of a refused upload",
            extra=ctx(
                upload_id=attempt.upload_id,
                sales_date=attempt.day,
                cause=f"{type(exc).__name__}: {exc}",
            ),
        )

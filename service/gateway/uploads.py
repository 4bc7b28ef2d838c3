"""Upload routes: POST / (the original service's contract), POST /v1/uploads, and the
corrections PUT /v1/sales/{date} and POST /v1/uploads?replace=true.

All run the same steps: token (scope "upload") → rate limit → size limit
(read_body, while the body streams in) → the cheap check of the document → "is the day already
collected, or being collected?" and the day's claim for this upload (one Redis round
trip; PostgreSQL when Redis lost the stored days) → publish to sales.raw and wait for
Kafka's acknowledgement → answer with the upload id. The gateway never parses the
whole file and never waits for ingest. A day larger than UPLOAD_CHUNK_BYTES is
published in chunks while it streams in, then its manifest (stream.py), never held whole.

What the answers mean (docs/guarantees.md): 202 = the record (a big
day's manifest) is in Kafka; 409 duplicate_day = the day is stored; 409 day_in_progress
= another upload of the day is in flight (it may still be rejected: retry later); 503 =
the record (a big day's manifest) certainly never reached Kafka, so nothing of the
upload is stored (claim and marker are given back); 504 kafka_unconfirmed = handed to
Kafka but not confirmed: it may still be stored.

A correction (scope "correct": PUT /v1/sales/{date}, POST /v1/uploads?replace=true) is
asked neither question (replacing the day is its point) and travels with the header
x-replace: true; ingest swaps the day if the file is valid, in order with the day's
other uploads. A correction over UPLOAD_CHUNK_BYTES streams in chunks like a big
upload, every piece with x-replace: true; ingest swaps the day when its manifest comes.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..errors import BusUnavailable, BusUnconfirmed, CacheUnavailable
from ..logs import ctx
from ..metrics import GATEWAY_UPLOADS
from ..names import (
    DAY_IN_PROGRESS_MESSAGE,
    DUPLICATE_DAY_MESSAGE,
    HEADER_CONTENT_TYPE,
    HEADER_REPLACE,
    HEADER_SENDER,
    HEADER_SOURCE,
    HEADER_UPLOAD_ID,
)
from ..storage.uploads import stored_days
from ..xmlhead import HeadRefused, precheck
from .auth import AuthError, Principal
from .errors import ApiError
from .state import Gateway, gateway
from .stream import ChunkSender, stream_day

__all__ = ["Submitted", "read_body", "require", "router", "submit"]

router = APIRouter()

log = logging.getLogger("sales_analyzer.gateway")

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
# Seconds a client is asked to wait before retrying a day that is being collected.
_IN_PROGRESS_RETRY_AFTER = "5"


async def authorize(request: Request, gw: Gateway, scope: str) -> Principal:
    """Bearer token (with the scope), then the token's rate limit."""
    principal = gw.tokens.authenticate(request.headers.get("authorization"), scope=scope)
    wait = await gw.limiter.check(principal.name)
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            "too many requests for this token",
            headers={"Retry-After": str(int(wait + 0.999))},
        )
    request.state.principal = principal.name
    return principal


def require(scope: str) -> Any:
    """The same check as a FastAPI dependency, for the read routes."""

    async def dependency(request: Request, gw: Annotated[Gateway, Depends(gateway)]) -> Principal:
        return await authorize(request, gw, scope)

    return Depends(dependency)


async def read_body(
    request: Request, limit: int, *, whole: int | None = None
) -> tuple[bytes, AsyncIterator[bytes] | None]:
    """The body, refused with 413 as soon as it is known to exceed the limit (header or bytes).

    With ``whole``, reading stops once more than that many bytes came: the body is then
    a big day, returned as what came so far and the rest of the stream (stream.py).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    stream = request.stream().__aiter__()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if whole is not None and size > whole:
            return b"".join(chunks), stream
    return b"".join(chunks), None


def _too_large(limit: int) -> ApiError:
    _UPLOADS["too_large"].inc()
    return ApiError(413, "too_large", f"the body is larger than {limit} bytes (MAX_UPLOAD_BYTES)")


@dataclass(frozen=True, slots=True)
class Submitted:
    upload_id: uuid.UUID
    sales_date: str
    duplicate: bool  # the day is stored
    in_progress: bool = False  # another upload of the day is in flight
    size_bytes: int = 0  # of the accepted body


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
    checked = precheck(body)
    if isinstance(checked, HeadRefused):
        _UPLOADS["invalid"].inc()
        issue = checked.issue
        raise ApiError(400, issue.code, issue.message, errors=[issue.model_dump(exclude_none=True)])
    if url_date is not None and checked.sales_date != url_date:
        _UPLOADS["invalid"].inc()
        raise ApiError(
            400,
            "date_mismatch",
            f"the document is dated {checked.sales_date.isoformat()}, "
            f"the URL names {url_date.isoformat()}",
            errors=[
                {"code": "date_mismatch", "field": "date", "message": "must equal the URL's date"}
            ],
        )
    day = checked.sales_date.isoformat()
    if idempotency_key:
        # a correction's key is its own: reusing an upload's key must not replay that upload
        kind = "replace\x00" if replace else ""
        upload_id = uuid.uuid5(
            _IDEMPOTENCY_NS, f"{principal.name}\x00{kind}{idempotency_key[:200]}"
        )
    else:
        upload_id = uuid.uuid4()

    uid = str(upload_id)
    holder, stored = await gw.days.admit(uid, day)
    # A correction is not asked whether the day is collected or being collected: replacing
    # it is the point (ingest applies it in order with the day's other uploads).
    if not replace:
        if (
            stored is None
        ):  # Redis lost the stored-days set: PostgreSQL answers, and the set is rebuilt
            days = await stored_days(gw.pool)
            stored = checked.sales_date in days
            await gw.days.rebuild_stored(d.isoformat() for d in days)
            if not stored and holder is None:
                holder = await gw.days.claim_in_flight(uid, day)
        if holder != uid and (stored or holder is not None):
            # Stored, or claimed by another upload in flight. An Idempotency-Key retry of the
            # holder itself goes through (ingest recognises it and replays its outcome).
            await gw.days.forget_received(uid)
            if stored:
                _UPLOADS["duplicate"].inc()
                return Submitted(upload_id, day, duplicate=True)
            _UPLOADS["in_progress"].inc()
            return Submitted(upload_id, day, duplicate=False, in_progress=True)

    headers = {
        HEADER_CONTENT_TYPE: "application/xml",
        HEADER_UPLOAD_ID: uid,
        HEADER_SENDER: principal.name,
        HEADER_SOURCE: "http",
    }
    if replace:
        headers[HEADER_REPLACE] = "true"
    sender: ChunkSender | None = None
    try:
        if rest is None:
            await gw.publisher.publish(body, key=day, headers=headers)
        else:
            settings = gw.settings
            sender = ChunkSender(
                gw.publisher.publish, key=day, headers=headers, upload_id=uid, sales_date=day
            )
            await stream_day(
                body,
                rest,
                sender,
                target=settings.upload_chunk_bytes,
                max_bytes=settings.max_upload_bytes,
                max_products=settings.max_products_per_day,
            )
    except BusUnavailable:
        # Certainly not in Kafka (for a big day: its manifest, without which nothing is
        # stored): give the day back at once, so the client's retry is not answered
        # day_in_progress (should Redis fail here, the claim expires by itself).
        _UPLOADS["unavailable"].inc()
        await _give_back(gw, uid, day)
        raise
    except BusUnconfirmed as exc:
        if sender is not None and not sender.manifest_sent:
            # A chunk's fate is unknown, but the manifest was never sent: ingest stores
            # nothing of this upload (its chunks are swept as incomplete_upload, or reused
            # by a retry with the same Idempotency-Key). So this is a refusal, not a maybe.
            _UPLOADS["unavailable"].inc()
            await _give_back(gw, uid, day)
            raise BusUnavailable(
                f"a chunk of the day was not confirmed by Kafka ({exc}); the day's manifest "
                "was not sent, so nothing of this upload will be stored",
                reason="chunk_unconfirmed",
                retry_after=5,
            ) from exc
        # The record (a big day's manifest) may still be stored: keep the claim and the
        # "received" marker.
        _UPLOADS["unconfirmed"].inc()
        log.warning(
            "upload not confirmed by Kafka",
            extra=ctx(upload_id=uid, sales_date=day, cause=str(exc)),
        )
        raise ApiError(
            504,
            "kafka_unconfirmed",
            "Kafka has not confirmed the upload yet; it may still be stored. Poll status_url, "
            "or retry with the same Idempotency-Key",
            upload_id=uid,
            sales_date=day,
            status_url=f"/v1/uploads/{uid}",
            headers={"Retry-After": "5"},
        ) from exc
    except Exception as exc:
        # A big day crossed a limit or could not be cut mid-stream (its manifest, if any,
        # aborts it), or the client went away before the manifest: nothing is stored.
        if isinstance(exc, ApiError):
            _UPLOADS["too_large" if exc.status == 413 else "invalid"].inc()
        if isinstance(exc, ApiError) or (sender is not None and not sender.manifest_sent):
            await _give_back(gw, uid, day)
        raise
    _UPLOADS["accepted"].inc()
    return Submitted(
        upload_id, day, duplicate=False, size_bytes=sender.size if sender is not None else len(body)
    )


async def _give_back(gw: Gateway, uid: str, day: str) -> None:
    """Release the day's claim and the "received" marker of an upload that will not be stored."""
    try:
        await gw.days.refused(uid, day)
    except CacheUnavailable as exc:
        log.warning(
            "could not release the claim of a refused upload",
            extra=ctx(upload_id=uid, sales_date=day, cause=f"{type(exc).__name__}: {exc}"),
        )


async def _upload(
    request: Request, *, replace: bool = False, url_date: dt.date | None = None
) -> Submitted:
    # The hot path takes only the Request: FastAPI's dependency solving for the
    # token and headers cost ~0.3 ms per upload on this hardware (measured).
    gw = gateway(request)
    try:
        principal = await authorize(request, gw, "correct" if replace else "upload")
    except AuthError as exc:
        _UPLOADS["unauthorized" if exc.status == 401 else "forbidden"].inc()
        raise
    except ApiError as exc:
        if exc.code == "rate_limited":
            _UPLOADS["rate_limited"].inc()
        raise
    # A day over UPLOAD_CHUNK_BYTES streams on in chunks; a smaller one is one record, as always.
    body, rest = await read_body(
        request, gw.settings.max_upload_bytes, whole=gw.settings.upload_chunk_bytes
    )
    return await submit(
        gw,
        body,
        principal,
        request.headers.get("idempotency-key"),
        rest,
        replace=replace,
        url_date=url_date,
    )


def _replace_param(request: Request) -> bool:
    """POST /v1/uploads?replace=true|false (the route skips FastAPI's parameter parsing)."""
    value = request.query_params.get("replace")
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise ApiError(
        422,
        "bad_request",
        "the request's parameters are not valid",
        errors=[{"field": "query.replace", "message": "must be true or false"}],
    )


def _accepted(result: Submitted, *, replace: bool) -> JSONResponse:
    url = f"/v1/uploads/{result.upload_id}"
    body: dict[str, Any] = {
        "upload_id": str(result.upload_id),
        "status": "received",
        "sales_date": result.sales_date,
        "status_url": url,
    }
    if replace:
        body["replace"] = True
    return JSONResponse(body, status_code=202, headers={"Location": url})


_XML_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/xml": {
                "schema": {"type": "string", "description": "a sales day, see contracts/sales.xsd"}
            }
        },
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "same key, same upload id",
        }
    ],
    "security": [{"bearer": []}],
}


@router.post(
    "/",
    summary="Upload a sales day (the original service's contract)",
    openapi_extra=_XML_BODY,
    responses={
        200: {"description": '{"task_id": ...} or the duplicate-day message'},
        409: {"description": "day_in_progress: another upload of the day is in flight"},
    },
)
async def legacy_upload(request: Request) -> JSONResponse:
    result = await _upload(request)
    if result.in_progress:
        raise _in_progress(result, DAY_IN_PROGRESS_MESSAGE)
    if result.duplicate:
        return JSONResponse({"message": DUPLICATE_DAY_MESSAGE})
    return JSONResponse(
        {
            "task_id": str(result.upload_id),
            "upload_id": str(result.upload_id),
            "status_url": f"/v1/uploads/{result.upload_id}",
        }
    )


_REPLACE_QUERY = {
    "name": "replace",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean"},
    "description": "true: a correction, replacing the stored day (scope correct)",
}


@router.post(
    "/v1/uploads",
    status_code=202,
    summary="Upload a sales day (or correct one with ?replace=true)",
    openapi_extra={**_XML_BODY, "parameters": [*_XML_BODY["parameters"], _REPLACE_QUERY]},
    responses={
        202: {"description": "accepted; poll status_url"},
        409: {
            "description": "duplicate_day: the day is already collected; day_in_progress: "
            "another upload of the day is in flight, retry later"
        },
    },
)
async def upload(request: Request) -> JSONResponse:
    replace = _replace_param(request)
    result = await _upload(request, replace=replace)
    if result.in_progress:
        raise _in_progress(
            result,
            "another upload of this sales date is being processed; it may still be "
            "rejected, so retry later (see Retry-After)",
        )
    if result.duplicate:
        raise ApiError(409, "duplicate_day", DUPLICATE_DAY_MESSAGE, sales_date=result.sales_date)
    return _accepted(result, replace=replace)


def _in_progress(result: Submitted, message: str) -> ApiError:
    return ApiError(
        409,
        "day_in_progress",
        message,
        sales_date=result.sales_date,
        headers={"Retry-After": _IN_PROGRESS_RETRY_AFTER},
    )


@router.put(
    "/v1/sales/{sales_date}",
    status_code=202,
    openapi_extra=_XML_BODY,
    summary="Correct a day: replace its stored sales with this file (stores it if it is new)",
    responses={
        202: {"description": "accepted; poll status_url (stored, or rejected: the day unchanged)"},
        400: {"description": "invalid head, or date_mismatch: the file's date is not the URL's"},
    },
)
async def put_day(sales_date: dt.date, request: Request) -> JSONResponse:
    return _accepted(await _upload(request, replace=True, url_date=sales_date), replace=True)

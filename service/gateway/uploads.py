"""Upload routes: POST / (the original service's contract) and POST /v1/uploads.

Both run the same steps: token (scope "upload") → rate limit → size limit
(read_body, while the body streams in) → the cheap check of the document → "is the day already
collected, or being collected?" and the day's claim for this upload (one Redis round
trip; PostgreSQL when Redis lost the stored days) → publish to sales.raw and wait for
Kafka's acknowledgement → answer with the upload id. The gateway never parses the
whole file and never waits for ingest.

What the answers mean (README, "How it keeps its promises"): 202 = the record is in
Kafka; 409 duplicate_day = the day is stored; 409 day_in_progress = another upload
of the day is in flight (it may still be rejected: retry later); 503 = the record
certainly never reached Kafka (claim and marker are given back); 504
kafka_unconfirmed = handed to Kafka but not confirmed: it may still be stored.
"""

from __future__ import annotations

import logging
import uuid
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
    HEADER_SENDER,
    HEADER_SOURCE,
    HEADER_UPLOAD_ID,
)
from ..storage.uploads import stored_days
from ..xmlhead import HeadRefused, precheck
from .auth import AuthError, Principal
from .errors import ApiError
from .state import Gateway, gateway

__all__ = ["router", "require", "read_body", "submit", "Submitted"]

router = APIRouter()

log = logging.getLogger("sales_analyzer.gateway")

# Client retries with the same Idempotency-Key map to the same upload id, which
# ingest recognises, so a retried POST never stores or reports a day twice.
_IDEMPOTENCY_NS = uuid.UUID("6f1d7f3e-8a63-4d55-9a55-5a1e5a1e0002")

# Upload outcomes, each counter child bound once (a labels() lookup per upload is not free).
_UPLOADS = {outcome: GATEWAY_UPLOADS.labels(outcome=outcome) for outcome in (
    "accepted", "duplicate", "in_progress", "invalid", "too_large", "unauthorized", "forbidden", "rate_limited",
    "unavailable", "unconfirmed")}
# Seconds a client is asked to wait before retrying a day that is being collected.
_IN_PROGRESS_RETRY_AFTER = "5"


async def authorize(request: Request, gw: Gateway, scope: str) -> Principal:
    """Bearer token (with the scope), then the token's rate limit."""
    principal = gw.tokens.authenticate(request.headers.get("authorization"), scope=scope)
    wait = await gw.limiter.check(principal.name)
    if wait is not None:
        raise ApiError(429, "rate_limited", "too many requests for this token",
                       headers={"Retry-After": str(int(wait + 0.999))})
    request.state.principal = principal.name
    return principal


def require(scope: str) -> Any:
    """The same check as a FastAPI dependency, for the read routes."""
    async def dependency(request: Request, gw: Annotated[Gateway, Depends(gateway)]) -> Principal:
        return await authorize(request, gw, scope)
    return Depends(dependency)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed the limit (header or bytes)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    _UPLOADS["too_large"].inc()
    return ApiError(413, "too_large", f"the body is larger than {limit} bytes (MAX_UPLOAD_BYTES)")


@dataclass(frozen=True, slots=True)
class Submitted:
    upload_id: uuid.UUID
    sales_date: str
    duplicate: bool  # the day is stored
    in_progress: bool = False  # another upload of the day is in flight


async def submit(gw: Gateway, body: bytes, principal: Principal, idempotency_key: str | None) -> Submitted:
    checked = precheck(body)
    if isinstance(checked, HeadRefused):
        _UPLOADS["invalid"].inc()
        issue = checked.issue
        raise ApiError(400, issue.code, issue.message, errors=[issue.model_dump(exclude_none=True)])
    day = checked.sales_date.isoformat()
    if idempotency_key:
        upload_id = uuid.uuid5(_IDEMPOTENCY_NS, f"{principal.name}\x00{idempotency_key[:200]}")
    else:
        upload_id = uuid.uuid4()

    uid = str(upload_id)
    holder, stored = await gw.days.admit(uid, day)
    if stored is None:  # Redis lost the stored-days set: PostgreSQL answers, and the set is rebuilt
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

    headers = {HEADER_CONTENT_TYPE: "application/xml", HEADER_UPLOAD_ID: uid,
               HEADER_SENDER: principal.name, HEADER_SOURCE: "http"}
    try:
        await gw.publisher.publish(body, key=day, headers=headers)
    except BusUnavailable:
        # Certainly not in Kafka: give the day back at once, so the client's retry is not
        # answered day_in_progress (should Redis fail here, the claim expires by itself).
        _UPLOADS["unavailable"].inc()
        try:
            await gw.days.refused(uid, day)
        except CacheUnavailable as exc:
            log.warning("could not release the claim of a refused upload", extra=ctx(
                upload_id=uid, sales_date=day, cause=f"{type(exc).__name__}: {exc}"))
        raise
    except BusUnconfirmed as exc:
        # The record may still be stored: keep the claim and the "received" marker.
        _UPLOADS["unconfirmed"].inc()
        log.warning("upload not confirmed by Kafka", extra=ctx(upload_id=uid, sales_date=day, cause=str(exc)))
        raise ApiError(504, "kafka_unconfirmed",
                       "Kafka has not confirmed the upload yet; it may still be stored. Poll status_url, "
                       "or retry with the same Idempotency-Key", upload_id=uid, sales_date=day,
                       status_url=f"/v1/uploads/{uid}", headers={"Retry-After": "5"}) from exc
    _UPLOADS["accepted"].inc()
    return Submitted(upload_id, day, duplicate=False)


async def _upload(request: Request) -> Submitted:
    # The hot path takes only the Request: FastAPI's dependency solving for the
    # token and headers cost ~0.3 ms per upload on this hardware (measured).
    gw = gateway(request)
    try:
        principal = await authorize(request, gw, "upload")
    except AuthError as exc:
        _UPLOADS["unauthorized" if exc.status == 401 else "forbidden"].inc()
        raise
    except ApiError as exc:
        if exc.code == "rate_limited":
            _UPLOADS["rate_limited"].inc()
        raise
    body = await read_body(request, gw.settings.max_upload_bytes)
    return await submit(gw, body, principal, request.headers.get("idempotency-key"))


_XML_BODY = {
    "requestBody": {"required": True, "content": {"application/xml": {"schema": {
        "type": "string", "description": "a sales day, see contracts/sales.xsd"}}}},
    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string"}, "description": "same key, same upload id"}],
    "security": [{"bearer": []}],
}


@router.post("/", summary="Upload a sales day (the original service's contract)", openapi_extra=_XML_BODY,
             responses={200: {"description": '{"task_id": ...} or the duplicate-day message'},
                        409: {"description": "day_in_progress: another upload of the day is in flight"}})
async def legacy_upload(request: Request) -> JSONResponse:
    result = await _upload(request)
    if result.in_progress:
        raise _in_progress(result, DAY_IN_PROGRESS_MESSAGE)
    if result.duplicate:
        return JSONResponse({"message": DUPLICATE_DAY_MESSAGE})
    return JSONResponse({"task_id": str(result.upload_id), "upload_id": str(result.upload_id),
                         "status_url": f"/v1/uploads/{result.upload_id}"})


@router.post("/v1/uploads", status_code=202, summary="Upload a sales day", openapi_extra=_XML_BODY,
             responses={202: {"description": "accepted; poll status_url"},
                        409: {"description": "duplicate_day: the day is already collected; day_in_progress: "
                                             "another upload of the day is in flight, retry later"}})
async def upload(request: Request) -> JSONResponse:
    result = await _upload(request)
    if result.in_progress:
        raise _in_progress(result, "another upload of this sales date is being processed; it may still be "
                                   "rejected, so retry later (see Retry-After)")
    if result.duplicate:
        raise ApiError(409, "duplicate_day", DUPLICATE_DAY_MESSAGE, sales_date=result.sales_date)
    url = f"/v1/uploads/{result.upload_id}"
    return JSONResponse({"upload_id": str(result.upload_id), "status": "received",
                         "sales_date": result.sales_date, "status_url": url},
                        status_code=202, headers={"Location": url})


def _in_progress(result: Submitted, message: str) -> ApiError:
    return ApiError(409, "day_in_progress", message, sales_date=result.sales_date,
                    headers={"Retry-After": _IN_PROGRESS_RETRY_AFTER})

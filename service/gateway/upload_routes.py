"""Upload routes: POST / (the original service's contract), POST /v1/uploads, and the
corrections PUT /v1/sales/{date} and POST /v1/uploads?replace=true.

All run the same steps: token (scope "upload", or "correct") → rate limit (guard.py)
→ size limit (body.py, while the body streams in) → the upload's admission and
publication (submission.py) → the answer. What the answers mean: contracts/errors.md.
A correction over UPLOAD_CHUNK_BYTES streams in chunks like a big upload, every piece
with x-replace: true; ingest swaps the day when its manifest comes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..names import DAY_IN_PROGRESS_MESSAGE, DUPLICATE_DAY_MESSAGE
from .auth import AuthError
from .body import read_body
from .errors import ApiError
from .guard import authorize
from .state import gateway
from .submission import Submitted, count_upload, submit

__all__ = ["router"]

router = APIRouter()

# Seconds a client is asked to wait before retrying a day that is being collected.
_IN_PROGRESS_RETRY_AFTER = "5"


async def _upload(
    request: Request, *, replace: bool = False, url_date: dt.date | None = None
) -> Submitted:
    # The hot path takes only the Request: FastAPI's dependency solving for the
    # token and headers cost ~0.3 ms per upload on this hardware (measured).
    gw = gateway(request)
    try:
        principal = await authorize(request, gw, "correct" if replace else "upload")
    except AuthError as exc:
        count_upload("unauthorized" if exc.status == 401 else "forbidden")
        raise
    except ApiError as exc:
        if exc.code == "rate_limited":
            count_upload("rate_limited")
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
    if result.receipt is not None:
        # a same-key retry of an upload ingest already stored (or rejected): its receipt
        return JSONResponse(result.receipt, headers={"Location": url})
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
    if result.outcome == "in_progress":
        raise _in_progress(result, DAY_IN_PROGRESS_MESSAGE)
    if result.outcome == "duplicate":
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
        200: {"description": "a same-key retry of a stored or rejected upload: its receipt"},
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
    if result.outcome == "in_progress":
        raise _in_progress(
            result,
            "another upload of this sales date is being processed; it may still be "
            "rejected, so retry later (see Retry-After)",
        )
    if result.outcome == "duplicate":
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

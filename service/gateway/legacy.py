"""The original service's read routes, kept so that its clients keep working (deprecated).

GET /api/report/get-all, /api/report/get-one/{id}, /api/sales/get-all and
/api/sales/get-one/{id}, behind the bearer token (scope "read"), answering with its
JSON fields: a report's ``id``, ``date``, ``start_prompt``, ``report``,
``create_date``, ``update_date``; a sales line's ``id``, ``product_id``, ``name``,
``quantity``, ``price``, ``category``, ``create_date``, ``update_date`` (plus
``sales_date``, which the old lines lacked). Unknown ids answer 404 with its
messages (in ``detail``, as FastAPI's HTTPException wrote them, and in ``message``).
Unlike the original, get-all is paged: ``limit`` (default 100, at most 1000) and
``offset``; ``X-Next-Offset`` is set while there may be more. The ids are described in
storage/legacy.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from ..storage import legacy as q
from .auth import Principal
from .errors import ApiError
from .guard import require
from .state import Gateway, gateway

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["original service (deprecated)"])

PAGE_DEFAULT: Final = 100
PAGE_MAX: Final = 1000
NO_REPORT: Final = "Такого отчёта нет в системе!"
NO_SALE: Final = "Объект продажи не найден!"
_ID = Path(ge=1, le=2**63 - 1)
_LIMIT = Query(ge=1, le=PAGE_MAX, description=f"at most {PAGE_MAX}")
_OFFSET = Query(ge=0, le=2**62)


def _ts(value: dt.datetime) -> str:
    """A timestamp as the original service wrote it (UTC, with Z)."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _report(r: q.LegacyReport) -> dict[str, Any]:
    return {
        "id": r.id,
        "date": f"{r.sales_date.isoformat()}T00:00:00Z",
        "start_prompt": r.start_prompt,
        "report": r.report,
        "create_date": _ts(r.create_date),
        "update_date": _ts(r.update_date),
    }


def _line(r: q.LegacyLine) -> dict[str, Any]:
    return {
        "id": r.id,
        "product_id": r.product_id,
        "name": r.name,
        "quantity": r.quantity,
        "price": float(r.price),
        "category": r.category,
        "create_date": _ts(r.stored_at),
        "update_date": _ts(r.stored_at),
        "sales_date": r.sales_date.isoformat(),
    }


def _page(items: list[dict[str, Any]], *, limit: int, offset: int) -> JSONResponse:
    headers = {"X-Next-Offset": str(offset + limit)} if len(items) == limit else None
    return JSONResponse(items, headers=headers)


def _not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message, detail=message)


@router.get(
    "/report/get-all",
    deprecated=True,
    summary="Written reports by id, paged (deprecated: use GET /v1/reports)",
)
async def get_all_reports(
    gw: Annotated[Gateway, Depends(gateway)],
    _: Annotated[Principal, require("read")],
    limit: Annotated[int, _LIMIT] = PAGE_DEFAULT,
    offset: Annotated[int, _OFFSET] = 0,
) -> JSONResponse:
    rows = await q.reports_page(gw.pool, limit=limit, offset=offset)
    return _page([_report(r) for r in rows], limit=limit, offset=offset)


@router.get(
    "/report/get-one/{report_id}",
    deprecated=True,
    summary="A report by its integer id (deprecated: use GET /v1/reports/{sales_date})",
    responses={404: {"description": NO_REPORT}},
)
async def get_one_report(
    report_id: Annotated[int, _ID],
    gw: Annotated[Gateway, Depends(gateway)],
    _: Annotated[Principal, require("read")],
) -> dict[str, Any]:
    row = await q.report_by_id(gw.pool, report_id)
    if row is None:
        raise _not_found("unknown_report", NO_REPORT)
    return _report(row)


@router.get(
    "/sales/get-all",
    deprecated=True,
    summary="Stored sales lines by date and product id, paged "
    "(deprecated: use GET /v1/sales/{sales_date}/lines)",
)
async def get_all_sales(
    gw: Annotated[Gateway, Depends(gateway)],
    _: Annotated[Principal, require("read")],
    limit: Annotated[int, _LIMIT] = PAGE_DEFAULT,
    offset: Annotated[int, _OFFSET] = 0,
) -> JSONResponse:
    rows = await q.lines_page(gw.pool, limit=limit, offset=offset)
    return _page([_line(r) for r in rows], limit=limit, offset=offset)


@router.get(
    "/sales/get-one/{sale_id}",
    deprecated=True,
    summary="A sales line by its integer id (deprecated: use GET /v1/sales/{sales_date}/lines)",
    responses={404: {"description": NO_SALE}},
)
async def get_one_sale(
    sale_id: Annotated[int, _ID],
    gw: Annotated[Gateway, Depends(gateway)],
    _: Annotated[Principal, require("read")],
) -> dict[str, Any]:
    row = await q.line_by_id(gw.pool, sale_id)
    if row is None:
        raise _not_found("unknown_sale", NO_SALE)
    return _line(row)

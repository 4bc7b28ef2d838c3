"""The original service's read routes answer with its fields, its 404 messages, and pages
that never exceed their cap."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from service.storage.db import Pool

from ..encoded_days import encoded_day
from ..kafka_tools import Events
from ..procs import Pipeline

pytestmark = pytest.mark.timeout(300)

REPORT_FIELDS = {"id", "date", "start_prompt", "report", "create_date", "update_date"}
LINE_FIELDS = {
    "id",
    "product_id",
    "name",
    "quantity",
    "price",
    "category",
    "create_date",
    "update_date",
}


async def all_pages(api: httpx.AsyncClient, path: str, *, limit: int) -> list[dict[str, Any]]:
    """Every item of a get-all route, page by page (X-Next-Offset while there may be more)."""
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        r = await api.get(path, params={"limit": limit, "offset": offset})
        assert r.status_code == 200, r.text
        page = r.json()
        assert isinstance(page, list) and len(page) <= limit
        items += page
        if "X-Next-Offset" not in r.headers:
            return items
        offset = int(r.headers["X-Next-Offset"])


async def test_old_read_routes_answer_with_the_old_fields(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """get-all and get-one of reports and sales lines: old fields, integer ids, the stored data."""
    r = await api.post("/", content=encoded_day("windows-1251", date=days[0].isoformat()))
    upload_id = r.json()["task_id"]
    await events.wait("sales.stored", upload_id=upload_id, timeout=60)
    report_event = await events.wait("sales.reports", upload_id=upload_id, timeout=90)

    lines = [
        x
        for x in await all_pages(api, "/api/sales/get-all", limit=1000)
        if x["sales_date"] == days[0].isoformat()
    ]
    assert [x["name"] for x in lines] == ["Смартфон Галактика", "Чайник «Уют»", "Кофе в зёрнах"]
    for line in lines:
        assert set(line) >= LINE_FIELDS and isinstance(line["id"], int)
        assert line["price"] == 10.5 and line["quantity"] == 2 and line["create_date"].endswith("Z")
        one = await api.get(f"/api/sales/get-one/{line['id']}")
        assert one.status_code == 200 and one.json() == line

    reports = await all_pages(api, "/api/report/get-all", limit=1000)
    mine = [x for x in reports if x["date"] == f"{days[0].isoformat()}T00:00:00Z"]
    assert mine and set(mine[-1]) >= REPORT_FIELDS and isinstance(mine[-1]["id"], int)
    row = await pg_pool.fetchrow(
        "SELECT id, prompt, text FROM reports WHERE report_id = $1", report_event["report_id"]
    )
    assert row is not None
    one = (await api.get(f"/api/report/get-one/{row['id']}")).json()
    assert one["report"] == row["text"] and one["start_prompt"] == row["prompt"]
    assert set(one) == REPORT_FIELDS


async def test_unknown_ids_answer_the_old_404_messages(api: httpx.AsyncClient) -> None:
    """An unknown id: 404 with the original service's message in detail and message."""
    r = await api.get("/api/report/get-one/999999999999")
    assert r.status_code == 404
    assert r.json()["detail"] == "Такого отчёта нет в системе!" == r.json()["message"]
    r = await api.get("/api/sales/get-one/999999999999")
    assert r.status_code == 404 and r.json()["detail"] == "Объект продажи не найден!"
    r = await api.get("/api/sales/get-one/100000000")  # rank 0 of an upload: never a line
    assert r.status_code == 404


async def test_get_all_never_returns_more_than_its_cap(
    api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """No limit: at most 100; limit over 1000: 422; pages never exceed their limit."""
    names = [f"Товар {i}" for i in range(1, 1_201)]
    r = await api.post(
        "/v1/uploads", content=encoded_day("koi8-r", date=days[1].isoformat(), names=names)
    )
    await events.wait("sales.stored", upload_id=r.json()["upload_id"], timeout=60)
    default = await api.get("/api/sales/get-all")
    assert default.status_code == 200 and len(default.json()) == 100
    assert default.headers["X-Next-Offset"] == "100"
    assert (await api.get("/api/sales/get-all", params={"limit": 1001})).status_code == 422
    full = await api.get("/api/sales/get-all", params={"limit": 1000})
    assert len(full.json()) == 1000
    ids = [x["id"] for x in await all_pages(api, "/api/sales/get-all", limit=700)]
    assert len(ids) == len(set(ids)) >= 1_200


async def test_old_routes_need_the_token(api: httpx.AsyncClient, pipeline: Pipeline) -> None:
    """Without the bearer token the old read routes answer 401."""
    async with httpx.AsyncClient(base_url=pipeline.gateway_url) as anonymous:
        assert (await anonymous.get("/api/report/get-all")).status_code == 401
        assert (await anonymous.get("/api/sales/get-one/1")).status_code == 401

"""Three days uploaded → three checked reports on sales.reports → served by the gateway."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import httpx

from service.storage.db import Pool

from ..helpers import sales_xml
from ..kafka_tools import Events
from ..stack import Stack


async def test_three_days_three_reports_served_by_date(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """Three consecutive days produce three verified reports; the third compares with the first two."""
    ids = []
    for i in range(3):
        r = await api.post("/v1/uploads", content=sales_xml(days[i], 30, seed=i))
        assert r.status_code == 202
        ids.append(r.json()["upload_id"])
    reports = [await events.wait("sales.reports", upload_id=u, timeout=30) for u in ids]
    for report, day in zip(reports, days, strict=False):
        check = await pg_pool.fetchrow(
            "SELECT sum(quantity*price) AS revenue, sum(quantity) AS units FROM sales_lines "
            "WHERE sales_date = $1",
            day,
        )
        assert check is not None
        assert Decimal(report["facts"]["total_revenue"]) == check["revenue"]
        assert report["facts"]["total_units"] == check["units"]
        assert report["verified"] and report["status"] == "ok"
    assert reports[2]["facts"]["history"]["previous_date"] == days[1].isoformat()

    got = (await api.get(f"/v1/reports/{days[2].isoformat()}")).json()
    assert got["report_id"] == reports[2]["report_id"] and got["report"] == got["text"]
    md = await api.get(f"/v1/reports/{days[2].isoformat()}", params={"format": "md"})
    assert md.headers["content-type"].startswith("text/markdown") and days[2].isoformat() in md.text

    page1 = (
        await api.get(
            "/v1/reports",
            params={"from": days[0].isoformat(), "to": days[2].isoformat(), "limit": 2},
        )
    ).json()
    page2 = (
        await api.get(
            "/v1/reports",
            params={
                "from": days[0].isoformat(),
                "to": days[2].isoformat(),
                "limit": 2,
                "cursor": page1["next_cursor"],
            },
        )
    ).json()
    dates = [r["sales_date"] for r in page1["items"] + page2["items"]]
    assert dates == [d.isoformat() for d in days[:3]] and page2["next_cursor"] is None


async def test_regenerate_publishes_a_new_report(
    api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """POST /v1/reports/{date}/regenerate answers 202 and a new report arrives for the day."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0]))
    first = await events.wait("sales.reports", upload_id=r.json()["upload_id"])
    regen = await api.post(f"/v1/reports/{days[0].isoformat()}/regenerate")
    assert regen.status_code == 202
    await events.collect("sales.reports", 2, sales_date=days[0].isoformat())
    latest = (await api.get(f"/v1/reports/{days[0].isoformat()}")).json()
    assert latest["report_id"] != first["report_id"]
    assert (await api.post("/v1/reports/1999-01-01/regenerate")).status_code == 404


async def test_sales_lines_are_paginated(
    api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """A day's lines come back in pages that together hold every product once."""
    r = await api.post("/v1/uploads", content=sales_xml(days[0], 25))
    await events.wait("sales.stored", upload_id=r.json()["upload_id"])
    seen, cursor = [], None
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await api.get(f"/v1/sales/{days[0].isoformat()}/lines", params=params)).json()
        seen += [item["product_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(range(1, 26))
    assert (await api.get("/v1/sales/1999-01-01/lines")).status_code == 404


async def test_bad_events_do_not_block_the_partition(
    stack: Stack, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """Junk and an event for an unknown day on sales.stored are skipped; the next report still comes."""
    import uuid

    from aiokafka import AIOKafkaProducer

    key = days[0].isoformat().encode()  # same key, same partition as the real day below
    ghost = {
        "event_id": "x",
        "upload_id": str(uuid.uuid4()),
        "sales_date": "1901-01-01",
        "products": 1,
        "rejected_products": 0,
        "total_units": 1,
        "total_revenue": "1.00",
        "source": "kafka",
        "stored_at": "2024-01-01T00:00:00Z",
    }
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await producer.start()
    try:
        await producer.send_and_wait("sales.stored", b"{not json", key=key)
        await producer.send_and_wait("sales.stored", json.dumps(ghost).encode(), key=key)
    finally:
        await producer.stop()
    r = await api.post("/v1/uploads", content=sales_xml(days[0]))
    report = await events.wait("sales.reports", upload_id=r.json()["upload_id"], timeout=30)
    assert report["status"] == "ok"

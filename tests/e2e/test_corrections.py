"""Corrections on the real stack: PUT /v1/sales/{date} (and x-replace on sales.raw) → the day
swapped atomically, the old upload superseded with the audit, sales.corrected, new reports,
the following days' reports stale and then written again."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from service.names import GROUP_INGEST
from service.storage.db import Pool

from ..fake_llm import FakeLLM
from ..helpers import READ_TOKEN, sales_xml
from ..kafka_tools import Events
from ..procs import Pipeline
from ..stack import Stack
from .helpers import wait_status

DAY0 = [
    (1, "Tea", 10, "2.50", "Drinks"),
    (2, "Cake", 4, "12.00", "Food"),
    (3, "Jam", 2, "5.00", "Food"),
]
# Prices changed for tea and cake, jam gone, honey new.
FIXED = [
    (1, "Tea", 10, "3.00", "Drinks"),
    (2, "Cake", 4, "11.50", "Food"),
    (4, "Honey", 1, "9.99", "Food"),
]
DAY1 = [(1, "Tea", 8, "2.50", "Drinks"), (2, "Cake", 5, "12.00", "Food")]


def revenue(products: list[tuple[int, str, int, str, str]]) -> Decimal:
    return sum((q * Decimal(p) for _, _, q, p, _ in products), Decimal(0))


async def store(
    api: httpx.AsyncClient,
    events: Any,
    day: dt.date,
    products: list[tuple[int, str, int, str, str]],
) -> tuple[str, dict[str, Any]]:
    """Upload a day and wait for its first report."""
    r = await api.post("/v1/uploads", content=sales_xml(day, products))
    assert r.status_code == 202, r.text
    upload_id = r.json()["upload_id"]
    return upload_id, await events.wait("sales.reports", upload_id=upload_id, timeout=60)


async def watch_day(
    pg_pool: Any, day: dt.date, seen: set[tuple[Decimal, Decimal, int, int]], stop: asyncio.Event
) -> None:
    """Read the day's stored totals and its lines in one statement, over and over."""
    while not stop.is_set():
        row = await pg_pool.fetchrow(
            "SELECT d.total_revenue, (SELECT sum(quantity * price) FROM sales_lines WHERE sales_date = $1) AS lines,"
            " d.products, (SELECT count(*) FROM sales_lines WHERE sales_date = $1) AS n "
            "FROM sales_days d WHERE d.sales_date = $1",
            day,
        )
        seen.add((row["total_revenue"], row["lines"], row["products"], row["n"]))
        await asyncio.sleep(0.005)


async def newest_report(api: httpx.AsyncClient, day: dt.date) -> dict[str, Any]:
    report: dict[str, Any] = (await api.get(f"/v1/reports/{day.isoformat()}")).json()
    return report


async def test_correction_replaces_the_day_and_its_reports(
    api: httpx.AsyncClient,
    events: Events,
    pg_pool: Pool,
    pipeline_llm: FakeLLM,
    days: list[dt.date],
) -> None:
    """PUT with changed prices: totals and lines swap at once, the old upload is superseded with the diff,
    sales.corrected goes out, the day gets a report with the new revenue, and the next day's report
    is marked stale and then written again from the new figures."""
    old_id, _ = await store(api, events, days[0], DAY0)
    next_id, next_report = await store(api, events, days[1], DAY1)
    assert Decimal(next_report["facts"]["history"]["previous_revenue"]) == revenue(DAY0)

    stop, seen = asyncio.Event(), set[tuple[Decimal, Decimal, int, int]]()
    watcher = asyncio.create_task(watch_day(pg_pool, days[0], seen, stop))
    # The next two reports (the day's new one, the next day's again) take a while, so the stale
    # state can be seen in the API before they replace it.
    pipeline_llm.script("timeout:1.5", "timeout:1.5")
    r = await api.put(f"/v1/sales/{days[0].isoformat()}", content=sales_xml(days[0], FIXED))
    assert r.status_code == 202 and r.json()["replace"] is True, r.text
    fix_id = r.json()["upload_id"]

    corrected = await events.wait("sales.corrected", upload_id=fix_id, timeout=30)
    stop.set()
    await watcher
    # Every read saw the old day or the new one whole: totals always equal the sum of the lines.
    assert seen and all(total == lines and products == n for total, lines, products, n in seen)
    assert {s[0] for s in seen} <= {revenue(DAY0), revenue(FIXED)}

    diff = corrected["diff"]
    assert corrected["superseded_upload_id"] == old_id and corrected["sender"] == "default"
    assert (Decimal(diff["revenue_before"]), Decimal(diff["revenue_after"])) == (
        revenue(DAY0),
        revenue(FIXED),
    )
    assert [c["product_id"] for c in diff["changed"]["items"]] == [1, 2]
    assert [c["product_id"] for c in diff["added"]["items"]] == [4]
    assert [c["product_id"] for c in diff["removed"]["items"]] == [3]
    stored = await events.wait("sales.stored", upload_id=fix_id)
    assert stored["supersedes"] == old_id

    day = (await api.get(f"/v1/sales/{days[0].isoformat()}")).json()
    assert Decimal(day["total_revenue"]) == revenue(FIXED) and day["upload_id"] == fix_id
    lines = (await api.get(f"/v1/sales/{days[0].isoformat()}/lines")).json()["items"]
    assert [(ln["product_id"], ln["price"]) for ln in lines] == [
        (1, "3.00"),
        (2, "11.50"),
        (4, "9.99"),
    ]

    old = await wait_status(api, old_id)
    assert old["status"] == "superseded" and old["superseded_by"] == fix_id
    assert (
        old["correction"]["sender"] == "default"
        and old["correction"]["diff"]["changed"]["count"] == 2
    )
    new = await wait_status(api, fix_id)
    assert new["status"] == "stored" and new["replaces"] == old_id

    # Stale in the API while the new reports are being written, with the reason.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not (await newest_report(api, days[1])).get("stale"):
        assert loop.time() < deadline, "the next day's report was never shown stale"
        await asyncio.sleep(0.05)
    shown = await newest_report(api, days[1])
    assert (
        days[0].isoformat() in shown["stale_reason"]
        and shown["report_id"] == next_report["report_id"]
    )
    while True:  # the range view: the day's new report is pending, the one shown meanwhile stale
        [listed] = (
            await api.get(
                "/v1/reports", params={"from": days[1].isoformat(), "to": days[1].isoformat()}
            )
        ).json()["days"]
        if listed["status"] == "pending":
            break
        assert loop.time() < deadline, f"the next day was never listed pending: {listed}"
        await asyncio.sleep(0.05)
    assert listed["stale"] is True and listed["report_id"] == next_report["report_id"]
    summary = (await api.get(f"/v1/sales/{days[1].isoformat()}")).json()
    assert summary["report"]["stale"] is True

    own = await events.wait("sales.reports", upload_id=fix_id, timeout=60)
    assert Decimal(own["facts"]["total_revenue"]) == revenue(FIXED) and own["status"] == "ok"
    redone = (await events.collect("sales.reports", 2, sales_date=days[1].isoformat(), timeout=60))[
        -1
    ]
    assert redone["report_id"] != next_report["report_id"] and redone["upload_id"] == next_id
    assert Decimal(redone["facts"]["history"]["previous_revenue"]) == revenue(FIXED)
    latest = await newest_report(api, days[1])
    assert latest["report_id"] == redone["report_id"] and latest["stale"] is False
    assert (await newest_report(api, days[0]))["report_id"] == own["report_id"]
    assert (
        await pg_pool.fetchval(
            "SELECT stale_reason FROM reports WHERE report_id = $1",
            uuid.UUID(next_report["report_id"]),
        )
        is not None
    )


async def test_an_invalid_correction_changes_nothing(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, pipeline: Pipeline, days: list[dt.date]
) -> None:
    """A correction ingest rejects leaves the day, its owner and its report as they were; a wrong date,
    a token without the correct scope and a plain re-upload are refused at the gateway."""
    old_id, report = await store(api, events, days[0], DAY0)
    before = await pg_pool.fetch(
        "SELECT * FROM sales_lines WHERE sales_date = $1 ORDER BY product_id", days[0]
    )

    bad = sales_xml(days[0], [(1, "Tea", -3, "2.50", "Drinks")])  # no valid product left
    r = await api.put(f"/v1/sales/{days[0].isoformat()}", content=bad)
    assert r.status_code == 202
    rejected = await events.wait("sales.rejected", upload_id=r.json()["upload_id"])
    assert rejected["status"] == "rejected" and rejected["errors"]
    assert (await wait_status(api, r.json()["upload_id"]))["status"] == "rejected"

    mismatch = await api.put(f"/v1/sales/{days[1].isoformat()}", content=sales_xml(days[0], FIXED))
    assert mismatch.status_code == 400 and mismatch.json()["code"] == "date_mismatch"
    async with httpx.AsyncClient(
        base_url=pipeline.gateway_url, timeout=30, headers={"Authorization": f"Bearer {READ_TOKEN}"}
    ) as reader:
        forbidden = await reader.put(
            f"/v1/sales/{days[0].isoformat()}", content=sales_xml(days[0], FIXED)
        )
        assert forbidden.status_code == 403 and forbidden.json()["code"] == "insufficient_scope"
    plain = await api.post("/v1/uploads", content=sales_xml(days[0], FIXED))
    assert plain.status_code == 409 and plain.json()["code"] == "duplicate_day"
    not_bool = await api.post(
        "/v1/uploads", params={"replace": "maybe"}, content=sales_xml(days[0], FIXED)
    )
    assert not_bool.status_code == 422

    await events.caught_up(GROUP_INGEST)  # every correction sent is handled, its events read
    assert not [
        e
        for t, e in events.seen
        if t == "sales.corrected" and e["sales_date"] == days[0].isoformat()
    ]
    after = await pg_pool.fetch(
        "SELECT * FROM sales_lines WHERE sales_date = $1 ORDER BY product_id", days[0]
    )
    assert after == before
    day = (await api.get(f"/v1/sales/{days[0].isoformat()}")).json()
    assert day["upload_id"] == old_id and day["report"]["stale"] is False
    assert (await wait_status(api, old_id))["status"] == "stored"
    assert (await newest_report(api, days[0]))["report_id"] == report["report_id"]


async def test_a_correction_racing_the_next_days_upload_loses_nothing(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, stack: Stack, days: list[dt.date]
) -> None:
    """A correction of a day sent at the same time as the next day's first upload (and a correction
    straight to Kafka): both days stored once, and the next day's newest report uses the corrected figures."""
    await store(api, events, days[0], DAY0)
    put, post = await asyncio.gather(
        api.post("/v1/uploads", params={"replace": "true"}, content=sales_xml(days[0], FIXED)),
        api.post("/v1/uploads", content=sales_xml(days[1], DAY1)),
    )
    assert (put.status_code, post.status_code) == (202, 202)
    await events.wait("sales.corrected", upload_id=put.json()["upload_id"], timeout=30)
    await events.wait("sales.stored", upload_id=post.json()["upload_id"], timeout=30)

    async def next_day_compares_with(expected: Decimal) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while True:
            got = await newest_report(api, days[1])
            history = (got.get("facts") or {}).get("history") or {}
            if (
                history.get("previous_revenue")
                and Decimal(history["previous_revenue"]) == expected
                and not got["stale"]
            ):
                return got
            assert loop.time() < deadline, (
                f"the next day's report still compares with old figures: {got}"
            )
            await asyncio.sleep(0.2)

    await next_day_compares_with(revenue(FIXED))

    # A producer straight to Kafka corrects with the header; key = the date.
    third = [(7, "Bread", 3, "4.00", "Food")]
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await producer.start()
    try:
        await producer.send_and_wait(
            "sales.raw",
            sales_xml(days[0], third),
            key=days[0].isoformat().encode(),
            headers=[("x-replace", b"true")],
        )
    finally:
        await producer.stop()
    corrected = await events.wait(
        "sales.corrected",
        sales_date=days[0].isoformat(),
        superseded_upload_id=put.json()["upload_id"],
        timeout=30,
    )
    assert Decimal(corrected["diff"]["revenue_after"]) == revenue(third)
    await next_day_compares_with(revenue(third))

    for day in days[:2]:
        assert (
            await pg_pool.fetchval("SELECT count(*) FROM sales_days WHERE sales_date = $1", day)
            == 1
        )
    counts = await pg_pool.fetch(
        "SELECT status, count(*) FROM uploads WHERE sales_date = ANY($1::date[]) GROUP BY status",
        days[:2],
    )
    assert {r["status"]: r["count"] for r in counts} == {"stored": 2, "superseded": 2}

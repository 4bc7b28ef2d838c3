"""A day in windows-1251, KOI8-R, UTF-16 … is stored with its names intact, through both
upload routes and straight from Kafka; what cannot be decoded is refused, never stored."""

from __future__ import annotations

import asyncio
import codecs
import datetime as dt
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from service.names import DUPLICATE_DAY_MESSAGE
from service.storage.db import Pool

from ..encoded_days import day_text, encoded_day, names_for
from ..kafka_tools import Events
from ..procs import Pipeline
from ..stack import REPO, Stack

pytestmark = pytest.mark.timeout(300)

# The six: the same day in each.
SIX = ["utf-8", "utf-8-bom", "windows-1251", "koi8-r", "utf-16le-bom", "utf-16be-bom"]


async def stored_names(pg_pool: Pool, day: dt.date) -> list[bytes]:
    """The stored names as PostgreSQL holds them, as bytes (UTF-8), by product id."""
    rows = await pg_pool.fetch(
        "SELECT convert_to(name, 'UTF8') AS name, convert_to(category, 'UTF8') AS category "
        "FROM sales_lines WHERE sales_date = $1 ORDER BY product_id",
        day,
    )
    assert {r["category"] for r in rows} == {"Бытовая техника".encode()}
    return [r["name"] for r in rows]


async def send(
    route: str, api: httpx.AsyncClient, producer: AIOKafkaProducer, body: bytes, day: dt.date
) -> httpx.Response | None:
    """Upload ``body`` by ``route``; returns the HTTP answer (None for Kafka)."""
    if route == "kafka":
        await producer.send_and_wait("sales.raw", body, key=day.isoformat().encode())
        return None
    return await api.post(route, content=body, headers={"Content-Type": "application/xml"})


@pytest.fixture
async def producer(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@pytest.mark.parametrize("route", ["/", "/v1/uploads", "kafka"])
async def test_six_encodings_store_the_original_names(
    route: str,
    api: httpx.AsyncClient,
    events: Events,
    pg_pool: Pool,
    producer: AIOKafkaProducer,
    days: list[dt.date],
) -> None:
    """UTF-8, UTF-8 with BOM, windows-1251, KOI8-R, UTF-16LE/BE with BOM: stored, names
    byte-for-byte the UTF-8 of the original text; the duplicate answer is unchanged."""
    for name, day in zip(SIX, days, strict=False):
        body = encoded_day(name, date=day.isoformat())
        answer = await send(route, api, producer, body, day)
        if answer is not None:
            assert answer.status_code in (200, 202), (name, answer.text)
        event = await events.wait("sales.stored", sales_date=day.isoformat(), timeout=60)
        assert event["products"] == 3, name
        expected = [n.encode("utf-8") for n in names_for(name)]
        assert await stored_names(pg_pool, day) == expected, name

        again = await send(route, api, producer, body, day)
        if route == "/":
            assert again is not None
            assert again.status_code == 200 and again.json() == {"message": DUPLICATE_DAY_MESSAGE}
        elif route == "/v1/uploads":
            assert again is not None
            assert again.status_code == 409 and again.json()["code"] == "duplicate_day"
            assert again.json()["message"] == DUPLICATE_DAY_MESSAGE
        else:
            dup = await events.wait(
                "sales.rejected", sales_date=day.isoformat(), status="duplicate", timeout=60
            )
            assert dup["status"] == "duplicate"


async def test_big_day_in_windows_1251_is_chunked_and_stored(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """A day over UPLOAD_CHUNK_BYTES in windows-1251 streams in chunks like any other."""
    names = [f"Товар №{i} «Уют»" for i in range(1, 15_001)]
    body = encoded_day("windows-1251", date=days[0].isoformat(), names=names)
    assert len(body) > 1024 * 1024
    r = await api.post("/v1/uploads", content=body)
    assert r.status_code == 202, r.text
    event = await events.wait("sales.stored", upload_id=r.json()["upload_id"], timeout=120)
    assert event["products"] == len(names)
    stored = await stored_names(pg_pool, days[0])
    assert stored == [n.encode() for n in names]


async def test_utf16_bytes_spelling_end_tags_do_not_split_products(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """A big UTF-16LE day whose names' bytes read «</product>» is cut at real products only."""
    trick = b"</product>".decode("utf-16-le")
    names = [f"{trick}{i}" for i in range(1, 12_001)]
    text = day_text("UTF-16", date=days[1].isoformat(), names=names)
    body = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    r = await api.post("/", content=body)
    assert r.status_code == 200, r.text
    event = await events.wait("sales.stored", upload_id=r.json()["task_id"], timeout=120)
    assert event["products"] == len(names)
    assert await stored_names(pg_pool, days[1]) == [n.encode() for n in names]


async def test_undecodable_bodies_are_refused_with_offset(
    api: httpx.AsyncClient,
    events: Events,
    pg_pool: Pool,
    producer: AIOKafkaProducer,
    days: list[dt.date],
) -> None:
    """A byte windows-1251 lacks: 400 bad_encoding naming it and its offset; straight from
    Kafka, rejected with the same message; nothing stored."""
    body = encoded_day("windows-1251", date=days[2].isoformat()).replace(b"\xd7", b"\x98", 1)
    at = body.index(b"\x98")
    r = await api.post("/v1/uploads", content=body)
    assert r.status_code == 400 and r.json()["code"] == "bad_encoding"
    message = f'the body is not valid "windows-1251": byte 98 at offset {at} (line 5)'
    assert r.json()["message"] == message
    await producer.send_and_wait("sales.raw", body, key=days[2].isoformat().encode())
    await events.collect_where(
        "sales.rejected",
        1,
        lambda e: [(i["code"], i["message"]) for i in e["errors"]] == [("bad_encoding", message)],
        timeout=60,
        what="the bad_encoding refusal",
    )
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sales_days WHERE sales_date = $1", days[2])
        == 0
    )


async def test_charset_of_content_type_decodes_a_body_without_declaration(
    api: httpx.AsyncClient, events: Events, pg_pool: Pool, days: list[dt.date]
) -> None:
    """No declaration: Content-Type's charset names the encoding."""
    body = day_text(None, date=days[3].isoformat()).encode("cp1251")
    r = await api.post(
        "/v1/uploads",
        content=body,
        headers={"Content-Type": "application/xml; charset=windows-1251"},
    )
    assert r.status_code == 202, r.text
    await events.wait("sales.stored", upload_id=r.json()["upload_id"], timeout=60)
    assert await stored_names(pg_pool, days[3]) == [n.encode() for n in names_for("windows-1251")]


async def test_cli_produce_decodes_before_it_cuts(
    pipeline: Pipeline, events: Events, pg_pool: Pool, days: list[dt.date], tmp_path: Path
) -> None:
    """`sales-analyzer produce` sends a KOI8-R day and a big windows-1251 day (chunks) as UTF-8."""
    small = tmp_path / "koi8.xml"
    small.write_bytes(encoded_day("koi8-r", date=days[4].isoformat()))
    names = [f"Товар №{i}" for i in range(1, 12_001)]
    big = tmp_path / "cp1251.xml"
    big.write_bytes(encoded_day("windows-1251", date=days[5].isoformat(), names=names))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli.main",
        "produce",
        str(small),
        str(big),
        "--quiet",
        cwd=REPO,
        env=pipeline.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, (out, err)
    for day, expected in ((days[4], names_for("koi8-r")), (days[5], names)):
        await events.wait("sales.stored", sales_date=day.isoformat(), timeout=120)
        assert await stored_names(pg_pool, day) == [n.encode() for n in expected]

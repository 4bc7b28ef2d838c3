"""What the integration tests share: ingest fed from lists instead of Kafka, and the days they store.

Ingest runs in-process on the real PostgreSQL and Redis; its records are made here
(`raw` for a day sent whole, `pieces` for a day in chunks) on topics of their own, and
what it would publish is kept by a `Sink`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from service.cache import DayCache
from service.chunking import Cutter
from service.ingest.assemble import manifest_digest
from service.ingest.decide import Policy, RawUpload, raw_upload
from service.ingest.handler import IngestService
from service.reporter.handler import ReporterService
from service.storage.db import Pool

from ..unit.reporter_factories import Product
from ..unit.xml_builders import product

# Positions of the records made here: unique, on topics no real record uses.
_offsets = iter(range(10**9))


def raw(body: bytes, *, upload_id: uuid.UUID | None = None) -> RawUpload:
    headers = [("x-upload-id", str(upload_id).encode())] if upload_id else []
    # A topic of its own: positions must not collide with real records on sales.raw.
    return raw_upload(
        value=body,
        headers=headers,
        topic="test.ingest",
        partition=0,
        offset=next(_offsets),
        timestamp=0,
    )


class Sink:
    """Ingest's publisher in memory: the (topic, key, event) it was given, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []

    async def __call__(self, events: Sequence[tuple[str, str, Any]]) -> None:
        self.events.extend(events)

    def of(self, upload_id: uuid.UUID) -> list[tuple[str, Any]]:
        return [(t, e) for t, _, e in self.events if e.upload_id == upload_id]


async def status_of(pg_pool: Pool, upload_id: uuid.UUID) -> str | None:
    status: str | None = await pg_pool.fetchval(
        "SELECT status FROM uploads WHERE upload_id = $1", upload_id
    )
    return status


def service(
    pg_pool: Pool,
    redis_client: Any,
    sink: Sink,
    policy: Policy = "lenient",
    incomplete_seconds: float = 900,
) -> IngestService:
    """Ingest as the app builds it, publishing into ``sink``."""
    return IngestService(
        pool=pg_pool,
        cache=DayCache(redis_client, ttl_seconds=3600),
        publish=sink,
        policy=policy,
        max_products=100_000,
        incomplete_seconds=incomplete_seconds,
    )


def day_xml(
    day: dt.date, n: int, *, bad: dict[int, str] | None = None, ids: dict[int, int] | None = None
) -> bytes:
    """A day of n products, one per line (product k on line k + 3); ``bad`` sets prices, ``ids`` ids."""
    bad, ids = bad or {}, ids or {}
    rows = "".join(
        f"    {product(id=str(ids.get(k, k)), name=f'Product {k}', price=bad.get(k, '10.50'))}\n"
        for k in range(1, n + 1)
    )
    return (
        f'<?xml version="1.0"?>\n<sales_data date="{day.isoformat()}">\n  <products>\n{rows}'
        "  </products>\n</sales_data>\n"
    ).encode()


def pieces(
    data: bytes, upload_id: uuid.UUID, *, target: int = 8192
) -> tuple[list[RawUpload], RawUpload]:
    """The day as the gateway publishes it: chunk records and the manifest record."""
    cutter = Cutter(target)
    chunks = [*cutter.feed(data), cutter.finish()]
    key = data[data.index(b'date="') + 6 :][:10]
    records = []
    for i, chunk in enumerate(chunks):
        headers = [
            ("x-upload-id", str(upload_id).encode()),
            ("x-part", b"chunk"),
            ("x-chunk-index", str(i).encode()),
        ]
        if i == len(chunks) - 1:
            headers.append(("x-chunk-last", b"1"))
        records.append(_record(chunk, headers, key))
    manifest = (
        f'{{"upload_id": "{upload_id}", "chunks": {len(chunks)}, "products": {cutter.products}, '
        f'"bytes": {len(data)}, "sha256": "{manifest_digest([hashlib.sha256(c).digest() for c in chunks])}"}}'
    )
    return records, _record(
        manifest.encode(), [("x-upload-id", str(upload_id).encode()), ("x-part", b"manifest")], key
    )


def _record(value: bytes, headers: list[tuple[str, bytes]], key: bytes) -> RawUpload:
    return raw_upload(
        value=value,
        headers=headers,
        topic="test.big",
        partition=0,
        offset=next(_offsets),
        timestamp=0,
        key=key,
    )


async def staged_rows(pg_pool: Pool, upload_id: uuid.UUID) -> int:
    """Registry rows plus staging tables left for an upload."""
    rows = await pg_pool.fetchval(
        "SELECT count(*) FROM staging.uploads WHERE upload_id = $1", upload_id
    )
    tables = await pg_pool.fetchval(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'staging' AND tablename = $1",
        f"lines_{upload_id.hex}",
    )
    return int(rows) + int(tables)


async def store(pg_pool: Pool, day: dt.date, products: list[Product]) -> None:
    """Store a day as ingest would: an upload, its sales_days totals, its lines."""
    upload_id = uuid.uuid4()
    async with pg_pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO uploads (upload_id, status, sales_date, source, size_bytes, kafka_topic,"
            " kafka_partition, kafka_offset) VALUES ($1, 'stored', $2, 'kafka', 0, 'test.facts', 0, 0)",
            upload_id,
            day,
        )
        await conn.execute(
            "INSERT INTO sales_days (sales_date, upload_id, products, total_units, total_revenue)"
            " VALUES ($1, $2, $3, $4, $5)",
            day,
            upload_id,
            len(products),
            sum(p.quantity for p in products),
            sum((p.revenue for p in products), Decimal(0)),
        )
        await conn.copy_records_to_table(
            "sales_lines",
            columns=["sales_date", "product_id", "name", "category", "quantity", "price"],
            records=[
                (day, p.product_id, p.name, p.category, p.quantity, p.price) for p in products
            ],
        )


class Collect(list[Any]):
    """A publisher that keeps what it is given (one item, or a batch of them), in order."""

    async def __call__(self, item: Any) -> None:
        if isinstance(item, list | tuple):
            self.extend(item)
        else:
            self.append(item)


async def ingest(pg_pool: Any, redis_client: Any, body: bytes, *, replace: bool = False) -> Collect:
    """One upload through ingest (a correction with ``replace``); what ingest published."""
    out = Collect()
    headers = [("x-replace", b"true")] if replace else []
    up = raw_upload(
        value=body,
        headers=headers,
        topic="test.stale",
        partition=0,
        offset=next(_offsets),
        timestamp=0,
    )
    await IngestService(
        pool=pg_pool,
        cache=DayCache(redis_client, ttl_seconds=60),
        publish=out,
        policy="lenient",
        max_products=100_000,
    ).handle([up])
    return out


def builtin(pg_pool: Any, published: Collect) -> ReporterService:
    """The reporter with its built-in writer (no LLM)."""
    return ReporterService(pool=pg_pool, llm=None, publish=published, language="en", max_attempts=1)

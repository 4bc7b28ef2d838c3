"""Big days corrected on the real stack: a correction over UPLOAD_CHUNK_BYTES streams through the
gateway in chunks, and its manifest swaps the stored day whole (or, invalid, changes nothing)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from service.storage.db import Pool

from ..bigdays import write_day
from ..kafka_tools import Events
from ..procs import Pipeline
from .helpers import post_file, staged, stored_once, wait_status

pytestmark = pytest.mark.timeout(180)


async def test_a_big_day_is_corrected_whole_and_an_invalid_big_correction_changes_nothing(
    pipeline: Pipeline,
    api: httpx.AsyncClient,
    events: Events,
    pg_pool: Pool,
    days: list[dt.date],
    tmp_path: Path,
) -> None:
    """A 20,000-product day (3 chunks) replaced by a 21,000-product one via PUT /v1/sales/{date}: lines and
    totals swapped, the old upload superseded with its audit, sales.corrected out; then a big correction
    with no valid product (POST /v1/uploads?replace=true) is rejected and the day stays as it is."""
    day, file = days[0], tmp_path / "day.xml"
    write_day(file, day, 20_000)
    status, answer = await post_file(pipeline.gateway_url, "/v1/uploads", file)
    assert status == 202, answer
    old = answer["upload_id"]
    await events.wait("sales.stored", upload_id=old, timeout=60)

    size = write_day(file, day, 21_000)
    assert size > 2 * 1024 * 1024  # over UPLOAD_CHUNK_BYTES (1 MiB): it travels in chunks
    r = await api.put(f"/v1/sales/{day.isoformat()}", content=file.read_bytes())
    assert r.status_code == 202 and r.json()["replace"] is True, r.text
    fix = r.json()["upload_id"]
    corrected = await events.wait("sales.corrected", upload_id=fix, timeout=90)
    stored = await events.wait("sales.stored", upload_id=fix, timeout=30)
    assert stored["supersedes"] == old and stored["products"] == 21_000
    assert corrected["superseded_upload_id"] == old
    assert (corrected["diff"]["products_before"], corrected["diff"]["products_after"]) == (
        20_000,
        21_000,
    )
    assert (
        corrected["diff"]["added"]["count"] == 1_000 and corrected["diff"]["removed"]["count"] == 0
    )
    await stored_once(pg_pool, day, 21_000)
    assert (
        await pg_pool.fetchval("SELECT upload_id::text FROM sales_days WHERE sales_date = $1", day)
        == fix
    )
    assert (await wait_status(api, old))["status"] == "superseded"
    audit = await pg_pool.fetchrow(
        "SELECT superseded_upload_id::text AS old, diff FROM corrections "
        "WHERE upload_id = $1::uuid",
        fix,
    )
    assert audit is not None
    assert audit["old"] == old and audit["diff"]["added"]["count"] == 1_000
    assert await staged(pg_pool, fix) == 0

    write_day(file, day, 10_000, bad={n: "-5" for n in range(1, 10_001)})
    status, answer = await post_file(pipeline.gateway_url, "/v1/uploads?replace=true", file)
    assert status == 202, answer
    rejected = await events.wait("sales.rejected", upload_id=answer["upload_id"], timeout=60)
    assert (
        rejected["status"] == "rejected" and rejected["errors"]
    )  # (too_many_issues: every product bad)
    await stored_once(pg_pool, day, 21_000)
    assert (
        await pg_pool.fetchval("SELECT upload_id::text FROM sales_days WHERE sales_date = $1", day)
        == fix
    )
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM corrections WHERE sales_date = $1", day) == 1
    )
    assert await staged(pg_pool, answer["upload_id"]) == 0

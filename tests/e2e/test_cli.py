"""`sales-analyzer upload | status | reports tail | reports get` against the running service."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import httpx

from service.names import GROUP_INGEST, GROUP_REPORTS

from ..helpers import sales_xml
from ..kafka_tools import Events
from ..procs import Pipeline
from .helpers import cli, finish, spawn

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def _stored_via_api(api: Any, events: Any, xml: bytes) -> str:
    r = await api.post("/v1/uploads", content=xml, headers={"Content-Type": "application/xml"})
    assert r.status_code == 202, r.text
    upload_id: str = r.json()["upload_id"]
    await events.wait("sales.stored", upload_id=upload_id)
    return upload_id


async def test_upload_two_days_and_wait(
    pipeline: Pipeline, days: list[dt.date], tmp_path: Path
) -> None:
    """Two files of distinct days with --wait: both accepted, both stored, exit 0."""
    files = []
    for i in range(2):
        f = tmp_path / f"day{i}.xml"
        f.write_bytes(sales_xml(days[i], 7, seed=i))
        files.append(str(f))
    code, out, err = await cli(pipeline, "upload", *files, "--wait", "--timeout", "30")
    assert code == 0, out + err
    ids = set(_UUID.findall(out))
    assert len(ids) == 2, out
    assert out.count("stored (7 products, 0 rejected)") == 2, out
    assert "test-token" not in out + err


async def test_big_upload_streams_with_progress(
    pipeline: Pipeline, days: list[dt.date], tmp_path: Path
) -> None:
    """A file over 1 MB is streamed with a progress line on stderr and stored."""
    f = tmp_path / "big.xml"
    f.write_bytes(sales_xml(days[0], 12_000))
    assert f.stat().st_size > 1024 * 1024
    code, out, err = await cli(pipeline, "upload", str(f), "--wait", "--timeout", "60")
    assert code == 0, out + err
    assert "stored (12000 products, 0 rejected)" in out
    assert "(100%)" in err and " MB" in err


async def test_upload_same_day_again_is_duplicate(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, days: list[dt.date], tmp_path: Path
) -> None:
    """A day already stored: the CLI says duplicate and exits 1."""
    await _stored_via_api(api, events, sales_xml(days[0]))
    f = tmp_path / "again.xml"
    f.write_bytes(sales_xml(days[0], seed=3))
    code, out, err = await cli(pipeline, "upload", str(f))
    assert code == 1, out + err
    assert f"{f}  duplicate" in out and days[0].isoformat() in out


async def test_upload_invalid_file_shows_the_error(pipeline: Pipeline, tmp_path: Path) -> None:
    """A document with the wrong root: the gateway's 400 code and the line are shown, exit 1."""
    f = tmp_path / "bad.xml"
    f.write_bytes(b"<nope/>")
    code, out, err = await cli(pipeline, "upload", str(f), "--wait")
    assert code == 1, out + err
    assert "error 400 bad_root" in out and "line 1" in out


async def test_status_prints_the_upload_as_json(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """`status ID` prints the upload's JSON; an unknown id exits 1."""
    upload_id = await _stored_via_api(api, events, sales_xml(days[0]))
    code, out, err = await cli(pipeline, "status", upload_id)  # sales.stored comes after the commit
    assert code == 0, out + err
    body = json.loads(out)
    assert body["status"] == "stored" and body["upload_id"] == upload_id and '"stored"' in out
    code, out, err = await cli(pipeline, "status", "00000000-0000-4000-8000-000000000000")
    assert code == 1 and "unknown_upload" in err


async def _quiet_reports(events: Events) -> None:
    """Wait until no report of earlier tests is still to come on sales.reports."""
    await events.caught_up(GROUP_INGEST, GROUP_REPORTS, timeout=90)


async def _tail_one(pipeline: Pipeline, api: Any, xml: bytes) -> tuple[int, str, str]:
    proc = await spawn(pipeline, "reports", "tail", "--count", "1")
    try:
        assert proc.stderr is not None
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert b"listening on sales.reports" in line, line
        assert proc.returncode is None
        r = await api.post("/v1/uploads", content=xml)
        assert r.status_code == 202, r.text
        return await finish(proc, 45)  # a busy reporter may need more than a few seconds
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()


async def test_reports_tail_prints_a_new_report(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """`reports tail --count 1`, started before an upload, prints that day's verified report and exits."""
    await _quiet_reports(events)
    # sales.reports is shared with anything else producing on this Kafka: if another
    # report slips in between subscribing and ours, try again with a fresh day.
    for day in days[:3]:
        code, out, err = await _tail_one(pipeline, api, sales_xml(day, 12))
        assert code == 0, out + err
        assert out.startswith("== ") and len(out.splitlines()) > 2, out
        if out.startswith(f"== {day.isoformat()}  "):
            break
    header = out.splitlines()[0]
    assert header.startswith(f"== {day.isoformat()}  ok  verified=True  model="), out


async def test_reports_get_markdown(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, days: list[dt.date]
) -> None:
    """`reports get DATE --md` prints the Markdown report; JSON without --md; unknown date exits 1."""
    upload_id = await _stored_via_api(api, events, sales_xml(days[0]))
    await events.wait("sales.reports", upload_id=upload_id, timeout=30)
    code, out, err = await cli(pipeline, "reports", "get", days[0].isoformat(), "--md")
    assert code == 0, out + err
    assert out.startswith(f"# Sales report {days[0].isoformat()}")
    code, out, err = await cli(pipeline, "reports", "get", days[0].isoformat())
    assert code == 0 and json.loads(out)["sales_date"] == days[0].isoformat()
    code, out, err = await cli(pipeline, "reports", "get", days[1].isoformat())
    assert code == 1 and "unknown_report" in err


async def test_unreachable_gateway(pipeline: Pipeline, tmp_path: Path, days: list[dt.date]) -> None:
    """A gateway that is not there: a clear message and exit 2."""
    f = tmp_path / "day.xml"
    f.write_bytes(sales_xml(days[0]))
    code, _out, err = await cli(pipeline, "upload", str(f), "--url", "http://127.0.0.1:1")
    assert code == 2
    assert "gateway not reachable at http://127.0.0.1:1" in err


async def test_upload_replace_corrects_a_stored_day(
    pipeline: Pipeline, api: httpx.AsyncClient, events: Events, days: list[dt.date], tmp_path: Path
) -> None:
    """upload --replace --wait of a collected day: stored, and the line says which upload it replaced."""
    first = await _stored_via_api(api, events, sales_xml(days[0], 5))
    f = tmp_path / "fixed.xml"
    f.write_bytes(sales_xml(days[0], 6, seed=3))
    code, out, err = await cli(pipeline, "upload", str(f), "--replace", "--wait", "--timeout", "30")
    assert code == 0, out + err
    assert f"stored (6 products, 0 rejected, replaces {first})" in out, out

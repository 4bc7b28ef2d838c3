"""The dashboard's pages on a 50,000-product day, with every process up.

    .venv/bin/python -m tests.bench.bench_dashboard [--rounds 20]

Stores a 50,000-product day after another one of 50,000 (so the facts' day-to-day
comparison has work to do) and a few small days, signs in like a browser, then
times GET /ui/days/<day> (the request's round trip on loopback, which is the
server's time plus well under a millisecond):
  1. before its report exists: the figures come from the reporter's facts SQL;
  2. after: the figures come from the report's stored facts.
The budget is 300 ms for a day page.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from ..fake_llm import FakeLLM
from ..helpers import sales_xml
from ..kafka_tools import GROUP_TOPICS, skip_backlog
from ..stack import provide_stack
from ._harness import TOKEN, fresh_base, pct, start_pipeline

BUDGET_MS = 300.0


async def _store(client: httpx.AsyncClient, body: bytes) -> None:
    r = await client.post("/v1/uploads", content=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 202, r.text
    url = r.json()["status_url"]
    for _ in range(600):
        status = (await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})).json()[
            "status"
        ]
        if status != "received":
            assert status == "stored", status
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("upload not stored")


async def _sign_in(client: httpx.AsyncClient) -> None:
    form = await client.get("/ui/signin")
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce is not None
    r = await client.post(
        "/ui/signin", data={"token": TOKEN, "nonce": nonce.group(1), "next": "/ui/days"}
    )
    assert r.status_code == 303 and "sa_session" in client.cookies, r.text


async def _time(client: httpx.AsyncClient, path: str, rounds: int) -> list[float]:
    for _ in range(2):  # warm the pool's connections and the templates
        assert (await client.get(path)).status_code == 200
    took = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = await client.get(path)
        took.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
    return took


def _line(what: str, took: list[float]) -> str:
    return (
        f"{what:<52} median {statistics.median(took):6.1f} ms   p95 {pct(took, 0.95):6.1f} ms   "
        f"max {max(took):6.1f} ms"
    )


async def run(rounds: int) -> None:
    with provide_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        base = await fresh_base(stack.database_url, 12)
        for group in GROUP_TOPICS:  # earlier benchmarks' leftovers are not this one's work
            await skip_backlog(stack.kafka, group)
        llm = FakeLLM().start()
        pipe = start_pipeline(stack, llm, Path(tmp), processes=("ingest", "gateway"))
        try:
            async with httpx.AsyncClient(base_url=pipe.gateway_url, timeout=120) as client:
                for i in range(6):
                    await _store(client, sales_xml(base + dt.timedelta(days=i), 200, seed=i))
                big_before, big = base + dt.timedelta(days=6), base + dt.timedelta(days=7)
                await _store(client, sales_xml(big_before, 50_000, seed=1))
                await _store(client, sales_xml(big, 50_000, seed=2))
                await _sign_in(client)
                page = f"/ui/days/{big.isoformat()}"
                html = (await client.get(page)).text
                assert "50\u00a0000" in html or "50,000" in html, (
                    "the page does not show the 50,000 products"
                )
                print(
                    f"# day page of a 50,000-product day ({len(html) / 1024:.0f} KB of HTML), {rounds} rounds each"
                )
                live = await _time(client, page, rounds)
                print(_line("no report yet (facts SQL over 2 x 50,000 lines)", live))

                pipe.start("reporter")
                for _ in range(600):
                    r = await client.get(
                        f"/v1/reports/{big.isoformat()}",
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                    if r.status_code == 200:
                        break
                    await asyncio.sleep(0.2)
                stored = await _time(client, page, rounds)
                print(_line("with its report (the report's stored facts)", stored))
                days = await _time(
                    client, f"/ui/days?from={base.isoformat()}&to={big.isoformat()}", rounds
                )
                print(_line("days page", days))
                uploads = await _time(client, "/ui/uploads", rounds)
                print(_line("uploads page", uploads))
                worst = max(statistics.median(live), statistics.median(stored))
                print(
                    f"# budget {BUDGET_MS:.0f} ms for a day page: {'met' if worst <= BUDGET_MS else 'NOT met'} "
                    f"(worst median {worst:.1f} ms)"
                )
        finally:
            pipe.stop_all()
            llm.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.rounds))


if __name__ == "__main__":
    main()

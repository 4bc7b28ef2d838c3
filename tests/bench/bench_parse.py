"""Micro-benchmark of the pure core: parse_day (products/s) and precheck (checks/s).

Run: .venv/bin/python tests/bench/bench_parse.py [--products N] [--rounds R]
Targets on the 2-core reference machine: parse_day >= 150,000 products/s on a
100k-product day, precheck >= 20,000 checks/s on a 17 KB body. The best of R
rounds is reported (this machine is shared; the best round is the least disturbed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from service.ingest.parse import parse_day
from service.xmlhead import HeadOk, precheck
from tests.unit.xml_builders import many as generate


def bench_parse(data: bytes, n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        parsed = parse_day(data)
        best = min(best, time.perf_counter() - started)
        assert not parsed.fatal and len(parsed.lines) == n, parsed.fatal
    return n / best


def bench_precheck(body: bytes, rounds: int, checks: int = 20_000) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(checks):
            precheck(body)
        best = min(best, time.perf_counter() - started)
    assert isinstance(precheck(body), HeadOk)
    return checks / best


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--products", type=int, default=100_000)
    args.add_argument("--rounds", type=int, default=5)
    opts = args.parse_args()

    data = generate(opts.products)
    rate = bench_parse(data, opts.products, opts.rounds)
    print(
        f"parse_day: {rate:,.0f} products/s  ({opts.products:,} products, {len(data) / 1e6:.1f} MB, "
        f"best of {opts.rounds})  target >= 150,000"
    )

    body = generate(100)[:17_000]  # precheck reads only the head; the body need not be complete
    checks = bench_precheck(body, opts.rounds)
    print(
        f"precheck:  {checks:,.0f} checks/s  (17 KB body, best of {opts.rounds})  target >= 20,000"
    )


if __name__ == "__main__":
    main()

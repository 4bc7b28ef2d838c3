"""Verifier CPU per report (issue 20): verify() over every report of the verifier corpus.

    .venv/bin/python -m tests.bench.bench_verify
    .venv/bin/python -m tests.bench.bench_verify --service-from /tmp/verify-base   # A/B

``--service-from DIR`` imports ``service`` from another checkout (e.g. ``git archive
wave3-base service | tar -x -C /tmp/verify-base``) to measure the verifier before a
change on the same texts. Printed: ms per report (mean, median, p95) over ``--rounds``
passes (the first, which compiles regexes and name patterns, is not counted), and how
many reports came out verified. Run it alone on the machine and give `uptime` beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "unit" / "verifier_corpus" / "corpus.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--service-from", help="a checkout whose service/ to import instead")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.service_from:
        sys.path.insert(0, args.service_from)
    from service.figures.facts import Facts
    from service.reporter.verify import verify

    data = json.loads(CORPUS.read_text())
    entries = [{**e, "facts": data["facts"][e["facts"]]} for e in data["reports"]]
    cases = [(e["text"], Facts.model_validate(e["facts"])) for e in entries]
    times: list[float] = []
    verified = 0
    for round_ in range(args.rounds + 1):
        for text, facts in cases:
            t0 = time.perf_counter()
            ok = verify(text, facts).ok
            if round_:
                times.append((time.perf_counter() - t0) * 1000)
            elif ok:
                verified += 1
    times.sort()
    source = args.service_from or "this checkout"
    print(
        f"verify() over {len(cases)} reports x {args.rounds} rounds ({source}): "
        f"mean {statistics.fmean(times):.2f} ms, median {statistics.median(times):.2f} ms, "
        f"p95 {times[int(len(times) * 0.95)]:.2f} ms per report; verified {verified}/{len(cases)}"
    )


if __name__ == "__main__":
    main()

"""`sales-analyzer`: run the processes, migrate, and talk to a running service.

sales-analyzer serve gateway|ingest|reporter
sales-analyzer migrate | topics | contracts [--check]
sales-analyzer upload FILE... [--wait] [--replace] | status UPLOAD_ID
sales-analyzer produce FILE...           (straight to sales.raw, big days in chunks)
sales-analyzer reports tail | reports get DATE [--md]
sales-analyzer reports backfill --from DATE --to DATE [--missing-only] [--no-wait]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Sequence

from ..settings import get_settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sales-analyzer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one process of the service")
    serve.add_argument("process", choices=["gateway", "ingest", "reporter"])

    sub.add_parser("migrate", help="apply database migrations (idempotent)")
    sub.add_parser("topics", help="create the Kafka topics (idempotent)")
    contracts = sub.add_parser("contracts", help="write JSON Schemas and AsyncAPI into contracts/")
    contracts.add_argument("--check", action="store_true", help="fail if contracts/ is out of date")
    contracts.add_argument("--dir", default="contracts")

    up = sub.add_parser("upload", help="upload XML files through the gateway")
    up.add_argument("files", nargs="+")
    up.add_argument(
        "--wait", action="store_true", help="wait until each upload is stored or refused"
    )
    up.add_argument(
        "--replace",
        action="store_true",
        help="a correction: replace the stored day of each file (token scope 'correct')",
    )
    up.add_argument("--timeout", type=float, default=120.0)
    prod = sub.add_parser(
        "produce", help="send XML files straight to sales.raw (Kafka), big ones in chunks"
    )
    prod.add_argument("files", nargs="+")
    prod.add_argument("--quiet", action="store_true", help="no progress on stderr")
    st = sub.add_parser("status", help="show an upload's status")
    st.add_argument("upload_id")

    rep = sub.add_parser("reports", help="read reports")
    rsub = rep.add_subparsers(dest="reports_command", required=True)
    tail = rsub.add_parser("tail", help="print each report as it arrives on sales.reports")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--count", type=int, default=0, help="stop after N reports (0 = never)")
    get = rsub.add_parser("get", help="print the report of a date")
    get.add_argument("date")
    get.add_argument("--md", action="store_true", help="Markdown instead of JSON")
    bf = rsub.add_parser(
        "backfill", help="(re)request the reports of a date range and follow their progress"
    )
    bf.add_argument(
        "--from",
        dest="date_from",
        required=True,
        type=_date,
        metavar="DATE",
        help="first day (YYYY-MM-DD)",
    )
    bf.add_argument(
        "--to",
        dest="date_to",
        required=True,
        type=_date,
        metavar="DATE",
        help="last day (YYYY-MM-DD)",
    )
    bf.add_argument(
        "--missing-only", action="store_true", help="only days with no report yet or a failed one"
    )
    bf.add_argument(
        "--no-wait", action="store_true", help="request and return; do not follow the progress"
    )
    bf.add_argument("--timeout", type=float, default=3600.0, help="seconds to follow the progress")
    for sp in (up, st, get, bf):
        sp.add_argument(
            "--url", default=None, help="gateway URL (default http://GATEWAY_HOST:GATEWAY_PORT)"
        )
    return p


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    if args.command == "serve":
        from .serve import serve

        return serve(args.process, settings)
    if args.command in ("migrate", "topics", "contracts"):
        from . import admin

        return asyncio.run(admin.run(args, settings))
    if args.command == "produce":
        from . import produce

        return asyncio.run(produce.run(args, settings))
    from . import client

    try:
        return asyncio.run(client.run(args, settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

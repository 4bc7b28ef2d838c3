"""`sales-analyzer upload | status | reports tail | get | backfill`: talk to a running service.

Uploads, status and report reads go through the gateway's HTTP API with the
ACCESS_TOKEN of the settings (the token is never printed). `reports tail` reads
sales.reports straight from Kafka without a consumer group, so it commits nothing
and disturbs no one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..names import TOPIC_REPORTS
from ..settings import Settings
from .backfill import backfill
from .progress import MB, pieces

__all__ = ["run"]

_CHUNK = 256 * 1024
_POLL_SECONDS = 0.2
_TIMEOUT_SECONDS = 30.0


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "reports" and args.reports_command == "tail":
        return await _tail(settings, from_beginning=args.from_beginning, count=args.count)
    token = _token(settings)
    if token is None:
        _err(
            'no token: set ACCESS_TOKEN (environment or .env; after deploy/native/up: eval "$(deploy/native/env)")'
        )
        return 2
    url = _gateway_url(args.url, settings)
    async with httpx.AsyncClient(
        base_url=url, timeout=_TIMEOUT_SECONDS, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        try:
            if args.command == "upload":
                return await _upload_all(
                    client,
                    [Path(f) for f in args.files],
                    wait=args.wait,
                    timeout=args.timeout,
                    replace=args.replace,
                )
            if args.command == "status":
                return await _status(client, args.upload_id)
            if args.command == "reports" and args.reports_command == "get":
                return await _report(client, args.date, markdown=args.md)
            if args.command == "reports" and args.reports_command == "backfill":
                return await backfill(
                    client,
                    date_from=args.date_from,
                    date_to=args.date_to,
                    only_missing=args.missing_only,
                    wait=not args.no_wait,
                    timeout=args.timeout,
                    out=_out,
                )
        except httpx.ConnectError:
            _err(
                f"gateway not reachable at {url} (is `sales-analyzer serve gateway` running? "
                "set GATEWAY_HOST/GATEWAY_PORT or --url)"
            )
            return 2
    _err(f"unknown command: {args.command}")
    return 2


# --- helpers -------------------------------------------------------------------------


def _token(settings: Settings) -> str | None:
    secret = settings.access_token.get_secret_value()
    if secret:
        return secret
    specs = settings.tokens()
    return specs[0].secret if specs else None


def _gateway_url(url: str | None, settings: Settings) -> str:
    if url:
        return url.rstrip("/")
    host = settings.gateway_host
    if host in ("0.0.0.0", "::", ""):  # a bind-everything address: connect locally
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.gateway_port}"


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _out(text: str) -> None:
    print(text, flush=True)


def _problem(response: httpx.Response) -> tuple[str, str, list[dict[str, Any]]]:
    """(code, message, errors) of a refusal; tolerant of non-JSON bodies."""
    try:
        body = response.json()
    except ValueError:
        return "?", response.text.strip()[:300] or response.reason_phrase, []
    if not isinstance(body, dict):
        return "?", str(body)[:300], []
    detail = body.get("detail")  # FastAPI's own validation errors (e.g. a malformed id)
    if "code" not in body and detail is not None:
        return "invalid_request", json.dumps(detail, ensure_ascii=False)[:300], []
    errors = body.get("errors") or []
    return (
        str(body.get("code", "?")),
        str(body.get("message", "")),
        [e for e in errors if isinstance(e, dict)],
    )


def _issue(issue: dict[str, Any]) -> str:
    where = []
    if issue.get("line") is not None:
        where.append(f"line {issue['line']}")
    if issue.get("field"):
        where.append(str(issue["field"]))
    if issue.get("product_index") is not None:
        where.append(f"product #{issue['product_index']}")
    prefix = " ".join(where)
    text = f"{issue.get('code', '?')}: {issue.get('message', '')}"
    return f"{prefix}: {text}" if prefix else text


# --- upload --------------------------------------------------------------------------


@dataclass
class _Accepted:
    label: str
    upload_id: str


async def _progress_body(path: Path, size: int) -> AsyncIterator[bytes]:
    """The file in chunks, with `sent / total` on stderr as it goes."""
    with path.open("rb") as fh:
        async for chunk in pieces(fh, path, size, piece=_CHUNK):
            yield chunk


async def _upload_one(
    client: httpx.AsyncClient, path: Path, *, replace: bool = False
) -> _Accepted | None:
    label = str(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise IsADirectoryError(f"not a file: {path}")
    except OSError as exc:
        _out(f"{label}  error: {exc.strerror or exc}")
        return None
    headers = {"Content-Type": "application/xml"}
    content: bytes | AsyncIterator[bytes]
    if size > MB:
        headers["Content-Length"] = str(size)
        content = _progress_body(path, size)
    else:
        content = path.read_bytes()
    # a slow link needs more than 30 s for a big body: allow ~0.5 MB/s on top
    timeout = httpx.Timeout(_TIMEOUT_SECONDS + 2.0 * size / MB)
    try:
        r = await client.post(
            "/v1/uploads",
            content=content,
            headers=headers,
            timeout=timeout,
            params={"replace": "true"} if replace else None,
        )
    except httpx.ConnectError:
        raise  # the gateway is not there: run() says so once, for every file
    except httpx.HTTPError as exc:
        _out(f"{label}  error: {type(exc).__name__}: {exc or 'connection lost'}")
        return None
    if r.status_code == 202:
        upload_id = str(r.json()["upload_id"])
        _out(f"{label}  {upload_id}  received")
        return _Accepted(label, upload_id)
    code, message, errors = _problem(r)
    if r.status_code == 409 and code == "duplicate_day":
        day = r.json().get("sales_date")
        _out(f"{label}  duplicate  {message}" + (f" ({day})" if day else ""))
        return None
    _out(f"{label}  error {r.status_code} {code}: {message}")
    for issue in errors:
        _out(f"    {_issue(issue)}")
    return None


def _final(body: dict[str, Any]) -> tuple[bool, str]:
    status = str(body.get("status"))
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    if status == "stored":
        replaces = f", replaces {body['replaces']}" if body.get("replaces") else ""
        return True, (
            f"stored ({body.get('products_stored', '?')} products, "
            f"{body.get('products_rejected', 0)} rejected{replaces})"
        )
    if status in ("rejected", "duplicate"):
        if not errors:
            return False, status
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return False, f"{status}: {_issue(errors[0])}{more}"
    return False, status


async def _wait_for(client: httpx.AsyncClient, upload_id: str, deadline: float) -> tuple[bool, str]:
    loop = asyncio.get_running_loop()
    while True:
        r = await client.get(f"/v1/uploads/{upload_id}")
        if r.status_code not in (200, 404):  # 404: not visible yet, keep polling
            code, message, _ = _problem(r)
            return False, f"error {r.status_code} {code}: {message}"
        if r.status_code == 200:
            body = r.json()
            if body.get("status") not in (None, "received"):
                return _final(body)
        if loop.time() >= deadline:
            return False, "timeout: still received (not stored yet)"
        await asyncio.sleep(_POLL_SECONDS)


async def _upload_all(
    client: httpx.AsyncClient,
    paths: list[Path],
    *,
    wait: bool,
    timeout: float,
    replace: bool = False,
) -> int:
    accepted: list[_Accepted] = []
    ok = True
    for path in paths:
        result = await _upload_one(client, path, replace=replace)
        if result is None:
            ok = False
        else:
            accepted.append(result)
    if wait and accepted:
        deadline = asyncio.get_running_loop().time() + timeout
        for item in accepted:
            stored, text = await _wait_for(client, item.upload_id, deadline)
            ok = ok and stored
            _out(f"{item.label}  {item.upload_id}  {text}")
    return 0 if ok else 1


# --- reads ---------------------------------------------------------------------------


async def _status(client: httpx.AsyncClient, upload_id: str) -> int:
    r = await client.get(f"/v1/uploads/{upload_id}")
    if r.status_code != 200:
        code, message, _ = _problem(r)
        _err(f"{upload_id}: error {r.status_code} {code}: {message}")
        return 1
    _out(json.dumps(r.json(), indent=2, ensure_ascii=False))
    return 0


async def _report(client: httpx.AsyncClient, date: str, *, markdown: bool) -> int:
    params = {"format": "md"} if markdown else None
    r = await client.get(f"/v1/reports/{date}", params=params)
    if r.status_code != 200:
        code, message, _ = _problem(r)
        _err(f"{date}: error {r.status_code} {code}: {message}")
        return 1
    if markdown:
        sys.stdout.write(r.text if r.text.endswith("\n") else r.text + "\n")
        sys.stdout.flush()
    else:
        _out(json.dumps(r.json(), indent=2, ensure_ascii=False))
    return 0


# --- reports tail --------------------------------------------------------------------


def _print_report(value: bytes | None) -> bool:
    """Print one sales.reports record; False when it is not a report we can read."""
    try:
        event = json.loads(value or b"")
    except ValueError:
        return False
    if not isinstance(event, dict):
        return False
    _out(
        f"== {event.get('sales_date')}  {event.get('status')}  verified={event.get('verified')}  "
        f"model={event.get('model')}"
    )
    text = event.get("text") or ""
    if not text and event.get("error"):
        text = f"(no text: {event['error']})"
    _out(text.rstrip("\n") + "\n")
    return True


async def _tail(settings: Settings, *, from_beginning: bool, count: int) -> int:
    from aiokafka import AIOKafkaConsumer

    from ..bus import start_pinned, translate_errors
    from ..errors import BusUnavailable
    from ..kafka_security import client_options

    servers = settings.kafka_bootstrap_servers
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # we say what went wrong ourselves
    consumer = AIOKafkaConsumer(
        TOPIC_REPORTS,
        bootstrap_servers=servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        **client_options(settings),
    )
    printed = 0
    try:
        try:
            # Positions fixed before saying we listen: a report published after the
            # line below is never missed.
            with translate_errors("reports tail"):
                await start_pinned(consumer)
        except BusUnavailable as exc:
            _err(f"Kafka not reachable at {servers} ({exc}); set KAFKA_BOOTSTRAP_SERVERS")
            return 2
        _err(
            f"listening on {TOPIC_REPORTS} at {servers}"
            + (" from the beginning" if from_beginning else "")
        )
        while count <= 0 or printed < count:
            with translate_errors("reports tail"):
                batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    if _print_report(record.value):
                        printed += 1
                        if 0 < count <= printed:
                            return 0
        return 0
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels us; leave quietly
        return 0
    except BrokenPipeError:  # `| head`
        return 0
    except BusUnavailable as exc:
        _err(str(exc))
        return 2
    finally:
        await consumer.stop()

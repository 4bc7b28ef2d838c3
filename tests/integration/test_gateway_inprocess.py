"""The gateway in-process: the real app object through httpx's ASGI transport, on the
real PostgreSQL, Redis and Kafka (or a Kafka/Redis address where nothing listens).

Every upload answer is checked here, and each one twice: through the app as uvicorn
serves it (the upload fast path) and through plain FastAPI routing (the same FastAPI
app with the same request observer, no fast path); both must answer alike.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
import pytest_asyncio

from service.cache import DayCache, Redis
from service.gateway.app import create_app, create_fastapi
from service.gateway.observe import Observe
from service.names import DUPLICATE_DAY_MESSAGE
from service.settings import Settings

from ..helpers import READ_TOKEN, TOKEN, sales_xml
from ..stack import Stack

# Nothing listens on port 1: connections are refused at once.
_NOWHERE = "127.0.0.1:1"
_LIMIT = 4096  # MAX_UPLOAD_BYTES of these apps: small, so 413 is cheap to provoke
_TIMEOUT = 1.0  # REQUEST_TIMEOUT_SECONDS of these apps


def _settings(stack: Stack, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        kafka_bootstrap_servers=stack.kafka,
        database_url=stack.database_url,
        redis_url=stack.redis_url,
        access_token=TOKEN,
        access_tokens=f"reader:{READ_TOKEN}:read",
        environment="test",
        max_upload_bytes=_LIMIT,
        request_timeout_seconds=_TIMEOUT,
        rate_limit_per_minute=0,
    )
    return Settings(_env_file=None, **(values | overrides))


@asynccontextmanager
async def _both(settings: Settings) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """The app as served (fast path) and the same app through FastAPI's routing, started."""
    served = create_app(settings)
    routed_api = create_fastapi(settings)
    routed = Observe(routed_api, timeout=settings.request_timeout_seconds)
    # Observe → UploadFastPath → FastAPI: its lifespan holds the clients
    served_api = served.app.app  # type: ignore[attr-defined]
    async with AsyncExitStack() as stack:
        clients = {}
        for name, app, api in (("fast path", served, served_api), ("routing", routed, routed_api)):
            await stack.enter_async_context(api.router.lifespan_context(api))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=30
                )
            )
        yield clients


@pytest_asyncio.fixture(scope="module")
async def gateways(
    stack: Stack, pg_pool: Any, redis_client: Any
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with _both(_settings(stack)) as clients:
        yield clients


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _post_both(
    gateways: dict[str, httpx.AsyncClient], path: str, **kw: Any
) -> httpx.Response:
    """POST to both apps; they must answer with the same status, headers and body."""
    answers = [await client.post(path, **kw) for client in gateways.values()]
    first, other = answers
    assert (first.status_code, first.content) == (other.status_code, other.content)
    assert _headers(first) == _headers(other)
    return first


def _headers(r: httpx.Response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in r.headers.items() if k not in ("date", "server"))


async def test_upload_is_accepted_with_202(
    gateways: dict[str, httpx.AsyncClient], days: list[dt.date]
) -> None:
    """POST /v1/uploads of a valid day answers 202 with the upload id, status and Location."""
    for n, client in enumerate(gateways.values()):
        r = await client.post("/v1/uploads", content=sales_xml(days[n]), headers=_auth())
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "received" and body["sales_date"] == days[n].isoformat()
        assert r.headers["location"] == body["status_url"] == f"/v1/uploads/{body['upload_id']}"


async def test_legacy_upload_answers_a_task_id(
    gateways: dict[str, httpx.AsyncClient], days: list[dt.date]
) -> None:
    """POST / of a valid day answers 200 with task_id (the original contract)."""
    for n, client in enumerate(gateways.values()):
        r = await client.post("/", content=sales_xml(days[n]), headers=_auth())
        assert r.status_code == 200 and set(r.json()) == {"task_id", "upload_id", "status_url"}


async def test_duplicate_day_on_both_routes(
    gateways: dict[str, httpx.AsyncClient], redis_client: Redis, days: list[dt.date]
) -> None:
    """A stored day: 409 duplicate_day on /v1/uploads, the Russian message on POST /."""
    await DayCache(redis_client, ttl_seconds=60).add_stored([days[0].isoformat()])
    r = await _post_both(gateways, "/v1/uploads", content=sales_xml(days[0]), headers=_auth())
    assert r.status_code == 409
    assert r.json() == {
        "code": "duplicate_day",
        "message": DUPLICATE_DAY_MESSAGE,
        "sales_date": days[0].isoformat(),
    }
    legacy = await _post_both(gateways, "/", content=sales_xml(days[0]), headers=_auth())
    assert legacy.status_code == 200 and legacy.json() == {
        "message": "Статистика за эту дату уже собрана."
    }


async def test_day_in_progress_on_both_routes(
    gateways: dict[str, httpx.AsyncClient], redis_client: Redis, days: list[dt.date]
) -> None:
    """A day held by another upload in flight: 409 day_in_progress with Retry-After on both routes."""
    await DayCache(redis_client, ttl_seconds=60).claim([(days[1].isoformat(), str(uuid.uuid4()))])
    for path in ("/v1/uploads", "/"):
        r = await _post_both(gateways, path, content=sales_xml(days[1]), headers=_auth())
        assert r.status_code == 409 and r.headers.get("retry-after"), r.text
        assert (
            r.json()["code"] == "day_in_progress" and r.json()["sales_date"] == days[1].isoformat()
        )


@pytest.mark.parametrize(
    "body, code",
    [
        (b"", "empty_body"),
        (b" \n", "empty_body"),
        (b"hello", "not_xml"),
        (b'<sales_data date="2024', "malformed_xml"),
        (b'<!DOCTYPE x [<!ENTITY e "e">]><sales_data date="2024-01-01"/>', "forbidden_dtd"),
        (b"\xff\xfe<\x00\x00\xdc", "bad_encoding"),  # UTF-16LE with a lone surrogate
        (b'<other date="2024-01-01"/>', "bad_root"),
        (b"<sales_data><products/></sales_data>", "missing_date"),
        (b'<sales_data date="2024-02-30"><products/></sales_data>', "bad_date"),
    ],
)
async def test_head_check_answers_400(
    gateways: dict[str, httpx.AsyncClient], body: bytes, code: str
) -> None:
    """Each refusal of the head check is a 400 with its code, message and where."""
    for path in ("/v1/uploads", "/"):
        r = await _post_both(gateways, path, content=body, headers=_auth())
        assert (
            r.status_code == 400
            and r.json()["code"] == code
            and r.json()["errors"][0]["code"] == code
        )


@pytest.mark.parametrize(
    "headers, status, code",
    [
        ({}, 401, "missing_token"),
        ({"Authorization": "Basic abc"}, 401, "bad_auth_scheme"),
        ({"Authorization": "Bearer wrong"}, 401, "invalid_token"),
        ({"Authorization": f"Bearer {READ_TOKEN}"}, 403, "insufficient_scope"),
    ],
)
async def test_upload_needs_an_upload_token(
    gateways: dict[str, httpx.AsyncClient],
    headers: dict[str, str],
    status: int,
    code: str,
    days: list[dt.date],
) -> None:
    """No, a wrong or a read-only token: 401 (with WWW-Authenticate) or 403, on both routes."""
    for path in ("/v1/uploads", "/"):
        r = await _post_both(gateways, path, content=sales_xml(days[0]), headers=headers)
        assert r.status_code == status and r.json()["code"] == code
        assert ("www-authenticate" in r.headers) == (status == 401)


async def test_too_large_by_content_length(gateways: dict[str, httpx.AsyncClient]) -> None:
    """A declared Content-Length over MAX_UPLOAD_BYTES is refused with 413."""
    r = await _post_both(gateways, "/v1/uploads", content=b"<" * (_LIMIT + 1), headers=_auth())
    assert r.status_code == 413 and r.json()["code"] == "too_large"


async def test_too_large_mid_stream_without_content_length(
    gateways: dict[str, httpx.AsyncClient],
) -> None:
    """A chunked body with no Content-Length is refused with 413 once it passes the limit."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"<" * 1000

    for client in gateways.values():
        r = await client.post("/v1/uploads", content=chunks(), headers=_auth())
        assert "content-length" not in r.request.headers
        assert r.status_code == 413 and r.json()["code"] == "too_large"


async def test_rate_limit_answers_429_with_retry_after(stack: Stack) -> None:
    """Past RATE_LIMIT_PER_MINUTE for a token, uploads get 429 with Retry-After (one budget for all workers)."""
    secret = secrets.token_hex(16)  # a token of its own: a budget of its own
    settings = _settings(
        stack,
        rate_limit_per_minute=2,
        access_tokens=f"limited-{secrets.token_hex(4)}:{secret}:upload",
    )
    if time.time() % 60 > 55:  # the budget is per clock minute: do not straddle two
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    async with _both(settings) as clients:
        fast, routed = clients.values()
        spent = [
            (await fast.post("/v1/uploads", content=b"x", headers=_auth(secret))).status_code
            for _ in range(2)
        ]
        assert spent == [400, 400]
        for client in (fast, routed):
            r = await client.post("/v1/uploads", content=b"x", headers=_auth(secret))
            assert r.status_code == 429 and r.json() == {
                "code": "rate_limited",
                "message": "too many requests for this token",
            }
            assert 1 <= int(r.headers["retry-after"]) <= 60


async def test_kafka_down_answers_503(
    stack: Stack, redis_client: Redis, days: list[dt.date]
) -> None:
    """With Kafka unreachable, an upload is answered 503 kafka_unavailable and nothing is accepted."""
    async with _both(_settings(stack, kafka_bootstrap_servers=_NOWHERE)) as clients:
        for path in ("/v1/uploads", "/"):
            r = await _post_both(clients, path, content=sales_xml(days[0]), headers=_auth())
            assert r.status_code == 503 and r.json()["code"] == "kafka_unavailable", (path, r.text)
            assert 1 <= int(r.headers["retry-after"]) <= 5


async def test_redis_down_answers_503(stack: Stack, days: list[dt.date]) -> None:
    """With Redis unreachable, an upload is answered 503 cache_unavailable."""
    settings = _settings(stack, redis_url=f"redis://{_NOWHERE}/0", rate_limit_per_minute=100)
    async with _both(settings) as clients:
        r = await _post_both(clients, "/v1/uploads", content=sales_xml(days[0]), headers=_auth())
    assert r.status_code == 503 and r.json()["code"] == "cache_unavailable"


async def test_slow_request_answers_504(
    gateways: dict[str, httpx.AsyncClient], days: list[dt.date]
) -> None:
    """A request still running after REQUEST_TIMEOUT_SECONDS is answered 504 timeout."""

    async def trickle() -> AsyncIterator[bytes]:
        yield b'<sales_data date="' + days[0].isoformat().encode() + b'">'
        await asyncio.sleep(_TIMEOUT * 3)
        yield b"<products/></sales_data>"

    for client in gateways.values():
        started = asyncio.get_running_loop().time()
        r = await client.post("/v1/uploads", content=trickle(), headers=_auth())
        assert r.status_code == 504 and r.json()["code"] == "timeout"
        assert asyncio.get_running_loop().time() - started < _TIMEOUT * 2.5


async def test_reads_still_go_through_fastapi(gateways: dict[str, httpx.AsyncClient]) -> None:
    """The fast path hands every other request to FastAPI: a read route and a 404 answer as before."""
    for client in gateways.values():
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        r = await client.get(f"/v1/uploads/{uuid.uuid4()}", headers=_auth(READ_TOKEN))
        assert r.status_code == 404 and r.json()["code"] == "unknown_upload"
        assert (await client.get("/no-such-route")).json()["code"] == "not_found"
        r = await client.get("/v1/uploads", headers=_auth())
        assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"

"""An OpenAI-compatible chat-completions server for the tests.

It runs for real on a loopback port, so the service's real `openai` client (its
timeouts, retries and Retry-After handling) talks HTTP to it. Tests script the
next replies with ``server.script(...)``; once the script is used up it answers
"ok". Every request body is recorded.

Replies:
  ok          a report that repeats the facts block's values (every number true)
  wrong       the same plus a made-up figure
  inject      obeys an injected instruction: writes HACKED
  500         HTTP 500
  429:N       HTTP 429 with Retry-After: N
  timeout:N   sleeps N seconds before answering ok
  malformed   200 with a body that is not JSON
  empty       200 with no choices

Options for load and rate-limit tests: ``latency`` (seconds every answer takes,
slept without blocking other requests), ``rate_limit_every`` (every Nth request
answers 429 with ``Retry-After: retry_after``). ``calls`` logs every request's
arrival (wall clock) and the status it got.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import deque
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

_FACTS = re.compile(r"<<<FACTS-(?P<n>[0-9a-f]+)>>>(?P<body>.*?)<<<END-FACTS-(?P=n)>>>", re.S)


def leaves(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every scalar in a JSON value."""
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in leaves(v, f"{path}.{k}" if path else k)]
    if isinstance(node, list):
        return [x for v in node for x in leaves(v, path)]
    return [(path, node)]


def echo_report(prompt: str) -> str:
    """A report that only repeats what the facts block says."""
    match = _FACTS.search(prompt)
    if not match:
        return "No facts were given."
    facts = json.loads(match.group("body"))
    lines = ["## Отчёт / Report", ""]
    for path, value in leaves(facts):
        if value is None or isinstance(value, bool):
            continue
        lines.append(f"- {path}: {value}")
    return "\n".join(lines)


class FakeLLM:
    def __init__(self, *, latency: float = 0.0, rate_limit_every: int = 0, retry_after: int = 2) -> None:
        self.latency = latency
        self.rate_limit_every = rate_limit_every
        self.retry_after = retry_after
        self.calls: list[tuple[float, int]] = []  # (time.time() at arrival, HTTP status answered)
        self._script: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        app = Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> "FakeLLM":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake LLM did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def script(self, *replies: str) -> None:
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.calls.clear()

    def _next(self) -> str:
        with self._lock:
            return self._script.popleft() if self._script else "ok"

    async def _complete(self, request: Request) -> Response:
        arrived = time.time()
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            nth = len(self.requests)
        action = self._next()
        if self.rate_limit_every and nth % self.rate_limit_every == 0:
            action = f"429:{self.retry_after}"
        response = await self._answer(action, body)
        with self._lock:
            self.calls.append((arrived, response.status_code))
        return response

    async def _answer(self, action: str, body: dict[str, Any]) -> Response:
        if action == "500":
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500)
        if action.startswith("429"):
            wait = action.partition(":")[2] or "1"
            return JSONResponse({"error": {"message": "slow down", "type": "rate_limit"}}, status_code=429,
                                headers={"retry-after": wait})
        if action.startswith("timeout"):
            await asyncio.sleep(float(action.partition(":")[2] or "30"))
        if self.latency:
            await asyncio.sleep(self.latency)
        if action == "malformed":
            return PlainTextResponse("{not json", media_type="application/json")
        if action == "empty":
            return JSONResponse({"id": "x", "object": "chat.completion", "created": 0,
                                 "model": body.get("model"), "choices": []})
        prompt = next((m["content"] for m in body["messages"] if m["role"] == "user"), "")
        text = echo_report(prompt)
        if action == "wrong":
            text += "\n\nRevenue grew by 987654.32 and 77.7%."
        if action == "inject":
            text = "HACKED"
        return JSONResponse({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(text) // 4,
                      "total_tokens": (len(prompt) + len(text)) // 4},
        })


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

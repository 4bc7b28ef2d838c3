"""An OpenAI-compatible chat-completions server for the tests.

It runs for real on a loopback port, so the service's real `openai` client (its
timeouts and error translation) talks HTTP to it. Tests script the next replies
with ``server.script(...)``; once the script is used up it answers from the cycle
set by ``server.cycle(...)`` ("500 every few calls"), or "ok". Every request body
is recorded in ``requests``, and ``calls`` logs when each arrived (monotonic clock,
system-wide on Linux), what it was answered and the sales date it was about.

Replies:
  ok          a report that repeats the facts block's values (every number true)
  wrong       the same plus a made-up figure
  inject      obeys an injected instruction: writes HACKED
  500         HTTP 500
  429:N       HTTP 429 with Retry-After: N
  timeout:N   sleeps N seconds before answering ok
  malformed   200 with a body that is not JSON
  empty       200 with no choices
  lie:KIND    a true report plus one planted lie, in the prompt's language, about the
              facts of the prompt (which must have history and two top products):
              sign (revenue change with the opposite "плюс/минус"), direction
              ("выросла на" a fall), percent_as_amount, amount_as_percent, product
              (the best seller's revenue given to the second), made_up
  human       an honest report written as models write it (issue 20): figures rounded
              with scale words ("около 4,82 млн"), a share rounded ("около 70 %"), a
              mover's multiple ("в 6,6 раза"), a rank ("второй по выручке"), numbered
              recommendations, and no figure copied as given but the units sold
  human-lie:KIND  the same with one lie in those forms: rounding (the best seller's
              revenue rounded wrong), scale (its scale word wrong), multiple (the
              mover's multiple wrong), share (the category's share wrong); the lying
              figure as written is ``HUMAN_LIES[KIND]`` of the report
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from itertools import cycle
from typing import Any, Self

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


@dataclass(frozen=True)
class Call:
    at: float  # time.monotonic() when the request arrived
    action: str  # what it was answered
    date: str | None  # the sales date of the prompt's facts


class FakeLLM:
    def __init__(self, *, latency: float = 0.0) -> None:
        # Seconds every answer takes (slept without blocking other requests): an LLM's
        # latency, for load tests. Can be changed while the server runs.
        self.latency = latency
        self._script: deque[str] = deque()
        self._cycle: Iterator[str] | None = None
        self.requests: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        app = Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> Self:
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

    def cycle(self, *replies: str) -> None:
        """After the script, answer these in turn, over and over (none: "ok" again)."""
        with self._lock:
            self._cycle = cycle(replies) if replies else None

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._cycle = None
            self.requests.clear()
            self.calls.clear()

    async def _complete(self, request: Request) -> Response:
        arrived = time.monotonic()
        body = await request.json()
        prompt = next((m["content"] for m in body["messages"] if m["role"] == "user"), "")
        with self._lock:
            action = (
                self._script.popleft()
                if self._script
                else next(self._cycle)
                if self._cycle
                else "ok"
            )
            self.requests.append(body)
            self.calls.append(Call(arrived, action, _date_of(prompt)))
        if action == "500":
            return JSONResponse(
                {"error": {"message": "boom", "type": "server_error"}}, status_code=500
            )
        if action.startswith("429"):
            wait = action.partition(":")[2] or "1"
            return JSONResponse(
                {"error": {"message": "slow down", "type": "rate_limit"}},
                status_code=429,
                headers={"retry-after": wait},
            )
        if action.startswith("timeout"):
            await asyncio.sleep(float(action.partition(":")[2] or "30"))
        if self.latency:
            await asyncio.sleep(self.latency)
        if action == "malformed":
            return PlainTextResponse("{not json", media_type="application/json")
        if action == "empty":
            return JSONResponse(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model"),
                    "choices": [],
                }
            )
        text = _reply(action, prompt, body)
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt) // 4,
                    "completion_tokens": len(text) // 4,
                    "total_tokens": (len(prompt) + len(text)) // 4,
                },
            }
        )


def _reply(action: str, prompt: str, body: dict[str, Any]) -> str:
    """The report text an action answers with."""
    russian = "Russian" in next(
        (m["content"] for m in body["messages"] if m["role"] == "system"), ""
    )
    if action == "inject":
        return "HACKED"
    if action == "human" or action.startswith("human-lie:"):
        return human_report(prompt, action.partition(":")[2], russian=russian)
    text = echo_report(prompt)
    if action == "wrong":
        text += "\n\nRevenue grew by 987654.32 and 77.7%."
    if action.startswith("lie:"):
        text += "\n\n" + planted_lie(prompt, action.partition(":")[2], russian=russian)
    return text


def _facts_of(prompt: str) -> dict[str, Any] | None:
    match = _FACTS.search(prompt)
    return json.loads(match.group("body")) if match else None


def _date_of(prompt: str) -> str | None:
    facts = _facts_of(prompt)
    return facts.get("date") if facts else None


_LIES = {
    True: {  # Russian
        "sign": "Выручка выросла (плюс {pct}).",
        "sign-": "Выручка снизилась (минус {pct}).",
        "direction": "Выручка выросла на {pct} к предыдущему дню.",
        "direction-": "Выручка снизилась на {pct} к предыдущему дню.",
        "percent_as_amount": "Выручка изменилась на {pct_number} руб.",
        "amount_as_percent": "Продажи изменились на {units} %.",
        "product": "{second} принёс {revenue} выручки.",
        "made_up": "Выручка за неделю составила 987 654,32 руб.",
    },
    False: {
        "sign": "Revenue grew (plus {pct}).",
        "sign-": "Revenue went down (minus {pct}).",
        "direction": "Revenue rose by {pct} against the previous day.",
        "direction-": "Revenue fell by {pct} against the previous day.",
        "percent_as_amount": "Revenue changed by {pct_number} rubles.",
        "amount_as_percent": "Units sold changed by {units}%.",
        "product": "{second} brought in {revenue} of revenue.",
        "made_up": "Revenue for the week was 987,654.32.",
    },
}


def planted_lie(prompt: str, kind: str, *, russian: bool) -> str:
    """One false sentence about the prompt's facts; the number it misuses is written as in the facts."""
    facts = _facts_of(prompt)
    if facts is None or facts.get("history") is None or len(facts["top_by_revenue"]) < 2:
        raise ValueError("a planted lie needs facts with history and two top products")
    h = facts["history"]
    pct = h["revenue_change_percent"].lstrip("+-")
    fell = h["revenue_change_percent"].startswith("-")
    # "sign"/"direction" state the opposite of what the facts say.
    key = kind + ("" if fell else "-") if kind in ("sign", "direction") else kind
    return _LIES[russian][key].format(
        pct=pct,
        pct_number=pct.rstrip("%\u00a0 "),
        units=h["units_change"].lstrip("+-"),
        second=facts["top_by_revenue"][1]["name"],
        revenue=facts["top_by_revenue"][0]["revenue"],
    )


def _number(shown: str) -> Decimal:
    """A display string of the facts block ("4 819 022,50", "4,819,022.50", "+6") as a number."""
    text = shown.replace("\u00a0", "").replace(" ", "").rstrip("%")
    if "," in text and "." not in text and len(text.rpartition(",")[2]) != 3:
        text = text.replace(",", ".")
    return Decimal(text.replace(",", ""))


def _fmt(x: Decimal, places: int, russian: bool) -> str:
    text = f"{x.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,.{places}f}"
    return text.replace(",", "\u00a0").replace(".", ",") if russian else text


def _scaled(x: Decimal, russian: bool, *, scale: str = "") -> str:
    """x in millions or thousands, two decimals, with its scale word."""
    millions = x >= 1_000_000 if not scale else scale == "M"
    factor = Decimal(1_000_000) if millions else Decimal(1000)
    word = ("млн" if millions else "тыс.") if russian else ("M" if millions else "k")
    return _fmt(x / factor, 2, russian) + ("\u00a0" if russian else "") + word


def human_report(prompt: str, lie: str = "", *, russian: bool) -> str:
    """An honest report in the forms people write figures in, or one with a planted lie
    (``lie``: rounding, scale, multiple, share); needs history with a rising mover."""
    facts = _facts_of(prompt)
    if facts is None or facts.get("history") is None or not facts["history"]["biggest_rises"]:
        raise ValueError("a human report needs facts with history and a rising product")
    ru = russian
    total = _number(facts["total_revenue"])
    best = facts["top_by_revenue"][0]
    second = facts["top_by_revenue"][1]["name"]
    best_revenue = _number(best["revenue"])
    cat = facts["categories"][0]
    share = _number(cat["share_of_revenue"])
    mover = facts["history"]["biggest_rises"][0]
    before, now = _number(mover["units_before"]), _number(mover["units_now"])
    ratio = now / before
    best_text = _scaled(best_revenue, ru)
    if lie == "rounding":
        best_text = _scaled(
            best_revenue + Decimal(100_000) if best_revenue >= 10**6 else best_revenue + 100, ru
        )
    elif lie == "scale":  # the same digits with the other scale word: 1000 times off
        other = "k" if best_revenue >= 10**6 else "M"
        shift = Decimal(1000) if other == "M" else Decimal("0.001")
        best_text = _scaled(best_revenue * shift, ru, scale=other)
    share_text = _fmt(share + (15 if lie == "share" else 0), 0, ru) + ("\u00a0%" if ru else "%")
    ratio_text = _fmt(ratio + (1 if lie == "multiple" else 0), 1, ru)
    if ru:
        return "\n".join(
            [
                "## Итоги дня",
                f"Выручка за день — около {_scaled(total, ru)} руб., продано {facts['total_units']} шт.",
                "## Лидеры продаж",
                f"Лидер по выручке — {best['name']} (примерно {best_text} руб.), {second} — второй по выручке.",
                "## Категории",
                f"Категория {cat['name']} дала около {share_text} выручки.",
                "## Сравнение с предыдущими днями",
                f"Продажи {mover['name']} выросли с {mover['units_before']} до {mover['units_now']} шт., "
                f"то есть примерно в {ratio_text} раза.",
                "## Рекомендации",
                f"1. Нарастить запасы {mover['name']}.",
                f"2. Поддержать продажи категории {cat['name']}.",
            ]
        )
    return "\n".join(
        [
            "## Summary",
            f"Revenue for the day was about {_scaled(total, ru)} RUB with {facts['total_units']} units sold.",
            "## Top products",
            f"The revenue leader is {best['name']} (roughly {best_text} RUB); {second} is second by revenue.",
            "## Categories",
            f"The {cat['name']} category brought about {share_text} of revenue.",
            "## Comparison with previous days",
            f"Sales of {mover['name']} grew from {mover['units_before']} to {mover['units_now']} units, "
            f"roughly {ratio_text} times as many.",
            "## Recommendations",
            f"1. Restock {mover['name']}.",
            f"2. Support the {cat['name']} category.",
        ]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

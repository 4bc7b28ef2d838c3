"""The LLM edge: the official openai async client against OpenAI or any
OpenAI-compatible server (vLLM, Ollama, llama.cpp). Only this module imports openai.

The client is built with ``max_retries=0``: every HTTP call is ours, so every
failed one is counted (``sales_llm_calls_total{outcome}`` and the report's
``CallTally``) and every wait follows our policy. One ``complete`` tries a call up
to 1 + LLM_MAX_RETRIES times, with a short exponential backoff between tries and
the process-wide Retry-After gate before each; what still fails is translated:
unavailable/rate limited/timed out/malformed → LLMUnavailable (the consumer backs
off and the message comes again), refused (bad key, unknown model, bad request) →
LLMRejected (give up).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import time
from dataclasses import dataclass, field
from typing import Any

import openai

from ..errors import LLMRejected, LLMUnavailable
from ..metrics import LLM_CALLS, LLM_SECONDS, LLM_TOKENS
from ..retry import Backoff
from ..settings import Settings
from .llm_gate import PROCESS_GATE, CallTally, RetryGate

__all__ = ["Completion", "LLMClient", "retry_after_seconds"]

# First pause between two tries of one call; it doubles up to RETRY_BACKOFF_MAX_SECONDS.
_FIRST_PAUSE = 0.5


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)


def retry_after_seconds(headers: Any, *, now: dt.datetime | None = None) -> float | None:
    """Seconds a server asked us to wait: ``retry-after-ms``, or ``retry-after`` as
    seconds or as an HTTP date; None when absent or unreadable."""
    if headers is None:
        return None
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


class LLMClient:
    def __init__(self, settings: Settings, *, gate: RetryGate = PROCESS_GATE) -> None:
        self.model = settings.llm_model
        self._max_tokens = settings.llm_max_tokens
        self._tries = 1 + settings.llm_max_retries
        self._pause_max = settings.retry_backoff_max_seconds
        self._gate = gate
        self._client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout_seconds,
            max_retries=0,
        )
        self._slots = asyncio.Semaphore(settings.llm_max_concurrency)

    async def complete(self, messages: list[dict[str, str]], *, tally: CallTally) -> Completion:
        """One reply, trying up to 1 + LLM_MAX_RETRIES calls within the tally's limit."""
        backoff = Backoff(base=_FIRST_PAUSE, maximum=self._pause_max)
        for attempt in range(1, self._tries + 1):
            if tally.spent:
                raise LLMUnavailable(f"the report's {tally.limit} LLM calls are spent")
            made = tally.calls
            try:
                return await self._call(messages, tally)
            except LLMUnavailable:
                if attempt == self._tries or tally.spent or tally.calls == made:
                    raise  # tries spent, or the gate holds longer than a handler may sleep
                # A Retry-After is on the gate already; this pause spaces plain 5xx retries.
                await asyncio.sleep(backoff.next())
        raise AssertionError("unreachable: the last try returns or raises")

    async def _call(self, messages: list[dict[str, str]], tally: CallTally) -> Completion:
        async with self._slots:
            # Waiting for the gate inside a slot: a Retry-After that arrives while this
            # call waited for the slot still holds it back.
            await self._gate.wait(at_most=self._pause_max)
            tally.calls += 1
            started = time.perf_counter()
            try:
                reply = await self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=self._max_tokens,
                    temperature=0.2,
                )
            except openai.APIStatusError as exc:
                raise self._translate_status(exc) from exc
            except openai.APITimeoutError as exc:
                LLM_CALLS.labels(outcome="timeout").inc()
                raise LLMUnavailable("LLM timed out") from exc
            except openai.APIConnectionError as exc:
                LLM_CALLS.labels(outcome="unreachable").inc()
                raise LLMUnavailable("LLM server unreachable") from exc
            except (openai.APIError, ValueError) as exc:  # unparseable body and the like
                LLM_CALLS.labels(outcome="malformed").inc()
                raise LLMUnavailable(f"LLM reply unusable: {type(exc).__name__}") from exc
            finally:
                LLM_SECONDS.observe(time.perf_counter() - started)
        text = _text_of(reply)
        if not text:
            LLM_CALLS.labels(outcome="malformed").inc()
            raise LLMUnavailable("LLM reply had no text")
        usage = _usage_of(reply)
        for kind, n in usage.items():
            LLM_TOKENS.labels(kind=kind).inc(n)
        LLM_CALLS.labels(outcome="ok").inc()
        return Completion(
            text=text, model=str(getattr(reply, "model", None) or self.model), usage=usage
        )

    def _translate_status(self, exc: openai.APIStatusError) -> LLMUnavailable | LLMRejected:
        wait = retry_after_seconds(exc.response.headers if exc.response is not None else None)
        if wait is not None and exc.status_code in (429, 503):
            self._gate.hold(wait)
        if isinstance(exc, openai.RateLimitError):
            LLM_CALLS.labels(outcome="rate_limited").inc()
            return LLMUnavailable("LLM rate limited", retry_after=wait)
        if isinstance(
            exc,
            (
                openai.AuthenticationError,
                openai.PermissionDeniedError,
                openai.NotFoundError,
                openai.BadRequestError,
                openai.UnprocessableEntityError,
            ),
        ):
            LLM_CALLS.labels(outcome="rejected").inc()
            return LLMRejected(f"LLM refused the request: HTTP {exc.status_code}")
        LLM_CALLS.labels(outcome="server_error").inc()
        return LLMUnavailable(f"LLM server error: HTTP {exc.status_code}", retry_after=wait)

    async def close(self) -> None:
        await self._client.close()


def _text_of(reply: Any) -> str:
    try:
        content = reply.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        return ""
    return content.strip() if isinstance(content, str) else ""


def _usage_of(reply: Any) -> dict[str, int]:
    usage = getattr(reply, "usage", None)
    out: dict[str, int] = {}
    for kind in ("prompt_tokens", "completion_tokens", "total_tokens"):
        n = getattr(usage, kind, None)
        if isinstance(n, int):
            out[kind] = n
    return out

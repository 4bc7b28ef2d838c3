"""The LLM edge: the official openai async client against OpenAI or any
OpenAI-compatible server (vLLM, Ollama, llama.cpp). Only this module imports openai.

The client's own retries (LLM_MAX_RETRIES, honouring Retry-After) and timeout
(LLM_TIMEOUT_SECONDS) are set explicitly; what still fails is translated:
unavailable/rate limited/timed out/malformed → LLMUnavailable (retry later),
refused (bad key, unknown model, bad request) → LLMRejected (give up).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import openai

from ..errors import LLMRejected, LLMUnavailable
from ..metrics import LLM_CALLS, LLM_SECONDS, LLM_TOKENS
from ..settings import Settings

__all__ = ["LLMClient", "Completion"]


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class LLMClient:
    def __init__(self, settings: Settings) -> None:
        self.model = settings.llm_model
        self._max_tokens = settings.llm_max_tokens
        self._client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url,
            timeout=settings.llm_timeout_seconds, max_retries=settings.llm_max_retries)
        self._slots = asyncio.Semaphore(settings.llm_max_concurrency)

    async def complete(self, messages: list[dict[str, str]]) -> Completion:
        started = time.perf_counter()
        try:
            async with self._slots:
                reply = await self._client.chat.completions.create(
                    model=self.model, messages=messages,  # type: ignore[arg-type]
                    max_tokens=self._max_tokens, temperature=0.2)
        except openai.RateLimitError as exc:
            LLM_CALLS.labels(outcome="rate_limited").inc()
            raise LLMUnavailable("LLM rate limited", retry_after=_retry_after(exc)) from exc
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError,
                openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            LLM_CALLS.labels(outcome="rejected").inc()
            raise LLMRejected(f"LLM refused the request: HTTP {exc.status_code}") from exc
        except openai.APIStatusError as exc:
            LLM_CALLS.labels(outcome="server_error").inc()
            raise LLMUnavailable(f"LLM server error: HTTP {exc.status_code}",
                                 retry_after=_retry_after(exc)) from exc
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
        return Completion(text=text, model=str(getattr(reply, "model", None) or self.model), usage=usage)

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

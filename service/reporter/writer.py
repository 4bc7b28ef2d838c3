"""Write a day's report and check it: the LLM (or the built-in writer) writes, the
verifier checks every number, and one correction round is allowed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from ..errors import LLMUnavailable
from .builtin import write_builtin
from .facts import Facts
from .llm import LLMClient
from .prompt import build_correction
from .verify import missing_essentials, verify

__all__ = ["Draft", "write_report", "BUILTIN_MODEL", "sanitize", "check"]

BUILTIN_MODEL = "builtin"

# The LLM's text is untrusted: no images (they fetch URLs when rendered), no raw HTML.
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_HTML = re.compile(r"</?[A-Za-z][^>]*>")


def sanitize(text: str) -> str:
    return _HTML.sub("", _IMAGE.sub("", text)).strip()


def check(text: str, facts: Facts) -> list[str]:
    """Everything wrong with a report: false numbers, then missing essentials."""
    return verify(text, facts) + missing_essentials(text, facts)


@dataclass(slots=True)
class Draft:
    text: str
    model: str
    verified: bool
    unverified_numbers: list[str]
    usage: dict[str, int] = field(default_factory=dict)


async def write_report(facts: Facts, system: str, user: str, *, llm: LLMClient | None,
                       language: Literal["ru", "en"]) -> Draft:
    """``system`` and ``user``: the prompt of build_messages (the caller stores it too)."""
    if llm is None:
        text = write_builtin(facts, language=language)
        wrong = check(text, facts)
        return Draft(text, BUILTIN_MODEL, not wrong, wrong)

    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    first = await llm.complete(messages)
    text, usage = sanitize(first.text), dict(first.usage)
    wrong = check(text, facts)
    if wrong:
        messages += [{"role": "assistant", "content": text},
                     {"role": "user", "content": build_correction(wrong, language=language)}]
        try:
            second = await llm.complete(messages)
        except LLMUnavailable:
            # The first draft is paid for: keep it (unverified, with its numbers listed)
            # rather than pay for both calls again on the next attempt.
            return Draft(text, first.model, False, wrong, usage)
        for k, v in second.usage.items():
            usage[k] = usage.get(k, 0) + v
        text = sanitize(second.text)
        wrong = check(text, facts)
    return Draft(text, first.model, not wrong, wrong, usage)

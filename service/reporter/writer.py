"""Write a day's report and check it: the LLM (or the built-in writer) writes, the
verifier checks it, and one correction round is allowed. The correction replaces
the first draft only when its verdict is better (less severe); a tie keeps the
first, so a correction that adds a made-up figure cannot make the report worse."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal

from ..errors import LLMUnavailable
from ..figures.facts import Facts
from ..logs import ctx
from .builtin import write_builtin
from .llm import LLMClient
from .llm_gate import CallTally
from .prompt import build_correction
from .verify import Verdict, verify

__all__ = ["BUILTIN_MODEL", "Draft", "sanitize", "write_report"]

BUILTIN_MODEL = "builtin"

log = logging.getLogger("sales_analyzer.reporter")

# The LLM's text is untrusted: no images (they fetch URLs when rendered), no raw HTML.
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_HTML = re.compile(r"</?[A-Za-z][^>]*>")


def sanitize(text: str) -> str:
    return _HTML.sub("", _IMAGE.sub("", text)).strip()


@dataclass(slots=True)
class Draft:
    text: str
    model: str
    verdict: Verdict
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.verdict.ok

    @property
    def unverified_numbers(self) -> list[str]:
        return self.verdict.numbers


async def write_report(
    facts: Facts,
    system: str,
    user: str,
    *,
    llm: LLMClient | None,
    language: Literal["ru", "en"],
    tally: CallTally,
) -> Draft:
    """``system`` and ``user``: the prompt of build_messages (the caller stores it too).
    Every LLM call, failed ones included, is counted in ``tally``."""
    if llm is None:
        text = write_builtin(facts, language=language)
        return Draft(text, BUILTIN_MODEL, verify(text, facts))

    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    first = await llm.complete(messages, tally=tally)
    draft = Draft(
        sanitize(first.text), first.model, verify(sanitize(first.text), facts), dict(first.usage)
    )
    if draft.verified:
        return draft
    log.info(
        "draft not verified, asking for a correction", extra=ctx(findings=_summary(draft.verdict))
    )
    messages += [
        {"role": "assistant", "content": draft.text},
        {"role": "user", "content": build_correction(draft.verdict.findings, language=language)},
    ]
    try:
        second = await llm.complete(messages, tally=tally)
    except LLMUnavailable:
        # The first draft is paid for: keep it (unverified, with its numbers listed)
        # rather than pay for both calls again on the next attempt.
        return draft
    for k, v in second.usage.items():
        draft.usage[k] = draft.usage.get(k, 0) + v
    text = sanitize(second.text)
    verdict = verify(text, facts)
    if verdict.severity < draft.verdict.severity:
        draft.text, draft.verdict = text, verdict
    elif not verdict.ok:
        log.info(
            "correction no better than the first draft: the first is kept",
            extra=ctx(findings=_summary(verdict)),
        )
    return draft


def _summary(verdict: Verdict) -> str:
    return "; ".join(f"{f.kind} {f.number}" for f in verdict.findings)[:500]

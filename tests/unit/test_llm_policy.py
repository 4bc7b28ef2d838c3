"""The process-wide Retry-After gate, the Retry-After header's forms, and the writer's choice of draft."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from service.errors import LLMUnavailable
from service.reporter.llm import Completion, retry_after_seconds
from service.reporter.llm_gate import CallTally, RetryGate
from service.reporter.writer import write_report

from .helpers import FakeClock
from .reporter_factories import FALL


async def test_concurrent_callers_all_wait_for_a_hold() -> None:
    """Eight callers waiting on one gate start no earlier than the hold allows."""
    clock = FakeClock()
    gate = RetryGate(clock=clock.time, sleep=clock.sleep)
    gate.hold(0.3)

    async def caller() -> float:
        await gate.wait(at_most=5)
        return clock.now

    starts = await clock.run(asyncio.gather(*(caller() for _ in range(8))))
    assert min(starts) >= 0.3


async def test_a_longer_hold_arriving_while_waiting_is_honoured() -> None:
    """A Retry-After that comes while others wait pushes all of them back."""
    clock = FakeClock()
    gate = RetryGate(clock=clock.time, sleep=clock.sleep)
    gate.hold(0.1)

    async def later_429() -> None:
        await clock.sleep(0.05)
        gate.hold(0.4)

    async def caller() -> float:
        await gate.wait(at_most=5)
        return clock.now

    _, *starts = await clock.run(asyncio.gather(later_429(), caller(), caller()))
    assert min(starts) >= 0.45
    gate.hold(1.0)
    gate.hold(0.01)  # a shorter hold never shortens one in force
    assert gate.remaining() == pytest.approx(1.0)


async def test_a_hold_longer_than_the_caller_may_sleep_is_handed_back() -> None:
    """A wait the handler must not sleep through raises LLMUnavailable carrying the hold."""
    gate = RetryGate()
    gate.hold(60)
    with pytest.raises(LLMUnavailable) as caught:
        await gate.wait(at_most=1)
    assert caught.value.retry_after is not None and 59 < caught.value.retry_after <= 60


def test_retry_after_forms() -> None:
    """Seconds, milliseconds and an HTTP date are read; junk and absence are None."""
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "Thu, 01 Jan 2026 12:00:07 GMT"}, now=now) == 7.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None and retry_after_seconds(None) is None


class StubLLM:
    """Answers the given texts in turn, counting each call in the tally like the real client."""

    model = "stub"

    def __init__(self, *texts: str) -> None:
        self._texts = list(texts)
        self.messages: list[list[dict[str, str]]] = []

    async def complete(self, messages: list[dict[str, str]], *, tally: CallTally) -> Completion:
        tally.calls += 1
        self.messages.append(list(messages))
        return Completion(text=self._texts.pop(0), model=self.model, usage={"total_tokens": 10})


TRUE = "Выручка: 699,60 руб.; снижение на 41,7 % к предыдущему дню."
ONE_LIE = "Выручка: 699,60 руб.; рост на 41,7 % к предыдущему дню."
TWO_LIES = "Выручка: 699,60 руб.; рост на 41,7 %, а за неделю 987 654,32 руб."


async def draft_of(*texts: str) -> Any:
    tally = CallTally(limit=5)
    draft = await write_report(
        FALL,
        "system",
        "user",
        llm=StubLLM(*texts),  # type: ignore[arg-type]
        language="ru",
        tally=tally,
    )
    return draft, tally


async def test_a_correction_that_adds_a_lie_keeps_the_first_draft() -> None:
    """The correction made the text worse (a made-up figure added): the better first draft is kept."""
    draft, tally = await draft_of(ONE_LIE, TWO_LIES)
    assert draft.text == ONE_LIE and not draft.verified and draft.unverified_numbers == ["41,7 %"]
    assert tally.calls == 2 and draft.usage == {"total_tokens": 20}


async def test_a_correction_no_better_keeps_the_first_draft() -> None:
    """A tie keeps the first draft."""
    other = ONE_LIE.replace("к предыдущему дню", "к прошлому дню")
    draft, _ = await draft_of(ONE_LIE, other)
    assert draft.text == ONE_LIE


async def test_a_better_correction_replaces_the_draft() -> None:
    """A verified correction replaces a lying draft; a draft without the revenue loses to one wrong number."""
    draft, _ = await draft_of(ONE_LIE, TRUE)
    assert draft.text == TRUE and draft.verified and draft.unverified_numbers == []
    draft, _ = await draft_of("HACKED", ONE_LIE)
    assert draft.text == ONE_LIE and not draft.verified


async def test_the_correction_names_the_problem() -> None:
    """The correction round tells the model which number has the wrong direction."""
    llm = StubLLM(ONE_LIE, TRUE)
    await write_report(FALL, "system", "user", llm=llm, language="ru", tally=CallTally(limit=5))  # type: ignore[arg-type]
    correction = llm.messages[1][-1]["content"]
    assert "неверное направление" in correction and "41,7 %" in correction

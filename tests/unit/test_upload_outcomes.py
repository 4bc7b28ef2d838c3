"""What submit() does with the day's claim for each publish outcome (Redis and Kafka replaced by fakes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from service.cache import Admission
from service.errors import BusUnavailable, BusUnconfirmed, CacheUnavailable
from service.gateway.auth import Principal
from service.gateway.errors import ApiError
from service.gateway.submission import submit
from service.names import HEADER_CHUNK_INDEX, HEADER_PART, PART_CHUNK, PART_MANIFEST

from ..helpers import sales_xml

DAY = dt.date(2024, 3, 1)


class Days:
    """The gateway's view of DayCache: admit() claims a free day, as the real script does."""

    def __init__(self, holder: str | None = None, *, fail_refused: bool = False) -> None:
        self.holder = holder
        self.fail_refused = fail_refused
        self.refused_calls: list[str] = []
        self.forgotten: list[str] = []
        self.marked: set[str] = set()  # the "received" markers

    async def admit(self, upload_id: str, day: str) -> Admission:
        seen = upload_id in self.marked
        self.marked.add(upload_id)
        if self.holder is None:
            self.holder = upload_id
        return Admission(self.holder, False, seen)

    async def refused(self, upload_id: str, day: str) -> None:
        self.refused_calls.append(upload_id)
        self.marked.discard(upload_id)
        if self.fail_refused:
            raise CacheUnavailable("Redis unavailable during refused: ConnectionError")
        if self.holder == upload_id:
            self.holder = None

    async def forget_received(self, upload_id: str) -> None:
        self.forgotten.append(upload_id)
        self.marked.discard(upload_id)


class Pool:
    """PostgreSQL as the gateway's receipt lookup sees it: the uploads ingest recorded
    (none by default), no corrections."""

    def __init__(self, recorded: dict[str, str] | None = None) -> None:
        self.recorded = recorded or {}  # upload id -> status

    async def fetch(self, sql: str, ids: list[Any]) -> list[Any]:
        if "FROM uploads" not in sql:
            return []
        return [_row(i, self.recorded[str(i)]) for i in ids if str(i) in self.recorded]


def _row(upload_id: Any, status: str) -> dict[str, Any]:
    return {
        "upload_id": upload_id,
        "status": status,
        "sales_date": DAY,
        "source": "http",
        "sender": "shop",
        "products_stored": 3,
        "products_rejected": 0,
        "errors": [],
        "kafka_topic": "sales.raw",
        "kafka_partition": 0,
        "kafka_offset": 7,
        "updated_at": dt.datetime(2024, 3, 2, tzinfo=dt.UTC),
        "total_units": 3,
        "total_revenue": None,
    }


class Publisher:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.published = 0

    async def publish(self, value: bytes, **kw: Any) -> None:
        self.published += 1
        if self.error is not None:
            raise self.error


def gateway(days: Days, publisher: Publisher) -> Any:
    return SimpleNamespace(days=days, publisher=publisher, pool=Pool())


PRINCIPAL = Principal(name="shop", scopes=frozenset({"upload"}))


async def test_accepted_upload_keeps_its_claim() -> None:
    """Confirmed by Kafka: accepted, the day stays claimed for it."""
    days = Days()
    result = await submit(gateway(days, Publisher()), sales_xml(DAY), PRINCIPAL, None)
    assert result.outcome == "accepted" and days.holder == str(result.upload_id)


async def test_refused_publish_gives_the_day_back() -> None:
    """503 (never reached Kafka): the claim and the marker are given back, the refusal goes on up."""
    days = Days()
    with pytest.raises(BusUnavailable):
        await submit(
            gateway(days, Publisher(BusUnavailable("down", reason="circuit_open"))),
            sales_xml(DAY),
            PRINCIPAL,
            None,
        )
    assert days.holder is None and len(days.refused_calls) == 1


async def test_refusal_stays_a_refusal_when_redis_fails_to_release() -> None:
    """Redis failing while the claim is given back does not turn the 503 into another answer."""
    days = Days(fail_refused=True)
    with pytest.raises(BusUnavailable):
        await submit(
            gateway(days, Publisher(BusUnavailable("down"))), sales_xml(DAY), PRINCIPAL, None
        )


async def test_unconfirmed_publish_keeps_the_claim_and_names_the_upload() -> None:
    """504 kafka_unconfirmed: the record may still be stored, so the day stays claimed and the
    answer carries the upload id to poll."""
    days = Days()
    with pytest.raises(ApiError) as caught:
        await submit(
            gateway(days, Publisher(BusUnconfirmed("no ack in 20 s"))),
            sales_xml(DAY),
            PRINCIPAL,
            "k1",
        )
    err = caught.value
    assert err.status == 504 and err.code == "kafka_unconfirmed"
    assert days.holder == err.extra["upload_id"] and err.extra["status_url"].endswith(
        err.extra["upload_id"]
    )
    assert not days.refused_calls


async def test_day_held_by_another_upload_is_in_progress_and_not_published() -> None:
    """Another upload holds the day: in progress, nothing published, the marker forgotten."""
    days, publisher = Days(holder="someone-else"), Publisher()
    result = await submit(gateway(days, publisher), sales_xml(DAY), PRINCIPAL, None)
    assert result.outcome == "in_progress" and publisher.published == 0
    assert days.forgotten == [str(result.upload_id)]


async def test_idempotency_key_retry_of_the_holder_goes_through() -> None:
    """A retry with the same Idempotency-Key is the holder itself: published again (ingest replays it)."""
    days, publisher = Days(), Publisher()
    first = await submit(gateway(days, publisher), sales_xml(DAY), PRINCIPAL, "key")
    again = await submit(gateway(days, publisher), sales_xml(DAY), PRINCIPAL, "key")
    assert again.upload_id == first.upload_id and again.outcome == "accepted"
    assert publisher.published == 2


async def test_same_key_retry_refused_by_kafka_is_unconfirmed_not_nothing_accepted() -> None:
    """An upload left unconfirmed (504), retried with its key while Kafka refuses: 504 again,
    never 503 "nothing was accepted"; claim and marker kept (the first may still be stored)."""
    days = Days()
    with pytest.raises(ApiError) as first:
        await submit(
            gateway(days, Publisher(BusUnconfirmed("no ack in 20 s"))),
            sales_xml(DAY),
            PRINCIPAL,
            "k",
        )
    down = Publisher(BusUnavailable("down", reason="circuit_open"))
    with pytest.raises(ApiError) as again:
        await submit(gateway(days, down), sales_xml(DAY), PRINCIPAL, "k")
    assert (again.value.status, again.value.code) == (504, "kafka_unconfirmed")
    assert again.value.extra["upload_id"] == first.value.extra["upload_id"] == days.holder
    assert not days.refused_calls and days.holder in days.marked


async def test_first_attempt_refused_by_kafka_is_still_503() -> None:
    """Without an earlier attempt of the key, a refusal stays 503 and the day is given back."""
    days = Days()
    with pytest.raises(BusUnavailable):
        await submit(
            gateway(days, Publisher(BusUnavailable("down"))), sales_xml(DAY), PRINCIPAL, "fresh"
        )
    assert days.holder is None and not days.marked


# A big day: sent in chunks (4 KiB each here) and a manifest; its fate is the manifest's.
CHUNK = 4096


class Scripted(Publisher):
    """Fails the publish of one part of a big day: chunk 1, or the manifest."""

    def __init__(self, error: Exception, *, on: str) -> None:
        super().__init__(error)
        self.on = on
        self.parts: list[str] = []

    async def publish(self, value: bytes, **kw: Any) -> None:
        headers = kw["headers"]
        part = headers.get(HEADER_PART, "day")
        self.parts.append(part)
        if (self.on == PART_MANIFEST and part == PART_MANIFEST) or (
            self.on == PART_CHUNK and headers.get(HEADER_CHUNK_INDEX) == "1"
        ):
            raise self.error  # type: ignore[misc]


def big_gateway(days: Days, publisher: Publisher) -> Any:
    settings = SimpleNamespace(
        upload_chunk_bytes=CHUNK, max_upload_bytes=10 * 1024 * 1024, max_products_per_day=1_000_000
    )
    return SimpleNamespace(days=days, publisher=publisher, pool=Pool(), settings=settings)


async def submit_big(days: Days, publisher: Publisher, key: str | None = None) -> Any:
    body = sales_xml(DAY, 400)
    assert len(body) > 4 * CHUNK

    async def rest() -> AsyncIterator[bytes]:
        for at in range(CHUNK, len(body), 1000):
            yield body[at : at + 1000]

    return await submit(big_gateway(days, publisher), body[:CHUNK], PRINCIPAL, key, rest())


async def test_big_day_accepted_after_its_manifest_keeps_its_claim() -> None:
    """A big day: chunks then the manifest, accepted; the day stays claimed for it."""
    days, publisher = Days(), Scripted(BusUnavailable("unused"), on="none")
    result = await submit_big(days, publisher)
    assert publisher.parts[-1] == PART_MANIFEST and publisher.parts.count(PART_CHUNK) >= 4
    assert days.holder == str(result.upload_id) and result.size_bytes == len(sales_xml(DAY, 400))


@pytest.mark.parametrize(
    "error",
    [BusUnavailable("down", reason="circuit_open"), BusUnconfirmed("no ack")],
    ids=["refused", "unconfirmed"],
)
async def test_big_day_chunk_failure_is_a_refusal_and_gives_the_day_back(error: Exception) -> None:
    """A chunk refused or not confirmed: no manifest is sent, so nothing of the upload can be
    stored: 503 (never 504), and the claim is given back at once."""
    days, publisher = Days(), Scripted(error, on=PART_CHUNK)
    with pytest.raises(BusUnavailable):
        await submit_big(days, publisher, "k2")
    assert PART_MANIFEST not in publisher.parts
    assert days.holder is None and len(days.refused_calls) == 1


async def test_big_day_manifest_refused_gives_the_day_back() -> None:
    """The manifest refused (never handed over): 503, the claim given back."""
    days, publisher = Days(), Scripted(BusUnavailable("down", reason="not_taken"), on=PART_MANIFEST)
    with pytest.raises(BusUnavailable):
        await submit_big(days, publisher)
    assert days.holder is None


async def test_big_day_manifest_unconfirmed_is_504_and_keeps_the_claim() -> None:
    """The manifest handed over but not confirmed: the day may still be stored: 504, claim kept."""
    days, publisher = Days(), Scripted(BusUnconfirmed("no ack in 20 s"), on=PART_MANIFEST)
    with pytest.raises(ApiError) as caught:
        await submit_big(days, publisher, "k3")
    assert caught.value.status == 504 and days.holder == caught.value.extra["upload_id"]
    assert not days.refused_calls


async def test_big_day_over_the_limit_mid_stream_aborts_and_gives_the_day_back() -> None:
    """413 mid-stream: an abort manifest is sent and the claim given back."""
    days, publisher = Days(), Scripted(BusUnavailable("unused"), on="none")
    gw = big_gateway(days, publisher)
    gw.settings.max_upload_bytes = 3 * CHUNK
    body = sales_xml(DAY, 400)

    async def rest() -> AsyncIterator[bytes]:
        for at in range(CHUNK, len(body), 1000):
            yield body[at : at + 1000]

    with pytest.raises(ApiError) as caught:
        await submit(gw, body[:CHUNK], PRINCIPAL, None, rest())
    assert caught.value.status == 413 and publisher.parts[-1] == PART_MANIFEST
    assert days.holder is None


@pytest.mark.parametrize("status", ["stored", "rejected"])
async def test_same_key_retry_of_a_finished_upload_answers_its_receipt(status: str) -> None:
    """Ingest recorded the upload's outcome: a same-key retry is finished, with the receipt,
    and nothing is published again."""
    days, publisher = Days(), Publisher()
    first = await submit(gateway(days, publisher), sales_xml(DAY), PRINCIPAL, "done")
    gw = gateway(days, publisher)
    gw.pool = Pool({str(first.upload_id): status})
    again = await submit(gw, sales_xml(DAY), PRINCIPAL, "done")
    assert again.outcome == "finished" and again.upload_id == first.upload_id
    assert again.receipt is not None and again.receipt["status"] == status
    assert publisher.published == 1

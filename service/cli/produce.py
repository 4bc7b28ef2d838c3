"""`sales-analyzer produce FILE…`: send days straight to sales.raw, without the gateway.

A file up to UPLOAD_CHUNK_BYTES goes as one record, as any Kafka client may send
it; a bigger one in chunks and a manifest, cut exactly as the gateway cuts
(service/chunking/), read from disk piece by piece and never held whole. Each
record is keyed by the day's date and carries a fresh x-upload-id; ingest's
verdict arrives on sales.stored / sales.rejected (`kcat -C -t sales.stored`).
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from ..bus import ensure_topics, producer_options, translate_errors
from ..chunking import ChunkSender, StreamRefused, stream_day, utf8_body
from ..errors import BusUnavailable
from ..kafka_security import client_options
from ..names import HEADER_CONTENT_TYPE, HEADER_SENDER, HEADER_UPLOAD_ID, TOPIC_RAW
from ..settings import Settings
from ..xmlhead import HeadRefused, precheck
from .progress import MB, pieces

__all__ = ["run"]

_READ = 1024 * 1024


async def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        await ensure_topics(settings, timeout=15)
    except BusUnavailable as exc:
        print(f"Kafka not reachable at {settings.kafka_bootstrap_servers}: {exc}", file=sys.stderr)
        return 2
    producer = AIOKafkaProducer(
        client_id="sales-analyzer-produce", **producer_options(settings), **client_options(settings)
    )
    await producer.start()
    failed = 0
    try:
        for name in args.files:
            failed += not await _produce(producer, Path(name), settings, quiet=args.quiet)
    finally:
        await producer.stop()
    return 1 if failed else 0


async def _produce(
    producer: AIOKafkaProducer, path: Path, settings: Settings, *, quiet: bool
) -> bool:
    try:
        size = path.stat().st_size
        fh = path.open("rb")
    except OSError as exc:
        print(f"{path}  error: {exc.strerror or exc}", flush=True)
        return False
    upload_id = str(uuid.uuid4())
    with fh:
        head = fh.read(settings.upload_chunk_bytes + 1)
        rest = (
            pieces(fh, path, size, piece=_READ, sent=len(head), quiet=quiet)
            if len(head) > settings.upload_chunk_bytes
            else None
        )
        try:  # decoded to UTF-8 here, as the gateway does: a big day's chunks must be UTF-8
            head, rest = await utf8_body(
                head,
                rest,
                content_type=None,
                limit=settings.max_upload_bytes,
                whole=settings.upload_chunk_bytes,
            )
        except StreamRefused as exc:
            print(f"{path}  refused: {exc.issue.code}: {exc.issue.message}", flush=True)
            return False
        checked = precheck(head)
        if isinstance(checked, HeadRefused):
            print(f"{path}  refused: {checked.issue.code}: {checked.issue.message}", flush=True)
            return False
        day = checked.sales_date.isoformat()

        async def publish(value: bytes, *, key: str, headers: dict[str, str]) -> None:
            with translate_errors("produce"):
                await producer.send_and_wait(
                    TOPIC_RAW,
                    value,
                    key=key.encode(),
                    headers=[(k, v.encode()) for k, v in headers.items()],
                )

        headers = {
            HEADER_CONTENT_TYPE: "application/xml",
            HEADER_UPLOAD_ID: upload_id,
            HEADER_SENDER: "cli",
        }
        try:
            if rest is None:
                await publish(head, key=day, headers=headers)
            else:
                sender = ChunkSender(
                    publish,
                    key=day,
                    headers=headers,
                    upload_id=upload_id,
                    sales_date=day,
                    alone_over=2 * settings.upload_chunk_bytes,
                )
                await stream_day(
                    head,
                    rest,
                    sender,
                    target=settings.upload_chunk_bytes,
                    max_bytes=settings.max_upload_bytes,
                    max_products=settings.max_products_per_day,
                )
        except StreamRefused as exc:
            print(f"{path}  refused: {exc.issue.code}: {exc.issue.message}", flush=True)
            return False
        except BusUnavailable as exc:
            print(f"{path}  error: {exc}", flush=True)
            return False
    print(
        f"{path}  {upload_id}  produced to {TOPIC_RAW} (key {day}, {size / MB:.1f} MB)", flush=True
    )
    return True

"""The upload body decoded to UTF-8 while it streams in, before the head check and the cutter.

service/encoding.py decides the encoding (byte order mark, XML declaration, or the
Content-Type charset) and decodes; this wraps the body as read_body returns it
(what came so far, and the rest of the stream) so that everything after it sees
UTF-8 only: a big day in windows-1251 is cut into chunks like any other, and the
cutter looks for ``</product>`` in the UTF-8 output, never in the original bytes
(where, in UTF-16, those bytes can sit inside other characters). A UTF-8 body
passes untouched. Used by the gateway (an HTTP body) and ``sales-analyzer produce`` (a
file). Refusals are this package's errors: ``BadEncoding`` (``bad_encoding``, answered
400 by the gateway) and ``LimitCrossed`` (MAX_UPLOAD_BYTES bounds the bytes sent, here,
and their UTF-8, in the cutter); raised while streaming, the sender aborts the day.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..encoding import EncodingRefused, Transcoder, charset_of, sniff
from ..models import Issue
from .errors import BadEncoding, LimitCrossed

__all__ = ["utf8_body"]


async def utf8_body(
    body: bytes,
    rest: AsyncIterator[bytes] | None,
    *,
    content_type: str | None,
    limit: int,
    whole: int | None,
) -> tuple[bytes, AsyncIterator[bytes] | None]:
    """``(body, rest)`` as UTF-8; a body that grows past ``whole`` in UTF-8 goes on as a stream."""
    try:
        source = sniff(body, charset=charset_of(content_type))
        if source.passthrough:
            return body, rest
        transcoder = Transcoder(source)
        head = transcoder.feed(body, final=rest is None)
    except EncodingRefused as exc:
        raise BadEncoding(exc.issue) from None
    if rest is not None:
        return head, _decoded(transcoder, rest, sent=len(body), limit=limit)
    if whole is not None and len(head) > whole:
        return head, _nothing()
    return head, None


async def _decoded(
    transcoder: Transcoder, rest: AsyncIterator[bytes], *, sent: int, limit: int
) -> AsyncIterator[bytes]:
    try:
        async for piece in rest:
            sent += len(piece)
            if sent > limit:
                raise LimitCrossed(
                    Issue(
                        code="too_large",
                        message=f"the body is larger than {limit} bytes (MAX_UPLOAD_BYTES)",
                    )
                )
            out = transcoder.feed(piece)
            if out:
                yield out
        out = transcoder.feed(b"", final=True)
    except EncodingRefused as exc:
        raise BadEncoding(exc.issue) from None
    if out:
        yield out


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator that yields nothing
